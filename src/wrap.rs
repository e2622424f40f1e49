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
    if unsafe { libc::pthread_key_create(&mut key, Some(on_thread_exit)) } == 0 {
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

/// What the new thread must run, handed over through `malloc`.
struct Start {
    start: StartFn,
    arg: *mut c_void,
}

/// The body of `__wrap_pthread_create`.
///
/// # Safety
/// Same contract as `pthread_create(3)`.
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
    // SAFETY: malloc of a small POD; checked for null below.
    let boxed = unsafe { libc::malloc(size_of::<Start>()) } as *mut Start;
    if boxed.is_null() {
        return libc::EAGAIN;
    }
    // SAFETY: `boxed` is a fresh allocation of the right size and alignment
    // (malloc aligns for any fundamental type).
    unsafe { boxed.write(Start { start, arg }) };
    // SAFETY: the caller's arguments with our trampoline and its data.
    let ret = unsafe { real(thread, attr, Some(trampoline), boxed as *mut c_void) };
    if ret != 0 {
        // SAFETY: the thread was not created, so `boxed` is still ours.
        unsafe { libc::free(boxed as *mut c_void) };
    }
    ret
}

/// First code of every wrapped thread: register, then run the caller's
/// start routine.
unsafe extern "C" fn trampoline(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the Start written by `create`, handed to us alone.
    let Start { start, arg } = unsafe { (data as *mut Start).read() };
    // SAFETY: allocated by `create` with malloc; read above.
    unsafe { libc::free(data) };
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
    let wrapper = crate::ffi::__wrap_pthread_create as *const () as usize;
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
