/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A plugin with threads of its own, built by run.sh as a plain shared
 * library: linked without libpsx and without -Wl,--wrap=pthread_create, so
 * its pthread_create calls never pass through psx's wrapper.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int started, stop, count;
static pthread_t threads[64];
static pid_t tids[64];

static void *worker(void *arg)
{
    long i = (long)arg;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    pthread_mutex_lock(&mu);
    tids[i] = tid;
    started++;
    pthread_cond_broadcast(&cv);
    while (!stop) {
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* Starts n (<= 64) threads and waits until they all run; returns n or -1. */
int plugin_start_threads(int n)
{
    if (n > 64) {
        return -1;
    }
    for (long i = 0; i < n; i++) {
        if (pthread_create(&threads[i], NULL, worker, (void *)i) != 0) {
            return -1;
        }
    }
    count = n;
    pthread_mutex_lock(&mu);
    while (started < n) {
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    return n;
}

pid_t plugin_thread_tid(int i)
{
    return tids[i];
}

void plugin_stop_threads(void)
{
    pthread_mutex_lock(&mu);
    stop = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < count; i++) {
        pthread_join(threads[i], NULL);
    }
}
