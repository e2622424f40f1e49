/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A thread held in psx's signal handler can be unwound through. The
 * handler returns through psx's own rt_sigreturn restorer; libgcc's unwinder
 * (backtrace(), C++ exceptions, pthread_cancel()'s forced unwind) and gdb
 * must recognise that frame as a signal frame and go on into the code the
 * signal interrupted. Here a thread waiting in a condition variable is held
 * in the handler (a second thread keeps the broadcast open by blocking
 * signal 33 with a raw rt_sigprocmask); a SIGUSR1 handler run on top of it
 * takes a backtrace, which must reach the waiting function.
 *
 * Two waits, two ways psx keeps a thread in its handler:
 *  - held: a timed wait (pthread_cond_timedwait) is interrupted and psx's
 *    handler sleeps until the release with signal 33 blocked (SigBlk shows
 *    it);
 *  - parked: an untimed wait (pthread_cond_wait) is made again by psx's
 *    handler itself (src/park.rs), with signal 33 unblocked; that the thread
 *    is in the handler shows as the broadcast's call having run on it (its
 *    count, see ct_count_fd) while the broadcast is still open.
 */
#include "common.h"

#include <execinfo.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static volatile pid_t g_waiter_tid;
static volatile int g_frames = -1;
static volatile int g_reached;
static int g_timed; /* 1: the waiter uses a timed wait (held, not parked) */

/* The function the backtrace must reach, alone in its own section so that
 * "a return address inside it" is exact: the linker defines the section's
 * bounds as __start_/__stop_ symbols. */
extern const char __start_psx_t12_waiting[], __stop_psx_t12_waiting[];
__attribute__((noinline, section("psx_t12_waiting"))) static void *
waiting_function(void *arg)
{
    g_waiter_tid = ct_gettid();
    pthread_mutex_lock(&g_mu);
    for (;;) {
        if (g_timed) {
            struct timespec far = {time(NULL) + 3600, 0};
            pthread_cond_timedwait(&g_cv, &g_mu, &far);
        } else {
            pthread_cond_wait(&g_cv, &g_mu);
        }
    }
    return arg;
}

static void on_usr1(int sig)
{
    (void)sig;
    void *frames[64];
    int n = backtrace(frames, 64);
    uintptr_t start = (uintptr_t)__start_psx_t12_waiting;
    uintptr_t stop = (uintptr_t)__stop_psx_t12_waiting;
    for (int i = 0; i < n; i++) {
        uintptr_t pc = (uintptr_t)frames[i];
        if (pc > start && pc <= stop) {
            g_reached = 1;
        }
    }
    g_frames = n;
}

/* Whether the thread is in psx's handler (the broadcast is open while this
 * is asked). Held: signal 33 is in its blocked set, which the kernel adds
 * while the handler runs. Parked: the call has run on it. */
static int in_psx_handler(pid_t tid)
{
    if (!g_timed) {
        return ct_thread_count(0, tid) == 1;
    }
    char st[4096];
    if (ct_read_status(0, tid, st, sizeof(st)) != 0) {
        return 0;
    }
    return (ct_field_hex(st, "SigBlk") >> 32) & 1;
}

/* Keeps the broadcast open (psx waits for this thread, which cannot take
 * its signal) and, being the one thread not held, does the looking: once
 * the waiter is held in psx's handler, it sends the waiter SIGUSR1 and
 * waits for the backtrace. */
static pthread_t g_waiter;
static void *blocker(void *arg)
{
    uint64_t bit = 1ULL << 32; /* signal 33 */
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &bit, NULL, 8);
    long deadline = ct_now_ms() + 2000;
    while (!in_psx_handler(g_waiter_tid) && ct_now_ms() < deadline) {
        ct_sleep_ms(1);
    }
    if (in_psx_handler(g_waiter_tid)) {
        pthread_kill(g_waiter, SIGUSR1);
        while (g_frames < 0 && ct_now_ms() < deadline) {
            ct_sleep_ms(1);
        }
    }
    syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &bit, NULL, 8);
    return arg;
}

static void *caller(void *arg)
{
    long r = psx_syscall3(CT_COUNT_CALL);
    CT_CHECK(r == CT_COUNT_BYTES, "psx_syscall3 returned %ld", r);
    return arg;
}

static int unwind(void)
{
    ct_check_library();
    CT_CHECK(signal(SIGUSR1, on_usr1) != SIG_ERR, "signal");
    pthread_t b, c;
    CT_CHECK(pthread_create(&g_waiter, NULL, waiting_function, NULL) == 0,
             "waiter");
    while (!g_waiter_tid) {
        ct_sleep_ms(1);
    }
    CT_CHECK(pthread_create(&b, NULL, blocker, NULL) == 0, "blocker");
    ct_sleep_ms(20);
    CT_CHECK(pthread_create(&c, NULL, caller, NULL) == 0, "caller");
    CT_CHECK(pthread_join(b, NULL) == 0, "join blocker");
    CT_CHECK(pthread_join(c, NULL) == 0, "join caller");
    CT_CHECK(g_frames >= 0, "thread %d was never seen %s in psx's handler "
             "or its SIGUSR1 handler did not run", (int)g_waiter_tid,
             g_timed ? "held (signal 33 blocked)" : "parked (call run)");
    ct_log("backtrace from a handler on top of psx's: %d frames, waiting "
           "function %s", g_frames, g_reached ? "reached" : "NOT reached");
    CT_CHECK(g_reached, "the unwinder stopped at psx's signal frame (%d "
             "frames): its restorer is not recognised", g_frames);
    return 0;
}

static int case_held(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    g_timed = 1;
    return unwind();
}

static const struct ct_case cases[] = {
    {"backtrace-through-held-handler", case_held, 15, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t12_unwind", argc, argv, cases);
}
