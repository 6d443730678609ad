//! o200k_base's split (`Pattern::Gpt4o`); the rules are derived in the module
//! docs of [`super`].

use super::scan::{class_at, class_or_end, run, run_bytes, run_max, whitespace};
use super::tables::{L, LO, N, NL, SYM, Tables, UP, decode_utf8};

/// The end of the piece that starts at `p` (`p < text.len()`).
#[inline(always)]
pub(crate) fn piece_end(t: &Tables, text: &[u8], p: usize) -> usize {
    let (c, len) = class_at(t, text, p);
    let q = p + len;
    if c & L != 0 {
        // A letter: alternatives 1 and 2 with an empty prefix.
        return contraction(t, text, word(t, text, p));
    }
    if c & N != 0 {
        // \p{N}{1,3}
        return run_max(t, text, q, N, 2);
    }
    let (c2, len2) = class_or_end(t, text, q);
    if c & NL == 0 {
        // `c` can be the prefix [^\r\n\p{L}\p{N}] of alternatives 1 and 2.
        let is_mark = c & (UP | LO) != 0;
        if c2 & (UP | LO) != 0 {
            let (e, last_lo) = up_run(t, text, q);
            let (ce, le) = class_or_end(t, text, e);
            let end = if ce & LO != 0 {
                // Alternative 1: the lower run after the upper run.
                run::<LO>(t, text, e + le)
            } else if let Some(l) = last_lo {
                // Alternative 1: the upper run gives back all characters
                // after its last lower one.
                l
            } else if is_mark {
                // Alternative 1 without the prefix: the mark alone.
                q
            } else {
                // Alternative 2: prefix + upper run.
                e
            };
            return contraction(t, text, end);
        }
        if is_mark {
            // Alternative 1 without the prefix: the mark alone.
            return contraction(t, text, q);
        }
    }
    // ?[^\s\p{L}\p{N}]+[\r\n/]* without the space.
    if c & SYM != 0 {
        return run_bytes(text, run::<SYM>(t, text, q), b"\r\n/");
    }
    // ?[^\s\p{L}\p{N}]+[\r\n/]* with the space.
    if text[p] == b' ' && c2 & SYM != 0 {
        return run_bytes(text, run::<SYM>(t, text, q + len2), b"\r\n/");
    }
    let w = whitespace(t, text, p, c, len);
    if let Some(e) = w.newline_end {
        // \s*[\r\n]+
        e
    } else if w.end == text.len() || w.last == p {
        // \s+(?!\S) at the end of the text, or \s+ for a single character.
        w.end
    } else {
        // \s+(?!\S)
        w.last
    }
}

/// Alternatives 1 and 2 from `start`, whose character is a letter (so that
/// one of them matches), without the contraction.
#[inline(always)]
fn word(t: &Tables, text: &[u8], start: usize) -> usize {
    let (e, last_lo) = up_run(t, text, start);
    let (ce, le) = class_or_end(t, text, e);
    if ce & LO != 0 {
        run::<LO>(t, text, e + le)
    } else if let Some(l) = last_lo {
        l
    } else {
        e
    }
}

/// The maximal run of the upper class from `i`, and the end of its last
/// character that is also in the lower class (Lm, Lo or M), if any.
#[inline(always)]
fn up_run(t: &Tables, text: &[u8], mut i: usize) -> (usize, Option<usize>) {
    let mut last_lo = None;
    while let Some(&b) = text.get(i) {
        if b.is_ascii_uppercase() {
            // ASCII upper-case letters are the only ASCII characters of the
            // upper class, and none of them is in the lower class.
            i += 1;
            continue;
        }
        if b < 0x80 {
            break;
        }
        let (c, len) = t.decode(text, i);
        if c & UP == 0 {
            break;
        }
        i += len;
        if c & LO != 0 {
            last_lo = Some(i);
        }
    }
    (i, last_lo)
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at `e`: the end after the optional
/// contraction.
#[inline(always)]
fn contraction(t: &Tables, text: &[u8], e: usize) -> usize {
    if text.get(e) != Some(&b'\'') {
        return e;
    }
    contraction_slow(t, text, e + 1).unwrap_or(e)
}

#[inline(never)]
fn contraction_slow(t: &Tables, text: &[u8], q: usize) -> Option<usize> {
    let (a, la) = decode_utf8(text, q)?;
    if t.folds_to(a, b's') || t.folds_to(a, b't') || t.folds_to(a, b'm') || t.folds_to(a, b'd') {
        return Some(q + la);
    }
    let (b, lb) = decode_utf8(text, q + la)?;
    let pair = |x, y| t.folds_to(a, x) && t.folds_to(b, y);
    if pair(b'r', b'e') || pair(b'v', b'e') || pair(b'l', b'l') { Some(q + la + lb) } else { None }
}
