// SPDX-License-Identifier: BSD-3-Clause
//! A no_std staticlib: its archive defines a panic handler and core's
//! symbols, like libpsx's engine does.
#![no_std]

/// Checked multiply; the panic path keeps the panic handler linked in.
#[no_mangle]
pub extern "C" fn other_nostd_mul(a: u32, b: u32) -> u64 {
    match a.checked_mul(b) {
        Some(v) => u64::from(v),
        None => panic!("overflow"),
    }
}

#[panic_handler]
fn on_panic(_info: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
