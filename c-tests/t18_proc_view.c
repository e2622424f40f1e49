/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * psx learns the threads of the process from /proc/self/task. Two ways that
 * view can be wrong or missing, and what psx must do then: reach every
 * thread, or keep waiting; never return success while a thread kept its
 * state. Each thread checks itself with prctl(PR_GET_NO_NEW_PRIVS).
 *
 *  pid-namespace   the program, with psx loaded, enters a new pid namespace
 *                  (unshare(CLONE_NEWPID | CLONE_NEWNS)), forks and mounts
 *                  a fresh /proc in the child. The /proc psx opened at load
 *                  time numbers the child's threads in the parent namespace,
 *                  where rt_tgsigqueueinfo finds none of them (ESRCH): the
 *                  engine before this test marked all of them gone and
 *                  returned success with 3 of 3 threads unchanged, every
 *                  run (an adversarial review found it). Needs root.
 *  fd-limit        the process is at its RLIMIT_NOFILE when it broadcasts,
 *                  so /proc/self/task cannot be opened; its threads were
 *                  made through psx's wrapper (this test links with --wrap),
 *                  so the registry knows them, and the thread count (which
 *                  needs no descriptor) confirms it. The engine before this
 *                  test ended on the registry listing alone, and missed a
 *                  thread whose creation had not reached the wrapper's
 *                  registration (1 in 4 runs) or all of them without --wrap.
 *  io-uring-worker an io_uring read submitted with IOSQE_ASYNC makes the
 *                  kernel start a worker (iou-wrk-*) in our thread group: it
 *                  is listed and counted with our threads but never runs a
 *                  signal handler. Two broadcasts must return (the engine
 *                  before this test waited for it for ever) and reach every
 *                  real thread. The worker is seen in /proc first.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/psx_syscall.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <string.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NT 3

static volatile int g_ask;
static volatile int g_nnp[NT];

static void *worker(void *arg)
{
    while (!g_ask) {
        ct_sleep_ms(1);
    }
    g_nnp[(long)arg] = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    return NULL;
}

/* Starts NT threads, runs one broadcast of no_new_privs, and checks that
 * the caller and every thread have it. */
static void broadcast_and_check(const char *where)
{
    pthread_t t[NT];
    for (long i = 0; i < NT; i++) {
        CT_CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0,
                 "pthread_create");
    }
    long r = psx_syscall6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    g_ask = 1;
    for (int i = 0; i < NT; i++) {
        CT_CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
    }
    CT_CHECK(r == 0, "%s: psx_syscall6 returned %ld", where, r);
    CT_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "%s: caller", where);
    for (int i = 0; i < NT; i++) {
        CT_CHECK(g_nnp[i] == 1, "%s: psx returned success but thread %d has "
                 "no_new_privs=%d", where, i, g_nnp[i]);
    }
    ct_log("%s: the caller and %d threads have no_new_privs", where, NT);
}

static int case_pidns(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_check_library();
    ct_require_root();
    CT_CHECK(unshare(CLONE_NEWPID | CLONE_NEWNS) == 0, "unshare: %s",
             strerror(errno));
    pid_t child = fork();
    CT_CHECK(child >= 0, "fork");
    if (child == 0) {
        /* Keep the new /proc out of the parent's namespace: "/" is not a
         * mount point in a chroot (the glibc userlands), /proc is. */
        CT_CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 ||
                     mount(NULL, "/proc", NULL, MS_REC | MS_PRIVATE, NULL) == 0,
                 "mount --make-rprivate / (or /proc): %s", strerror(errno));
        CT_CHECK(mount("proc", "/proc", "proc", 0, NULL) == 0, "mount /proc");
        CT_CHECK(getpid() == 1, "not pid 1 in the new namespace");
        broadcast_and_check("new pid namespace");
        _exit(0);
    }
    int st = 0;
    CT_CHECK(waitpid(child, &st, 0) == child, "waitpid");
    CT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child failed: %s",
             ct_status_str(st));
    return 0;
}

static int case_fd_limit(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_check_library();
    struct rlimit lim = {64, 64};
    CT_CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0, "setrlimit");
    int opened = 0;
    while (open("/dev/null", O_RDONLY) >= 0) {
        opened++;
    }
    CT_CHECK(errno == EMFILE, "open stopped with %s", strerror(errno));
    ct_log("opened %d descriptors: at the limit", opened);
    broadcast_and_check("at RLIMIT_NOFILE");
    return 0;
}

/* Starts an io_uring worker: an asynchronous read of an empty pipe. */
static void start_io_worker(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    int fd = (int)syscall(__NR_io_uring_setup, 4, &p);
    CT_CHECK(fd >= 0, "io_uring_setup: %s (the case needs io_uring)",
             strerror(errno));
    char *sq = mmap(NULL, p.sq_off.array + p.sq_entries * 4,
                    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                    IORING_OFF_SQ_RING);
    struct io_uring_sqe *sqe =
        mmap(NULL, p.sq_entries * sizeof(*sqe), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    CT_CHECK(sq != MAP_FAILED && sqe != MAP_FAILED, "mmap of the rings");
    static int pfd[2];
    static char buf[16];
    CT_CHECK(pipe(pfd) == 0, "pipe");
    memset(sqe, 0, sizeof(*sqe));
    sqe->opcode = IORING_OP_READ;
    sqe->fd = pfd[0];
    sqe->addr = (unsigned long)buf;
    sqe->len = sizeof(buf);
    sqe->flags = IOSQE_ASYNC;
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    array[0] = 0;
    __atomic_store_n((unsigned *)(sq + p.sq_off.tail), 1, __ATOMIC_RELEASE);
    CT_CHECK(syscall(__NR_io_uring_enter, fd, 1, 0, 0, NULL, 0) == 1,
             "io_uring_enter");
}

/* Whether a task of this process is named iou-wrk-*. */
static int io_worker_listed(void)
{
    pid_t tids[64];
    int n = ct_list_tids(0, tids, 64);
    for (int i = 0; i < n; i++) {
        char comm[64];
        if (ct_read_task_file(0, tids[i], "comm", comm, sizeof(comm)) > 0 &&
            strncmp(comm, "iou-wrk-", 8) == 0) {
            return 1;
        }
    }
    return 0;
}

static int case_io_uring(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_check_library();
    start_io_worker();
    long deadline = ct_now_ms() + 5000;
    while (!io_worker_listed()) {
        CT_CHECK(ct_now_ms() < deadline, "no iou-wrk-* task appeared");
        ct_sleep_ms(5);
    }
    long r = psx_syscall6(SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0, 0);
    CT_CHECK(r == 0, "first broadcast with an io_uring worker: %ld", r);
    broadcast_and_check("with an io_uring worker");
    return 0;
}

static const struct ct_case cases[] = {
    {"pid-namespace", case_pidns, 30, 0},
    {"fd-limit", case_fd_limit, 30, 0},
    {"io-uring-worker", case_io_uring, 30, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t18_proc_view", argc, argv, cases);
}
