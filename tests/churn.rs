// SPDX-License-Identifier: BSD-3-Clause
//! Threads are created and end while psx runs: afterwards every thread in
//! /proc has no_new_privs, including threads made during the call and
//! their descendants. A thread missed by psx would keep 0 and pass it on.
//! Each round is a fresh child process (the flag cannot be cleared).

mod common;
use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const TEST: &str = "threads_created_during_the_call";
const ROUNDS: usize = 6;

/// Makes short-lived threads, some of which make a thread of their own,
/// until `stop`; counts them.
fn churner(stop: Arc<AtomicBool>, made: Arc<AtomicUsize>) {
    while !stop.load(Ordering::Relaxed) {
        let made2 = Arc::clone(&made);
        let t = thread::spawn(move || {
            let grandchild = thread::spawn(|| thread::sleep(Duration::from_micros(300)));
            made2.fetch_add(1, Ordering::Relaxed);
            thread::sleep(Duration::from_micros(200));
            grandchild.join().expect("grandchild");
        });
        made.fetch_add(1, Ordering::Relaxed);
        // Keep a few alive at once without a thread explosion.
        if made.load(Ordering::Relaxed) % 4 == 0 {
            t.join().expect("churned thread");
        }
    }
}

fn child() {
    let crowd = Crowd::start(4);
    crowd.expect_everywhere(
        "before (run outside a no_new_privs sandbox)",
        "NoNewPrivs",
        "0",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicUsize::new(0));
    let churners: Vec<_> = (0..2)
        .map(|_| {
            let (stop, made) = (Arc::clone(&stop), Arc::clone(&made));
            thread::spawn(move || churner(stop, made))
        })
        .collect();
    thread::sleep(Duration::from_millis(20));

    psx::set_no_new_privs().expect("psx::set_no_new_privs()");

    // Look for a thread without the flag while the churn goes on.
    let until = Instant::now() + Duration::from_millis(100);
    while Instant::now() < until {
        let tasks = tasks();
        let bad: Vec<_> = tasks
            .iter()
            .filter(|t| t.get("NoNewPrivs") != "1")
            .collect();
        assert!(
            bad.is_empty(),
            "threads without NoNewPrivs after psx::set_no_new_privs():\n{}",
            crowd.table(&tasks, &["NoNewPrivs", "State"], |t| t.get("NoNewPrivs")
                == "1")
        );
        thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    for c in churners {
        c.join().expect("churner");
    }
    crowd.expect_everywhere("after the churn", "NoNewPrivs", "1");
    println!("threads made: {}", made.load(Ordering::Relaxed));
    crowd.stop();
}

#[test]
fn threads_created_during_the_call() {
    if child_role().is_some() {
        child();
        return;
    }
    for round in 1..=ROUNDS {
        let out = run_child(TEST, "churn", Duration::from_secs(60));
        assert!(
            out.status.success(),
            "round {round} failed\n{}",
            describe_output(&out)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let made: usize = stdout
            .lines()
            // libtest may print "test ... " before it on the same line.
            .find_map(|l| l.split_once("threads made: ").map(|(_, n)| n))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("round {round}: no thread count\n{}", describe_output(&out)));
        assert!(
            made > 10,
            "round {round}: only {made} threads churned, the test proved little"
        );
    }
}
