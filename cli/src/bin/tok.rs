//! `tok`: train tokenizers, encode corpora into shards, measure tokenizers.
//!
//! PLACEHOLDER on the `dataset` branch: only the shard subcommands, until the
//! tokenizer branch's dispatcher is merged (keep both sides' subcommands).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[path = "../tok/mod.rs"]
mod tok;

#[derive(Parser)]
#[command(name = "tok", version, about = "Tokenizers and token shards")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Encode(tok::encode::EncodeArgs),
    Inspect(tok::inspect::InspectArgs),
    MergeManifests(tok::merge_manifests::MergeManifestsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Encode(a) => tok::encode::run(a),
        Command::Inspect(a) => tok::inspect::run(a),
        Command::MergeManifests(a) => tok::merge_manifests::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
