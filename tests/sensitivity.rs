// SPDX-License-Identifier: BSD-3-Clause
//! `psx::set_sensitivity()`: each level runs in a child process (the test
//! binary again, with PSX_TEST_CHILD set), which makes a call whose result
//! differs on every thread (gettid).
//! - Ignore: the child says nothing and goes on.
//! - Warning: it reports every other thread on stderr and goes on.
//! - Error: it reports, then the process ends before the next line.
//!
//! Also: under Error, a call on which all threads agree does not end it.

mod common;
use common::*;
use std::time::Duration;

const TEST: &str = "sensitivity_levels";

fn child(role: &str) {
    let level = match role {
        "ignore" => psx::Sensitivity::Ignore,
        "warning" => psx::Sensitivity::Warning,
        "error" => psx::Sensitivity::Error,
        other => panic!("unknown child role {other}"),
    };
    let crowd = Crowd::start(4);
    let tids: Vec<String> = crowd.members().iter().map(|m| m.0.to_string()).collect();
    println!("crowd: {}", tids.join(" "));
    psx::set_sensitivity(level);
    // Every thread agrees on this one.
    psx::set_keep_caps(false).expect("set_keep_caps(false)");
    println!("agreed call survived");
    // SAFETY: gettid changes nothing.
    let tid = unsafe { psx::syscall3(libc::SYS_gettid, 0, 0, 0) }.expect("gettid");
    assert_eq!(tid, i64::from(gettid()));
    println!("differing call survived");
    crowd.stop();
}

fn crowd_of(stdout: &str) -> Vec<String> {
    let line = stdout
        .lines()
        // libtest may print "test ... " before it on the same line.
        .find_map(|l| l.split_once("crowd: ").map(|(_, tids)| tids))
        .expect("the child lists its crowd");
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn sensitivity_levels() {
    if let Some(role) = child_role() {
        child(&role);
        return;
    }
    let limit = Duration::from_secs(60);

    let out = run_child(TEST, "ignore", limit);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "Ignore must not end the process\n{}",
        describe_output(&out)
    );
    assert!(
        stdout.contains("differing call survived"),
        "{}",
        describe_output(&out)
    );
    assert!(
        !stderr.contains("psx"),
        "Ignore must say nothing\n{}",
        describe_output(&out)
    );

    let out = run_child(TEST, "warning", limit);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "Warning must not end the process\n{}",
        describe_output(&out)
    );
    assert!(
        stdout.contains("differing call survived"),
        "{}",
        describe_output(&out)
    );
    for tid in crowd_of(&stdout) {
        assert!(
            stderr.contains(&tid),
            "the warning must name thread {tid}\n{}",
            describe_output(&out)
        );
    }

    let out = run_child(TEST, "error", limit);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !out.status.success(),
        "Error must end the process\n{}",
        describe_output(&out)
    );
    assert!(
        stdout.contains("agreed call survived"),
        "agreement must not end it\n{}",
        describe_output(&out)
    );
    assert!(
        !stdout.contains("differing call survived"),
        "{}",
        describe_output(&out)
    );
    for tid in crowd_of(&stdout) {
        assert!(
            stderr.contains(&tid),
            "the report must name thread {tid}\n{}",
            describe_output(&out)
        );
    }
}
