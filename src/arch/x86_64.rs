//! `x86_64`: `syscall`, and psx's own `rt_sigreturn` restorer.

use core::ffi::c_long;

/// Performs system call `nr` with six arguments and returns the kernel's raw
/// result (`-errno` on failure). Runs in signal handlers: one instruction.
///
/// # Safety
/// The call can do anything a system call can: the caller vouches for `nr`
/// and its arguments (pointers valid, memory effects acceptable).
#[inline]
pub unsafe fn raw6(nr: c_long, a: [c_long; 6]) -> c_long {
    let ret: c_long;
    // SAFETY: the x86_64 Linux system call convention: number in rax,
    // arguments in rdi, rsi, rdx, r10, r8, r9; the kernel clobbers rcx and
    // r11 and returns in rax. No stack is used. The effect of the call itself
    // is the caller's responsibility (see # Safety).
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

// x86_64 requires user space to supply the code that returns from a signal
// handler (SA_RESTORER); the C library's is not ours to reference, so psx has
// its own: a bare `rt_sigreturn` (system call 15).
//
// Unwinders must be able to step through a thread stopped in our handler
// (backtrace() from a handler psx chains to, gdb). The restorer carries no
// CFI; instead it is exactly the byte sequence libgcc's x86_64 fallback (and
// gdb) recognise as a signal return, `48 c7 c0 0f 00 00 00` `0f 05` (mov
// $15,%rax; syscall), written out so no assembler can pick a shorter
// encoding. Unwinders look up the byte before a return address, so a `nop`
// without CFI precedes the label: the lookup then finds no function's unwind
// table and falls back to recognising the bytes (c-tests/t12_unwind checks
// it).
core::arch::global_asm!(
    ".pushsection .text.psx_rs_restore_rt,\"ax\",@progbits",
    ".globl psx_rs_restore_rt",
    ".hidden psx_rs_restore_rt",
    ".type psx_rs_restore_rt,@function",
    ".p2align 4",
    "    nop",
    "psx_rs_restore_rt:",
    "    .byte 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00",
    "    .byte 0x0f, 0x05",
    ".size psx_rs_restore_rt, . - psx_rs_restore_rt",
    ".popsection",
);

unsafe extern "C" {
    fn psx_rs_restore_rt();
}

/// The restorer to pass to `rt_sigaction`.
pub fn restorer() -> usize {
    psx_rs_restore_rt as *const () as usize
}

/// `SA_RESTORER`: the restorer field is set.
pub const RESTORER_FLAG: u64 = 0x0400_0000;

// The precompiled `core` refers to `rust_eh_personality` from its unwind
// tables even under panic=abort, where nothing ever unwinds through Rust
// code and the routine is never called. The no_std build provides a hidden
// stand-in (it traps) so the C artifacts link without Rust's std; it is not
// exported from libpsx.so.2 and is made local in libpsx.a.
#[cfg(not(feature = "std"))]
core::arch::global_asm!(
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality,@function",
    "rust_eh_personality:",
    "    ud2",
);
