// SPDX-License-Identifier: BSD-3-Clause
//! `psx::set_groups()` with the raw system call (root).

mod common;
use common::*;

#[test]
fn set_groups_reaches_every_thread() {
    require_root("set_groups_reaches_every_thread");
    let crowd = Crowd::start(8);
    let before = own("Groups");
    crowd.expect_everywhere("before", "Groups", &before);

    psx::set_groups(&[4, 27, 65534]).expect("psx::set_groups(&[4, 27, 65534])");
    crowd.expect_everywhere("after set_groups(&[4, 27, 65534])", "Groups", "4 27 65534");

    psx::set_groups(&[]).expect("psx::set_groups(&[])");
    crowd.expect_everywhere("after set_groups(&[])", "Groups", "");

    // More than NGROUPS_MAX (65536): EINVAL, nothing changes.
    let many: Vec<u32> = (0..70_000).collect();
    let err = psx::set_groups(&many).expect_err("70000 groups");
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
    crowd.expect_everywhere("after a refused set_groups", "Groups", "");
    crowd.stop();
}
