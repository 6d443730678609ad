//! Token shards: a corpus becomes train and validation token files in llm.c's
//! format, with a `manifest.json` beside them, and the trainer streams batches
//! straight from the memory-mapped files.
//!
//! What it is not: it never prints; long operations report through a callback.
//!
//! The API callers (`trainer`, `cli`) use:
//! - [`corpus::list_files`]: the regular files under the given paths, sorted;
//!   [`corpus::for_each_batch`] reads them in bounded batches.
//! - [`learn::train_tokenizer`]: learn a BPE or character vocabulary from the
//!   corpus files.
//! - [`encode::encode_corpus`]: corpus + tokenizer -> shards + manifest
//!   (parallel, streaming, deterministic; `--part i/N` and
//!   [`manifest::merge_parts`] for encoding on several machines).
//! - [`ShardSet::open`]: validate and memory-map a shard directory;
//!   [`ShardSet::tokenizer`], [`ShardSet::check_tokenizer`], [`ShardSet::manifest`]
//!   (per split: tokens, bytes, chars, documents, text hash).
//! - [`ShardSet::train_batches`]: random windows, a pure function of (seed, step).
//! - [`ShardSet::eval_batches`]: sequential windows covering a split exactly once.
//!
//! Module map: [`shard`] (the llm.c file format), [`split`] (the
//! tokenizer-independent train/val rule), [`manifest`], [`encode`],
//! [`reader`], [`batch`], [`corpus`], [`learn`].

pub mod batch;
pub mod corpus;
pub mod encode;
mod error;
pub mod learn;
pub mod manifest;
pub mod reader;
pub mod shard;
pub mod split;

pub use batch::{Batch, EvalBatch, EvalBatches, TrainBatches};
pub use encode::{EncodeConfig, Part, Progress, TokenizerSource, encode_corpus};
pub use error::{Error, Result};
pub use learn::{
    CountLimit, CountStats, VocabSpec, count_words, train_bpe_ladder, train_bpe_ladder_limited,
    train_tokenizer,
};
pub use manifest::{Manifest, SplitInfo};
pub use reader::{ShardSet, SplitTokens};

/// A token id (the tokenizer's), u16 or u32 on disk, u32 in memory.
pub use tokenizer::TokenId;

/// Train or validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
}

impl Split {
    /// `"train"` or `"val"`: the manifest key and the shard file prefix.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
        }
    }
}

#[cfg(test)]
mod tests;
