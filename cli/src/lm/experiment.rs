//! `lm experiment`: the whole comparison in one command. For each
//! vocabulary: train the tokenizer, encode the shards (one shared text
//! split), train the same model for the same budget, evaluate, sample; then
//! compare. Re-running skips every step whose output exists and is valid;
//! `--force` redoes them.
//!
//! Layout of the output directory:
//! `tokenizers/NAME.json`, `shards/NAME/`, `runs/NAME/` (normal `lm train`
//! runs, with `sample.txt`), and `report.md`, `report.json`, `*.svg`.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use dataset::ShardSet;
use model::run::{RunConfig, RunDir, Status};
use model::sample::SamplingConfig;
use tokenizer::{Kind, Tokenizer};

use super::train::{ModelArgs, TrainArgs, model_config};
use crate::Threads;

/// Train and compare a character vocabulary and BPE vocabularies on one corpus.
#[derive(clap::Args, Debug)]
#[command(
    args_override_self = true,
    after_help = "Examples:
  lm experiment data/shakespeare --vocab char,512,2048,8000 --budget 2m -o experiments/shakespeare
  lm experiment corpus/ --vocab char,1024,4096 --tokens 5M --hidden 256"
)]
pub struct Args {
    /// Corpus files or directories.
    #[arg(required = true, value_name = "CORPUS")]
    pub corpus: Vec<PathBuf>,
    /// Vocabularies: `char` and BPE sizes (byte tokens included).
    #[arg(long, value_delimiter = ',', default_value = "char,512,2048,8000")]
    pub vocab: Vec<String>,
    /// Output directory (default: experiments/NAME, NAME being the first corpus path's name).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Fraction of each file (its tail) held out for validation, the same for every vocabulary.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// BPE pre-tokenizer: gpt4, gpt4o, gpt2 or none.
    #[arg(long, default_value = "gpt4")]
    pub pattern: String,
    /// Redo every step even when its output exists.
    #[arg(long)]
    pub force: bool,
    /// The prompt of every model's sample.
    #[arg(long, default_value = "\n")]
    pub prompt: String,
    /// Characters of text to sample from each model.
    #[arg(long, default_value_t = 400, value_name = "N")]
    pub sample_chars: usize,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Pretrained tokenizers to add to the table (tokens per character only).
    #[arg(long, value_delimiter = ',', default_value = "cl100k_base,o200k_base")]
    pub reference: Vec<String>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Also accepts `--budget DURATION`, an alias of `--time`, per vocabulary.
    #[command(flatten)]
    pub train: TrainArgs,
    /// No progress bars.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub threads: Threads,
}

/// One vocabulary of the experiment.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Vocab {
    Char,
    Bpe(usize),
}

impl Vocab {
    fn parse(s: &str) -> Result<Vocab> {
        if s == "char" {
            return Ok(Vocab::Char);
        }
        let n: usize = s
            .trim_start_matches("bpe")
            .parse()
            .map_err(|_| anyhow::anyhow!("--vocab: {s:?} is neither `char` nor a BPE vocabulary size"))?;
        anyhow::ensure!(n > 256, "--vocab: a BPE vocabulary needs more than the 256 byte tokens, got {n}");
        Ok(Vocab::Bpe(n))
    }

    fn name(&self) -> String {
        match self {
            Vocab::Char => "char".into(),
            Vocab::Bpe(n) => format!("bpe{n}"),
        }
    }
}

pub fn run(mut args: Args) -> Result<()> {
    args.threads.init()?;
    let vocabs = args.vocab.iter().map(|s| Vocab::parse(s)).collect::<Result<Vec<_>>>()?;
    anyhow::ensure!(!vocabs.is_empty(), "--vocab: give at least one vocabulary");
    let budget = args
        .train
        .budget()
        .context("give a budget per vocabulary: --budget (--time), --tokens, --chars or --steps")?;
    let out = match &args.output {
        Some(o) => o.clone(),
        None => {
            let stem = args.corpus[0]
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or("corpus".into());
            PathBuf::from("experiments").join(stem)
        }
    };
    args.output = Some(out.clone());
    let docs = dataset::corpus::list_files(&args.corpus)?;
    let corpus_bytes = dataset::corpus::total_bytes(&docs);
    // What the outputs were made from: a different corpus invalidates them all.
    let stamp = out.join("experiment.json");
    let fingerprint = corpus_fingerprint(&docs);
    let previous: Option<serde_json::Value> =
        std::fs::read(&stamp).ok().and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(p) = previous
        && p["corpus"] != fingerprint
        && !args.force
    {
        eprintln!("experiment: the corpus changed since {} was written: redoing every step", stamp.display());
        args.force = true;
    }
    std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
    model::run::write_json(&stamp, &serde_json::json!({ "corpus": fingerprint }))?;
    eprintln!(
        "experiment: {} files, {} bytes; vocabularies {}; {} per run; output {}",
        docs.len(),
        corpus_bytes,
        vocabs.iter().map(Vocab::name).collect::<Vec<_>>().join(", "),
        describe(&budget),
        out.display()
    );

    let mut runs = Vec::new();
    for v in &vocabs {
        let name = v.name();
        let tok_path = out.join("tokenizers").join(format!("{name}.json"));
        let shards_dir = out.join("shards").join(&name);
        let run_dir = out.join("runs").join(&name);
        let tok = ensure_tokenizer(&args, v, &tok_path)?;
        let shards = ensure_shards(&args, &tok, &tok_path, &shards_dir, &docs, corpus_bytes)?;
        let cfg = RunConfig {
            format_version: model::run::FORMAT_VERSION,
            model: model_config(&args.model, shards.vocab_size())?,
            train: args.train.settings(budget),
            data: model::train::data_ref(&shards),
        };
        let fresh = ensure_run(&args, &cfg, &shards, &run_dir)?;
        ensure_sample(&args, &run_dir, fresh)?;
        runs.push(run_dir);
    }

    let c = super::compare::build(&runs, &args.reference)?;
    let md = super::compare::write_report(&c, &out)?;
    let _ = md;
    println!();
    print!("{}", report::table::markdown(&c));
    println!("\nwrote {}/report.md, report.json and 3 SVG plots", out.display());
    Ok(())
}

/// The corpus as the experiment saw it: files (paths and sizes) and a hash of that list.
fn corpus_fingerprint(docs: &[dataset::corpus::Document]) -> serde_json::Value {
    let mut h = blake3::Hasher::new();
    for d in docs {
        h.update(d.path.as_os_str().as_encoded_bytes());
        h.update(&[0]);
        h.update(&d.len.to_le_bytes());
    }
    serde_json::json!({
        "files": docs.len(),
        "bytes": dataset::corpus::total_bytes(docs),
        "listing_hash": h.finalize().to_hex().to_string(),
    })
}

fn describe(b: &model::run::Budget) -> String {
    use model::run::Budget;
    match b {
        Budget::Steps(n) => format!("{n} steps"),
        Budget::Tokens(n) => format!("{n} tokens"),
        Budget::Chars(n) => format!("{n} characters"),
        Budget::Seconds(s) => report::table::duration(*s),
    }
}

/// Trains the tokenizer unless a valid one of the right kind and size exists.
fn ensure_tokenizer(args: &Args, v: &Vocab, path: &Path) -> Result<Tokenizer> {
    if !args.force
        && let Ok(tok) = Tokenizer::from_file(path)
    {
        let ok = match v {
            Vocab::Char => tok.kind() == Kind::Char,
            Vocab::Bpe(n) => tok.kind() == Kind::Bpe && tok.vocab_size() <= *n,
        };
        if ok {
            eprintln!("{}: exists, kept", path.display());
            return Ok(tok);
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    let pattern = tokenizer::Pattern::from_name(&args.pattern)
        .with_context(|| format!("--pattern: unknown pattern {:?}", args.pattern))?;
    let t = crate::tok::train::Args {
        paths: args.corpus.clone(),
        output: path.to_path_buf(),
        vocab: match v {
            Vocab::Char => None,
            Vocab::Bpe(n) => Some(*n),
        },
        char: *v == Vocab::Char,
        byte_fallback: false,
        pattern,
        min_frequency: 0,
        specials: Vec::new(),
        name: Some(v.name()),
        quiet: args.quiet,
        threads: Threads::default(),
    };
    crate::tok::train::run(t)?;
    eprintln!("{}: trained", path.display());
    Ok(Tokenizer::from_file(path)?)
}

/// Encodes the corpus unless valid shards of this tokenizer and corpus exist.
fn ensure_shards(
    args: &Args,
    tok: &Tokenizer,
    tok_path: &Path,
    dir: &Path,
    docs: &[dataset::corpus::Document],
    corpus_bytes: u64,
) -> Result<ShardSet> {
    if !args.force
        && let Ok(set) = ShardSet::open(dir)
    {
        let m = set.manifest();
        if m.tokenizer.content_hash == tok.content_hash()
            && m.split.val_fraction == args.val_fraction
            && m.corpus.files == docs.len()
            && m.corpus.bytes == corpus_bytes
        {
            eprintln!("{}: exists, kept", dir.display());
            return Ok(set);
        }
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    let e = crate::tok::encode::Args {
        corpus: args.corpus.clone(),
        tokenizer: tok_path.display().to_string(),
        out: dir.to_path_buf(),
        val_fraction: args.val_fraction,
        shard_tokens: 100_000_000,
        eot: false,
        part: None,
        quiet: args.quiet,
        threads: Threads::default(),
    };
    crate::tok::encode::run(e)?;
    Ok(ShardSet::open(dir)?)
}

/// Trains the run unless it finished with these settings; resumes an
/// interrupted one. Returns whether it trained.
fn ensure_run(args: &Args, cfg: &RunConfig, shards: &ShardSet, dir: &Path) -> Result<bool> {
    let rd = RunDir::new(dir);
    if rd.config().exists() {
        let old = rd.read_config()?;
        let same = old.model == cfg.model && old.train == cfg.train && old.data == cfg.data;
        if same && !args.force {
            let state = rd.read_state().ok();
            match state.map(|s| s.status) {
                Some(Status::Finished) => {
                    eprintln!("{}: finished, kept", dir.display());
                    return Ok(false);
                }
                Some(Status::Diverged) => {
                    anyhow::bail!("{}: this run diverged; change the settings or pass --force", dir.display())
                }
                Some(_) => {
                    super::train::train_resume(dir, shards, args.train.loop_options(), args.quiet)?;
                    return Ok(true);
                }
                None => {}
            }
        } else if !args.force {
            anyhow::bail!(
                "{}: a run with other settings (or other shards) exists; pass --force to replace it",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    let state = super::train::train_new(dir, cfg.clone(), shards, args.train.loop_options(), args.quiet)?;
    if state.status != Status::Finished {
        anyhow::bail!(
            "{}: stopped before the end of its budget; run the experiment again to resume",
            dir.display()
        );
    }
    if let Some(e) = &state.last_eval {
        eprintln!("{}: {}", dir.display(), super::train::describe_eval(e));
    }
    Ok(true)
}

/// Writes `sample.txt` in the run directory.
fn ensure_sample(args: &Args, dir: &Path, fresh: bool) -> Result<()> {
    let path = dir.join("sample.txt");
    if path.exists() && !fresh && !args.force {
        return Ok(());
    }
    let config = SamplingConfig { temperature: args.temperature, top_k: None };
    let mut text = args.prompt.as_bytes().to_vec();
    let mut chars = 0usize;
    let limit = args.sample_chars;
    // Enough tokens for any vocabulary; stops once `limit` characters are out.
    super::sample::generate(dir, &args.prompt, limit, config, 1, |b| {
        chars += tokenizer::stats::count_chars(b) as usize;
        text.extend_from_slice(b);
        Ok(if chars >= limit { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
    })?;
    model::run::write_atomic(&path, &text)?;
    Ok(())
}
