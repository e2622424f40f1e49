// SPDX-License-Identifier: BSD-3-Clause

//go:build cgo

package cerrno

/*
#cgo LDFLAGS: -lpsx -lpthread -Wl,-wrap,pthread_create
#include <errno.h>
#include <sys/psx_syscall.h>

static long psxtest_call3(int preset, int *after, long nr, long a1, long a2, long a3)
{
	long r;
	errno = preset;
	r = psx_syscall3(nr, a1, a2, a3);
	*after = errno;
	return r;
}

static long psxtest_call6(int preset, int *after, long nr, long a1, long a2, long a3,
			  long a4, long a5, long a6)
{
	long r;
	errno = preset;
	r = psx_syscall6(nr, a1, a2, a3, a4, a5, a6);
	*after = errno;
	return r;
}

static void psxtest_set_errno(int v) { errno = v; }
static int psxtest_get_errno(void) { return errno; }
*/
import "C"

import "runtime"

// Call3 sets errno to preset, calls psx_syscall3 and returns its result
// and the errno seen right after it, all on one OS thread.
func Call3(preset int, nr, a1, a2, a3 uintptr) (r int64, after int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var e C.int
	v := C.psxtest_call3(C.int(preset), &e, C.long(nr), C.long(a1), C.long(a2), C.long(a3))
	return int64(v), int(e)
}

// Call6 is Call3 for psx_syscall6.
func Call6(preset int, nr, a1, a2, a3, a4, a5, a6 uintptr) (r int64, after int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var e C.int
	v := C.psxtest_call6(C.int(preset), &e, C.long(nr), C.long(a1), C.long(a2), C.long(a3),
		C.long(a4), C.long(a5), C.long(a6))
	return int64(v), int(e)
}

// Set sets the calling OS thread's C errno; the caller must be locked
// to its thread (runtime.LockOSThread) for Get to see the same one.
func Set(v int) { C.psxtest_set_errno(C.int(v)) }

// Get returns the calling OS thread's C errno.
func Get() int { return int(C.psxtest_get_errno()) }

// SetSensitivity calls the C psx_set_sensitivity(level).
func SetSensitivity(level int) int {
	return int(C.psx_set_sensitivity(C.psx_sensitivity_t(level)))
}
