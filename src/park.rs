//! Parking: an idle thread answers a broadcast with one wake-up, not two.
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
//! release), where glibc's setxid broadcast wakes it once: `perf stat` shows
//! exactly twice glibc's context switches, and that is the whole gap.
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
//! - **the next broadcast** reaches the parked thread (our signal is
//!   unblocked while parked): the nested handler sees that it interrupted
//!   the park's own `syscall` instruction, runs the call and returns at once,
//!   because the parked frame below it is already a hold. One wake-up per
//!   thread per broadcast, as glibc.
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
//!   execute-only; the read then runs with PKRU opened and restored.
//! - `pthread_cancel()`: glibc 2.36 cancels a thread waiting in a
//!   cancellation point from the `SIGCANCEL` handler itself (asynchronous
//!   mode is on during the wait), which unwinds through the park. glibc 2.41
//!   instead checks whether the interrupted `rip` is inside its cancellable
//!   system call bridge: on top of a park it is not, and `SIGCANCEL` has
//!   `SA_RESTART`, so the park would sleep on. Hence, once a `SIGCANCEL`
//!   handler is installed (glibc does at the first `pthread_cancel()`), the
//!   park sleeps with a long timeout, which makes the kernel fail it with
//!   `EINTR` after any handler (a wait with a timeout is restarted through the
//!   restart block, which a handler always cancels): the application's wait
//!   then fails with `EINTR`, which glibc turns into the cancellation. The
//!   price, in such processes only: an `SA_RESTART` handler run while parked
//!   also makes the wait fail with `EINTR` (glibc's condition variables,
//!   mutexes and joins retry; `sem_wait()` reports it).
//! - Two signals delivered in the same return to user space: if ours is
//!   taken first, a handler without `SA_RESTART` stacked on it cannot fail
//!   the park, as it would have failed the application's wait. glibc's own
//!   setxid signal has the same effect on any wait.
//! - The two system calls of parking (`rt_sigaction` to look for a
//!   `SIGCANCEL` handler, `rt_sigprocmask` to unblock our signal) are made
//!   before the broadcast's call runs, so a seccomp filter installed by the
//!   call cannot refuse them; after the call, a parked thread makes only
//!   `futex` calls, like a held one.

use core::ffi::{c_int, c_long, c_void};
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use crate::sys;

/// A futex wait found in an interrupted context, to be made again.
#[derive(Clone, Copy)]
pub struct Wait {
    word: *const u32,
    op: c_int,
    expected: u32,
}

/// What a handler interrupted.
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

    // The park's futex call, alone, so that its `syscall` instruction has a
    // known address (`psx_rs_park_insn`): a nested handler recognises its
    // outer frame's park by the interrupted `rip`. The CFI lets unwinders
    // (pthread_cancel()'s forced unwind) step from a nested signal frame
    // through it: it is a leaf, the return address is at the stack pointer.
    // psx_rs_park_futex(word, op, expected, timeout) -> raw result
    core::arch::global_asm!(
        ".pushsection .text.psx_rs_park,\"ax\",@progbits",
        ".globl psx_rs_park_futex",
        ".hidden psx_rs_park_futex",
        ".globl psx_rs_park_insn",
        ".hidden psx_rs_park_insn",
        ".type psx_rs_park_futex,@function",
        ".p2align 4",
        "psx_rs_park_futex:",
        ".cfi_startproc",
        "    mov eax, 202", // SYS_futex
        "    mov r10, rcx",
        "psx_rs_park_insn:",
        "    syscall",
        "    ret",
        ".cfi_endproc",
        ".size psx_rs_park_futex, . - psx_rs_park_futex",
        ".popsection",
    );

    unsafe extern "C" {
        fn psx_rs_park_futex(
            word: *const u32,
            op: c_int,
            expected: u32,
            timeout: *const libc::timespec,
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

    /// Runs in a signal handler: reads the interrupted context.
    pub fn classify(ctx: *mut c_void) -> Interrupted {
        let rip = reg(ctx, libc::REG_RIP) as usize;
        if rip == park_insn() || rip == park_insn() + 2 {
            return Interrupted::Park;
        }
        if reg(ctx, libc::REG_RAX) != libc::SYS_futex as u64 || reg(ctx, libc::REG_R10) != 0 {
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

    /// Makes the futex wait at the park's known `syscall` instruction.
    /// Runs in a signal handler: one system call.
    pub fn futex_wait(wait: Wait, timeout: Option<&libc::timespec>) -> c_long {
        let timeout = timeout.map_or(core::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: a futex wait only reads the word: either the
        // application's, at the address its own wait named (a bad address
        // fails with EFAULT as the application's would), or one of ours.
        unsafe { psx_rs_park_futex(wait.word, wait.op, wait.expected, timeout) }
    }

    /// Makes the interrupted context continue after its `syscall`
    /// instruction with `result`, as if the kernel had returned it.
    /// Runs in a signal handler: writes the context.
    pub fn complete(ctx: *mut c_void, result: c_long) {
        let rip = reg(ctx, libc::REG_RIP);
        set_reg(ctx, libc::REG_RAX, result as u64);
        set_reg(ctx, libc::REG_RIP, rip + SYSCALL_INSN.len() as u64);
    }

    /// Where a park with a timeout was failed with `EINTR` by one of our
    /// signal's handlers, makes it look timed out: that handler (ours or
    /// glibc's setxid one) would have let the application's wait restart.
    /// Runs in a signal handler: reads and writes the context.
    pub fn absorb_interruption(ctx: *mut c_void) {
        let rip = reg(ctx, libc::REG_RIP) as usize;
        if rip == park_insn() + 2 && reg(ctx, libc::REG_RAX) as c_long == -(libc::EINTR as c_long) {
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
        if PKEYS.load(Ordering::Relaxed) != YES {
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

    const UNKNOWN: u8 = 0;
    const NO: u8 = 1;
    const YES: u8 = 2;
    static PKEYS: AtomicU8 = AtomicU8::new(UNKNOWN);

    /// Finds out once whether protection keys are on (CPUID leaf 7, ECX bit
    /// 4, OSPKE). Never runs in a handler (CPUID may trap to a hypervisor).
    pub fn init() {
        if PKEYS.load(Ordering::Relaxed) != UNKNOWN {
            return;
        }
        let max = core::arch::x86_64::__cpuid(0).eax;
        // Leaf 7 exists when the maximum leaf is at least 7.
        let on = max >= 7 && core::arch::x86_64::__cpuid_count(7, 0).ecx & (1 << 4) != 0;
        PKEYS.store(if on { YES } else { NO }, Ordering::Relaxed);
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod arch {
    use super::*;

    pub fn classify(_: *mut c_void) -> Interrupted {
        Interrupted::Other
    }
    pub fn futex_wait(_: Wait, _: Option<&libc::timespec>) -> c_long {
        unreachable!("nothing is parked on this architecture")
    }
    pub fn complete(_: *mut c_void, _: c_long) {}
    pub fn absorb_interruption(_: *mut c_void) {}
    pub fn init() {}
}

pub use arch::{absorb_interruption, classify, init};

/// The timeout of a park in a process with a `SIGCANCEL` handler: only
/// there to make any handler fail the park with `EINTR` (module doc); when
/// it expires, the park simply sleeps again.
const CANCELLABLE_PARK: libc::timespec = libc::timespec {
    tv_sec: 3600,
    tv_nsec: 0,
};

/// glibc's cancellation signal.
const SIGCANCEL: c_int = 32;

/// Prepares to park, before the call runs (module doc, last trade-off):
/// returns the timeout the park needs, and unblocks our signal.
/// Runs in a signal handler: two system calls.
pub fn prepare(signal: c_int) -> Option<&'static libc::timespec> {
    let mut cancel = sys::KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    let installed = sys::rt_sigaction(SIGCANCEL, None, Some(&mut cancel)).is_ok()
        && cancel.handler != libc::SIG_DFL
        && cancel.handler != libc::SIG_IGN;
    sys::unblock_signal(signal);
    installed.then_some(&CANCELLABLE_PARK)
}

/// Parks: waits as the application did, then for the end of any broadcast
/// in flight, and completes the application's wait with the result.
/// `in_flight` returns the word and value to wait on while a broadcast is
/// in flight, `None` when none is.
/// Runs in a signal handler: futex calls and context writes.
pub fn park(
    ctx: *mut c_void,
    wait: Wait,
    timeout: Option<&libc::timespec>,
    in_flight: impl Fn() -> Option<(&'static AtomicU32, u32)>,
) {
    let result = loop {
        let r = arch::futex_wait(wait, timeout);
        // ETIMEDOUT: our long timeout, or an interruption by our own signal
        // (see `absorb_interruption`); the application's wait has none.
        if r != -(libc::ETIMEDOUT as c_long) {
            break r;
        }
    };
    // Our signal stays unblocked: a broadcast that has not reached this
    // thread yet is answered by a nested handler while we wait here.
    while let Some((word, value)) = in_flight() {
        let release = Wait {
            word: word.as_ptr(),
            op: libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected: value,
        };
        arch::futex_wait(release, None);
    }
    arch::complete(ctx, result);
}
