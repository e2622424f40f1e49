//! How psx reacts when another thread's result differs from the caller's.

use core::ffi::c_int;
use core::sync::atomic::{AtomicI32, Ordering};

/// Say nothing (the default).
pub const IGNORE: c_int = 0;
/// Print one report on stderr.
pub const WARNING: c_int = 1;
/// Print the report, then end the process: fail closed.
pub const ERROR: c_int = 2;

static LEVEL: AtomicI32 = AtomicI32::new(IGNORE);

/// Sets the level; anything but the three levels is `Err(EINVAL)`.
pub fn set(level: c_int) -> Result<(), c_int> {
    match level {
        IGNORE | WARNING | ERROR => {
            LEVEL.store(level, Ordering::Relaxed);
            Ok(())
        }
        _ => Err(libc::EINVAL),
    }
}

/// The current level.
pub fn get() -> c_int {
    LEVEL.load(Ordering::Relaxed)
}
