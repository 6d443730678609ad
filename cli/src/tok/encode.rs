//! `tok encode`: a corpus becomes train and validation token shards.
//!
//! Flags and glue only: the work is `dataset::encode_corpus`. Draws a byte
//! progress bar (MB/s) on stderr, stops cleanly on Ctrl-C (no file under a
//! final name, no manifest), prints a summary on stdout.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use dataset::{EncodeConfig, Part, Split};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{Interrupt, Threads, TokenizerArg, parse_count};

/// Encode a corpus into llm.c-format token shards with a manifest.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tok encode corpus/ --tokenizer bpe8k.json --out shards/bpe8k/
  tok encode corpus/ --tokenizer o200k_base --out shards/o200k/ --eot
  tok encode corpus/ --tokenizer char.json --out shards/char/ --part 0/4   (then tok merge-manifests)")]
pub struct Args {
    /// Corpus files or directories (walked recursively, sorted; each file is a document).
    #[arg(required = true, value_name = "CORPUS")]
    pub corpus: Vec<PathBuf>,

    #[command(flatten)]
    pub tokenizer: TokenizerArg,

    /// Output directory for the shards, manifest.json and tokenizer.json.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// Fraction of each file (its tail, moved forward to just after the next newline) that is validation.
    #[arg(long, default_value_t = 0.1, value_parser = parse_fraction, value_name = "F")]
    pub val_fraction: f64,

    /// Tokens per shard at most; suffixes K, M, G (powers of 1000).
    #[arg(long, default_value = "100M", value_parser = parse_shard_tokens, value_name = "N")]
    pub shard_tokens: u64,

    /// Put the end-of-text token before each document's part in each split (as llm.c and nanoGPT do).
    #[arg(long)]
    pub eot: bool,

    /// Encode only the i-th (from 0) of N deterministic partitions of the files into
    /// train_p{i}_*.bin / val_p{i}_*.bin with manifest_p{i}.json; join with `tok merge-manifests`.
    #[arg(long, value_parser = parse_part, value_name = "i/N")]
    pub part: Option<Part>,

    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,

    // The shards are identical for any thread count.
    #[command(flatten)]
    pub threads: Threads,
}

/// `--val-fraction`: checked when parsed, so the error names the flag
/// (the library's check says "the validation fraction").
pub(crate) fn parse_fraction(s: &str) -> Result<f64, String> {
    let f: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number"))?;
    dataset::split::check_fraction(f).map_err(|e| e.to_string())?;
    Ok(f)
}

/// `--shard-tokens`: a count between 1 and the header's i32 maximum.
fn parse_shard_tokens(s: &str) -> Result<u64, String> {
    let n = parse_count(s)?;
    if n == 0 || n > dataset::shard::MAX_TOKENS {
        return Err(format!(
            "must be between 1 and {} (the shard header stores an i32)",
            dataset::shard::MAX_TOKENS
        ));
    }
    Ok(n)
}

pub(crate) fn parse_part(s: &str) -> Result<Part, String> {
    s.parse().map_err(|e: dataset::Error| e.to_string())
}

pub fn run(args: Args) -> Result<()> {
    args.threads.init()?;
    let tokenizer = args.tokenizer.load()?;
    let source = args.tokenizer.source();
    let docs = dataset::corpus::list_files(&args.corpus)?;
    let config = EncodeConfig {
        val_fraction: args.val_fraction,
        shard_tokens: args.shard_tokens,
        eot: args.eot,
        part: args.part,
        ..EncodeConfig::default()
    };
    let total = match args.part {
        Some(p) => dataset::corpus::total_bytes(&docs[p.files(&docs)]),
        None => dataset::corpus::total_bytes(&docs),
    };

    let interrupt = Interrupt::install();
    let bar = bar(total, args.quiet);
    let start = Instant::now();
    let result = dataset::encode_corpus(&docs, &tokenizer, &source, &args.out, &config, &mut |p| {
        bar.set_position(p.bytes_done);
        bar.set_message(format!("{} files, {} tokens", p.files_done, p.tokens));
        if interrupt.is_set() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    bar.finish_and_clear();
    let m = result?;
    print_summary(&m, start.elapsed().as_secs_f64(), &args.out)?;
    Ok(())
}

/// The encoder's byte bar (hidden with `quiet`).
pub fn bar(total: u64, quiet: bool) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(10))
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>9} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix("encoding");
    bar
}

/// The summary of an encoding on stdout: sizes, speed, per-split counts.
pub fn print_summary(m: &dataset::Manifest, secs: f64, out: &std::path::Path) -> std::io::Result<()> {
    let bytes = m.splits.train.bytes + m.splits.val.bytes;
    crate::outln!(
        "encoded {} files, {} bytes with {} ({} ids, {:?} shards) in {:.2} s ({:.1} MB/s, {} threads)",
        m.part.as_ref().map_or(m.corpus.files, |p| p.end_file - p.first_file),
        bytes,
        m.tokenizer.name,
        m.tokenizer.vocab_size,
        m.token_width,
        secs,
        bytes as f64 / secs / 1e6,
        rayon::current_num_threads(),
    )?;
    for split in [Split::Train, Split::Val] {
        let s = m.splits.get(split);
        crate::outln!(
            "  {:<5} {:>12} tokens  {:>12} bytes  {:>12} chars  {:>6} docs  {:>4} shards  {:.4} tokens/char",
            split.name(),
            s.tokens,
            s.bytes,
            s.chars,
            s.documents,
            s.shards.len(),
            if s.chars > 0 { s.tokens as f64 / s.chars as f64 } else { 0.0 },
        )?;
    }
    match &m.part {
        Some(p) => crate::outln!(
            "wrote part {} of {} to {}; when all parts are done: tok merge-manifests {}",
            p.index,
            p.count,
            out.display(),
            out.display()
        )?,
        None => crate::outln!("wrote {}", out.join(dataset::manifest::MANIFEST_FILE).display())?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let cli = Cli::try_parse_from([
            "tok",
            "corpus/",
            "--tokenizer",
            "char.json",
            "--out",
            "x/",
            "--shard-tokens",
            "2K",
            "--part",
            "1/3",
            "--eot",
        ])
        .unwrap();
        assert_eq!(cli.args.shard_tokens, 2000);
        assert_eq!(cli.args.part, Some(Part { index: 1, count: 3 }));
        assert!(cli.args.eot);
        assert_eq!(cli.args.val_fraction, 0.1);
        assert!(Cli::try_parse_from(["tok", "c/", "-t", "x", "-o", "y", "--part", "3/3"]).is_err());
    }
}
