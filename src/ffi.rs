//! The C ABI: the six symbols of libcap's `<sys/psx_syscall.h>`.
//!
//! Each function is a thin shell around the engine: it converts between C
//! conventions (-1 and `errno`) and the engine's `Result`. cbindgen reads this
//! file to write `include/sys/psx_syscall.h`.
//!
//! The three functions that run a system call are `unsafe` for Rust callers,
//! like `psx::syscall3` (feature `std`): an arbitrary system call on every thread can
//! break anything the program relies on. Calling one without `unsafe` does not
//! compile:
//!
//! ```compile_fail,E0133
//! // munmap of the whole address space, on every thread, from safe code?
//! psx::ffi::psx_syscall3(libc::SYS_munmap, 0, usize::MAX as libc::c_long, 0);
//! ```
//!
//! ```compile_fail,E0133
//! psx::ffi::psx_syscall6(libc::SYS_munmap, 0, usize::MAX as libc::c_long, 0, 0, 0, 0);
//! ```
//!
//! ```compile_fail,E0133
//! psx::ffi::__psx_syscall(libc::SYS_munmap, 0, usize::MAX as libc::c_long, 0, 0, 0, 0, 2);
//! ```
//!
//! ```compile_fail,E0133
//! // Through the function pointers handed to libcap, too.
//! let (mut f3, mut f6) = (None, None);
//! unsafe { psx::ffi::psx_load_syscalls(&mut f3, &mut f6) };
//! (f3.unwrap())(libc::SYS_munmap, 0, usize::MAX as libc::c_long, 0);
//! ```
//!
//! The same calls written with `unsafe` compile and run (here a harmless
//! `getppid`, the same on every thread), so the examples above fail for the
//! missing `unsafe` alone:
//!
//! ```
//! // SAFETY: getppid takes no pointers and changes nothing.
//! let ppid = unsafe { psx::ffi::psx_syscall3(libc::SYS_getppid, 0, 0, 0) };
//! // SAFETY: as above.
//! let again = unsafe { psx::ffi::psx_syscall6(libc::SYS_getppid, 0, 0, 0, 0, 0, 0) };
//! // SAFETY: as above; a count of 0 arguments.
//! let third = unsafe { psx::ffi::__psx_syscall(libc::SYS_getppid, 0, 0, 0, 0, 0, 0, 0) };
//! let (mut f3, mut f6) = (None, None);
//! // SAFETY: both pointers are valid for a write.
//! unsafe { psx::ffi::psx_load_syscalls(&mut f3, &mut f6) };
//! // SAFETY: as for psx_syscall3 above.
//! let fourth = unsafe { (f3.unwrap())(libc::SYS_getppid, 0, 0, 0) };
//! assert_eq!(ppid, libc::c_long::from(std::os::unix::process::parent_id() as i32));
//! assert_eq!((again, third, fourth), (ppid, ppid, ppid));
//! assert!(f6.is_some());
//! ```

use core::ffi::{c_int, c_long, c_void};

use crate::broadcast;
use crate::sensitivity;
use crate::sys;
use crate::wrap;

/// Runs `nr(a1, a2, a3)` on every thread of the process; arguments 4 to 6
/// are passed as zero.
///
/// Returns the calling thread's result. When the calling thread's call fails
/// it returns -1 with `errno` set, and no other thread is touched.
///
/// # Safety
/// As for `psx::syscall3` (feature `std`): `nr` with these arguments
/// must be sound to run on every thread at an arbitrary point of its
/// execution, and pointer arguments must stay valid until it returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn psx_syscall3(nr: c_long, a1: c_long, a2: c_long, a3: c_long) -> c_long {
    to_c(broadcast::all_threads(nr, [a1, a2, a3, 0, 0, 0]))
}

/// Runs `nr(a1, ..., a6)` on every thread of the process.
///
/// Returns the calling thread's result. When the calling thread's call fails
/// it returns -1 with `errno` set, and no other thread is touched.
///
/// # Safety
/// As for [`psx_syscall3`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn psx_syscall6(
    nr: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    to_c(broadcast::all_threads(nr, [a1, a2, a3, a4, a5, a6]))
}

/// Target of the header's `psx_syscall(nr, ...)` counting macro.
///
/// The macro calls `__psx_syscall(nr, args..., 6, 5, 4, 3, 2, 1, 0)`, so the
/// seventh long after `nr` is the number of real arguments. C declares this
/// function variadic; stable Rust cannot define C-variadic functions, so it is
/// defined with eight fixed longs. That is ABI-identical for integer
/// arguments on the two Linux targets we build for: on `x86_64` (System V) a
/// variadic call passes its first six integers in registers and the rest on
/// the stack exactly as a fixed call does (%al only counts vector registers);
/// on aarch64 Linux (AAPCS64, unlike Apple's) variadic integers go in x0-x7
/// like fixed ones. Arguments past the count are replaced by zeros.
///
/// # Safety
/// As for [`psx_syscall3`].
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn __psx_syscall(
    nr: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
    count: c_long,
) -> c_long {
    let given = [a1, a2, a3, a4, a5, a6];
    let Ok(count @ 0..=6) = usize::try_from(count) else {
        return to_c(Err(libc::EINVAL));
    };
    let mut args = [0; 6];
    args[..count].copy_from_slice(&given[..count]);
    to_c(broadcast::all_threads(nr, args))
}

/// `psx_sensitivity_t` of the header: an `int`-sized C enum. Taken as a
/// plain integer so that out-of-range values from C are not undefined
/// behaviour in Rust; the header declares the enum by hand.
#[allow(non_camel_case_types)]
pub type psx_sensitivity_t = c_int;

/// Sets how psx reacts when another thread's result differs from the
/// caller's: `PSX_IGNORE` (0, default), `PSX_WARNING` (1) or `PSX_ERROR` (2).
/// Any other value: -1 with `errno` EINVAL.
#[unsafe(no_mangle)]
pub extern "C" fn psx_set_sensitivity(level: psx_sensitivity_t) -> c_int {
    match sensitivity::set(level) {
        Ok(()) => 0,
        Err(errno) => {
            sys::set_errno(errno);
            -1
        }
    }
}

/// Stores `psx_syscall3` in `*fn3` and `psx_syscall6` in `*fn6`.
///
/// libcap's `libcap.so.2` looks this symbol up (it carries a weak default of
/// its own); this is how `cap_set_proc()` becomes an all-threads call.
///
/// # Safety
/// Each pointer must be null or valid for one write of a function pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn psx_load_syscalls(
    fn3: *mut Option<unsafe extern "C" fn(c_long, c_long, c_long, c_long) -> c_long>,
    fn6: *mut Option<
        unsafe extern "C" fn(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long,
    >,
) {
    if !fn3.is_null() {
        // SAFETY: the caller promises fn3 is valid for a write; non-null checked.
        unsafe { *fn3 = Some(psx_syscall3) };
    }
    if !fn6.is_null() {
        // SAFETY: as above, for fn6.
        unsafe { *fn6 = Some(psx_syscall6) };
    }
}

/// `pthread_create` as seen by programs linked with
/// `-Wl,--wrap=pthread_create`: registers the new thread with psx, then
/// creates it with the real `pthread_create`.
///
/// # Safety
/// Same contract as `pthread_create(3)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __wrap_pthread_create(
    thread: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    start: Option<unsafe extern "C" fn(*mut c_void) -> *mut c_void>,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: the caller upholds pthread_create's contract, which is ours.
    unsafe { wrap::create(thread, attr, start, arg) }
}

/// C convention: the value, or -1 with errno.
fn to_c(result: Result<c_long, c_int>) -> c_long {
    result.unwrap_or_else(|errno| {
        sys::set_errno(errno);
        -1
    })
}
