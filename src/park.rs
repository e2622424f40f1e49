//! Parking: an idle thread answers a broadcast with one wake-up, not two,
//! and usually without a signal at all.
//!
//! # The constraint
//! Everything here runs in psx's signal handler, on a thread interrupted at
//! an arbitrary point: atomics, raw system calls and reads of the
//! interrupted context only.
//!
//! # Why
//! A thread that has run the call must not create a thread until the
//! broadcast ends (see "Why hold?" in `broadcast`), so the classic handler
//! holds: it sleeps on a futex until the release wakes it, then returns to
//! the application, which usually goes straight back to sleep. An idle
//! thread of a pool is thus woken twice per broadcast (by the signal, by the
//! release), where glibc's setxid broadcast wakes it once: `perf stat` showed
//! exactly twice glibc's context switches, and that was the whole gap.
//!
//! # Design
//! When the signal interrupted a thread in an untimed `futex` wait (a
//! condition variable, mutex, semaphore, `pthread_join`, Go's or Rust's
//! parking: the idle states of nearly every thread), the handler, after
//! running the call, makes that very wait itself: same word, same expected
//! value, same private flag. The thread now holds by doing what it was doing
//! anyway, and the release does not need to wake it:
//! - **the application wakes it** (or the word changed, or the wait fails):
//!   the handler waits, if a broadcast is in flight, until it is released
//!   (it cannot create a thread before), then returns to the instruction
//!   after the application's `syscall` with the wait's own result in `rax`,
//!   exactly as if the application's wait had returned it. A `FUTEX_WAKE`
//!   that does not change the word is therefore not lost (a restarted wait
//!   would sleep through it).
//! - **the next broadcast** wakes it: the park waits with `futex_waitv` on
//!   the application's word and on a word of psx's ([`broadcast::wake_word`]).
//!   The broadcaster moves that word and wakes every parked thread with one
//!   `FUTEX_WAKE`; each finds its slot by tid in the (sorted) table, runs the
//!   call and waits again: no signal, no signal frame to build, save and
//!   restore, one wake-up per thread per broadcast. A parked thread that
//!   misses this (woken by its application at the same moment, or parked
//!   without `futex_waitv`) gets the signal as usual: our signal is
//!   unblocked while parked, and the nested handler, seeing that it
//!   interrupted the park's own `syscall` instruction, runs the call and
//!   returns at once, because the parked frame below it already holds.
//! - **another signal's handler** runs on top of the park, as it would have
//!   run on top of the application's wait, with the application's own mask
//!   (the handler's mask minus our signal is the interrupted mask). If the
//!   kernel would restart the application's wait after it (`SA_RESTART`),
//!   it restarts the park the same way; if not, the park fails with `EINTR`
//!   and so does the application's wait.
//!
//! What is parked: `FUTEX_WAIT` (private or shared, not `FUTEX_CLOCK_REALTIME`,
//! which the kernel refuses there) and `FUTEX_WAIT_BITSET` with the
//! match-any mask, without a timeout. The interrupted context shows such a
//! wait as `rip` on a `syscall` instruction (`0f 05`) with `rax` =
//! `SYS_futex`: the kernel rewinds a wait it will restart (our handler has
//! `SA_RESTART`), and a thread caught just before its `syscall` looks the
//! same and is equally served by making the call for it. Timed waits are
//! not parked: their remaining time lives in the kernel's restart block.
//! Neither is a wait with another bit mask (a waker with a narrower mask
//! would wake the park instead of its target), nor anything else: those
//! threads hold as before. Only x86_64 parks; other architectures always
//! hold.
//!
//! # Trade-offs
//! - Reading the interrupted code: two bytes at `rip`, after the registers
//!   already look like a futex call. With memory protection keys, code may be
//!   execute-only; the read then runs with PKRU opened and restored. A
//!   handler also runs with the default protection keys, so a park whose
//!   word turns out unreadable (`EFAULT`) hands the wait back to the
//!   application, to make again with its own keys.
//! - `pthread_cancel()`: glibc 2.36 cancels a thread waiting in a
//!   cancellation point from the `SIGCANCEL` handler itself (asynchronous
//!   mode is on during the wait), which unwinds through the park. glibc 2.41
//!   instead checks whether the interrupted `rip` is inside its cancellable
//!   system call bridge: on top of a park it is not, and `SIGCANCEL` has
//!   `SA_RESTART`, so the park would sleep on. Hence, with glibc 2.39 or
//!   later (or a version psx cannot read), and with older ones once a
//!   `SIGCANCEL` handler is installed (glibc does at the first
//!   `pthread_cancel()`; the broadcaster looks before each broadcast), the
//!   park uses a plain futex wait with a long timeout, which makes the
//!   kernel fail it with `EINTR` after any handler (a wait with a timeout is
//!   restarted through the restart block, which a handler always cancels):
//!   the application's wait then fails with `EINTR`, which glibc turns into
//!   the cancellation. The price, there: broadcasts reach parked threads by
//!   signal, and an `SA_RESTART` handler run while parked also makes the
//!   wait fail with `EINTR` (glibc's condition variables, mutexes and joins
//!   retry; `sem_wait()` reports it).
//! - Two signals delivered in the same return to user space: if ours is
//!   taken first, a handler without `SA_RESTART` stacked on it cannot fail
//!   the park, as it would have failed the application's wait. glibc's own
//!   setxid signal has the same effect on any wait.
//! - System calls: a parked thread makes `rt_sigprocmask` (once, to unblock
//!   our signal, before the broadcast's call runs) and `futex_waitv`, which
//!   a seccomp filter written for the application may not allow. A refusal
//!   with an error is survived (`rt_sigprocmask`: the thread holds instead;
//!   `futex_waitv`: the plain futex wait takes over, as on kernels before
//!   5.16). A broadcast that installs a seccomp filter (or strict mode)
//!   ends parking in the process: parked threads hand their waits back to
//!   the application and later broadcasts hold, which needs only `futex`.
//!   A filter installed another way that *kills* on these calls is not
//!   survivable; README lists the calls psx's handler makes.

use core::ffi::{c_int, c_long, c_void};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::broadcast;
use crate::sys;

/// A futex wait found in an interrupted context, to be made again.
#[derive(Clone, Copy)]
pub struct Wait {
    word: *const u32,
    op: c_int,
    expected: u32,
}

/// What a handler interrupted.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub enum Interrupted {
    /// The park of an outer psx handler on this thread: that frame holds.
    Park,
    /// An untimed futex wait of the application: this handler can park.
    Wait(Wait),
    /// Anything else: this handler must hold.
    Other,
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use super::*;

    // The park's system call, alone, so that its `syscall` instruction has a
    // known address (`psx_rs_park_insn`): a nested handler recognises its
    // outer frame's park by the interrupted `rip`. The CFI lets unwinders
    // (pthread_cancel()'s forced unwind) step from a nested signal frame
    // through it: it is a leaf, the return address is at the stack pointer.
    // psx_rs_park_syscall(nr, a1, a2, a3, a4, a5) -> raw result
    core::arch::global_asm!(
        ".pushsection .text.psx_rs_park,\"ax\",@progbits",
        ".globl psx_rs_park_syscall",
        ".hidden psx_rs_park_syscall",
        ".globl psx_rs_park_insn",
        ".hidden psx_rs_park_insn",
        ".type psx_rs_park_syscall,@function",
        ".p2align 4",
        "psx_rs_park_syscall:",
        ".cfi_startproc",
        "    mov rax, rdi",
        "    mov rdi, rsi",
        "    mov rsi, rdx",
        "    mov rdx, rcx",
        "    mov r10, r8",
        "    mov r8, r9",
        "psx_rs_park_insn:",
        "    syscall",
        "    ret",
        ".cfi_endproc",
        ".size psx_rs_park_syscall, . - psx_rs_park_syscall",
        ".popsection",
    );

    unsafe extern "C" {
        fn psx_rs_park_syscall(
            nr: c_long,
            a1: usize,
            a2: usize,
            a3: usize,
            a4: usize,
            a5: usize,
        ) -> c_long;
        static psx_rs_park_insn: u8;
    }

    const SYSCALL_INSN: [u8; 2] = [0x0f, 0x05];

    fn park_insn() -> usize {
        &raw const psx_rs_park_insn as usize
    }

    fn gregs(ctx: *mut c_void) -> *mut [libc::greg_t; 23] {
        // SAFETY: the kernel passes an x86_64 ucontext_t to SA_SIGINFO
        // handlers; only the address of its register array is formed.
        unsafe { &raw mut (*(ctx as *mut libc::ucontext_t)).uc_mcontext.gregs }
    }

    fn reg(ctx: *mut c_void, r: c_int) -> u64 {
        // SAFETY: `r` is one of libc's REG_* indices (< 23) into the live
        // context of the current handler.
        unsafe { (*gregs(ctx))[r as usize] as u64 }
    }

    fn set_reg(ctx: *mut c_void, r: c_int, value: u64) {
        // SAFETY: as in `reg`; the kernel restores the registers from this
        // context at `rt_sigreturn`.
        unsafe { (*gregs(ctx))[r as usize] = value as libc::greg_t };
    }

    /// What `ctx` interrupted; an application's wait only if `may_park`.
    /// Runs in a signal handler: reads the interrupted context.
    pub fn classify(ctx: *mut c_void, may_park: bool) -> Interrupted {
        let rip = reg(ctx, libc::REG_RIP) as usize;
        if rip == park_insn() || rip == park_insn() + 2 {
            return Interrupted::Park;
        }
        if !may_park
            || reg(ctx, libc::REG_RAX) != libc::SYS_futex as u64
            || reg(ctx, libc::REG_R10) != 0
        {
            return Interrupted::Other;
        }
        let op = reg(ctx, libc::REG_RSI) as u32 as c_int;
        let private = op & libc::FUTEX_PRIVATE_FLAG;
        let cmd = op & !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME);
        let clock_rt = op & libc::FUTEX_CLOCK_REALTIME != 0;
        let any = reg(ctx, libc::REG_R9) as u32 == u32::MAX;
        let untimed_wait =
            (cmd == libc::FUTEX_WAIT && !clock_rt) || (cmd == libc::FUTEX_WAIT_BITSET && any);
        if !untimed_wait || !code_at_is(rip, SYSCALL_INSN) {
            return Interrupted::Other;
        }
        Interrupted::Wait(Wait {
            word: reg(ctx, libc::REG_RDI) as usize as *const u32,
            op: libc::FUTEX_WAIT | private,
            expected: reg(ctx, libc::REG_RDX) as u32,
        })
    }

    /// Makes a futex wait at the park's known `syscall` instruction.
    /// Runs in a signal handler: one system call.
    pub fn futex_wait(wait: Wait, timeout: Option<&libc::timespec>) -> c_long {
        let timeout = timeout.map_or(0, |t| t as *const libc::timespec as usize);
        let (word, op, expected) = (wait.word as usize, wait.op as usize, wait.expected as usize);
        // SAFETY: a futex wait only reads the word: either the
        // application's, at the address its own wait named (a bad address
        // fails with EFAULT), or one of ours.
        unsafe { psx_rs_park_syscall(libc::SYS_futex, word, op, expected, timeout, 0) }
    }

    /// `futex_waitv` on `waiters`, untimed, at the park's known `syscall`
    /// instruction. Runs in a signal handler: one system call.
    pub fn futex_waitv(waiters: &[FutexWaitv]) -> c_long {
        let (list, n) = (waiters.as_ptr() as usize, waiters.len());
        // SAFETY: as `futex_wait`: the kernel only reads the list and the
        // words it names.
        unsafe { psx_rs_park_syscall(SYS_FUTEX_WAITV, list, n, 0, 0, 0) }
    }

    /// Makes the interrupted context continue after its `syscall`
    /// instruction with `result`, as if the kernel had returned it.
    /// Runs in a signal handler: writes the context.
    pub fn complete(ctx: *mut c_void, result: c_long) {
        let rip = reg(ctx, libc::REG_RIP);
        set_reg(ctx, libc::REG_RAX, result as u64);
        set_reg(ctx, libc::REG_RIP, rip + SYSCALL_INSN.len() as u64);
    }

    /// When our signal's handler (ours, or glibc's setxid one chained from
    /// it) runs on top of a park, makes the park's system call return
    /// `ETIMEDOUT`, which the park's loops take as "look again": instead of
    /// the kernel restarting it as it was (the broadcast just answered may
    /// have installed a seccomp filter, and the loop decides what to call
    /// next), or failing it with `EINTR` (a timed wait is never restarted
    /// after a handler) as if another signal had interrupted it.
    /// Runs in a signal handler: reads and writes the context.
    pub fn absorb_interruption(ctx: *mut c_void) {
        let rip = reg(ctx, libc::REG_RIP) as usize;
        let eintr = reg(ctx, libc::REG_RAX) as c_long == -(libc::EINTR as c_long);
        if rip == park_insn() || (rip == park_insn() + 2 && eintr) {
            set_reg(ctx, libc::REG_RIP, (park_insn() + 2) as u64);
            set_reg(ctx, libc::REG_RAX, -(libc::ETIMEDOUT as c_long) as u64);
        }
    }

    /// Whether the interrupted code at `rip` starts with `bytes`.
    /// Runs in a signal handler: reads code, with PKRU opened if needed.
    fn code_at_is(rip: usize, bytes: [u8; 2]) -> bool {
        let read = |at: usize| {
            // SAFETY: `rip` is where the thread executes, so its page is
            // mapped; it may only be execute-only (memory protection keys),
            // and then `with_code_readable` opens PKRU. The second byte is
            // read only after the first turned out to be 0x0f, which begins
            // an instruction at least two bytes long: mapped too.
            unsafe { core::ptr::read_volatile(at as *const u8) }
        };
        with_code_readable(|| read(rip) == bytes[0] && read(rip + 1) == bytes[1])
    }

    /// Runs `f` with every protection key allowing access, when the CPU and
    /// kernel use protection keys. Runs in a signal handler: two
    /// instructions around `f`.
    fn with_code_readable<T>(f: impl FnOnce() -> T) -> T {
        if !PKEYS.load(Ordering::Relaxed) {
            return f();
        }
        let saved: u32;
        // SAFETY: RDPKRU/WRPKRU exist when CR4.OSPKE is set (checked at
        // load); they read and write this thread's PKRU only. The kernel
        // restores PKRU at rt_sigreturn, and we restore it at once anyway.
        unsafe {
            core::arch::asm!("rdpkru", in("ecx") 0, out("eax") saved, out("edx") _,
                options(nomem, nostack));
            core::arch::asm!("wrpkru", in("eax") 0, in("ecx") 0, in("edx") 0,
                options(nostack));
        }
        let result = f();
        // SAFETY: as above.
        unsafe {
            core::arch::asm!("wrpkru", in("eax") saved, in("ecx") 0, in("edx") 0,
                options(nostack));
        }
        result
    }

    /// Whether protection keys are on (set once at load, before the
    /// handler is installed).
    static PKEYS: AtomicBool = AtomicBool::new(false);

    /// Finds out whether protection keys are on (CPUID leaf 7, ECX bit 4,
    /// OSPKE). Never runs in a handler (CPUID may trap to a hypervisor).
    pub fn init() {
        let max = core::arch::x86_64::__cpuid(0).eax;
        // Leaf 7 exists when the maximum leaf is at least 7.
        let on = max >= 7 && core::arch::x86_64::__cpuid_count(7, 0).ecx & (1 << 4) != 0;
        PKEYS.store(on, Ordering::Relaxed);
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod arch {
    use super::*;

    pub fn classify(_: *mut c_void, _: bool) -> Interrupted {
        Interrupted::Other
    }
    pub fn futex_wait(_: Wait, _: Option<&libc::timespec>) -> c_long {
        unreachable!("nothing is parked on this architecture")
    }
    pub fn futex_waitv(_: &[FutexWaitv]) -> c_long {
        unreachable!("nothing is parked on this architecture")
    }
    pub fn complete(_: *mut c_void, _: c_long) {}
    pub fn absorb_interruption(_: *mut c_void) {}
    pub fn init() {}
}

pub use arch::{absorb_interruption, classify};

/// Load-time set-up (never in a handler): protection keys, and which glibc
/// cancels threads (see [`PC_CANCELLATION`]).
pub fn init() {
    arch::init();
    PC_CANCELLATION.store(glibc_cancels_by_pc(), Ordering::Relaxed);
}

/// Whether this glibc may cancel a thread only when the interrupted `rip`
/// is in its system call bridge (module doc). The bridge replaced
/// asynchronous cancellation around blocking calls in glibc 2.41; from 2.39
/// on (and for a version that does not parse) psx assumes it, which costs
/// only speed where it is wrong.
fn glibc_cancels_by_pc() -> bool {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let version = unsafe { core::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    cancels_by_pc(version.to_bytes())
}

/// [`glibc_cancels_by_pc`] for a version string such as `2.36`.
fn cancels_by_pc(version: &[u8]) -> bool {
    let mut parts = version.split(|&b| b == b'.');
    let mut number = || -> Option<u32> { core::str::from_utf8(parts.next()?).ok()?.parse().ok() };
    !matches!((number(), number()), (Some(2), Some(minor)) if minor < 39)
}

/// The timeout of a park in a process with a `SIGCANCEL` handler: only
/// there to make any handler fail the park with `EINTR` (module doc); when
/// it expires, the park simply sleeps again.
const CANCELLABLE_PARK: libc::timespec = libc::timespec {
    tv_sec: 3600,
    tv_nsec: 0,
};

/// glibc's cancellation signal.
const SIGCANCEL: c_int = 32;

/// Whether a `SIGCANCEL` handler was installed when the current broadcast
/// began (glibc never removes it once installed).
static CANCEL_HANDLER: AtomicBool = AtomicBool::new(false);
/// Whether glibc cancels by looking at the interrupted `rip`: then every
/// park is cancellable, whether or not `pthread_cancel()` was used yet (a
/// first `pthread_cancel()` of a thread parked without the timeout would
/// not end it).
static PC_CANCELLATION: AtomicBool = AtomicBool::new(true);
/// Whether this process has broadcast a seccomp filter (or strict mode):
/// from then on no thread parks (module doc).
static FILTERED: AtomicBool = AtomicBool::new(false);

/// Called by the broadcaster before it publishes a broadcast of `nr(args)`.
/// Never runs in a handler.
pub fn before_broadcast(nr: c_long, args: &[c_long; 6]) {
    let installs_filter = (nr == libc::SYS_seccomp
        && matches!(
            args[0] as u32,
            libc::SECCOMP_SET_MODE_STRICT | libc::SECCOMP_SET_MODE_FILTER
        ))
        || (nr == libc::SYS_prctl && args[0] == libc::PR_SET_SECCOMP as c_long);
    if installs_filter {
        FILTERED.store(true, Ordering::Relaxed);
    }
    // Only where it decides how to park: parks are always cancellable with
    // glibc that cancels by `rip`, and a handler once seen stays.
    if !PC_CANCELLATION.load(Ordering::Relaxed) && !CANCEL_HANDLER.load(Ordering::Relaxed) {
        let installed = sys::current_action(SIGCANCEL).is_ok_and(|a| a.runs_handler());
        CANCEL_HANDLER.store(installed, Ordering::Relaxed);
    }
}

/// Whether a thread may start parking (or go on parking).
/// Runs in a signal handler: one atomic load.
pub fn allowed() -> bool {
    !FILTERED.load(Ordering::Relaxed)
}

/// Makes our signal deliverable during the park (the kernel blocks it
/// while its handler runs); `false` if that failed (a seccomp filter may
/// refuse the call): then the thread must hold instead. Before the
/// broadcast's call runs (module doc, last trade-off).
/// Runs in a signal handler: one system call.
pub fn prepare(signal: c_int) -> bool {
    sys::unblock_signal(signal).is_ok()
}

/// How a park ends.
enum Outcome {
    /// The application's wait returns this.
    Complete(c_long),
    /// The application makes its wait again (the context is left as the
    /// kernel set it for a restart).
    Restart,
}

/// Parks: waits as the application did (answering broadcasts meanwhile),
/// then for the end of any broadcast in flight, and completes the
/// application's wait with the result. `me` is the calling thread's id.
/// Runs in a signal handler: futex calls, atomics and context writes.
pub fn park(ctx: *mut c_void, wait: Wait, me: c_int) {
    let cancellable =
        PC_CANCELLATION.load(Ordering::Relaxed) || CANCEL_HANDLER.load(Ordering::Relaxed);
    let timeout = cancellable.then_some(&CANCELLABLE_PARK);
    let outcome = match timeout {
        None => wait_answering(wait, me),
        Some(_) => None,
    }
    .unwrap_or_else(|| wait_interruptible(wait, timeout));
    // Our signal stays unblocked: a broadcast that has not reached this
    // thread yet is answered by a nested handler while we wait here, or
    // here, if it woke us together with the application.
    while let Some((word, value)) = broadcast::in_flight() {
        broadcast::answer_parked(me);
        let release = Wait {
            word: word.as_ptr(),
            op: libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected: value,
        };
        arch::futex_wait(release, None);
    }
    if let Outcome::Complete(result) = outcome {
        arch::complete(ctx, result);
    }
}

const ETIMEDOUT: c_long = -(libc::ETIMEDOUT as c_long);
const EFAULT: c_long = -(libc::EFAULT as c_long);

/// The end of a park whose wait returned `r`.
/// Runs in a signal handler: pure.
fn outcome_of(r: c_long) -> Outcome {
    // EFAULT: the application's word may be readable only with the
    // application's protection keys (a handler runs with the default ones):
    // its own wait, made again, will tell.
    if r == EFAULT {
        Outcome::Restart
    } else {
        Outcome::Complete(r)
    }
}

/// The application's wait, made with a long timeout or none (see
/// [`CANCELLABLE_PARK`]); broadcasts reach the thread by signal meanwhile.
/// Runs in a signal handler: futex calls.
fn wait_interruptible(wait: Wait, timeout: Option<&libc::timespec>) -> Outcome {
    loop {
        if !allowed() {
            return Outcome::Restart;
        }
        let r = arch::futex_wait(wait, timeout);
        // ETIMEDOUT: our long timeout, or our own signal's handler ran on
        // top (see `absorb_interruption`); the application's wait has none.
        if r != ETIMEDOUT {
            return outcome_of(r);
        }
    }
}

/// The kernel's `struct futex_waitv`.
#[repr(C)]
pub struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const SYS_FUTEX_WAITV: c_long = 449;
const FUTEX2_SIZE_U32: u32 = 0x02;
const FUTEX2_PRIVATE: u32 = 128;

/// Whether `futex_waitv` is unusable here (Linux < 5.16, or refused by a
/// seccomp filter with an error).
static NO_WAITV: AtomicBool = AtomicBool::new(false);

/// The application's wait and psx's wake word at once (`futex_waitv`): a
/// broadcast wakes every parked thread with one `FUTEX_WAKE` instead of a
/// signal each, and each answers from here, without a signal frame.
/// `None` when `futex_waitv` cannot be used: the caller waits without it.
/// Runs in a signal handler: futex calls and atomics.
fn wait_answering(wait: Wait, me: c_int) -> Option<Outcome> {
    let scope = |op: c_int| {
        if op & libc::FUTEX_PRIVATE_FLAG != 0 {
            FUTEX2_PRIVATE
        } else {
            0
        }
    };
    loop {
        if !allowed() {
            return Some(Outcome::Restart);
        }
        if NO_WAITV.load(Ordering::Relaxed) {
            return None;
        }
        let wake = broadcast::wake_word();
        let seen = wake.load(Ordering::Acquire);
        broadcast::answer_parked(me);
        let waiters = [
            FutexWaitv {
                val: wait.expected.into(),
                uaddr: wait.word as u64,
                flags: FUTEX2_SIZE_U32 | scope(wait.op),
                reserved: 0,
            },
            FutexWaitv {
                val: seen.into(),
                uaddr: wake.as_ptr() as u64,
                flags: FUTEX2_SIZE_U32 | FUTEX2_PRIVATE,
                reserved: 0,
            },
        ];
        match arch::futex_waitv(&waiters) {
            // psx's wake, or our signal's handler ran on top: answer, wait.
            1 | ETIMEDOUT => {}
            r if r == -(libc::EAGAIN as c_long) => {
                // SAFETY: the kernel has just read this word for us.
                if unsafe { core::ptr::read_volatile(wait.word) } != wait.expected {
                    return Some(Outcome::Complete(r));
                }
                // Otherwise psx's word moved: answer, then wait again.
            }
            // 0: the application's wake; EINTR: a handler without
            // SA_RESTART ran on top; EFAULT: see `outcome_of`.
            r if r >= 0 || r == -(libc::EINTR as c_long) || r == EFAULT => {
                return Some(outcome_of(r));
            }
            // ENOSYS (before Linux 5.16), an error from a seccomp filter,
            // EINVAL for a misaligned word: the plain wait takes over.
            _ => {
                NO_WAITV.store(true, Ordering::Relaxed);
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glibc_versions() {
        for old in ["2.36", "2.17", "2.38.9000"] {
            assert!(!super::cancels_by_pc(old.as_bytes()), "{old}");
        }
        for new in ["2.39", "2.41", "2.100", "3.0", "", "x.y", "2"] {
            assert!(super::cancels_by_pc(new.as_bytes()), "{new}");
        }
    }
}
