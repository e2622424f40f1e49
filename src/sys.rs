//! Raw system calls, each wrapped once and documented once.
//!
//! psx runs inside signal handlers and while other threads are stopped in
//! them, so it cannot use the C library's wrappers there: they may set
//! `errno` (which belongs to the interrupted code) or take locks an
//! interrupted thread holds. Everything here is a single `syscall`
//! instruction: no locks, no allocation, no `errno`. Every function is
//! async-signal-safe.
//!
//! Failures come back as `Err(errno)` (the kernel's negative return, negated).

use core::ffi::{CStr, c_int, c_long};
use core::sync::atomic::{AtomicU32, Ordering};

/// The kernel's raw return value: a result, or `-errno` in `-4095..=-1`.
pub type Raw = c_long;

pub use crate::arch::raw6;

/// Splits a raw result into `Ok(value)` or `Err(errno)`.
#[inline]
pub fn check(ret: Raw) -> Result<c_long, c_int> {
    if (-4095..0).contains(&ret) {
        // -4095..0 negated fits any int.
        Err(c_int::try_from(-ret).unwrap_or(libc::EINVAL))
    } else {
        Ok(ret)
    }
}

/// A value that travels in a system call register: integers widen (signed
/// ones sign-extend, as the C ABI does), pointers pass their address.
pub trait Arg {
    /// The register's contents.
    fn arg(self) -> c_long;
}

macro_rules! widening_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn arg(self) -> c_long {
                c_long::from(self)
            }
        }
    )*};
}
widening_arg!(i32, u32, i64);

// Same width on the 64-bit targets psx supports: the register gets the
// bits unchanged, as C would pass them.
#[allow(clippy::cast_possible_wrap)]
impl Arg for usize {
    fn arg(self) -> c_long {
        self as c_long
    }
}

#[allow(clippy::cast_possible_wrap)]
impl Arg for u64 {
    fn arg(self) -> c_long {
        self as c_long
    }
}

impl<T> Arg for *const T {
    fn arg(self) -> c_long {
        self.addr().arg()
    }
}

impl<T> Arg for *mut T {
    fn arg(self) -> c_long {
        self.addr().arg()
    }
}

/// A result the kernel bounds to an `int` (a descriptor, a tid).
fn to_int(ret: c_long) -> c_int {
    c_int::try_from(ret).unwrap_or(c_int::MAX)
}

/// A successful byte count (never negative after [`check`]).
fn to_len(ret: c_long) -> usize {
    usize::try_from(ret).unwrap_or(0)
}

/// Shorthand for a system call whose arguments cannot harm memory safety.
macro_rules! call {
    ($nr:expr $(, $arg:expr)* $(,)?) => {{
        let mut args = [0 as c_long; 6];
        let given = [$(Arg::arg($arg)),*];
        args[..given.len()].copy_from_slice(&given);
        // SAFETY: every caller of call! passes only integers or pointers to
        // live memory of the size the kernel expects; see each wrapper.
        check(unsafe { raw6($nr as c_long, args) })
    }};
}

/// `gettid()`: the calling thread's id.
/// Runs in signal handlers: one system call.
pub fn gettid() -> c_int {
    call!(libc::SYS_gettid).map_or(0, to_int)
}

/// `getpid()`: the process id (the thread group id).
pub fn getpid() -> c_int {
    call!(libc::SYS_getpid).map_or(0, to_int)
}

/// `rt_tgsigqueueinfo(pid, tid, sig, info)`: queues `sig` with our own
/// `siginfo` for one thread of this process. Unlike `tgkill`, the receiver
/// sees our `si_code` and `si_value`, which is how psx tells its signals from
/// everybody else's.
pub fn tgsigqueueinfo(pid: c_int, tid: c_int, sig: c_int, info: &SigInfo) -> Result<(), c_int> {
    call!(
        libc::SYS_rt_tgsigqueueinfo,
        pid,
        tid,
        sig,
        core::ptr::from_ref(info)
    )
    .map(drop)
}

/// `tgkill(pid, tid, 0)`: may thread `tid` still exist? Only ESRCH says
/// no (for reaping: a thread is given up only when surely gone).
pub fn thread_exists(pid: c_int, tid: c_int) -> bool {
    call!(libc::SYS_tgkill, pid, tid, 0) != Err(libc::ESRCH)
}

/// `tgkill(pid, tid, 0)` succeeded: thread `tid` surely exists (for ending
/// a broadcast: an error, e.g. EPERM from a seccomp filter, proves nothing
/// and must not let a dead thread stand for a live one).
pub fn thread_surely_alive(pid: c_int, tid: c_int) -> bool {
    call!(libc::SYS_tgkill, pid, tid, 0).is_ok()
}

/// `kill(pid, SIGKILL)`: ends the whole process; it cannot be caught or
/// blocked, which is what failing closed needs.
pub fn kill_process() -> ! {
    let _ = call!(libc::SYS_kill, getpid(), libc::SIGKILL);
    // SIGKILL is delivered before kill() returns to user space for our own
    // process; exit_group is the belt to those braces.
    loop {
        let _ = call!(libc::SYS_exit_group, 127);
    }
}

const FUTEX_WAIT_PRIVATE: c_int = libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG;
const FUTEX_WAKE_PRIVATE: c_int = libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG;

/// `futex(word, FUTEX_WAIT_PRIVATE, expected, timeout)`: sleeps while `*word
/// == expected`, until woken, interrupted by a signal, or `timeout_ns` (if
/// any) has passed. Spurious returns are possible: callers re-check.
/// Returns whether the timeout passed (ETIMEDOUT).
/// Runs in signal handlers (the holds): one system call.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout_ns: Option<u64>) -> bool {
    let ts = timeout_ns.map(|ns| libc::timespec {
        tv_sec: libc::time_t::try_from(ns / 1_000_000_000).unwrap_or(libc::time_t::MAX),
        tv_nsec: c_long::try_from(ns % 1_000_000_000).unwrap_or(0),
    });
    let ts_ptr = ts.as_ref().map_or(core::ptr::null(), core::ptr::from_ref);
    call!(
        libc::SYS_futex,
        word.as_ptr(),
        FUTEX_WAIT_PRIVATE,
        expected,
        ts_ptr
    ) == Err(libc::ETIMEDOUT)
}

/// `futex(word, FUTEX_WAKE_PRIVATE, count)`: wakes up to `count` waiters.
/// Runs in signal handlers: one system call.
pub fn futex_wake(word: &AtomicU32, count: c_int) {
    let _ = call!(libc::SYS_futex, word.as_ptr(), FUTEX_WAKE_PRIVATE, count);
}

/// Sleeps until `*word` is 0, for at most `max_ns`: a bounded wait on a
/// counter whose last decrementer wakes it. For fairness waits only, whose
/// callers go on correctly when the bound passes first. Returns at once,
/// without a clock read, when the counter is already 0. (Built on
/// [`futex_wait`] and [`monotonic_ns`], not a system call of its own.)
pub fn wait_for_zero(word: &AtomicU32, max_ns: u64) {
    let mut value = word.load(Ordering::SeqCst);
    if value == 0 {
        return;
    }
    let deadline = monotonic_ns() + max_ns;
    while value != 0 {
        let now = monotonic_ns();
        if now >= deadline {
            return;
        }
        futex_wait(word, value, Some(deadline - now));
        value = word.load(Ordering::SeqCst);
    }
}

/// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds, by system call (not the
/// vDSO, whose data page a signal handler cannot rely on having been set up).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let _ = call!(libc::SYS_clock_gettime, libc::CLOCK_MONOTONIC, &raw mut ts);
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    secs * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// The kernel's `struct sigaction` for `rt_sigaction` (not glibc's: the
/// kernel's has the mask last and sized to the kernel's 64 signals).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct KernelSigaction {
    pub handler: usize,
    pub flags: u64,
    pub restorer: usize,
    pub mask: u64,
}

impl KernelSigaction {
    /// Whether this action runs a handler (not `SIG_DFL`, not `SIG_IGN`).
    pub fn runs_handler(&self) -> bool {
        self.handler != libc::SIG_DFL && self.handler != libc::SIG_IGN
    }
}

/// `rt_sigaction(sig, new, old)` with the kernel's structure. Used instead
/// of `sigaction()` because glibc refuses to touch signal 33, the one psx
/// shares with glibc's setxid broadcast.
pub fn rt_sigaction(
    sig: c_int,
    new: Option<&KernelSigaction>,
    old: Option<&mut KernelSigaction>,
) -> Result<(), c_int> {
    let new = new.map_or(core::ptr::null(), core::ptr::from_ref);
    let old = old.map_or(core::ptr::null_mut(), core::ptr::from_mut);
    call!(libc::SYS_rt_sigaction, sig, new, old, 8).map(drop)
}

/// The action installed for `sig` (`rt_sigaction(sig, NULL, &old)`).
pub fn current_action(sig: c_int) -> Result<KernelSigaction, c_int> {
    let mut current = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    rt_sigaction(sig, None, Some(&mut current)).map(|()| current)
}

/// `openat(dirfd, path, flags)`. Always adds `O_CLOEXEC`: psx's
/// descriptors must not leak into exec'd programs.
pub fn openat(dirfd: c_int, path: &CStr, flags: c_int) -> Result<c_int, c_int> {
    call!(
        libc::SYS_openat,
        dirfd,
        path.as_ptr(),
        flags | libc::O_CLOEXEC
    )
    .map(to_int)
}

/// `close(fd)`.
pub fn close(fd: c_int) {
    let _ = call!(libc::SYS_close, fd);
}

/// `read(fd, buf)`.
pub fn read(fd: c_int, buf: &mut [u8]) -> Result<usize, c_int> {
    call!(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()).map(to_len)
}

/// `write(fd, buf)`, repeated until all is written or an error occurs.
pub fn write_all(fd: c_int, mut buf: &[u8]) {
    while !buf.is_empty() {
        match call!(libc::SYS_write, fd, buf.as_ptr(), buf.len()) {
            Ok(n) if n > 0 => buf = &buf[to_len(n)..],
            Err(libc::EINTR) => {}
            _ => return,
        }
    }
}

/// `lseek(fd, 0, SEEK_SET)`: rewinds a directory so it can be listed again.
pub fn rewind(fd: c_int) -> Result<(), c_int> {
    call!(libc::SYS_lseek, fd, 0, libc::SEEK_SET).map(drop)
}

/// Sets this thread's signal mask to `mask` (raw: signals 32 and 33 too)
/// and returns the previous one.
pub fn set_signal_mask(mask: u64) -> Result<u64, c_int> {
    let mut old: u64 = 0;
    call!(
        libc::SYS_rt_sigprocmask,
        libc::SIG_SETMASK,
        &raw const mask,
        &raw mut old,
        8
    )
    .map(|_| old)
}

/// The signals pending for this thread or its process while blocked
/// (`rt_sigpending`; bit n-1 is signal n), 0 on an error.
/// Runs in signal handlers: one system call.
pub fn pending_signals() -> u64 {
    let mut set: u64 = 0;
    call!(libc::SYS_rt_sigpending, &raw mut set, 8).map_or(0, |_| set)
}

/// Copies `buf.len()` bytes of this process's memory at `addr` into `buf`
/// with `process_vm_readv`, which fails (`EFAULT`) where a plain read would
/// fault: unmapped or execute-only memory. Runs in signal handlers: two
/// system calls. `false` unless every byte was copied.
pub fn read_own_memory(addr: usize, buf: &mut [u8]) -> bool {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut core::ffi::c_void,
        iov_len: buf.len(),
    };
    let pid = getpid();
    call!(
        libc::SYS_process_vm_readv,
        pid,
        &raw const local,
        1,
        &raw const remote,
        1,
        0
    ) == Ok(buf.len() as c_long)
}

/// `getdents64(fd, buf)`: fills `buf` with `linux_dirent64` records and
/// returns the number of bytes used (0 at the end of the directory).
pub fn getdents64(fd: c_int, buf: &mut [u8]) -> Result<usize, c_int> {
    call!(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()).map(to_len)
}

/// The identity of a file: device, inode and file type, plus its link
/// count (for `/proc/<pid>/task`, 2 + the number of threads).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub nlink: u64,
}

impl FileId {
    /// Whether this is the directory (device, inode) recorded earlier.
    /// Runs in a signal handler: comparisons.
    pub fn is_dir(&self, dev: u64, ino: u64) -> bool {
        self.dev == dev && self.ino == ino && self.mode == libc::S_IFDIR
    }

    /// The number of threads a `/proc/<pid>/task` directory's link count
    /// stands for (2 + the kernel's `nr_threads`).
    /// Runs in a signal handler: arithmetic.
    pub fn task_count(&self) -> Option<usize> {
        usize::try_from(self.nlink.checked_sub(2)?).ok()
    }

    fn of(st: &libc::stat) -> FileId {
        FileId {
            dev: st.st_dev,
            ino: st.st_ino,
            mode: st.st_mode & libc::S_IFMT,
            // `nlink_t` is 32 bits on aarch64.
            #[allow(clippy::useless_conversion)]
            nlink: u64::from(st.st_nlink),
        }
    }
}

/// `fstat(fd)`, reduced to what identifies the file.
pub fn file_id(fd: c_int) -> Result<FileId, c_int> {
    // SAFETY: `stat` is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    call!(libc::SYS_fstat, fd, &raw mut st)?;
    Ok(FileId::of(&st))
}

/// `fstatat(dirfd, path, 0)` (`newfstatat`), reduced like [`file_id`].
/// Uses `dirfd` only as the base of the lookup.
pub fn file_id_at(dirfd: c_int, path: &CStr) -> Result<FileId, c_int> {
    // SAFETY: `stat` is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    call!(libc::SYS_newfstatat, dirfd, path.as_ptr(), &raw mut st, 0)?;
    Ok(FileId::of(&st))
}

/// `readlinkat(dirfd, path, buf)`: the link's target, truncated to `buf`;
/// returns its length.
pub fn readlinkat(dirfd: c_int, path: &CStr, buf: &mut [u8]) -> Result<usize, c_int> {
    call!(
        libc::SYS_readlinkat,
        dirfd,
        path.as_ptr(),
        buf.as_mut_ptr(),
        buf.len()
    )
    .map(to_len)
}

/// `mmap` of `len` bytes of private, zeroed, read-write memory. psx uses
/// it instead of `malloc` wherever another thread may be stopped inside
/// `malloc` holding its lock.
pub fn map_zeroed(len: usize) -> Result<*mut u8, c_int> {
    call!(
        libc::SYS_mmap,
        0,
        len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
        0
    )
    .map(|p| p as *mut u8)
}

/// `munmap(ptr, len)`.
///
/// # Safety
/// `ptr..ptr+len` must be a mapping from [`map_zeroed`] that nothing uses any
/// more.
pub unsafe fn unmap(ptr: *mut u8, len: usize) {
    let _ = call!(libc::SYS_munmap, ptr, len);
}

/// The `siginfo_t` psx queues with [`tgsigqueueinfo`]: the `SI_QUEUE` layout
/// (`si_pid`, `si_uid`, `si_value`) padded to the kernel's 128 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SigInfo {
    pub signo: c_int,
    pub errno: c_int,
    pub code: c_int,
    pad0: c_int,
    pub pid: c_int,
    pub uid: u32,
    pub value: u64,
    pad1: [u64; 12],
}

impl SigInfo {
    /// A queued-signal `siginfo` with the given sender fields.
    pub const fn queued(signo: c_int, pid: c_int, uid: u32, value: u64) -> Self {
        SigInfo {
            signo,
            errno: 0,
            code: libc::SI_QUEUE,
            pad0: 0,
            pid,
            uid,
            value,
            pad1: [0; 12],
        }
    }
}

const _: () = assert!(core::mem::size_of::<SigInfo>() == 128);

/// Sets the calling thread's `errno` (C convention for the exported API).
/// Not async-signal-safe in spirit: only used on the caller's own path.
pub fn set_errno(errno: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno slot,
    // valid for the thread's lifetime.
    unsafe { *libc::__errno_location() = errno };
}
