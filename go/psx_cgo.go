// SPDX-License-Identifier: BSD-3-Clause

//go:build cgo

package psx

/*
#cgo LDFLAGS: -lpsx -lpthread -Wl,-wrap,pthread_create
#include <sys/psx_syscall.h>
*/
import "C"

import (
	"runtime"
	"syscall"
)

func init() {
	// Diverging threads must end the program, never be ignored.
	if rc := C.psx_set_sensitivity(C.PSX_ERROR); rc != 0 {
		panic("psx: psx_set_sensitivity(PSX_ERROR) failed; is libpsx the psx library?")
	}
}

// result turns the C return value and the errno cgo collected into the
// Go convention. errno is only meaningful when the call returned -1.
func result(r C.long, err error) (uintptr, uintptr, syscall.Errno) {
	if r != -1 {
		return uintptr(r), 0, 0
	}
	var errno syscall.Errno
	if e, ok := err.(syscall.Errno); ok {
		errno = e
	}
	return uintptr(r), 0, errno
}

// Syscall3 runs system call nr with three arguments on every thread of
// the process. See the package documentation.
func Syscall3(nr, a1, a2, a3 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// psx_syscall6 with explicit zeros, so that this works with any
	// libpsx: libcap 2.66's psx_syscall3 does not pass zeros as
	// arguments 4 to 6 (psx_syscall3(SYS_prctl, PR_SET_NO_NEW_PRIVS,
	// 1, 0) fails there with EINVAL).
	r, e := C.psx_syscall6(C.long(nr), C.long(a1), C.long(a2), C.long(a3), 0, 0, 0)
	return result(r, e)
}

// Syscall6 runs system call nr with six arguments on every thread of
// the process. See the package documentation.
func Syscall6(nr, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, e := C.psx_syscall6(C.long(nr), C.long(a1), C.long(a2), C.long(a3),
		C.long(a4), C.long(a5), C.long(a6))
	return result(r, e)
}
