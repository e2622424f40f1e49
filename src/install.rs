//! Installing psx's handler for signal 33, and keeping it installed.
//!
//! # Which signal, and why
//! psx needs a signal that reaches every thread, including threads that
//! blocked everything with `sigfillset` + `pthread_sigmask`. glibc reserves
//! signals 32 and 33 for itself and silently removes them from every mask an
//! application passes to `sigprocmask`/`pthread_sigmask`, so no thread can
//! block them through the C library. Signal 33 (`SIGSETXID`) carries glibc's
//! own all-threads broadcast for `setuid()` and friends; psx shares it and
//! chains glibc's handler. (Signal 32 drives `pthread_cancel`; its handler
//! is installed lazily by glibc and is best left alone.)
//!
//! # Keeping it
//! Applications may replace our handler at any time with a raw
//! `rt_sigaction` (Go's runtime adjusts every handler after C constructors
//! run), and glibc 2.36 installs its own for signal 33 at the process's
//! first `pthread_create()`: [`ensure_installed`] runs at load time, before
//! every broadcast and while a broadcast waits, adopts the newcomer as the
//! handler to chain, and puts ours back.

use core::ffi::c_int;

use crate::arch;
use crate::handler;
use crate::protocol::SIGNAL;
use crate::sys::{self, KernelSigaction};

/// Every signal is blocked while our handler runs (the kernel leaves
/// `SIGKILL` and `SIGSTOP` out by itself). Nothing can then run on top of
/// the handler and leave it early: no `pthread_cancel()` acting in it
/// (glibc's `SIGCANCEL`, 32, is blocked like any other), no handler of
/// another signal calling `pthread_exit()` or `siglongjmp()`, so a slot is
/// never left Running by a live thread. In the hold mode a thread that has
/// run the call therefore stays in the handler until the release (the hold
/// mode's end argument in `broadcast` rests on this). A signal that arrives
/// meanwhile is delivered right after the handler returns, at the
/// application's own instruction, as if psx had never been there: glibc
/// 2.41's `SIGCANCEL` handler then finds the thread inside its cancellable
/// system call bridge and acts, where on top of our handler it would only
/// have marked the thread. Raw `rt_sigaction` takes signals 32 and 33,
/// which glibc's `sigfillset` would leave out.
pub const HANDLER_MASK: u64 = !0;

/// Makes sure our handler is the one installed for [`SIGNAL`], adopting any
/// other handler found there as the one to chain; `Ok(true)` when it had to
/// put ours back. Never runs in a handler.
pub fn ensure_installed() -> Result<bool, c_int> {
    let current = sys::current_action(SIGNAL)?;
    if current.handler == handler::address() {
        return Ok(false);
    }
    let chained = if current.runs_handler() {
        current.handler
    } else {
        0
    };
    handler::set_previous(chained, current.flags & libc::SA_SIGINFO as u64 != 0);
    let ours = KernelSigaction {
        handler: handler::address(),
        // SA_RESTART: interrupted system calls resume instead of failing with
        // EINTR in the application. SA_ONSTACK: Go runs goroutines on small
        // stacks and gives each thread an alternate signal stack for handlers.
        flags: (libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK) as u64
            | arch::RESTORER_FLAG,
        restorer: arch::restorer(),
        mask: HANDLER_MASK,
    };
    sys::rt_sigaction(SIGNAL, Some(&ours), None).map(|()| true)
}
