//! The C ABI: the six symbols of libcap's `<sys/psx_syscall.h>`.
//!
//! Each function is a thin shell around the engine: it converts between C
//! conventions (-1 and `errno`) and the engine's `Result`. cbindgen reads this
//! file to write `include/sys/psx_syscall.h`.

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
#[unsafe(no_mangle)]
pub extern "C" fn psx_syscall3(nr: c_long, a1: c_long, a2: c_long, a3: c_long) -> c_long {
    to_c(broadcast::all_threads(nr, [a1, a2, a3, 0, 0, 0]))
}

/// Runs `nr(a1, ..., a6)` on every thread of the process.
///
/// Returns the calling thread's result. When the calling thread's call fails
/// it returns -1 with `errno` set, and no other thread is touched.
#[unsafe(no_mangle)]
pub extern "C" fn psx_syscall6(
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
/// arguments on the two Linux targets we build for: on x86_64 (System V) a
/// variadic call passes its first six integers in registers and the rest on
/// the stack exactly as a fixed call does (%al only counts vector registers);
/// on aarch64 Linux (AAPCS64, unlike Apple's) variadic integers go in x0-x7
/// like fixed ones. Arguments past the count are replaced by zeros.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn __psx_syscall(
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
