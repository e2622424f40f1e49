// SPDX-License-Identifier: BSD-3-Clause
//! `psx::drop_bounding_capability()` removes exactly that capability from
//! the bounding set of every thread (root).

mod common;
use common::*;

#[test]
fn drop_bounding_capability_reaches_every_thread() {
    require_root("drop_bounding_capability_reaches_every_thread");
    let crowd = Crowd::start(8);
    let before = u64::from_str_radix(&own("CapBnd"), 16).expect("CapBnd is hex");
    let wanted = cap(CAP_NET_RAW) | cap(CAP_SYS_BOOT) | cap(CAP_SYSLOG);
    assert_eq!(
        before & wanted,
        wanted,
        "the bounding set lacks a capability to drop: {before:x}"
    );
    crowd.expect_everywhere("before", "CapBnd", &hex(before));

    psx::drop_bounding_capability(CAP_NET_RAW).expect("drop CAP_NET_RAW");
    let mut expected = before & !cap(CAP_NET_RAW);
    crowd.expect_everywhere("after dropping CAP_NET_RAW", "CapBnd", &hex(expected));

    // Upper half of the 64-bit set, and a second drop.
    psx::drop_bounding_capability(CAP_SYSLOG).expect("drop CAP_SYSLOG");
    psx::drop_bounding_capability(CAP_SYS_BOOT).expect("drop CAP_SYS_BOOT");
    expected &= !(cap(CAP_SYSLOG) | cap(CAP_SYS_BOOT));
    crowd.expect_everywhere(
        "after dropping CAP_SYSLOG, CAP_SYS_BOOT",
        "CapBnd",
        &hex(expected),
    );

    // A capability the kernel does not know: EINVAL, nothing changes.
    let err = psx::drop_bounding_capability(200).expect_err("capability 200");
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
    crowd.expect_everywhere("after a refused drop", "CapBnd", &hex(expected));
    crowd.stop();
}
