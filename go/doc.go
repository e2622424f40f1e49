// SPDX-License-Identifier: BSD-3-Clause

// Package psx runs one Linux system call on every OS thread of a Go
// program.
//
// Much of a Linux process's security state (user and group IDs,
// capabilities, securebits, prctl flags such as PR_SET_NO_NEW_PRIVS and
// PR_SET_KEEPCAPS) belongs to each thread, not to the process. The Go
// runtime moves goroutines between OS threads at will, so a Go program
// that changes such state with syscall.RawSyscall changes one thread
// only, and later code may run on a thread that was never changed.
// Syscall3 and Syscall6 make the change on all threads: the calling
// thread runs the call first; if it fails, its error is returned and no
// other thread is touched; otherwise every other thread runs the same
// call, and the calling thread's result is returned.
//
// The package has the API of libcap's Go psx package (Syscall3 and
// Syscall6 with the signatures of syscall.RawSyscall and
// syscall.RawSyscall6) and works in two modes, chosen when the program
// is built:
//
// # CGO_ENABLED=1 (build tag cgo)
//
// The calls go through cgo to the C library libpsx (psx_syscall6 from
// <sys/psx_syscall.h>), which reaches the threads
// created by the Go runtime, by cgo code and by any C library in the
// process. The package links with
//
//	-lpsx -lpthread -Wl,-wrap,pthread_create
//
// so that every pthread_create in the program, including the Go
// runtime's own, goes through libpsx. At its first call the package
// refuses a libpsx that is not psx's (libcap's has the same name: the
// build fails on libcap's header, the first call panics on libcap's
// library, each saying what was found and how to point cgo at psx), then
// sets psx_set_sensitivity(PSX_ERROR), as libcap's package does: if a
// thread's result differs from the
// calling thread's, libpsx reports it on stderr and ends the program,
// because a process whose threads disagree about their privileges
// cannot be trusted to continue. While it calls, the goroutine is locked
// to its OS thread so that the errno it reports is that thread's.
//
// cgo must find the header and the library. With libpsx installed where
// pkg-config can see it:
//
//	CGO_CFLAGS="$(pkg-config --cflags libpsx)" \
//	CGO_LDFLAGS="$(pkg-config --libs-only-L libpsx)" go build
//
// or give the paths directly (add an rpath, or set LD_LIBRARY_PATH at
// run time, when the library is not in a system directory):
//
//	CGO_CFLAGS=-I/opt/psx/include \
//	CGO_LDFLAGS="-L/opt/psx/lib -Wl,-rpath,/opt/psx/lib" go build
//
// Go 1.19 accepts -Wl,-wrap,pthread_create in a #cgo LDFLAGS line.
// Older Go toolchains refuse it as an unsafe linker flag unless the
// build environment allows it:
//
//	export CGO_LDFLAGS_ALLOW='-Wl,-?-wrap[=,][^-.@][^,]*'
//
// # CGO_ENABLED=0 (no cgo)
//
// Syscall3 and Syscall6 are syscall.AllThreadsSyscall and
// syscall.AllThreadsSyscall6, which the Go runtime implements itself
// for programs without cgo; no C library is involved. (Those functions
// return ENOTSUP in a program that links cgo, which is why the cgo mode
// exists.) If threads' results differ, the Go runtime ends the program.
//
// # Results
//
// r1 is the calling thread's result; on failure r1 is ^uintptr(0) and
// err is the thread's errno (err is 0 on success). In cgo mode r2 equals
// r1, and the C errno that later C code reads is left as it was by a
// successful call and set to err by a failing one, as with libcap's
// package; in no-cgo mode r2 is the raw second result register, which
// no caller should need.
//
// Arguments are passed to the kernel unchanged; Syscall3 passes zero
// for the fourth to sixth arguments (with cgo it calls psx_syscall6 with
// explicit zeros).
package psx
