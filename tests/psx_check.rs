// SPDX-License-Identifier: BSD-3-Clause
//! Tests of the `psx-check` command against real processes.
//!
//! Runs without libtest (`harness = false`): the same binary, started with
//! `PSX_CHECK_FIXTURE=<kind>`, is the process under inspection:
//! - `divergent`: one thread sets `no_new_privs` on itself only, and (as
//!   root) another drops `CAP_NET_RAW` from its own bounding set;
//! - `uniform`: threads that change nothing;
//! - `churn`: threads that start and end all the time, none changed.
//!
//! What psx-check says is compared with the kernel's view, read here from
//! `/proc/PID/task/*/status`, not with what the fixture intended.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CHECK: &str = env!("CARGO_BIN_EXE_psx-check");
const PR_SET_NO_NEW_PRIVS: libc::c_long = 38;
const PR_CAPBSET_DROP: libc::c_long = 24;
const CAP_NET_RAW: libc::c_long = 13;

/// A prctl on the calling thread only, all five arguments given.
fn prctl_this_thread(option: libc::c_long, arg2: libc::c_long) -> libc::c_long {
    // SAFETY: plain integer arguments; these options change only the
    // calling thread's own flags.
    unsafe { libc::syscall(libc::SYS_prctl, option, arg2, 0, 0, 0) }
}

fn is_root() -> bool {
    // SAFETY: no arguments.
    unsafe { libc::geteuid() == 0 }
}

// ---------------------------------------------------------------------------
// The fixture process
// ---------------------------------------------------------------------------

/// Runs as the inspected process: starts its threads, prints "ready", then
/// waits until stdin is closed.
fn fixture(kind: &str) -> ! {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let park = || loop {
        std::thread::park();
    };
    match kind {
        "divergent" | "uniform" => {
            let divergent = kind == "divergent";
            for i in 0..4 {
                let done = done_tx.clone();
                std::thread::spawn(move || {
                    if divergent && i == 1 {
                        assert_eq!(prctl_this_thread(PR_SET_NO_NEW_PRIVS, 1), 0);
                    }
                    if divergent && i == 2 && is_root() {
                        assert_eq!(prctl_this_thread(PR_CAPBSET_DROP, CAP_NET_RAW), 0);
                    }
                    done.send(()).unwrap();
                    park()
                });
            }
            for _ in 0..4 {
                done_rx.recv().unwrap();
            }
        }
        "churn" => {
            for _ in 0..3 {
                std::thread::spawn(|| {
                    loop {
                        let _ = std::thread::spawn(std::thread::yield_now).join();
                    }
                });
            }
            std::thread::spawn(park);
        }
        other => panic!("unknown fixture {other}"),
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    std::process::exit(0)
}

/// A running fixture; killed and reaped when dropped.
struct Fixture {
    child: Child,
    _stdout: ChildStdout,
}

impl Fixture {
    fn start(kind: &str) -> Fixture {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("PSX_CHECK_FIXTURE", kind)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the fixture");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n", "fixture {kind} did not start");
        Fixture {
            child,
            _stdout: stdout.into_inner(),
        }
    }
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// The kernel's view
// ---------------------------------------------------------------------------

/// (tid, NoNewPrivs, CapBnd) of each thread of `pid`.
fn kernel_view(pid: i32) -> Vec<(i32, String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let e = e.unwrap();
        let tid: i32 = e.file_name().to_str().unwrap().parse().unwrap();
        let status = std::fs::read_to_string(e.path().join("status")).unwrap();
        let get = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap()
                .trim()
                .to_owned()
        };
        out.push((tid, get("NoNewPrivs:"), get("CapBnd:")));
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// Running psx-check
// ---------------------------------------------------------------------------

fn run(args: &[&str]) -> Output {
    Command::new(CHECK)
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("run psx-check")
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("psx-check writes UTF-8")
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "psx-check {}: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// No line wider than 80 columns, no escape sequences.
fn check_plain_80(what: &str, stdout: &str) -> Result<(), String> {
    if stdout.contains('\x1b') {
        return Err(format!("{what}: colour escape sequences written to a pipe"));
    }
    if let Some(l) = stdout.lines().find(|l| l.chars().count() > 80) {
        return Err(format!(
            "{what}: line of {} columns: {l:?}",
            l.chars().count()
        ));
    }
    Ok(())
}

/// The TIDs psx-check marked with "!" in its text output.
fn marked_tids(stdout: &str) -> Vec<i32> {
    let mut tids: Vec<i32> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("! "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    tids.sort();
    tids
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

type TestResult = Result<(), String>;
type Test = (&'static str, fn() -> TestResult);

fn divergent_process() -> TestResult {
    let f = Fixture::start("divergent");
    let pid = f.pid();
    let view = kernel_view(pid);
    let main = view.iter().find(|t| t.0 == pid).unwrap().clone();
    let differing: Vec<i32> = view
        .iter()
        .filter(|t| t.1 != main.1 || t.2 != main.2)
        .map(|t| t.0)
        .collect();
    if differing.len() != if is_root() { 2 } else { 1 } {
        return Err(format!(
            "fixture: the kernel shows {view:?}; expected diverging threads"
        ));
    }
    let p = pid.to_string();
    let args = [p.as_str()];
    let out = run(&args);
    let stdout = text(&out.stdout);
    if out.status.code() != Some(1) {
        return Err(format!("expected exit 1\n{}", describe(&args, &out)));
    }
    check_plain_80("psx-check PID", &stdout)?;
    if marked_tids(&stdout) != differing {
        return Err(format!(
            "marked {:?}, the kernel shows {differing:?} differing\n{}",
            marked_tids(&stdout),
            describe(&args, &out)
        ));
    }
    // Each marked line names what differs, with the thread's value.
    for (tid, nnp, bnd) in view.iter().filter(|t| differing.contains(&t.0)) {
        let block: String = stdout
            .lines()
            .skip_while(|l| !l.starts_with(&format!("! {tid:>7} ")))
            .take_while(|l| l.starts_with(&format!("! {tid:>7} ")) || l.starts_with("   "))
            .collect::<Vec<_>>()
            .join("\n");
        if *nnp != main.1 && !block.contains(&format!("NoNewPrivs   {nnp}")) {
            return Err(format!(
                "thread {tid}: NoNewPrivs {nnp} not shown\n{stdout}"
            ));
        }
        if *bnd != main.2 && !block.contains(&format!("CapBnd       {bnd}")) {
            return Err(format!("thread {tid}: CapBnd {bnd} not shown\n{stdout}"));
        }
    }
    for line in ["securebits", "Seccomp", "filters", "uid r/e/s/fs", "CapAmb"] {
        if !stdout.contains(line) {
            return Err(format!("no {line} in the output\n{stdout}"));
        }
    }

    // --json: the same verdict, the kernel's values.
    let args = ["--json", p.as_str()];
    let out = run(&args);
    if out.status.code() != Some(1) {
        return Err(format!("expected exit 1\n{}", describe(&args, &out)));
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("--json output is not JSON: {e}\n{}", describe(&args, &out)))?;
    let proc0 = &doc["processes"][0];
    if proc0["pid"] != pid || proc0["disagree"] != true || proc0["reference_tid"] != pid {
        return Err(format!("--json process header wrong: {proc0}"));
    }
    let threads = proc0["threads"].as_array().unwrap();
    if threads.len() != view.len() {
        return Err(format!(
            "--json lists {} threads, the kernel {}",
            threads.len(),
            view.len()
        ));
    }
    for t in threads {
        let tid = t["tid"].as_i64().unwrap() as i32;
        let k = view.iter().find(|v| v.0 == tid).unwrap();
        if t["no_new_privs"] != k.1.parse::<i64>().unwrap() || t["cap_bnd"] != k.2.as_str() {
            return Err(format!("--json thread {tid}: {t}, kernel {k:?}"));
        }
        let differs = !t["differs"].as_array().unwrap().is_empty();
        if differs != differing.contains(&tid) || !t["securebits"].is_null() {
            return Err(format!("--json thread {tid}: {t}"));
        }
    }
    if doc["summary"]["disagreeing"] != 1 {
        return Err(format!("--json summary: {}", doc["summary"]));
    }

    // --color=always colours the marks; the default, into a pipe, does not.
    let args = ["--color=always", p.as_str()];
    let out = run(&args);
    if !text(&out.stdout).contains("\x1b[") {
        return Err(format!(
            "--color=always: no colour\n{}",
            describe(&args, &out)
        ));
    }

    // --all finds it too and says which process.
    let args = ["--all"];
    let out = run(&args);
    let stdout = text(&out.stdout);
    if out.status.code() != Some(1) || !stdout.contains(&format!("process {pid} (")) {
        return Err(format!(
            "--all: expected exit 1 naming {pid}\n{}",
            describe(&args, &out)
        ));
    }
    check_plain_80("psx-check --all", &stdout)?;
    Ok(())
}

fn uniform_process() -> TestResult {
    let f = Fixture::start("uniform");
    let p = f.pid().to_string();
    let args = [p.as_str()];
    let out = run(&args);
    let stdout = text(&out.stdout);
    if out.status.code() != Some(0) || !marked_tids(&stdout).is_empty() {
        return Err(format!(
            "expected exit 0, nothing marked\n{}",
            describe(&args, &out)
        ));
    }
    let n = kernel_view(f.pid()).len();
    if !stdout.contains(&format!("all {n} threads agree")) {
        return Err(format!(
            "expected 'all {n} threads agree'\n{}",
            describe(&args, &out)
        ));
    }
    check_plain_80("psx-check PID", &stdout)?;
    let args = ["--json", p.as_str()];
    let out = run(&args);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("--json: {e}\n{}", describe(&args, &out)))?;
    if out.status.code() != Some(0) || doc["processes"][0]["disagree"] != false {
        return Err(format!(
            "--json: expected agreement\n{}",
            describe(&args, &out)
        ));
    }
    Ok(())
}

/// The process ends after psx-check has listed its threads and before it
/// reads them (the hold hook makes the moment exact).
fn process_ends_while_read() -> TestResult {
    let mut f = Fixture::start("uniform");
    let p = f.pid().to_string();
    let mut check = Reaped(
        Command::new(CHECK)
            .arg(&p)
            .env("PSX_CHECK_HOLD_AFTER_LIST", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let check = &mut check.0;
    let mut err = BufReader::new(check.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    if !line.starts_with("psx-check: listed ") {
        return Err(format!("psx-check did not stop after listing: {line:?}"));
    }
    f.child.kill().unwrap();
    f.child.wait().unwrap();
    if std::path::Path::new(&format!("/proc/{p}")).exists() {
        return Err(format!(
            "/proc/{p} still exists after the fixture was reaped"
        ));
    }
    check.stdin.take().unwrap().write_all(b"x").unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let mut stdout = String::new();
    check
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = check.wait().unwrap();
    if status.code() != Some(2)
        || !rest.contains(&format!("{p}: the process ended while being read"))
    {
        return Err(format!(
            "expected exit 2 and a message; got {status}\nstderr: {rest}\nstdout: {stdout}"
        ));
    }
    Ok(())
}

/// A child killed and reaped when dropped, whatever the path out.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Threads start and end while being read: never an error, never a false
/// disagreement.
fn threads_end_while_read() -> TestResult {
    let f = Fixture::start("churn");
    let p = f.pid().to_string();
    let start = Instant::now();
    let mut ended = 0;
    let mut runs = 0;
    while runs < 40 || (ended == 0 && start.elapsed() < Duration::from_secs(60)) {
        runs += 1;
        let args = [p.as_str()];
        let out = run(&args);
        let stdout = text(&out.stdout);
        if out.status.code() != Some(0) {
            return Err(format!(
                "run {runs}: expected exit 0\n{}",
                describe(&args, &out)
            ));
        }
        if stdout.contains("ended while being read") {
            ended += 1;
        }
    }
    println!("    {runs} runs, {ended} saw threads end while being read");
    Ok(())
}

fn no_such_process() -> TestResult {
    // pid_max itself is never a process id.
    let max = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap();
    let args = [max.trim()];
    let out = run(&args);
    if out.status.code() != Some(2)
        || !out.stdout.is_empty()
        || !text(&out.stderr).contains(&format!("{}: no such process", max.trim()))
    {
        return Err(format!(
            "expected exit 2, 'no such process'\n{}",
            describe(&args, &out)
        ));
    }
    for args in [&["--all", "1"][..], &[][..], &["x1"][..], &["--bogus"][..]] {
        let out = run(args);
        if out.status.code() != Some(2) || !text(&out.stderr).contains("usage:") {
            return Err(format!(
                "bad usage: expected exit 2\n{}",
                describe(args, &out)
            ));
        }
    }
    Ok(())
}

fn main() {
    if let Ok(kind) = std::env::var("PSX_CHECK_FIXTURE") {
        fixture(&kind);
    }
    let tests: [Test; 5] = [
        ("divergent_process", divergent_process),
        ("uniform_process", uniform_process),
        ("process_ends_while_read", process_ends_while_read),
        ("threads_end_while_read", threads_end_while_read),
        ("no_such_process", no_such_process),
    ];
    // A hung test must not hang `cargo test`.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(300));
        eprintln!("psx_check: watchdog: tests took over 300 s");
        std::process::exit(3);
    });
    let mut failed = 0;
    for (name, test) in tests {
        match test() {
            Ok(()) => println!("test {name} ... ok"),
            Err(e) => {
                failed += 1;
                println!("test {name} ... FAILED\n{e}");
            }
        }
    }
    println!(
        "psx_check: {} passed, {failed} failed",
        tests.len() - failed
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
