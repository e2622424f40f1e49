// SPDX-License-Identifier: BSD-3-Clause

//go:build !cgo

package psx

import "syscall"

// Syscall3 runs system call nr with three arguments on every thread of
// the process. See the package documentation.
func Syscall3(nr, a1, a2, a3 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	return syscall.AllThreadsSyscall(nr, a1, a2, a3)
}

// Syscall6 runs system call nr with six arguments on every thread of
// the process. See the package documentation.
func Syscall6(nr, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	return syscall.AllThreadsSyscall6(nr, a1, a2, a3, a4, a5, a6)
}
