/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * API basics of <sys/psx_syscall.h>, checked per thread in /proc.
 *
 * Only threads made through the wrapped pthread_create are used here, so
 * that these cases test the API contract and not thread discovery (the
 * t01..t11 programs do that).
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
#include <unistd.h>

#define NTHREADS 6

/* Leaves recognisable garbage in every argument register (x86_64: rdi, rsi,
 * rdx, rcx, r8, r9; aarch64: x0-x7) right before the next call, so that an
 * implementation passing "whatever is there" as unused syscall arguments
 * gets caught. */
__attribute__((noinline)) long pollute(long a, long b, long c, long d, long e,
                                       long f, long g, long h)
{
    __asm__ volatile("" ::"r"(a), "r"(b), "r"(c), "r"(d), "r"(e), "r"(f),
                     "r"(g), "r"(h)
                     : "memory");
    return a ^ h;
}

#define GARBAGE 0x5a5a5a5a5a5aL

static int personality_is(pid_t tid, const char *status, void *arg)
{
    (void)status;
    char buf[64];
    if (ct_read_task_file(0, tid, "personality", buf, sizeof(buf)) <= 0) {
        return 0;
    }
    return strtoul(buf, NULL, 16) == (unsigned long)(long)arg;
}

/* psx_syscall() with 1, 3 and 6 arguments, each checked on every thread. */
static int case_macro(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    struct ct_group *g = ct_start_idle(NTHREADS, CT_IDLE_COND, 0, 0);

    /* 1 argument: personality() is per thread and shown in
     * /proc/<pid>/task/<tid>/personality. ADDR_NO_RANDOMIZE only matters at
     * the next execve, which this process never makes. */
    long persona = 0x0040000; /* PER_LINUX | ADDR_NO_RANDOMIZE */
    long r = psx_syscall(SYS_personality, persona);
    CT_CHECK(r == 0, "psx_syscall(SYS_personality, ADDR_NO_RANDOMIZE) = %ld "
                     "(errno %d), want the old persona 0", r, errno);
    ct_require_threads(0, "personality is PER_LINUX|ADDR_NO_RANDOMIZE",
                       personality_is, (void *)persona, NTHREADS + 1);

    /* 3 arguments: prctl's arguments 4 and 5 must arrive as zero. */
    ct_require_all(0, "NoNewPrivs", "0", NTHREADS + 1);
    pollute(GARBAGE, GARBAGE, GARBAGE, GARBAGE, GARBAGE, GARBAGE, GARBAGE,
            GARBAGE);
    r = psx_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0);
    CT_CHECK(r == 0, "psx_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0) = %ld "
                     "(errno %d)", r, errno);
    ct_require_all(0, "NoNewPrivs", "1", NTHREADS + 1);

    /* 6 arguments. */
    ct_require_all_bit(0, "CapBnd", CAP_SYS_BOOT, 1, NTHREADS + 1);
    r = psx_syscall(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0, 0);
    CT_CHECK(r == 0, "psx_syscall(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_BOOT, "
                     "0, 0, 0, 0) = %ld (errno %d)", r, errno);
    ct_require_all_bit(0, "CapBnd", CAP_SYS_BOOT, 0, NTHREADS + 1);

    /* psx_syscall6 directly. */
    r = psx_syscall6(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_NICE, 0, 0, 0, 0);
    CT_CHECK(r == 0, "psx_syscall6(PR_CAPBSET_DROP, CAP_SYS_NICE) = %ld", r);
    ct_require_all_bit(0, "CapBnd", CAP_SYS_NICE, 0, NTHREADS + 1);
    ct_stop_idle(g);
    return 0;
}

/* __psx_syscall with a count outside 0..6 is -1/EINVAL and touches no
 * thread; arguments past the count are passed as zero. */
static int case_count(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    struct ct_group *g = ct_start_idle(NTHREADS, CT_IDLE_COND, 0, 0);
    const long bad_counts[] = {7, 8, -1, 100, -7};
    for (size_t i = 0; i < sizeof(bad_counts) / sizeof(bad_counts[0]); i++) {
        errno = 0;
        long r = __psx_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L,
                               0L, bad_counts[i]);
        CT_CHECK(r == -1 && errno == EINVAL,
                 "__psx_syscall(..., count %ld) = %ld, errno %d; want -1 "
                 "EINVAL",
                 bad_counts[i], r, errno);
        ct_require_all(0, "NoNewPrivs", "0", NTHREADS + 1);
    }
    /* Count 0 is valid. */
    long r = __psx_syscall(SYS_getppid, GARBAGE, GARBAGE, GARBAGE, GARBAGE,
                           GARBAGE, GARBAGE, 0L);
    CT_CHECK(r == getppid(), "__psx_syscall(SYS_getppid, count 0) = %ld, want "
                             "%d", r, (int)getppid());
    /* Count 2 with garbage in slots 3-6: prctl fails with EINVAL unless its
     * arguments 3, 4 and 5 are zero. */
    r = __psx_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1L, GARBAGE, GARBAGE,
                      GARBAGE, GARBAGE, 2L);
    CT_CHECK(r == 0, "__psx_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, "
                     "<garbage x4>, count 2) = %ld errno %d: arguments past "
                     "the count were not zeroed", r, errno);
    ct_require_all(0, "NoNewPrivs", "1", NTHREADS + 1);
    ct_stop_idle(g);
    return 0;
}

static int case_sensitivity(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_check_library();
    const int bad[] = {7, 3, -1, 1000};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errno = 0;
        int r = psx_set_sensitivity((psx_sensitivity_t)bad[i]);
        CT_CHECK(r == -1 && errno == EINVAL,
                 "psx_set_sensitivity(%d) = %d errno %d; want -1 EINVAL",
                 bad[i], r, errno);
    }
    const psx_sensitivity_t good[] = {PSX_WARNING, PSX_ERROR, PSX_IGNORE};
    for (size_t i = 0; i < 3; i++) {
        int r = psx_set_sensitivity(good[i]);
        CT_CHECK(r == 0, "psx_set_sensitivity(%d) = %d errno %d",
                 (int)good[i], r, errno);
    }
    return 0;
}

/* The caller's call fails: -1 with the caller's errno, and no other thread
 * is touched (they would have succeeded). */
static int case_caller_fails(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    struct ct_group *g = ct_start_idle(NTHREADS, CT_IDLE_COND, 0, 0);
    /* Without CAP_SETPCAP in its effective set, this thread cannot drop a
     * capability from its bounding set; every other thread could. */
    ct_drop_cap_self(CAP_SETPCAP, 0);
    errno = 0;
    long r = psx_syscall3(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_BOOT, 0);
    int e = errno;
    CT_CHECK(r == -1 && e == EPERM,
             "psx_syscall3(PR_CAPBSET_DROP) on a thread without CAP_SETPCAP "
             "= %ld errno %d; want -1 EPERM", r, e);
    ct_sleep_ms(100); /* a wrongly started broadcast would land by now */
    ct_require_all_bit(0, "CapBnd", CAP_SYS_BOOT, 1, NTHREADS + 1);
    errno = 0;
    r = psx_syscall6(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0, 0);
    e = errno;
    CT_CHECK(r == -1 && e == EPERM, "psx_syscall6: %ld errno %d; want -1 EPERM",
             r, e);
    ct_sleep_ms(100);
    ct_require_all_bit(0, "CapBnd", CAP_SYS_BOOT, 1, NTHREADS + 1);
    ct_stop_idle(g);
    return 0;
}

/* errno is unchanged by a successful call. */
static int case_errno_kept(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    struct ct_group *g = ct_start_idle(NTHREADS, CT_IDLE_COND, 0, 0);
    errno = 4242;
    long r = psx_syscall3(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_BOOT, 0);
    int e = errno;
    CT_CHECK(r == 0 && e == 4242, "psx_syscall3 = %ld, errno %d (was 4242)", r,
             e);
    errno = 4343;
    r = psx_syscall6(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_NICE, 0, 0, 0, 0);
    e = errno;
    CT_CHECK(r == 0 && e == 4343, "psx_syscall6 = %ld, errno %d (was 4343)", r,
             e);
    errno = 4444;
    r = psx_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0);
    e = errno;
    CT_CHECK(r == 0 && e == 4444, "psx_syscall = %ld, errno %d (was 4444)", r,
             e);
    ct_require_all_bit(0, "CapBnd", CAP_SYS_BOOT, 0, NTHREADS + 1);
    ct_require_all_bit(0, "CapBnd", CAP_SYS_NICE, 0, NTHREADS + 1);
    ct_require_all(0, "NoNewPrivs", "1", NTHREADS + 1);
    ct_stop_idle(g);
    return 0;
}

/* psx_syscall3 passes zeros as arguments 4-6: prctl(PR_SET_NO_NEW_PRIVS, 1,
 * 0) through it must succeed every time, on every thread (PSX_ERROR makes a
 * differing result on another thread end the process). */
static int case_args_zeroed(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    struct ct_group *g = ct_start_idle(NTHREADS, CT_IDLE_COND, 0, 0);
    CT_CHECK(psx_set_sensitivity(PSX_ERROR) == 0, "psx_set_sensitivity");
    for (long i = 0; i < 300; i++) {
        pollute(GARBAGE + i, GARBAGE, GARBAGE, GARBAGE, GARBAGE, GARBAGE,
                GARBAGE, GARBAGE);
        long r = psx_syscall3(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0);
        CT_CHECK(r == 0, "call %ld: psx_syscall3(SYS_prctl, "
                         "PR_SET_NO_NEW_PRIVS, 1, 0) = %ld errno %d (%s)",
                 i, r, errno, strerror(errno));
    }
    ct_require_all(0, "NoNewPrivs", "1", NTHREADS + 1);
    ct_stop_idle(g);
    return 0;
}

/* Helper process for the sensitivity reports: one thread lacks CAP_SETPCAP,
 * so PR_CAPBSET_DROP fails there and succeeds on the caller. argv[1] is the
 * level. Prints "odd=<tid>" and "returned <r> <errno>" on stdout. */
static pid_t g_odd_tid;
static void odd_hook(int i)
{
    if (i == 2) {
        ct_drop_cap_self(CAP_SETPCAP, 0);
        __atomic_store_n(&g_odd_tid, ct_gettid(), __ATOMIC_RELEASE);
    }
}

static int odd_out(pid_t tid, const char *status, void *arg)
{
    (void)arg;
    int bit = (int)((ct_field_hex(status, "CapBnd") >> CAP_SYS_BOOT) & 1);
    return tid == g_odd_tid ? bit == 1 : bit == 0;
}

static int case_mismatch_child(int argc, char **argv)
{
    ct_check_library();
    int level = argc > 1 ? atoi(argv[1]) : 0;
    ct_idle_hook = odd_hook;
    struct ct_group *g = ct_start_idle(NTHREADS, CT_IDLE_COND, 0, 0);
    printf("odd=%d\n", (int)g_odd_tid);
    fflush(stdout);
    CT_CHECK(psx_set_sensitivity((psx_sensitivity_t)level) == 0,
             "psx_set_sensitivity(%d)", level);
    errno = 0;
    long r = psx_syscall3(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_BOOT, 0);
    printf("returned %ld %d\n", r, errno);
    fflush(stdout);
    CT_CHECK(r == 0, "the caller's result (0) must be returned, got %ld", r);
    ct_require_threads(0, "CAP_SYS_BOOT dropped everywhere except the odd "
                          "thread", odd_out, NULL, NTHREADS + 1);
    ct_stop_idle(g);
    return 0;
}

static int contains_number(const char *text, long n)
{
    char num[32];
    snprintf(num, sizeof(num), "%ld", n);
    size_t len = strlen(num);
    for (const char *p = strstr(text, num); p; p = strstr(p + 1, num)) {
        int before = p == text || p[-1] < '0' || p[-1] > '9';
        int after = p[len] < '0' || p[len] > '9';
        if (before && after) {
            return 1;
        }
    }
    return 0;
}

static char g_out[8192], g_err[65536];

static pid_t run_mismatch(int level, int *status)
{
    char lv[8];
    snprintf(lv, sizeof(lv), "%d", level);
    const char *extra[] = {lv, NULL};
    if (ct_run_capture("mismatch-child", extra, 10000, g_out, sizeof(g_out),
                       g_err, sizeof(g_err), status) != 0) {
        ct_fail("mismatch child (level %d) hung; its stderr:\n%s", level,
                g_err);
    }
    const char *p = strstr(g_out, "odd=");
    return p ? (pid_t)atoi(p + 4) : 0;
}

static int case_ignore(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    int st;
    pid_t odd = run_mismatch(PSX_IGNORE, &st);
    CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && odd > 0,
             "PSX_IGNORE child: %s; stdout:\n%s\nstderr:\n%s",
             ct_status_str(st), g_out, g_err);
    CT_CHECK(g_err[0] == 0, "PSX_IGNORE must say nothing, stderr was:\n%s",
             g_err);
    return 0;
}

static int case_warning(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    int st;
    pid_t odd = run_mismatch(PSX_WARNING, &st);
    CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && odd > 0,
             "PSX_WARNING child: %s; stdout:\n%s\nstderr:\n%s",
             ct_status_str(st), g_out, g_err);
    CT_CHECK(contains_number(g_err, odd),
             "PSX_WARNING report must name the differing thread %d; stderr "
             "was:\n%s", (int)odd, g_err);
    CT_CHECK(contains_number(g_err, SYS_prctl),
             "PSX_WARNING report must name the syscall number %d; stderr "
             "was:\n%s", (int)SYS_prctl, g_err);
    ct_log("PSX_WARNING report: %s", g_err);
    return 0;
}

static int case_error(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    int st;
    pid_t odd = run_mismatch(PSX_ERROR, &st);
    CT_CHECK(odd > 0, "PSX_ERROR child did not start; stderr:\n%s", g_err);
    CT_CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 0),
             "PSX_ERROR: the process must end when a thread's result "
             "differs, but it exited 0; stdout:\n%s", g_out);
    CT_CHECK(strstr(g_out, "returned") == NULL,
             "PSX_ERROR: psx_syscall3 returned to the caller (%s) instead of "
             "ending the process", g_out);
    CT_CHECK(contains_number(g_err, odd),
             "PSX_ERROR report must name the differing thread %d; child %s, "
             "stderr:\n%s", (int)odd, ct_status_str(st), g_err);
    ct_log("PSX_ERROR ended the child (%s); report: %s", ct_status_str(st),
           g_err);
    return 0;
}

static const struct ct_case cases[] = {
    {"macro-1-3-6-args", case_macro, 20, 0},
    {"count-outside-0-6", case_count, 20, 0},
    {"set-sensitivity", case_sensitivity, 20, 0},
    {"caller-fails-first", case_caller_fails, 20, 0},
    {"errno-unchanged", case_errno_kept, 20, 0},
    {"args-4-6-zeroed", case_args_zeroed, 30, 0},
    {"ignore-silent", case_ignore, 20, 0},
    {"warning-report", case_warning, 20, 0},
    {"error-ends-process", case_error, 20, 0},
    {"mismatch-child", case_mismatch_child, 0, CT_HELPER},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t00_api", argc, argv, cases);
}
