//! aarch64: `svc 0`; signal handlers return through the kernel's vDSO.

use core::ffi::{c_long, c_void};

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

/// The last instructions of glibc's cancellable-system-call bridge
/// (`__syscall_cancel_arch`, glibc 2.41 and later): `mov x5, x7`, `svc 0`,
/// `ret`, with the system call instruction at [`BRIDGE_SYSCALL_AT`]. The
/// bridge is hand-written assembly; these words occur once in Debian 13's
/// arm64 `libc.so.6` (2.41).
pub const BRIDGE_TAIL: [u8; 12] = [
    0xe5, 0x03, 0x07, 0xaa, 0x01, 0x00, 0x00, 0xd4, 0xc0, 0x03, 0x5f, 0xd6,
];
/// Where the system call instruction starts in [`BRIDGE_TAIL`].
pub const BRIDGE_SYSCALL_AT: usize = 4;

/// The program counter of the context a signal interrupted.
/// Runs in signal handlers: one read.
///
/// # Safety
/// `ctx` is the `ucontext_t` the kernel passed to an `SA_SIGINFO` handler.
pub unsafe fn interrupted_pc(ctx: *mut c_void) -> usize {
    // SAFETY: a valid ucontext_t (# Safety).
    let pc = unsafe { (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.pc };
    usize::try_from(pc).unwrap_or(0)
}

/// Makes an interrupted context that stands at an `svc 0` instruction go on
/// after it with `result` in `x0`, as if the call had returned it.
/// Runs in signal handlers: two writes.
///
/// # Safety
/// As [`interrupted_pc`], and the context's instruction is `svc 0`.
pub unsafe fn skip_syscall(ctx: *mut c_void, result: c_long) {
    // SAFETY: a valid ucontext_t that the kernel restores on return.
    let mc = unsafe { &mut (*ctx.cast::<libc::ucontext_t>()).uc_mcontext };
    mc.pc += 4; // the length of `svc 0`
    #[allow(clippy::cast_sign_loss, reason = "x0 holds the result's bits")]
    let bits = result as u64;
    mc.regs[0] = bits;
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
