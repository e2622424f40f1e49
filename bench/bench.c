// SPDX-License-Identifier: BSD-3-Clause
/*
 * bench.c: cost of one all-threads system call, one batch per process.
 *
 * Built three times by bench/run.sh:
 *   -DBENCH_PSX   linked with a libpsx.a (this project's, or Debian's) and
 *                 -Wl,--wrap=pthread_create; one call is
 *                 psx_syscall6(SYS_prctl, PR_SET_KEEPCAPS, i & 1, 0, 0, 0, 0)
 *   (nothing)     plain glibc; one call is setresuid(-1, -1, -1), which glibc
 *                 broadcasts to every thread itself (its setxid mechanism)
 *
 * Usage:
 *   bench call idle|mixed N BUDGET_MS   start N threads, time calls for about
 *                                       BUDGET_MS, print the median per call
 *   bench create COUNT                  time COUNT pthread_create+join pairs
 *                                       (through the wrapper and, where the
 *                                       program has one, around it)
 *
 * Output is one line of key=value pairs for run.sh; anything unexpected
 * (a failed call, a thread that missed the broadcast) exits non-zero.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef BENCH_PSX
#include <sys/psx_syscall.h>
/* With -Wl,--wrap=pthread_create this is glibc's own pthread_create. */
int __real_pthread_create(pthread_t *, const pthread_attr_t *,
                          void *(*)(void *), void *);
#define IMPL_CALL "psx_syscall6(SYS_prctl, PR_SET_KEEPCAPS, i&1, 0, 0, 0, 0)"
#else
#define IMPL_CALL "setresuid(-1, -1, -1)"
#endif

/* Small stacks keep 4096 threads cheap; same for every implementation. */
#define STACK_SIZE (128 * 1024)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t ready_cv = PTHREAD_COND_INITIALIZER;
static int stop;      /* under mu, for the condition-variable threads */
static int ready;     /* under mu */
static int nthreads;  /* threads that must report ready */
static atomic_int spin_stop;
static atomic_int missed;     /* threads whose keepcaps disagreed at the end */
static int expect_keepcaps = -1;  /* -1: nothing to check (glibc build) */
static int pipefd[2];

static void die(const char *what) {
  fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
  exit(2);
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long broadcast(long i) {
#ifdef BENCH_PSX
  return psx_syscall6(SYS_prctl, PR_SET_KEEPCAPS, i & 1, 0, 0, 0, 0);
#else
  (void)i;
  return setresuid(-1, -1, -1);
#endif
}

/* Each thread, on its way out, checks that the last broadcast reached it. */
static void check_self(void) {
  if (expect_keepcaps < 0) return;
  int k = prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0);
  if (k != expect_keepcaps) {
    fprintf(stderr, "bench: thread %ld has keepcaps=%d, expected %d\n",
            (long)syscall(SYS_gettid), k, expect_keepcaps);
    atomic_fetch_add(&missed, 1);
  }
}

static void mark_ready(void) {
  /* caller holds mu */
  if (++ready == nthreads) pthread_cond_signal(&ready_cv);
}

static void *idle_thread(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  mark_ready();
  while (!stop) pthread_cond_wait(&idle_cv, &mu);
  pthread_mutex_unlock(&mu);
  check_self();
  return NULL;
}

static void *pipe_thread(void *arg) {
  (void)arg;
  char c;
  pthread_mutex_lock(&mu);
  mark_ready();
  pthread_mutex_unlock(&mu);
  for (;;) {
    ssize_t r = read(pipefd[0], &c, 1);
    if (r == 0) break;               /* write end closed: shutdown */
    if (r < 0 && errno != EINTR) die("read");
  }
  check_self();
  return NULL;
}

static void *busy_thread(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  mark_ready();
  pthread_mutex_unlock(&mu);
  while (!atomic_load_explicit(&spin_stop, memory_order_relaxed)) {
  }
  check_self();
  return NULL;
}

static long vmhwm_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

static int cmd_call(const char *mode, int n, double budget_ms) {
  int mixed = strcmp(mode, "mixed") == 0;
  if (!mixed && strcmp(mode, "idle") != 0) {
    fprintf(stderr, "bench: mode must be idle or mixed\n");
    return 2;
  }
  /* mixed: a few threads spin (2, or 1 when N < 4); of the others, half
   * wait in a condition variable and half block in read() on a pipe. */
  int busy = mixed ? (n >= 4 ? 2 : 1) : 0;
  int piped = mixed ? (n - busy) / 2 : 0;
  int idle = n - busy - piped;
  if (pipe(pipefd)) die("pipe");

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, STACK_SIZE);
  pthread_t *tids = calloc(n ? n : 1, sizeof *tids);
  if (!tids) die("calloc");
  nthreads = n;
  for (int t = 0; t < n; t++) {
    void *(*fn)(void *) =
        t < idle ? idle_thread : t < idle + piped ? pipe_thread : busy_thread;
    int e = pthread_create(&tids[t], &attr, fn, NULL);
    if (e) {
      errno = e;
      fprintf(stderr, "bench: created %d of %d threads\n", t, n);
      die("pthread_create");
    }
  }
  pthread_mutex_lock(&mu);
  while (ready < n) pthread_cond_wait(&ready_cv, &mu);
  pthread_mutex_unlock(&mu);
  /* Holding mu once more means every condvar thread is inside its wait. */
  pthread_mutex_lock(&mu);
  pthread_mutex_unlock(&mu);

  long i = 0;
  for (int w = 0; w < 3; w++, i++)  /* warm-up: first-use setup, caches */
    if (broadcast(i) != 0) die("warm-up call");

  int cap = 100000, k = 0;
  double *t = malloc(cap * sizeof *t);
  if (!t) die("malloc");
  double start = now_us(), end = start + budget_ms * 1000;
  while (k < cap) {
    double t0 = now_us();
    long r = broadcast(i++);
    double t1 = now_us();
    if (r != 0) die("broadcast call");
    t[k++] = t1 - t0;
    if (t1 >= end && k >= 5) break;
  }
  long hwm = vmhwm_kb();
  int calls = k;
  double med = median(t, k);

#ifdef BENCH_PSX
  /* One last call with a known value; every thread checks it on exit. */
  if (broadcast(1) != 0) die("final call");
  expect_keepcaps = 1;
#endif
  pthread_mutex_lock(&mu);
  stop = 1;
  pthread_cond_broadcast(&idle_cv);
  pthread_mutex_unlock(&mu);
  atomic_store(&spin_stop, 1);
  close(pipefd[1]);
  for (int x = 0; x < n; x++) pthread_join(tids[x], NULL);
  if (atomic_load(&missed)) {
    fprintf(stderr, "bench: %d of %d threads missed the broadcast\n",
            atomic_load(&missed), n);
    return 1;
  }
  printf("median_us=%.2f calls=%d vmhwm_kb=%ld threads=%d idle=%d piped=%d "
         "busy=%d\n",
         med, calls, hwm, n, idle, piped, busy);
  return 0;
}

/* Producer/consumer under broadcasts: a one-slot queue on a condition
 * variable (every item is a sleep and a wake-up), with this thread calling
 * broadcast() back to back for budget_ms. Prints the items moved per second
 * (issue 10: how much a program loses to an all-threads call in a loop). */
static pthread_mutex_t pc_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pc_cv = PTHREAD_COND_INITIALIZER;
static long pc_slot = -1, pc_moved;
static int pc_stop;

static void *producer(void *arg) {
  for (long i = 0;; i++) {
    pthread_mutex_lock(&pc_mu);
    while (pc_slot >= 0 && !pc_stop) pthread_cond_wait(&pc_cv, &pc_mu);
    if (pc_stop) break;
    pc_slot = i;
    pthread_cond_broadcast(&pc_cv);
    pthread_mutex_unlock(&pc_mu);
  }
  pthread_mutex_unlock(&pc_mu);
  return arg;
}

static void *consumer(void *arg) {
  for (;;) {
    pthread_mutex_lock(&pc_mu);
    while (pc_slot < 0 && !pc_stop) pthread_cond_wait(&pc_cv, &pc_mu);
    if (pc_stop) break;
    pc_slot = -1;
    pc_moved++;
    pthread_cond_broadcast(&pc_cv);
    pthread_mutex_unlock(&pc_mu);
  }
  pthread_mutex_unlock(&pc_mu);
  return arg;
}

static int cmd_pc(double budget_ms) {
  pthread_t p, c;
  if (pthread_create(&p, NULL, producer, NULL) || pthread_create(&c, NULL, consumer, NULL))
    die("pthread_create");
  double t0 = now_us(), end = t0 + budget_ms * 1000;
  long calls = 0;
  pthread_mutex_lock(&pc_mu);
  long before = pc_moved;
  pthread_mutex_unlock(&pc_mu);
  while (now_us() < end) {
    if (broadcast(calls) != 0) die("broadcast");
    calls++;
  }
  double t1 = now_us();
  pthread_mutex_lock(&pc_mu);
  long moved = pc_moved - before;
  pc_stop = 1;
  pthread_cond_broadcast(&pc_cv);
  pthread_mutex_unlock(&pc_mu);
  pthread_join(p, NULL);
  pthread_join(c, NULL);
  printf("items_per_s=%.0f calls=%ld\n", moved * 1e6 / (t1 - t0), calls);
  return 0;
}

static void *nothing(void *arg) { return arg; }

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *,
                         void *(*)(void *), void *);

static double create_join(create_fn create) {
  pthread_t t;
  double t0 = now_us();
  int e = create(&t, NULL, nothing, NULL);
  if (e) {
    errno = e;
    die("pthread_create");
  }
  pthread_join(t, NULL);
  return now_us() - t0;
}

static int cmd_create(int count) {
  double *wrapped = malloc(count * sizeof(double));
  double *plain = malloc(count * sizeof(double));
  if (!wrapped || !plain) die("malloc");
  /* pthread_create is __wrap_pthread_create in the psx builds. */
  create_fn via_symbol = pthread_create;
#ifdef BENCH_PSX
  create_fn around = __real_pthread_create;
#else
  create_fn around = pthread_create;
#endif
  for (int w = 0; w < 20; w++) {
    create_join(via_symbol);
    create_join(around);
  }
  for (int k = 0; k < count; k++) {
    /* alternate the order so neither side always goes first */
    if (k & 1) {
      wrapped[k] = create_join(via_symbol);
      plain[k] = create_join(around);
    } else {
      plain[k] = create_join(around);
      wrapped[k] = create_join(via_symbol);
    }
  }
  printf("create_us=%.2f real_us=%.2f count=%d\n", median(wrapped, count),
         median(plain, count), count);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 5 && strcmp(argv[1], "call") == 0)
    return cmd_call(argv[2], atoi(argv[3]), atof(argv[4]));
  if (argc == 3 && strcmp(argv[1], "create") == 0)
    return cmd_create(atoi(argv[2]));
  if (argc == 3 && strcmp(argv[1], "pc") == 0)
    return cmd_pc(atof(argv[2]));
  if (argc == 2 && strcmp(argv[1], "what") == 0) {
    printf("call=%s\n", IMPL_CALL);
    return 0;
  }
  fprintf(stderr,
          "usage: %s call idle|mixed N BUDGET_MS | create COUNT | what\n",
          argv[0]);
  return 2;
}
