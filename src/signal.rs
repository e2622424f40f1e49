//! The signal psx sends to every thread, its handler, and chaining to the
//! handler that was there before.
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
//! # Telling our signals apart
//! psx queues its signal with `rt_tgsigqueueinfo`, which lets the sender
//! choose the whole `siginfo`: `si_code = SI_QUEUE`, `si_pid` = our process,
//! `si_uid` = [`MAGIC`], and `si_value` = broadcast generation and slot. glibc
//! sends `SI_TKILL` and ignores everything else; the kernel sets `si_code`
//! itself for signals from other processes' `kill()`. Anything that does not
//! carry all of our marks goes to the previous handler.
//!
//! # The handler's constraints
//! It interrupts arbitrary code, possibly inside `malloc` or holding a C
//! library lock, so it uses only atomics and raw system calls: no
//! allocation, no locks, no thread-locals, no `errno` (raw system calls never
//! touch it, so every interrupted thread's `errno` survives by construction).
//!
//! # Chaining
//! The previous handler (glibc's setxid handler, or whatever Go or the
//! application installed) is kept in [`PREVIOUS`] as one word: its address
//! with `SA_SIGINFO` folded into the top bit, so the handler never reads a
//! torn pair. Applications may replace our handler at any time with a raw
//! `rt_sigaction` (Go's runtime adjusts every handler after C constructors
//! run): [`ensure_installed`] runs before every broadcast, adopts the newcomer
//! as the handler to chain, and puts ours back.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::broadcast;
use crate::sys::{self, KernelSigaction};

/// The signal psx uses: glibc's `SIGSETXID`.
pub const SIGNAL: c_int = 33;

/// `si_uid` of psx's signals: "PSX!" in ASCII.
pub const MAGIC: u32 = 0x5053_5821;

/// Every signal is blocked while our handler runs (the kernel leaves
/// `SIGKILL` and `SIGSTOP` out by itself). Nothing can then run on top of
/// the handler and leave it early: no `pthread_cancel()` acting in it
/// (glibc's `SIGCANCEL`, 32, is blocked like any other), no handler of
/// another signal calling `pthread_exit()` or `siglongjmp()`. A thread that
/// has run the call therefore stays in the handler until the release (the
/// end argument in `broadcast` rests on this), and a signal that arrives
/// meanwhile is delivered right after the handler returns, at the
/// application's own instruction, as if psx had never been there: glibc
/// 2.41's `SIGCANCEL` handler then finds the thread inside its cancellable
/// system call bridge and acts, where on top of our handler it would only
/// have marked the thread. Raw `rt_sigaction` takes signals 32 and 33,
/// which glibc's `sigfillset` would leave out.
const HANDLER_MASK: u64 = !0;

/// Written into `si_errno` while a foreign signal is passed on, so that a
/// previous handler that passes it back to us (ours -> theirs -> ours) ends
/// the loop instead of recursing.
const CHAIN_MARK: c_int = 0x7073_7863;

/// The handler to pass foreign signals to: address | SIGINFO_BIT, or 0 for
/// none (`SIG_DFL`, `SIG_IGN`).
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);
const SIGINFO_BIT: usize = 1 << (usize::BITS - 1);

type SigactionFn = unsafe extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void);
type HandlerFn = unsafe extern "C" fn(c_int);

/// Makes sure our handler is the one installed for [`SIGNAL`], adopting any
/// other handler found there as the one to chain; `Ok(true)` when it had to
/// put ours back. Called at load time, before every broadcast, and while a
/// broadcast waits: glibc 2.36 installs its own handler for signal 33 at the
/// process's first `pthread_create()`, after our load-time installation,
/// and applications may install theirs at any time. Never runs in a handler.
pub fn ensure_installed() -> Result<bool, c_int> {
    let current = sys::current_action(SIGNAL)?;
    if current.handler == handler as *const () as usize {
        return Ok(false);
    }
    remember_previous(&current);
    let ours = KernelSigaction {
        handler: handler as *const () as usize,
        // SA_RESTART: interrupted system calls resume instead of failing with
        // EINTR in the application. SA_ONSTACK: Go runs goroutines on small
        // stacks and gives each thread an alternate signal stack for handlers.
        flags: (libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK) as u64 | restorer_flag(),
        restorer: restorer(),
        mask: HANDLER_MASK,
    };
    sys::rt_sigaction(SIGNAL, Some(&ours), None).map(|()| true)
}

fn remember_previous(action: &KernelSigaction) {
    let word = match action.handler {
        _ if !action.runs_handler() => 0,
        h if action.flags & libc::SA_SIGINFO as u64 != 0 => h | SIGINFO_BIT,
        h => h,
    };
    PREVIOUS.store(word, Ordering::Release);
}

/// The handler for [`SIGNAL`].
///
/// Runs in a signal handler: uses only atomics and raw system calls. Our own
/// signals are handed to the broadcast protocol; all others to the previous
/// handler.
unsafe extern "C" fn handler(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let info_ref = unsafe { &mut *info };
    if let Some(value) = ours(info_ref) {
        broadcast::on_signal(value);
        return;
    }
    if info_ref.si_errno == CHAIN_MARK {
        return; // a previous handler handed this signal back to us
    }
    let saved = info_ref.si_errno;
    info_ref.si_errno = CHAIN_MARK;
    // SAFETY: forwarding the kernel's own arguments to the handler that was
    // installed before ours, as the kernel would have called it.
    unsafe { call_previous(sig, info, ctx) };
    info_ref.si_errno = saved;
}

/// `Some(si_value)` when `info` carries all of psx's marks.
/// Runs in a signal handler: reads memory only.
fn ours(info: &libc::siginfo_t) -> Option<u64> {
    if info.si_code != libc::SI_QUEUE {
        return None;
    }
    // SAFETY: for SI_QUEUE the kernel's siginfo uses the `_rt` layout of
    // SigInfo (pid, uid, value), which has the same size and alignment.
    let queued = unsafe { &*(info as *const libc::siginfo_t as *const sys::SigInfo) };
    (queued.uid == MAGIC && queued.pid == broadcast::current_pid()).then_some(queued.value)
}

/// Calls the handler that was installed before ours.
/// Runs in a signal handler: one atomic load and an indirect call.
///
/// # Safety
/// The arguments must be those the kernel passed to our handler.
unsafe fn call_previous(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let word = PREVIOUS.load(Ordering::Acquire);
    let addr = word & !SIGINFO_BIT;
    if addr == 0 || addr == handler as *const () as usize {
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

// x86_64 requires user space to supply the code that returns from a signal
// handler (SA_RESTORER); the C library's is not ours to reference, so psx has
// its own: a bare `rt_sigreturn` (system call 15). aarch64 has the kernel's
// vDSO trampoline and needs none.
//
// Unwinders must be able to step through a thread stopped in our handler
// (backtrace(), gdb, the forced unwind of pthread_cancel()). The restorer
// carries no CFI; instead it is exactly the byte sequence libgcc's x86_64
// fallback (and gdb) recognise as a signal return, `48 c7 c0 0f 00 00 00`
// `0f 05` (mov $15,%rax; syscall), written out so no assembler can pick a
// shorter encoding. Unwinders look up the byte before a return address,
// so a `nop` without CFI precedes the label: the lookup then finds no
// function's unwind table and falls back to recognising the bytes
// (c-tests/t12_unwind checks it).
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.psx_rs_restore_rt,\"ax\",@progbits",
    ".globl psx_rs_restore_rt",
    ".hidden psx_rs_restore_rt",
    ".type psx_rs_restore_rt,@function",
    ".p2align 4",
    "    nop",
    "psx_rs_restore_rt:",
    "    .byte 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00",
    "    .byte 0x0f, 0x05",
    ".size psx_rs_restore_rt, . - psx_rs_restore_rt",
    ".popsection",
);

#[cfg(target_arch = "x86_64")]
unsafe extern "C" {
    fn psx_rs_restore_rt();
}

#[cfg(target_arch = "x86_64")]
fn restorer() -> usize {
    psx_rs_restore_rt as *const () as usize
}

#[cfg(target_arch = "x86_64")]
fn restorer_flag() -> u64 {
    sys::SA_RESTORER
}

#[cfg(not(target_arch = "x86_64"))]
fn restorer() -> usize {
    0
}

#[cfg(not(target_arch = "x86_64"))]
fn restorer_flag() -> u64 {
    0
}
