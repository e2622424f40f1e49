//! Returning to an interrupted wait of glibc's cancellable-system-call
//! bridge as if our signal had not been there (glibc 2.41 and later).
//! Runs in a signal handler (see `handler`).
//!
//! glibc 2.41 acts on `pthread_cancel()` only at its bridge
//! (`__syscall_cancel_arch`): the bridge checks the thread's cancelled bit
//! before its system call instruction and cancels on an `EINTR` result;
//! `SIGCANCEL`'s handler cancels when it interrupted the bridge, and
//! otherwise only sets the bit. A thread we interrupted in a wait inside the
//! bridge returns from our handler (`SA_RESTART`) to the bridge's system
//! call instruction, past the check. Signals that arrived during our
//! handler (which blocks them all) are delivered right there, lowest number
//! first, and their handlers run as if the thread had not yet entered the
//! wait, not as if they had interrupted it:
//! - a handler installed without `SA_RESTART` would have made the wait fail
//!   with `EINTR`; the restarted wait sleeps on instead;
//! - `SIGCANCEL` (32) comes after every standard signal (1 to 31): it then
//!   interrupts that signal's handler, only sets the bit, and the restarted
//!   wait sleeps for ever, the cancellation lost (c-tests/t16_soak found it;
//!   t17 `hold-cancel-and-signal` repeats it).
//!
//! So before our handler returns to that very instruction, it does what the
//! kernel would have done had the pending signal interrupted the wait: with
//! `SIGCANCEL` pending, or a pending signal whose handler lacks
//! `SA_RESTART`, the system call fails with `EINTR` instead of restarting.
//! The bridge then cancels the thread if it was cancelled (a pending
//! `SIGCANCEL` means it was, with cancellation enabled, while it waited),
//! and otherwise returns `EINTR`, which the program would have seen without
//! psx. Otherwise nothing changes. What remains: both signals arriving
//! between this check and the kernel's return (nanoseconds); and
//! `rt_sigpending` cannot tell a signal sent to this thread from one sent to
//! the process, which another thread may take first: then this wait fails
//! with `EINTR` although no handler ran on this thread (only for a handler
//! without `SA_RESTART`, whose program handles `EINTR` from these calls).
//! glibc before 2.41 has no bridge and cancels from `SIGCANCEL`'s handler;
//! the bytes never match there.

use core::ffi::{c_int, c_long, c_void};

use crate::arch;
use crate::sys;

/// glibc's cancellation signal (`SIGCANCEL`, the first real-time signal).
const SIGCANCEL: c_int = 32;
/// Signals 32 and 33 (bits 31 and 32): glibc's own, never the program's.
const GLIBC_SIGNALS: u64 = 0b11 << 31;

/// Before our handler returns to the context `ctx`: if a pending signal
/// would have made the interrupted wait fail, and the context stands at the
/// system call of glibc's bridge, makes the call return `EINTR` (module
/// doc).
///
/// Runs in a signal handler, with every signal blocked: raw system calls
/// and writes to the context the kernel restores.
///
/// # Safety
/// `ctx` is the `ucontext_t` the kernel passed to our handler.
pub unsafe fn return_to_bridge(ctx: *mut c_void) {
    // SAFETY: `ctx` is the kernel's context for this handler (# Safety).
    let returning_mask = unsafe { interrupted_mask(ctx) };
    let pending = sys::pending_signals() & !returning_mask;
    if pending == 0 || !would_interrupt(pending) {
        return; // the usual case: one system call
    }
    // SAFETY: as above.
    let pc = unsafe { arch::interrupted_pc(ctx) };
    let Some(start) = pc.checked_sub(arch::BRIDGE_SYSCALL_AT) else {
        return;
    };
    let mut code = [0u8; arch::BRIDGE_TAIL.len()];
    // Read with process_vm_readv: the code may be unmapped or execute-only.
    if !sys::read_own_memory(start, &mut code) || code != arch::BRIDGE_TAIL {
        return;
    }
    // SAFETY: as above, and the bytes at `pc` are the bridge's system call
    // instruction.
    unsafe { arch::skip_syscall(ctx, -c_long::from(libc::EINTR)) };
}

/// Whether one of the `pending` signals, delivered now, would have made a
/// wait fail with `EINTR`: `SIGCANCEL`, or a signal with a handler
/// installed without `SA_RESTART`. Runs in a signal handler: raw
/// `rt_sigaction` reads.
fn would_interrupt(pending: u64) -> bool {
    if pending & bit(SIGCANCEL) != 0 {
        return true;
    }
    let program_signals = pending & !GLIBC_SIGNALS;
    (1..=64)
        .filter(|&sig| program_signals & bit(sig) != 0)
        .any(|sig| {
            sys::current_action(sig)
                .is_ok_and(|a| a.runs_handler() && a.flags & libc::SA_RESTART as u64 == 0)
        })
}

/// The mask bit of signal `sig` (1 to 64).
const fn bit(sig: c_int) -> u64 {
    1 << (sig - 1)
}

/// The signal mask the thread returns to (the first 64 signals).
///
/// # Safety
/// `ctx` is the `ucontext_t` the kernel passed to an `SA_SIGINFO` handler.
unsafe fn interrupted_mask(ctx: *mut c_void) -> u64 {
    // SAFETY: a valid ucontext_t (# Safety); its sigset_t starts with the
    // kernel's 64-bit mask and is at least 8 bytes, suitably aligned.
    unsafe {
        let set = &raw const (*ctx.cast::<libc::ucontext_t>()).uc_sigmask;
        set.cast::<u64>().read()
    }
}
