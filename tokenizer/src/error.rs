//! The crate's error type. Every variant carries the evidence a user needs:
//! the file, the value, the offset.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A tokenizer file that does not parse or does not validate.
    #[error("{origin}: invalid tokenizer file: {reason}")]
    BadFile { origin: String, reason: String },
    /// A word-count file (`tok count`) that is not one, is damaged, or does
    /// not fit with the others it is merged with.
    #[error("{}: invalid word-count file: {reason}", path.display())]
    BadCounts { path: PathBuf, reason: String },
    /// A name that is neither a pretrained vocabulary nor an existing file.
    #[error(
        "unknown tokenizer {spec:?}: not a file and not one of cl100k_base, o200k_base, r50k_base, p50k_base"
    )]
    UnknownTokenizer { spec: String },
    /// A character the character vocabulary does not have.
    #[error("character {ch:?} (U+{code:04X}) at byte offset {offset} is not in the character vocabulary")]
    UnknownChar { ch: char, code: u32, offset: usize },
    /// Bytes that are not UTF-8 given to a character vocabulary without byte fallback.
    #[error(
        "invalid UTF-8 at byte offset {offset}: a character vocabulary without byte fallback cannot encode it"
    )]
    InvalidUtf8 { offset: usize },
    /// A token id that the vocabulary does not have.
    #[error("token id {id} is out of range (vocabulary size {vocab_size})")]
    IdOutOfRange { id: u32, vocab_size: usize },
    /// A token id below the vocabulary size that no token has (pretrained
    /// vocabularies leave gaps between the ordinary and the special tokens).
    #[error("token id {id} is unused in this vocabulary (no token has it)")]
    UnusedId { id: u32 },
    /// Text named as an allowed special token that the vocabulary lacks.
    #[error("{text:?} is not a special token of this tokenizer")]
    UnknownSpecial { text: String },
    /// An export the target format cannot represent exactly.
    #[error("cannot export to {format}: {reason}")]
    Unsupported { format: &'static str, reason: String },
    /// A training configuration that cannot work.
    #[error("{0}")]
    Config(String),
    /// Training found nothing to learn from.
    #[error("the corpus is empty")]
    EmptyCorpus,
    /// The observer asked to stop.
    #[error("cancelled")]
    Cancelled,
}
