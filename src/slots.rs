//! The broadcast table: one slot per thread a broadcast has signalled.
//!
//! The constraint: handlers read this table while the broadcaster may be
//! growing it, and neither side may allocate with `malloc` (a stopped thread
//! may hold the allocator's lock). So the table lives in `mmap`ed memory,
//! its capacity is stored inside the mapping (a handler loads one pointer and
//! gets a consistent pointer/capacity pair), and a mapping replaced by a
//! bigger one is never unmapped: a handler woken late by a duplicate signal
//! may still hold the old pointer, and no point in time proves it has let
//! go. Capacities double, so the mappings kept add up to less than the
//! current one (at most 16 more bytes per thread).
//!
//! A slot's life, and who moves it (each transition is one method below):
//!
//! ```text
//!  Idle --send--> Sent --claim--> Running --finish--> Done
//!                   \                |
//!                    +--mark_gone----+--> Gone   (broadcaster: thread dead)
//! ```
//!
//! `send` and `mark_gone` are the broadcaster's, `claim` and `finish` the
//! handler's. Both ways out of Sent, and both out of Running, are
//! compare-and-swaps or stores by the one side that can still act (a dead
//! thread cannot finish), so exactly one side wins and the pending count
//! is decremented exactly once per slot.

use core::sync::atomic::{AtomicI32, AtomicI64, AtomicPtr, AtomicU32, Ordering};

use crate::sys;

/// Where a slot is in one broadcast.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum State {
    /// Not signalled (yet) in this broadcast.
    Idle = 0,
    /// Signalled; its thread has not started the call.
    Sent = 1,
    /// Its thread is running the call.
    Running = 2,
    /// Its thread has run the call (in the hold mode, held until the
    /// release; otherwise back in the program, and checked alive).
    Done = 3,
    /// Its thread was found dead before it finished.
    Gone = 4,
    /// Its thread is a kernel worker (an `io_uring` worker): a member of the
    /// thread group that never runs signal handlers. Not signalled again.
    Exempt = 5,
}

impl State {
    fn from_word(word: u32) -> State {
        match word {
            1 => State::Sent,
            2 => State::Running,
            3 => State::Done,
            4 => State::Gone,
            5 => State::Exempt,
            _ => State::Idle,
        }
    }
}

/// One signalled thread.
pub struct Slot {
    tid: AtomicI32,
    state: AtomicU32,
    result: AtomicI64,
}

impl Slot {
    /// The thread this slot is for.
    pub fn tid(&self) -> i32 {
        self.tid.load(Ordering::Relaxed)
    }

    /// The slot's state. `Acquire`: a Done slot's result is visible.
    /// Runs in a signal handler: one atomic load.
    pub fn state(&self) -> State {
        State::from_word(self.state.load(Ordering::Acquire))
    }

    /// The call's result on this slot's thread (meaningful once Done).
    pub fn result(&self) -> i64 {
        self.result.load(Ordering::Relaxed)
    }

    /// Idle -> Sent (broadcaster). `Release`: a handler that sees Sent sees
    /// this broadcast's tid and generation.
    pub fn send(&self) {
        self.state.store(State::Sent as u32, Ordering::Release);
    }

    /// Sent -> Running for thread `me` (handler), if the slot is Sent for
    /// `me`. Runs in a signal handler: atomics.
    pub fn claim(&self, me: i32) -> bool {
        // The `Acquire` load of Sent pairs with `send`'s `Release`, so the
        // tid read next is the one written for the broadcast that signalled
        // the slot, even when our signal is a late duplicate from an earlier
        // broadcast and slots have since been given to other threads. While
        // a slot is Sent with our tid, only this thread can change it (the
        // broadcaster marks it gone only if we are dead), so nothing can
        // happen between the check and the compare-and-swap.
        self.state() == State::Sent
            && self.tid() == me
            && self
                .state
                .compare_exchange(
                    State::Sent as u32,
                    State::Running as u32,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Running -> Done with the call's `result` (handler). `Release`: the
    /// broadcaster's `Acquire` of Done sees the result.
    /// Runs in a signal handler: two atomic stores.
    pub fn finish(&self, result: i64) {
        self.result.store(result, Ordering::Relaxed);
        self.state.store(State::Done as u32, Ordering::Release);
    }

    /// Sent or Running -> Gone (broadcaster, for a thread found dead);
    /// `false` if the handler got to Done first (a thread that finished just
    /// before it died).
    pub fn mark_gone(&self) -> bool {
        let mut word = self.state.load(Ordering::Acquire);
        while matches!(State::from_word(word), State::Sent | State::Running) {
            match self.state.compare_exchange(
                word,
                State::Gone as u32,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
        false
    }

    /// Sent -> Exempt (broadcaster, for a kernel worker thread); `false` if
    /// the slot had moved on (a worker never answers, but be exact).
    pub fn exempt(&self) -> bool {
        self.state
            .compare_exchange(
                State::Sent as u32,
                State::Exempt as u32,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// A slot for `tid` in `state`, result cleared (broadcaster, while no
    /// slot is Sent, so no handler can claim it).
    fn reset(&self, tid: i32, state: State) {
        self.tid.store(tid, Ordering::Relaxed);
        self.state.store(state as u32, Ordering::Relaxed);
        self.result.store(0, Ordering::Relaxed);
    }

    /// Exchanges the contents of two slots, field by field with atomics:
    /// the table is rearranged only while no slot is Sent, but a handler
    /// entered by a late or forged signal may still be reading a slot, so
    /// slots are never moved as plain memory.
    fn swap(&self, other: &Slot) {
        let (tid, state, result) = (self.tid(), self.state(), self.result());
        self.reset(other.tid(), other.state());
        self.result.store(other.result(), Ordering::Relaxed);
        other.reset(tid, state);
        other.result.store(result, Ordering::Relaxed);
    }
}

#[repr(C)]
struct Header {
    cap: usize,
    _align: usize,
}

const FIRST_CAP: usize = 256;

/// The table handlers read: a mapping that starts with its `Header`.
static CURRENT: AtomicPtr<Header> = AtomicPtr::new(core::ptr::null_mut());

/// The broadcaster's view; only touched under the broadcast lock.
pub struct Table {
    map: *mut Header,
    len: usize,
    /// `slots[..sorted]` is sorted by tid (for membership tests).
    sorted: usize,
    /// The process whose previous broadcast left its threads in the table
    /// (0: none), and that broadcast's caller.
    known_pid: i32,
    known_caller: i32,
}

// SAFETY: the raw pointers are owned mappings; Table lives under a Mutex.
unsafe impl Send for Table {}

impl Table {
    pub const fn new() -> Self {
        Table {
            map: core::ptr::null_mut(),
            len: 0,
            sorted: 0,
            known_pid: 0,
            known_caller: 0,
        }
    }

    /// Records that the broadcast now ending, made by thread `caller` of
    /// process `pid`, found every thread: the table holds the others.
    pub fn remember(&mut self, pid: i32, caller: i32) {
        self.known_pid = pid;
        self.known_caller = caller;
    }

    /// Starts a broadcast: fills the table from the threads the
    /// previous one ended with, if it ran in this process: the threads that
    /// answered it and its caller, except `me` and `skip`. Returns `false`
    /// (and an empty table) when there is nothing to start from. The result
    /// is only a first guess: threads may have ended or started since.
    pub fn restart_from_known(&mut self, pid: i32, me: i32, skip: i32) -> bool {
        let mut kept = 0;
        if self.known_pid == pid && !self.map.is_null() {
            let all = self.slots();
            for i in 0..all.len() {
                let tid = all[i].tid();
                let state = match all[i].state() {
                    State::Done => State::Idle,
                    State::Exempt => State::Exempt,
                    _ => continue,
                };
                if tid != me && tid != skip {
                    all[kept].reset(tid, state);
                    kept += 1;
                }
            }
        }
        self.len = kept;
        self.sorted = 0;
        if self.known_pid != pid {
            return false;
        }
        let caller = self.known_caller;
        if caller != me && caller != skip && caller != 0 && self.push(caller).is_err() {
            self.len = 0;
            return false;
        }
        self.dedup_from(0);
        self.sorted = self.len;
        true
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Makes every Exempt slot for which `still_exempt(tid)` says no an Idle
    /// one again, to be signalled like any other thread (a tid once used by
    /// a kernel worker may belong to a new thread now). Between rounds.
    pub fn recheck_exempt(&self, mut still_exempt: impl FnMut(i32) -> bool) {
        for slot in self.slots() {
            if slot.state() == State::Exempt && !still_exempt(slot.tid()) {
                slot.reset(slot.tid(), State::Idle);
            }
        }
    }

    /// All slots in use.
    pub fn slots(&self) -> &[Slot] {
        if self.map.is_null() {
            return &[];
        }
        // SAFETY: the first `len` slots of the live mapping are initialised.
        unsafe { core::slice::from_raw_parts(slots_of(self.map), self.len) }
    }

    /// The slot of `tid` in the sorted part of the table.
    pub fn find(&self, tid: i32) -> Option<&Slot> {
        let sorted = &self.slots()[..self.sorted];
        let at = sorted.binary_search_by_key(&tid, Slot::tid).ok()?;
        Some(&sorted[at])
    }

    /// Appends a slot for `tid`; `Err(errno)` if the table cannot grow.
    pub fn push(&mut self, tid: i32) -> Result<(), i32> {
        if self.map.is_null() || self.len == capacity(self.map) {
            self.grow()?;
        }
        // SAFETY: len < cap of the live mapping (grown just above if not).
        let slot = unsafe { &*slots_of(self.map).add(self.len) };
        slot.reset(tid, State::Idle);
        self.len += 1;
        Ok(())
    }

    /// Sorts all slots by tid. Only between rounds: no handler is using any
    /// slot then (each has finished, or its thread is gone).
    pub fn sort(&mut self) {
        heap_sort(self.slots());
        self.sorted = self.len;
    }

    /// Sorts slots `first..` by tid and drops repeated tids among them: a
    /// directory listed while threads come and go may name a thread twice,
    /// and a thread signalled twice would hold in its first handler while
    /// the broadcaster waited for the second.
    pub fn dedup_from(&mut self, first: usize) {
        let tail = &self.slots()[first..];
        heap_sort(tail);
        let mut kept = 0;
        for i in 0..tail.len() {
            let tid = tail[i].tid();
            if kept == 0 || tail[kept - 1].tid() != tid {
                tail[kept].swap(&tail[i]);
                kept += 1;
            }
        }
        self.len = first + kept;
    }

    fn grow(&mut self) -> Result<(), i32> {
        let cap = if self.map.is_null() {
            FIRST_CAP
        } else {
            capacity(self.map) * 2
        };
        let bytes = size_of::<Header>() + cap * size_of::<Slot>();
        #[allow(
            clippy::cast_ptr_alignment,
            reason = "mmap returns page-aligned memory"
        )]
        let map = sys::map_zeroed(bytes)?.cast::<Header>();
        // SAFETY: fresh mapping, large enough for the header and `cap` slots;
        // the old one holds `len` initialised slots.
        unsafe {
            (*map).cap = cap;
            if !self.map.is_null() {
                core::ptr::copy_nonoverlapping(slots_of(self.map), slots_of(map), self.len);
            }
        }
        // The old mapping stays mapped (see the module doc).
        self.map = map;
        CURRENT.store(map, Ordering::Release);
        Ok(())
    }

    /// Forgets a table inherited across `fork()` without unmapping it (the
    /// child's copy is private and small; keeping it is harmless).
    pub fn reset_after_fork(&mut self) {
        self.len = 0;
        self.sorted = 0;
        self.known_pid = 0;
    }
}

/// Sorts slots by tid in place with [`Slot::swap`] (heapsort: no memory
/// beyond the table, O(n log n)).
fn heap_sort(slots: &[Slot]) {
    let n = slots.len();
    for start in (0..n / 2).rev() {
        sift_down(slots, start, n);
    }
    for end in (1..n).rev() {
        slots[0].swap(&slots[end]);
        sift_down(slots, 0, end);
    }
}

fn sift_down(slots: &[Slot], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && slots[child].tid() < slots[child + 1].tid() {
            child += 1;
        }
        if slots[root].tid() >= slots[child].tid() {
            return;
        }
        slots[root].swap(&slots[child]);
        root = child;
    }
}

/// Finds slot `i` of the current table for a handler.
/// Runs in a signal handler: one atomic load and pointer arithmetic.
pub fn lookup(i: usize) -> Option<&'static Slot> {
    let map = CURRENT.load(Ordering::Acquire);
    if map.is_null() || i >= capacity(map) {
        return None;
    }
    // SAFETY: i < cap; table mappings are never unmapped (module doc).
    Some(unsafe { &*slots_of(map).add(i) })
}

/// The capacity stored in a table mapping.
/// Runs in a signal handler (from `lookup`): one memory read.
fn capacity(map: *mut Header) -> usize {
    // SAFETY: `map` is a live mapping that begins with a Header.
    unsafe { (*map).cap }
}

/// The first slot of a table mapping.
/// Runs in a signal handler (from `lookup`): pointer arithmetic.
fn slots_of(map: *mut Header) -> *mut Slot {
    // SAFETY: slots start right after the header, inside the mapping.
    unsafe { map.add(1).cast::<Slot>() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_and_dedup_keep_every_tid_once_in_order() {
        let mut table = Table::new();
        let tids = [9, 3, 7, 3, 1, 9, 12, 5, 7, 2];
        for tid in tids {
            table.push(tid).unwrap();
        }
        table.slots()[4].finish(42); // moves with its slot
        table.dedup_from(0);
        let got: Vec<i32> = table.slots().iter().map(Slot::tid).collect();
        assert_eq!(got, [1, 2, 3, 5, 7, 9, 12]);
        assert_eq!(table.slots()[0].result(), 42);
        assert_eq!(table.slots()[0].state(), State::Done);
    }
}
