//! The optimiser and everything around an update: AdamW with PyTorch's exact
//! semantics, global-norm gradient clipping as `torch.nn.utils.clip_grad_norm_`,
//! per-tensor gradient norms (for the training log), and the learning-rate
//! schedule (linear warmup, then cosine decay to a floor).
//!
//! All state is in the flat [`ParamLayout`] layout: the moments `m` and `v` are
//! buffers of the same length as the parameters, so one pass over three flat
//! buffers updates the whole model. The padding between tensors stays zero
//! (zero gradient -> zero moments -> zero update, and weight decay of zero is zero).
//!
//! What it is not: the training loop (`lm train` owns data, schedule and
//! checkpoints) and not the SIMD kernel. [`adamw_update`] is the plain-loop
//! reference; a SIMD kernel with the same signature plugs into
//! [`AdamW::step_with`], and must perform the arithmetic documented on
//! [`AdamWScalars`] (then it agrees bit for bit).
//!
//! Performance notes: `f32::mul_add` is a libm `fmaf` call unless the crate is
//! built with the `fma` target feature, so this loop is slow (a few ns per
//! element); it is the reference, the SIMD kernel is the fast path. Norms
//! accumulate in f64 for the same reason: exactness over speed here.

use crate::error::{Error, Result};
use crate::params::ParamLayout;

// ----------------------------------------------------------------------------
// AdamW

/// AdamW's hyperparameters (the learning rate comes per step from the schedule).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay: `p *= 1 - lr * weight_decay` before the Adam
    /// update (`torch.optim.AdamW`), applied to every tensor, as AdamW over
    /// `model.parameters()` in one group does. 0 gives `torch.optim.Adam`.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    /// PyTorch's defaults for Adam: betas (0.9, 0.999), eps 1e-8, no weight decay.
    fn default() -> Self {
        AdamWConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

impl AdamWConfig {
    /// Rejects betas outside [0, 1), a non-positive eps and a negative or non-finite decay.
    pub fn validate(&self) -> Result<()> {
        let ok = |b: f64| (0.0..1.0).contains(&b);
        if !ok(self.beta1) || !ok(self.beta2) {
            return Err(Error::Config(format!(
                "AdamW betas must be in [0, 1), got ({}, {})",
                self.beta1, self.beta2
            )));
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(Error::Config(format!("AdamW eps must be positive, got {}", self.eps)));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(Error::Config(format!("weight decay must be >= 0, got {}", self.weight_decay)));
        }
        Ok(())
    }
}

/// The constants of one AdamW step, computed in f64 and rounded to f32 the way
/// PyTorch's single-tensor Adam (the CPU default) rounds its Python scalars.
///
/// Per element, in f32, in this order (what [`adamw_update`] does and what a
/// SIMD kernel must do to agree bit for bit):
/// ```text
/// p = p * decay                                  (only when weight_decay != 0)
/// m = fma(beta1_lerp, g - m, m)                  (exp_avg.lerp_(g, 1 - beta1))
/// v = fma(one_minus_beta2 * g, g, v * beta2)    (exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2))
/// p = p + (neg_step_size * m) / (sqrt(v) / bias2_sqrt + eps)     (param.addcdiv_)
/// ```
///
/// The two FMAs are PyTorch's too: `lerp` is written with `fmadd`, and GCC
/// contracts addcmul's `self + value * t1 * t2` into one (the
/// `adamw_fixture.py` test pins both: the moments match bit for bit). The
/// square root is IEEE's (`sqrtss`, `_mm512_sqrt_ps`); PyTorch's goes through
/// MKL's `vsSqrt`, which is sometimes 1 ulp off, so parameters can differ
/// from PyTorch's in the last place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWScalars {
    /// The 1-based step these constants are for.
    pub step: u64,
    /// Whether to apply `decay` (PyTorch skips the multiply when weight_decay is 0).
    pub apply_decay: bool,
    /// `1 - lr * weight_decay`.
    pub decay: f32,
    /// `1 - beta1`.
    pub beta1_lerp: f32,
    pub beta2: f32,
    /// `1 - beta2`.
    pub one_minus_beta2: f32,
    /// `sqrt(1 - beta2^step)`.
    pub bias2_sqrt: f32,
    pub eps: f32,
    /// `-lr / (1 - beta1^step)`.
    pub neg_step_size: f32,
}

impl AdamWScalars {
    /// The constants for 1-based `step` at learning rate `lr`.
    pub fn new(config: &AdamWConfig, lr: f64, step: u64) -> AdamWScalars {
        // Python's `beta ** step` is C's pow on doubles; powf is the same libm call.
        let bias1 = 1.0 - config.beta1.powf(step as f64);
        let bias2 = 1.0 - config.beta2.powf(step as f64);
        AdamWScalars {
            step,
            apply_decay: config.weight_decay != 0.0,
            decay: (1.0 - lr * config.weight_decay) as f32,
            beta1_lerp: (1.0 - config.beta1) as f32,
            beta2: config.beta2 as f32,
            one_minus_beta2: (1.0 - config.beta2) as f32,
            bias2_sqrt: bias2.sqrt() as f32,
            eps: config.eps as f32,
            neg_step_size: (-(lr / bias1)) as f32,
        }
    }
}

/// One AdamW update of `params` (N) with `grads` (N), moments `m` (N) and `v`
/// (N), as a plain loop: the reference for any SIMD kernel. All four slices
/// must have the same length (the flat layout's).
pub fn adamw_update(params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32], s: &AdamWScalars) {
    assert!(
        grads.len() == params.len() && m.len() == params.len() && v.len() == params.len(),
        "adamw_update: buffers of different lengths"
    );
    for i in 0..params.len() {
        let g = grads[i];
        let mut p = params[i];
        if s.apply_decay {
            p *= s.decay;
        }
        let mi = (g - m[i]).mul_add(s.beta1_lerp, m[i]);
        let vi = (s.one_minus_beta2 * g).mul_add(g, v[i] * s.beta2);
        let denom = vi.sqrt() / s.bias2_sqrt + s.eps;
        params[i] = p + (s.neg_step_size * mi) / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

/// AdamW's state: hyperparameters, the number of steps taken, and the first
/// and second moments in the flat layout (PyTorch's `exp_avg`, `exp_avg_sq`).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamW {
    config: AdamWConfig,
    step: u64,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl AdamW {
    /// A fresh optimiser (step 0, zero moments) for parameters in `layout`.
    pub fn new(layout: &ParamLayout, config: AdamWConfig) -> Result<AdamW> {
        config.validate()?;
        Ok(AdamW { config, step: 0, m: layout.zeros(), v: layout.zeros() })
    }

    /// An optimiser resumed from saved state (see `checkpoint`).
    pub fn from_state(config: AdamWConfig, step: u64, m: Vec<f32>, v: Vec<f32>) -> Result<AdamW> {
        config.validate()?;
        if m.len() != v.len() {
            return Err(Error::Length { what: "exp_avg_sq buffer", expected: m.len(), found: v.len() });
        }
        Ok(AdamW { config, step, m, v })
    }

    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// Steps taken so far (0 before the first update).
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The first moments (flat layout).
    pub fn exp_avg(&self) -> &[f32] {
        &self.m
    }

    /// The second moments (flat layout).
    pub fn exp_avg_sq(&self) -> &[f32] {
        &self.v
    }

    /// The constants the next step will use at learning rate `lr`.
    pub fn next_scalars(&self, lr: f64) -> AdamWScalars {
        AdamWScalars::new(&self.config, lr, self.step + 1)
    }

    /// One update with the plain-loop [`adamw_update`].
    pub fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> Result<()> {
        self.step_with(params, grads, lr, adamw_update)
    }

    /// One update with `kernel` (e.g. the SIMD `adamw_step`), which receives
    /// (params, grads, m, v, scalars) and must implement [`AdamWScalars`]'s arithmetic.
    pub fn step_with(
        &mut self,
        params: &mut [f32],
        grads: &[f32],
        lr: f64,
        kernel: impl FnOnce(&mut [f32], &[f32], &mut [f32], &mut [f32], &AdamWScalars),
    ) -> Result<()> {
        let n = self.m.len();
        for (what, len) in [("parameter buffer", params.len()), ("gradient buffer", grads.len())] {
            if len != n {
                return Err(Error::Length { what, expected: n, found: len });
            }
        }
        if !lr.is_finite() || lr < 0.0 {
            return Err(Error::Config(format!("learning rate must be a finite number >= 0, got {lr}")));
        }
        let s = self.next_scalars(lr);
        kernel(params, grads, &mut self.m, &mut self.v, &s);
        self.step += 1;
        Ok(())
    }
}

// ----------------------------------------------------------------------------
// Gradient norms and clipping

/// The L2 norms of a gradient: per tensor (for the training log) and global.
#[derive(Clone, Debug, PartialEq)]
pub struct GradNorms {
    /// One per tensor of the layout, in its order (`layout.specs()`).
    pub per_tensor: Vec<f64>,
    /// `sqrt(sum of squares)` over all tensors: what `clip_grad_norm_` returns.
    pub total: f64,
}

/// The gradient norms of `grads` (flat layout). Sums of squares accumulate in
/// f64 (PyTorch accumulates in f32; the two agree to ~1e-7 relative, which the
/// parity tests bound), so the result does not depend on summation order in
/// any way that matters.
pub fn grad_norms(layout: &ParamLayout, grads: &[f32]) -> GradNorms {
    let per_tensor: Vec<f64> = layout
        .specs()
        .iter()
        .map(|s| grads[s.range()].iter().map(|&g| (g as f64) * (g as f64)).sum::<f64>().sqrt())
        .collect();
    let total = per_tensor.iter().map(|n| n * n).sum::<f64>().sqrt();
    GradNorms { per_tensor, total }
}

/// The factor `clip_grad_norm_` multiplies the gradients by, computed as
/// PyTorch does in f32: `min(1, max_norm * (1 / (total + 1e-6)))` (the
/// reciprocal because `float / tensor` is `tensor.reciprocal() * float`).
/// A non-finite `total` gives 1: the caller must stop on it (see [`clip_grad_norm`]).
pub fn clip_coefficient(total: f64, max_norm: f64) -> f32 {
    let coef = (1.0f32 / (total as f32 + 1e-6f32)) * max_norm as f32;
    if coef < 1.0 { coef } else { 1.0 }
}

/// Multiplies every gradient by `coef`.
pub fn scale_grads(grads: &mut [f32], coef: f32) {
    if coef != 1.0 {
        grads.iter_mut().for_each(|g| *g *= coef);
    }
}

/// `torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)`: scales
/// `grads` so their global norm is at most `max_norm` (about) and returns the
/// norms from before clipping. A NaN or infinite total leaves the gradients
/// unscaled and is returned as is: the trainer must check `total.is_finite()`
/// and stop, since no clipping repairs a non-finite gradient.
pub fn clip_grad_norm(layout: &ParamLayout, grads: &mut [f32], max_norm: f64) -> GradNorms {
    let norms = grad_norms(layout, grads);
    if norms.total.is_finite() {
        scale_grads(grads, clip_coefficient(norms.total, max_norm));
    }
    norms
}

// ----------------------------------------------------------------------------
// Learning-rate schedule

/// Linear warmup, then a decay to a floor: a cosine, or warmup-stable-decay.
///
/// For the 0-based step index `s` (the update about to happen):
/// - `s < warmup`: `peak * (s + 1) / warmup` (the first update already moves);
/// - then, with `decay_steps = Some(n)`: over steps `warmup..n` the rate follows
///   half a cosine from `peak` down to `floor`, and stays at `floor` after `n`;
/// - with `decay_steps = None` (a run bounded by time, whose step count is not
///   known in advance): constant `peak` after the warmup.
///
/// With [`Decay::Linear`] (warmup-stable-decay, Hägele et al. 2024), the
/// rate stays at `peak` after the warmup until `start`, then falls linearly to
/// `floor` at the last step `decay_steps - 1`; without a `start` it stays at
/// `peak`.
///
/// The default floor is a tenth of the peak (nanoGPT's and llm.c's choice):
/// low enough to settle, high enough that late steps still learn.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LrSchedule {
    pub peak: f64,
    pub warmup: u64,
    pub decay_steps: Option<u64>,
    pub floor: f64,
    #[serde(default)]
    pub decay: Decay,
}

/// The shape of the decay after the warmup.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Decay {
    /// Half a cosine from `peak` at the end of the warmup to `floor` at `decay_steps`.
    #[default]
    Cosine,
    /// `peak` until `start`, then linear to `floor` at step `decay_steps - 1`.
    Linear { start: Option<u64> },
}

impl LrSchedule {
    /// Warmup over `warmup` steps, cosine to `peak / 10` at `decay_steps`.
    pub fn new(peak: f64, warmup: u64, decay_steps: Option<u64>) -> LrSchedule {
        LrSchedule { peak, warmup, decay_steps, floor: peak * 0.1, decay: Decay::Cosine }
    }

    /// The learning rate of 0-based step `step`.
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        if let Decay::Linear { start } = self.decay {
            return match (start, self.decay_steps) {
                (Some(d), Some(end)) if step >= d => {
                    let span = end.saturating_sub(1).saturating_sub(d).max(1) as f64;
                    let progress = ((step - d) as f64 / span).min(1.0);
                    self.peak + (self.floor - self.peak) * progress
                }
                _ => self.peak,
            };
        }
        let Some(total) = self.decay_steps else { return self.peak };
        if step >= total {
            return self.floor;
        }
        let progress = (step - self.warmup) as f64 / (total - self.warmup) as f64;
        let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.floor + (self.peak - self.floor) * cos
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cell, ModelConfig};

    #[test]
    fn schedule_warms_up_decays_and_floors() {
        let s = LrSchedule::new(1.0, 4, Some(14));
        let lrs: Vec<f64> = (0..16).map(|k| s.lr(k)).collect();
        assert_eq!(&lrs[..4], &[0.25, 0.5, 0.75, 1.0]);
        assert_eq!(lrs[4], 1.0);
        assert!((lrs[9] - 0.55).abs() < 1e-12, "halfway: midpoint of peak and floor, got {}", lrs[9]);
        assert!(lrs[4..14].windows(2).all(|w| w[1] < w[0]));
        assert_eq!(&lrs[14..], &[0.1, 0.1]);
        let constant = LrSchedule::new(2e-3, 0, None);
        assert_eq!(constant.lr(0), 2e-3);
        assert_eq!(constant.lr(1_000_000), 2e-3);
    }

    #[test]
    fn adam_first_step_moves_each_parameter_by_lr() {
        // At step 1, m_hat = g and sqrt(v_hat) = |g|: the update is -lr * sign(g) (up to eps).
        let mut p = vec![1.0f32, 1.0, 1.0, 0.0];
        let g = [0.5f32, -3.0, 1e-3, 0.0];
        let (mut m, mut v) = (vec![0.0; 4], vec![0.0; 4]);
        let s = AdamWScalars::new(&AdamWConfig::default(), 0.01, 1);
        adamw_update(&mut p, &g, &mut m, &mut v, &s);
        assert!((p[0] - 0.99).abs() < 1e-6 && (p[1] - 1.01).abs() < 1e-6 && (p[2] - 0.99).abs() < 1e-5);
        assert_eq!(p[3], 0.0, "zero gradient (the layout's padding) stays put");
    }

    #[test]
    fn decoupled_weight_decay_shrinks_before_the_update() {
        let cfg = AdamWConfig { weight_decay: 0.5, ..AdamWConfig::default() };
        let mut p = vec![2.0f32];
        let (mut m, mut v) = (vec![0.0], vec![0.0]);
        adamw_update(&mut p, &[0.0], &mut m, &mut v, &AdamWScalars::new(&cfg, 0.1, 1));
        assert_eq!(p[0], 2.0 * 0.95);
    }

    #[test]
    fn clipping_scales_to_max_norm_and_reports_the_norms() {
        let cfg = ModelConfig { cell: Cell::Rnn, vocab: 3, embed: 2, hidden: 2, layers: 1, tie: false };
        let layout = ParamLayout::new(&cfg);
        let mut g = layout.zeros();
        g[layout.embedding()] = 3.0;
        g[layout.head_bias()] = 4.0;
        let norms = clip_grad_norm(&layout, &mut g, 1.0);
        assert_eq!(norms.total, 5.0);
        assert_eq!(norms.per_tensor[0], 3.0);
        assert_eq!(*norms.per_tensor.last().unwrap(), 4.0);
        let after = grad_norms(&layout, &g).total;
        assert!((after - 1.0).abs() < 1e-6, "{after}");
        // Below the threshold nothing changes, bit for bit.
        let before = g.clone();
        clip_grad_norm(&layout, &mut g, 10.0);
        assert_eq!(before, g);
    }

    #[test]
    fn step_with_a_custom_kernel_counts_steps_and_checks_lengths() {
        let cfg = ModelConfig { cell: Cell::Lstm, vocab: 5, embed: 3, hidden: 3, layers: 1, tie: true };
        let layout = ParamLayout::new(&cfg);
        let mut opt = AdamW::new(&layout, AdamWConfig::default()).unwrap();
        let mut p = layout.init(1);
        let g = layout.init(2);
        let mut seen = None;
        opt.step_with(&mut p, &g, 1e-3, |_, _, _, _, s| seen = Some(s.step)).unwrap();
        assert_eq!((seen, opt.step_count()), (Some(1), 1));
        assert!(matches!(opt.step(&mut p[1..], &g, 1e-3), Err(Error::Length { .. })));
        assert!(AdamW::new(&layout, AdamWConfig { beta1: 1.0, ..AdamWConfig::default() }).is_err());
    }
}
