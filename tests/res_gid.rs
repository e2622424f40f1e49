// SPDX-License-Identifier: BSD-3-Clause
//! `psx::set_res_gid()` with the raw system call (root).

mod common;
use common::*;
use psx::UNCHANGED;

#[test]
fn set_res_gid_reaches_every_thread() {
    require_root("set_res_gid_reaches_every_thread");
    let crowd = Crowd::start(8);
    crowd.expect_everywhere("before", "Gid", "0\t0\t0\t0");

    psx::set_res_gid(UNCHANGED, 65534, UNCHANGED).expect("effective gid to 65534");
    crowd.expect_everywhere(
        "after set_res_gid(UNCHANGED, 65534, UNCHANGED)",
        "Gid",
        "0\t65534\t0\t65534",
    );

    psx::set_res_gid(100, 65534, 65533).expect("three different gids");
    crowd.expect_everywhere(
        "after set_res_gid(100, 65534, 65533)",
        "Gid",
        "100\t65534\t65533\t65534",
    );

    // Still root (CAP_SETGID): any gid may be set again.
    psx::set_res_gid(0, 0, 0).expect("gids back to 0");
    crowd.expect_everywhere("after set_res_gid(0, 0, 0)", "Gid", "0\t0\t0\t0");
    crowd.stop();
}
