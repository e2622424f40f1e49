//! psx's signal handler. **Everything in this module and below it runs in a
//! signal handler**, on a thread interrupted at an arbitrary point (maybe
//! inside `malloc`, maybe holding a C library lock), with every signal
//! blocked (`install::HANDLER_MASK`). So it uses only atomics and raw system
//! calls (`sys`): no allocation, no locks, no thread-locals, no `errno` (raw
//! system calls never touch it, so every interrupted thread's `errno`
//! survives by construction). It imports `protocol`, `slots`, `sys` and
//! `arch`, and nothing of the broadcaster.
//!
//! # Telling our signals apart
//! psx queues its signal with `rt_tgsigqueueinfo`, which lets the sender
//! choose the whole `siginfo`: `si_code = SI_QUEUE`, `si_pid` = our process,
//! `si_uid` = [`MAGIC`], and `si_value` = broadcast generation and slot
//! ([`protocol::encode`]). glibc sends `SI_TKILL` and ignores everything
//! else; the kernel sets `si_code` itself for signals from other processes'
//! `kill()`, and refuses `SI_TKILL` from another process. Anything that does
//! not carry all of our marks goes to the previous handler. A process of the
//! same user can forge all of our marks; what it can do with them is in
//! `answer`.
//!
//! # Chaining
//! The previous handler (glibc's setxid handler, or whatever Go or the
//! application installed) is kept in [`PREVIOUS`] as one word: its address
//! with `SA_SIGINFO` folded into the top bit, so the handler never reads a
//! torn pair. `install` writes it.

mod answer;
mod cancel;
pub mod count;

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::protocol::{self, MAGIC};
use crate::sys;

/// Written into `si_errno` while a foreign signal is passed on, so that a
/// previous handler that passes it back to us (ours -> theirs -> ours) ends
/// the loop instead of recursing.
const CHAIN_MARK: c_int = 0x7073_7863;

/// The handler to pass foreign signals to: address | `SIGINFO_BIT`, or 0 for
/// none (`SIG_DFL`, `SIG_IGN`).
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);
const SIGINFO_BIT: usize = 1 << (usize::BITS - 1);

type SigactionFn = unsafe extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void);
type HandlerFn = unsafe extern "C" fn(c_int);

/// Records the handler to chain: its address (0 for none) and whether it
/// takes `siginfo`. Called by `install`, never in a handler.
pub fn set_previous(addr: usize, siginfo: bool) {
    let word = if addr == 0 || !siginfo {
        addr
    } else {
        addr | SIGINFO_BIT
    };
    PREVIOUS.store(word, Ordering::Release);
}

/// The address to install as psx's handler.
pub fn address() -> usize {
    handler as *const () as usize
}

/// The handler for [`protocol::SIGNAL`].
///
/// Runs in a signal handler, with every signal blocked: atomics and raw
/// system calls only. Our own signals go to [`answer`]; all others to the
/// previous handler.
unsafe extern "C" fn handler(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers;
    // the shared reference ends before the raw pointer is used again.
    if let Some(value) = ours(unsafe { &*info }) {
        answer::on_signal(value);
        // SAFETY: the kernel's context for this handler.
        unsafe { cancel::return_to_bridge(ctx) };
        return;
    }
    // SAFETY: `info` is valid (above); raw accesses only, since the previous
    // handler receives the same pointer and may write through it.
    let errno = unsafe { &raw mut (*info).si_errno };
    // SAFETY: as above.
    let saved = unsafe { errno.read() };
    if saved == CHAIN_MARK {
        return; // a previous handler handed this signal back to us
    }
    // SAFETY: as above.
    unsafe { errno.write(CHAIN_MARK) };
    // SAFETY: forwarding the kernel's own arguments to the handler that was
    // installed before ours, as the kernel would have called it.
    unsafe { call_previous(sig, info, ctx) };
    // SAFETY: as above.
    unsafe { errno.write(saved) };
    // SAFETY: the kernel's context for this handler.
    unsafe { cancel::return_to_bridge(ctx) };
}

/// `Some(si_value)` when `info` carries all of psx's marks.
/// Runs in a signal handler: reads memory only.
fn ours(info: &libc::siginfo_t) -> Option<u64> {
    if info.si_code != libc::SI_QUEUE {
        return None;
    }
    // SAFETY: for SI_QUEUE the kernel's siginfo uses the `_rt` layout of
    // SigInfo (pid, uid, value), which has the same size and alignment.
    let queued = unsafe { &*core::ptr::from_ref(info).cast::<sys::SigInfo>() };
    let sender = protocol::SENDER_PID.load(Ordering::Relaxed);
    (queued.uid == MAGIC && queued.pid == sender).then_some(queued.value)
}

/// Calls the handler that was installed before ours.
/// Runs in a signal handler: one atomic load and an indirect call.
///
/// # Safety
/// The arguments must be those the kernel passed to our handler.
unsafe fn call_previous(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let word = PREVIOUS.load(Ordering::Acquire);
    let addr = word & !SIGINFO_BIT;
    if addr == 0 || addr == address() {
        return;
    }
    if word & SIGINFO_BIT != 0 {
        // SAFETY: the previous action had SA_SIGINFO, so its handler has the
        // three-argument signature.
        let f: SigactionFn = unsafe { core::mem::transmute(addr) };
        unsafe { f(sig, info, ctx) };
    } else {
        // SAFETY: without SA_SIGINFO the handler takes the signal number.
        let f: HandlerFn = unsafe { core::mem::transmute(addr) };
        unsafe { f(sig) };
    }
}
