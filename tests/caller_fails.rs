// SPDX-License-Identifier: BSD-3-Clause
//! When the call fails on the calling thread, psx returns the error and no
//! other thread is touched, although the call would succeed there (root).
//! The calling thread alone loses CAP_SETPCAP from its effective set (a
//! plain capset, not psx), so dropping a bounding capability fails there
//! with EPERM while every other thread could do it.

mod common;
use common::*;

#[test]
fn failure_on_the_caller_touches_no_other_thread() {
    require_root("failure_on_the_caller_touches_no_other_thread");
    let crowd = Crowd::start(8);
    let full = u64::from_str_radix(&own("CapEff"), 16).expect("CapEff is hex");
    let bounding = own("CapBnd");
    assert_ne!(
        full & cap(CAP_SETPCAP),
        0,
        "root without CAP_SETPCAP proves nothing"
    );

    // This thread only: effective without CAP_SETPCAP, permitted unchanged.
    let rc = raw_capset_this_thread(full & !cap(CAP_SETPCAP), full, 0);
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
    let me = gettid();
    crowd.expect_everywhere_by(
        "after the caller's own capset",
        "CapEff",
        "full, caller without CAP_SETPCAP",
        |v| {
            // Only the caller differs; checked per entry below.
            v == hex(full) || v == hex(full & !cap(CAP_SETPCAP))
        },
    );
    assert_eq!(own("CapEff"), hex(full & !cap(CAP_SETPCAP)));
    let others_full = tasks()
        .iter()
        .filter(|t| t.tid != me)
        .all(|t| t.get("CapEff") == hex(full));
    assert!(
        others_full,
        "other threads must keep CAP_SETPCAP:\n{}",
        crowd.table(&tasks(), &["CapEff"], |t| t.tid == me
            || t.get("CapEff") == hex(full))
    );

    let err = psx::drop_bounding_capability(CAP_NET_RAW).expect_err("the caller lacks CAP_SETPCAP");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    crowd.expect_everywhere(
        "after a drop that failed on the caller",
        "CapBnd",
        &bounding,
    );

    let err = psx::set_securebits(1 << 4).expect_err("the caller lacks CAP_SETPCAP");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    crowd.expect_answers(
        "after set_securebits failed on the caller",
        "PR_GET_SECUREBITS",
        || raw_prctl(libc::PR_GET_SECUREBITS, 0),
        0,
    );

    // The same call succeeds once the caller has CAP_SETPCAP again, and then
    // reaches everyone: the checks above could see a change.
    let rc = raw_capset_this_thread(full, full, 0);
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
    psx::drop_bounding_capability(CAP_NET_RAW).expect("drop CAP_NET_RAW");
    let expected = u64::from_str_radix(&bounding, 16).expect("hex") & !cap(CAP_NET_RAW);
    crowd.expect_everywhere("after the drop succeeded", "CapBnd", &hex(expected));
    crowd.stop();
}
