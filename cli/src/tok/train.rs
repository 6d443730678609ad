//! `tok train`: learn a byte-level BPE or a character vocabulary from a corpus.

use std::path::PathBuf;

use anyhow::Context as _;
use dataset::VocabSpec;
use tokenizer::Pattern;
use tokenizer::train::BpeConfig;

use crate::{Interrupt, Threads, TrainProgress};

/// Learn a tokenizer from a corpus and write it as JSON.
///
/// BPE (default): byte-level, so any input trains and encodes; `--vocab` is
/// the final size including the 256 byte tokens and the special tokens.
/// Several sizes (`--vocab 8000,32000,64000 -o dir/`) make a vocabulary
/// ladder from one training: `-o` is then a directory that receives
/// `bpe8000.json`, `bpe32000.json`, ..., each identical to a separate run.
/// `--char`: one token per distinct character, in code-point order.
///
/// At scale: `--counts FILE` learns from the word counts of `tok count`
/// (the same vocabulary as from the corpus), and `--max-memory SIZE` keeps
/// the table of distinct pieces under SIZE by spilling sorted runs to disk
/// (docs/scale.md).
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("kind").required(true).args(["vocab", "char"])))]
pub struct Args {
    /// Corpus files or directories (walked recursively in sorted order; every
    /// regular file is read as raw bytes).
    #[arg(required_unless_present = "counts", value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Learn from a word-count file of `tok count` instead of a corpus (its
    /// pattern is the one it was counted with).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["paths", "char", "pattern", "max_memory", "val_fraction"])]
    pub counts: Option<PathBuf>,

    /// Keep the table of distinct pieces, and the trainer's copy of it, under
    /// this much memory (K, M, G, T: powers of 1024): past it, sorted runs are
    /// spilled to a hidden directory beside the output and merged at the end.
    /// Exact unless --min-frequency is also given; refused, with the figure,
    /// when the table to learn from does not fit.
    #[arg(long, value_name = "SIZE", value_parser = crate::parse_memory, conflicts_with = "char")]
    pub max_memory: Option<u64>,

    /// Output tokenizer file (our JSON format), written atomically; with
    /// several --vocab sizes, the directory of the ladder's files.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Final vocabulary size, byte tokens and special tokens included (BPE);
    /// a comma-separated list trains a ladder (see above).
    #[arg(long, value_name = "N[,N...]", value_delimiter = ',', num_args = 1)]
    pub vocab: Vec<usize>,

    /// Train a character vocabulary instead of BPE.
    #[arg(long)]
    pub char: bool,

    /// Learn from the train part of each file only: the text `tok encode
    /// --val-fraction F` puts in the train split, so that the validation
    /// text is unseen by the tokenizer as by the model (BPE; a character
    /// vocabulary needs every character of the text).
    #[arg(long, value_name = "F", value_parser = super::encode::parse_fraction, conflicts_with = "char")]
    pub val_fraction: Option<f64>,

    /// With --char: add 256 byte tokens that encode unseen characters and
    /// invalid UTF-8, so any input encodes and round-trips exactly (invalid
    /// UTF-8 in the corpus is then skipped instead of rejected).
    #[arg(long, conflicts_with = "vocab")]
    pub byte_fallback: bool,

    /// Pre-tokenizer: gpt4 (cl100k's split), gpt4o (o200k's), gpt2 (r50k's)
    /// or none (BPE).
    #[arg(long, default_value = "gpt4", value_parser = parse_pattern, conflicts_with = "char")]
    pub pattern: Pattern,

    /// Do not make merges of pairs seen fewer times than this (BPE). With
    /// --max-memory, also drop the pieces seen fewer times than this in the
    /// whole corpus before learning (which changes the result).
    #[arg(long, value_name = "N", default_value_t = 0, conflicts_with = "char")]
    pub min_frequency: u64,

    /// A special token (repeatable), given an id after all other tokens, in
    /// the order given.
    #[arg(long = "special", value_name = "TEXT")]
    pub specials: Vec<String>,

    /// The name stored in the file and shown by `tok stats` (default: the
    /// output file's stem; with a ladder, NAME followed by the size, and
    /// `bpe` followed by the size by default).
    #[arg(long)]
    pub name: Option<String>,

    /// No progress bars.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub threads: Threads,
}

/// The corpus's documents, or with `--val-fraction F` their train parts.
pub(crate) fn corpus_docs(
    paths: &[PathBuf],
    val_fraction: Option<f64>,
) -> dataset::Result<Vec<dataset::corpus::Document>> {
    let docs = dataset::corpus::list_files(paths)?;
    match val_fraction {
        Some(f) => dataset::corpus::train_parts(&docs, f),
        None => Ok(docs),
    }
}

pub(crate) fn parse_pattern(s: &str) -> Result<Pattern, String> {
    Pattern::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Pattern::ALL.iter().map(|p| p.name()).collect();
        format!("unknown pattern {s:?} (expected one of {})", names.join(", "))
    })
}

/// Trains a character vocabulary (`args.char`), one BPE vocabulary (one
/// size) or a ladder (several), and writes it.
pub fn run(args: Args) -> anyhow::Result<()> {
    args.threads.init()?;
    let sizes = args.vocab.as_slice();
    // Checked again by the trainers, whose messages name the vocabulary or
    // the corpus; here so the flag at fault is named, before any reading.
    for (i, s) in args.specials.iter().enumerate() {
        if s.is_empty() {
            anyhow::bail!("--special '': a special token cannot be empty");
        }
        if args.specials[..i].contains(s) {
            anyhow::bail!("--special {s:?}: given twice");
        }
    }
    for (i, &v) in sizes.iter().enumerate() {
        // Checked again by the trainer; here so a large corpus is not read first.
        if v < 256 + args.specials.len() {
            anyhow::bail!(
                "--vocab {v}: smaller than the 256 byte tokens plus {} special token(s) = {}",
                args.specials.len(),
                256 + args.specials.len()
            );
        }
        if sizes[..i].contains(&v) {
            anyhow::bail!("--vocab {v}: given twice");
        }
    }
    crate::refuse_output_over_inputs(
        &args.output,
        args.paths.iter().chain(&args.counts).map(PathBuf::as_path),
    )?;
    let trailing_slash = args.output.as_os_str().as_encoded_bytes().ends_with(b"/");
    if sizes.len() <= 1 && (args.output.is_dir() || trailing_slash) {
        anyhow::bail!(
            "{}: is a directory; -o names the tokenizer file to write (a directory only for several --vocab sizes)",
            args.output.display()
        );
    }
    let interrupt = Interrupt::install();
    let mut progress = TrainProgress::new(args.quiet, interrupt.clone());
    let vocab = sizes.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    if let Some(counts) = &args.counts {
        let words = tokenizer::train::WordCounter::read_counts(counts, &mut progress)?;
        let config = BpeConfig {
            vocab_size: *sizes.iter().max().context("--vocab is required with --counts")?,
            pattern: words.pattern(),
            min_frequency: args.min_frequency,
            specials: args.specials.clone(),
        };
        let toks =
            tokenizer::train::train_bpe_ladder(&config, sizes, words, &mut progress).map_err(
                |e| match e {
                    tokenizer::Error::Config(msg) => anyhow::anyhow!("--vocab {vocab}: {msg}"),
                    tokenizer::Error::EmptyCorpus => {
                        anyhow::anyhow!("{}: no pieces to learn from", counts.display())
                    }
                    e => e.into(),
                },
            )?;
        return save(&args, &interrupt, &mut progress, toks);
    }
    let corpus = args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    let docs = corpus_docs(&args.paths, args.val_fraction)?;
    let errors = |e: dataset::Error| match e {
        dataset::Error::Config(msg) if !args.char => anyhow::anyhow!("--vocab {vocab}: {msg}"),
        dataset::Error::Empty(msg) | dataset::Error::Config(msg) => anyhow::anyhow!("{corpus}: {msg}"),
        e @ dataset::Error::OverMemory { .. } => {
            anyhow::anyhow!("--max-memory: {e}")
        }
        e => e.into(),
    };
    let toks: Vec<tokenizer::Tokenizer> = if args.char {
        let spec = VocabSpec::Char { byte_fallback: args.byte_fallback, specials: args.specials.clone() };
        vec![dataset::train_tokenizer(&docs, &spec, &mut progress).map_err(errors)?]
    } else {
        let config = BpeConfig {
            vocab_size: *sizes.iter().max().context("--vocab is required for BPE")?,
            pattern: args.pattern,
            min_frequency: args.min_frequency,
            specials: args.specials.clone(),
        };
        match args.max_memory {
            None => dataset::train_bpe_ladder(&docs, &config, sizes, &mut progress).map_err(errors)?,
            Some(max_memory) => {
                let limit = dataset::CountLimit {
                    min_count: args.min_frequency,
                    ..dataset::CountLimit::new(
                        max_memory,
                        Some(dataset::learn::spill_dir_beside(&args.output)),
                    )
                };
                // The spill directory goes beside the output: make sure its
                // parent exists (as saving would).
                if let Some(dir) = &limit.spill_dir {
                    atomicfile::create_dir_all(dir).with_context(|| dir.display().to_string())?;
                }
                let (toks, stats) =
                    dataset::train_bpe_ladder_limited(&docs, &config, sizes, &limit, &mut progress)
                        .map_err(errors)?;
                progress.finish();
                crate::outln!(
                    "counted {} distinct pieces in at most {} bytes of memory: {} sorted runs spilled \
                         (largest {} bytes), {} pieces kept for learning (estimated {} bytes)",
                    stats.distinct,
                    max_memory,
                    stats.spills,
                    stats.largest_run,
                    stats.kept,
                    stats.final_bytes
                )?;
                toks
            }
        }
    };
    save(&args, &interrupt, &mut progress, toks)
}

/// Writes the trained vocabularies: one file, or a ladder's directory.
fn save(
    args: &Args,
    interrupt: &Interrupt,
    progress: &mut TrainProgress,
    toks: Vec<tokenizer::Tokenizer>,
) -> anyhow::Result<()> {
    let sizes = args.vocab.as_slice();
    // A signal that came after the last poll still leaves no file.
    if interrupt.is_set() {
        return Err(tokenizer::Error::Cancelled.into());
    }
    progress.finish();
    if sizes.len() > 1 {
        // A ladder: one file per size in the output directory.
        let dir = &args.output;
        atomicfile::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        for (tok, &size) in toks.iter().zip(sizes) {
            let stem = format!("{}{size}", args.name.as_deref().unwrap_or("bpe"));
            let path = dir.join(format!("{stem}.json"));
            tok.with_name(&stem).save(&path)?;
            short_of(args, tok, size, &path);
        }
        return Ok(());
    }
    let name = match &args.name {
        Some(n) => n.clone(),
        None => args.output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    for tok in &toks {
        tok.with_name(&name).save(&args.output)?;
        if let Some(&size) = sizes.first() {
            short_of(args, tok, size, &args.output);
        }
    }
    Ok(())
}

/// Says so when a BPE vocabulary (the only kind with a size to ask) came
/// out smaller than asked: the corpus ran out of pairs to merge (a tiny or
/// very repetitive corpus).
fn short_of(args: &Args, tok: &tokenizer::Tokenizer, size: usize, path: &std::path::Path) {
    if tok.vocab_size() < size {
        let seen = if args.min_frequency > 1 {
            format!(" seen at least {} times (--min-frequency)", args.min_frequency)
        } else {
            String::new()
        };
        crate::errln!(
            "{}: {} ids, fewer than the {size} asked: the corpus has no pair left to merge{seen}",
            path.display(),
            tok.vocab_size()
        );
    }
}
