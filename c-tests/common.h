/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared helpers of the psx C tests.
 *
 * Every test checks the world, not the library's opinion: the state of each
 * thread is read from /proc/<pid>/task/<tid>/status. The helpers read /proc
 * with raw open/read/getdents64 into fixed buffers (no malloc, no stdio), so
 * they can be used while other threads sit in a signal handler.
 *
 * A test program is a table of sub-cases. Run without arguments, it is the
 * driver: it runs each sub-case in a fresh process (fork + exec of itself),
 * under a timeout, and on a hang prints what every thread of the stuck
 * process was doing before killing it. Run with a sub-case name, it runs
 * that sub-case only.
 */
#ifndef PSX_CTESTS_COMMON_H
#define PSX_CTESTS_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CT_MAX_TIDS 12000

/* ---------------------------------------------------------------- output */

extern const char *ct_test;  /* test program name, e.g. "t05_sigmask" */
extern const char *ct_subcase;  /* current sub-case */

/* "[t05_sigmask/name] message" on stderr. */
void ct_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "FAIL ..." and the thread table of this process, then exit(1). */
void ct_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* Same, with the thread table of another process (e.g. a child). */
void ct_fail_pid(pid_t pid, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
#define CT_CHECK(cond, ...)                                                    \
    do {                                                                       \
        if (!(cond))                                                           \
            ct_fail(__VA_ARGS__);                                              \
    } while (0)

/* ---------------------------------------------------------- raw syscalls */

/* A system call that never touches errno: returns -errno on failure. */
long ct_raw6(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
pid_t ct_gettid(void);
long ct_now_ms(void);
long ct_now_us(void); /* CLOCK_MONOTONIC, microseconds */
/* 1 for the one caller, of any thread, that finds at least ms milliseconds
 * gone since the moment in *last and claims now; 0 for every other. */
int ct_once_per_ms(long *last, long ms);
/* Sleeps ms milliseconds, resuming after signal handlers. */
void ct_sleep_ms(long ms);
/* The time on `clock` ms milliseconds from now (an absolute deadline). */
struct timespec ct_deadline(clockid_t clock, long ms);

/* Blocks (1) or unblocks (0) signal 33 on the calling thread with a raw
 * rt_sigprocmask (glibc's pthread_sigmask() cannot): psx's signal then
 * waits, and a broadcast cannot end until the thread unblocks it. */
void ct_block_sig33(int block);

/* The kernel's struct sigaction (the same field order on x86_64 and arm64);
 * mask bit n-1 is signal n. */
struct ct_ksigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    unsigned long mask;
};
/* Installs `handler` for `sig` with a raw rt_sigaction, with `flags` and
 * the kernel mask `mask`, which may name signals 32 and 33 (glibc's
 * sigaction() refuses 33 and drops both from masks). The return trampoline
 * is glibc's own, read back from the current action of `model`, which the
 * caller installed with sigaction(). Fails the test on an error. */
void ct_raw_sigaction(int sig, int model, void *handler, unsigned long flags,
                      unsigned long mask);

/* ----------------------------------------------------------------- /proc */

/* Opens /proc once and keeps the descriptor: call before chroot(). */
void ct_proc_open(void);
/* Forgets the kept descriptor without closing it (after closing all fds). */
void ct_proc_forget(void);
/* Lists the thread ids of pid (0: this process). Returns the count or -1. */
int ct_list_tids(pid_t pid, pid_t *out, int max);
/* Reads /proc/<pid>/task/<tid>/status (pid 0: this process); 0 or -1. */
int ct_read_status(pid_t pid, pid_t tid, char *buf, size_t size);
/* Reads /proc/<pid>/task/<tid>/<file>; returns bytes or -1. */
int ct_read_task_file(pid_t pid, pid_t tid, const char *file, char *buf,
                      size_t size);
/* What /proc/<pid>/task/<tid>/syscall shows: the system call a sleeping
 * thread is in, with its arguments and the user stack pointer and pc. */
struct ct_syscall {
    long nr;
    unsigned long arg[6];
    unsigned long sp, pc;
};
/* 0 when the thread is blocked in a system call (*out filled in), -1 when
 * it is running, gone, or not in a system call. */
int ct_read_syscall(pid_t pid, pid_t tid, struct ct_syscall *out);
/* Copies the value of "Field:\tvalue" (trimmed) from a status text. */
int ct_field(const char *status, const char *field, char *out, size_t size);
/* Value of a hexadecimal field (CapEff, SigBlk, ...); ~0ULL if absent. */
unsigned long long ct_field_hex(const char *status, const char *field);
/* Column col (0-based) of a decimal field (Uid, Gid); -1 if absent. */
long ct_field_col(const char *status, const char *field, int col);
/* 1 if the thread is a zombie (State: Z) or gone. */
int ct_is_zombie(const char *status);

/* Prints a table with one line per thread of pid (0: self) to stderr. */
void ct_print_table(pid_t pid, const char *title);

/*
 * Checks every live (non-zombie) thread of pid (0: self) with pred, which
 * returns 1 when the thread is as expected. On any bad thread, or when fewer
 * than min_live live threads are seen, prints the table (bad threads
 * marked) and returns the number of problems; 0 when all is well.
 */
typedef int (*ct_pred)(pid_t tid, const char *status, void *arg);
int ct_check_threads(pid_t pid, const char *what, ct_pred pred, void *arg,
                     int min_live);
/* ct_check_threads, and ct_fail(_pid) when it reports a problem. */
void ct_require_threads(pid_t pid, const char *what, ct_pred pred, void *arg,
                        int min_live);

/* Ready-made predicates. */
struct ct_eq { const char *field; const char *value; };
int ct_pred_eq(pid_t tid, const char *status, void *arg); /* arg: ct_eq */
struct ct_bit { const char *field; int bit; int set; };
int ct_pred_bit(pid_t tid, const char *status, void *arg); /* arg: ct_bit */
/* Convenience: every live thread has field == value. */
void ct_require_all(pid_t pid, const char *field, const char *value,
                    int min_live);
/* Convenience: in every live thread, bit of hex field is set (1) / clear (0). */
void ct_require_all_bit(pid_t pid, const char *field, int bit, int set,
                        int min_live);
int ct_count_live(pid_t pid);

/* ------------------------------------------------------ library identity */

/*
 * Checks that the libpsx this process runs is the one under test, from
 * /proc/self/maps. PSX_TEST_MODE=shared: exactly one mapped libpsx, whose
 * path is PSX_TEST_SO (a realpath, set by run.sh); static or none: no libpsx
 * mapped at all (the static archive is inside the executable; run.sh checks
 * the executable itself). Fails the test otherwise.
 */
void ct_check_library(void);
/* Same, with the mode given explicitly ("shared", "static" or "none"). */
void ct_check_library_mode(const char *mode);

/* --------------------------------------------------------------- threads */

/* Creates a thread. unwrapped: through the real pthread_create, bypassing
 * psx's __wrap_pthread_create (the thread is unknown to a registry). */
int ct_thread(pthread_t *t, void *(*fn)(void *), void *arg, int unwrapped,
              size_t stack);

enum ct_idle_kind {
    CT_IDLE_COND = 0,   /* blocks in pthread_cond_wait */
    CT_IDLE_SLEEP = 1,  /* clock_nanosleep loop */
    CT_IDLE_READ = 2,   /* blocks in read() on a pipe */
};

struct ct_group;
/* Starts n idle threads and waits until all have started. Every third one
 * (i % 3 == 1) is unwrapped when mix_unwrapped is set. stack: 0 = default. */
struct ct_group *ct_start_idle(int n, enum ct_idle_kind kind,
                               int mix_unwrapped, size_t stack);
/* Stops and joins them. */
void ct_stop_idle(struct ct_group *g);
/* Thread id of the i-th thread of the group. */
pid_t ct_group_tid(struct ct_group *g, int i);
int ct_group_size(struct ct_group *g);

/* Hook run by every idle thread after start (before it idles), e.g. to
 * block signals. Set before ct_start_idle. */
extern void (*ct_idle_hook)(int index);

/* ------------------------------------------------------------ processes */

struct ct_case {
    const char *name;
    int (*fn)(int argc, char **argv); /* argv[0] is the case name */
    int timeout_s;                    /* driver's timeout for this case */
    int flags;                        /* CT_HELPER, CT_HOLD, CT_NO_HOLD */
};
#define CT_HELPER 1  /* not run by the driver itself */
#define CT_HOLD 2    /* runs with PSX_HOLD_THREADS=1: psx's opt-in hold mode */
#define CT_NO_HOLD 4 /* runs without it: psx's default engine */

/* 1 when this process asked psx for the hold mode (PSX_HOLD_THREADS=1).
 * The library reads the variable once at load; the cases that depend on
 * the mode assert what it does, so one that was ignored cannot pass. */
int ct_hold_mode(void);

/* Entry point of every test program. */
int ct_main(const char *test, int argc, char **argv,
            const struct ct_case *cases);

/*
 * Starts this program again with case name and extra args, in a new process
 * group. fds[0..2]: descriptors for the child's stdin/stdout/stderr, -1 to
 * inherit. Returns the pid.
 */
pid_t ct_spawn(const char *name, const char *const *extra, const int fds[3]);
/* Waits for pid up to timeout_ms; returns 0 and *status, or -1 on timeout
 * (the child keeps running). */
int ct_wait(pid_t pid, long timeout_ms, int *status);
/* Kills pid's process group (made by ct_spawn) and reaps pid. */
void ct_kill(pid_t pid);
/* Describes a wait status ("exit 1", "signal 9"). */
const char *ct_status_str(int status);
/* Reads from fd into buf (NUL-terminated) until EOF, timeout or full.
 * Returns bytes read. With needle, stops as soon as buf contains it. */
size_t ct_read_fd(int fd, char *buf, size_t size, long timeout_ms,
                  const char *needle);
/*
 * Runs case name of this program in a child (ct_spawn) with stdout and
 * stderr captured into out/err (NUL-terminated, may be NULL), waiting at
 * most timeout_ms. Returns 0 and the wait status in *status, or -1 when the
 * child timed out (it is then killed, after its threads were printed).
 */
int ct_run_capture(const char *name, const char *const *extra,
                   long timeout_ms, char *out, size_t outsz, char *err,
                   size_t errsz, int *status);
/* Counts non-empty lines in text. */
int ct_count_lines(const char *text);

/* --------------------------------------------------------------- misc */

/* Fails unless running as root (the tests need CAP_SYS_ADMIN, chroot...). */
void ct_require_root(void);
/* Drops capability cap from this thread's effective (and, if perm, its
 * permitted) set with a raw capset; other threads are untouched. */
void ct_drop_cap_self(int cap, int perm);
/*
 * A per-thread counter of broadcasts, for exactly-once checks: a broadcast
 * of write(ct_count_fd(), ct_count_buf, CT_COUNT_BYTES) to /dev/null adds
 * CT_COUNT_BYTES (1 MiB; /dev/null copies nothing, so it costs nothing) to
 * "wchar" in each thread's own /proc/<pid>/task/<tid>/io. Unlike NoNewPrivs
 * or a capability drop this is not idempotent: a thread that ran a call
 * twice shows one MiB too many, one that missed it one too few; the few
 * bytes a thread may write for other reasons do not change wchar / 1 MiB.
 * A new thread starts from 0 (the count is not inherited).
 * (A seccomp filter count would be inherited, but each filter is a BPF
 * program: installing thousands of them wedged this machine's kernel in
 * bpf_prog_pack_alloc, so the tests use none. A read() count does not work
 * either: glibc's malloc reads /sys/devices/system/cpu/online in some new
 * threads.)
 */
#define CT_COUNT_BYTES (1L << 20)
int ct_count_fd(void);
extern char ct_count_buf[];
#define CT_COUNT_CALL SYS_write, ct_count_fd(), (long)ct_count_buf, CT_COUNT_BYTES
/* The count of a thread (pid 0: self): wchar / CT_COUNT_BYTES; -1 if
 * unreadable. */
long ct_thread_count(pid_t pid, pid_t tid);

/* ------------------------------------------------------------ watchdog */

/* A process that fails the test when it makes no progress for stall_ms (a
 * broadcast that never returns holds every thread, so nothing inside the
 * process could say it). Returns a 4 KiB page shared with it, starting with
 * the time of the last progress: the test stores ct_now_ms() there (see
 * ct_watchdog_beat) and may keep more after it. On a stall the watchdog
 * calls report(page) in its own process, prints the test's threads under
 * `title`, kills the test and exits. It ends with the test. */
void *ct_watchdog_start(long stall_ms, void (*report)(const void *page),
                        const char *title);
/* Progress now, for the watchdog's page. */
void ct_watchdog_beat(void *page);
/* Ends the watchdog (before a test ends on purpose with work in flight). */
void ct_watchdog_stop(void);

/* ---------------------------------------------------- thread snapshots */

#define CT_SNAP_MAX 512
/* This process's threads and one value per thread (a count, a byte total),
 * with each thread's start time (a thread id can be reused: under heavy
 * thread churn the kernel goes through pid_max in seconds). */
struct ct_snap {
    int n;
    pid_t tid[CT_SNAP_MAX];
    long v[CT_SNAP_MAX];
    unsigned long long start[CT_SNAP_MAX];
    unsigned long long taken; /* ct_boot_ticks() before the listing */
};
/* Lists /proc/self/task and records value(tid) for each thread (threads
 * whose value is < 0, gone meanwhile, are left out). With `whole`, lists
 * again until the thread count is the same before and after and the
 * listing has that many: a listing can leave out a live thread when another
 * one ends while procfs walks the list (fails the test after 1,000 tries).
 * Without it one listing is taken, and a thread it missed must be looked
 * up in an earlier snapshot. */
void ct_snap_take(struct ct_snap *s, long (*value)(pid_t tid), int whole);
/* Field 22 of /proc/self/task/<tid>/stat (clock ticks after boot at which
 * the thread started), or 0 when it is gone. */
unsigned long long ct_thread_start(pid_t tid);
/* Now, in the unit of those start times (clock ticks since boot). */
unsigned long long ct_boot_ticks(void);
/* The index of tid's entry, or -1. */
int ct_snap_index(const struct ct_snap *s, pid_t tid);
/* The value recorded for tid, or -1. */
long ct_snap_find(const struct ct_snap *s, pid_t tid);
/* The value s recorded for thread i of `of`, or -1 when s has no thread of
 * that id and start time (the same thread). */
long ct_snap_find_same(const struct ct_snap *s, const struct ct_snap *of,
                       int i);
/* In the child of fork(), never returns: makes `threads` idle threads,
 * then `broadcasts` times calls count_call (psx_syscall3(CT_COUNT_CALL):
 * this file does not link psx) and checks that the
 * child has threads + 1 threads and each has run it k times after the k-th.
 * Exits 0, or 20 (pthread_create failed), 30+k (broadcast k failed), 40+k
 * (not threads + 1 threads), 50+k (a count not k); SIGALRM after 10 s. */
void ct_fork_child_broadcasts(int threads, int broadcasts,
                              long (*count_call)(void))
    __attribute__((noreturn));
/* The same, and stores its exit code in *result (a MAP_SHARED word) just
 * before _exit, for a parent that lets the kernel reap its children. */
void ct_fork_child_broadcasts_to(int threads, int broadcasts,
                                 long (*count_call)(void), volatile int *result)
    __attribute__((noreturn));
/* Waits up to timeout_ms for a process to exit, through its pidfd (from
 * pidfd_open, or -1 if that failed because it was already gone); works
 * for children the kernel reaps (SIGCHLD ignored). 0 gone, -1 timeout. */
int ct_wait_exit(int pidfd, long timeout_ms);
/* PSX_TIMEOUT_SCALE (c-tests/run.sh: larger under emulation), at least 1. */
int ct_timeout_scale(void);
/* Expected counts for some threads; threads not listed pass. */
struct ct_counts {
    int n;
    pid_t tid[256];
    long lo[256], hi[256];
};
void ct_counts_expect(struct ct_counts *c, pid_t tid, long lo, long hi);
/* Predicate: the thread's count is within its [lo, hi] (arg: ct_counts). */
int ct_pred_counts(pid_t tid, const char *status, void *arg);

#ifdef __cplusplus
}
#endif

#endif
