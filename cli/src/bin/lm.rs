//! `lm`: train, evaluate, sample and compare language models.
//!
//! A thin dispatcher: each subcommand's flags and work live in
//! `cli::lm::<subcommand>`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cli::lm;

/// Train LSTM/RNN language models on token shards, evaluate them in bits per
/// character, sample from them, and compare vocabularies.
#[derive(Parser, Debug)]
#[command(name = "lm", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Train(lm::train::Args),
    Eval(lm::eval::Args),
    Sample(lm::sample::Args),
    Compare(lm::compare::Args),
    Experiment(lm::experiment::Args),
    Bench(lm::bench::Args),
}

fn main() -> ExitCode {
    let cli = match cli::parse_args::<Cli>("lm") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let result = match cli.command {
        Command::Train(a) => lm::train::run(a),
        Command::Eval(a) => lm::eval::run(a),
        Command::Sample(a) => lm::sample::run(a),
        Command::Compare(a) => lm::compare::run(a),
        Command::Experiment(a) => lm::experiment::run(a),
        Command::Bench(a) => lm::bench::run(a),
    };
    cli::finish("lm", result)
}
