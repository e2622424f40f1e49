// SPDX-License-Identifier: BSD-3-Clause
//! `psx::set_no_new_privs()` reaches every thread, however it was made and
//! whatever it is blocked in. Irreversible, so it has this binary to itself.

mod common;
use common::*;

fn no_new_privs() -> i64 {
    raw_prctl(libc::PR_GET_NO_NEW_PRIVS, 0)
}

#[test]
fn set_no_new_privs_reaches_every_thread() {
    let crowd = Crowd::start(24);
    // If the test itself runs with no_new_privs (a sandbox), it proves nothing.
    crowd.expect_everywhere(
        "before the call (run outside a no_new_privs sandbox)",
        "NoNewPrivs",
        "0",
    );

    psx::set_no_new_privs().expect("psx::set_no_new_privs()");

    crowd.expect_everywhere("after psx::set_no_new_privs()", "NoNewPrivs", "1");
    crowd.expect_answers(
        "after psx::set_no_new_privs()",
        "PR_GET_NO_NEW_PRIVS",
        no_new_privs,
        1,
    );

    // Idempotent: a second call succeeds and changes nothing.
    psx::set_no_new_privs().expect("second psx::set_no_new_privs()");
    crowd.expect_everywhere("after a second call", "NoNewPrivs", "1");
    crowd.stop();
}
