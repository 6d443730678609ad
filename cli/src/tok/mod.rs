//! The `tok` subcommands, one module each: its clap `Args` and its `run`.
//! `src/bin/tok.rs` only dispatches.

pub mod detokenize;
pub mod export;
pub mod stats;
pub mod tokenize;
pub mod train;
