//! The fast training path: forward + backward of one B x T batch with every
//! buffer preallocated, f32, SIMD kernels chosen at run time, rayon threads.
//!
//! What it computes is exactly the model of `crate::reference` (PyTorch's
//! `Embedding -> nn.LSTM/nn.RNN(batch_first) -> Linear`, mean cross-entropy);
//! `tests/fast_parity.rs` checks it against PyTorch's numbers. What it is
//! not: the optimizer loop, clipping policy, checkpoints or sampling policy
//! (it provides the kernels those use).
//!
//! Shape legend: B batch rows, T steps, N = B*T positions, V vocabulary,
//! E embedding width, H hidden width, G gates per unit (4 LSTM, 1 RNN),
//! GH = G*H, L layers, `in` = E for layer 0 and H above.
//!
//! # How a step runs
//! Rows are time-major internally (row `t*B + b` is batch row b at step t),
//! so each step's B rows are contiguous.
//! 1. Weights are packed once per call (`PackedB`): W_ih^T and W_hh^T with
//!    their gate columns permuted into unit blocks (`kernels::gate_col`), so
//!    one block of 16 units has its i, f, g, o gates side by side; W_hh and
//!    W_ih with permuted rows for the backward.
//! 2. Forward, per layer, per step and per task of 32 units: `gates_t =
//!    x_t W_ih^T + h_{t-1} W_hh^T` for the task's gate columns (the input
//!    projection is part of the step, so its result never goes to memory
//!    and back; in layer 0, `x_t W_ih^T` is a row of the input table
//!    `E_U W_ih^T` over the batch's U distinct input tokens, computed once
//!    per call with the weights, when U <= 7/8 N, see `table_cap`),
//!    then the fused cell kernel (bias, sigmoid/tanh, c and h) on
//!    the same columns, then the task's units of h_t are also written as B
//!    panels (`hp`, see `panels`) for the weight gradients and the head. One
//!    barrier per step (`steps.rs`).
//! 3. Head, in chunks of positions so the N x V logits never exist whole:
//!    logits GEMM (A = the top layer's h panels, read in place) -> fused
//!    softmax cross-entropy (loss, dlogits in place, then copied grouped by
//!    MR into `dlg`) -> `dW_head += dlogits^T h` (A = `dlg` in place; the
//!    same call adds dlogits' column sums to db_head, see `dbh`) and
//!    `dh = dlogits W_head` (A = the row-major dlogits in place).
//! 4. Backward, per layer from the top, per step: tasks of 32 units compute
//!    `dh_t += dG_{t+1} W_hh`, run the fused backward cell (dG_t in place of
//!    the gates, dc carried, bias gradient accumulated) and copy dG_t^T
//!    grouped by MR into `dgt`; interleaved tasks of 32 columns compute
//!    `dX_{t+1} = dG_{t+1} W_ih` (the next layer's dh, or the embedding's
//!    scatter-add). After the loop, two GEMMs with no packing at all:
//!    dW_hh = dG[1..]^T h[..T-1] and dW_ih = dG^T X, A = `dgt` and B = the
//!    activation panels. In layer 0 with the input table, X's rows are
//!    embedding rows, so both input-side gradients go through the per-token
//!    sums S = sum_{p: token p = v} dG_p (U x GH, in the table's buffer):
//!    dW_ih = S^T E_U and dE\[uniq\] += S W_ih, two U-deep GEMMs in place of
//!    two N-deep ones, and the time loop computes no dX at all.
//!
//! Every reduction has a fixed order and no GEMM splits its K dimension
//! across threads, so the loss and gradients are bit-identical for any
//! thread count.
//!
//! Performance notes: see the block at the end of this file.

pub mod bench;
pub mod stepper;
mod steps;

use rayon::prelude::*;

use crate::config::Cell;
use crate::kernels::gemm::{
    AGroups, BRef, IndexMap, SendPtr, gemm_grouped_a, gemm_prepacked, gemm_rows_grouped, gemm_rows_panels,
    rows_to_grouped, rows_to_panels,
};
use crate::kernels::{AlignedBuf, Isa, Kernels, PackedB, UNIT_BLOCK};
use crate::params::ParamLayout;

pub use stepper::Stepper;
use steps::StepSync;

/// Units per task of the time loop (two gate blocks; a multiple of every
/// ISA's panel width divided by G, so tasks never share a B panel).
const TASK_UNITS: usize = 2 * UNIT_BLOCK;

/// Per-layer buffers.
#[derive(Debug, Default)]
struct Layer {
    /// W_ih^T, K = in, N = GH (permuted columns).
    w_ih_t: PackedB,
    /// W_hh^T, K = H, N = GH (permuted columns).
    w_hh_t: PackedB,
    /// W_hh, K = GH (permuted rows), N = H (backward only).
    w_hh: PackedB,
    /// W_ih, K = GH (permuted rows), N = in (backward only).
    w_ih: PackedB,
    /// b_ih + b_hh `[GH]`, permuted.
    bias: AlignedBuf,
    /// `[N, GH]` permuted: forward pre-activations, then activated gates
    /// (LSTM) / pre-activations (RNN); the backward overwrites them with dG.
    gates: AlignedBuf,
    /// `[N, H]` cell states (LSTM).
    c: AlignedBuf,
    /// `[N, H]` tanh of the cell states (LSTM).
    tc: AlignedBuf,
    /// `[N, H]` outputs.
    h: AlignedBuf,
    /// The outputs again as B panels for the weight gradients (see
    /// `Workspace::panels`), written by the forward cell's task.
    hp: AlignedBuf,
}

/// Seconds spent per phase since the last reset (forward_backward and
/// forward_loss calls), for profiling.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// Embedding gather, batch transposition.
    pub load: f64,
    /// Packing the weights.
    pub pack: f64,
    /// Input-projection GEMMs: layer 0's input table (`E_U W_ih^T` over
    /// the batch's distinct tokens, and the embedding rows packed for
    /// dW_ih) when the batch takes it; the other projections run inside the
    /// forward loop.
    pub fwd_proj: f64,
    /// Forward time loops.
    pub fwd_loop: f64,
    /// Head: logits GEMM, softmax cross-entropy, head backward.
    pub head: f64,
    /// Of which: logits GEMMs.
    pub head_logits: f64,
    /// Of which: softmax cross-entropy.
    pub head_softmax: f64,
    /// Of which: dW_head GEMMs (with the activation packing) and db_head.
    pub head_dw: f64,
    /// Of which: the dh GEMMs (dlogits W_head).
    pub head_dh: f64,
    /// Backward time loops.
    pub bwd_loop: f64,
    /// Weight-gradient and dX GEMMs (including the two below).
    pub bwd_gemm: f64,
    /// Of which: packing the activations for dW.
    pub bwd_pack: f64,
    /// Of which: the dX GEMMs.
    pub bwd_dx: f64,
    /// Embedding scatter-add and the rest.
    pub other: f64,
}

impl Profile {
    /// Sum of the phases.
    pub fn total(&self) -> f64 {
        self.load
            + self.pack
            + self.fwd_proj
            + self.fwd_loop
            + self.head
            + self.bwd_loop
            + self.bwd_gemm
            + self.other
    }
}

/// Every buffer of forward + backward for one (layout, B, T), allocated once.
pub struct Workspace {
    profile: Profile,
    kern: &'static Kernels,
    layout: ParamLayout,
    batch: usize,
    seq: usize,
    layers: Vec<Layer>,
    /// Time-major input tokens `[N]`.
    tokens: Vec<u32>,
    /// Time-major targets `[N]`.
    targets: Vec<u32>,
    /// Valid-position mask for `forward_loss` `[N]`.
    valid: Vec<bool>,
    /// Embedded inputs `[N, E]`; with the input table, the embedding rows
    /// of the batch's distinct tokens instead (`[U, E]`, in `uniq` order).
    x0: AlignedBuf,
    /// The embedded inputs as B panels (see `Workspace::panels`; empty when
    /// every batch takes the input table).
    x0p: AlignedBuf,
    /// Layer 0's input projection of the batch's distinct input tokens,
    /// `E_U W_ih^T` `[U, GH]` (gate columns permuted), when `table_on`: the
    /// forward then copies row `slots[p]` instead of computing `x_p W_ih^T`.
    /// The backward of layer 0 reuses the buffer (the forward is done with
    /// it by then) for the per-token sums S `[U, GH]`, grouped by MR gate
    /// columns like `dgt`: column j of slot u at
    /// `[(j / MR) * tok_gs + u * MR + j % MR]` (the A of dW_ih = S^T E_U,
    /// and of dE_U = S W_ih as row groups).
    in_table: AlignedBuf,
    tok_gs: usize,
    /// The most distinct input tokens a batch may have for layer 0 to take
    /// the input table (0: never; see [`table_cap`]).
    table_cap: usize,
    /// Whether layer 0 takes the input table in the current call (decided
    /// per batch by `load_batch`).
    table_on: bool,
    /// The current batch's distinct input tokens, ascending (the table's
    /// rows), when `table_on`.
    uniq: Vec<u32>,
    /// Per position, its token's row in `uniq` `[N]`, when `table_on`.
    slots: Vec<u32>,
    /// Per vocabulary entry, scratch for `uniq` (`u32::MAX` between calls).
    mark: Vec<u32>,
    /// The embedding rows of `uniq` as B panels (K = U, N = E), for dW_ih =
    /// S^T E_U.
    emb_p: PackedB,
    /// Whether the current call needs `x0p` (forward_backward; the
    /// activation panels of the layers are always written, the head reads
    /// them).
    train: bool,
    /// dL/dh of the layer being back-propagated `[N, H]`.
    dh: AlignedBuf,
    /// dX of the layer being back-propagated `[N, in]` (swapped with `dh`
    /// after each layer: it is the dL/dh of the layer below).
    dx: AlignedBuf,
    /// dG of the layer being back-propagated, transposed and packed for
    /// the weight-gradient GEMMs (`gemm_grouped_a`): gate column j at
    /// position p is at `[(j / MR) * gs + p * MR + j % MR]`, `gs` =
    /// `dgt_gs` (N * MR spread, see [`spread`]).
    dgt: AlignedBuf,
    dgt_gs: usize,
    /// Floats between two B panels of the activations (`hp`, `x0p`): N * NR
    /// spread (see [`spread`]).
    ps: usize,
    /// Carried dL/dc `[B, H]`.
    dc: AlignedBuf,
    /// Bias gradient accumulator `[GH]`, permuted.
    db: AlignedBuf,
    /// Logits / dlogits of one chunk `[chunk, V]`.
    logits: AlignedBuf,
    /// The chunk's dlogits again, grouped by MR columns (vocabulary
    /// entries): entry j of row r at `[(j / MR) * dlg_gs + r * MR + j %
    /// MR]`, `dlg_gs` = chunk * MR spread. dW_head reads it as its A
    /// (dlogits^T) in place; dh reads the row-major `logits` instead.
    dlg: AlignedBuf,
    dlg_gs: usize,
    /// db_head over the chunks so far `[ceil(V/MR)*MR]`: the dW_head GEMM
    /// sums its A's rows (dlogits^T) into it; copied out after the last
    /// chunk.
    dbh: AlignedBuf,
    /// Positions per head chunk.
    chunk: usize,
    /// Per-position loss `[N]`.
    row_loss: Vec<f64>,
    /// W_head^T, K = H, N = V.
    head_wt: PackedB,
    /// W_head, K = V, N = H (backward only).
    head_w: PackedB,
    sync: StepSync,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("isa", &self.kern.isa())
            .field("config", self.layout.config())
            .field("batch", &self.batch)
            .field("seq", &self.seq)
            .field("bytes", &self.bytes())
            .finish()
    }
}

/// Floats of logits per head chunk (8 Mi floats = 32 MiB), rounded to rows.
/// The chunk's dW_head GEMM re-reads and re-writes the V x H gradient once
/// per chunk, so larger chunks pay off up to here: at V=8000 (1,048 rows)
/// 2^22 -> 2^23 floats gave +6% tokens/s for +16 MiB peak RSS; 2^24 was
/// within noise for another +32 MiB.
const LOGITS_BUDGET: usize = 1 << 23;

impl Workspace {
    /// A workspace for `layout`'s model and B x T batches, with the detected
    /// kernels ([`Kernels::detect`]).
    pub fn new(layout: &ParamLayout, batch: usize, seq: usize) -> Workspace {
        Workspace::with_kernels(layout, batch, seq, Kernels::detect())
    }

    /// The same with a given ISA; None when this CPU cannot run it.
    pub fn with_isa(layout: &ParamLayout, batch: usize, seq: usize, isa: Isa) -> Option<Workspace> {
        Kernels::get(isa).map(|k| Workspace::with_kernels(layout, batch, seq, k))
    }

    /// The same with a given kernel table.
    pub fn with_kernels(layout: &ParamLayout, batch: usize, seq: usize, kern: &'static Kernels) -> Workspace {
        let cfg = *layout.config();
        assert!(cfg.validate().is_ok(), "Workspace: invalid config {cfg:?}");
        assert!(batch > 0 && seq > 0, "Workspace: batch ({batch}) and seq ({seq}) must be positive");
        // Time-loop tasks own whole B panels: their first column (G*32*task
        // forward, 32*task backward) must be a multiple of the panel width.
        assert!(
            TASK_UNITS.is_multiple_of(kern.nr),
            "Workspace: panel width {} does not divide {TASK_UNITS}",
            kern.nr
        );
        let n = batch * seq;
        let (h, gh, e, v) = (cfg.hidden, cfg.gates() * cfg.hidden, cfg.embed, cfg.vocab);
        let lstm = cfg.cell == Cell::Lstm;
        let (mr, nr) = (kern.mr, kern.nr);
        let ps = spread(n * nr);
        let layers = (0..cfg.layers)
            .map(|_| Layer {
                bias: AlignedBuf::zeros(gh),
                gates: AlignedBuf::zeros(n * gh),
                c: AlignedBuf::zeros(if lstm { n * h } else { 0 }),
                tc: AlignedBuf::zeros(if lstm { n * h } else { 0 }),
                h: AlignedBuf::zeros(n * h),
                hp: AlignedBuf::zeros(h.div_ceil(nr) * ps),
                ..Layer::default()
            })
            .collect();
        let chunk = (LOGITS_BUDGET / v).clamp(1, n);
        let cap = table_cap(v, n);
        let (dgt_gs, dlg_gs, tok_gs) = (spread(n * mr), spread(chunk * mr), spread(cap * mr));
        // A batch can outgrow the table only when V > cap; otherwise X is
        // never needed and x0 holds no more than the table's rows.
        let (x0, x0p) =
            if cap < v { x_buffers(n, e, nr, ps) } else { (AlignedBuf::zeros(cap * e), AlignedBuf::new()) };
        Workspace {
            profile: Profile::default(),
            kern,
            layout: layout.clone(),
            batch,
            seq,
            layers,
            tokens: vec![0; n],
            targets: vec![0; n],
            valid: vec![true; n],
            x0,
            x0p,
            in_table: AlignedBuf::zeros((cap * gh).max(gh.div_ceil(mr) * tok_gs)),
            tok_gs,
            table_cap: cap,
            table_on: false,
            uniq: Vec::with_capacity(cap),
            slots: vec![0; n],
            mark: vec![u32::MAX; v],
            emb_p: PackedB::new(),
            train: false,
            dh: AlignedBuf::zeros(n * e.max(h)),
            dx: AlignedBuf::zeros(n * e.max(h)),
            dgt: AlignedBuf::zeros(gh.div_ceil(mr) * dgt_gs),
            dgt_gs,
            ps,
            dc: AlignedBuf::zeros(batch * h),
            db: AlignedBuf::zeros(gh),
            logits: AlignedBuf::zeros(chunk * v),
            dlg: AlignedBuf::zeros(v.div_ceil(mr) * dlg_gs),
            dlg_gs,
            dbh: AlignedBuf::zeros(v.div_ceil(mr) * mr),
            chunk,
            row_loss: vec![0.0; n],
            head_wt: PackedB::new(),
            head_w: PackedB::new(),
            sync: StepSync::new(),
        }
    }

    /// The kernels in use.
    pub fn kernels(&self) -> &'static Kernels {
        self.kern
    }

    /// Time per phase since the last [`Workspace::reset_profile`].
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Turns layer 0's input table off (or back on; by default a batch
    /// takes it when it has at most 7/8 B*T distinct input tokens, so
    /// always when V <= 7/8 B*T).
    /// The loss, the evaluation loss and every gradient but layer 0's W_ih
    /// and the embedding's are bit-identical either way (the forward table
    /// is computed by the same GEMM kernels, k in the same order); those two
    /// are summed per token first with the table, so they differ in
    /// rounding. Tests and benchmarks compare the two paths.
    pub fn set_input_table(&mut self, on: bool) {
        let n = self.batch * self.seq;
        self.table_cap = if on { table_cap(self.layout.config().vocab, n) } else { 0 };
        if !on && self.x0p.is_empty() {
            (self.x0, self.x0p) = x_buffers(n, self.layout.config().embed, self.kern.nr, self.ps);
        }
    }

    /// Whether the last call took layer 0's input table, and for how many
    /// distinct input tokens (0 when it did not).
    pub fn input_table_rows(&self) -> usize {
        if self.table_on { self.uniq.len() } else { 0 }
    }

    /// Zeroes the phase timers.
    pub fn reset_profile(&mut self) {
        self.profile = Profile::default();
    }

    /// (B, T): the batch shape this workspace was built for.
    pub fn shape(&self) -> (usize, usize) {
        (self.batch, self.seq)
    }

    /// Batch rows B.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Steps T.
    pub fn seq(&self) -> usize {
        self.seq
    }

    /// Bytes held by the workspace's buffers (after the first call packs the
    /// weights).
    pub fn bytes(&self) -> usize {
        let mut b = self.x0.capacity_bytes()
            + self.x0p.capacity_bytes()
            + self.in_table.capacity_bytes()
            + self.slots.capacity() * 4
            + self.mark.capacity() * 4
            + self.dh.capacity_bytes()
            + self.dx.capacity_bytes()
            + self.dgt.capacity_bytes()
            + self.dc.capacity_bytes()
            + self.db.capacity_bytes()
            + self.logits.capacity_bytes()
            + self.dlg.capacity_bytes()
            + self.dbh.capacity_bytes()
            + self.row_loss.capacity() * 8
            + self.tokens.capacity() * 8
            + self.valid.capacity();
        for l in &self.layers {
            b += l.bias.capacity_bytes()
                + l.gates.capacity_bytes()
                + l.c.capacity_bytes()
                + l.tc.capacity_bytes()
                + l.h.capacity_bytes()
                + l.hp.capacity_bytes()
                + l.w_ih_t.bytes()
                + l.w_hh_t.bytes()
                + l.w_hh.bytes()
                + l.w_ih.bytes();
        }
        b + self.head_wt.bytes() + self.head_w.bytes() + self.emb_p.bytes()
    }

    /// Forward + backward of one B x T batch from zero state (`inputs` and
    /// `targets` row-major `[B, T]`, batch-first as PyTorch's). Writes (does
    /// not accumulate) the gradient of the mean cross-entropy over all B*T
    /// positions into `grads` (same layout as `params`; padding zeroed) and
    /// returns the mean loss in nats.
    ///
    /// # Panics
    /// On buffers of the wrong length or a token id >= V.
    pub fn forward_backward(
        &mut self,
        params: &[f32],
        grads: &mut [f32],
        inputs: &[u32],
        targets: &[u32],
    ) -> f32 {
        let n = self.batch * self.seq;
        assert_eq!(grads.len(), self.layout.len(), "forward_backward: grads length");
        let t = std::time::Instant::now();
        self.train = true;
        self.load_batch(params, inputs, targets, None);
        zero_padding_and_embedding(&self.layout, grads);
        self.profile.load += t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        self.pack_weights(params, true);
        self.profile.pack += t.elapsed().as_secs_f64();
        self.fill_input_table(true);
        self.forward_layers(params);
        let t = std::time::Instant::now();
        let loss = self.head(params, Some(&mut *grads));
        self.profile.head += t.elapsed().as_secs_f64();
        self.backward_layers(params, grads);
        (loss / n as f64) as f32
    }

    /// Forward only, for evaluation: row b uses its first `lens[b]` positions
    /// (0 = empty row; the rest of the row is ignored, its ids need not be
    /// valid). Returns the summed cross-entropy in nats over the valid
    /// positions and their count.
    ///
    /// # Panics
    /// On buffers of the wrong length, `lens[b] > T`, or a token id >= V at a
    /// valid position.
    pub fn forward_loss(
        &mut self,
        params: &[f32],
        inputs: &[u32],
        targets: &[u32],
        lens: &[usize],
    ) -> (f64, usize) {
        assert_eq!(lens.len(), self.batch, "forward_loss: lens must have B entries");
        let t = std::time::Instant::now();
        self.train = false;
        self.load_batch(params, inputs, targets, Some(lens));
        self.profile.load += t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        self.pack_weights(params, false);
        self.profile.pack += t.elapsed().as_secs_f64();
        self.fill_input_table(false);
        self.forward_layers(params);
        let t = std::time::Instant::now();
        let loss = self.head(params, None);
        self.profile.head += t.elapsed().as_secs_f64();
        (loss, lens.iter().sum())
    }

    /// Copies the batch into time-major order, checks ids, gathers the
    /// embedding rows.
    fn load_batch(&mut self, params: &[f32], inputs: &[u32], targets: &[u32], lens: Option<&[usize]>) {
        let (bsz, t_len) = (self.batch, self.seq);
        let n = bsz * t_len;
        let cfg = *self.layout.config();
        assert_eq!(params.len(), self.layout.len(), "params length does not match the layout");
        assert_eq!(inputs.len(), n, "inputs must hold B*T = {n} ids");
        assert_eq!(targets.len(), n, "targets must hold B*T = {n} ids");
        let v = cfg.vocab as u32;
        for b in 0..bsz {
            let len = lens.map_or(t_len, |l| l[b]);
            assert!(len <= t_len, "forward_loss: lens[{b}] = {len} > T = {t_len}");
            for t in 0..t_len {
                let (x, y) = (inputs[b * t_len + t], targets[b * t_len + t]);
                let ok = t < len;
                if ok {
                    assert!(
                        x < v && y < v,
                        "token id out of range: input {x}, target {y}, vocab {v} (row {b}, step {t})"
                    );
                }
                let r = t * bsz + b;
                self.tokens[r] = if ok { x } else { 0 };
                self.targets[r] = if ok { y } else { 0 };
                self.valid[r] = ok;
            }
        }
        let e = cfg.embed;
        let emb = &params[self.layout.embedding()..self.layout.embedding() + cfg.vocab * e];
        // With the input table nothing reads X: the forward copies table
        // rows and the backward sums dG per token. x0 receives the embedding
        // rows of the distinct tokens, the table's A.
        self.table_on = self.table_cap > 0 && self.index_tokens();
        if self.table_on {
            let uniq = &self.uniq;
            let rows = &mut self.x0.as_mut_slice()[..uniq.len() * e];
            rows.par_chunks_mut(e * 64)
                .enumerate()
                .for_each(|(ci, rows)| gather_rows(rows, &uniq[ci * 64..], emb, e));
            return;
        }
        let tokens = &self.tokens;
        let (nr, train, ps) = (self.kern.nr, self.train, self.ps);
        let x0p = SendPtr(self.x0p.as_mut_ptr());
        self.x0.as_mut_slice().par_chunks_mut(e * 64).enumerate().for_each(|(ci, rows)| {
            gather_rows(rows, &tokens[ci * 64..], emb, e);
            if train {
                // SAFETY: this task alone writes rows ci*64.. of the panels;
                // x0p holds ceil(E/NR) panels of N rows, ps apart.
                unsafe {
                    let nrows = rows.len() / e;
                    rows_to_panels(rows.as_ptr(), e, nrows, 0, e, x0p.get(), ps, nr, ci * 64);
                }
            }
        });
    }

    /// Lists the batch's distinct input tokens in `uniq` (ascending) and
    /// each position's row among them in `slots`; false (and `slots` left
    /// stale) when there are more than `table_cap`. O(N + U log U), no
    /// allocation (`uniq` holds `table_cap`).
    fn index_tokens(&mut self) -> bool {
        let (uniq, mark) = (&mut self.uniq, &mut self.mark);
        uniq.clear();
        let mut fits = true;
        for &tok in &self.tokens {
            let m = &mut mark[tok as usize];
            if *m == u32::MAX {
                if uniq.len() == self.table_cap {
                    fits = false;
                    break;
                }
                *m = 0;
                uniq.push(tok);
            }
        }
        if fits {
            uniq.sort_unstable();
            for (i, &u) in uniq.iter().enumerate() {
                mark[u as usize] = i as u32;
            }
            for (s, &tok) in self.slots.iter_mut().zip(&self.tokens) {
                *s = mark[tok as usize];
            }
        }
        for &u in uniq.iter() {
            mark[u as usize] = u32::MAX;
        }
        fits
    }

    /// Packs every weight operand (`backward`: also the transposes the
    /// backward needs) and sums the biases.
    fn pack_weights(&mut self, params: &[f32], backward: bool) {
        let cfg = *self.layout.config();
        let (h, g, v) = (cfg.hidden, cfg.gates(), cfg.vocab);
        let gh = g * h;
        let kern = self.kern;
        let gmap = IndexMap::GateRow { g, h };
        let id = IndexMap::Identity;
        for (k, layer) in self.layers.iter_mut().enumerate() {
            let off = self.layout.layer(k);
            let inp = cfg.layer_input(k);
            assert!(off.w_ih + gh * inp <= params.len() && off.w_hh + gh * h <= params.len());
            // SAFETY: W_ih is [GH, in] and W_hh [GH, H] inside params (checked
            // above); the maps send permuted indices < GH to rows < GH.
            unsafe {
                let w_ih = params.as_ptr().add(off.w_ih);
                let w_hh = params.as_ptr().add(off.w_hh);
                layer.w_ih_t.pack_raw(kern, inp, gh, w_ih, 1, inp, id, gmap);
                layer.w_hh_t.pack_raw(kern, h, gh, w_hh, 1, h, id, gmap);
                if backward {
                    layer.w_hh.pack_raw(kern, gh, h, w_hh, h, 1, gmap, id);
                    layer.w_ih.pack_raw(kern, gh, inp, w_ih, inp, 1, gmap, id);
                }
            }
            let b_ih = &params[off.b_ih..off.b_ih + gh];
            let b_hh = &params[off.b_hh..off.b_hh + gh];
            for (j, x) in layer.bias.as_mut_slice().iter_mut().enumerate() {
                let r = gmap.get(j);
                *x = b_ih[r] + b_hh[r];
            }
        }
        let hw = self.layout.head_weight();
        assert!(hw + v * h <= params.len());
        // SAFETY: the head weight is [V, H] inside params (checked above).
        unsafe {
            let w = params.as_ptr().add(hw);
            self.head_wt.pack_raw(kern, h, v, w, 1, h, id, id);
            if backward {
                self.head_w.pack_raw(kern, v, h, w, h, 1, id, id);
            }
        }
    }

    /// Layer 0's input projection of the batch's distinct tokens, `E_U
    /// W_ih^T`, when the batch takes the input table (after `pack_weights`:
    /// it reads the packed W_ih^T); with `backward`, also the embedding rows
    /// as B panels for dW_ih. Timed as the profile's `fwd_proj`.
    fn fill_input_table(&mut self, backward: bool) {
        if !self.table_on {
            return;
        }
        let t = std::time::Instant::now();
        let cfg = *self.layout.config();
        let (e, u, gh) = (cfg.embed, self.uniq.len(), cfg.gates() * cfg.hidden);
        let (kern, id) = (self.kern, IndexMap::Identity);
        // x0 holds the U distinct tokens' embedding rows (load_batch).
        let rows = &self.x0.as_slice()[..u * e];
        if backward {
            // SAFETY: rows is [U, E].
            unsafe { self.emb_p.pack_raw(kern, u, e, rows.as_ptr(), e, 1, id, id) };
        }
        let table = self.in_table.as_mut_slice();
        gemm_prepacked(kern, u, rows, e, 1, &self.layers[0].w_ih_t, table, gh, false);
        self.profile.fwd_proj += t.elapsed().as_secs_f64();
    }

    /// Forward through every recurrent layer.
    fn forward_layers(&mut self, _params: &[f32]) {
        let cfg = *self.layout.config();
        let (bsz, t_len) = (self.batch, self.seq);
        let (h, g) = (cfg.hidden, cfg.gates());
        let gh = g * h;
        let (kern, ps) = (self.kern, self.ps);
        let threads = rayon::current_num_threads();
        for k in 0..cfg.layers {
            let inp = cfg.layer_input(k);
            let (below, rest) = self.layers.split_at_mut(k);
            let layer = &mut rest[0];
            let x = SendPtr(if k == 0 { self.x0.as_mut_ptr() } else { below[k - 1].h.as_mut_ptr() });
            let t0 = std::time::Instant::now();
            // The recurrence, with the input projection of step t computed
            // by the same task just before h_{t-1} W_hh^T.
            let w_ih_t = &layer.w_ih_t;
            let gates = SendPtr(layer.gates.as_mut_ptr());
            let cs = SendPtr(layer.c.as_mut_ptr());
            let tcs = SendPtr(layer.tc.as_mut_ptr());
            let hs = SendPtr(layer.h.as_mut_ptr());
            let hps = SendPtr(layer.hp.as_mut_ptr());
            let bias = SendPtr(layer.bias.as_mut_ptr());
            let w_hh_t = &layer.w_hh_t;
            let table = SendPtr(if k == 0 && self.table_on {
                self.in_table.as_mut_ptr()
            } else {
                std::ptr::null_mut()
            });
            let slots = SendPtr(self.slots.as_mut_ptr());
            let ntasks = h.div_ceil(TASK_UNITS);
            let cell = cfg.cell;
            let step = move |t: usize, task: usize| {
                let u0 = task * TASK_UNITS;
                let u1 = (u0 + TASK_UNITS).min(h);
                let (c0, c1) = (g * u0, g * u1);
                // SAFETY: this task alone writes gate columns c0..c1 and units
                // u0..u1 of rows t*B..t*B+B; it reads h_{t-1} (all units),
                // complete since the previous step's barrier. Panels
                // c0/nr..ceil(c1/nr) belong to this task only (c0 is a
                // multiple of the panel width, see TASK_UNITS).
                unsafe {
                    let grow = gates.get().add(t * bsz * gh);
                    let nr = kern.nr;
                    let (p0, p1) = (c0 / nr, c1.div_ceil(nr));
                    if table.get().is_null() {
                        let xt = x.get().add(t * bsz * inp) as *const f32;
                        // Then W_hh^T's first panel of this task.
                        let after = w_hh_t.panel_ptr(p0);
                        gemm_rows_panels(kern, bsz, xt, inp, w_ih_t, p0, p1, grow, gh, false, after);
                    } else {
                        // The table holds U rows of GH; slots[t*B + b] < U.
                        for b in 0..bsz {
                            let slot = *slots.get().add(t * bsz + b) as usize;
                            let src = table.get().add(slot * gh + c0);
                            std::ptr::copy_nonoverlapping(src, grow.add(b * gh + c0), c1 - c0);
                        }
                    }
                    if t > 0 {
                        let hp = hs.get().add((t - 1) * bsz * h);
                        // Then the next task's first panel of W_ih^T (with
                        // the table, of W_hh^T: the default).
                        let after = if table.get().is_null() && p1 < w_ih_t.panels() {
                            w_ih_t.panel_ptr(p1)
                        } else {
                            std::ptr::null()
                        };
                        gemm_rows_panels(kern, bsz, hp, h, w_hh_t, p0, p1, grow, gh, true, after);
                    }
                    // The fused cell, one call per gate block for all B rows.
                    let r0 = t * bsz;
                    let mut u = u0;
                    while u < u1 {
                        let w = UNIT_BLOCK.min(h - u);
                        let col = g * u;
                        match cell {
                            Cell::Lstm => {
                                let cp = if t > 0 {
                                    cs.get().add((r0 - bsz) * h + u) as *const f32
                                } else {
                                    std::ptr::null()
                                };
                                (kern.lstm_fwd_rows)(
                                    bsz,
                                    w,
                                    grow.add(col),
                                    gh,
                                    bias.get().add(col),
                                    cp,
                                    cs.get().add(r0 * h + u),
                                    tcs.get().add(r0 * h + u),
                                    hs.get().add(r0 * h + u),
                                    h,
                                );
                            }
                            Cell::Rnn => {
                                (kern.rnn_fwd_rows)(
                                    bsz,
                                    w,
                                    grow.add(col),
                                    gh,
                                    bias.get().add(col),
                                    hs.get().add(r0 * h + u),
                                    h,
                                );
                            }
                        }
                        u += w;
                    }
                    // h_t as B panels, for the weight gradients and the head
                    // (u0 is a multiple of NR; this task alone writes its
                    // units).
                    rows_to_panels(hs.get().add(r0 * h), h, bsz, u0, u1, hps.get(), ps, nr, r0);
                }
            };
            self.sync.run(threads, t_len, ntasks, &step);
            self.profile.fwd_loop += t0.elapsed().as_secs_f64();
        }
    }

    /// The head over all positions in chunks: loss (summed, nats, valid
    /// positions only) and, with `grads`, dW_head, db_head and dh of the top
    /// layer (into `self.dh`).
    fn head(&mut self, params: &[f32], mut grads: Option<&mut [f32]>) -> f64 {
        let cfg = *self.layout.config();
        let n = self.batch * self.seq;
        let v = cfg.vocab;
        let kern = self.kern;
        let top = self.layers.last().expect("at least one layer").hp.as_ptr();
        let (mr, nr, dlg_gs) = (kern.mr, kern.nr, self.dlg_gs);
        let dlg = SendPtr(self.dlg.as_mut_ptr());
        let bias = &params[self.layout.head_bias()..self.layout.head_bias() + v];
        let scale = 1.0 / n as f32;
        let want_grad = grads.is_some();
        let mut r0 = 0;
        while r0 < n {
            let rows = self.chunk.min(n - r0);
            let logits = self.logits.as_mut_ptr();
            // A: rows r0.. of the top layer's h panels, read in place.
            let a = AGroups { ptr: top.wrapping_add(r0 * nr), gw: nr, gs: self.ps };
            let tp = std::time::Instant::now();
            // SAFETY: the panels hold N rows of H (written by the forward);
            // logits holds chunk*V >= rows*V floats.
            unsafe { gemm_rows_grouped(kern, rows, a, self.head_wt.as_bref(), logits, v, false) };
            self.profile.head_logits += tp.elapsed().as_secs_f64();
            let tp = std::time::Instant::now();
            let targets = &self.targets[r0..r0 + rows];
            let valid = &self.valid[r0..r0 + rows];
            let losses = &mut self.row_loss[r0..r0 + rows];
            let lg = &mut self.logits.as_mut_slice()[..rows * v];
            const ROWS_PER_TASK: usize = 16;
            lg.par_chunks_mut(v * ROWS_PER_TASK)
                .zip(losses.par_chunks_mut(ROWS_PER_TASK))
                .enumerate()
                .for_each(|(ci, (zs, ls))| {
                    for (i, (z, l)) in zs.chunks_mut(v).zip(ls.iter_mut()).enumerate() {
                        let r = ci * ROWS_PER_TASK + i;
                        *l = if valid[r] {
                            kern.softmax_xent(z, bias, targets[r] as usize, scale, want_grad)
                        } else {
                            0.0
                        };
                    }
                    if want_grad {
                        // SAFETY: this task alone writes rows ci*16.. of
                        // the grouped dlogits (chunk rows per group).
                        unsafe {
                            let nrows = zs.len() / v;
                            rows_to_grouped(
                                zs.as_ptr(),
                                v,
                                nrows,
                                0,
                                v,
                                dlg.get(),
                                dlg_gs,
                                mr,
                                ci * ROWS_PER_TASK,
                            );
                        }
                    }
                });
            self.profile.head_softmax += tp.elapsed().as_secs_f64();
            if let Some(grads) = grads.as_deref_mut() {
                self.head_backward(grads, r0, rows);
            }
            r0 += rows;
        }
        self.row_loss.iter().sum()
    }

    /// Backward of one head chunk (dlogits in `self.logits`).
    fn head_backward(&mut self, grads: &mut [f32], r0: usize, rows: usize) {
        let cfg = *self.layout.config();
        let (h, v) = (cfg.hidden, cfg.vocab);
        let kern = self.kern;
        let top = self.layers.last().expect("at least one layer");
        let hc = panels(&top.hp, self.ps, kern.nr, h, r0, rows);
        let first = r0 == 0;
        let tp = std::time::Instant::now();
        // dW_head (+)= dlogits^T . h_chunk: A = the grouped dlogits
        // (dlogits^T already packed), B the chunk's rows of the top layer's
        // h panels. The same call sums A's rows: db_head (+)= the column
        // sums of dlogits, rows in order (what adding the rows one by one
        // gives), read while the GEMM has them in cache rather than in a
        // pass of its own over the chunk's 32 MiB of dlogits at V = 8000.
        // SAFETY: dlg holds ceil(V/MR) groups of chunk >= rows rows; the
        // head weight gradient is [V, H] inside grads; dbh holds
        // ceil(V/MR)*MR floats.
        unsafe {
            let dw = grads.as_mut_ptr().add(self.layout.head_weight());
            let a_gs = self.dlg_gs;
            let dbh = self.dbh.as_mut_ptr();
            gemm_grouped_a(kern, v, self.dlg.as_ptr(), a_gs, hc, dw, h, IndexMap::Identity, !first, dbh);
        }
        if r0 + rows == self.batch * self.seq {
            let hb = self.layout.head_bias();
            grads[hb..hb + v].copy_from_slice(&self.dbh.as_slice()[..v]);
        }
        self.profile.head_dw += tp.elapsed().as_secs_f64();
        let tp = std::time::Instant::now();
        // dh[chunk] = dlogits . W_head, A = the chunk's dlogits row-major
        // in the logits buffer (one group as wide as the vocabulary). The
        // grouped copy would do as well, but its MR x MR groups lie a whole
        // group stride apart, a new line for the hardware to fetch every MR
        // depths, while a tile's MR rows are MR sequential streams: one
        // core, `gemm_probe 1048 8000 512 ISA rgm` against `rgr`, 92-93 ->
        // 94-100 GFLOP/s with AVX2 and 97-100 -> 104-108 with AVX-512 on
        // Zen 4. Same products in the same order, so the same sums.
        let a = AGroups { ptr: self.logits.as_ptr(), gw: v, gs: rows * v };
        // SAFETY: dh holds N*H >= (r0+rows)*H floats; the logits buffer
        // holds the chunk's rows x V dlogits.
        unsafe {
            gemm_rows_grouped(
                kern,
                rows,
                a,
                self.head_w.as_bref(),
                self.dh.as_mut_ptr().add(r0 * h),
                h,
                false,
            )
        };
        self.profile.head_dh += tp.elapsed().as_secs_f64();
    }

    /// Backward through the recurrent layers, top first; `self.dh` holds
    /// dL/dh of the top layer.
    fn backward_layers(&mut self, _params: &[f32], grads: &mut [f32]) {
        let cfg = *self.layout.config();
        let (bsz, t_len) = (self.batch, self.seq);
        let n = bsz * t_len;
        let (h, g) = (cfg.hidden, cfg.gates());
        let gh = g * h;
        let (kern, dgt_gs) = (self.kern, self.dgt_gs);
        let threads = rayon::current_num_threads();
        for k in (0..cfg.layers).rev() {
            let inp = cfg.layer_input(k);
            let off = self.layout.layer(k);
            let (below, rest) = self.layers.split_at_mut(k);
            let layer = &mut rest[0];
            let t0 = std::time::Instant::now();
            self.dc.as_mut_slice().fill(0.0);
            self.db.as_mut_slice().fill(0.0);
            let gates = SendPtr(layer.gates.as_mut_ptr());
            let cs = SendPtr(layer.c.as_mut_ptr());
            let tcs = SendPtr(layer.tc.as_mut_ptr());
            let hs = SendPtr(layer.h.as_mut_ptr());
            let dh = SendPtr(self.dh.as_mut_ptr());
            let dxs = SendPtr(self.dx.as_mut_ptr());
            let dgts = SendPtr(self.dgt.as_mut_ptr());
            let dc = SendPtr(self.dc.as_mut_ptr());
            let db = SendPtr(self.db.as_mut_ptr());
            let (w_hh, w_ih) = (&layer.w_hh, &layer.w_ih);
            // Tasks of a step: `nh` of dh_t (TASK_UNITS units each, with
            // their cell) and `nx` of dX_{t+1} = dG_{t+1} W_ih (TASK_UNITS
            // columns each), interleaved so both threads' home ranges get
            // both kinds. Step T (t = -1) only computes dX_0. Layer 0 with
            // the input table needs no dX (see [`token_sums`]).
            let table = k == 0 && self.table_on;
            let nh = h.div_ceil(TASK_UNITS);
            let nx = if table { 0 } else { inp.div_ceil(TASK_UNITS) };
            let both = nh.min(nx);
            let ntasks = nh + nx;
            let kind = move |i: usize| -> (bool, usize) {
                if i < 2 * both { (i.is_multiple_of(2), i / 2) } else { (nh > nx, both + (i - 2 * both)) }
            };
            let cell = cfg.cell;
            let step = move |s: usize, task: usize| {
                let nr = kern.nr;
                let (is_dh, j) = kind(task);
                if !is_dh {
                    // dX_{t+1}, t = T-1-s: rows (T-s) of dX.
                    if s == 0 {
                        return;
                    }
                    let r = t_len - s;
                    let c0 = j * TASK_UNITS;
                    let c1 = (c0 + TASK_UNITS).min(inp);
                    // SAFETY: this task alone writes dX rows r*B.., columns
                    // c0..c1 (c0 a multiple of the panel width); it reads
                    // dG_r, complete since the previous step's barrier and
                    // not written again.
                    unsafe {
                        gemm_rows_panels(
                            kern,
                            bsz,
                            gates.get().add(r * bsz * gh),
                            gh,
                            w_ih,
                            c0 / nr,
                            c1.div_ceil(nr),
                            dxs.get().add(r * bsz * inp),
                            inp,
                            false,
                            // Then (the next task) dh_{j+1}'s W_hh panel.
                            if (j + 1) * TASK_UNITS < h {
                                w_hh.panel_ptr((j + 1) * TASK_UNITS / nr)
                            } else {
                                std::ptr::null()
                            },
                        );
                    }
                    return;
                }
                if s == t_len {
                    return;
                }
                let t = t_len - 1 - s;
                let u0 = j * TASK_UNITS;
                let u1 = (u0 + TASK_UNITS).min(h);
                // SAFETY: this task alone writes dh columns u0..u1 of rows
                // t*B.., gate columns g*u0..g*u1 of rows t*B.., dc/db of its
                // units; it reads dG_{t+1} (all columns), complete since the
                // previous step's barrier. u0 is a multiple of the panel width.
                unsafe {
                    let dht = dh.get().add(t * bsz * h);
                    if t + 1 < t_len {
                        let dg_next = gates.get().add((t + 1) * bsz * gh);
                        gemm_rows_panels(
                            kern,
                            bsz,
                            dg_next,
                            gh,
                            w_hh,
                            u0 / nr,
                            u1.div_ceil(nr),
                            dht,
                            h,
                            true,
                            // Then (the next task) dX_j's W_ih panel.
                            if j < nx { w_ih.panel_ptr(j * TASK_UNITS / nr) } else { std::ptr::null() },
                        );
                    }
                    // The fused backward cell, one call per gate block for all B rows.
                    let r0 = t * bsz;
                    let mut u = u0;
                    while u < u1 {
                        let w = UNIT_BLOCK.min(h - u);
                        let col = g * u;
                        let grow = gates.get().add(r0 * gh + col);
                        match cell {
                            Cell::Lstm => {
                                let cp = if t > 0 {
                                    cs.get().add((r0 - bsz) * h + u) as *const f32
                                } else {
                                    std::ptr::null()
                                };
                                (kern.lstm_bwd_rows)(
                                    bsz,
                                    w,
                                    grow,
                                    gh,
                                    tcs.get().add(r0 * h + u),
                                    cp,
                                    dht.add(u),
                                    dc.get().add(u),
                                    h,
                                    db.get().add(col),
                                );
                            }
                            Cell::Rnn => {
                                (kern.rnn_bwd_rows)(
                                    bsz,
                                    w,
                                    hs.get().add(r0 * h + u),
                                    dht.add(u),
                                    h,
                                    grow,
                                    gh,
                                    db.get().add(col),
                                );
                            }
                        }
                        u += w;
                    }
                    // dG_t^T for the weight gradients.
                    let mr = kern.mr;
                    rows_to_grouped(
                        gates.get().add(r0 * gh),
                        gh,
                        bsz,
                        g * u0,
                        g * u1,
                        dgts.get(),
                        dgt_gs,
                        mr,
                        r0,
                    );
                }
            };
            self.sync.run(threads, t_len + 1, ntasks, &step);
            std::mem::swap(&mut self.dh, &mut self.dx);
            self.profile.bwd_loop += t0.elapsed().as_secs_f64();
            let t0 = std::time::Instant::now();

            // Bias gradients (both biases get the same).
            let gmap = IndexMap::GateRow { g, h };
            for (j, &d) in self.db.as_slice().iter().enumerate() {
                let r = gmap.get(j);
                grads[off.b_ih + r] = d;
                grads[off.b_hh + r] = d;
            }
            let (mr, nr) = (kern.mr, kern.nr);
            let cmap = IndexMap::GateRow { g, h };
            // SAFETY (both GEMMs): dgt holds dG^T grouped by MR with group
            // stride N*MR (written by the loop above for every position);
            // h is [N, H], X [N, in]; dW_hh [GH, H] and dW_ih [GH, in] lie
            // inside grads; cmap sends gate columns < GH to rows < GH.
            let hprev = panels(&layer.hp, self.ps, nr, h, 0, n - bsz);
            unsafe {
                // dW_hh = sum_{t>=1} dG_t^T h_{t-1}.
                let dw_hh = grads.as_mut_ptr().add(off.w_hh);
                let a = self.dgt.as_ptr().add(bsz * mr);
                gemm_grouped_a(kern, gh, a, self.dgt_gs, hprev, dw_hh, h, cmap, false, std::ptr::null_mut());
            }
            let dw_ih = grads[off.w_ih..off.w_ih + gh * inp].as_mut_ptr();
            if table {
                let (v, emb, u) = (cfg.vocab, self.layout.embedding(), self.uniq.len());
                // The table's buffer takes the sums: the forward is done with it.
                let sums = self.in_table.as_mut_slice();
                token_sums(self.dgt.as_slice(), self.dgt_gs, &self.slots, mr, u, sums, self.tok_gs);
                let s = self.in_table.as_ptr();
                // dE_U goes to dx: after the swap above it holds layer 0's
                // dL/dh, which the loop has consumed.
                let de_u = self.dx.as_mut_ptr();
                // SAFETY: the sums buffer holds ceil(GH/MR) groups of U rows,
                // tok_gs apart (token_sums wrote them all); emb_p packs the
                // [U, E] embedding rows and w_ih the permuted [GH, E] W_ih;
                // dW_ih [GH, E] lies inside grads (sliced above); dx holds
                // N * max(E, H) >= U * E floats.
                unsafe {
                    // dW_ih = S^T E_U.
                    gemm_grouped_a(
                        kern,
                        gh,
                        s,
                        self.tok_gs,
                        self.emb_p.as_bref(),
                        dw_ih,
                        inp,
                        cmap,
                        false,
                        std::ptr::null_mut(),
                    );
                    // dE_U = S W_ih.
                    let a = AGroups { ptr: s, gw: mr, gs: self.tok_gs };
                    gemm_rows_grouped(kern, u, a, layer.w_ih.as_bref(), de_u, inp, false);
                }
                // dE[uniq[i]] += dE_U[i] (onto zero, or onto dW_head when
                // tied); distinct rows, so parallel over them.
                let de = SendPtr(grads[emb..emb + v * inp].as_mut_ptr());
                let uniq = &self.uniq;
                self.dx.as_slice()[..u * inp].par_chunks(inp * 64).enumerate().for_each(|(ci, rows)| {
                    for (i, row) in rows.chunks(inp).enumerate() {
                        let tok = uniq[ci * 64 + i] as usize;
                        // SAFETY: tok < V, and no other task has this row.
                        let dst = unsafe { std::slice::from_raw_parts_mut(de.get().add(tok * inp), inp) };
                        kern.add(dst, row);
                    }
                });
            } else {
                let xp = panels(if k == 0 { &self.x0p } else { &below[k - 1].hp }, self.ps, nr, inp, 0, n);
                // SAFETY: as for dW_hh; X's panels hold N rows of `inp`.
                unsafe {
                    // dW_ih = dG^T X.
                    gemm_grouped_a(
                        kern,
                        gh,
                        self.dgt.as_ptr(),
                        self.dgt_gs,
                        xp,
                        dw_ih,
                        inp,
                        cmap,
                        false,
                        std::ptr::null_mut(),
                    );
                }
            }
            self.profile.bwd_gemm += t0.elapsed().as_secs_f64();
        }
        if self.table_on {
            return;
        }
        let t0 = std::time::Instant::now();
        // Embedding: scatter-add dX of layer 0, in position order, parallel
        // over columns.
        let e = cfg.embed;
        let emb = self.layout.embedding();
        let dx = &self.dh.as_slice()[..n * e];
        let tokens = &self.tokens;
        let gp = SendPtr(grads[emb..emb + cfg.vocab * e].as_mut_ptr());
        let cols_per = 64usize;
        (0..e.div_ceil(cols_per)).into_par_iter().for_each(|ci| {
            let j0 = ci * cols_per;
            let w = cols_per.min(e - j0);
            for (r, &tok) in tokens.iter().enumerate() {
                // SAFETY: task ci alone touches columns j0..j0+w of the
                // embedding gradient; tok < V was checked in load_batch.
                unsafe {
                    let dst = std::slice::from_raw_parts_mut(gp.get().add(tok as usize * e + j0), w);
                    kern.add(dst, &dx[r * e + j0..r * e + j0 + w]);
                }
            }
        });
        self.profile.other += t0.elapsed().as_secs_f64();
    }
}

/// Layer 0's input X `[N, E]` (the gathered embedding rows) and its B
/// panels for dW_ih, `ps` floats apart: what a workspace without the input
/// table needs.
fn x_buffers(n: usize, e: usize, nr: usize, ps: usize) -> (AlignedBuf, AlignedBuf) {
    (AlignedBuf::zeros(n * e), AlignedBuf::zeros(e.div_ceil(nr) * ps))
}

/// Copies embedding row `ids[i]` (`emb` is `[V, e]`) into row i of `rows`,
/// for every row of `rows`.
fn gather_rows(rows: &mut [f32], ids: &[u32], emb: &[f32], e: usize) {
    for (row, &tok) in rows.chunks_mut(e).zip(ids) {
        let tok = tok as usize;
        row.copy_from_slice(&emb[tok * e..tok * e + e]);
    }
}

/// S = dG summed per distinct input token (U rows, `slots[p]` the row of
/// position p), in position order: `dgt` holds dG^T grouped by MR columns
/// (group stride `dgt_gs`, position p of group q at `q * dgt_gs + p * mr`),
/// and `sums` receives S in the same grouping (row u of group q at `q *
/// tok_gs + u * mr`), so each group's sums are one contiguous U x MR block
/// fed by one N x MR stream. Parallel over groups: every sum has the same
/// order on any thread count.
fn token_sums(
    dgt: &[f32],
    dgt_gs: usize,
    slots: &[u32],
    mr: usize,
    u: usize,
    sums: &mut [f32],
    tok_gs: usize,
) {
    let n = slots.len();
    let groups = dgt.len().div_ceil(dgt_gs);
    sums[..groups * tok_gs].par_chunks_mut(tok_gs).enumerate().for_each(|(grp, s)| {
        let s = &mut s[..u * mr];
        s.fill(0.0);
        let dg = &dgt[grp * dgt_gs..grp * dgt_gs + n * mr];
        for (d, &slot) in dg.chunks_exact(mr).zip(slots) {
            let dst = &mut s[slot as usize * mr..(slot as usize + 1) * mr];
            for (a, x) in dst.iter_mut().zip(d) {
                *a += *x;
            }
        }
    });
}

/// The most distinct input tokens for which layer 0 takes the input table
/// (V, or 7/8 of the N positions when V is larger). The table replaces the
/// three N-row GEMMs of layer 0's input side (x W_ih^T, dX = dG W_ih, dW_ih
/// = dG^T X, each N x E x GH) by three U-row ones (the table E_U W_ih^T,
/// dE_U = S W_ih, dW_ih = S^T E_U) outside the time loops, and adds a
/// table-row copy per position and the per-token sums, a few percent of
/// those GEMMs: it pays up to U close to N. A character vocabulary always
/// fits; BPE-8000 text has U ~ N/3 at N = 4096 (uniformly random ids at V =
/// 8000, U ~ 0.78 N).
fn table_cap(v: usize, n: usize) -> usize {
    v.min(n - n / 8)
}

/// Zeroes the padding between tensors and, when the head is untied, the
/// embedding gradient (it is built by scatter-add). Every other gradient
/// tensor is overwritten whole by the backward.
fn zero_padding_and_embedding(layout: &ParamLayout, grads: &mut [f32]) {
    let mut end = 0;
    for s in layout.specs() {
        grads[end..s.offset].fill(0.0);
        end = s.offset + s.len();
    }
    grads[end..].fill(0.0);
    if !layout.config().tie {
        let e = layout.get("embedding.weight").map(|s| s.range()).unwrap_or(0..0);
        grads[e].fill(0.0);
    }
}

// Performance notes
// -----------------
// Machine: 2 Zen 4 cores (AMD EPYC, KVM), AVX-512 double-pumped: one 512-bit
// FMA per cycle per core, the same peak as two 256-bit FMAs. Measured FMA
// peak (12 independent chains, 2 threads): 208-228 GFLOP/s depending on the
// moment (the machine is shared; figures below are from runs at raised
// priority, see scripts/bench/lstm.sh --priority). V=65, E=H=512, L=2,
// T=128, B=32, 2 threads, ms per step (103 GFLOP):
//
// | version | total | notes |
// |---|---|---|
// | first correct version | 4,820 | 44% of a contended peak |
// | closures removed from generic kernels | 642 | a closure passed to a helper is its own function, compiled without the entry's target features: every intrinsic in it was an out-of-line call (the cell ran ~30x slow) |
// | KC 256 -> 512, MC 128 -> 64 | 601 | fewer C reloads; A block stays in L2 |
// | copy fast paths in packing | 609 (noise) | weight packing 10 -> 5 ms, activation packing 19 -> 7 ms |
// | huge pages (madvise) on buffers >= 4 MiB | 591 | dG^T is read with an 8 KiB stride per k: every k was a new 4 KiB page |
// | cell kernels over all B rows per call | ~590 | the out-of-order window overlaps the rows' exp/div chains |
// | A-packing fast paths | 567-594 | dW GEMMs at H=256: 146 -> 163 GFLOP/s |
//
// Where the time went at that point (H=512, 2 threads, ms/step): input projections
// 81-86 (~200 GFLOP/s), forward loop 93 (of which the fused cell ~10; the
// per-step GEMM runs at ~94% of one core's peak), backward loop 89-91, weight
// gradients ~195 (~175 GFLOP/s, transposed dG operand), dX 90-95, head 7-10,
// weight packing 5, activation packing 5.
//
// Then (this layout): the input projection and dX inside the time loops;
// activations written by the forward as the B panels the weight-gradient
// and head GEMMs read (no activation packing); dG^T and dlogits^T written
// grouped by MR (no A packing); transposed weight packing eight columns at
// a time: +5% tokens/s, peak RSS 240 -> 297 MiB at H=512.
//
// Side by side with PyTorch 2.15 (oneDNN), 2 threads, same configs and
// optimizer, `scripts/bench/lstm.sh --reps 3 --priority` (median of three
// interleaved runs; FMA peak measured on the same threads, best of eight
// bursts, ~234 GFLOP/s):
//
// | config | ours tok/s | % of peak | PyTorch tok/s | speed-up | ours / PyTorch peak RSS |
// |---|---:|---:|---:|---:|---:|
// | V=65 E=H=512 L=2 | 8,335 | 90% | 6,205 | 1.34x | 295 / 1,011 MiB |
// | V=65 E=H=256 L=2 | 29,112 | 79% | 19,536 | 1.51x | 126 / 844 MiB |
// | V=8000 E=H=512 L=2 | 4,183 | 89% | 3,038 | 1.38x | 512 / 1,590 MiB |
//
// An earlier run (before the microkernels shared their tile code) gave
// 86% / 81% / 83%: the machine is shared, quote ranges.
//
// AVX2 + FMA (2 Zen 3 cores, KVM, no AVX-512; 512 KiB L2 per core; FMA peak
// ~192 GFLOP/s on 2 threads; a machine shared with other builds, so quote
// ratios of interleaved runs). Before: 66% / 69% / 59% of the peak, 1.23x /
// 1.40x / 1.12x PyTorch. Profile (perf, V=8000): everything is in the three
// microkernels (ukernel_rows_g 31%, ukernel_rows 27%, ukernel_packed 21%).
// - B = 32 rows did not divide into 6-row tiles: the per-step GEMMs computed
//   36 rows through a shifted scratch tile. 6- and 5-row tiles (2x6 + 4x5)
//   plus a depth loop unrolled by two: one core on 32x512x2048 74% -> 92%
//   of its peak; V=65 training 4,141-4,306 -> 4,925-4,982 tokens/s.
// - dh (K = V) in the A-stationary order read B once per 12 rows (6 flops
//   per byte of B from L3): 25-35% slower than the B-stationary order here.
// - `scripts/bench/lstm.sh --reps 3 --priority` after: 68% / 50% / 52% of
//   the peak (recurrent part 70% / 52% / 58%, head 40% / 29% / 49%), 1.39x /
//   1.75x / 1.21x PyTorch; both sides were slowed by other jobs in that run.
// What is left: in the step, each thread streams ~4 MiB of W_ih/W_hh per
// time step from L3 (an eighth fits in L2) and waits at one barrier per
// step; the weight gradients run at ~80%; the V = 8000 head (its GEMMs at
// ~50-60%) moves 32 MiB logits blocks and the 16 MiB weight through L3 and
// memory several times per chunk.
//
// Layer 0's input table (V <= N/4): x_t is an embedding row, so x_t W_ih^T
// is one of V rows of E W_ih^T, computed per call by one GEMM (V x E x GH,
// 0.14 GFLOP at V = 65, E = H = 512) instead of the N x E x GH projection
// in the loop (8.6 GFLOP, a quarter of the forward loop's FLOPs).
// The forward is bit-identical (same kernels, k in the same order).
// (Since then the table covers the batch's distinct tokens, not V: see
// the last note below.)
// Intel Xeon, 2 cores, AVX-512, V = 65, H = 512, five interleaved pairs of
// `bench_lstm_train --vocab 65 --hidden 512 --steps 6`: the forward loop
// over the backward loop 0.90-1.06 (median 0.98) before, 0.69-0.79
// (median 0.77) after.
//
// Later (Intel Xeon, AVX-512 with two FMA units, 48 KiB L1d and 2 MiB L2
// per core; `gemm_probe` median call, `bench_lstm_train` interleaved pairs):
// - The backward went through the table too: dW_ih = S^T E and dE = S W_ih
//   with S = dG summed per token, and no dX in layer 0's time loop. This
//   reorders those two sums (they are checked against the f64 reference;
//   every other gradient is bit-identical with the table off) and changed
//   the published char and BPE-512 figures in their last digits. V = 65,
//   H = 512: 1.10-1.47x (AVX-512), 1.05-1.27x (AVX2).
// - Strides of an odd number of 4 KiB pages for the activation panels, dG^T
//   and the dlogits groups (`spread`): with N = 4096 the head's logits read
//   32 groups 256-512 KiB apart, all in the same cache sets. Logits GEMM at
//   V = 8000: AVX2 111-131 -> 187-209 GFLOP/s; in training 265-293 -> 156-171
//   ms a step.
// - dW (`gemm_grouped_a`) blocked like the packed driver instead of whole-
//   depth calls: 274-310 -> 356-427 GFLOP/s (AVX-512), 172-180 -> 194 (AVX2).
// - Left: dh at V = 8000 (AVX-512) runs 1.2-1.6x faster in isolation with
//   KC = 512 than with the L2-derived 1024, but only ~10% faster in training
//   while dW_head lost a little; the blocking rule stays.
//
// Then (same machine): the per-step GEMM ran at 72-79% of a core's peak with
// its weights in L3 against 85-100% in L2 (`gemm_probe 32 512 N avx512 rows`,
// N = 2048 / 256). ukernel_rows and ukernel_packed hint one line per two
// depths into L2: the per-step driver the next panel's depth block (and,
// across calls, the panel the caller runs next), the weight-gradient driver
// the next B block and the next depth's A tiles. V = 65, H = 512: 1.09x then
// 1.03x (AVX-512), 1.06x (AVX2); V = 8000: 1.09x. A 256-byte skew on the
// group strides (`SKEW`) took dh at V = 8000 from 127.5 to 108.5 ms a step.
// Tried and left out, no change in training: hints for the head's grouped
// driver (A of the next row tile, B of the next depth block), regular stores
// for dlogits, KC / 2 for dh, other logits chunk sizes, a GEMV prefetch for
// sampling (+2%). Barrier waits are ~1% of the loops' time; what is left in
// the loops is L3 bandwidth (2-4 MiB of weights per thread per step).
//
// Tried and rejected:
// - Packing a whole A block row by row with software prefetch for the
//   transposed dG operand (instead of tile by tile): 163 -> 146 GFLOP/s;
//   eight interleaved write streams cost more than the prefetch saved.
//   Huge pages fixed the actual problem (TLB).
// - Parallel sampling with a rayon region per layer costs ~20 us of wake-ups
//   per token; still a net win at H=512 (see stepper.rs), not below H=256.
// - One barrier per step is all the time loop needs: a task's GEMM columns
//   are exactly the gate columns its cell consumes (permuted gate layout),
//   and the backward task's dh columns are its cell's units.
//
// - dW computed as X^T dG (transposed A amortised over N = GH instead of
//   N = in): 170-180 GFLOP/s either way in the probe; kept dG^T X.
// - Software prefetch of the 8 KiB-strided dG rows in the A packing: no
//   measurable change once huge pages were on.
// - GEMM blocking MC in {32, 64, 128} x KC in {512, 1024} on the whole
//   step: all within noise (7,000-7,200 tokens/s).
//
// Head kernels (Zen 4, shared, `gemm_probe` fastest call, interleaved):
// - dh read the grouped dlogits in row groups of MR depths; unrolling a
//   group with constant offsets (`ukernel_rows_g`, gw == MR): V = 8000 dh
//   chunk 1.26x (AVX2) / 1.16x (AVX-512). It now reads the row-major
//   dlogits (one group as wide as V: MR sequential row streams instead of a
//   new line every MR depths): one core, 92-93 -> 94-100 GFLOP/s (AVX2),
//   97-100 -> 104-108 (AVX-512), Zen 4.
// - The V = 65 logits' last panel (one column) runs a half-width kernel:
//   1.13x (AVX2) / 1.19x (AVX-512) on the logits GEMM; the head is < 1% of
//   a V = 65 step, so this shows in the head's % of peak only.
// - Tried and left out: the same constant-width unrolling for the logits'
//   groups of NR (16 / 32 depths): no measurable change.
// - With the fastest-call probe the per-step GEMM (32x512x2048, one core)
//   runs at 96-97% (AVX2) and ~100% (AVX-512) of the core's peak on Zen 4:
//   what the training loop loses beyond that is outside the microkernel
//   (barriers, L3 traffic, and on a shared machine a preempted thread
//   stalling the other at every step's barrier).
//
// The input table over the batch's distinct tokens (Zen 4, AVX2 path, V =
// 8000, H = 512; phase minima over interleaved runs, ms a step): it was
// V rows, so V = 8000 never took it. With U rows (U = 3,205 for uniform
// ids, ~1,350 for BPE-8000 Shakespeare at N = 4096): on uniform ids the
// loops 205 + 212 -> 168 + 162, weight packing (now with the table GEMM,
// 6.7 GFLOP at ~87%) 11 -> 50, weight gradients (with the sums and the two
// U-row GEMMs) 188 -> 223: a wash but for the 2.8% fewer FLOPs (tokens/s
// 1.01x, 1.02x with AVX-512). On the text ids everything but the head 516
// -> 441; tokens/s 1.07x (1.08x with AVX-512).
//
// Looking for the last few percent at V = 8000 with the AVX2 path (Zen 4,
// 2 cores, a host whose load switches between quiet and busy every few
// seconds: the same binary ran 3,300-3,960 tokens/s from one run to the
// next, so only changes worth more than ~5% of a phase can be told apart).
// Quiet phase minima, ms a step: weight packing + the table GEMM 42, the
// loops 138 + 137, the head 504 (logits 159, softmax 18, dW 168, dh 159),
// weight gradients 196, clipping + AdamW 8-10 (not in the phases).
// - Where the forward loop goes (instrumented, CPU ms per layer summed over
//   the threads): layer 1 GEMMs 168 on one thread (~88% of a core's peak),
//   191 on two (~77% per core); the cell 13-16 either way; the h panel
//   copies 0.7; waiting at the barrier ~8 of 214 on two threads. Two
//   single-core `gemm_probe ... rows` runs side by side slow each other's
//   median call (48-83 against 75-97 GFLOP/s alone): the two cores share
//   the L3 the weights stream from each step.
// - Tried and left out, all bit-identical, none measurably faster:
//   - layer 1's input projection hoisted out of the loop again (one N-row
//     GEMM before it): GEMM 41 + loop 51 ms against 93-100 ms for the
//     fused loop, within noise; with dX hoisted after the backward loop
//     too, V = 65, 30 pairs of steps alternating in one process: loop
//     minima 134.5 / 136.7 ms against 134.6 / 137.4;
//   - the LSTM cell over four rows in lockstep (its four gate activations
//     then the c -> tanh c -> h chain of each row side by side): the cell's
//     CPU time unchanged; `perf annotate` spreads it over the arithmetic;
//   - the per-step GEMM hinting two or three panels ahead instead of one;
//     hinting the next step's gate, c, tanh c and h lines during a task;
//   - blocking: MC 60 -> 120, 126 or 252 and KC 1024 -> 512 or 256
//     (`TOKLAB_GEMM_BLOCK`), depth blocks of equal size (no 24-deep tail
//     at K = 1,048), head chunks of 1,024 rows (4 equal chunks at N =
//     4096), row blocks in a multiple of the thread count: dW-shaped probes
//     peak at 212-220 GFLOP/s (91-94%) in every variant;
//   - the head's row-grouped driver in BLIS order (a KC = 256 B panel held
//     in L1 while row sub-blocks pass): on a quiet machine logits 92-93%
//     either way, dh 85-90% against 91%;
//   - dW_head hinting the next tile's C rows into L1 (chunks 2-4 reload C
//     from memory): dW 176.6 -> 171.6 ms at the minimum, dh, untouched,
//     moved as much;
//   - parameters and gradients on huge pages (they are plain Vecs, and
//     this machine's THP is madvise-only): every phase within 2%.
//
// The session after (same kind of machine, a host busier still: the same
// binary 3,100-3,900 tokens/s at V = 8000 with AVX2). `perf record -e
// cpu-clock` of `bench_lstm_train --vocab 8000 --hidden 512 --steps 14`
// (AVX2): the four microkernels take 89% of the training CPU time
// (ukernel_rows_g 34, ukernel_packed 32, the per-step ukernel_rows and
// ukernel_rows_lo 23); the rest is small pieces: the cells 2.2%, softmax
// 1.3%, memmove 1.1%, db_head's column sums
// 0.8%, the grouped dlogits copy 0.8%, the step barrier 0.6%, AdamW 0.5%,
// weight packing 0.4%.
// - db_head is now summed by the dW_head GEMM (`gemm_grouped_a` with
//   `sums`, the `group_sums` kernel) from the A tiles it streams, the
//   depths in order, instead of a pass of its own over each chunk's
//   row-major dlogits (32 MiB at V = 8000, 8.5 ms a step at the quiet
//   minimum): bit-identical, 0.41% of the CPU time against 0.72%.
// - Tried and left out, no measurable change: time-loop tasks of 16 units
//   on AVX2 (finer stealing at the barrier; loop minima 155 / 157 ->
//   160 / 156 ms); hinting the next step's input-table rows into L2 during
//   a layer-0 task (forward-loop minima moved 5-9 ms either way with the
//   order of the runs). Clipping folded into AdamW would save a pass, but
//   the benchmark's gradient norm (0.03) never reaches the clip.
// - Measured beside PyTorch in three AVX2 runs, both sides' fastest steps
//   (`lstm.sh` now prints them) put V = 8000 at 74-81% of the peak and
//   1.26-1.43x; the medians of the same runs 60-72% and 1.33-1.36x. In the
//   busiest run every phase, the GEMMs included, ran 20-35% over its quiet
//   minimum: the host, not a part of the step.
//
// Natively on AVX2 (Zen 3, 512 KiB L2, so KC = 512 and MC = 60 where Zen 4
// forced to AVX2 derives KC = 1024), V = 8000, H = 512, three interleaved
// runs each of `bench_lstm_train --steps 5` (`TOKLAB_GEMM_BLOCK`, whose MC
// rounds up to 64), phase minima in ms a step: KC 512 logits 201.6, dW
// 203.7, dh 205.2, weight gradients 237.9; KC 256 200.5, 198.0, 203.2,
// 248.6; the default (KC 512, MC 60, so nearly the first) 215.2, 210.6,
// 220.6, 252.8: the host's noise is larger than the difference. The
// blocking rule stays. The same shapes in `gemm_probe` (1048x512x8000 rg,
// 8000x1048x512 grp, 1048x8000x512 rgr; 2 threads) run their fastest call
// at 86-94% of the peak, their median at 83-91%; in training each GEMM is
// ~83%.
//
// The session after (same kind of machine; five `lstm.sh` runs, the last two
// on a quiet host: V = 8000 at 82% / 80%, 1.42x / 1.38x PyTorch). On one
// thread the step runs at 84% of a core, on two at 81% of both: the loops
// scale 1.94x and the head 1.96x, so what is left is per-core efficiency.
// dh re-reads the chunk's row-major dlogits once per block of 8 B panels
// (4 times at H = 512); holding all 32 panels in L2 with a shallower KC
// reads them once but did not pay (`gemm_probe 1048 8000 512 avx2 rgr`,
// 2 threads, fastest call over three rounds): 8 x 512 (the rule) 85-92%,
// 32 x 128 83-87%, 16 x 256 77-89%, 32 x 64 80-82%.

/// Activations `[N, w]` (position-major) kept as B panels of the weight
/// gradients: `buf` holds ceil(w/NR) panels of N rows, `ps` floats apart,
/// element (p, j) at `[(j / NR) * ps + p * NR + j % NR]`; this views rows
/// `r0..r0+rows`.
fn panels(buf: &AlignedBuf, ps: usize, nr: usize, w: usize, r0: usize, rows: usize) -> BRef {
    assert!(buf.len() >= w.div_ceil(nr) * ps && (r0 + rows) * nr <= ps, "panels: view out of range");
    BRef { ptr: buf.as_ptr().wrapping_add(r0 * nr), k: rows, n: w, ps }
}

/// The stride of `floats` floats rounded up to an odd number of 4 KiB
/// pages, plus a [`SKEW`]. The activation panels, dG^T's groups and the
/// dlogits' groups are read across groups at a fixed depth; with N = B*T a
/// power of two their natural stride (N * NR floats, 256-512 KiB) is a
/// multiple of every cache's set period, so the groups one tile reads all
/// fall into the same L1 and L2 sets and evict each other. An odd number of
/// pages puts
/// consecutive groups in different sets for any power-of-two period
/// (`gemm_probe 1048 512 8000 ISA rg` with the stride of N = 4096, median
/// call, 2 threads on an Intel Xeon: AVX2 111-131 -> 187-209 GFLOP/s,
/// AVX-512 335-370 -> 400-410).
fn spread(floats: usize) -> usize {
    const PAGE: usize = 1024;
    (floats.div_ceil(PAGE) | 1) * PAGE + SKEW
}

/// Floats added to every [`spread`] stride (256 bytes, four cache lines):
/// a whole number of pages puts group g of every tile at the same offset in
/// its page, so in the same L1 set (the set index repeats every 4 KiB), and
/// the 128 groups of a dh tile (8 rows x 8 floats each, 1,024 depths) fall
/// into 4 of the 64 sets and evict each other between the panel calls that
/// reuse them. With the skew, 16 consecutive groups cover all 64 sets.
/// dh at V = 8000 in training (AVX-512, Intel Xeon, `bench_lstm_train`,
/// five interleaved pairs): 127.5 -> 108.5 ms a step, the step 1.05x.
/// dh has since moved to the row-major dlogits; the strides skewed here are
/// those of the h panels, dG^T, the grouped dlogits and the per-token sums.
const SKEW: usize = 64;
//
// The session after (same kind of machine, Zen 3 with AVX2; both A/Bs in
// one process, the variant on every other timed step of `bench_lstm_train
// --vocab 65 --steps 20`, three runs, median ratio of adjacent steps):
// - The time loop's home range in alternating order (descending on odd
//   steps, so a thread starts each step on the panels it touched last,
//   still in its L2): 1.002 / 1.034 / 0.977, i.e. nothing. About an eighth
//   of a thread's weights per step fit in its 512 KiB L2, and Zen 3's L3
//   holds what L2 evicts.
// - Layer 1's input projection hoisted out of the forward loop again (one
//   N-row GEMM into the gates before it, so each step streams half the
//   weights; bit-identical): 0.987 / 0.994 / 0.999. The loops' loss to the
//   single-core probe (32x1024x2048 `rows`: fastest call 96%, median 91%
//   alone, median 67-75% with a second copy on the other core) is not the
//   volume of weights a step reads.
// Both reverted.
