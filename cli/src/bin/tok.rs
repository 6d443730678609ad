//! `tok`: train tokenizers, encode corpora into shards, measure tokenizers.
//!
//! A thin dispatcher: each subcommand's flags and work live in
//! `cli::tok::<subcommand>`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cli::tok;

/// Train, apply, measure and export tokenizers; encode corpora into token shards.
#[derive(Parser, Debug)]
#[command(name = "tok", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Train(tok::train::Args),
    Count(tok::count::Args),
    Tokenize(tok::tokenize::Args),
    Detokenize(tok::detokenize::Args),
    Stats(tok::stats::Args),
    Export(tok::export::Args),
    Encode(tok::encode::Args),
    Inspect(tok::inspect::Args),
    MergeManifests(tok::merge_manifests::Args),
}

fn main() -> ExitCode {
    let cli = match cli::parse_args::<Cli>("tok") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let result = match cli.command {
        Command::Train(a) => tok::train::run(a),
        Command::Count(a) => tok::count::run(a),
        Command::Tokenize(a) => tok::tokenize::run(a),
        Command::Detokenize(a) => tok::detokenize::run(a),
        Command::Stats(a) => tok::stats::run(a),
        Command::Export(a) => tok::export::run(a),
        Command::Encode(a) => tok::encode::run(a),
        Command::Inspect(a) => tok::inspect::run(a),
        Command::MergeManifests(a) => tok::merge_manifests::run(a),
    };
    cli::finish("tok", result)
}
