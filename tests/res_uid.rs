// SPDX-License-Identifier: BSD-3-Clause
//! `psx::set_res_uid()` with the raw system call (root): effective only,
//! back, then all three. Also shows the capability fix-ups the kernel makes
//! on every thread.

mod common;
use common::*;
use psx::UNCHANGED;

#[test]
fn set_res_uid_reaches_every_thread() {
    require_root("set_res_uid_reaches_every_thread");
    let crowd = Crowd::start(8);
    let effective = own("CapEff");
    crowd.expect_everywhere("before", "Uid", "0\t0\t0\t0");

    psx::set_res_uid(UNCHANGED, 65534, UNCHANGED).expect("effective uid to 65534");
    let step = "after set_res_uid(UNCHANGED, 65534, UNCHANGED)";
    crowd.expect_everywhere(step, "Uid", "0\t65534\t0\t65534");
    crowd.expect_everywhere(step, "CapEff", &hex(0));

    // The real and saved uids are still 0, so 0 may come back.
    psx::set_res_uid(UNCHANGED, 0, UNCHANGED).expect("effective uid back to 0");
    let step = "after set_res_uid(UNCHANGED, 0, UNCHANGED)";
    crowd.expect_everywhere(step, "Uid", "0\t0\t0\t0");
    crowd.expect_everywhere(step, "CapEff", &effective);

    psx::set_res_uid(65534, 65534, 65534).expect("all uids to 65534");
    let step = "after set_res_uid(65534, 65534, 65534)";
    crowd.expect_everywhere(step, "Uid", "65534\t65534\t65534\t65534");
    crowd.expect_everywhere(step, "CapEff", &hex(0));
    crowd.expect_everywhere(step, "CapPrm", &hex(0));

    // Now unprivileged: going back is refused, and nothing changes.
    let err = psx::set_res_uid(0, 0, 0).expect_err("uid 0 after dropping root");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    crowd.expect_everywhere(
        "after a refused set_res_uid(0, 0, 0)",
        "Uid",
        "65534\t65534\t65534\t65534",
    );
    crowd.stop();
}
