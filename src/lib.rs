//! # psx: one system call on every thread of the process
//!
//! On Linux each thread has its own credentials: uids and gids,
//! capabilities, securebits, `no_new_privs`, keepcaps, seccomp filters. A
//! program that drops a privilege on one thread leaves the others
//! privileged. psx runs one system call on every thread, exactly once, and
//! is a drop-in replacement for libcap's `libpsx` (same symbols, header,
//! `libpsx.so.2` and pkg-config name).
//!
//! The crate is three things:
//! - the engine (`no_std`, only `libc`), built by the Makefile as
//!   `libpsx.so.2` and `libpsx.a` with `--no-default-features`;
//! - the C ABI of `<sys/psx_syscall.h>` ([`ffi`]);
//! - with the default `std` feature, a safe Rust API on top.
//!
//! Modules, one concern each: [`ffi`] (C exports), `broadcast` (the
//! protocol), `threads` (discovery), `registry` and `wrap` (the
//! `pthread_create` wrapper), `signal` (handler, installation, chaining),
//! `fork`, `slots` (the broadcast table), `sys` (raw system calls), `lock`.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod ffi;

mod broadcast;
mod fork;
mod lock;
mod park;
mod registry;
mod report;
mod sensitivity;
mod signal;
mod slots;
mod sys;
mod threads;
mod wrap;

#[cfg(feature = "std")]
mod api;
#[cfg(feature = "std")]
pub use api::*;

use core::sync::atomic::{AtomicU32, Ordering};

/// Marks binaries that contain this engine, so tests (and people) can prove
/// which libpsx was linked or loaded and which release of psx it is
/// (`grep -a psx-rust-engine`, `strings | grep psx-rust-engine`).
const IDENT_TEXT: &[u8] = concat!(
    "psx-rust-engine ",
    env!("CARGO_PKG_VERSION"),
    ": libpsx replacement written in Rust\0"
)
.as_bytes();
#[used]
static IDENT: [u8; IDENT_TEXT.len()] = {
    let mut bytes = [0; IDENT_TEXT.len()];
    let mut i = 0;
    while i < bytes.len() {
        bytes[i] = IDENT_TEXT[i];
        i += 1;
    }
    bytes
};

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

/// One-time set-up: our `/proc` descriptor, parking's checks, the signal
/// handler, the registry key and the fork handler. Idempotent; later
/// callers wait on a futex for the first to finish.
pub(crate) fn ensure_init() {
    if INIT.load(Ordering::Acquire) == READY {
        return;
    }
    if INIT
        .compare_exchange(UNINIT, RUNNING, Ordering::Acquire, Ordering::Acquire)
        .is_ok()
    {
        let _ = threads::open_proc_root();
        // Before the handler exists: it reads what this finds out.
        park::init();
        let _ = signal::ensure_installed();
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

// The precompiled `core` refers to `rust_eh_personality` from its unwind
// tables even under panic=abort, where nothing ever unwinds through Rust
// code and the routine is never called. The no_std build provides a hidden
// stand-in (it traps) so the C artifacts link without Rust's std; it is not
// exported from libpsx.so.2 and is made local in libpsx.a.
#[cfg(all(not(feature = "std"), target_arch = "x86_64"))]
core::arch::global_asm!(
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality,@function",
    "rust_eh_personality:",
    "    ud2",
);
#[cfg(all(not(feature = "std"), target_arch = "aarch64"))]
core::arch::global_asm!(
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality,%function",
    "rust_eh_personality:",
    "    brk #0",
);

/// The C artifacts are `no_std`: a panic (there should be none) ends the
/// process at once; nothing can unwind across the C ABI. Only in the
/// `no_std` build, so a Rust program's own std keeps its handler.
#[cfg(not(feature = "std"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    report::Line::new().text("internal error (panic); ending the process");
    sys::kill_process()
}
