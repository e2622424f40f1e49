/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 6: threads are created and end all the time during broadcasts.
 *
 * Two caller threads make broadcasts while spawner threads keep creating
 * threads (through psx's wrapper and around it), some of which create
 * threads of their own before ending, and some of which stay alive to the
 * end ("survivors", left behind while broadcasts run). No hang, no crash,
 * and per thread in /proc:
 *
 *  - no thread missed: every sixth broadcast drops one more capability from
 *    the bounding set (each caller its own list). This state is inherited,
 *    so afterwards every live thread must lack every dropped capability,
 *    including threads created by a thread that had not yet run the call.
 *  - none run twice: the other broadcasts are the counting call (1 MiB
 *    written to /dev/null, counted per thread in /proc/<pid>/task/<tid>/io,
 *    see ct_count_fd in common.h). Threads
 *    alive from before the first broadcast (idle, spawners) must show
 *    exactly one read per broadcast. A survivor starts from 0; its creator
 *    notes how many broadcasts had finished before pthread_create(), and the
 *    survivor notes how many had begun when it started: it must show at
 *    least every broadcast begun after it started and at most every one not
 *    finished before it was created.
 *
 * (Case stopped-start-creators, below: threads glibc starts stopped;
 * chase-idle-not-held: idle threads in a broadcast that chases.)
 *
 * A missed drop is reported with its broadcast's times and, for a survivor,
 * its creator and when it was made. The engine that ended a broadcast on a
 * /proc listing finding nothing new failed here about once in 40 suite runs
 * under two CPU hogs (never in 1,100 runs of this test alone): Linux's
 * listing can skip a thread (src/broadcast.rs, model/README.md).
 */
#include "common.h"

#include <errno.h>
#include <sched.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/psx_syscall.h>

#define NCALLS 120 /* per caller */
#define NCALLERS 2
#define NSPAWNERS 3
#define MAX_SURVIVORS 48
#define DROPS_PER_CALLER (NCALLS / 6)

static int g_stop;
static long g_created;
static long g_begun, g_done; /* read broadcasts begun / finished */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_release;

struct survivor {
    pthread_t th;
    pid_t tid;
    long done_before_create;
    long begun_at_start;
    /* For a failure report: who made it, and when (ct_now_us). */
    pid_t creator;
    long creator_depth; /* -1: a spawner, else a transient's depth */
    long before_create_us, after_create_us, started_us;
    unsigned long long creator_bnd, start_bnd; /* bounding sets then */
};

/* For a failure report: when each drop broadcast began and returned. */
static long g_drop_us[NCALLERS][DROPS_PER_CALLER][2];

/* The calling thread's bounding set, from the kernel (PR_CAPBSET_READ). */
static unsigned long long bset_now(void)
{
    unsigned long long set = 0;
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) {
            set |= 1ULL << cap;
        }
    }
    return set;
}

static struct survivor g_surv[MAX_SURVIVORS];
static int g_nsurvivors;

/* Capabilities the callers drop, caller c takes every other one. None of
 * them is needed by the test itself (CAP_SETPCAP stays). */
static int cap_for(int caller, int k)
{
    static const int caps[] = {
        CAP_CHOWN, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID,
        CAP_KILL, CAP_LINUX_IMMUTABLE, CAP_NET_BIND_SERVICE,
        CAP_NET_BROADCAST, CAP_NET_ADMIN, CAP_NET_RAW, CAP_IPC_LOCK,
        CAP_IPC_OWNER, CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_PACCT,
        CAP_SYS_BOOT, CAP_SYS_NICE, CAP_SYS_TTY_CONFIG, CAP_MKNOD,
        CAP_LEASE, CAP_AUDIT_WRITE, CAP_AUDIT_CONTROL, CAP_MAC_OVERRIDE,
        CAP_MAC_ADMIN, CAP_SYSLOG, CAP_WAKE_ALARM, CAP_BLOCK_SUSPEND,
        CAP_AUDIT_READ, CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE,
        CAP_SETFCAP, CAP_SYS_TIME, CAP_SYS_PTRACE, CAP_SETUID, CAP_SETGID,
        CAP_DAC_OVERRIDE, CAP_SYS_CHROOT, CAP_SYS_RESOURCE, CAP_SYS_ADMIN,
    };
    return caps[(2 * k + caller) % (int)(sizeof(caps) / sizeof(caps[0]))];
}

static void *survivor_main(void *arg)
{
    struct survivor *s = (struct survivor *)arg;
    s->begun_at_start = __atomic_load_n(&g_begun, __ATOMIC_ACQUIRE);
    s->started_us = ct_now_us();
    s->start_bnd = bset_now();
    __atomic_store_n(&s->tid, ct_gettid(), __ATOMIC_RELEASE);
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
static void maybe_survivor(int unwrapped, long depth)
{
    if (!__atomic_load_n(&g_calling, __ATOMIC_ACQUIRE)) {
        return;
    }
    if (!ct_once_per_ms(&g_last_survivor_ms, 5)) {
        return;
    }
    pthread_mutex_lock(&g_mu);
    if (g_nsurvivors < MAX_SURVIVORS) {
        struct survivor *s = &g_surv[g_nsurvivors];
        s->done_before_create = __atomic_load_n(&g_done, __ATOMIC_ACQUIRE);
        s->creator = ct_gettid();
        s->creator_depth = depth;
        s->creator_bnd = bset_now();
        s->before_create_us = ct_now_us();
        if (ct_thread(&s->th, survivor_main, s, unwrapped, 64 * 1024) == 0) {
            s->after_create_us = ct_now_us();
            g_nsurvivors++;
        }
    }
    pthread_mutex_unlock(&g_mu);
}

static void *transient(void *arg)
{
    long depth = (long)arg;
    __atomic_add_fetch(&g_created, 1, __ATOMIC_RELAXED);
    maybe_survivor((int)(depth & 1), depth);
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

static pid_t g_spawner_tid[NSPAWNERS];

static void *spawner(void *arg)
{
    long id = (long)arg;
    g_spawner_tid[id] = ct_gettid();
    unsigned seed = (unsigned)id * 7919u + 1;
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        seed = seed * 1103515245u + 12345u;
        int unwrapped = (seed >> 8) & 1;
        maybe_survivor(!unwrapped, -1);
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

static void *caller(void *arg)
{
    int c = (int)(long)arg;
    int drops = 0;
    for (int i = 0; i < NCALLS; i++) {
        long r;
        if (i % 6 == 5) {
            g_drop_us[c][drops][0] = ct_now_us();
            int cap = cap_for(c, drops);
            r = psx_syscall3(SYS_prctl, PR_CAPBSET_DROP, cap, 0);
            g_drop_us[c][drops++][1] = ct_now_us();
            CT_CHECK(r == 0, "broadcast %d: PR_CAPBSET_DROP(%d): %ld errno %d",
                     i, cap, r, errno);
            continue;
        }
        __atomic_add_fetch(&g_begun, 1, __ATOMIC_ACQ_REL);
        r = psx_syscall3(CT_COUNT_CALL);
        __atomic_add_fetch(&g_done, 1, __ATOMIC_ACQ_REL);
        CT_CHECK(r == CT_COUNT_BYTES, "broadcast %d: read: %ld errno %d", i, r, errno);
    }
    return NULL;
}

/* A bad thread's remaining drops, the first time it is seen bad. */
#define MAX_BAD 8
static pid_t g_bad[MAX_BAD];
static unsigned long long g_bad_bnd[MAX_BAD];
static int g_nbad;

static int all_dropped(pid_t tid, const char *status, void *arg)
{
    (void)arg;
    unsigned long long bnd = ct_field_hex(status, "CapBnd");
    for (int c = 0; c < NCALLERS; c++) {
        for (int k = 0; k < DROPS_PER_CALLER; k++) {
            if ((bnd >> cap_for(c, k)) & 1) {
                for (int i = 0; i < g_nbad; i++) {
                    if (g_bad[i] == tid) {
                        return 0;
                    }
                }
                if (g_nbad < MAX_BAD) {
                    g_bad_bnd[g_nbad] = bnd;
                    g_bad[g_nbad++] = tid;
                }
                return 0;
            }
        }
    }
    return 1;
}

/* Reads thread tid's status by its id (no listing): 1 when it kept a
 * dropped capability or cannot be read. */
static int kept_a_cap(pid_t tid)
{
    static char status[4096];
    if (ct_read_task_file(0, tid, "status", status, sizeof(status)) < 0) {
        ct_log("thread %d: its status cannot be read", (int)tid);
        return 1;
    }
    if (!all_dropped(tid, status, NULL)) {
        ct_log("thread %d (read by id) kept a dropped capability", (int)tid);
        return 1;
    }
    return 0;
}

/* What a missed drop looks like: which broadcast, when, and for a survivor
 * who made it when (times in us from t0). */
static void report_missed(long t0_us)
{
    for (int b = 0; b < g_nbad; b++) {
        for (int c = 0; c < NCALLERS; c++) {
            for (int k = 0; k < DROPS_PER_CALLER; k++) {
                if ((g_bad_bnd[b] >> cap_for(c, k)) & 1) {
                    ct_log("thread %d missed caller %d's drop %d (cap %d): "
                           "broadcast from %ld to %ld us",
                           (int)g_bad[b], c, k, cap_for(c, k),
                           g_drop_us[c][k][0] - t0_us,
                           g_drop_us[c][k][1] - t0_us);
                }
            }
        }
        for (int i = 0; i < g_nsurvivors; i++) {
            struct survivor *s = &g_surv[i];
            if (s->tid == g_bad[b]) {
                ct_log("thread %d: survivor made by thread %d (%s, depth %ld) "
                       "from %ld to %ld us, started at %ld us; bounding "
                       "sets: creator's %llx before, its own %llx at start",
                       (int)s->tid, (int)s->creator,
                       s->creator_depth < 0 ? "spawner" : "transient",
                       s->creator_depth, s->before_create_us - t0_us,
                       s->after_create_us - t0_us, s->started_us - t0_us,
                       s->creator_bnd, s->start_bnd);
            }
        }
    }
}

static int case_churn(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    ct_count_fd();
    struct ct_group *g = ct_start_idle(4, CT_IDLE_COND, 1, 0);
    pthread_t sp[NSPAWNERS], ca[NCALLERS];
    for (long i = 0; i < NSPAWNERS; i++) {
        CT_CHECK(ct_thread(&sp[i], spawner, (void *)i, i == 1, 0) == 0,
                 "thread");
    }
    ct_sleep_ms(20);
    long t0 = ct_now_ms();
    long t0_us = ct_now_us();
    __atomic_store_n(&g_calling, 1, __ATOMIC_RELEASE);
    for (long i = 0; i < NCALLERS; i++) {
        CT_CHECK(ct_thread(&ca[i], caller, (void *)i, i == 1, 0) == 0,
                 "thread");
    }
    for (int i = 0; i < NCALLERS; i++) {
        pthread_join(ca[i], NULL);
    }
    long t1 = ct_now_ms();
    __atomic_store_n(&g_calling, 0, __ATOMIC_RELEASE);
    ct_sleep_ms(20); /* spawners keep going during and after the checks */
    long n = g_done;
    ct_log("%d broadcasts (%ld counted) in %ld ms while %ld threads came and "
           "went, %d stayed",
           NCALLERS * NCALLS, n, t1 - t0, g_created, g_nsurvivors);
    int live = 1 + 4 + NSPAWNERS + g_nsurvivors;
    /* A listing of /proc/self/task can skip a thread while others end (the
     * spawners go on), so the threads that stay are also read by tid. */
    int bad = ct_check_threads(0, "every dropped bounding capability is "
                                  "gone (no thread missed)",
                               all_dropped, NULL, live);
    for (int i = 0; i < g_nsurvivors; i++) {
        while (!__atomic_load_n(&g_surv[i].tid, __ATOMIC_ACQUIRE)) {
            ct_sleep_ms(1);
        }
        bad += kept_a_cap(g_surv[i].tid);
    }
    for (int i = 0; i < ct_group_size(g); i++) {
        bad += kept_a_cap(ct_group_tid(g, i));
    }
    for (int i = 0; i < NSPAWNERS; i++) {
        bad += kept_a_cap(g_spawner_tid[i]);
    }
    bad += kept_a_cap(getpid());
    if (bad != 0) {
        report_missed(t0_us);
        ct_fail("a thread kept a dropped bounding capability");
    }
    static struct ct_counts want;
    for (int i = 0; i < ct_group_size(g); i++) {
        ct_counts_expect(&want, ct_group_tid(g, i), n, n);
    }
    for (int i = 0; i < NSPAWNERS; i++) {
        ct_counts_expect(&want, g_spawner_tid[i], n, n);
    }
    for (int i = 0; i < g_nsurvivors; i++) {
        struct survivor *s = &g_surv[i];
        while (!__atomic_load_n(&s->tid, __ATOMIC_ACQUIRE)) {
            ct_sleep_ms(1);
        }
        ct_counts_expect(&want, s->tid, n - s->begun_at_start,
                        n - s->done_before_create);
    }
    ct_require_threads(0, "counting call: each broadcast at most once, "
                          "and every one that had to reach the thread",
                       ct_pred_counts, &want, live);
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < NSPAWNERS; i++) {
        pthread_join(sp[i], NULL);
    }
    pthread_mutex_lock(&g_mu);
    g_release = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    for (int i = 0; i < g_nsurvivors; i++) {
        pthread_join(g_surv[i].th, NULL);
    }
    ct_stop_idle(g);
    return 0;
}


/* ------------------------------------------------- stopped-start creators
 *
 * glibc starts a thread "stopped" when its attributes set CPU affinity or
 * an explicit scheduling policy: the creator clones it with every signal
 * blocked, the new thread waits on a lock the creator takes before the
 * clone, and the creator restores its own mask (psx's signal can run its
 * handler here) before it unlocks. A creator held in psx's handler at that
 * point keeps the new thread, signal 33 still blocked, from ever answering.
 * Creators here make such threads around psx's wrapper, so broadcasts
 * keep finding new threads: each must still end once a round finds none
 * (src/broadcast.rs, "Threads that keep appearing": after a second psx
 * holds the threads it finds from then on, up to 10 ms each; an engine
 * that held answered threads without a bound hung here within a second).
 * Then every creator, alive from before the first broadcast, must show one
 * call per broadcast in /proc. */

#define NSTOPPED 4
extern int __real_pthread_create(pthread_t *, const pthread_attr_t *,
                                 void *(*)(void *), void *)
    __attribute__((weak));
static long g_stopped_made;
static int g_stopped_stop;
static int g_stopped_wrapped; /* through psx's wrapper, else around it */
static pid_t g_stopped_tid[NSTOPPED];

static void *stopped_child(void *arg)
{
    return arg;
}

static void *stopped_creator(void *arg)
{
    __atomic_store_n(&g_stopped_tid[(long)arg], (pid_t)syscall(SYS_gettid),
                     __ATOMIC_RELEASE);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    while (!__atomic_load_n(&g_stopped_stop, __ATOMIC_ACQUIRE)) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
        pthread_t t;
        int r = g_stopped_wrapped
                    ? pthread_create(&t, &attr, stopped_child, NULL)
                    : __real_pthread_create(&t, &attr, stopped_child, NULL);
        CT_CHECK(r == 0, "pthread_create");
        pthread_attr_destroy(&attr);
        pthread_join(t, NULL);
        __atomic_add_fetch(&g_stopped_made, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL [t06_churn] stopped-start creators: a "
                              "broadcast did not end in 30 s x PSX_TIMEOUT_SCALE "
                              "(a hang)\n";
    ssize_t r = write(2, msg, sizeof(msg) - 1);
    (void)r;
    _exit(1);
}

static int run_stopped_start(void)
{
    CT_CHECK(__real_pthread_create != NULL, "no __real_pthread_create");
    int scale = ct_timeout_scale();
    signal(SIGALRM, on_alarm);
    pthread_t th[NSTOPPED];
    for (long i = 0; i < NSTOPPED; i++) {
        CT_CHECK(pthread_create(&th[i], NULL, stopped_creator, (void *)i) == 0,
                 "pthread_create");
    }
    for (int i = 0; i < NSTOPPED; i++) {
        while (!__atomic_load_n(&g_stopped_tid[i], __ATOMIC_ACQUIRE)) {
            ct_sleep_ms(1); /* alive from before the first broadcast */
        }
    }
    long n = 0, longest_ms = 0;
    long end = ct_now_ms() + 3000L * scale;
    while (ct_now_ms() < end) {
        alarm(30 * scale);
        long t0 = ct_now_ms();
        CT_CHECK(psx_syscall3(CT_COUNT_CALL) == CT_COUNT_BYTES, "broadcast");
        long took = ct_now_ms() - t0;
        longest_ms = took > longest_ms ? took : longest_ms;
        n++;
    }
    alarm(0);
    for (int i = 0; i < NSTOPPED; i++) {
        long c = ct_thread_count(0, g_stopped_tid[i]);
        CT_CHECK(c == n, "creator %d ran the call %ld times in %ld broadcasts",
                 (int)g_stopped_tid[i], c, n);
    }
    __atomic_store_n(&g_stopped_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < NSTOPPED; i++) {
        pthread_join(th[i], NULL);
    }
    ct_log("%ld broadcasts (longest %ld ms) while %ld threads started "
           "stopped were made %s psx's wrapper; each creator ran each once",
           n, longest_ms, g_stopped_made,
           g_stopped_wrapped ? "through" : "around");
    /* One broadcast is enough to show it ends: around the wrapper, each
     * chases the new threads until a round finds none, up to 255 ms on the
     * host; in the arm64 VM (TCG, PSX_TIMEOUT_SCALE 6: alarm 180 s) 13-23 s
     * before psx held threads made meanwhile after a second of it. */
    CT_CHECK(n >= 1 && g_stopped_made >= 10, "too little done");
    return 0;
}

/* Default mode: made around the wrapper, so every round may find new
 * threads; after a second of that, psx holds the new ones (bounded). (The hold mode has no gate for
 * threads made around the wrapper and hangs here: README, "Hold mode".
 * Blocking signal 33 in the wrapper across the creation only moved the
 * hang to the new thread, which then waited, signal 33 blocked, on a lock
 * that a held thread had, seen in t16.) */
static int case_stopped_start(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return run_stopped_start();
}

/* Both modes: made through the wrapper. The hold mode, without the gate,
 * hung here: a creator held between the clone and the unlock. */
static int case_stopped_start_wrapped(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    g_stopped_wrapped = 1;
    return run_stopped_start();
}

/* ---------------------------------------------- idle threads in a chase
 *
 * A broadcast that has chased threads made around the wrapper for a second
 * holds the threads it finds from then on (src/broadcast.rs, "Threads that
 * keep appearing"), never the threads that were there before it: those
 * must see the broadcast exactly as any other, one wake-up. Creators here
 * make threads around the wrapper without pause, and broadcasts are made
 * until one chases them for over a second (psx says so on stderr, read
 * back here; none in 40 s: the case failed, having tested nothing). Every
 * idle thread, waiting from before, must show one call per broadcast in
 * /proc and exactly one more voluntary context switch (its wait goes back
 * to sleep once). The engine that also held answered threads sent each
 * idle one a second signal and held it: three switches per chased
 * broadcast. */

#define NCHASERS 8
#define NCHASE_IDLE 8
static int g_chase_stop;
static long g_chase_made;

static void *chase_child(void *arg)
{
    return arg;
}

/* arg 0: detached threads, nothing waits for them; 1: threads glibc
 * starts stopped (CPU affinity), each joined, as stopped-start-creators
 * (which chase in the arm64 VM; without raised priority, the first kind
 * did not there). */
static void *chase_creator(void *arg)
{
    int joined = arg != NULL;
    /* Ahead of CPU hogs (tests run as root): with two hogs at the same
     * weight, 20 broadcasts in a row found a round without a new thread
     * within a second. */
    CT_CHECK(setpriority(PRIO_PROCESS, (id_t)ct_gettid(), -10) == 0,
             "setpriority");
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    if (joined) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(0, &set);
        pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
    } else {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    }
    while (!__atomic_load_n(&g_chase_stop, __ATOMIC_ACQUIRE)) {
        pthread_t t;
        if (__real_pthread_create(&t, &attr, chase_child, NULL) != 0) {
            ct_sleep_ms(1); /* EAGAIN: as many threads as allowed */
            continue;
        }
        __atomic_add_fetch(&g_chase_made, 1, __ATOMIC_RELAXED);
        if (joined) {
            pthread_join(t, NULL);
        }
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

static pthread_mutex_t g_chase_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_chase_cv = PTHREAD_COND_INITIALIZER;
static int g_chase_over; /* the broadcast returned */

/* Stops the creators after arg ms, or when the broadcast has returned. */
static void *chase_stopper(void *arg)
{
    struct timespec end = ct_deadline(CLOCK_REALTIME, (long)arg);
    pthread_mutex_lock(&g_chase_mu);
    while (!g_chase_over &&
           pthread_cond_timedwait(&g_chase_cv, &g_chase_mu, &end) == 0) {
    }
    pthread_mutex_unlock(&g_chase_mu);
    __atomic_store_n(&g_chase_stop, 1, __ATOMIC_RELEASE);
    return NULL;
}

static long voluntary_switches(pid_t tid)
{
    char st[4096], v[64];
    CT_CHECK(ct_read_status(0, tid, st, sizeof(st)) == 0 &&
                 ct_field(st, "voluntary_ctxt_switches", v, sizeof(v)) == 0,
             "status of %d", (int)tid);
    return atol(v);
}

/* One broadcast while NCHASERS threads make threads around the wrapper
 * (of kind `joined`, see chase_creator) for at most chase_ms; psx's stderr
 * meanwhile goes to err. */
static long chase_broadcast(int joined, long chase_ms, char *err, size_t errsz)
{
    pthread_t th[NCHASERS], stopper;
    __atomic_store_n(&g_chase_stop, 0, __ATOMIC_RELEASE);
    g_chase_over = 0;
    long made = __atomic_load_n(&g_chase_made, __ATOMIC_RELAXED);
    for (long i = 0; i < NCHASERS; i++) {
        CT_CHECK(ct_thread(&th[i], chase_creator, (void *)(long)joined, 0, 0) == 0,
                 "thread");
    }
    while (__atomic_load_n(&g_chase_made, __ATOMIC_RELAXED) < made + 100) {
        ct_sleep_ms(1);
    }
    int p[2];
    CT_CHECK(pipe(p) == 0, "pipe");
    int saved = dup(2);
    CT_CHECK(saved >= 0 && dup2(p[1], 2) == 2, "dup2");
    CT_CHECK(ct_thread(&stopper, chase_stopper, (void *)chase_ms, 0, 0) == 0,
             "thread");
    long r = psx_syscall3(CT_COUNT_CALL);
    pthread_mutex_lock(&g_chase_mu);
    g_chase_over = 1;
    pthread_cond_signal(&g_chase_cv);
    pthread_mutex_unlock(&g_chase_mu);
    dup2(saved, 2);
    close(saved);
    close(p[1]);
    ct_read_fd(p[0], err, errsz, 100, NULL);
    close(p[0]);
    CT_CHECK(r == CT_COUNT_BYTES, "broadcast: %ld", r);
    pthread_join(stopper, NULL);
    for (int i = 0; i < NCHASERS; i++) {
        pthread_join(th[i], NULL);
    }
    return r;
}

static int case_chase_idle(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    CT_CHECK(__real_pthread_create != NULL, "no __real_pthread_create");
    /* In pthread_cond_wait: after the handler its futex wait restarts
     * without a lock. (Blocked in read() on one shared pipe, two restarting
     * at once met on the pipe's mutex: one more sleep, under CPU hogs.) */
    struct ct_group *g = ct_start_idle(NCHASE_IDLE, CT_IDLE_COND, 0, 0);
    /* Two quiet broadcasts first: the handler's first run on a thread can
     * fault in stack pages, and a fault that waits for the address space's
     * lock, which the creators' clones and stacks keep busy, sleeps (seen
     * in the arm64 VM). */
    for (int i = 0; i < 2; i++) {
        CT_CHECK(psx_syscall3(CT_COUNT_CALL) == CT_COUNT_BYTES, "broadcast");
    }
    long before[NCHASE_IDLE];
    for (int i = 0; i < NCHASE_IDLE; i++) {
        before[i] = voluntary_switches(ct_group_tid(g, i));
    }
    /* Many such broadcasts end within a second (a round finds none by
     * chance). Seen here: on the host, with two CPU hogs, one pair of
     * broadcasts in one to six chased longer, a pair taking about a second;
     * in the arm64 VM the first or second broadcast. */
    int n = 0, chased = 0;
    long give_up = ct_now_ms() + 40000;
    while (ct_now_ms() < give_up && !chased) {
        char err[4096];
        long t0 = ct_now_ms();
        chase_broadcast(n % 2, 2500L * ct_timeout_scale(), err, sizeof(err));
        long took = ct_now_ms() - t0;
        n++;
        chased = strstr(err, "still finding new threads") != NULL;
        for (int i = 0; i < NCHASE_IDLE; i++) {
            pid_t tid = ct_group_tid(g, i);
            long calls = ct_thread_count(0, tid) - 2;
            long woken = voluntary_switches(tid) - before[i];
            CT_CHECK(calls == n && woken == n,
                     "after broadcast %d (%ld ms, %s), idle thread %d ran its "
                     "call %ld times and slept %ld times more (want %d and "
                     "%d: held by a chase it was there before)", n, took,
                     chased ? "chased" : "not chased", (int)tid, calls, woken,
                     n, n);
        }
    }
    CT_CHECK(chased, "none of %d broadcasts in 40 s chased new threads for "
             "a second (psx said nothing on stderr): nothing was tested", n);
    ct_stop_idle(g);
    ct_log("%d broadcasts, the last chasing for over a second, while %ld "
           "threads were made around the wrapper; each of %d idle threads "
           "woke once per broadcast", n, g_chase_made, NCHASE_IDLE);
    return 0;
}

static const struct ct_case cases[] = {
    {"create-and-exit-during-broadcasts", case_churn, 90, 0},
    {"stopped-start-creators", case_stopped_start, 60, CT_NO_HOLD},
    {"stopped-start-wrapped", case_stopped_start_wrapped, 60, 0},
    {"chase-idle-not-held", case_chase_idle, 90, CT_NO_HOLD},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t06_churn", argc, argv, cases);
}
