//! Character classes of the pre-tokenizer patterns, and UTF-8 decoding.
//!
//! Every code point gets one byte of class bits ([`L`], [`N`], [`S`], ...). The
//! bits are derived at first use from `regex-syntax`, the crate whose Unicode
//! tables `fancy-regex` (and so tiktoken) uses: we parse `\p{L}`, `\p{N}`, `\s`
//! and o200k's two letter classes and record which code points they contain.
//! So the splitters agree with the regexes by construction, and a test checks
//! it on every code point.
//!
//! Layout: a two-level table. `index[cp >> SHIFT]` names a block of
//! `1 << SHIFT` class bytes; identical blocks are stored once (most of the
//! code space is unassigned or one script). ASCII never touches it: the
//! splitters look ASCII bytes up in the 256-entry [`ASCII`] table, which is a
//! `const` so that the common path needs no indirection.
//!
//! This module is not a general Unicode library: it knows only the classes the
//! three tiktoken patterns use.

use std::sync::OnceLock;

use regex_syntax::hir::{Class, HirKind};

/// `\p{L}`: letters.
pub(crate) const L: u8 = 1 << 0;
/// `\p{N}`: numbers (all of Nd, Nl, No).
pub(crate) const N: u8 = 1 << 1;
/// `\s`: Unicode `White_Space`.
pub(crate) const S: u8 = 1 << 2;
/// `[^\s\p{L}\p{N}]`: everything else (punctuation, symbols, marks, controls,
/// unassigned code points, and invalid bytes, which behave as U+FFFD).
pub(crate) const SYM: u8 = 1 << 3;
/// o200k's upper class `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`.
pub(crate) const UP: u8 = 1 << 4;
/// o200k's lower class `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`.
pub(crate) const LO: u8 = 1 << 5;
/// `[\r\n]`.
pub(crate) const NL: u8 = 1 << 6;
/// Only in [`ASCII`]: a byte >= 0x80, which has to be decoded first.
pub(crate) const HI: u8 = 1 << 7;

/// Class bits of every byte value as a one-byte character; bytes >= 0x80 are
/// [`HI`] (decode them with [`Tables::decode`]). Built by hand because ASCII
/// is simple, and checked against the regex-syntax classes in the tests
/// (`ascii_table_matches_unicode_tables`).
pub(crate) static ASCII: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c >= 0x80 {
            HI
        } else if c.is_ascii_uppercase() {
            L | UP
        } else if c.is_ascii_lowercase() {
            L | LO
        } else if c.is_ascii_digit() {
            N
        } else if c == b'\r' || c == b'\n' {
            S | NL
        } else if c == b' ' || (c >= 0x09 && c <= 0x0D) {
            S
        } else {
            SYM
        };
        b += 1;
    }
    t
};

/// log2 of the block size of the two-level table.
const SHIFT: u32 = 6;
const BLOCK: usize = 1 << SHIFT;
/// One past the largest code point.
const CODE_SPACE: usize = 0x11_0000;

/// The class of U+FFFD (a symbol), used for every invalid byte.
pub(crate) const REPLACEMENT_CLASS: u8 = SYM;

/// The lazily built Unicode tables.
pub(crate) struct Tables {
    /// `index[cp >> SHIFT]` is the block number of `cp`.
    index: Box<[u16]>,
    /// The distinct blocks, `BLOCK` class bytes each.
    blocks: Box<[u8]>,
    /// Non-ASCII code points that `(?i:x)` matches, for the contraction
    /// letters `x`, as `(code point, ASCII lowercase letter)`. Derived from
    /// regex-syntax's simple case folding; in practice one entry: U+017F
    /// LATIN SMALL LETTER LONG S folds to `s`.
    fold_extra: Box<[(u32, u8)]>,
}

/// The tables, built on first use.
#[inline]
pub(crate) fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(Tables::build)
}

/// The code points of a regex that is a single Unicode class, as inclusive
/// ranges. Only used on the constant patterns of this module.
fn class_ranges(pattern: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::Parser::new().parse(pattern).expect("constant class pattern parses");
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => {
            class.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect()
        }
        other => panic!("pattern {pattern:?} is not a Unicode class: {other:?}"),
    }
}

impl Tables {
    fn build() -> Tables {
        // Class bits of every code point; surrogates stay 0 (never decoded).
        let mut bits = vec![0u8; CODE_SPACE];
        let classes: [(u8, &str); 5] = [
            (L, r"\p{L}"),
            (N, r"\p{N}"),
            (S, r"\s"),
            (UP, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"),
            (LO, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"),
        ];
        for (bit, pattern) in classes {
            for (start, end) in class_ranges(pattern) {
                for b in &mut bits[start as usize..=end as usize] {
                    *b |= bit;
                }
            }
        }
        for b in bits.iter_mut() {
            if *b & (L | N | S) == 0 {
                *b |= SYM;
            }
        }
        bits[usize::from(b'\r')] |= NL;
        bits[usize::from(b'\n')] |= NL;
        debug_assert_eq!(bits[0xFFFD], REPLACEMENT_CLASS);

        // Deduplicate blocks.
        let mut index = Vec::with_capacity(CODE_SPACE / BLOCK);
        let mut blocks: Vec<u8> = Vec::new();
        let mut seen: rustc_hash::FxHashMap<&[u8], u16> = Default::default();
        for chunk in bits.chunks_exact(BLOCK) {
            let next = u16::try_from(seen.len()).expect("fewer than 65536 distinct blocks");
            let id = *seen.entry(chunk).or_insert_with(|| {
                blocks.extend_from_slice(chunk);
                next
            });
            index.push(id);
        }

        let mut fold_extra = Vec::new();
        for letter in *b"sdmtlver" {
            let pattern = format!("(?i:{})", letter as char);
            for (start, end) in class_ranges(&pattern) {
                for cp in start..=end {
                    if cp >= 0x80 {
                        fold_extra.push((cp, letter));
                    }
                }
            }
        }

        Tables { index: index.into(), blocks: blocks.into(), fold_extra: fold_extra.into() }
    }

    /// The class bits of a Unicode scalar value.
    #[inline(always)]
    pub(crate) fn class_of(&self, cp: u32) -> u8 {
        let block = self.index[(cp >> SHIFT) as usize] as usize;
        self.blocks[(block << SHIFT) | (cp as usize & (BLOCK - 1))]
    }

    /// Class bits and byte length of the character at `text[i]`, which must
    /// be a byte >= 0x80. An invalid sequence is one byte of class U+FFFD.
    #[inline]
    pub(crate) fn decode(&self, text: &[u8], i: usize) -> (u8, usize) {
        match decode_utf8(text, i) {
            Some((cp, len)) => (self.class_of(cp), len),
            None => (REPLACEMENT_CLASS, 1),
        }
    }

    /// Whether the character `cp` matches `(?i:letter)`, `letter` an ASCII
    /// lowercase letter.
    #[inline]
    pub(crate) fn folds_to(&self, cp: u32, letter: u8) -> bool {
        if cp < 0x80 {
            (cp as u8 | 0x20) == letter
        } else {
            self.fold_extra.iter().any(|&(c, l)| c == cp && l == letter)
        }
    }
}

/// The character at `text[i]` as (code point, byte length) if `text[i..]`
/// starts with a valid UTF-8 sequence, `None` if the byte at `i` is not part of
/// one. ASCII bytes are valid, but callers handle them before calling this.
///
/// Validity is exactly `std::str::from_utf8`'s: no overlong forms, no
/// surrogates, nothing above U+10FFFF. A lead byte whose sequence is cut short
/// is invalid on its own, and so is each stray continuation byte; this is what
/// makes every such byte behave like one U+FFFD, as in `Utf8Chunks`.
#[inline(always)]
pub(crate) fn decode_utf8(text: &[u8], i: usize) -> Option<(u32, usize)> {
    #[inline(always)]
    fn cont(b: Option<&u8>) -> Option<u32> {
        match b {
            Some(&b) if b & 0xC0 == 0x80 => Some(u32::from(b & 0x3F)),
            _ => None,
        }
    }
    let b0 = *text.get(i)?;
    match b0 {
        0x00..=0x7F => Some((u32::from(b0), 1)),
        0xC2..=0xDF => {
            let b1 = cont(text.get(i + 1))?;
            Some(((u32::from(b0 & 0x1F) << 6) | b1, 2))
        }
        0xE0..=0xEF => {
            let b1 = *text.get(i + 1)?;
            let ok = match b0 {
                0xE0 => (0xA0..=0xBF).contains(&b1),
                0xED => (0x80..=0x9F).contains(&b1),
                _ => (0x80..=0xBF).contains(&b1),
            };
            if !ok {
                return None;
            }
            let b2 = cont(text.get(i + 2))?;
            Some(((u32::from(b0 & 0x0F) << 12) | (u32::from(b1 & 0x3F) << 6) | b2, 3))
        }
        0xF0..=0xF4 => {
            let b1 = *text.get(i + 1)?;
            let ok = match b0 {
                0xF0 => (0x90..=0xBF).contains(&b1),
                0xF4 => (0x80..=0x8F).contains(&b1),
                _ => (0x80..=0xBF).contains(&b1),
            };
            if !ok {
                return None;
            }
            let b2 = cont(text.get(i + 2))?;
            let b3 = cont(text.get(i + 3))?;
            Some(((u32::from(b0 & 0x07) << 18) | (u32::from(b1 & 0x3F) << 12) | (b2 << 6) | b3, 4))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_table_matches_unicode_tables() {
        let t = tables();
        for b in 0u8..0x80 {
            assert_eq!(ASCII[b as usize], t.class_of(u32::from(b)), "byte {b:#04x}");
        }
        assert!(ASCII[0x80..].iter().all(|&c| c == HI));
    }

    #[test]
    fn decoder_agrees_with_std_on_every_scalar_value() {
        let mut buf = [0u8; 4];
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let s = c.encode_utf8(&mut buf);
            assert_eq!(decode_utf8(s.as_bytes(), 0), Some((c as u32, s.len())), "{c:?}");
        }
    }

    #[test]
    fn decoder_rejects_what_std_rejects() {
        // Every 1..=4 byte prefix built from interesting bytes: valid iff std
        // says its first character is valid.
        let interesting: Vec<u8> =
            [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0]
                .into_iter()
                .chain([0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF])
                .collect();
        let mut cases = Vec::new();
        for &a in &interesting {
            cases.push(vec![a]);
            for &b in &interesting {
                cases.push(vec![a, b]);
                for &c in &interesting {
                    cases.push(vec![a, b, c]);
                    for &d in &interesting {
                        cases.push(vec![a, b, c, d]);
                    }
                }
            }
        }
        for case in cases {
            let expected = case
                .utf8_chunks()
                .next()
                .and_then(|chunk| chunk.valid().chars().next().map(|c| (c as u32, c.len_utf8())));
            assert_eq!(decode_utf8(&case, 0), expected, "{case:02x?}");
        }
    }

    #[test]
    fn classes_agree_with_fancy_regex_on_every_scalar_value() {
        // The classes as the reference engine sees them, on every scalar
        // value, against the bits of our two-level table.
        let t = tables();
        let all: String = (0..=0x10FFFFu32).filter_map(char::from_u32).collect();
        let classes: [(u8, &str); 7] = [
            (L, r"\p{L}+"),
            (N, r"\p{N}+"),
            (S, r"\s+"),
            (SYM, r"[^\s\p{L}\p{N}]+"),
            (UP, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+"),
            (LO, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"),
            (NL, r"[\r\n]+"),
        ];
        for (bit, pattern) in classes {
            let re = fancy_regex::Regex::new(pattern).expect("compiles");
            let mut expected = vec![false; CODE_SPACE];
            for m in re.find_iter(&all) {
                for c in m.expect("no backtracking limit").as_str().chars() {
                    expected[c as usize] = true;
                }
            }
            for c in all.chars() {
                let cp = c as u32;
                assert_eq!(t.class_of(cp) & bit != 0, expected[cp as usize], "{pattern} on U+{cp:04X}");
            }
        }
        // U+FFFD, the stand-in for invalid bytes, is a symbol.
        assert_eq!(t.class_of(0xFFFD), REPLACEMENT_CLASS);
    }

    #[test]
    fn case_folds_of_the_contraction_letters() {
        let t = tables();
        // U+017F LATIN SMALL LETTER LONG S is the only non-ASCII fold.
        assert_eq!(&*t.fold_extra, &[(0x17F, b's')]);
        assert!(t.folds_to('S' as u32, b's'));
        assert!(t.folds_to('ſ' as u32, b's'));
        assert!(!t.folds_to('ſ' as u32, b't'));
        assert!(!t.folds_to('K' as u32, b's'));
    }
}
