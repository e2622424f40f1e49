/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Case 1: threads psx never saw being created must be reached too.
 *  - threads of a dlopen()ed library linked without psx and without --wrap
 *    (t01_plugin.c, built by run.sh; found through $PSX_TEST_PLUGIN);
 *  - threads made through the real pthread_create, bypassing the wrapper.
 * (C++ std::thread: t01b_cxx_threads.cc; libpsx.so.2 itself dlopen()ed into
 * a running multithreaded program: t01c_dlopen_psx.c.)
 */
#include "common.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/psx_syscall.h>

#define NPLUGIN 8
#define NOWN 3

static int case_plugin(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    const char *path = getenv("PSX_TEST_PLUGIN");
    CT_CHECK(path && *path, "PSX_TEST_PLUGIN is not set (run through run.sh)");
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CT_CHECK(h, "dlopen(%s): %s", path, dlerror());
    int (*start)(int) = (int (*)(int))dlsym(h, "plugin_start_threads");
    void (*stop)(void) = (void (*)(void))dlsym(h, "plugin_stop_threads");
    pid_t (*tid_of)(int) = (pid_t(*)(int))dlsym(h, "plugin_thread_tid");
    CT_CHECK(start && stop && tid_of, "plugin symbols missing");
    /* Some threads of our own (wrapped) as well, so that both kinds exist. */
    struct ct_group *g = ct_start_idle(NOWN, CT_IDLE_COND, 0, 0);
    CT_CHECK(start(NPLUGIN) == NPLUGIN, "plugin could not start its threads");
    for (int i = 0; i < NPLUGIN; i++) {
        CT_CHECK(tid_of(i) > 0, "plugin thread %d has no tid", i);
    }
    int live = 1 + NOWN + NPLUGIN;
    ct_require_all(0, "NoNewPrivs", "0", live);
    long r = psx_syscall6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    CT_CHECK(r == 0, "psx_syscall3(PR_SET_NO_NEW_PRIVS) = %ld errno %d", r,
             errno);
    ct_require_all(0, "NoNewPrivs", "1", live);
    /* And once more, with a second, different call. */
    r = psx_syscall6(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0, 0);
    CT_CHECK(r == 0, "psx_syscall6(PR_CAPBSET_DROP) = %ld errno %d", r, errno);
    ct_require_all_bit(0, "CapBnd", CAP_SYS_BOOT, 0, live);
    stop();
    ct_stop_idle(g);
    return 0;
}

static int case_real_create(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ct_require_root();
    ct_check_library();
    /* mix_unwrapped: every third thread bypasses __wrap_pthread_create. */
    struct ct_group *g = ct_start_idle(9, CT_IDLE_COND, 1, 0);
    struct ct_group *s = ct_start_idle(3, CT_IDLE_SLEEP, 1, 0);
    struct ct_group *rd = ct_start_idle(3, CT_IDLE_READ, 1, 0);
    int live = 1 + 9 + 3 + 3;
    long r = psx_syscall6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    CT_CHECK(r == 0, "psx_syscall3(PR_SET_NO_NEW_PRIVS) = %ld errno %d", r,
             errno);
    ct_require_all(0, "NoNewPrivs", "1", live);
    ct_stop_idle(rd);
    ct_stop_idle(s);
    ct_stop_idle(g);
    return 0;
}

static const struct ct_case cases[] = {
    {"dlopen-plugin-threads", case_plugin, 20, 0},
    {"real-pthread-create", case_real_create, 20, 0},
    {NULL, NULL, 0, 0},
};

int main(int argc, char **argv)
{
    return ct_main("t01_dlopen_threads", argc, argv, cases);
}
