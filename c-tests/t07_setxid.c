/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 7: glibc's own all-threads broadcast (setxid: setresuid(),
 * setgroups() and friends, driven by signal 33) running at the same moment
 * as psx broadcasts in other threads. Both must finish, always: every loop
 * is bounded, and the driver's timeout turns a deadlock into a failure with
 * a per-thread table. At the end, every thread must carry the last state of
 * both: the groups glibc set, and the capability psx dropped.
 */
#include "common.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>
#include <unistd.h>

#define GLIBC_LOOPS 400
#define PSX_LOOPS 400

static void *glibc_setxid(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < GLIBC_LOOPS; i++) {
        gid_t groups[2] = {(gid_t)(1000 + id), (gid_t)(2000 + i)};
        CT_CHECK(setgroups(2, groups) == 0, "setgroups: %s", strerror(errno));
        CT_CHECK(setresgid((gid_t)-1, (gid_t)(3000 + i), (gid_t)-1) == 0,
                 "setresgid: %s", strerror(errno));
        CT_CHECK(setresuid(0, 0, 0) == 0, "setresuid: %s", strerror(errno));
    }
    return NULL;
}

/* Drops the 4 capabilities below from the bounding set, over and over
 * (idempotent, so the order against other callers does not matter). */
static const int g_caps[] = {CAP_SYS_BOOT, CAP_SYS_NICE, CAP_WAKE_ALARM,
                             CAP_SYS_TTY_CONFIG};

static void *psx_caller(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < PSX_LOOPS; i++) {
        int cap = g_caps[(i + id) % 4];
        long r = psx_syscall3(SYS_prctl, PR_CAPBSET_DROP, cap, 0);
        CT_CHECK(r == 0, "psx PR_CAPBSET_DROP(%d): %ld errno %d", cap, r,
                 errno);
    }
    return NULL;
}

static int final_state(pid_t tid, const char *status, void *arg)
{
    (void)tid;
    (void)arg;
    unsigned long long bnd = ct_field_hex(status, "CapBnd");
    for (int i = 0; i < 4; i++) {
        if ((bnd >> g_caps[i]) & 1) {
            return 0;
        }
    }
    char groups[128];
    ct_field(status, "Groups", groups, sizeof(groups));
    return strcmp(groups, "4242") == 0 && ct_field_col(status, "Gid", 1) == 4343;
}

static int case_setxid_vs_psx(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    struct ct_group *g = ct_start_idle(6, CT_IDLE_COND, 1, 0);
    pthread_t gl[2], px[2];
    long t0 = ct_now_ms();
    for (long i = 0; i < 2; i++) {
        CT_CHECK(ct_thread(&gl[i], glibc_setxid, (void *)i, (int)i, 0) == 0,
                 "thread");
        CT_CHECK(ct_thread(&px[i], psx_caller, (void *)i, (int)!i, 0) == 0,
                 "thread");
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(gl[i], NULL);
        pthread_join(px[i], NULL);
    }
    ct_log("%d glibc setxid calls and %d psx broadcasts in %ld ms",
           2 * GLIBC_LOOPS * 3, 2 * PSX_LOOPS, ct_now_ms() - t0);
    /* One last of each, then every thread must show both. */
    gid_t last = 4242;
    CT_CHECK(setgroups(1, &last) == 0, "setgroups");
    CT_CHECK(setresgid((gid_t)-1, 4343, (gid_t)-1) == 0, "setresgid");
    ct_require_threads(0, "Groups 4242, egid 4343 and the four bounding "
                          "capabilities dropped",
                       final_state, NULL, 1 + 6);
    ct_stop_idle(g);
    return 0;
}

/* More of both at once, over more threads: three glibc setxid loops and
 * three psx callers, so that each kind of broadcast often finds threads busy
 * in the other's. */
static int case_setxid_many_threads(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    struct ct_group *g = ct_start_idle(24, CT_IDLE_COND, 1, 0);
    pthread_t gl[3], px[3];
    for (long i = 0; i < 3; i++) {
        CT_CHECK(ct_thread(&gl[i], glibc_setxid, (void *)i, (int)(i & 1), 0) ==
                     0, "thread");
        CT_CHECK(ct_thread(&px[i], psx_caller, (void *)i, (int)!(i & 1), 0) ==
                     0, "thread");
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(gl[i], NULL);
        pthread_join(px[i], NULL);
    }
    gid_t last = 4242;
    CT_CHECK(setgroups(1, &last) == 0, "setgroups");
    CT_CHECK(setresgid((gid_t)-1, 4343, (gid_t)-1) == 0, "setresgid");
    ct_require_threads(0, "Groups 4242, egid 4343 and the four bounding "
                          "capabilities dropped",
                       final_state, NULL, 1 + 24);
    ct_stop_idle(g);
    return 0;
}

static const struct ct_case cases[] = {
    {"setxid-and-psx-together", case_setxid_vs_psx, 45, 0},
    {"setxid-and-psx-3x3-callers", case_setxid_many_threads, 60, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t07_setxid", argc, argv, cases);
}
