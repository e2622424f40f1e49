// SPDX-License-Identifier: BSD-3-Clause
//! `psx::syscall3` / `psx::syscall6`: the caller's result is returned, errors
//! come back as the OS error with no other thread touched, arguments reach
//! the kernel (zeros after the third for `syscall3`, all six for `syscall6`).

mod common;
use common::*;
use libc::c_long;

fn keepcaps() -> i64 {
    raw_prctl(libc::PR_GET_KEEPCAPS, 0)
}

const PRCTL: c_long = libc::SYS_prctl;
const NO_NEW_PRIVS: c_long = libc::PR_SET_NO_NEW_PRIVS as c_long;
const KEEPCAPS: c_long = libc::PR_SET_KEEPCAPS as c_long;

#[test]
fn syscall3_and_syscall6() {
    let crowd = Crowd::start(8);
    crowd.expect_everywhere(
        "before (run outside a no_new_privs sandbox)",
        "NoNewPrivs",
        "0",
    );
    crowd.expect_answers("before", "PR_GET_KEEPCAPS", keepcaps, 0);

    // The caller's result comes back: gettid differs on every thread.
    // SAFETY: gettid changes nothing.
    let tid = unsafe { psx::syscall3(libc::SYS_gettid, 0, 0, 0) }.expect("gettid");
    assert_eq!(
        tid,
        i64::from(gettid()),
        "syscall3 must return the caller's result"
    );

    // The caller's error comes back as the OS error.
    // SAFETY: an unknown prctl option changes nothing.
    let err = unsafe { psx::syscall3(PRCTL, 0x7fff_0000, 0, 0) }.expect_err("bad prctl option");
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");

    // syscall6 passes argument 4: PR_SET_NO_NEW_PRIVS refuses a non-zero one,
    // and then no thread at all may have the flag.
    // SAFETY: a refused prctl changes nothing.
    let err = unsafe { psx::syscall6(PRCTL, NO_NEW_PRIVS, 1, 0, 1, 0, 0) }
        .expect_err("PR_SET_NO_NEW_PRIVS with a non-zero fourth argument");
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
    crowd.expect_everywhere("after a call that failed on the caller", "NoNewPrivs", "0");

    // syscall3 passes zeros for arguments 4 and 5, which prctl checks.
    // SAFETY: keepcaps only matters at the next uid change.
    let r = unsafe { psx::syscall3(PRCTL, KEEPCAPS, 1, 0) }.expect("PR_SET_KEEPCAPS 1");
    assert_eq!(r, 0);
    crowd.expect_answers(
        "after syscall3(PR_SET_KEEPCAPS, 1)",
        "PR_GET_KEEPCAPS",
        keepcaps,
        1,
    );

    // SAFETY: as above.
    unsafe { psx::syscall6(PRCTL, KEEPCAPS, 0, 0, 0, 0, 0) }.expect("PR_SET_KEEPCAPS 0");
    crowd.expect_answers(
        "after syscall6(PR_SET_KEEPCAPS, 0)",
        "PR_GET_KEEPCAPS",
        keepcaps,
        0,
    );

    // SAFETY: no_new_privs only restricts future execve()s.
    unsafe { psx::syscall6(PRCTL, NO_NEW_PRIVS, 1, 0, 0, 0, 0) }.expect("PR_SET_NO_NEW_PRIVS");
    crowd.expect_everywhere("after syscall6(PR_SET_NO_NEW_PRIVS, 1)", "NoNewPrivs", "1");
    crowd.stop();
}
