/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Second member of libpsx.a (scripts/make-archive.sh): __real_pthread_create
 * for programs linked WITHOUT -Wl,--wrap=pthread_create, which would
 * otherwise leave psx.o's strong reference (real-pthread-create-ref.c)
 * undefined. With --wrap the linker resolves that reference to
 * pthread_create itself and never looks this member up.
 */
#include <pthread.h>

int __real_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*start)(void *), void *arg);

int __real_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*start)(void *), void *arg)
{
    return pthread_create(thread, attr, start, arg);
}
