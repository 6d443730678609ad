//! Training: the byte-level BPE trainer and the character-vocabulary builder.
//!
//! CONTRACT (skeleton) for callers:
//! - [`WordCounter`]: feed it documents (`&[u8]`) one at a time; it
//!   pre-tokenizes them (in parallel) and counts distinct pieces, so memory
//!   grows with the number of distinct pieces, not with the corpus.
//! - [`BpeConfig`] + [`train_bpe`]: learn merges from the counts.
//! - [`CharCounter`] + [`train_char`]: the character vocabulary.
//! - [`Observer`]: progress reports; returning `ControlFlow::Break` cancels.

use std::ops::ControlFlow;

use crate::{Pattern, Result, Tokenizer};

mod chars;
pub use chars::{CharCounter, train_char};

/// What a long-running operation reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Counting pieces: `done` and `total` are bytes.
    Counting,
    /// Merging: `done` and `total` are merges.
    Merging,
}

/// Receives progress. The library never prints; the CLI implements this.
pub trait Observer {
    /// Called now and then; return `ControlFlow::Break(())` to cancel.
    fn progress(&mut self, stage: Stage, done: u64, total: u64) -> ControlFlow<()>;
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn progress(&mut self, _: Stage, _: u64, _: u64) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// BPE training settings.
#[derive(Clone, Debug)]
pub struct BpeConfig {
    /// Final vocabulary size: 256 byte tokens + merges + special tokens.
    pub vocab_size: usize,
    /// Pre-tokenizer.
    pub pattern: Pattern,
    /// Merges of pairs seen fewer times than this are not made.
    pub min_frequency: u64,
    /// Special tokens, given ids after all merged tokens, in this order.
    pub specials: Vec<String>,
}

/// Counts distinct pre-tokenized pieces across documents.
pub struct WordCounter {
    _private: (),
}

impl WordCounter {
    /// A counter that splits with `pattern`.
    pub fn new(pattern: Pattern) -> WordCounter {
        let _ = pattern;
        todo!()
    }

    /// Counts the pieces of one document.
    pub fn feed(&mut self, doc: &[u8]) {
        let _ = doc;
        todo!()
    }
}

/// Learns a byte-level BPE vocabulary from counted pieces.
pub fn train_bpe(config: &BpeConfig, words: WordCounter, observer: &mut dyn Observer) -> Result<Tokenizer> {
    let _ = (config, words, observer);
    todo!()
}
