//! The crate's error type.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while comparing runs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A run's files could not be read.
    #[error(transparent)]
    Run(#[from] trainer::RunError),
    /// A run's tokenizer could not be loaded (the intrinsic measures).
    #[error(transparent)]
    Trainer(#[from] trainer::TrainError),
    /// The runs were not evaluated on the same text.
    #[error("{0}")]
    Mismatch(String),
    /// Nothing to compare.
    #[error("{0}")]
    Empty(String),
    /// Loading a tokenizer for the reference rows.
    #[error(transparent)]
    Tokenizer(#[from] tokenizer::Error),
    /// Writing a report file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A curve that cannot be fitted to the measured points.
    #[error(transparent)]
    Fit(#[from] crate::fit::FitError),
    /// Drawing a plot.
    #[error("{}: cannot draw the plot: {reason}", path.display())]
    Plot { path: PathBuf, reason: String },
}
