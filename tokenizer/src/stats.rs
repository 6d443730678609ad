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
//! Rényi efficiency ([`Counter::renyi_efficiency`], [`renyi_efficiency`]),
//! after Zouhar et al. 2023, "Tokenization and the Noiseless Channel"
//! (ACL 2023): efficiency is the entropy of the unigram distribution over the
//! largest entropy possible, `log |V|`, and with Rényi's entropy in place of
//! Shannon's (checked against the abstract and the authors'
//! `tokenization-scorer` package). With `p` the unigram distribution of the
//! ids in the text (count of each id / tokens) and `V` the vocabulary,
//!
//! ```text
//! H_a(p)   = 1/(1 - a) * log( sum_w p(w)^a )     (Rényi entropy, a != 1)
//! H_1(p)   = -sum_w p(w) log p(w)                 (the limit a -> 1, Shannon)
//! Eff_a(p) = H_a(p) / log |V|
//! ```
//!
//! The base of the logarithm cancels in the ratio. The paper recommends
//! a = 2.5 ([`RENYI_ALPHA`]): it penalises both very frequent and very rare
//! tokens. `|V|` here is the declared vocabulary size (the paper's `|Δ|`),
//! not the number of distinct ids seen: the authors' `tokenization-scorer`
//! package divides by the observed count unless given the vocabulary size,
//! which gives a larger number for a vocabulary that is partly unused.
//! Efficiency is in 0..=1 (1 for a uniform use of the whole vocabulary);
//! it is 0 when there are no tokens or `|V| <= 1` (the ratio is undefined).
//! Ids at or above the vocabulary size are not part of `p`.
//!
//! What it is not: a printer. The CLI formats [`Stats`] as a table or JSON.
//! Nor a judge of tokenizers: Cognetta et al. 2024 ("Two Counterexamples to
//! Tokenization and the Noiseless Channel") build tokenizers whose efficiency
//! rises while downstream quality falls; `report` checks, per compute budget,
//! whether the measure ordered the vocabularies as the measured bits/char did.

use rayon::prelude::*;

use crate::{Result, TokenId, Tokenizer};

/// Characters of `text` by the definition in the module docs.
pub fn count_chars(text: &[u8]) -> u64 {
    text.utf8_chunks().map(|c| c.valid().chars().count() as u64 + c.invalid().len() as u64).sum()
}

/// The Rényi order Zouhar et al. 2023 found to correlate best with
/// downstream quality.
pub const RENYI_ALPHA: f64 = 2.5;

/// Rényi entropy of order `alpha` (nats) of the distribution given by
/// `counts` (any non-negative counts; zeros are skipped). `alpha` = 1 gives
/// the Shannon entropy. 0 for no counts; NaN for a negative or NaN `alpha`.
pub fn renyi_entropy(counts: &[u64], alpha: f64) -> f64 {
    if alpha.is_nan() || alpha < 0.0 {
        return f64::NAN;
    }
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let t = total as f64;
    let probs = counts.iter().filter(|&&c| c > 0).map(|&c| c as f64 / t);
    if alpha == 1.0 {
        -probs.map(|p| p * p.ln()).sum::<f64>()
    } else {
        probs.map(|p| p.powf(alpha)).sum::<f64>().ln() / (1.0 - alpha)
    }
}

/// Rényi efficiency `H_alpha(p) / ln(vocab_size)` of the distribution given
/// by `counts` (module docs); 0 when there are no counts or `vocab_size <= 1`.
pub fn renyi_efficiency(counts: &[u64], alpha: f64, vocab_size: usize) -> f64 {
    if vocab_size <= 1 || counts.iter().all(|&c| c == 0) {
        return 0.0;
    }
    renyi_entropy(counts, alpha) / (vocab_size as f64).ln()
}

/// Running counts for one tokenizer; merge counters of parts with
/// [`Counter::merge`].
#[derive(Clone, Debug)]
pub struct Counter {
    tokens: u64,
    chars: u64,
    bytes: u64,
    /// Occurrences of each id below the vocabulary size.
    counts: Vec<u64>,
}

impl Counter {
    /// An empty counter for ids below `vocab_size`.
    pub fn new(vocab_size: usize) -> Counter {
        Counter { tokens: 0, chars: 0, bytes: 0, counts: vec![0; vocab_size] }
    }

    /// Counts `text` and the `ids` it encodes to. Ids at or above the
    /// vocabulary size given to [`Counter::new`] count as tokens but not in
    /// `vocab_used`.
    pub fn add(&mut self, text: &[u8], ids: &[TokenId]) {
        self.tokens += ids.len() as u64;
        self.bytes += text.len() as u64;
        self.chars += count_chars(text);
        for &id in ids {
            if let Some(n) = self.counts.get_mut(id as usize) {
                *n += 1;
            }
        }
    }

    /// Adds the counts of `other` (same vocabulary size).
    pub fn merge(&mut self, other: &Counter) {
        self.tokens += other.tokens;
        self.chars += other.chars;
        self.bytes += other.bytes;
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// Number of distinct ids seen.
    pub fn distinct(&self) -> u64 {
        self.counts.iter().filter(|&&n| n > 0).count() as u64
    }

    /// Occurrences of each id below the vocabulary size given to
    /// [`Counter::new`] (the unigram counts).
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Share (0..=1) of the `vocab_size` ids seen at least once; 0 when
    /// `vocab_size` is 0. The same figure as [`Stats::vocab_used`].
    pub fn vocab_used(&self, vocab_size: usize) -> f64 {
        if vocab_size == 0 { 0.0 } else { self.distinct() as f64 / vocab_size as f64 }
    }

    /// Rényi efficiency of order `alpha` of the ids counted, over a
    /// vocabulary of `vocab_size` ids (module docs; [`RENYI_ALPHA`] is the
    /// paper's order).
    pub fn renyi_efficiency(&self, alpha: f64, vocab_size: usize) -> f64 {
        renyi_efficiency(&self.counts, alpha, vocab_size)
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
    // One counter per rayon split, not per document: a counter holds a count
    // per id, so merging one per document would cost O(documents x vocab).
    docs.par_iter()
        .try_fold(
            || Counter::new(vocab),
            |mut c, d| {
                let d = d.as_ref();
                let ids = tok.encode_ordinary_par(d)?;
                c.add(d, &ids);
                Ok(c)
            },
        )
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

    #[test]
    fn counts_and_vocab_use_merge() {
        let mut c = Counter::new(4);
        c.add(b"abc", &[0, 0, 3]);
        let mut d = Counter::new(4);
        d.add(b"d", &[3, 9]);
        c.merge(&d);
        assert_eq!(c.counts(), &[2, 0, 0, 2]);
        assert_eq!(c.vocab_used(4), 0.5);
        assert_eq!(Counter::new(0).vocab_used(0), 0.0);
    }

    #[test]
    fn renyi_efficiency_exact_values() {
        // Uniform over the whole vocabulary: H_a = ln 4 for every a, efficiency 1.
        assert!((renyi_efficiency(&[5, 5, 5, 5], 2.5, 4) - 1.0).abs() < 1e-15);
        assert!((renyi_efficiency(&[5, 5, 5, 5], 1.0, 4) - 1.0).abs() < 1e-15);
        // Uniform over half of the vocabulary: ln 2 / ln 4 = 0.5 (unused ids
        // count through |V|, not through p).
        assert!((renyi_efficiency(&[3, 3, 0, 0], 2.5, 4) - 0.5).abs() < 1e-15);
        // p = (3/4, 1/4), a = 2.5: H = ln(p1^2.5 + p2^2.5) / (1 - 2.5).
        // (3/4)^2.5 = 9 sqrt(3) / 32, (1/4)^2.5 = 1/32.
        let h = ((9.0 * 3f64.sqrt() + 1.0) / 32.0).ln() / -1.5;
        assert!((renyi_entropy(&[3, 1], 2.5) - h).abs() < 1e-15);
        assert!((renyi_efficiency(&[3, 1], 2.5, 2) - h / 2f64.ln()).abs() < 1e-15);
        // The same with a = 2 (collision entropy): -ln(9/16 + 1/16) = ln(8/5).
        assert!((renyi_entropy(&[3, 1], 2.0) - (8.0f64 / 5.0).ln()).abs() < 1e-15);
        // Shannon: -(3/4 ln 3/4 + 1/4 ln 1/4).
        let s = -(0.75 * 0.75f64.ln() + 0.25 * 0.25f64.ln());
        assert!((renyi_entropy(&[3, 1], 1.0) - s).abs() < 1e-15);
        // A single id: H = 0 for every order.
        assert_eq!(renyi_efficiency(&[0, 7, 0], 2.5, 3), 0.0);
        // Undefined cases are 0, never NaN.
        assert_eq!(renyi_efficiency(&[], 2.5, 10), 0.0);
        assert_eq!(renyi_efficiency(&[0, 0], 2.5, 2), 0.0);
        assert_eq!(renyi_efficiency(&[4], 2.5, 1), 0.0);
        assert!(renyi_entropy(&[1, 1], -1.0).is_nan());
    }

    #[test]
    fn counter_renyi_ignores_ids_past_the_vocabulary() {
        let mut c = Counter::new(2);
        c.add(b"abcd", &[0, 1, 1, 1, 700]);
        let h = ((9.0 * 3f64.sqrt() + 1.0) / 32.0).ln() / -1.5;
        assert!((c.renyi_efficiency(RENYI_ALPHA, 2) - h / 2f64.ln()).abs() < 1e-15);
    }
}
