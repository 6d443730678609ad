//! The character vocabulary: one token per distinct character of the corpus,
//! ids in sorted character order (tinyshakespeare: `'\n'` = 0, `' '` = 1, ...).
//!
//! Ids: the characters `0..n` in code-point order; then, when built with a
//! byte fallback, 256 byte tokens `n..n + 256` (byte `b` is `n + b`) that
//! encode any character the vocabulary lacks as its UTF-8 bytes, and every
//! byte of invalid UTF-8, so that round trips stay exact on any input.
//! Special tokens come after, and are the [`crate::Tokenizer`]'s business.
//!
//! Without the fallback, encoding fails on a character the vocabulary lacks
//! ([`Error::UnknownChar`], naming it and its byte offset) and on invalid
//! UTF-8 ([`Error::InvalidUtf8`]).
//!
//! What it is not: a trainer. [`crate::train::CharCounter`] collects the
//! characters of a corpus and [`crate::train::train_char`] builds this.

use rustc_hash::FxHashMap;

use crate::{Error, Result, TokenId};

/// Every byte value once, so that a byte token's bytes can be a slice of it.
static BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    t
};

const ABSENT: TokenId = TokenId::MAX;

/// A character vocabulary, without special tokens.
#[derive(Clone)]
pub struct CharVocab {
    /// The characters, sorted and distinct: `chars[id]`.
    chars: Vec<char>,
    byte_fallback: bool,
    /// The id of each ASCII character, or `ABSENT`.
    ascii: [TokenId; 128],
    /// The ids of the other characters.
    others: FxHashMap<char, TokenId>,
    /// UTF-8 of every character, concatenated, and where each starts
    /// (`chars.len() + 1` entries), for decoding.
    utf8: Vec<u8>,
    starts: Vec<u32>,
}

impl std::fmt::Debug for CharVocab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CharVocab")
            .field("chars", &self.chars.len())
            .field("byte_fallback", &self.byte_fallback)
            .finish_non_exhaustive()
    }
}

impl CharVocab {
    /// A vocabulary of `chars`, which must be sorted by code point and
    /// distinct (that order is the id order).
    pub fn new(chars: Vec<char>, byte_fallback: bool) -> Result<CharVocab> {
        if let Some(w) = chars.windows(2).find(|w| w[0] >= w[1]) {
            return Err(Error::Config(format!(
                "characters must be sorted and distinct: {:?} (U+{:04X}) comes before {:?} (U+{:04X})",
                w[0], w[0] as u32, w[1], w[1] as u32
            )));
        }
        let mut ascii = [ABSENT; 128];
        let mut others = FxHashMap::default();
        let mut utf8 = Vec::new();
        let mut starts = vec![0u32];
        for (id, &c) in chars.iter().enumerate() {
            if c.is_ascii() {
                ascii[c as usize] = id as TokenId;
            } else {
                others.insert(c, id as TokenId);
            }
            let mut buf = [0u8; 4];
            utf8.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            starts.push(utf8.len() as u32);
        }
        Ok(CharVocab { chars, byte_fallback, ascii, others, utf8, starts })
    }

    /// The characters in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// Whether unseen characters and invalid bytes fall back to byte tokens.
    pub fn byte_fallback(&self) -> bool {
        self.byte_fallback
    }

    /// Number of ids: the characters plus, with the fallback, 256 byte tokens.
    pub fn len(&self) -> usize {
        self.chars.len() + if self.byte_fallback { 256 } else { 0 }
    }

    /// True when there are no ids at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of character `c`.
    #[inline]
    pub fn char_id(&self, c: char) -> Option<TokenId> {
        let id = if c.is_ascii() { self.ascii[c as usize] } else { *self.others.get(&c)? };
        (id != ABSENT).then_some(id)
    }

    /// The id of the fallback token of byte `b` (none without the fallback).
    #[inline]
    pub fn byte_token(&self, b: u8) -> Option<TokenId> {
        self.byte_fallback.then(|| (self.chars.len() + b as usize) as TokenId)
    }

    /// The bytes of token `id`: a character's UTF-8, or one byte.
    #[inline]
    pub fn token_bytes(&self, id: TokenId) -> Option<&[u8]> {
        let id = id as usize;
        let n = self.chars.len();
        if id < n {
            Some(&self.utf8[self.starts[id] as usize..self.starts[id + 1] as usize])
        } else if self.byte_fallback && id < n + 256 {
            Some(&BYTES[id - n..id - n + 1])
        } else {
            None
        }
    }

    /// Encodes `text`, appending to `out`. On error `out` may hold the ids of
    /// the text before the offending character.
    pub fn encode_into(&self, text: &[u8], out: &mut Vec<TokenId>) -> Result<()> {
        out.reserve(text.len());
        let mut offset = 0;
        for chunk in text.utf8_chunks() {
            let valid = chunk.valid();
            let bytes = valid.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                let b = bytes[i];
                if b < 0x80 {
                    let id = self.ascii[b as usize];
                    if id == ABSENT {
                        self.unknown(b as char, offset + i, out)?;
                    } else {
                        out.push(id);
                    }
                    i += 1;
                } else {
                    // Not ASCII: decode one character. `valid` is UTF-8 and
                    // `i` is on a character boundary, so this always succeeds.
                    let c = valid[i..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
                    match self.others.get(&c) {
                        Some(&id) => out.push(id),
                        None => self.unknown(c, offset + i, out)?,
                    }
                    i += c.len_utf8();
                }
            }
            offset += bytes.len();
            for (k, &b) in chunk.invalid().iter().enumerate() {
                match self.byte_token(b) {
                    Some(id) => out.push(id),
                    None => return Err(Error::InvalidUtf8 { offset: offset + k }),
                }
            }
            offset += chunk.invalid().len();
        }
        Ok(())
    }

    #[cold]
    fn unknown(&self, c: char, offset: usize, out: &mut Vec<TokenId>) -> Result<()> {
        if !self.byte_fallback {
            return Err(Error::UnknownChar { ch: c, code: c as u32, offset });
        }
        let mut buf = [0u8; 4];
        for &b in c.encode_utf8(&mut buf).as_bytes() {
            out.push((self.chars.len() + b as usize) as TokenId);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_sorted_characters() {
        let v = CharVocab::new(vec!['\n', ' ', 'a', 'é', '日'], false).unwrap();
        assert_eq!(v.len(), 5);
        assert_eq!(v.char_id('\n'), Some(0));
        assert_eq!(v.char_id('日'), Some(4));
        assert_eq!(v.char_id('b'), None);
        let mut out = Vec::new();
        v.encode_into("a é\n日".as_bytes(), &mut out).unwrap();
        assert_eq!(out, vec![2, 1, 3, 0, 4]);
        assert_eq!(v.token_bytes(3), Some("é".as_bytes()));
        assert_eq!(v.token_bytes(5), None);
    }

    #[test]
    fn unknown_characters_and_bad_bytes_are_errors_without_fallback() {
        let v = CharVocab::new(vec![' ', 'a'], false).unwrap();
        let e = v.encode_into("a a b".as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(matches!(e, Error::UnknownChar { ch: 'b', code: 0x62, offset: 4 }), "{e:?}");
        let e = v.encode_into("aa€".as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(matches!(e, Error::UnknownChar { ch: '€', code: 0x20AC, offset: 2 }), "{e:?}");
        let e = v.encode_into(b"a \xffa", &mut Vec::new()).unwrap_err();
        assert!(matches!(e, Error::InvalidUtf8 { offset: 2 }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "invalid UTF-8 at byte offset 2: a character vocabulary without byte fallback cannot encode it"
        );
    }

    #[test]
    fn fallback_encodes_anything_as_bytes() {
        let v = CharVocab::new(vec![' ', 'a'], true).unwrap();
        assert_eq!(v.len(), 258);
        let mut out = Vec::new();
        v.encode_into(b"a \xff\xe2\x82a\xe2\x82\xac", &mut out).unwrap();
        assert_eq!(out, vec![1, 0, 2 + 0xff, 2 + 0xe2, 2 + 0x82, 1, 2 + 0xe2, 2 + 0x82, 2 + 0xac]);
        assert_eq!(v.token_bytes(2 + 0xff), Some(&[0xffu8][..]));
    }

    #[test]
    fn unsorted_characters_are_rejected() {
        let e = CharVocab::new(vec!['b', 'a'], false).unwrap_err().to_string();
        assert!(e.contains("'b' (U+0062) comes before 'a' (U+0061)"), "{e}");
        assert!(CharVocab::new(vec!['a', 'a'], false).is_err());
    }
}
