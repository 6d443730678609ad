//! `tok count`: the map and reduce steps of training at scale. Counts the
//! distinct pre-tokenized pieces of a corpus (or of one `--part i/N` of it)
//! into a word-count file, or merges such files (`--merge`); `tok train
//! --counts` learns from the result. Flags and glue only: the format and the
//! merge are `tokenizer::train::counts_file`, the counting
//! `dataset::count_words`.

use std::path::PathBuf;

use dataset::Part;
use tokenizer::Pattern;
use tokenizer::train::WordCounter;

use super::encode::parse_part;
use super::train::parse_pattern;
use crate::{Interrupt, Threads, TrainProgress};

/// Count the distinct pre-tokenized pieces of a corpus into a word-count file, or merge such files.
///
/// The file holds each distinct piece once with its count, sorted by bytes,
/// with a checksum (docs/scale.md gives the format). Counts of parts merge
/// into the counts of the whole, so `tok train --counts` on the merged file
/// gives byte for byte the vocabulary of `tok train` on the corpus.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  tok count corpus/ --part 0/4 -o counts/part-0.bin     (one per part, on any machine)
  tok count --merge counts/ -o counts.bin
  tok train --counts counts.bin --vocab 8000,32000 -o vocabs/")]
pub struct Args {
    /// Corpus files or directories (walked recursively in sorted order); with
    /// --merge, word-count files or directories of them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// The word-count file to write (atomically).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Merge word-count files (the reduce step) instead of counting a corpus.
    #[arg(long)]
    pub merge: bool,

    /// Pre-tokenizer: gpt4 (cl100k's split), gpt4o (o200k's), gpt2 (r50k's)
    /// or none; recorded in the file, and files of different patterns do not
    /// merge.
    #[arg(long, default_value = "gpt4", value_parser = parse_pattern, conflicts_with = "merge")]
    pub pattern: Pattern,

    /// Count only the i-th (from 0) of N deterministic partitions of the
    /// files (the same partition as `tok encode --part`).
    #[arg(long, value_parser = parse_part, value_name = "i/N", conflicts_with = "merge")]
    pub part: Option<Part>,

    /// Count the train part of each file only (see `tok train --val-fraction`).
    #[arg(long, value_name = "F", value_parser = super::encode::parse_fraction, conflicts_with = "merge")]
    pub val_fraction: Option<f64>,

    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub threads: Threads,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    args.threads.init()?;
    let interrupt = Interrupt::install();
    let mut progress = TrainProgress::new(args.quiet, interrupt.clone());
    crate::refuse_output_over_inputs(&args.output, args.paths.iter().map(PathBuf::as_path))?;
    if args.merge {
        let inputs: Vec<PathBuf> =
            dataset::corpus::list_files(&args.paths)?.into_iter().map(|d| d.path).collect();
        let h = tokenizer::train::merge_count_files(&inputs, &args.output, &mut progress)?;
        crate::outln!(
            "merged {} word-count files ({} pieces of {} bytes, pattern {}) into {}",
            inputs.len(),
            h.pieces,
            h.bytes_fed,
            h.pattern.name(),
            args.output.display()
        )?;
        return Ok(());
    }
    let docs = super::train::corpus_docs(&args.paths, args.val_fraction)?;
    let docs = match args.part {
        Some(p) => &docs[p.files(&docs)],
        None => &docs[..],
    };
    let (words, _) = dataset::count_words(docs, args.pattern, None, &mut progress)?;
    // A signal after the last poll still leaves no file.
    if interrupt.is_set() {
        return Err(tokenizer::Error::Cancelled.into());
    }
    progress.finish();
    words.write_counts(&args.output, &mut progress)?;
    print_counted(&words, docs.len(), &args.output)?;
    Ok(())
}

fn print_counted(words: &WordCounter, files: usize, output: &std::path::Path) -> std::io::Result<()> {
    crate::outln!(
        "counted {files} files, {} bytes: {} pieces, {} distinct (pattern {}) into {}",
        words.bytes_fed(),
        words.pieces(),
        words.distinct(),
        words.pattern().name(),
        output.display()
    )?;
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
        let cli =
            Cli::try_parse_from(["tok", "c/", "--part", "1/3", "-o", "x.bin", "--pattern", "gpt2"]).unwrap();
        assert_eq!(cli.args.part, Some(Part { index: 1, count: 3 }));
        assert_eq!(cli.args.pattern, Pattern::Gpt2);
        assert!(!cli.args.merge);
        let cli = Cli::try_parse_from(["tok", "--merge", "counts/", "-o", "x.bin"]).unwrap();
        assert!(cli.args.merge);
        assert!(Cli::try_parse_from(["tok", "--merge", "c/", "-o", "x", "--part", "0/2"]).is_err());
        assert!(Cli::try_parse_from(["tok", "c/", "-o", "x", "--part", "2/2"]).is_err());
        assert!(Cli::try_parse_from(["tok", "c/"]).is_err());
    }
}
