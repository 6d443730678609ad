//! Comparing runs: bits per character and per byte on identical held-out text,
//! the table, and the plots.
//!
//! The arithmetic lives here so it can be tested exactly; `lm compare` only
//! prints what this crate computes. The crate refuses to compare runs whose
//! validation text differs: a loss on other text is not a comparison.
//!
//! - [`bits`]: nats to bits per token, character and byte.
//! - [`compare`]: reading finished (or unfinished) runs and building the rows.
//! - [`table`]: the table as Markdown (terminal and `report.md`).
//! - [`plot`]: SVG plots of validation bits per character.
//! - [`fit`]: fitted loss curves (`E + A*C^-alpha`, `L(N, D)`) with intervals.
//! - [`frontier`]: which vocabulary is best over which compute range, where
//!   the curves cross, and which intrinsic measure ordered the vocabularies.

pub mod bits;
pub mod compare;
mod error;
pub mod fit;
pub mod frontier;
pub mod plot;
pub mod table;

pub use compare::{Comparison, Curve, CurvePoint, ReferenceRow, Row, RunSummary};
pub use error::{Error, Result};
pub use fit::{FitError, FitOptions, PowerLaw, PowerLawFit, ScalingLaw, ScalingLawFit, VocabFit};
pub use frontier::{Frontier, FrontierRange, Intrinsic};
