//! Everything that depends on the processor: the system call instruction,
//! the signal return trampoline, and the stand-in personality routine of the
//! `no_std` build, a signal handler's view of the interrupted context. One
//! backend module per architecture (rustix's layout); the rest of psx is
//! written once against these items:
//! - `unsafe fn raw6(nr, [a; 6]) -> c_long`: one system call;
//! - `fn restorer() -> usize` and `RESTORER_FLAG`: what `rt_sigaction`
//!   needs so that a handler can return (`x86_64` requires user space to
//!   supply the code; `aarch64` uses the kernel's vDSO);
//! - `rust_eh_personality` for the C artifacts (see `lib.rs`);
//! - `interrupted_pc(ctx)`, `skip_syscall(ctx, result)`, and `BRIDGE_TAIL`/
//!   `BRIDGE_SYSCALL_AT`, the code around the system call instruction of
//!   glibc's cancellable-system-call bridge (`handler::cancel`).
//!
//! Only the two 64-bit Linux architectures psx is built and tested for.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("psx supports Linux on x86_64 and aarch64");
