//! Letting a cancellation that arrived during our handler act (glibc 2.41
//! and later). Runs in a signal handler (see `handler`).
//!
//! glibc 2.41 acts on `pthread_cancel()` only at its cancellable-system-call
//! bridge (`__syscall_cancel_arch`): the bridge checks the thread's
//! cancelled bit before its system call instruction and cancels on an
//! `EINTR` result; `SIGCANCEL`'s handler cancels when it interrupted the
//! bridge, and otherwise only sets the bit. Our handler blocks `SIGCANCEL`,
//! so it cannot run inside ours (there it would only set the bit). A thread
//! we interrupted in a wait inside the bridge returns from our handler
//! (`SA_RESTART`) to the bridge's system call instruction, past the check,
//! and a `SIGCANCEL` that arrived meanwhile is delivered right there and
//! acts -- unless a standard signal (1 to 31) arrived during our handler
//! too: the kernel delivers lower numbers first, so `SIGCANCEL` interrupts
//! that signal's handler instead, only sets the bit, and the restarted wait
//! sleeps on, the cancellation lost (c-tests/t16_soak found it: a cancelled
//! worker never ended; t17 `cancel-with-signal` repeats it).
//!
//! So when our handler is about to return to that very instruction with
//! `SIGCANCEL` pending, it makes the system call fail with `EINTR` instead
//! of restarting, and the bridge cancels the thread as it does after a
//! handler without `SA_RESTART`. A pending `SIGCANCEL` means the thread was
//! cancelled with cancellation enabled while it waited here, so the `EINTR`
//! never reaches the program. Otherwise nothing changes. (A `SIGCANCEL`
//! another process sent with `kill()` looks the same: one `EINTR` from a
//! cancellable wait, which the program sees without psx when any handler
//! without `SA_RESTART` runs.) glibc before 2.41 has no bridge and cancels
//! from `SIGCANCEL`'s handler; the bytes never match there.

use core::ffi::{c_long, c_void};

use crate::arch;
use crate::sys;

/// glibc's cancellation signal (`SIGCANCEL`, the first real-time signal).
const SIGCANCEL: i32 = 32;

/// Before our handler returns to the context `ctx`: if a cancellation is
/// pending and the context stands at the system call of glibc's bridge,
/// makes the call return `EINTR` (module doc).
///
/// Runs in a signal handler, with every signal blocked: raw system calls
/// and writes to the context the kernel restores.
///
/// # Safety
/// `ctx` is the `ucontext_t` the kernel passed to our handler.
pub unsafe fn let_cancellation_act(ctx: *mut c_void) {
    if !sys::signal_pending(SIGCANCEL) {
        return; // the usual case: one system call
    }
    // SAFETY: `ctx` is the kernel's context for this handler (# Safety).
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
