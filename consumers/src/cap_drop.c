/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A libcap consumer: the program only calls libcap (cap_set_proc); libpsx is
 * linked so that libcap's weak psx_load_syscalls is replaced by libpsx's and
 * cap_set_proc() changes every thread. Drops CAP_NET_RAW from the effective
 * and permitted sets while 8 other threads exist, then reads CapEff and
 * CapPrm of every /proc/self/task entry.
 *
 * Exit status: 0 every thread dropped it; 3 only some threads did (libcap
 * fell back to a single-thread capset); 1 any other failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/capability.h>

#include "threadcheck.h"

#define NTHREADS 8

struct capbit {
    int bit;
    int set;
};

static int pred_capbit(const char *value, const void *want)
{
    const struct capbit *w = (const struct capbit *) want;
    unsigned long long v;
    char *end;
    errno = 0;
    v = strtoull(value, &end, 16);
    if (errno != 0 || end == value) {
        return 0;
    }
    return (int) ((v >> w->bit) & 1) == w->set;
}

int main(void)
{
    struct capbit has = {CAP_NET_RAW, 1}, lacks = {CAP_NET_RAW, 0};
    cap_t caps;
    cap_value_t drop[1];
    int n = 0, bad_eff, bad_prm;

    setvbuf(stdout, NULL, _IONBF, 0);
    if (tc_require_root() || tc_check_loaded_psx()) {
        return 1;
    }
    if (tc_start_threads(NTHREADS)) {
        return 1;
    }
    /* Without the capability to begin with, the test could not fail. */
    if (tc_expect_all("CAP_NET_RAW in CapEff before", "CapEff", pred_capbit, &has,
                      NTHREADS + 1)) {
        return 1;
    }

    caps = cap_get_proc();
    if (caps == NULL) {
        perror("cap_get_proc");
        return 1;
    }
    drop[0] = CAP_NET_RAW;
    if (cap_set_flag(caps, CAP_EFFECTIVE, 1, drop, CAP_CLEAR) != 0 ||
        cap_set_flag(caps, CAP_PERMITTED, 1, drop, CAP_CLEAR) != 0) {
        perror("cap_set_flag");
        return 1;
    }
    if (cap_set_proc(caps) != 0) {
        perror("cap_set_proc");
        return 1;
    }
    cap_free(caps);

    bad_eff = tc_check_all("CAP_NET_RAW dropped from CapEff", "CapEff", pred_capbit, &lacks,
                           &n, 1);
    if (bad_eff < 0 || n != NTHREADS + 1) {
        fprintf(stderr, "FAIL: saw %d threads, expected %d\n", n, NTHREADS + 1);
        return 1;
    }
    bad_prm = tc_check_all("CAP_NET_RAW dropped from CapPrm", "CapPrm", pred_capbit, &lacks,
                           &n, 0);
    if (bad_prm < 0) {
        return 1;
    }
    tc_stop_threads();
    if (bad_eff == 0 && bad_prm == 0) {
        printf("cap_drop: PASSED (%d threads dropped CAP_NET_RAW)\n", n);
        return 0;
    }
    printf("cap_drop: only %d of %d threads dropped CAP_NET_RAW\n", n - bad_eff, n);
    return 3;
}
