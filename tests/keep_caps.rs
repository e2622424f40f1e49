// SPDX-License-Identifier: BSD-3-Clause
//! `psx::set_keep_caps()` on and off, several times: keepcaps is not in
//! /proc, so every crowd thread (and the caller) reads its own flag.

mod common;
use common::*;

fn keepcaps() -> i64 {
    raw_prctl(libc::PR_GET_KEEPCAPS, 0)
}

#[test]
fn set_keep_caps_reaches_every_thread() {
    let crowd = Crowd::start(8);
    crowd.expect_answers("before", "PR_GET_KEEPCAPS", keepcaps, 0);
    for round in 1..=3 {
        psx::set_keep_caps(true).expect("psx::set_keep_caps(true)");
        crowd.expect_answers(
            &format!("round {round}, on"),
            "PR_GET_KEEPCAPS",
            keepcaps,
            1,
        );
        psx::set_keep_caps(false).expect("psx::set_keep_caps(false)");
        crowd.expect_answers(
            &format!("round {round}, off"),
            "PR_GET_KEEPCAPS",
            keepcaps,
            0,
        );
    }
    crowd.stop();
}
