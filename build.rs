//! Generates `include/sys/psx_syscall.h` from the C ABI in `src/ffi.rs`.
//!
//! The header must stay source-compatible with libcap's `<sys/psx_syscall.h>`,
//! so two pieces are written by hand in `cbindgen.toml`: the variadic
//! declaration of `__psx_syscall` (the Rust definition has a fixed signature,
//! see `src/ffi.rs`) and the `psx_syscall()` counting macro.

fn main() {
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    // The shared library is known to the world as libpsx.so.2.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libpsx.so.2");

    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let header = format!("{crate_dir}/include/sys/psx_syscall.h");
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(format!("{crate_dir}/src/ffi.rs"))
        .generate()
        .expect("cbindgen can parse src/ffi.rs")
        .write_to_file(header);
}
