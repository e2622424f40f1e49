//! A thread's answer to a broadcast: claim its slot, run the call, report
//! it done and return; in the hold mode, also end the broadcast if it
//! answered last and the count allows, and hold until the release. Runs in
//! a signal handler (see `handler`).
//!
//! What a forger can do: a process of the same user can queue signal 33
//! with all of psx's marks and any `si_value`. Our handler then runs the
//! call only if the value names the current generation and a slot that is
//! Sent for this very thread, that is, exactly what psx's own signal would
//! have done a moment later; every other value returns at once. A slot runs
//! at most once (its Sent -> Running compare-and-swap), so a forger can
//! neither skip a thread nor make one run the call twice; it can only cost
//! each thread a handler entry, slowing a broadcast down, or, with
//! `protocol::HOLD_NEWCOMER` during an escalated broadcast, hold a thread
//! that answers for 10 ms.

use core::ffi::c_int;
use core::sync::atomic::Ordering;

use crate::handler::count;
use crate::protocol::{self, CALL, DONE, END_BASE, GENERATION, HELD, PENDING, RELEASED};
use crate::slots::{self, Slot};
use crate::sys;

/// Our signal arrived with `value` (see [`protocol::encode`]).
///
/// Runs in a signal handler, with every signal blocked: atomics and raw
/// system calls only. Runs the call at most once per slot, then returns at
/// once or, in the hold mode, holds until the broadcast is released.
pub fn on_signal(value: u64) {
    let (generation, index) = protocol::decode(value);
    if GENERATION.load(Ordering::Acquire) != generation {
        return; // a late duplicate of an earlier broadcast
    }
    // A thread found after its broadcast escalated (`protocol::HOLD_NEWCOMER`).
    let newcomer = index & protocol::HOLD_NEWCOMER != 0;
    let index = index & !protocol::HOLD_NEWCOMER;
    let Some(slot) = slots::lookup(index) else {
        return;
    };
    if !slot.claim(sys::gettid()) {
        return; // not for this thread, or already answered
    }
    // Ours: the call (and the hold) are those of the broadcast that marked
    // the slot Sent (newer than `generation` for a late duplicate); it
    // cannot end, nor another begin, while the slot is Running.
    let generation = GENERATION.load(Ordering::Acquire);
    if !protocol::holds_threads() {
        // The default: back to the program at once, as glibc's handler;
        // a thread made during an escalated broadcast first waits a while,
        // as one made through the wrapper waits at the gate.
        run_claimed(slot, generation);
        if newcomer && protocol::escalated(generation) {
            hold(generation);
        }
        return;
    }
    // Counted before the slot is Done, so before the broadcast can end.
    HELD.fetch_add(1, Ordering::AcqRel);
    run_claimed(slot, generation);
    hold_until_released(generation);
    left_hold();
}

/// How long an escalated default-mode broadcast holds a newcomer at most.
/// The end condition never relies on this hold (it only slows creators
/// that wait for their threads), and an unbounded one could hang a
/// broadcast: a newcomer held between glibc's `clone` of a thread started
/// stopped (explicit affinity or scheduling) and its unlock of that
/// thread's start lock keeps the new thread, signal 33 blocked, from ever
/// answering; a forged flag could hold a thread to the end.
const ESCALATED_HOLD_NS: u64 = 10_000_000;

/// Holds this thread until broadcast `generation` is released or one wait
/// of [`ESCALATED_HOLD_NS`] times out (default mode, escalated), counted in
/// `HELD`. `RELEASED` only changes, and is only woken, at a release, so
/// the loop ends at the first timeout or release (no clock read: a filter
/// that allows what glibc's setxid handler needs allows `futex`).
/// Runs in a signal handler: atomics and futex calls.
fn hold(generation: u32) {
    HELD.fetch_add(1, Ordering::AcqRel);
    loop {
        let released = RELEASED.load(Ordering::Acquire);
        if protocol::reached(released, generation)
            || sys::futex_wait(&RELEASED, released, Some(ESCALATED_HOLD_NS))
        {
            break;
        }
    }
    left_hold();
}

/// One held thread fewer; wakes a broadcaster waiting for the last
/// (`broadcast::let_held_threads_leave`). Runs in a signal handler.
fn left_hold() {
    if HELD.fetch_sub(1, Ordering::AcqRel) == 1 {
        sys::futex_wake(&HELD, 1);
    }
}

/// Runs the call for a slot this thread has claimed and reports it done;
/// in the hold mode, the last of a round to do so may end the broadcast
/// (otherwise `END_BASE` stays 0 and no count is read).
/// Runs in a signal handler: the call, atomics, futex wakes and maybe one
/// `fstatat`.
fn run_claimed(slot: &Slot, generation: u32) {
    let nr = CALL[0].load(Ordering::Relaxed);
    let args = core::array::from_fn(|i| CALL[i + 1].load(Ordering::Relaxed));
    // SAFETY: the same call the psx caller ran on its own thread and vouched
    // for; raw, so this thread's errno is untouched.
    let result = unsafe { sys::raw6(nr, args) };
    let complete = last_and_complete();
    slot.finish(result);
    DONE.fetch_add(1, Ordering::AcqRel);
    if PENDING.fetch_sub(1, Ordering::AcqRel) == 1 {
        if complete && protocol::release(generation) {
            sys::futex_wake(&RELEASED, c_int::MAX);
        }
        sys::futex_wake(&PENDING, 1);
    }
}

/// Whether this thread, which has run the call and whose slot is still
/// Running, is the last of its round to answer and the thread count shows
/// no thread but the Done ones, this one and those the broadcaster named in
/// `END_BASE`: then it ends the broadcast once its slot is Done, and held
/// threads leave without waiting for the broadcaster to be scheduled
/// (`broadcast`, "Ending by the last answer").
///
/// Counted while the slot is Running: a filter of this thread's own that
/// kills it at `newfstatat` leaves a Running slot of a dead thread, which
/// the broadcaster reaps and never counts as Done.
/// Runs in a signal handler: atomic loads and one `fstatat`.
fn last_and_complete() -> bool {
    // Our slot keeps PENDING at 1 or more, and no round is added while it
    // does: at 1, every other slot of the round is Done or Gone.
    if PENDING.load(Ordering::Acquire) != 1 {
        return false;
    }
    let base = END_BASE.load(Ordering::Acquire);
    if base == 0 {
        return false;
    }
    // DONE before the count: a thread counted in it is alive and held when
    // the count is read, so an equal count leaves no room for another.
    let done = DONE.load(Ordering::Acquire);
    count::threads() == Some(base as usize + done as usize + 1)
}

/// Waits in the handler until broadcast `generation` is released.
/// Runs in a signal handler: futex waits on an atomic.
fn hold_until_released(generation: u32) {
    loop {
        let released = RELEASED.load(Ordering::Acquire);
        if protocol::reached(released, generation) {
            return;
        }
        sys::futex_wait(&RELEASED, released, None);
    }
}
