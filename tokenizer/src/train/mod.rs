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
pub mod counts_file;
mod learn;

pub use chars::{CharCounter, train_char};
pub use count::{SORT_BYTES_PER_PIECE, WordCounter};
pub use counts_file::{CountsHeader, CountsReader, merge_count_files, merge_counts};
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
///
/// Cancellation: the library installs no signal handler. A caller that
/// wants Ctrl-C or SIGTERM to stop a run sets a flag in its handler and
/// returns `ControlFlow::Break(())` from [`Observer::poll`] (and from
/// [`Observer::progress`]) once it is set; the operation then returns
/// [`Error::Cancelled`] and nothing it would have produced.
pub trait Observer {
    /// Called now and then (about every half percent of the work); return
    /// `ControlFlow::Break(())` to cancel.
    fn progress(&mut self, stage: Stage, done: u64, total: u64) -> ControlFlow<()>;

    /// Called often, between units of work of a few milliseconds at most
    /// (every merge step, and inside a step every million positions of a
    /// long piece), so that a cancel flag is seen within a fraction of a
    /// second whatever the input; return `ControlFlow::Break(())` to cancel.
    /// Must be cheap (an atomic load). The default never cancels.
    fn poll(&mut self) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
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
/// pattern than `config.pattern`; [`Error::EmptyCorpus`] when no text was
/// counted (no piece and no byte fed; pieces all dropped as rarer than a
/// minimum count give the 256 byte tokens); [`Error::Cancelled`] when the
/// observer breaks.
pub fn train_bpe(config: &BpeConfig, words: WordCounter, observer: &mut dyn Observer) -> Result<Tokenizer> {
    let target = merge_target(config)?;
    let learned = learn_checked(config, &words, target, observer)?;
    drop(words);
    build(config, &learned.merges)
}

/// A vocabulary ladder: one training, one [`Tokenizer`] per size in
/// `sizes` (in that order), each identical to what [`train_bpe`] gives with
/// `config.vocab_size` set to that size (`config.vocab_size` itself is not
/// used).
///
/// BPE learns merges in order and a merge does not depend on how many more
/// are asked for, so the vocabulary of size `n` is the first
/// `n - 256 - specials` merges of the largest run; this learns those once.
/// The special tokens of each size take the ids after its own last merge.
///
/// Errors: those of [`train_bpe`] for any size, and [`Error::Config`] when
/// `sizes` is empty.
pub fn train_bpe_ladder(
    config: &BpeConfig,
    sizes: &[usize],
    words: WordCounter,
    observer: &mut dyn Observer,
) -> Result<Vec<Tokenizer>> {
    if sizes.is_empty() {
        return Err(Error::Config("no vocabulary size given".into()));
    }
    let targets = sizes
        .iter()
        .map(|&vocab_size| merge_target(&BpeConfig { vocab_size, ..config.clone() }))
        .collect::<Result<Vec<usize>>>()?;
    let most = targets.iter().copied().max().unwrap_or(0);
    let learned = learn_checked(config, &words, most, observer)?;
    drop(words);
    targets.iter().map(|&t| build(config, &learned.merges[..t.min(learned.merges.len())])).collect()
}

/// [`learn_merges`] after checking that `words` were split with
/// `config.pattern`.
fn learn_checked(
    config: &BpeConfig,
    words: &WordCounter,
    merges: usize,
    observer: &mut dyn Observer,
) -> Result<learn::Learned> {
    if words.pattern() != config.pattern {
        return Err(Error::Config(format!(
            "the words were split with pattern {} but the configuration asks for {}",
            words.pattern().name(),
            config.pattern.name()
        )));
    }
    learn_merges(words, merges, config.min_frequency, observer)
}

/// The tokenizer of a merge list: the merges' vocabulary, then the specials.
fn build(config: &BpeConfig, merges: &[(TokenId, TokenId)]) -> Result<Tokenizer> {
    let bpe = Bpe::from_merges(merges, config.pattern)?;
    let first_special = 256 + merges.len();
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
