// SPDX-License-Identifier: BSD-3-Clause
//! `psx::set_securebits()` (root). Securebits are not in /proc: each crowd
//! thread reads its own, and the effect is then checked on every /proc
//! entry: with SECBIT_NO_SETUID_FIXUP and SECBIT_KEEP_CAPS, moving every uid
//! to 65534 keeps the capability sets (without them they would be emptied).

mod common;
use common::*;

const SECBIT_NO_SETUID_FIXUP: u32 = 1 << 2;
const SECBIT_KEEP_CAPS: u32 = 1 << 4;

fn securebits() -> i64 {
    raw_prctl(libc::PR_GET_SECUREBITS, 0)
}

#[test]
fn set_securebits_reaches_every_thread() {
    require_root("set_securebits_reaches_every_thread");
    let crowd = Crowd::start(8);
    crowd.expect_answers("before", "PR_GET_SECUREBITS", securebits, 0);
    let effective = own("CapEff");
    let permitted = own("CapPrm");
    assert_ne!(
        effective,
        hex(0),
        "root without effective capabilities proves nothing"
    );
    crowd.expect_everywhere("before", "CapEff", &effective);

    let bits = SECBIT_NO_SETUID_FIXUP | SECBIT_KEEP_CAPS;
    psx::set_securebits(bits).expect("psx::set_securebits");
    crowd.expect_answers(
        "after set_securebits",
        "PR_GET_SECUREBITS",
        securebits,
        bits.into(),
    );

    psx::set_res_uid(65534, 65534, 65534).expect("psx::set_res_uid(65534, 65534, 65534)");
    let step = "after set_securebits(NO_SETUID_FIXUP|KEEP_CAPS) and set_res_uid(65534...)";
    crowd.expect_everywhere(step, "Uid", "65534\t65534\t65534\t65534");
    crowd.expect_everywhere(step, "CapEff", &effective);
    crowd.expect_everywhere(step, "CapPrm", &permitted);

    // Back to none (the process still has CAP_SETPCAP in its effective set).
    psx::set_securebits(0).expect("psx::set_securebits(0)");
    crowd.expect_answers(
        "after set_securebits(0)",
        "PR_GET_SECUREBITS",
        securebits,
        0,
    );
    crowd.stop();
}
