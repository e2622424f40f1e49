/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Linked (ld -r) into libpsx.a's psx.o by scripts/make-archive.sh: a
 * STRONG undefined reference to __real_pthread_create.
 *
 * The engine refers to __real_pthread_create weakly (libpsx.so.2 must link
 * without it), and a weak reference never pulls an archive member. In a
 * fully static program linked with -Wl,--wrap=pthread_create nothing else
 * would then pull libc.a's pthread_create in, the weak reference would stay
 * null, dlsym(RTLD_NEXT) is unavailable, and every pthread_create would
 * fail. With this reference --wrap resolves __real_pthread_create to
 * pthread_create and the linker pulls the real one; without --wrap the
 * archive's second member (real-pthread-create.c) satisfies it.
 *
 * The pointer itself is static (no global symbol) and never read.
 */
extern char __real_pthread_create[];

__attribute__((used)) static const void *const psx_real_pthread_create_ref =
    __real_pthread_create;
