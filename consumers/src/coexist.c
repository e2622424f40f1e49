/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Links libpsx.a together with other Rust staticlibs (one with std, one
 * no_std with its own panic handler) and calls all of them.
 * Build with -DWITH_STD and/or -DWITH_NOSTD.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/psx_syscall.h>
#include <sys/syscall.h>

#include "threadcheck.h"

uint64_t other_std_sum(uint32_t n);
size_t other_std_describe(uint32_t n, char *buf, size_t len);
uint64_t other_nostd_mul(uint32_t a, uint32_t b);

int main(void)
{
    long r;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (tc_require_root() || tc_check_loaded_psx() || tc_start_threads(4)) {
        return 1;
    }
#ifdef WITH_STD
    {
        char buf[64];
        uint64_t s = other_std_sum(100);
        size_t l = other_std_describe(7, buf, sizeof buf);
        if (s != 5050 || l == 0 || strcmp(buf, "other_std says 7") != 0) {
            fprintf(stderr, "FAIL: other_std: sum=%llu describe=\"%s\"\n",
                    (unsigned long long) s, l ? buf : "");
            return 1;
        }
        printf("ok other_std: sum=%llu, \"%s\"\n", (unsigned long long) s, buf);
    }
#endif
#ifdef WITH_NOSTD
    if (other_nostd_mul(6, 7) != 42) {
        fprintf(stderr, "FAIL: other_nostd_mul(6, 7) != 42\n");
        return 1;
    }
    printf("ok other_nostd: 6*7=42\n");
#endif
    r = psx_syscall3(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0);
    if (r != 0) {
        fprintf(stderr, "FAIL: psx_syscall3(prctl NO_NEW_PRIVS) = %ld: %s\n", r,
                strerror(errno));
        return 1;
    }
    if (tc_expect_all("NoNewPrivs 1 after psx_syscall3", "NoNewPrivs", tc_pred_equals, "1", 5)) {
        return 1;
    }
    tc_stop_threads();
    printf("coexist: PASSED\n");
    return 0;
}
