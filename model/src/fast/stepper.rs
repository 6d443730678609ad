//! Batch-1 generation: one token in, the next token's logits out, the
//! recurrent state kept between calls.
//!
//! Per token and layer the work is two GEMVs against pre-packed panels
//! (`x W_ih^T` and `h W_hh^T`, gate columns permuted as in the training
//! path) and the fused cell kernel; then one GEMV for the head. The weights
//! are packed once in [`Stepper::new`].
//!
//! At batch 1 every token reads every weight once, so the speed is the
//! bandwidth of wherever the weights live (at H = 512, L = 2: 16 MiB per
//! token, from L3). Layer 0's input is an embedding row, so `x W_ih^T` takes
//! one of V values: [`Stepper::new`] computes them all once (the input
//! table, `E W_ih^T`, one GEMM) when the table is at most
//! [`INPUT_TABLE_BYTES`], and a token then reads one row of GH floats
//! instead of the GH x E weight: a quarter less traffic at E = H, L = 2.
//! On a 2-core Intel Xeon (AVX-512, 2 MiB L2 per core), H = 512, L = 2,
//! `lm bench --sample-tokens 2000`, medians of 4 interleaved runs, tokens/s
//! before -> after: V = 65 one core AVX2 1,394 -> 1,701, two cores AVX-512
//! 2,378 -> 2,997; V = 8,000 one core AVX-512 679 -> 780 (its head GEMV
//! reads another 16 MiB per token). The sampling policy (temperature,
//! top-k, the random draw) belongs to the caller: [`Stepper::step`] returns
//! raw logits.

use rayon::prelude::*;

use crate::config::Cell;
use crate::kernels::gemm::{IndexMap, SendPtr, gemm_prepacked};
use crate::kernels::{AlignedBuf, Kernels, PackedB, UNIT_BLOCK};
use crate::params::ParamLayout;

/// Units per parallel task (as in training: a multiple of every ISA's
/// panel width divided by G).
const TASK: usize = 2 * UNIT_BLOCK;

/// The largest layer-0 input table (V x GH floats) [`Stepper::new`] builds:
/// V = 8,000 at H = 512 (62.5 MiB) fits, a 50k vocabulary at H = 1,024 does not
/// and reads W_ih per token instead.
pub const INPUT_TABLE_BYTES: usize = 64 << 20;

#[derive(Debug)]
struct StepLayer {
    w_ih_t: PackedB,
    w_hh_t: PackedB,
    bias: AlignedBuf,
    c: AlignedBuf,
    /// Two slots of H: the state read this step and the one written.
    h: AlignedBuf,
}

/// The state and packed weights of a model run one token at a time.
#[derive(Debug)]
pub struct Stepper {
    kern: &'static Kernels,
    layout: ParamLayout,
    layers: Vec<StepLayer>,
    /// The embedding `[V, E]`, layer 0's input; empty with the input table,
    /// which replaces it.
    emb: AlignedBuf,
    /// `E W_ih^T` of layer 0 (V rows of GH, gate columns permuted), or
    /// empty when larger than [`INPUT_TABLE_BYTES`] (then layer 0 keeps its
    /// `w_ih_t`; with the table it is left empty).
    input_table: AlignedBuf,
    head_wt: PackedB,
    head_b: AlignedBuf,
    gates: AlignedBuf,
    tc: AlignedBuf,
    logits: AlignedBuf,
    /// Which slot of every layer's h holds the current state.
    parity: usize,
    /// Rayon tasks per GEMV phase (1: the calling thread alone).
    threads: usize,
}

impl Stepper {
    /// Packs `params` (laid out by `layout`) with the detected kernels; the
    /// state starts at zero.
    ///
    /// # Panics
    /// If `params.len()` differs from the layout's.
    pub fn new(layout: &ParamLayout, params: &[f32]) -> Stepper {
        Stepper::with_kernels(layout, params, Kernels::detect())
    }

    /// The same with a given kernel table.
    pub fn with_kernels(layout: &ParamLayout, params: &[f32], kern: &'static Kernels) -> Stepper {
        assert_eq!(params.len(), layout.len(), "Stepper: params length does not match the layout");
        let cfg = *layout.config();
        let (h, g, v, e) = (cfg.hidden, cfg.gates(), cfg.vocab, cfg.embed);
        let gh = g * h;
        let gmap = IndexMap::GateRow { g, h };
        let id = IndexMap::Identity;
        let mut layers: Vec<StepLayer> = (0..cfg.layers)
            .map(|k| {
                let off = layout.layer(k);
                let inp = cfg.layer_input(k);
                let mut l = StepLayer {
                    w_ih_t: PackedB::new(),
                    w_hh_t: PackedB::new(),
                    bias: AlignedBuf::zeros(gh),
                    c: AlignedBuf::zeros(h),
                    h: AlignedBuf::zeros(2 * h),
                };
                // SAFETY: W_ih [GH, in] and W_hh [GH, H] lie inside params
                // (the layout's length was checked).
                unsafe {
                    l.w_ih_t.pack_raw(kern, inp, gh, params.as_ptr().add(off.w_ih), 1, inp, id, gmap);
                    l.w_hh_t.pack_raw(kern, h, gh, params.as_ptr().add(off.w_hh), 1, h, id, gmap);
                }
                for (j, x) in l.bias.as_mut_slice().iter_mut().enumerate() {
                    let r = gmap.get(j);
                    *x = params[off.b_ih + r] + params[off.b_hh + r];
                }
                l
            })
            .collect();
        let emb_params = &params[layout.embedding()..layout.embedding() + v * e];
        let mut emb = AlignedBuf::zeros(0);
        let mut input_table = AlignedBuf::zeros(0);
        if v * gh * std::mem::size_of::<f32>() <= INPUT_TABLE_BYTES {
            input_table = AlignedBuf::zeros(v * gh);
            let l0 = &mut layers[0];
            gemm_prepacked(kern, v, emb_params, e, 1, &l0.w_ih_t, input_table.as_mut_slice(), gh, false);
            l0.w_ih_t = PackedB::new();
        } else {
            emb = AlignedBuf::zeros(v * e);
            emb.as_mut_slice().copy_from_slice(emb_params);
        }
        let mut head_wt = PackedB::new();
        // SAFETY: the head weight [V, H] lies inside params.
        unsafe { head_wt.pack_raw(kern, h, v, params.as_ptr().add(layout.head_weight()), 1, h, id, id) };
        let mut head_b = AlignedBuf::zeros(v);
        head_b.as_mut_slice().copy_from_slice(&params[layout.head_bias()..layout.head_bias() + v]);
        Stepper {
            kern,
            layout: layout.clone(),
            layers,
            emb,
            input_table,
            head_wt,
            head_b,
            gates: AlignedBuf::zeros(gh),
            tc: AlignedBuf::zeros(h),
            logits: AlignedBuf::zeros(v),
            parity: 0,
            threads: if h >= 256 { rayon::current_num_threads() } else { 1 },
        }
    }

    /// Splits each layer's GEMVs and cell, and the head, over `threads`
    /// rayon tasks. Default: the pool's size when H >= 256, else 1 (below
    /// that the per-token work, a few tens of microseconds, is not worth
    /// waking the pool three times per token). Measured on 2 Zen 4 cores,
    /// H=512, L=2, V=65: about 3,800 tokens/s on one thread, 4,400-4,800 on
    /// two.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Vocabulary size (length of the logits).
    pub fn vocab(&self) -> usize {
        self.layout.config().vocab
    }

    /// Back to the zero state.
    pub fn reset(&mut self) {
        for l in &mut self.layers {
            l.c.as_mut_slice().fill(0.0);
            l.h.as_mut_slice().fill(0.0);
        }
    }

    /// Feeds `token` and returns the logits of the next token (head bias
    /// included).
    ///
    /// # Panics
    /// If `token >= V`.
    pub fn step(&mut self, token: u32) -> &[f32] {
        let cfg = *self.layout.config();
        let (h, g, v, e) = (cfg.hidden, cfg.gates(), cfg.vocab, cfg.embed);
        assert!((token as usize) < v, "Stepper::step: token {token} out of range for vocab {v}");
        let kern = self.kern;
        let t = token as usize;
        let (cur, prev) = (self.parity, 1 - self.parity);
        self.parity = prev;
        // Tasks of TASK units; with several threads, contiguous groups of
        // tasks run in parallel (each reads all of h_prev and writes only its
        // own gates, c and h_new, so no two tasks touch the same floats).
        let ntasks = h.div_ceil(TASK);
        let threads = self.threads.min(ntasks);
        for k in 0..cfg.layers {
            let (below, rest) = self.layers.split_at_mut(k);
            let l = &mut rest[0];
            let x = SendPtr(if k == 0 {
                self.emb.as_ptr().wrapping_add(t * e) as *mut f32
            } else {
                below[k - 1].h.as_ptr().wrapping_add(prev * h) as *mut f32
            });
            let gp = SendPtr(self.gates.as_mut_ptr());
            let hp = SendPtr(l.h.as_mut_ptr());
            let cp = SendPtr(l.c.as_mut_ptr());
            let tcp = SendPtr(self.tc.as_mut_ptr());
            let bias = SendPtr(l.bias.as_mut_ptr());
            let (w_ih_t, w_hh_t) = (&l.w_ih_t, &l.w_hh_t);
            // Layer 0 with the input table: the token's row of it.
            let row = SendPtr(if k == 0 && !self.input_table.is_empty() {
                self.input_table.as_ptr().wrapping_add(t * g * h) as *mut f32
            } else {
                std::ptr::null_mut()
            });
            let cell = cfg.cell;
            let run = |task0: usize, task1: usize| {
                let (u0, u1) = (task0 * TASK, (task1 * TASK).min(h));
                let nr = kern.nr;
                let (p0, p1) = (g * u0 / nr, (g * u1).div_ceil(nr));
                // SAFETY: x holds `in` floats, h_prev H (the packings' K);
                // this range alone writes gate columns g*u0..g*u1 (whole
                // panels: g*u0 is a multiple of nr) and units u0..u1 of c,
                // tanh c and h_new. The table row holds GH floats.
                unsafe {
                    if row.get().is_null() {
                        gemv_range(kern, x.get(), w_ih_t, p0, p1, gp.get(), false);
                    } else {
                        let (c0, c1) = (g * u0, g * u1);
                        std::ptr::copy_nonoverlapping(row.get().add(c0), gp.get().add(c0), c1 - c0);
                    }
                    gemv_range(kern, hp.get().add(cur * h), w_hh_t, p0, p1, gp.get(), true);
                    let mut u = u0;
                    while u < u1 {
                        let w = UNIT_BLOCK.min(h - u);
                        let col = g * u;
                        match cell {
                            Cell::Lstm => (kern.lstm_fwd_rows)(
                                1,
                                w,
                                gp.get().add(col),
                                4 * w,
                                bias.get().add(col),
                                cp.get().add(u),
                                cp.get().add(u),
                                tcp.get().add(u),
                                hp.get().add(prev * h + u),
                                w,
                            ),
                            Cell::Rnn => (kern.rnn_fwd_rows)(
                                1,
                                w,
                                gp.get().add(col),
                                w,
                                bias.get().add(col),
                                hp.get().add(prev * h + u),
                                w,
                            ),
                        }
                        u += w;
                    }
                }
            };
            if threads > 1 {
                (0..threads)
                    .into_par_iter()
                    .for_each(|i| run(i * ntasks / threads, (i + 1) * ntasks / threads));
            } else {
                run(0, ntasks);
            }
        }
        // The new state is in slot `prev` of every layer's h.
        let top = SendPtr(
            self.layers
                .last()
                .map_or(std::ptr::null_mut(), |l| l.h.as_ptr().wrapping_add(prev * h) as *mut f32),
        );
        let logits = SendPtr(self.logits.as_mut_ptr());
        let head = &self.head_wt;
        let panels = head.panels();
        let hthreads = self.threads.min(panels);
        let run = |p0: usize, p1: usize| {
            // SAFETY: top holds H floats; panels p0..p1 write their own
            // columns of logits (V floats).
            unsafe { gemv_range(kern, top.get(), head, p0, p1, logits.get(), false) }
        };
        if hthreads > 1 {
            (0..hthreads)
                .into_par_iter()
                .for_each(|i| run(i * panels / hthreads, (i + 1) * panels / hthreads));
        } else {
            run(0, panels);
        }
        kern.add(self.logits.as_mut_slice(), self.head_b.as_slice());
        self.logits.as_slice()
    }
}

/// `y (+)= x . B` over panels `p0..p1` of `b` (columns `p0*nr..`); a
/// partial last panel goes through a scratch row.
///
/// # Safety
/// `x` readable for b.k() floats, `y` writable for b.n().
unsafe fn gemv_range(
    kern: &Kernels,
    x: *const f32,
    b: &PackedB,
    p0: usize,
    p1: usize,
    y: *mut f32,
    accumulate: bool,
) {
    let (k, n, nr) = (b.k(), b.n(), kern.nr);
    for p in p0..p1 {
        let cols = nr.min(n - p * nr);
        // SAFETY: caller's contract; the scratch row holds nr <= 64 floats.
        unsafe {
            if cols == nr {
                (kern.gemv_panel)(k, x, b.panel_ptr(p), y.add(p * nr), accumulate);
            } else {
                let mut t = [0.0f32; 64];
                if accumulate {
                    std::ptr::copy_nonoverlapping(y.add(p * nr), t.as_mut_ptr(), cols);
                }
                (kern.gemv_panel)(k, x, b.panel_ptr(p), t.as_mut_ptr(), accumulate);
                std::ptr::copy_nonoverlapping(t.as_ptr(), y.add(p * nr), cols);
            }
        }
    }
}

impl crate::sample::Stepper for Stepper {
    fn vocab(&self) -> usize {
        Stepper::vocab(self)
    }

    fn reset(&mut self) {
        Stepper::reset(self)
    }

    fn step(&mut self, token: crate::TokenId) -> &[f32] {
        Stepper::step(self, token)
    }
}
