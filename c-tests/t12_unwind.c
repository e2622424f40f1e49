/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A stack that runs through psx's signal handler can be unwound.
 *
 * psx's handler for signal 33 returns through psx's own rt_sigreturn
 * restorer, and libgcc's unwinder (backtrace(), C++ exceptions, the forced
 * unwind of pthread_cancel()) and gdb must recognise that frame as a signal
 * frame and go on into the code the signal interrupted.
 *
 * psx's handler runs with every signal blocked, so no handler of another
 * signal can run on top of it any more (an earlier version of this test
 * sent SIGUSR1 to a thread held in psx's handler; that handler now runs
 * only after psx's has returned, and its backtrace never crosses psx's
 * frame). What still runs on top of psx's frames is the handler psx chains:
 * a signal 33 that is not one of psx's own goes, from inside psx's handler,
 * to the handler that was installed before psx's.
 *
 * "chained-handler": the application installs a handler for signal 33 with
 * a raw rt_sigaction (glibc's sigaction() refuses 33; Go and others do it
 * this way), borrowing glibc's restorer. One psx broadcast then makes psx
 * adopt it as the previous handler and put its own back (checked: the
 * kernel's action for 33 is no longer the application's). A tgkill(33)
 * (SI_TKILL: not psx's) to a thread waiting in pthread_cond_wait() inside
 * waiting_function() reaches the application's handler through psx's; its
 * backtrace() must get from there through psx's frames and restorer to
 * waiting_function.
 *
 * Against the engine before "no parking" (which chained the same way with
 * the same restorer) this passes too: it guards the restorer and the
 * unwind tables of psx's handler, not the change of engine.
 */
#include "common.h"

#include <execinfo.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>
#include <time.h>
#include <unistd.h>

#define SIG33 33

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static volatile pid_t g_waiter_tid;
static volatile int g_frames = -1;
static volatile int g_reached;
static volatile int g_wrong_thread, g_wrong_code;
static int g_stop;

/* The function the backtrace must reach, alone in its own section so that
 * "a return address inside it" is exact: the linker defines the section's
 * bounds as __start_/__stop_ symbols. */
extern const char __start_psx_t12_waiting[], __stop_psx_t12_waiting[];
__attribute__((noinline, section("psx_t12_waiting"))) static void *
waiting_function(void *arg)
{
    g_waiter_tid = ct_gettid();
    pthread_mutex_lock(&g_mu);
    while (!g_stop) {
        pthread_cond_wait(&g_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    return arg;
}

/* The application's handler for signal 33, reached only through psx's. */
static void app_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    if (ct_gettid() != g_waiter_tid) {
        g_wrong_thread = 1;
        return;
    }
    if (si->si_code != SI_TKILL) {
        g_wrong_code = si->si_code;
        return;
    }
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
    __atomic_store_n(&g_frames, n, __ATOMIC_RELEASE);
}

static void usr2(int sig)
{
    (void)sig;
}

/* The kernel's current action for signal 33. */
static void *current33(void)
{
    struct ct_ksigaction cur;
    long r = ct_raw6(SYS_rt_sigaction, SIG33, 0, (long)&cur, 8, 0, 0);
    CT_CHECK(r == 0, "rt_sigaction(33) read: %ld", r);
    return cur.handler;
}

/* Installs app_handler for 33 with a raw rt_sigaction. */
static void install_raw33(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = usr2;
    CT_CHECK(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction");
    ct_raw_sigaction(SIG33, SIGUSR2, (void *)app_handler,
                     SA_SIGINFO | SA_RESTART, 0);
    CT_CHECK(current33() == (void *)app_handler, "our handler is not installed");
}

static int case_chained(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_check_library();
    pthread_t w;
    /* First thread first: glibc 2.36 installs its setxid handler for 33 at
     * the first pthread_create(), which would replace ours. */
    CT_CHECK(pthread_create(&w, NULL, waiting_function, NULL) == 0, "waiter");
    while (!g_waiter_tid) {
        ct_sleep_ms(1);
    }
    install_raw33();
    long r = psx_syscall3(CT_COUNT_CALL);
    CT_CHECK(r == CT_COUNT_BYTES, "psx_syscall3 returned %ld", r);
    CT_CHECK(current33() != (void *)app_handler,
             "psx did not put its handler back for signal 33: the "
             "application's handler would run directly, not through psx's");
    /* The waiter is asleep in pthread_cond_wait (it ran the broadcast and
     * went back to its wait): wait until /proc shows it sleeping. */
    char st[4096], state[32];
    long deadline = ct_now_ms() + 3000;
    do {
        CT_CHECK(ct_read_status(0, g_waiter_tid, st, sizeof(st)) == 0,
                 "status of the waiter");
        ct_field(st, "State", state, sizeof(state));
        if (state[0] == 'S') {
            break;
        }
        ct_sleep_ms(1);
    } while (ct_now_ms() < deadline);
    CT_CHECK(state[0] == 'S', "the waiter is in state %s, want S", state);
    CT_CHECK(ct_raw6(SYS_tgkill, getpid(), g_waiter_tid, SIG33, 0, 0, 0) == 0,
             "tgkill");
    deadline = ct_now_ms() + 3000;
    while (__atomic_load_n(&g_frames, __ATOMIC_ACQUIRE) < 0 &&
           !g_wrong_thread && !g_wrong_code && ct_now_ms() < deadline) {
        ct_sleep_ms(1);
    }
    CT_CHECK(!g_wrong_thread, "the application's handler ran on another thread");
    CT_CHECK(!g_wrong_code, "the application's handler got si_code %d, want "
             "SI_TKILL", g_wrong_code);
    CT_CHECK(g_frames >= 0, "the tgkill(33) never reached the application's "
             "handler (psx did not chain it)");
    ct_log("backtrace from the application's handler chained by psx's: %d "
           "frames, waiting function %s", g_frames,
           g_reached ? "reached" : "NOT reached");
    CT_CHECK(g_reached, "the unwinder stopped inside psx's handler or at its "
             "signal frame (%d frames): its frames or restorer are not "
             "recognised", g_frames);
    pthread_mutex_lock(&g_mu);
    g_stop = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    CT_CHECK(pthread_join(w, NULL) == 0, "join");
    return 0;
}

static const struct ct_case cases[] = {
    {"backtrace-through-chained-handler", case_chained, 15, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t12_unwind", argc, argv, cases);
}
