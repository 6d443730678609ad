//! Training: the byte-level BPE trainer and the character-vocabulary builder.
//!
//! BPE training takes two steps, so that a caller can read a corpus in
//! batches of files and show progress:
//! 1. [`WordCounter`] pre-tokenizes documents (`&[u8]`, any bytes) with a
//!    [`Pattern`] and counts the distinct pieces, in parallel across documents
//!    and inside large ones ([`WordCounter::feed`], [`WordCounter::feed_many`],
//!    [`WordCounter::feed_many_observed`]). Memory grows with the number of
//!    distinct pieces, not with the corpus.
//! 2. [`train_bpe`] learns the merges ([`learn_merges`], which also gives the
//!    bare merge list and [`LearnStats`]) and builds the [`Tokenizer`].
//!
//! [`CharCounter`] + [`train_char`] build the character vocabulary.
//! Long operations report through an [`Observer`]; returning
//! `ControlFlow::Break` cancels them with [`Error::Cancelled`].
//!
//! What it is not: it reads no files and prints nothing; the CLI does both.
//!
//! ```
//! use tokenizer::Pattern;
//! use tokenizer::train::{BpeConfig, Silent, WordCounter, train_bpe};
//!
//! let mut words = WordCounter::new(Pattern::Gpt4);
//! words.feed_many(&[b"low lower lowest".as_slice(), b"newer newest"]);
//! let config = BpeConfig {
//!     vocab_size: 300,
//!     pattern: Pattern::Gpt4,
//!     min_frequency: 2,
//!     specials: vec!["<|endoftext|>".to_string()],
//! };
//! let tok = train_bpe(&config, words, &mut Silent)?;
//! // Few pairs occur twice: training stops early, and the special token
//! // takes the id after the last merged token.
//! assert!(tok.vocab_size() < 300);
//! assert_eq!(tok.special_id("<|endoftext|>"), Some(tok.vocab_size() as u32 - 1));
//! assert_eq!(tok.decode(&tok.encode_ordinary(b"lowest newer")?)?, b"lowest newer");
//! # Ok::<(), tokenizer::Error>(())
//! ```

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
