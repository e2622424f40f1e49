// SPDX-License-Identifier: BSD-3-Clause
//! Uses the allocator, formatting and threads of std, so that its archive
//! carries std, alloc, core and compiler_builtins: the symbols most likely
//! to clash with another Rust archive.

use std::ffi::c_char;

/// Sum of 1..=n, computed through a Vec on another Rust-spawned thread.
#[no_mangle]
pub extern "C" fn other_std_sum(n: u32) -> u64 {
    let handle = std::thread::spawn(move || (1..=u64::from(n)).collect::<Vec<u64>>());
    handle.join().map(|v| v.iter().sum()).unwrap_or(0)
}

/// Writes "other_std says <n>" (NUL-terminated) into buf; returns its length.
///
/// # Safety
/// buf must be valid for len bytes.
#[no_mangle]
pub unsafe extern "C" fn other_std_describe(n: u32, buf: *mut c_char, len: usize) -> usize {
    let text = format!("other_std says {n}");
    if buf.is_null() || len <= text.len() {
        return 0;
    }
    // SAFETY: the caller promises len writable bytes; text.len() + 1 <= len.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
        *buf.add(text.len()) = 0;
    }
    text.len()
}
