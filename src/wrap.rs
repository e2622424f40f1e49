//! `__wrap_pthread_create`: programs linked with `-Wl,--wrap=pthread_create`
//! (every existing libpsx user) create their threads here.
//!
//! psx does not need the wrapper to find threads (it reads `/proc`); the
//! wrapper registers each new thread in the registry, the fallback for a
//! process that can no longer read `/proc`.
//!
//! # Reaching the real `pthread_create`
//! The linker's `--wrap` turns references to `__real_pthread_create` into the
//! real function, but only in objects linked into the program with that flag.
//! `__real_pthread_create` is declared weak, so programs linked without
//! `--wrap` (and `libpsx.so.2` itself) still link, and it is then null. In
//! that case `dlsym(RTLD_NEXT, "pthread_create")` finds the C library's, and
//! in a fully static program without `dlsym` support the direct reference
//! does (without `--wrap` it is the real function). Any candidate equal to
//! the wrapper itself is refused, so the wrapper never calls itself.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::gate;
use crate::registry;

type StartFn = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
type CreateFn = unsafe extern "C" fn(
    *mut libc::pthread_t,
    *const libc::pthread_attr_t,
    Option<StartFn>,
    *mut c_void,
) -> c_int;

core::arch::global_asm!(".weak __real_pthread_create");

unsafe extern "C" {
    /// The wrapper itself, exported by `ffi`; named by its symbol so that
    /// this module does not depend on `ffi` (which depends on this one).
    fn __wrap_pthread_create(
        thread: *mut libc::pthread_t,
        attr: *const libc::pthread_attr_t,
        start: Option<StartFn>,
        arg: *mut c_void,
    ) -> c_int;
    fn __real_pthread_create(
        thread: *mut libc::pthread_t,
        attr: *const libc::pthread_attr_t,
        start: Option<StartFn>,
        arg: *mut c_void,
    ) -> c_int;
}

/// The real `pthread_create`, once found.
static REAL: AtomicUsize = AtomicUsize::new(0);

/// The thread-specific-data key whose destructor unregisters a thread;
/// `u32::MAX` until created.
static KEY: AtomicU32 = AtomicU32::new(u32::MAX);

/// Creates the registry key and registers the calling thread (at load time:
/// the thread that loaded psx, usually the main thread).
pub fn init() {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: plain pthread call with a valid out-pointer and destructor.
    if unsafe { libc::pthread_key_create(&raw mut key, Some(on_thread_exit)) } == 0 {
        KEY.store(key, Ordering::Release);
    }
    register_self();
}

/// Registers the calling thread and arranges its removal at exit.
fn register_self() {
    set_token(registry::add_self());
}

/// Keeps the calling thread's registry token as its thread-specific value,
/// so the destructor hands it back at exit; 0 (not registered) sets nothing.
pub fn set_token(token: usize) {
    let key = KEY.load(Ordering::Acquire);
    if token != 0 && key != u32::MAX {
        // SAFETY: a valid key; a non-null value makes the destructor run.
        unsafe { libc::pthread_setspecific(key, token as *const c_void) };
    }
}

/// Thread-specific-data destructor: the thread is ending.
unsafe extern "C" fn on_thread_exit(token: *mut c_void) {
    registry::remove_self(token as usize);
}

/// What the trampoline needs: the caller's start routine and argument.
struct Start {
    start: StartFn,
    arg: *mut c_void,
}

/// A handful of hand-over records, so that the common case needs no
/// `malloc`: a block allocated by the creator and freed by the new thread
/// made that thread set up its own malloc cache (tcache) just to free 16
/// bytes, and tear it down at exit, about 1 us per thread (6% of a
/// `pthread_create` + `pthread_join`). A record is taken with a
/// compare-and-swap and given back by the new thread once it has read it;
/// when all are in use (many creations in flight), `malloc` it is.
struct Record {
    /// FREE, or TAKEN while the creator fills it and the thread reads it.
    state: AtomicU32,
    start: AtomicUsize,
    arg: AtomicUsize,
}

const FREE: u32 = 0;
const TAKEN: u32 = 1;
const RECORDS: usize = 64;
static POOL: [Record; RECORDS] = [const {
    Record {
        state: AtomicU32::new(FREE),
        start: AtomicUsize::new(0),
        arg: AtomicUsize::new(0),
    }
}; RECORDS];

/// The trampoline's argument: a pool record, or a malloc'ed [`Start`],
/// told apart by address.
fn hand_over(start: StartFn, arg: *mut c_void) -> *mut c_void {
    for record in &POOL {
        if record
            .state
            .compare_exchange(FREE, TAKEN, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            record.start.store(start as usize, Ordering::Relaxed);
            record.arg.store(arg as usize, Ordering::Relaxed);
            // pthread_create orders these writes before the new thread runs.
            return core::ptr::from_ref(record).cast_mut().cast::<c_void>();
        }
    }
    // SAFETY: malloc of a small POD; checked for null by the caller.
    let boxed = unsafe { libc::malloc(size_of::<Start>()) }.cast::<Start>();
    if !boxed.is_null() {
        // SAFETY: a fresh allocation of the right size and alignment
        // (malloc aligns for any fundamental type).
        unsafe { boxed.write(Start { start, arg }) };
    }
    boxed.cast::<c_void>()
}

fn is_record(data: *mut c_void) -> bool {
    let first = POOL.as_ptr() as usize;
    (first..first + size_of_val(&POOL)).contains(&(data as usize))
}

/// Takes back what `hand_over` gave: the start routine and argument.
///
/// # Safety
/// `data` came from `hand_over` and is taken back once.
unsafe fn take_back(data: *mut c_void) -> Start {
    if is_record(data) {
        // SAFETY: a record of POOL (checked), filled by `hand_over`.
        let record = unsafe { &*(data as *const Record) };
        let start = record.start.load(Ordering::Relaxed);
        let arg = record.arg.load(Ordering::Relaxed) as *mut c_void;
        record.state.store(FREE, Ordering::Release);
        // SAFETY: `start` was stored from a StartFn by `hand_over`.
        let start: StartFn = unsafe { core::mem::transmute(start) };
        return Start { start, arg };
    }
    // SAFETY: otherwise a malloc'ed Start written by `hand_over`.
    let taken = unsafe { data.cast::<Start>().read() };
    // SAFETY: allocated by `hand_over` with malloc; read above.
    unsafe { libc::free(data) };
    taken
}

/// The wrapper's work: the real `pthread_create` with our trampoline.
///
/// # Safety
/// The arguments of `pthread_create`.
pub unsafe fn create(
    thread: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    start: Option<StartFn>,
    arg: *mut c_void,
) -> c_int {
    let Some(real) = real_pthread_create() else {
        return libc::EAGAIN;
    };
    let Some(start) = start else {
        // SAFETY: pass the caller's (invalid) request through unchanged.
        return unsafe { real(thread, attr, None, arg) };
    };
    let data = hand_over(start, arg);
    if data.is_null() {
        return libc::EAGAIN;
    }
    let pass = gate::enter();
    // SAFETY: the caller's arguments with our trampoline and its data.
    let ret = unsafe { real(thread, attr, Some(trampoline), data) };
    gate::leave(pass);
    if ret != 0 {
        // SAFETY: the thread was not created, so `data` is still ours.
        let _ = unsafe { take_back(data) };
    }
    ret
}

/// The new thread's first function: registers the thread, then runs the
/// caller's start routine.
unsafe extern "C" fn trampoline(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is what `create` handed to this thread alone.
    let Start { start, arg } = unsafe { take_back(data) };
    register_self();
    // SAFETY: the caller's start routine and argument, as pthread_create
    // would have called them.
    unsafe { start(arg) }
}

/// Finds the real `pthread_create` (see the module doc), caching it.
fn real_pthread_create() -> Option<CreateFn> {
    let mut addr = REAL.load(Ordering::Acquire);
    if addr == 0 {
        addr = find_real();
        REAL.store(addr, Ordering::Release);
    }
    // SAFETY: a non-zero `addr` is a pthread_create-compatible function.
    (addr != 0).then(|| unsafe { core::mem::transmute::<usize, CreateFn>(addr) })
}

fn find_real() -> usize {
    let wrapper = __wrap_pthread_create as *const () as usize;
    // The compiler assumes a function's address is never null; black_box
    // hides that the weak symbol may be.
    let weak = core::hint::black_box(__real_pthread_create as *const () as usize);
    // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT is a valid handle.
    let next = unsafe { libc::dlsym(libc::RTLD_NEXT, c"pthread_create".as_ptr()) } as usize;
    let direct = core::hint::black_box(libc::pthread_create as *const () as usize);
    [weak, next, direct]
        .into_iter()
        .find(|&a| a != 0 && a != wrapper)
        .unwrap_or(0)
}
