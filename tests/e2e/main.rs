//! End-to-end tests: the binaries and the crates together.

/// The `tok` binary: train, tokenize, detokenize, stats, export, bad input.
mod tok;
