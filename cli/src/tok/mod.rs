//! The `tok` subcommands, one module each: its clap `Args` and its `run`.
//! `src/bin/tok.rs` only dispatches.

pub mod count;
pub mod detokenize;
pub mod encode;
pub mod export;
pub mod inspect;
pub mod merge_manifests;
pub mod stats;
pub mod tokenize;
pub mod train;
