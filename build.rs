//! Gives the shared library its SONAME. Nothing else: the header
//! `include/sys/psx_syscall.h` is committed, and regenerated with cbindgen
//! only on demand (`make header`; `make header-check` fails when it is
//! stale), so that building the crate never writes into its sources.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The shared library is known to the world as libpsx.so.2.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libpsx.so.2");
}
