//! Tokens per character, bytes per token, vocabulary use: the arithmetic
//! behind `tok stats`.
//!
//! Definitions (the `--json` keys):
//! - `tokens`: ids produced by `encode_ordinary` (special-token text counts
//!   as ordinary text).
//! - `chars`: Unicode scalar values of the text read as UTF-8; every byte
//!   that is not part of a valid UTF-8 sequence counts as one character
//!   (the same convention as the pre-tokenizer, which treats each such byte
//!   as a character of its own).
//! - `bytes`: bytes of the text.
//! - `tokens_per_char` = tokens / chars, `chars_per_token` = chars / tokens,
//!   `bytes_per_token` = bytes / tokens; each is 0 when its denominator is 0.
//! - `vocab_used`: the share (0..=1) of the `vocab_size` ids that occur at
//!   least once.
//!
//! What it is not: a printer. The CLI formats [`Stats`] as a table or JSON.

use rayon::prelude::*;

use crate::{Result, TokenId, Tokenizer};

/// Characters of `text` by the definition in the module docs.
pub fn count_chars(text: &[u8]) -> u64 {
    text.utf8_chunks().map(|c| c.valid().chars().count() as u64 + c.invalid().len() as u64).sum()
}

/// Running counts for one tokenizer; merge counters of parts with
/// [`Counter::merge`].
#[derive(Clone, Debug)]
pub struct Counter {
    tokens: u64,
    chars: u64,
    bytes: u64,
    /// One bit per id seen.
    used: Vec<u64>,
}

impl Counter {
    /// An empty counter for ids below `vocab_size`.
    pub fn new(vocab_size: usize) -> Counter {
        Counter { tokens: 0, chars: 0, bytes: 0, used: vec![0; vocab_size.div_ceil(64)] }
    }

    /// Counts `text` and the `ids` it encodes to. Ids at or above the
    /// vocabulary size given to [`Counter::new`] count as tokens but not in
    /// `vocab_used`.
    pub fn add(&mut self, text: &[u8], ids: &[TokenId]) {
        self.tokens += ids.len() as u64;
        self.bytes += text.len() as u64;
        self.chars += count_chars(text);
        for &id in ids {
            if let Some(w) = self.used.get_mut(id as usize / 64) {
                *w |= 1 << (id % 64);
            }
        }
    }

    /// Adds the counts of `other` (same vocabulary size).
    pub fn merge(&mut self, other: &Counter) {
        self.tokens += other.tokens;
        self.chars += other.chars;
        self.bytes += other.bytes;
        for (a, b) in self.used.iter_mut().zip(&other.used) {
            *a |= b;
        }
    }

    /// Number of distinct ids seen.
    pub fn distinct(&self) -> u64 {
        self.used.iter().map(|w| w.count_ones() as u64).sum()
    }

    /// The figures, labelled with the tokenizer's name and vocabulary size.
    pub fn finish(&self, tokenizer: &str, vocab_size: usize) -> Stats {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Stats {
            tokenizer: tokenizer.to_string(),
            vocab_size,
            tokens: self.tokens,
            chars: self.chars,
            bytes: self.bytes,
            tokens_per_char: ratio(self.tokens, self.chars),
            chars_per_token: ratio(self.chars, self.tokens),
            bytes_per_token: ratio(self.bytes, self.tokens),
            vocab_used: ratio(self.distinct(), vocab_size as u64),
        }
    }
}

/// One row of `tok stats`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub tokenizer: String,
    pub vocab_size: usize,
    pub tokens: u64,
    pub chars: u64,
    pub bytes: u64,
    pub tokens_per_char: f64,
    pub chars_per_token: f64,
    pub bytes_per_token: f64,
    pub vocab_used: f64,
}

/// Encodes `docs` with `tok` on the current rayon pool (documents in
/// parallel, each large one in parallel chunks) and counts them.
pub fn measure<T: AsRef<[u8]> + Sync>(tok: &Tokenizer, docs: &[T]) -> Result<Counter> {
    let vocab = tok.vocab_size();
    docs.par_iter()
        .map(|d| {
            let d = d.as_ref();
            let ids = tok.encode_ordinary_par(d)?;
            let mut c = Counter::new(vocab);
            c.add(d, &ids);
            Ok(c)
        })
        .try_reduce(
            || Counter::new(vocab),
            |mut a, b| {
                a.merge(&b);
                Ok(a)
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chars_count_scalars_and_invalid_bytes() {
        assert_eq!(count_chars(b""), 0);
        assert_eq!(count_chars("héllo 日本".as_bytes()), 8);
        assert_eq!(count_chars("🦀".as_bytes()), 1);
        // Two invalid bytes, a truncated 3-byte sequence (2 bytes), valid 'a'.
        assert_eq!(count_chars(b"\xff\xfe\xe2\x82a"), 5);
    }

    #[test]
    fn ratios_are_exact() {
        let mut c = Counter::new(10);
        c.add("héllo".as_bytes(), &[1, 2, 2]);
        let mut d = Counter::new(10);
        d.add(b"ab", &[9]);
        c.merge(&d);
        let s = c.finish("t", 10);
        assert_eq!(
            s,
            Stats {
                tokenizer: "t".into(),
                vocab_size: 10,
                tokens: 4,
                chars: 7,
                bytes: 8,
                tokens_per_char: 4.0 / 7.0,
                chars_per_token: 1.75,
                bytes_per_token: 2.0,
                vocab_used: 0.3,
            }
        );
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"tokenizer":"t","vocab_size":10,"tokens":4,"chars":7,"bytes":8,"tokens_per_char":0.5714285714285714,"chars_per_token":1.75,"bytes_per_token":2.0,"vocab_used":0.3}"#
        );
    }

    #[test]
    fn empty_input_gives_zero_ratios() {
        let s = Counter::new(5).finish("e", 5);
        assert_eq!(
            (s.tokens_per_char, s.chars_per_token, s.bytes_per_token, s.vocab_used),
            (0.0, 0.0, 0.0, 0.0)
        );
        // Ids past the vocabulary are tokens but not "used" (no panic).
        let mut c = Counter::new(5);
        c.add(b"x", &[700]);
        assert_eq!(c.distinct(), 0);
        assert_eq!(c.finish("e", 5).tokens, 1);
    }
}
