//! Byte-level BPE and character tokenizers.
//!
//! This crate is the first stage of the toolkit: it learns a vocabulary from raw
//! bytes ([`train`]), turns bytes into token ids and back ([`Tokenizer`]), reads and
//! writes our JSON file format, exports to Hugging Face `tokenizer.json` and to
//! tiktoken's rank format ([`export`]), and loads the pretrained OpenAI
//! vocabularies (`cl100k_base`, `o200k_base`, `r50k_base`, `p50k_base`) offline
//! through `tiktoken-rs` ([`pretrained`]).
//!
//! What it is not: it never prints, never draws progress bars and never exits.
//! Long operations report through [`train::Observer`]; the `tok` binary in `cli/`
//! draws the bars.
//!
//! Module map:
//! - [`pretok`]: the pre-tokenizers (GPT-4 / cl100k, GPT-4o / o200k, GPT-2 splits),
//!   hand-written with the exact semantics of tiktoken's regexes.
//! - [`bpe`]: the BPE vocabulary and encoder (tiktoken semantics: merge by rank).
//! - [`Tokenizer`]: a vocabulary plus special tokens; encode (also in
//!   parallel: [`Tokenizer::encode_batch`], [`Tokenizer::encode_ordinary_par`]),
//!   decode, load and save.
//! - [`pretrained`]: cl100k_base, o200k_base, r50k_base, p50k_base.
//! - [`train`]: the BPE trainer and the character-vocabulary builder.
//! - [`chars`]: the character vocabulary.
//! - [`file`](mod@file): our JSON file format (load, validate, save atomically).
//! - [`export`]: Hugging Face and tiktoken exports.
//! - [`stats`]: tokens per character, bytes per token, vocabulary use.

pub mod bpe;
pub mod chars;
mod error;
pub mod export;
pub mod file;
pub mod pretok;
pub mod pretrained;
mod ranks;
pub mod stats;
mod tokenizer;
pub mod train;

pub use error::{Error, Result};
pub use pretok::Pattern;
pub use tokenizer::{Allowed, Kind, Tokenizer};

/// A token id. In BPE vocabularies the id is also the merge rank: lower ids
/// merge first (tiktoken's convention).
pub type TokenId = u32;

/// The end-of-text special token used by `tok encode --eot`.
pub const END_OF_TEXT: &str = "<|endoftext|>";
