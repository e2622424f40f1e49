//! An explicit-state model of psx's broadcast protocol (`src/broadcast.rs`,
//! `src/slots.rs`, `src/signal.rs`), checked by exhaustive search over all
//! interleavings.
//!
//! One process (its threads, the kernel's task list and thread count, psx's
//! slot table and the broadcaster) plus, after a `fork()`, a child process
//! reduced to what concerns psx (its lock and its own broadcast). Every
//! step below is one atomic action; a comment names the function of `src/`
//! it stands for. The checker ([`check`]) explores every state reachable
//! within the [`Bounds`] breadth-first, with a hash set of visited states,
//! and reports:
//! - *false success*: a broadcast returns while a live thread of the
//!   process has not had the call applied (neither by running it nor by
//!   inheriting it from its creator);
//! - *run twice*: a thread runs a broadcast's call when it already has that
//!   broadcast's state (it ran it before, or was created from a thread that
//!   had: "a thread made from a thread that had run it is not run again");
//! - *deadlock*: a reachable state with no successor that is not final
//!   (final: no broadcast in flight, no thread inside psx's handler, the
//!   child's broadcast over);
//! - *cycle*: a cycle in the state graph. The bounds make every other path
//!   finite, so with no cycle and no deadlock every broadcast ends, on every
//!   schedule, once the threads answer.
//!
//! Breadth-first order makes every counterexample a shortest one.
//!
//! Assumptions (the engine's too, see the README of this directory):
//! a listing of `/proc/self/task` is an atomic snapshot, the thread count
//! an atomic read; queued signals are not lost; thread ids are not reused
//! within a broadcast; memory orderings are not modelled (every step is
//! sequentially consistent; `src/broadcast.rs` argues its orderings
//! separately).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

/// Threads a state can hold: the upper limit of [`Bounds::threads`].
pub const CAP: usize = 6;

/// Thread 0 is the main thread: its id is the process id, and when it ends
/// while other threads live it stays in the task list as a zombie.
const MAIN: u8 = 0;

/// How far the search goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Threads alive at the start, main thread included.
    pub initial: u8,
    /// Threads ever in the process (at most [`CAP`]).
    pub threads: u8,
    /// `pthread_create()` calls.
    pub creations: u8,
    /// Threads ending on their own (`pthread_exit`, cancellation).
    pub exits: u8,
    /// Threads killed by a seccomp filter inside psx's handler.
    pub kills: u8,
    /// `fork()` calls (one child at most).
    pub forks: u8,
    /// Broadcasts in the parent.
    pub broadcasts: u8,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            initial: 2,
            threads: 5,
            creations: 3,
            exits: 1,
            kills: 1,
            forks: 1,
            broadcasts: 1,
        }
    }
}

impl Bounds {
    /// The defaults, changed by `PSX_MODEL_BOUNDS`, e.g.
    /// `PSX_MODEL_BOUNDS=threads=5,creations=3,broadcasts=2`.
    pub fn from_env() -> Self {
        let mut b = Bounds::default();
        if let Ok(text) = std::env::var("PSX_MODEL_BOUNDS") {
            b.apply(&text);
        }
        b
    }

    /// Applies `name=value,...` to these bounds; panics on a bad item.
    pub fn apply(&mut self, text: &str) {
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .unwrap_or_else(|| panic!("PSX_MODEL_BOUNDS: `{item}` is not name=value"));
            let value: u8 = value
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("PSX_MODEL_BOUNDS: bad number in `{item}`"));
            let field = match name.trim() {
                "initial" => &mut self.initial,
                "threads" => &mut self.threads,
                "creations" => &mut self.creations,
                "exits" => &mut self.exits,
                "kills" => &mut self.kills,
                "forks" => &mut self.forks,
                "broadcasts" => &mut self.broadcasts,
                other => panic!("PSX_MODEL_BOUNDS: unknown bound `{other}`"),
            };
            *field = value;
        }
        assert!(
            (1..=self.threads).contains(&self.initial) && usize::from(self.threads) <= CAP,
            "PSX_MODEL_BOUNDS: need 1 <= initial <= threads <= {CAP}"
        );
        assert!(
            self.broadcasts <= 100,
            "PSX_MODEL_BOUNDS: too many broadcasts"
        );
    }
}

/// Which protocol is checked: the engine of `src/` by default, or one of
/// the variants the tests show to be wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub bounds: Bounds,
    /// The call installs a seccomp filter (`broadcast::may_kill_threads`):
    /// a thread that has run it may be killed while held
    /// (`SECCOMP_RET_KILL_THREAD` at the handler's next system call).
    /// Killing a thread at the call itself (an earlier filter of its own)
    /// is possible for every call, within [`Bounds::kills`].
    pub filter_call: bool,
    /// The engine before "no parking": (a) a held thread can leave the
    /// handler (a cancellation acting in the hold on glibc 2.36), modelled
    /// as the thread ending while its slot is DONE, and (b) the count ends
    /// a broadcast whatever the call.
    pub old_end_condition: bool,
    /// Use the count even for a call that installs a filter.
    pub count_always: bool,
    /// `broadcast::reap_dead` also reaps RUNNING slots of dead threads (the
    /// engine does; before, it reaped only SENT ones).
    pub reap_running: bool,
    /// Threads return from the handler right after the call instead of
    /// holding until the release.
    pub no_hold: bool,
    /// The default mode's end (with [`Config::no_hold`]): end on the
    /// count checked against the DONE threads found alive after it (as
    /// after a filter-installing call), since a DONE thread may now exit.
    pub alive_end: bool,
    /// The creation gate (closed in both modes; `Config::engine` leaves it
    /// open to stand for threads made around the wrapper, which it does
    /// not hold back): no thread is created while a broadcast
    /// is in flight (a gate in `pthread_create` that the broadcaster holds
    /// for the whole broadcast and a creator holds across `clone()`, as
    /// glibc does with its stack lock for its own setxid broadcast). A
    /// creator that waits at the gate still answers signals.
    pub creation_gate: bool,
    /// The child of `fork()` resets psx (`fork::in_child`).
    pub fork_reset: bool,
    /// What a listing of `/proc/self/task` sees of threads that come and
    /// go while it runs.
    pub listing: Listing,
    /// The engine's end condition (`broadcast::run_on_others`): a round
    /// ends only on a count that matches; when held threads can be killed
    /// (`filter_call`), the DONE threads still in the task list are counted
    /// after the count was read (`tgkill(tid, 0)` each) instead of every
    /// DONE slot. A listing only finds threads to signal; one that finds
    /// nothing leads to another count, not to the release. Without it, the
    /// engine before: a listing that finds nothing new ends the broadcast.
    pub count_end: bool,
    /// The thread whose slot is its round's last (`PENDING` at 1) counts,
    /// still RUNNING, and ends the broadcast itself when the count equals
    /// `END_BASE` + DONE + itself (`handler::answer::last_and_complete`),
    /// once its slot is DONE; the broadcaster stops at its
    /// next check of `RELEASED` (`protocol::is_released` in
    /// `run_on_others`).
    pub last_answer_ends: bool,
    /// Mutation: the last answer releases without looking at the count.
    pub last_answer_unchecked: bool,
    /// Mutation: the last answer marks its slot DONE before it counts (a
    /// filter of its own that kills it at the count leaves a DONE slot).
    pub count_when_done: bool,
    /// Mutation: `END_BASE` counts a zombie main thread the process does
    /// not have (one too many).
    pub end_base_phantom_zombie: bool,
    /// Mutation: the broadcaster does not look at `RELEASED` before a new
    /// round or after a round.
    pub broadcaster_ignores_release: bool,
}

/// How a listing of `/proc/self/task` sees threads that come and go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// One atomic snapshot (the assumption of the engine's argument).
    Atomic,
    /// It takes time, and sees every thread alive from its beginning to its
    /// end, and any subset of the threads created or ended meanwhile (the
    /// assumption `src/broadcast.rs` states).
    Throughout,
    /// What Linux does (`proc_task_readdir`, `first_tid`, `next_tid` in
    /// fs/proc/base.c), one entry per step: it walks the thread list, to
    /// whose end new threads are added; after an entry whose thread has
    /// since been released (`!pid_alive`), that getdents64 call ends and the
    /// next one starts again by position, counting threads from the main
    /// thread: the thread that followed the released one is skipped. The
    /// buffer is assumed to hold every entry of a call (no `f_version`
    /// resumption by tid).
    Readdir,
}

impl Config {
    /// The default engine of `src/`: no hold, DONE threads counted only
    /// when found alive after the count, the creation gate.
    pub fn default_mode(bounds: Bounds) -> Self {
        Config {
            no_hold: true,
            alive_end: true,
            creation_gate: true,
            ..Config::engine(bounds)
        }
    }

    /// The engine of `src/` in its opt-in hold mode (`PSX_HOLD_THREADS=1`),
    /// with the creation gate open: it stands for threads made around psx's
    /// wrapper, which the gate does not hold back (the gate closed:
    /// `engine_is_correct_with_the_gate`).
    pub fn engine(bounds: Bounds) -> Self {
        Config {
            bounds,
            filter_call: false,
            old_end_condition: false,
            count_always: false,
            reap_running: true,
            no_hold: false,
            alive_end: false,
            creation_gate: false,
            fork_reset: true,
            listing: Listing::Atomic,
            count_end: true,
            last_answer_ends: true,
            last_answer_unchecked: false,
            count_when_done: false,
            end_base_phantom_zombie: false,
            broadcaster_ignores_release: false,
        }
    }

    /// The engine with the old end condition (see the field).
    pub fn old(bounds: Bounds) -> Self {
        Config {
            old_end_condition: true,
            reap_running: false,
            count_end: false,
            last_answer_ends: false,
            ..Config::engine(bounds)
        }
    }

    /// Whether the count may end a round (`count_allowed` in
    /// `broadcast::run_on_others`).
    fn count_allowed(&self) -> bool {
        self.old_end_condition || self.count_always || self.count_end || !self.filter_call
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Status {
    /// Not created (yet).
    Absent,
    Alive,
    /// The main thread after it ended while others live: listed, counted,
    /// never runs again.
    Zombie,
    /// Ended and gone from the task list and the count.
    Gone,
}

/// Where a thread is with respect to psx's signal handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Hand {
    /// Not in the handler: running application code.
    Out,
    /// Claimed slot `.0` and is about to make the call.
    Running(u8),
    /// Ran the call of broadcast `.0`; waits for its release.
    Held(u8),
    /// Ran the call for slot `.0`, the only one of its round not yet done:
    /// about to read DONE and the count, then mark the slot DONE and maybe
    /// end the broadcast.
    Counting(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Thread {
    status: Status,
    /// The generation of the last call applied to this thread (0: none):
    /// its credentials, in effect.
    cred: u8,
    hand: Hand,
    /// Our queued signal: (generation, slot) from `si_value`.
    pending: Option<(u8, u8)>,
}

/// `slots::{SENT, RUNNING, DONE, GONE}`; `Unsent` for a slot pushed but
/// not yet marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum SlotState {
    Unsent,
    Sent,
    Running,
    Done,
    Gone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Slot {
    tid: u8,
    state: SlotState,
}

/// Where the broadcaster is in `broadcast::run_on_others`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Pc {
    /// No broadcast in flight.
    Idle,
    /// About to list `/proc/self/task` (`initial`: the first listing,
    /// when there were no known threads, else after a round).
    List { initial: bool },
    /// In the middle of a listing that is not atomic (see [`Listing`]).
    Listing { initial: bool },
    /// [`Config::count_end`]: the count is read; see which DONE threads
    /// are still there.
    Recheck,
    /// `mark_sent` of slots `first..`.
    MarkSent,
    /// `signal_unanswered`: about to queue the signal of slot `.0`.
    Send(u8),
    /// `wait_for_round`.
    Wait,
    /// The round is over: count (if allowed) or list.
    EndCheck,
    /// Decided: every thread is accounted for; store RELEASED.
    Release,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Child {
    None,
    /// A forked child that will make a broadcast of its own; the lock it
    /// inherited is held when the fork came during one of the parent's
    /// broadcasts and the child did not reset psx.
    Forked {
        lock_held: bool,
    },
    /// Its broadcast returned.
    Done,
}

/// One global state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct State {
    threads: [Thread; CAP],
    slots: [Slot; CAP],
    len: u8,
    /// First slot of the current round (`first_new`).
    first: u8,
    pc: Pc,
    /// The broadcasting thread (`me`).
    caller: u8,
    /// `GENERATION` and `RELEASED`.
    generation: u8,
    released: u8,
    /// `Table::known_pid == pid` and `known_caller`.
    known: bool,
    known_caller: u8,
    /// `ZOMBIE_MAIN == pid`.
    zombie_main: bool,
    created: u8,
    exited: u8,
    killed: u8,
    forked: u8,
    child: Child,
    /// During a listing that is not atomic: the threads it is sure to see
    /// (alive since it began) and those it may or may not see (created or
    /// ended since), as bit masks.
    seen_sure: u8,
    seen_maybe: u8,
    /// During a [`Listing::Readdir`] listing: the threads returned so far
    /// (mask), the last one returned ([`NONE`] before the first) and how
    /// many were returned (the directory position).
    emitted: u8,
    cursor: u8,
    pos: u8,
    /// The thread next_tid picked, whose entry is not yet made ([`NONE`]).
    picked: u8,
    /// [`Config::count_end`]: the count read.
    count: u8,
    /// `END_BASE`: 0, or the threads besides the DONE ones (the caller and a
    /// zombie main thread) the last answer may find in the count.
    end_base: u8,
}

const NONE: u8 = u8::MAX;

impl State {
    fn initial(b: &Bounds) -> Self {
        let absent = Thread {
            status: Status::Absent,
            cred: 0,
            hand: Hand::Out,
            pending: None,
        };
        let mut threads = [absent; CAP];
        for t in threads.iter_mut().take(usize::from(b.initial)) {
            t.status = Status::Alive;
        }
        State {
            threads,
            slots: [Slot {
                tid: 0,
                state: SlotState::Unsent,
            }; CAP],
            len: 0,
            first: 0,
            pc: Pc::Idle,
            caller: 0,
            generation: 0,
            released: 0,
            known: false,
            known_caller: 0,
            zombie_main: false,
            created: 0,
            exited: 0,
            killed: 0,
            forked: 0,
            child: Child::None,
            seen_sure: 0,
            seen_maybe: 0,
            emitted: 0,
            cursor: NONE,
            pos: 0,
            picked: NONE,
            count: 0,
            end_base: 0,
        }
    }

    fn table(&self) -> &[Slot] {
        &self.slots[..usize::from(self.len)]
    }

    /// In the kernel's task list, and in its thread count (one step under
    /// `tasklist_lock` adds or removes a thread from both).
    fn listed(&self, t: u8) -> bool {
        matches!(
            self.threads[usize::from(t)].status,
            Status::Alive | Status::Zombie
        )
    }

    /// The kernel's thread count (`threads::count`): threads listed now.
    fn thread_count(&self) -> u8 {
        (0..CAP as u8).filter(|&t| self.listed(t)).count() as u8
    }

    /// DONE slots in the table (`DONE`).
    fn done_slots(&self) -> u8 {
        self.table()
            .iter()
            .filter(|x| x.state == SlotState::Done)
            .count() as u8
    }

    fn busy_caller(&self, t: u8) -> bool {
        self.pc != Pc::Idle && self.caller == t
    }

    /// `Table::push` after `Table::contains` (slots are never duplicated).
    fn push(&mut self, tid: u8) {
        if self.table().iter().any(|s| s.tid == tid) {
            return;
        }
        let i = usize::from(self.len);
        self.slots[i] = Slot {
            tid,
            state: SlotState::Unsent,
        };
        self.len += 1;
    }

    /// A thread ends: the main thread becomes a zombie (while others live),
    /// any other leaves the task list and the count.
    fn end_thread(&mut self, t: u8) {
        let th = &mut self.threads[usize::from(t)];
        th.status = if t == MAIN {
            Status::Zombie
        } else {
            Status::Gone
        };
        th.hand = Hand::Out;
        th.pending = None;
        // A listing under way may or may not still see it (a zombie main
        // thread stays listed).
        let bit = 1 << t;
        if matches!(self.pc, Pc::Listing { .. }) && t != MAIN && self.seen_sure & bit != 0 {
            self.seen_sure &= !bit;
            self.seen_maybe |= bit;
        }
    }

    fn listed_mask(&self) -> u8 {
        (0..CAP as u8)
            .filter(|&t| self.listed(t))
            .fold(0, |m, t| m | 1 << t)
    }

    /// `broadcast::add_new_threads` for a listing that saw the threads of
    /// mask `seen`; returns the threads it gave a slot.
    fn add_new_threads(&mut self, seen: u8) -> Vec<u8> {
        let mut found = Vec::new();
        for t in 0..CAP as u8 {
            if seen & (1 << t) == 0
                || t == self.caller
                || (self.zombie_main && t == MAIN)
                || self.table().iter().any(|s| s.tid == t)
            {
                continue;
            }
            self.push(t);
            found.push(t);
        }
        found
    }

    /// Why nothing can move, for a deadlock's report.
    fn stuck(&self) -> String {
        let mut why = Vec::new();
        if self.pc != Pc::Idle {
            let waiting: Vec<String> = self.slots[usize::from(self.first)..usize::from(self.len)]
                .iter()
                .filter(|x| matches!(x.state, SlotState::Sent | SlotState::Running))
                .map(|x| {
                    format!(
                        "{} ({:?}, slot {:?})",
                        name(x.tid),
                        self.threads[usize::from(x.tid)].status,
                        x.state
                    )
                })
                .collect();
            why.push(format!(
                "broadcaster at {:?}, waiting for [{}]",
                self.pc,
                waiting.join(", ")
            ));
        }
        for (t, th) in self.threads.iter().enumerate() {
            if th.hand != Hand::Out {
                why.push(format!("{} in the handler: {:?}", name(t as u8), th.hand));
            }
        }
        if let Child::Forked { lock_held: true } = self.child {
            why.push(
                "the child waits for psx's lock, copied while the parent's broadcast held it"
                    .into(),
            );
        }
        why.join("; ")
    }

    fn final_state(&self) -> bool {
        self.pc == Pc::Idle
            && self.threads.iter().all(|t| t.hand == Hand::Out)
            && !matches!(self.child, Child::Forked { .. })
    }
}

/// One atomic step, for traces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Start {
        caller: u8,
        generation: u8,
        guessed: Vec<u8>,
    },
    ListBegin,
    Pick {
        tid: u8,
    },
    Entry {
        tid: u8,
        returned: bool,
    },
    ListAgain,
    Recheck {
        count: u8,
        done: u8,
        zombie: u8,
    },
    MarkSent {
        first: u8,
        len: u8,
    },
    Send {
        slot: u8,
        tid: u8,
        esrch: bool,
    },
    RoundOver,
    Count {
        count: u8,
        done: u8,
        zombie: u8,
    },
    NoCount,
    List {
        found: Vec<u8>,
        /// Nothing new, and that ends the broadcast.
        ends: bool,
    },
    Release {
        generation: u8,
    },
    SeesReleased,
    Reap {
        slot: u8,
        tid: u8,
        running: bool,
    },
    Create {
        creator: u8,
        thread: u8,
        cred: u8,
    },
    Exit {
        tid: u8,
        held: bool,
    },
    Handle {
        tid: u8,
        claimed: bool,
    },
    Run {
        tid: u8,
        generation: u8,
        /// The round's last: it counts before its slot is DONE.
        counting: bool,
    },
    Return {
        tid: u8,
    },
    LastAnswer {
        tid: u8,
        count: u8,
        done: u8,
        base: u8,
        ends: bool,
    },
    Kill {
        tid: u8,
        held: bool,
    },
    Fork {
        tid: u8,
        cred: u8,
    },
    ChildBroadcast,
}

fn name(t: u8) -> String {
    if t == MAIN {
        "T0(main)".into()
    } else {
        format!("T{t}")
    }
}

fn names(ts: &[u8]) -> String {
    let v: Vec<String> = ts.iter().map(|&t| name(t)).collect();
    format!("{{{}}}", v.join(", "))
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Start {
                caller,
                generation,
                guessed,
            } => write!(
                f,
                "{} starts broadcast {generation}, runs the call itself; known threads {}",
                name(*caller),
                names(guessed)
            ),
            Step::ListBegin => write!(f, "broadcaster begins listing /proc/self/task"),
            Step::Pick { tid } => write!(f, "the listing's cursor moves to {}", name(*tid)),
            Step::Entry {
                tid,
                returned: true,
            } => {
                write!(f, "the listing returns {}", name(*tid))
            }
            Step::Entry {
                tid,
                returned: false,
            } => write!(
                f,
                "{} was released: no entry, and the getdents64 call ends there",
                name(*tid)
            ),
            Step::ListAgain => write!(
                f,
                "a second getdents64 call returns more: psx lists again from the start"
            ),
            Step::Recheck {
                count,
                done,
                zombie,
            } => write!(
                f,
                "broadcaster checks DONE threads: count {count} vs 1 + {done} still there + {zombie}{}",
                if *count == 1 + done + zombie {
                    ": all accounted for"
                } else {
                    ": list"
                }
            ),
            Step::MarkSent { first, len } => {
                write!(f, "broadcaster marks slots {first}..{len} SENT")
            }
            Step::Send { slot, tid, esrch } => write!(
                f,
                "broadcaster queues the signal for slot {slot} to {}{}",
                name(*tid),
                if *esrch { ": ESRCH, slot GONE" } else { "" }
            ),
            Step::RoundOver => write!(f, "broadcaster: every slot of the round DONE or GONE"),
            Step::Count {
                count,
                done,
                zombie,
            } => write!(
                f,
                "broadcaster reads the thread count: {count}; caller + DONE + zombie main = 1 + {done} + {zombie}{}",
                if *count == 1 + done + zombie {
                    ": all accounted for"
                } else {
                    ": list"
                }
            ),
            Step::NoCount => write!(f, "broadcaster: the call may kill threads, no count; list"),
            Step::List { found, ends } => write!(
                f,
                "broadcaster lists /proc/self/task: new {}{}",
                names(found),
                if *ends { ": all accounted for" } else { "" }
            ),
            Step::Release { generation } => {
                write!(f, "broadcaster releases broadcast {generation} and returns")
            }
            Step::Reap { slot, tid, running } => write!(
                f,
                "broadcaster finds {} dead, slot {slot} {} -> GONE",
                name(*tid),
                if *running { "RUNNING" } else { "SENT" }
            ),
            Step::Create {
                creator,
                thread,
                cred,
            } => write!(
                f,
                "{} creates {} (state of call {cred})",
                name(*creator),
                name(*thread)
            ),
            Step::Exit { tid, held } => write!(
                f,
                "{} ends{}",
                name(*tid),
                if *held {
                    " while held (cancelled in the hold)"
                } else {
                    ""
                }
            ),
            Step::Handle { tid, claimed } => write!(
                f,
                "{} takes the signal{}",
                name(*tid),
                if *claimed {
                    ", claims its slot (RUNNING)"
                } else {
                    ", not its slot: returns"
                }
            ),
            Step::Run {
                tid,
                generation,
                counting: false,
            } => write!(f, "{} runs call {generation}, slot DONE", name(*tid)),
            Step::Run {
                tid,
                generation,
                counting: true,
            } => write!(
                f,
                "{} runs call {generation}, the round's last (slot still RUNNING)",
                name(*tid)
            ),
            Step::Return { tid } => write!(f, "{} leaves the handler", name(*tid)),
            Step::SeesReleased => write!(f, "broadcaster: already released by the last answer"),
            Step::LastAnswer {
                tid,
                count,
                done,
                base,
                ends,
            } => write!(
                f,
                "{} answers last: count {count}, END_BASE {base} + DONE {done} + itself{}",
                name(*tid),
                if *ends {
                    ": releases the broadcast"
                } else {
                    ": leaves it to the broadcaster"
                }
            ),
            Step::Kill { tid, held } => write!(
                f,
                "{} killed by seccomp while {}",
                name(*tid),
                if *held { "held (DONE)" } else { "RUNNING" }
            ),
            Step::Fork { tid, cred } => {
                write!(f, "{} forks (child state of call {cred})", name(*tid))
            }
            Step::ChildBroadcast => write!(f, "the child's broadcast runs and returns"),
        }
    }
}

/// What a step broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A broadcast returned while a live thread lacked its call.
    FalseSuccess,
    /// A thread ran a call whose state it already had.
    RunTwice,
    /// A second signal was queued to a thread that had one pending (the
    /// model keeps one; the engine never does this).
    DoubleSignal,
    /// No step possible, yet not final.
    Deadlock,
}

/// A shortest path to a violation.
#[derive(Clone, Debug)]
pub struct Counterexample {
    pub kind: Kind,
    pub what: String,
    pub steps: Vec<Step>,
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:?} after {} steps: {}",
            self.kind,
            self.steps.len(),
            self.what
        )?;
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "  {:2}. {s}", i + 1)?;
        }
        Ok(())
    }
}

/// One successor: the step, the state it leads to, and what it broke.
type Succ = (Step, State, Option<(Kind, String)>);

/// Every step possible in `s`.
fn successors(cfg: &Config, s: &State, out: &mut Vec<Succ>) {
    let b = &cfg.bounds;
    broadcaster_steps(cfg, s, out);

    for t in 0..CAP as u8 {
        let th = s.threads[usize::from(t)];
        if th.status != Status::Alive {
            continue;
        }
        let free = !s.busy_caller(t) && th.hand == Hand::Out;

        // pthread_create -> clone(): the new thread joins the task list and
        // the count in the same step, with its creator's credentials. glibc
        // blocks all signals around clone(), so no handler runs in between.
        if free
            && s.created < b.creations
            && !(cfg.creation_gate && s.pc != Pc::Idle)
            && let Some(n) =
                (0..b.threads).find(|&n| s.threads[usize::from(n)].status == Status::Absent)
        {
            let mut ns = *s;
            ns.threads[usize::from(n)] = Thread {
                status: Status::Alive,
                cred: th.cred,
                hand: Hand::Out,
                pending: None,
            };
            ns.created += 1;
            if matches!(s.pc, Pc::Listing { .. }) && cfg.listing == Listing::Throughout {
                ns.seen_maybe |= 1 << n;
            }
            out.push((
                Step::Create {
                    creator: t,
                    thread: n,
                    cred: th.cred,
                },
                ns,
                None,
            ));
        }

        // pthread_exit() or a cancellation, outside psx's handler (inside
        // it every signal is blocked: signal::HANDLER_MASK). The old engine
        // let a cancellation act in the hold.
        let held = matches!(th.hand, Hand::Held(_));
        if s.exited < b.exits
            && !s.busy_caller(t)
            && (th.hand == Hand::Out || (held && cfg.old_end_condition))
        {
            let mut ns = *s;
            ns.end_thread(t);
            ns.exited += 1;
            out.push((Step::Exit { tid: t, held }, ns, None));
        }

        // fork(): the child has one thread, a copy of this one, and none
        // of the parent's pending signals; it is not in the parent's task
        // list or count. fork::in_child resets psx there.
        if free && s.forked < b.forks && s.child == Child::None {
            let mut ns = *s;
            ns.forked += 1;
            ns.child = Child::Forked {
                lock_held: !cfg.fork_reset && s.pc != Pc::Idle,
            };
            out.push((
                Step::Fork {
                    tid: t,
                    cred: th.cred,
                },
                ns,
                None,
            ));
        }

        // signal::handler -> broadcast::on_signal: the generation check,
        // slots::lookup, then broadcast::claim (SENT -> RUNNING if the slot
        // is SENT for this tid). A thread takes a pending signal whenever
        // it runs application code.
        if let (Hand::Out, Some((generation, slot))) = (th.hand, th.pending) {
            let mut ns = *s;
            ns.threads[usize::from(t)].pending = None;
            let i = usize::from(slot);
            let claimed = generation == s.generation
                && slot < s.len
                && s.slots[i].state == SlotState::Sent
                && s.slots[i].tid == t;
            if claimed {
                ns.slots[i].state = SlotState::Running;
                ns.threads[usize::from(t)].hand = Hand::Running(slot);
            }
            out.push((Step::Handle { tid: t, claimed }, ns, None));
        }

        match th.hand {
            // broadcast::run_claimed: the call, the result, DONE and the
            // PENDING decrement (no system call in between, so no seccomp
            // kill either); then broadcast::hold_until_released.
            Hand::Running(slot) => {
                let mut ns = *s;
                let g = s.generation;
                let bad = (th.cred >= g).then(|| {
                    (
                        Kind::RunTwice,
                        format!("{} runs call {g} but already has its state", name(t)),
                    )
                });
                // handler::answer::last_and_complete: PENDING is 1, our
                // slot being the only one of the round SENT or RUNNING.
                let last = s
                    .table()
                    .iter()
                    .filter(|x| matches!(x.state, SlotState::Sent | SlotState::Running))
                    .count()
                    == 1;
                let counting = cfg.last_answer_ends && last && !cfg.no_hold;
                if !counting || cfg.count_when_done {
                    ns.slots[usize::from(slot)].state = SlotState::Done;
                }
                let nt = &mut ns.threads[usize::from(t)];
                nt.cred = g;
                nt.hand = if cfg.no_hold {
                    Hand::Out
                } else if counting {
                    Hand::Counting(slot)
                } else {
                    Hand::Held(g)
                };
                out.push((
                    Step::Run {
                        tid: t,
                        generation: g,
                        counting,
                    },
                    ns,
                    bad,
                ));
            }
            // handler::answer::last_and_complete reads END_BASE, DONE and
            // the count (one atomic step: DONE is read first in the engine,
            // and a smaller DONE only removes equalities); then run_claimed
            // marks the slot DONE and, if the count was END_BASE + DONE + 1
            // (this thread), protocol::release moves RELEASED from g - 1 to
            // g. Between the count and the release no thread can start
            // (every live one is the caller or held); the broadcaster may
            // end the broadcast itself meanwhile, and then the
            // compare-and-swap from g - 1 fails (a review checked the
            // release as a step of its own: no violation).
            Hand::Counting(slot) => {
                let mut ns = *s;
                let g = s.generation;
                ns.threads[usize::from(t)].hand = Hand::Held(g);
                ns.slots[usize::from(slot)].state = SlotState::Done;
                let (count, done) = (s.thread_count(), s.done_slots());
                let base = s.end_base;
                let me = u8::from(!cfg.count_when_done);
                let matches = count == base + done + me || cfg.last_answer_unchecked;
                let ends = base != 0 && matches && s.released + 1 == g;
                let mut bad = None;
                if ends {
                    ns.released = g;
                    bad = missed_by(&ns, g);
                }
                out.push((
                    Step::LastAnswer {
                        tid: t,
                        count,
                        done,
                        base,
                        ends,
                    },
                    ns,
                    bad,
                ));
            }
            // broadcast::hold_until_released returns once RELEASED reaches
            // the generation.
            Hand::Held(g) if s.released >= g => {
                let mut ns = *s;
                ns.threads[usize::from(t)].hand = Hand::Out;
                out.push((Step::Return { tid: t }, ns, None));
            }
            _ => {}
        }

        // SECCOMP_RET_KILL_THREAD inside the handler: at the call itself
        // (an earlier filter of the thread's), or, when the call installs a
        // filter, at the handler's next system call (the PENDING wake or
        // the hold's futex wait).
        if s.killed < b.kills {
            // A filter of its own may also kill the last answer at its
            // count (newfstatat).
            let killable = match th.hand {
                Hand::Running(_) | Hand::Counting(_) => Some(false),
                Hand::Held(g) if cfg.filter_call && s.released < g => Some(true),
                _ => None,
            };
            if let Some(held) = killable {
                let mut ns = *s;
                ns.end_thread(t);
                ns.killed += 1;
                out.push((Step::Kill { tid: t, held }, ns, None));
            }
        }
    }

    // The child's own broadcast: BROADCAST.lock(), then, alone in its
    // process, it lists itself only and releases. It blocks for ever on a
    // lock copied while held.
    if s.child == (Child::Forked { lock_held: false }) {
        let mut ns = *s;
        ns.child = Child::Done;
        out.push((Step::ChildBroadcast, ns, None));
    }
}

fn broadcaster_steps(cfg: &Config, s: &State, out: &mut Vec<Succ>) {
    match s.pc {
        Pc::Idle => {
            if s.generation >= cfg.bounds.broadcasts {
                return;
            }
            // broadcast::all_threads: BROADCAST.lock(), the caller's own
            // call, GENERATION += 1; run_on_others: Table::restart_from_known.
            for c in 0..CAP as u8 {
                let th = s.threads[usize::from(c)];
                if th.status != Status::Alive || th.hand != Hand::Out {
                    continue;
                }
                let mut ns = *s;
                let g = s.generation + 1;
                ns.generation = g;
                ns.caller = c;
                ns.threads[usize::from(c)].cred = g;
                ns.first = 0;
                let skip = if s.zombie_main { Some(MAIN) } else { None };
                // Table::restart_from_known: the DONE slots of the previous
                // broadcast and its caller, but not me and not the zombie.
                let old: Vec<Slot> = s.table().to_vec();
                ns.len = 0;
                if s.known {
                    for slot in old {
                        if slot.state == SlotState::Done && slot.tid != c && Some(slot.tid) != skip
                        {
                            ns.push(slot.tid);
                        }
                    }
                    if s.known_caller != c && Some(s.known_caller) != skip {
                        ns.push(s.known_caller);
                    }
                }
                // Slots past the end mean nothing: clear them, so that
                // equal tables make equal states.
                for slot in &mut ns.slots[usize::from(ns.len)..] {
                    *slot = Slot {
                        tid: 0,
                        state: SlotState::Unsent,
                    };
                }
                // broadcast::let_last_answer_end (the engine publishes it
                // after the first listing; no slot is SENT before that).
                let zombie = u8::from(c != MAIN && s.zombie_main || cfg.end_base_phantom_zombie);
                // Never when DONE threads must be checked alive (the engine's
                // `check_alive`: a filter call, or the default mode).
                ns.end_base = if cfg.last_answer_ends && !cfg.filter_call && !cfg.alive_end {
                    1 + zombie
                } else {
                    0
                };
                let guessed: Vec<u8> = ns.table().iter().map(|x| x.tid).collect();
                ns.pc = match (s.known, ns.len) {
                    (false, _) => Pc::List { initial: true },
                    (true, 0) => Pc::EndCheck,
                    (true, _) => Pc::MarkSent,
                };
                out.push((
                    Step::Start {
                        caller: c,
                        generation: g,
                        guessed,
                    },
                    ns,
                    None,
                ));
            }
        }
        Pc::List { initial } => match cfg.listing {
            // threads::Finder::for_each as one snapshot.
            Listing::Atomic => finish_listing(cfg, s, initial, s.listed_mask(), out),
            // threads::Finder::for_each begins (getdents64 calls follow).
            Listing::Throughout | Listing::Readdir => {
                let mut ns = *s;
                ns.seen_sure = s.listed_mask();
                ns.seen_maybe = 0;
                ns.emitted = 0;
                ns.cursor = NONE;
                ns.pos = 0;
                ns.pc = Pc::Listing { initial };
                out.push((Step::ListBegin, ns, None));
            }
        },
        Pc::Listing { initial } if cfg.listing == Listing::Throughout => {
            // The listing ends having seen every thread alive throughout,
            // and any subset of those created or ended meanwhile.
            let maybe = s.seen_maybe;
            let mut sub = maybe;
            loop {
                finish_listing(cfg, s, initial, s.seen_sure | sub, out);
                if sub == 0 {
                    break;
                }
                sub = (sub - 1) & maybe;
            }
        }
        Pc::Listing { .. } if s.picked != NONE => {
            // proc_task_readdir: the entry of the thread next_tid picked,
            // named by task_pid_nr_ns, which is 0 once the thread has been
            // released: then no entry ("the task has just exited"), and
            // next_tid, finding it !pid_alive, ends this getdents64 call.
            let t = s.picked;
            let mut ns = *s;
            ns.picked = NONE;
            ns.cursor = t;
            let returned = s.listed(t);
            if returned {
                ns.emitted |= 1 << t;
            }
            out.push((Step::Entry { tid: t, returned }, ns, None));
        }
        Pc::Listing { initial } => {
            // Listing::Readdir: first_tid (the first thread, at the start)
            // or next_tid (the thread after the cursor while the cursor is
            // pid_alive, as a zombie main thread is); each counts in the
            // directory position.
            let order: Vec<u8> = (0..CAP as u8).filter(|&t| s.listed(t)).collect();
            let next = if s.cursor == NONE {
                order.first().copied()
            } else if s.listed(s.cursor) {
                order.iter().copied().find(|&t| t > s.cursor)
            } else {
                None
            };
            if let Some(t) = next {
                let mut ns = *s;
                ns.picked = t;
                ns.pos += 1;
                out.push((Step::Pick { tid: t }, ns, None));
                return;
            }
            // The getdents64 call ends. threads::Finder::list_in_one_piece
            // makes a second call: first_tid(pos) returns nothing when pos
            // is at least the thread count now (the listing is taken as
            // whole), else it starts from the thread at that position (then
            // psx lists again from the start).
            let count = order.len() as u8;
            if s.pos >= count {
                finish_listing(cfg, s, initial, s.emitted, out);
            } else {
                let mut ns = *s;
                ns.emitted = 0;
                ns.cursor = NONE;
                ns.pos = 0;
                out.push((Step::ListAgain, ns, None));
            }
        }
        Pc::Recheck => {
            // Config::count_end: tgkill(tid, 0) on each DONE slot's thread,
            // after the count. A thread that was gone at the count is gone
            // now, so these are at most the DONE threads the count saw: an
            // equal count leaves no room for a thread psx has not seen.
            let mut ns = *s;
            let done = s
                .table()
                .iter()
                .filter(|x| x.state == SlotState::Done && s.listed(x.tid))
                .count() as u8;
            let zombie = u8::from(s.caller != MAIN && s.zombie_main);
            ns.pc = if s.count == 1 + done + zombie {
                Pc::Release
            } else {
                Pc::List { initial: false }
            };
            ns.count = 0;
            out.push((
                Step::Recheck {
                    count: s.count,
                    done,
                    zombie,
                },
                ns,
                None,
            ));
        }
        Pc::MarkSent if s.released == s.generation && !cfg.broadcaster_ignores_release => {
            // run_on_others: released by the last answer; no new round.
            let mut ns = *s;
            ns.pc = Pc::Release;
            out.push((Step::SeesReleased, ns, None));
        }
        Pc::MarkSent => {
            // broadcast::mark_sent (PENDING += n; slots first.. SENT).
            let mut ns = *s;
            for slot in &mut ns.slots[usize::from(s.first)..usize::from(s.len)] {
                slot.state = SlotState::Sent;
            }
            ns.pc = Pc::Send(s.first);
            out.push((
                Step::MarkSent {
                    first: s.first,
                    len: s.len,
                },
                ns,
                None,
            ));
        }
        Pc::Send(i) => {
            // broadcast::signal_unanswered -> send: rt_tgsigqueueinfo; ESRCH
            // (the thread is gone) -> mark_gone. A zombie main thread still
            // takes the signal (and never handles it).
            let mut ns = *s;
            let slot = s.slots[usize::from(i)];
            let mut esrch = false;
            let mut bad = None;
            if slot.state == SlotState::Sent {
                let th = &mut ns.threads[usize::from(slot.tid)];
                match th.status {
                    Status::Gone | Status::Absent => {
                        esrch = true;
                        ns.slots[usize::from(i)].state = SlotState::Gone;
                    }
                    Status::Zombie => {}
                    Status::Alive => {
                        if th.pending.is_some() {
                            bad = Some((
                                Kind::DoubleSignal,
                                format!("{} already had a signal pending", name(slot.tid)),
                            ));
                        }
                        th.pending = Some((s.generation, i));
                    }
                }
            }
            ns.pc = if i + 1 < s.len {
                Pc::Send(i + 1)
            } else {
                Pc::Wait
            };
            out.push((
                Step::Send {
                    slot: i,
                    tid: slot.tid,
                    esrch,
                },
                ns,
                bad,
            ));
        }
        Pc::Wait => {
            // broadcast::wait_for_round: returns when PENDING is 0, i.e.
            // every slot of the round is DONE or GONE.
            let round = &s.slots[usize::from(s.first)..usize::from(s.len)];
            if round
                .iter()
                .all(|x| matches!(x.state, SlotState::Done | SlotState::Gone))
            {
                let mut ns = *s;
                ns.pc = Pc::EndCheck;
                out.push((Step::RoundOver, ns, None));
            }
            // broadcast::reap_dead: a SENT (and, in the engine, RUNNING)
            // slot whose thread is gone or a zombie becomes GONE
            // (mark_gone); a dead main thread is remembered as ZOMBIE_MAIN.
            // A dead thread cannot move its slot, so checking and marking
            // is one step.
            for i in s.first..s.len {
                let slot = s.slots[usize::from(i)];
                let reapable = slot.state == SlotState::Sent
                    || (slot.state == SlotState::Running && cfg.reap_running);
                let dead = matches!(
                    s.threads[usize::from(slot.tid)].status,
                    Status::Zombie | Status::Gone
                );
                if reapable && dead {
                    let mut ns = *s;
                    ns.slots[usize::from(i)].state = SlotState::Gone;
                    if slot.tid == MAIN {
                        ns.zombie_main = true;
                        ns.end_base = 0;
                    }
                    out.push((
                        Step::Reap {
                            slot: i,
                            tid: slot.tid,
                            running: slot.state == SlotState::Running,
                        },
                        ns,
                        None,
                    ));
                }
            }
        }
        Pc::EndCheck if s.released == s.generation && !cfg.broadcaster_ignores_release => {
            let mut ns = *s;
            ns.pc = Pc::Release;
            out.push((Step::SeesReleased, ns, None));
        }
        Pc::EndCheck => {
            let mut ns = *s;
            if cfg.count_allowed() {
                // broadcast::all_accounted_for: threads::count (one atomic
                // read of the kernel's count) == 1 + DONE + zombie main.
                let (count, done) = (s.thread_count(), s.done_slots());
                let zombie = u8::from(s.caller != MAIN && s.zombie_main);
                ns.pc = if cfg.count_end && (cfg.filter_call || cfg.alive_end) {
                    ns.count = count;
                    Pc::Recheck
                } else if count == 1 + done + zombie {
                    Pc::Release
                } else {
                    Pc::List { initial: false }
                };
                out.push((
                    Step::Count {
                        count,
                        done,
                        zombie,
                    },
                    ns,
                    None,
                ));
            } else {
                ns.pc = Pc::List { initial: false };
                out.push((Step::NoCount, ns, None));
            }
        }
        Pc::Release => {
            // Table::remember, RELEASED = generation, futex_wake: the
            // broadcast returns success. Every live thread must have the
            // call's state now.
            let mut ns = *s;
            let g = s.generation;
            ns.released = g;
            ns.known = true;
            ns.known_caller = s.caller;
            ns.pc = Pc::Idle;
            ns.end_base = 0;
            // Released already by the last answer: checked then, and
            // threads made since have the new state; check again anyway.
            let bad = missed_by(s, g);
            out.push((Step::Release { generation: g }, ns, bad));
        }
    }
}

/// A false success: broadcast `g` ends (returns, or releases its held
/// threads) while a live thread lacks its state.
fn missed_by(s: &State, g: u8) -> Option<(Kind, String)> {
    let missed: Vec<u8> = (0..CAP as u8)
        .filter(|&t| {
            let th = s.threads[usize::from(t)];
            th.status == Status::Alive && th.cred < g
        })
        .collect();
    (!missed.is_empty()).then(|| {
        (
            Kind::FalseSuccess,
            format!(
                "broadcast {g} ended but {} never had the call",
                names(&missed)
            ),
        )
    })
}

/// `broadcast::add_new_threads` (+ `Table::dedup_from`) with the threads
/// a listing saw: anything new starts a round with it; nothing new ends the
/// broadcast, or, for the first listing, goes on to the count as
/// `run_on_others` does.
fn finish_listing(cfg: &Config, s: &State, initial: bool, seen: u8, out: &mut Vec<Succ>) {
    let mut ns = *s;
    ns.seen_sure = 0;
    ns.seen_maybe = 0;
    ns.emitted = 0;
    ns.cursor = NONE;
    ns.pos = 0;
    if !initial {
        ns.first = s.len;
    }
    let found = ns.add_new_threads(seen);
    ns.pc = match (found.is_empty(), initial) {
        (false, _) => Pc::MarkSent,
        (true, true) => Pc::EndCheck,
        // Config::count_end: only a count ends a broadcast.
        (true, false) if cfg.count_end => Pc::EndCheck,
        (true, false) => Pc::Release,
    };
    let ends = ns.pc == Pc::Release;
    out.push((Step::List { found, ends }, ns, None));
}

/// What a search found.
#[derive(Debug)]
pub struct Outcome {
    pub config: Config,
    pub states: usize,
    pub transitions: usize,
    pub final_states: usize,
    /// Longest shortest path from the initial state.
    pub depth: usize,
    /// The first (shortest) counterexample of each kind found.
    pub violations: Vec<Counterexample>,
    /// The state graph has a cycle.
    pub cycle: bool,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn find(&self, kind: Kind) -> Option<&Counterexample> {
        self.violations.iter().find(|c| c.kind == kind)
    }

    pub fn clean(&self) -> bool {
        self.violations.is_empty() && !self.cycle
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} states, {} transitions, {} final, depth {}, cycle: {}, {:.2?}",
            self.states,
            self.transitions,
            self.final_states,
            self.depth,
            if self.cycle { "yes" } else { "none" },
            self.elapsed
        )?;
        if self.violations.is_empty() {
            writeln!(f, "no violation")?;
        }
        for v in &self.violations {
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

/// FxHash: a fast hasher for the visited set (no dependencies).
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Explores every state reachable under `cfg`, breadth-first.
pub fn check(cfg: &Config) -> Outcome {
    let started = Instant::now();
    let mut index: HashMap<State, u32, BuildHasherDefault<Fx>> = HashMap::default();
    let mut states: Vec<State> = Vec::new();
    // For traces: the parent and the step that reached each state first.
    let mut parent: Vec<(u32, Option<Step>)> = Vec::new();
    let mut depth_of: Vec<u32> = Vec::new();
    // The graph, for the cycle check: edges of state i are
    // succ[offsets[i]..offsets[i + 1]].
    let mut offsets: Vec<u32> = vec![0];
    let mut succ: Vec<u32> = Vec::new();
    let mut violations: Vec<Counterexample> = Vec::new();
    let mut final_states = 0;

    let init = State::initial(&cfg.bounds);
    index.insert(init, 0);
    states.push(init);
    parent.push((0, None));
    depth_of.push(0);

    let trace = |parent: &[(u32, Option<Step>)], mut i: u32, last: Option<Step>| {
        let mut steps: Vec<Step> = last.into_iter().collect();
        while let (p, Some(step)) = &parent[i as usize] {
            steps.push(step.clone());
            i = *p;
        }
        steps.reverse();
        steps
    };

    let mut next = Vec::new();
    let mut i = 0;
    while i < states.len() {
        let s = states[i];
        next.clear();
        successors(cfg, &s, &mut next);
        if next.is_empty() {
            if s.final_state() {
                final_states += 1;
            } else if !violations.iter().any(|v| v.kind == Kind::Deadlock) {
                violations.push(Counterexample {
                    kind: Kind::Deadlock,
                    what: format!("no step is possible: {}", s.stuck()),
                    steps: trace(&parent, i as u32, None),
                });
            }
        }
        for (step, ns, bad) in next.drain(..) {
            if let Some((kind, what)) = bad
                && !violations.iter().any(|v| v.kind == kind)
            {
                violations.push(Counterexample {
                    kind,
                    what,
                    steps: trace(&parent, i as u32, Some(step.clone())),
                });
            }
            let j = *index.entry(ns).or_insert_with(|| {
                states.push(ns);
                parent.push((i as u32, Some(step)));
                depth_of.push(depth_of[i] + 1);
                (states.len() - 1) as u32
            });
            succ.push(j);
        }
        offsets.push(succ.len() as u32);
        i += 1;
    }

    // Kahn: peel states with no predecessor left; a cycle never peels.
    let n = states.len();
    let mut indegree = vec![0u32; n];
    for &j in &succ {
        indegree[j as usize] += 1;
    }
    let mut ready: Vec<usize> = (0..n).filter(|&k| indegree[k] == 0).collect();
    let mut peeled = 0;
    while let Some(k) = ready.pop() {
        peeled += 1;
        for &j in &succ[offsets[k] as usize..offsets[k + 1] as usize] {
            indegree[j as usize] -= 1;
            if indegree[j as usize] == 0 {
                ready.push(j as usize);
            }
        }
    }

    violations.sort_by_key(|v| v.kind);
    Outcome {
        config: *cfg,
        states: n,
        transitions: succ.len(),
        final_states,
        depth: depth_of.iter().copied().max().unwrap_or(0) as usize,
        violations,
        cycle: peeled < n,
        elapsed: started.elapsed(),
    }
}
