//! One-time set-up, at load time (before `main()`, before the application
//! can `chroot()` or close descriptors) or at the first broadcast.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::{fork, install, protocol, sys, threads, wrap};

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
        read_mode();
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

/// The environment variable that opts into the hold mode (README,
/// "Guarantees"): exactly `1` turns it on.
const HOLD_VAR: &core::ffi::CStr = c"PSX_HOLD_THREADS";

/// Reads the engine's mode once, before the handler is installed. (The
/// hold mode only adds waiting, so honouring the variable in a setuid
/// program gives its caller nothing.)
fn read_mode() {
    // SAFETY: getenv with a NUL-terminated name; the value, if any, is a
    // NUL-terminated string we only read here, before anything else of psx
    // runs (load time, or the first broadcast).
    let value = unsafe { libc::getenv(HOLD_VAR.as_ptr()) };
    // SAFETY: non-null values from getenv are NUL-terminated strings.
    let on = !value.is_null() && unsafe { core::ffi::CStr::from_ptr(value) } == c"1";
    protocol::HOLD_THREADS.store(on, Ordering::Relaxed);
}
