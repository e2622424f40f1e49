/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 1 (plugin): a program NOT linked with psx starts threads, then
 * dlopen()s libpsx.so.2 (as a plugin using psx would be loaded into a
 * running multithreaded program) and calls psx_syscall3/6 through dlsym().
 * The threads that existed before the library was loaded, and those made
 * after it, must all be reached. This case exists only with the shared
 * library: run.sh builds it once, without libpsx and without --wrap, and
 * passes the library's path in $PSX_TEST_SO.
 */
#include "common.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

typedef long (*fn3_t)(long, long, long, long);
typedef long (*fn6_t)(long, long, long, long, long, long, long);

static int case_dlopen_psx(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    const char *path = getenv("PSX_TEST_SO");
    CT_CHECK(path && *path, "PSX_TEST_SO is not set (run through run.sh)");
    ct_check_library_mode("none");
    struct ct_group *before = ct_start_idle(6, CT_IDLE_COND, 0, 0);
    struct ct_group *sleepers = ct_start_idle(2, CT_IDLE_SLEEP, 0, 0);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CT_CHECK(h, "dlopen(%s): %s", path, dlerror());
    ct_check_library_mode("shared");
    fn3_t fn3 = (fn3_t)dlsym(h, "psx_syscall3");
    fn6_t fn6 = (fn6_t)dlsym(h, "psx_syscall6");
    CT_CHECK(fn3 && fn6, "psx_syscall3/6 not found in %s", path);
    int live = 1 + 6 + 2;
    ct_require_all(0, "NoNewPrivs", "0", live);
    long r = fn6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    CT_CHECK(r == 0, "psx_syscall3(PR_SET_NO_NEW_PRIVS) = %ld errno %d", r,
             errno);
    ct_require_all(0, "NoNewPrivs", "1", live);
    /* Threads made after the library was loaded (this program has no
     * --wrap, so psx's wrapper never sees them either). */
    struct ct_group *after = ct_start_idle(4, CT_IDLE_COND, 0, 0);
    live += 4;
    r = fn6(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0, 0);
    CT_CHECK(r == 0, "psx_syscall6(PR_CAPBSET_DROP) = %ld errno %d", r, errno);
    ct_require_all_bit(0, "CapBnd", CAP_SYS_BOOT, 0, live);
    ct_stop_idle(after);
    ct_stop_idle(sleepers);
    ct_stop_idle(before);
    return 0;
}

static const struct ct_case cases[] = {
    {"threads-before-dlopen", case_dlopen_psx, 20, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t01c_dlopen_psx", argc, argv, cases);
}
