//! cl100k_base's split (`Pattern::Gpt4`); the rules are derived in the module
//! docs of [`super`].

use super::scan::{class_at, class_or_end, run, run_bytes, run_max, whitespace};
use super::tables::{L, N, NL, SYM, Tables, decode_utf8};

/// The end of the piece that starts at `p` (`p < text.len()`).
#[inline(always)]
pub(crate) fn piece_end(t: &Tables, text: &[u8], p: usize) -> usize {
    let (c, len) = class_at(t, text, p);
    let q = p + len;
    // [^\r\n\p{L}\p{N}]?+\p{L}++ with an empty prefix.
    if c & L != 0 {
        return run::<L>(t, text, q);
    }
    // \p{N}{1,3}+
    if c & N != 0 {
        return run_max(t, text, q, N, 2);
    }
    // '(?i:[sdmt]|ll|ve|re)
    if text[p] == b'\''
        && let Some(e) = contraction(t, text, q)
    {
        return e;
    }
    let (c2, len2) = class_or_end(t, text, q);
    // [^\r\n\p{L}\p{N}]?+\p{L}++ with a one-character prefix.
    if c & NL == 0 && c2 & L != 0 {
        return run::<L>(t, text, q + len2);
    }
    // ?[^\s\p{L}\p{N}]++[\r\n]*+ without the space.
    if c & SYM != 0 {
        return run_bytes(text, run::<SYM>(t, text, q), b"\r\n");
    }
    // ?[^\s\p{L}\p{N}]++[\r\n]*+ with the space.
    if text[p] == b' ' && c2 & SYM != 0 {
        return run_bytes(text, run::<SYM>(t, text, q + len2), b"\r\n");
    }
    let w = whitespace(t, text, p, c, len);
    if w.end == text.len() {
        // \s++$
        w.end
    } else if let Some(e) = w.newline_end {
        // \s*[\r\n]
        e
    } else if w.last > p {
        // \s+(?!\S)
        w.last
    } else {
        // \s
        w.end
    }
}

/// `(?i:[sdmt]|ll|ve|re)` at `q`: the end of the contraction if there is one.
#[inline]
fn contraction(t: &Tables, text: &[u8], q: usize) -> Option<usize> {
    let (a, la) = decode_utf8(text, q)?;
    if t.folds_to(a, b's') || t.folds_to(a, b'd') || t.folds_to(a, b'm') || t.folds_to(a, b't') {
        return Some(q + la);
    }
    let (b, lb) = decode_utf8(text, q + la)?;
    let pair = |x, y| t.folds_to(a, x) && t.folds_to(b, y);
    if pair(b'l', b'l') || pair(b'v', b'e') || pair(b'r', b'e') { Some(q + la + lb) } else { None }
}
