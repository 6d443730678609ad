//! A training run on disk: `runs/NAME/`.
//!
//! | file | holds |
//! |---|---|
//! | `config.json` | [`RunConfig`]: model shape, training settings, the data it trains on |
//! | `model.safetensors` | parameters with PyTorch's names (loads into `torch.nn.LSTM`) |
//! | `optimizer.safetensors` | AdamW moments and step, for `--resume` |
//! | `state.json` | [`RunState`]: progress, status, the last evaluation |
//! | `metrics.jsonl` | one [`MetricsLine`] per log or evaluation |
//! | `tokenizer.json` | the shards' tokenizer (our format), unless it is a pretrained name |
//!
//! `state.json` is written last at every checkpoint and names the step the
//! checkpoint files hold, so a run interrupted between two files is detected
//! and resumed from consistent files.

use std::io::Write;
use std::path::{Path, PathBuf};

use model::ModelConfig;

/// Version of the run directory layout.
pub const FORMAT_VERSION: u32 = 1;

/// How long to train.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Budget {
    /// Optimizer steps.
    Steps(u64),
    /// Training tokens (rounded up to whole steps).
    Tokens(u64),
    /// Training characters (rounded up to whole steps, through the train split's characters per token).
    Chars(u64),
    /// Training FLOPs ([`ModelConfig::train_flops_per_token`] x tokens),
    /// rounded up to whole steps: the same step count on every machine.
    Flops(f64),
    /// Seconds of training (evaluation excluded); fixed to a step count after
    /// the first steps are timed, so it depends on the machine's speed.
    Seconds(f64),
}

impl Budget {
    /// Whether the step count depends on the machine's speed.
    pub fn is_machine_dependent(&self) -> bool {
        matches!(self, Budget::Seconds(_))
    }
}

/// The learning rate after warmup.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Schedule {
    /// Cosine from the peak to `lr * min_lr_ratio` at the last step.
    #[default]
    Cosine,
    /// Warmup-stable-decay: the peak rate until `decay_start` (never, when
    /// absent), then linear decay to `lr * min_lr_ratio` at the last step.
    /// A sweep trains one stable trunk and branches off cooldowns from it
    /// (Hägele et al. 2024).
    Wsd { decay_start: Option<u64> },
}

/// Training settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainSettings {
    /// T: time steps per window.
    pub seq: usize,
    /// B: windows per batch.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warmup steps (at most a tenth of the run's steps: see
    /// [`warmup_steps`]).
    pub warmup: u64,
    /// The cosine schedule ends at `lr * min_lr_ratio`.
    pub min_lr_ratio: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Global gradient-norm clipping threshold (0 = off).
    pub clip: f64,
    /// How long to train.
    pub budget: Budget,
    /// The learning rate after warmup.
    #[serde(default)]
    pub schedule: Schedule,
    /// Seconds of training between evaluations (and checkpoints).
    pub eval_every_s: f64,
    /// Data order and initialisation seed.
    pub seed: u64,
}

/// One split's identity and size, copied from the shards' manifest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitRef {
    pub tokens: u64,
    pub bytes: u64,
    pub chars: u64,
    /// Hash of the split's text (before tokenization).
    pub text_hash: String,
}

/// The data a run trains and evaluates on.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataRef {
    /// The shard directory (absolute when written).
    pub shards: PathBuf,
    /// `bpe` or `char`.
    pub tokenizer_kind: String,
    /// The tokenizer's name (file stem or pretrained name).
    pub tokenizer_name: String,
    /// Its content hash.
    pub tokenizer_hash: String,
    /// Vocabulary size (the model's V).
    pub vocab_size: usize,
    pub train: SplitRef,
    pub val: SplitRef,
}

/// The warmup a run of `target` steps uses: the configured one, shortened to
/// a tenth of the steps when it would take more, so a short budget still
/// warms up, trains and decays instead of being stretched.
pub fn warmup_steps(warmup: u64, target: u64) -> u64 {
    if warmup == 0 { 0 } else { warmup.min((target / 10).max(1)) }
}

/// Where a cooldown branch starts: the trunk run and the step of its snapshot.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BranchRef {
    pub trunk: PathBuf,
    pub step: u64,
}

/// `config.json`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunConfig {
    pub format_version: u32,
    pub model: ModelConfig,
    pub train: TrainSettings,
    pub data: DataRef,
    /// For a cooldown branch: the trunk it continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<BranchRef>,
}

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Training, or stopped without a chance to say so (killed).
    Running,
    /// Reached its budget.
    Finished,
    /// Stopped by Ctrl-C; `--resume` continues it.
    Interrupted,
    /// Stopped on a NaN or infinite loss; the checkpoint is the last good one.
    Diverged,
}

/// The result of evaluating a model on a split.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalResult {
    /// Mean cross-entropy per predicted token, nats.
    pub val_loss: f64,
    pub bits_per_token: f64,
    pub bits_per_char: f64,
    pub bits_per_byte: f64,
    /// Predicted tokens.
    pub tokens: u64,
    /// Characters of the predicted text.
    pub chars: u64,
    /// Bytes of the predicted text.
    pub bytes: u64,
    /// Summed cross-entropy, nats.
    pub nats: f64,
}

/// `state.json`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunState {
    pub status: Status,
    /// Optimizer steps done (the checkpoint holds the parameters after this many).
    pub step: u64,
    /// The step count the budget resolved to (for `Seconds`, fixed after timing the first steps).
    pub target_steps: Option<u64>,
    /// Training tokens seen.
    pub tokens: u64,
    /// Training characters seen (tokens x the train split's characters per token).
    pub chars: u64,
    /// Training FLOPs spent (tokens x the model's training FLOPs per token).
    #[serde(default)]
    pub flops: f64,
    /// Seconds spent training (evaluation and checkpointing excluded).
    pub train_s: f64,
    /// Wall seconds since the run started, across resumes.
    pub wall_s: f64,
    /// The most recent evaluation.
    pub last_eval: Option<EvalResult>,
    /// Why the run stopped, when it did not finish.
    pub message: Option<String>,
}

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricsLine {
    pub step: u64,
    /// Seconds of training so far (evaluation excluded).
    pub time_s: f64,
    pub tokens: u64,
    pub chars: u64,
    /// Training FLOPs so far.
    #[serde(default)]
    pub flops: f64,
    /// Mean training loss since the previous line, nats/token. On the step-0
    /// line (the initial model, nothing trained yet) it repeats `val_loss`.
    pub train_loss: f64,
    pub lr: f64,
    /// Global gradient norm before clipping, at the last step.
    pub grad_norm: f64,
    /// Training throughput since the previous line (evaluation excluded).
    pub tokens_per_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_bits_per_char: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_bits_per_byte: Option<f64>,
    /// Per-tensor gradient norms (PyTorch names), on evaluation lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grad_norms: Vec<(String, f64)>,
}

/// Errors reading or writing run files.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
}

/// Paths of a run's files.
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> RunDir {
        RunDir { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }
    pub fn state(&self) -> PathBuf {
        self.root.join("state.json")
    }
    pub fn model(&self) -> PathBuf {
        self.root.join("model.safetensors")
    }
    pub fn optimizer(&self) -> PathBuf {
        self.root.join("optimizer.safetensors")
    }
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    pub fn tokenizer(&self) -> PathBuf {
        self.root.join("tokenizer.json")
    }
    /// The snapshot of step `step` (model, optimizer and state), kept for
    /// the cooldown branch that starts there.
    pub fn snapshot(&self, step: u64) -> PathBuf {
        self.root.join("snapshots").join(format!("step-{step:08}"))
    }

    /// Reads `config.json`.
    pub fn read_config(&self) -> Result<RunConfig, RunError> {
        let cfg: RunConfig = read_json(&self.config())?;
        if cfg.format_version != FORMAT_VERSION {
            return Err(RunError::Invalid {
                path: self.config(),
                reason: format!(
                    "run format version {} is not supported (this build reads version {FORMAT_VERSION})",
                    cfg.format_version
                ),
            });
        }
        Ok(cfg)
    }

    /// Reads `state.json`.
    pub fn read_state(&self) -> Result<RunState, RunError> {
        read_json(&self.state())
    }

    /// Drops a torn last line (a kill mid-write) from `metrics.jsonl`, so
    /// lines appended on resume follow whole ones. Missing: nothing to do.
    pub fn repair_metrics(&self) -> Result<(), RunError> {
        let path = self.metrics();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(RunError::Io { path, source }),
        };
        if text.is_empty() || text.ends_with(b"\n") {
            return Ok(());
        }
        let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        write_atomic(&path, &text[..keep])
    }

    /// Reads every line of `metrics.jsonl` (a torn last line from a killed run is ignored).
    pub fn read_metrics(&self) -> Result<Vec<MetricsLine>, RunError> {
        let path = self.metrics();
        let text =
            std::fs::read_to_string(&path).map_err(|source| RunError::Io { path: path.clone(), source })?;
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str(line) {
                Ok(m) => out.push(m),
                Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
                Err(e) => {
                    return Err(RunError::Invalid { path, reason: format!("line {}: {e}", i + 1) });
                }
            }
        }
        Ok(out)
    }
}

/// A run directory given on the command line exists and is a directory.
pub fn check_run_dir(run: &Path) -> Result<(), crate::train::TrainError> {
    if run.is_dir() && RunDir::new(run).config().exists() {
        return Ok(());
    }
    let what = if run.is_dir() {
        // `lm compare runs/` (the parent of the runs) read "runs/config.json:
        // No such file or directory".
        "is not a run directory (no config.json; `lm train -o DIR` and `lm experiment` make them)"
    } else if run.exists() {
        "is not a run directory (a file)"
    } else {
        "no such run directory"
    };
    Err(crate::train::TrainError::Invalid(format!("{}: {what}", run.display())))
}

/// Reads and parses a JSON file; errors name it.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunError> {
    let bytes = std::fs::read(path).map_err(|source| RunError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| RunError::Invalid { path: path.to_path_buf(), reason: format!("not a valid file: {e}") })
}

/// Writes `bytes` to `path` atomically ([`atomicfile::write`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    atomicfile::write(path, bytes).map_err(|source| RunError::Io { path: path.to_path_buf(), source })
}

/// Serializes `value` as pretty JSON and writes it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), RunError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| RunError::Invalid {
        path: path.to_path_buf(),
        reason: format!("cannot serialize: {e}"),
    })?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Appends one line to `metrics.jsonl`.
pub fn append_metrics(path: &Path, line: &MetricsLine) -> Result<(), RunError> {
    let io = |source| RunError::Io { path: path.to_path_buf(), source };
    let mut text = serde_json::to_string(line).map_err(|e| RunError::Invalid {
        path: path.to_path_buf(),
        reason: format!("cannot serialize: {e}"),
    })?;
    text.push('\n');
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)
}
