//! The broadcast protocol: one system call on every thread, exactly once.
//!
//! # The constraint
//! Other threads run the call inside a signal handler, interrupting
//! arbitrary code: the handler may only use atomics and raw system calls,
//! and the broadcaster may not allocate with `malloc` or take any C library
//! lock while threads are stopped (one of them may hold it).
//!
//! # Design
//! One broadcast at a time (a futex mutex; a thread waiting for it still
//! answers the running broadcast). The caller runs the call first and stops
//! there if it fails. Otherwise, in rounds:
//! 1. list the threads (`/proc/self/task`, see `threads`) and give every
//!    thread not yet in the table a slot;
//! 2. queue our signal to each new thread with `rt_tgsigqueueinfo`, carrying
//!    the generation and slot index;
//! 3. each handler runs the call, stores its result, counts itself done,
//!    then **holds**: it waits on a futex until the broadcast is released;
//! 4. wait until every new slot is done or its thread is gone.
//!
//! A round that finds no new thread ends the broadcast: all threads are
//! released at once.
//!
//! Why hold? A thread that has run the call and goes on to create a thread
//! passes the changed state on; the new thread must not run the call again.
//! A thread that had not run it yet passes on the old state, and its child
//! must run it. While every thread that ran the call is held, no thread can
//! be created with the new state, so every thread a later round finds was
//! made from the old state and needs the call. The kernel makes this hold
//! for a thread that is inside `clone()` when the signal arrives: the child
//! is in `/proc/self/task` before `clone()` returns to the parent, and the
//! handler runs only after that return (glibc even blocks all signals around
//! `clone()` in `pthread_create`). The rounds end because held threads
//! create nothing.
//!
//! # Trade-offs
//! - Every thread sleeps once more, for the release: one extra wake-up per
//!   thread, the price of exactly-once under thread creation.
//! - Each broadcast reads `/proc/self/task` at least twice; a process that
//!   creates no threads pays for the second listing.
//! - A thread that never answers (it blocked our signal with a raw
//!   `rt_sigprocmask`, or it is stopped by a debugger) is waited for without
//!   end: a false success would be a security hole. After a second psx says
//!   which threads it is waiting for.
//! - The handler holds with our signal blocked (the kernel blocks a signal
//!   while its handler runs), which delays glibc's setxid signal on that
//!   thread until the release; glibc's broadcaster waits, but we never wait
//!   for glibc, so both finish.
//!
//! # Orderings
//! - The call's number and arguments are written before [`GENERATION`] is
//!   published with `Release`; handlers load it with `Acquire`, so they see
//!   the call that belongs to the generation in their `si_value`. (The
//!   signal itself is also a barrier in practice, but the kernel does not
//!   promise one.)
//! - A slot's result is stored before its state becomes DONE (`Release`);
//!   the broadcaster reads states with `Acquire` before results.
//! - [`PENDING`] uses `AcqRel`: the last decrement must see every earlier
//!   DONE, and the broadcaster's `Acquire` load of zero must see them all.
//! - [`RELEASED`] is stored with `Release` after the broadcaster has read
//!   everything it needs; held threads need no more than `Acquire`.
//!
//! `SeqCst` is never needed: no decision depends on the order of two
//! different atomics as seen by a third thread.

use core::ffi::{c_int, c_long};
use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, Ordering};

use crate::lock::Mutex;
use crate::report::Line;
use crate::sensitivity;
use crate::signal;
use crate::slots::{self, DONE, GONE, RUNNING, SENT, Table};
use crate::sys;
use crate::threads::Finder;

/// Serialises broadcasts and owns the broadcaster's table.
static BROADCAST: Mutex<Table> = Mutex::new(Table::new());

/// Generation of the current (or last) broadcast.
static GENERATION: AtomicU32 = AtomicU32::new(0);
/// Last generation released; held handlers wait for it to reach theirs.
static RELEASED: AtomicU32 = AtomicU32::new(0);
/// Slots signalled in this round and not yet done or gone.
static PENDING: AtomicU32 = AtomicU32::new(0);
/// The process that sent the current signals (changes in a forked child).
static SENDER_PID: AtomicI32 = AtomicI32::new(0);
/// The call being broadcast: number, then six arguments.
static CALL: [AtomicI64; 7] = [const { AtomicI64::new(0) }; 7];
/// A main thread seen as a zombie (it left with `pthread_exit()`): it stays
/// in `/proc/self/task` while the process lives and never answers.
static ZOMBIE_MAIN: AtomicI32 = AtomicI32::new(0);

/// How long the broadcaster sleeps, at first, before checking whether
/// pending threads have died: threads normally answer in microseconds, so
/// 1 ms without any progress suggests a thread has exited with our signal
/// pending (common when threads come and go). Each check that finds nobody
/// dead doubles the interval, up to [`CHECK_MAX_NS`], so a thread that is
/// merely stuck costs few checks.
const CHECK_FIRST_NS: u64 = 1_000_000;
const CHECK_MAX_NS: u64 = 100_000_000;
/// When to say on stderr which threads have not answered.
const REPORT_AFTER_NS: u64 = 1_000_000_000;
/// How long to wait before retrying a signal the kernel could not queue
/// (the caller's RLIMIT_SIGPENDING is full until handlers drain it).
const QUEUE_FULL_WAIT_NS: u64 = 1_000_000;

/// Runs system call `nr` with `args` on the calling thread, then, if it
/// succeeded, on every other thread of the process. Returns the caller's
/// result, or `Err(errno)` when the caller's call failed (then nothing else
/// ran) or psx could not install its signal handler (then nothing ran).
pub fn all_threads(nr: c_long, args: [c_long; 6]) -> Result<c_long, c_int> {
    crate::ensure_init();
    let mut table = BROADCAST.lock();
    signal::ensure_installed()?;
    // SAFETY: the caller of psx vouches for the system call; this is the
    // same call it asked for, on its own thread.
    let mine = unsafe { sys::raw6(nr, args) };
    let value = sys::check(mine)?;
    run_on_others(&mut table, nr, args);
    check_results(&table, nr, args, mine);
    Ok(value)
}

/// The rounds of the module doc, ending with the release.
fn run_on_others(table: &mut Table, nr: c_long, args: [c_long; 6]) {
    let pid = sys::getpid();
    let me = sys::gettid();
    SENDER_PID.store(pid, Ordering::Relaxed);
    CALL[0].store(nr, Ordering::Relaxed);
    for (slot, &arg) in CALL[1..].iter().zip(&args) {
        slot.store(arg, Ordering::Relaxed);
    }
    let generation = GENERATION.fetch_add(1, Ordering::Release).wrapping_add(1);
    table.clear();
    let finder = Finder::open();
    loop {
        let first_new = table.len();
        add_new_threads(table, &finder, me, pid);
        table.dedup_from(first_new);
        if table.len() == first_new {
            break;
        }
        signal_range(table, first_new, generation, pid);
        wait_for_round(table, first_new, &finder, pid);
        table.sort();
    }
    RELEASED.store(generation, Ordering::Release);
    sys::futex_wake(&RELEASED, c_int::MAX);
}

/// Gives a slot to every listed thread that has none yet, except the
/// caller and a zombie main thread.
fn add_new_threads(table: &mut Table, finder: &Finder, me: c_int, pid: c_int) {
    let zombie = ZOMBIE_MAIN.load(Ordering::Relaxed);
    let skip_zombie = zombie == pid;
    finder.for_each(|tid| {
        if tid == me || (skip_zombie && tid == zombie) || table.contains(tid) {
            return;
        }
        if table.push(tid).is_err() {
            // Out of memory for the table: we cannot reach every thread.
            Line::new().text("out of memory for the thread table; ending the process");
            sys::kill_process();
        }
    });
}

/// Queues our signal to the threads of slots `first..`.
fn signal_range(table: &Table, first: usize, generation: u32, pid: c_int) {
    for index in first..table.len() {
        let slot = table.slot(index);
        slot.state.store(SENT, Ordering::Relaxed);
        PENDING.fetch_add(1, Ordering::AcqRel);
        send(slot, index, generation, pid);
    }
}

/// Queues our signal for one slot; a thread found gone is marked so.
fn send(slot: &slots::Slot, index: usize, generation: u32, pid: c_int) {
    let value = (u64::from(generation) << 32) | index as u64;
    let info = sys::SigInfo::queued(signal::SIGNAL, pid, signal::MAGIC, value);
    let tid = slot.tid.load(Ordering::Relaxed);
    loop {
        match sys::tgsigqueueinfo(pid, tid, signal::SIGNAL, &info) {
            Ok(()) => return,
            Err(libc::ESRCH) => return mark_gone(slot),
            // EAGAIN: the queue of pending signals is full until handlers
            // drain it. Any other error is retried too: giving up would skip
            // a live thread.
            Err(_) => {
                let pending = PENDING.load(Ordering::Acquire);
                sys::futex_wait(&PENDING, pending, Some(QUEUE_FULL_WAIT_NS));
            }
        }
    }
}

/// Sends our signal again to every slot from `first` on that has not
/// answered.
fn resend_pending(table: &Table, first: usize, pid: c_int) {
    let generation = GENERATION.load(Ordering::Relaxed);
    for (index, slot) in table.slots().iter().enumerate().skip(first) {
        if slot.state.load(Ordering::Acquire) == SENT {
            send(slot, index, generation, pid);
        }
    }
}

/// Waits until every slot from `first` on is done or gone.
fn wait_for_round(table: &Table, first: usize, finder: &Finder, pid: c_int) {
    let mut started = None;
    let mut interval = CHECK_FIRST_NS;
    let mut reported = false;
    loop {
        let pending = PENDING.load(Ordering::Acquire);
        if pending == 0 {
            return;
        }
        sys::futex_wait(&PENDING, pending, Some(interval));
        let now_pending = PENDING.load(Ordering::Acquire);
        if now_pending != pending {
            interval = CHECK_FIRST_NS; // progress: nobody looks stuck
            continue;
        }
        // Someone may have replaced our handler since the broadcast began
        // (glibc does at the first pthread_create): the signals it took
        // were lost, so send them again; a slot runs at most once anyway.
        if signal::ensure_installed() == Ok(true) {
            resend_pending(table, first, pid);
        }
        if reap_dead(table, first, finder, pid) == 0 {
            interval = (interval * 2).min(CHECK_MAX_NS);
        }
        // The clock is read only once a round is slow, not on every call.
        let start = *started.get_or_insert_with(|| sys::monotonic_ns() - interval);
        if !reported && sys::monotonic_ns() - start >= REPORT_AFTER_NS {
            report_stuck(table, first, finder);
            reported = true;
        }
    }
}

/// Marks as gone the pending threads that have exited or are zombies;
/// returns how many.
fn reap_dead(table: &Table, first: usize, finder: &Finder, pid: c_int) -> usize {
    let mut reaped = 0;
    for slot in &table.slots()[first..] {
        if slot.state.load(Ordering::Acquire) != SENT {
            continue;
        }
        let tid = slot.tid.load(Ordering::Relaxed);
        let dead = !sys::thread_exists(pid, tid)
            || matches!(finder.state_of(tid), Some(b'Z' | b'X' | b'x'));
        if dead {
            if tid == pid {
                ZOMBIE_MAIN.store(pid, Ordering::Relaxed);
            }
            mark_gone(slot);
            reaped += 1;
        }
    }
    reaped
}

/// SENT -> GONE, unless the thread's handler got there first.
fn mark_gone(slot: &slots::Slot) {
    if slot
        .state
        .compare_exchange(SENT, GONE, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        PENDING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One line on stderr: the threads still pending and what `/proc` says.
fn report_stuck(table: &Table, first: usize, finder: &Finder) {
    let mut line = Line::new();
    line.text("still waiting after 1s for threads that have not answered:");
    for slot in &table.slots()[first..] {
        if slot.state.load(Ordering::Acquire) == SENT {
            let tid = slot.tid.load(Ordering::Relaxed);
            line.text(" ").dec(tid.into()).text(" (state ");
            let state = finder.state_of(tid).unwrap_or(b'?');
            line.bytes(&[state]).text(")");
        }
    }
    line.text(" -- psx keeps waiting: a false success would leave them unchanged");
}

/// Compares every thread's result with the caller's and acts on the
/// sensitivity level.
fn check_results(table: &Table, nr: c_long, args: [c_long; 6], mine: c_long) {
    let level = sensitivity::get();
    if level == sensitivity::IGNORE {
        return;
    }
    let differs = |s: &&slots::Slot| {
        s.state.load(Ordering::Acquire) == DONE && s.result.load(Ordering::Relaxed) != mine
    };
    if !table.slots().iter().any(|s| differs(&s)) {
        return;
    }
    {
        let mut line = Line::new();
        line.text("syscall ").dec(nr).text("(");
        for (i, &a) in args.iter().enumerate() {
            line.text(if i == 0 { "" } else { ", " }).hex(a);
        }
        line.text(") returned ")
            .result(mine)
            .text(" on the calling thread but");
        for slot in table.slots().iter().filter(differs) {
            let tid = slot.tid.load(Ordering::Relaxed);
            line.text(" tid ").dec(tid.into()).text(": ");
            line.result(slot.result.load(Ordering::Relaxed)).text(";");
        }
    }
    if level == sensitivity::ERROR {
        Line::new().text("threads disagree; ending the process (PSX_ERROR)");
        sys::kill_process();
    }
}

/// The pid that sends psx's signals now (for the handler's check).
/// Runs in a signal handler: one atomic load.
pub fn current_pid() -> c_int {
    SENDER_PID.load(Ordering::Relaxed)
}

/// Our signal arrived with `value` (generation << 32 | slot).
///
/// Runs in a signal handler: atomics and raw system calls only. Runs the
/// call at most once per slot, then holds until the broadcast is released.
pub fn on_signal(value: u64) {
    let generation = (value >> 32) as u32;
    if GENERATION.load(Ordering::Acquire) != generation {
        return; // a late duplicate of an earlier broadcast
    }
    let Some(slot) = slots::lookup(value as u32 as usize) else {
        return;
    };
    if slot.tid.load(Ordering::Relaxed) != sys::gettid()
        || slot
            .state
            .compare_exchange(SENT, RUNNING, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return; // not for this thread, or already answered
    }
    let nr = CALL[0].load(Ordering::Relaxed);
    let args: [c_long; 6] = core::array::from_fn(|i| CALL[i + 1].load(Ordering::Relaxed));
    // SAFETY: the same call the psx caller ran on its own thread and vouched
    // for; raw, so this thread's errno is untouched.
    let result = unsafe { sys::raw6(nr, args) };
    slot.result.store(result, Ordering::Relaxed);
    slot.state.store(DONE, Ordering::Release);
    if PENDING.fetch_sub(1, Ordering::AcqRel) == 1 {
        sys::futex_wake(&PENDING, 1);
    }
    hold_until_released(generation);
}

/// Waits in the handler until broadcast `generation` is released.
/// Runs in a signal handler: futex waits on an atomic.
fn hold_until_released(generation: u32) {
    loop {
        let released = RELEASED.load(Ordering::Acquire);
        // Wrapping comparison: released is at or past our generation.
        if released.wrapping_sub(generation) as i32 >= 0 {
            return;
        }
        sys::futex_wait(&RELEASED, released, None);
    }
}

/// In the child of `fork()`: no broadcast runs and no other thread exists.
///
/// # Safety
/// Only from the child's `fork` handler, while it is single-threaded.
pub unsafe fn reset_after_fork() {
    // SAFETY: single-threaded child; the parent's holder does not exist here.
    unsafe { BROADCAST.reset_after_fork() };
    BROADCAST.lock().reset_after_fork();
    PENDING.store(0, Ordering::Relaxed);
    RELEASED.store(GENERATION.load(Ordering::Relaxed), Ordering::Relaxed);
    ZOMBIE_MAIN.store(0, Ordering::Relaxed);
}
