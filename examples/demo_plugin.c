/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * demo_plugin.c: a shared library that starts threads of its own, as many
 * real libraries do (thread pools, I/O helpers). The demo loads it with
 * dlopen(), so neither the program nor psx sees these threads being made:
 * no wrapper around pthread_create is involved.
 *
 * Each thread waits on a condition variable and, when asked, reads its own
 * keepcaps flag (it is per thread and not shown in /proc).
 *
 * Build: cc -shared -fPIC -pthread -o demo_plugin.so demo_plugin.c
 */
#define _GNU_SOURCE /* syscall() */
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEMO_PLUGIN_MAX 8

struct demo_worker {
    pthread_t thread;
    long tid;
    int asked;
    long answer;
};

static struct demo_worker workers[DEMO_PLUGIN_MAX];
static int started;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

static void *demo_worker_main(void *arg)
{
    struct demo_worker *self = arg;

    pthread_mutex_lock(&lock);
    self->tid = syscall(SYS_gettid);
    started++;
    pthread_cond_broadcast(&changed);
    for (;;) {
        while (!self->asked)
            pthread_cond_wait(&changed, &lock);
        self->answer = prctl(PR_GET_KEEPCAPS, 0L, 0L, 0L, 0L);
        self->asked = 0;
        pthread_cond_broadcast(&changed);
    }
    return NULL; /* not reached: the threads live as long as the process */
}

/* Starts n threads (at most DEMO_PLUGIN_MAX) and returns how many run. */
int demo_plugin_start(int n)
{
    int made = 0;

    if (n > DEMO_PLUGIN_MAX)
        n = DEMO_PLUGIN_MAX;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&workers[i].thread, NULL, demo_worker_main,
                           &workers[i]) != 0)
            break;
        made++;
    }
    pthread_mutex_lock(&lock);
    while (started < made)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    return made;
}

/* The kernel thread id of thread i. */
long demo_plugin_tid(int i)
{
    return workers[i].tid;
}

/* Asks thread i for its own prctl(PR_GET_KEEPCAPS) and waits for it. */
long demo_plugin_keepcaps(int i)
{
    long answer;

    pthread_mutex_lock(&lock);
    workers[i].asked = 1;
    pthread_cond_broadcast(&changed);
    while (workers[i].asked)
        pthread_cond_wait(&changed, &lock);
    answer = workers[i].answer;
    pthread_mutex_unlock(&lock);
    return answer;
}
