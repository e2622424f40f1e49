/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * 10,000 threads (every third one made around psx's wrapper) on small
 * stacks: one broadcast must complete and reach each of them, checked one by
 * one in /proc; then a second one.
 */
#include "common.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>

#define NTHREADS 10000

static long read_sysctl(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) {
            v = -1;
        }
        fclose(f);
    }
    return v;
}

static int case_10k(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NPROC, &rl);
    }
    long pid_max = read_sysctl("/proc/sys/kernel/pid_max");
    long threads_max = read_sysctl("/proc/sys/kernel/threads-max");
    long maps = read_sysctl("/proc/sys/vm/max_map_count");
    CT_CHECK(pid_max < 0 || pid_max > NTHREADS + 1000,
             "kernel.pid_max is %ld: too small for %d threads", pid_max,
             NTHREADS);
    CT_CHECK(threads_max < 0 || threads_max > NTHREADS + 1000,
             "kernel.threads-max is %ld: too small for %d threads",
             threads_max, NTHREADS);
    CT_CHECK(maps < 0 || maps > 2 * NTHREADS + 1000,
             "vm.max_map_count is %ld: too small for %d thread stacks", maps,
             NTHREADS);
    long t0 = ct_now_ms();
    struct ct_group *g = ct_start_idle(NTHREADS, CT_IDLE_COND, 1, 64 * 1024);
    long t1 = ct_now_ms();
    long r = psx_syscall6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    long t2 = ct_now_ms();
    CT_CHECK(r == 0, "psx_syscall6(PR_SET_NO_NEW_PRIVS) = %ld errno %d", r,
             errno);
    ct_log("%d threads started in %ld ms; one broadcast took %ld ms", NTHREADS,
           t1 - t0, t2 - t1);
    ct_require_all(0, "NoNewPrivs", "1", 1 + NTHREADS);
    t1 = ct_now_ms();
    r = psx_syscall3(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_BOOT, 0);
    t2 = ct_now_ms();
    CT_CHECK(r == 0, "psx_syscall3(PR_CAPBSET_DROP) = %ld errno %d", r, errno);
    ct_log("second broadcast took %ld ms", t2 - t1);
    ct_require_all_bit(0, "CapBnd", CAP_SYS_BOOT, 0, 1 + NTHREADS);
    ct_stop_idle(g);
    return 0;
}

static const struct ct_case cases[] = {
    {"10000-threads", case_10k, 90, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t11_10k_threads", argc, argv, cases);
}
