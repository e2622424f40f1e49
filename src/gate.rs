//! The creation gate: no thread is created through psx's `pthread_create`
//! wrapper while a broadcast is in flight.
//!
//! A thread that has run a broadcast's call returns to the program at once
//! (no hold), so it could create a thread that inherits the new state while
//! the broadcast still looks for threads; psx would then run the call on
//! that thread a second time. glibc's own setxid broadcast prevents the
//! same by holding its stack lock, which `pthread_create` takes; psx's
//! wrapper waits here instead. (Threads created around the wrapper are not
//! held back: README, "Guarantees".)
//!
//! The hold mode, where a thread that answered cannot create anything,
//! needs the gate for another reason: glibc starts a thread with explicit
//! CPU affinity or scheduling "stopped": the new thread, every signal
//! blocked, waits on a lock its creator unlocks after `clone()`, with the
//! creator's own signals open again. A creator held in that window keeps
//! the new thread from ever answering, and the broadcast waits for ever
//! (c-tests/t06 `stopped-start-wrapped`). The gate lets no broadcast
//! signal anyone while a creator is inside the real `pthread_create`.
//!
//! # Orderings
//! A creator adds itself to [`CREATING`] and then reads [`CLOSED`]; the
//! broadcaster stores [`CLOSED`] and then reads [`CREATING`]; both `SeqCst`,
//! so at least one sees the other: either the creator waits, or the
//! broadcaster waits until the creator's real `pthread_create` has
//! returned (its thread then exists, with the old state, and is found, and
//! a thread glibc started stopped has been let go).
//!
//! # Creators that never leave
//! A creator past the gate also writes its tid into one of [`CREATORS`]
//! (when one is free), for two reasons:
//! - a creator that enters again before it left (code run inside the real
//!   `pthread_create`, such as a `malloc` linked with `--wrap` that starts a
//!   thread) finds its own tid and passes: waiting for the gate there would
//!   deadlock with a broadcaster waiting for it to leave;
//! - a creator killed inside `pthread_create` (a seccomp filter on `clone`)
//!   never leaves: the broadcaster, after waiting [`CHECK_AFTER_NS`], takes
//!   dead creators' places back, and names on stderr a live one it still
//!   waits for (stopped by a debugger, say), as it does for threads that do
//!   not answer.

use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering::SeqCst};

use crate::report::Line;
use crate::sys;

const OPEN: u32 = 0;
const CLOSED_NO_WAITERS: u32 = 1;
const CLOSED_WAITERS: u32 = 2;

/// Whether a broadcast is in flight, and whether creators wait for its end.
static CLOSED: AtomicU32 = AtomicU32::new(OPEN);
/// Creators between their look at the gate and the return of the real
/// `pthread_create`.
static CREATING: AtomicU32 = AtomicU32::new(0);
/// The tids of creators counted in [`CREATING`], where a place was free
/// (0: free). A creator without a place is still counted.
static CREATORS: [AtomicI32; PLACES] = [const { AtomicI32::new(0) }; PLACES];
const PLACES: usize = 64;
/// Creators that found the gate closed and have not passed it since: the
/// next broadcast lets them through first ([`let_waiting_creators_pass`]).
static WAITING: AtomicU32 = AtomicU32::new(0);
/// Whether the last [`open`] woke creators. A creator that died waiting
/// stays in [`WAITING`]; only woken live ones make a broadcast wait.
static WOKE: AtomicBool = AtomicBool::new(false);
/// How long a broadcast waits, at most, for creators its predecessor kept
/// waiting to pass the gate: fairness only, never a condition of
/// correctness (a creator not scheduled in time waits for one more).
const FAIRNESS_WAIT_NS: u64 = 1_000_000;
/// How long the broadcaster waits for creators before it looks for dead
/// ones and reports live ones (a `pthread_create` takes microseconds).
const CHECK_AFTER_NS: u64 = 1_000_000_000;

/// A creator's way through the gate, handed back to [`leave`].
pub struct Pass {
    /// Counted in [`CREATING`] (false when nested inside its own pass).
    counted: bool,
    /// Its place in [`CREATORS`], if it found one.
    place: Option<usize>,
}

/// Called by a creator before the real `pthread_create`; waits while a
/// broadcast is in flight. Signals still reach the waiting thread (a futex
/// wait), so it answers the broadcast it waits for.
pub fn enter() -> Pass {
    let tid = sys::gettid();
    if CREATORS.iter().any(|c| c.load(SeqCst) == tid) {
        return Pass {
            counted: false,
            place: None,
        };
    }
    let mut waited = false;
    loop {
        CREATING.fetch_add(1, SeqCst);
        let place = take_place(tid);
        if CLOSED.load(SeqCst) == OPEN {
            if waited && WAITING.fetch_sub(1, SeqCst) == 1 {
                sys::futex_wake(&WAITING, 1);
            }
            return Pass {
                counted: true,
                place,
            };
        }
        if !waited {
            WAITING.fetch_add(1, SeqCst);
            waited = true;
        }
        leave(Pass {
            counted: true,
            place,
        });
        wait_open();
    }
}

/// A free place in [`CREATORS`] for `tid`, if any.
fn take_place(tid: c_int) -> Option<usize> {
    CREATORS
        .iter()
        .position(|c| c.compare_exchange(0, tid, SeqCst, SeqCst).is_ok())
}

/// Called by a creator once the real `pthread_create` has returned.
pub fn leave(pass: Pass) {
    if !pass.counted {
        return;
    }
    if let Some(place) = pass.place {
        // Not taken back by the broadcaster (only a dead creator's is).
        CREATORS[place].store(0, SeqCst);
    }
    uncount();
}

/// One creator fewer; wakes a broadcaster waiting for the last.
fn uncount() {
    if CREATING.fetch_sub(1, SeqCst) == 1 && CLOSED.load(SeqCst) != OPEN {
        sys::futex_wake(&CREATING, 1);
    }
}

/// Sleeps until the gate opens (no timeout: the broadcast ends, or the
/// process waits for it anyway).
fn wait_open() {
    loop {
        let now = CLOSED.load(SeqCst);
        if now == OPEN {
            return;
        }
        // Say there is a waiter before every sleep: the gate may have
        // opened and closed again (for the next broadcast) since the last
        // look, and `open` wakes only when it finds the mark.
        if now == CLOSED_NO_WAITERS
            && CLOSED
                .compare_exchange(CLOSED_NO_WAITERS, CLOSED_WAITERS, SeqCst, SeqCst)
                .is_err()
        {
            continue;
        }
        sys::futex_wait(&CLOSED, CLOSED_WAITERS, None);
    }
}

/// Closes the gate for a broadcast and waits until creators already past
/// it are back from the real `pthread_create` (microseconds). After
/// [`CHECK_AFTER_NS`] without that, dead creators are let go and live ones
/// named (module doc); the wait goes on for those.
pub fn close() {
    let_waiting_creators_pass();
    CLOSED.store(CLOSED_NO_WAITERS, SeqCst);
    if CREATING.load(SeqCst) == 0 {
        return; // the common case, without a system call
    }
    // A call from code the real `pthread_create` runs (an interposed
    // allocator) comes from a creator past the gate: never wait for it.
    // Its thread is not cloned yet, or is cloned with the old state (no
    // program code runs after `clone()` there but signal handlers).
    let me = sys::gettid();
    let own = u32::from(CREATORS.iter().any(|c| c.load(SeqCst) == me));
    let mut deadline = sys::monotonic_ns() + CHECK_AFTER_NS;
    let mut reported = false;
    loop {
        let creating = CREATING.load(SeqCst);
        if creating <= own {
            return;
        }
        let now = sys::monotonic_ns();
        if now >= deadline {
            let stuck = let_dead_creators_go();
            if stuck != 0 && !reported {
                report_stuck(stuck);
                reported = true;
            }
            deadline = now + CHECK_AFTER_NS;
            continue;
        }
        sys::futex_wait(&CREATING, creating, Some(deadline - now));
    }
}

/// Waits, for at most [`FAIRNESS_WAIT_NS`], until the creators the previous
/// broadcast kept waiting have passed the gate (they are then counted in
/// [`CREATING`], and this broadcast waits for their `pthread_create`).
/// Without it a thread broadcasting back to back closes the gate again
/// before a woken creator is scheduled: in the arm64 VM a thread making
/// threads through the wrapper made one every 90 ms (c-tests/t17).
fn let_waiting_creators_pass() {
    if WOKE.load(SeqCst) {
        sys::wait_for_zero(&WAITING, FAIRNESS_WAIT_NS);
    }
}

/// Uncounts the creators in [`CREATORS`] that no longer exist; returns a
/// live one (0 if none has a place).
fn let_dead_creators_go() -> c_int {
    let pid = sys::getpid();
    let mut live = 0;
    for place in &CREATORS {
        let tid = place.load(SeqCst);
        if tid == 0 {
            continue;
        }
        if sys::thread_exists(pid, tid) {
            live = tid;
        } else if place.compare_exchange(tid, 0, SeqCst, SeqCst).is_ok() {
            uncount();
        }
    }
    live
}

/// Names a creator the broadcast waits for (once per broadcast).
fn report_stuck(tid: c_int) {
    Line::new()
        .text("still waiting after 1s for thread ")
        .dec(tid.into())
        .text(" to finish pthread_create() before the broadcast can start");
}

/// Opens the gate at the end of a broadcast, waking creators that wait.
pub fn open() {
    let woke = CLOSED.swap(OPEN, SeqCst) == CLOSED_WAITERS;
    WOKE.store(woke, SeqCst);
    if woke {
        sys::futex_wake(&CLOSED, c_int::MAX);
    }
}

/// In the child of `fork()`: one thread, no broadcast, nobody creating.
pub fn reset_after_fork() {
    CLOSED.store(OPEN, SeqCst);
    CREATING.store(0, SeqCst);
    WAITING.store(0, SeqCst);
    WOKE.store(false, SeqCst);
    for place in &CREATORS {
        place.store(0, SeqCst);
    }
}
