//! The train/validation split, made on the text before tokenization: for each
//! file, the last `val_fraction` of its bytes, moved forward to just after the
//! next newline, is validation.
//!
//! The rule looks at bytes only, never at tokens, so every tokenizer sees the
//! same validation text, byte for byte: that is what makes bits per character
//! of a character model and of BPE models comparable.
//!
//! # The arithmetic, exactly
//! For a file of `n` bytes and a fraction `f` (`0 <= f < 1`):
//! 1. the nominal cut is `c = floor(n * (1 - f))`, computed in IEEE-754
//!    double precision (`(n as f64 * (1.0 - f)).floor()`; exact for every
//!    file below 2^53 bytes up to the one rounding of the product). This is
//!    where nanoGPT's `shakespeare_char/prepare.py` cuts (`int(n * 0.9)`);
//! 2. the cut moves forward to the smallest `s` with `max(c, 1) <= s <= n`
//!    and `text[s - 1] == b'\n'`: just after the first newline at or after
//!    byte `c - 1`. A cut that already sits at the start of a line stays;
//! 3. bytes `[0, s)` are train and `[s, n)` validation. When there is no such
//!    newline the whole file is train (and so is a file whose only newline at
//!    or after `c - 1` is its last byte: its validation part is empty).
//!
//! So validation parts always start at the beginning of a line and never
//! split a UTF-8 character or a CRLF pair.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::{Error, Result};

/// The rule's name as recorded in manifests.
pub const RULE: &str = "tail-fraction-to-next-newline";

/// Checks that `val_fraction` is a number in `[0, 1)`.
pub fn check_fraction(val_fraction: f64) -> Result<()> {
    if (0.0..1.0).contains(&val_fraction) {
        Ok(())
    } else {
        // Debug, not Display: 1e308 printed as a 309-digit number.
        Err(Error::Config(format!("the validation fraction must be in [0, 1), got {val_fraction:?}")))
    }
}

/// The nominal cut `floor(n * (1 - f))` (step 1 above).
pub fn nominal_cut(n: u64, val_fraction: f64) -> u64 {
    let c = (n as f64 * (1.0 - val_fraction)).floor();
    // `as` saturates; the `min` guards against a product rounded above n.
    (c as u64).min(n)
}

/// Where validation starts in `text` (steps 2 and 3 above).
pub fn val_start(text: &[u8], val_fraction: f64) -> usize {
    let n = text.len();
    let c = nominal_cut(n as u64, val_fraction) as usize;
    let from = c.max(1) - 1;
    match text.get(from..).and_then(|rest| rest.iter().position(|&b| b == b'\n')) {
        Some(i) => from + i + 1,
        None => n,
    }
}

/// [`val_start`] for a file of `n` bytes, reading only from the nominal cut
/// to the next newline.
pub fn val_start_in_file(path: &Path, file: &mut std::fs::File, n: u64, val_fraction: f64) -> Result<u64> {
    let c = nominal_cut(n, val_fraction);
    let from = c.max(1) - 1;
    if from >= n {
        return Ok(n);
    }
    file.seek(SeekFrom::Start(from)).map_err(|e| Error::io(path, e))?;
    let mut buf = vec![0u8; 64 << 10];
    let mut pos = from;
    while pos < n {
        let want = buf.len().min((n - pos) as usize);
        let got = file.read(&mut buf[..want]).map_err(|e| Error::io(path, e))?;
        if got == 0 {
            return Err(Error::mismatch(
                path,
                "file size while encoding",
                format!("{n} bytes"),
                format!("{pos} bytes"),
                Some("the file changed while it was being encoded"),
            ));
        }
        if let Some(i) = buf[..got].iter().position(|&b| b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
        pos += got as u64;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nominal_cut_matches_nanogpt() {
        // tinyshakespeare: nanoGPT's train.bin has int(1115394 * 0.9) tokens.
        assert_eq!(nominal_cut(1_115_394, 0.1), 1_003_854);
        assert_eq!(nominal_cut(10, 0.0), 10);
        assert_eq!(nominal_cut(0, 0.5), 0);
        assert_eq!(nominal_cut(10, 0.25), 7);
        assert_eq!(nominal_cut(u64::MAX, 0.0), u64::MAX);
    }

    #[test]
    fn moves_forward_to_line_start() {
        // 20 bytes; f = 0.25 -> c = 15, text[14] is 'o', next '\n' at 17.
        let text = b"line one\nline two\nxy";
        assert_eq!(text.len(), 20);
        assert_eq!(val_start(text, 0.25), 18);
        // A cut already at a line start stays: c = 9 and text[8] == '\n'.
        let text = b"aaaaaaaa\nbbbbbbbbb\n"; // 19 bytes, f chosen so c = 9
        assert_eq!(nominal_cut(19, 0.5), 9);
        assert_eq!(val_start(text, 0.5), 9);
        // No later newline: all train.
        assert_eq!(val_start(b"one line, no newline at all", 0.5), 27);
        // The only later newline is the last byte: validation is empty.
        assert_eq!(val_start(b"abcdefgh\n", 0.5), 9);
        // f = 0: empty validation whatever the text.
        assert_eq!(val_start(b"a\nb\nc\n", 0.0), 6);
        assert_eq!(val_start(b"a\nb\nc", 0.0), 5);
        // Empty file.
        assert_eq!(val_start(b"", 0.1), 0);
        // c = 0 (tiny file, large fraction): the first line is still train.
        assert_eq!(val_start(b"\nabc", 0.9), 1);
        assert_eq!(val_start(b"ab\ncd", 0.99), 3);
    }

    #[test]
    fn file_version_agrees_with_memory_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txt");
        let mut text = Vec::new();
        for i in 0..5000u32 {
            text.extend_from_slice(format!("line {i} {}\n", "x".repeat((i % 97) as usize)).as_bytes());
        }
        // A long last line, longer than the read buffer, with no newline.
        text.extend(std::iter::repeat_n(b'z', 200_000));
        std::fs::write(&path, &text).unwrap();
        for f in [0.0, 0.001, 0.1, 0.37, 0.5, 0.9, 0.999] {
            let mut file = std::fs::File::open(&path).unwrap();
            let s = val_start_in_file(&path, &mut file, text.len() as u64, f).unwrap();
            assert_eq!(s, val_start(&text, f) as u64, "f = {f}");
        }
    }

    #[test]
    fn fraction_is_checked() {
        assert!(check_fraction(0.0).is_ok());
        assert!(check_fraction(0.1).is_ok());
        for bad in [1.0, -0.1, f64::NAN, f64::INFINITY] {
            let err = check_fraction(bad).unwrap_err().to_string();
            assert!(err.contains("[0, 1)"), "{err}");
        }
        // Shown as written, not as 309 digits.
        assert!(check_fraction(1e308).unwrap_err().to_string().ends_with("got 1e308"));
    }
}
