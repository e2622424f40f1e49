//! aarch64: `svc 0`; signal handlers return through the kernel's vDSO.

use core::ffi::c_long;

/// Performs system call `nr` with six arguments and returns the kernel's raw
/// result (`-errno` on failure). Runs in signal handlers: one instruction.
///
/// # Safety
/// The call can do anything a system call can: the caller vouches for `nr`
/// and its arguments (pointers valid, memory effects acceptable).
#[inline]
pub unsafe fn raw6(nr: c_long, a: [c_long; 6]) -> c_long {
    let ret: c_long;
    // SAFETY: the aarch64 Linux convention: number in x8, arguments in
    // x0-x5, result in x0; `svc 0` clobbers nothing else.
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") a[0] => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack),
        );
    }
    ret
}

/// No restorer: without `SA_RESTORER` the kernel returns from handlers
/// through its vDSO trampoline `__kernel_rt_sigreturn`, which carries the
/// unwind information debuggers and libgcc need.
pub fn restorer() -> usize {
    0
}

/// `SA_RESTORER` is not set (see [`restorer`]).
pub const RESTORER_FLAG: u64 = 0;

// See the x86_64 backend: a hidden, trapping stand-in for the personality
// routine `core`'s unwind tables name, in the no_std build only.
#[cfg(not(feature = "std"))]
core::arch::global_asm!(
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality,%function",
    "rust_eh_personality:",
    "    brk #0",
);
