//! # psx: one system call on every thread of the process
//!
//! On Linux each thread has its own credentials: uids and gids,
//! capabilities, securebits, `no_new_privs`, keepcaps, seccomp filters. A
//! program that drops a privilege on one thread leaves the others
//! privileged. psx runs one system call on every thread, exactly once (one
//! exception: README, "Guarantees"), and
//! is a drop-in replacement for libcap's `libpsx` (same symbols, header,
//! `libpsx.so.2` and pkg-config name).
//!
//! The crate is three things:
//! - the engine (`no_std`, only `libc`), built by the Makefile as
//!   `libpsx.so.2` and `libpsx.a` with `--no-default-features`;
//! - the C ABI of `<sys/psx_syscall.h>` ([`ffi`]);
//! - with the default `std` feature, a safe Rust API on top.
//!
//! Modules, one concern each, in layers (each imports only those below it):
//! - the ABIs: [`ffi`] (C exports), `api` (Rust);
//! - the broadcaster side: `broadcast` (one system call on every thread:
//!   rounds, the end condition and its argument), `threads` (discovery from
//!   `/proc`), `registry` and `wrap` (the `pthread_create` wrapper), `fork`,
//!   `install` (putting the handler in place), `init`;
//! - **the handler side: `handler/`**, everything that runs in a signal
//!   handler (atomics and raw system calls only), and nothing else;
//! - shared by both sides: `protocol` (the call, generations, `si_value`),
//!   `slots` (the broadcast table and its state machine);
//! - below all: `sys` (each raw system call wrapped once), `arch/` (one
//!   backend per processor: registers, `asm!`, the signal restorer), `lock`,
//!   `report`, `sensitivity`.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod ffi;

mod arch;
mod broadcast;
mod fork;
mod gate;
mod handler;
mod init;
mod install;
mod lock;
mod protocol;
mod registry;
mod report;
mod sensitivity;
mod slots;
mod sys;
mod threads;
mod wrap;

#[cfg(feature = "std")]
mod api;
#[cfg(feature = "std")]
pub use api::*;

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

/// The C artifacts are `no_std`: a panic (there should be none) ends the
/// process at once; nothing can unwind across the C ABI. Only in the
/// `no_std` build, so a Rust program's own std keeps its handler.
#[cfg(not(feature = "std"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    report::Line::new().text("internal error (panic); ending the process");
    sys::kill_process()
}
