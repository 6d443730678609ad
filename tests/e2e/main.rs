//! End-to-end tests: the binaries and the crates together.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

/// The bad-input battery: every `tok` and `lm` command on broken input fails cleanly.
mod bad_input;
/// The `lm` binary: train, eval, sample, compare, experiment, bad input.
mod lm;
/// Token shards: tok encode / inspect / merge-manifests and the dataset reader.
mod shards;
/// The `tok` binary: train, tokenize, detokenize, stats, export, bad input.
mod tok;
