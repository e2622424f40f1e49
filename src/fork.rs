//! `fork()`: the child has one thread and a copy of psx's memory.
//!
//! The copy may say that a broadcast is running (another thread of the
//! parent was in one when this thread forked) or that a lock is held by a
//! thread that does not exist in the child. The child's `pthread_atfork`
//! handler resets all of it, so the child's own threads get full
//! all-threads behaviour. The parent needs nothing: the forking thread
//! answers the parent's broadcast before or after `fork()` like any other
//! system call. (`self` in `/proc/self/task` follows the child by itself.)

use crate::broadcast;
use crate::gate;
use crate::registry;
use crate::wrap;

/// Registers the child handler; called once at load time.
pub fn init() {
    // SAFETY: registering a plain extern "C" function with no prepare or
    // parent handler.
    unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
}

/// Runs in the child right after `fork()`, single-threaded.
unsafe extern "C" fn in_child() {
    // SAFETY: the child of fork() is single-threaded here.
    unsafe {
        broadcast::reset_after_fork();
        registry::reset_after_fork();
        gate::reset_after_fork();
    }
    // The thread's tid changed: register it again under a new token.
    wrap::set_token(registry::add_self());
}
