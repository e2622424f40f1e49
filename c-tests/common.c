/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared helpers of the psx C tests: see common.h. */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *ct_test = "?";
const char *ct_subcase = "driver";
void (*ct_idle_hook)(int index);

static char g_exe[4096];

/* ------------------------------------------------------------ raw syscalls */

long ct_raw6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
#if defined(__x86_64__)
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8),
                       "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a1;
    register long x1 __asm__("x1") = a2;
    register long x2 __asm__("x2") = a3;
    register long x3 __asm__("x3") = a4;
    register long x4 __asm__("x4") = a5;
    register long x5 __asm__("x5") = a6;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
#else
    int saved = errno;
    long r = syscall(nr, a1, a2, a3, a4, a5, a6);
    if (r == -1) {
        r = -errno;
    }
    errno = saved;
    return r;
#endif
}

void ct_block_sig33(int block)
{
    unsigned long bit = 1UL << 32;
    long r = ct_raw6(SYS_rt_sigprocmask, block ? SIG_BLOCK : SIG_UNBLOCK,
                     (long)&bit, 0, 8, 0, 0);
    CT_CHECK(r == 0, "raw rt_sigprocmask: %ld", r);
}

void ct_raw_sigaction(int sig, int model, void *handler, unsigned long flags,
                      unsigned long mask)
{
    struct ct_ksigaction glibc_one, act;
    long r = ct_raw6(SYS_rt_sigaction, model, 0, (long)&glibc_one, 8, 0, 0);
    CT_CHECK(r == 0, "rt_sigaction(%d) read: %ld", model, r);
    memset(&act, 0, sizeof(act));
    act.handler = handler;
    act.flags = flags | (glibc_one.flags & 0x04000000UL); /* SA_RESTORER */
    act.restorer = glibc_one.restorer;
    act.mask = mask;
    r = ct_raw6(SYS_rt_sigaction, sig, (long)&act, 0, 8, 0, 0);
    CT_CHECK(r == 0, "raw rt_sigaction(%d): %ld", sig, r);
}

pid_t ct_gettid(void)
{
    return (pid_t)ct_raw6(SYS_gettid, 0, 0, 0, 0, 0, 0);
}

long ct_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000L + ts.tv_nsec / 1000L;
}

long ct_now_ms(void)
{
    return ct_now_us() / 1000L;
}

int ct_once_per_ms(long *last, long ms)
{
    long now = ct_now_ms();
    long then = __atomic_load_n(last, __ATOMIC_RELAXED);
    return now - then >= ms &&
           __atomic_compare_exchange_n(last, &then, now, 0, __ATOMIC_RELAXED,
                                       __ATOMIC_RELAXED);
}

struct timespec ct_deadline(clockid_t clock, long ms)
{
    struct timespec until;
    clock_gettime(clock, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return until;
}

void ct_sleep_ms(long ms)
{
    struct timespec until = ct_deadline(CLOCK_MONOTONIC, ms);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) ==
           EINTR) {
    }
}

/* ------------------------------------------------------------------ output */

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
    char line[2048];
    int n = snprintf(line, sizeof(line), "%s[%s/%s] ", prefix, ct_test,
                     ct_subcase);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        n = 0;
    }
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0) {
        m = 0;
    }
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
    }
    line[len++] = '\n';
    ssize_t w = write(2, line, len);
    (void)w;
}

void ct_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("", fmt, ap);
    va_end(ap);
}

void ct_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("FAIL ", fmt, ap);
    va_end(ap);
    ct_print_table(0, "threads of the failing process");
    fflush(stdout);
    _exit(1);
}

void ct_fail_pid(pid_t pid, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("FAIL ", fmt, ap);
    va_end(ap);
    if (pid > 0) {
        ct_print_table(pid, "threads of the child process");
    }
    ct_print_table(0, "threads of the checking process");
    fflush(stdout);
    _exit(1);
}

static void outf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void outf(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
    }
    ssize_t w = write(2, line, (size_t)n);
    (void)w;
}

/* ------------------------------------------------------------------- /proc */

static int g_procfd = -1;

static int proc_fd(void)
{
    if (g_procfd < 0) {
        g_procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    return g_procfd;
}

void ct_proc_open(void)
{
    if (proc_fd() < 0) {
        ct_fail("cannot open /proc: %s", strerror(errno));
    }
}

void ct_proc_forget(void)
{
    g_procfd = -1;
}

static void task_path(char *buf, size_t size, pid_t pid, pid_t tid,
                      const char *file)
{
    if (pid == 0) {
        snprintf(buf, size, "self/task/%d/%s", (int)tid, file);
    } else {
        snprintf(buf, size, "%d/task/%d/%s", (int)pid, (int)tid, file);
    }
}

struct ct_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

int ct_list_tids(pid_t pid, pid_t *out, int max)
{
    char path[64];
    if (pid == 0) {
        snprintf(path, sizeof(path), "self/task");
    } else {
        snprintf(path, sizeof(path), "%d/task", (int)pid);
    }
    int pfd = proc_fd();
    if (pfd < 0) {
        return -1;
    }
    int fd = openat(pfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int count = 0;
    char buf[8192] __attribute__((aligned(8)));
    for (;;) {
        long n = ct_raw6(SYS_getdents64, fd, (long)buf, sizeof(buf), 0, 0, 0);
        if (n <= 0) {
            break;
        }
        for (long off = 0; off < n;) {
            struct ct_dirent64 *d = (struct ct_dirent64 *)(buf + off);
            off += d->d_reclen;
            if (d->d_name[0] < '0' || d->d_name[0] > '9') {
                continue;
            }
            if (count < max) {
                out[count] = (pid_t)atoi(d->d_name);
            }
            count++;
        }
    }
    close(fd);
    return count < max ? count : max;
}

int ct_read_task_file(pid_t pid, pid_t tid, const char *file, char *buf,
                      size_t size)
{
    char path[96];
    task_path(path, sizeof(path), pid, tid, file);
    int pfd = proc_fd();
    buf[0] = 0;
    if (pfd < 0) {
        return -1;
    }
    int fd = openat(pfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    size_t got = 0;
    while (got + 1 < size) {
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    buf[got] = 0;
    close(fd);
    return (int)got;
}

int ct_read_syscall(pid_t pid, pid_t tid, struct ct_syscall *out)
{
    char buf[256];
    if (ct_read_task_file(pid, tid, "syscall", buf, sizeof(buf)) <= 0) {
        return -1;
    }
    if (buf[0] < '0' || buf[0] > '9') {
        return -1; /* "running", or "-1 sp pc" */
    }
    char *p = buf;
    out->nr = strtol(p, &p, 10);
    for (int i = 0; i < 6; i++) {
        out->arg[i] = strtoul(p, &p, 0);
    }
    out->sp = strtoul(p, &p, 0);
    out->pc = strtoul(p, &p, 0);
    return 0;
}

int ct_read_status(pid_t pid, pid_t tid, char *buf, size_t size)
{
    return ct_read_task_file(pid, tid, "status", buf, size) > 0 ? 0 : -1;
}

int ct_field(const char *status, const char *field, char *out, size_t size)
{
    size_t flen = strlen(field);
    const char *p = status;
    out[0] = 0;
    while (p && *p) {
        if (strncmp(p, field, flen) == 0 && p[flen] == ':') {
            p += flen + 1;
            while (*p == ' ' || *p == '\t') {
                p++;
            }
            size_t i = 0;
            while (p[i] && p[i] != '\n' && i + 1 < size) {
                out[i] = p[i];
                i++;
            }
            while (i > 0 && (out[i - 1] == ' ' || out[i - 1] == '\t')) {
                i--;
            }
            out[i] = 0;
            return 0;
        }
        p = strchr(p, '\n');
        if (p) {
            p++;
        }
    }
    return -1;
}

unsigned long long ct_field_hex(const char *status, const char *field)
{
    char v[64];
    if (ct_field(status, field, v, sizeof(v)) != 0) {
        return ~0ULL;
    }
    return strtoull(v, NULL, 16);
}

long ct_field_col(const char *status, const char *field, int col)
{
    char v[128];
    if (ct_field(status, field, v, sizeof(v)) != 0) {
        return -1;
    }
    char *p = v;
    for (int i = 0; i < col; i++) {
        while (*p && *p != ' ' && *p != '\t') {
            p++;
        }
        while (*p == ' ' || *p == '\t') {
            p++;
        }
    }
    if (!*p) {
        return -1;
    }
    return strtol(p, NULL, 10);
}

int ct_is_zombie(const char *status)
{
    char st[32];
    if (ct_field(status, "State", st, sizeof(st)) != 0) {
        return 1;
    }
    return st[0] == 'Z' || st[0] == 'X';
}

static pid_t g_tids[CT_MAX_TIDS];

static void table_header(void)
{
    outf("  %-7s %-15s %-2s %-3s %-5s %-16s %-16s %-15s %-6s %-16s %-16s "
         "%s\n",
         "TID", "Name", "St", "NNP", "Count", "CapEff", "CapBnd",
         "Uid(r/e/s/f)", "Gid(e)", "SigBlk", "SigPnd", "wchan");
}

static void table_line(pid_t pid, pid_t tid, const char *status,
                       const char *mark)
{
    char name[32], state[32], nnp[8], secf[24], capeff[24], capbnd[24];
    char blk[24], pnd[24], wchan[64];
    ct_field(status, "Name", name, sizeof(name));
    ct_field(status, "State", state, sizeof(state));
    ct_field(status, "NoNewPrivs", nnp, sizeof(nnp));
    long count = ct_thread_count(pid, tid);
    if (count >= 0) {
        snprintf(secf, sizeof(secf), "%ld", count);
    } else {
        strcpy(secf, "?");
    }
    ct_field(status, "CapEff", capeff, sizeof(capeff));
    ct_field(status, "CapBnd", capbnd, sizeof(capbnd));
    ct_field(status, "SigBlk", blk, sizeof(blk));
    ct_field(status, "SigPnd", pnd, sizeof(pnd));
    char uid[48];
    snprintf(uid, sizeof(uid), "%ld/%ld/%ld/%ld",
             ct_field_col(status, "Uid", 0), ct_field_col(status, "Uid", 1),
             ct_field_col(status, "Uid", 2), ct_field_col(status, "Uid", 3));
    if (ct_read_task_file(pid, tid, "wchan", wchan, sizeof(wchan)) < 0) {
        strcpy(wchan, "?");
    }
    state[1] = 0;
    outf("  %-7d %-15.15s %-2s %-3s %-5s %-16s %-16s %-15s %-6ld %-16s "
         "%-16s %-12s %s\n",
         (int)tid, name, state, nnp, secf, capeff, capbnd, uid,
         ct_field_col(status, "Gid", 1), blk, pnd, wchan, mark);
}

/* Prints the table; with pred, marks bad threads and, for big processes,
 * prints only those. Returns the number of bad live threads. */
static int table(pid_t pid, const char *title, ct_pred pred, void *arg,
                 int print)
{
    static char status[4096];
    int n = ct_list_tids(pid, g_tids, CT_MAX_TIDS);
    int bad = 0, live = 0, shown = 0;
    if (print) {
        outf("  --- %s (pid %d, %d threads) ---\n", title,
             pid ? (int)pid : (int)getpid(), n);
        if (n < 0) {
            outf("  (cannot list /proc/%s/task)\n", pid ? "<pid>" : "self");
            return 0;
        }
        table_header();
    }
    for (int i = 0; i < n; i++) {
        if (ct_read_status(pid, g_tids[i], status, sizeof(status)) != 0) {
            continue; /* thread gone */
        }
        int zombie = ct_is_zombie(status);
        int ok = 1;
        if (!zombie) {
            live++;
            if (pred) {
                ok = pred(g_tids[i], status, arg);
            }
        }
        if (!ok) {
            bad++;
        }
        if (print && (n <= 200 || !ok) && shown < 400) {
            shown++;
            table_line(pid, g_tids[i], status,
                       zombie ? "(zombie, not checked)" : ok ? "" : "<-- BAD");
        }
    }
    if (print && shown < n) {
        outf("  (%d of %d threads shown: %d live, %d bad)\n", shown, n, live,
             bad);
    }
    return bad;
}

void ct_print_table(pid_t pid, const char *title)
{
    table(pid, title, NULL, NULL, 1);
}

int ct_count_live(pid_t pid)
{
    static char status[4096];
    int n = ct_list_tids(pid, g_tids, CT_MAX_TIDS);
    int live = 0;
    for (int i = 0; i < n; i++) {
        if (ct_read_status(pid, g_tids[i], status, sizeof(status)) == 0 &&
            !ct_is_zombie(status)) {
            live++;
        }
    }
    return live;
}

int ct_check_threads(pid_t pid, const char *what, ct_pred pred, void *arg,
                     int min_live)
{
    int live = ct_count_live(pid);
    int bad = table(pid, what, pred, arg, 0);
    if (bad == 0 && live >= min_live) {
        return 0;
    }
    ct_log("check \"%s\": %d bad thread(s), %d live (expected at least %d)",
           what, bad, live, min_live);
    /* Print again, marking the bad threads: it is what was seen. */
    bad = table(pid, what, pred, arg, 1);
    return bad ? bad : 1;
}

void ct_require_threads(pid_t pid, const char *what, ct_pred pred, void *arg,
                        int min_live)
{
    if (ct_check_threads(pid, what, pred, arg, min_live) != 0) {
        outf("FAIL [%s/%s] not every thread as expected: %s\n", ct_test,
             ct_subcase, what);
        fflush(stdout);
    _exit(1);
    }
}

int ct_pred_eq(pid_t tid, const char *status, void *arg)
{
    (void)tid;
    const struct ct_eq *e = (const struct ct_eq *)arg;
    char v[256];
    if (ct_field(status, e->field, v, sizeof(v)) != 0) {
        return 0;
    }
    return strcmp(v, e->value) == 0;
}

int ct_pred_bit(pid_t tid, const char *status, void *arg)
{
    (void)tid;
    const struct ct_bit *b = (const struct ct_bit *)arg;
    unsigned long long v = ct_field_hex(status, b->field);
    if (v == ~0ULL) {
        return 0;
    }
    int is_set = (int)((v >> b->bit) & 1);
    return is_set == (b->set ? 1 : 0);
}

void ct_require_all(pid_t pid, const char *field, const char *value,
                    int min_live)
{
    struct ct_eq e = {field, value};
    char what[128];
    snprintf(what, sizeof(what), "every live thread has %s = %s", field,
             value);
    ct_require_threads(pid, what, ct_pred_eq, &e, min_live);
}

void ct_require_all_bit(pid_t pid, const char *field, int bit, int set,
                        int min_live)
{
    struct ct_bit b = {field, bit, set};
    char what[128];
    snprintf(what, sizeof(what), "every live thread has bit %d of %s %s", bit,
             field, set ? "set" : "clear");
    ct_require_threads(pid, what, ct_pred_bit, &b, min_live);
}

/* -------------------------------------------------------- library identity */

void ct_check_library_mode(const char *mode)
{
    const char *want = getenv("PSX_TEST_SO");
    if (!mode || !*mode) {
        ct_fail("PSX_TEST_MODE is not set: run the tests through "
                "c-tests/run.sh, which says which library is under test");
    }
    int shared = strcmp(mode, "shared") == 0;
    if (shared && (!want || !*want)) {
        ct_fail("PSX_TEST_SO is not set: run the tests through c-tests/run.sh");
    }
    int pfd = proc_fd();
    int fd = pfd < 0 ? -1 : openat(pfd, "self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ct_fail("cannot read /proc/self/maps: %s", strerror(errno));
    }
    static char buf[65536 + 4096];
    size_t have = 0;
    int found = 0, other = 0;
    char other_path[512] = "";
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n > 0) {
            have += (size_t)n;
        }
        buf[have] = 0;
        char *line = buf;
        char *nl;
        while ((nl = strchr(line, '\n')) != NULL ||
               (n <= 0 && *line)) {
            if (nl) {
                *nl = 0;
            }
            char *path = strchr(line, '/');
            if (path) {
                const char *base = strrchr(path, '/') + 1;
                if (strncmp(base, "libpsx", 6) == 0) {
                    if (shared && strcmp(path, want) == 0) {
                        found = 1;
                    } else {
                        other = 1;
                        snprintf(other_path, sizeof(other_path), "%s", path);
                    }
                }
            }
            if (!nl) {
                line += strlen(line);
                break;
            }
            line = nl + 1;
        }
        size_t rest = have - (size_t)(line - buf);
        memmove(buf, line, rest);
        have = rest;
        if (n <= 0) {
            break;
        }
    }
    close(fd);
    if (other) {
        ct_fail("a libpsx that is not the one under test is mapped: %s "
                "(mode %s, expected %s)",
                other_path, mode, shared ? want : "no libpsx mapped");
    }
    if (shared && !found) {
        ct_fail("libpsx under test (%s) is not mapped into this process", want);
    }
}

void ct_check_library(void)
{
    ct_check_library_mode(getenv("PSX_TEST_MODE"));
}

/* ------------------------------------------------------------------ threads */

/* Under -Wl,--wrap=pthread_create this reference resolves to the real
 * pthread_create; in programs linked without --wrap it stays null. */
extern int __real_pthread_create(pthread_t *, const pthread_attr_t *,
                                 void *(*)(void *), void *)
    __attribute__((weak));

int ct_thread(pthread_t *t, void *(*fn)(void *), void *arg, int unwrapped,
              size_t stack)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (stack) {
        pthread_attr_setstacksize(&attr, stack);
    }
    int r;
    if (unwrapped && __real_pthread_create) {
        r = __real_pthread_create(t, &attr, fn, arg);
    } else {
        r = pthread_create(t, &attr, fn, arg);
    }
    pthread_attr_destroy(&attr);
    return r;
}

struct ct_group {
    int n;
    enum ct_idle_kind kind;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_cond_t started_cv;
    int started;
    int stop;
    int pipefd[2];
    pthread_t *th;
    pid_t *tids;
    struct ct_garg *args;
};

struct ct_garg {
    struct ct_group *g;
    int i;
};

static void *idle_main(void *p)
{
    struct ct_garg *a = (struct ct_garg *)p;
    struct ct_group *g = a->g;
    g->tids[a->i] = ct_gettid();
    if (ct_idle_hook) {
        ct_idle_hook(a->i);
    }
    pthread_mutex_lock(&g->mu);
    g->started++;
    pthread_cond_broadcast(&g->started_cv);
    if (g->kind == CT_IDLE_COND) {
        while (!g->stop) {
            pthread_cond_wait(&g->cv, &g->mu);
        }
        pthread_mutex_unlock(&g->mu);
        return NULL;
    }
    pthread_mutex_unlock(&g->mu);
    if (g->kind == CT_IDLE_SLEEP) {
        while (!__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE)) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
    } else {
        char c;
        while (read(g->pipefd[0], &c, 1) < 0 && errno == EINTR) {
        }
    }
    return NULL;
}

struct ct_group *ct_start_idle(int n, enum ct_idle_kind kind,
                               int mix_unwrapped, size_t stack)
{
    struct ct_group *g = (struct ct_group *)calloc(1, sizeof(*g));
    if (!g) {
        ct_fail("out of memory");
    }
    g->n = n;
    g->kind = kind;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    pthread_cond_init(&g->started_cv, NULL);
    g->th = (pthread_t *)calloc((size_t)n + 1, sizeof(pthread_t));
    g->tids = (pid_t *)calloc((size_t)n + 1, sizeof(pid_t));
    g->args = (struct ct_garg *)calloc((size_t)n + 1, sizeof(struct ct_garg));
    if (!g->th || !g->tids || !g->args) {
        ct_fail("out of memory");
    }
    if (kind == CT_IDLE_READ && pipe2(g->pipefd, O_CLOEXEC) != 0) {
        ct_fail("pipe: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        g->args[i].g = g;
        g->args[i].i = i;
        int r = ct_thread(&g->th[i], idle_main, &g->args[i],
                          mix_unwrapped && i % 3 == 1, stack);
        if (r != 0) {
            ct_fail("creating idle thread %d of %d: %s", i, n, strerror(r));
        }
    }
    pthread_mutex_lock(&g->mu);
    while (g->started < n) {
        pthread_cond_wait(&g->started_cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return g;
}

void ct_stop_idle(struct ct_group *g)
{
    pthread_mutex_lock(&g->mu);
    __atomic_store_n(&g->stop, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (g->kind == CT_IDLE_READ) {
        for (int i = 0; i < g->n; i++) {
            ssize_t w = write(g->pipefd[1], "x", 1);
            (void)w;
        }
    }
    for (int i = 0; i < g->n; i++) {
        pthread_join(g->th[i], NULL);
    }
    if (g->kind == CT_IDLE_READ) {
        close(g->pipefd[0]);
        close(g->pipefd[1]);
    }
    free(g->th);
    free(g->tids);
    free(g->args);
    free(g);
}

pid_t ct_group_tid(struct ct_group *g, int i)
{
    return g->tids[i];
}

int ct_group_size(struct ct_group *g)
{
    return g->n;
}

/* ---------------------------------------------------------------- processes */

pid_t ct_spawn(const char *name, const char *const *extra, const int fds[3])
{
    const char *argv[32];
    int argc = 0;
    argv[argc++] = g_exe;
    argv[argc++] = name;
    for (int i = 0; extra && extra[i] && argc < 31; i++) {
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        ct_fail("fork: %s", strerror(errno));
    }
    if (pid == 0) {
        setpgid(0, 0);
        for (int i = 0; i < 3; i++) {
            if (fds && fds[i] >= 0 && fds[i] != i) {
                dup2(fds[i], i);
            }
        }
        execv(g_exe, (char *const *)argv);
        outf("exec %s: %s\n", g_exe, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

int ct_wait(pid_t pid, long timeout_ms, int *status)
{
    long deadline = ct_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG | __WALL);
        if (r == pid) {
            if (status) {
                *status = st;
            }
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            if (status) {
                *status = -1;
            }
            return 0;
        }
        if (ct_now_ms() >= deadline) {
            return -1;
        }
        ct_sleep_ms(5);
    }
}

void ct_kill(pid_t pid)
{
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    /* Reap with -1: a thread of pid we ptrace()d must be reaped by us
     * before pid itself can be. */
    for (;;) {
        int st;
        pid_t r = waitpid(-1, &st, __WALL);
        if (r == pid || (r < 0 && errno != EINTR)) {
            break;
        }
    }
}

const char *ct_status_str(int status)
{
    static char buf[64];
    if (status == -1) {
        snprintf(buf, sizeof(buf), "lost (waitpid failed)");
    } else if (WIFEXITED(status)) {
        snprintf(buf, sizeof(buf), "exit %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, sizeof(buf), "killed by signal %d (%s)",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else {
        snprintf(buf, sizeof(buf), "status 0x%x", status);
    }
    return buf;
}

size_t ct_read_fd(int fd, char *buf, size_t size, long timeout_ms,
                  const char *needle)
{
    long deadline = ct_now_ms() + timeout_ms;
    size_t got = 0;
    buf[0] = 0;
    while (got + 1 < size) {
        if (needle && strstr(buf, needle)) {
            break;
        }
        long left = deadline - ct_now_ms();
        if (left <= 0) {
            break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        buf[got] = 0;
    }
    return got;
}

int ct_run_capture(const char *name, const char *const *extra,
                   long timeout_ms, char *out, size_t outsz, char *err,
                   size_t errsz, int *status)
{
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
        ct_fail("pipe: %s", strerror(errno));
    }
    int fds[3] = {-1, po[1], pe[1]};
    pid_t pid = ct_spawn(name, extra, fds);
    close(po[1]);
    close(pe[1]);
    char dummy[256];
    char *bufs[2] = {out ? out : dummy, err ? err : dummy};
    size_t sizes[2] = {out ? outsz : sizeof(dummy), err ? errsz : sizeof(dummy)};
    size_t got[2] = {0, 0};
    int open_fds[2] = {po[0], pe[0]};
    bufs[0][0] = bufs[1][0] = 0;
    long deadline = ct_now_ms() + timeout_ms;
    int result = 0;
    while (open_fds[0] >= 0 || open_fds[1] >= 0) {
        long left = deadline - ct_now_ms();
        if (left <= 0) {
            result = -1;
            break;
        }
        struct pollfd p[2] = {{open_fds[0], POLLIN, 0}, {open_fds[1], POLLIN, 0}};
        int r = poll(p, 2, (int)left);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (open_fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            char tmp[4096];
            ssize_t n = read(open_fds[i], tmp, sizeof(tmp));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                close(open_fds[i]);
                open_fds[i] = -1;
                continue;
            }
            size_t room = sizes[i] - 1 - got[i];
            size_t take = (size_t)n < room ? (size_t)n : room;
            if (bufs[i] != dummy) {
                memcpy(bufs[i] + got[i], tmp, take);
                got[i] += take;
                bufs[i][got[i]] = 0;
            }
        }
    }
    if (result == 0 && ct_wait(pid, deadline - ct_now_ms() + 1, status) != 0) {
        result = -1;
    }
    if (result != 0) {
        ct_log("helper \"%s\" did not finish within %ld ms", name, timeout_ms);
        ct_print_table(pid, "threads of the helper that did not finish");
        ct_kill(pid);
    }
    for (int i = 0; i < 2; i++) {
        if (open_fds[i] >= 0) {
            close(open_fds[i]);
        }
    }
    return result;
}

int ct_count_lines(const char *text)
{
    int lines = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        for (size_t i = 0; i < len; i++) {
            if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') {
                lines++;
                break;
            }
        }
        if (!nl) {
            break;
        }
        p = nl + 1;
    }
    return lines;
}

/* -------------------------------------------------------------------- misc */

void ct_require_root(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    long r = ct_raw6(SYS_capget, (long)&h, (long)d, 0, 0, 0, 0);
    const int need[] = {CAP_SYS_ADMIN, CAP_SETPCAP, CAP_SYS_CHROOT,
                        CAP_SETUID, CAP_SETGID, CAP_SYS_PTRACE};
    if (geteuid() != 0 || r != 0) {
        ct_fail("this test needs root (CI runs as root); euid is %d",
                (int)geteuid());
    }
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        int c = need[i];
        if (!(d[c / 32].effective & (1u << (c % 32)))) {
            ct_fail("this test needs capability %d in the effective set "
                    "(run as root)",
                    c);
        }
    }
}

void ct_drop_cap_self(int cap, int perm)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    long r = ct_raw6(SYS_capget, (long)&h, (long)d, 0, 0, 0, 0);
    if (r != 0) {
        ct_fail("capget: %ld", r);
    }
    d[cap / 32].effective &= ~(1u << (cap % 32));
    if (perm) {
        d[cap / 32].permitted &= ~(1u << (cap % 32));
        d[cap / 32].inheritable &= ~(1u << (cap % 32));
    }
    h.pid = 0;
    r = ct_raw6(SYS_capset, (long)&h, (long)d, 0, 0, 0, 0);
    if (r != 0) {
        ct_fail("capset (drop cap %d on thread %d): %ld", cap,
                (int)ct_gettid(), r);
    }
}

/* ------------------------------------------------------------------- driver */

static volatile pid_t g_running;

static void on_term(int sig)
{
    pid_t p = g_running;
    if (p > 0) {
        kill(-p, SIGKILL);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

int ct_hold_mode(void)
{
    const char *v = getenv("PSX_HOLD_THREADS");
    return v && strcmp(v, "1") == 0;
}

/* A case that needs one mode of psx's engine runs in a process loaded
 * with it: psx reads PSX_HOLD_THREADS once, at load, so set it and start
 * again. (Its helper processes inherit the environment.) */
static void set_mode_or_reexec(int flags, char **argv)
{
    int want = (flags & CT_HOLD) != 0;
    if (!(flags & (CT_HOLD | CT_NO_HOLD)) || ct_hold_mode() == want) {
        return;
    }
    if (want) {
        setenv("PSX_HOLD_THREADS", "1", 1);
    } else {
        unsetenv("PSX_HOLD_THREADS");
    }
    execv(g_exe, argv);
    outf("exec %s: %s\n", g_exe, strerror(errno));
    _exit(127);
}

int ct_main(const char *test, int argc, char **argv,
            const struct ct_case *cases)
{
    ct_test = test;
    ssize_t n = readlink("/proc/self/exe", g_exe, sizeof(g_exe) - 1);
    if (n <= 0) {
        snprintf(g_exe, sizeof(g_exe), "%s", argv[0]);
    } else {
        g_exe[n] = 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2) {
        for (const struct ct_case *c = cases; c->name; c++) {
            if (strcmp(c->name, argv[1]) == 0) {
                ct_subcase = c->name;
                set_mode_or_reexec(c->flags, argv);
                return c->fn(argc - 1, argv + 1);
            }
        }
        outf("%s: unknown case %s\n", test, argv[1]);
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    const char *only = getenv("CT_ONLY");
    const char *keep = getenv("PSX_KEEP_GOING");
    int keep_going = keep && *keep;
    int timeout_scale = ct_timeout_scale();
    int ran = 0, failed = 0;
    for (const struct ct_case *c = cases; c->name; c++) {
        if ((c->flags & CT_HELPER) || (only && *only && strcmp(only, c->name) != 0)) {
            continue;
        }
        long t0 = ct_now_ms();
        pid_t pid = ct_spawn(c->name, NULL, NULL);
        g_running = pid;
        int st = 0;
        int timeout_s = (c->timeout_s > 0 ? c->timeout_s : 20) * timeout_scale;
        if (ct_wait(pid, timeout_s * 1000L, &st) != 0) {
            outf("FAIL [%s/%s] timed out after %d s (a hang); what its threads "
                 "were doing:\n",
                 test, c->name, timeout_s);
            ct_print_table(pid, "threads of the hung process");
            ct_kill(pid);
            g_running = 0;
            if (!keep_going) {
                return 1;
            }
            failed++;
            continue;
        }
        g_running = 0;
        /* Whatever the case started in its process group goes with it. */
        kill(-pid, SIGKILL);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            outf("FAIL [%s/%s] %s\n", test, c->name, ct_status_str(st));
            if (!keep_going) {
                return 1;
            }
            failed++;
            continue;
        }
        printf("  ok   %s/%s (%ld ms)\n", test, c->name, ct_now_ms() - t0);
        ran++;
    }
    if (failed) {
        return 1;
    }
    if (ran == 0) {
        outf("%s: no case ran (CT_ONLY=%s?)\n", test, only ? only : "");
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------- broadcast counter */

/* Never touched: /dev/null does not read what it is given. */
char ct_count_buf[CT_COUNT_BYTES];

int ct_count_fd(void)
{
    static int fd = -1;
    if (fd < 0) {
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            ct_fail("open /dev/null: %s", strerror(errno));
        }
    }
    return fd;
}

long ct_thread_count(pid_t pid, pid_t tid)
{
    char buf[1024];
    if (ct_read_task_file(pid, tid, "io", buf, sizeof(buf)) <= 0) {
        return -1;
    }
    for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (strncmp(p, "wchar:", 6) == 0) {
            return strtol(p + 6, NULL, 10) / CT_COUNT_BYTES;
        }
    }
    return -1;
}

static pid_t ct_watchdog_pid;

void *ct_watchdog_start(long stall_ms, void (*report)(const void *page),
                        const char *title)
{
    long *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CT_CHECK(page != MAP_FAILED, "mmap");
    *page = ct_now_ms();
    pid_t parent = getpid();
    ct_watchdog_pid = fork();
    CT_CHECK(ct_watchdog_pid >= 0, "fork");
    if (ct_watchdog_pid > 0) {
        return page;
    }
    for (;;) {
        ct_sleep_ms(200);
        if (getppid() != parent) {
            _exit(0);
        }
        if (ct_now_ms() - __atomic_load_n(page, __ATOMIC_ACQUIRE) > stall_ms) {
            report(page);
            ct_print_table(parent, title);
            kill(parent, SIGKILL);
            _exit(1);
        }
    }
}

void ct_watchdog_beat(void *page)
{
    __atomic_store_n((long *)page, ct_now_ms(), __ATOMIC_RELEASE);
}

void ct_watchdog_stop(void)
{
    if (ct_watchdog_pid > 0) {
        kill(ct_watchdog_pid, SIGKILL);
        waitpid(ct_watchdog_pid, NULL, 0);
        ct_watchdog_pid = 0;
    }
}

/* Threads of this process now: the link count of /proc/self/task is 2 +
 * nr_threads. */
static int ct_nr_threads(void)
{
    struct stat st;
    CT_CHECK(stat("/proc/self/task", &st) == 0, "stat /proc/self/task");
    return (int)st.st_nlink - 2;
}

void ct_snap_take(struct ct_snap *s, long (*value)(pid_t tid), int whole)
{
    pid_t tids[CT_SNAP_MAX];
    int n;
    for (int tries = 0;; tries++) {
        s->taken = ct_boot_ticks();
        int c0 = whole ? ct_nr_threads() : 0;
        n = ct_list_tids(0, tids, CT_SNAP_MAX);
        CT_CHECK(n > 0 && n < CT_SNAP_MAX, "listing /proc/self/task: %d", n);
        if (!whole || (n == c0 && ct_nr_threads() == c0)) {
            break;
        }
        CT_CHECK(tries < 1000, "no stable listing of /proc/self/task");
        ct_sleep_ms(1);
    }
    s->n = 0;
    for (int i = 0; i < n; i++) {
        unsigned long long start = ct_thread_start(tids[i]);
        long v = value(tids[i]);
        /* Read after the value: a thread that ended between the two, and
         * a newer one with its id, would no longer match. */
        if (v >= 0 && start && ct_thread_start(tids[i]) == start) {
            s->tid[s->n] = tids[i];
            s->v[s->n] = v;
            s->start[s->n] = start;
            s->n++;
        }
    }
}

unsigned long long ct_boot_ticks(void)
{
    struct timespec ts;
    CT_CHECK(clock_gettime(CLOCK_BOOTTIME, &ts) == 0, "clock_gettime");
    unsigned long long hz = (unsigned long long)sysconf(_SC_CLK_TCK);
    return (unsigned long long)ts.tv_sec * hz +
           (unsigned long long)ts.tv_nsec / (1000000000ULL / hz);
}

unsigned long long ct_thread_start(pid_t tid)
{
    char buf[1024];
    if (ct_read_task_file(0, tid, "stat", buf, sizeof(buf)) <= 0) {
        return 0;
    }
    /* Field 22 (starttime); fields 3 on follow the ')' that ends comm. */
    const char *p = strrchr(buf, ')');
    unsigned long long start = 0;
    for (int field = 2; p && field < 22; field++) {
        p = strchr(p + 1, ' ');
    }
    if (p) {
        start = strtoull(p + 1, NULL, 10);
    }
    return start;
}

long ct_snap_find_same(const struct ct_snap *s, const struct ct_snap *of,
                       int i)
{
    for (int k = 0; k < s->n; k++) {
        if (s->tid[k] == of->tid[i] && s->start[k] == of->start[i]) {
            return s->v[k];
        }
    }
    return -1;
}

int ct_snap_index(const struct ct_snap *s, pid_t tid)
{
    for (int i = 0; i < s->n; i++) {
        if (s->tid[i] == tid) {
            return i;
        }
    }
    return -1;
}

long ct_snap_find(const struct ct_snap *s, pid_t tid)
{
    int i = ct_snap_index(s, tid);
    return i < 0 ? -1 : s->v[i];
}

static void *ct_child_idle(void *arg)
{
    for (;;) {
        pause();
    }
    return arg;
}

/* Where a child of fork() reports its result: stored just before _exit, so
 * that a parent whose children are reaped by the kernel can still read it. */
static volatile int *ct_child_result;

static __attribute__((noreturn)) void ct_child_exit(int code)
{
    if (ct_child_result) {
        __atomic_store_n(ct_child_result, code, __ATOMIC_RELEASE);
    }
    _exit(code);
}

void ct_fork_child_broadcasts(int threads, int broadcasts,
                              long (*count_call)(void))
{
    alarm(10);
    pthread_t t;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&t, NULL, ct_child_idle, NULL) != 0) {
            ct_child_exit(20);
        }
    }
    pid_t tids[64];
    for (int k = 1; k <= broadcasts; k++) {
        if (count_call() != CT_COUNT_BYTES) {
            ct_child_exit(30 + k);
        }
        int n = ct_list_tids(0, tids, 64);
        if (n != threads + 1) {
            ct_child_exit(40 + k);
        }
        for (int i = 0; i < n; i++) {
            if (ct_thread_count(0, tids[i]) != k) {
                ct_child_exit(50 + k);
            }
        }
    }
    ct_child_exit(0);
}

void ct_fork_child_broadcasts_to(int threads, int broadcasts,
                                 long (*count_call)(void), volatile int *result)
{
    ct_child_result = result;
    ct_fork_child_broadcasts(threads, broadcasts, count_call);
}

int ct_timeout_scale(void)
{
    /* c-tests/run.sh: larger under emulation (the arm64 VM). */
    const char *scale = getenv("PSX_TIMEOUT_SCALE");
    return scale && atoi(scale) > 0 ? atoi(scale) : 1;
}

int ct_wait_exit(int pidfd, long timeout_ms)
{
    if (pidfd < 0) {
        return 0; /* pidfd_open() found it already gone and reaped */
    }
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    long deadline = ct_now_ms() + timeout_ms;
    for (;;) {
        long left = deadline - ct_now_ms();
        int r = poll(&p, 1, left > 0 ? (int)left : 0);
        if (r == 1) {
            return 0;
        }
        if ((r == 0 && left <= 0) || (r < 0 && errno != EINTR)) {
            return -1;
        }
    }
}

void ct_counts_expect(struct ct_counts *c, pid_t tid, long lo, long hi)
{
    if (c->n >= (int)(sizeof(c->tid) / sizeof(c->tid[0]))) {
        ct_fail("too many threads in a ct_counts table");
    }
    c->tid[c->n] = tid;
    c->lo[c->n] = lo;
    c->hi[c->n] = hi;
    c->n++;
}

int ct_pred_counts(pid_t tid, const char *status, void *arg)
{
    (void)status;
    const struct ct_counts *c = (const struct ct_counts *)arg;
    for (int i = 0; i < c->n; i++) {
        if (c->tid[i] != tid) {
            continue;
        }
        long n = ct_thread_count(0, tid);
        if (n < c->lo[i] || n > c->hi[i]) {
            ct_log("thread %d ran the counting call %ld time(s), want %ld..%ld",
                   (int)tid, n, c->lo[i], c->hi[i]);
            return 0;
        }
        return 1;
    }
    return 1;
}
