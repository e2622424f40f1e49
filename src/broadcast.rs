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
//! 1. find the threads: at the start, the threads the previous broadcast of
//!    this process ended with (its caller included), without reading
//!    `/proc`; when there was none, or when a round ends with threads
//!    unaccounted for, list `/proc/self/task` (see `threads`) and give every
//!    thread not yet in the table a slot;
//! 2. queue our signal to each new thread with `rt_tgsigqueueinfo`, carrying
//!    the generation and slot index (a thread that has ended since is
//!    refused with `ESRCH` and marked gone);
//! 3. each handler runs the call, stores its result, counts itself done
//!    and returns to the program, as glibc's setxid handler does (in the
//!    opt-in hold mode it waits instead until the broadcast is released:
//!    "The hold mode" below);
//! 4. wait until every new slot is done or its thread is gone;
//! 5. decide whether the broadcast is complete (below); if so, open the
//!    creation gate (and, in the hold mode, release every held thread).
//!
//! # The invariant, and why it holds
//! **A broadcast returns success only when every thread alive at that
//! moment has run the call, exactly once**, with one exception in the
//! default mode: a thread made *around* psx's `pthread_create` wrapper (a
//! library's own `pthread_create`, a raw `clone()`) by a thread that had
//! already run the call inherits the new state and may be given the call
//! again. It rests on three facts.
//!
//! *No thread is created through psx's wrapper while a broadcast is in
//! flight* (`gate`): the wrapper waits, as glibc's `pthread_create` waits
//! for its stack lock during glibc's own setxid broadcast. So a thread that
//! has run the call and is back in the program cannot make a thread that
//! inherits the new state and would be found and given the call a second
//! time (`model/` finds that second run in 15 steps without the gate; t19
//! shows it). A thread made around the wrapper by a thread that has not
//! run the call inherits the old state and is found like any other. (A
//! caller inside its own `pthread_create`, t20, is not waited for: its
//! thread is cloned after the broadcast, with the new state.)
//!
//! *A Done thread is counted only if it is alive after the count was
//! read.* A thread that ran the call is back in the program and may leave
//! in any way (cancelled, `pthread_exit()` from a handler, a filter that
//! kills it): a dead Done thread and a new, unsignalled thread would cancel
//! out in the count. So the count is compared with the Done threads found
//! alive *after* it was read (one `tgkill(tid, 0)` each): a thread alive
//! then was alive when the count was taken, so an equal count still leaves
//! no room for an unknown thread. While the count still includes a dying
//! thread psx waits for it to go (c-tests/t14: a thread that answered and
//! left, and a newcomer, every iteration).
//!
//! *A broadcast ends only when the thread count leaves no room for a thread
//! without a slot.* After a round in which every slot is Done or Gone, psx
//! takes the number of threads of the process from the link count of
//! `/proc/self/task` (2 + the kernel's `nr_threads`, one `fstatat` through
//! the kept `/proc` root, see `handler::count`). The kernel adds a thread to
//! that count and to its thread list in one step under `tasklist_lock`, and
//! removes it from both in one step. The threads psx knows are alive: the
//! caller, every Done thread found alive (above; in the hold mode, held)
//! and a zombie main thread (which stays listed). If the count equals their
//! number, the process had no other thread at that moment, and none made
//! since has the old state (above). Any other count (a thread psx has not seen, a thread
//! dying, a kernel that does not fill the link count) leads to a listing of
//! `/proc/self/task`, which only finds threads to signal, and to another
//! count: equality is required, never assumed. (One `fstatat` costs far
//! less than a listing: about 36 us for 128 threads, 300 us for 1024.)
//!
//! *A listing never ends a broadcast* (while a count can be read): Linux's
//! `proc_task_readdir` walks the thread list and ends a `getdents64` call
//! at a thread released while its cursor stands on it, whether or not it
//! returned that thread's entry (a thread released between `next_tid` and
//! `task_pid_nr_ns` has none); a second call resumes by position, counting
//! threads from the head, and the removed thread shifts the next one below
//! that position. So with one thread after the dying one, a listing that
//! looks whole and returns only known threads can miss a live thread psx
//! never signalled. An engine that ended on such a listing returned success
//! with a survivor of `c-tests/t06_churn` unreached, once in 40 suite runs
//! under two CPU hogs; `model/` finds the same in 24 steps. Two other traps
//! of listing are closed in `threads::Finder`: `getdents64` returns a single
//! entry when a signal is pending for the caller, so signals are blocked
//! while listing; and a listing is taken only in one call, the buffer grown
//! until it fits, so that it finds as much as it can.
//!
//! The model in `model/` checks this protocol, with threads that create,
//! exit, get cancelled and fork, for false successes, double runs and
//! deadlocks, with listings as Linux makes them, in both modes
//! (`Config::engine` is the hold mode, gate open or closed, and
//! `creation_gate` with `alive_end` the default); it finds the second run
//! without the gate, the false success of counting Done threads without
//! the alive check, and those of ending on a listing.
//!
//! # Threads that keep appearing (default mode)
//! Without the hold, a thread that answered may make threads around the
//! gate, and every round can then find new ones: a broadcast ends only at
//! a round without one. psx holds nobody for that at first (a program
//! could tell): each round signals what the listing found and counts
//! again. On the host that is enough: in c-tests/t06
//! `stopped-start-creators`, four threads making threads around the
//! wrapper without pause kept no broadcast longer than 255 ms, two CPU
//! hogs included. Not on a slow machine: in the arm64 VM (TCG emulation)
//! the same broadcasts took 13-23 s, and t16's soak saw none end for 10 s.
//! So once listings have kept finding new threads for
//! [`ESCALATE_AFTER_NS`] (a second), psx says so on stderr, and the threads
//! the rest of the broadcast finds hold for a while after they answer: the
//! broadcaster marks its signal to them (`protocol::HOLD_NEWCOMER`, for
//! generation `ESCALATED`). These are threads made during the broadcast
//! around the wrapper: glibc's own setxid broadcast makes every
//! `pthread_create` wait until it ends, and psx's gate makes wrapped ones
//! wait; holding such a thread at its start is the same wait, taken where
//! psx can take it. A creator that waits for its threads (`pthread_join`)
//! then waits too, and a round can find no new thread. Threads that were
//! there before the broadcast, idle or not, are never held (issue 10: an
//! earlier version held every thread that answered, which programs could
//! see). The hold ends after 10 ms at most (`handler::answer`,
//! `ESCALATED_HOLD_NS`): a held newcomer that is itself a creator between
//! glibc's `clone` of a thread started stopped and its unlock of that
//! thread's start lock keeps the new thread, signal 33 blocked, from ever
//! answering. The end condition stays the default mode's (Done threads
//! checked alive), so the hold only slows creators down. It bounds a
//! broadcast only when creators wait for the threads they make, and psx
//! finds them faster than they are made; otherwise a broadcast lasts as
//! long as threads keep being made around the wrapper.
//!
//! # The hold mode (opt-in: `PSX_HOLD_THREADS=1`)
//! For a program whose threads are made around psx's wrapper and that
//! broadcasts calls that are not idempotent (a seccomp filter, a Landlock
//! layer): the exception above is closed by keeping each thread that has
//! run the call in psx's handler, with every signal blocked, until the
//! broadcast is released. Nothing can run on top of that handler, so a held
//! thread can neither make a thread nor leave (`pthread_cancel()`, a nested
//! handler's `pthread_exit()` or `siglongjmp()` all wait until after the
//! release; `exit_group()`, `execve()` and fatal signals end the
//! broadcaster too). The gate is closed all the same: a creator held
//! inside `pthread_create` could keep its new thread from answering
//! (`gate`). The one way out is a
//! seccomp filter that kills the thread at a system call the handler makes
//! after the call, so after a call that may install one
//! ([`may_kill_threads`]) Done threads are still checked alive; otherwise
//! a held Done thread is counted as it is. A filter a thread installed
//! earlier by itself that kills it at `futex` would end it at its first
//! contended lock anyway; psx assumes there is none (README, "Guarantees").
//! What a program sees: signals to a held thread wait until the release,
//! each thread sleeps once more (for the release), and the handler may
//! make a `newfstatat` (below).
//!
//! ## Ending by the last answer (hold mode)
//! The thread whose answer ends a round (it finds `PENDING` at 1: its own
//! slot, still Running, is the round's last) makes the same count itself
//! before it marks its slot Done and, when the count equals the Done
//! threads, itself and what the broadcaster published in `END_BASE` (the
//! caller and a zombie main thread), releases the broadcast once its slot
//! is Done (`handler::answer`). Without it, every held thread waits until
//! the broadcaster, woken by that answer, is scheduled: behind a CPU hog
//! that was up to milliseconds per broadcast, and a producer/consumer pair
//! under back-to-back broadcasts lost up to 10 times its throughput
//! (c-tests/t13 `throughput`). Why it is sound:
//! - the count is read after `DONE` (a thread counted in `DONE` is alive
//!   and held when the count is read, and `DONE` only grows), so equality
//!   means the process had no other thread at that moment, and none can
//!   start before the release, as above;
//! - it is read while the slot is Running: a filter of the thread's own
//!   that kills it at that `newfstatat` leaves a Running slot of a dead
//!   thread, which the broadcaster reaps and never counts (counting once
//!   Done, `model/` finds a false success in 11 steps);
//! - `END_BASE` is 0 (the broadcaster alone decides) after a call that may
//!   kill a held thread, when the table has kernel workers (counted, never
//!   Done), and once the broadcaster finds the main thread a zombie in the
//!   middle of a broadcast;
//! - `RELEASED` moves only from the previous generation to this one
//!   (`protocol::release`), so a late last answer cannot undo anything;
//! - once released, held threads leave and may create threads with the new
//!   state: the broadcaster looks at `RELEASED` before each round and after
//!   each, and stops. A round it started before the release signals only
//!   threads listed before it, which the matching count proved gone (a tid
//!   reused meanwhile is excluded by the README's assumptions).
//!
//! The handler then makes one more system call, `newfstatat`, on one thread
//! per round. `model/` checks the protocol with this step, and finds a false
//! success when the last answer skips the count, counts once Done or
//! `END_BASE` is one too big, and a double run when the broadcaster ignores
//! the release.
//!
//! Why not `/proc/sys/kernel/ns_last_pid` (the last pid allocated in our
//! pid namespace) unchanged since the listing? It cannot prove the same
//! thing: a thread gets its pid in `clone()` before it joins the list, so a
//! thread whose pid came just before the first read can be missing from the
//! listing while the value never changes; `clone3()` with `set_tid`
//! (checkpoint/restore) allocates a pid without moving the value, a
//! privileged process may write it, and the value comes back to the same
//! number once the pid space wraps (`pid_max` allocations, or every pid but
//! one in use). The count has none of these holes and needs no descriptor
//! of its own.
//!
//! Starting from the previous broadcast's threads is only a guess (threads
//! may have started or ended in between); it is the final count that makes
//! the broadcast complete, whatever the guess was. A guessed
//! thread that has ended is refused by `rt_tgsigqueueinfo` (`ESRCH`: its
//! tid is not a thread of this process); a tid reused by a new thread of
//! ours reaches a thread that was made before the call and needs it. After
//! `fork()` the guess is dropped (the table is reset, and it records which
//! process filled it).
//!
//! # Trade-offs
//! - Default mode: a thread returns to the program as soon as it has run
//!   the call, exactly where the signal found it (the kernel restarts an
//!   interrupted wait: `SA_RESTART`), so an idle thread behaves as under
//!   glibc's own setxid broadcast. The price is the gate: a thread that
//!   calls `pthread_create` (wrapped) during a broadcast waits for its end,
//!   as under glibc's setxid, and, while a broadcast waits for a thread
//!   that never answers (below), for ever; and the exception of the
//!   invariant for threads made around the wrapper.
//! - Hold mode: a held thread sleeps once more, for the release, and
//!   signals to it wait until then (a few microseconds to milliseconds);
//!   wrapped `pthread_create` waits for the broadcast's end, as in the
//!   default mode (and while a thread never answers, for ever).
//!   (An earlier engine "parked" idle threads inside the handler to save a
//!   wake-up; programs could tell, so it is gone.)
//! - When no thread started or ended since the previous broadcast, a
//!   broadcast reads nothing from `/proc`: system calls are `rt_sigaction`
//!   (is our handler still installed?), `getpid`, `gettid`, one
//!   `rt_tgsigqueueinfo` per thread, the futex wait and wake, one
//!   `fstatat`, and (default mode) one `tgkill(tid, 0)` per Done thread.
//!   The first broadcast of a process lists `/proc/self/task`
//!   once; later ones list only when the count shows a thread psx has not
//!   signalled (one started since the previous broadcast), and then once
//!   more per round, as before.
//! - A thread that never answers (it blocked our signal with a raw
//!   `rt_sigprocmask`, or it is stopped by a debugger) is waited for without
//!   end: a false success would be a security hole. After a second psx says
//!   which threads it is waiting for.
//! - In the hold mode the handler holds with our signal blocked, which
//!   delays glibc's setxid signal (the same number) on that thread until
//!   the release; glibc's broadcaster waits, but we never wait for glibc,
//!   so both finish.
//!

use core::ffi::{c_int, c_long};
use core::sync::atomic::{AtomicI32, Ordering};

use crate::gate;
use crate::init;
use crate::install;
use crate::lock::Mutex;
use crate::protocol::{
    self, CALL, DONE, END_BASE, GENERATION, HELD, PENDING, RELEASED, SENDER_PID, SIGNAL,
};
use crate::report::Line;
use crate::sensitivity;
use crate::slots::{Slot, State, Table};
use crate::sys;
use crate::threads::{self, Finder};

/// Serialises broadcasts and owns the broadcaster's table.
static BROADCAST: Mutex<Table> = Mutex::new(Table::new());

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
/// When the count is off and a listing finds nothing new, how long to wait,
/// at first, for a dying thread to leave the thread count before counting
/// again (it leaves within microseconds; the wait doubles up to
/// [`CHECK_MAX_NS`]; see [`Settle`]).
const SETTLE_FIRST_NS: u64 = 100_000;
/// When to say on stderr which threads have not answered.
const REPORT_AFTER_NS: u64 = 1_000_000_000;
/// How long to wait before retrying a signal the kernel could not queue
/// (the caller's `RLIMIT_SIGPENDING` is full until handlers drain it).
const QUEUE_FULL_WAIT_NS: u64 = 1_000_000;

/// Runs system call `nr` with `args` on the calling thread, then, if it
/// succeeded, on every other thread of the process. Returns the caller's
/// result, or `Err(errno)` when the caller's call failed (then nothing else
/// ran) or psx could not install its signal handler (then nothing ran).
pub fn all_threads(nr: c_long, args: [c_long; 6]) -> Result<c_long, c_int> {
    init::ensure_init();
    let mut table = BROADCAST.lock();
    install::ensure_installed()?;
    // SAFETY: the caller of psx vouches for the system call; this is the
    // same call it asked for, on its own thread.
    let mine = unsafe { sys::raw6(nr, args) };
    let value = sys::check(mine)?;
    // Without the hold, threads that answered run on: none may create a
    // thread through psx's wrapper until the end (module doc). In the hold
    // mode, no creator may be held inside `pthread_create` (`gate`).
    gate::close();
    run_on_others(&mut table, nr, args);
    gate::open();
    check_results(&table, nr, args, mine);
    Ok(value)
}

/// The rounds of the module doc, ending with the release (hold mode).
fn run_on_others(table: &mut Table, nr: c_long, args: [c_long; 6]) {
    let_held_threads_leave();
    let pid = sys::getpid();
    let me = sys::gettid();
    SENDER_PID.store(pid, Ordering::Relaxed);
    CALL[0].store(nr, Ordering::Relaxed);
    for (slot, &arg) in CALL[1..].iter().zip(&args) {
        slot.store(arg, Ordering::Relaxed);
    }
    DONE.store(0, Ordering::Relaxed);
    END_BASE.store(0, Ordering::Relaxed);
    // The previous generation, over and released: ESCALATED can then not
    // name the new one (after 2^32 broadcasts) before it escalates.
    protocol::ESCALATED.store(GENERATION.load(Ordering::Relaxed), Ordering::Relaxed);
    let generation = GENERATION.fetch_add(1, Ordering::Release).wrapping_add(1);
    let zombie = ZOMBIE_MAIN.load(Ordering::Relaxed);
    let skip = if zombie == pid { zombie } else { 0 };
    // Opened only when a listing (or a look at a stuck thread) is needed.
    let mut finder: Option<Finder> = None;
    let mut first_new = 0;
    // Without the hold, any Done thread may have left: always check.
    let check_alive = !protocol::holds_threads() || may_kill_threads(nr, &args);
    let reused = table.restart_from_known(pid, me, skip);
    if table.slots().iter().any(|s| s.state() == State::Exempt) {
        let finder = finder.get_or_insert_with(Finder::open);
        table.recheck_exempt(|tid| finder.is_kernel_worker(tid));
    }
    if !reused {
        let mut failed = 0;
        while !add_new_threads(table, finder.get_or_insert_with(Finder::open), me, pid) {
            wait_to_list_again(&mut finder, &mut failed);
        }
        table.dedup_from(0);
    }
    let_last_answer_end(table, me, pid, check_alive);
    let mut failed_listings = 0;
    let mut settle = Settle::new();
    loop {
        // Ended by the last thread to answer: held threads may be leaving,
        // and threads made now have the new state (never signal them).
        if protocol::is_released(generation) {
            break;
        }
        if table.len() > first_new {
            mark_sent(table, first_new);
            signal_unanswered(table, first_new, generation, pid);
            wait_for_round(table, first_new, &mut finder, pid);
            table.sort();
        }
        let count = count_now(finder.as_ref());
        if protocol::is_released(generation)
            || all_accounted_for(table, count, me, pid, check_alive)
        {
            break;
        }
        first_new = table.len();
        let whole = add_new_threads(table, finder.get_or_insert_with(Finder::open), me, pid);
        table.dedup_from(first_new);
        if !whole {
            wait_to_list_again(&mut finder, &mut failed_listings);
        } else if table.len() > first_new {
            // Another round; after a second of them, hold newcomers.
            if settle.found_new(table.len()) && !protocol::holds_threads() {
                protocol::ESCALATED.store(generation, Ordering::Relaxed);
            }
        } else if count.is_none() && count_now(finder.as_ref()).is_none() {
            // No count to go on, even through the listing's descriptor (no
            // /proc of ours: the registry): the listing is the last resort
            // (README, "Without /proc").
            break;
        } else {
            settle.nothing_new(table, finder.as_ref());
        }
    }
    table.remember(pid, me);
    // Only a thread whose slot is DONE can be holding (a process with no
    // other thread saves the system call). Woken even when the last answer
    // released: it may not have been scheduled for its own wake yet.
    protocol::release(generation);
    if protocol::holds_in(generation) && table.slots().iter().any(|s| s.state() == State::Done) {
        sys::futex_wake(&RELEASED, c_int::MAX);
    }
}

/// How long listings of one broadcast may keep finding new threads before
/// psx says so and, in the default mode, holds the threads it finds from
/// then on (module doc, "Threads that keep appearing").
const ESCALATE_AFTER_NS: u64 = 1_000_000_000;

/// Waiting for the thread count after whole listings that found no thread
/// without a slot while the count was off: a thread is dying (it stays
/// counted until the kernel releases it) or the listing missed one (module
/// doc). The first such listing leads to a count at once, each later one to
/// a wait that doubles while nothing changes; after a second of waiting,
/// one line on stderr. Also says once when listings have kept finding new
/// threads for a second (module doc, "Threads that keep appearing").
struct Settle {
    empty_listings: u32,
    wait_ns: u64,
    waited_ns: u64,
    reported: bool,
    /// When the second listing that found new threads ran (0: none yet).
    chase_since_ns: u64,
    chase_reported: bool,
}

impl Settle {
    fn new() -> Self {
        Settle {
            empty_listings: 0,
            wait_ns: SETTLE_FIRST_NS,
            waited_ns: 0,
            reported: false,
            chase_since_ns: 0,
            chase_reported: false,
        }
    }

    /// A listing after the first found threads without a slot: the next
    /// empty listing counts at once again. The interval keeps growing: a
    /// count that stays off while threads keep coming (one stuck exiting)
    /// costs few waits. Returns true once, when such listings have gone on
    /// for [`ESCALATE_AFTER_NS`] (then says so on stderr).
    fn found_new(&mut self, known: usize) -> bool {
        self.empty_listings = 0;
        if self.chase_reported {
            return false;
        }
        let now = sys::monotonic_ns();
        if self.chase_since_ns == 0 {
            self.chase_since_ns = now;
        } else if now - self.chase_since_ns >= ESCALATE_AFTER_NS {
            report_chase(known);
            self.chase_reported = true;
            return true;
        }
        false
    }

    /// A whole listing found nothing new while the count was off.
    fn nothing_new(&mut self, table: &Table, finder: Option<&Finder>) {
        self.empty_listings += 1;
        if self.empty_listings == 1 {
            return;
        }
        sys::futex_wait(&PENDING, 0, Some(self.wait_ns));
        self.waited_ns += self.wait_ns;
        self.wait_ns = (self.wait_ns * 2).min(CHECK_MAX_NS);
        if self.waited_ns >= REPORT_AFTER_NS && !self.reported {
            report_count_mismatch(table, count_now(finder));
            self.reported = true;
        }
    }
}

/// Lets the last thread to answer a round end the broadcast (module doc,
/// "Ending by the last answer"), unless Done threads must be checked alive
/// (the default mode, or a call that may take a held thread away) or the
/// table has kernel workers (counted, never Done): publishes
/// the threads besides the Done ones that the count may show.
fn let_last_answer_end(table: &Table, me: c_int, pid: c_int, check_alive: bool) {
    if check_alive || table.slots().iter().any(|s| s.state() == State::Exempt) {
        return;
    }
    let zombie = u32::from(me != pid && ZOMBIE_MAIN.load(Ordering::Relaxed) == pid);
    END_BASE.store(1 + zombie, Ordering::Release);
}

/// How long a broadcast waits, at most, for the threads the previous one
/// released to leave its handler: fairness only (see below), so a thread
/// that does not leave (stopped, or killed by a filter) costs this once.
const LEAVE_WAIT_NS: u64 = 1_000_000;

/// Waits until the threads the previous broadcast held have left psx's
/// handler. Broadcasts made back to back would otherwise signal a thread
/// again a few microseconds after its release, before it ran any of its
/// own code: the program's threads would be frozen nearly all the time
/// (a producer/consumer pair moved about 100 times fewer items than under
/// glibc's own setxid loop). A fairness wait, bounded, never a condition
/// of correctness.
fn let_held_threads_leave() {
    sys::wait_for_zero(&HELD, LEAVE_WAIT_NS);
}

/// The number of threads of the process now: through psx's `/proc` root,
/// else through the listing's own descriptor (`None` only without `/proc`).
fn count_now(finder: Option<&Finder>) -> Option<usize> {
    threads::count().or_else(|| finder?.count())
}

/// Whether the process has no thread but the caller, the threads that have
/// run the call and a zombie main thread: then no thread lacks a slot
/// (module doc: the count ends a broadcast, never a listing). With
/// `check_alive` (always in the default mode; in the hold mode after a call
/// that may kill a held thread), only the Done threads found alive after
/// the count was read stand for it.
/// Only between rounds, when no slot is Sent or Running.
fn all_accounted_for(
    table: &Table,
    count: Option<usize>,
    me: c_int,
    pid: c_int,
    check_alive: bool,
) -> bool {
    let Some(count) = count else {
        return false;
    };
    // Kernel workers (Exempt) come and go by themselves: counted only while
    // alive, whatever the call.
    let alive = |s: &&Slot| sys::thread_surely_alive(pid, s.tid());
    let done = table
        .slots()
        .iter()
        .filter(|s| match s.state() {
            State::Done => !check_alive || alive(s),
            State::Exempt => alive(s),
            _ => false,
        })
        .count();
    let zombie = usize::from(me != pid && ZOMBIE_MAIN.load(Ordering::Relaxed) == pid);
    count == 1 + done + zombie
}

/// Whether the call may take a thread that has run it out of the hold: a
/// seccomp filter can kill it (`SECCOMP_RET_KILL_THREAD` at a later system
/// call of the handler), and `rt_sigprocmask` can unblock signals inside the
/// handler, letting a cancellation or another handler end the thread. Then
/// only the thread count, checked against the threads still alive, ends
/// the broadcast (module doc, "The hold mode"). The
/// kernel reads the number and `prctl`'s option as 32-bit values, so only
/// those bits are compared.
fn may_kill_threads(nr: c_long, args: &[c_long; 6]) -> bool {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "the kernel's 32-bit view"
    )]
    let low = |v: c_long| v as u32;
    let nr = low(nr);
    let is = |sys: c_long| nr == low(sys);
    is(libc::SYS_seccomp)
        || is(libc::SYS_rt_sigprocmask)
        || (is(libc::SYS_prctl) && low(args[0]) == libc::PR_SET_SECCOMP as u32)
}

/// Gives a slot to every listed thread that has none yet, except the
/// caller and a zombie main thread. Returns `false` when no whole listing
/// could be made (then nothing was added).
fn add_new_threads(table: &mut Table, finder: &mut Finder, me: c_int, pid: c_int) -> bool {
    let zombie = ZOMBIE_MAIN.load(Ordering::Relaxed);
    let skip_zombie = zombie == pid;
    finder.for_each(|tid| {
        if tid == me || (skip_zombie && tid == zombie) || table.find(tid).is_some() {
            return;
        }
        if table.push(tid).is_err() {
            // Out of memory for the table: we cannot reach every thread.
            Line::new().text("out of memory for the thread table; ending the process");
            sys::kill_process();
        }
    })
}

/// A count for a report line.
fn to_long(n: usize) -> c_long {
    c_long::try_from(n).unwrap_or(c_long::MAX)
}

/// One line on stderr when only the thread count can end a broadcast and
/// it has not matched for a second.
fn report_count_mismatch(table: &Table, count: Option<usize>) {
    let done = table.slots().iter().filter(|s| s.state() == State::Done);
    Line::new()
        .text("still waiting after 1s: the process has ")
        .dec(count.map_or(-1, to_long))
        .text(" threads, psx has reached ")
        .dec(to_long(done.count()))
        .text(" besides the caller and cannot list the others -- psx keeps waiting: a false success would leave them unchanged");
}

/// Says that listings keep finding new threads (`known` in the table).
fn report_chase(known: usize) {
    let mut line = Line::new();
    line.text("still finding new threads after 1s (")
        .dec(to_long(known))
        .text(" so far): threads keep being made around psx's pthread_create wrapper -- psx keeps giving each the call");
    if !protocol::holds_threads() {
        line.text(", and holds those it finds from now on for up to 10 ms each");
    }
}

/// After a listing failed (`/proc` refused it for a moment: out of memory,
/// too many open files; or the program closed or replaced our descriptor),
/// wait before the next try with a `Finder` opened afresh, and say so once
/// after a second: a broadcast never ends on a listing it does not have.
fn wait_to_list_again(finder: &mut Option<Finder>, failed: &mut u32) {
    *finder = None;
    sys::futex_wait(&PENDING, 0, Some(CHECK_FIRST_NS));
    *failed += 1;
    if u64::from(*failed) * CHECK_FIRST_NS == REPORT_AFTER_NS {
        Line::new().text(
            "still waiting after 1s: /proc/self/task cannot be listed -- psx keeps trying: a \
             false success would leave threads unchanged",
        );
    }
}

/// Marks slots `first..` as waiting for their thread's answer.
fn mark_sent(table: &Table, first: usize) {
    let slots = &table.slots()[first..];
    let to_send = || slots.iter().filter(|s| s.state() != State::Exempt);
    // Counted first: a handler decrements only after it claimed a Sent slot.
    // A table holds at most one slot per thread: far below u32::MAX.
    let new = u32::try_from(to_send().count()).unwrap_or(u32::MAX);
    PENDING.fetch_add(new, Ordering::AcqRel);
    to_send().for_each(Slot::send);
}

/// Queues our signal to every slot from `first` on that is still waiting.
fn signal_unanswered(table: &Table, first: usize, generation: u32, pid: c_int) {
    // Only new threads are signalled after the first round (`first` > 0).
    let hold = if first > 0 && protocol::escalated(generation) {
        protocol::HOLD_NEWCOMER
    } else {
        0
    };
    for (index, slot) in table.slots().iter().enumerate().skip(first) {
        if slot.state() == State::Sent {
            send(slot, index | hold, generation, pid);
        }
    }
}

/// Queues our signal for one slot (`index`, maybe with
/// `protocol::HOLD_NEWCOMER`); a thread found gone is marked so.
fn send(slot: &Slot, index: usize, generation: u32, pid: c_int) {
    let value = protocol::encode(generation, index);
    let info = sys::SigInfo::queued(SIGNAL, pid, protocol::MAGIC, value);
    let tid = slot.tid();
    loop {
        match sys::tgsigqueueinfo(pid, tid, SIGNAL, &info) {
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

/// Waits until every slot from `first` on is done or gone.
fn wait_for_round(table: &Table, first: usize, finder: &mut Option<Finder>, pid: c_int) {
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
        // (glibc does at the first pthread_create), or swallowed our signal
        // and put ours back: send again to every slot still waiting (a slot
        // runs at most once, a late duplicate returns at once). Not without
        // end: each resend queues one more signal on a thread that blocks
        // it, and the queue is the user's (RLIMIT_SIGPENDING).
        let replaced = install::ensure_installed() == Ok(true);
        if replaced || interval < CHECK_MAX_NS {
            signal_unanswered(table, first, GENERATION.load(Ordering::Relaxed), pid);
        }
        let finder = finder.get_or_insert_with(Finder::open);
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

/// Marks as gone the threads of unfinished slots (SENT, or RUNNING: killed
/// while running the call) that have exited or are zombies; returns how many.
fn reap_dead(table: &Table, first: usize, finder: &Finder, pid: c_int) -> usize {
    let mut reaped = 0;
    for slot in &table.slots()[first..] {
        if !matches!(slot.state(), State::Sent | State::Running) {
            continue;
        }
        let tid = slot.tid();
        if slot.state() == State::Sent && finder.is_kernel_worker(tid) {
            // An io_uring worker: never answers, and is not a thread the
            // program runs code on; kept in the table, not signalled again.
            if slot.exempt() {
                PENDING.fetch_sub(1, Ordering::AcqRel);
                reaped += 1;
            }
            continue;
        }
        let dead = !sys::thread_exists(pid, tid)
            || matches!(finder.state_of(tid), Some(b'Z' | b'X' | b'x'));
        if dead {
            if tid == pid {
                ZOMBIE_MAIN.store(pid, Ordering::Relaxed);
                // Listed and counted from now on: the broadcaster decides.
                END_BASE.store(0, Ordering::Relaxed);
            }
            mark_gone(slot);
            reaped += 1;
        }
    }
    reaped
}

/// Settles the slot of a thread found dead (see [`Slot::mark_gone`]).
fn mark_gone(slot: &Slot) {
    if slot.mark_gone() {
        PENDING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One line on stderr: the threads still pending and what `/proc` says.
fn report_stuck(table: &Table, first: usize, finder: &Finder) {
    let mut line = Line::new();
    line.text("still waiting after 1s for threads:");
    for slot in &table.slots()[first..] {
        let what = match slot.state() {
            State::Sent => " (not answered, state ",
            State::Running => " (running the call, state ",
            _ => continue,
        };
        let tid = slot.tid();
        line.text(" ").dec(tid.into()).text(what);
        let state = finder.state_of(tid).unwrap_or(b'?');
        line.bytes(&[state]).text(")");
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
    let differs = |s: &&Slot| s.state() == State::Done && s.result() != mine;
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
            line.text(" tid ").dec(slot.tid().into()).text(": ");
            line.result(slot.result()).text(";");
        }
    }
    if level == sensitivity::ERROR {
        Line::new().text("threads disagree; ending the process (PSX_ERROR)");
        sys::kill_process();
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
    HELD.store(0, Ordering::Relaxed);
    RELEASED.store(GENERATION.load(Ordering::Relaxed), Ordering::Relaxed);
    ZOMBIE_MAIN.store(0, Ordering::Relaxed);
}
