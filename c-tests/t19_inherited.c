/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 19: a thread made from a thread that has already run a broadcast's
 * call inherits its state and must not run the call again; a thread made
 * from one that has not must get it. Nothing else in the suite can see the
 * first half: the counting write of t06 and t14 is per thread, not
 * inherited, and the capability drops are idempotent.
 *
 * The call installs a seccomp filter that allows everything
 * (psx_syscall3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)). Each run
 * adds one filter to the thread; a new thread starts with its creator's
 * filters. So Seccomp_filters in /proc/<pid>/task/<tid>/status counts every
 * application of the call, inherited or run, and after NCALLS broadcasts
 * every live thread must show exactly NCALLS more than the process had at
 * start: fewer is a thread missed, more is a call run on a thread that had
 * inherited it.
 *
 *  filters   one thread broadcasts NCALLS (8) times, 2 ms apart, while
 *            spawners keep making threads, through psx's wrapper and
 *            around it, that make threads of their own, and now and then
 *            one that lives to the end. Then the spawners stop, every
 *            thread left is checked.
 *
 * The engine holds every thread that has run the call until the broadcast
 * ends, so none can make a thread meanwhile; the model (model/README.md)
 * shows the second run an engine without the hold makes, 15 steps. Seen
 * here with a prototype of that engine (branch no-hold, 2026-12-06,
 * static, 20-30 runs each): 11 or 12 filters on a thread in every run when
 * nothing holds creation back; none with a gate in psx's pthread_create
 * wrapper and only wrapped creators; about 1 run in 3 with this test's mix
 * of wrapped and unwrapped creators. This engine: 50 of 50 (20 with two
 * CPU hogs). Needs
 * root (CAP_SYS_ADMIN for a filter without no_new_privs). Each run of the
 * call compiles a BPF program, so the case keeps them few (8 broadcasts,
 * about 12 threads each; see c-tests/README.md, "Seccomp filters").
 *
 * What it does not cover: installing a filter is a call that may kill a
 * thread, so these broadcasts end only through the broadcaster's count
 * of live Done threads (src/broadcast.rs, "Ending after a call that may
 * kill"), never by the last answer; the last answer's path has no
 * inherited, cumulative state here to count and is checked by the model
 * only. A process that starts with filters of its own (a container's)
 * is fine: the count is taken relative to the main thread's at start.
 */
#include "common.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/psx_syscall.h>

#define NCALLS 8
#define NSPAWNERS 2
#define MAX_KEEPERS 8

static int g_stop;
static long g_base; /* the process's own filters at start */
static int g_release;
static int g_keepers;
static pthread_t g_keeper[MAX_KEEPERS];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static long g_last_keeper_ms;

static struct sock_filter g_allow[] = {
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};
static struct sock_fprog g_prog = {1, g_allow};

static void *keeper(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_mu);
    while (!g_release) {
        pthread_cond_wait(&g_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* One thread in every 3 ms lives to the end: made by whichever thread
 * gets here, wrapped or not. */
static void maybe_keeper(int unwrapped)
{
    if (!ct_once_per_ms(&g_last_keeper_ms, 3)) {
        return;
    }
    pthread_mutex_lock(&g_mu);
    if (g_keepers < MAX_KEEPERS &&
        ct_thread(&g_keeper[g_keepers], keeper, NULL, unwrapped,
                  64 * 1024) == 0) {
        g_keepers++;
    }
    pthread_mutex_unlock(&g_mu);
}

static void *transient(void *arg)
{
    long depth = (long)arg;
    maybe_keeper((int)(depth & 1));
    if (depth < 2 && (ct_gettid() & 1)) {
        pthread_t t;
        if (ct_thread(&t, transient, (void *)(depth + 1), depth & 1,
                      64 * 1024) == 0) {
            pthread_join(t, NULL);
        }
    }
    return NULL;
}

static void *spawner(void *arg)
{
    unsigned seed = (unsigned)(long)arg * 7919u + 1;
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        seed = seed * 1103515245u + 12345u;
        int unwrapped = (seed >> 8) & 1;
        pthread_t t;
        int r = ct_thread(&t, transient, (void *)0L, unwrapped, 64 * 1024);
        if (r == 0) {
            pthread_join(t, NULL);
        } else if (r != EAGAIN) {
            ct_fail("pthread_create: %s", strerror(r));
        }
    }
    return NULL;
}

/* The Seccomp_filters count of a status text, or -1. */
static long filters_in(const char *status)
{
    char value[32];
    if (ct_field(status, "Seccomp_filters", value, sizeof(value)) != 0) {
        return -1;
    }
    return strtol(value, NULL, 10);
}

/* Whether a thread counts exactly NCALLS filters more than the process
 * had; says what any other count means. */
static int counts_every_call(pid_t tid, const char *status, void *arg)
{
    (void)arg;
    long n = filters_in(status) - g_base;
    if (n != NCALLS) {
        ct_log("thread %d: %ld filters of ours, not %d: %s", (int)tid, n,
               NCALLS, n > NCALLS ? "it ran a call it had inherited"
                                  : "a broadcast missed it");
    }
    return n == NCALLS;
}

static int case_filters(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_check_library();
    CT_CHECK(geteuid() == 0, "needs root (a filter without no_new_privs)");
    char status[4096];
    CT_CHECK(ct_read_status(0, ct_gettid(), status, sizeof(status)) == 0,
             "reading our own status");
    g_base = filters_in(status);
    CT_CHECK(g_base >= 0, "no Seccomp_filters line in /proc (Linux >= 5.9 "
             "shows it): this test cannot count filters here");
    pthread_t sp[NSPAWNERS];
    for (long i = 0; i < NSPAWNERS; i++) {
        CT_CHECK(ct_thread(&sp[i], spawner, (void *)i, (int)i & 1, 0) == 0,
                 "spawner");
    }
    ct_sleep_ms(5);
    for (int i = 0; i < NCALLS; i++) {
        long r = psx_syscall3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0,
                              (long)&g_prog);
        CT_CHECK(r == 0, "broadcast %d: %ld errno %d", i, r, errno);
        ct_sleep_ms(2);
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < NSPAWNERS; i++) {
        pthread_join(sp[i], NULL);
    }
    /* main, the keepers: every thread left must count NCALLS filters. */
    int keepers = __atomic_load_n(&g_keepers, __ATOMIC_ACQUIRE);
    ct_log("%d broadcasts, %d threads kept from the churn", NCALLS, keepers);
    CT_CHECK(keepers >= 4, "only %d threads kept: the churn did not run",
             keepers);
    ct_require_threads(0, "every thread counts one filter per broadcast",
                       counts_every_call, NULL, 1 + keepers);
    pthread_mutex_lock(&g_mu);
    g_release = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    for (int i = 0; i < keepers; i++) {
        pthread_join(g_keeper[i], NULL);
    }
    return 0;
}

static const struct ct_case cases[] = {
    {"filters", case_filters, 60, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t19_inherited", argc, argv, cases);
}
