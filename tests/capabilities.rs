// SPDX-License-Identifier: BSD-3-Clause
//! `psx::set_capabilities()` sets the effective, permitted and inheritable
//! sets of every thread, both 32-bit halves (root).

mod common;
use common::*;

fn parse(hex: &str) -> u64 {
    u64::from_str_radix(hex, 16).expect("capability set is hex")
}

#[test]
fn set_capabilities_reaches_every_thread() {
    require_root("set_capabilities_reaches_every_thread");
    let crowd = Crowd::start(8);
    let full = parse(&own("CapPrm"));
    let needed = cap(CAP_NET_RAW) | cap(CAP_SYS_ADMIN) | cap(CAP_SYSLOG) | cap(CAP_CHOWN);
    assert_eq!(
        full & needed,
        needed,
        "permitted set lacks capabilities the test drops: {full:x}"
    );
    crowd.expect_everywhere("before", "CapPrm", &hex(full));
    crowd.expect_everywhere("before", "CapEff", &hex(full));

    // Lower half and upper half (CAP_SYSLOG is 34); inheritable raised
    // within the permitted and bounding sets.
    let effective = full & !(cap(CAP_NET_RAW) | cap(CAP_SYS_ADMIN) | cap(CAP_SYSLOG));
    let permitted = full & !cap(CAP_NET_RAW);
    let inheritable = cap(CAP_CHOWN) | cap(CAP_NET_BIND_SERVICE) | cap(CAP_SYSLOG);
    psx::set_capabilities(effective, permitted, inheritable).expect("psx::set_capabilities");
    let step = "after set_capabilities(effective, permitted, inheritable)";
    crowd.expect_everywhere(step, "CapEff", &hex(effective));
    crowd.expect_everywhere(step, "CapPrm", &hex(permitted));
    crowd.expect_everywhere(step, "CapInh", &hex(inheritable));

    // Raising a capability that is no longer permitted: EPERM, no change.
    let err = psx::set_capabilities(full, full, 0).expect_err("raise beyond permitted");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    crowd.expect_everywhere("after a refused capset", "CapPrm", &hex(permitted));
    crowd.expect_everywhere("after a refused capset", "CapInh", &hex(inheritable));

    psx::set_capabilities(0, 0, 0).expect("psx::set_capabilities(0, 0, 0)");
    for field in ["CapEff", "CapPrm", "CapInh"] {
        crowd.expect_everywhere("after set_capabilities(0, 0, 0)", field, &hex(0));
    }
    crowd.stop();
}
