//! The `lm` subcommands, one module each: its clap `Args` and its `run`.
//! `src/bin/lm.rs` only dispatches.

pub mod bench;
pub mod compare;
pub mod eval;
pub mod experiment;
pub mod sample;
pub mod train;
