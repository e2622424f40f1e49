/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Forged psx signals from another process.
 *
 * psx recognises its own signal 33 by si_code SI_QUEUE, si_pid = its
 * process, si_uid = "PSX!" and si_value = generation << 32 | slot. Another
 * process of the same uid can queue exactly that to any of our threads
 * with rt_tgsigqueueinfo (the kernel keeps what the sender wrote). psx
 * cannot tell such a signal from its own; what must hold is that it
 * changes nothing a real one would not: a slot is run only by the thread it
 * was given to, only while it waits for an answer, and at most once.
 *
 * "flood-during-broadcasts": a forger process, told through shared memory
 * how many broadcasts the target has begun (so it guesses the current
 * generation, the one before and the one after), sends forged signals with
 * slots 0..31 and a few random ones (up to 2^32 - 1) to every thread of the
 * target, in bursts, while the target's main thread broadcasts the counting
 * call (ct_count_fd in common.h) and creates a thread before each broadcast
 * (so psx lists /proc and hands out new slots). After every broadcast,
 * from /proc: each thread alive before and after it wrote exactly one call
 * (a forged signal that let a thread run another thread's slot, or a slot
 * twice, shows as two; one that made psx count a slot as answered without
 * its thread running it shows as none). No crash, no hang (watchdog).
 *
 * "flood-between-broadcasts": after some broadcasts, with none in flight,
 * the forger floods the same way (current generation included) for
 * 300 ms: no thread's count may change. Then a broadcast still reaches
 * every thread once.
 *
 * Both report how many forged signals the kernel accepted. The slot claim
 * (state SENT and tid check) is what "no double run" rests on; an engine
 * without either fails the first case. The flood also keeps a signal
 * pending for the broadcaster itself, which cut its /proc listing short
 * before 72a9483 (getdents64 stops after one entry when a signal is
 * pending): the first case fails by false success against this engine
 * before that fix (2 runs of 2, after 50k-660k forged signals) and against
 * the engine before "no parking" (/work/wt-old: 2 runs of 3); the second
 * case passes against both.
 */
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIG33 33
#define PSX_MAGIC 0x50535821u
#define MAX_SNAP 256

struct shared {
    volatile long begun;     /* broadcasts the target has begun */
    volatile int flood;      /* 1: send */
    volatile int stop;
    volatile long sent;      /* forged signals the kernel accepted */
    volatile long refused;
};
static struct shared *g_sh;

/* ------------------------------------------------------------ forger */

static long forge(pid_t pid, pid_t tid, unsigned gen, unsigned slot)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    si.si_signo = SIG33;
    si.si_code = SI_QUEUE;
    si.si_pid = pid;
    si.si_uid = PSX_MAGIC;
    si.si_value.sival_ptr = (void *)(((unsigned long)gen << 32) | slot);
    return ct_raw6(SYS_rt_tgsigqueueinfo, pid, tid, SIG33, (long)&si, 0, 0);
}

static void forger_main(pid_t target)
{
    unsigned seed = 12345;
    pid_t tids[MAX_SNAP];
    while (!g_sh->stop) {
        if (getppid() != target) {
            _exit(0);
        }
        if (!g_sh->flood) {
            ct_sleep_ms(1);
            continue;
        }
        int n = ct_list_tids(target, tids, MAX_SNAP);
        unsigned cur = (unsigned)g_sh->begun;
        for (int i = 0; i < n && g_sh->flood; i++) {
            for (unsigned g = cur - 1; g != cur + 2; g++) {
                for (unsigned slot = 0; slot < 32; slot++) {
                    /* And the same slot as a hold-only signal (psx's
                     * flag 0x80000000): it must never hold a thread that
                     * still has to answer. */
                    for (unsigned hold = 0; hold < 2; hold++) {
                        long r = forge(target, tids[i], g,
                                       slot | (hold ? 0x80000000u : 0));
                        if (r == 0) {
                            g_sh->sent++;
                        } else {
                            g_sh->refused++;
                        }
                    }
                }
            }
            seed = seed * 1103515245u + 12345u;
            if (forge(target, tids[i], cur, seed) == 0) {
                g_sh->sent++;
            }
            if (forge(target, tids[i], cur, 0xffffffffu) == 0) {
                g_sh->sent++;
            }
        }
        /* Let the handlers drain the queue: the pending-signal limit is
         * per user, and psx's own signals need room too. */
        ct_sleep_ms(2);
    }
    _exit(0);
}

static pid_t forger_start(void)
{
    g_sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                -1, 0);
    CT_CHECK(g_sh != MAP_FAILED, "mmap");
    pid_t target = getpid();
    pid_t pid = fork();
    CT_CHECK(pid >= 0, "fork");
    if (pid == 0) {
        forger_main(target);
    }
    return pid;
}

static void forger_stop(pid_t pid)
{
    g_sh->stop = 1;
    int st;
    if (ct_wait(pid, 5000, &st) != 0) {
        ct_kill(pid);
    }
}

/* --------------------------------------------------------- watchdog */

static void *g_beat;

/* Runs in the watchdog's process, on a stall. */
static void report_stall(const void *page)
{
    (void)page;
    ct_log("FAIL no broadcast completed for 10 s (a hang)");
}

/* -------------------------------------------------------- snapshots */

static long thread_count(pid_t tid)
{
    return ct_thread_count(0, tid);
}

/* Each thread in both lists (or, missed by the first, in prev) changed by
 * exactly want; one only in the second has at most want. */
static void check(const struct ct_snap *b, const struct ct_snap *a,
                  const struct ct_snap *prev, long want, const char *what)
{
    for (int i = 0; i < a->n; i++) {
        long before = ct_snap_find_same(b, a, i);
        if (before < 0 && prev) {
            before = ct_snap_find_same(prev, a, i);
        }
        long d = a->v[i] - (before >= 0 ? before : 0);
        if ((before >= 0 && d != want) || d > want) {
            ct_fail("%s: thread %d ran the counting call %ld time(s), want "
                    "%ld (%ld forged signals accepted so far)", what,
                    (int)a->tid[i], d, want, g_sh->sent);
        }
    }
}

/* ------------------------------------------------------------- cases */

static void *newcomer(void *arg)
{
    for (;;) {
        pause();
    }
    return arg;
}

static long broadcast(void)
{
    __atomic_add_fetch(&g_sh->begun, 1, __ATOMIC_RELEASE);
    long r = psx_syscall3(CT_COUNT_CALL);
    CT_CHECK(r == CT_COUNT_BYTES, "broadcast: %ld errno %d", r, errno);
    ct_watchdog_beat(g_beat);
    return r;
}

static int run(int during)
{
    ct_check_library();
    ct_count_fd();
    pid_t forger = forger_start();
    g_beat = ct_watchdog_start(10000, report_stall,
                               "threads of the stuck process");
    struct ct_group *idle = ct_start_idle(6, CT_IDLE_COND, 1, 0);
    static struct ct_snap before, after, prev;
    pthread_t nc[8];
    int nnc = 0;
    long t0 = ct_now_ms();
    int iters = 0;
    if (during) {
        g_sh->flood = 1;
        while (iters < 2000 && ct_now_ms() - t0 < 8000) {
            iters++;
            /* A new thread each time (at most 8 at once), so that psx
             * lists /proc and gives out new slots. */
            if (nnc == 8) {
                for (int i = 0; i < 8; i++) {
                    pthread_cancel(nc[i]);
                    pthread_join(nc[i], NULL);
                }
                nnc = 0;
            }
            CT_CHECK(pthread_create(&nc[nnc++], NULL, newcomer, NULL) == 0,
                     "thread");
            ct_snap_take(&before, thread_count, 0);
            broadcast();
            ct_snap_take(&after, thread_count, 0);
            check(&before, &after, iters > 1 ? &prev : NULL, 1,
                  "broadcast under forged signals");
            prev = after;
        }
        g_sh->flood = 0;
        ct_log("%d broadcasts in %ld ms, each reaching every thread exactly "
               "once, while %ld forged signals were accepted by the kernel "
               "(%ld refused)", iters, ct_now_ms() - t0, g_sh->sent,
               g_sh->refused);
    } else {
        for (iters = 0; iters < 20; iters++) {
            broadcast();
        }
        ct_sleep_ms(20);
        ct_snap_take(&before, thread_count, 0);
        g_sh->flood = 1;
        ct_sleep_ms(300);
        g_sh->flood = 0;
        ct_sleep_ms(50); /* the last burst is handled */
        ct_snap_take(&after, thread_count, 0);
        check(&before, &after, NULL, 0, "forged signals between broadcasts");
        long sent = g_sh->sent;
        ct_snap_take(&before, thread_count, 0);
        broadcast();
        ct_snap_take(&after, thread_count, 0);
        check(&before, &after, NULL, 1, "a broadcast after the flood");
        ct_log("%ld forged signals accepted by the kernel between broadcasts "
               "(%ld refused) changed nothing; the next broadcast reached "
               "every thread once", sent, g_sh->refused);
    }
    CT_CHECK(g_sh->sent > 1000, "only %ld forged signals were sent: the "
             "test did not test", g_sh->sent);
    forger_stop(forger);
    for (int i = 0; i < nnc; i++) {
        pthread_cancel(nc[i]);
        pthread_join(nc[i], NULL);
    }
    ct_stop_idle(idle);
    ct_watchdog_stop();
    return 0;
}

static int case_during(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return run(1);
}

static int case_between(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return run(0);
}

static const struct ct_case cases[] = {
    {"flood-during-broadcasts", case_during, 40, 0},
    {"flood-between-broadcasts", case_between, 20, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t15_forged", argc, argv, cases);
}
