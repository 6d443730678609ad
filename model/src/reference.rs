//! The clean, minimal, scalar reference model: the oracle every fast path is
//! tested against.
//!
//! Embedding -> L recurrent layers (PyTorch's `nn.LSTM` or `nn.RNN` with tanh,
//! `batch_first`) -> head (H -> V with bias; the embedding matrix when tied) ->
//! mean softmax cross-entropy over the B x T positions, with full
//! backpropagation through time from a zero state.
//!
//! This file is written to be read top to bottom, in the style of llm.c's
//! `train_gpt2.c`: the float type, then each layer's forward and backward pass
//! side by side, then the model that strings them together, then the
//! one-token step used for sampling. It uses no SIMD, no threads and no
//! cleverness: plain loops in the order of the equations, generic over the
//! float type so the same code runs in f32 (what the fast path must match) and
//! f64 (what finite differences and PyTorch's float64 fixtures need).
//!
//! What it is not: fast. The training path lives in `fast.rs` and the SIMD
//! kernels in `kernels/`; both are tested against this file.
//!
//! Performance notes: none sought, on purpose. Measured (dev profile, f32,
//! LSTM E = H = 512, L = 2, B = 4, T = 32): ~1.6 s per forward+backward, about
//! 2 GFLOP/s, 1% of the machine's FMA peak; compare against it at small
//! shapes. Activations are allocated once per (B, T) in [`Reference::new`];
//! backward allocates its gradient scratch per call, which costs nothing next
//! to the loops and keeps the data flow visible.
//!
//! Shapes (row-major; the legend of `lib.rs`): B = batch rows, T = time steps,
//! V = vocabulary, E = embedding width, H = hidden width, C = input width of a
//! layer (E for layer 0, H after), G = gates (4 for the LSTM in PyTorch's order
//! i, f, g, o; 1 for the RNN), L = layers. Argument order is llm.c's: outputs,
//! then inputs, then weights; gradient outputs accumulate with `+=` unless the
//! comment says `=`.
//!
//! Parameters and gradients are `&[F]` in the flat [`ParamLayout`] layout (the
//! f64 path upcasts the f32 buffer); gradients of a tied head land in
//! `embedding.weight`, because [`ParamLayout::head_weight`] points there.

// Index loops that mirror the equations, and llm.c's long argument lists
// (outputs, inputs, weights, dimensions), are the point of this file.
#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]

use std::fmt::{Debug, Display};
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub, SubAssign};

use crate::TokenId;
use crate::config::Cell;
use crate::error::{Error, Result};
use crate::params::ParamLayout;
use crate::sample::Stepper;

// ----------------------------------------------------------------------------
// The float type

/// The arithmetic the reference needs, implemented for `f32` and `f64`.
pub trait Float:
    Copy
    + Default
    + PartialEq
    + PartialOrd
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
{
    const ZERO: Self;
    const ONE: Self;
    /// Rounds `x` to this type.
    fn from_f64(x: f64) -> Self;
    /// Widens (or keeps) `x`.
    fn from_f32(x: f32) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn tanh(self) -> Self;
    fn is_finite(self) -> bool;
}

macro_rules! impl_float {
    ($t:ty) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            fn from_f32(x: f32) -> Self {
                x as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }
    };
}
impl_float!(f32);
impl_float!(f64);

fn sigmoid<F: Float>(x: F) -> F {
    F::ONE / (F::ONE + (-x).exp())
}

/// `sum_i a[i] * b[i]`, left to right.
fn dot<F: Float>(a: &[F], b: &[F]) -> F {
    let mut s = F::ZERO;
    for (&x, &y) in a.iter().zip(b) {
        s += x * y;
    }
    s
}

// ----------------------------------------------------------------------------
// Layers: forward and backward passes side by side

// --- encoder (embedding lookup) ---

/// out (N, E) = wte[inp[n]]; inp (N) token ids; wte (V, E).
fn encoder_forward<F: Float>(out: &mut [F], inp: &[TokenId], wte: &[F], e: usize) {
    for (row, &tok) in out.chunks_exact_mut(e).zip(inp) {
        let t = tok as usize;
        row.copy_from_slice(&wte[t * e..(t + 1) * e]);
    }
}

/// dwte (V, E) += dout (N, E) scattered to the rows of inp (N).
fn encoder_backward<F: Float>(dwte: &mut [F], dout: &[F], inp: &[TokenId], e: usize) {
    for (drow, &tok) in dout.chunks_exact(e).zip(inp) {
        let t = tok as usize;
        for (dw, &d) in dwte[t * e..(t + 1) * e].iter_mut().zip(drow) {
            *dw += d;
        }
    }
}

// --- matmul (the head: y = x W^T + b) ---

/// out (N, OC) = inp (N, C) @ weight (OC, C)^T + bias (OC).
fn matmul_forward<F: Float>(out: &mut [F], inp: &[F], weight: &[F], bias: &[F], c: usize, oc: usize) {
    for (orow, x) in out.chunks_exact_mut(oc).zip(inp.chunks_exact(c)) {
        for o in 0..oc {
            orow[o] = bias[o] + dot(&weight[o * c..(o + 1) * c], x);
        }
    }
}

/// dinp (N, C) = dout @ weight; dweight (OC, C) += dout^T @ inp; dbias (OC) += sum_n dout.
fn matmul_backward<F: Float>(
    dinp: &mut [F],
    dweight: &mut [F],
    dbias: &mut [F],
    dout: &[F],
    inp: &[F],
    weight: &[F],
    c: usize,
    oc: usize,
) {
    dinp.fill(F::ZERO);
    for ((dx, drow), x) in dinp.chunks_exact_mut(c).zip(dout.chunks_exact(oc)).zip(inp.chunks_exact(c)) {
        for o in 0..oc {
            let d = drow[o];
            dbias[o] += d;
            let w = &weight[o * c..(o + 1) * c];
            let dw = &mut dweight[o * c..(o + 1) * c];
            for i in 0..c {
                dx[i] += w[i] * d;
                dw[i] += x[i] * d;
            }
        }
    }
}

// --- LSTM cell: one row, one time step ---
//
//   z = (x W_ih^T + b_ih) + (h_prev W_hh^T + b_hh)      z (4H), rows i | f | g | o
//   i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o)
//   c = f * c_prev + i * g
//   h = o * tanh(c)

/// h (H) =, c (H) =, gates (4H) = the activated i | f | g | o; from x (C),
/// h_prev (H), c_prev (H), w_ih (4H, C), w_hh (4H, H), b_ih (4H), b_hh (4H).
fn lstm_cell_forward<F: Float>(
    h: &mut [F],
    c: &mut [F],
    gates: &mut [F],
    x: &[F],
    h_prev: &[F],
    c_prev: &[F],
    w_ih: &[F],
    w_hh: &[F],
    b_ih: &[F],
    b_hh: &[F],
) {
    let (hd, cin) = (h.len(), x.len());
    for r in 0..4 * hd {
        let z = (b_ih[r] + dot(&w_ih[r * cin..(r + 1) * cin], x))
            + (b_hh[r] + dot(&w_hh[r * hd..(r + 1) * hd], h_prev));
        gates[r] = if r / hd == 2 { z.tanh() } else { sigmoid(z) };
    }
    for j in 0..hd {
        let (i, f, g, o) = (gates[j], gates[hd + j], gates[2 * hd + j], gates[3 * hd + j]);
        c[j] = f * c_prev[j] + i * g;
        h[j] = o * c[j].tanh();
    }
}

/// The forward cell reversed. Inputs: dh (H) and dc (H), the total gradients
/// reaching this step's h and c; the forward's x, h_prev, c_prev, c and gates;
/// the weights. Outputs: dx (C) +=, dh_prev (H) =, dc_prev (H) =, the weight
/// and bias gradients +=. dz (4H) is scratch (the pre-activation gradient).
fn lstm_cell_backward<F: Float>(
    dx: &mut [F],
    dh_prev: &mut [F],
    dc_prev: &mut [F],
    dw_ih: &mut [F],
    dw_hh: &mut [F],
    db_ih: &mut [F],
    db_hh: &mut [F],
    dz: &mut [F],
    dh: &[F],
    dc: &[F],
    x: &[F],
    h_prev: &[F],
    c_prev: &[F],
    c: &[F],
    gates: &[F],
    w_ih: &[F],
    w_hh: &[F],
) {
    let (hd, cin) = (dh.len(), x.len());
    let one = F::ONE;
    for j in 0..hd {
        let (i, f, g, o) = (gates[j], gates[hd + j], gates[2 * hd + j], gates[3 * hd + j]);
        let tc = c[j].tanh();
        // h = o * tanh(c): the gradient reaches o and, through tanh, c.
        let dcj = dc[j] + dh[j] * o * (one - tc * tc);
        dz[j] = dcj * g * i * (one - i); // c = f c_prev + i g
        dz[hd + j] = dcj * c_prev[j] * f * (one - f);
        dz[2 * hd + j] = dcj * i * (one - g * g);
        dz[3 * hd + j] = dh[j] * tc * o * (one - o);
        dc_prev[j] = dcj * f;
    }
    dh_prev.fill(F::ZERO);
    for r in 0..4 * hd {
        let d = dz[r];
        db_ih[r] += d;
        db_hh[r] += d;
        let (w, dw) = (&w_ih[r * cin..(r + 1) * cin], &mut dw_ih[r * cin..(r + 1) * cin]);
        for k in 0..cin {
            dx[k] += w[k] * d;
            dw[k] += x[k] * d;
        }
        let (w, dw) = (&w_hh[r * hd..(r + 1) * hd], &mut dw_hh[r * hd..(r + 1) * hd]);
        for k in 0..hd {
            dh_prev[k] += w[k] * d;
            dw[k] += h_prev[k] * d;
        }
    }
}

/// The weights of one recurrent layer: w_ih (G*H, C), w_hh (G*H, H), b_ih (G*H), b_hh (G*H).
struct LayerWeights<'a, F> {
    w_ih: &'a [F],
    w_hh: &'a [F],
    b_ih: &'a [F],
    b_hh: &'a [F],
}

/// Their gradients, in the same shapes.
struct LayerGrads<'a, F> {
    w_ih: &'a mut [F],
    w_hh: &'a mut [F],
    b_ih: &'a mut [F],
    b_hh: &'a mut [F],
}

/// out_h (B, T, H) =, out_c (B, T, H) =, gates (B, T, 4H) = from inp (B, T, C),
/// starting every row from h = c = 0.
fn lstm_forward<F: Float>(
    out_h: &mut [F],
    out_c: &mut [F],
    gates: &mut [F],
    inp: &[F],
    w: &LayerWeights<F>,
    b: usize,
    t: usize,
    c: usize,
    h: usize,
) {
    let zeros = vec![F::ZERO; h];
    for bi in 0..b {
        for ti in 0..t {
            let n = bi * t + ti;
            let (done_h, rest_h) = out_h.split_at_mut(n * h);
            let (done_c, rest_c) = out_c.split_at_mut(n * h);
            let (h_prev, c_prev) = if ti == 0 {
                (&zeros[..], &zeros[..])
            } else {
                (&done_h[(n - 1) * h..], &done_c[(n - 1) * h..])
            };
            lstm_cell_forward(
                &mut rest_h[..h],
                &mut rest_c[..h],
                &mut gates[n * 4 * h..(n + 1) * 4 * h],
                &inp[n * c..(n + 1) * c],
                h_prev,
                c_prev,
                w.w_ih,
                w.w_hh,
                w.b_ih,
                w.b_hh,
            );
        }
    }
}

/// dinp (B, T, C) = and the layer's gradients += from dout (B, T, H), the
/// gradient reaching this layer's outputs from above; walks each row's time
/// steps backwards, carrying dh and dc to the previous step.
fn lstm_backward<F: Float>(
    dinp: &mut [F],
    dw: &mut LayerGrads<F>,
    dout: &[F],
    inp: &[F],
    out_h: &[F],
    out_c: &[F],
    gates: &[F],
    w: &LayerWeights<F>,
    b: usize,
    t: usize,
    c: usize,
    h: usize,
) {
    dinp.fill(F::ZERO);
    let zeros = vec![F::ZERO; h];
    let (mut dh, mut dz) = (vec![F::ZERO; h], vec![F::ZERO; 4 * h]);
    let (mut dh_next, mut dc_next) = (vec![F::ZERO; h], vec![F::ZERO; h]);
    let (mut dh_prev, mut dc_prev) = (vec![F::ZERO; h], vec![F::ZERO; h]);
    for bi in 0..b {
        dh_next.fill(F::ZERO);
        dc_next.fill(F::ZERO);
        for ti in (0..t).rev() {
            let n = bi * t + ti;
            for j in 0..h {
                dh[j] = dout[n * h + j] + dh_next[j];
            }
            let (h_prev, c_prev) = if ti == 0 {
                (&zeros[..], &zeros[..])
            } else {
                (&out_h[(n - 1) * h..n * h], &out_c[(n - 1) * h..n * h])
            };
            lstm_cell_backward(
                &mut dinp[n * c..(n + 1) * c],
                &mut dh_prev,
                &mut dc_prev,
                dw.w_ih,
                dw.w_hh,
                dw.b_ih,
                dw.b_hh,
                &mut dz,
                &dh,
                &dc_next,
                &inp[n * c..(n + 1) * c],
                h_prev,
                c_prev,
                &out_c[n * h..(n + 1) * h],
                &gates[n * 4 * h..(n + 1) * 4 * h],
                w.w_ih,
                w.w_hh,
            );
            std::mem::swap(&mut dh_next, &mut dh_prev);
            std::mem::swap(&mut dc_next, &mut dc_prev);
        }
    }
}

// --- RNN cell: one row, one time step ---
//
//   h = tanh((x W_ih^T + b_ih) + (h_prev W_hh^T + b_hh))

/// h (H) = from x (C), h_prev (H), w_ih (H, C), w_hh (H, H), b_ih (H), b_hh (H).
fn rnn_cell_forward<F: Float>(h: &mut [F], x: &[F], h_prev: &[F], w: &LayerWeights<F>) {
    let (hd, cin) = (h.len(), x.len());
    for r in 0..hd {
        let z = (w.b_ih[r] + dot(&w.w_ih[r * cin..(r + 1) * cin], x))
            + (w.b_hh[r] + dot(&w.w_hh[r * hd..(r + 1) * hd], h_prev));
        h[r] = z.tanh();
    }
}

/// The forward cell reversed: dx (C) +=, dh_prev (H) =, gradients +=, from dh
/// (H) (total gradient reaching h), x, h_prev and this step's h. dz (H) is scratch.
fn rnn_cell_backward<F: Float>(
    dx: &mut [F],
    dh_prev: &mut [F],
    dw: &mut LayerGrads<F>,
    dz: &mut [F],
    dh: &[F],
    x: &[F],
    h_prev: &[F],
    h: &[F],
    w: &LayerWeights<F>,
) {
    let (hd, cin) = (dh.len(), x.len());
    for j in 0..hd {
        dz[j] = dh[j] * (F::ONE - h[j] * h[j]);
    }
    dh_prev.fill(F::ZERO);
    for r in 0..hd {
        let d = dz[r];
        dw.b_ih[r] += d;
        dw.b_hh[r] += d;
        for k in 0..cin {
            dx[k] += w.w_ih[r * cin + k] * d;
            dw.w_ih[r * cin + k] += x[k] * d;
        }
        for k in 0..hd {
            dh_prev[k] += w.w_hh[r * hd + k] * d;
            dw.w_hh[r * hd + k] += h_prev[k] * d;
        }
    }
}

/// out_h (B, T, H) = from inp (B, T, C), starting every row from h = 0.
fn rnn_forward<F: Float>(
    out_h: &mut [F],
    inp: &[F],
    w: &LayerWeights<F>,
    b: usize,
    t: usize,
    c: usize,
    h: usize,
) {
    let zeros = vec![F::ZERO; h];
    for bi in 0..b {
        for ti in 0..t {
            let n = bi * t + ti;
            let (done, rest) = out_h.split_at_mut(n * h);
            let h_prev = if ti == 0 { &zeros[..] } else { &done[(n - 1) * h..] };
            rnn_cell_forward(&mut rest[..h], &inp[n * c..(n + 1) * c], h_prev, w);
        }
    }
}

/// dinp (B, T, C) = and the layer's gradients += from dout (B, T, H).
fn rnn_backward<F: Float>(
    dinp: &mut [F],
    dw: &mut LayerGrads<F>,
    dout: &[F],
    inp: &[F],
    out_h: &[F],
    w: &LayerWeights<F>,
    b: usize,
    t: usize,
    c: usize,
    h: usize,
) {
    dinp.fill(F::ZERO);
    let zeros = vec![F::ZERO; h];
    let (mut dh, mut dz) = (vec![F::ZERO; h], vec![F::ZERO; h]);
    let (mut dh_next, mut dh_prev) = (vec![F::ZERO; h], vec![F::ZERO; h]);
    for bi in 0..b {
        dh_next.fill(F::ZERO);
        for ti in (0..t).rev() {
            let n = bi * t + ti;
            for j in 0..h {
                dh[j] = dout[n * h + j] + dh_next[j];
            }
            let h_prev = if ti == 0 { &zeros[..] } else { &out_h[(n - 1) * h..n * h] };
            rnn_cell_backward(
                &mut dinp[n * c..(n + 1) * c],
                &mut dh_prev,
                dw,
                &mut dz,
                &dh,
                &inp[n * c..(n + 1) * c],
                h_prev,
                &out_h[n * h..(n + 1) * h],
                w,
            );
            std::mem::swap(&mut dh_next, &mut dh_prev);
        }
    }
}

// --- softmax cross-entropy ---

/// losses (N) = -log softmax(logits)[target], probs (N, V) = softmax(logits),
/// from logits (N, V) and targets (N). Stable: subtracts each row's maximum.
fn crossentropy_softmax_forward<F: Float>(
    losses: &mut [F],
    probs: &mut [F],
    logits: &[F],
    targets: &[TokenId],
    v: usize,
) {
    for (((loss, p), l), &y) in
        losses.iter_mut().zip(probs.chunks_exact_mut(v)).zip(logits.chunks_exact(v)).zip(targets)
    {
        let mut max = l[0];
        for &x in &l[1..] {
            if x > max {
                max = x;
            }
        }
        let mut sum = F::ZERO;
        for (pi, &x) in p.iter_mut().zip(l) {
            *pi = (x - max).exp();
            sum += *pi;
        }
        for pi in p.iter_mut() {
            *pi = *pi / sum;
        }
        *loss = (max + sum.ln()) - l[y as usize];
    }
}

/// dlogits (N, V) = dloss * (probs - onehot(targets)): the fused backward of
/// softmax and cross-entropy; dloss is the gradient of the total loss with
/// respect to each position's loss (1 / (B*T) for the mean).
fn crossentropy_softmax_backward<F: Float>(
    dlogits: &mut [F],
    probs: &[F],
    targets: &[TokenId],
    dloss: F,
    v: usize,
) {
    for ((d, p), &y) in dlogits.chunks_exact_mut(v).zip(probs.chunks_exact(v)).zip(targets) {
        for (di, &pi) in d.iter_mut().zip(p) {
            *di = pi * dloss;
        }
        d[y as usize] -= dloss;
    }
}

// ----------------------------------------------------------------------------
// The model

/// One recurrent layer's saved forward values.
#[derive(Clone, Debug)]
pub struct LayerActivations<F> {
    /// (B, T, H): the layer's outputs h_t.
    pub h: Vec<F>,
    /// (B, T, H): the cell states c_t (LSTM; empty for the RNN).
    pub c: Vec<F>,
    /// (B, T, 4H): the activated gates i | f | g | o (LSTM; empty for the RNN,
    /// whose only activation is h).
    pub gates: Vec<F>,
}

/// Everything the forward pass computes and the backward pass reads.
#[derive(Clone, Debug)]
pub struct Activations<F> {
    batch: usize,
    seq: usize,
    hidden: usize,
    /// (B, T, E): the embedded inputs.
    pub embedded: Vec<F>,
    /// L layers, bottom first.
    pub layers: Vec<LayerActivations<F>>,
    /// (B, T, V): the head's outputs.
    pub logits: Vec<F>,
    /// (B, T, V): softmax of the logits.
    pub probs: Vec<F>,
    /// (B, T): cross-entropy of each position (zero after `forward` without targets).
    pub losses: Vec<F>,
}

impl<F: Float> Activations<F> {
    /// (B, T, H): the top layer's outputs (PyTorch's `lstm_out`).
    pub fn output(&self) -> &[F] {
        self.layers.last().map_or(&[][..], |l| &l.h[..])
    }

    /// (L, B, H): every layer's last hidden state (PyTorch's `h_n`).
    pub fn h_n(&self) -> Vec<F> {
        self.last_step(|l| &l.h)
    }

    /// (L, B, H): every layer's last cell state (PyTorch's `c_n`); `None` for the RNN.
    pub fn c_n(&self) -> Option<Vec<F>> {
        if self.layers.first().is_some_and(|l| l.c.is_empty()) {
            return None;
        }
        Some(self.last_step(|l| &l.c))
    }

    fn last_step(&self, of: impl Fn(&LayerActivations<F>) -> &Vec<F>) -> Vec<F> {
        let (t, h) = (self.seq, self.hidden);
        let mut out = Vec::with_capacity(self.layers.len() * self.batch * h);
        for layer in &self.layers {
            for b in 0..self.batch {
                let n = b * t + t - 1;
                out.extend_from_slice(&of(layer)[n * h..(n + 1) * h]);
            }
        }
        out
    }
}

/// The reference model for one batch shape (B, T): owns the activation
/// buffers, borrows parameters and gradients in the flat layout.
///
/// Lifecycle, as in llm.c: [`forward`](Reference::forward) (with targets, so
/// the loss is known), then [`backward`](Reference::backward) into a gradient
/// buffer; [`forward_backward`](Reference::forward_backward) does both into a
/// zeroed buffer, the same contract as the fast path's `Workspace`.
#[derive(Clone, Debug)]
pub struct Reference<F> {
    layout: ParamLayout,
    batch: usize,
    seq: usize,
    acts: Activations<F>,
    /// Whether `acts` holds a forward pass with targets (so backward may run).
    have_loss: bool,
}

impl<F: Float> Reference<F> {
    /// A reference model for batches of `batch` rows of `seq` tokens.
    pub fn new(layout: &ParamLayout, batch: usize, seq: usize) -> Result<Self> {
        let cfg = layout.config();
        cfg.validate().map_err(Error::Config)?;
        if batch == 0 || seq == 0 {
            return Err(Error::Config(format!("batch ({batch}) and seq ({seq}) must be positive")));
        }
        let (n, v, e, h, g) = (batch * seq, cfg.vocab, cfg.embed, cfg.hidden, cfg.gates());
        let lstm = cfg.cell == Cell::Lstm;
        let layers = (0..cfg.layers)
            .map(|_| LayerActivations {
                h: vec![F::ZERO; n * h],
                c: if lstm { vec![F::ZERO; n * h] } else { Vec::new() },
                gates: if lstm { vec![F::ZERO; n * g * h] } else { Vec::new() },
            })
            .collect();
        let acts = Activations {
            batch,
            seq,
            hidden: h,
            embedded: vec![F::ZERO; n * e],
            layers,
            logits: vec![F::ZERO; n * v],
            probs: vec![F::ZERO; n * v],
            losses: vec![F::ZERO; n],
        };
        Ok(Reference { layout: layout.clone(), batch, seq, acts, have_loss: false })
    }

    /// The layout parameters and gradients follow.
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// (B, T).
    pub fn shape(&self) -> (usize, usize) {
        (self.batch, self.seq)
    }

    /// The last forward pass's activations.
    pub fn activations(&self) -> &Activations<F> {
        &self.acts
    }

    fn check_tokens(&self, what: &'static str, tokens: &[TokenId]) -> Result<()> {
        let n = self.batch * self.seq;
        if tokens.len() != n {
            return Err(Error::Length { what, expected: n, found: tokens.len() });
        }
        let vocab = self.layout.config().vocab;
        match tokens.iter().position(|&t| t as usize >= vocab) {
            Some(position) => Err(Error::TokenOutOfRange { what, token: tokens[position], position, vocab }),
            None => Ok(()),
        }
    }

    fn check_params(&self, what: &'static str, buf: &[F]) -> Result<()> {
        if buf.len() != self.layout.len() {
            return Err(Error::Length { what, expected: self.layout.len(), found: buf.len() });
        }
        Ok(())
    }

    /// Runs the model on `inputs` (B, T); with `targets` (B, T) also the
    /// cross-entropy, and returns the mean loss over the B x T positions
    /// (zero without targets; the logits are in [`activations`](Self::activations)).
    pub fn forward(&mut self, params: &[F], inputs: &[TokenId], targets: Option<&[TokenId]>) -> Result<F> {
        self.check_params("parameter buffer", params)?;
        self.check_tokens("inputs", inputs)?;
        if let Some(y) = targets {
            self.check_tokens("targets", y)?;
        }
        let cfg = *self.layout.config();
        let (b, t, v, e, h) = (self.batch, self.seq, cfg.vocab, cfg.embed, cfg.hidden);
        let acts = &mut self.acts;

        let wte = &params[self.layout.embedding()..][..v * e];
        encoder_forward(&mut acts.embedded, inputs, wte, e);

        for k in 0..cfg.layers {
            let c = cfg.layer_input(k);
            let w = layer_weights(&self.layout, params, k);
            let (below, here) = acts.layers.split_at_mut(k);
            let inp = if k == 0 { &acts.embedded[..] } else { &below[k - 1].h[..] };
            let out = &mut here[0];
            match cfg.cell {
                Cell::Lstm => lstm_forward(&mut out.h, &mut out.c, &mut out.gates, inp, &w, b, t, c, h),
                Cell::Rnn => rnn_forward(&mut out.h, inp, &w, b, t, c, h),
            }
        }

        let top = acts.layers.last().map_or(&acts.embedded[..], |l| &l.h[..]);
        let head_w = &params[self.layout.head_weight()..][..v * h];
        let head_b = &params[self.layout.head_bias()..][..v];
        matmul_forward(&mut acts.logits, top, head_w, head_b, h, v);

        let Some(targets) = targets else {
            acts.losses.fill(F::ZERO);
            self.have_loss = false;
            return Ok(F::ZERO);
        };
        crossentropy_softmax_forward(&mut acts.losses, &mut acts.probs, &acts.logits, targets, v);
        self.have_loss = true;
        let mut sum = F::ZERO;
        for &l in &acts.losses {
            sum += l;
        }
        Ok(sum / F::from_f64((b * t) as f64))
    }

    /// Accumulates (`+=`) the gradient of the mean loss of the last
    /// [`forward`](Self::forward) into `grads` (flat layout). `params`,
    /// `inputs` and `targets` must be the ones that forward saw.
    pub fn backward(
        &mut self,
        params: &[F],
        grads: &mut [F],
        inputs: &[TokenId],
        targets: &[TokenId],
    ) -> Result<()> {
        self.check_params("parameter buffer", params)?;
        self.check_params("gradient buffer", grads)?;
        self.check_tokens("inputs", inputs)?;
        self.check_tokens("targets", targets)?;
        if !self.have_loss {
            return Err(Error::Config("backward needs a forward pass with targets first".into()));
        }
        let cfg = *self.layout.config();
        let (b, t, v, e, h) = (self.batch, self.seq, cfg.vocab, cfg.embed, cfg.hidden);
        let n = b * t;
        let acts = &self.acts;

        // Kick off the chain rule: every position's loss enters the mean with weight 1/(B*T).
        let mut dlogits = vec![F::ZERO; n * v];
        let dloss = F::ONE / F::from_f64(n as f64);
        crossentropy_softmax_backward(&mut dlogits, &acts.probs, targets, dloss, v);

        // The head. Tied, its weight gradient lands in embedding.weight's rows.
        let top = acts.layers.last().map_or(&acts.embedded[..], |l| &l.h[..]);
        let mut dout = vec![F::ZERO; n * h];
        {
            let (w_off, b_off) = (self.layout.head_weight(), self.layout.head_bias());
            let [dw, db] = grads
                .get_disjoint_mut([w_off..w_off + v * h, b_off..b_off + v])
                .expect("layout: the head's weight and bias are disjoint");
            let head_w = &params[w_off..][..v * h];
            matmul_backward(&mut dout, dw, db, &dlogits, top, head_w, h, v);
        }

        // The recurrent layers, top to bottom; each turns the gradient at its
        // outputs (dout) into the gradient at its inputs (dinp).
        for k in (0..cfg.layers).rev() {
            let c = cfg.layer_input(k);
            let mut dinp = vec![F::ZERO; n * c];
            let w = layer_weights(&self.layout, params, k);
            let mut dw = layer_grads(&self.layout, grads, k);
            let inp = if k == 0 { &acts.embedded[..] } else { &acts.layers[k - 1].h[..] };
            let a = &acts.layers[k];
            match cfg.cell {
                Cell::Lstm => {
                    lstm_backward(&mut dinp, &mut dw, &dout, inp, &a.h, &a.c, &a.gates, &w, b, t, c, h)
                }
                Cell::Rnn => rnn_backward(&mut dinp, &mut dw, &dout, inp, &a.h, &w, b, t, c, h),
            }
            dout = dinp;
        }

        // The embedding.
        let off = self.layout.embedding();
        encoder_backward(&mut grads[off..off + v * e], &dout, inputs, e);
        Ok(())
    }

    /// Zeroes `grads`, runs forward and backward, returns the mean loss.
    pub fn forward_backward(
        &mut self,
        params: &[F],
        grads: &mut [F],
        inputs: &[TokenId],
        targets: &[TokenId],
    ) -> Result<F> {
        grads.fill(F::ZERO);
        let loss = self.forward(params, inputs, Some(targets))?;
        self.backward(params, grads, inputs, targets)?;
        Ok(loss)
    }

    /// The mean loss only (evaluation).
    pub fn forward_loss(&mut self, params: &[F], inputs: &[TokenId], targets: &[TokenId]) -> Result<F> {
        self.forward(params, inputs, Some(targets))
    }
}

fn layer_weights<'a, F>(layout: &ParamLayout, params: &'a [F], k: usize) -> LayerWeights<'a, F> {
    let cfg = layout.config();
    let (gh, c, h) = (cfg.gates() * cfg.hidden, cfg.layer_input(k), cfg.hidden);
    let o = layout.layer(k);
    LayerWeights {
        w_ih: &params[o.w_ih..][..gh * c],
        w_hh: &params[o.w_hh..][..gh * h],
        b_ih: &params[o.b_ih..][..gh],
        b_hh: &params[o.b_hh..][..gh],
    }
}

fn layer_grads<'a, F>(layout: &ParamLayout, grads: &'a mut [F], k: usize) -> LayerGrads<'a, F> {
    let cfg = layout.config();
    let (gh, c, h) = (cfg.gates() * cfg.hidden, cfg.layer_input(k), cfg.hidden);
    let o = layout.layer(k);
    let [w_ih, w_hh, b_ih, b_hh] = grads
        .get_disjoint_mut([
            o.w_ih..o.w_ih + gh * c,
            o.w_hh..o.w_hh + gh * h,
            o.b_ih..o.b_ih + gh,
            o.b_hh..o.b_hh + gh,
        ])
        .expect("layout: a layer's tensors are disjoint");
    LayerGrads { w_ih, w_hh, b_ih, b_hh }
}

// ----------------------------------------------------------------------------
// One token at a time (sampling)

/// The reference model as a [`Stepper`]: batch 1, one token per call, the
/// recurrent state kept between calls. It runs the very cell functions the
/// training forward runs, so its logits equal the forward's at every position.
#[derive(Clone, Debug)]
pub struct ReferenceStepper {
    layout: ParamLayout,
    params: Vec<f32>,
    /// (L, H) each.
    h: Vec<Vec<f32>>,
    c: Vec<Vec<f32>>,
    /// Scratch: the embedded token (E), a layer's new h and c (H), the gates (G*H).
    x: Vec<f32>,
    h_new: Vec<f32>,
    c_new: Vec<f32>,
    gates: Vec<f32>,
    /// (V)
    logits: Vec<f32>,
}

impl ReferenceStepper {
    /// A stepper over `params` (flat layout), starting from the zero state.
    pub fn new(layout: &ParamLayout, params: &[f32]) -> Result<Self> {
        layout.config().validate().map_err(Error::Config)?;
        if params.len() != layout.len() {
            return Err(Error::Length {
                what: "parameter buffer",
                expected: layout.len(),
                found: params.len(),
            });
        }
        let cfg = layout.config();
        let (l, h) = (cfg.layers, cfg.hidden);
        Ok(ReferenceStepper {
            layout: layout.clone(),
            params: params.to_vec(),
            h: vec![vec![0.0; h]; l],
            c: vec![vec![0.0; h]; l],
            x: vec![0.0; cfg.embed.max(h)],
            h_new: vec![0.0; h],
            c_new: vec![0.0; h],
            gates: vec![0.0; cfg.gates() * h],
            logits: vec![0.0; cfg.vocab],
        })
    }
}

impl Stepper for ReferenceStepper {
    fn vocab(&self) -> usize {
        self.layout.config().vocab
    }

    fn reset(&mut self) {
        self.h.iter_mut().chain(self.c.iter_mut()).for_each(|s| s.fill(0.0));
    }

    fn step(&mut self, token: TokenId) -> &[f32] {
        let cfg = *self.layout.config();
        let (v, e, h) = (cfg.vocab, cfg.embed, cfg.hidden);
        let p = &self.params[..];
        encoder_forward(&mut self.x[..e], &[token], &p[self.layout.embedding()..][..v * e], e);
        for k in 0..cfg.layers {
            let c = cfg.layer_input(k);
            let w = layer_weights(&self.layout, p, k);
            match cfg.cell {
                Cell::Lstm => lstm_cell_forward(
                    &mut self.h_new,
                    &mut self.c_new,
                    &mut self.gates,
                    &self.x[..c],
                    &self.h[k],
                    &self.c[k],
                    w.w_ih,
                    w.w_hh,
                    w.b_ih,
                    w.b_hh,
                ),
                Cell::Rnn => rnn_cell_forward(&mut self.h_new, &self.x[..c], &self.h[k], &w),
            }
            self.h[k].copy_from_slice(&self.h_new);
            self.c[k].copy_from_slice(&self.c_new);
            self.x[..h].copy_from_slice(&self.h_new);
        }
        let head_w = &p[self.layout.head_weight()..][..v * h];
        let head_b = &p[self.layout.head_bias()..][..v];
        matmul_forward(&mut self.logits, &self.x[..h], head_w, head_b, h, v);
        &self.logits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    fn layout(cell: Cell, tie: bool) -> ParamLayout {
        let embed = if tie { 6 } else { 4 };
        ParamLayout::new(&ModelConfig { cell, vocab: 9, embed, hidden: 6, layers: 2, tie })
    }

    #[test]
    fn the_stepper_reproduces_the_training_forward() {
        for (cell, tie) in [(Cell::Lstm, false), (Cell::Lstm, true), (Cell::Rnn, false)] {
            let layout = layout(cell, tie);
            let params = layout.init(5);
            let tokens: Vec<TokenId> = vec![3, 1, 4, 1, 5, 0, 2, 6, 8, 7];
            let mut model = Reference::<f32>::new(&layout, 1, tokens.len()).unwrap();
            model.forward(&params, &tokens, None).unwrap();
            let mut stepper = ReferenceStepper::new(&layout, &params).unwrap();
            for round in 0..2 {
                stepper.reset();
                for (t, &tok) in tokens.iter().enumerate() {
                    let logits = stepper.step(tok);
                    assert_eq!(
                        logits,
                        &model.activations().logits[t * 9..(t + 1) * 9],
                        "{cell:?} round {round} t {t}"
                    );
                }
            }
        }
    }

    #[test]
    fn rows_are_independent_and_start_from_zero() {
        let layout = layout(Cell::Lstm, false);
        let params = layout.init(1);
        let (a, b): (Vec<TokenId>, Vec<TokenId>) = (vec![1, 2, 3], vec![8, 0, 5]);
        let both: Vec<TokenId> = a.iter().chain(&b).copied().collect();
        let mut m2 = Reference::<f64>::new(&layout, 2, 3).unwrap();
        let mut m1 = Reference::<f64>::new(&layout, 1, 3).unwrap();
        let p: Vec<f64> = params.iter().map(|&x| x as f64).collect();
        m2.forward(&p, &both, None).unwrap();
        m1.forward(&p, &b, None).unwrap();
        assert_eq!(&m2.activations().logits[27..], &m1.activations().logits[..]);
    }

    #[test]
    fn bad_buffers_and_tokens_are_errors() {
        let layout = layout(Cell::Rnn, false);
        let params = layout.init(1);
        let mut m = Reference::<f32>::new(&layout, 1, 2).unwrap();
        assert!(matches!(m.forward(&params[1..], &[0, 1], None), Err(Error::Length { .. })));
        assert!(matches!(m.forward(&params, &[0, 1, 2], None), Err(Error::Length { what: "inputs", .. })));
        assert!(matches!(
            m.forward(&params, &[0, 1], Some(&[9, 0])),
            Err(Error::TokenOutOfRange { what: "targets", token: 9, position: 0, vocab: 9 })
        ));
        let mut g = layout.zeros();
        assert!(
            m.backward(&params, &mut g, &[0, 1], &[1, 2]).is_err(),
            "backward before a forward with targets"
        );
        assert!(Reference::<f32>::new(&layout, 0, 2).is_err());
        let bad = ModelConfig { cell: Cell::Lstm, vocab: 9, embed: 4, hidden: 6, layers: 1, tie: true };
        assert!(matches!(Reference::<f32>::new(&ParamLayout::new(&bad), 1, 1), Err(Error::Config(_))));
    }

    #[test]
    fn the_loss_of_uniform_logits_is_ln_v() {
        // Zero parameters: every logit is 0, so every position costs ln V.
        let layout = layout(Cell::Lstm, true);
        let params = vec![0.0f64; layout.len()];
        let mut m = Reference::<f64>::new(&layout, 2, 3).unwrap();
        let loss = m.forward_loss(&params, &[0, 1, 2, 3, 4, 5], &[6, 7, 8, 0, 1, 2]).unwrap();
        assert!((loss - 9f64.ln()).abs() < 1e-15);
    }
}
