/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 5: threads that block every signal the C library lets them block
 * (sigfillset + pthread_sigmask / sigprocmask; glibc quietly keeps its
 * internal signals 32 and 33 deliverable) are still reached, whether they
 * block after starting or inherit the mask from their creator, and whether
 * they wait on a condition variable, sleep, read a pipe or sit in
 * sigwaitinfo() on the full set.
 */
#include "common.h"

#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>

static void block_all(int index)
{
    (void)index;
    sigset_t all;
    sigfillset(&all);
    int r = pthread_sigmask(SIG_BLOCK, &all, NULL);
    if (r != 0) {
        ct_fail("pthread_sigmask: %s", strerror(r));
    }
}

static int g_stop_waiter;

/* A daemon's signal thread: sigwaitinfo() on every signal, forever. */
static void *sigwaiter(void *arg)
{
    (void)arg;
    block_all(0);
    sigset_t all;
    sigfillset(&all);
    while (!__atomic_load_n(&g_stop_waiter, __ATOMIC_ACQUIRE)) {
        siginfo_t si;
        struct timespec ts = {0, 100 * 1000000L};
        int s = sigtimedwait(&all, &si, &ts);
        if (s > 0 && s != SIGUSR2) {
            ct_fail("sigwaitinfo thread dequeued signal %d (si_code %d): a "
                    "signal meant for someone else", s, si.si_code);
        }
    }
    return NULL;
}

/* Whether the thread sleeps in rt_sigtimedwait. */
static int in_sigtimedwait(pid_t tid)
{
    struct ct_syscall s;
    return ct_read_syscall(0, tid, &s) == 0 && s.nr == SYS_rt_sigtimedwait;
}

static int mask_full(const char *status)
{
    unsigned long long blk = ct_field_hex(status, "SigBlk");
    /* every signal but SIGKILL (9), SIGSTOP (19), 32 and 33 */
    unsigned long long want = ~0ULL & ~(1ULL << 8) & ~(1ULL << 18) &
                              ~(1ULL << 31) & ~(1ULL << 32);
    return (blk & want) == want;
}

/* SigBlk of a thread that blocked everything glibc allows. While a thread
 * sits in sigtimedwait() the kernel shows its mask minus the waited set, so
 * those threads are recognised by the call they sleep in instead. A
 * sigwaiter goes in and out of its 100 ms waits, and each look at /proc is
 * a separate instant: the mask and the call are read again, up to 200
 * times 1 ms apart, until one of them tells (a thread whose mask really
 * changed never does). */
static int blocks_all(pid_t tid, const char *status, void *arg)
{
    (void)arg;
    if (mask_full(status)) {
        return 1;
    }
    char again[4096];
    for (int tries = 0; tries < 200; tries++) {
        if (in_sigtimedwait(tid)) {
            return 1;
        }
        if (ct_read_status(0, tid, again, sizeof(again)) != 0) {
            return 0;
        }
        if (mask_full(again)) {
            return 1;
        }
        ct_sleep_ms(1);
    }
    return 0;
}

static int run(int inherit)
{
    ct_require_root();
    ct_check_library();
    if (inherit) {
        sigset_t all;
        sigfillset(&all);
        CT_CHECK(sigprocmask(SIG_BLOCK, &all, NULL) == 0, "sigprocmask");
    } else {
        ct_idle_hook = block_all;
    }
    struct ct_group *c = ct_start_idle(6, CT_IDLE_COND, 1, 0);
    struct ct_group *s = ct_start_idle(3, CT_IDLE_SLEEP, 1, 0);
    struct ct_group *r = ct_start_idle(3, CT_IDLE_READ, 1, 0);
    pthread_t w1, w2;
    CT_CHECK(ct_thread(&w1, sigwaiter, NULL, 0, 0) == 0, "thread");
    CT_CHECK(ct_thread(&w2, sigwaiter, NULL, 1, 0) == 0, "thread");
    block_all(0); /* the caller too */
    ct_sleep_ms(50);
    int live = 1 + 6 + 3 + 3 + 2;
    ct_require_threads(0, "every thread blocks every signal glibc allows",
                       blocks_all, NULL, live);
    long ret = psx_syscall6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    CT_CHECK(ret == 0, "psx_syscall6(PR_SET_NO_NEW_PRIVS) = %ld errno %d", ret,
             errno);
    ct_require_all(0, "NoNewPrivs", "1", live);
    ret = psx_syscall3(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_BOOT, 0);
    CT_CHECK(ret == 0, "psx_syscall3(PR_CAPBSET_DROP) = %ld errno %d", ret,
             errno);
    ct_require_all_bit(0, "CapBnd", CAP_SYS_BOOT, 0, live);
    /* Still blocking everything afterwards. */
    ct_require_threads(0, "masks unchanged after the calls", blocks_all, NULL,
                       live);
    __atomic_store_n(&g_stop_waiter, 1, __ATOMIC_RELEASE);
    pthread_join(w1, NULL);
    pthread_join(w2, NULL);
    ct_stop_idle(r);
    ct_stop_idle(s);
    ct_stop_idle(c);
    return 0;
}

static int case_block_after_start(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return run(0);
}

static int case_inherited(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return run(1);
}

static const struct ct_case cases[] = {
    {"pthread_sigmask-all", case_block_after_start, 20, 0},
    {"inherited-full-mask", case_inherited, 20, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t05_sigmask", argc, argv, cases);
}
