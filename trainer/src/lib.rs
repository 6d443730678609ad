//! Runs of the language model on token shards: everything between the
//! shards (`dataset`) and the comparison (`report`).
//!
//! - [`run`]: the run directory on disk (`config.json`, `state.json`,
//!   `metrics.jsonl`, the checkpoints) and its types.
//! - [`train`]: the training loop. It streams batches from the shards, steps
//!   the model (`model`'s kernels, AdamW, clipping), evaluates in bits per
//!   character, checkpoints, resumes bit for bit and stops on NaN.
//! - [`eval`]: the validation text and the evaluation protocol.
//! - [`sample`]: text from a run's checkpoint.
//! - [`experiment`]: the char-vs-BPE pipeline as a library call: train each
//!   tokenizer, encode the corpus with one shared text split, train and
//!   evaluate the same model on each, sample from it.
//!
//! What it is not: it never prints and installs no signal handler. Long
//! operations report through observers the caller implements and may ask to
//! stop; the `lm` binary draws them.

pub mod eval;
pub mod experiment;
pub mod run;
pub mod sample;
pub mod train;

pub use run::{
    Budget, EvalResult, MetricsLine, RunConfig, RunDir, RunError, RunState, Status, TrainSettings,
};
pub use train::{LoopOptions, Observer, Progress, TrainError};
