//! Thread discovery: which threads does the process have right now?
//!
//! The answer is `/proc/self/task`, whatever made the threads: a `dlopen()`ed
//! library, libstdc++, Go's runtime, or code that ran before psx was loaded.
//! The registry of threads made through `__wrap_pthread_create` is only the
//! last resort, because it cannot see any of those.
//!
//! Three things make reaching `/proc` harder than opening a path:
//! - `chroot()` into a directory without `/proc`: psx opens `/proc` itself
//!   when it is loaded and keeps that descriptor (`O_PATH`); `openat(fd,
//!   "self/task")` still works from inside the chroot, and in a forked child
//!   `self` names the child.
//! - daemons close descriptors they did not open (`closefrom(3)`) and the
//!   number may then be reused by the application: before each use psx
//!   checks with `fstat` that the descriptor is still the `/proc` it opened
//!   (same device and inode) and otherwise forgets it (never closes, reads
//!   or writes it: it is not ours any more). It only ever serves as the base
//!   of an `openat`, which changes nothing about the descriptor.
//! - `/proc` unreachable both ways: psx falls back to the registry, says so
//!   once on stderr, and under `PSX_ERROR` ends the process.
//!
//! Listing uses `getdents64` on a raw descriptor into a stack buffer:
//! `opendir`/`readdir` call `malloc`, which can deadlock while other threads
//! are stopped in the handler holding the allocator's lock.

use core::cell::Cell;
use core::ffi::{CStr, c_int};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::handler::count::{self, PROC_DEV, PROC_FD, PROC_INO};
use crate::registry;
use crate::report::{self, Line};
use crate::sensitivity;
use crate::sys;

/// The fallback message is printed once per process.
static FALLBACK_SAID: AtomicBool = AtomicBool::new(false);

/// Opens (or re-opens) our `/proc` descriptor. Called at load time, before
/// the application can `chroot()`, and whenever the path works again.
pub fn open_proc_root() -> Result<c_int, c_int> {
    let fd = sys::openat(libc::AT_FDCWD, c"/proc", libc::O_PATH | libc::O_DIRECTORY)?;
    let id = sys::file_id(fd)?;
    PROC_DEV.store(id.dev, Ordering::Relaxed);
    PROC_INO.store(id.ino, Ordering::Relaxed);
    PROC_FD.store(fd, Ordering::Release);
    Ok(fd)
}

/// Our `/proc` descriptor if it is still ours.
fn owned_proc_root() -> Option<c_int> {
    let fd = PROC_FD.load(Ordering::Acquire);
    if fd < 0 {
        return None;
    }
    match sys::file_id(fd) {
        Ok(id)
            if id.is_dir(
                PROC_DEV.load(Ordering::Relaxed),
                PROC_INO.load(Ordering::Relaxed),
            ) =>
        {
            Some(fd)
        }
        _ => {
            // Closed or replaced by the application: not ours to touch.
            PROC_FD.store(-1, Ordering::Release);
            None
        }
    }
}

/// Opens `/proc/self/task`: through our descriptor, else by path (which
/// also recovers our descriptor for the future). Only a `/proc` whose
/// `self` is our pid counts: one mounted for another pid namespace (the
/// process called `unshare(CLONE_NEWPID)` and forked, or runs in a new
/// namespace with its parent's `/proc`) names our threads with numbers that
/// mean other threads, or none, to `rt_tgsigqueueinfo`.
fn open_task_dir() -> Option<c_int> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY;
    if let Some(root) = owned_proc_root()
        && numbers_our_threads(root, c"self")
        && let Ok(fd) = sys::openat(root, c"self/task", flags)
    {
        return Some(fd);
    }
    if !numbers_our_threads(libc::AT_FDCWD, c"/proc/self") {
        return None;
    }
    let fd = sys::openat(libc::AT_FDCWD, c"/proc/self/task", flags).ok()?;
    if PROC_FD.load(Ordering::Acquire) < 0 {
        let _ = open_proc_root();
    }
    Some(fd)
}

/// Whether the symbolic link `self` (at `dirfd`/`path`) names our pid, that
/// is, whether that `/proc` belongs to our pid namespace.
fn numbers_our_threads(dirfd: c_int, path: &CStr) -> bool {
    let mut buf = [0u8; 16];
    let Ok(len) = sys::readlinkat(dirfd, path, &mut buf) else {
        return false;
    };
    parse_tid(&buf[..len.min(buf.len())]) == Some(sys::getpid())
}

/// How many threads the process has now (see `handler::count`).
pub fn count() -> Option<usize> {
    count::threads()
}

/// Where a broadcast learns the threads of the process.
pub struct Finder {
    /// `/proc/self/task`, or -1 when falling back to the registry.
    task_dir: c_int,
    /// The identity (device, inode) of `task_dir` when it was opened: the
    /// program may close our descriptor (`closefrom`) and reuse its number.
    task_id: (u64, u64),
    /// `task_dir` was found closed or replaced: never used or closed again.
    lost: Cell<bool>,
    /// The listing buffer (`mmap`ed: no `malloc` while threads may be
    /// interrupted in it, or held),
    /// and its size.
    buf: *mut u8,
    cap: usize,
}

/// The smallest listing buffer: 512 thread entries.
const LIST_FIRST_BYTES: usize = 16384;

impl Finder {
    /// Finds the best source. Falling back to the registry is said once on
    /// stderr and, under `PSX_ERROR`, ends the process (fail closed). A
    /// registry listing ends a broadcast only when no thread count can be
    /// read at all (see `broadcast`).
    pub fn open() -> Finder {
        if let Some(task_dir) = open_task_dir() {
            return Finder::with(task_dir);
        }
        if sensitivity::get() == sensitivity::ERROR {
            Line::new().text(
                "cannot list /proc/self/task (no /proc of this pid namespace, or no \
                 descriptor to open it with); ending the process (PSX_ERROR)",
            );
            sys::kill_process();
        }
        if !FALLBACK_SAID.swap(true, Ordering::Relaxed) {
            Line::new().text(
                "cannot list /proc/self/task (no /proc of this pid namespace, or no \
                 descriptor to open it with): listing only threads made through psx's \
                 pthread_create wrapper; a broadcast ends when the thread count shows \
                 them all, or, with no count either, on that list",
            );
        }
        Finder::with(-1)
    }

    fn with(task_dir: c_int) -> Finder {
        let task_id = sys::file_id(task_dir).map_or((0, 0), |id| (id.dev, id.ino));
        Finder {
            task_dir,
            task_id,
            lost: Cell::new(false),
            buf: core::ptr::null_mut(),
            cap: 0,
        }
    }

    /// `task_dir` if it is still the `/proc/self/task` we opened; otherwise
    /// it is forgotten (not ours to read or close any more) and `None`.
    fn own_dir(&self) -> Option<c_int> {
        self.own_dir_id().map(|_| self.task_dir)
    }

    /// What `fstat` says of `task_dir` when it is still ours (see
    /// [`Finder::own_dir`]).
    fn own_dir_id(&self) -> Option<sys::FileId> {
        if self.task_dir < 0 || self.lost.get() {
            return None;
        }
        let (dev, ino) = self.task_id;
        match sys::file_id(self.task_dir) {
            Ok(id) if id.is_dir(dev, ino) => Some(id),
            _ => {
                self.lost.set(true);
                None
            }
        }
    }

    /// Calls `f` with the id of every thread the source knows now;
    /// `false` when `/proc` could not be listed in one piece (then `f` was
    /// not called: a partial listing must not pass for the whole).
    pub fn for_each(&mut self, mut f: impl FnMut(c_int)) -> bool {
        if self.task_dir < 0 {
            registry::for_each(f);
            return true;
        }
        if self.own_dir().is_none() {
            return false; // the caller opens another Finder
        }
        // getdents64 stops after the first entry when a signal is pending
        // for the caller (the kernel's filldir64), and while a broadcast is
        // in flight every thread that ran the call blocks every signal, so
        // a signal sent to the process (SIGCHLD, a timer's SIGALRM) goes to
        // the broadcaster: signals are blocked for the listing.
        let saved = sys::set_signal_mask(!0);
        let listed = self.list_in_one_piece();
        if let Ok(mask) = saved {
            let _ = sys::set_signal_mask(mask);
        }
        let Some(len) = listed else {
            return false;
        };
        // SAFETY: `list_in_one_piece` filled the first `len` bytes of our
        // own mapping.
        let names = unsafe { core::slice::from_raw_parts(self.buf, len) };
        for_each_name(names, |name| {
            if let Some(tid) = parse_tid(name) {
                f(tid);
            }
        });
        true
    }

    /// Reads `/proc/self/task` with one `getdents64` into our buffer, grown
    /// until the next call returns 0: procfs resumes a listing split over
    /// calls by position, which skips a thread when one before it has gone.
    /// Even then a call can end early, at a thread that dies under its
    /// cursor, and the next one return 0: a listing is no proof of the
    /// whole (`broadcast` ends on the count). Returns the bytes filled,
    /// `None` on an error.
    fn list_in_one_piece(&mut self) -> Option<usize> {
        let mut want = (count().unwrap_or(0) + 64) * MAX_ENTRY;
        loop {
            self.reserve(want)?;
            sys::rewind(self.task_dir).ok()?;
            // SAFETY: `buf` is our mapping of `cap` bytes, used by nothing else.
            let buf = unsafe { core::slice::from_raw_parts_mut(self.buf, self.cap) };
            let n = sys::getdents64(self.task_dir, buf).ok()?;
            let rest = &mut buf[n..];
            if rest.len() >= MAX_ENTRY && sys::getdents64(self.task_dir, rest).ok()? == 0 {
                return Some(n);
            }
            want = self.cap * 2;
        }
    }

    /// Makes our listing buffer at least `bytes` long.
    fn reserve(&mut self, bytes: usize) -> Option<()> {
        if self.cap >= bytes {
            return Some(());
        }
        let cap = bytes
            .max(LIST_FIRST_BYTES)
            .next_multiple_of(LIST_FIRST_BYTES);
        let fresh = sys::map_zeroed(cap).ok()?;
        self.release();
        self.buf = fresh;
        self.cap = cap;
        Some(())
    }

    fn release(&mut self) {
        if !self.buf.is_null() {
            // SAFETY: our own mapping of `cap` bytes; nothing refers to it.
            unsafe { sys::unmap(self.buf, self.cap) };
            self.buf = core::ptr::null_mut();
            self.cap = 0;
        }
    }

    /// The thread count from our own `/proc/self/task` descriptor (its link
    /// count, as [`count`] reads it through the `/proc` root): the count
    /// still works when the program has closed psx's `/proc` descriptor.
    /// `None` for the registry.
    pub fn count(&self) -> Option<usize> {
        self.own_dir_id()?.task_count()
    }

    /// The state letter `/proc` shows for `tid` (`R`, `S`, `Z`, `t`...), if
    /// it can be read.
    pub fn state_of(&self, tid: c_int) -> Option<u8> {
        self.stat_of(tid).map(|(state, _, _)| state)
    }

    /// Whether `tid` is a kernel worker of the process (an `io_uring` worker,
    /// `PF_IO_WORKER`, or a vhost-style `PF_USER_WORKER`): it is listed and
    /// counted with the threads but never runs a signal handler.
    ///
    /// Both the flag and the name the kernel gives such workers are
    /// required: before Linux 5.12 flag 0x10 was `PF_VCPU` (a thread inside
    /// `KVM_RUN`) and 0x4000 `PF_USED_ASYNC`, ordinary threads that need the
    /// call; and a thread can name itself, but not set the flag.
    pub fn is_kernel_worker(&self, tid: c_int) -> bool {
        const PF_IO_WORKER: u64 = 0x10;
        const PF_USER_WORKER: u64 = 0x4000;
        self.stat_of(tid).is_some_and(|(_, flags, worker_name)| {
            worker_name && flags & (PF_IO_WORKER | PF_USER_WORKER) != 0
        })
    }

    /// The state letter, the `flags` field of `/proc/<tid>/stat` and
    /// whether its name is a kernel worker's.
    fn stat_of(&self, tid: c_int) -> Option<(u8, u64, bool)> {
        let dir = self.own_dir()?;
        let mut path = [0u8; 24];
        let len = format_stat_path(tid, &mut path);
        let path = CStr::from_bytes_with_nul(&path[..len]).ok()?;
        let fd = sys::openat(dir, path, libc::O_RDONLY).ok()?;
        let mut buf = [0u8; 512];
        let n = sys::read(fd, &mut buf);
        sys::close(fd);
        let stat = &buf[..n.ok()?];
        let (state, flags) = stat_fields(stat)?;
        Some((state, flags, has_worker_name(stat)))
    }
}

impl Drop for Finder {
    /// Closes our descriptor only if it is still ours just before: a program
    /// that closes descriptors it does not own (`closefrom`) while another
    /// thread broadcasts can still have its new file take the number in the
    /// instant between the check and the close, as with any library's
    /// descriptor; without the check the window was a whole listing.
    fn drop(&mut self) {
        self.release();
        if let Some(dir) = self.own_dir() {
            sys::close(dir);
        }
    }
}

/// The largest `linux_dirent64` record for a thread directory: 19 bytes of
/// header, a name of up to 10 digits and its NUL, rounded up to 8.
const MAX_ENTRY: usize = 32;

/// Walks the `linux_dirent64` records in `buf`, passing each name.
fn for_each_name(buf: &[u8], mut f: impl FnMut(&[u8])) {
    const NAME_AT: usize = 19; // d_ino(8) d_off(8) d_reclen(2) d_type(1)
    let mut at = 0;
    while at + NAME_AT <= buf.len() {
        let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
        if reclen == 0 || at + reclen > buf.len() {
            return;
        }
        let name = &buf[at + NAME_AT..at + reclen];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        f(&name[..end]);
        at += reclen;
    }
}

/// A thread directory name as a tid (`.` and `..` are not).
fn parse_tid(name: &[u8]) -> Option<c_int> {
    if name.is_empty() || name.len() > 10 {
        return None;
    }
    let mut tid: c_int = 0;
    for &b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        tid = tid.checked_mul(10)?.checked_add(c_int::from(b - b'0'))?;
    }
    Some(tid)
}

/// Writes `"<tid>/stat\0"` into `out`, returning its length.
fn format_stat_path(tid: c_int, out: &mut [u8; 24]) -> usize {
    let mut digits = [0u8; 20];
    let d = report::decimal(u64::from(tid.unsigned_abs()), &mut digits);
    out[..d.len()].copy_from_slice(d);
    out[d.len()..d.len() + 6].copy_from_slice(b"/stat\0");
    d.len() + 6
}

/// The state field of a `stat` line: the letter after the last `)` (the
/// command name in parentheses may itself contain `)`).
fn stat_state(stat: &[u8]) -> Option<u8> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).copied()
}

/// Whether the command name in a `stat` line (between the first `(` and
/// the last `)`) is one Linux gives its workers: `iou-wrk-*` and
/// `iou-sqp-*` (io_uring), `vhost-*`.
fn has_worker_name(stat: &[u8]) -> bool {
    let (Some(open), Some(close)) = (
        stat.iter().position(|&b| b == b'('),
        stat.iter().rposition(|&b| b == b')'),
    ) else {
        return false;
    };
    let name = stat.get(open + 1..close).unwrap_or_default();
    [&b"iou-wrk-"[..], b"iou-sqp-", b"vhost-"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// The state letter and the flags (the 9th field: the 7th after the
/// command name) of a `stat` line.
fn stat_fields(stat: &[u8]) -> Option<(u8, u64)> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let flags = stat[close + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty())
        .nth(6)?;
    let mut value: u64 = 0;
    for &b in flags {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(b.checked_sub(b'0')?))?;
    }
    Some((stat_state(stat)?, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tids_are_parsed_and_dots_are_not() {
        assert_eq!(parse_tid(b"1234"), Some(1234));
        assert_eq!(parse_tid(b"."), None);
        assert_eq!(parse_tid(b".."), None);
        assert_eq!(parse_tid(b"99999999999"), None);
    }

    #[test]
    fn worker_names_are_told_apart() {
        assert!(has_worker_name(b"12 (iou-wrk-11) S 1"));
        assert!(has_worker_name(b"12 (vhost-11) S 1"));
        assert!(!has_worker_name(b"12 (t06_churn) S 1"));
        assert!(!has_worker_name(b"12 (x) (iou-wrk-1) S 1"));
    }

    #[test]
    fn state_is_read_after_the_last_parenthesis() {
        assert_eq!(stat_state(b"12 (a) b)) Z 1 2"), Some(b'Z'));
        assert_eq!(stat_state(b"12 (sleepy) S 1"), Some(b'S'));
    }

    #[test]
    fn flags_are_the_ninth_field() {
        let line = b"12 (a) b) S 1 12 12 0 -1 4194368 5 0";
        assert_eq!(stat_fields(line), Some((b'S', 4_194_368)));
    }

    #[test]
    fn stat_path_is_formatted() {
        let mut out = [0u8; 24];
        let n = format_stat_path(4711, &mut out);
        assert_eq!(&out[..n], b"4711/stat\0");
    }
}
