//! The char-vs-BPE experiment as a library call: for each vocabulary, train
//! the tokenizer, encode the corpus (one text split shared by all), train
//! the same model on the shards, evaluate it on the validation text and
//! sample from it. `lm experiment` is flags around [`run`]; the tests call
//! it directly.
//!
//! Layout of the output directory: `experiment.json` (what the outputs were
//! made from), `tokenizers/NAME.json`, `shards/NAME/`, `runs/NAME/` (normal
//! run directories, with `sample.txt`). The comparison (`report.md`, ...) is
//! the `report` crate's, built from the run directories [`run`] returns.
//!
//! Re-running skips every step whose output exists and matches the plan; an
//! interrupted run is resumed; `force` redoes everything. A corpus that
//! changed since the outputs were made invalidates all of them.
//!
//! # Sweeps
//!
//! With FLOPs budgets `C_1 < ... < C_n` ([`Plan::sweep`]), each vocabulary
//! is trained once and scored at every budget, with a warmup-stable-decay
//! schedule (Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training
//! Beyond Fixed Training Durations"):
//! - budget `C_i` is `e_i` whole steps of the model's training FLOPs per
//!   token; its cooldown starts at `s_i = e_i - round(0.2 e_i)`;
//! - the trunk (`runs/NAME/`) warms up (at most a tenth of `e_1`), then
//!   trains at the peak rate to the last `s_i`, keeping a snapshot at every
//!   `s_i`;
//! - branch `i` (`runs/NAME/branches/C_i/`) continues from the snapshot at
//!   `s_i` with the same data order, decays the rate linearly to the
//!   minimum by its last step `e_i - 1`, and is evaluated on the whole
//!   validation text.
//!
//! A sweep costs `s_n + sum(e_i - s_i)` steps, about 1.1 to 1.2 times its
//! largest budget, instead of the sum of all budgets. Every branch is a
//! normal run directory: `lm eval` reproduces its bits per character.
//!
//! # Widths
//!
//! With model widths ([`Plan::widths`], `lm experiment --widths
//! 128,256,512`) the experiment is a grid: every vocabulary is trained at
//! every width (hidden size `W`; the embedding width is `--embed` when
//! given, else `W`; every other setting is the plan's), and each (vocabulary,
//! width) is its own run or sweep, one level down:
//! - `runs/NAME/hW/` is the run (or the sweep's trunk) of vocabulary `NAME`
//!   at width `W`, e.g. `runs/bpe512/h256/`;
//! - `runs/NAME/hW/branches/C_i/` are its cooldown branches.
//!
//! Without widths nothing changes: `runs/NAME/` and
//! `runs/NAME/branches/C_i/`, as above. Re-running skips finished runs and
//! branches of every width the same way.
//!
//! A wider model spends more FLOPs per token, so a budget buys it fewer
//! steps. In a grid, a budget that gives a width fewer than
//! [`MIN_SWEEP_STEPS`] steps is skipped at that width (reported as
//! [`Event::Skipped`] and in [`Outcome::skipped`]); the other widths still
//! run it. A vocabulary for which no budget fits at any width is an error,
//! raised with every other check before anything is trained.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use dataset::corpus::Document;
use dataset::{EncodeConfig, ShardSet, TokenizerSource, VocabSpec};
use model::sample::SamplingConfig;
use model::{Cell, ModelConfig};
use tokenizer::train::BpeConfig;
use tokenizer::{Kind, Pattern, Tokenizer};

use crate::run::{EvalResult, RunConfig, RunDir, Status, TrainSettings};
use crate::train::{LoopOptions, Result, TrainError};

/// One vocabulary of the experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vocab {
    /// The corpus's characters.
    Char,
    /// Byte-level BPE of this final size.
    Bpe(usize),
}

impl Vocab {
    /// `char`, `512` or `bpe512`.
    pub fn parse(s: &str) -> std::result::Result<Vocab, String> {
        if s == "char" {
            return Ok(Vocab::Char);
        }
        let n: usize = s
            .trim_start_matches("bpe")
            .parse()
            .map_err(|_| format!("{s:?} is neither `char` nor a BPE vocabulary size"))?;
        if n <= 256 {
            return Err(format!("a BPE vocabulary needs more than the 256 byte tokens, got {n}"));
        }
        Ok(Vocab::Bpe(n))
    }

    /// The name of its tokenizer, shards and run: `char`, `bpe512`.
    pub fn name(&self) -> String {
        match self {
            Vocab::Char => "char".into(),
            Vocab::Bpe(n) => format!("bpe{n}"),
        }
    }
}

/// The model's shape, the same for every vocabulary (V aside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub cell: Cell,
    pub layers: usize,
    pub hidden: usize,
    /// Embedding width (default: the hidden width).
    pub embed: Option<usize>,
    pub tie: bool,
}

impl Shape {
    /// The model configuration for `vocab` ids, checked.
    pub fn config(&self, vocab: usize) -> Result<ModelConfig> {
        let cfg = ModelConfig {
            cell: self.cell,
            vocab,
            embed: self.embed.unwrap_or(self.hidden),
            hidden: self.hidden,
            layers: self.layers,
            tie: self.tie,
        };
        cfg.validate().map_err(TrainError::Invalid)?;
        Ok(cfg)
    }
}

/// How every model's sample is drawn.
#[derive(Clone, Debug)]
pub struct SampleSpec {
    pub prompt: String,
    /// Characters of text after the prompt.
    pub chars: usize,
    pub temperature: f32,
    pub seed: u64,
}

/// Everything the experiment does.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Corpus files or directories.
    pub corpus: Vec<PathBuf>,
    pub vocabs: Vec<Vocab>,
    /// The output directory.
    pub out: PathBuf,
    /// Fraction of each file (its tail) held out for validation.
    pub val_fraction: f64,
    /// BPE pre-tokenizer.
    pub pattern: Pattern,
    /// Redo every step even when its output exists.
    pub force: bool,
    pub shape: Shape,
    /// Training settings, the same for every vocabulary.
    pub train: TrainSettings,
    pub loop_options: LoopOptions,
    pub sample: SampleSpec,
    /// FLOPs budgets of a sweep, ascending. Empty: one run per vocabulary
    /// with `train.budget`. Otherwise each vocabulary trains one stable trunk
    /// and a cooldown branch per budget ([`sweep`](self#sweeps)).
    pub sweep: Vec<f64>,
    /// Hidden sizes of a grid ([`widths`](self#widths)), each overriding
    /// `shape.hidden`. Empty: the one model of `shape`, laid out as before.
    pub widths: Vec<usize>,
}

/// The share of a budget's steps its cooldown branch takes (Hägele et al.
/// 2024 find 10-20% enough for WSD to match a cosine run of that length).
pub const COOLDOWN_FRACTION: f64 = 0.2;

/// The fewest steps the smallest budget of a sweep may give: warmup (a
/// tenth), stable phase and cooldown (a fifth) all need some.
pub const MIN_SWEEP_STEPS: u64 = 10;

/// What the experiment reports as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// Before the first step.
    Start { files: usize, bytes: u64, out: &'a Path },
    /// The corpus changed since the outputs in `out` were made: every step is redone.
    CorpusChanged { stamp: &'a Path },
    /// An output exists, matches the plan and is kept.
    Kept { path: &'a Path },
    /// A run finished with these settings before and is kept.
    RunKept { dir: &'a Path },
    /// A tokenizer was trained and saved.
    TokenizerTrained { path: &'a Path },
    /// The corpus was encoded.
    Encoded { dir: &'a Path, manifest: &'a dataset::Manifest, seconds: f64 },
    /// A run starts (or resumes, when `resumed`).
    RunStarting { dir: &'a Path, config: &'a RunConfig, resumed: bool },
    /// A run finished; its final evaluation.
    RunFinished { dir: &'a Path, eval: Option<&'a EvalResult> },
    /// A sample was written.
    Sampled { path: &'a Path },
    /// A budget of a grid gives the run in `dir` (a width) too few steps and
    /// is left out there ([`widths`](self#widths)).
    Skipped { dir: &'a Path, skipped: &'a Skipped },
}

/// Receives the experiment's progress; the CLI draws it. Every `Break`
/// stops the experiment; outputs finished so far are kept, and re-running
/// continues from them.
pub trait Observer {
    fn event(&mut self, event: Event<'_>);
    /// The tokenizer trainer's progress.
    fn tokenizer(&mut self) -> &mut dyn tokenizer::train::Observer;
    /// The encoder's progress.
    fn encoding(&mut self, progress: &dataset::Progress) -> ControlFlow<()>;
    /// The training loop's observer for the run in `dir`.
    fn training(&mut self, dir: &Path) -> &mut dyn crate::train::Observer;
}

/// What the experiment made: one entry per vocabulary, in the plan's order
/// (per vocabulary, per width, per budget).
#[derive(Clone, Debug)]
pub struct Outcome {
    pub runs: Vec<PathBuf>,
    /// The corpus files.
    pub files: usize,
    pub bytes: u64,
    /// The (vocabulary, width, budget) cells of a grid left out for too few steps.
    pub skipped: Vec<Skipped>,
}

/// A budget left out at one width of a grid: it gives fewer than
/// [`MIN_SWEEP_STEPS`] steps there.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    /// The vocabulary's name (`char`, `bpe512`).
    pub vocab: String,
    /// The width (hidden size).
    pub hidden: usize,
    /// The budget, in FLOPs.
    pub flops: f64,
    /// The steps it would give.
    pub steps: u64,
    /// The FLOPs of [`MIN_SWEEP_STEPS`] steps at this width.
    pub min_flops: f64,
}

/// One model of a vocabulary: its shape, run directory and budgets.
struct ModelRun {
    shape: Shape,
    dir: PathBuf,
    /// The budgets of its sweep (empty: one run with `train.budget`).
    sweep: Vec<f64>,
}

/// Runs the experiment (module docs).
pub fn run(plan: &Plan, observer: &mut dyn Observer) -> Result<Outcome> {
    if plan.vocabs.is_empty() {
        return Err(TrainError::Invalid("give at least one vocabulary".into()));
    }
    // Twice the same vocabulary would train one run and report it twice.
    for (i, v) in plan.vocabs.iter().enumerate() {
        if plan.vocabs[..i].contains(v) {
            return Err(TrainError::Invalid(format!("--vocab: {} is given twice", v.name())));
        }
    }
    crate::train::check_settings(&plan.train)?;
    // With widths, `shape.hidden` is not used: each width is checked instead.
    if plan.widths.is_empty() {
        plan.shape.config(1)?;
    }
    check_widths(plan)?;
    if !(plan.val_fraction > 0.0 && plan.val_fraction < 1.0) {
        return Err(TrainError::Invalid(format!(
            "--val-fraction: must be between 0 and 1 (exclusive), got {}",
            plan.val_fraction
        )));
    }
    check_sweep_early(plan)?;
    crate::sample::check_prompt(&plan.sample.prompt)?;
    let docs = dataset::corpus::list_files(&plan.corpus)?;
    let bytes = dataset::corpus::total_bytes(&docs);
    let out = &plan.out;
    let mut force = plan.force;
    // What the outputs were made from: a different corpus invalidates them
    // all; other data settings are refused, as runs with other settings are,
    // before anything is re-encoded.
    let stamp = out.join("experiment.json");
    let fingerprint = corpus_fingerprint(&docs)?;
    let data = data_settings(plan);
    let previous: Option<serde_json::Value> =
        std::fs::read(&stamp).ok().and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(p) = &previous
        && !force
    {
        if !same_corpus(&p["corpus"], &fingerprint) {
            observer.event(Event::CorpusChanged { stamp: &stamp });
            force = true;
        } else {
            check_data_settings(&p["data"], &data, out)?;
        }
    }
    atomicfile::create_dir_all(out)
        .map_err(|source| crate::run::RunError::Io { path: out.clone(), source })?;
    crate::run::write_json(&stamp, &serde_json::json!({ "corpus": fingerprint, "data": data }))?;
    observer.event(Event::Start { files: docs.len(), bytes, out });

    let toks = ensure_tokenizers(plan, force, &docs, observer)?;
    // Every model's sample starts from the prompt: a prompt a vocabulary
    // cannot encode is refused now, not after every model has trained.
    for (v, tok) in plan.vocabs.iter().zip(&toks) {
        crate::sample::prompt_ids(tok, &plan.sample.prompt).map_err(|e| match e {
            TrainError::Prompt(m) => TrainError::Prompt(format!("{m} (vocabulary {})", v.name())),
            e => e,
        })?;
    }
    // Every (vocabulary, width) is checked before anything is trained.
    let mut skipped = Vec::new();
    let grid = plan
        .vocabs
        .iter()
        .zip(&toks)
        .map(|(v, tok)| cells(plan, v, tok.vocab_size(), &mut skipped))
        .collect::<Result<Vec<_>>>()?;
    let mut runs = Vec::new();
    for ((v, tok), cells) in plan.vocabs.iter().zip(&toks).zip(grid) {
        let name = v.name();
        let tok_path = out.join("tokenizers").join(format!("{name}.json"));
        let shards_dir = out.join("shards").join(&name);
        let shards = ensure_shards(plan, force, tok, &tok_path, &shards_dir, &docs, observer)?;
        for cell in cells {
            for s in skipped.iter().filter(|s| s.vocab == name && s.hidden == cell.shape.hidden) {
                observer.event(Event::Skipped { dir: &cell.dir, skipped: s });
            }
            if plan.sweep.is_empty() {
                let cfg = run_config(plan, &cell.shape, &shards)?;
                let fresh = ensure_run(force, &cfg, &plan.loop_options, &shards, &cell.dir, observer)?;
                ensure_sample(plan, force, &cell.dir, fresh, observer)?;
                runs.push(cell.dir);
            } else if !cell.sweep.is_empty() {
                let cfg = run_config(plan, &cell.shape, &shards)?;
                let branches = ensure_sweep(plan, &cell.sweep, force, cfg, &shards, &cell.dir, observer)?;
                if let Some(last) = branches.last() {
                    ensure_sample(plan, force, last, true, observer)?;
                }
                runs.extend(branches);
            }
        }
    }
    Ok(Outcome { runs, files: docs.len(), bytes, skipped })
}

/// The configuration of the run of `shape` on `shards`, with the plan's settings.
fn run_config(plan: &Plan, shape: &Shape, shards: &ShardSet) -> Result<RunConfig> {
    Ok(RunConfig {
        format_version: crate::run::FORMAT_VERSION,
        model: shape.config(shards.vocab_size())?,
        train: plan.train.clone(),
        data: crate::train::data_ref(shards),
        branch: None,
    })
}

/// The models of vocabulary `v` (of `vocab_size` ids): the plan's shape in
/// `runs/NAME/`, or one per width in `runs/NAME/hW/`, each with the budgets
/// of its sweep, checked. A budget too small at one width of a grid goes to
/// `skipped`; a vocabulary left with no budget at any width is an error.
fn cells(plan: &Plan, v: &Vocab, vocab_size: usize, skipped: &mut Vec<Skipped>) -> Result<Vec<ModelRun>> {
    let root = plan.out.join("runs").join(v.name());
    let per_step = (plan.train.batch * plan.train.seq) as u64;
    if plan.widths.is_empty() {
        if !plan.sweep.is_empty() {
            let fpt = plan.shape.config(vocab_size)?.train_flops_per_token();
            sweep_steps(&plan.sweep, fpt, per_step, plan.train.warmup)?;
        }
        return Ok(vec![ModelRun { shape: plan.shape, dir: root, sweep: plan.sweep.clone() }]);
    }
    let mut out = Vec::new();
    for &w in &plan.widths {
        let shape = Shape { hidden: w, ..plan.shape };
        let fpt = shape.config(vocab_size)?.train_flops_per_token();
        let mut sweep = Vec::new();
        for &c in &plan.sweep {
            let steps = crate::train::flops_steps(c, fpt, per_step);
            // (The budgets are positive: check_sweep_early ran before.)
            if steps < MIN_SWEEP_STEPS {
                let min_flops = min_sweep_flops(fpt, per_step);
                skipped.push(Skipped { vocab: v.name(), hidden: w, flops: c, steps, min_flops });
            } else {
                sweep.push(c);
            }
        }
        if !sweep.is_empty() {
            sweep_steps(&sweep, fpt, per_step, plan.train.warmup)
                .map_err(|e| TrainError::Invalid(format!("--widths {w}, vocabulary {}: {e}", v.name())))?;
        }
        out.push(ModelRun { shape, dir: root.join(format!("h{w}")), sweep });
    }
    if !plan.sweep.is_empty() && out.iter().all(|c| c.sweep.is_empty()) {
        let least =
            skipped.iter().filter(|s| s.vocab == v.name()).map(|s| s.min_flops).fold(f64::INFINITY, f64::min);
        return Err(no_budget_at_any_width(v, least));
    }
    Ok(out)
}

/// A sweep's budget must be a positive number of FLOPs.
fn check_budget(c: f64) -> Result<()> {
    if c.is_finite() && c > 0.0 {
        Ok(())
    } else {
        Err(TrainError::Invalid(format!("--flops: {c} is not a positive number of FLOPs")))
    }
}

/// The FLOPs of the fewest steps a sweep's budget may buy.
fn min_sweep_flops(flops_per_token: f64, tokens_per_step: u64) -> f64 {
    MIN_SWEEP_STEPS as f64 * flops_per_token * tokens_per_step as f64
}

/// A grid where every budget buys vocabulary `v` too few steps at every
/// width; `least` is what the cheapest width needs.
fn no_budget_at_any_width(v: &Vocab, least: f64) -> TrainError {
    TrainError::Invalid(format!(
        "--flops: no budget gives vocabulary {} at least {MIN_SWEEP_STEPS} steps at any of the --widths; \
         the smallest width needs {least:.2e} FLOPs",
        v.name()
    ))
}

/// The sweep's checks that hold whatever size the tokenizers come out at,
/// made before they are trained (on a large corpus that takes minutes):
/// budgets must be positive and distinct, and a vocabulary too costly for
/// its smallest budget (or, with widths, for its largest at every width) at
/// the fewest ids it can have (1 for characters, the 256 bytes + 1 for BPE)
/// is too costly at its real size, which only adds FLOPs per token. Whether
/// two budgets land on the same step is not monotone in the size; [`cells`]
/// checks it, and everything else, with the real sizes.
fn check_sweep_early(plan: &Plan) -> Result<()> {
    for (i, &c) in plan.sweep.iter().enumerate() {
        check_budget(c)?;
        match i.checked_sub(1).map(|p| plan.sweep[p]) {
            Some(prev) if prev == c => {
                return Err(TrainError::Invalid(format!("--flops: {c:e} is given twice")));
            }
            Some(prev) if prev > c => {
                return Err(TrainError::Invalid(format!(
                    "--flops: the budgets must increase; {c:e} comes after {prev:e}"
                )));
            }
            _ => {}
        }
    }
    let (Some(&first), Some(&last)) = (plan.sweep.first(), plan.sweep.last()) else {
        return Ok(());
    };
    let per_step = (plan.train.batch * plan.train.seq) as u64;
    for v in &plan.vocabs {
        let least = match v {
            Vocab::Char => 1,
            Vocab::Bpe(_) => 257,
        };
        let bound = |e: TrainError| {
            TrainError::Invalid(format!(
                "{e} (counted for vocabulary {} at the fewest ids it can have, {least}; more ids cost more)",
                v.name()
            ))
        };
        if plan.widths.is_empty() {
            let fpt = plan.shape.config(least)?.train_flops_per_token();
            sweep_steps(&[first], fpt, per_step, plan.train.warmup).map_err(bound)?;
        } else {
            let mut least_flops = f64::INFINITY;
            let mut any = false;
            for &w in &plan.widths {
                let fpt = Shape { hidden: w, ..plan.shape }.config(least)?.train_flops_per_token();
                any |= crate::train::flops_steps(last, fpt, per_step) >= MIN_SWEEP_STEPS;
                least_flops = least_flops.min(min_sweep_flops(fpt, per_step));
            }
            if !any {
                return Err(bound(no_budget_at_any_width(v, least_flops)));
            }
        }
    }
    Ok(())
}

/// Widths must be positive, distinct, and valid with the plan's shape.
fn check_widths(plan: &Plan) -> Result<()> {
    for (i, &w) in plan.widths.iter().enumerate() {
        if w == 0 {
            return Err(TrainError::Invalid("--widths: a width must be at least 1".into()));
        }
        if plan.widths[..i].contains(&w) {
            return Err(TrainError::Invalid(format!("--widths: {w} is given twice")));
        }
        Shape { hidden: w, ..plan.shape }
            .config(1)
            .map_err(|e| TrainError::Invalid(format!("--widths {w}: {e}")))?;
    }
    Ok(())
}

/// The corpus as the experiment saw it: files (paths and sizes), a hash of
/// that list, and a hash of the files' contents in order (a file edited in
/// place keeps its size; hashing is ~1 GB/s, nothing beside training).
fn corpus_fingerprint(docs: &[Document]) -> Result<serde_json::Value> {
    let mut h = blake3::Hasher::new();
    let mut content = blake3::Hasher::new();
    for d in docs {
        h.update(d.path.as_os_str().as_encoded_bytes());
        h.update(&[0]);
        h.update(&d.len.to_le_bytes());
        let file = std::fs::File::open(&d.path).map_err(io(&d.path))?;
        let n = std::io::copy(&mut std::io::Read::take(file, d.len), &mut content).map_err(io(&d.path))?;
        content.update(&n.to_le_bytes());
    }
    Ok(serde_json::json!({
        "files": docs.len(),
        "bytes": dataset::corpus::total_bytes(docs),
        "listing_hash": h.finalize().to_hex().to_string(),
        "content_hash": content.finalize().to_hex().to_string(),
    }))
}

/// Whether a stamp's corpus is this one. Stamps written before the content
/// hash existed are compared on the listing alone (their outputs were made
/// from whatever the files held then, which nothing recorded).
fn same_corpus(previous: &serde_json::Value, now: &serde_json::Value) -> bool {
    if previous.get("content_hash").is_some() {
        return previous == now;
    }
    ["files", "bytes", "listing_hash"].iter().all(|k| previous[k] == now[k])
}

/// What the BPE tokenizers learn from, as the stamp records it.
const BPE_TEXT: &str = "train split";

/// The settings every tokenizer and shard set of the experiment depends on.
fn data_settings(plan: &Plan) -> serde_json::Value {
    serde_json::json!({ "val_fraction": plan.val_fraction, "pattern": plan.pattern, "bpe_text": BPE_TEXT })
}

/// Refuses data settings other than those the directory's outputs were
/// made with. A stamp without them predates the check: its settings
/// are not known, but its BPE tokenizers learned from the validation text
/// too, which is refused with a hint.
fn check_data_settings(previous: &serde_json::Value, now: &serde_json::Value, out: &Path) -> Result<()> {
    if previous.get("bpe_text") != now.get("bpe_text") {
        return Err(TrainError::Invalid(format!(
            "{}: made by an earlier version whose BPE tokenizers learned from the validation text too \
             (they now learn from the train split only); pass --force to redo its tokenizers, shards \
             and runs, or choose another output directory",
            out.display()
        )));
    }
    let Some(prev) = previous.as_object() else { return Ok(()) };
    let show = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    for (key, flag) in [("val_fraction", "--val-fraction"), ("pattern", "--pattern")] {
        if let Some(p) = prev.get(key)
            && Some(p) != now.get(key)
        {
            return Err(TrainError::Invalid(format!(
                "{flag} {}: {} was made with {flag} {p}, and its tokenizers, shards and runs depend on \
                 it; pass --force to redo them all, or choose another output directory",
                show(&now[key]),
                out.display(),
                p = show(p)
            )));
        }
    }
    Ok(())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| crate::run::RunError::Io { path: path.to_path_buf(), source }.into()
}

/// The tokenizer of each vocabulary of the plan, in order: kept when
/// `tokenizers/NAME.json` holds one of the right kind and size, trained
/// otherwise. The BPE sizes to train come from one training on the train
/// split (`dataset::corpus::train_parts`): the first k merges of the
/// largest are the k-merge vocabulary (identical to a separate run). The
/// character vocabulary learns from all the text, so that every character
/// of the validation text has a token (its only use of that text: which
/// characters occur).
fn ensure_tokenizers(
    plan: &Plan,
    force: bool,
    docs: &[Document],
    observer: &mut dyn Observer,
) -> Result<Vec<Tokenizer>> {
    let dir = plan.out.join("tokenizers");
    let path = |v: &Vocab| dir.join(format!("{}.json", v.name()));
    let mut toks: Vec<Option<Tokenizer>> = plan
        .vocabs
        .iter()
        .map(|v| {
            if force {
                return None;
            }
            Tokenizer::from_file(&path(v)).ok().filter(|tok| match v {
                Vocab::Char => tok.kind() == Kind::Char,
                Vocab::Bpe(n) => {
                    tok.kind() == Kind::Bpe && tok.vocab_size() <= *n && tok.pattern() == Some(plan.pattern)
                }
            })
        })
        .collect();
    for (v, tok) in plan.vocabs.iter().zip(&toks) {
        if tok.is_some() {
            observer.event(Event::Kept { path: &path(v) });
        }
    }
    let missing: Vec<usize> = plan
        .vocabs
        .iter()
        .zip(&toks)
        .filter_map(|(v, t)| match v {
            Vocab::Bpe(n) if t.is_none() => Some(*n),
            _ => None,
        })
        .collect();
    if toks.iter().any(Option::is_none) {
        atomicfile::create_dir_all(&dir).map_err(io(&dir))?;
    }
    let mut ladder = if missing.is_empty() {
        Vec::new()
    } else {
        let config =
            BpeConfig { vocab_size: 0, pattern: plan.pattern, min_frequency: 0, specials: Vec::new() };
        // BPE learns from the train split only: merges learned from the
        // validation text would fit it better than unseen text (fewer tokens
        // per character) and flatter the BPE rows.
        let parts = dataset::corpus::train_parts(docs, plan.val_fraction)?;
        dataset::train_bpe_ladder(&parts, &config, &missing, observer.tokenizer())?
    }
    .into_iter();
    for (v, slot) in plan.vocabs.iter().zip(&mut toks) {
        if slot.is_some() {
            continue;
        }
        let trained = match v {
            Vocab::Char => {
                let spec = VocabSpec::Char { byte_fallback: false, specials: Vec::new() };
                dataset::train_tokenizer(docs, &spec, observer.tokenizer())?
            }
            // The ladder's tokenizers come in the order of `missing`, the plan's.
            Vocab::Bpe(_) => {
                ladder.next().ok_or_else(|| TrainError::Invalid("the ladder fell short".into()))?
            }
        };
        let tok = trained.with_name(&v.name());
        tok.save(&path(v))?;
        observer.event(Event::TokenizerTrained { path: &path(v) });
        *slot = Some(tok);
    }
    Ok(toks.into_iter().flatten().collect())
}

/// Encodes the corpus unless valid shards of this tokenizer and corpus exist.
fn ensure_shards(
    plan: &Plan,
    force: bool,
    tok: &Tokenizer,
    tok_path: &Path,
    dir: &Path,
    docs: &[Document],
    observer: &mut dyn Observer,
) -> Result<ShardSet> {
    if !force && let Ok(set) = ShardSet::open(dir) {
        let m = set.manifest();
        if m.tokenizer.content_hash == tok.content_hash()
            && m.split.val_fraction == plan.val_fraction
            && m.corpus.files == docs.len()
            && m.corpus.bytes == dataset::corpus::total_bytes(docs)
        {
            observer.event(Event::Kept { path: dir });
            return Ok(set);
        }
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    let config = EncodeConfig { val_fraction: plan.val_fraction, ..EncodeConfig::default() };
    let source = TokenizerSource::File(tok_path.to_path_buf());
    let start = std::time::Instant::now();
    let manifest = dataset::encode_corpus(docs, tok, &source, dir, &config, &mut |p| observer.encoding(p))?;
    observer.event(Event::Encoded { dir, manifest: &manifest, seconds: start.elapsed().as_secs_f64() });
    Ok(ShardSet::open(dir)?)
}

/// Trains the run unless it finished with these settings; resumes an
/// interrupted one. Returns whether it trained.
fn ensure_run(
    force: bool,
    cfg: &RunConfig,
    opts: &LoopOptions,
    shards: &ShardSet,
    dir: &Path,
    observer: &mut dyn Observer,
) -> Result<bool> {
    let rd = RunDir::new(dir);
    if rd.config().exists() {
        let old = rd.read_config()?;
        let same = old.model == cfg.model && old.train == cfg.train && old.data == cfg.data;
        if same && !force {
            // A state.json that exists but cannot be read is a run we cannot
            // judge: refuse rather than delete what may be hours of training.
            let state = match rd.read_state() {
                Ok(s) => Some(s),
                Err(_) if !rd.state().exists() => None,
                Err(e) => {
                    return Err(TrainError::Invalid(format!(
                        "{e}; the run is kept: repair or delete the file, or pass --force to train it again"
                    )));
                }
            };
            match state.map(|s| s.status) {
                Some(Status::Finished) => {
                    observer.event(Event::RunKept { dir });
                    return Ok(false);
                }
                Some(Status::Diverged) => {
                    return Err(TrainError::Invalid(format!(
                        "{}: this run diverged; change the settings or pass --force",
                        dir.display()
                    )));
                }
                Some(_) => {
                    observer.event(Event::RunStarting { dir, config: &old, resumed: true });
                    let state =
                        crate::train::train_resume(dir, shards, opts.clone(), observer.training(dir))?;
                    finished(dir, &state, observer)?;
                    return Ok(true);
                }
                None => {}
            }
        } else if !force {
            return Err(TrainError::Invalid(format!(
                "{}: a run with other settings (or other shards) exists; pass --force to replace it",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    observer.event(Event::RunStarting { dir, config: cfg, resumed: false });
    let state = crate::train::train_new(dir, cfg.clone(), shards, opts.clone(), observer.training(dir))?;
    finished(dir, &state, observer)?;
    Ok(true)
}

fn finished(dir: &Path, state: &crate::run::RunState, observer: &mut dyn Observer) -> Result<()> {
    if state.status == Status::Interrupted {
        // Ctrl-C or SIGTERM: saved and resumable, and a cancel like any
        // other (exit 130 from the CLI, as `lm train`), not a failure.
        return Err(TrainError::Cancelled);
    }
    if state.status != Status::Finished {
        return Err(TrainError::Invalid(format!(
            "{}: stopped before the end of its budget; run the experiment again to resume",
            dir.display()
        )));
    }
    observer.event(Event::RunFinished { dir, eval: state.last_eval.as_ref() });
    Ok(())
}

/// The steps of a sweep for a model of `flops_per_token`: for each budget,
/// where its cooldown starts and its last step + 1; and the trunk's warmup.
pub struct SweepSteps {
    pub starts: Vec<u64>,
    pub ends: Vec<u64>,
    pub warmup: u64,
}

/// Resolves `budgets` (ascending FLOPs) to steps of `tokens_per_step`
/// tokens; refuses budgets too small or too close to be told apart.
pub fn sweep_steps(
    budgets: &[f64],
    flops_per_token: f64,
    tokens_per_step: u64,
    warmup: u64,
) -> Result<SweepSteps> {
    let mut ends = Vec::with_capacity(budgets.len());
    for (i, &c) in budgets.iter().enumerate() {
        check_budget(c)?;
        let e = crate::train::flops_steps(c, flops_per_token, tokens_per_step);
        let step_flops = flops_per_token * tokens_per_step as f64;
        if i == 0 && e < MIN_SWEEP_STEPS {
            // A budget under one step still trains one (rounded up): say
            // what it buys, not "only 1 steps".
            let buys =
                if c < step_flops { "less than one step".to_string() } else { format!("only {e} steps") };
            return Err(TrainError::Invalid(format!(
                "--flops {c:e}: {buys} of {tokens_per_step} tokens at {flops_per_token:.4e} FLOPs per token; \
                 the smallest budget needs at least {MIN_SWEEP_STEPS} steps ({:.2e} FLOPs)",
                min_sweep_flops(flops_per_token, tokens_per_step)
            )));
        }
        if let Some(&prev) = ends.last()
            && e <= prev
        {
            return Err(TrainError::Invalid(format!(
                "--flops: the budgets must increase and differ by at least one step ({step_flops:.2e} FLOPs); \
                 {c:e} gives {e} steps like the one before it"
            )));
        }
        ends.push(e);
    }
    let starts = ends.iter().map(|&e| e - ((e as f64 * COOLDOWN_FRACTION).round() as u64).max(1)).collect();
    let warmup = crate::run::warmup_steps(warmup, ends[0]);
    Ok(SweepSteps { starts, ends, warmup })
}

/// The trunk and one cooldown branch per budget (module docs); returns the
/// branches' run directories in budget order.
fn ensure_sweep(
    plan: &Plan,
    budgets: &[f64],
    force: bool,
    base: RunConfig,
    shards: &ShardSet,
    dir: &Path,
    observer: &mut dyn Observer,
) -> Result<Vec<PathBuf>> {
    let per_step = (base.train.batch * base.train.seq) as u64;
    let steps = sweep_steps(budgets, base.model.train_flops_per_token(), per_step, base.train.warmup)?;
    let last_start = *steps.starts.iter().max().unwrap_or(&1);
    let mut trunk = base.clone();
    trunk.train.warmup = steps.warmup;
    trunk.train.budget = crate::run::Budget::Steps(last_start);
    trunk.train.schedule = crate::run::Schedule::Wsd { decay_start: None };
    let opts = LoopOptions { snapshot_steps: steps.starts.clone(), ..plan.loop_options.clone() };
    ensure_run(force, &trunk, &opts, shards, dir, observer)?;

    let trunk_dir = RunDir::new(dir);
    let mut out = Vec::new();
    for (i, &c) in budgets.iter().enumerate() {
        let bdir = dir.join("branches").join(format!("{c:e}"));
        let mut cfg = trunk.clone();
        cfg.train.budget = crate::run::Budget::Flops(c);
        cfg.train.schedule = crate::run::Schedule::Wsd { decay_start: Some(steps.starts[i]) };
        cfg.branch = Some(crate::run::BranchRef { trunk: dir.to_path_buf(), step: steps.starts[i] });
        let rd = RunDir::new(&bdir);
        let kept = !force
            && rd.read_config().is_ok_and(|old| old == cfg)
            && rd.read_state().is_ok_and(|s| s.status == Status::Finished);
        if kept {
            observer.event(Event::RunKept { dir: &bdir });
            out.push(bdir);
            continue;
        }
        if bdir.exists() {
            std::fs::remove_dir_all(&bdir).map_err(io(&bdir))?;
        }
        start_branch(&trunk_dir, steps.starts[i], &cfg, &bdir)?;
        observer.event(Event::RunStarting { dir: &bdir, config: &cfg, resumed: true });
        let opts = LoopOptions { snapshot_steps: Vec::new(), ..plan.loop_options.clone() };
        let state = crate::train::train_resume(&bdir, shards, opts, observer.training(&bdir))?;
        finished(&bdir, &state, observer)?;
        out.push(bdir);
    }
    Ok(out)
}

/// Makes `bdir` a run directory holding the trunk's snapshot at `step`
/// (checkpoint, state, the metrics up to it, the tokenizer copy) and the
/// branch's `config.json`, ready to resume.
fn start_branch(trunk: &RunDir, step: u64, cfg: &RunConfig, bdir: &Path) -> Result<()> {
    let snap = RunDir::new(trunk.snapshot(step));
    let state = snap.read_state().map_err(|e| {
        TrainError::Invalid(format!(
            "{}: the trunk's snapshot of step {step} is missing or incomplete ({e}); run the experiment again \
             with --force",
            snap.root().display()
        ))
    })?;
    if state.step != step {
        return Err(TrainError::Invalid(format!(
            "{}: the snapshot holds step {} instead of {step}",
            snap.root().display(),
            state.step
        )));
    }
    atomicfile::create_dir_all(bdir).map_err(io(bdir))?;
    let rd = RunDir::new(bdir);
    for (from, to) in [(snap.model(), rd.model()), (snap.optimizer(), rd.optimizer())] {
        let bytes = std::fs::read(&from).map_err(io(&from))?;
        crate::run::write_atomic(&to, &bytes)?;
    }
    if trunk.tokenizer().exists() {
        let bytes = std::fs::read(trunk.tokenizer()).map_err(io(&trunk.tokenizer()))?;
        crate::run::write_atomic(&rd.tokenizer(), &bytes)?;
    }
    // The trunk's curve up to the branch point, so the branch's curve is whole.
    let mut metrics = String::new();
    for line in trunk.read_metrics()?.iter().filter(|m| m.step <= step) {
        metrics.push_str(&serde_json::to_string(line).map_err(|e| TrainError::Invalid(e.to_string()))?);
        metrics.push('\n');
    }
    crate::run::write_atomic(&rd.metrics(), metrics.as_bytes())?;
    crate::run::write_json(&rd.config(), cfg)?;
    let mut state = state;
    state.status = Status::Interrupted;
    state.message = None;
    crate::run::write_json(&rd.state(), &state)?;
    Ok(())
}

/// Writes `sample.txt` in the run directory, and beside it `sample.json`,
/// the settings it was drawn with: a re-run with another `--prompt`,
/// `--sample-chars`, `--temperature` or seed draws it again (it kept the
/// old sample and exited 0).
fn ensure_sample(
    plan: &Plan,
    force: bool,
    dir: &Path,
    fresh: bool,
    observer: &mut dyn Observer,
) -> Result<()> {
    let path = dir.join("sample.txt");
    let settings_path = dir.join("sample.json");
    let s = &plan.sample;
    let settings = serde_json::json!({
        "prompt": s.prompt,
        "chars": s.chars,
        "temperature": s.temperature,
        "seed": s.seed,
    });
    // Missing or unreadable: draw again.
    let drawn_with = crate::run::read_json::<serde_json::Value>(&settings_path).ok();
    if path.exists() && drawn_with.as_ref() == Some(&settings) && !fresh && !force {
        return Ok(());
    }
    let config = SamplingConfig { temperature: s.temperature, top_k: None };
    let mut text = s.prompt.as_bytes().to_vec();
    let mut chars = 0usize;
    // Enough tokens for any vocabulary; stops once `s.chars` characters are out.
    crate::sample::generate(dir, &s.prompt, s.chars, config, s.seed, |b| {
        chars += tokenizer::stats::count_chars(b) as usize;
        text.extend_from_slice(b);
        Ok(if chars >= s.chars { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
    })?;
    crate::run::write_atomic(&path, &text)?;
    // After the sample: interrupted between the two, the next run draws again.
    crate::run::write_json(&settings_path, &settings)?;
    observer.event(Event::Sampled { path: &path });
    Ok(())
}
