/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 13 (issue 10): an idle thread behaves exactly as it would without
 * psx. Every sub-case runs the same program twice in one process: first
 * without broadcasts (the baseline, which must show the expected
 * behaviour, so the check itself is proven able to see it), then with psx
 * broadcasts reaching the idle thread, and asserts that what the program
 * can observe is the same. The broadcast call is the counting write of
 * common.h (CT_COUNT_CALL), which has no effect on what is tested here, and
 * /proc/<tid>/io shows that the idle thread really ran it before the
 * program looks.
 *
 * The idle thread waits in a raw FUTEX_WAIT made by t13_futex() below, a
 * function of its own whose `syscall` instruction has a known address, or
 * in sem_wait(). The "other signal" is SIGUSR1, sent with tgkill.
 *
 *  ctx-ip        a SIGUSR1 handler's ucontext shows the instruction pointer
 *                inside t13_futex(), where the program sleeps.
 *  ctx-sigmask   a SIGUSR1 handler that adds SIGUSR2 to uc_sigmask leaves
 *                SIGUSR2 blocked once it returns: seen by the thread itself
 *                (pthread_sigmask) after its wait returns, and in SigBlk of
 *                /proc, which must equal the baseline's.
 *  ctx-redirect  a SIGUSR1 handler that, finding the thread at t13_futex's
 *                `syscall` (as musl's cancellation does), moves the
 *                instruction pointer to a "cancelled" exit: the wait returns
 *                through that exit.
 *  altstack      a thread with an 8 KiB alternate signal stack (the size
 *                Rust's std gives its threads: libc's SIGSTKSZ) and a SIGUSR1
 *                handler WITHOUT SA_ONSTACK: the handler runs on the thread's
 *                own stack (a local's address and sigaltstack()'s
 *                SS_ONSTACK say so) and can use 16 KiB there.
 *  headroom      the stack a SIGUSR1 handler with a 1 KiB buffer needs below
 *                the waiting frame is the same as in the baseline (+-256
 *                bytes; the old engine added about 3.5 KiB).
 *  eintr-kept    a SIGUSR1 handler without SA_RESTART that stays 100 ms:
 *                sem_wait() fails with EINTR and the raw FUTEX_WAIT with
 *                -EINTR in every round, with nothing, one glibc setresuid()
 *                or one psx broadcast made while the handler runs; with
 *                glibc's sigfillset() as sa_mask (which leaves 33 out) and
 *                with every signal, 33 included, in the kernel's sa_mask
 *                (raw rt_sigaction), so that 33 is taken right after the
 *                handler returns, on top of the interrupted wait.
 *  eintr-not-invented  after one pthread_cancel() in the process (glibc
 *                then has a SIGCANCEL handler), a SIGUSR1 handler WITH
 *                SA_RESTART: sem_wait() and the raw FUTEX_WAIT do not return
 *                until really woken, and then return success.
 *  wake-kept     a FUTEX_WAKE from the program that does not change the word,
 *                while another thread broadcasts back to back: whenever the
 *                kernel reports that it woke the waiter (1), the waiter's
 *                FUTEX_WAIT returns (within 1 s). A wake that finds the
 *                waiter inside a handler reports 0 and is simply repeated,
 *                as without psx.
 *  throughput    a producer/consumer pair on condition variables passing
 *                items through a one-slot queue (every item is a sleep and a
 *                wake-up), for 1 s per run, with another thread broadcasting
 *                back to back: psx_syscall3(SYS_getpid) against glibc's own
 *                broadcast (setresuid() with the current ids; glibc signals
 *                every thread for each set*id call). Runs alternate, 3 each;
 *                the medians must satisfy p99 wake-up latency(psx) <= 4 x
 *                glibc's + 5 ms (the old engine's parked threads waited for
 *                the end of every broadcast in flight: tails of 40-120 ms),
 *                and items/s(glibc) <= 3 x items/s(psx) in the median of
 *                the three alternated pairs of runs (the ratio of the two
 *                medians failed 1 make c-test run of 8 with two CPU hogs:
 *                two psx runs of three fell to 10-15k items/s, with p99
 *                latencies of ~3 ms, while the third made 58k; pair by
 *                pair 1.5, 8.3 and 2.1). psx holds every
 *                thread until the whole broadcast is released; a broadcast
 *                waits for the threads the previous one released to leave
 *                its handler before it signals them again, without which
 *                the pair moved about 100 times fewer items than under
 *                glibc's loop on a quiet machine. Measured here since:
 *                1.4-1.8 x (the target is 1.5 x; `make bench`).
 *                The numbers (and the no-broadcast baseline) are printed.
 *  signal-latency  a kernel timer sends SIGUSR2 every millisecond to a
 *                thread asleep in a raw FUTEX_WAIT while another thread
 *                broadcasts back to back (as in throughput); the handler
 *                notes how late it runs after the expiry. The hold mode
 *                delays a signal to a thread it holds until the release
 *                (README, "Guarantees"); the default mode's handler only
 *                blocks signals while it runs the call. The median of three
 *                runs' p99 must be at most 3 x glibc's loop + 5 ms (every
 *                expiry counts, also those one late delivery stood for).
 *                Measured (hold engine): quiet, p99 23-34 us against
 *                glibc's 20-22; with two CPU hogs 3.4-4.3 ms against
 *                2.1-3.2 ms (the hogs' slices); arm64 VM about 1.2 ms
 *                against 0.85 ms. Default mode, 20 runs x 2 link modes
 *                with two CPU hogs: psx 0.6-3.6 ms, glibc 0.4-3.7 ms, about
 *                equal run by run; once glibc's median fell to 59 us while
 *                psx's was 2.7 ms, which failed the former limit of 3 x +
 *                2 ms: the slack is one scheduling slice (CONFIG_HZ=250),
 *                times PSX_TIMEOUT_SCALE under emulation (see the check).
 *  seccomp-futex-waitv  a seccomp filter installed by the program on every
 *                thread (SECCOMP_FILTER_FLAG_TSYNC) that kills the process
 *                on futex_waitv (449) and allows everything else: a helper
 *                process with idle threads survives 5 broadcasts of glibc's
 *                setresuid() (baseline) and 5 of psx. A probe helper proves
 *                the filter kills on futex_waitv.
 *
 * Against the OLD engine (parking), static and shared, on this 2-core
 * machine: ctx-ip, ctx-sigmask, ctx-redirect, altstack, headroom (8095
 * bytes against 4511), eintr-kept (0/10 rounds report EINTR when a psx
 * broadcast is made during a handler whose kernel sa_mask holds 33; the
 * sigfillset() variant passed), eintr-not-invented (10/10 sem_wait rounds
 * fail with EINTR) and seccomp-futex-waitv (killed by SIGSYS) fail on every
 * run; wake-kept lost 8 of 18-21 wake-ups in each run; throughput fails
 * (glibc/psx 7.4-7.7). Debian's libpsx 2.66 passes every case (seccomp's
 * idle threads are all made through the wrapper, which 2.66 needs).
 * The new engine (no parking) passes every other case in every run
 * (static and shared, also with two CPU hogs). Throughput with two CPU
 * hogs: while only the broadcaster released held threads, 2 of 11 runs
 * exceeded the limit (one pair 10.6x, p99 1.5-3.2 ms: the held pair waited
 * for the broadcaster to get a core); with the last answer releasing, the
 * median ratio was 0.99-3.38 over 40 runs (20 hog runs x 2 modes, one over
 * 3), p99 at most 45 us. What remains: its handler holds every thread
 * until the whole broadcast is released, glibc's returns at once.
 *
 * x86_64 and aarch64 have a t13_futex(); elsewhere the cases that need it
 * fail with "unsupported architecture" rather than pass unseen.
 */
#include "common.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/psx_syscall.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>
#include <stddef.h>
#include <time.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define ECANCEL_SENTINEL (-ECANCELED) /* futex never returns it */

/* ------------------------------------------------------- t13_futex() */

/*
 * long t13_futex(uint32_t *word, long op, long val): an untimed futex call
 * whose system call instruction is at t13_futex_insn; returns the raw
 * result (-errno on failure). t13_futex_cancelled is the exit a
 * "cancelling" handler redirects to: it returns ECANCEL_SENTINEL. The whole
 * function lies in [t13_futex, t13_futex_end).
 */
#if defined(__x86_64__)
#define HAVE_T13_FUTEX 1
__asm__(".text\n"
        ".globl t13_futex\n"
        ".type t13_futex,@function\n"
        ".p2align 4\n"
        "t13_futex:\n"
        "    xor %r10d, %r10d\n"
        "    mov $202, %eax\n" /* SYS_futex */
        ".globl t13_futex_insn\n"
        "t13_futex_insn:\n"
        "    syscall\n"
        "    ret\n"
        ".globl t13_futex_cancelled\n"
        "t13_futex_cancelled:\n"
        "    mov $-125, %rax\n" /* -ECANCELED */
        "    ret\n"
        ".globl t13_futex_end\n"
        "t13_futex_end:\n"
        "    nop\n"
        ".size t13_futex, . - t13_futex\n");
#define UC_PC(uc) ((uc)->uc_mcontext.gregs[REG_RIP])
#elif defined(__aarch64__)
#define HAVE_T13_FUTEX 1
__asm__(".text\n"
        ".globl t13_futex\n"
        ".type t13_futex,%function\n"
        ".p2align 4\n"
        "t13_futex:\n"
        "    mov x3, xzr\n"
        "    mov x8, #98\n" /* SYS_futex */
        ".globl t13_futex_insn\n"
        "t13_futex_insn:\n"
        "    svc #0\n"
        "    ret\n"
        ".globl t13_futex_cancelled\n"
        "t13_futex_cancelled:\n"
        "    mov x0, #-125\n"
        "    ret\n"
        ".globl t13_futex_end\n"
        "t13_futex_end:\n"
        "    nop\n"
        ".size t13_futex, . - t13_futex\n");
#define UC_PC(uc) ((uc)->uc_mcontext.pc)
#else
#define HAVE_T13_FUTEX 0
#endif

#if HAVE_T13_FUTEX
long t13_futex(uint32_t *word, long op, long val);
extern const char t13_futex_insn[], t13_futex_cancelled[], t13_futex_end[];
#define FUTEX_LO ((uintptr_t)(void *)t13_futex)
#define FUTEX_HI ((uintptr_t)(void *)t13_futex_end)
#endif

static void need_arch(void)
{
#if !HAVE_T13_FUTEX
    ct_fail("unsupported architecture: no t13_futex() for it");
#endif
}

/* ------------------------------------------------------ SIGUSR1 handler */

enum {
    H_SETMASK = 1,   /* add SIGUSR2 to uc_sigmask */
    H_REDIRECT = 2,  /* at t13_futex's syscall: go to t13_futex_cancelled */
    H_STACK1K = 4,   /* use a 1 KiB buffer, record its address */
    H_BIG16K = 8,    /* use 16 KiB, unless on the alternate stack */
    H_SLOW = 16,     /* stay 100 ms in the handler */
};

static int g_hmode;
static struct {
    int entered;
    int count;
    uintptr_t pc;
    uintptr_t buf;        /* lowest address of the 1 KiB buffer */
    uintptr_t local;      /* address of a local of the handler */
    int ss_onstack;       /* sigaltstack() said SS_ONSTACK */
    int redirected;
    int big_done;
} g_h;

static uintptr_t g_alt_lo, g_alt_hi; /* the waiter's alternate stack */

static __attribute__((noinline)) void use_16k(void)
{
    volatile char big[16384];
    for (size_t i = 0; i < sizeof(big); i += 64) {
        big[i] = (char)i;
    }
    __asm__ volatile("" ::"r"(big) : "memory");
}

static void on_usr1(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    volatile char buf[1024];
    ucontext_t *uc = (ucontext_t *)ucv;
    int mode = __atomic_load_n(&g_hmode, __ATOMIC_ACQUIRE);
    __atomic_add_fetch(&g_h.entered, 1, __ATOMIC_RELEASE);
    if (mode & H_SLOW) {
        struct timespec ts = {0, 100 * 1000000L};
        ct_raw6(SYS_nanosleep, (long)&ts, 0, 0, 0, 0, 0);
    }
#if HAVE_T13_FUTEX
    uintptr_t pc = (uintptr_t)UC_PC(uc);
    g_h.pc = pc;
    if ((mode & H_REDIRECT) && pc >= FUTEX_LO &&
        pc <= (uintptr_t)(void *)t13_futex_insn) {
        UC_PC(uc) = (uintptr_t)(void *)t13_futex_cancelled;
        g_h.redirected = 1;
    }
#endif
    if (mode & H_SETMASK) {
        sigaddset(&uc->uc_sigmask, SIGUSR2);
    }
    if (mode & H_STACK1K) {
        for (size_t i = 0; i < sizeof(buf); i += 32) {
            buf[i] = (char)i;
        }
        g_h.buf = (uintptr_t)&buf[0];
    }
    char here;
    g_h.local = (uintptr_t)&here;
    stack_t ss;
    if (sigaltstack(NULL, &ss) == 0) {
        g_h.ss_onstack = (ss.ss_flags & SS_ONSTACK) != 0;
    }
    if ((mode & H_BIG16K) && !g_h.ss_onstack &&
        !(g_h.local >= g_alt_lo && g_h.local < g_alt_hi)) {
        use_16k();
        g_h.big_done = 1;
    }
    __asm__ volatile("" ::"r"(buf) : "memory");
    __atomic_add_fetch(&g_h.count, 1, __ATOMIC_RELEASE);
}

static void install_usr1(int mode, int flags, int fullmask)
{
    __atomic_store_n(&g_hmode, mode, __ATOMIC_RELEASE);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO | flags;
    if (fullmask) {
        sigfillset(&sa.sa_mask);
    } else {
        sigemptyset(&sa.sa_mask);
    }
    CT_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction: %s",
             strerror(errno));
    if (fullmask == 2) {
        /* glibc's sigfillset() leaves out 32 and 33: put every signal in
         * the kernel's sa_mask with a raw rt_sigaction, keeping the rest
         * of what glibc installed (its restorer). */
        struct {
            void *handler;
            unsigned long flags;
            void *restorer;
            unsigned long mask;
        } k;
        CT_CHECK(ct_raw6(SYS_rt_sigaction, SIGUSR1, 0, (long)&k, 8, 0, 0) == 0,
                 "rt_sigaction read");
        k.mask = ~0UL;
        CT_CHECK(ct_raw6(SYS_rt_sigaction, SIGUSR1, (long)&k, 0, 8, 0, 0) == 0,
                 "rt_sigaction write");
    }
}

/* --------------------------------------------------------------- waiter */

enum { W_NONE, W_RAW, W_SEM, W_EXIT };

struct waiter {
    pthread_t th;
    pid_t tid;
    int altstack;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int cmd;
    uint32_t word;
    sem_t sem;
    int done;        /* waits completed */
    long ret;        /* t13_futex's result, or sem_wait's */
    int err;         /* errno after sem_wait */
    uintptr_t frame; /* a local of the frame that calls the wait */
    int usr2_blocked;
    int in_wait;     /* set by the waiter before its wait, cleared after */
};

static struct waiter g_w;

static __attribute__((noinline)) void do_wait(struct waiter *w, int cmd)
{
    volatile char mark = 0;
    w->frame = (uintptr_t)&mark;
    __atomic_store_n(&w->in_wait, 1, __ATOMIC_RELEASE);
    long r;
    int e = 0;
    if (cmd == W_RAW) {
#if HAVE_T13_FUTEX
        r = t13_futex(&w->word, FUTEX_WAIT_PRIVATE, 0);
#else
        r = -ENOSYS;
#endif
    } else {
        r = sem_wait(&w->sem);
        e = errno;
    }
    (void)mark;
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    w->ret = r;
    w->err = e;
    w->usr2_blocked = sigismember(&cur, SIGUSR2);
    __atomic_store_n(&w->in_wait, 0, __ATOMIC_RELEASE);
    __atomic_add_fetch(&w->done, 1, __ATOMIC_RELEASE);
}

static void *waiter_main(void *arg)
{
    struct waiter *w = (struct waiter *)arg;
    if (w->altstack) {
        /* 8 KiB, libc's SIGSTKSZ, as Rust's std gives each thread, with a
         * guard page below. */
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        char *m = mmap(NULL, page + 8192, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CT_CHECK(m != MAP_FAILED, "mmap");
        CT_CHECK(mprotect(m, page, PROT_NONE) == 0, "mprotect");
        stack_t ss;
        memset(&ss, 0, sizeof(ss));
        ss.ss_sp = m + page;
        ss.ss_size = 8192;
        CT_CHECK(sigaltstack(&ss, NULL) == 0, "sigaltstack: %s",
                 strerror(errno));
        g_alt_lo = (uintptr_t)m + page;
        g_alt_hi = g_alt_lo + 8192;
    }
    __atomic_store_n(&w->tid, ct_gettid(), __ATOMIC_RELEASE);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->cmd == W_NONE) {
            pthread_cond_wait(&w->cv, &w->mu);
        }
        int cmd = w->cmd;
        w->cmd = W_NONE;
        pthread_mutex_unlock(&w->mu);
        if (cmd == W_EXIT) {
            return NULL;
        }
        sigset_t u2;
        sigemptyset(&u2);
        sigaddset(&u2, SIGUSR2);
        pthread_sigmask(SIG_UNBLOCK, &u2, NULL);
        do_wait(w, cmd);
    }
}

static void waiter_start(struct waiter *w, int altstack)
{
    memset(w, 0, sizeof(*w));
    w->altstack = altstack;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    CT_CHECK(sem_init(&w->sem, 0, 0) == 0, "sem_init");
    CT_CHECK(ct_thread(&w->th, waiter_main, w, 0, 0) == 0, "thread");
    while (!__atomic_load_n(&w->tid, __ATOMIC_ACQUIRE)) {
        ct_sleep_ms(1);
    }
}

static void waiter_stop(struct waiter *w)
{
    pthread_mutex_lock(&w->mu);
    w->cmd = W_EXIT;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
}

/* Whether the waiter is blocked in a futex call on its wait's word. */
static int asleep_on_word(struct waiter *w, int cmd)
{
    struct ct_syscall s;
    if (ct_read_syscall(0, w->tid, &s) != 0 || s.nr != SYS_futex) {
        return 0;
    }
    uintptr_t a = (uintptr_t)s.arg[0];
    if (cmd == W_RAW) {
        return a == (uintptr_t)&w->word;
    }
    return a >= (uintptr_t)&w->sem && a < (uintptr_t)&w->sem + sizeof(w->sem);
}

/* Starts one wait and returns once the thread sleeps in it. */
static void start_wait(struct waiter *w, int cmd)
{
    __atomic_store_n(&w->word, 0, __ATOMIC_RELEASE);
    pthread_mutex_lock(&w->mu);
    w->cmd = cmd;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    /* Asleep on its word; or, once it is in do_wait(), asleep in any
     * system call for 300 ms (an engine may sleep elsewhere while
     * broadcasts run back to back). */
    long t0 = ct_now_ms();
    long in_since = 0;

    while (!asleep_on_word(w, cmd)) {
        struct ct_syscall s;
        if (__atomic_load_n(&w->in_wait, __ATOMIC_ACQUIRE) &&
            ct_read_syscall(0, w->tid, &s) == 0) {
            if (!in_since) {
                in_since = ct_now_ms();
            } else if (ct_now_ms() - in_since > 300) {
                return;
            }
        } else {
            in_since = 0;
        }
        CT_CHECK(ct_now_ms() - t0 < 5000,
                 "waiter %d never went to sleep in its wait", (int)w->tid);
        ct_sleep_ms(1);
    }
}

/*
 * k broadcasts of the counting call; checks in /proc that the waiter ran
 * each, then returns once it sleeps again: on its own word, or (after
 * 300 ms) in any system call (an engine may sleep elsewhere; the checks
 * that follow judge what the program sees, not where it sleeps).
 */
static void broadcasts(struct waiter *w, int k)
{
    if (k == 0) {
        return;
    }
    long before = ct_thread_count(0, w->tid);
    for (int i = 0; i < k; i++) {
        long r = psx_syscall3(CT_COUNT_CALL);
        CT_CHECK(r == CT_COUNT_BYTES, "broadcast: %ld errno %d", r, errno);
    }
    long after = ct_thread_count(0, w->tid);
    CT_CHECK(after == before + k,
             "the waiter ran the call %ld times in %d broadcasts",
             after - before, k);
    long t0 = ct_now_ms();
    for (;;) {
        if (asleep_on_word(w, W_RAW) || asleep_on_word(w, W_SEM)) {
            return;
        }
        struct ct_syscall s;
        if (ct_now_ms() - t0 > 300 && ct_read_syscall(0, w->tid, &s) == 0) {
            return;
        }
        CT_CHECK(ct_now_ms() - t0 < 5000,
                 "the waiter did not go back to sleep after the broadcasts");
        ct_sleep_ms(1);
    }
}

/* Sends SIGUSR1 to the waiter and waits until its handler ran. */
static void usr1(struct waiter *w)
{
    int want = __atomic_load_n(&g_h.count, __ATOMIC_ACQUIRE) + 1;
    CT_CHECK(ct_raw6(SYS_tgkill, getpid(), w->tid, SIGUSR1, 0, 0, 0) == 0,
             "tgkill");
    long deadline = ct_now_ms() + 5000;
    while (__atomic_load_n(&g_h.count, __ATOMIC_ACQUIRE) < want) {
        CT_CHECK(ct_now_ms() < deadline, "the SIGUSR1 handler never ran");
        ct_sleep_ms(1);
    }
}

/* Whether the wait returned (done reached want) within ms. */
static int returned_within(struct waiter *w, int want, long ms)
{
    long deadline = ct_now_ms() + ms;
    while (__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) < want) {
        if (ct_now_ms() > deadline) {
            return 0;
        }
        ct_sleep_ms(1);
    }
    return 1;
}

/* Wakes the wait for real (word changed / sem posted) and waits for it. */
static void wake_for_real(struct waiter *w, int cmd, int want)
{
    if (cmd == W_RAW) {
        __atomic_store_n(&w->word, 1, __ATOMIC_RELEASE);
        ct_raw6(SYS_futex, (long)&w->word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
    } else {
        sem_post(&w->sem);
    }
    CT_CHECK(returned_within(w, want, 5000),
             "the waiter did not return after a real wake-up");
}

static void setup(void)
{
    ct_require_root();
    ct_check_library();
    need_arch();
    ct_count_fd();
}

/* ------------------------------------------------------------ case 1 */

static int case_ctx_ip(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setup();
    install_usr1(0, SA_RESTART, 0);
    waiter_start(&g_w, 0);
#if HAVE_T13_FUTEX
    const char *what[2] = {"without broadcasts", "after 5 broadcasts"};
    for (int pass = 0; pass < 2; pass++) {
        int done = g_w.done;
        start_wait(&g_w, W_RAW);
        broadcasts(&g_w, pass ? 5 : 0);
        usr1(&g_w);
        uintptr_t pc = g_h.pc;
        ct_log("%s: the handler saw pc %#lx; t13_futex is [%#lx, %#lx)",
               what[pass], (unsigned long)pc, (unsigned long)FUTEX_LO,
               (unsigned long)FUTEX_HI);
        CT_CHECK(pc >= FUTEX_LO && pc < FUTEX_HI,
                 "%s: a SIGUSR1 handler on a thread sleeping in t13_futex "
                 "saw pc %#lx, outside it [%#lx, %#lx)",
                 what[pass], (unsigned long)pc, (unsigned long)FUTEX_LO,
                 (unsigned long)FUTEX_HI);
        CT_CHECK(!returned_within(&g_w, done + 1, 100),
                 "%s: the SA_RESTART handler ended the wait (ret %ld)",
                 what[pass], g_w.ret);
        wake_for_real(&g_w, W_RAW, done + 1);
        CT_CHECK(g_w.ret == 0, "%s: the wait returned %ld", what[pass],
                 g_w.ret);
    }
#endif
    waiter_stop(&g_w);
    return 0;
}

static int case_ctx_sigmask(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setup();
    install_usr1(H_SETMASK, SA_RESTART, 0);
    waiter_start(&g_w, 0);
    const char *what[2] = {"without broadcasts", "after 5 broadcasts"};
    unsigned long long base_blk = 0;
    for (int pass = 0; pass < 2; pass++) {
        int done = g_w.done;
        start_wait(&g_w, W_RAW);
        broadcasts(&g_w, pass ? 5 : 0);
        usr1(&g_w);
        /* psx broadcasts again after the handler, before the wake-up */
        broadcasts(&g_w, pass ? 5 : 0);
        wake_for_real(&g_w, W_RAW, done + 1);
        CT_CHECK(g_w.usr2_blocked,
                 "%s: the handler added SIGUSR2 to uc_sigmask, but after its "
                 "wait returned the thread does not block SIGUSR2",
                 what[pass]);
        /* The waiter now sleeps in its command wait, with that mask. */
        char st[4096];
        long deadline = ct_now_ms() + 5000;
        unsigned long long blk;
        for (;;) {
            struct ct_syscall s;
            CT_CHECK(ct_read_status(0, g_w.tid, st, sizeof(st)) == 0,
                     "status");
            blk = ct_field_hex(st, "SigBlk");
            if (ct_read_syscall(0, g_w.tid, &s) == 0 && s.nr == SYS_futex) {
                break;
            }
            CT_CHECK(ct_now_ms() < deadline, "waiter never idle");
            ct_sleep_ms(1);
        }
        ct_log("%s: SigBlk %016llx", what[pass], blk);
        CT_CHECK(blk & (1ULL << (SIGUSR2 - 1)),
                 "%s: SigBlk %016llx lacks SIGUSR2", what[pass], blk);
        if (pass == 0) {
            base_blk = blk;
        } else {
            CT_CHECK(blk == base_blk,
                     "SigBlk %016llx after broadcasts, %016llx without", blk,
                     base_blk);
        }
    }
    waiter_stop(&g_w);
    return 0;
}

static int case_ctx_redirect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setup();
    install_usr1(H_REDIRECT, SA_RESTART, 0);
    waiter_start(&g_w, 0);
    const char *what[2] = {"without broadcasts", "after 5 broadcasts"};
    for (int pass = 0; pass < 2; pass++) {
        int done = g_w.done;
        g_h.redirected = 0;
        start_wait(&g_w, W_RAW);
        broadcasts(&g_w, pass ? 5 : 0);
        usr1(&g_w);
        int back = returned_within(&g_w, done + 1, 2000);
        ct_log("%s: handler saw pc %#lx, redirected %d, wait %s (ret %ld)",
               what[pass], (unsigned long)g_h.pc, g_h.redirected,
               back ? "returned" : "still asleep after 2 s", g_w.ret);
        if (!back) {
            wake_for_real(&g_w, W_RAW, done + 1);
            ct_fail("%s: the handler's redirect to the cancel exit did not "
                    "take effect: the thread slept on", what[pass]);
        }
        CT_CHECK(g_h.redirected && g_w.ret == ECANCEL_SENTINEL,
                 "%s: the wait returned %ld, not through the cancel exit",
                 what[pass], g_w.ret);
    }
    waiter_stop(&g_w);
    return 0;
}

/* ------------------------------------------------------------ case 2 */

static int case_altstack(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setup();
    install_usr1(H_BIG16K, SA_RESTART, 0); /* no SA_ONSTACK */
    waiter_start(&g_w, 1);
    const char *what[2] = {"without broadcasts", "after 5 broadcasts"};
    for (int pass = 0; pass < 2; pass++) {
        int done = g_w.done;
        g_h.big_done = 0;
        start_wait(&g_w, W_RAW);
        broadcasts(&g_w, pass ? 5 : 0);
        usr1(&g_w);
        uintptr_t l = g_h.local;
        int on_alt = l >= g_alt_lo && l < g_alt_hi;
        ct_log("%s: handler local %#lx, alternate stack [%#lx, %#lx), "
               "SS_ONSTACK %d, used 16 KiB %d",
               what[pass], (unsigned long)l, (unsigned long)g_alt_lo,
               (unsigned long)g_alt_hi, g_h.ss_onstack, g_h.big_done);
        CT_CHECK(!on_alt && !g_h.ss_onstack,
                 "%s: a handler without SA_ONSTACK ran on the 8 KiB alternate "
                 "stack (it needs 16 KiB: it would overflow)", what[pass]);
        CT_CHECK(g_h.big_done, "%s: the handler did not use its 16 KiB",
                 what[pass]);
        wake_for_real(&g_w, W_RAW, done + 1);
    }
    waiter_stop(&g_w);
    return 0;
}

static int case_headroom(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setup();
    install_usr1(H_STACK1K, SA_RESTART, 0);
    waiter_start(&g_w, 0);
    const char *what[2] = {"without broadcasts", "after 5 broadcasts"};
    long need[2];
    for (int pass = 0; pass < 2; pass++) {
        int done = g_w.done;
        start_wait(&g_w, W_RAW);
        broadcasts(&g_w, pass ? 5 : 0);
        usr1(&g_w);
        need[pass] = (long)(g_w.frame - g_h.buf);
        ct_log("%s: the handler's 1 KiB buffer starts %ld bytes below the "
               "waiting frame", what[pass], need[pass]);
        CT_CHECK(need[pass] > 1024 && need[pass] < (1L << 20),
                 "%s: implausible distance %ld (handler not on this stack?)",
                 what[pass], need[pass]);
        wake_for_real(&g_w, W_RAW, done + 1);
    }
    CT_CHECK(need[1] <= need[0] + 256 && need[1] >= need[0] - 256,
             "a handler on an idle thread needs %ld bytes of stack below the "
             "wait after broadcasts, %ld without", need[1], need[0]);
    waiter_stop(&g_w);
    return 0;
}

/* ------------------------------------------------------- cases 3 and 4 */

/* Rounds per variant: 10, or PSX_T13_ROUNDS (`make test` gives the runs
 * in other userlands and in the arm64 VM 5; the behaviour checked is all or
 * nothing, every round). */
static int eintr_rounds_wanted(void)
{
    const char *s = getenv("PSX_T13_ROUNDS");
    return s && atoi(s) > 0 ? atoi(s) : 10;
}
#define EINTR_ROUNDS eintr_rounds_wanted()

/* While the SIGUSR1 handler runs: nothing (0), one glibc set*id broadcast
 * (1, setresuid() with the current ids) or one psx broadcast (2). Either
 * broadcast's signal 33 is blocked by the handler's sa_mask, so it is taken
 * right after the handler returns, on top of the interrupted wait. */
static int g_mask33; /* the SIGUSR1 handler's sa_mask has 33 */
static const char *const during_name[3] = {"nothing", "a glibc setresuid()",
                                           "a psx broadcast"};

static void usr1_during(struct waiter *w, int during)
{
    if (during == 0) {
        usr1(w);
        return;
    }
    int want = __atomic_load_n(&g_h.entered, __ATOMIC_ACQUIRE) + 1;
    CT_CHECK(ct_raw6(SYS_tgkill, getpid(), w->tid, SIGUSR1, 0, 0, 0) == 0,
             "tgkill");
    long deadline = ct_now_ms() + 5000;
    while (__atomic_load_n(&g_h.entered, __ATOMIC_ACQUIRE) < want) {
        CT_CHECK(ct_now_ms() < deadline, "the SIGUSR1 handler never ran");
        ct_sleep_ms(1);
    }
    int done = __atomic_load_n(&g_h.count, __ATOMIC_ACQUIRE);
    (void)done;
    if (during == 1) {
        uid_t u = getuid();
        CT_CHECK(setresuid(u, u, u) == 0, "setresuid: %s", strerror(errno));
    } else {
        long r = psx_syscall3(CT_COUNT_CALL);
        CT_CHECK(r == CT_COUNT_BYTES, "broadcast: %ld errno %d", r, errno);
    }
    if (g_mask33) {
        CT_CHECK(__atomic_load_n(&g_h.count, __ATOMIC_ACQUIRE) > done,
                 "the broadcast ended before the thread's SIGUSR1 handler "
                 "(which blocks signal 33) returned");
    }
}

/* Rounds of: wait, k broadcasts, SIGUSR1 (with `during` in its handler).
 * Returns how many rounds ended with the wait failing with EINTR; others
 * are woken for real. intr_ms: how long to wait for the wait to return
 * after the handler ran. */
static int eintr_rounds(int cmd, int k, long intr_ms, int during)
{
    int eintr = 0;
    for (int r = 0; r < EINTR_ROUNDS; r++) {
        int done = g_w.done;
        start_wait(&g_w, cmd);
        broadcasts(&g_w, k);
        usr1_during(&g_w, during);
        if (returned_within(&g_w, done + 1, intr_ms)) {
            int is_eintr = cmd == W_RAW ? g_w.ret == -EINTR
                                        : (g_w.ret == -1 && g_w.err == EINTR);
            CT_CHECK(is_eintr, "the wait returned %ld (errno %d) without a "
                     "wake-up", g_w.ret, g_w.err);
            eintr++;
        } else {
            wake_for_real(&g_w, cmd, done + 1);
            CT_CHECK(g_w.ret == 0, "woken wait returned %ld errno %d",
                     g_w.ret, g_w.err);
        }
    }
    return eintr;
}

static int case_eintr_kept(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setup();
    waiter_start(&g_w, 0);
    const int cmds[2] = {W_SEM, W_RAW};
    const char *names[2] = {"sem_wait", "raw FUTEX_WAIT"};
    const char *masks[2] = {"sigfillset() sa_mask (33 left out by glibc)",
                            "raw full sa_mask (33 included)"};
    int bad = 0;
    for (int m = 0; m < 2; m++) {
        /* no SA_RESTART, 100 ms in the handler */
        g_mask33 = m;
        install_usr1(H_SLOW, 0, m ? 2 : 1);
        for (int c = 0; c < 2; c++) {
            for (int d = 0; d < 3; d++) {
                /* psx broadcasts before the signal only in the psx pass */
                int n = eintr_rounds(cmds[c], d == 2 ? 3 : 0, 1000, d);
                ct_log("%s, %s, %s during the handler: EINTR in %d/%d rounds",
                       masks[m], names[c], during_name[d], n, EINTR_ROUNDS);
                bad += n != EINTR_ROUNDS;
            }
        }
    }
    CT_CHECK(bad == 0, "a handler without SA_RESTART interrupted the wait, but "
             "in %d configuration(s) above not every round reported EINTR", bad);
    waiter_stop(&g_w);
    return 0;
}

static void *cancel_me(void *arg)
{
    (void)arg;
    for (;;) {
        pause();
    }
    return NULL;
}

static int case_eintr_not_invented(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setup();
    pthread_t t;
    CT_CHECK(ct_thread(&t, cancel_me, NULL, 0, 0) == 0, "thread");
    CT_CHECK(pthread_cancel(t) == 0, "pthread_cancel");
    void *res;
    CT_CHECK(pthread_join(t, &res) == 0 && res == PTHREAD_CANCELED,
             "cancelled thread");
    install_usr1(0, SA_RESTART, 0);
    waiter_start(&g_w, 0);
    const int cmds[2] = {W_SEM, W_RAW};
    const char *names[2] = {"sem_wait", "raw FUTEX_WAIT"};
    for (int c = 0; c < 2; c++) {
        int base = eintr_rounds(cmds[c], 0, 300, 0);
        int with = eintr_rounds(cmds[c], 3, 300, 0);
        ct_log("%s: EINTR in %d/%d rounds without broadcasts, %d/%d after "
               "broadcasts", names[c], base, EINTR_ROUNDS, with,
               EINTR_ROUNDS);
        CT_CHECK(base == 0, "%s: baseline: EINTR in %d/%d rounds", names[c],
                 base, EINTR_ROUNDS);
        CT_CHECK(with == 0,
                 "%s: an SA_RESTART handler made the wait fail with EINTR in "
                 "%d/%d rounds after broadcasts", names[c], with,
                 EINTR_ROUNDS);
    }
    waiter_stop(&g_w);
    return 0;
}

/* ------------------------------------------------------------ case 6 */

static uint32_t g_w6;
static int g_w6_returns;
static int g_w6_stop;

static void *w6_main(void *arg)
{
    (void)arg;
    __atomic_store_n(&g_w.tid, ct_gettid(), __ATOMIC_RELEASE);
    while (!__atomic_load_n(&g_w6_stop, __ATOMIC_ACQUIRE)) {
#if HAVE_T13_FUTEX
        t13_futex(&g_w6, FUTEX_WAIT_PRIVATE, 0);
#endif
        __atomic_add_fetch(&g_w6_returns, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static int g_bc_stop, g_gl_stop;
static long g_bc_calls;

static void *broadcaster(void *arg)
{
    long nr = (long)arg;
    while (!__atomic_load_n(&g_bc_stop, __ATOMIC_ACQUIRE)) {
        long r;
        if (nr == SYS_write) {
            r = psx_syscall3(CT_COUNT_CALL);
        } else {
            r = psx_syscall3(SYS_getpid, 0, 0, 0);
        }
        CT_CHECK(r >= 0, "broadcast: %ld errno %d", r, errno);
        __atomic_add_fetch(&g_bc_calls, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

struct wake_stats {
    int rounds, lost, zero_wakes;
};

static struct wake_stats wake_rounds(long ms, int max_rounds)
{
    struct wake_stats st = {0, 0, 0};
    long end = ct_now_ms() + ms;
    unsigned seed = 12345;
    while (ct_now_ms() < end && st.rounds < max_rounds) {
        int before = __atomic_load_n(&g_w6_returns, __ATOMIC_ACQUIRE);
        /* a varying pause, so that wakes land at all phases */
        seed = seed * 1103515245u + 12345u;
        struct timespec ts = {0, (long)((seed >> 8) % 3000) * 1000L};
        nanosleep(&ts, NULL);
        long woke = 0;
        long deadline = ct_now_ms() + 3000;
        while ((woke = ct_raw6(SYS_futex, (long)&g_w6, FUTEX_WAKE_PRIVATE, 1,
                               0, 0, 0)) == 0) {
            st.zero_wakes++;
            CT_CHECK(ct_now_ms() < deadline,
                     "FUTEX_WAKE found no waiter for 3 s");
            ct_sleep_ms(1);
        }
        CT_CHECK(woke == 1, "FUTEX_WAKE: %ld", woke);
        st.rounds++;
        long t = ct_now_ms() + 1000;
        while (__atomic_load_n(&g_w6_returns, __ATOMIC_ACQUIRE) == before &&
               ct_now_ms() < t) {
            ct_sleep_ms(1);
        }
        if (__atomic_load_n(&g_w6_returns, __ATOMIC_ACQUIRE) == before) {
            st.lost++;
        }
    }
    return st;
}

static int case_wake_kept(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setup();
    memset(&g_w, 0, sizeof(g_w));
    pthread_t w;
    CT_CHECK(ct_thread(&w, w6_main, NULL, 0, 0) == 0, "thread");
    while (!__atomic_load_n(&g_w.tid, __ATOMIC_ACQUIRE)) {
        ct_sleep_ms(1);
    }
    struct wake_stats base = wake_rounds(3000, 60);
    ct_log("without broadcasts: %d rounds, %d lost, %d wakes found no "
           "waiter", base.rounds, base.lost, base.zero_wakes);
    CT_CHECK(base.lost == 0, "baseline lost %d wake-ups", base.lost);
    pthread_t b;
    CT_CHECK(ct_thread(&b, broadcaster, (void *)(long)SYS_write, 0, 0) == 0,
             "thread");
    struct wake_stats with = wake_rounds(8000, 60);
    __atomic_store_n(&g_bc_stop, 1, __ATOMIC_RELEASE);
    pthread_join(b, NULL);
    ct_log("with %ld back-to-back broadcasts: %d rounds, %d lost, %d wakes "
           "found no waiter", g_bc_calls, with.rounds, with.lost,
           with.zero_wakes);
    CT_CHECK(with.rounds >= 10, "only %d rounds", with.rounds);
    CT_CHECK(with.lost == 0,
             "%d of %d FUTEX_WAKEs reported waking the waiter, which then "
             "slept on (lost wake-ups)", with.lost, with.rounds);
    __atomic_store_n(&g_w6_stop, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&g_w6, 1, __ATOMIC_RELEASE);
    long deadline = ct_now_ms() + 5000;
    while (pthread_tryjoin_np(w, NULL) != 0) {
        ct_raw6(SYS_futex, (long)&g_w6, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
        CT_CHECK(ct_now_ms() < deadline, "waiter did not exit");
        ct_sleep_ms(1);
    }
    return 0;
}

/* ------------------------------------------------------------ case 5 */

#define QCAP 1 /* ping-pong: every item is a sleep and a wake-up */
#define MAX_LAT 4000000

static struct {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    int n;
    int stop;
    int consumer_waiting;
    long signal_ns; /* when the producer signalled a waiting consumer */
    long items;
} g_q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
         PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0};
static long *g_lat;
static int g_nlat;

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void *producer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_q.mu);
    while (!g_q.stop) {
        while (g_q.n == QCAP && !g_q.stop) {
            pthread_cond_wait(&g_q.not_full, &g_q.mu);
        }
        g_q.n++;
        if (g_q.consumer_waiting && g_q.signal_ns == 0) {
            g_q.signal_ns = now_ns();
        }
        pthread_cond_signal(&g_q.not_empty);
        if ((g_q.n & 7) == 0) {
            pthread_mutex_unlock(&g_q.mu);
            pthread_mutex_lock(&g_q.mu);
        }
    }
    pthread_mutex_unlock(&g_q.mu);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_q.mu);
    while (!g_q.stop) {
        while (g_q.n == 0 && !g_q.stop) {
            g_q.consumer_waiting = 1;
            pthread_cond_wait(&g_q.not_empty, &g_q.mu);
            g_q.consumer_waiting = 0;
            if (g_q.signal_ns) {
                if (g_nlat < MAX_LAT) {
                    g_lat[g_nlat++] = now_ns() - g_q.signal_ns;
                }
                g_q.signal_ns = 0;
            }
        }
        if (g_q.n > 0) {
            g_q.n--;
            g_q.items++;
            pthread_cond_signal(&g_q.not_full);
        }
        if ((g_q.items & 7) == 0) {
            pthread_mutex_unlock(&g_q.mu);
            pthread_mutex_lock(&g_q.mu);
        }
    }
    pthread_mutex_unlock(&g_q.mu);
    return NULL;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

static long g_gl_calls;

static void *glibc_broadcaster(void *arg)
{
    (void)arg;
    uid_t u = getuid();
    while (!__atomic_load_n(&g_gl_stop, __ATOMIC_ACQUIRE)) {
        CT_CHECK(setresuid(u, u, u) == 0, "setresuid: %s", strerror(errno));
        __atomic_add_fetch(&g_gl_calls, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* The other thread of throughput and signal-latency: kind 0 none, 1
 * glibc's setresuid loop, 2 the psx loop. Started in *b. */
static void loop_start(int kind, pthread_t *b)
{
    g_bc_stop = 0;
    g_bc_calls = 0;
    g_gl_stop = 0;
    g_gl_calls = 0;
    if (kind == 1) {
        CT_CHECK(ct_thread(b, glibc_broadcaster, NULL, 0, 0) == 0, "thread");
    } else if (kind == 2) {
        CT_CHECK(ct_thread(b, broadcaster, (void *)(long)SYS_getpid, 0, 0) ==
                     0, "thread");
    }
}

/* Stops the loop loop_start() started; returns how many calls it made. */
static long loop_stop(int kind, pthread_t b)
{
    if (kind == 0) {
        return 0;
    }
    int *stop = kind == 1 ? &g_gl_stop : &g_bc_stop;
    __atomic_store_n(stop, 1, __ATOMIC_RELEASE);
    pthread_join(b, NULL);
    return kind == 1 ? g_gl_calls : g_bc_calls;
}

struct pc_result {
    double items_per_s;
    long p50, p99, max; /* us */
    long calls;
    int nlat;
};

/* kind 0: no broadcasts, 1: glibc setresuid loop, 2: psx loop */
static struct pc_result pc_run(int kind, long ms)
{
    struct pc_result res;
    memset(&res, 0, sizeof(res));
    g_q.n = 0;
    g_q.stop = 0;
    g_q.items = 0;
    g_q.signal_ns = 0;
    g_q.consumer_waiting = 0;
    g_nlat = 0;
    pthread_t p, c, b = 0;
    CT_CHECK(ct_thread(&c, consumer, NULL, 0, 0) == 0, "thread");
    CT_CHECK(ct_thread(&p, producer, NULL, 0, 0) == 0, "thread");
    loop_start(kind, &b);
    long t0 = now_ns();
    ct_sleep_ms(ms);
    pthread_mutex_lock(&g_q.mu);
    long items = g_q.items;
    long t1 = now_ns();
    g_q.stop = 1;
    pthread_cond_broadcast(&g_q.not_empty);
    pthread_cond_broadcast(&g_q.not_full);
    pthread_mutex_unlock(&g_q.mu);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    res.calls = loop_stop(kind, b);
    res.items_per_s = (double)items * 1e9 / (double)(t1 - t0);
    res.nlat = g_nlat;
    if (g_nlat > 0) {
        qsort(g_lat, (size_t)g_nlat, sizeof(long), cmp_long);
        res.p50 = g_lat[g_nlat / 2] / 1000;
        res.p99 = g_lat[(long)g_nlat * 99 / 100] / 1000;
        res.max = g_lat[g_nlat - 1] / 1000;
    }
    return res;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int case_throughput(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setup();
    g_lat = (long *)malloc(sizeof(long) * MAX_LAT);
    CT_CHECK(g_lat != NULL, "malloc");
    const char *names[3] = {"none", "glibc setresuid loop", "psx loop"};
    struct pc_result r0 = pc_run(0, 1000);
    ct_log("%-22s %10.0f items/s, wake-up latency p50 %ld us p99 %ld us "
           "max %ld us (%d wake-ups)", names[0], r0.items_per_s, r0.p50,
           r0.p99, r0.max, r0.nlat);
    double ips[3][3];
    double p99[3][3];
    for (int rep = 0; rep < 3; rep++) {
        for (int k = 1; k <= 2; k++) {
            struct pc_result r = pc_run(k, 1000);
            ips[k][rep] = r.items_per_s;
            p99[k][rep] = (double)r.p99;
            ct_log("%-22s %10.0f items/s, wake-up latency p50 %ld us p99 %ld "
                   "us max %ld us (%d wake-ups), %ld broadcasts", names[k],
                   r.items_per_s, r.p50, r.p99, r.max, r.nlat, r.calls);
        }
    }
    /* Throughput: glibc/psx of each alternated pair of runs (the two ran
     * side by side, under the same load from the rest of the machine),
     * the median of the three pairs; one pair disturbed either way does
     * not decide. Latency: the medians. */
    double ratio[3];
    for (int rep = 0; rep < 3; rep++) {
        ratio[rep] = ips[2][rep] > 0 ? ips[1][rep] / ips[2][rep] : 1e9;
    }
    qsort(ratio, 3, sizeof(double), cmp_double);
    for (int k = 1; k <= 2; k++) {
        qsort(ips[k], 3, sizeof(double), cmp_double);
        qsort(p99[k], 3, sizeof(double), cmp_double);
    }
    double gl99 = p99[1][1], ps99 = p99[2][1];
    ct_log("medians: glibc %.0f items/s p99 %.0f us; psx %.0f items/s p99 "
           "%.0f us; glibc/psx throughput per pair %.2f %.2f %.2f, median "
           "%.2f", ips[1][1], gl99, ips[2][1], ps99, ratio[0], ratio[1],
           ratio[2], ratio[1]);
    CT_CHECK(ratio[1] <= 3,
             "producer/consumer throughput with psx broadcasting back to back: "
             "glibc's setresuid loop leaves %.2f times as many items (median "
             "of the pairs of runs; limit 3)", ratio[1]);
    CT_CHECK(ps99 <= 4 * gl99 + 5000,
             "wake-up latency p99 %.0f us with psx, %.0f us with glibc's loop",
             ps99, gl99);
    free(g_lat);
    return 0;
}

/* ------------------------------------------------------------ case 8 */

/*
 * signal-latency: how late a signal reaches an idle thread while another
 * thread broadcasts back to back. A thread psx holds (it has run the call
 * and waits for the release, with every signal blocked) takes the signal
 * only once released; glibc's setxid handler returns at once. The signal
 * comes from a kernel timer (SIGEV_THREAD_ID, every millisecond) aimed at
 * a thread asleep in a raw FUTEX_WAIT, so no thread of ours sends it (a
 * sending thread could itself be held between reading the clock and
 * sending); the handler compares the clock with the expiry that queued the
 * signal, and counts each later expiry the same delivery stood for
 * (timer_getoverrun()) as a sample of its own.
 */
#define SIGLAT_MAX 100000
#define SIGLAT_PERIOD_NS 1000000L
static timer_t g_sig_timer;
static long g_sig_start_ns, g_sig_next;
static long *g_siglat;
static int g_nsiglat;
static uint32_t g_sig_word; /* the target sleeps on it */
static int g_sig_stop;

static void on_usr2_latency(int sig)
{
    (void)sig;
    int saved = errno;
    long late = now_ns() - (g_sig_start_ns + g_sig_next * SIGLAT_PERIOD_NS);
    int overrun = timer_getoverrun(g_sig_timer);
    overrun = overrun > 0 ? overrun : 0;
    g_sig_next += 1 + overrun;
    /* The expiries this delivery stood for count too, each late from its
     * own time: one long delay is then many late samples, not one. */
    for (int i = 0; i <= overrun && g_nsiglat < SIGLAT_MAX; i++) {
        g_siglat[g_nsiglat++] = late - i * SIGLAT_PERIOD_NS;
    }
    errno = saved;
}

static void *sig_target(void *arg)
{
    __atomic_store_n((pid_t *)arg, ct_gettid(), __ATOMIC_RELEASE);
    while (!__atomic_load_n(&g_sig_stop, __ATOMIC_ACQUIRE)) {
        ct_raw6(SYS_futex, (long)&g_sig_word, FUTEX_WAIT_PRIVATE, 0, 0, 0,
                0);
    }
    return NULL;
}

static void sig_timer_start(pid_t tid)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGUSR2;
    sev._sigev_un._tid = tid;
    CT_CHECK(timer_create(CLOCK_MONOTONIC, &sev, &g_sig_timer) == 0,
             "timer_create: %s", strerror(errno));
    g_sig_next = 0;
    g_sig_start_ns = now_ns() + 10000000L;
    struct itimerspec its = {
        {0, SIGLAT_PERIOD_NS},
        {g_sig_start_ns / 1000000000L, g_sig_start_ns % 1000000000L}};
    CT_CHECK(timer_settime(g_sig_timer, TIMER_ABSTIME, &its, NULL) == 0,
             "timer_settime: %s", strerror(errno));
}

/* One run of ms milliseconds; kind as pc_run(). Returns the p99 in us and
 * stores the number of expiries in *n and the maximum in *max_us. */
static long sig_run(int kind, long ms, int *n, long *max_us)
{
    g_nsiglat = 0;
    g_sig_stop = 0;
    pid_t tid = 0;
    pthread_t t, b = 0;
    CT_CHECK(ct_thread(&t, sig_target, &tid, 0, 0) == 0, "thread");
    while (__atomic_load_n(&tid, __ATOMIC_ACQUIRE) == 0) {
        ct_sleep_ms(1);
    }
    loop_start(kind, &b);
    sig_timer_start(tid);
    ct_sleep_ms(ms);
    CT_CHECK(timer_delete(g_sig_timer) == 0, "timer_delete");
    loop_stop(kind, b);
    __atomic_store_n(&g_sig_stop, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&g_sig_word, 1, __ATOMIC_RELEASE);
    ct_raw6(SYS_futex, (long)&g_sig_word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
    pthread_join(t, NULL);
    g_sig_word = 0;
    *n = g_nsiglat;
    qsort(g_siglat, (size_t)g_nsiglat, sizeof(long), cmp_long);
    *max_us = g_nsiglat ? g_siglat[g_nsiglat - 1] / 1000 : 0;
    return g_nsiglat ? g_siglat[(long)g_nsiglat * 99 / 100] / 1000 : 0;
}

static int case_signal_latency(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setup();
    g_siglat = (long *)malloc(sizeof(long) * SIGLAT_MAX);
    CT_CHECK(g_siglat != NULL, "malloc");
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr2_latency;
    sa.sa_flags = SA_RESTART;
    CT_CHECK(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction");
    const char *names[3] = {"none", "glibc setresuid loop", "psx loop"};
    long p99[3][3];
    for (int rep = 0; rep < 3; rep++) {
        for (int k = 0; k <= 2; k++) {
            int n;
            long max_us;
            p99[k][rep] = sig_run(k, 1000, &n, &max_us);
            ct_log("%-22s %5d expiries, handler late by p99 %ld us, max %ld us",
                   names[k], n, p99[k][rep], max_us);
            CT_CHECK(n >= 900, "only %d timer expiries seen in a second", n);
        }
    }
    for (int k = 0; k <= 2; k++) {
        qsort(p99[k], 3, sizeof(long), cmp_long);
    }
    long gl99 = p99[1][1], ps99 = p99[2][1];
    ct_log("medians of p99: none %ld us, glibc %ld us, psx %ld us", p99[0][1],
           gl99, ps99);
    /* + 5 ms: one scheduling slice (CONFIG_HZ=250) is the machine's, not
     * psx's: under CPU hogs glibc's own loop shows it too, in most runs
     * but not all (header). Under emulation (PSX_TIMEOUT_SCALE, 6 in the
     * arm64 VM) the slack grows with the scale: there single rounds stall
     * 10-47 ms, glibc's loop's too (p99 38 ms once), and two such psx
     * rounds of three failed a CI run (10.8 and 33 ms against glibc's
     * 1.7 ms median) that the same program passes alone. */
    long slack_us = 5000L * ct_timeout_scale();
    CT_CHECK(ps99 <= 3 * gl99 + slack_us,
             "a signal to an idle thread is late by p99 %ld us with psx "
             "broadcasting, %ld us with glibc's loop (limit 3 x + %ld ms)",
             ps99, gl99, slack_us / 1000);
    free(g_siglat);
    return 0;
}

/* ------------------------------------------------------------ case 7 */

static void install_filter(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex_waitv, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof(f) / sizeof(f[0])), f};
    long r = ct_raw6(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                     SECCOMP_FILTER_FLAG_TSYNC, (long)&prog, 0, 0, 0);
    CT_CHECK(r == 0, "seccomp(TSYNC): %ld", r);
}

/* argv[1]: "probe", "glibc" or "psx" */
static int case_seccomp_child(int argc, char **argv)
{
    CT_CHECK(argc >= 2, "mode?");
    ct_check_library();
    struct ct_group *g = ct_start_idle(4, CT_IDLE_COND, 0, 0);
    ct_count_fd();
    install_filter();
    ct_sleep_ms(50);
    printf("filtered\n");
    if (strcmp(argv[1], "probe") == 0) {
        ct_raw6(SYS_futex_waitv, 0, 0, 0, 0, 0, 0);
        printf("survived futex_waitv\n");
        return 0;
    }
    uid_t u = getuid();
    for (int i = 0; i < 5; i++) {
        if (strcmp(argv[1], "glibc") == 0) {
            CT_CHECK(setresuid(u, u, u) == 0, "setresuid");
        } else {
            long r = psx_syscall3(CT_COUNT_CALL);
            CT_CHECK(r == CT_COUNT_BYTES, "broadcast %ld errno %d", r, errno);
        }
        ct_sleep_ms(30); /* idle threads back in their waits */
    }
    if (strcmp(argv[1], "psx") == 0) {
        for (int i = 0; i < 4; i++) {
            long n = ct_thread_count(0, ct_group_tid(g, i));
            CT_CHECK(n == 5, "idle thread %d ran %ld calls, want 5", i, n);
        }
    }
    ct_stop_idle(g);
    printf("survived\n");
    return 0;
}

static int case_seccomp(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setup();
    const char *modes[3] = {"probe", "glibc", "psx"};
    for (int m = 0; m < 3; m++) {
        const char *extra[] = {modes[m], NULL};
        char out[4096], err[16384];
        int st = 0;
        int r = ct_run_capture("seccomp-child", extra, 20000, out, sizeof(out),
                               err, sizeof(err), &st);
        ct_log("%s: %s; stdout: %s", modes[m],
               r == 0 ? ct_status_str(st) : "timed out", out);
        CT_CHECK(r == 0, "%s: helper hung; stderr:\n%s", modes[m], err);
        CT_CHECK(strstr(out, "filtered") != NULL,
                 "%s: the filter was not installed; stderr:\n%s", modes[m],
                 err);
        if (m == 0) {
            CT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
                     "the probe was not killed by the filter (%s)",
                     ct_status_str(st));
        } else {
            CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
                         strstr(out, "survived") != NULL,
                     "%s: a process whose filter kills on futex_waitv died "
                     "at a broadcast (%s); stderr:\n%s", modes[m],
                     ct_status_str(st), err);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- main */

static const struct ct_case cases[] = {
    {"ctx-ip", case_ctx_ip, 30, 0},
    {"ctx-sigmask", case_ctx_sigmask, 30, 0},
    {"ctx-redirect", case_ctx_redirect, 30, 0},
    {"altstack", case_altstack, 30, 0},
    {"headroom", case_headroom, 30, 0},
    {"eintr-kept", case_eintr_kept, 90, 0},
    {"eintr-not-invented", case_eintr_not_invented, 60, 0},
    {"wake-kept", case_wake_kept, 60, 0},
    {"seccomp-futex-waitv", case_seccomp, 90, 0},
    {"throughput", case_throughput, 60, 0},
    {"signal-latency", case_signal_latency, 60, 0},
    {"seccomp-child", case_seccomp_child, 30, CT_HELPER},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t13_invisible", argc, argv, cases);
}
