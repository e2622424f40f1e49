//! The threads psx made itself (through `__wrap_pthread_create`), plus the
//! thread that loaded psx: the last-resort list when `/proc` cannot be read.
//!
//! A thread adds itself when it starts and removes itself from a
//! thread-specific-data destructor when it ends (which also runs for
//! `pthread_exit()` and cancellation). This is on the path of every thread
//! creation, so it takes no lock and makes one system call, `gettid` when adding:
//!
//! - entries are 4-byte atomic slots holding a tid, 0 when free, in chunks
//!   that never move: chunk `k` has `FIRST_CHUNK << k` slots, is `mmap`ed
//!   the first time it is needed and published in a fixed array of chunk
//!   pointers with a compare-and-swap (a thread that loses the race unmaps
//!   its own mapping and uses the winner's);
//! - adding is a compare-and-swap of a free slot from 0 to the tid, starting
//!   at a hint (the slot after the last one taken, or a slot just freed);
//! - removing is a compare-and-swap of the thread's own slot back to 0 (the
//!   thread-specific value `wrap` keeps is a token holding the tid and the
//!   slot index: no search, no system call).
//!
//! Without a lock there is nothing a thread stopped in psx's signal handler
//! could hold, so psx's signal needs no blocking around changes (the old
//! design paid two `rt_sigprocmask` calls and a futex lock per change), and
//! the broadcaster can read the slots while threads are held. A reader may
//! see a thread that is about to remove itself, or miss one that is adding
//! itself: the same as a listing of `/proc` taken a moment earlier or later.

use core::ffi::c_int;
use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};

use crate::sys;

/// Slots in chunk 0 (4 KiB); chunk `k` has `FIRST_CHUNK << k`.
const FIRST_CHUNK: usize = 1024;
/// Chunks: 1024 * (2^22 - 1) slots in all, far more threads than Linux
/// allows a process.
const CHUNKS: usize = 22;

static CHUNK: [AtomicPtr<AtomicI32>; CHUNKS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; CHUNKS];

/// Where the next search for a free slot starts.
static HINT: AtomicUsize = AtomicUsize::new(0);

const fn chunk_len(k: usize) -> usize {
    FIRST_CHUNK << k
}

/// Index of the first slot of chunk `k`.
const fn chunk_start(k: usize) -> usize {
    FIRST_CHUNK * ((1 << k) - 1)
}

/// The chunk and offset of slot `index`.
fn locate(index: usize) -> (usize, usize) {
    let k = (usize::BITS - 1 - (index / FIRST_CHUNK + 1).leading_zeros()) as usize;
    (k, index - chunk_start(k))
}

/// Chunk `k` if it has been published.
fn chunk(k: usize) -> Option<&'static [AtomicI32]> {
    let ptr = CHUNK.get(k)?.load(Ordering::Acquire);
    // SAFETY: a published chunk is a zero-initialised mapping of
    // `chunk_len(k)` slots that is never unmapped (only a copy made by
    // fork() is reset, in a single-threaded child).
    (!ptr.is_null()).then(|| unsafe { core::slice::from_raw_parts(ptr, chunk_len(k)) })
}

/// Chunk `k`, mapped and published now if it was not.
fn chunk_or_map(k: usize) -> Option<&'static [AtomicI32]> {
    if let Some(c) = chunk(k) {
        return Some(c);
    }
    let bytes = chunk_len(k) * size_of::<AtomicI32>();
    #[allow(
        clippy::cast_ptr_alignment,
        reason = "mmap returns page-aligned memory"
    )]
    let fresh = sys::map_zeroed(bytes).ok()?.cast::<AtomicI32>();
    if let Err(_winner) = CHUNK[k].compare_exchange(
        core::ptr::null_mut(),
        fresh,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        // SAFETY: our own mapping, never published: nobody else saw it.
        unsafe { sys::unmap(fresh.cast::<u8>(), bytes) };
    }
    chunk(k)
}

/// Takes a free slot of `c` from offset `from` on for `tid`.
fn take(c: &[AtomicI32], from: usize, tid: c_int) -> Option<usize> {
    let free = |s: &AtomicI32| {
        s.load(Ordering::Relaxed) == 0
            && s.compare_exchange(0, tid, Ordering::Release, Ordering::Relaxed)
                .is_ok()
    };
    c.get(from..)?.iter().position(free).map(|i| from + i)
}

/// A token for [`remove_self`]: the thread's tid and its slot index + 1, so
/// that removal needs no system call.
fn token(tid: c_int, index: usize) -> usize {
    (tid.unsigned_abs() as usize) << 32 | (index + 1)
}

/// Adds the calling thread. Returns a token for [`remove_self`], or 0 if no
/// memory could be had (the thread then stays reachable through `/proc`,
/// only not through the fallback).
pub fn add_self() -> usize {
    let tid = sys::gettid();
    add(tid)
}

fn add(tid: c_int) -> usize {
    let (hk, ho) = locate(HINT.load(Ordering::Relaxed));
    // From the hint to the end of the published chunks, then from the start,
    // mapping new chunks as needed.
    let from_hint = (hk..CHUNKS).map_while(|k| Some((k, chunk(k)?, if k == hk { ho } else { 0 })));
    let from_start = (0..CHUNKS).map_while(|k| Some((k, chunk_or_map(k)?, 0)));
    for (k, c, from) in from_hint.chain(from_start) {
        if let Some(i) = take(c, from, tid) {
            let index = chunk_start(k) + i;
            HINT.store(index + 1, Ordering::Relaxed);
            return token(tid, index);
        }
    }
    0
}

/// Removes the calling thread, given the token [`add_self`] returned.
pub fn remove_self(token: usize) {
    let tid = c_int::try_from(token >> 32).unwrap_or(0);
    if let Some(index) = (token & 0xffff_ffff).checked_sub(1) {
        let (k, i) = locate(index);
        if let Some(slot) = chunk(k).and_then(|c| c.get(i)) {
            if slot
                .compare_exchange(tid, 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                HINT.fetch_min(index, Ordering::Relaxed);
                return;
            }
        }
    }
    // Not where it was put (should not happen: the fork reset gives the
    // child's thread a new token): look for it.
    if tid == 0 {
        return;
    }
    for k in 0..CHUNKS {
        let Some(c) = chunk(k) else { return };
        if let Some(slot) = c.iter().find(|s| s.load(Ordering::Relaxed) == tid) {
            let _ = slot.compare_exchange(tid, 0, Ordering::Release, Ordering::Relaxed);
            return;
        }
    }
}

/// Calls `f` with each registered thread id. Used by the broadcaster, also
/// while other threads are held in psx's handler: it takes no lock.
pub fn for_each(mut f: impl FnMut(c_int)) {
    for k in 0..CHUNKS {
        let Some(c) = chunk(k) else { return };
        for slot in c {
            let tid = slot.load(Ordering::Acquire);
            if tid != 0 {
                f(tid);
            }
        }
    }
}

/// In the child of `fork()`: only the calling thread exists. Empties the
/// registry; the caller registers the thread again (its tid changed) and
/// keeps the new token.
///
/// # Safety
/// Only from the child's `fork` handler, while it is single-threaded.
pub unsafe fn reset_after_fork() {
    for k in 0..CHUNKS {
        let Some(c) = chunk(k) else { break };
        for slot in c {
            slot.store(0, Ordering::Relaxed);
        }
    }
    HINT.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_tid_and_index() {
        let t = token(4_000_000, 12_345);
        assert_eq!(t >> 32, 4_000_000);
        assert_eq!(t & 0xffff_ffff, 12_346);
    }

    #[test]
    fn slots_map_to_chunks() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(FIRST_CHUNK - 1), (0, FIRST_CHUNK - 1));
        assert_eq!(locate(FIRST_CHUNK), (1, 0));
        assert_eq!(locate(3 * FIRST_CHUNK - 1), (1, 2 * FIRST_CHUNK - 1));
        assert_eq!(locate(3 * FIRST_CHUNK), (2, 0));
        for k in 0..CHUNKS {
            assert_eq!(locate(chunk_start(k)), (k, 0));
            assert_eq!(
                locate(chunk_start(k) + chunk_len(k) - 1),
                (k, chunk_len(k) - 1)
            );
        }
    }
}
