// SPDX-License-Identifier: BSD-3-Clause

//go:build cgo

package psx

/*
#cgo LDFLAGS: -lpsx -lpthread -Wl,-wrap,pthread_create
#include <errno.h>
#include <sys/psx_syscall.h>

// Only psx's header defines PSX_RUST_ENGINE. Without it, cgo found
// libcap's header (Debian's libcap-dev installs one in /usr/include) and
// -lpsx would find libcap's library next to it.
#ifndef PSX_RUST_ENGINE
#if defined(LIBPSX_MAJOR)
#error "psx: cgo found libcap's <sys/psx_syscall.h> (2.71 or later), not psx's. Point cgo at psx: CGO_CFLAGS=-I<psx>/include CGO_LDFLAGS='-L<psx>/lib -Wl,-rpath,<psx>/lib' (or $(pkg-config --cflags libpsx) and $(pkg-config --libs-only-L libpsx) with psx's libpsx.pc)"
#else
#error "psx: cgo found libcap's <sys/psx_syscall.h> (older than 2.71; Debian 12's libcap-dev has 2.66), not psx's. Point cgo at psx: CGO_CFLAGS=-I<psx>/include CGO_LDFLAGS='-L<psx>/lib -Wl,-rpath,<psx>/lib' (or $(pkg-config --cflags libpsx) and $(pkg-config --libs-only-L libpsx) with psx's libpsx.pc)"
#endif
#endif

// The calling thread's C errno, read without changing it.
static int psx_go_errno(void) { return errno; }
*/
import "C"

import (
	"runtime"
	"sync"
	"syscall"
)

var firstCall sync.Once

// prepare runs before the first call: it refuses a libpsx that is not
// this project's (see library.go), then sets PSX_ERROR, as libcap's
// package does at its first call: from then on, threads whose results
// differ end the program.
func prepare() {
	firstCall.Do(func() {
		if msg := foreignLibrary(); msg != "" {
			panic(msg)
		}
		if C.psx_set_sensitivity(C.PSX_ERROR) != 0 {
			panic("psx: psx_set_sensitivity(PSX_ERROR) failed")
		}
	})
}

// result turns the C return value into the Go convention, as libcap's
// package does: r1 and r2 are both the C result, err is the C errno when
// the result is negative (read only then, so that a successful call leaves
// errno as the caller's C code set it).
func result(v C.long) (uintptr, uintptr, syscall.Errno) {
	var errno syscall.Errno
	if v < 0 {
		errno = syscall.Errno(C.psx_go_errno())
	}
	return uintptr(v), uintptr(v), errno
}

// Syscall3 runs system call nr with three arguments on every thread of
// the process. See the package documentation.
func Syscall3(nr, a1, a2, a3 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	prepare()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// psx_syscall6 with explicit zeros, so that this works with any
	// libpsx: libcap 2.66's psx_syscall3 does not pass zeros as
	// arguments 4 to 6 (psx_syscall3(SYS_prctl, PR_SET_NO_NEW_PRIVS,
	// 1, 0) fails there with EINVAL). The one-value call form: cgo's
	// two-value form would set C errno to 0 first.
	return result(C.psx_syscall6(C.long(nr), C.long(a1), C.long(a2), C.long(a3), 0, 0, 0))
}

// Syscall6 runs system call nr with six arguments on every thread of
// the process. See the package documentation.
func Syscall6(nr, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	prepare()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return result(C.psx_syscall6(C.long(nr), C.long(a1), C.long(a2), C.long(a3),
		C.long(a4), C.long(a5), C.long(a6)))
}
