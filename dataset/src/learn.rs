//! Learning a tokenizer from a corpus on disk: the corpus-level driver of
//! `tokenizer::train`, as [`crate::encode_corpus`] is of the encoder.
//!
//! Documents are read in batches of [`BATCH_BYTES`], so memory holds one
//! batch of text plus the counts, whatever the corpus size. The result
//! depends only on the documents' bytes and their order.

use tokenizer::Tokenizer;
use tokenizer::train::{BpeConfig, CharCounter, Observer, WordCounter};

use crate::corpus::{self, Document};
use crate::{Error, Result};

/// Corpus documents are read and counted in batches of about this many bytes.
pub const BATCH_BYTES: u64 = 64 << 20;

/// What to learn.
#[derive(Clone, Debug)]
pub enum VocabSpec {
    /// One token per distinct character (code-point order), plus the 256 byte
    /// tokens with `byte_fallback` (invalid UTF-8 is then skipped, not refused).
    Char { byte_fallback: bool, specials: Vec<String> },
    /// Byte-level BPE.
    Bpe(BpeConfig),
}

/// Learns BPE vocabularies of every size in `sizes` from one training on
/// `docs` (`config.vocab_size` is ignored): the first k merges of a run are
/// the k-merge vocabulary, so each is identical to a separate run
/// (`tokenizer::train::train_bpe_ladder`). Errors as [`train_tokenizer`].
pub fn train_bpe_ladder(
    docs: &[Document],
    config: &BpeConfig,
    sizes: &[usize],
    observer: &mut dyn Observer,
) -> Result<Vec<Tokenizer>> {
    let largest =
        sizes.iter().copied().max().ok_or_else(|| Error::Config("no vocabulary size given".into()))?;
    let config = BpeConfig { vocab_size: largest, ..config.clone() };
    let mut words = WordCounter::new(config.pattern);
    corpus::for_each_batch(docs, BATCH_BYTES, |_, texts| {
        poll(observer)?;
        words.feed_many_observed(texts, observer).map_err(|e| trainer_error(docs, e))
    })?;
    tokenizer::train::train_bpe_ladder(&config, sizes, words, observer).map_err(|e| trainer_error(docs, e))
}

/// Ctrl-C between batches: [`Error::Cancelled`].
fn poll(observer: &mut dyn Observer) -> Result<()> {
    match observer.poll() {
        std::ops::ControlFlow::Break(()) => Err(Error::Cancelled),
        std::ops::ControlFlow::Continue(()) => Ok(()),
    }
}

fn trainer_error(docs: &[Document], e: tokenizer::Error) -> Error {
    match e {
        tokenizer::Error::Config(msg) => Error::Config(msg),
        tokenizer::Error::EmptyCorpus => Error::Empty("the corpus is empty".into()),
        tokenizer::Error::Cancelled => Error::Cancelled,
        source => Error::Tokenizer { path: docs.first().map(|d| d.path.clone()).unwrap_or_default(), source },
    }
}

/// Learns a tokenizer from `docs`.
///
/// Errors: an unreadable file or (for a character vocabulary without byte
/// fallback) invalid UTF-8, naming the file; [`Error::Config`] for settings
/// the trainer refuses; [`Error::Empty`] when the corpus holds no text;
/// [`Error::Cancelled`] when the observer breaks.
pub fn train_tokenizer(
    docs: &[Document],
    spec: &VocabSpec,
    observer: &mut dyn Observer,
) -> Result<Tokenizer> {
    let trainer_error = |e| trainer_error(docs, e);
    match spec {
        VocabSpec::Char { byte_fallback, specials } => {
            let mut counter = CharCounter::new();
            corpus::for_each_batch(docs, BATCH_BYTES, |batch, texts| {
                poll(observer)?;
                for (doc, text) in batch.iter().zip(texts) {
                    if *byte_fallback {
                        counter.feed_lossy(text);
                    } else {
                        counter.feed(text).map_err(|e| match e {
                            tokenizer::Error::InvalidUtf8 { offset } => Error::corrupt(
                                &doc.path,
                                format!(
                                    "invalid UTF-8 at byte offset {offset} (a character vocabulary needs \
                                     UTF-8 text; `tok train --char --byte-fallback` accepts any bytes)"
                                ),
                            ),
                            source => Error::Tokenizer { path: doc.path.clone(), source },
                        })?;
                    }
                }
                Ok::<_, Error>(())
            })?;
            tokenizer::train::train_char(counter, specials, *byte_fallback).map_err(trainer_error)
        }
        VocabSpec::Bpe(config) => {
            let mut toks = train_bpe_ladder(docs, config, &[config.vocab_size], observer)?;
            toks.pop().ok_or_else(|| Error::Config("no vocabulary size given".into()))
        }
    }
}
