//! `lm train`: next-token prediction on token shards.
//!
//! Flags and glue only: the loop is `trainer::train`. Draws a progress bar
//! (step, loss, tokens/s, ETA) on stderr, prints every evaluation above it,
//! and on Ctrl-C writes a checkpoint and stops (`--resume` continues).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use dataset::ShardSet;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use model::Cell;
use report::table::fixed;
use trainer::experiment::Shape;
use trainer::run::{Budget, EvalResult, MetricsLine, RunConfig, RunState, Status, TrainSettings};
use trainer::train::{LoopOptions, Observer, Progress};

use crate::{Interrupt, Threads, parse_count, parse_duration};

/// The model's shape.
#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    /// Recurrent cell: lstm (PyTorch's nn.LSTM) or rnn (tanh).
    #[arg(long, default_value = "lstm", value_parser = parse_cell)]
    pub cell: Cell,
    /// Recurrent layers.
    #[arg(long, default_value_t = 2, value_name = "L", value_parser = crate::parse_width)]
    pub layers: usize,
    /// Hidden width of every layer.
    #[arg(long, default_value_t = 512, value_name = "H", value_parser = crate::parse_width)]
    pub hidden: usize,
    /// Embedding width (default: the hidden width).
    #[arg(long, value_name = "E", value_parser = crate::parse_width)]
    pub embed: Option<usize>,
    /// Tie the unembedding to the embedding (needs E == H).
    #[arg(long)]
    pub tie: bool,
}

/// How to train.
#[derive(clap::Args, Clone, Debug)]
pub struct TrainArgs {
    /// Time steps per window (backpropagation through time over T steps).
    #[arg(long, default_value_t = 128, value_name = "T")]
    pub seq: usize,
    /// Windows per batch.
    #[arg(long, default_value_t = 32, value_name = "B")]
    pub batch: usize,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Linear warmup steps.
    #[arg(long, default_value_t = 100, value_name = "STEPS")]
    pub warmup: u64,
    /// The cosine decay ends at lr x this.
    #[arg(long, default_value_t = 0.1, value_name = "R")]
    pub min_lr_ratio: f64,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (0: no clipping).
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Train for this many steps.
    #[arg(long, value_name = "N", group = "budget")]
    pub steps: Option<u64>,
    /// Train on this many tokens (suffixes K, M, G).
    #[arg(long, value_name = "N", value_parser = parse_count, group = "budget")]
    pub tokens: Option<u64>,
    /// Train on this many characters of text (suffixes K, M, G).
    #[arg(long, value_name = "N", value_parser = parse_count, group = "budget")]
    pub chars: Option<u64>,
    /// Train for this many FLOPs (the model's training FLOPs per token, as
    /// `lm bench` counts them, times the tokens): the same steps on every
    /// machine. `lm experiment` takes a list (`1e13,3e13,1e14`) and sweeps.
    #[arg(long, value_name = "FLOPS", value_parser = parse_flops, value_delimiter = ',', group = "budget")]
    pub flops: Option<Vec<f64>>,
    /// Train for this long (evaluation excluded): 40s, 10m, 1h. Depends on
    /// the machine's speed. Alias: --budget.
    #[arg(long, alias = "budget", value_name = "DURATION", value_parser = parse_duration, group = "budget")]
    pub time: Option<f64>,
    /// Evaluate and checkpoint after this much training time.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_duration)]
    pub eval_every: f64,
    /// Interim evaluations score this many bytes of the validation text (the
    /// final one scores all of it); suffixes K, M, G.
    #[arg(long, default_value = "256K", value_name = "BYTES", value_parser = crate::parse_positive_count)]
    pub eval_bytes: u64,
    /// Seed of the initialisation and the data order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl TrainArgs {
    /// The budget, if one was given.
    pub fn budget(&self) -> Option<Budget> {
        if let Some(n) = self.steps {
            Some(Budget::Steps(n))
        } else if let Some(n) = self.tokens {
            Some(Budget::Tokens(n))
        } else if let Some(n) = self.chars {
            Some(Budget::Chars(n))
        } else if let Some(f) = self.flops.as_ref().and_then(|f| f.last()) {
            Some(Budget::Flops(*f))
        } else {
            self.time.map(Budget::Seconds)
        }
    }

    /// The stored settings for `budget`.
    pub fn settings(&self, budget: Budget) -> TrainSettings {
        TrainSettings {
            seq: self.seq,
            batch: self.batch,
            lr: self.lr,
            warmup: self.warmup,
            min_lr_ratio: self.min_lr_ratio,
            weight_decay: self.weight_decay,
            clip: self.clip,
            budget,
            schedule: trainer::run::Schedule::Cosine,
            eval_every_s: self.eval_every,
            seed: self.seed,
        }
    }

    pub fn loop_options(&self) -> LoopOptions {
        LoopOptions { interim_eval_bytes: self.eval_bytes, ..LoopOptions::default() }
    }
}

/// `3e14`, `1.5e13`: a positive, finite number of FLOPs.
fn parse_flops(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("bad FLOPs count {s:?}: expected a positive number such as 3e14")),
    }
}

fn parse_cell(s: &str) -> Result<Cell, String> {
    match s {
        "lstm" => Ok(Cell::Lstm),
        "rnn" => Ok(Cell::Rnn),
        _ => Err(format!("unknown cell {s:?} (expected lstm or rnn)")),
    }
}

/// Train an LSTM or RNN language model on token shards.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  lm train shards/char/ -o runs/char --time 10m
  lm train shards/bpe8k/ -o runs/bpe8k --hidden 256 --tokens 20M --eval-every 30s
  lm train shards/char/ -o runs/char --resume          (continue after Ctrl-C)")]
pub struct Args {
    /// The shard directory (from `tok encode`).
    #[arg(value_name = "SHARDS")]
    pub shards: PathBuf,
    /// The run directory: config.json, model.safetensors, optimizer.safetensors, state.json, metrics.jsonl.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Continue the run in --output from its last checkpoint (its stored settings apply).
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub train: TrainArgs,
    /// No progress bar (evaluations are still printed).
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub threads: Threads,
}

impl ModelArgs {
    /// The model's shape (V comes from the shards).
    pub fn shape(&self) -> Shape {
        Shape { cell: self.cell, layers: self.layers, hidden: self.hidden, embed: self.embed, tie: self.tie }
    }
}

pub fn run(args: Args) -> Result<()> {
    args.threads.init()?;
    let shards = ShardSet::open(&args.shards)?;
    let state = if args.resume {
        if !args.output.join("config.json").exists() {
            anyhow::bail!("{}: no run to resume (no config.json)", args.output.display());
        }
        let stored = trainer::run::RunDir::new(&args.output).read_config()?;
        check_resume_flags(&args, &stored, &args.output)?;
        train_resume(&args.output, &shards, args.train.loop_options(), args.quiet)?
    } else {
        let budget =
            args.train.budget().context("give a budget: --steps, --tokens, --chars, --flops or --time")?;
        if args.train.flops.as_ref().is_some_and(|f| f.len() > 1) {
            anyhow::bail!("--flops: lm train takes one budget; lm experiment sweeps a list");
        }
        let cfg = RunConfig {
            format_version: trainer::run::FORMAT_VERSION,
            model: args.model.shape().config(shards.vocab_size())?,
            train: args.train.settings(budget),
            data: trainer::train::data_ref(&shards),
            branch: None,
        };
        train_new(&args.output, cfg, &shards, args.train.loop_options(), args.quiet)?
    };
    report_end(&args.output, &state)?;
    if state.status == Status::Interrupted {
        // Saved and resumable, but not done: exit 130 as for any Ctrl-C, so
        // `lm train ... && lm eval ...` stops here.
        return Err(trainer::TrainError::Cancelled.into());
    }
    Ok(())
}

/// Starts a run, drawing progress.
pub fn train_new(
    dir: &Path,
    cfg: RunConfig,
    shards: &ShardSet,
    opts: LoopOptions,
    quiet: bool,
) -> Result<RunState> {
    let mut obs = Bar::new(&dir.display().to_string(), quiet);
    // Shown once the library has checked the settings: a refused run prints
    // only its error.
    obs.intro = Some(run_line(dir, &cfg));
    let r = trainer::train::train_new(dir, cfg, shards, opts, &mut obs);
    obs.bar.finish_and_clear();
    Ok(r?)
}

/// One line on stderr: the model, its size, the batch and the budget.
pub fn describe_run(dir: &Path, cfg: &RunConfig) {
    crate::errln!("{}", run_line(dir, cfg));
}

fn run_line(dir: &Path, cfg: &RunConfig) -> String {
    format!(
        "{}: {} {}x{} (E {}{}), {} parameters, {} ids; B {} x T {}; {}",
        dir.display(),
        cfg.model.cell.name(),
        cfg.model.layers,
        cfg.model.hidden,
        cfg.model.embed,
        if cfg.model.tie { ", tied" } else { "" },
        cfg.model.num_params(),
        cfg.model.vocab,
        cfg.train.batch,
        cfg.train.seq,
        describe_budget(&cfg.train.budget),
    )
}

/// With `--resume`, a flag that sets what the run stored (model, optimizer,
/// budget, seed) must say what was stored: the run keeps its settings, and a
/// different value was silently dropped (`--steps 8` on a 4-step run printed
/// "finished at step 4"). Flags not given are not compared, so the command
/// that made the run, with `--resume` added, is accepted.
fn check_resume_flags(args: &Args, stored: &RunConfig, dir: &Path) -> Result<()> {
    let (m, t) = (&stored.model, &stored.train);
    let model = args.model.shape();
    let wanted = args.train.settings(args.train.budget().unwrap_or(t.budget));
    // (clap id, same as stored, what was stored as the flag would say it)
    let flags: [(&str, bool, String); 14] = [
        ("cell", model.cell == m.cell, format!("--cell {}", format!("{:?}", m.cell).to_lowercase())),
        ("layers", model.layers == m.layers, format!("--layers {}", m.layers)),
        ("hidden", model.hidden == m.hidden, format!("--hidden {}", m.hidden)),
        ("embed", model.embed.unwrap_or(model.hidden) == m.embed, format!("--embed {}", m.embed)),
        ("tie", model.tie == m.tie, (if m.tie { "--tie" } else { "no --tie" }).to_string()),
        ("seq", wanted.seq == t.seq, format!("--seq {}", t.seq)),
        ("batch", wanted.batch == t.batch, format!("--batch {}", t.batch)),
        ("lr", wanted.lr == t.lr, format!("--lr {}", t.lr)),
        ("warmup", wanted.warmup == t.warmup, format!("--warmup {}", t.warmup)),
        ("min_lr_ratio", wanted.min_lr_ratio == t.min_lr_ratio, format!("--min-lr-ratio {}", t.min_lr_ratio)),
        ("weight_decay", wanted.weight_decay == t.weight_decay, format!("--weight-decay {}", t.weight_decay)),
        ("clip", wanted.clip == t.clip, format!("--clip {}", t.clip)),
        ("eval_every", wanted.eval_every_s == t.eval_every_s, format!("--eval-every {}s", t.eval_every_s)),
        ("seed", wanted.seed == t.seed, format!("--seed {}", t.seed)),
    ];
    // The budget flags set one stored value between them.
    let budget = || {
        if wanted.budget == t.budget {
            return None;
        }
        let id =
            ["steps", "tokens", "chars", "flops", "time"].into_iter().find(|id| crate::flag_given(id))?;
        let was = match t.budget {
            Budget::Steps(n) => format!("--steps {n}"),
            Budget::Tokens(n) => format!("--tokens {n}"),
            Budget::Chars(n) => format!("--chars {n}"),
            Budget::Flops(f) => format!("--flops {f:e}"),
            Budget::Seconds(s) => format!("--time {s}s"),
        };
        Some((id, was))
    };
    let mismatch = flags
        .into_iter()
        .find(|(id, same, _)| !same && crate::flag_given(id))
        .map(|(id, _, was)| (id, was))
        .or_else(budget);
    if let Some((id, was)) = mismatch {
        anyhow::bail!(
            "--{}: {} was made with {was}, and a resumed run keeps the settings in its config.json; drop \
             the flag, or train a new run with another -o",
            id.replace('_', "-"),
            dir.display()
        );
    }
    Ok(())
}

/// Resumes a run, drawing progress.
pub fn train_resume(dir: &Path, shards: &ShardSet, opts: LoopOptions, quiet: bool) -> Result<RunState> {
    let name = dir.display().to_string();
    let mut obs = Bar::new(&name, quiet);
    let r = trainer::train::train_resume(dir, shards, opts, &mut obs);
    obs.bar.finish_and_clear();
    Ok(r?)
}

pub fn describe_budget(b: &Budget) -> String {
    match b {
        Budget::Steps(n) => format!("{n} steps"),
        Budget::Tokens(n) => format!("{n} tokens"),
        Budget::Chars(n) => format!("{n} characters"),
        Budget::Flops(f) => format!("{f:.3e} FLOPs"),
        Budget::Seconds(s) => format!("{} of training", report::table::duration(*s)),
    }
}

/// The one-line summary of an evaluation.
pub fn describe_eval(e: &EvalResult) -> String {
    format!(
        "val {} nats/token, {} bits/char, {} bits/byte over {} tokens ({} chars)",
        fixed(e.val_loss, 4),
        fixed(e.bits_per_char, 4),
        fixed(e.bits_per_byte, 4),
        e.tokens,
        e.chars
    )
}

fn report_end(dir: &Path, st: &RunState) -> std::io::Result<()> {
    let what = match st.status {
        Status::Finished => "finished",
        Status::Interrupted => "interrupted (--resume continues)",
        Status::Diverged => "diverged",
        Status::Running => "stopped",
    };
    let eval = st.last_eval.as_ref().map(describe_eval).unwrap_or_default();
    crate::outln!(
        "{}: {what} at step {}: {} tokens in {}; {eval}",
        dir.display(),
        st.step,
        st.tokens,
        report::table::duration(st.train_s)
    )?;
    Ok(())
}

/// The progress bar observer: cancels on Ctrl-C.
pub struct Bar {
    pub bar: ProgressBar,
    /// A line to print before the first report.
    pub intro: Option<String>,
    interrupt: Interrupt,
    name: String,
}

impl Bar {
    pub fn new(name: &str, quiet: bool) -> Bar {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stderr_with_hz(4))
        };
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:25}] {pos}/{len} steps {msg} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        Bar { bar, intro: None, interrupt: Interrupt::install(), name: name.to_string() }
    }
}

impl Bar {
    /// Prints a line above the bar (a hidden bar drops `println`).
    fn line(&self, line: String) {
        if self.bar.is_hidden() {
            crate::errln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    fn show_intro(&mut self) {
        if let Some(line) = self.intro.take() {
            self.line(line);
        }
    }
}

impl Observer for Bar {
    fn step(&mut self, p: &Progress) -> ControlFlow<()> {
        self.show_intro();
        if p.target_steps < u64::MAX - 1 {
            self.bar.set_length(p.target_steps);
        }
        self.bar.set_position(p.step);
        self.bar.set_message(format!(
            "loss {} | {:.0} tok/s | lr {:.2e}",
            fixed(p.loss, 4),
            p.tokens_per_s,
            p.lr
        ));
        if self.interrupt.is_set() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }

    fn metrics(&mut self, m: &MetricsLine) {
        if let (Some(v), Some(bpc)) = (m.val_loss, m.val_bits_per_char) {
            let line = format!(
                "{}: step {:>6}  {:>7.1}s  train {}  val {} nats/token  {} bits/char  {:.0} tok/s  grad norm {}",
                self.name,
                m.step,
                m.time_s,
                fixed(m.train_loss, 4),
                fixed(v, 4),
                fixed(bpc, 4),
                m.tokens_per_s,
                fixed(m.grad_norm, 3)
            );
            self.line(line);
        }
    }

    fn evaluating(&mut self, is_final: bool) {
        self.show_intro();
        self.bar.set_message(if is_final { "final evaluation ..." } else { "evaluating ..." });
    }
}
