//! The crate's error type: every variant names the file and says what was
//! expected and what was found.

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
    /// A shard or manifest whose contents are wrong.
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// A tokenizer error while encoding a named file.
    #[error("{}: {source}", path.display())]
    Tokenizer {
        path: PathBuf,
        #[source]
        source: tokenizer::Error,
    },
    /// Nothing to encode or read.
    #[error("{0}")]
    Empty(String),
    /// A setting that cannot work.
    #[error("{0}")]
    Config(String),
    /// The callback asked to stop.
    #[error("cancelled")]
    Cancelled,
}
