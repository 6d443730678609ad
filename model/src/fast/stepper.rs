//! Batch-1 generation: one token in, the next token's logits out, the
//! recurrent state kept between calls.
//!
//! Per token and layer the work is two GEMVs against pre-packed panels
//! (`x W_ih^T` and `h W_hh^T`, gate columns permuted as in the training
//! path) and the fused cell kernel; then one GEMV for the head. The weights
//! are packed once in [`Stepper::new`]. The sampling policy (temperature,
//! top-k, the random draw) belongs to the caller: [`Stepper::step`] returns
//! raw logits.

use crate::config::Cell;
use crate::kernels::gemm::IndexMap;
use crate::kernels::{AlignedBuf, Kernels, PackedB, UNIT_BLOCK};
use crate::params::ParamLayout;

#[derive(Debug)]
struct StepLayer {
    w_ih_t: PackedB,
    w_hh_t: PackedB,
    bias: AlignedBuf,
    c: AlignedBuf,
    h: AlignedBuf,
}

/// The state and packed weights of a model run one token at a time.
#[derive(Debug)]
pub struct Stepper {
    kern: &'static Kernels,
    layout: ParamLayout,
    layers: Vec<StepLayer>,
    emb: AlignedBuf,
    head_wt: PackedB,
    head_b: AlignedBuf,
    gates: AlignedBuf,
    tc: AlignedBuf,
    logits: AlignedBuf,
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
        let layers = (0..cfg.layers)
            .map(|k| {
                let off = layout.layer(k);
                let inp = cfg.layer_input(k);
                let mut l = StepLayer {
                    w_ih_t: PackedB::new(),
                    w_hh_t: PackedB::new(),
                    bias: AlignedBuf::zeros(gh),
                    c: AlignedBuf::zeros(h),
                    h: AlignedBuf::zeros(h),
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
        let mut emb = AlignedBuf::zeros(v * e);
        emb.as_mut_slice().copy_from_slice(&params[layout.embedding()..layout.embedding() + v * e]);
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
            head_wt,
            head_b,
            gates: AlignedBuf::zeros(gh),
            tc: AlignedBuf::zeros(h),
            logits: AlignedBuf::zeros(v),
        }
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
        for k in 0..cfg.layers {
            let (below, rest) = self.layers.split_at_mut(k);
            let l = &mut rest[0];
            let x: *const f32 =
                if k == 0 { self.emb.as_ptr().wrapping_add(t * e) } else { below[k - 1].h.as_ptr() };
            let gp = self.gates.as_mut_ptr();
            // SAFETY: x holds `in` floats and h holds H (the packings' K);
            // gates holds GH (their N); `gemv` writes only the first N.
            unsafe {
                gemv(kern, x, &l.w_ih_t, gp, false);
                gemv(kern, l.h.as_ptr(), &l.w_hh_t, gp, true);
            }
            let mut u = 0;
            while u < h {
                let w = UNIT_BLOCK.min(h - u);
                let col = g * u;
                // SAFETY: block u..u+w of every per-layer buffer; the cell
                // reads c/h before writing them lane by lane (in place is fine).
                unsafe {
                    match cfg.cell {
                        Cell::Lstm => (kern.lstm_fwd_rows)(
                            1,
                            w,
                            gp.add(col),
                            4 * w,
                            l.bias.as_ptr().add(col),
                            l.c.as_ptr().add(u),
                            l.c.as_mut_ptr().add(u),
                            self.tc.as_mut_ptr().add(u),
                            l.h.as_mut_ptr().add(u),
                            w,
                        ),
                        Cell::Rnn => (kern.rnn_fwd_rows)(
                            1,
                            w,
                            gp.add(col),
                            w,
                            l.bias.as_ptr().add(col),
                            l.h.as_mut_ptr().add(u),
                            w,
                        ),
                    }
                }
                u += w;
            }
        }
        let top = self.layers.last().map(|l| l.h.as_ptr()).unwrap_or(std::ptr::null());
        // SAFETY: top holds H floats; logits V.
        unsafe { gemv(kern, top, &self.head_wt, self.logits.as_mut_ptr(), false) };
        let kern = self.kern;
        kern.add(self.logits.as_mut_slice(), self.head_b.as_slice());
        self.logits.as_slice()
    }
}

/// `y[0..n] (+)= x[0..k] . B` over every panel of `b`; a partial last panel
/// goes through a scratch row.
///
/// # Safety
/// `x` readable for b.k() floats, `y` writable for b.n().
unsafe fn gemv(kern: &Kernels, x: *const f32, b: &PackedB, y: *mut f32, accumulate: bool) {
    let (k, n, nr) = (b.k(), b.n(), kern.nr);
    for p in 0..b.panels() {
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
