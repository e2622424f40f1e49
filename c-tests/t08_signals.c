/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 8: the application's own signal handlers keep working around psx.
 *
 *  - SIGSYS: a handler installed (sigaction) before or after psx's first
 *    use still gets SIGSYS sent by tgkill, and one shaped like a seccomp
 *    trap (si_code SYS_SECCOMP, si_syscall set) that each worker queues to
 *    itself (the kernel lets a thread do that only to itself). A real
 *    seccomp trap is not used: see ct_count_fd in common.h about BPF programs
 *    on this kernel.
 *  - Real-time signals SIGRTMIN..SIGRTMAX: every one sent to every worker is
 *    received exactly once, before, after and during psx broadcasts.
 *  - Signal 33 (glibc's setxid signal, which psx uses too; glibc's
 *    sigaction() refuses it, so applications and other runtimes install
 *    handlers with a raw rt_sigaction): a handler installed before psx's
 *    first use, or after it (replacing whatever was there), must still get
 *    every signal 33 someone else sends: rt_tgsigqueueinfo with SI_QUEUE, a
 *    plain tgkill, and sigqueue() from another process. It must never see
 *    one of psx's own signals. Such stray signals sent while broadcasts run
 *    must not confuse them: every thread still runs each broadcast exactly
 *    once (the counting call, see ct_count_fd in common.h).
 *
 * Targets are "worker" threads. All threads here are made through psx's
 * wrapper, so that this program tests signal handling alone (t01 tests reaching threads psx
 * did not see being created).
 */
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NW 6
#define SIG33 33
#define MAGIC 0x7e57
#define TRAP_NR 999 /* si_syscall of the seccomp-shaped SIGSYS */
#define NCALLS 100
#define MAX_CALLS 3000
#define ROUNDS_DURING 4

/* ------------------------------------------------------------- workers */

struct worker {
    pthread_t th;
    pid_t tid;
    int cmd; /* 0 idle, 1 SIGSYS to self, 2 exit */
    int acks;
};
static struct worker g_w[NW];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;

static int g_count[65][NW + 1]; /* received, per signal and worker */
static int g_trap[NW + 1];      /* SIGSYS from seccomp for TRAP_NR */
static int g_foreign33;         /* signal 33 nobody here sent */
static int g_bad_sigsys;        /* SIGSYS with unexpected contents */

static int widx(void)
{
    pid_t t = ct_gettid();
    for (int i = 0; i < NW; i++) {
        if (__atomic_load_n(&g_w[i].tid, __ATOMIC_RELAXED) == t) {
            return i;
        }
    }
    return NW;
}

static void app_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int i = widx();
    if (sig == SIGSYS && si->si_code == 1 /* SYS_SECCOMP */) {
        if (si->si_syscall == TRAP_NR) {
            __atomic_add_fetch(&g_trap[i], 1, __ATOMIC_RELAXED);
        } else {
            __atomic_add_fetch(&g_bad_sigsys, 1, __ATOMIC_RELAXED);
        }
        return;
    }
    if (sig == SIG33) {
        int ours = (si->si_code == SI_QUEUE && si->si_value.sival_int == MAGIC) ||
                   (si->si_code == SI_TKILL && si->si_pid == getpid());
        if (!ours) {
            __atomic_add_fetch(&g_foreign33, 1, __ATOMIC_RELAXED);
            return;
        }
    }
    if (sig > 0 && sig <= 64) {
        __atomic_add_fetch(&g_count[sig][i], 1, __ATOMIC_RELAXED);
    }
}

/* SIGSYS shaped like a seccomp trap, queued by the calling thread to
 * itself: delivered before the system call returns. */
static void sigsys_to_self(void)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    si.si_signo = SIGSYS;
    si.si_code = 1; /* SYS_SECCOMP */
    si.si_syscall = TRAP_NR;
    long r = ct_raw6(SYS_rt_tgsigqueueinfo, getpid(), ct_gettid(), SIGSYS,
                     (long)&si, 0, 0);
    CT_CHECK(r == 0, "rt_tgsigqueueinfo(self, SIGSYS, SYS_SECCOMP): %ld", r);
}

static void *worker_main(void *arg)
{
    struct worker *w = (struct worker *)arg;
    __atomic_store_n(&w->tid, ct_gettid(), __ATOMIC_RELEASE);
    pthread_mutex_lock(&g_mu);
    for (;;) {
        while (w->cmd == 0) {
            pthread_cond_wait(&g_cv, &g_mu);
        }
        int c = w->cmd;
        w->cmd = 0;
        if (c == 2) {
            break;
        }
        pthread_mutex_unlock(&g_mu);
        sigsys_to_self();
        pthread_mutex_lock(&g_mu);
        w->acks++;
        pthread_cond_broadcast(&g_cv);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

static void start_workers(void)
{
    for (int i = 0; i < NW; i++) {
        CT_CHECK(ct_thread(&g_w[i].th, worker_main, &g_w[i], 0, 0) == 0,
                 "thread");
    }
    for (int i = 0; i < NW; i++) {
        while (!__atomic_load_n(&g_w[i].tid, __ATOMIC_ACQUIRE)) {
            ct_sleep_ms(1);
        }
    }
}

static void stop_workers(void)
{
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < NW; i++) {
        g_w[i].cmd = 2;
    }
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    for (int i = 0; i < NW; i++) {
        pthread_join(g_w[i].th, NULL);
    }
}

/* Worker i queues a seccomp-shaped SIGSYS to itself. */
static void seccomp_shaped_sigsys(int i)
{
    int before = __atomic_load_n(&g_trap[i], __ATOMIC_ACQUIRE);
    pthread_mutex_lock(&g_mu);
    int acks = g_w[i].acks;
    g_w[i].cmd = 1;
    pthread_cond_broadcast(&g_cv);
    while (g_w[i].acks == acks) {
        pthread_cond_wait(&g_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    int now = __atomic_load_n(&g_trap[i], __ATOMIC_ACQUIRE);
    CT_CHECK(now == before + 1,
             "worker %d (tid %d): a seccomp-shaped SIGSYS it sent itself "
             "reached the application's handler %d time(s), want 1",
             i, (int)g_w[i].tid, now - before);
}

/* ------------------------------------------------------------- sending */

static long send_queued(pid_t pid, pid_t tid, int sig, int value)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    si.si_signo = sig;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_int = value;
    return ct_raw6(SYS_rt_tgsigqueueinfo, pid, tid, sig, (long)&si, 0, 0);
}

static void await(int *counter, int want, const char *what, int sig, int i)
{
    long deadline = ct_now_ms() + 3000;
    while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < want) {
        if (ct_now_ms() > deadline) {
            ct_fail("%s: signal %d sent to worker %d (tid %d) never reached "
                    "the application's handler (count %d, want %d)",
                    what, sig, i, i < NW ? (int)g_w[i].tid : -1,
                    __atomic_load_n(counter, __ATOMIC_ACQUIRE), want);
        }
        ct_sleep_ms(1);
    }
    CT_CHECK(__atomic_load_n(counter, __ATOMIC_ACQUIRE) == want,
             "%s: signal %d to worker %d handled more than once", what, sig, i);
}

/* Sends sig to every worker, one at a time, and waits for each. */
static void round_sig(int sig, int tkill, const char *what)
{
    for (int i = 0; i < NW; i++) {
        int want = __atomic_load_n(&g_count[sig][i], __ATOMIC_ACQUIRE) + 1;
        long r = tkill ? ct_raw6(SYS_tgkill, getpid(), g_w[i].tid, sig, 0, 0, 0)
                       : send_queued(getpid(), g_w[i].tid, sig, MAGIC);
        CT_CHECK(r == 0, "sending signal %d: %ld", sig, r);
        await(&g_count[sig][i], want, what, sig, i);
    }
}

static int total(int sig)
{
    int n = 0;
    for (int i = 0; i <= NW; i++) {
        n += __atomic_load_n(&g_count[sig][i], __ATOMIC_ACQUIRE);
    }
    return n;
}

/* sigqueue() from another process: process-directed, SI_QUEUE, another
 * si_pid. Any thread may take it; the application's handler must. */
static void from_other_process(int sig, const char *what)
{
    int want = total(sig) + 1;
    pid_t parent = getpid();
    pid_t pid = fork();
    CT_CHECK(pid >= 0, "fork");
    if (pid == 0) {
        union sigval v;
        v.sival_int = MAGIC;
        _exit(sigqueue(parent, sig, v) == 0 ? 0 : 1);
    }
    int st;
    CT_CHECK(ct_wait(pid, 5000, &st) == 0 && WIFEXITED(st) &&
                 WEXITSTATUS(st) == 0, "sigqueue child failed");
    long deadline = ct_now_ms() + 3000;
    while (total(sig) < want) {
        CT_CHECK(ct_now_ms() < deadline, "%s: signal %d from another process "
                 "never reached the application's handler", what, sig);
        ct_sleep_ms(1);
    }
}

/* --------------------------------------------------------- handlers */

static void install(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = app_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    CT_CHECK(sigaction(sig, &sa, NULL) == 0, "sigaction(%d): %s", sig,
             strerror(errno));
}

/* glibc will not install a handler for 33: do it with a raw rt_sigaction,
 * as Go's runtime and others do. */
static void install_raw33(void)
{
    install(SIGUSR2); /* the model for glibc's return trampoline */
    ct_raw_sigaction(SIG33, SIGUSR2, (void *)app_handler,
                     SA_SIGINFO | SA_RESTART, 0);
}

/* ------------------------------------------------------------ checks */

/* Broadcasts (at least NCALLS) until the signal rounds are over. */
static int g_stop_calls;
static long g_calls;

static void *caller(void *arg)
{
    (void)arg;
    long i = 0;
    while (i < NCALLS ||
           (i < MAX_CALLS && !__atomic_load_n(&g_stop_calls, __ATOMIC_ACQUIRE))) {
        long r = psx_syscall3(CT_COUNT_CALL);
        CT_CHECK(r == CT_COUNT_BYTES, "broadcast %ld: %ld errno %d", i, r, errno);
        i++;
    }
    g_calls = i;
    return NULL;
}

enum { RT = 1, SYS = 2, S33 = 4 };

static void round_all(int kinds, const char *what)
{
    if (kinds & RT) {
        for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
            round_sig(sig, 0, what);
        }
    }
    if (kinds & SYS) {
        round_sig(SIGSYS, 1, what);
        for (int i = 0; i < NW; i++) {
            seccomp_shaped_sigsys(i);
        }
    }
    if (kinds & S33) {
        round_sig(SIG33, 0, what);
        round_sig(SIG33, 1, what);
    }
}

/* The application's handlers of the kinds asked for. */
static void install_handlers(int kinds)
{
    if (kinds & RT) {
        for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
            install(sig);
        }
    }
    if (kinds & SYS) {
        install(SIGSYS);
    }
    if (kinds & S33) {
        install_raw33();
    }
}

static int run(int kinds, int install_before)
{
    ct_require_root();
    ct_check_library();
    ct_count_fd();
    /* glibc installs its own handler for signal 33 at the process's first
     * pthread_create(), replacing whatever was there: so "before psx's first
     * use" means after the first threads exist. */
    start_workers();
    struct ct_group *g = ct_start_idle(4, CT_IDLE_COND, 0, 0);
    if (install_before) {
        install_handlers(kinds);
        round_all(kinds, "before psx's first use");
        if (kinds & S33) {
            from_other_process(SIG33, "before psx's first use");
        }
    }
    /* First use. */
    long r = psx_syscall3(CT_COUNT_CALL);
    CT_CHECK(r == CT_COUNT_BYTES, "psx read (first use): %ld errno %d", r, errno);
    if (!install_before) {
        install_handlers(kinds);
    }
    round_all(kinds, "after psx's first use");
    /* Next broadcasts run while the signals fly. */
    pthread_t t;
    CT_CHECK(ct_thread(&t, caller, NULL, 0, 0) == 0, "thread");
    for (int i = 0; i < ROUNDS_DURING; i++) {
        round_all(kinds, "during psx broadcasts");
        if (kinds & S33) {
            from_other_process(SIG33, "during psx broadcasts");
        }
    }
    __atomic_store_n(&g_stop_calls, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    if (kinds & S33) {
        from_other_process(SIG33, "after psx broadcasts");
    }
    round_all(kinds, "after psx broadcasts");
    ct_log("%d signal rounds during %ld broadcasts", ROUNDS_DURING, g_calls);
    static struct ct_counts want;
    for (int i = 0; i < NW; i++) {
        ct_counts_expect(&want, g_w[i].tid, 1 + g_calls, 1 + g_calls);
    }
    for (int i = 0; i < ct_group_size(g); i++) {
        ct_counts_expect(&want, ct_group_tid(g, i), 1 + g_calls, 1 + g_calls);
    }
    ct_require_threads(0, "counting call once per broadcast on every worker and idle "
                          "thread: every broadcast exactly once despite the "
                          "signals",
                       ct_pred_counts, &want, 1 + NW + 4);
    CT_CHECK(g_foreign33 == 0,
             "the application's signal-33 handler got %d signal(s) it did "
             "not send (psx's own signals leaking into it?)", g_foreign33);
    CT_CHECK(g_bad_sigsys == 0, "%d SIGSYS with unexpected contents",
             g_bad_sigsys);
    stop_workers();
    ct_stop_idle(g);
    return 0;
}

#define CASE(fn, kinds, before)                                                \
    static int fn(int argc, char **argv)                                       \
    {                                                                          \
        (void)argc;                                                            \
        (void)argv;                                                            \
        return run(kinds, before);                                             \
    }
CASE(sigsys_before, SYS, 1)
CASE(sigsys_after, SYS, 0)
CASE(rt_before, RT, 1)
CASE(rt_after, RT, 0)
CASE(s33_before, S33, 1)
CASE(s33_after, S33, 0)

static const struct ct_case cases[] = {
    {"sigsys-handler-installed-before", sigsys_before, 30, 0},
    {"sigsys-handler-installed-after", sigsys_after, 30, 0},
    {"rt-handlers-installed-before", rt_before, 30, 0},
    {"rt-handlers-installed-after", rt_after, 30, 0},
    {"raw-sig33-handler-before-first-use", s33_before, 30, 0},
    {"raw-sig33-handler-after-first-use", s33_after, 30, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t08_signals", argc, argv, cases);
}
