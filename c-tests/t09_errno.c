/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 9: the errno of every interrupted thread is unchanged after a
 * broadcast, even when the mirrored call fails on that thread.
 *
 * Every thread sets errno to its own value and keeps checking it: spinners
 * in a busy loop, sleepers around a raw futex wait (raw system calls never
 * touch errno, so any change comes from the broadcast). Half of them lack
 * CAP_SETPCAP in their effective set, so PR_CAPBSET_DROP fails (EPERM) on
 * them while it succeeds on the caller; /proc confirms afterwards that it
 * really failed there and succeeded elsewhere. The caller's own errno must
 * be unchanged by each successful call too.
 */
#include "common.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>

#define NSPIN 2
#define NSLEEP 6
#define NT (NSPIN + NSLEEP)
#define NCALLS 200

static const int g_caps[] = {CAP_SYS_BOOT, CAP_SYS_NICE, CAP_WAKE_ALARM,
                             CAP_SYS_TTY_CONFIG};

struct tstate {
    pthread_t th;
    pid_t tid;
    int index;
    int capless;
    long checks;
    long mismatches;
    int last_seen;
    int ready;
};
static struct tstate g_t[NT];
static int g_stop;
static int g_futex;

static void *thread_main(void *arg)
{
    struct tstate *t = (struct tstate *)arg;
    t->tid = ct_gettid();
    if (t->capless) {
        ct_drop_cap_self(CAP_SETPCAP, 0);
    }
    int mine = 1000 + t->index;
    errno = mine;
    __atomic_store_n(&t->ready, 1, __ATOMIC_RELEASE);
    int spinner = t->index < NSPIN;
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        if (!spinner) {
            struct timespec ts = {0, 20 * 1000000L};
            ct_raw6(SYS_futex, (long)&g_futex, FUTEX_WAIT_PRIVATE, 0, (long)&ts,
                    0, 0);
        }
        __asm__ volatile("" ::: "memory");
        int now = errno;
        t->checks++;
        if (now != mine) {
            t->mismatches++;
            t->last_seen = now;
            errno = mine;
        }
    }
    return NULL;
}

static int expected_caps(pid_t tid, const char *status, void *arg)
{
    (void)arg;
    int capless = 0;
    for (int i = 0; i < NT; i++) {
        if (g_t[i].tid == tid) {
            capless = g_t[i].capless;
        }
    }
    unsigned long long bnd = ct_field_hex(status, "CapBnd");
    for (int i = 0; i < 4; i++) {
        int present = (int)((bnd >> g_caps[i]) & 1);
        /* the call failed on capless threads, so they keep the caps */
        if (present != capless) {
            return 0;
        }
    }
    return 1;
}

static int case_errno(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    for (int i = 0; i < NT; i++) {
        g_t[i].index = i;
        g_t[i].capless = i % 2;
        CT_CHECK(ct_thread(&g_t[i].th, thread_main, &g_t[i], 0, 0) == 0,
                 "thread");
    }
    for (int i = 0; i < NT; i++) {
        while (!__atomic_load_n(&g_t[i].ready, __ATOMIC_ACQUIRE)) {
            ct_sleep_ms(1);
        }
    }
    for (int i = 0; i < NCALLS; i++) {
        errno = 555 + i;
        long r = psx_syscall3(SYS_prctl, PR_CAPBSET_DROP, g_caps[i % 4], 0);
        int e = errno;
        CT_CHECK(r == 0, "call %d: %ld errno %d", i, r, e);
        CT_CHECK(e == 555 + i, "call %d succeeded but changed the caller's "
                 "errno from %d to %d", i, 555 + i, e);
    }
    ct_require_threads(0, "capabilities dropped where CAP_SETPCAP was "
                          "effective, kept where the call failed",
                       expected_caps, NULL, 1 + NT);
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
    ct_raw6(SYS_futex, (long)&g_futex, FUTEX_WAKE_PRIVATE, NT, 0, 0, 0);
    int bad = 0;
    for (int i = 0; i < NT; i++) {
        pthread_join(g_t[i].th, NULL);
        if (g_t[i].mismatches) {
            ct_log("thread %d (tid %d, %s, %s): errno changed %ld time(s) in "
                   "%ld checks, last seen %d (%s) instead of %d",
                   i, (int)g_t[i].tid, i < NSPIN ? "spinning" : "sleeping",
                   g_t[i].capless ? "call failed there" : "call succeeded",
                   g_t[i].mismatches, g_t[i].checks, g_t[i].last_seen,
                   strerror(g_t[i].last_seen), 1000 + i);
            bad++;
        }
    }
    CT_CHECK(bad == 0, "%d thread(s) saw errno change under them", bad);
    return 0;
}

static const struct ct_case cases[] = {
    {"errno-kept-when-mirrored-call-fails", case_errno, 60, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t09_errno", argc, argv, cases);
}
