/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the consumer test programs: start idle threads, look at
 * every thread of the process through /proc/self/task/<tid>/status, and check
 * which libpsx.so.2 (if any) is mapped. Written in C89 that is also valid
 * C++17, so the pkg-config consumer can be compiled in all three dialects.
 *
 * Everything is static: include it from exactly one file per program.
 * These helpers use opendir/malloc freely: they only run while the other
 * threads sit in pthread_cond_wait, never inside a psx call.
 */
#ifndef CONSUMERS_THREADCHECK_H
#define CONSUMERS_THREADCHECK_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TC_MAX_THREADS 64

#ifdef __GNUC__
#define TC_UNUSED __attribute__((unused))
#else
#define TC_UNUSED
#endif

static pthread_mutex_t tc_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tc_cv = PTHREAD_COND_INITIALIZER;
static int tc_started = 0;
static int tc_quit = 0;
static pthread_t tc_threads[TC_MAX_THREADS];
static int tc_nthreads = 0;

static void *tc_idle(void *arg)
{
    (void) arg;
    pthread_mutex_lock(&tc_mu);
    tc_started++;
    pthread_cond_broadcast(&tc_cv);
    while (!tc_quit) {
        pthread_cond_wait(&tc_cv, &tc_mu);
    }
    pthread_mutex_unlock(&tc_mu);
    return NULL;
}

/* Starts n idle threads (with the pthread_create the program was linked
 * with: __wrap_pthread_create under --wrap) and waits until all run. */
TC_UNUSED static int tc_start_threads(int n)
{
    int i, err;
    if (tc_nthreads + n > TC_MAX_THREADS) {
        fprintf(stderr, "FAIL: too many threads requested\n");
        return -1;
    }
    for (i = 0; i < n; i++) {
        err = pthread_create(&tc_threads[tc_nthreads], NULL, tc_idle, NULL);
        if (err != 0) {
            fprintf(stderr, "FAIL: pthread_create: %s\n", strerror(err));
            return -1;
        }
        tc_nthreads++;
    }
    pthread_mutex_lock(&tc_mu);
    while (tc_started < tc_nthreads) {
        pthread_cond_wait(&tc_cv, &tc_mu);
    }
    pthread_mutex_unlock(&tc_mu);
    return 0;
}

TC_UNUSED static void tc_stop_threads(void)
{
    int i;
    pthread_mutex_lock(&tc_mu);
    tc_quit = 1;
    pthread_cond_broadcast(&tc_cv);
    pthread_mutex_unlock(&tc_mu);
    for (i = 0; i < tc_nthreads; i++) {
        pthread_join(tc_threads[i], NULL);
    }
    tc_nthreads = 0;
    tc_started = 0;
    tc_quit = 0;
}

/* Number of entries in /proc/self/task, or -1. */
TC_UNUSED static int tc_count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* A joined thread can stay listed for a moment after pthread_join returns:
 * waits (up to 5 s) until exactly n threads are listed. */
TC_UNUSED static int tc_wait_task_count(int n)
{
    int i, seen = -1;
    for (i = 0; i < 500; i++) {
        seen = tc_count_tasks();
        if (seen == n) {
            return 0;
        }
        usleep(10000);
    }
    fprintf(stderr, "FAIL: /proc/self/task lists %d threads, expected %d\n", seen, n);
    return 1;
}

/* Copies the value of "Field:" from /proc/self/task/<tid>/status into out
 * (leading blanks removed, newline cut). Returns 0 or -1. */
TC_UNUSED static int tc_task_field(const char *tid, const char *field, char *out, size_t outlen)
{
    char path[256], line[512];
    size_t flen = strlen(field);
    FILE *f;
    int found = -1;
    sprintf(path, "/proc/self/task/%.100s/status", tid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            char *v = line + flen + 1;
            size_t l;
            while (*v == ' ' || *v == '\t') {
                v++;
            }
            l = strcspn(v, "\n");
            v[l] = '\0';
            if (l >= outlen) {
                l = outlen - 1;
            }
            memcpy(out, v, l);
            out[l] = '\0';
            found = 0;
            break;
        }
    }
    fclose(f);
    return found;
}

/* Predicate on a status value; returns nonzero when the value is right. */
typedef int (*tc_pred_fn)(const char *value, const void *want);

TC_UNUSED static int tc_pred_equals(const char *value, const void *want)
{
    return strcmp(value, (const char *) want) == 0;
}

/* want for tc_pred_idfield: field number index (0-based) of a "Uid:" or
 * "Gid:" line (real, effective, saved, filesystem) must equal value. */
struct tc_idfield {
    int index;
    long value;
};

TC_UNUSED static int tc_pred_idfield(const char *line, const void *want)
{
    const struct tc_idfield *w = (const struct tc_idfield *) want;
    long v[4];
    if (sscanf(line, "%ld %ld %ld %ld", &v[0], &v[1], &v[2], &v[3]) != 4) {
        return 0;
    }
    return v[w->index] == w->value;
}

/* Checks "field" of every entry of /proc/self/task with pred(value, want).
 * Prints one line per thread when anything is wrong (or when verbose).
 * Returns the number of threads whose value is wrong, or -1 on error;
 * *ntasks receives the number of threads seen. */
TC_UNUSED static int tc_check_all(const char *what, const char *field, tc_pred_fn pred,
                        const void *want, int *ntasks, int verbose)
{
    DIR *d;
    struct dirent *e;
    char value[256];
    char seen[TC_MAX_THREADS + 8][300];
    int n = 0, bad = 0, i;
    d = opendir("/proc/self/task");
    if (d == NULL) {
        perror("opendir /proc/self/task");
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        int ok;
        if (e->d_name[0] == '.') {
            continue;
        }
        if (tc_task_field(e->d_name, field, value, sizeof value) != 0) {
            strcpy(value, "<unreadable>");
            ok = 0;
        } else {
            ok = pred(value, want);
        }
        if (!ok) {
            bad++;
        }
        if (n < TC_MAX_THREADS + 8) {
            sprintf(seen[n], "  tid %-8.20s %s: %.200s%s", e->d_name, field, value,
                    ok ? "" : "   <-- wrong");
        }
        n++;
    }
    closedir(d);
    *ntasks = n;
    if (bad != 0 || verbose) {
        fprintf(bad ? stderr : stdout, "%s %s: %d of %d threads wrong\n",
                bad ? "FAIL" : "ok", what, bad, n);
        for (i = 0; i < n && i < TC_MAX_THREADS + 8; i++) {
            fprintf(bad ? stderr : stdout, "%s\n", seen[i]);
        }
    }
    return bad;
}

/* Same as tc_check_all, but also fails unless exactly `expect` threads
 * were seen (so an empty or short task list cannot pass). */
TC_UNUSED static int tc_expect_all(const char *what, const char *field, tc_pred_fn pred,
                         const void *want, int expect)
{
    int n = 0;
    int bad = tc_check_all(what, field, pred, want, &n, 0);
    if (bad < 0) {
        return 1;
    }
    if (n != expect) {
        fprintf(stderr, "FAIL %s: saw %d threads in /proc/self/task, expected %d\n",
                what, n, expect);
        return 1;
    }
    if (bad == 0) {
        printf("ok %s: all %d threads\n", what, n);
    }
    return bad != 0;
}

/* Returns 1 if the file at path contains the ASCII string marker. */
TC_UNUSED static int tc_file_has(const char *path, const char *marker)
{
    FILE *f = fopen(path, "rb");
    size_t mlen = strlen(marker), have = 0, i;
    char buf[65536 + 256];
    int found = 0;
    if (f == NULL) {
        return 0;
    }
    for (;;) {
        size_t got = fread(buf + have, 1, 65536, f);
        size_t total = have + got;
        if (total >= mlen) {
            for (i = 0; i + mlen <= total; i++) {
                if (memcmp(buf + i, marker, mlen) == 0) {
                    found = 1;
                    break;
                }
            }
        }
        if (found || got == 0) {
            break;
        }
        have = mlen - 1 < total ? mlen - 1 : total;
        memmove(buf, buf + total - have, have);
    }
    fclose(f);
    return found;
}

/*
 * Checks which libpsx is mapped into this process, from /proc/self/maps.
 * expect: environment variable PSX_EXPECT_SO. If it names a file, exactly
 * that file (compared by realpath) must be the only libpsx*.so* mapping. If
 * it is "none", no libpsx*.so* may be mapped (static linking). If
 * PSX_EXPECT_MARKER is set (non-empty), the mapped file must contain it.
 * Unset PSX_EXPECT_SO is an error: every program must be told.
 */
TC_UNUSED static int tc_check_loaded_psx(void)
{
    const char *expect = getenv("PSX_EXPECT_SO");
    const char *marker = getenv("PSX_EXPECT_MARKER");
    char want[PATH_MAX + 1], line[PATH_MAX + 256], mapped[PATH_MAX + 1];
    FILE *f;
    int nmapped = 0, wrong = 0;
    mapped[0] = '\0';
    if (expect == NULL || expect[0] == '\0') {
        fprintf(stderr, "FAIL: PSX_EXPECT_SO not set (path of libpsx.so.2 or \"none\")\n");
        return 1;
    }
    if (strcmp(expect, "none") != 0 && realpath(expect, want) == NULL) {
        fprintf(stderr, "FAIL: realpath(%s): %s\n", expect, strerror(errno));
        return 1;
    }
    f = fopen("/proc/self/maps", "r");
    if (f == NULL) {
        perror("/proc/self/maps");
        return 1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char *p = strchr(line, '/');
        char *base;
        if (p == NULL) {
            continue;
        }
        p[strcspn(p, "\n")] = '\0';
        base = strrchr(p, '/') + 1;
        if (strncmp(base, "libpsx", 6) != 0 || strstr(base, ".so") == NULL) {
            continue;
        }
        if (strcmp(mapped, p) == 0) {
            continue; /* another segment of the same file */
        }
        nmapped++;
        strcpy(mapped, p);
        if (strcmp(expect, "none") == 0 || strcmp(p, want) != 0) {
            fprintf(stderr, "FAIL: unexpected libpsx mapped: %s\n", p);
            wrong++;
        }
    }
    fclose(f);
    if (strcmp(expect, "none") == 0) {
        if (wrong == 0) {
            printf("ok no libpsx shared object mapped (static libpsx)\n");
        }
        return wrong != 0;
    }
    if (nmapped != 1 || wrong != 0) {
        fprintf(stderr, "FAIL: expected exactly %s mapped, saw %d libpsx mapping(s)\n",
                want, nmapped);
        return 1;
    }
    if (marker != NULL && marker[0] != '\0' && !tc_file_has(want, marker)) {
        fprintf(stderr, "FAIL: %s does not contain the marker \"%s\"\n", want, marker);
        return 1;
    }
    printf("ok libpsx mapped from %s%s\n", want,
           (marker != NULL && marker[0] != '\0') ? " (marker found)" : "");
    return 0;
}

TC_UNUSED static int tc_require_root(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "FAIL: this test must run as root (CI does); euid=%ld\n",
                (long) geteuid());
        return 1;
    }
    return 0;
}

#endif
