// SPDX-License-Identifier: BSD-3-Clause
//! What psx does, thread by thread.
//!
//! Starts threads in three ways (plain `pthread_create`, a `dlopen()`ed C
//! library that makes its own, Rust's `std::thread`), then changes the
//! security state twice, printing every thread's state from
//! `/proc/self/task/*/status` each time:
//! 1. with plain system calls on the main thread: only its row changes;
//! 2. through psx: every row changes.
//!
//! Without root it sets no_new_privs and keepcaps; as root it also moves
//! every user ID to 65534 (nobody), which empties the capability sets.
//!
//! `sh examples/run-demo.sh` builds the C library and runs this with its
//! path (`make demo` does that); `cargo run --example demo` alone runs
//! without the `dlopen()` threads.
//!
//! Exits with 1 if the tables do not show what they should.

use std::collections::BTreeMap;
use std::ffi::{CString, c_void};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

/// The uid the root demo moves to.
const NOBODY: u32 = 65534;

/// Something that can tell a thread's keepcaps flag (run on that thread).
enum Asker {
    /// The main thread itself.
    Myself,
    /// A Rust-made thread serving requests on a channel.
    Channel(Sender<()>, Receiver<i64>),
    /// Thread `i` of the C library.
    Plugin(extern "C" fn(libc::c_int) -> libc::c_long, libc::c_int),
}

struct Known {
    how: &'static str,
    asker: Asker,
}

/// The thread-side loop of a Rust-made thread: answer keepcaps questions.
fn serve(tid_tx: Sender<i32>, ask: Receiver<()>, answer: Sender<i64>) {
    // SAFETY: no arguments.
    tid_tx.send(unsafe { libc::gettid() }).expect("main waits");
    while ask.recv().is_ok() {
        if answer.send(keepcaps()).is_err() {
            break;
        }
    }
}

/// The calling thread's keepcaps flag (all five prctl arguments given).
fn keepcaps() -> i64 {
    let zero: libc::c_ulong = 0;
    let option = libc::PR_GET_KEEPCAPS as libc::c_ulong;
    // SAFETY: a read-only prctl on this thread.
    unsafe { libc::syscall(libc::SYS_prctl, option, zero, zero, zero, zero) }
}

extern "C" fn pthread_main(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `arg` is the Box made in `spawn_pthread`, handed over once.
    let body = unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() + Send>>()) };
    body();
    std::ptr::null_mut()
}

/// A Rust-made thread serving keepcaps questions: returns its tid and asker.
fn spawn_worker(with_pthread_create: bool) -> (i32, Asker) {
    let (tid_tx, tid_rx) = mpsc::channel();
    let (ask_tx, ask_rx) = mpsc::channel();
    let (answer_tx, answer_rx) = mpsc::channel();
    let body = move || serve(tid_tx, ask_rx, answer_tx);
    if with_pthread_create {
        let body: Box<dyn FnOnce() + Send> = Box::new(body);
        let arg = Box::into_raw(Box::new(body)).cast::<c_void>();
        let mut thread: libc::pthread_t = 0;
        // SAFETY: default attributes; pthread_main takes ownership of arg.
        let rc = unsafe { libc::pthread_create(&mut thread, std::ptr::null(), pthread_main, arg) };
        assert_eq!(rc, 0, "pthread_create failed");
        // SAFETY: a thread we made; it will never be joined.
        unsafe { libc::pthread_detach(thread) };
    } else {
        thread::spawn(body);
    }
    let tid = tid_rx.recv().expect("the new thread reports its tid");
    (tid, Asker::Channel(ask_tx, answer_rx))
}

/// Loads the demo C library and starts `n` of its threads.
fn load_plugin(path: &str, n: libc::c_int) -> Result<Vec<(i32, Asker)>, String> {
    let c_path = CString::new(path).map_err(|_| "bad path".to_owned())?;
    // SAFETY: a C string; the library's constructors are ours.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW) };
    if handle.is_null() {
        // SAFETY: dlerror returns a C string after a failed dlopen.
        let err = unsafe { std::ffi::CStr::from_ptr(libc::dlerror()) };
        return Err(err.to_string_lossy().into_owned());
    }
    let symbol = |name: &str| {
        let c_name = CString::new(name).expect("symbol name");
        // SAFETY: a valid handle and C string.
        let sym = unsafe { libc::dlsym(handle, c_name.as_ptr()) };
        if sym.is_null() {
            Err(format!("{path} has no {name}"))
        } else {
            Ok(sym)
        }
    };
    // SAFETY: the signatures of demo_plugin.c.
    let start: extern "C" fn(libc::c_int) -> libc::c_int =
        unsafe { std::mem::transmute(symbol("demo_plugin_start")?) };
    // SAFETY: as above.
    let tid_of: extern "C" fn(libc::c_int) -> libc::c_long =
        unsafe { std::mem::transmute(symbol("demo_plugin_tid")?) };
    // SAFETY: as above.
    let ask: extern "C" fn(libc::c_int) -> libc::c_long =
        unsafe { std::mem::transmute(symbol("demo_plugin_keepcaps")?) };
    let made = start(n);
    Ok((0..made)
        .map(|i| (tid_of(i) as i32, Asker::Plugin(ask, i)))
        .collect())
}

/// One row of the table.
#[derive(Clone, PartialEq)]
struct Row {
    tid: i32,
    how: String,
    nnp: String,
    keep: String,
    cap_eff: String,
    uid: String,
}

impl Row {
    /// The state shown, without the thread's identity.
    fn state(&self) -> (&str, &str, &str, &str) {
        (&self.nnp, &self.keep, &self.cap_eff, &self.uid)
    }
}

/// Reads every entry of /proc/self/task (the kernel's view) and asks each
/// known thread for its keepcaps flag.
fn snapshot(known: &BTreeMap<i32, Known>) -> Vec<Row> {
    let mut rows = Vec::new();
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task is readable");
    for entry in tasks.flatten() {
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue; // the thread ended meanwhile
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.split_whitespace().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let uid = field("Uid");
        let (how, keep) = match known.get(&tid) {
            Some(k) => {
                let keep = match &k.asker {
                    Asker::Myself => keepcaps(),
                    Asker::Channel(ask, answer) => {
                        ask.send(()).expect("worker alive");
                        answer.recv().expect("worker answers")
                    }
                    Asker::Plugin(ask, i) => ask(*i),
                };
                (k.how.to_owned(), keep.to_string())
            }
            None => ("(unknown)".to_owned(), "?".to_owned()),
        };
        rows.push(Row {
            tid,
            how,
            nnp: field("NoNewPrivs").join(""),
            keep,
            cap_eff: field("CapEff").join(""),
            uid: uid.get(..3).map(|ids| ids.join("/")).unwrap_or_default(),
        });
    }
    rows.sort_by_key(|r| r.tid);
    rows
}

/// ANSI colours, or nothing when stdout is not a terminal or NO_COLOR is set.
struct Style {
    on: bool,
}

impl Style {
    fn new() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Style {
            on: std::io::stdout().is_terminal() && !no_color && !dumb,
        }
    }
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
    fn red(&self, text: &str) -> String {
        self.paint("1;31", text)
    }
    fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
}

/// Prints the table; rows whose state differs from the caller's get a `!`.
/// Returns how many rows differ.
fn print_table(style: &Style, title: &str, rows: &[Row], me: i32) -> usize {
    println!("{}", style.bold(title));
    println!(
        "   {:>7}  {:<20} {:>3}  {:>4}  {:<16}  UID (r/e/s)",
        "TID", "MADE BY", "NNP", "KEEP", "CAPEFF"
    );
    let mine = rows
        .iter()
        .find(|r| r.tid == me)
        .expect("the caller is listed");
    let mut differ = 0;
    for row in rows {
        let line = format!(
            "{:>7}  {:<20} {:>3}  {:>4}  {:<16}  {}",
            row.tid, row.how, row.nnp, row.keep, row.cap_eff, row.uid
        );
        if row.state() != mine.state() {
            differ += 1;
            println!(" {} {}", style.red("!"), style.red(&line));
        } else {
            println!("   {line}");
        }
    }
    let total = rows.len();
    if differ == 0 {
        println!(
            "  {}",
            style.green(&format!("All {total} threads are in the caller's state."))
        );
    } else {
        let msg = format!("{differ} of {total} threads differ from the caller (marked !).");
        println!("  {}", style.red(&msg));
    }
    println!();
    differ
}

/// A raw system call on the calling thread only, all six arguments given.
fn plain(nr: libc::c_long, args: [libc::c_long; 5]) -> std::io::Result<()> {
    // SAFETY: the demo passes integer arguments of per-thread calls only.
    let rc = unsafe {
        libc::syscall(
            nr,
            args[0],
            args[1],
            args[2],
            args[3],
            args[4],
            0 as libc::c_long,
        )
    };
    if rc == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The changes of step 2, on the calling thread only. Raw system calls:
/// glibc's `setresuid()` would itself reach every thread (with its own
/// signal), which would hide the point.
fn change_one_thread(root: bool) -> std::io::Result<()> {
    let prctl = libc::SYS_prctl;
    if root {
        let id = libc::c_long::from(NOBODY);
        plain(libc::SYS_setresuid, [id, id, id, 0, 0])?;
    }
    plain(prctl, [libc::PR_SET_NO_NEW_PRIVS.into(), 1, 0, 0, 0])?;
    plain(prctl, [libc::PR_SET_KEEPCAPS.into(), 1, 0, 0, 0])
}

/// The same changes through psx, for every thread.
fn change_every_thread(root: bool) -> std::io::Result<()> {
    if root {
        psx::set_res_uid(NOBODY, NOBODY, NOBODY)?;
    }
    psx::set_no_new_privs()?;
    psx::set_keep_caps(true)
}

fn main() -> ExitCode {
    let style = Style::new();
    // SAFETY: no arguments.
    let (me, euid) = unsafe { (libc::gettid(), libc::geteuid()) };
    let root = euid == 0;

    let mut known = BTreeMap::new();
    known.insert(
        me,
        Known {
            how: "main (calls psx)",
            asker: Asker::Myself,
        },
    );
    for _ in 0..2 {
        let (tid, asker) = spawn_worker(true);
        known.insert(
            tid,
            Known {
                how: "pthread_create()",
                asker,
            },
        );
    }
    let plugin_note = match std::env::args().nth(1) {
        Some(path) => match load_plugin(&path, 2) {
            Ok(threads) => {
                for (tid, asker) in threads {
                    known.insert(
                        tid,
                        Known {
                            how: "dlopen()ed C library",
                            asker,
                        },
                    );
                }
                None
            }
            Err(e) => Some(format!("could not load {path}: {e}")),
        },
        None => Some("no C library given: run examples/run-demo.sh for its threads".to_owned()),
    };
    for _ in 0..2 {
        let (tid, asker) = spawn_worker(false);
        known.insert(
            tid,
            Known {
                how: "std::thread::spawn",
                asker,
            },
        );
    }

    println!("{}", style.bold("psx demo: one system call, every thread"));
    let who = if root { "root" } else { "not root" };
    println!(
        "Process {}, running as uid {euid} ({who}).",
        std::process::id()
    );
    println!("NNP, CAPEFF and UID come from /proc/self/task/<tid>/status; KEEP is");
    println!("prctl(PR_GET_KEEPCAPS), asked of each thread itself.");
    if let Some(note) = &plugin_note {
        println!("Note: {note}.");
    }
    println!();

    let before = snapshot(&known);
    let mut ok = print_table(&style, "1. Before any change", &before, me) == 0;

    let what = if root {
        "setresuid(65534, 65534, 65534), PR_SET_NO_NEW_PRIVS, PR_SET_KEEPCAPS"
    } else {
        "prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)"
    };
    if let Err(e) = change_one_thread(root) {
        eprintln!("demo: the plain system call failed: {e}");
        return ExitCode::FAILURE;
    }
    let title = format!("2. Plain syscall() on the main thread only:\n   {what}");
    let after_plain = snapshot(&known);
    let differ = print_table(&style, &title, &after_plain, me);
    // Only the caller's row changed: everyone else still looks as before.
    let changed: Vec<i32> = after_plain
        .iter()
        .filter(|r| {
            before
                .iter()
                .find(|b| b.tid == r.tid)
                .is_none_or(|b| b.state() != r.state())
        })
        .map(|r| r.tid)
        .collect();
    ok &= changed == [me] && differ == after_plain.len() - 1;
    if differ > 0 {
        println!("The other threads keep the old state: code that runs on any of them");
        println!("(a library's thread, or code an attacker gets to run there) keeps it too.");
        println!();
    }

    let psx_what = if root {
        "psx::set_res_uid(65534, 65534, 65534), psx::set_no_new_privs(),\n   \
         psx::set_keep_caps(true)"
    } else {
        "psx::set_no_new_privs(), psx::set_keep_caps(true)"
    };
    if let Err(e) = change_every_thread(root) {
        eprintln!("demo: psx failed: {e}");
        return ExitCode::FAILURE;
    }
    let title = format!("3. The same through psx, from the main thread:\n   {psx_what}");
    let after_psx = snapshot(&known);
    ok &= print_table(&style, &title, &after_psx, me) == 0;

    if !root {
        println!("As root, the demo also moves every uid to 65534 (capabilities go too).");
    }
    if ok {
        println!(
            "{}",
            style.green("Step 2 changed one thread; psx changed every thread.")
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "{}",
            style.red("The tables are not as expected: see the rows marked !")
        );
        ExitCode::FAILURE
    }
}
