// SPDX-License-Identifier: BSD-3-Clause

// Package cerrno lets the psx tests observe the C library's errno
// contract directly: errno is left alone by a successful psx_syscall3 or
// psx_syscall6 and set by a failing one. Go code cannot see C's errno
// between two cgo calls (the runtime may touch it), so the whole
// sequence runs inside one C function. It is empty without cgo.
package cerrno
