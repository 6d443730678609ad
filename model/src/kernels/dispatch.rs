//! Run-time choice of the instruction set (memchr's pattern): detect once,
//! cache the choice in an atomic, log it, allow forcing it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::kernels::cache::{Blocking, CacheSizes};
use crate::optim::{AdamWConfig, AdamWScalars};

/// An instruction set the kernels are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// One f32 lane, plain Rust: the reference, available everywhere.
    Scalar,
    /// AVX2 + FMA (x86-64-v3).
    Avx2,
    /// AVX-512F (x86-64-v4).
    Avx512,
}

impl Isa {
    /// Every ISA, slowest first.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// The lower-case name used by `TOKLAB_SIMD`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Parses a `TOKLAB_SIMD` value.
    pub fn from_name(s: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether this CPU can run the ISA's kernels.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => crate::kernels::x86_64::avx2::is_available(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => crate::kernels::x86_64::avx512::is_available(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The available ISAs, slowest first.
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
    }

    /// The ISAs listed in `TOKLAB_REQUIRE_ISA` (comma-separated, e.g.
    /// `avx512,avx2`; empty when unset).
    ///
    /// # Panics
    /// On a name that is not an ISA, so a typo cannot pass silently.
    pub fn required() -> Vec<Isa> {
        let v = std::env::var("TOKLAB_REQUIRE_ISA").unwrap_or_default();
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                Isa::from_name(s)
                    .unwrap_or_else(|| panic!("TOKLAB_REQUIRE_ISA: {s:?} is not one of scalar, avx2, avx512"))
            })
            .collect()
    }

    /// What the per-ISA tests iterate: [`Isa::available`], after checking
    /// that every ISA of `TOKLAB_REQUIRE_ISA` is among them. A test run on a
    /// machine (or CI runner) that lacks a required ISA then fails instead
    /// of silently testing less.
    ///
    /// # Panics
    /// When a required ISA is not available on this CPU.
    pub fn tested() -> Vec<Isa> {
        let avail = Isa::available();
        for r in Isa::required() {
            assert!(
                avail.contains(&r),
                "TOKLAB_REQUIRE_ISA requires {} but this CPU only runs {:?}: its kernels would not be tested",
                r.name(),
                avail.iter().map(|i| i.name()).collect::<Vec<_>>()
            );
        }
        avail
    }
}

/// Raw entry points; see `generic.rs` for each kernel's contract.
pub(crate) type UkernelPacked = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, bool, *const f32);
pub(crate) type UkernelRows =
    unsafe fn(usize, *const f32, usize, *const f32, *mut f32, usize, bool, *const f32);
pub(crate) type UkernelRowsG = unsafe fn(usize, *const f32, usize, usize, *const f32, *mut f32, usize, bool);
pub(crate) type GemvPanel = unsafe fn(usize, *const f32, *const f32, *mut f32, bool);
pub(crate) type LstmFwdRows =
    unsafe fn(usize, usize, *mut f32, usize, *const f32, *const f32, *mut f32, *mut f32, *mut f32, usize);
pub(crate) type LstmBwdRows =
    unsafe fn(usize, usize, *mut f32, usize, *const f32, *const f32, *const f32, *mut f32, usize, *mut f32);
pub(crate) type RnnFwdRows = unsafe fn(usize, usize, *const f32, usize, *const f32, *mut f32, usize);
pub(crate) type RnnBwdRows =
    unsafe fn(usize, usize, *const f32, *const f32, usize, *mut f32, usize, *mut f32);
pub(crate) type SoftmaxXentRow = unsafe fn(usize, *mut f32, *const f32, usize, f32, bool) -> f64;
pub(crate) type AdamWFn = unsafe fn(usize, *mut f32, *const f32, *mut f32, *mut f32, AdamWScalars);
pub(crate) type SumSq = unsafe fn(usize, *const f32) -> f64;
pub(crate) type ScaleFn = unsafe fn(usize, *mut f32, f32);
pub(crate) type AddFn = unsafe fn(usize, *mut f32, *const f32);
/// `generic::group_sums`.
pub(crate) type GroupSumsFn = unsafe fn(usize, usize, usize, *const f32, usize, *mut f32, bool);
pub(crate) type MapFn = unsafe fn(usize, *const f32, *mut f32);

/// One ISA's kernels: a table of entry points plus the GEMM blocking that
/// suits its register file. Obtain it with [`Kernels::get`] or
/// [`Kernels::detect`]; both guarantee the CPU supports the ISA, which is
/// what makes the safe methods sound.
pub struct Kernels {
    pub(crate) isa: Isa,
    /// Register tile rows.
    pub(crate) mr: usize,
    /// Register tile columns (a multiple of the vector width).
    pub(crate) nr: usize,
    pub(crate) ukernel_packed: UkernelPacked,
    pub(crate) ukernel_rows: UkernelRows,
    /// `ukernel_rows` on a tile of MR-1 rows (see `gemm::row_split`).
    pub(crate) ukernel_rows_lo: UkernelRows,
    pub(crate) ukernel_rows_g: UkernelRowsG,
    /// `ukernel_rows_g` on the first NR/2 columns of a panel (B's rows
    /// still NR apart), for a last panel at most half full.
    pub(crate) ukernel_rows_g_half: UkernelRowsG,
    pub(crate) gemv_panel: GemvPanel,
    pub(crate) lstm_fwd_rows: LstmFwdRows,
    pub(crate) lstm_bwd_rows: LstmBwdRows,
    pub(crate) rnn_fwd_rows: RnnFwdRows,
    pub(crate) rnn_bwd_rows: RnnBwdRows,
    pub(crate) softmax_xent_row: SoftmaxXentRow,
    pub(crate) adamw: AdamWFn,
    pub(crate) sumsq: SumSq,
    pub(crate) scale: ScaleFn,
    pub(crate) add: AddFn,
    pub(crate) group_sums: GroupSumsFn,
    pub(crate) exp: MapFn,
    pub(crate) tanh: MapFn,
    pub(crate) sigmoid: MapFn,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernels")
            .field("isa", &self.isa)
            .field("mr", &self.mr)
            .field("nr", &self.nr)
            .field("blocking", &self.blocking())
            .finish_non_exhaustive()
    }
}

/// 0 = not yet detected, else 1 + index into `Isa::ALL`.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

impl Kernels {
    /// The kernels for `isa`, or None when this CPU cannot run them.
    pub fn get(isa: Isa) -> Option<&'static Kernels> {
        if !isa.is_available() {
            return None;
        }
        Some(match isa {
            Isa::Scalar => &crate::kernels::scalar::KERNELS,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => &crate::kernels::x86_64::avx2::KERNELS,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => &crate::kernels::x86_64::avx512::KERNELS,
            #[cfg(not(target_arch = "x86_64"))]
            _ => return None,
        })
    }

    /// The best kernels for this CPU, detected once and cached. The
    /// environment variable `TOKLAB_SIMD=scalar|avx2|avx512` forces a choice
    /// (an unavailable or unknown value is logged and ignored).
    pub fn detect() -> &'static Kernels {
        let c = CHOSEN.load(Ordering::Relaxed);
        if c != 0
            && let Some(k) = Kernels::get(Isa::ALL[c as usize - 1])
        {
            return k;
        }
        let isa = choose();
        let idx = Isa::ALL.iter().position(|&i| i == isa).unwrap_or(0);
        CHOSEN.store(idx as u8 + 1, Ordering::Relaxed);
        Kernels::get(isa).unwrap_or(&crate::kernels::scalar::KERNELS)
    }

    /// The instruction set of these kernels.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The GEMM register tile (rows, columns).
    pub fn tile(&self) -> (usize, usize) {
        (self.mr, self.nr)
    }

    /// The GEMM blocking for this ISA's tile, derived once from this
    /// machine's cache sizes ([`Blocking::derive`]).
    pub fn blocking(&self) -> Blocking {
        static BLOCKING: [OnceLock<Blocking>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let i = Isa::ALL.iter().position(|&x| x == self.isa).unwrap_or(0);
        *BLOCKING[i].get_or_init(|| Blocking::derive(self.mr, self.nr, &CacheSizes::detect()))
    }

    /// `y[i] = e^x[i]`.
    pub fn exp(&self, x: &[f32], y: &mut [f32]) {
        assert_eq!(x.len(), y.len(), "exp: input and output lengths differ");
        // SAFETY: the table exists only for a supported ISA; lengths checked.
        unsafe { (self.exp)(x.len(), x.as_ptr(), y.as_mut_ptr()) }
    }

    /// `y[i] = tanh x[i]`.
    pub fn tanh(&self, x: &[f32], y: &mut [f32]) {
        assert_eq!(x.len(), y.len(), "tanh: input and output lengths differ");
        // SAFETY: as in `exp`.
        unsafe { (self.tanh)(x.len(), x.as_ptr(), y.as_mut_ptr()) }
    }

    /// `y[i] = 1 / (1 + e^-x[i])`.
    pub fn sigmoid(&self, x: &[f32], y: &mut [f32]) {
        assert_eq!(x.len(), y.len(), "sigmoid: input and output lengths differ");
        // SAFETY: as in `exp`.
        unsafe { (self.sigmoid)(x.len(), x.as_ptr(), y.as_mut_ptr()) }
    }

    /// One AdamW step over a flat buffer (`step` counts from 1), PyTorch's
    /// semantics: decoupled weight decay `p *= 1 - lr*wd`, moments with bias
    /// correction, `p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)`.
    #[allow(clippy::too_many_arguments)]
    pub fn adamw_step(
        &self,
        params: &mut [f32],
        grads: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        config: &AdamWConfig,
        lr: f64,
        step: u64,
    ) {
        assert!(step >= 1, "adamw_step: step counts from 1");
        self.adamw_update(params, grads, m, v, &AdamWScalars::new(config, lr, step));
    }

    /// One AdamW update with precomputed constants: the same arithmetic as
    /// [`crate::optim::adamw_update`], bit for bit, vectorised and split over
    /// the rayon pool (elementwise, so the split changes nothing). Its
    /// signature is the `kernel` argument of `optim::AdamW::step_with`.
    pub fn adamw_update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        s: &AdamWScalars,
    ) {
        let n = params.len();
        assert!(
            grads.len() == n && m.len() == n && v.len() == n,
            "adamw_update: lengths differ (params {n}, grads {}, m {}, v {})",
            grads.len(),
            m.len(),
            v.len()
        );
        let c = *s;
        const CHUNK: usize = 1 << 16;
        use rayon::prelude::*;
        params
            .par_chunks_mut(CHUNK)
            .zip(grads.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
            .for_each(|((p, g), (m, v))| {
                // SAFETY: supported ISA; the four chunks have equal lengths.
                unsafe {
                    (self.adamw)(p.len(), p.as_mut_ptr(), g.as_ptr(), m.as_mut_ptr(), v.as_mut_ptr(), c)
                }
            });
    }

    /// Sum of squares, accumulated in f64 over f32 blocks of 1024 (the
    /// result depends only on the data, not on threads).
    pub fn sum_squares(&self, x: &[f32]) -> f64 {
        // SAFETY: supported ISA; x valid for its length.
        unsafe { (self.sumsq)(x.len(), x.as_ptr()) }
    }

    /// `x *= s`.
    pub fn scale(&self, x: &mut [f32], s: f32) {
        // SAFETY: supported ISA; x valid for its length.
        unsafe { (self.scale)(x.len(), x.as_mut_ptr(), s) }
    }

    /// `y += x`.
    pub fn add(&self, y: &mut [f32], x: &[f32]) {
        assert_eq!(x.len(), y.len(), "add: lengths differ");
        // SAFETY: supported ISA; equal lengths.
        unsafe { (self.add)(y.len(), y.as_mut_ptr(), x.as_ptr()) }
    }

    /// Softmax cross-entropy of one row: adds `bias` to `logits`, returns
    /// `logsumexp - logits[target]` (nats), and with `grad` leaves
    /// `scale * (softmax - onehot)` in `logits`.
    pub fn softmax_xent(
        &self,
        logits: &mut [f32],
        bias: &[f32],
        target: usize,
        scale: f32,
        grad: bool,
    ) -> f64 {
        assert_eq!(logits.len(), bias.len(), "softmax_xent: logits and bias lengths differ");
        assert!(target < logits.len(), "softmax_xent: target {} out of range {}", target, logits.len());
        // SAFETY: supported ISA; lengths checked.
        unsafe {
            (self.softmax_xent_row)(logits.len(), logits.as_mut_ptr(), bias.as_ptr(), target, scale, grad)
        }
    }

    /// The fused LSTM forward cell on one gate block of `w` units (see
    /// `generic::lstm_fwd_row`): `gates` `[4w]` pre-activations (without
    /// bias) in, activated gates out; `bias` `[4w]`; `c_prev` `[w]` (None: zero
    /// state); `c`, `tc` = tanh(c), `h` `[w]` out.
    pub fn lstm_cell_forward(
        &self,
        gates: &mut [f32],
        bias: &[f32],
        c_prev: Option<&[f32]>,
        c: &mut [f32],
        tc: &mut [f32],
        h: &mut [f32],
    ) {
        let w = c.len();
        assert!(gates.len() == 4 * w && bias.len() == 4 * w && tc.len() == w && h.len() == w);
        assert!(c_prev.is_none_or(|p| p.len() == w));
        let cp = c_prev.map_or(std::ptr::null(), |p| p.as_ptr());
        // SAFETY: supported ISA; lengths checked.
        unsafe {
            (self.lstm_fwd_rows)(
                1,
                w,
                gates.as_mut_ptr(),
                4 * w,
                bias.as_ptr(),
                cp,
                c.as_mut_ptr(),
                tc.as_mut_ptr(),
                h.as_mut_ptr(),
                w,
            )
        }
    }

    /// The fused LSTM backward cell on one gate block of `w` units (see
    /// `generic::lstm_bwd_row`).
    pub fn lstm_cell_backward(
        &self,
        gates: &mut [f32],
        tc: &[f32],
        c_prev: Option<&[f32]>,
        dh: &[f32],
        dc: &mut [f32],
        db: &mut [f32],
    ) {
        let w = tc.len();
        assert!(gates.len() == 4 * w && dh.len() == w && dc.len() == w && db.len() == 4 * w);
        assert!(c_prev.is_none_or(|p| p.len() == w));
        let cp = c_prev.map_or(std::ptr::null(), |p| p.as_ptr());
        // SAFETY: supported ISA; lengths checked.
        unsafe {
            (self.lstm_bwd_rows)(
                1,
                w,
                gates.as_mut_ptr(),
                4 * w,
                tc.as_ptr(),
                cp,
                dh.as_ptr(),
                dc.as_mut_ptr(),
                w,
                db.as_mut_ptr(),
            )
        }
    }

    /// `h = tanh(pre + bias)`.
    pub fn rnn_cell_forward(&self, pre: &[f32], bias: &[f32], h: &mut [f32]) {
        assert!(pre.len() == h.len() && bias.len() == h.len());
        // SAFETY: supported ISA; lengths checked.
        unsafe {
            (self.rnn_fwd_rows)(1, h.len(), pre.as_ptr(), h.len(), bias.as_ptr(), h.as_mut_ptr(), h.len())
        }
    }

    /// `dpre = dh * (1 - h^2)`, `db += dpre`.
    pub fn rnn_cell_backward(&self, h: &[f32], dh: &[f32], dpre: &mut [f32], db: &mut [f32]) {
        let w = h.len();
        assert!(dh.len() == w && dpre.len() == w && db.len() == w);
        // SAFETY: supported ISA; lengths checked.
        unsafe {
            (self.rnn_bwd_rows)(1, w, h.as_ptr(), dh.as_ptr(), w, dpre.as_mut_ptr(), w, db.as_mut_ptr())
        }
    }
}

fn choose() -> Isa {
    let best = Isa::ALL.into_iter().rev().find(|i| i.is_available()).unwrap_or(Isa::Scalar);
    match std::env::var("TOKLAB_SIMD") {
        Ok(v) if !v.trim().is_empty() => match Isa::from_name(&v) {
            Some(isa) if isa.is_available() => {
                log::debug!("kernels: TOKLAB_SIMD={v}: using {}", isa.name());
                isa
            }
            Some(isa) => {
                log::warn!(
                    "kernels: TOKLAB_SIMD={v}: {} is not available on this CPU, using {}",
                    isa.name(),
                    best.name()
                );
                best
            }
            None => {
                log::warn!(
                    "kernels: TOKLAB_SIMD={v} is not one of scalar, avx2, avx512; using {}",
                    best.name()
                );
                best
            }
        },
        _ => {
            log::debug!("kernels: detected {}", best.name());
            best
        }
    }
}
