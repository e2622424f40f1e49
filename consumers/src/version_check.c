/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The build-time checks a program can make on <sys/psx_syscall.h>: the
 * interface version macros libcap defines since 2.71. Compiles only when
 * they say 2.76 or later; prints them for the log.
 */
#include <stdio.h>
#include <sys/psx_syscall.h>

#if !defined(LIBPSX_MAJOR) || !defined(LIBPSX_MINOR)
#error "<sys/psx_syscall.h> does not define LIBPSX_MAJOR and LIBPSX_MINOR"
#endif
#if LIBPSX_MAJOR != 2 || LIBPSX_MINOR < 76
#error "<sys/psx_syscall.h> says an interface older than libcap 2.76"
#endif

int main(void)
{
    printf("%d.%d\n", LIBPSX_MAJOR, LIBPSX_MINOR);
    return 0;
}
