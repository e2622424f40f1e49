/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Parking: a thread interrupted by a broadcast in an untimed futex wait
 * (condition variable, semaphore, raw FUTEX_WAIT...) runs the call and then
 * makes the application's wait itself, inside psx's handler, instead of
 * holding until the release and going back to sleep. What must hold:
 *
 *  - idle-cond: cond_wait threads are woken once per broadcast, not twice
 *    (voluntary_ctxt_switches in /proc/self/task/<tid>/status: holding made
 *    two per broadcast), run every call exactly once, and still end
 *    promptly when the application wakes them;
 *  - wake-without-change: a FUTEX_WAKE that does not change the word,
 *    arriving while the thread is parked, ends the application's wait with
 *    0 (a wait restarted after the handler would sleep through it);
 *  - foreign-no-restart / foreign-restart: a SIGUSR1 handler run on a
 *    parked sem_wait() makes it fail with EINTR without SA_RESTART and
 *    lets it go on waiting with SA_RESTART, as without psx;
 *  - cancel-parked: pthread_cancel() of a parked pthread_cond_wait() ends it
 *    promptly, its cleanup handler runs, and broadcasts go on afterwards;
 *  - create-after-wake: waiters woken out of the park while broadcasts run
 *    create threads: still exactly once per thread (counts as in t06);
 *  - exec-only-code: a wait made from an execute-only code page (memory
 *    protection keys) is parked without the process crashing (x86_64 only);
 *  - seccomp-broadcast / waitv-refused: a seccomp filter broadcast by psx,
 *    or one psx did not install, that refuses futex_waitv (see below);
 *  - cancel-handler-installed: the same with glibc's SIGCANCEL handler in
 *    place, where parks wait differently (see below).
 *
 * The world is checked through /proc: the counting call (see common.h)
 * gives per-thread counts, /proc/self/task/<tid>/syscall shows that a thread
 * sleeps in futex (202) on a given word (or in futex_waitv with that word
 * in its list), and status gives the voluntary context switches (one per
 * sleep). idle-cond and wake-without-change fail
 * if psx held instead of parking (two sleeps per broadcast: the hold, then
 * the application's wait again; checked against the engine before parking:
 * 60 sleeps for 30 broadcasts, 2 for one); the other cases check semantics
 * that must hold either way. Before anything is done to a thread that has
 * just run a broadcast, the test waits until /proc shows it asleep again on
 * its own word: a signal or wake sent while a thread is still inside the
 * handler, before it sleeps, is lost or absorbed as it would be without psx
 * for any signal; and the next broadcast must not come earlier either (a
 * held thread released while the next signal is already pending takes it
 * without sleeping, which would hide the second wake-up). Only x86_64
 * parks: elsewhere the sleep counts are reported, not checked, and
 * exec-only-code does not apply.
 */
#include "common.h"

#include <errno.h>
#include <gnu/libc-version.h>
#include <linux/futex.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/psx_syscall.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

/* Only x86_64 parks; elsewhere psx holds, and the cases check only what
 * must hold either way (the context switches are then just reported). */
#ifdef __x86_64__
#define PARKS 1
#else
#define PARKS 0
#endif

static long vcsw(pid_t tid)
{
    char st[4096], v[32];
    if (ct_read_status(0, tid, st, sizeof(st)) != 0 ||
        ct_field(st, "voluntary_ctxt_switches", v, sizeof(v)) != 0) {
        return -1;
    }
    return strtol(v, NULL, 10);
}

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

/* The kernel's struct futex_waitv. */
struct waitv {
    uint64_t val, uaddr;
    uint32_t flags, reserved;
};

/* Whether the sleeping call s waits on a word in [lo, hi): futex(word, ...)
 * or futex_waitv(list, n, ...) with the word in its list (a park may wait
 * on the application's word and a word of psx's at once). The list is
 * read with process_vm_readv, which fails cleanly if it is gone. */
static int waits_on(const struct ct_syscall *s, const void *lo,
                    const void *hi)
{
    unsigned long l = (unsigned long)lo, h = (unsigned long)hi;
    if (s->nr == SYS_futex) {
        return s->arg[0] >= l && s->arg[0] < h;
    }
    if (s->nr != SYS_futex_waitv || s->arg[1] == 0 || s->arg[1] > 128) {
        return 0;
    }
    struct waitv v[128];
    struct iovec local = {v, s->arg[1] * sizeof(v[0])};
    struct iovec remote = {(void *)s->arg[0], local.iov_len};
    if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) !=
        (ssize_t)local.iov_len) {
        return 0;
    }
    for (unsigned long i = 0; i < s->arg[1]; i++) {
        if (v[i].uaddr >= l && v[i].uaddr < h) {
            return 1;
        }
    }
    return 0;
}

/*
 * Waits up to timeout_ms until thread tid sleeps in futex (or futex_waitv)
 * on a word in [lo, hi) having slept at least min_sw times (voluntary
 * context switches, the same value before and after the look, so that the
 * wait seen is the sleep that count ended on). Returns that count; fails
 * with what on timeout. *pc, if given, receives the user pc of the
 * sleeping call.
 */
static long wait_in_futex(pid_t tid, const void *lo, const void *hi,
                          long min_sw, long timeout_ms, const char *what,
                          unsigned long *pc)
{
    long deadline = ct_now_ms() + timeout_ms;
    struct ct_syscall s = {0};
    long sw = -1;
    for (;;) {
        long before = vcsw(tid);
        int on = ct_read_syscall(0, tid, &s) == 0 && waits_on(&s, lo, hi);
        sw = vcsw(tid);
        if (on && sw == before && sw >= min_sw) {
            if (pc) {
                *pc = s.pc;
            }
            return sw;
        }
        if (ct_now_ms() >= deadline) {
            break;
        }
        ct_sleep_ms(1);
    }
    ct_fail("thread %d is not asleep in a futex wait on its word %p after "
            "%ld ms (%s): last seen in syscall %ld on 0x%lx, %ld voluntary "
            "switches (want at least %ld)",
            (int)tid, lo, timeout_ms, what, s.nr, s.arg[0], sw, min_sw);
}

/* Waits up to timeout_ms for *flag != 0; 1 if it came. */
static int wait_flag(const int *flag, long timeout_ms)
{
    long deadline = ct_now_ms() + timeout_ms;
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
        if (ct_now_ms() >= deadline) {
            return 0;
        }
        ct_sleep_ms(1);
    }
    return 1;
}

/* One counting broadcast from this thread; fails on error. */
static void count_broadcast(const char *what)
{
    long r = psx_syscall3(CT_COUNT_CALL);
    CT_CHECK(r == CT_COUNT_BYTES, "%s: psx_syscall3(write) returned %ld "
             "errno %d", what, r, errno);
}

static void require_count(pid_t tid, long want, const char *what)
{
    long n = ct_thread_count(0, tid);
    CT_CHECK(n == want, "thread %d ran the counting call %ld time(s), want "
             "%ld (%s)", (int)tid, n, want, what);
}

static pid_t wait_tid(const pid_t *tid)
{
    long deadline = ct_now_ms() + 2000;
    pid_t t;
    while (!(t = __atomic_load_n(tid, __ATOMIC_ACQUIRE))) {
        CT_CHECK(ct_now_ms() < deadline, "a thread did not start in 2 s");
        ct_sleep_ms(1);
    }
    return t;
}

/* ----------------------------------------------------- 1. idle-cond */

#define IDLE_N 8
#define IDLE_CALLS 30

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_go; /* the predicate, under g_mu */

struct idler {
    pthread_t th;
    pid_t tid;
    int exited;
};

static void *idle_main(void *arg)
{
    struct idler *me = (struct idler *)arg;
    __atomic_store_n(&me->tid, ct_gettid(), __ATOMIC_RELEASE);
    pthread_mutex_lock(&g_mu);
    while (!g_go) {
        pthread_cond_wait(&g_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    __atomic_store_n(&me->exited, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* The call a thread parked in a process without a SIGCANCEL handler sleeps
 * in: futex_waitv with glibc before 2.39; from 2.39 psx parks every thread
 * in a timed plain futex wait (see src/park.rs on pthread_cancel). */
static long park_call(void)
{
    unsigned major = 0, minor = 0;
    if (sscanf(gnu_get_libc_version(), "%u.%u", &major, &minor) == 2 &&
        major == 2 && minor < 39) {
        return SYS_futex_waitv;
    }
    return SYS_futex;
}

/* Starts n cond_wait threads (w zeroed; every third one made around the
 * wrapper) and waits until they sleep on g_cv; fills sw with their sleep
 * counts. */
static void start_idlers(struct idler *w, int n, long *sw)
{
    for (int i = 0; i < n; i++) {
        CT_CHECK(ct_thread(&w[i].th, idle_main, &w[i], i % 3 == 1, 0) == 0,
                 "thread");
    }
    for (int i = 0; i < n; i++) {
        pid_t t = wait_tid(&w[i].tid);
        sw[i] = wait_in_futex(t, &g_cv, &g_cv + 1, 0, 2000,
                              "waiting in pthread_cond_wait", NULL);
    }
}

/* k counting broadcasts. After each, every idler must be asleep on g_cv
 * again, in the system call nr, before the next one: back-to-back
 * broadcasts would hide a second wake-up (a held thread released while the
 * next broadcast's signal is already pending takes it without sleeping). */
static void broadcasts_then_asleep(struct idler *w, int n, long *sw, int k,
                                   long nr, const char *what)
{
    for (int c = 0; c < k; c++) {
        count_broadcast(what);
        for (int i = 0; i < n; i++) {
            struct ct_syscall s = {0};
            sw[i] = wait_in_futex(w[i].tid, &g_cv, &g_cv + 1, sw[i] + 1, 1000,
                                  what, NULL);
            CT_CHECK(!PARKS || (ct_read_syscall(0, w[i].tid, &s) == 0 &&
                                s.nr == nr),
                     "%s: thread %d sleeps in system call %ld, want %ld",
                     what, (int)w[i].tid, s.nr, nr);
        }
    }
}

/* Parked threads sleep once per broadcast; holding made two. */
static void require_parked_sleeps(const struct idler *w, int n,
                                  const long *sw0, const long *sw, int calls)
{
    for (int i = 0; i < n && PARKS; i++) {
        long d = sw[i] - sw0[i];
        CT_CHECK(2 * d < 3 * calls,
                 "thread %d slept %ld times for %d broadcasts (>= 1.5 per "
                 "broadcast): it was woken by the release, not parked",
                 (int)w[i].tid, d, calls);
    }
}

/* The caller and every idler ran the counting call exactly calls times. */
static void require_counts(const struct idler *w, int n, long calls)
{
    static struct ct_counts want;
    want.n = 0;
    ct_counts_expect(&want, ct_gettid(), calls, calls);
    for (int i = 0; i < n; i++) {
        ct_counts_expect(&want, w[i].tid, calls, calls);
    }
    ct_require_threads(0, "every thread ran every counting call exactly once",
                       ct_pred_counts, &want, 1 + n);
}

/* Wakes the idlers through the condition variable; each must return from
 * pthread_cond_wait within 2 s; joins them. */
static void wake_idlers(struct idler *w, int n)
{
    long t0 = ct_now_ms();
    pthread_mutex_lock(&g_mu);
    g_go = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    for (int i = 0; i < n; i++) {
        long left = t0 + 2000 - ct_now_ms();
        CT_CHECK(wait_flag(&w[i].exited, left > 0 ? left : 0),
                 "thread %d did not return from pthread_cond_wait within 2 s "
                 "of pthread_cond_broadcast", (int)w[i].tid);
        pthread_join(w[i].th, NULL);
    }
}

static int case_idle_cond(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_check_library();
    ct_count_fd();
    static struct idler w[IDLE_N];
    long sw0[IDLE_N], sw1[IDLE_N];
    start_idlers(w, IDLE_N, sw0);
    memcpy(sw1, sw0, sizeof(sw1));
    broadcasts_then_asleep(w, IDLE_N, sw1, IDLE_CALLS, park_call(),
                           "idle-cond: asleep again after a broadcast");
    long min = 1L << 30, max = 0;
    for (int i = 0; i < IDLE_N; i++) {
        long d = sw1[i] - sw0[i];
        min = d < min ? d : min;
        max = d > max ? d : max;
    }
    ct_log("%d cond_wait threads, %d broadcasts: %ld..%ld voluntary context "
           "switches per thread (parked: %d; holding makes %d)%s",
           IDLE_N, IDLE_CALLS, min, max, IDLE_CALLS, 2 * IDLE_CALLS,
           PARKS ? "" : "; not x86_64: psx holds here, not checked");
    require_counts(w, IDLE_N, IDLE_CALLS);
    require_parked_sleeps(w, IDLE_N, sw0, sw1, IDLE_CALLS);
    wake_idlers(w, IDLE_N);
    return 0;
}

/* ------------------------------------------ 2. wake-without-change */

static uint32_t g_word __attribute__((aligned(4)));
static long g_ret;
static int g_err;
static int g_done;
static pid_t g_tid;

static void *raw_waiter(void *arg)
{
    __atomic_store_n(&g_tid, ct_gettid(), __ATOMIC_RELEASE);
    errno = 0;
    long r = syscall(SYS_futex, &g_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    g_err = errno;
    g_ret = r;
    __atomic_store_n(&g_done, 1, __ATOMIC_RELEASE);
    return arg;
}

static int case_wake_without_change(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_check_library();
    ct_count_fd();
    pthread_t th;
    CT_CHECK(ct_thread(&th, raw_waiter, NULL, 0, 0) == 0, "thread");
    pid_t t = wait_tid(&g_tid);
    long s0 = wait_in_futex(t, &g_word, &g_word + 1, 0, 2000,
                            "raw FUTEX_WAIT", NULL);
    count_broadcast("wake-without-change");
    require_count(t, 1, "one broadcast while in FUTEX_WAIT");
    require_count(ct_gettid(), 1, "the caller");
    long s1 = wait_in_futex(t, &g_word, &g_word + 1, s0 + 1, 1000,
                            "asleep on its word after the broadcast", NULL);
    CT_CHECK(!__atomic_load_n(&g_done, __ATOMIC_ACQUIRE),
             "the broadcast ended the FUTEX_WAIT (returned %ld errno %d); "
             "nothing woke it", g_ret, g_err);
    CT_CHECK(s1 == s0 + 1 || !PARKS,
             "thread %d slept %ld times for one broadcast: woken by the "
             "release and back in its wait, not parked", (int)t, s1 - s0);
    long woken = syscall(SYS_futex, &g_word, FUTEX_WAKE_PRIVATE, 1, NULL,
                         NULL, 0);
    CT_CHECK(woken == 1, "FUTEX_WAKE woke %ld waiters on the word, want 1",
             woken);
    CT_CHECK(wait_flag(&g_done, 1000),
             "FUTEX_WAKE (word unchanged) did not end the thread's "
             "FUTEX_WAIT within 1 s: the wake was lost");
    CT_CHECK(g_ret == 0, "FUTEX_WAIT returned %ld errno %d (%s) after a "
             "FUTEX_WAKE, want 0", g_ret, g_err, strerror(g_err));
    ct_log("FUTEX_WAIT: %ld sleep(s) for the broadcast (%s), then returned "
           "0 on a FUTEX_WAKE that did not change the word",
           s1 - s0, PARKS ? "parked" : "not x86_64: held");
    pthread_join(th, NULL);
    return 0;
}

/* ------------------------------- 3, 4. foreign-no-restart / -restart */

static sem_t g_sem, g_exit_sem;
static pid_t g_handler_tid;
static int g_handler_runs;

static void on_usr1(int sig)
{
    (void)sig;
    g_handler_tid = ct_gettid();
    __atomic_add_fetch(&g_handler_runs, 1, __ATOMIC_RELEASE);
}

static void *sem_waiter(void *arg)
{
    __atomic_store_n(&g_tid, ct_gettid(), __ATOMIC_RELEASE);
    errno = 0;
    long r = sem_wait(&g_sem);
    g_err = errno;
    g_ret = r;
    __atomic_store_n(&g_done, 1, __ATOMIC_RELEASE);
    /* Stays alive until its count has been read. */
    while (sem_wait(&g_exit_sem) != 0) {
    }
    return arg;
}

static int foreign(int restart)
{
    ct_check_library();
    ct_count_fd();
    CT_CHECK(sem_init(&g_sem, 0, 0) == 0 && sem_init(&g_exit_sem, 0, 0) == 0,
             "sem_init");
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    CT_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
    pthread_t th;
    CT_CHECK(ct_thread(&th, sem_waiter, NULL, 0, 0) == 0, "thread");
    pid_t t = wait_tid(&g_tid);
    const char *lo = (const char *)&g_sem, *hi = lo + sizeof(g_sem);
    long s0 = wait_in_futex(t, lo, hi, 0, 2000, "sem_wait", NULL);
    count_broadcast("foreign");
    require_count(t, 1, "one broadcast while in sem_wait");
    wait_in_futex(t, lo, hi, s0 + 1, 1000,
                  "asleep on the semaphore after the broadcast", NULL);
    CT_CHECK(!__atomic_load_n(&g_done, __ATOMIC_ACQUIRE),
             "the broadcast ended sem_wait (returned %ld errno %d)", g_ret,
             g_err);
    CT_CHECK(pthread_kill(th, SIGUSR1) == 0, "pthread_kill");
    if (!restart) {
        CT_CHECK(wait_flag(&g_done, 1000),
                 "sem_wait did not return within 1 s of a SIGUSR1 handled "
                 "without SA_RESTART (%d handler runs)", g_handler_runs);
        CT_CHECK(g_handler_runs == 1 && g_handler_tid == t,
                 "the SIGUSR1 handler ran %d time(s), last on thread %d, "
                 "want once on %d", g_handler_runs, (int)g_handler_tid, (int)t);
        CT_CHECK(g_ret == -1 && g_err == EINTR,
                 "sem_wait returned %ld errno %d (%s), want -1 EINTR", g_ret,
                 g_err, strerror(g_err));
        ct_log("SIGUSR1 without SA_RESTART on a parked sem_wait: -1 EINTR");
    } else {
        CT_CHECK(wait_flag(&g_handler_runs, 1000),
                 "the SIGUSR1 handler did not run within 1 s");
        ct_sleep_ms(300);
        CT_CHECK(g_handler_runs == 1 && g_handler_tid == t,
                 "the SIGUSR1 handler ran %d time(s), last on thread %d, "
                 "want once on %d", g_handler_runs, (int)g_handler_tid, (int)t);
        CT_CHECK(!__atomic_load_n(&g_done, __ATOMIC_ACQUIRE),
                 "sem_wait returned %ld errno %d (%s) after a SIGUSR1 handled "
                 "with SA_RESTART; it must go on waiting",
                 g_ret, g_err, strerror(g_err));
        wait_in_futex(t, lo, hi, 0, 1000,
                      "asleep on the semaphore after the SA_RESTART handler",
                      NULL);
        CT_CHECK(sem_post(&g_sem) == 0, "sem_post");
        CT_CHECK(wait_flag(&g_done, 1000),
                 "sem_wait did not return within 1 s of sem_post");
        CT_CHECK(g_ret == 0, "sem_wait returned %ld errno %d (%s) after "
                 "sem_post, want 0", g_ret, g_err, strerror(g_err));
        ct_log("SIGUSR1 with SA_RESTART on a parked sem_wait: still waiting "
               "300 ms later, then 0 on sem_post");
    }
    require_count(t, 1, "after the wait ended");
    sem_post(&g_exit_sem);
    pthread_join(th, NULL);
    return 0;
}

static int case_foreign_no_restart(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return foreign(0);
}

static int case_foreign_restart(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return foreign(1);
}

/* --------------------------------------------------- 5. cancel-parked */

static pid_t g_cleanup_tid;

static void cleanup(void *arg)
{
    g_cleanup_tid = ct_gettid();
    pthread_mutex_unlock((pthread_mutex_t *)arg);
}

static void *cancel_waiter(void *arg)
{
    __atomic_store_n(&g_tid, ct_gettid(), __ATOMIC_RELEASE);
    pthread_mutex_lock(&g_mu);
    pthread_cleanup_push(cleanup, &g_mu);
    while (!g_go) {
        pthread_cond_wait(&g_cv, &g_mu);
    }
    pthread_cleanup_pop(1);
    return arg;
}

/* Joins th, which was just cancelled: it must end within 2 s, cancelled. */
static void join_cancelled(pthread_t th, pid_t t)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    void *ret = NULL;
    int r = pthread_timedjoin_np(th, &ret, &until);
    CT_CHECK(r == 0, "pthread_timedjoin_np: %s: the cancelled thread %d did "
             "not end within 2 s", strerror(r), (int)t);
    CT_CHECK(ret == PTHREAD_CANCELED, "the thread %d returned %p, not "
             "PTHREAD_CANCELED", (int)t, ret);
}

static int case_cancel_parked(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_check_library();
    ct_count_fd();
    /* A bystander, parked through both broadcasts. */
    struct ct_group *g = ct_start_idle(1, CT_IDLE_COND, 0, 0);
    pthread_t th;
    CT_CHECK(ct_thread(&th, cancel_waiter, NULL, 0, 0) == 0, "thread");
    pid_t t = wait_tid(&g_tid);
    long s0 = wait_in_futex(t, &g_cv, &g_cv + 1, 0, 2000,
                            "pthread_cond_wait", NULL);
    count_broadcast("cancel-parked, first");
    require_count(t, 1, "one broadcast while in pthread_cond_wait");
    wait_in_futex(t, &g_cv, &g_cv + 1, s0 + 1, 1000,
                  "asleep on the condition variable after the broadcast",
                  NULL);
    long t0 = ct_now_ms();
    CT_CHECK(pthread_cancel(th) == 0, "pthread_cancel");
    join_cancelled(th, t);
    CT_CHECK(g_cleanup_tid == t, "the cleanup handler did not run on the "
             "cancelled thread (ran on %d)", (int)g_cleanup_tid);
    int r = pthread_mutex_trylock(&g_mu);
    CT_CHECK(r == 0, "the mutex is not free after the cleanup: %s",
             strerror(r));
    pthread_mutex_unlock(&g_mu);
    ct_log("parked cond_wait cancelled and joined in %ld ms, cleanup ran",
           ct_now_ms() - t0);
    count_broadcast("cancel-parked, second");
    static struct ct_counts want;
    ct_counts_expect(&want, ct_gettid(), 2, 2);
    ct_counts_expect(&want, ct_group_tid(g, 0), 2, 2);
    ct_require_threads(0, "after the cancel, the caller and the bystander "
                          "ran both broadcasts exactly once",
                       ct_pred_counts, &want, 2);
    ct_stop_idle(g);
    return 0;
}

/* ----------------------------------------------- 6. create-after-wake */

#define CW_WAITERS 4
#define CW_CALLS 100
#define CW_MAX_CHILDREN 150

static long g_ticket; /* under g_mu */
static int g_stop_waiters, g_stop_driver, g_calling, g_release;
static long g_begun, g_done_calls;
static pthread_cond_t g_child_cv = PTHREAD_COND_INITIALIZER;
static int g_nchildren; /* reserved child slots */
static long g_wakes;

struct child {
    pthread_t th;
    pid_t tid;
    long done_before_create;
    long begun_at_start;
};
static struct child g_child[CW_MAX_CHILDREN];
static pid_t g_waiter_tid[CW_WAITERS];

static void *child_main(void *arg)
{
    struct child *c = (struct child *)arg;
    c->begun_at_start = __atomic_load_n(&g_begun, __ATOMIC_ACQUIRE);
    __atomic_store_n(&c->tid, ct_gettid(), __ATOMIC_RELEASE);
    pthread_mutex_lock(&g_mu);
    while (!g_release) {
        pthread_cond_wait(&g_child_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

static void *cw_waiter(void *arg)
{
    long id = (long)arg;
    __atomic_store_n(&g_waiter_tid[id], ct_gettid(), __ATOMIC_RELEASE);
    long seen = 0;
    for (;;) {
        pthread_mutex_lock(&g_mu);
        while (g_ticket == seen && !g_stop_waiters) {
            pthread_cond_wait(&g_cv, &g_mu);
        }
        seen = g_ticket;
        int stop = g_stop_waiters;
        pthread_mutex_unlock(&g_mu);
        if (stop) {
            break;
        }
        long wakes = __atomic_add_fetch(&g_wakes, 1, __ATOMIC_RELAXED);
        /* One child per three wakes, while the broadcasts run. */
        if (!__atomic_load_n(&g_calling, __ATOMIC_ACQUIRE) || wakes % 3) {
            continue;
        }
        int idx = __atomic_fetch_add(&g_nchildren, 1, __ATOMIC_RELAXED);
        if (idx >= CW_MAX_CHILDREN) {
            continue;
        }
        struct child *c = &g_child[idx];
        c->done_before_create =
            __atomic_load_n(&g_done_calls, __ATOMIC_ACQUIRE);
        int r = ct_thread(&c->th, child_main, c, idx & 1, 64 * 1024);
        CT_CHECK(r == 0, "pthread_create: %s", strerror(r));
    }
    return NULL;
}

static pid_t g_driver_tid;
static int g_driver_stopped;

static void *driver(void *arg)
{
    __atomic_store_n(&g_driver_tid, ct_gettid(), __ATOMIC_RELEASE);
    while (!__atomic_load_n(&g_stop_driver, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&g_mu);
        g_ticket++;
        pthread_cond_broadcast(&g_cv);
        pthread_mutex_unlock(&g_mu);
        ct_sleep_ms(1);
    }
    __atomic_store_n(&g_driver_stopped, 1, __ATOMIC_RELEASE);
    /* Stays alive until its count has been read. */
    pthread_mutex_lock(&g_mu);
    while (!g_release) {
        pthread_cond_wait(&g_child_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    return arg;
}

static int case_create_after_wake(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_check_library();
    ct_count_fd();
    pthread_t w[CW_WAITERS], d;
    for (long i = 0; i < CW_WAITERS; i++) {
        CT_CHECK(ct_thread(&w[i], cw_waiter, (void *)i, i == 1, 0) == 0,
                 "thread");
    }
    for (int i = 0; i < CW_WAITERS; i++) {
        wait_in_futex(wait_tid(&g_waiter_tid[i]), &g_cv, &g_cv + 1, 0, 2000,
                      "waiter in pthread_cond_wait", NULL);
    }
    CT_CHECK(ct_thread(&d, driver, NULL, 0, 0) == 0, "thread");
    wait_tid(&g_driver_tid);
    ct_sleep_ms(5);
    long t0 = ct_now_ms();
    __atomic_store_n(&g_calling, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < CW_CALLS; i++) {
        __atomic_add_fetch(&g_begun, 1, __ATOMIC_ACQ_REL);
        count_broadcast("create-after-wake");
        __atomic_add_fetch(&g_done_calls, 1, __ATOMIC_ACQ_REL);
        /* Spread the broadcasts over the driver's wakes. */
        if (i % 2) {
            ct_sleep_ms(1);
        }
    }
    __atomic_store_n(&g_calling, 0, __ATOMIC_RELEASE);
    long t1 = ct_now_ms();
    __atomic_store_n(&g_stop_driver, 1, __ATOMIC_RELEASE);
    CT_CHECK(wait_flag(&g_driver_stopped, 2000), "the driver did not stop");
    int nchildren = __atomic_load_n(&g_nchildren, __ATOMIC_RELAXED);
    if (nchildren > CW_MAX_CHILDREN) {
        nchildren = CW_MAX_CHILDREN;
    }
    static struct ct_counts want;
    long n = CW_CALLS;
    ct_counts_expect(&want, ct_gettid(), n, n);
    ct_counts_expect(&want, g_driver_tid, n, n);
    for (int i = 0; i < CW_WAITERS; i++) {
        ct_counts_expect(&want, g_waiter_tid[i], n, n);
    }
    int during = 0;
    for (int i = 0; i < nchildren; i++) {
        struct child *c = &g_child[i];
        wait_tid(&c->tid);
        if (c->done_before_create < n) {
            during++;
        }
        ct_counts_expect(&want, c->tid, n - c->begun_at_start,
                         n - c->done_before_create);
    }
    ct_log("%d broadcasts in %ld ms; %ld wakes of the waiters; %d children "
           "created by woken waiters (%d before the last broadcast ended)",
           CW_CALLS, t1 - t0, g_wakes, nchildren, during);
    CT_CHECK(during >= 10, "only %d children were created while broadcasts "
             "ran: the case did not test what it is for", during);
    ct_require_threads(0, "waiters woken during broadcasts: exactly once; "
                          "their children: every broadcast that had to reach "
                          "them, at most once",
                       ct_pred_counts, &want, 2 + CW_WAITERS + nchildren);
    pthread_mutex_lock(&g_mu);
    g_stop_waiters = 1;
    g_release = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_cond_broadcast(&g_child_cv);
    pthread_mutex_unlock(&g_mu);
    for (int i = 0; i < CW_WAITERS; i++) {
        pthread_join(w[i], NULL);
    }
    pthread_join(d, NULL);
    for (int i = 0; i < nchildren; i++) {
        pthread_join(g_child[i].th, NULL);
    }
    return 0;
}

/* ------------------------------------------------ 7. exec-only-code */

#ifdef __x86_64__
/* mov eax, 202 (SYS_futex); mov r10, rcx; syscall; ret */
static const unsigned char g_stub_code[] = {0xb8, 0xca, 0x00, 0x00, 0x00,
                                            0x49, 0x89, 0xca, 0x0f, 0x05,
                                            0xc3};
typedef long (*stub_fn)(uint32_t *, long, long, void *);
static stub_fn g_stub;

static void *stub_waiter(void *arg)
{
    __atomic_store_n(&g_tid, ct_gettid(), __ATOMIC_RELEASE);
    long r = g_stub(&g_word, FUTEX_WAIT_PRIVATE, 0, NULL);
    g_ret = r;
    __atomic_store_n(&g_done, 1, __ATOMIC_RELEASE);
    return arg;
}

/* The ProtectionKey of the mapping at addr in /proc/self/smaps; -1 if
 * not shown. */
static long protection_key(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    CT_CHECK(f != NULL, "cannot open /proc/self/smaps");
    char line[512];
    int inside = 0;
    long key = -1;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') &&
            strchr(line, ' ') > strchr(line, '-')) {
            inside = (unsigned long)addr >= lo && (unsigned long)addr < hi;
            continue;
        }
        if (inside && strncmp(line, "ProtectionKey:", 14) == 0) {
            key = strtol(line + 14, NULL, 10);
        }
    }
    fclose(f);
    return key;
}

static sigjmp_buf g_jmp;
static volatile int g_segv_code;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    g_segv_code = si->si_code;
    siglongjmp(g_jmp, 1);
}

/* Whether reading the first byte of the page faults (and with what
 * si_code: SEGV_PKUERR is 4). */
static int read_faults(const volatile unsigned char *p, int *code)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CT_CHECK(sigaction(SIGSEGV, &sa, &old) == 0, "sigaction");
    int faulted = 0;
    if (sigsetjmp(g_jmp, 1) == 0) {
        (void)*p;
    } else {
        faulted = 1;
        *code = g_segv_code;
    }
    sigaction(SIGSEGV, &old, NULL);
    return faulted;
}

static int case_exec_only_code(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_check_library();
    ct_count_fd();
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *code = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CT_CHECK(code != MAP_FAILED, "mmap: %s", strerror(errno));
    memcpy(code, g_stub_code, sizeof(g_stub_code));
    CT_CHECK(mprotect(code, (size_t)page, PROT_EXEC) == 0, "mprotect: %s",
             strerror(errno));
    g_stub = (stub_fn)(void *)code;
    long key = protection_key(code);
    int segv = 0;
    int faults = read_faults(code, &segv);
    if (key > 0) {
        ct_log("the stub's page is execute-only: ProtectionKey %ld, a read "
               "%s (si_code %d): the pkeys path is exercised",
               key, faults ? "faults" : "does NOT fault", segv);
    } else {
        ct_log("the stub's page is NOT execute-only (ProtectionKey %ld%s, a "
               "read %s): the pkeys path is NOT exercised here, only an "
               "anonymous PROT_EXEC page",
               key, key < 0 ? ": not shown" : "",
               faults ? "faults" : "succeeds");
    }
    pthread_t th;
    CT_CHECK(ct_thread(&th, stub_waiter, NULL, 0, 0) == 0, "thread");
    pid_t t = wait_tid(&g_tid);
    unsigned long pc = 0;
    long s0 = wait_in_futex(t, &g_word, &g_word + 1, 0, 2000,
                            "FUTEX_WAIT from the stub", &pc);
    unsigned long start = (unsigned long)code;
    CT_CHECK(pc > start && pc <= start + (unsigned long)page,
             "thread %d waits at pc 0x%lx, not in the stub's page %p",
             (int)t, pc, (void *)code);
    count_broadcast("exec-only-code");
    require_count(t, 1, "one broadcast while waiting from the stub");
    wait_in_futex(t, &g_word, &g_word + 1, s0 + 1, 1000,
                  "asleep on its word after the broadcast", NULL);
    CT_CHECK(!__atomic_load_n(&g_done, __ATOMIC_ACQUIRE),
             "the broadcast ended the stub's FUTEX_WAIT (returned %ld)",
             g_ret);
    __atomic_store_n(&g_word, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &g_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    CT_CHECK(wait_flag(&g_done, 1000),
             "the stub's FUTEX_WAIT did not return within 1 s of the word "
             "changing and a FUTEX_WAKE");
    CT_CHECK(g_ret == 0 || g_ret == -EAGAIN, "the stub's FUTEX_WAIT "
             "returned %ld, want 0 or -EAGAIN (%d)", g_ret, -EAGAIN);
    ct_log("futex wait from %s code: survived the broadcast, returned %ld",
           key > 0 ? "execute-only" : "PROT_EXEC", g_ret);
    pthread_join(th, NULL);
    return 0;
}
#else
static int case_exec_only_code(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_log("does not apply: only x86_64 parks (and the stub is x86_64 "
           "code); nothing tested");
    return 0;
}
#endif

/* ------------------- 8-9. seccomp: seccomp-broadcast, waitv-refused */

/*
 * Parked threads wait in futex_waitv, a call glibc 2.36 never makes, so a
 * seccomp allow-list written for the application may not list it.
 *  - seccomp-broadcast: psx itself broadcasts a filter that kills the
 *    process on futex_waitv. psx knows nothing about the filter, so from
 *    then on it must not make futex_waitv (nor park: a filter may refuse
 *    rt_sigprocmask too): parked threads leave the park and wait again in
 *    their own call (futex, 202), later broadcasts reach them by signal,
 *    and the process lives.
 *  - waitv-refused: a filter psx did not install (here: before the threads
 *    start, inherited by them) makes futex_waitv fail with ENOSYS, as a
 *    kernel before 5.16 does: parking goes on with the plain futex wait
 *    (one sleep per broadcast still), every call runs exactly once.
 * Each installs one filter per thread (a few BPF programs, not thousands).
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>

#define SC_N 4

/* A filter: futex_waitv -> action, everything else allowed. */
static struct sock_filter g_filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex_waitv, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 0), /* action, filled in */
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};
static struct sock_fprog g_prog = {4, g_filter};

static long seccomp_filters(pid_t tid)
{
    char st[4096], v[32];
    if (ct_read_status(0, tid, st, sizeof(st)) != 0 ||
        ct_field(st, "Seccomp_filters", v, sizeof(v)) != 0) {
        return -1;
    }
    return strtol(v, NULL, 10);
}

static int case_seccomp_broadcast(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    ct_count_fd();
    static struct idler w[SC_N];
    long sw[SC_N];
    start_idlers(w, SC_N, sw);
    broadcasts_then_asleep(w, SC_N, sw, 2, park_call(), "parked, no filter");
    g_filter[2] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                               SECCOMP_RET_KILL_PROCESS);
    long r = psx_syscall3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0,
                          (long)&g_prog);
    CT_CHECK(r == 0, "psx_syscall3(seccomp) returned %ld errno %d", r, errno);
    CT_CHECK(seccomp_filters(ct_gettid()) == 1, "the caller has %ld filters",
             seccomp_filters(ct_gettid()));
    for (int i = 0; i < SC_N; i++) {
        CT_CHECK(seccomp_filters(w[i].tid) == 1,
                 "thread %d has %ld seccomp filters after the broadcast, "
                 "want 1", (int)w[i].tid, seccomp_filters(w[i].tid));
    }
    broadcasts_then_asleep(w, SC_N, sw, 5, SYS_futex,
                           "after a filter refusing futex_waitv");
    require_counts(w, SC_N, 7);
    wake_idlers(w, SC_N);
    return 0;
}

static int case_waitv_refused(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    ct_count_fd();
    g_filter[2] = (struct sock_filter)BPF_STMT(
        BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
    CT_CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &g_prog) == 0,
             "seccomp: %s", strerror(errno));
    static struct idler w[SC_N];
    long sw0[SC_N], sw[SC_N];
    start_idlers(w, SC_N, sw0);
    memcpy(sw, sw0, sizeof(sw));
    broadcasts_then_asleep(w, SC_N, sw, 10, SYS_futex, "futex_waitv refused");
    require_counts(w, SC_N, 10);
    require_parked_sleeps(w, SC_N, sw0, sw, 10);
    wake_idlers(w, SC_N);
    return 0;
}

/*
 * cancel-handler-installed: once the process has a SIGCANCEL handler
 * (glibc installs it at the first pthread_cancel()), parks use a plain
 * futex wait with a long timeout and are reached by signal (see park.rs,
 * for glibc 2.41's cancellation). Still one sleep per broadcast, every call
 * exactly once, and a parked waiter is cancelled promptly.
 */
static void *pauser(void *arg)
{
    for (;;) {
        pause();
    }
    return arg;
}

static int case_cancel_handler_installed(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_check_library();
    ct_count_fd();
    pthread_t d;
    CT_CHECK(ct_thread(&d, pauser, NULL, 0, 0) == 0, "thread");
    CT_CHECK(pthread_cancel(d) == 0 && pthread_join(d, NULL) == 0,
             "cancel a pausing thread");
    char st[4096];
    CT_CHECK(ct_read_status(0, ct_gettid(), st, sizeof(st)) == 0, "status");
    CT_CHECK((ct_field_hex(st, "SigCgt") >> 31) & 1,
             "no handler for signal 32 after pthread_cancel (SigCgt %llx)",
             ct_field_hex(st, "SigCgt"));
    static struct idler w[SC_N];
    long sw0[SC_N], sw[SC_N];
    start_idlers(w, SC_N, sw0);
    memcpy(sw, sw0, sizeof(sw));
    broadcasts_then_asleep(w, SC_N, sw, 10, SYS_futex,
                           "SIGCANCEL handler installed");
    require_parked_sleeps(w, SC_N, sw0, sw, 10);
    pthread_t th;
    CT_CHECK(ct_thread(&th, cancel_waiter, NULL, 0, 0) == 0, "thread");
    pid_t t = wait_tid(&g_tid);
    long s0 = wait_in_futex(t, &g_cv, &g_cv + 1, 0, 2000, "pthread_cond_wait",
                            NULL);
    broadcasts_then_asleep(w, SC_N, sw, 1, SYS_futex,
                           "with a thread to cancel");
    require_count(t, 1, "one broadcast while in pthread_cond_wait");
    wait_in_futex(t, &g_cv, &g_cv + 1, s0 + 1, 1000, "asleep after it", NULL);
    CT_CHECK(pthread_cancel(th) == 0, "pthread_cancel");
    join_cancelled(th, t);
    require_counts(w, SC_N, 11);
    wake_idlers(w, SC_N);
    return 0;
}

static const struct ct_case cases[] = {
    {"idle-cond", case_idle_cond, 20, 0},
    {"wake-without-change", case_wake_without_change, 15, 0},
    {"foreign-no-restart", case_foreign_no_restart, 15, 0},
    {"foreign-restart", case_foreign_restart, 15, 0},
    {"cancel-parked", case_cancel_parked, 15, 0},
    {"create-after-wake", case_create_after_wake, 30, 0},
    {"exec-only-code", case_exec_only_code, 15, 0},
    {"seccomp-broadcast", case_seccomp_broadcast, 15, 0},
    {"waitv-refused", case_waitv_refused, 15, 0},
    {"cancel-handler-installed", case_cancel_handler_installed, 15, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t13_park", argc, argv, cases);
}
