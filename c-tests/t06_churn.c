/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 6: threads are created and end all the time during broadcasts.
 *
 * Two caller threads each make NCALLS broadcasts of a seccomp "allow
 * everything" filter while spawner threads keep creating threads (through
 * psx's wrapper and around it), some of which create threads of their own
 * before ending, and some of which stay alive to the end.
 *
 * Why a seccomp filter: it is per thread, harmless, visible in /proc
 * ("Seccomp_filters: N") and NOT idempotent: each run adds one. A new thread
 * inherits its creator's filters. So after all broadcasts, every live
 * thread must show exactly 2 * NCALLS: one fewer means it missed a call
 * (e.g. it was created by a thread that had not yet run the call, and the
 * broadcast did not reach it), one more means it ran a call twice (e.g. it
 * inherited the new state and was made to run the call again). A hang or a
 * crash fails the case too.
 */
#include "common.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>

#define NCALLS 150
#define NCALLERS 2
#define NSPAWNERS 3
#define MAX_SURVIVORS 48

static int g_stop;
static long g_created;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_release;
static pthread_t g_survivors[MAX_SURVIVORS];
static int g_nsurvivors;

static void *survivor(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_mu);
    while (!g_release) {
        pthread_cond_wait(&g_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

static int g_calling;
static long g_last_survivor_ms;

/* Now and then (one every 5 ms while broadcasts run), the calling thread
 * leaves a thread behind that lives to the end and is checked then. */
static void maybe_survivor(int unwrapped)
{
    if (!__atomic_load_n(&g_calling, __ATOMIC_ACQUIRE)) {
        return;
    }
    long now = ct_now_ms();
    long last = __atomic_load_n(&g_last_survivor_ms, __ATOMIC_RELAXED);
    if (now - last < 5 ||
        !__atomic_compare_exchange_n(&g_last_survivor_ms, &last, now, 0,
                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        return;
    }
    pthread_mutex_lock(&g_mu);
    if (g_nsurvivors < MAX_SURVIVORS &&
        ct_thread(&g_survivors[g_nsurvivors], survivor, NULL, unwrapped,
                  64 * 1024) == 0) {
        g_nsurvivors++;
    }
    pthread_mutex_unlock(&g_mu);
}

static void *transient(void *arg)
{
    long depth = (long)arg;
    __atomic_add_fetch(&g_created, 1, __ATOMIC_RELAXED);
    maybe_survivor((int)(depth & 1));
    /* Threads made by threads that may not have run the current call. */
    if (depth < 3 && (ct_gettid() & 1)) {
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
    long id = (long)arg;
    unsigned seed = (unsigned)id * 7919u + 1;
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        seed = seed * 1103515245u + 12345u;
        int unwrapped = (seed >> 8) & 1;
        pthread_t t;
        maybe_survivor(!unwrapped);
        int r = ct_thread(&t, transient, (void *)0L, unwrapped, 64 * 1024);
        if (r == 0) {
            pthread_join(t, NULL);
        } else if (r != EAGAIN) {
            ct_fail("pthread_create: %s", strerror(r));
        }
    }
    return NULL;
}

static void *caller(void *arg)
{
    (void)arg;
    for (int i = 0; i < NCALLS; i++) {
        long r = psx_syscall3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0,
                              (long)ct_allow_filter());
        CT_CHECK(r == 0, "broadcast %d: %ld errno %d", i, r, errno);
    }
    return NULL;
}

static int case_churn(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_filter_count();
    ct_check_library();
    /* NoNewPrivs lets every thread add seccomp filters without
     * CAP_SYS_ADMIN; set on the main thread before any other exists, all
     * inherit it. */
    CT_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS");
    struct ct_group *g = ct_start_idle(4, CT_IDLE_COND, 1, 0);
    pthread_t sp[NSPAWNERS], ca[NCALLERS];
    for (long i = 0; i < NSPAWNERS; i++) {
        CT_CHECK(ct_thread(&sp[i], spawner, (void *)i, i == 1, 0) == 0,
                 "thread");
    }
    ct_sleep_ms(20);
    long t0 = ct_now_ms();
    __atomic_store_n(&g_calling, 1, __ATOMIC_RELEASE);
    for (long i = 0; i < NCALLERS; i++) {
        CT_CHECK(ct_thread(&ca[i], caller, NULL, i == 1, 0) == 0, "thread");
    }
    for (int i = 0; i < NCALLERS; i++) {
        pthread_join(ca[i], NULL);
    }
    long t1 = ct_now_ms();
    __atomic_store_n(&g_calling, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < NSPAWNERS; i++) {
        pthread_join(sp[i], NULL);
    }
    ct_log("%d broadcasts in %ld ms while %ld threads came and went, %d "
           "stayed",
           NCALLERS * NCALLS, t1 - t0, g_created, g_nsurvivors);
    char what[96];
    long want = NCALLERS * NCALLS;
    snprintf(what, sizeof(what),
             "Seccomp_filters == %ld (each broadcast exactly once)", want);
    ct_require_threads(0, what, ct_pred_filters, (void *)want,
                       1 + 4 + g_nsurvivors);
    pthread_mutex_lock(&g_mu);
    g_release = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    for (int i = 0; i < g_nsurvivors; i++) {
        pthread_join(g_survivors[i], NULL);
    }
    ct_stop_idle(g);
    return 0;
}

static const struct ct_case cases[] = {
    {"create-and-exit-during-broadcasts", case_churn, 90, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t06_churn", argc, argv, cases);
}
