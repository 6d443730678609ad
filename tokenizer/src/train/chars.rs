//! The character-vocabulary builder: count the distinct characters of a
//! corpus, then number them in code-point order.
//!
//! Memory is one counter per distinct character, whatever the corpus size.
//! Counting is a single pass with an ASCII fast path (a 128-entry array);
//! it runs at memory speed, so it is not parallelized.

use std::collections::BTreeMap;

use crate::chars::CharVocab;
use crate::{Error, Result, TokenId, Tokenizer};

/// Counts characters across documents for a character vocabulary.
#[derive(Clone, Debug)]
pub struct CharCounter {
    ascii: [u64; 128],
    others: BTreeMap<char, u64>,
}

impl Default for CharCounter {
    fn default() -> Self {
        CharCounter::new()
    }
}

impl CharCounter {
    /// An empty counter.
    pub fn new() -> CharCounter {
        CharCounter { ascii: [0; 128], others: BTreeMap::new() }
    }

    /// Counts the characters of one document; fails on invalid UTF-8, naming
    /// the offset (nothing of the document is counted then).
    pub fn feed(&mut self, doc: &[u8]) -> Result<()> {
        let text = std::str::from_utf8(doc).map_err(|e| Error::InvalidUtf8 { offset: e.valid_up_to() })?;
        self.count(text);
        Ok(())
    }

    /// Counts the valid characters of one document and skips the bytes that
    /// are not UTF-8 (a vocabulary with a byte fallback encodes those as
    /// bytes); returns how many bytes were skipped.
    pub fn feed_lossy(&mut self, doc: &[u8]) -> usize {
        let mut skipped = 0;
        for chunk in doc.utf8_chunks() {
            self.count(chunk.valid());
            skipped += chunk.invalid().len();
        }
        skipped
    }

    fn count(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_ascii() {
                self.ascii[c as usize] += 1;
            } else {
                *self.others.entry(c).or_insert(0) += 1;
            }
        }
    }

    /// The distinct characters seen and their counts, in code-point order.
    pub fn counts(&self) -> Vec<(char, u64)> {
        let ascii =
            (0..128u8).filter(|&b| self.ascii[b as usize] > 0).map(|b| (b as char, self.ascii[b as usize]));
        ascii.chain(self.others.iter().map(|(&c, &n)| (c, n))).collect()
    }
}

/// Builds a character vocabulary: the distinct characters in sorted order,
/// then, with `byte_fallback`, the 256 byte tokens, then the special tokens.
/// Named `char`; the CLI renames it after the output file.
pub fn train_char(chars: CharCounter, specials: &[String], byte_fallback: bool) -> Result<Tokenizer> {
    let list: Vec<char> = chars.counts().into_iter().map(|(c, _)| c).collect();
    if list.is_empty() {
        return Err(Error::EmptyCorpus);
    }
    let vocab = CharVocab::new(list, byte_fallback)?;
    let base = vocab.len();
    let specials = specials.iter().enumerate().map(|(i, s)| (s.clone(), (base + i) as TokenId)).collect();
    Tokenizer::from_chars(vocab, specials, "char")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sorted_distinct_characters_then_bytes_then_specials() {
        let mut c = CharCounter::new();
        c.feed("ba\nb é".as_bytes()).unwrap();
        c.feed("日a".as_bytes()).unwrap();
        assert_eq!(c.counts(), vec![('\n', 1), (' ', 1), ('a', 2), ('b', 2), ('é', 1), ('日', 1)]);
        let t = train_char(c.clone(), &["<|endoftext|>".into()], true).unwrap();
        assert_eq!(t.vocab_size(), 6 + 256 + 1);
        assert_eq!(t.special_id("<|endoftext|>"), Some(262));
        assert_eq!(t.encode_ordinary("a\n日".as_bytes()).unwrap(), vec![2, 0, 5]);
        let t = train_char(c, &[], false).unwrap();
        assert_eq!(t.vocab_size(), 6);
    }

    #[test]
    fn invalid_utf8_and_empty_corpora() {
        let mut c = CharCounter::new();
        let e = c.feed(b"ab\xffc").unwrap_err();
        assert!(matches!(e, Error::InvalidUtf8 { offset: 2 }));
        assert!(c.counts().is_empty());
        assert_eq!(c.feed_lossy(b"ab\xffc\xe2\x82"), 3);
        assert_eq!(c.counts().len(), 3);
        assert!(matches!(train_char(CharCounter::new(), &[], false), Err(Error::EmptyCorpus)));
    }
}
