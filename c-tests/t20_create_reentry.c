/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 20: a psx call made from code that pthread_create() itself runs.
 *
 * This program replaces the C library's allocator (glibc supports that: the
 * dynamic loader then allocates with it too, as does libc.a in a static
 * program). The first allocation made by a thread inside psx's wrapped
 * pthread_create -- glibc's thread-local storage for the new thread -- makes
 * a psx call from there. That thread is past psx's creation gate, which a
 * broadcast closes and then waits for creators past it: psx waited for the
 * caller itself, for ever (it said after 1 s that it was waiting for thread
 * N to finish pthread_create()).
 *
 * Checked from /proc: the caller and an idle thread each ran the call
 * exactly once; in both modes.
 */
#include "common.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/psx_syscall.h>

/* ------------------------------------------------- the replaced allocator
 *
 * A bump allocator over one mapping; free() keeps the memory. Each block is
 * preceded by a header holding its size. Only what the test needs. */

#define ARENA_BYTES (256UL << 20)
#define HEADER 16UL

static char *g_arena;
static size_t g_used;

static char *arena(void)
{
    char *a = __atomic_load_n(&g_arena, __ATOMIC_ACQUIRE);
    if (a == NULL) {
        void *m = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            return NULL;
        }
        char *expected = NULL;
        if (!__atomic_compare_exchange_n(&g_arena, &expected, (char *)m, 0,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            munmap(m, ARENA_BYTES);
        }
        a = __atomic_load_n(&g_arena, __ATOMIC_ACQUIRE);
    }
    return a;
}

static void *bump(size_t size, size_t align)
{
    char *a = arena();
    if (a == NULL || size > ARENA_BYTES || align > 4096) {
        errno = ENOMEM;
        return NULL;
    }
    if (align < HEADER) {
        align = HEADER;
    }
    size_t need = size + HEADER + align;
    size_t start = __atomic_fetch_add(&g_used, need, __ATOMIC_RELAXED);
    if (start + need > ARENA_BYTES) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t p = (uintptr_t)a + start + HEADER;
    p = (p + align - 1) & ~(uintptr_t)(align - 1);
    ((size_t *)p)[-1] = size;
    return (void *)p;
}

static void call_from_inside_create(void);

void *malloc(size_t size)
{
    call_from_inside_create();
    return bump(size, HEADER);
}

void *calloc(size_t n, size_t size)
{
    call_from_inside_create();
    if (size != 0 && n > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    return bump(n * size, HEADER); /* fresh mapping: already zero */
}

void free(void *p)
{
    (void)p;
}

size_t malloc_usable_size(void *p)
{
    return p ? ((size_t *)p)[-1] : 0;
}

void *realloc(void *p, size_t size)
{
    void *q = malloc(size);
    if (p && q) {
        size_t old = malloc_usable_size(p);
        memcpy(q, p, old < size ? old : size);
    }
    return q;
}

void *memalign(size_t align, size_t size)
{
    return bump(size, align);
}

void *aligned_alloc(size_t align, size_t size)
{
    return bump(size, align);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    void *p = bump(size, align);
    if (p == NULL) {
        return ENOMEM;
    }
    *out = p;
    return 0;
}

void *valloc(size_t size)
{
    return bump(size, 4096);
}

void *pvalloc(size_t size)
{
    return bump((size + 4095) & ~4095UL, 4096);
}

/* ------------------------------------------------------------- the case */

/* The thread that arms the hook, and whether it has fired. */
static pid_t g_armed_tid;
static int g_fired;
static long g_result = -2;

/* Called by every allocation: on the armed thread, once, the psx call. */
static void call_from_inside_create(void)
{
    pid_t armed = __atomic_load_n(&g_armed_tid, __ATOMIC_ACQUIRE);
    if (armed == 0 || armed != (pid_t)syscall(SYS_gettid)) {
        return;
    }
    __atomic_store_n(&g_armed_tid, 0, __ATOMIC_RELEASE);
    g_result = psx_syscall3(CT_COUNT_CALL);
    __atomic_store_n(&g_fired, 1, __ATOMIC_RELEASE);
}

static void *new_thread(void *arg)
{
    *(pid_t *)arg = ct_gettid();
    return NULL;
}

static int case_reentry(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct ct_group *g = ct_start_idle(1, CT_IDLE_COND, 0, 0);
    /* A stack psx's wrapper must allocate, with its thread-local storage,
     * after the hook is armed (glibc reuses the stacks of joined threads:
     * the idle thread's is still in use). */
    pthread_t t;
    pid_t new_tid = 0;
    pid_t me = ct_gettid();
    __atomic_store_n(&g_armed_tid, me, __ATOMIC_RELEASE);
    CT_CHECK(pthread_create(&t, NULL, new_thread, &new_tid) == 0,
             "pthread_create");
    pthread_join(t, NULL);
    CT_CHECK(__atomic_load_n(&g_fired, __ATOMIC_ACQUIRE),
             "pthread_create made no allocation on the calling thread: the "
             "case tests nothing");
    CT_CHECK(g_result == CT_COUNT_BYTES, "the call from inside "
             "pthread_create returned %ld (errno %d)", g_result, errno);
    long mine = ct_thread_count(0, me);
    long idle = ct_thread_count(0, ct_group_tid(g, 0));
    CT_CHECK(mine == 1 && idle == 1, "counts: caller %ld, idle thread %ld "
             "(want 1 each)", mine, idle);
    ct_log("a psx call from inside pthread_create (thread-local storage "
           "allocation) returned; the caller and an idle thread ran it once");
    ct_stop_idle(g);
    (void)new_tid;
    return 0;
}

static const struct ct_case cases[] = {
    {"call-inside-pthread-create", case_reentry, 20, CT_NO_HOLD},
    {"hold-call-inside-pthread-create", case_reentry, 20, CT_HOLD},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t20_create_reentry", argc, argv, cases);
}
