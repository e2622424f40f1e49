// SPDX-License-Identifier: BSD-3-Clause
//! `psx::clear_ambient_capabilities()` (root): first raise an ambient
//! capability on every thread (so there is something to clear), then clear.

mod common;
use common::*;
use libc::c_long;

#[test]
fn clear_ambient_capabilities_reaches_every_thread() {
    require_root("clear_ambient_capabilities_reaches_every_thread");
    let crowd = Crowd::start(8);
    let full = u64::from_str_radix(&own("CapPrm"), 16).expect("CapPrm is hex");
    crowd.expect_everywhere("before", "CapAmb", &hex(0));

    // An ambient capability must be permitted and inheritable.
    let raised = cap(CAP_NET_BIND_SERVICE) | cap(CAP_SYSLOG);
    psx::set_capabilities(full, full, raised).expect("make them inheritable");
    for c in [CAP_NET_BIND_SERVICE, CAP_SYSLOG] {
        // SAFETY: raising an ambient capability only matters at execve().
        unsafe {
            psx::syscall6(
                libc::SYS_prctl,
                libc::PR_CAP_AMBIENT as c_long,
                libc::PR_CAP_AMBIENT_RAISE as c_long,
                c_long::from(c),
                0,
                0,
                0,
            )
        }
        .expect("PR_CAP_AMBIENT_RAISE");
    }
    crowd.expect_everywhere(
        "after raising two ambient capabilities",
        "CapAmb",
        &hex(raised),
    );

    psx::clear_ambient_capabilities().expect("psx::clear_ambient_capabilities()");
    crowd.expect_everywhere("after clear_ambient_capabilities()", "CapAmb", &hex(0));
    crowd.expect_everywhere("after clear_ambient_capabilities()", "CapInh", &hex(raised));
    crowd.stop();
}
