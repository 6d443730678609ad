//! r50k_base / p50k_base's split (`Pattern::Gpt2`); the rules are derived in
//! the module docs of [`super`].

use super::scan::{class_at, class_or_end, run, whitespace};
use super::tables::{L, N, SYM, Tables};

/// The end of the piece that starts at `p` (`p < text.len()`).
#[inline(always)]
pub(crate) fn piece_end(t: &Tables, text: &[u8], p: usize) -> usize {
    let (c, len) = class_at(t, text, p);
    let q = p + len;
    // '(?:[sdmt]|ll|ve|re)
    if text[p] == b'\'' {
        match text.get(q..q + 2) {
            Some([b's' | b'd' | b'm' | b't', _]) => return q + 1,
            Some([b'l', b'l'] | [b'v', b'e'] | [b'r', b'e']) => return q + 2,
            Some(_) => {}
            None => {
                if let Some(b's' | b'd' | b'm' | b't') = text.get(q) {
                    return q + 1;
                }
            }
        }
    }
    // ?\p{L}++ | ?\p{N}++ | ?[^\s\p{L}\p{N}]++ without the space.
    if c & L != 0 {
        return run::<L>(t, text, q);
    }
    if c & N != 0 {
        return run::<N>(t, text, q);
    }
    if c & SYM != 0 {
        return run::<SYM>(t, text, q);
    }
    // The same with the space.
    if text[p] == b' ' {
        let (c2, len2) = class_or_end(t, text, q);
        if c2 & L != 0 {
            return run::<L>(t, text, q + len2);
        }
        if c2 & N != 0 {
            return run::<N>(t, text, q + len2);
        }
        if c2 & SYM != 0 {
            return run::<SYM>(t, text, q + len2);
        }
    }
    let w = whitespace(t, text, p, c, len);
    if w.end == text.len() {
        // \s++$
        w.end
    } else if w.last > p {
        // \s+(?!\S)
        w.last
    } else {
        // \s
        w.end
    }
}
