//! The threads psx made itself (through `__wrap_pthread_create`), plus the
//! thread that loaded psx: the last-resort list when `/proc` cannot be read.
//!
//! Each entry is 4 bytes in an `mmap`ed array. A thread adds itself when it
//! starts and removes itself from a thread-specific-data destructor when it
//! ends (which also runs for `pthread_exit()` and cancellation).
//!
//! Every change is made with psx's signal blocked: a thread stopped in the
//! handler while holding this lock would deadlock the broadcaster, which
//! reads the list between rounds.

use core::ffi::c_int;

use crate::lock::Mutex;
use crate::signal;
use crate::sys;

struct List {
    tids: *mut c_int,
    len: usize,
    cap: usize,
}

// SAFETY: the pointer is an owned mapping, only used under the Mutex.
unsafe impl Send for List {}

static LIST: Mutex<List> = Mutex::new(List {
    tids: core::ptr::null_mut(),
    len: 0,
    cap: 0,
});

impl List {
    fn as_slice(&self) -> &[c_int] {
        if self.tids.is_null() {
            return &[];
        }
        // SAFETY: the first `len` entries of the mapping are initialised.
        unsafe { core::slice::from_raw_parts(self.tids, self.len) }
    }

    fn push(&mut self, tid: c_int) {
        if self.len == self.cap && self.grow().is_err() {
            return; // out of memory: the thread stays reachable through /proc
        }
        // SAFETY: len < cap after grow.
        unsafe { *self.tids.add(self.len) = tid };
        self.len += 1;
    }

    fn remove(&mut self, tid: c_int) {
        if let Some(i) = self.as_slice().iter().position(|&t| t == tid) {
            self.len -= 1;
            // SAFETY: i and len are < cap; swap-remove.
            unsafe { *self.tids.add(i) = *self.tids.add(self.len) };
        }
    }

    fn grow(&mut self) -> Result<(), c_int> {
        let cap = (self.cap * 2).max(1024);
        let tids = sys::map_zeroed(cap * size_of::<c_int>())? as *mut c_int;
        if !self.tids.is_null() {
            // SAFETY: both mappings hold at least `len` entries; after the
            // copy nothing refers to the old mapping (readers hold the lock).
            unsafe {
                core::ptr::copy_nonoverlapping(self.tids, tids, self.len);
                sys::unmap(self.tids as *mut u8, self.cap * size_of::<c_int>());
            }
        }
        self.tids = tids;
        self.cap = cap;
        Ok(())
    }
}

/// Runs `f` with psx's signal blocked and the list locked.
fn with_list<R>(f: impl FnOnce(&mut List) -> R) -> R {
    let mut old = 0;
    let blocked = sys::rt_sigprocmask(libc::SIG_BLOCK, signal::mask_bit(), Some(&mut old)).is_ok();
    let r = f(&mut LIST.lock());
    if blocked {
        let _ = sys::rt_sigprocmask(libc::SIG_SETMASK, old, None);
    }
    r
}

/// Adds the calling thread.
pub fn add_self() {
    let tid = sys::gettid();
    with_list(|l| l.push(tid));
}

/// Removes the calling thread.
pub fn remove_self() {
    let tid = sys::gettid();
    with_list(|l| l.remove(tid));
}

/// Calls `f` with each registered thread id. Used by the broadcaster, which
/// does not hold psx's signal blocked: it is never the target of its own
/// broadcast, so it cannot be stopped holding the lock.
pub fn for_each(mut f: impl FnMut(c_int)) {
    let list = LIST.lock();
    for &tid in list.as_slice() {
        f(tid);
    }
}

/// In the child of `fork()`: only the calling thread exists.
///
/// # Safety
/// Only from the child's `fork` handler, while it is single-threaded.
pub unsafe fn reset_after_fork() {
    // SAFETY: single-threaded child; no one else can hold the lock.
    unsafe { LIST.reset_after_fork() };
    let tid = sys::gettid();
    let mut list = LIST.lock();
    list.len = 0;
    list.push(tid);
}
