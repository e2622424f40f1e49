// SPDX-License-Identifier: BSD-3-Clause
//! The safe Rust API (feature `std`): all-threads system calls and typed
//! helpers for the usual privilege changes.
//!
//! Every function here makes one call through the engine, which runs the
//! system call on the calling thread first and, only if that succeeded, on
//! every other thread of the process, however it was created (`std::thread`,
//! `pthread_create` from C, threads of a `dlopen()`ed library). The value or
//! error returned is the calling thread's. What happens when another thread's
//! result differs is chosen with [`set_sensitivity`].
//!
//! The helpers make raw system calls, not C library calls: glibc's
//! `setresuid()` and friends already broadcast to every thread with a signal
//! of their own, but other C libraries do not, and `prctl()` and `capset()`
//! are per-thread everywhere.

use core::ffi::{c_int, c_long};
use std::io;

use crate::broadcast;
use crate::sensitivity;

/// Converts the engine's result to `std::io::Result`.
// `c_long` is `i64` on 64-bit targets but `i32` on 32-bit ones.
#[allow(clippy::useless_conversion)]
fn io_result(result: Result<c_long, c_int>) -> io::Result<i64> {
    result.map(i64::from).map_err(io::Error::from_raw_os_error)
}

/// Runs a `prctl` on every thread with all five arguments given (the kernel
/// rejects some options when the unused ones are not zero).
fn prctl(option: c_int, arg2: c_long) -> io::Result<()> {
    io_result(broadcast::all_threads(
        libc::SYS_prctl,
        [c_long::from(option), arg2, 0, 0, 0, 0],
    ))
    .map(drop)
}

/// Runs the system call `nr` with three arguments on every thread of the
/// process; arguments four to six are passed as zero.
///
/// The calling thread runs it first. If it fails there, the error is
/// returned and no other thread is touched. Otherwise every other thread
/// runs it exactly once (a thread made during the call around psx's
/// `pthread_create` wrapper by one that had run it may run it again, unless
/// `PSX_HOLD_THREADS=1`: README, "Guarantees"), and the calling thread's
/// return value is returned;
/// a different result on another thread is handled as set by
/// [`set_sensitivity`] (ignored by default).
///
/// This is the Rust form of the C function `psx_syscall3()`.
///
/// # Safety
///
/// An arbitrary system call can break any invariant of the program, and this
/// one does so on every thread at once. The caller must make sure that `nr`
/// with these arguments is sound to run on each thread of the process at an
/// arbitrary point of its execution: every pointer argument must stay valid
/// (for reading and, where the kernel writes, for writing) until this
/// function returns, and the call must not change state that code running on
/// the other threads relies on (memory mappings, file descriptors they use,
/// signal dispositions, ...). Prefer the typed helpers of this crate, which
/// are safe.
///
/// # Errors
///
/// The calling thread's error, as [`std::io::Error::from_raw_os_error`].
///
/// # Examples
///
/// `gettid` gives a different result on each thread; the caller's is
/// returned.
///
/// ```
/// // SAFETY: gettid takes no arguments and changes nothing.
/// let tid = unsafe { psx::syscall3(libc::SYS_gettid, 0, 0, 0) }?;
/// assert_eq!(tid, i64::from(unsafe { libc::gettid() }));
///
/// // An unknown prctl option fails with EINVAL on the calling thread.
/// // SAFETY: a failing call changes nothing.
/// let err = unsafe { psx::syscall3(libc::SYS_prctl, 0x7fff_0000, 0, 0) }.unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
/// # Ok::<(), std::io::Error>(())
/// ```
pub unsafe fn syscall3(nr: c_long, a1: c_long, a2: c_long, a3: c_long) -> io::Result<i64> {
    io_result(broadcast::all_threads(nr, [a1, a2, a3, 0, 0, 0]))
}

/// Runs the system call `nr` with six arguments on every thread of the
/// process.
///
/// Same behaviour as [`syscall3`]: the calling thread first, the others only
/// if it succeeded, the calling thread's result returned. This is the Rust
/// form of the C function `psx_syscall6()`.
///
/// # Safety
///
/// As for [`syscall3`]: the call with these arguments must be sound to run
/// on every thread of the process at an arbitrary point of its execution,
/// and every pointer argument must stay valid until this function returns.
///
/// # Errors
///
/// The calling thread's error, as [`std::io::Error::from_raw_os_error`].
///
/// # Examples
///
/// `PR_SET_NO_NEW_PRIVS` wants its last three arguments to be zero; here
/// every thread, including one that already exists, gets the flag.
///
/// ```
/// # fn every_thread(field: &str) -> Vec<String> {
/// #     let tasks = std::fs::read_dir("/proc/self/task").unwrap();
/// #     // A thread that ended meanwhile has no status to read: skip it.
/// #     let statuses = tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok());
/// #     statuses.map(|status| {
/// #         status.lines().find_map(|l| l.strip_prefix(field)).unwrap().trim().to_owned()
/// #     }).collect()
/// # }
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let worker = std::thread::spawn(move || rx.recv());
///
/// let nr = libc::SYS_prctl;
/// let option = libc::c_long::from(libc::PR_SET_NO_NEW_PRIVS);
/// // SAFETY: no pointers; setting no_new_privs only restricts future execve()s.
/// unsafe { psx::syscall6(nr, option, 1, 0, 0, 0, 0) }?;
///
/// assert!(every_thread("NoNewPrivs:").iter().all(|v| v == "1"));
/// drop(tx);
/// worker.join().unwrap().unwrap_err();
/// # Ok::<(), std::io::Error>(())
/// ```
pub unsafe fn syscall6(
    nr: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> io::Result<i64> {
    io_result(broadcast::all_threads(nr, [a1, a2, a3, a4, a5, a6]))
}

/// What psx does when a thread other than the caller gets a different
/// result from the caller's (see [`set_sensitivity`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Sensitivity {
    /// Say nothing; the caller's result is returned (the default).
    #[default]
    Ignore,
    /// Print one report on standard error, then return the caller's result.
    Warning,
    /// Print the report, then end the process: a program that meant to drop
    /// a privilege everywhere does not go on with it half dropped.
    Error,
}

impl Sensitivity {
    /// The C value (`PSX_IGNORE` 0, `PSX_WARNING` 1, `PSX_ERROR` 2).
    fn level(self) -> c_int {
        match self {
            Sensitivity::Ignore => 0,
            Sensitivity::Warning => 1,
            Sensitivity::Error => 2,
        }
    }
}

/// Sets, for the whole process, how psx reacts when another thread's result
/// differs from the calling thread's. Takes effect for the next call.
///
/// This is the Rust form of the C function `psx_set_sensitivity()`; the
/// setting is shared with it.
///
/// # Examples
///
/// ```
/// // A privilege drop that did not happen everywhere must not go unnoticed.
/// psx::set_sensitivity(psx::Sensitivity::Error);
/// psx::set_no_new_privs().unwrap();
/// psx::set_sensitivity(psx::Sensitivity::Ignore);
/// ```
pub fn set_sensitivity(level: Sensitivity) {
    // Every value of the enum is one the engine accepts, so this cannot fail.
    if let Err(errno) = sensitivity::set(level.level()) {
        unreachable!("psx engine refused sensitivity {level:?}: errno {errno}");
    }
}

/// Sets `no_new_privs` on every thread: from now on no `execve()` of this
/// process can gain privileges (setuid/setgid bits and file capabilities are
/// ignored). It cannot be unset. `PR_SET_NO_NEW_PRIVS`, see `prctl(2)`.
///
/// Needs no privilege.
///
/// # Errors
///
/// The calling thread's error (none is expected on kernels since 3.5).
///
/// # Examples
///
/// ```
/// # fn every_thread(field: &str) -> Vec<String> {
/// #     let tasks = std::fs::read_dir("/proc/self/task").unwrap();
/// #     // A thread that ended meanwhile has no status to read: skip it.
/// #     let statuses = tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok());
/// #     statuses.map(|status| {
/// #         status.lines().find_map(|l| l.strip_prefix(field)).unwrap().trim().to_owned()
/// #     }).collect()
/// # }
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let worker = std::thread::spawn(move || rx.recv());
///
/// psx::set_no_new_privs()?;
///
/// // Every thread of the process has the flag, the worker included.
/// let flags = every_thread("NoNewPrivs:");
/// assert!(flags.len() >= 2);
/// assert!(flags.iter().all(|v| v == "1"), "{flags:?}");
/// drop(tx);
/// worker.join().unwrap().unwrap_err();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_no_new_privs() -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1)
}

/// Sets or clears the `keep_capabilities` flag on every thread: when set, a
/// change of every user ID away from 0 keeps the permitted capabilities
/// (the effective set is still cleared). `PR_SET_KEEPCAPS`, see `prctl(2)`.
///
/// Needs no privilege, but fails with `EPERM` when the
/// `SECBIT_KEEP_CAPS_LOCKED` securebit is set.
///
/// # Errors
///
/// The calling thread's error.
///
/// # Examples
///
/// The flag is not shown in `/proc`; each thread can read its own.
///
/// ```
/// fn keepcaps() -> i32 {
///     let zero: libc::c_ulong = 0; // variadic: pass full-width zeros
///     unsafe { libc::prctl(libc::PR_GET_KEEPCAPS, zero, zero, zero, zero) }
/// }
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let worker = std::thread::spawn(move || {
///     rx.recv().unwrap();
///     keepcaps()
/// });
///
/// psx::set_keep_caps(true)?;
///
/// tx.send(()).unwrap();
/// assert_eq!(worker.join().unwrap(), 1);
/// assert_eq!(keepcaps(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_keep_caps(keep: bool) -> io::Result<()> {
    prctl(libc::PR_SET_KEEPCAPS, c_long::from(keep))
}

/// Removes capability number `cap` from the bounding set of every thread, so
/// that no later `execve()` can give it back. `PR_CAPBSET_DROP`, see
/// `prctl(2)`; capability numbers are in `capabilities(7)` (for example
/// `CAP_NET_RAW` is 13).
///
/// Needs `CAP_SETPCAP` in the calling thread's effective set (`EPERM`
/// otherwise); `EINVAL` when `cap` is not a capability the kernel knows.
///
/// # Errors
///
/// The calling thread's error.
///
/// # Examples
///
/// ```
/// # fn every_thread(field: &str) -> Vec<String> {
/// #     let tasks = std::fs::read_dir("/proc/self/task").unwrap();
/// #     // A thread that ended meanwhile has no status to read: skip it.
/// #     let statuses = tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok());
/// #     statuses.map(|status| {
/// #         status.lines().find_map(|l| l.strip_prefix(field)).unwrap().trim().to_owned()
/// #     }).collect()
/// # }
/// const CAP_NET_RAW: u32 = 13;
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let worker = std::thread::spawn(move || rx.recv());
///
/// match psx::drop_bounding_capability(CAP_NET_RAW) {
///     Ok(()) => {
///         for bounding in every_thread("CapBnd:") {
///             let bits = u64::from_str_radix(&bounding, 16).unwrap();
///             assert_eq!(bits & (1 << CAP_NET_RAW), 0, "{bounding}");
///         }
///     }
///     // Without CAP_SETPCAP (not root): refused, and nothing changed.
///     Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EPERM)),
/// }
/// drop(tx);
/// worker.join().unwrap().unwrap_err();
/// ```
pub fn drop_bounding_capability(cap: u32) -> io::Result<()> {
    prctl(libc::PR_CAPBSET_DROP, c_long::from(cap))
}

/// Sets the securebits of every thread to `bits` (not a mask to add: the
/// new value). `PR_SET_SECUREBITS`; the bits (`SECBIT_NOROOT` 1 << 0,
/// `SECBIT_NO_SETUID_FIXUP` 1 << 2, `SECBIT_KEEP_CAPS` 1 << 4,
/// `SECBIT_NO_CAP_AMBIENT_RAISE` 1 << 6, each with a `_LOCKED` bit just above
/// it) are described in `capabilities(7)`.
///
/// Needs `CAP_SETPCAP` in the calling thread's effective set; a locked bit
/// cannot be changed nor a lock removed (`EPERM`).
///
/// # Errors
///
/// The calling thread's error.
///
/// # Examples
///
/// ```
/// const SECBIT_NOROOT: u32 = 1 << 0;
/// const SECBIT_NOROOT_LOCKED: u32 = 1 << 1;
/// fn securebits() -> i32 {
///     let zero: libc::c_ulong = 0; // variadic: pass full-width zeros
///     unsafe { libc::prctl(libc::PR_GET_SECUREBITS, zero, zero, zero, zero) }
/// }
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let worker = std::thread::spawn(move || {
///     rx.recv().unwrap();
///     securebits()
/// });
///
/// // From now on, uid 0 gives no capabilities at execve(), and that stays.
/// let bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED;
/// let expected = match psx::set_securebits(bits) {
///     Ok(()) => bits as i32,
///     // Without CAP_SETPCAP (not root): refused, nothing changed.
///     Err(e) => {
///         assert_eq!(e.raw_os_error(), Some(libc::EPERM));
///         securebits()
///     }
/// };
/// tx.send(()).unwrap();
/// assert_eq!(worker.join().unwrap(), expected);
/// assert_eq!(securebits(), expected);
/// ```
pub fn set_securebits(bits: u32) -> io::Result<()> {
    prctl(libc::PR_SET_SECUREBITS, c_long::from(bits))
}

/// Empties the ambient capability set of every thread
/// (`PR_CAP_AMBIENT`, `PR_CAP_AMBIENT_CLEAR_ALL`, see `prctl(2)`), so that
/// no capability is passed on through `execve()` of an unprivileged
/// program.
///
/// Needs no privilege.
///
/// # Errors
///
/// The calling thread's error (`EINVAL` on kernels older than 4.3).
///
/// # Examples
///
/// ```
/// # fn every_thread(field: &str) -> Vec<String> {
/// #     let tasks = std::fs::read_dir("/proc/self/task").unwrap();
/// #     // A thread that ended meanwhile has no status to read: skip it.
/// #     let statuses = tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok());
/// #     statuses.map(|status| {
/// #         status.lines().find_map(|l| l.strip_prefix(field)).unwrap().trim().to_owned()
/// #     }).collect()
/// # }
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let worker = std::thread::spawn(move || rx.recv());
///
/// psx::clear_ambient_capabilities()?;
///
/// assert!(every_thread("CapAmb:").iter().all(|v| v == "0000000000000000"));
/// drop(tx);
/// worker.join().unwrap().unwrap_err();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn clear_ambient_capabilities() -> io::Result<()> {
    prctl(
        libc::PR_CAP_AMBIENT,
        c_long::from(libc::PR_CAP_AMBIENT_CLEAR_ALL),
    )
}

/// `_LINUX_CAPABILITY_VERSION_3` of `<linux/capability.h>`: 64-bit sets
/// passed as two 32-bit halves.
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets the effective, permitted and inheritable capability sets of every
/// thread (`capset(2)` with `_LINUX_CAPABILITY_VERSION_3`, pid 0). Bit `n`
/// of each mask is capability number `n` of `capabilities(7)`; for example
/// `1 << 13` is `CAP_NET_RAW`.
///
/// A thread can only lower its permitted set, only raise effective
/// capabilities that are permitted, and only raise inheritable ones that
/// are permitted and within the bounding set (or with `CAP_SETPCAP`);
/// otherwise `EPERM`.
///
/// # Errors
///
/// The calling thread's error.
///
/// # Examples
///
/// Dropping every capability works with or without root:
///
/// ```
/// # fn every_thread(field: &str) -> Vec<String> {
/// #     let tasks = std::fs::read_dir("/proc/self/task").unwrap();
/// #     // A thread that ended meanwhile has no status to read: skip it.
/// #     let statuses = tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok());
/// #     statuses.map(|status| {
/// #         status.lines().find_map(|l| l.strip_prefix(field)).unwrap().trim().to_owned()
/// #     }).collect()
/// # }
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let worker = std::thread::spawn(move || rx.recv());
///
/// psx::set_capabilities(0, 0, 0)?;
///
/// for field in ["CapEff:", "CapPrm:", "CapInh:"] {
///     assert!(every_thread(field).iter().all(|v| v == "0000000000000000"));
/// }
/// drop(tx);
/// worker.join().unwrap().unwrap_err();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_capabilities(effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
    // The kernel may write the version it prefers into the header, so it is
    // passed as a mutable pointer; both stay alive until every thread is done.
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    #[allow(
        clippy::cast_possible_truncation,
        reason = "splits a 64-bit set into halves"
    )]
    let half = |set: u64, high: bool| (if high { set >> 32 } else { set }) as u32;
    let data = [false, true].map(|high| CapData {
        effective: half(effective, high),
        permitted: half(permitted, high),
        inheritable: half(inheritable, high),
    });
    io_result(broadcast::all_threads(
        libc::SYS_capset,
        [
            &raw mut header as c_long,
            data.as_ptr() as c_long,
            0,
            0,
            0,
            0,
        ],
    ))
    .map(drop)
}

/// An ID argument of [`set_res_uid`] and [`set_res_gid`] that leaves that
/// ID unchanged (the kernel's `-1` as an unsigned ID).
pub const UNCHANGED: u32 = u32::MAX;

/// The `setresuid`, `setresgid` and `setgroups` system calls (32-bit IDs on
/// both 64-bit targets psx supports).
const SYS_SETRESUID: c_long = libc::SYS_setresuid;
const SYS_SETRESGID: c_long = libc::SYS_setresgid;
const SYS_SETGROUPS: c_long = libc::SYS_setgroups;

/// Sets the real, effective and saved user IDs of every thread with the raw
/// `setresuid` system call; pass [`UNCHANGED`] (`u32::MAX`) to leave one as
/// it is, as with `-1` in C.
///
/// The IDs are plain `u32` (`uid_t`), not `Option<u32>`, to stay one to one
/// with `setresuid(2)`; `u32::MAX` is never a valid user ID.
///
/// Without `CAP_SETUID`, each new ID must be one of the current real,
/// effective or saved IDs (`EPERM` otherwise). Changing IDs from 0 also
/// changes capabilities, see "Effect of user ID changes on capabilities" in
/// `capabilities(7)`.
///
/// Unlike glibc's `setresuid()`, which relies on glibc's own signal to reach
/// the other threads, this works the same whatever C library created them.
///
/// # Errors
///
/// The calling thread's error.
///
/// # Examples
///
/// Giving up a setuid identity for good: all three IDs become the real one.
///
/// ```
/// # fn every_thread(field: &str) -> Vec<String> {
/// #     let tasks = std::fs::read_dir("/proc/self/task").unwrap();
/// #     // A thread that ended meanwhile has no status to read: skip it.
/// #     let statuses = tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok());
/// #     statuses.map(|status| {
/// #         status.lines().find_map(|l| l.strip_prefix(field)).unwrap().trim().to_owned()
/// #     }).collect()
/// # }
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let worker = std::thread::spawn(move || rx.recv());
///
/// let uid = unsafe { libc::getuid() };
/// psx::set_res_uid(uid, uid, uid)?;
///
/// // /proc shows real, effective, saved and filesystem user IDs.
/// let expected = format!("{uid}\t{uid}\t{uid}\t{uid}");
/// assert!(every_thread("Uid:").iter().all(|v| *v == expected));
/// drop(tx);
/// worker.join().unwrap().unwrap_err();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_res_uid(real: u32, effective: u32, saved: u32) -> io::Result<()> {
    io_result(broadcast::all_threads(
        SYS_SETRESUID,
        [id_arg(real), id_arg(effective), id_arg(saved), 0, 0, 0],
    ))
    .map(drop)
}

/// Sets the real, effective and saved group IDs of every thread with the
/// raw `setresgid` system call; pass [`UNCHANGED`] (`u32::MAX`) to leave one
/// as it is. Same conventions as [`set_res_uid`]; needs `CAP_SETGID` to set
/// a group ID that is not one of the current three.
///
/// # Errors
///
/// The calling thread's error.
///
/// # Examples
///
/// ```
/// # fn every_thread(field: &str) -> Vec<String> {
/// #     let tasks = std::fs::read_dir("/proc/self/task").unwrap();
/// #     // A thread that ended meanwhile has no status to read: skip it.
/// #     let statuses = tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok());
/// #     statuses.map(|status| {
/// #         status.lines().find_map(|l| l.strip_prefix(field)).unwrap().trim().to_owned()
/// #     }).collect()
/// # }
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let worker = std::thread::spawn(move || rx.recv());
///
/// let gid = unsafe { libc::getgid() };
/// psx::set_res_gid(psx::UNCHANGED, gid, gid)?;
///
/// let expected = format!("{gid}\t{gid}\t{gid}\t{gid}");
/// assert!(every_thread("Gid:").iter().all(|v| *v == expected));
/// drop(tx);
/// worker.join().unwrap().unwrap_err();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_res_gid(real: u32, effective: u32, saved: u32) -> io::Result<()> {
    io_result(broadcast::all_threads(
        SYS_SETRESGID,
        [id_arg(real), id_arg(effective), id_arg(saved), 0, 0, 0],
    ))
    .map(drop)
}

/// An ID as the kernel reads it: `u32::MAX` must arrive as -1 in a long.
fn id_arg(id: u32) -> c_long {
    c_long::from(i32::from_ne_bytes(id.to_ne_bytes()))
}

/// Replaces the supplementary group list of every thread with `groups`, with
/// the raw `setgroups` system call (an empty slice clears the list).
///
/// Needs `CAP_SETGID` (`EPERM` otherwise); `EINVAL` when the list is longer
/// than `NGROUPS_MAX` (65536).
///
/// # Errors
///
/// The calling thread's error.
///
/// # Examples
///
/// ```
/// # fn every_thread(field: &str) -> Vec<String> {
/// #     let tasks = std::fs::read_dir("/proc/self/task").unwrap();
/// #     // A thread that ended meanwhile has no status to read: skip it.
/// #     let statuses = tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok());
/// #     statuses.map(|status| {
/// #         status.lines().find_map(|l| l.strip_prefix(field)).unwrap().trim().to_owned()
/// #     }).collect()
/// # }
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let worker = std::thread::spawn(move || rx.recv());
///
/// match psx::set_groups(&[]) {
///     Ok(()) => assert!(every_thread("Groups:").iter().all(|v| v.is_empty())),
///     // Without CAP_SETGID (not root): refused.
///     Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EPERM)),
/// }
/// drop(tx);
/// worker.join().unwrap().unwrap_err();
/// ```
pub fn set_groups(groups: &[u32]) -> io::Result<()> {
    let count =
        c_long::try_from(groups.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    io_result(broadcast::all_threads(
        SYS_SETGROUPS,
        [count, groups.as_ptr() as c_long, 0, 0, 0, 0],
    ))
    .map(drop)
}
