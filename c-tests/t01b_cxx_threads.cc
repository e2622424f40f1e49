// SPDX-License-Identifier: BSD-3-Clause
//
// Case 1 (C++): threads of std::thread are created by libstdc++.so, whose
// pthread_create call never passes through psx's wrapper (--wrap only
// rewrites the objects being linked). psx must reach them all the same.
#include "common.h"

#include <cerrno>
#include <condition_variable>
#include <linux/capability.h>
#include <mutex>
#include <sys/prctl.h>
#include <sys/psx_syscall.h>
#include <sys/syscall.h>
#include <thread>
#include <vector>

namespace {

const int kThreads = 8;

int case_std_thread(int, char **)
{
    ct_require_root();
    ct_check_library();
    std::mutex mu;
    std::condition_variable cv;
    int started = 0;
    bool stop = false;
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; i++) {
        threads.emplace_back([&] {
            std::unique_lock<std::mutex> lock(mu);
            started++;
            cv.notify_all();
            cv.wait(lock, [&] { return stop; });
        });
    }
    {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return started == kThreads; });
    }
    int live = 1 + kThreads;
    ct_require_all(0, "NoNewPrivs", "0", live);
    long r = psx_syscall6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    CT_CHECK(r == 0, "psx_syscall3(PR_SET_NO_NEW_PRIVS) = %ld errno %d", r,
             errno);
    ct_require_all(0, "NoNewPrivs", "1", live);
    r = psx_syscall(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0, 0);
    CT_CHECK(r == 0, "psx_syscall(PR_CAPBSET_DROP) = %ld errno %d", r, errno);
    ct_require_all_bit(0, "CapBnd", CAP_SYS_BOOT, 0, live);
    {
        std::lock_guard<std::mutex> lock(mu);
        stop = true;
    }
    cv.notify_all();
    for (auto &t : threads) {
        t.join();
    }
    return 0;
}

const ct_case cases[] = {
    {"std-thread", case_std_thread, 20, 0},
    {nullptr, nullptr, 0, 0},
};

} // namespace

int main(int argc, char **argv)
{
    return ct_main("t01b_cxx_threads", argc, argv, cases);
}
