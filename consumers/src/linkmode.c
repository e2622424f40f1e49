/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One program for the link-mode matrix: {shared libpsx.so.2, static
 * libpsx.a, fully static executable} x {-Wl,--wrap=pthread_create, none}.
 * Without --wrap no thread is registered with psx: every thread must still
 * be reached. Checks each change on every thread through /proc. Root only
 * (setfsgid to another group).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/prctl.h>
#include <sys/psx_syscall.h>
#include <sys/syscall.h>

#include "threadcheck.h"

int main(void)
{
    struct tc_idfield fsgid_0 = {3, 0}, fsgid_777 = {3, 777};
    long r;
    int fails = 0;

    setvbuf(stdout, NULL, _IONBF, 0);
    if (tc_require_root() || tc_check_loaded_psx()) {
        return 1;
    }
    if (tc_start_threads(4)) {
        return 1;
    }
    if (tc_expect_all("NoNewPrivs 0 before", "NoNewPrivs", tc_pred_equals, "0", 5)) {
        return 1;
    }
    r = psx_syscall3(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0);
    if (r != 0) {
        fprintf(stderr, "FAIL: psx_syscall3(prctl NO_NEW_PRIVS) = %ld: %s\n", r,
                strerror(errno));
        return 1;
    }
    fails += tc_expect_all("psx_syscall3: NoNewPrivs 1", "NoNewPrivs", tc_pred_equals, "1", 5);

    /* Threads created after the first call, then a six-argument call. */
    if (tc_start_threads(4)) {
        return 1;
    }
    fails += tc_expect_all("fsgid 0 before", "Gid", tc_pred_idfield, &fsgid_0, 9);
    r = psx_syscall6(SYS_setfsgid, 777, 0, 0, 0, 0, 0);
    if (r != 0) {
        fprintf(stderr, "FAIL: psx_syscall6(SYS_setfsgid, 777) returned %ld\n", r);
        return 1;
    }
    fails += tc_expect_all("psx_syscall6: fsgid 777", "Gid", tc_pred_idfield, &fsgid_777, 9);

    /* After some threads have exited (joined), the rest are still reached. */
    tc_stop_threads();
    if (tc_start_threads(2) || tc_wait_task_count(3)) {
        return 1;
    }
    r = psx_syscall3(SYS_setfsgid, 0, 0, 0);
    if (r != 777) {
        fprintf(stderr, "FAIL: psx_syscall3(SYS_setfsgid, 0) returned %ld\n", r);
        return 1;
    }
    fails += tc_expect_all("psx_syscall3 after churn: fsgid 0", "Gid", tc_pred_idfield, &fsgid_0,
                           3);
    tc_stop_threads();
    if (fails) {
        fprintf(stderr, "linkmode: FAILED (%d checks)\n", fails);
        return 1;
    }
    printf("linkmode: PASSED\n");
    return 0;
}
