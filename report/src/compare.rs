//! Reading runs and building the comparison.
//!
//! A comparison is only meaningful when every run was evaluated on the same
//! validation text. Each run's `config.json` records the validation split of
//! the shards it trained on (bytes, characters and a hash of the text, made
//! before tokenization); [`Comparison::new`] refuses runs that disagree and
//! says how.

use std::path::{Path, PathBuf};

use trainer::run::{DataRef, EvalResult, MetricsLine, RunConfig, RunDir, RunState, SplitRef, Status};

use crate::bits::Measured;
use crate::{Error, Result};

/// Everything the report needs from one run directory.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The run's name (its directory name).
    pub name: String,
    pub path: PathBuf,
    pub config: RunConfig,
    /// `None` when the run never wrote a checkpoint.
    pub state: Option<RunState>,
    pub metrics: Vec<MetricsLine>,
    /// A sample written by `lm experiment` (`sample.txt`), if any.
    pub sample: Option<String>,
}

impl RunSummary {
    /// Reads a run directory. A missing directory or `config.json` is an
    /// error; a missing `state.json` or `metrics.jsonl` means the run has not
    /// got far, which the table shows.
    pub fn load(path: &Path) -> Result<RunSummary> {
        let dir = RunDir::new(path);
        trainer::run::check_run_dir(path).map_err(|e| Error::Empty(e.to_string()))?;
        let config = dir.read_config()?;
        let state = if dir.state().exists() { Some(dir.read_state()?) } else { None };
        let metrics = if dir.metrics().exists() { dir.read_metrics()? } else { Vec::new() };
        let sample = std::fs::read_to_string(path.join("sample.txt")).ok();
        let hidden = config.model.hidden;
        // A cooldown branch (`runs/char/branches/1e13`) is named after its
        // trunk and budget: `char@1e13`; one width of a grid
        // (`runs/char/h256/branches/1e13`), `char/h256@1e13`.
        let name = match &config.branch {
            Some(b) => format!("{}@{}", run_name(&b.trunk, hidden), file_name(path)),
            None => run_name(path, hidden),
        };
        Ok(RunSummary { name, path: path.to_path_buf(), config, state, metrics, sample })
    }

    /// Finished runs reached their budget.
    pub fn finished(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.status == Status::Finished)
    }

    /// A word for the table: finished, running/killed, interrupted, diverged, not started.
    pub fn status_word(&self) -> &'static str {
        match self.state.as_ref().map(|s| s.status) {
            None => "not started",
            Some(Status::Finished) => "finished",
            Some(Status::Running) => "unfinished",
            Some(Status::Interrupted) => "interrupted",
            Some(Status::Diverged) => "diverged",
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

/// A run directory's name: its file name, or `NAME/hW` for the directory
/// `NAME/hW` of a model of hidden size `W` (one width of `lm experiment
/// --widths`).
fn run_name(path: &Path, hidden: usize) -> String {
    let name = file_name(path);
    match path.parent().and_then(Path::file_name) {
        Some(parent) if name == format!("h{hidden}") => format!("{}/{name}", parent.to_string_lossy()),
        _ => name,
    }
}

/// One row of the table: one run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    pub run: String,
    /// The vocabulary (the tokenizer's name): rows of one vocabulary at
    /// several budgets share it.
    pub vocab: String,
    /// Training FLOPs spent.
    pub flops: Option<f64>,
    /// The run's FLOPs budget, when it had one.
    pub budget_flops: Option<f64>,
    /// Whether the budget depends on the machine's speed (a time budget).
    pub machine_dependent: bool,
    pub tokenizer: String,
    pub tokenizer_kind: String,
    pub vocab_size: usize,
    /// All trainable parameters.
    pub params: usize,
    /// Embedding and head: `V*E + H*V + V` (`V*E + V` when tied).
    pub embed_head_params: usize,
    /// The hidden size `H` (the width of a grid).
    pub hidden: usize,
    /// `N` of the scaling law: the parameters that are neither embedding
    /// nor head (`params - embed_head_params`: the recurrent layers).
    pub non_embedding_params: usize,
    /// Tokens per character of the validation text.
    pub tokens_per_char: f64,
    /// The last evaluation (nats/token, bits/char, bits/byte); `None` before the first.
    pub eval: Option<EvalResult>,
    /// Training throughput.
    pub tokens_per_s: Option<f64>,
    pub chars_per_s: Option<f64>,
    /// Seconds of training (evaluation excluded).
    pub train_s: Option<f64>,
    /// Training tokens seen.
    pub tokens: Option<u64>,
    /// Training characters seen.
    pub chars: Option<u64>,
    pub status: String,
}

/// A pretrained tokenizer's tokens per character on the same validation text (no model).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ReferenceRow {
    pub tokenizer: String,
    pub vocab_size: usize,
    pub tokens: u64,
    pub chars: u64,
    pub tokens_per_char: f64,
}

/// The comparison of several runs on one validation text.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Comparison {
    /// The validation text every run was evaluated on.
    pub val: SplitRef,
    pub rows: Vec<Row>,
    pub references: Vec<ReferenceRow>,
    /// A sample per run under the same prompt, when the runs have one.
    pub samples: Vec<(String, String)>,
    /// Validation bits/char over training time and characters seen, per run.
    pub curves: Vec<Curve>,
    /// For a FLOPs sweep: fits, frontier, intrinsic measures (`fits`,
    /// `frontier`, `intrinsic`, ... at the top level of `report.json`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub compute: Option<crate::compute::ComputeAxis>,
    /// With several widths: per vocabulary the fit of `L(N, D)`
    /// (`scaling_fits`, `scaling_notes` at the top level of `report.json`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<crate::scaling::ScalingAxis>,
}

/// One run's validation curve (its evaluation lines in `metrics.jsonl`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Curve {
    pub run: String,
    pub points: Vec<CurvePoint>,
}

/// One evaluation of a run.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct CurvePoint {
    /// Seconds of training (evaluation excluded).
    pub time_s: f64,
    /// Training characters seen.
    pub chars: u64,
    /// Validation bits per character (interim evaluations: on a prefix of the validation text).
    pub bits_per_char: f64,
}

/// Embedding and head parameters: the part of the model that grows with the vocabulary.
pub fn embed_head_params(cfg: &model::ModelConfig) -> usize {
    let head = if cfg.tie { 0 } else { cfg.hidden * cfg.vocab };
    cfg.vocab * cfg.embed + head + cfg.vocab
}

fn same_text(a: &SplitRef, b: &SplitRef) -> bool {
    a.bytes == b.bytes && a.chars == b.chars && a.text_hash == b.text_hash
}

fn describe(d: &DataRef) -> String {
    let hash: String = d.val.text_hash.chars().take(12).collect();
    format!("{} bytes, {} chars, text hash {hash}, shards {}", d.val.bytes, d.val.chars, d.shards.display())
}

impl Comparison {
    /// Builds the rows, refusing runs whose validation text differs.
    pub fn new(runs: &[RunSummary]) -> Result<Comparison> {
        let first = runs.first().ok_or_else(|| Error::Empty("no runs to compare".into()))?;
        let val = first.config.data.val.clone();
        let odd: Vec<&RunSummary> = runs.iter().filter(|r| !same_text(&r.config.data.val, &val)).collect();
        if !odd.is_empty() {
            let mut msg = String::from(
                "these runs were not evaluated on the same validation text, so their losses are not comparable \
                 (encode every vocabulary from the same corpus with the same --val-fraction):",
            );
            for r in runs {
                msg.push_str(&format!("\n  {}: {}", r.name, describe(&r.config.data)));
            }
            return Err(Error::Mismatch(msg));
        }
        let rows = runs.iter().map(row).collect();
        let samples = runs.iter().filter_map(|r| Some((r.name.clone(), r.sample.clone()?))).collect();
        let curves = runs
            .iter()
            .map(|r| Curve {
                run: r.name.clone(),
                points: r
                    .metrics
                    .iter()
                    .filter_map(|m| {
                        Some(CurvePoint {
                            time_s: m.time_s,
                            chars: m.chars,
                            bits_per_char: m.val_bits_per_char?,
                        })
                    })
                    .collect(),
            })
            .collect();
        Ok(Comparison { val, rows, references: Vec::new(), samples, curves, compute: None, scaling: None })
    }

    /// Adds rows for pretrained tokenizers, measured on the validation text.
    pub fn add_references(&mut self, rows: Vec<ReferenceRow>) {
        self.references.extend(rows);
    }
}

fn row(r: &RunSummary) -> Row {
    let cfg = &r.config;
    let d = &cfg.data;
    let st = r.state.as_ref();
    let per_s = |n: u64| st.filter(|s| s.train_s > 0.0).map(|s| n as f64 / s.train_s);
    Row {
        run: r.name.clone(),
        vocab: d.tokenizer_name.clone(),
        flops: st.map(|s| s.flops),
        budget_flops: match cfg.train.budget {
            trainer::run::Budget::Flops(f) => Some(f),
            _ => None,
        },
        machine_dependent: cfg.train.budget.is_machine_dependent(),
        tokenizer: d.tokenizer_name.clone(),
        tokenizer_kind: d.tokenizer_kind.clone(),
        vocab_size: d.vocab_size,
        params: cfg.model.num_params(),
        embed_head_params: embed_head_params(&cfg.model),
        hidden: cfg.model.hidden,
        non_embedding_params: cfg.model.num_params() - embed_head_params(&cfg.model),
        tokens_per_char: d.val.tokens as f64 / d.val.chars as f64,
        eval: st.and_then(|s| s.last_eval),
        tokens_per_s: st.and_then(|s| per_s(s.tokens)),
        chars_per_s: st.and_then(|s| per_s(s.chars)),
        train_s: st.map(|s| s.train_s),
        tokens: st.map(|s| s.tokens),
        chars: st.map(|s| s.chars),
        status: r.status_word().to_string(),
    }
}

/// Tokens per character of `val_text` under each named pretrained tokenizer.
pub fn reference_rows(val_text: &[u8], names: &[&str]) -> Result<Vec<ReferenceRow>> {
    let chars = tokenizer::stats::count_chars(val_text);
    names
        .iter()
        .map(|name| {
            let tok = tokenizer::Tokenizer::load(name)?;
            let tokens = tok.encode_ordinary(val_text)?.len() as u64;
            Ok(ReferenceRow {
                tokenizer: name.to_string(),
                vocab_size: tok.vocab_size(),
                tokens,
                chars,
                tokens_per_char: tokens as f64 / chars as f64,
            })
        })
        .collect()
}

/// Measured quantities of a run's last evaluation, for exact arithmetic checks.
pub fn measured(eval: &EvalResult) -> Measured {
    Measured { nats: eval.nats, tokens: eval.tokens, chars: eval.chars, bytes: eval.bytes }
}
