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
//! Orderings: a creator adds itself to [`CREATING`] and then reads
//! [`CLOSED`]; the broadcaster stores [`CLOSED`] and then reads
//! [`CREATING`]; both `SeqCst`, so at least one sees the other: either the
//! creator waits, or the broadcaster waits until the creator's `clone()`
//! is over (its thread then exists, with the old state, and is found).

use core::ffi::c_int;
use core::sync::atomic::{AtomicU32, Ordering::SeqCst};

use crate::sys;

const OPEN: u32 = 0;
const CLOSED_NO_WAITERS: u32 = 1;
const CLOSED_WAITERS: u32 = 2;

/// Whether a broadcast is in flight, and whether creators wait for its end.
static CLOSED: AtomicU32 = AtomicU32::new(OPEN);
/// Creators between their look at the gate and the end of their `clone()`.
static CREATING: AtomicU32 = AtomicU32::new(0);

/// Called by a creator before the real `pthread_create`; waits while a
/// broadcast is in flight. Signals still reach the waiting thread (a futex
/// wait), so it answers the broadcast it waits for.
pub fn enter() {
    loop {
        CREATING.fetch_add(1, SeqCst);
        if CLOSED.load(SeqCst) == OPEN {
            return;
        }
        leave();
        wait_open();
    }
}

/// Called by a creator once the real `pthread_create` has returned.
pub fn leave() {
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
/// it have finished their `clone()` (microseconds; no timeout: a thread
/// inside `pthread_create` is not waiting for us).
pub fn close() {
    CLOSED.store(CLOSED_NO_WAITERS, SeqCst);
    loop {
        let creating = CREATING.load(SeqCst);
        if creating == 0 {
            return;
        }
        sys::futex_wait(&CREATING, creating, None);
    }
}

/// Opens the gate at the end of a broadcast, waking creators that wait.
pub fn open() {
    if CLOSED.swap(OPEN, SeqCst) == CLOSED_WAITERS {
        sys::futex_wake(&CLOSED, c_int::MAX);
    }
}

/// In the child of `fork()`: one thread, no broadcast, nobody creating.
pub fn reset_after_fork() {
    CLOSED.store(OPEN, SeqCst);
    CREATING.store(0, SeqCst);
}
