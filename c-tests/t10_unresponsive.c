/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 10: a thread that cannot respond.
 *
 *  - "mask": thread B blocks every signal with a raw rt_sigprocmask system
 *    call (which, unlike glibc's wrappers, also blocks 32 and 33);
 *  - "ptrace": thread B is ptrace-stopped by the parent (PTRACE_SEIZE +
 *    PTRACE_INTERRUPT: "t (tracing stop)" in /proc).
 *
 * The process under test (case "child") then makes a psx call. The parent
 * checks, from outside: the call does not return (never a false success);
 * after about a second one line on stderr names B's thread id and what
 * /proc says of it; the wait goes on (still no return 1.5 s later, and B
 * has not changed). Then B is let go (unblocks its signals / is detached):
 * the call must complete and reach every thread, B included.
 */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------- the child */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_started, g_done;
static pid_t g_btid;
static int g_mask_mode;

static void say(const char *fmt, long v)
{
    char line[64];
    int n = snprintf(line, sizeof(line), fmt, v);
    ssize_t w = write(1, line, (size_t)n);
    (void)w;
}

static void *thread_b(void *arg)
{
    (void)arg;
    if (g_mask_mode) {
        unsigned long all = ~0UL;
        long r = ct_raw6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&all, 0, 8, 0, 0);
        CT_CHECK(r == 0, "raw rt_sigprocmask: %ld", r);
    }
    pthread_mutex_lock(&g_mu);
    g_btid = ct_gettid();
    pthread_cond_broadcast(&g_cv);
    while (!g_started) {
        pthread_cond_wait(&g_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    if (g_mask_mode) {
        /* Second byte on stdin: the parent lets B go. */
        char c;
        while (read(0, &c, 1) < 0 && errno == EINTR) {
        }
        unsigned long none = 0;
        ct_raw6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, 8, 0, 0);
    }
    pthread_mutex_lock(&g_mu);
    while (!g_done) {
        pthread_cond_wait(&g_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

static int case_child(int argc, char **argv)
{
    CT_CHECK(argc >= 2, "usage: child mask|ptrace");
    g_mask_mode = strcmp(argv[1], "mask") == 0;
    ct_check_library();
    struct ct_group *g = ct_start_idle(4, CT_IDLE_COND, 0, 0);
    pthread_t b;
    CT_CHECK(ct_thread(&b, thread_b, NULL, 0, 0) == 0, "thread");
    pthread_mutex_lock(&g_mu);
    while (!g_btid) {
        pthread_cond_wait(&g_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    say("B %ld\n", g_btid);
    /* First byte on stdin: go. */
    char c;
    while (read(0, &c, 1) < 0 && errno == EINTR) {
    }
    pthread_mutex_lock(&g_mu);
    g_started = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    long r = psx_syscall6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    say("returned %ld\n", r);
    CT_CHECK(r == 0, "psx_syscall6(PR_SET_NO_NEW_PRIVS) = %ld errno %d", r,
             errno);
    ct_require_all(0, "NoNewPrivs", "1", 1 + 4 + 1);
    say("checked %ld\n", 0);
    pthread_mutex_lock(&g_mu);
    g_done = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    pthread_join(b, NULL);
    ct_stop_idle(g);
    return 0;
}

/* ------------------------------------------------------------ the parent */

static char g_out[4096], g_err[16384];
static size_t g_outlen, g_errlen;

/* Appends whatever is available on fd within ms. */
static void drain(int fd, char *buf, size_t size, size_t *len, long ms,
                  const char *needle)
{
    if (*len + 1 >= size) {
        return;
    }
    *len += ct_read_fd(fd, buf + *len, size - *len, ms, needle);
}

/* The stderr line that names tid, or NULL. */
static const char *line_naming(const char *text, pid_t tid)
{
    char num[16];
    snprintf(num, sizeof(num), "%d", (int)tid);
    size_t len = strlen(num);
    for (const char *p = strstr(text, num); p; p = strstr(p + 1, num)) {
        int before = p == text || p[-1] < '0' || p[-1] > '9';
        int after = p[len] < '0' || p[len] > '9';
        if (before && after) {
            const char *start = p;
            while (start > text && start[-1] != '\n') {
                start--;
            }
            if (strchr(p, '\n')) {
                return start;
            }
        }
    }
    return NULL;
}

/* Does the line carry /proc's state of the thread: its letter standing
 * alone, or its description ("sleeping", "tracing stop")? */
static int mentions_state(const char *line, char letter, const char *word)
{
    const char *end = strchr(line, '\n');
    for (const char *p = line; p < end; p++) {
        if (*p == letter && (p == line || !isalnum((unsigned char)p[-1])) &&
            !isalnum((unsigned char)p[1])) {
            return 1;
        }
    }
    const char *w = strstr(line, word);
    return w && w < end;
}

static void fail_child(pid_t child, const char *fmt, const char *detail)
{
    ct_print_table(child, "threads of the process under test");
    ct_kill(child);
    ct_fail("%s%s\n  its stdout: %s\n  its stderr: %s", fmt, detail, g_out,
            g_err);
}

static int run(int ptrace_mode)
{
    ct_require_root();
    int in[2], out[2], err[2];
    CT_CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
                 pipe2(err, O_CLOEXEC) == 0, "pipe");
    int fds[3] = {in[0], out[1], err[1]};
    const char *extra[] = {ptrace_mode ? "ptrace" : "mask", NULL};
    pid_t child = ct_spawn("child", extra, fds);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    drain(out[0], g_out, sizeof(g_out), &g_outlen, 5000, "\n");
    const char *bl = strstr(g_out, "B ");
    if (!bl) {
        fail_child(child, "the child did not start", "");
    }
    pid_t b = (pid_t)atoi(bl + 2);
    char want_letter = 'S';
    const char *want_word = "sleeping";
    if (ptrace_mode) {
        CT_CHECK(ptrace(PTRACE_SEIZE, b, 0, 0) == 0, "PTRACE_SEIZE %d: %s",
                 (int)b, strerror(errno));
        CT_CHECK(ptrace(PTRACE_INTERRUPT, b, 0, 0) == 0, "PTRACE_INTERRUPT: %s",
                 strerror(errno));
        int st;
        CT_CHECK(waitpid(b, &st, __WALL) == b && WIFSTOPPED(st),
                 "waiting for thread %d to stop", (int)b);
        want_letter = 't';
        want_word = "tracing stop";
    }
    /* B reports its tid just before it goes to sleep: give it up to 3 s to
     * get there (on a loaded machine it may still be running). */
    char status[4096], state[32];
    long settle = ct_now_ms() + 3000;
    do {
        CT_CHECK(ct_read_status(child, b, status, sizeof(status)) == 0,
                 "status");
        ct_field(status, "State", state, sizeof(state));
        if (state[0] == want_letter) {
            break;
        }
        usleep(10000);
    } while (ct_now_ms() < settle);
    ct_log("thread B = %d, /proc state \"%s\"", (int)b, state);
    CT_CHECK(state[0] == want_letter, "thread B is in state %s, want %c",
             state, want_letter);
    long t0 = ct_now_ms();
    CT_CHECK(write(in[1], "g", 1) == 1, "write");
    /* About a second later, one line names B. Until then, and while we
     * look, the call must not return. */
    const char *line = NULL;
    while (!line && ct_now_ms() - t0 < 4000) {
        drain(err[0], g_err, sizeof(g_err), &g_errlen, 50, "\n");
        drain(out[0], g_out, sizeof(g_out), &g_outlen, 1, NULL);
        if (strstr(g_out, "returned")) {
            fail_child(child, "the call returned while thread B could not "
                              "have run it (a false success)", "");
        }
        line = line_naming(g_err, b);
    }
    long t_line = ct_now_ms() - t0;
    if (!line) {
        fail_child(child, "no line on stderr named the pending thread within "
                          "4 s", "");
    }
    ct_log("after %ld ms: %.*s", t_line, (int)(strchr(line, '\n') - line),
           line);
    if (t_line < 300) {
        fail_child(child, "the pending-thread line came too early (want about "
                          "a second): ", line);
    }
    if (!mentions_state(line, want_letter, want_word)) {
        fail_child(child, "the line does not say what /proc says of the "
                          "thread: ", line);
    }
    /* The wait goes on. */
    long until = ct_now_ms() + 1500;
    while (ct_now_ms() < until) {
        drain(out[0], g_out, sizeof(g_out), &g_outlen, 50, NULL);
        drain(err[0], g_err, sizeof(g_err), &g_errlen, 1, NULL);
        if (strstr(g_out, "returned")) {
            fail_child(child, "the call gave up waiting for thread B and "
                              "returned", "");
        }
    }
    CT_CHECK(ct_read_status(child, b, status, sizeof(status)) == 0, "status");
    char nnp[8];
    ct_field(status, "NoNewPrivs", nnp, sizeof(nnp));
    if (strcmp(nnp, "0") != 0) {
        fail_child(child, "thread B changed although it could not run the call",
                   "");
    }
    CT_CHECK(ct_count_lines(g_err) <= 4, "stderr is flooded:\n%s", g_err);
    /* Let B go: the call must complete and reach it. */
    if (ptrace_mode) {
        CT_CHECK(ptrace(PTRACE_DETACH, b, 0, 0) == 0, "PTRACE_DETACH: %s",
                 strerror(errno));
    } else {
        CT_CHECK(write(in[1], "u", 1) == 1, "write");
    }
    drain(out[0], g_out, sizeof(g_out), &g_outlen, 5000, "checked");
    if (!strstr(g_out, "checked")) {
        drain(err[0], g_err, sizeof(g_err), &g_errlen, 500, NULL);
        fail_child(child, "after thread B was let go, the call did not complete "
                          "and reach every thread", "");
    }
    int st;
    if (ct_wait(child, 5000, &st) != 0) {
        fail_child(child, "the child did not exit", "");
    }
    drain(err[0], g_err, sizeof(g_err), &g_errlen, 200, NULL);
    CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s; stderr:\n%s",
             ct_status_str(st), g_err);
    return 0;
}

static int case_mask(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return run(0);
}

static int case_ptrace(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return run(1);
}

static const struct ct_case cases[] = {
    {"raw-sigprocmask-blocked-thread", case_mask, 20, 0},
    {"ptrace-stopped-thread", case_ptrace, 20, 0},
    {"child", case_child, 0, CT_HELPER},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t10_unresponsive", argc, argv, cases);
}
