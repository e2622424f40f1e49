/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 2: the main thread has left with pthread_exit(). It stays in
 * /proc/self/task as a zombie (State: Z) while the process lives, and a
 * signal sent to it is never handled. A worker's psx call must return, not
 * wait for it, and must reach every live thread.
 */
#include "common.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>
#include <unistd.h>

static pid_t g_main_tid;
static int g_unwrapped;

static int main_is_zombie(void)
{
    char st[4096];
    if (ct_read_status(0, g_main_tid, st, sizeof(st)) != 0) {
        return 0;
    }
    return ct_is_zombie(st);
}

static void *worker(void *arg)
{
    (void)arg;
    long deadline = ct_now_ms() + 5000;
    while (!main_is_zombie()) {
        CT_CHECK(ct_now_ms() < deadline, "main thread never became a zombie");
        ct_sleep_ms(5);
    }
    struct ct_group *g = ct_start_idle(6, CT_IDLE_COND, g_unwrapped, 0);
    /* live: this worker + 6 idle + the 2 started by main */
    int live = 1 + 6 + 2;
    long t0 = ct_now_ms();
    long r = psx_syscall6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    CT_CHECK(r == 0, "psx_syscall6(PR_SET_NO_NEW_PRIVS) = %ld errno %d", r,
             errno);
    ct_log("psx call with a zombie main thread returned after %ld ms",
           ct_now_ms() - t0);
    ct_require_all(0, "NoNewPrivs", "1", live);
    r = psx_syscall3(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_BOOT, 0);
    CT_CHECK(r == 0, "psx_syscall3(PR_CAPBSET_DROP) = %ld errno %d", r, errno);
    ct_require_all_bit(0, "CapBnd", CAP_SYS_BOOT, 0, live);
    ct_stop_idle(g);
    exit(0);
}

static int run(int unwrapped, int call_before)
{
    ct_require_root();
    ct_check_library();
    g_main_tid = ct_gettid();
    g_unwrapped = unwrapped;
    /* Two idle threads exist while main is still alive. */
    ct_start_idle(2, CT_IDLE_COND, 0, 0);
    if (call_before) {
        /* The library has seen the main thread alive in a broadcast. */
        long r = psx_syscall6(SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0, 0);
        CT_CHECK(r == 0, "psx_syscall6(PR_SET_KEEPCAPS) = %ld", r);
    }
    pthread_t t;
    CT_CHECK(ct_thread(&t, worker, NULL, unwrapped, 0) == 0, "thread");
    pthread_exit(NULL);
}

static int case_plain(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return run(0, 0);
}

static int case_after_call(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return run(0, 1);
}

static int case_unwrapped(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return run(1, 1);
}

static const struct ct_case cases[] = {
    {"main-exited", case_plain, 15, 0},
    {"main-exited-after-a-call", case_after_call, 15, 0},
    {"main-exited-unwrapped-worker", case_unwrapped, 15, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t02_main_exit", argc, argv, cases);
}
