//! The state the broadcaster and the handlers share: the signal and its
//! marks, the call, the generation counters, and the `si_value` encoding.
//! Both sides import this module; neither imports the other.
//!
//! # Orderings
//! - The call's number and arguments ([`CALL`]) are written before
//!   [`GENERATION`] is published with `Release`; handlers load it with
//!   `Acquire`, so they see the call that belongs to the generation in their
//!   `si_value`. (The signal itself is also a barrier in practice, but the
//!   kernel does not promise one.)
//! - A slot's tid is written before its state becomes Sent (`Release`,
//!   after [`GENERATION`] was published); the handler loads Sent with
//!   `Acquire` before it compares the tid and reads the generation, so a late
//!   duplicate signal cannot take a slot given to another thread (`slots`).
//! - A slot's result is stored before its state becomes Done (`Release`);
//!   the broadcaster reads states with `Acquire` before results.
//! - [`PENDING`] uses `AcqRel`: the last decrement must see every earlier
//!   Done, and the broadcaster's `Acquire` load of zero must see them all.
//! - [`DONE`] is incremented (`AcqRel`) before the [`PENDING`] decrement,
//!   so a thread that loads `PENDING` (`Acquire`) at 1, its own slot being
//!   the last, sees every other Done of the round; the broadcaster resets
//!   it and [`END_BASE`] before it publishes [`GENERATION`], and stores
//!   [`END_BASE`] with `Release` before the first round's signals.
//! - [`RELEASED`] moves only forward, from the previous generation to the
//!   current one, by whichever of the broadcaster and the last thread to
//!   answer gets there first (a compare-and-swap, `Release`: nothing the
//!   broadcaster still reads is written by a released thread); held threads
//!   need no more than `Acquire`.
//!
//! `SeqCst` is not used: no decision depends on the order of two different
//! atomics as seen by a third thread.

use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, Ordering};

/// The signal psx uses: glibc's `SIGSETXID` (see `handler` for why).
pub const SIGNAL: c_int = 33;

/// `si_uid` of psx's signals: "PSX!" in ASCII.
pub const MAGIC: u32 = 0x5053_5821;

/// The opt-in hold mode (`PSX_HOLD_THREADS=1`, read once at load time by
/// `init`, before the handler is installed): a thread that has run the call
/// waits in the handler until the broadcast ends (`broadcast`, "The hold
/// mode"). Off by default: the handler returns at once.
pub static HOLD_THREADS: AtomicBool = AtomicBool::new(false);

/// Whether threads that answered are held until the broadcast ends.
/// Runs in a signal handler: one atomic load (set before any signal).
pub fn holds_threads() -> bool {
    HOLD_THREADS.load(Ordering::Relaxed)
}

/// The generation of a default-mode broadcast that has chased threads made
/// around psx's wrapper for a second (`broadcast`, "Threads that keep
/// appearing"): the threads it finds from then on hold after answering.
pub static ESCALATED: AtomicU32 = AtomicU32::new(0);

/// A flag on the slot index of a signal to a thread found after its
/// broadcast escalated (made during the broadcast, around the wrapper):
/// it holds for a while after answering, as a thread made through the
/// wrapper waits at psx's gate. Threads found by the broadcast's first
/// listing never get it. A forged one can delay a thread that answers an
/// escalated broadcast by the hold's bound (`handler::answer`), no more.
pub const HOLD_NEWCOMER: usize = 0x8000_0000;

/// Whether a thread that answered broadcast `generation` may be holding.
pub fn holds_in(generation: u32) -> bool {
    holds_threads() || escalated(generation)
}

/// Whether default-mode broadcast `generation` has escalated (never in the
/// hold mode, which holds every thread anyway).
/// Runs in a signal handler: two atomic loads.
pub fn escalated(generation: u32) -> bool {
    !holds_threads() && ESCALATED.load(Ordering::Relaxed) == generation
}

/// Generation of the current (or last) broadcast.
pub static GENERATION: AtomicU32 = AtomicU32::new(0);
/// Last generation released; held handlers wait for it to reach theirs.
pub static RELEASED: AtomicU32 = AtomicU32::new(0);
/// Slots signalled in this round and not yet done or gone.
pub static PENDING: AtomicU32 = AtomicU32::new(0);
/// Threads that have run the current broadcast's call (its Done slots).
pub static DONE: AtomicU32 = AtomicU32::new(0);
/// The threads besides the Done ones that the last thread to answer a round
/// may find in the thread count and end the broadcast (the caller, and a
/// zombie main thread): `1 + zombie`, or 0 when only the broadcaster may end
/// it (`broadcast`, "Ending by the last answer").
pub static END_BASE: AtomicU32 = AtomicU32::new(0);
/// Threads still inside the hold of a released broadcast (see
/// `broadcast::let_held_threads_leave`).
pub static HELD: AtomicU32 = AtomicU32::new(0);
/// The process that sent the current signals (changes in a forked child).
pub static SENDER_PID: AtomicI32 = AtomicI32::new(0);
/// The call being broadcast: number, then six arguments.
pub static CALL: [AtomicI64; 7] = [const { AtomicI64::new(0) }; 7];

/// Releases broadcast `generation` if it is not yet: `RELEASED` moves from
/// the previous generation to this one, never back (a last answer that
/// comes late, after its broadcast ended, must not undo a newer release).
/// Returns whether this call released it; the caller wakes the held threads.
/// Runs in a signal handler: one compare-and-swap.
pub fn release(generation: u32) -> bool {
    RELEASED
        .compare_exchange(
            generation.wrapping_sub(1),
            generation,
            Ordering::Release,
            Ordering::Relaxed,
        )
        .is_ok()
}

/// Whether broadcast `generation` has been released.
pub fn is_released(generation: u32) -> bool {
    reached(RELEASED.load(Ordering::Acquire), generation)
}

/// Whether a `RELEASED` value is at or past `generation` (wrapping).
/// Runs in a signal handler: arithmetic.
pub fn reached(released: u32, generation: u32) -> bool {
    released.wrapping_sub(generation) < 1 << 31
}

/// The `si_value` of the signal for slot `index` of broadcast `generation`.
pub fn encode(generation: u32, index: usize) -> u64 {
    (u64::from(generation) << 32) | (index as u64 & 0xffff_ffff)
}

/// The generation and slot index carried by a `si_value`.
/// Runs in a signal handler: arithmetic.
pub fn decode(value: u64) -> (u32, usize) {
    ((value >> 32) as u32, (value & 0xffff_ffff) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        assert_eq!(decode(encode(7, 12_345)), (7, 12_345));
        assert_eq!(decode(encode(u32::MAX, 0)), (u32::MAX, 0));
    }
}
