// SPDX-License-Identifier: BSD-3-Clause
//! Shared by the integration tests: a crowd of threads made and blocked in
//! different ways, and checks of every entry of `/proc/self/task`.
//!
//! The checks read the kernel's view (`/proc/self/task/*/status`), never the
//! library's opinion. Every entry is checked, including threads the test
//! does not control (libtest's main thread, the watchdog). Values that
//! `/proc` does not show (keepcaps, securebits) are asked of each crowd
//! thread, which answers with a `prctl` run on itself.
//!
//! No `--wrap=pthread_create` anywhere: the threads are unknown to psx until
//! it finds them in `/proc`.
#![allow(dead_code)] // each test binary uses a different part of this file

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long one test may take before the watchdog ends it.
const WATCHDOG: Duration = Duration::from_secs(60);
/// How long the crowd has to answer one question.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Small system helpers
// ---------------------------------------------------------------------------

/// The calling thread's kernel thread id.
pub fn gettid() -> i32 {
    // SAFETY: no arguments, no memory.
    unsafe { libc::gettid() }
}

/// A raw `prctl` on the calling thread only, with all five arguments given
/// as full-width values.
pub fn raw_prctl(option: libc::c_int, arg2: libc::c_ulong) -> i64 {
    let zero: libc::c_ulong = 0;
    // SAFETY: prctl with integer arguments reads or sets per-thread flags.
    unsafe {
        libc::syscall(
            libc::SYS_prctl,
            option as libc::c_ulong,
            arg2,
            zero,
            zero,
            zero,
        )
    }
}

/// `capset` on the calling thread only (not through psx).
pub fn raw_capset_this_thread(effective: u64, permitted: u64, inheritable: u64) -> i64 {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let data = [
        Data {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        Data {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: both pointers are valid for the duration of the call.
    unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) }
}

/// Fails the test (never skips it) when not running as root.
pub fn require_root(test: &str) {
    // SAFETY: no arguments.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "\n{test}: this test changes capabilities or user/group IDs and needs root \
         (effective uid is {euid}). It is not skipped: run `cargo test` as root \
         (CI does).\n"
    );
}

/// A capability set as `/proc` prints it.
pub fn hex(bits: u64) -> String {
    format!("{bits:016x}")
}

/// The bit of capability `cap` in a set.
pub fn cap(cap: u32) -> u64 {
    1 << cap
}

// Capability numbers of capabilities(7) used by the tests.
pub const CAP_CHOWN: u32 = 0;
pub const CAP_SETGID: u32 = 6;
pub const CAP_SETUID: u32 = 7;
pub const CAP_SETPCAP: u32 = 8;
pub const CAP_NET_BIND_SERVICE: u32 = 10;
pub const CAP_NET_RAW: u32 = 13;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_BOOT: u32 = 22;
pub const CAP_SYSLOG: u32 = 34; // in the upper 32-bit half

// ---------------------------------------------------------------------------
// /proc/self/task
// ---------------------------------------------------------------------------

/// One entry of `/proc/self/task`: its tid and the fields of its `status`.
#[derive(Debug, Clone)]
pub struct Task {
    pub tid: i32,
    pub fields: BTreeMap<String, String>,
}

impl Task {
    /// A status field, trimmed (`"NoNewPrivs"` -> `"1"`); panics when the
    /// kernel does not show it.
    pub fn get(&self, field: &str) -> &str {
        self.fields
            .get(field)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("/proc/self/task/{}/status has no {field}:", self.tid))
    }
}

/// Every thread of the process, as `/proc/self/task` shows it now. A thread
/// that ends between the listing and the read is left out.
pub fn tasks() -> Vec<Task> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task is readable") {
        let entry = entry.expect("/proc/self/task entry");
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue; // ended meanwhile
        };
        let fields = status
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
            .collect();
        out.push(Task { tid, fields });
    }
    out.sort_by_key(|t| t.tid);
    out
}

/// A status field of the calling thread.
pub fn own(field: &str) -> String {
    let me = gettid();
    let status = std::fs::read_to_string(format!("/proc/self/task/{me}/status"))
        .expect("own status is readable");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field}: in own status"))
        .trim()
        .to_owned()
}

// ---------------------------------------------------------------------------
// The crowd
// ---------------------------------------------------------------------------

/// A question asked of every crowd thread: runs on that thread.
pub type Probe = fn() -> i64;

enum Msg {
    Run(Probe),
    Quit,
}

/// How a worker waits for messages.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Wait {
    /// Blocked in a futex (`Receiver::recv`).
    Futex,
    /// Sleeping in `nanosleep`, polling now and then.
    Sleep,
    /// Blocked in `read()` on a pipe; a byte is written for each message.
    Pipe,
    /// Spinning on the CPU.
    Busy,
}

struct Worker {
    how: String,
    tid: i32,
    tx: Sender<Msg>,
    /// Write end of the pipe a `Wait::Pipe` worker reads.
    pipe_write: Option<libc::c_int>,
}

/// `read()` calls interrupted by a signal (psx installs its handler with
/// SA_RESTART, so there must be none).
static EINTR_SEEN: AtomicUsize = AtomicUsize::new(0);

/// A set of threads made in different ways and waiting in different ways,
/// which can be asked to run a [`Probe`] on themselves.
pub struct Crowd {
    workers: Vec<Worker>,
    replies: Receiver<(i32, i64)>,
    reply_tx: Sender<(i32, i64)>,
    joins: Vec<JoinHandle<()>>,
    pthreads: Vec<libc::pthread_t>,
    watchdog: Option<(Sender<()>, JoinHandle<()>)>,
    watchdog_tid: i32,
}

/// The body of every worker: report the tid, then serve messages.
fn serve(wait: Wait, rx: Receiver<Msg>, replies: Sender<(i32, i64)>, pipe_read: libc::c_int) {
    let tid = gettid();
    replies.send((tid, 0)).expect("crowd is listening");
    loop {
        let msg = match wait {
            Wait::Futex => rx.recv().ok(),
            Wait::Sleep | Wait::Busy => loop {
                match rx.try_recv() {
                    Ok(msg) => break Some(msg),
                    Err(TryRecvError::Disconnected) => break None,
                    Err(TryRecvError::Empty) if wait == Wait::Sleep => {
                        thread::sleep(Duration::from_millis(2))
                    }
                    Err(TryRecvError::Empty) => std::hint::spin_loop(),
                }
            },
            Wait::Pipe => {
                let mut byte = 0u8;
                loop {
                    // SAFETY: one byte into a local.
                    let n = unsafe { libc::read(pipe_read, (&raw mut byte).cast::<c_void>(), 1) };
                    if n == 1 || n == 0 {
                        break;
                    }
                    if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                        EINTR_SEEN.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    panic!("pipe read failed: {}", std::io::Error::last_os_error());
                }
                rx.recv().ok()
            }
        };
        match msg {
            Some(Msg::Run(probe)) => replies.send((tid, probe())).expect("crowd is listening"),
            Some(Msg::Quit) | None => break,
        }
    }
    if wait == Wait::Pipe {
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(pipe_read) };
    }
}

/// Start routine of the threads made with `libc::pthread_create`.
extern "C" fn pthread_start(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `arg` is the Box made by `Crowd::spawn_pthread`, handed over once.
    let body = unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() + Send>>()) };
    body();
    std::ptr::null_mut()
}

impl Crowd {
    /// Starts the standard crowd: one thread of each kind, plus `extra`
    /// plain `std::thread`s blocked in a futex. Also starts the watchdog.
    pub fn start(extra: usize) -> Crowd {
        let (reply_tx, replies) = mpsc::channel();
        let mut crowd = Crowd {
            workers: Vec::new(),
            replies,
            reply_tx,
            joins: Vec::new(),
            pthreads: Vec::new(),
            watchdog: None,
            watchdog_tid: 0,
        };
        let (tx, handle, tid) = start_watchdog();
        crowd.watchdog = Some((tx, handle));
        crowd.watchdog_tid = tid;
        crowd.spawn_std("std::thread, futex", Wait::Futex);
        crowd.spawn_std("std::thread, nanosleep", Wait::Sleep);
        crowd.spawn_std("std::thread, read(pipe)", Wait::Pipe);
        crowd.spawn_std("std::thread, spinning", Wait::Busy);
        crowd.spawn_orphan("std::thread, parent gone");
        crowd.spawn_pthread("libc::pthread_create", Wait::Futex);
        crowd.spawn_pthread("libc::pthread_create, pipe", Wait::Pipe);
        for _ in 0..extra {
            crowd.spawn_std("std::thread, futex (extra)", Wait::Futex);
        }
        crowd
    }

    fn channel_for(
        &self,
        wait: Wait,
    ) -> (Sender<Msg>, Receiver<Msg>, Option<libc::c_int>, libc::c_int) {
        let (tx, rx) = mpsc::channel();
        if wait == Wait::Pipe {
            let mut fds = [0; 2];
            // SAFETY: fds has room for two descriptors.
            let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
            assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
            (tx, rx, Some(fds[1]), fds[0])
        } else {
            (tx, rx, None, -1)
        }
    }

    /// Waits for the tid a new worker reports first.
    fn register(&mut self, how: &str, tx: Sender<Msg>, pipe_write: Option<libc::c_int>) {
        let (tid, _) = self
            .replies
            .recv_timeout(ANSWER_TIMEOUT)
            .unwrap_or_else(|e| panic!("thread '{how}' did not start: {e}"));
        self.workers.push(Worker {
            how: how.to_owned(),
            tid,
            tx,
            pipe_write,
        });
    }

    fn spawn_std(&mut self, how: &str, wait: Wait) {
        let (tx, rx, pipe_write, pipe_read) = self.channel_for(wait);
        let replies = self.reply_tx.clone();
        let handle = thread::Builder::new()
            .name(format!("crowd-{}", self.workers.len()))
            .spawn(move || serve(wait, rx, replies, pipe_read))
            .expect("spawn a thread");
        self.joins.push(handle);
        self.register(how, tx, pipe_write);
    }

    /// A thread whose creator has already ended when psx runs.
    fn spawn_orphan(&mut self, how: &str) {
        let (tx, rx, _, _) = self.channel_for(Wait::Futex);
        let replies = self.reply_tx.clone();
        let parent = thread::spawn(move || {
            thread::spawn(move || serve(Wait::Futex, rx, replies, -1));
        });
        parent.join().expect("the parent thread ended");
        self.register(how, tx, None);
    }

    fn spawn_pthread(&mut self, how: &str, wait: Wait) {
        let (tx, rx, pipe_write, pipe_read) = self.channel_for(wait);
        let replies = self.reply_tx.clone();
        let body: Box<dyn FnOnce() + Send> = Box::new(move || serve(wait, rx, replies, pipe_read));
        let arg = Box::into_raw(Box::new(body));
        let mut thread: libc::pthread_t = 0;
        // SAFETY: default attributes; the start routine takes ownership of arg.
        let rc = unsafe {
            libc::pthread_create(&mut thread, std::ptr::null(), pthread_start, arg.cast())
        };
        assert_eq!(rc, 0, "pthread_create failed: {rc}");
        self.pthreads.push(thread);
        self.register(how, tx, pipe_write);
    }

    /// The tids of the crowd, with how each thread was made.
    pub fn members(&self) -> Vec<(i32, String)> {
        self.workers
            .iter()
            .map(|w| (w.tid, w.how.clone()))
            .collect()
    }

    /// How the thread `tid` was made, for reports.
    pub fn describe(&self, tid: i32) -> String {
        if tid == gettid() {
            return "the caller (test thread)".to_owned();
        }
        // SAFETY: no arguments.
        if tid == unsafe { libc::getpid() } {
            return "main thread (libtest)".to_owned();
        }
        if tid == self.watchdog_tid {
            return "std::thread, test watchdog".to_owned();
        }
        self.workers
            .iter()
            .find(|w| w.tid == tid)
            .map_or_else(|| "other (libtest)".to_owned(), |w| w.how.clone())
    }

    fn send(&self, worker: &Worker, msg: Msg) {
        // A worker that has quit is reported by `ask` as not answering.
        let _ = worker.tx.send(msg);
        if let Some(fd) = worker.pipe_write {
            // SAFETY: one byte from a local, to our own pipe.
            unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
        }
    }

    /// Runs `probe` on every crowd thread and on the calling thread; returns
    /// (tid, how, value) for each.
    pub fn ask(&self, probe: Probe) -> Vec<(i32, String, i64)> {
        for worker in &self.workers {
            self.send(worker, Msg::Run(probe));
        }
        let mut answers = vec![(gettid(), self.describe(gettid()), probe())];
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        while answers.len() < self.workers.len() + 1 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left) {
                Ok((tid, value)) => answers.push((tid, self.describe(tid), value)),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    let answered: Vec<i32> = answers.iter().map(|a| a.0).collect();
                    let missing: Vec<_> = self
                        .members()
                        .into_iter()
                        .filter(|(tid, _)| !answered.contains(tid))
                        .collect();
                    panic!("crowd threads did not answer within {ANSWER_TIMEOUT:?}: {missing:?}");
                }
            }
        }
        answers
    }

    /// Asserts that `probe` gives `expected` on every crowd thread and on
    /// the caller; prints every answer when it does not.
    pub fn expect_answers(&self, step: &str, what: &str, probe: Probe, expected: i64) {
        let answers = self.ask(probe);
        if answers.iter().all(|a| a.2 == expected) {
            return;
        }
        let mut table = format!("\n{step}: {what} should be {expected} on every thread\n");
        for (tid, how, value) in &answers {
            let mark = if *value == expected { " " } else { "!" };
            let _ = writeln!(table, "{mark} {tid:>8}  {how:<32} {what} = {value}");
        }
        panic!("{table}");
    }

    /// Asserts that the status field `field` satisfies `ok` in every entry
    /// of `/proc/self/task`, and that every crowd thread is among them.
    pub fn expect_everywhere(&self, step: &str, field: &str, expected: &str) {
        self.expect_everywhere_by(step, field, expected, |v| v == expected);
    }

    /// Like [`Crowd::expect_everywhere`] with a predicate; `expected` only
    /// describes it in the report.
    pub fn expect_everywhere_by(
        &self,
        step: &str,
        field: &str,
        expected: &str,
        ok: impl Fn(&str) -> bool,
    ) {
        let tasks = tasks();
        let missing: Vec<_> = self
            .workers
            .iter()
            .filter(|w| !tasks.iter().any(|t| t.tid == w.tid))
            .map(|w| (w.tid, w.how.clone()))
            .collect();
        let bad = tasks.iter().filter(|t| !ok(t.get(field))).count();
        if missing.is_empty() && bad == 0 && tasks.len() > self.workers.len() {
            return;
        }
        panic!(
            "\n{step}: {field} should be {expected:?} on every thread\n{}\
             crowd threads missing from /proc/self/task: {missing:?}\n",
            self.table(&tasks, &[field], |t| ok(t.get(field)))
        );
    }

    /// The per-thread table printed when a check fails.
    pub fn table(&self, tasks: &[Task], fields: &[&str], ok: impl Fn(&Task) -> bool) -> String {
        let mut out = String::new();
        let _ = write!(out, "  {:>8}  {:<32}", "tid", "made by");
        for field in fields {
            let _ = write!(out, " {field}");
        }
        out.push('\n');
        for task in tasks {
            let mark = if ok(task) { " " } else { "!" };
            let _ = write!(
                out,
                "{mark} {:>8}  {:<32}",
                task.tid,
                self.describe(task.tid)
            );
            for field in fields {
                let _ = write!(out, " {:?}", task.get(field));
            }
            out.push('\n');
        }
        out
    }

    /// Ends every crowd thread, then checks that no blocking `read()` was
    /// interrupted (psx must install its handler with SA_RESTART).
    pub fn stop(mut self) {
        for worker in &self.workers {
            self.send(worker, Msg::Quit);
        }
        for handle in self.joins.drain(..) {
            handle.join().expect("a crowd thread panicked");
        }
        for thread in self.pthreads.drain(..) {
            // SAFETY: a joinable thread we created, joined once.
            let rc = unsafe { libc::pthread_join(thread, std::ptr::null_mut()) };
            assert_eq!(rc, 0, "pthread_join failed: {rc}");
        }
        // The orphan is detached; it has been told to quit.
        for worker in &self.workers {
            if let Some(fd) = worker.pipe_write {
                // SAFETY: our own descriptor, closed once.
                unsafe { libc::close(fd) };
            }
        }
        if let Some((tx, handle)) = self.watchdog.take() {
            drop(tx);
            handle.join().expect("watchdog");
        }
        let eintr = EINTR_SEEN.load(Ordering::Relaxed);
        assert_eq!(
            eintr, 0,
            "a blocking read() failed with EINTR {eintr} times"
        );
    }
}

/// A thread that ends the process, after printing every thread's state, if
/// the test has not finished within [`WATCHDOG`] (a hang must fail, not
/// stall CI).
fn start_watchdog() -> (Sender<()>, JoinHandle<()>, i32) {
    let (tx, rx) = mpsc::channel::<()>();
    let (tid_tx, tid_rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        tid_tx
            .send(gettid())
            .expect("the crowd waits for the watchdog's tid");
        if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(WATCHDOG) {
            let msg = b"\nwatchdog: the test did not finish in time; threads:\n";
            // SAFETY: writing a static buffer to stderr. A raw write: another
            // thread may hold the stderr lock while stuck.
            unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
            // If reading /proc hangs too (a stuck thread holding a lock),
            // SIGALRM ends the process anyway.
            // SAFETY: plain system call.
            unsafe { libc::alarm(5) };
            let mut report = String::new();
            for t in tasks() {
                let _ = writeln!(
                    report,
                    "  {:>8} State {:<12} NoNewPrivs {} CapEff {} Uid {}",
                    t.tid,
                    t.get("State"),
                    t.get("NoNewPrivs"),
                    t.get("CapEff"),
                    t.get("Uid")
                );
            }
            // SAFETY: as above.
            unsafe { libc::write(2, report.as_ptr().cast(), report.len()) };
            std::process::abort();
        }
    });
    let tid = tid_rx.recv().expect("watchdog started");
    (tx, handle, tid)
}

// ---------------------------------------------------------------------------
// Re-running the test binary as a child (irreversible or fatal scenarios)
// ---------------------------------------------------------------------------

/// The environment variable that makes a test act as a child.
pub const CHILD_ENV: &str = "PSX_TEST_CHILD";

/// The child role this process was started with, if any.
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// Runs this test binary again, only the test `test`, with
/// `PSX_TEST_CHILD=role`; kills it after `limit`. Returns its output.
/// (Output goes through files so that a chatty child cannot block on a full
/// pipe while we wait for it.)
pub fn run_child(test: &str, role: &str, limit: Duration) -> Output {
    let exe = std::env::current_exe().expect("current_exe");
    let base = std::env::temp_dir().join(format!("psx-test-{}-{role}", std::process::id()));
    let out_path = base.with_extension("stdout");
    let err_path = base.with_extension("stderr");
    let stdout = std::fs::File::create(&out_path).expect("create child stdout file");
    let stderr = std::fs::File::create(&err_path).expect("create child stderr file");
    let mut child = Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("re-run the test binary");
    let deadline = Instant::now() + limit;
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break (status, false);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break (child.wait().expect("wait for child"), true);
        }
        thread::sleep(Duration::from_millis(10));
    };
    let out = Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    assert!(
        !timed_out,
        "child '{role}' did not finish within {limit:?}\n{}",
        describe_output(&out)
    );
    out
}

/// A child's exit status, its stdout and its stderr, for failure messages.
pub fn describe_output(out: &Output) -> String {
    format!(
        "status: {:?} (signal {:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        out.status.signal(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
