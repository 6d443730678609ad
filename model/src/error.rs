//! The crate's error type. Every variant carries the evidence a user needs:
//! the file, the tensor, what was expected and what was found.
//!
//! Checkpoint problems (a truncated download, a file from another model, a
//! foreign dtype) are errors that name the file, never panics.

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
    /// A file that is not a valid checkpoint: it does not parse as safetensors
    /// (truncated, garbage), or its metadata is missing or malformed.
    #[error("{}: corrupt checkpoint: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// A tensor the model needs is not in the file.
    #[error("{}: missing tensor {name:?}", path.display())]
    MissingTensor { path: PathBuf, name: String },
    /// The file holds a tensor this model does not have.
    #[error("{}: unexpected tensor {name:?} (not a parameter of this model)", path.display())]
    UnexpectedTensor { path: PathBuf, name: String },
    /// A tensor with the wrong element type.
    #[error("{}: tensor {name:?} has dtype {found}, expected {expected}", path.display())]
    Dtype { path: PathBuf, name: String, expected: String, found: String },
    /// A tensor with the wrong shape.
    #[error("{}: tensor {name:?} has shape {found:?}, expected {expected:?}", path.display())]
    Shape { path: PathBuf, name: String, expected: Vec<usize>, found: Vec<usize> },
    /// A stored value that is NaN or infinite.
    #[error("{}: tensor {name:?} holds a non-finite value at element {index}", path.display())]
    NonFinite { path: PathBuf, name: String, index: usize },
    /// Two things that must describe the same model or the same training step do not.
    #[error("{}: {what} mismatch: expected {expected}, found {found}", path.display())]
    Mismatch { path: PathBuf, what: String, expected: String, found: String },
    /// A model shape that cannot be built (e.g. `--tie` with E != H).
    #[error("invalid model configuration: {0}")]
    Config(String),
    /// A buffer whose length does not fit the model or the batch.
    #[error("{what} has length {found}, expected {expected}")]
    Length { what: &'static str, expected: usize, found: usize },
    /// A token id the vocabulary does not have.
    #[error("{what}: token id {token} at position {position} is out of range (vocabulary size {vocab})")]
    TokenOutOfRange { what: &'static str, token: u32, position: usize, vocab: usize },
    /// Generation needs at least one prompt token to condition on.
    #[error("the prompt is empty: generation needs at least one token to start from")]
    EmptyPrompt,
    /// A sampling setting that cannot work.
    #[error("invalid sampling setting: {0}")]
    Sampling(String),
    /// The model produced NaN or infinite logits (a diverged or damaged model).
    #[error("the model produced a non-finite logit at generated position {position}")]
    NonFiniteLogits { position: usize },
}
