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

use crate::bpe::Bpe;
use crate::{Error, Pattern, Result, TokenId, Tokenizer};

mod chars;
mod count;
mod learn;

pub use chars::{CharCounter, train_char};
pub use count::WordCounter;
pub use learn::{LearnStats, Learned, Stop, learn_merges};

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

/// Learns a byte-level BPE vocabulary from counted pieces.
///
/// The 256 byte tokens are ids 0..=255 in byte order; merge `i` creates id
/// `256 + i`; the special tokens get the ids after the last merged token, in
/// the order given. `config.vocab_size` counts all three; training stops
/// earlier (a smaller vocabulary) when no pair is left or the best pair
/// occurs fewer than `config.min_frequency` times. See [`learn_merges`] for
/// the tie rule and the treatment of merges whose bytes already exist.
///
/// Errors: [`Error::Config`] when `vocab_size < 256 + specials`, when a
/// special token is empty or repeated, or when `words` was split with another
/// pattern than `config.pattern`; [`Error::EmptyCorpus`] when no piece was
/// counted; [`Error::Cancelled`] when the observer breaks.
pub fn train_bpe(config: &BpeConfig, words: WordCounter, observer: &mut dyn Observer) -> Result<Tokenizer> {
    let target = merge_target(config)?;
    if words.pattern() != config.pattern {
        return Err(Error::Config(format!(
            "the words were split with pattern {} but the configuration asks for {}",
            words.pattern().name(),
            config.pattern.name()
        )));
    }
    let learned = learn_merges(&words, target, config.min_frequency, observer)?;
    drop(words);
    let bpe = Bpe::from_merges(&learned.merges, config.pattern)?;
    let first_special = 256 + learned.merges.len();
    let specials = config
        .specials
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), (first_special + i) as TokenId))
        .collect();
    Tokenizer::from_bpe(bpe, specials, "bpe")
}

/// The number of merges `config` asks for, after checking it.
fn merge_target(config: &BpeConfig) -> Result<usize> {
    let reserved = 256 + config.specials.len();
    if config.vocab_size < reserved {
        return Err(Error::Config(format!(
            "vocabulary size {} is smaller than the 256 byte tokens plus {} special token(s) = {reserved}",
            config.vocab_size,
            config.specials.len()
        )));
    }
    if config.vocab_size > TokenId::MAX as usize {
        return Err(Error::Config(format!("vocabulary size {} does not fit token ids", config.vocab_size)));
    }
    for (i, s) in config.specials.iter().enumerate() {
        if s.is_empty() {
            return Err(Error::Config(format!("special token {} is empty", i + 1)));
        }
        if config.specials[..i].contains(s) {
            return Err(Error::Config(format!("special token {s:?} is given twice")));
        }
    }
    Ok(config.vocab_size - reserved)
}
