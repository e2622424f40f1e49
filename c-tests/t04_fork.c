/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 4: fork().
 *  - A fork()ed child that starts threads of its own gets all-threads
 *    behaviour (with and without a psx call in the parent before the fork),
 *    and the parent keeps it too; neither's call leaks into the other.
 *  - Forks in the middle of another thread's broadcasts: one thread loops
 *    psx calls while another loops fork(); every child (threads of its own,
 *    a psx call, a per-thread check) must finish, and the parent's threads
 *    must each have run every broadcast exactly once (the counting call,
 *    see ct_count_fd in common.h).
 */
#include "common.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* In a forked child: threads of its own, a call, a per-thread check. */
static void child_body(int nthreads)
{
    ct_subcase = "forked-child";
    struct ct_group *g = ct_start_idle(nthreads, CT_IDLE_COND, 1, 0);
    ct_require_all(0, "NoNewPrivs", "0", 1 + nthreads);
    long r = psx_syscall6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    CT_CHECK(r == 0, "child: psx_syscall6(PR_SET_NO_NEW_PRIVS) = %ld errno %d",
             r, errno);
    ct_require_all(0, "NoNewPrivs", "1", 1 + nthreads);
    ct_stop_idle(g);
}

static void wait_child(pid_t pid, long timeout_ms)
{
    int st;
    if (ct_wait(pid, timeout_ms, &st) != 0) {
        ct_print_table(pid, "threads of the forked child that hung");
        ct_kill(pid);
        ct_fail("forked child %d did not finish within %ld ms", (int)pid,
                timeout_ms);
    }
    CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "forked child %d: %s",
             (int)pid, ct_status_str(st));
}

static int run_child_threads(int call_before)
{
    ct_require_root();
    ct_check_library();
    struct ct_group *g = ct_start_idle(4, CT_IDLE_COND, 1, 0);
    if (call_before) {
        long r = psx_syscall6(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0,
                              0, 0);
        CT_CHECK(r == 0, "parent's first call: %ld", r);
        ct_require_all_bit(0, "CapBnd", CAP_SYS_BOOT, 0, 5);
    }
    pid_t pid = fork();
    CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        child_body(6);
        _exit(0);
    }
    wait_child(pid, 8000);
    /* The child's call did not touch the parent. */
    ct_require_all(0, "NoNewPrivs", "0", 5);
    long r = psx_syscall6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    CT_CHECK(r == 0, "parent after fork: %ld errno %d", r, errno);
    ct_require_all(0, "NoNewPrivs", "1", 5);
    /* And a second generation: a child of the (now NNP) parent. */
    pid = fork();
    CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        struct ct_group *cg = ct_start_idle(5, CT_IDLE_COND, 1, 0);
        long rr = psx_syscall6(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_NICE, 0, 0,
                               0, 0);
        CT_CHECK(rr == 0, "second child: %ld errno %d", rr, errno);
        ct_require_all_bit(0, "CapBnd", CAP_SYS_NICE, 0, 6);
        ct_stop_idle(cg);
        _exit(0);
    }
    wait_child(pid, 8000);
    ct_require_all_bit(0, "CapBnd", CAP_SYS_NICE, 1, 5);
    ct_stop_idle(g);
    return 0;
}

static int case_child_after_call(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return run_child_threads(1);
}

static int case_child_no_call(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return run_child_threads(0);
}

/* The caller keeps broadcasting while the forker forks (at least
 * MIN_CALLS, at most MAX_CALLS). */
#define MIN_CALLS 150
#define MAX_CALLS 2000
#define NFORKS 40

static int g_forker_done;
static long g_calls;

static void *caller(void *arg)
{
    (void)arg;
    long i = 0;
    while (i < MIN_CALLS ||
           (i < MAX_CALLS && !__atomic_load_n(&g_forker_done, __ATOMIC_ACQUIRE))) {
        long r = psx_syscall3(CT_COUNT_CALL);
        CT_CHECK(r == CT_COUNT_BYTES, "broadcast %ld: counting call: %ld errno %d", i, r, errno);
        i++;
    }
    g_calls = i;
    return NULL;
}

static void *forker(void *arg)
{
    (void)arg;
    for (int i = 0; i < NFORKS; i++) {
        pid_t pid = fork();
        CT_CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            child_body(3);
            _exit(0);
        }
        wait_child(pid, 8000);
    }
    __atomic_store_n(&g_forker_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int case_fork_during_broadcasts(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    ct_count_fd();
    struct ct_group *g = ct_start_idle(4, CT_IDLE_COND, 1, 0);
    pthread_t tc, tf;
    CT_CHECK(ct_thread(&tf, forker, NULL, 0, 0) == 0, "thread");
    CT_CHECK(ct_thread(&tc, caller, NULL, 1, 0) == 0, "thread");
    pthread_join(tf, NULL);
    pthread_join(tc, NULL);
    /* The idle threads existed before the first broadcast: each must have
     * run every broadcast exactly once. */
    static struct ct_counts want;
    for (int i = 0; i < ct_group_size(g); i++) {
        ct_counts_expect(&want, ct_group_tid(g, i), g_calls, g_calls);
    }
    char what[96];
    snprintf(what, sizeof(what), "counting call run %ld times (once per broadcast)",
             g_calls);
    ct_log("%d forks during %ld broadcasts", NFORKS, g_calls);
    ct_require_threads(0, what, ct_pred_counts, &want, 5);
    long r = psx_syscall6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    CT_CHECK(r == 0, "parent's last call: %ld errno %d", r, errno);
    ct_require_all(0, "NoNewPrivs", "1", 5);
    ct_stop_idle(g);
    return 0;
}

static const struct ct_case cases[] = {
    {"child-threads-after-a-call", case_child_after_call, 20, 0},
    {"child-threads-no-call-before", case_child_no_call, 20, 0},
    {"fork-during-broadcasts", case_fork_during_broadcasts, 60, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t04_fork", argc, argv, cases);
}
