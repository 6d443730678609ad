//! `tok`: train tokenizers, encode corpora into shards, measure tokenizers.
//!
//! A thin dispatcher: each subcommand's flags and work live in
//! `cli::tok::<subcommand>`.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
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
    // `--top -1` is a value the flag's parser refuses, naming the flag, not
    // an unknown option `-1`.
    let command = Cli::command().mut_subcommands(|sub| {
        sub.mut_args(|a| {
            let takes_value = a.get_action().takes_values();
            if takes_value { a.allow_negative_numbers(true) } else { a }
        })
    });
    let cli = match command.try_get_matches().and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        // --help and --version: clap prints them to stdout as usual;
        // `tok` alone: the help, on stderr, as clap does.
        Err(e)
            if !e.use_stderr()
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            e.exit()
        }
        // A usage error: one line naming the flag and the problem, like every
        // other error (clap's own adds a usage block and a tip), exit 2.
        Err(e) => {
            let text = e.render().to_string();
            let parts: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect();
            let line = parts.join(" ");
            eprintln!("tok: {}", line.strip_prefix("error: ").unwrap_or(&line));
            return ExitCode::from(2);
        }
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
