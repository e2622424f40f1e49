// SPDX-License-Identifier: BSD-3-Clause
//! `psx-check`: do the threads of a process agree on their credentials?
//!
//! For one process (`psx-check PID`), several, or every process
//! (`psx-check --all`), reads each thread's `/proc/PID/task/TID/status` and
//! compares what the kernel shows there (uids, gids, supplementary groups,
//! the five capability sets, `NoNewPrivs`, seccomp mode and filter count)
//! with the process's main thread. Exit status: 0 when every thread of every
//! process checked agrees, 1 when some process has threads that disagree,
//! 2 on an error (no such process, unreadable, bad usage).
//!
//! Securebits and keepcaps are not in `/proc`: only the thread itself can
//! read them (`prctl(PR_GET_SECUREBITS)`), so they are reported as "n/a".
//! See `doc/psx-check.1`.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;

const USAGE: &str = "\
usage: psx-check [--json] [--color=WHEN] PID...
       psx-check [--json] [--color=WHEN] --all
Shows each thread's uids, gids, groups, capability sets, NoNewPrivs and
seccomp state, and marks threads that differ from their process's main
thread. WHEN is auto (default), always or never.
Exit status: 0 all threads agree, 1 some process has threads that
disagree, 2 error.";

/// Text output width (the layout below never exceeds it).
const WIDTH: usize = 80;
/// Label column of the reference thread's block (indented by 4).
const REF_LABEL: usize = 14;
/// Label column of a thread's differences (after "! TID S ").
const DIFF_LABEL: usize = 13;

/// One compared field: its label in the text output and its key in JSON.
struct Field {
    label: &'static str,
    key: &'static str,
}

const FIELDS: [Field; 11] = [
    Field {
        label: "uid r/e/s/fs",
        key: "uid",
    },
    Field {
        label: "gid r/e/s/fs",
        key: "gid",
    },
    Field {
        label: "groups",
        key: "groups",
    },
    Field {
        label: "CapInh",
        key: "cap_inh",
    },
    Field {
        label: "CapPrm",
        key: "cap_prm",
    },
    Field {
        label: "CapEff",
        key: "cap_eff",
    },
    Field {
        label: "CapBnd",
        key: "cap_bnd",
    },
    Field {
        label: "CapAmb",
        key: "cap_amb",
    },
    Field {
        label: "NoNewPrivs",
        key: "no_new_privs",
    },
    Field {
        label: "Seccomp",
        key: "seccomp",
    },
    Field {
        label: "filters",
        key: "seccomp_filters",
    },
];

/// The `status` lines each field comes from, in `FIELDS` order.
const STATUS_KEYS: [&str; 11] = [
    "Uid",
    "Gid",
    "Groups",
    "CapInh",
    "CapPrm",
    "CapEff",
    "CapBnd",
    "CapAmb",
    "NoNewPrivs",
    "Seccomp",
    "Seccomp_filters",
];

/// One thread as the kernel shows it.
struct Thread {
    tid: i32,
    /// First letter of `State:` (R, S, D, Z, ...).
    state: char,
    /// Each field's value, its words joined ("/" for ids, "," for groups);
    /// `None` when this kernel has no such line.
    values: [Option<String>; 11],
    /// Indexes into `FIELDS` where this thread differs from the reference.
    differs: Vec<usize>,
}

struct Process {
    pid: i32,
    name: String,
    threads: Vec<Thread>,
    /// The thread the others are compared with: the main thread, unless it
    /// has ended (`pthread_exit()`: a zombie entry), then the lowest live tid.
    reference: i32,
    /// Threads listed in `task/` whose `status` was gone when read.
    ended_while_read: usize,
}

impl Process {
    fn disagreeing(&self) -> usize {
        self.threads
            .iter()
            .filter(|t| !t.differs.is_empty())
            .count()
    }
}

enum ReadError {
    /// The process does not exist, or ended before anything was read.
    NoSuchProcess,
    /// It ended after its threads were listed.
    EndedWhileRead,
    /// Anything else (permission, ...).
    Other(io::Error),
}

/// Test hook (see the man page): after listing a process's threads, say so
/// on stderr and wait for one byte on stdin, so that a test can end the
/// process at exactly that point.
fn hold_after_list(pid: i32, tasks: usize) {
    if std::env::var_os("PSX_CHECK_HOLD_AFTER_LIST").is_some() {
        eprintln!("psx-check: listed {tasks} threads of {pid}");
        let _ = io::stderr().flush();
        let _ = io::stdin().read(&mut [0u8; 1]);
    }
}

fn is_gone(e: &io::Error) -> bool {
    // ENOENT: the entry is gone; ESRCH: the task died while being read.
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESRCH))
}

/// Parses one `status` file.
fn parse_status(tid: i32, status: &str) -> Thread {
    let line = |key: &str| {
        status.lines().find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            Some(rest.split_whitespace().collect::<Vec<_>>())
        })
    };
    let values = STATUS_KEYS.map(|key| {
        line(key).map(|words| {
            let sep = if key == "Groups" { "," } else { "/" };
            words.join(sep)
        })
    });
    let state = line("State")
        .and_then(|w| w.first().and_then(|s| s.chars().next()))
        .unwrap_or('?');
    Thread {
        tid,
        state,
        values,
        differs: Vec::new(),
    }
}

fn read_process(pid: i32) -> Result<Process, ReadError> {
    let base = format!("/proc/{pid}");
    let status = std::fs::read_to_string(format!("{base}/status")).map_err(|e| {
        if is_gone(&e) {
            ReadError::NoSuchProcess
        } else {
            ReadError::Other(e)
        }
    })?;
    let name = status
        .lines()
        .find_map(|l| l.strip_prefix("Name:"))
        .unwrap_or("")
        .trim()
        .to_owned();
    let mut tids = Vec::new();
    let dir = std::fs::read_dir(format!("{base}/task")).map_err(|e| {
        if is_gone(&e) {
            ReadError::NoSuchProcess
        } else {
            ReadError::Other(e)
        }
    })?;
    for entry in dir {
        let entry = entry.map_err(ReadError::Other)?;
        if let Ok(tid) = entry.file_name().to_string_lossy().parse::<i32>() {
            tids.push(tid);
        }
    }
    tids.sort_unstable();
    hold_after_list(pid, tids.len());

    let mut threads = Vec::new();
    let mut ended_while_read = 0;
    for tid in tids {
        match std::fs::read_to_string(format!("{base}/task/{tid}/status")) {
            Ok(s) => threads.push(parse_status(tid, &s)),
            Err(e) if is_gone(&e) => ended_while_read += 1,
            Err(e) => return Err(ReadError::Other(e)),
        }
    }
    // The whole process ended (its threads were listed, none could be read),
    // or at least its main thread's entry vanished: a process whose main
    // thread called pthread_exit() keeps a zombie entry until it ends.
    if threads.is_empty() || !threads.iter().any(|t| t.tid == pid) {
        return Err(ReadError::EndedWhileRead);
    }
    let main_alive = threads.iter().any(|t| t.tid == pid && t.state != 'Z');
    let reference = if main_alive {
        pid
    } else {
        threads
            .iter()
            .find(|t| t.state != 'Z')
            .map_or(pid, |t| t.tid)
    };
    let ref_values = threads
        .iter()
        .find(|t| t.tid == reference)
        .map(|t| t.values.clone())
        .expect("the reference thread is in the list");
    for t in &mut threads {
        // A zombie entry (main thread gone) keeps stale credentials: shown,
        // not compared.
        if t.tid == reference || t.state == 'Z' {
            continue;
        }
        t.differs = (0..FIELDS.len())
            .filter(|&i| t.values[i] != ref_values[i])
            .collect();
    }
    Ok(Process {
        pid,
        name,
        threads,
        reference,
        ended_while_read,
    })
}

/// Every numeric entry of /proc.
fn all_pids() -> io::Result<Vec<i32>> {
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

// ---------------------------------------------------------------------------
// Text output
// ---------------------------------------------------------------------------

struct Style {
    colour: bool,
}

impl Style {
    fn red(&self, s: &str) -> String {
        if self.colour {
            format!("\x1b[1;31m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
}

/// A process name as text: control characters and non-ASCII escaped.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                vec![c]
            } else {
                format!("\\x{:02x}", u32::from(c)).chars().collect()
            }
        })
        .collect()
}

/// `indent` spaces, `label` in a column of `label_width`, then `value`,
/// wrapped at commas or slashes in `room` columns.
fn labelled(
    out: &mut String,
    indent: usize,
    label_width: usize,
    room: usize,
    label: &str,
    value: &str,
) {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut rest = value;
    while !rest.is_empty() {
        // One piece: up to and including the next separator.
        let end = rest.find([',', '/']).map_or(rest.len(), |i| i + 1);
        let (mut piece, tail) = rest.split_at(end);
        if !cur.is_empty() && cur.len() + piece.len() > room {
            lines.push(std::mem::take(&mut cur));
        }
        // A single piece longer than a line (cannot happen with /proc's
        // values, but names can be anything): cut it.
        while piece.len() > room {
            let cut = (1..=room)
                .rev()
                .find(|&i| piece.is_char_boundary(i))
                .unwrap_or(piece.len());
            let (a, b) = piece.split_at(cut);
            lines.push(a.to_owned());
            piece = b;
        }
        cur.push_str(piece);
        rest = tail;
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    for (i, l) in lines.iter().enumerate() {
        let lab = if i == 0 { label } else { "" };
        let _ = writeln!(out, "{:indent$}{lab:<label_width$}{l}", "");
    }
}

fn show(v: &Option<String>) -> &str {
    match v.as_deref() {
        None => "n/a",
        Some("") => "(none)",
        Some(s) => s,
    }
}

/// The text report of one process. `only_differing`: list only the
/// threads that differ (for --all).
fn text_process(p: &Process, style: &Style, only_differing: bool) -> String {
    let mut out = String::new();
    let n = p.threads.len();
    let bad = p.disagreeing();
    let reference = p
        .threads
        .iter()
        .find(|t| t.tid == p.reference)
        .expect("reference listed");
    let whom = if p.reference == p.pid {
        format!("main thread {}", p.pid)
    } else {
        format!("thread {} (main thread {} has ended)", p.reference, p.pid)
    };
    let _ = writeln!(
        out,
        "process {} ({}): {} thread{}",
        p.pid,
        printable(&p.name),
        n,
        if n == 1 { "" } else { "s" }
    );
    let _ = writeln!(out, "  {whom}:");
    for (i, f) in FIELDS.iter().enumerate() {
        labelled(
            &mut out,
            4,
            REF_LABEL,
            WIDTH - 4 - REF_LABEL,
            f.label,
            show(&reference.values[i]),
        );
    }
    labelled(
        &mut out,
        4,
        REF_LABEL,
        WIDTH - 4 - REF_LABEL,
        "securebits",
        "n/a (not in /proc; see psx-check(1))",
    );
    let _ = writeln!(out, "      TID  S  DIFFERS FROM {}", p.reference);
    let mut hidden = 0;
    for t in &p.threads {
        let marked = !t.differs.is_empty();
        if only_differing && !marked {
            hidden += 1;
            continue;
        }
        let first = if t.tid == p.reference {
            "(reference)".to_owned()
        } else if t.state == 'Z' {
            "(ended: not compared)".to_owned()
        } else if !marked {
            "-".to_owned()
        } else {
            String::new()
        };
        let head = format!("{:>7}  {}  ", t.tid, t.state);
        let mark = if marked {
            style.red("!")
        } else {
            " ".to_owned()
        };
        if !marked {
            let _ = writeln!(out, "{mark} {head}{first}");
            continue;
        }
        // Differences: "label value" lines under the DIFFERS column.
        let mut diff = String::new();
        let room = WIDTH - 2 - head.len() - DIFF_LABEL;
        for &i in &t.differs {
            labelled(
                &mut diff,
                0,
                DIFF_LABEL,
                room,
                FIELDS[i].label,
                show(&t.values[i]),
            );
        }
        for (k, line) in diff.lines().enumerate() {
            let prefix = if k == 0 {
                format!("{mark} {head}")
            } else {
                " ".repeat(2 + head.len())
            };
            let _ = writeln!(out, "{prefix}{line}");
        }
    }
    if hidden > 0 {
        let _ = writeln!(out, "  ({hidden} other threads agree)");
    }
    if p.ended_while_read > 0 {
        let _ = writeln!(
            out,
            "  ({} thread{} ended while being read)",
            p.ended_while_read,
            if p.ended_while_read == 1 { "" } else { "s" }
        );
    }
    let verdict = if bad == 0 {
        if n == 1 {
            "  one thread: nothing to compare".to_owned()
        } else {
            format!("  all {n} threads agree")
        }
    } else {
        style.red(&format!(
            "  {bad} of {n} threads differ from thread {}",
            p.reference
        ))
    };
    let _ = writeln!(out, "{verdict}");
    out
}

// ---------------------------------------------------------------------------
// JSON output
// ---------------------------------------------------------------------------

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A field's JSON value: numbers for ids, groups, NoNewPrivs, seccomp;
/// strings (hexadecimal, as in /proc) for capability sets; null when absent.
fn json_value(key: &str, v: &Option<String>) -> String {
    let Some(v) = v else {
        return "null".to_owned();
    };
    let number = |s: &str| {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.to_owned()
        } else {
            json_str(s)
        }
    };
    match key {
        "uid" | "gid" => format!(
            "[{}]",
            v.split('/').map(number).collect::<Vec<_>>().join(",")
        ),
        "groups" => format!(
            "[{}]",
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(number)
                .collect::<Vec<_>>()
                .join(",")
        ),
        k if k.starts_with("cap_") => json_str(v),
        _ => number(v),
    }
}

fn json_process(p: &Process) -> String {
    let threads: Vec<String> = p
        .threads
        .iter()
        .map(|t| {
            let mut o = format!(
                "{{\"tid\":{},\"state\":{}",
                t.tid,
                json_str(&t.state.to_string())
            );
            for (i, f) in FIELDS.iter().enumerate() {
                let _ = write!(o, ",\"{}\":{}", f.key, json_value(f.key, &t.values[i]));
            }
            let differs: Vec<String> = t.differs.iter().map(|&i| json_str(FIELDS[i].key)).collect();
            let _ = write!(
                o,
                ",\"securebits\":null,\"compared\":{},\"differs\":[{}]}}",
                t.tid != p.reference && t.state != 'Z',
                differs.join(",")
            );
            o
        })
        .collect();
    format!(
        "{{\"pid\":{},\"name\":{},\"reference_tid\":{},\"threads_ended_while_read\":{},\
         \"disagree\":{},\"threads\":[{}]}}",
        p.pid,
        json_str(&p.name),
        p.reference,
        p.ended_while_read,
        p.disagreeing() > 0,
        threads.join(",")
    )
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

struct Options {
    json: bool,
    colour: bool,
    all: bool,
    pids: Vec<i32>,
}

fn parse_args() -> Result<Options, String> {
    let mut json = false;
    let mut all = false;
    let mut colour = None;
    let mut pids = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => json = true,
            "--all" | "-a" => all = true,
            "--color=auto" | "--colour=auto" => colour = None,
            "--color=always" | "--colour=always" => colour = Some(true),
            "--color=never" | "--colour=never" => colour = Some(false),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "-V" | "--version" => {
                println!("psx-check {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            a if a.starts_with('-') => return Err(format!("unknown option {a}")),
            a => match a.parse::<i32>() {
                Ok(pid) if pid > 0 => pids.push(pid),
                _ => return Err(format!("not a process id: {a}")),
            },
        }
    }
    if all != pids.is_empty() {
        return Err("give either PIDs or --all".to_owned());
    }
    let colour = colour.unwrap_or_else(|| {
        io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
    });
    Ok(Options {
        json,
        colour: colour && !json,
        all,
        pids,
    })
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("psx-check: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let style = Style {
        colour: opts.colour,
    };
    let pids = if opts.all {
        match all_pids() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("psx-check: cannot list /proc: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        opts.pids.clone()
    };

    let mut stdout = io::stdout().lock();
    let mut errors = 0usize;
    let mut vanished = 0usize;
    let mut unreadable = 0usize;
    let mut disagreeing = 0usize;
    let mut checked = 0usize;
    let mut threads = 0usize;
    let mut json_items = Vec::new();
    for pid in pids {
        match read_process(pid) {
            Ok(p) => {
                checked += 1;
                threads += p.threads.len();
                let bad = p.disagreeing() > 0;
                if bad {
                    disagreeing += 1;
                }
                if opts.json {
                    json_items.push(json_process(&p));
                } else if !opts.all || bad {
                    let _ = writeln!(stdout, "{}", text_process(&p, &style, opts.all));
                }
            }
            // With --all, processes come and go: not an error.
            Err(ReadError::NoSuchProcess | ReadError::EndedWhileRead) if opts.all => vanished += 1,
            Err(ReadError::NoSuchProcess) => {
                eprintln!("psx-check: {pid}: no such process");
                errors += 1;
            }
            Err(ReadError::EndedWhileRead) => {
                eprintln!("psx-check: {pid}: the process ended while being read");
                errors += 1;
            }
            Err(ReadError::Other(e)) => {
                eprintln!("psx-check: {pid}: cannot read /proc/{pid}: {e}");
                unreadable += 1;
            }
        }
    }
    if opts.json {
        let _ = writeln!(
            stdout,
            "{{\"processes\":[{}],\"summary\":{{\"checked\":{checked},\"threads\":{threads},\
             \"disagreeing\":{disagreeing},\"ended_while_read\":{vanished},\
             \"errors\":{}}}}}",
            json_items.join(","),
            errors + unreadable
        );
    } else if opts.all {
        let _ = writeln!(
            stdout,
            "checked {checked} processes, {threads} threads ({vanished} ended while being read, \
             {unreadable} unreadable)"
        );
        let verdict = match disagreeing {
            0 => "no process has threads that disagree".to_owned(),
            1 => style.red("1 process has threads that disagree"),
            n => style.red(&format!("{n} processes have threads that disagree")),
        };
        let _ = writeln!(stdout, "{verdict}");
    }
    let _ = stdout.flush();
    if disagreeing > 0 {
        ExitCode::from(1)
    } else if errors + unreadable > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
