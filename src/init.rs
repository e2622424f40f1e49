//! One-time set-up, at load time (before `main()`, before the application
//! can `chroot()` or close descriptors) or at the first broadcast.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::{fork, install, sys, threads, wrap};

/// Runs [`ensure_init`] as soon as the library is loaded, before `main()` and
/// before the application can `chroot()` or close descriptors.
#[used]
#[unsafe(link_section = ".init_array")]
static LOAD_TIME_INIT: extern "C" fn() = load_time_init;

extern "C" fn load_time_init() {
    ensure_init();
}

const UNINIT: u32 = 0;
const RUNNING: u32 = 1;
const READY: u32 = 2;
static INIT: AtomicU32 = AtomicU32::new(UNINIT);

/// One-time set-up: our `/proc` descriptor, the signal
/// handler, the registry key and the fork handler. Idempotent; later
/// callers wait on a futex for the first to finish.
pub fn ensure_init() {
    if INIT.load(Ordering::Acquire) == READY {
        return;
    }
    if INIT
        .compare_exchange(UNINIT, RUNNING, Ordering::Acquire, Ordering::Acquire)
        .is_ok()
    {
        let _ = threads::open_proc_root();
        let _ = install::ensure_installed();
        wrap::init();
        fork::init();
        INIT.store(READY, Ordering::Release);
        sys::futex_wake(&INIT, i32::MAX);
        return;
    }
    while INIT.load(Ordering::Acquire) != READY {
        sys::futex_wait(&INIT, RUNNING, None);
    }
}
