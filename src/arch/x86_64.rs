//! `x86_64`: `syscall`, and psx's own `rt_sigreturn` restorer.

use core::ffi::{c_long, c_void};

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

/// The last instructions of glibc's cancellable-system-call bridge
/// (`__syscall_cancel_arch`, glibc 2.41 and later): `mov %r11,0x8(%rsp)`,
/// `syscall`, `ret`, with the system call instruction at
/// [`BRIDGE_SYSCALL_AT`]. The bridge is hand-written assembly; these bytes
/// occur once in Debian's 2.41 and 2.43 `libc.so.6` and not in 2.36, which
/// has no bridge.
pub const BRIDGE_TAIL: [u8; 8] = [0x4c, 0x89, 0x5c, 0x24, 0x08, 0x0f, 0x05, 0xc3];
/// Where the system call instruction starts in [`BRIDGE_TAIL`].
pub const BRIDGE_SYSCALL_AT: usize = 5;

/// The instruction pointer of the context a signal interrupted.
/// Runs in signal handlers: one read.
///
/// # Safety
/// `ctx` is the `ucontext_t` the kernel passed to an `SA_SIGINFO` handler.
pub unsafe fn interrupted_pc(ctx: *mut c_void) -> usize {
    // SAFETY: a valid ucontext_t (# Safety); REG_RIP indexes its gregs.
    let pc = unsafe { (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs[REG_RIP] };
    usize::try_from(pc).unwrap_or(0)
}

/// Makes an interrupted context that stands at a `syscall` instruction go
/// on after it with `result` in `rax`, as if the call had returned it.
/// Runs in signal handlers: two writes.
///
/// # Safety
/// As [`interrupted_pc`], and the context's instruction is `syscall`.
pub unsafe fn skip_syscall(ctx: *mut c_void, result: c_long) {
    // SAFETY: a valid ucontext_t that the kernel restores on return.
    let regs = unsafe { &mut (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    regs[REG_RIP] += 2; // the length of `syscall`
    regs[REG_RAX] = result;
}

#[allow(clippy::cast_sign_loss, reason = "libc's register indices are small")]
const REG_RIP: usize = libc::REG_RIP as usize;
#[allow(clippy::cast_sign_loss, reason = "libc's register indices are small")]
const REG_RAX: usize = libc::REG_RAX as usize;

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
