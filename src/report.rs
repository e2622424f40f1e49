//! Messages on stderr, written without allocation or `stdio` locks.
//!
//! psx speaks while other threads are stopped in its handler, possibly
//! inside `malloc` or holding `stderr`'s lock, so it formats into a buffer on
//! the stack and writes it with one raw `write(2)`.

use core::ffi::c_long;

use crate::sys;

/// A line being built; flushed to stderr when full and when dropped.
pub struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    pub fn new() -> Self {
        let mut line = Line {
            buf: [0; 512],
            len: 0,
        };
        line.text("psx: ");
        line
    }

    pub fn text(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    pub fn dec(&mut self, v: c_long) -> &mut Self {
        let mut digits = [0u8; 20];
        if v < 0 {
            self.text("-");
        }
        self.bytes(decimal(v.unsigned_abs(), &mut digits))
    }

    pub fn hex(&mut self, v: c_long) -> &mut Self {
        let mut digits = [0u8; 16];
        #[allow(clippy::cast_sign_loss, reason = "hex shows the bits of the value")]
        let mut n = v as u64;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(n & 15) as usize];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        self.text("0x").bytes(&digits[i..])
    }

    /// A raw system call result: the value, or `-1 (errno N)`.
    pub fn result(&mut self, raw: c_long) -> &mut Self {
        match sys::check(raw) {
            Ok(v) => self.dec(v),
            Err(errno) => self.text("-1 (errno ").dec(c_long::from(errno)).text(")"),
        }
    }

    pub fn bytes(&mut self, s: &[u8]) -> &mut Self {
        for &b in s {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        self
    }

    fn flush(&mut self) {
        sys::write_all(2, &self.buf[..self.len]);
        self.len = 0;
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        self.text("\n");
        self.flush();
    }
}

/// Writes `n` in decimal at the end of `buf`, returning the digits.
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}
