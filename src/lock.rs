//! A futex mutex: the only lock psx takes.
//!
//! Waiting is a futex wait, never a `sched_yield` spin, and a waiting
//! thread stays interruptible: a thread queued behind a running broadcast
//! still handles that broadcast's signal (the wait resumes afterwards), which
//! is why concurrent psx calls cannot deadlock each other.
//!
//! Not for signal handlers: a handler that waited for a lock held by the
//! thread it interrupted would never return.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::sys;

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// A value guarded by a futex mutex. `const`-constructible for statics.
pub struct Mutex<T> {
    word: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a Guard, and at most one Guard
// exists at a time (the futex word protocol below).
unsafe impl<T: Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    pub const fn new(value: T) -> Self {
        Mutex {
            word: AtomicU32::new(UNLOCKED),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, sleeping on the futex while another thread has it.
    pub fn lock(&self) -> Guard<'_, T> {
        if self
            .word
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // Mark the lock contended so the holder's unlock wakes us.
            while self.word.swap(CONTENDED, Ordering::Acquire) != UNLOCKED {
                sys::futex_wait(&self.word, CONTENDED, None);
            }
        }
        Guard { mutex: self }
    }

    /// Forgets any holder: only for the child of `fork()`, where the thread
    /// that held the lock does not exist.
    ///
    /// # Safety
    /// No other thread may exist that could be using the lock.
    pub unsafe fn reset_after_fork(&self) {
        self.word.store(UNLOCKED, Ordering::Relaxed);
    }
}

/// Proof that the lock is held; unlocks when dropped.
pub struct Guard<'a, T> {
    mutex: &'a Mutex<T>,
}

impl<T> core::ops::Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves exclusive access.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> core::ops::DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves exclusive access.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        if self.mutex.word.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            sys::futex_wake(&self.mutex.word, 1);
        }
    }
}
