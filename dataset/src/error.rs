//! The crate's error type: every variant names the file and says what was
//! expected and what was found.
//!
//! Messages are one line, in the form `path: what is wrong`, optionally
//! followed by `(hint: ...)` in the spirit of llm.c's `---> HINT:` lines, so
//! the CLI can print them as they are.

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
    /// A shard or manifest whose contents are wrong in a way that is not a
    /// single expected-vs-found value (a manifest that does not parse, ...).
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// A value in a shard, manifest or directory that differs from what it
    /// must be: the header's magic, the file size, a token count that the
    /// manifest states differently, ...
    #[error("{}: {what}: expected {expected}, found {found}{}", path.display(), hint_suffix(hint))]
    Mismatch {
        path: PathBuf,
        what: String,
        expected: String,
        found: String,
        /// What probably happened and what to do about it.
        hint: Option<String>,
    },
    /// The shards were encoded with another tokenizer than the one requested.
    #[error(
        "{}: the shards were encoded with tokenizer {expected}, not with {found} \
         (hint: use the tokenizer the shards were made with, or re-encode the corpus)",
        path.display()
    )]
    TokenizerMismatch {
        /// The shard directory's manifest.
        path: PathBuf,
        /// The shards' tokenizer (name, vocabulary size, content hash).
        expected: String,
        /// The requested tokenizer, described the same way.
        found: String,
    },
    /// A tokenizer error while encoding or loading a named file.
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
    /// Counting or learning would need more memory than the limit allows.
    #[error(
        "{what} needs about {needed} bytes ({}), more than the memory limit of {limit} bytes ({}){}",
        human_bytes(*needed),
        human_bytes(*limit),
        hint_suffix(hint)
    )]
    OverMemory { what: String, needed: u64, limit: u64, hint: Option<String> },
    /// The callback asked to stop.
    #[error("cancelled")]
    Cancelled,
}

/// `1.50 GiB`, `12.3 MiB`, `800 KiB`.
fn human_bytes(n: u64) -> String {
    let x = n as f64;
    if n >= 1 << 30 {
        format!("{:.2} GiB", x / (1u64 << 30) as f64)
    } else if n >= 1 << 20 {
        format!("{:.1} MiB", x / (1u64 << 20) as f64)
    } else {
        format!("{:.0} KiB", x / 1024.0)
    }
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!(" (hint: {h})"),
        None => String::new(),
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::Corrupt { path: path.into(), reason: reason.into() }
    }

    pub(crate) fn mismatch(
        path: impl Into<PathBuf>,
        what: impl Into<String>,
        expected: impl ToString,
        found: impl ToString,
        hint: Option<&str>,
    ) -> Error {
        Error::Mismatch {
            path: path.into(),
            what: what.into(),
            expected: expected.to_string(),
            found: found.to_string(),
            hint: hint.map(str::to_owned),
        }
    }
}
