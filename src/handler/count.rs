//! The number of threads of the process, read by the broadcaster and by the
//! last thread to answer a round (`answer`). Runs in a signal handler too:
//! atomic loads and one raw `fstatat`.
//!
//! The count is the link count of `/proc/self/task` (2 + the kernel's
//! `nr_threads`, zombie main thread included), read through the `/proc`
//! root psx opened at load time (`threads::open_proc_root`, which also
//! records its identity here): no descriptor opened, nothing read.

use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use crate::sys;

/// Our descriptor for the `/proc` root, or -1.
pub static PROC_FD: AtomicI32 = AtomicI32::new(-1);
/// Its identity (device, inode) at the time we opened it.
pub static PROC_DEV: AtomicU64 = AtomicU64::new(0);
pub static PROC_INO: AtomicU64 = AtomicU64::new(0);

/// How many threads the process has now; `None` when that cannot be read.
///
/// The descriptor may have been replaced behind our back; it is only the
/// base of a path lookup (which changes nothing about it), and the answer is
/// trusted only when the directory found is on our `/proc`'s device: there
/// only the `/proc` root has an entry `self`.
///
/// Runs in a signal handler: atomic loads and one `fstatat`.
pub fn threads() -> Option<usize> {
    let root = PROC_FD.load(Ordering::Acquire);
    if root < 0 {
        return None;
    }
    let id = sys::file_id_at(root, c"self/task").ok()?;
    if id.dev != PROC_DEV.load(Ordering::Relaxed) || id.mode != libc::S_IFDIR {
        return None;
    }
    id.task_count()
}
