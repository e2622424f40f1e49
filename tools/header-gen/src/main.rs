// SPDX-License-Identifier: BSD-3-Clause
//! `psx-header-gen ROOT`: prints `<sys/psx_syscall.h>` as cbindgen makes it
//! from `ROOT/src/ffi.rs` with `ROOT/cbindgen.toml`.
//!
//! The header must stay source-compatible with libcap's
//! `<sys/psx_syscall.h>`, so some of it is written by hand in
//! `cbindgen.toml`: the version macros, the variadic declaration of
//! `__psx_syscall` (the Rust definition has a fixed signature, see
//! `src/ffi.rs`), the `psx_syscall()` counting macro and the
//! `psx_sensitivity_t` enum.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(root) = std::env::args().nth(1) else {
        eprintln!("usage: psx-header-gen ROOT  (the psx source directory)");
        return ExitCode::from(2);
    };
    let config = match cbindgen::Config::from_file(format!("{root}/cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("psx-header-gen: {root}/cbindgen.toml: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cbindgen::Builder::new()
        .with_config(config)
        .with_src(format!("{root}/src/ffi.rs"))
        .generate()
    {
        Ok(bindings) => {
            bindings.write(std::io::stdout().lock());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("psx-header-gen: cbindgen cannot read {root}/src/ffi.rs: {e}");
            ExitCode::FAILURE
        }
    }
}
