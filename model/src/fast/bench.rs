//! Training-throughput measurement for `lm bench` and
//! `cli/examples/bench_lstm_train.rs`: N steps of forward_backward + global-norm
//! clipping + AdamW on random tokens, timed after a warm-up, with the
//! process's CPU time and peak RSS (Linux `/proc`) so a run on a shared
//! machine can be judged.

use std::time::Instant;

use crate::config::ModelConfig;
use crate::fast::{Profile, Workspace};
use crate::kernels::Kernels;
use crate::optim::AdamWConfig;
use crate::params::ParamLayout;
use crate::rng::Rng;

/// What one benchmark run measured.
#[derive(Clone, Debug)]
pub struct TrainBench {
    /// Timed steps.
    pub steps: usize,
    /// Tokens per step (B*T).
    pub tokens_per_step: usize,
    /// Wall seconds of the timed steps.
    pub secs: f64,
    /// Wall seconds of each timed step (batch drawing, forward + backward,
    /// clipping and AdamW), in order.
    pub step_secs: Vec<f64>,
    /// Process CPU seconds (user + system) of the timed steps, if known.
    pub cpu_secs: Option<f64>,
    /// Training FLOPs per token (`ModelConfig::train_flops_per_token`).
    pub flops_per_token: f64,
    /// Of which the head's.
    pub head_flops_per_token: f64,
    /// Loss of every timed step.
    pub losses: Vec<f32>,
    /// Bytes held by the workspace.
    pub workspace_bytes: usize,
    /// Time per phase over the timed steps.
    pub profile: Profile,
}

impl TrainBench {
    pub fn tokens_per_s(&self) -> f64 {
        (self.steps * self.tokens_per_step) as f64 / self.secs
    }

    pub fn gflops(&self) -> f64 {
        self.tokens_per_s() * self.flops_per_token / 1e9
    }

    /// Tokens per second of the fastest timed step. On a machine shared
    /// with other jobs, which can only slow a step down, this is the
    /// estimate least disturbed by them (quote it beside the mean, not
    /// instead of it).
    pub fn best_step_tokens_per_s(&self) -> f64 {
        let best = self.step_secs.iter().copied().fold(f64::INFINITY, f64::min);
        if best.is_finite() && best > 0.0 { self.tokens_per_step as f64 / best } else { 0.0 }
    }

    /// GFLOP/s of the fastest timed step (see [`Self::best_step_tokens_per_s`]).
    pub fn best_step_gflops(&self) -> f64 {
        self.best_step_tokens_per_s() * self.flops_per_token / 1e9
    }

    /// Training FLOPs per token of the head (`6*H*V`, the convention of
    /// `ModelConfig::train_flops_per_token`).
    pub fn head_flops_per_token(&self) -> f64 {
        self.head_flops_per_token
    }

    /// GFLOP/s of the recurrent part alone: its FLOPs (everything but the
    /// head) over the time of layer 0's input table, the forward and
    /// backward loops and the weight gradients (weight packing, the
    /// embedding gather and the head excluded).
    pub fn recurrent_gflops(&self) -> f64 {
        let p = &self.profile;
        let secs = p.fwd_proj + p.fwd_loop + p.bwd_loop + p.bwd_gemm;
        let flops =
            (self.flops_per_token - self.head_flops_per_token) * (self.steps * self.tokens_per_step) as f64;
        flops / secs / 1e9
    }

    /// GFLOP/s of the head alone (logits, softmax cross-entropy, dW_head,
    /// dh) over its measured time.
    pub fn head_gflops(&self) -> f64 {
        self.head_flops_per_token * (self.steps * self.tokens_per_step) as f64 / self.profile.head / 1e9
    }
}

/// Runs `warmup` then `steps` training steps of a `cfg` model on B x T
/// random batches (Adam lr 2e-3, clip 1.0), on the current rayon pool, with
/// the detected kernels.
pub fn bench_train(
    cfg: &ModelConfig,
    batch: usize,
    seq: usize,
    warmup: usize,
    steps: usize,
    seed: u64,
) -> TrainBench {
    bench_train_with(cfg, batch, seq, warmup, steps, seed, Kernels::detect(), None)
}

/// [`bench_train`] with a given kernel table (`lm bench --isa`), and with
/// `ids`, on windows of a token stream instead of random ids: each batch
/// row is `ids[o..o+T]` with targets `ids[o+1..o+T+1]` at a random offset
/// o, as training draws them. Which ids a batch holds changes the cost of
/// layer 0's input side (the input table covers the batch's distinct
/// tokens), so text gives other figures than uniform ids.
///
/// # Panics
/// When `ids` has fewer than T + 1 entries or an id >= V.
#[allow(clippy::too_many_arguments)]
pub fn bench_train_with(
    cfg: &ModelConfig,
    batch: usize,
    seq: usize,
    warmup: usize,
    steps: usize,
    seed: u64,
    kern: &'static Kernels,
    ids: Option<&[u32]>,
) -> TrainBench {
    if let Some(ids) = ids {
        assert!(ids.len() > seq, "bench_train_with: {} ids, need at least T + 1 = {}", ids.len(), seq + 1);
        assert!(
            ids.iter().all(|&x| (x as usize) < cfg.vocab),
            "bench_train_with: an id >= V = {}",
            cfg.vocab
        );
    }
    let layout = ParamLayout::new(cfg);
    let mut params = layout.init(seed);
    let mut grads = layout.zeros();
    let mut m = layout.zeros();
    let mut v = layout.zeros();
    let mut ws = Workspace::with_kernels(&layout, batch, seq, kern);
    let mut rng = Rng::new(seed ^ 0x5eed);
    let n = batch * seq;
    let mut inputs = vec![0u32; n];
    let mut targets = vec![0u32; n];
    let hp = AdamWConfig::default();
    let mut losses = Vec::with_capacity(steps);
    let mut step = 0u64;
    let mut run = |ws: &mut Workspace, losses: Option<&mut Vec<f32>>| {
        match ids {
            None => {
                for (x, y) in inputs.iter_mut().zip(targets.iter_mut()) {
                    *x = rng.below(cfg.vocab as u64) as u32;
                    *y = rng.below(cfg.vocab as u64) as u32;
                }
            }
            Some(ids) => {
                for (x, y) in inputs.chunks_mut(seq).zip(targets.chunks_mut(seq)) {
                    let o = rng.below((ids.len() - seq) as u64) as usize;
                    x.copy_from_slice(&ids[o..o + seq]);
                    y.copy_from_slice(&ids[o + 1..o + seq + 1]);
                }
            }
        }
        let loss = ws.forward_backward(&params, &mut grads, &inputs, &targets);
        let norm = kern.sum_squares(&grads).sqrt();
        if norm > 1.0 {
            kern.scale(&mut grads, (1.0 / (norm + 1e-6)) as f32);
        }
        step += 1;
        kern.adamw_step(&mut params, &grads, &mut m, &mut v, &hp, 2e-3, step);
        if let Some(l) = losses {
            l.push(loss);
        }
    };
    for _ in 0..warmup {
        run(&mut ws, None);
    }
    ws.reset_profile();
    let cpu0 = process_cpu_secs();
    let mut step_secs = Vec::with_capacity(steps);
    let t0 = Instant::now();
    for _ in 0..steps {
        let ts = Instant::now();
        run(&mut ws, Some(&mut losses));
        step_secs.push(ts.elapsed().as_secs_f64());
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu_secs = match (cpu0, process_cpu_secs()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    TrainBench {
        steps,
        tokens_per_step: n,
        secs,
        step_secs,
        cpu_secs,
        flops_per_token: cfg.train_flops_per_token(),
        head_flops_per_token: 6.0 * cfg.hidden as f64 * cfg.vocab as f64,
        losses,
        workspace_bytes: ws.bytes(),
        profile: ws.profile().clone(),
    }
}

/// User + system CPU seconds of this process (Linux; None elsewhere).
pub fn process_cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, in clock ticks (100 Hz on Linux).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / 100.0)
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cell;

    #[test]
    fn step_times_cover_every_timed_step() {
        let cfg = ModelConfig { cell: Cell::Lstm, vocab: 11, embed: 8, hidden: 8, layers: 2, tie: false };
        let r = bench_train(&cfg, 2, 5, 1, 3, 7);
        assert_eq!(r.step_secs.len(), 3);
        assert_eq!(r.losses.len(), 3);
        assert!(r.step_secs.iter().all(|&s| s > 0.0));
        // The steps lie inside the timed span, so the fastest step is at
        // least as fast as the mean.
        assert!(r.step_secs.iter().sum::<f64>() <= r.secs);
        assert!(r.best_step_tokens_per_s() >= r.tokens_per_s());
        let best = r.step_secs.iter().copied().fold(f64::INFINITY, f64::min);
        assert_eq!(r.best_step_tokens_per_s(), 10.0 / best);
        let none = bench_train(&cfg, 2, 5, 0, 0, 7);
        assert!(none.step_secs.is_empty());
        assert_eq!(none.best_step_tokens_per_s(), 0.0);
    }
}
