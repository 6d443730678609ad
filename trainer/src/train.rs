//! The training loop: data, schedule, clipping, AdamW, evaluation, checkpoints
//! and resume, for one run directory (see [`crate::run`]).
//!
//! The recipe of one step:
//! 1. the batch of step `s`, a pure function of (seed, s) (`dataset::TrainBatches`);
//! 2. forward and backward through the fast path ([`model::fast::Workspace`]);
//! 3. stop on a NaN or infinite loss or gradient, keeping the last good checkpoint;
//! 4. global-norm clipping, the learning rate of step `s`, one AdamW update.
//!
//! Every `eval_every_s` seconds of training (evaluation excluded), the model
//! is evaluated on a prefix of the validation text (`interim_eval_bytes`) and
//! a checkpoint is written; at the end, on the whole validation text.
//!
//! Resume: the data order, the schedule and the optimizer state depend only
//! on the step, so a run resumed from a checkpoint at step `s` computes the
//! same steps `s+1, ...` as an uninterrupted run, bit for bit — for budgets
//! in steps, tokens or characters. A budget in seconds resolves to a step
//! count from measured speed and re-estimates it at every evaluation, so it
//! is not reproducible bit for bit (nothing timed is).
//!
//! What it is not: it never prints and never installs signal handlers; the
//! caller's [`Observer`] sees every step and may ask to stop.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dataset::{ShardSet, Split};
use tokenizer::Tokenizer;

use model::ModelConfig;
use model::checkpoint;
use model::fast::Workspace;
use model::kernels;
use model::optim::{AdamW, AdamWConfig, Decay, GradNorms, LrSchedule, clip_coefficient};
use model::params::ParamLayout;

use crate::run::TrainSettings;
use crate::run::{
    Budget, DataRef, EvalResult, MetricsLine, RunConfig, RunDir, RunError, RunState, Schedule, SplitRef,
    Status, append_metrics, warmup_steps, write_json,
};

/// Errors of the training loop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Model(#[from] model::Error),
    #[error(transparent)]
    Dataset(#[from] dataset::Error),
    #[error(transparent)]
    Tokenizer(#[from] tokenizer::Error),
    /// The loss or the gradient stopped being finite.
    #[error(
        "training diverged at step {step}: the {what} is {value}; the last good checkpoint (step {kept}) is kept in {}",
        dir.display()
    )]
    Diverged { step: u64, what: &'static str, value: f64, kept: u64, dir: PathBuf },
    /// A setting or a file that cannot work.
    #[error("{0}")]
    Invalid(String),
    /// A sampling prompt the run's tokenizer cannot start from.
    #[error("the prompt: {0}")]
    Prompt(String),
    /// Writing generated text failed (a closed pipe, a full disk).
    #[error(transparent)]
    Output(std::io::Error),
    /// The observer asked to stop before anything was trained.
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

/// What the loop reports after every step.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Steps done.
    pub step: u64,
    /// The step count the budget resolves to (may move for time budgets).
    pub target_steps: u64,
    pub tokens: u64,
    /// Seconds of training so far (evaluation excluded).
    pub train_s: f64,
    /// Loss of the last step, nats/token.
    pub loss: f64,
    /// Training tokens per second over the recent steps.
    pub tokens_per_s: f64,
    pub lr: f64,
}

/// Receives the loop's reports; the CLI draws them.
pub trait Observer {
    /// After every step. `Break` stops training after a checkpoint (status `interrupted`).
    fn step(&mut self, progress: &Progress) -> ControlFlow<()>;
    /// After every metrics line (training lines and evaluation lines).
    fn metrics(&mut self, _line: &MetricsLine) {}
    /// When an evaluation starts (`final` for the last one over the whole split).
    fn evaluating(&mut self, _is_final: bool) {}
}

/// Loop settings that are not part of the run's identity.
#[derive(Clone, Debug)]
pub struct LoopOptions {
    /// Seconds between training lines in `metrics.jsonl`.
    pub log_every_s: f64,
    /// Interim evaluations use this many bytes of validation text (the final one uses all).
    pub interim_eval_bytes: u64,
    /// After these steps, the checkpoint is also kept as a snapshot
    /// ([`RunDir::snapshot`]), where a cooldown branch starts.
    pub snapshot_steps: Vec<u64>,
}

impl Default for LoopOptions {
    fn default() -> LoopOptions {
        LoopOptions { log_every_s: 5.0, interim_eval_bytes: 256 * 1024, snapshot_steps: Vec::new() }
    }
}

/// The data reference a run records for `shards`.
pub fn data_ref(shards: &ShardSet) -> DataRef {
    let m = shards.manifest();
    let split = |s: Split| {
        let i = m.splits.get(s);
        SplitRef { tokens: i.tokens, bytes: i.bytes, chars: i.chars, text_hash: i.text_hash.clone() }
    };
    let dir = shards.dir();
    DataRef {
        shards: std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
        tokenizer_kind: m.tokenizer.kind.name().to_string(),
        tokenizer_name: m.tokenizer.name.clone(),
        tokenizer_hash: m.tokenizer.content_hash.clone(),
        vocab_size: m.tokenizer.vocab_size,
        train: split(Split::Train),
        val: split(Split::Val),
    }
}

/// Everything a running loop holds.
struct Loop<'a> {
    dir: RunDir,
    cfg: RunConfig,
    shards: &'a ShardSet,
    tok: Tokenizer,
    layout: ParamLayout,
    params: Vec<f32>,
    grads: Vec<f32>,
    opt: AdamW,
    ws: Workspace,
    state: RunState,
    opts: LoopOptions,
    chars_per_token: f64,
    flops_per_token: f64,
}

/// Starts a new run in `dir` (which must not hold one) and trains it.
pub fn train_new(
    dir: &Path,
    cfg: RunConfig,
    shards: &ShardSet,
    opts: LoopOptions,
    observer: &mut dyn Observer,
) -> Result<RunState> {
    let rd = RunDir::new(dir);
    if rd.config().exists() {
        return Err(TrainError::Invalid(format!(
            "{}: a run already exists there; pass --resume to continue it or choose another output directory",
            dir.display()
        )));
    }
    check_shards(&cfg, shards)?;
    check_run(&cfg, shards)?;
    let created = !dir.exists();
    atomicfile::create_dir_all(dir).map_err(|source| RunError::Io { path: dir.to_path_buf(), source })?;
    let result = record_failure(&rd, start_new(&rd, cfg, shards, opts, observer));
    if result.is_err() && !rd.state().exists() {
        // Failed before the first checkpoint (bad ids in the validation
        // shards, Ctrl-C during the first evaluation, ...): no run to resume,
        // so leave nothing behind that would make the retry refuse.
        for f in [rd.metrics(), rd.config(), rd.tokenizer()] {
            let _ = std::fs::remove_file(f);
        }
        if created {
            let _ = std::fs::remove_dir(dir);
        }
    }
    result
}

/// [`train_new`] once the run directory exists.
fn start_new(
    rd: &RunDir,
    cfg: RunConfig,
    shards: &ShardSet,
    opts: LoopOptions,
    observer: &mut dyn Observer,
) -> Result<RunState> {
    let rd = rd.clone();
    let tok = shards.tokenizer()?;
    if !shards.manifest().tokenizer.pretrained {
        tok.save(&rd.tokenizer())?;
    }
    write_json(&rd.config(), &cfg)?;
    let layout = ParamLayout::new(&cfg.model);
    let params = layout.init(cfg.train.seed);
    let opt = AdamW::new(&layout, adamw_config(&cfg))?;
    let state = RunState {
        status: Status::Running,
        step: 0,
        target_steps: None,
        tokens: 0,
        chars: 0,
        flops: 0.0,
        train_s: 0.0,
        wall_s: 0.0,
        last_eval: None,
        message: None,
    };
    run_loop(Loop::new(rd, cfg, shards, tok, layout, params, opt, state, opts), observer)
}

/// Continues the run in `dir` from its last checkpoint.
pub fn train_resume(
    dir: &Path,
    shards: &ShardSet,
    opts: LoopOptions,
    observer: &mut dyn Observer,
) -> Result<RunState> {
    let rd = RunDir::new(dir);
    let cfg = rd.read_config()?;
    check_shards(&cfg, shards)?;
    if !rd.state().exists() && !rd.model().exists() {
        // Killed (kill -9, power loss) before its first checkpoint: only
        // config.json (and the tokenizer copy, maybe metrics) exist, and
        // nothing was trained that could be kept. Such a run could be
        // neither resumed (no state.json) nor started again (a run exists
        // there); resuming it starts it from step 0 with its config.
        check_run(&cfg, shards)?;
        let _ = std::fs::remove_file(rd.metrics());
        return record_failure(&rd, start_new(&rd, cfg, shards, opts, observer));
    }
    let state = rd.read_state()?;
    if state.status == Status::Finished {
        return Ok(state);
    }
    let ck = checkpoint::load_checkpoint(dir)?;
    if ck.model.config != cfg.model {
        return Err(TrainError::Invalid(format!(
            "{}: the checkpoint's model shape differs from config.json",
            rd.model().display()
        )));
    }
    if ck.model.step != state.step {
        return Err(TrainError::Invalid(format!(
            "{}: the checkpoint holds step {} but state.json says step {}: the run was killed while saving; \
             start it again",
            dir.display(),
            ck.model.step,
            state.step
        )));
    }
    check_run(&cfg, shards)?;
    // The run's copy of its tokenizer is what eval and sample use.
    run_tokenizer(dir, &cfg)?;
    let tok = shards.tokenizer()?;
    let layout = ck.model.layout;
    // A line torn by a kill would sit in the middle of the file once we append.
    rd.repair_metrics()?;
    let mut state = state;
    state.status = Status::Running;
    state.message = None;
    let lp = Loop::new(rd.clone(), cfg, shards, tok, layout, ck.model.params, ck.optimizer, state, opts);
    record_failure(&rd, run_loop(lp, observer))
}

/// A training loop that failed (a bad id in a train shard, a full disk)
/// left state.json at its last checkpoint with status "running", as if a
/// process were still training: it now says interrupted, with the error as
/// its message. Only status and message change, so the state still matches
/// the checkpoint and `--resume` continues from it. Divergence and Ctrl-C
/// write their own state.
fn record_failure(rd: &RunDir, result: Result<RunState>) -> Result<RunState> {
    if let Err(e) = &result
        && let Ok(mut state) = rd.read_state()
        && state.status == Status::Running
    {
        state.status = Status::Interrupted;
        state.message = Some(e.to_string());
        let _ = crate::run::write_json(&rd.state(), &state);
    }
    result
}

fn adamw_config(cfg: &RunConfig) -> AdamWConfig {
    AdamWConfig { weight_decay: cfg.train.weight_decay, ..AdamWConfig::default() }
}

/// The shards must be the ones the run was configured for: same tokenizer, same text.
fn check_shards(cfg: &RunConfig, shards: &ShardSet) -> Result<()> {
    let now = data_ref(shards);
    let d = &cfg.data;
    if now.vocab_size != cfg.model.vocab {
        return Err(TrainError::Invalid(format!(
            "{}: the shards' vocabulary has {} tokens but the model has V = {}",
            shards.dir().display(),
            now.vocab_size,
            cfg.model.vocab
        )));
    }
    if now.tokenizer_hash != d.tokenizer_hash {
        return Err(TrainError::Invalid(format!(
            "{}: the shards were encoded with tokenizer {} ({}), but the run was trained on {} ({})",
            shards.dir().display(),
            now.tokenizer_name,
            short(&now.tokenizer_hash),
            d.tokenizer_name,
            short(&d.tokenizer_hash)
        )));
    }
    if now.val != d.val || now.train != d.train {
        return Err(TrainError::Invalid(format!(
            "{}: these shards hold other text than the run's (train/val hashes differ)",
            shards.dir().display()
        )));
    }
    Ok(())
}

/// The first 12 characters of a hash for messages (hashes come from
/// hand-editable JSON: never sliced as bytes).
fn short(h: &str) -> String {
    h.chars().take(12).collect()
}

/// Checks every training setting before anything is written: the flags'
/// names in the messages are the `lm` flags that set them.
pub fn check_settings(t: &TrainSettings) -> Result<()> {
    let bad = |msg: String| Err(TrainError::Invalid(msg));
    if t.seq == 0 {
        return bad("--seq: must be at least 1".into());
    }
    if t.batch == 0 {
        return bad("--batch: must be at least 1".into());
    }
    if !(t.lr.is_finite() && t.lr > 0.0) {
        return bad(format!("--lr: must be a positive number, got {}", t.lr));
    }
    if !(t.min_lr_ratio.is_finite() && (0.0..=1.0).contains(&t.min_lr_ratio)) {
        return bad(format!("--min-lr-ratio: must be between 0 and 1, got {}", t.min_lr_ratio));
    }
    if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
        return bad(format!("--weight-decay: must be a number >= 0, got {}", t.weight_decay));
    }
    if !(t.clip.is_finite() && t.clip >= 0.0) {
        return bad(format!("--clip: must be a number >= 0 (0: no clipping), got {}", t.clip));
    }
    if !(t.eval_every_s.is_finite() && t.eval_every_s >= 0.0) {
        return bad(format!("--eval-every: must be a duration >= 0, got {}", t.eval_every_s));
    }
    match t.budget {
        Budget::Steps(0) => bad("--steps: must be at least 1".into()),
        Budget::Tokens(0) => bad("--tokens: must be at least 1".into()),
        Budget::Chars(0) => bad("--chars: must be at least 1".into()),
        Budget::Flops(f) if !(f.is_finite() && f > 0.0) => {
            bad(format!("--flops: must be a positive number, got {f}"))
        }
        Budget::Seconds(s) if !(s.is_finite() && s > 0.0) => {
            bad(format!("--time: must be positive, got {s}"))
        }
        _ => Ok(()),
    }
}

/// Bytes a training run of `cfg` holds at once, roughly: parameters,
/// gradients and AdamW's two moments, packed weights, and the workspace's
/// activations for B x T positions (gates, cell states, hidden states and
/// their gradients per layer, the embedding input, the head's logits).
pub fn memory_estimate(m: &ModelConfig, batch: usize, seq: usize) -> u64 {
    let n = (batch as u64).saturating_mul(seq as u64);
    let (h, e, v, l) = (m.hidden as u64, m.embed as u64, m.vocab as u64, m.layers as u64);
    let g = m.gates() as u64 * h;
    let per_position = l * (2 * g + 4 * h) + 4 * e.max(h) + 2 * v.min(4096);
    let floats = n.saturating_mul(per_position).saturating_add((m.num_params() as u64).saturating_mul(6));
    floats.saturating_mul(4)
}

/// The machine's memory in bytes, where the OS says (Linux: /proc/meminfo).
fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses a run that cannot fit the machine's memory or its data, before
/// anything is written.
fn check_run(cfg: &RunConfig, shards: &ShardSet) -> Result<()> {
    check_settings(&cfg.train)?;
    cfg.model.validate().map_err(TrainError::Invalid)?;
    check_memory(&cfg.model, cfg.train.batch, cfg.train.seq)?;
    // The data must hold one window of T + 1 tokens (named as the loader says).
    shards.train_batches(cfg.train.batch, cfg.train.seq, cfg.train.seed)?;
    shards.eval_batches(Split::Val, cfg.train.batch, cfg.train.seq)?;
    Ok(())
}

/// Refuses a model of shape `m` trained or evaluated in batches of `batch`
/// x `seq` when its workspace cannot fit the machine's memory
/// ([`memory_estimate`]).
pub fn check_memory(m: &ModelConfig, batch: usize, seq: usize) -> Result<()> {
    let need = memory_estimate(m, batch, seq);
    if let Some(have) = machine_memory()
        && need > have
    {
        return Err(TrainError::Invalid(format!(
            "this model needs about {:.1} GiB of memory (E = {}, H = {}, L = {}, V = {}, B = {} x T = {}) but the \
             machine has {:.1} GiB: lower --embed, --hidden, --layers, --batch or --seq",
            need as f64 / (1u64 << 30) as f64,
            m.embed,
            m.hidden,
            m.layers,
            m.vocab,
            batch,
            seq,
            have as f64 / (1u64 << 30) as f64
        )));
    }
    Ok(())
}

impl<'a> Loop<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        dir: RunDir,
        cfg: RunConfig,
        shards: &'a ShardSet,
        tok: Tokenizer,
        layout: ParamLayout,
        params: Vec<f32>,
        opt: AdamW,
        state: RunState,
        opts: LoopOptions,
    ) -> Loop<'a> {
        let ws = Workspace::new(&layout, cfg.train.batch, cfg.train.seq);
        let grads = layout.zeros();
        let train = &cfg.data.train;
        let chars_per_token = train.chars as f64 / train.tokens.max(1) as f64;
        let flops_per_token = cfg.model.train_flops_per_token();
        Loop {
            dir,
            cfg,
            shards,
            tok,
            layout,
            params,
            grads,
            opt,
            ws,
            state,
            opts,
            chars_per_token,
            flops_per_token,
        }
    }

    fn tokens_per_step(&self) -> u64 {
        (self.cfg.train.batch * self.cfg.train.seq) as u64
    }

    /// The step count of a budget that does not depend on time.
    fn fixed_target(&self) -> Option<u64> {
        let per = self.tokens_per_step();
        match self.cfg.train.budget {
            Budget::Steps(n) => Some(n),
            Budget::Tokens(t) => Some(t.div_ceil(per)),
            Budget::Chars(c) => Some((c as f64 / (per as f64 * self.chars_per_token)).ceil() as u64),
            Budget::Flops(f) => Some(flops_steps(f, self.flops_per_token, per)),
            Budget::Seconds(_) => None,
        }
    }

    fn schedule(&self, target: u64) -> LrSchedule {
        let t = &self.cfg.train;
        let warmup = warmup_steps(t.warmup, target);
        let (decay_steps, decay) = match t.schedule {
            Schedule::Cosine => (target.max(warmup + 1), Decay::Cosine),
            Schedule::Wsd { decay_start } => (target, Decay::Linear { start: decay_start }),
        };
        LrSchedule { peak: t.lr, warmup, decay_steps: Some(decay_steps), floor: t.lr * t.min_lr_ratio, decay }
    }

    fn checkpoint(&mut self, wall: f64) -> Result<()> {
        self.state.wall_s = wall;
        checkpoint::save_checkpoint(
            self.dir.root(),
            &self.layout,
            &self.params,
            &self.opt,
            &BTreeMap::new(),
        )?;
        write_json(&self.dir.state(), &self.state)?;
        Ok(())
    }

    /// Keeps the state after this step in [`RunDir::snapshot`]: a cooldown
    /// branch starts there. `state.json` is written last, so a snapshot
    /// without it is incomplete.
    fn snapshot(&mut self, wall: f64) -> Result<()> {
        let dir = self.dir.snapshot(self.state.step);
        atomicfile::create_dir_all(&dir).map_err(|source| RunError::Io { path: dir.clone(), source })?;
        let mut state = self.state.clone();
        state.wall_s = wall;
        checkpoint::save_checkpoint(&dir, &self.layout, &self.params, &self.opt, &BTreeMap::new())?;
        write_json(&RunDir::new(&dir).state(), &state)?;
        Ok(())
    }

    fn eval(&mut self, is_final: bool) -> Result<EvalResult> {
        let limit = if is_final { None } else { Some(self.opts.interim_eval_bytes) };
        crate::eval::evaluate(&mut self.ws, &self.params, self.shards, &self.tok, Split::Val, limit)
    }
}

fn run_loop(mut lp: Loop<'_>, observer: &mut dyn Observer) -> Result<RunState> {
    let wall0 = Instant::now();
    let wall_base = lp.state.wall_s;
    let wall = |base: f64| base + wall0.elapsed().as_secs_f64();
    let per_step = lp.tokens_per_step();
    let mut batches = lp.shards.train_batches(lp.cfg.train.batch, lp.cfg.train.seq, lp.cfg.train.seed)?;

    let mut target = lp.fixed_target().or(lp.state.target_steps).unwrap_or(u64::MAX);
    let time_budget = match lp.cfg.train.budget {
        Budget::Seconds(s) => Some(s),
        _ => None,
    };
    let mut schedule = lp.schedule(target);
    if lp.state.step == 0 {
        append_first_eval(&mut lp, observer, &wall, wall_base)?;
    }

    // Accumulators since the last metrics line.
    let (mut loss_sum, mut loss_n) = (0f64, 0u64);
    let mut line_t = lp.state.train_s;
    let mut line_tokens = lp.state.tokens;
    let mut eval_t = lp.state.train_s;
    let mut last_norm;
    let mut recent = (Instant::now(), lp.state.tokens);
    let mut tokens_per_s = 0f64;

    while lp.state.step < target {
        let step = lp.state.step;
        let t0 = Instant::now();
        let batch = batches.batch(step)?;
        let loss = lp.ws.forward_backward(&lp.params, &mut lp.grads, batch.inputs, batch.targets) as f64;
        if !loss.is_finite() {
            return diverged(&mut lp, step, "loss", loss, &wall, wall_base);
        }
        let norms = grad_norms(&lp.layout, &lp.grads);
        if !norms.total.is_finite() {
            return diverged(&mut lp, step, "gradient norm", norms.total, &wall, wall_base);
        }
        if lp.cfg.train.clip > 0.0 {
            let coef = clip_coefficient(norms.total, lp.cfg.train.clip);
            if coef != 1.0 {
                kernels::scale(&mut lp.grads, coef);
            }
        }
        last_norm = norms.total;
        let lr = schedule.lr(step);
        lp.opt.step_with(&mut lp.params, &lp.grads, lr, kernels::adamw_update)?;
        lp.state.step += 1;
        lp.state.tokens += per_step;
        lp.state.chars = (lp.state.tokens as f64 * lp.chars_per_token).round() as u64;
        lp.state.flops = lp.state.tokens as f64 * lp.flops_per_token;
        lp.state.train_s += t0.elapsed().as_secs_f64();
        if lp.opts.snapshot_steps.contains(&lp.state.step) {
            lp.snapshot(wall(wall_base))?;
        }
        loss_sum += loss;
        loss_n += 1;

        let since = recent.0.elapsed().as_secs_f64();
        if since >= 1.0 || lp.state.step == 1 {
            tokens_per_s = (lp.state.tokens - recent.1) as f64 / since.max(1e-9);
            recent = (Instant::now(), lp.state.tokens);
        }
        // A time budget resolves to steps once the speed is known (after 10
        // steps), and is re-estimated at every evaluation.
        if let Some(budget) = time_budget
            && (lp.state.step == 10 || (lp.state.target_steps.is_none() && lp.state.step > 10))
        {
            target = estimate_target(&lp.state, budget);
            lp.state.target_steps = Some(target);
            schedule = lp.schedule(target);
        }
        let progress = Progress {
            step: lp.state.step,
            target_steps: target.min(u64::MAX - 1),
            tokens: lp.state.tokens,
            train_s: lp.state.train_s,
            loss,
            tokens_per_s,
            lr,
        };
        let stop = observer.step(&progress).is_break();

        let due_eval = lp.state.train_s - eval_t >= lp.cfg.train.eval_every_s;
        let due_line = lp.state.train_s - line_t >= lp.opts.log_every_s;
        let last = lp.state.step >= target;
        if due_eval || due_line || stop || last {
            let span = (lp.state.train_s - line_t).max(1e-9);
            let mut line = MetricsLine {
                step: lp.state.step,
                time_s: lp.state.train_s,
                tokens: lp.state.tokens,
                chars: lp.state.chars,
                flops: lp.state.flops,
                train_loss: loss_sum / loss_n.max(1) as f64,
                lr,
                grad_norm: last_norm,
                tokens_per_s: (lp.state.tokens - line_tokens) as f64 / span,
                val_loss: None,
                val_bits_per_char: None,
                val_bits_per_byte: None,
                grad_norms: Vec::new(),
            };
            if (due_eval || stop) && !last {
                observer.evaluating(false);
                let e = lp.eval(false)?;
                line.val_loss = Some(e.val_loss);
                line.val_bits_per_char = Some(e.bits_per_char);
                line.val_bits_per_byte = Some(e.bits_per_byte);
                line.grad_norms = lp
                    .layout
                    .specs()
                    .iter()
                    .zip(&norms.per_tensor)
                    .map(|(s, n)| (s.name.clone(), *n))
                    .collect();
                lp.state.last_eval = Some(e);
                eval_t = lp.state.train_s;
                if let Some(budget) = time_budget {
                    target = estimate_target(&lp.state, budget).max(lp.state.step);
                    lp.state.target_steps = Some(target);
                    schedule = lp.schedule(target);
                }
            }
            if !last {
                append_metrics(&lp.dir.metrics(), &line)?;
                observer.metrics(&line);
                if line.val_loss.is_some() {
                    lp.checkpoint(wall(wall_base))?;
                }
            } else {
                // The final line carries the evaluation over the whole split.
                observer.evaluating(true);
                let e = lp.eval(true)?;
                line.val_loss = Some(e.val_loss);
                line.val_bits_per_char = Some(e.bits_per_char);
                line.val_bits_per_byte = Some(e.bits_per_byte);
                lp.state.last_eval = Some(e);
                append_metrics(&lp.dir.metrics(), &line)?;
                observer.metrics(&line);
            }
            loss_sum = 0.0;
            loss_n = 0;
            line_t = lp.state.train_s;
            line_tokens = lp.state.tokens;
        }
        if stop && !last {
            lp.state.status = Status::Interrupted;
            lp.state.message = Some("stopped by the user; --resume continues".into());
            lp.checkpoint(wall(wall_base))?;
            return Ok(lp.state);
        }
    }
    lp.state.status = Status::Finished;
    lp.state.target_steps = Some(lp.state.step);
    if lp.state.last_eval.is_none() {
        lp.state.last_eval = Some(lp.eval(true)?);
    }
    lp.checkpoint(wall(wall_base))?;
    Ok(lp.state)
}

/// The evaluation of the initial model, so every curve starts at step 0.
fn append_first_eval(
    lp: &mut Loop<'_>,
    observer: &mut dyn Observer,
    wall: &dyn Fn(f64) -> f64,
    wall_base: f64,
) -> Result<()> {
    observer.evaluating(false);
    let e = lp.eval(false)?;
    let line = MetricsLine {
        step: 0,
        time_s: 0.0,
        tokens: 0,
        chars: 0,
        flops: 0.0,
        train_loss: e.val_loss,
        lr: 0.0,
        grad_norm: 0.0,
        tokens_per_s: 0.0,
        val_loss: Some(e.val_loss),
        val_bits_per_char: Some(e.bits_per_char),
        val_bits_per_byte: Some(e.bits_per_byte),
        grad_norms: Vec::new(),
    };
    append_metrics(&lp.dir.metrics(), &line)?;
    observer.metrics(&line);
    lp.state.last_eval = Some(e);
    lp.checkpoint(wall(wall_base))
}

/// Per-tensor and global gradient norms with the SIMD kernels (the same
/// quantities as [`model::optim::grad_norms`], which the tests pin to PyTorch).
fn grad_norms(layout: &ParamLayout, grads: &[f32]) -> GradNorms {
    let per_tensor: Vec<f64> =
        kernels::sum_squares_per_tensor(layout, grads).into_iter().map(f64::sqrt).collect();
    let total = per_tensor.iter().map(|n| n * n).sum::<f64>().sqrt();
    GradNorms { per_tensor, total }
}

/// Steps that fit in a time budget at the speed seen so far.
fn estimate_target(state: &RunState, budget_s: f64) -> u64 {
    let per_step = state.train_s / state.step.max(1) as f64;
    let left = (budget_s - state.train_s).max(0.0);
    // Saturating: a budget of 1e16 s gives a step count past u64, and the
    // wrapped sum was a 10-step run (`--time 1e16s` stopped at step 10).
    state.step.saturating_add((left / per_step.max(1e-9)) as u64).max(1)
}

/// The steps of a FLOPs budget: enough whole steps of `tokens_per_step`
/// tokens to spend `flops` at `flops_per_token` (the last step may pass it by
/// less than one step's worth).
pub fn flops_steps(flops: f64, flops_per_token: f64, tokens_per_step: u64) -> u64 {
    (flops / (flops_per_token * tokens_per_step as f64)).ceil().max(1.0) as u64
}

fn diverged(
    lp: &mut Loop<'_>,
    step: u64,
    what: &'static str,
    value: f64,
    wall: &dyn Fn(f64) -> f64,
    wall_base: f64,
) -> Result<RunState> {
    // The checkpoint on disk is the last good one and stays as it is;
    // state.json (written with it) only gains the reason.
    let mut st = lp.dir.read_state()?;
    let kept = st.step;
    st.status = Status::Diverged;
    st.wall_s = wall(wall_base);
    st.message = Some(format!("the {what} was {value} at step {step}"));
    write_json(&lp.dir.state(), &st)?;
    Err(TrainError::Diverged { step, what, value, kept, dir: lp.dir.root().to_path_buf() })
}

/// The model of a run's checkpoint, which must have the shape its
/// config.json gives.
pub fn run_model(dir: &Path, cfg: &RunConfig) -> Result<model::checkpoint::LoadedModel> {
    let path = RunDir::new(dir).model();
    let loaded = checkpoint::load_model(&path)?;
    if loaded.config != cfg.model {
        return Err(TrainError::Invalid(format!(
            "{}: the model's shape differs from config.json",
            path.display()
        )));
    }
    Ok(loaded)
}

/// The tokenizer of a run: its copy in the run directory, or the pretrained
/// vocabulary it names.
pub fn run_tokenizer(dir: &Path, cfg: &RunConfig) -> Result<Tokenizer> {
    let copy = RunDir::new(dir).tokenizer();
    // A run keeps a copy of a file tokenizer; only a pretrained one is
    // loaded by name (a name like "char" is not looked up as a path in the
    // current directory, where it could be anything).
    let tok = if copy.exists() {
        Tokenizer::from_file(&copy)?
    } else {
        tokenizer::pretrained::load(&cfg.data.tokenizer_name).ok_or_else(|| {
            TrainError::Invalid(format!(
                "{}: missing (the run was trained with tokenizer {}, which is not a pretrained one)",
                copy.display(),
                cfg.data.tokenizer_name
            ))
        })??
    };
    if tok.content_hash() != cfg.data.tokenizer_hash {
        return Err(TrainError::Invalid(format!(
            "{}: the tokenizer ({}) is not the one the run was trained with ({})",
            copy.display(),
            short(&tok.content_hash()),
            short(&cfg.data.tokenizer_hash)
        )));
    }
    Ok(tok)
}
