// SPDX-License-Identifier: BSD-3-Clause
//! keepcaps seen from /proc (root): after `psx::set_keep_caps(true)`, a
//! change of every uid to 65534 keeps the permitted set on every thread;
//! without keepcaps it would be emptied.

mod common;
use common::*;

#[test]
fn keep_caps_keeps_permitted_across_setresuid() {
    require_root("keep_caps_keeps_permitted_across_setresuid");
    let crowd = Crowd::start(8);
    let permitted = own("CapPrm");
    assert_ne!(
        permitted,
        hex(0),
        "root without permitted capabilities proves nothing"
    );
    crowd.expect_everywhere("before", "CapPrm", &permitted);
    crowd.expect_everywhere("before", "Uid", "0\t0\t0\t0");

    psx::set_keep_caps(true).expect("psx::set_keep_caps(true)");
    psx::set_res_uid(65534, 65534, 65534).expect("psx::set_res_uid(65534, 65534, 65534)");

    let step = "after set_keep_caps(true) and set_res_uid(65534, 65534, 65534)";
    crowd.expect_everywhere(step, "Uid", "65534\t65534\t65534\t65534");
    crowd.expect_everywhere(step, "CapPrm", &permitted);
    crowd.expect_everywhere(step, "CapEff", &hex(0));
    crowd.stop();
}
