//! A thread's answer to a broadcast: claim its slot, run the call, hold
//! until the release. Runs in a signal handler (see `handler`).
//!
//! What a forger can do: a process of the same user can queue signal 33
//! with all of psx's marks and any `si_value`. Our handler then runs the
//! call only if the value names the current generation and a slot that is
//! Sent for this very thread, that is, exactly what psx's own signal would
//! have done a moment later; every other value returns at once. A slot runs
//! at most once (its Sent -> Running compare-and-swap), so a forger can
//! neither skip a thread nor make one run the call twice; it can only cost
//! each thread a handler entry, slowing a broadcast down.

use core::sync::atomic::Ordering;

use crate::protocol::{self, CALL, GENERATION, PENDING, RELEASED};
use crate::slots::{self, Slot};
use crate::sys;

/// Our signal arrived with `value` (see [`protocol::encode`]).
///
/// Runs in a signal handler, with every signal blocked: atomics and raw
/// system calls only. Runs the call at most once per slot, then holds until
/// the broadcast is released.
pub fn on_signal(value: u64) {
    let (generation, index) = protocol::decode(value);
    if GENERATION.load(Ordering::Acquire) != generation {
        return; // a late duplicate of an earlier broadcast
    }
    let Some(slot) = slots::lookup(index) else {
        return;
    };
    if !slot.claim(sys::gettid()) {
        return; // not for this thread, or already answered
    }
    // Ours: the call and the hold are those of the broadcast that marked the
    // slot Sent (newer than `generation` for a late duplicate); it cannot
    // end, nor another begin, while the slot is Running.
    let generation = GENERATION.load(Ordering::Acquire);
    run_claimed(slot);
    hold_until_released(generation);
}

/// Runs the call for a slot this thread has claimed and reports it done.
/// Runs in a signal handler: the call, atomics and a futex wake.
fn run_claimed(slot: &Slot) {
    let nr = CALL[0].load(Ordering::Relaxed);
    let args = core::array::from_fn(|i| CALL[i + 1].load(Ordering::Relaxed));
    // SAFETY: the same call the psx caller ran on its own thread and vouched
    // for; raw, so this thread's errno is untouched.
    let result = unsafe { sys::raw6(nr, args) };
    slot.finish(result);
    if PENDING.fetch_sub(1, Ordering::AcqRel) == 1 {
        sys::futex_wake(&PENDING, 1);
    }
}

/// Waits in the handler until broadcast `generation` is released.
/// Runs in a signal handler: futex waits on an atomic.
fn hold_until_released(generation: u32) {
    loop {
        let released = RELEASED.load(Ordering::Acquire);
        // Wrapping comparison: released is at or past our generation.
        if released.wrapping_sub(generation) < 1 << 31 {
            return;
        }
        sys::futex_wait(&RELEASED, released, None);
    }
}
