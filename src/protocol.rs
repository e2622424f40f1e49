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
//! - [`RELEASED`] is stored with `Release` after the broadcaster has read
//!   everything it needs; held threads need no more than `Acquire`.
//!
//! `SeqCst` is not used: no decision depends on the order of two different
//! atomics as seen by a third thread.

use core::ffi::c_int;
use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU32};

/// The signal psx uses: glibc's `SIGSETXID` (see `handler` for why).
pub const SIGNAL: c_int = 33;

/// `si_uid` of psx's signals: "PSX!" in ASCII.
pub const MAGIC: u32 = 0x5053_5821;

/// Generation of the current (or last) broadcast.
pub static GENERATION: AtomicU32 = AtomicU32::new(0);
/// Last generation released; held handlers wait for it to reach theirs.
pub static RELEASED: AtomicU32 = AtomicU32::new(0);
/// Slots signalled in this round and not yet done or gone.
pub static PENDING: AtomicU32 = AtomicU32::new(0);
/// The process that sent the current signals (changes in a forked child).
pub static SENDER_PID: AtomicI32 = AtomicI32::new(0);
/// The call being broadcast: number, then six arguments.
pub static CALL: [AtomicI64; 7] = [const { AtomicI64::new(0) }; 7];

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
