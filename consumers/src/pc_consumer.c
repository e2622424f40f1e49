/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An installed-library consumer: built outside the source tree with nothing
 * but `pkg-config --cflags --libs libpsx` and <sys/psx_syscall.h>. Valid
 * C89, C11 and C++17. Uses the psx_syscall() macro with 1, 3 and 6
 * arguments and checks each change on every thread through /proc.
 * Must run as root (setfsuid/setresgid on behalf of other ids).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/prctl.h>
#include <sys/psx_syscall.h>
#include <sys/syscall.h>

#include "threadcheck.h"

#define NTHREADS 6

int main(void)
{
    struct tc_idfield fsuid_0 = {3, 0}, fsuid_4321 = {3, 4321};
    struct tc_idfield egid_0 = {1, 0}, egid_4242 = {1, 4242};
    long r;
    int fails = 0;

    setvbuf(stdout, NULL, _IONBF, 0);
    if (tc_require_root() || tc_check_loaded_psx()) {
        return 1;
    }
    if (psx_set_sensitivity(PSX_WARNING) != 0) {
        perror("psx_set_sensitivity(PSX_WARNING)");
        return 1;
    }
    if (tc_start_threads(NTHREADS)) {
        return 1;
    }
    fails += tc_expect_all("fsuid 0 before", "Uid", tc_pred_idfield, &fsuid_0, NTHREADS + 1);
    fails += tc_expect_all("NoNewPrivs 0 before", "NoNewPrivs", tc_pred_equals, "0",
                           NTHREADS + 1);
    if (fails) {
        return 1;
    }

    /* One argument: setfsuid(4321) returns the previous fsuid, 0. */
    r = psx_syscall(SYS_setfsuid, 4321);
    if (r != 0) {
        fprintf(stderr, "FAIL: psx_syscall(SYS_setfsuid, 4321) returned %ld\n", r);
        return 1;
    }
    fails += tc_expect_all("psx_syscall 1 arg: fsuid 4321", "Uid", tc_pred_idfield, &fsuid_4321,
                           NTHREADS + 1);
    r = psx_syscall(SYS_setfsuid, 0);
    if (r != 4321) {
        fprintf(stderr, "FAIL: psx_syscall(SYS_setfsuid, 0) returned %ld\n", r);
        return 1;
    }
    fails += tc_expect_all("psx_syscall 1 arg: fsuid back to 0", "Uid", tc_pred_idfield,
                           &fsuid_0, NTHREADS + 1);

    /* Three arguments: setresgid(-1, 4242, -1), then back to 0. */
    r = psx_syscall(SYS_setresgid, -1, 4242, -1);
    if (r != 0) {
        fprintf(stderr, "FAIL: psx_syscall(SYS_setresgid, -1, 4242, -1) = %ld: %s\n", r,
                strerror(errno));
        return 1;
    }
    fails += tc_expect_all("psx_syscall 3 args: egid 4242", "Gid", tc_pred_idfield, &egid_4242,
                           NTHREADS + 1);
    r = psx_syscall(SYS_setresgid, 0, 0, 0);
    if (r != 0) {
        fprintf(stderr, "FAIL: psx_syscall(SYS_setresgid, 0, 0, 0) = %ld\n", r);
        return 1;
    }
    fails += tc_expect_all("psx_syscall 3 args: egid back to 0", "Gid", tc_pred_idfield, &egid_0,
                           NTHREADS + 1);

    /* Six arguments: prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) (+ one unused). */
    r = psx_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    if (r != 0) {
        fprintf(stderr, "FAIL: psx_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0)"
                        " = %ld: %s\n", r, strerror(errno));
        return 1;
    }
    fails += tc_expect_all("psx_syscall 6 args: NoNewPrivs 1", "NoNewPrivs", tc_pred_equals,
                           "1", NTHREADS + 1);

    tc_stop_threads();
    if (fails) {
        fprintf(stderr, "pc_consumer: FAILED (%d checks)\n", fails);
        return 1;
    }
    printf("pc_consumer: PASSED\n");
    return 0;
}
