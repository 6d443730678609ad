//! Scanning primitives shared by the three splitters: classify the character
//! at a byte offset, and skip runs of a class.
//!
//! Every function takes the text and a byte offset that is on a character
//! boundary (in the sense of the splitters: an invalid byte is a character of
//! its own) and returns a byte offset on a character boundary.

use super::tables::{ASCII, HI, L, LO, N, NL, S, SYM, Tables, UP};

/// Class bits and byte length of the character at `text[i]` (`i < len`).
#[inline(always)]
pub(crate) fn class_at(t: &Tables, text: &[u8], i: usize) -> (u8, usize) {
    let b = text[i];
    let c = ASCII[b as usize];
    if c & HI == 0 { (c, 1) } else { t.decode(text, i) }
}

/// Class bits and byte length of the character at `text[i]`, or `(0, 0)` at
/// the end of the text (0 has no class bit, so every test on it fails).
#[inline(always)]
pub(crate) fn class_or_end(t: &Tables, text: &[u8], i: usize) -> (u8, usize) {
    if i < text.len() { class_at(t, text, i) } else { (0, 0) }
}

/// The end of the run of characters with any of the class bits `MASK`, from
/// `i`.
#[inline(always)]
pub(crate) fn run<const MASK: u8>(t: &Tables, text: &[u8], i: usize) -> usize {
    let i = ascii_run::<MASK>(text, i);
    match text.get(i) {
        Some(&b) if b >= 0x80 => run_wide::<MASK>(t, text, i),
        _ => i,
    }
}

/// [`run`] from a non-ASCII character on. Out of line so that the ASCII loop
/// stays small where it is inlined.
#[inline(never)]
fn run_wide<const MASK: u8>(t: &Tables, text: &[u8], mut i: usize) -> usize {
    loop {
        // Non-ASCII characters one by one; back to the eight-byte steps only
        // at an ASCII member, so that non-Latin text does not pay for them.
        loop {
            match text.get(i) {
                Some(&b) if b >= 0x80 => {
                    let (c, len) = t.decode(text, i);
                    if c & MASK == 0 {
                        return i;
                    }
                    i += len;
                }
                Some(&b) if ASCII[b as usize] & MASK != 0 => break,
                _ => return i,
            }
        }
        i = ascii_run::<MASK>(text, i);
    }
}

/// Eight copies of a byte.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The high bit of each byte.
const HIGH: u64 = splat(0x80);

/// For eight 7-bit bytes `w7`: the high bit set in each byte in `lo..=hi`.
/// (No byte carries into the next: `0x7F + 0x80` fits in a byte.)
#[inline(always)]
const fn in_range(w7: u64, lo: u8, hi: u8) -> u64 {
    (w7 + splat(0x80 - lo)) & !(w7 + splat(0x80 - hi - 1)) & HIGH
}

/// The high bit set in each byte of `w` (eight bytes of text, little endian)
/// that is an ASCII character with any of the class bits `mask`. The same
/// classes as [`ASCII`]; `mask` is a constant at every call site, so the
/// unused tests fold away.
#[inline(always)]
pub(crate) fn ascii_members(w: u64, mask: u8) -> u64 {
    let w7 = w & !HIGH;
    let letter = || in_range(w7 | splat(0x20), b'a', b'z');
    let digit = || in_range(w7, b'0', b'9');
    let space = || in_range(w7, 0x09, 0x0D) | in_range(w7, b' ', b' ');
    let mut m = 0;
    if mask & L != 0 {
        m |= letter();
    } else {
        if mask & UP != 0 {
            m |= in_range(w7, b'A', b'Z');
        }
        if mask & LO != 0 {
            m |= in_range(w7, b'a', b'z');
        }
    }
    if mask & N != 0 {
        m |= digit();
    }
    if mask & S != 0 {
        m |= space();
    } else if mask & NL != 0 {
        m |= in_range(w7, b'\n', b'\n') | in_range(w7, b'\r', b'\r');
    }
    if mask & SYM != 0 {
        m |= !(letter() | digit() | space()) & HIGH;
    }
    m & !w
}

/// The end of the run of ASCII characters with any of the bits `mask` from
/// `i`; eight bytes at a time.
#[inline(always)]
pub(crate) fn ascii_run<const MASK: u8>(text: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = text.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        let m = ascii_members(u64::from_le_bytes(*chunk), MASK);
        if m != HIGH {
            return i + ((!m & HIGH).trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = text.get(i) {
        if ASCII[b as usize] & MASK == 0 {
            break;
        }
        i += 1;
    }
    i
}

/// The end of at most `max` characters of class `mask` from `i`.
#[inline(always)]
pub(crate) fn run_max(t: &Tables, text: &[u8], mut i: usize, mask: u8, max: usize) -> usize {
    for _ in 0..max {
        match text.get(i) {
            Some(&b) if ASCII[b as usize] & mask != 0 => i += 1,
            Some(&b) if b >= 0x80 => {
                let (c, len) = t.decode(text, i);
                if c & mask == 0 {
                    break;
                }
                i += len;
            }
            _ => break,
        }
    }
    i
}

/// The end of the run of bytes in `set` from `i` (ASCII bytes only).
#[inline(always)]
pub(crate) fn run_bytes(text: &[u8], mut i: usize, set: &[u8]) -> usize {
    while let Some(b) = text.get(i) {
        if !set.contains(b) {
            break;
        }
        i += 1;
    }
    i
}

/// A maximal whitespace run `W = text[p..end]`, as the whitespace
/// alternatives of the patterns see it.
pub(crate) struct Whitespace {
    /// One past the last character of the run.
    pub end: usize,
    /// Start of the last character of the run (`== p` for a run of one).
    pub last: usize,
    /// One past the last `\r` or `\n` of the run, if it has one.
    pub newline_end: Option<usize>,
}

/// Scans the maximal whitespace run from `p`, whose first character has
/// class `c` and length `len` (`c` contains [`S`]).
#[inline(always)]
pub(crate) fn whitespace(t: &Tables, text: &[u8], p: usize, c: u8, len: usize) -> Whitespace {
    let mut newline_end = if c & NL != 0 { Some(p + len) } else { None };
    // Start and end of the last non-ASCII whitespace character seen, so that
    // the start of the run's last character is known at the end.
    let mut wide = (p, p + len);
    let mut i = p + len;
    loop {
        // ASCII whitespace, eight bytes at a time, noting the last newline.
        while let Some(chunk) = text.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
            let w = u64::from_le_bytes(*chunk);
            let m = ascii_members(w, S);
            let n = if m == HIGH { 8 } else { (!m & HIGH).trailing_zeros() / 8 };
            let in_run = if n == 8 { !0 } else { (1u64 << (8 * n)) - 1 };
            let newlines = ascii_members(w, NL) & in_run;
            if newlines != 0 {
                newline_end = Some(i + (63 - newlines.leading_zeros() as usize) / 8 + 1);
            }
            i += n as usize;
            if n < 8 {
                break;
            }
        }
        match text.get(i) {
            Some(&b) if b < 0x80 => {
                let c = ASCII[b as usize];
                if c & S == 0 {
                    break;
                }
                // Only reached near the end of the text.
                if c & NL != 0 {
                    newline_end = Some(i + 1);
                }
                i += 1;
            }
            Some(_) => {
                let (c, len) = t.decode(text, i);
                if c & S == 0 {
                    break;
                }
                wide = (i, i + len);
                i += len;
            }
            None => break,
        }
    }
    let last = if wide.1 == i { wide.0 } else { i - 1 };
    Whitespace { end: i, last, newline_end }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SWAR class tests agree with the [`ASCII`] table for every byte in
    /// every lane, whatever the neighbouring bytes (carries between lanes
    /// would show up as disagreements).
    #[test]
    fn ascii_members_agree_with_the_table() {
        fn check<const MASK: u8>() {
            let fillers = [0x00u8, b' ', b'a', b'Z', b'0', b'\n', 0x7F, 0x80, 0xFF];
            for b in 0..=255u8 {
                for lane in 0..8 {
                    for &fill in &fillers {
                        let mut bytes = [fill; 8];
                        bytes[lane] = b;
                        let m = ascii_members(u64::from_le_bytes(bytes), MASK);
                        for (k, &x) in bytes.iter().enumerate() {
                            let expected = ASCII[x as usize] & MASK != 0 && ASCII[x as usize] & HI == 0;
                            assert_eq!(m >> (8 * k + 7) & 1 == 1, expected, "mask {MASK:#x} byte {x:#04x}");
                            assert_eq!(m & !HIGH, 0);
                        }
                    }
                }
            }
        }
        check::<L>();
        check::<N>();
        check::<S>();
        check::<SYM>();
        check::<LO>();
        check::<UP>();
        check::<NL>();
        check::<{ L | N }>();
    }

    #[test]
    fn runs_cross_chunk_boundaries() {
        let t = super::super::tables::tables();
        let text = "abcdefghijklmnopqrstuvwxyzéABC中文d1".as_bytes();
        assert_eq!(run::<L>(t, text, 0), text.len() - 1);
        assert_eq!(ascii_run::<L>(text, 0), 26);
        assert_eq!(run::<LO>(t, text, 3), 28);
        let ws = b" \t \t \t \t \n \t \t \t \r\n    x";
        let w = whitespace(t, ws, 0, S, 1);
        assert_eq!((w.end, w.last, w.newline_end), (ws.len() - 1, ws.len() - 2, Some(ws.len() - 5)));
    }
}
