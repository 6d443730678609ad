//! BLIS-style single-precision GEMM: `C[m x n] (+)= A[m x k] . B[k x n]`.
//!
//! - B is packed into column panels of NR (the microkernel's width), each
//!   panel holding all k rows contiguously (`PackedB`, zero-padded past n).
//!   Weights are packed once per optimizer step and reused by every call
//!   (`crate::fast` never repacks them inside the time loop). A `BRef`
//!   views panels in place with their own panel stride: the trainer writes
//!   its activations in this layout as it computes them, so the weight
//!   gradients and the head use them as B with no packing.
//! - A comes in four forms, one driver each:
//!   - any strides (optional row permutation), packed per (MC x KC) block
//!     into an MR-interleaved thread-local buffer: `gemm_packed_raw`, the
//!     general entry behind [`gemm`] and [`gemm_prepacked`];
//!   - row-major in place: `gemm_rows_panels`, the per-time-step GEMMs,
//!     whose A is a B x K activation every thread shares;
//!   - already MR-interleaved over its whole depth ("grouped", see
//!     [`group_a`]): `gemm_grouped_a`, the weight gradients (the backward
//!     writes dG^T this way) and dW_head;
//!   - in row groups (`AGroups`, see [`group_rows`]): `gemm_rows_grouped`,
//!     the head's logits (A = activation panels) and dh (A = grouped
//!     dlogits).
//! - The microkernels keep an MR x NR tile in registers over a KC-deep slice
//!   (`generic::ukernel_packed`, `ukernel_rows`, `ukernel_rows_g`).
//! - Threads (rayon) split the output into (rows x panel range) tiles; the K
//!   reduction is never split, and every element is accumulated in the same
//!   order (k in order; C is stored and reloaded unchanged between KC
//!   blocks), so the result is bit-identical for any thread count, tiling,
//!   driver and A layout (`tests/kernels.rs` checks the drivers against
//!   each other bit for bit).
//!
//! Performance notes:
//! - Edge tiles (rows < MR or columns < NR) run the full microkernel on a
//!   zero-padded copy and copy the valid part back: one kernel, no masked
//!   variants, identical arithmetic for interior and edge elements.
//! - Per-step GEMMs with M = batch (e.g. 32) read A unpacked: packing it per
//!   task would copy B x K floats per task per step, more than the tile's
//!   work saves. If M is not a multiple of MR the last tile is shifted up to
//!   end at row M (recomputing a few rows into a scratch tile) so it can still
//!   read A in place.
//! - Blocking comes from the cache sizes (`cache::Blocking::derive`): KC
//!   keeps 8 B panels of KC x NR in half the L2, MC fills a quarter of it
//!   with packed A. On the two machines measured that is KC = 512 (Zen 4,
//!   AVX-512, 1 MiB L2; Zen 3, AVX2, 512 KiB L2) and MC = 128 / 60. On
//!   AVX-512, KC 256 -> 512 had given ~5% on the K = 512 and K = 4096
//!   shapes (fewer C reloads; the 64 KiB B sub-panel streams from L2 fine
//!   at one load per 8 FMAs); MC 64-128 were within noise.
//!   `TOKLAB_GEMM_BLOCK=MC,KC` overrides the blocking of every driver for
//!   tuning.
//! - Tiles: AVX-512 8 x 32 (16 zmm accumulators), AVX2 6 x 16 (12 ymm
//!   accumulators, two B vectors and a broadcast: the 16 ymm registers).
//!   The per-step GEMMs have M = batch = 32, which 6 does not divide: they
//!   run 2 tiles of 6 rows and 4 of 5 (`row_split`) instead of 6 x 6 with
//!   the last tile shifted and recomputed through a scratch copy. With the
//!   depth loop unrolled by two, 32x512x2048 on one AVX2 core (Zen 3,
//!   gemm_probe `rows`) went from 74% to 92% of the core's FMA peak.
//! - A read in place changes the best blocking: with no A buffer to fill,
//!   `gemm_grouped_a` runs one microkernel call over the whole depth (K up
//!   to 8192) on tiles of 2 x MR rows. Weight gradient 2048x4096x512 on 2
//!   threads (`examples/gemm_probe`, GFLOP/s): A = dG^T packed per block
//!   191; grouped A, KC 512: 191-192; grouped A, KC 4096: 209-218. The
//!   transposed packing alone was 12% of the old dW time (`perf`: a memcpy
//!   call per 32 bytes read with an 8 KiB stride).
//! - `gemm_rows_grouped` (head): for short K (logits, K = H) a task owns 8
//!   panels (a 512 KiB block of B stays in L2 while its rows pass over it):
//!   V=8000 logits 1048x512x8000 201-210 -> 212-221 GFLOP/s; 2, 4 or 8
//!   panels are alike, 16 lose 6%. dh (K = V) runs the same order; why
//!   not A-stationary is measured at the driver.
//! - Kept our own kernel over the crates: `cargo bench -p model --bench gemm`
//!   on 2 Zen 4 cores (GFLOP/s, criterion median, raised priority):
//!
//!   | shape (M x K x N) | ours (B pre-packed) | ours + packing | gemm 0.19 x86-v4 | matrixmultiply 0.3 |
//!   |---|---:|---:|---:|---:|
//!   | recurrent step 32x512x2048 | 180 | 77 | 36 | 53 |
//!   | recurrent bwd 32x2048x512 | 136 | 78 | 141 | 31 |
//!   | input projection 4096x512x2048 | 183 | 182 | 186 | 169 |
//!   | weight grad 2048x4096x512 (A = dG^T) | 168 | 177 | 173 | 162 |
//!   | dX 4096x2048x512 | 201 | 201 | 181 | 156 |
//!   | head V=65 4096x512x65 | 99 | 97 | 129 | 77 |
//!   | head V=8000 512x512x8000 | 176 | 162 | 155 | 115 |
//!   | head grad 8000x512x512 (A = dlogits^T) | 184 | 182 | 170 | 165 |
//!
//!   The per-step shapes decide it: the trainer runs 512 of them per step
//!   with weights packed once, where the crates repack B on every call.
//!   (In training the recurrent GEMMs run through `gemm_rows_panels`, one
//!   task per thread-owned column range, not through this parallel entry.)

// Raw BLAS-style entry points: dimensions, pointers and strides are the
// arguments.
#![allow(clippy::too_many_arguments)]

use std::cell::RefCell;

use rayon::prelude::*;

use crate::kernels::Kernels;
use crate::kernels::aligned::AlignedBuf;

/// A raw pointer that may cross threads. Users promise disjoint writes (or
/// read-only sharing) and say why at each use.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendPtr<T>(pub *mut T);
// SAFETY: a plain address; every dereference site documents why concurrent
// access is disjoint or read-only.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The address (a method, so closures capture the whole `SendPtr`).
    #[inline(always)]
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

/// An index remapping applied while packing (the fast path's permuted gate
/// layout: packed index `i` reads source index `map(i)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IndexMap {
    Identity,
    /// `i` is a column of the permuted gate layout with `g` gates of `h`
    /// units; the source is PyTorch's gate row `gate_row(i, g, h)`.
    GateRow {
        g: usize,
        h: usize,
    },
}

impl IndexMap {
    #[inline]
    pub(crate) fn get(self, i: usize) -> usize {
        match self {
            IndexMap::Identity => i,
            IndexMap::GateRow { g, h } => crate::kernels::gate_row(i, g, h),
        }
    }
}

/// B packed into NR-wide column panels: panel `p` holds rows `0..k` of
/// columns `p*NR..p*NR+NR` at `[p*k*NR ..]`, row `i` at offset `i*NR`.
#[derive(Clone, Debug, Default)]
pub struct PackedB {
    buf: AlignedBuf,
    k: usize,
    n: usize,
    nr: usize,
}

impl PackedB {
    /// An empty packing (reuse it: packing again reallocates only to grow).
    pub fn new() -> PackedB {
        PackedB::default()
    }

    /// Rows (the reduction dimension).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of NR-wide panels.
    pub fn panels(&self) -> usize {
        if self.nr == 0 { 0 } else { self.n.div_ceil(self.nr) }
    }

    /// Panel width this packing was made for.
    pub fn nr(&self) -> usize {
        self.nr
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.buf.capacity_bytes()
    }

    pub(crate) fn panel_ptr(&self, p: usize) -> *const f32 {
        // SAFETY (of the arithmetic): p < panels, within the buffer.
        debug_assert!(p < self.panels());
        self.buf.as_ptr().wrapping_add(p * self.k * self.nr)
    }

    /// Packs `b` (k x n, element (i, j) at `b[i*rs + j*cs]`) for `kern`.
    ///
    /// # Panics
    /// If an element index falls outside `b`.
    pub fn pack(&mut self, kern: &Kernels, k: usize, n: usize, b: &[f32], rs: usize, cs: usize) {
        if k > 0 && n > 0 {
            let last = (k - 1) * rs + (n - 1) * cs;
            assert!(
                last < b.len(),
                "PackedB::pack: element ({}, {}) at {last} is outside a slice of {}",
                k - 1,
                n - 1,
                b.len()
            );
        }
        // SAFETY: every index (i, j) < (k, n) is at most `last`, checked above.
        unsafe { self.pack_raw(kern, k, n, b.as_ptr(), rs, cs, IndexMap::Identity, IndexMap::Identity) }
    }

    /// Packs with index maps: element (i, j) reads `b[kmap(i)*rs + nmap(j)*cs]`.
    ///
    /// # Safety
    /// Every such address for i < k, j < n must be valid for reads.
    pub(crate) unsafe fn pack_raw(
        &mut self,
        kern: &Kernels,
        k: usize,
        n: usize,
        b: *const f32,
        rs: usize,
        cs: usize,
        kmap: IndexMap,
        nmap: IndexMap,
    ) {
        let nr = kern.nr;
        self.k = k;
        self.n = n;
        self.nr = nr;
        let panels = self.panels();
        self.buf.resize(panels * k * nr);
        if panels == 0 || k == 0 {
            return;
        }
        let src = SendPtr(b as *mut f32);
        let pack_panel = |p: usize, dst: &mut [f32]| {
            let cols = nr.min(n - p * nr);
            if cs == 1 && nmap == IndexMap::Identity {
                // Rows of B are contiguous: copy `cols` floats per row.
                for i in 0..k {
                    let d = &mut dst[i * nr..i * nr + nr];
                    // SAFETY: the caller guarantees row kmap(i), columns
                    // p*nr..p*nr+cols are readable.
                    let s =
                        unsafe { std::slice::from_raw_parts(src.get().add(kmap.get(i) * rs + p * nr), cols) };
                    d[..cols].copy_from_slice(s);
                    d[cols..].fill(0.0);
                }
                return;
            }
            if rs == 1 && kmap == IndexMap::Identity {
                // Columns of B are contiguous (B is a transposed row-major
                // matrix): eight columns at a time, so each row of the
                // panel gets 32 contiguous bytes per pass instead of one
                // scattered float per column.
                let mut jj = 0;
                while jj + 8 <= cols {
                    // SAFETY: the caller guarantees columns nmap(j), rows
                    // 0..k are readable.
                    let s: [&[f32]; 8] = std::array::from_fn(|q| unsafe {
                        std::slice::from_raw_parts(src.get().add(nmap.get(p * nr + jj + q) * cs), k)
                    });
                    for i in 0..k {
                        let d = &mut dst[i * nr + jj..i * nr + jj + 8];
                        for q in 0..8 {
                            d[q] = s[q][i];
                        }
                    }
                    jj += 8;
                }
                for jj in jj..cols {
                    // SAFETY: as above.
                    let s =
                        unsafe { std::slice::from_raw_parts(src.get().add(nmap.get(p * nr + jj) * cs), k) };
                    for (i, &x) in s.iter().enumerate() {
                        dst[i * nr + jj] = x;
                    }
                }
                if cols < nr {
                    for i in 0..k {
                        dst[i * nr + cols..i * nr + nr].fill(0.0);
                    }
                }
                return;
            }
            let mut off = [0usize; 64];
            for (jj, o) in off.iter_mut().enumerate().take(cols) {
                *o = nmap.get(p * nr + jj) * cs;
            }
            for i in 0..k {
                let row = kmap.get(i) * rs;
                let d = &mut dst[i * nr..i * nr + nr];
                for jj in 0..cols {
                    // SAFETY: the caller guarantees every (i, j) address is readable.
                    d[jj] = unsafe { *src.get().add(row + off[jj]) };
                }
                d[cols..].fill(0.0);
            }
        };
        let data = self.buf.as_mut_slice();
        if k * n >= 1 << 16 {
            data.par_chunks_mut(k * nr).enumerate().for_each(|(p, d)| pack_panel(p, d));
        } else {
            data.chunks_mut(k * nr).enumerate().for_each(|(p, d)| pack_panel(p, d));
        }
    }
}

/// A B operand laid out as [`PackedB`]'s panels (the kernels' NR wide, row
/// `i` of a panel at offset `i*NR`) whose panels sit `ps` floats apart: a
/// whole packing, or a row range of panels written in place (the fast
/// path's activations, `ps` = N*NR, viewed from some row with fewer rows).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BRef {
    pub ptr: *const f32,
    pub k: usize,
    pub n: usize,
    pub ps: usize,
}

// SAFETY: a read-only view; the GEMMs only read through it, and their
// callers keep the panels alive and unwritten for the call.
unsafe impl Send for BRef {}
// SAFETY: as above.
unsafe impl Sync for BRef {}

impl PackedB {
    /// The whole packing as a [`BRef`].
    pub(crate) fn as_bref(&self) -> BRef {
        BRef { ptr: self.buf.as_ptr(), k: self.k, n: self.n, ps: self.k * self.nr }
    }
}

/// An A operand: element (i, k) at `ptr[map(i)*rs + k*cs]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ARef {
    pub ptr: *const f32,
    pub rs: usize,
    pub cs: usize,
    pub map: IndexMap,
}

/// `TOKLAB_GEMM_BLOCK=MC,KC` overrides the large GEMMs' row block and depth
/// (a tuning knob for benchmarks; read once). MC is rounded up to MR.
fn block_override() -> Option<(usize, usize)> {
    static BLOCK: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    *BLOCK.get_or_init(|| {
        let v = std::env::var("TOKLAB_GEMM_BLOCK").ok()?;
        let (mc, kc) = v.split_once(',')?;
        let (mc, kc) = (mc.trim().parse::<usize>().ok()?, kc.trim().parse::<usize>().ok()?);
        (mc > 0 && kc > 0 && mc <= 1024).then(|| (mc.div_ceil(16) * 16, kc))
    })
}

thread_local! {
    /// Per-thread packed A block (MC x KC), allocated on first use only.
    static APACK: RefCell<AlignedBuf> = RefCell::new(AlignedBuf::new());
}

/// Largest MR x NR over all ISAs (8 x 32 floats would do; keep headroom).
const TILE_MAX: usize = 16 * 64;

#[repr(C, align(64))]
struct Tile([f32; TILE_MAX]);

/// Runs one microkernel tile with packed A, going through a scratch tile when
/// the tile is partial.
///
/// # Safety
/// `a` holds MR x kc packed floats, `b` kc x NR; C valid for `rows x cols`
/// at `c` with leading dimension `ldc`.
#[inline]
unsafe fn tile_packed(
    kern: &Kernels,
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    acc: bool,
) {
    let (mr, nr) = (kern.mr, kern.nr);
    if rows == mr && cols == nr {
        // SAFETY: full tile, caller's contract.
        unsafe { (kern.ukernel_packed)(kc, a, b, c, ldc, acc, b) };
        return;
    }
    let mut t = Tile([0.0; TILE_MAX]);
    let tp = t.0.as_mut_ptr();
    // SAFETY: rows <= mr, cols <= nr, so reads/writes of C stay within the
    // caller's rows x cols block and of the tile within mr*nr <= TILE_MAX.
    unsafe {
        if acc {
            for r in 0..rows {
                std::ptr::copy_nonoverlapping(c.add(r * ldc), tp.add(r * nr), cols);
            }
        }
        (kern.ukernel_packed)(kc, a, b, tp, nr, acc, b);
        for r in 0..rows {
            std::ptr::copy_nonoverlapping(tp.add(r * nr), c.add(r * ldc), cols);
        }
    }
}

/// Packs rows `i0..i0+rows` (<= MR, zero-padded to MR) and depth
/// `p0..p0+kc` of A into `dst` (MR-interleaved).
///
/// # Safety
/// A's addresses for those rows and depths are readable; `dst` holds MR*kc.
#[inline]
unsafe fn pack_a_tile(a: ARef, i0: usize, rows: usize, p0: usize, kc: usize, mr: usize, dst: *mut f32) {
    let mut off = [0usize; 16];
    for (r, o) in off.iter_mut().enumerate().take(rows) {
        *o = a.map.get(i0 + r) * a.rs + p0 * a.cs;
    }
    // SAFETY: caller's contract.
    unsafe {
        if rows == mr && a.rs == 1 && (1..mr).all(|r| off[r] == off[0] + r) {
            // A transposed and the tile's rows contiguous in memory (dG^T,
            // whose gate map is contiguous within runs of 16): one MR-float
            // copy per k.
            for k in 0..kc {
                std::ptr::copy_nonoverlapping(a.ptr.add(off[0] + k * a.cs), dst.add(k * mr), mr);
            }
        } else if a.cs == 1 {
            // A row-major: read each row along k, write it with stride MR.
            for (r, &o) in off.iter().enumerate().take(rows) {
                let src = a.ptr.add(o);
                for k in 0..kc {
                    *dst.add(k * mr + r) = *src.add(k);
                }
            }
            for r in rows..mr {
                for k in 0..kc {
                    *dst.add(k * mr + r) = 0.0;
                }
            }
        } else {
            for k in 0..kc {
                let d = dst.add(k * mr);
                let ko = k * a.cs;
                for (r, &o) in off.iter().enumerate().take(rows) {
                    *d.add(r) = *a.ptr.add(o + ko);
                }
                for r in rows..mr {
                    *d.add(r) = 0.0;
                }
            }
        }
    }
}

/// `C[m x n] (+)= A . B` with B packed; parallel over output tiles when the
/// problem is large enough and `parallel` is set.
///
/// # Safety
/// A readable for (m, b.k), C writable for m rows of b.n columns with
/// leading dimension `ldc`; `b`'s panels readable and packed for `kern`.
pub(crate) unsafe fn gemm_packed_raw(
    kern: &Kernels,
    m: usize,
    a: ARef,
    b: BRef,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    parallel: bool,
) {
    let (k, n) = (b.k, b.n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                // SAFETY: C row i is writable for n floats.
                unsafe { std::ptr::write_bytes(c.add(i * ldc), 0, n) };
            }
        }
        return;
    }
    let mr = kern.mr;
    let (mc, kcb) = block_override().unwrap_or((kern.blocking().mc, kern.blocking().kc));
    let panels = n.div_ceil(kern.nr);
    let tiles_m = m.div_ceil(mc);
    let threads = if parallel { rayon::current_num_threads() } else { 1 };
    // Enough tasks for balance; a task spans all panels unless rows are few.
    let want = 4 * threads;
    let tiles_n = if tiles_m >= want { 1 } else { want.div_ceil(tiles_m).min(panels) };
    let ppt = panels.div_ceil(tiles_n);
    let tiles_n = panels.div_ceil(ppt);
    let c = SendPtr(c);
    let a_ptr = SendPtr(a.ptr as *mut f32);
    let task = |t: usize| {
        // The whole view (a closure would capture only its pointer field).
        let b: BRef = b;
        let (tm, tn) = (t / tiles_n, t % tiles_n);
        let i0 = tm * mc;
        let rows = mc.min(m - i0);
        let (p0, p1) = (tn * ppt, ((tn + 1) * ppt).min(panels));
        let a = ARef { ptr: a_ptr.get(), ..a };
        APACK.with(|buf| {
            let mut buf = buf.borrow_mut();
            let need = rows.div_ceil(mr) * mr * kcb;
            if buf.len() < need {
                buf.resize(need);
            }
            let ap = buf.as_mut_ptr();
            let mut pc = 0;
            while pc < k {
                let kc = kcb.min(k - pc);
                // SAFETY: rows i0..i0+rows and depths pc..pc+kc are inside A;
                // the buffer holds ceil(rows/mr)*mr*kc floats.
                unsafe {
                    for (ti, ir) in (0..rows).step_by(mr).enumerate() {
                        pack_a_tile(a, i0 + ir, mr.min(rows - ir), pc, kc, mr, ap.add(ti * mr * kc));
                    }
                }
                for jp in p0..p1 {
                    let cols = kern.nr.min(n - jp * kern.nr);
                    // SAFETY: panel jp exists; pc + kc <= k.
                    let bp = unsafe { b.ptr.add(jp * b.ps + pc * kern.nr) };
                    for (ti, ir) in (0..rows).step_by(mr).enumerate() {
                        // SAFETY: this task alone writes C rows i0..i0+rows,
                        // columns of panels p0..p1 (tiles are disjoint).
                        unsafe {
                            let cp = c.get().add((i0 + ir) * ldc + jp * kern.nr);
                            tile_packed(
                                kern,
                                kc,
                                ap.add(ti * mr * kc),
                                bp,
                                cp,
                                ldc,
                                mr.min(rows - ir),
                                cols,
                                accumulate || pc > 0,
                            );
                        }
                    }
                }
                pc += kc;
            }
        });
    };
    let ntasks = tiles_m * tiles_n;
    let flops = 2.0 * m as f64 * n as f64 * k as f64;
    if parallel && ntasks > 1 && flops > 4e6 && threads > 1 {
        (0..ntasks).into_par_iter().for_each(task);
    } else {
        (0..ntasks).for_each(task);
    }
}

/// `C (+)= A . B` where A (m x k) is stored already packed for the
/// microkernel over its whole depth: row i, depth p at
/// `a[(i / MR) * a_gs + p * MR + i % MR]` (rows beyond m zero). This is how
/// the backward writes dG^T for the weight gradients, so those GEMMs read
/// their transposed operand with no packing at all. Row i of A is row
/// `cmap(i)` of C (the permuted gate layout back to PyTorch's rows); a tile
/// whose rows are not consecutive in C, or partial, goes through a scratch
/// tile. Parallel over output tiles like [`gemm_packed_raw`], K never split.
///
/// With `sums` not null, also A's row sums: `sums[i] (+)= A(i, 0) +
/// A(i, 1) + ...` for every i < ceil(m/MR)*MR (from +0 without
/// `accumulate`), the depths added one at a time in order: the same f32
/// sums as adding A's columns one after the other. The head's db is the
/// column sums of dlogits, taken so while dW_head has dlogits^T in cache.
///
/// # Safety
/// A readable as described for i < ceil(m/MR)*MR, p < b.k; every panel
/// of `b` readable for b.k rows (panels packed for `kern`); C writable at
/// rows cmap(i) (i < m) for b.n columns with leading dimension `ldc`;
/// `sums` null or writable for ceil(m/MR)*MR floats.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_grouped_a(
    kern: &Kernels,
    m: usize,
    a: *const f32,
    a_gs: usize,
    b: BRef,
    c: *mut f32,
    ldc: usize,
    cmap: IndexMap,
    accumulate: bool,
    sums: *mut f32,
) {
    let (k, n) = (b.k, b.n);
    if m == 0 || n == 0 {
        return;
    }
    let (mr, nr) = (kern.mr, kern.nr);
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                // SAFETY: C row cmap(i) is writable for n floats.
                unsafe { std::ptr::write_bytes(c.add(cmap.get(i) * ldc), 0, n) };
            }
        }
        return;
    }
    // The packed driver's blocking, though A needs no packing here: a
    // depth block of one B panel (KC x NR) stays hot while the task's MC
    // rows of A pass by it, instead of whole-depth calls that stream both
    // operands from L2 for every tile (dW at 2048x4096x512 on 2 threads,
    // AVX-512: 274-310 GFLOP/s whole-depth with two tiles per task,
    // 356-427 blocked; AVX2 172-180 and 194). The sums are unchanged: C is
    // stored and reloaded as is between depth blocks.
    let (mc, kcb) = block_override().unwrap_or((kern.blocking().mc, kern.blocking().kc));
    // Tiles start on A's groups of MR rows.
    let mc = (mc / mr).max(1) * mr;
    let panels = n.div_ceil(nr);
    let tiles_m = m.div_ceil(mc);
    let threads = rayon::current_num_threads();
    let want = 4 * threads;
    let tiles_n = if tiles_m >= want { 1 } else { want.div_ceil(tiles_m).min(panels) };
    let ppt = panels.div_ceil(tiles_n);
    let tiles_n = panels.div_ceil(ppt);
    let c = SendPtr(c);
    let a = SendPtr(a as *mut f32);
    let sums = SendPtr(sums);
    let task = |t: usize| {
        // The whole view (a closure would capture only its pointer field).
        let b: BRef = b;
        let (tm, tn) = (t / tiles_n, t % tiles_n);
        let i0 = tm * mc;
        let rows = mc.min(m - i0);
        let (p0, p1) = (tn * ppt, ((tn + 1) * ppt).min(panels));
        let mut pc = 0;
        while pc < k {
            let kc = kcb.min(k - pc);
            let acc = accumulate || pc > 0;
            if tn == 0 && !sums.get().is_null() {
                // The row block's sums at this depth block (one task per
                // row block, depth blocks in order); this also brings the
                // block's A into cache for the tiles below.
                // SAFETY: A groups i0/mr.. at depth pc..pc+kc exist, sums
                // holds ceil(m/MR)*MR floats (caller's contract); this
                // task alone writes sums i0..i0+rows rounded up to MR.
                unsafe {
                    (kern.group_sums)(
                        rows.div_ceil(mr),
                        mr,
                        kc,
                        a.get().add((i0 / mr) * a_gs + pc * mr),
                        a_gs,
                        sums.get().add(i0),
                        acc,
                    )
                };
            }
            // Hints into L2 while a tile runs (one line per two depths, see
            // `ukernel_packed`): the first tiles of a panel fetch the next
            // panel's depth block of B, kc/2 lines each, until it is all
            // asked for; on the last panel of the block, the same goes for
            // the next depth block's first panel, and the other tiles fetch
            // their own A tile at the next depth. The operands are cold
            // here (dG^T and the activations were written with streaming
            // stores long before), and a tile touches each line once.
            let lines_b = kc * nr / 16;
            let next_pc = pc + kc < k;
            for jp in p0..p1 {
                let cols = nr.min(n - jp * nr);
                // SAFETY: panel jp exists; pc + kc <= k.
                let bp = unsafe { b.ptr.add(jp * b.ps + pc * nr) };
                let (nb, last) = if jp + 1 < p1 {
                    (b.ptr.wrapping_add((jp + 1) * b.ps + pc * nr), false)
                } else if next_pc {
                    (b.ptr.wrapping_add(p0 * b.ps + (pc + kc) * nr), true)
                } else {
                    (bp, false)
                };
                for ir in (0..rows).step_by(mr) {
                    let i = i0 + ir;
                    let t = ir / mr;
                    let pf = if (t + 1) * (kc / 2) <= lines_b {
                        nb.wrapping_add(t * (kc / 2) * 16)
                    } else if last {
                        a.get().wrapping_add((i / mr) * a_gs + (pc + kc) * mr)
                    } else {
                        bp
                    };
                    let tr = mr.min(m - i);
                    let r0 = cmap.get(i);
                    let direct = tr == mr && cols == nr && (1..mr).all(|r| cmap.get(i + r) == r0 + r);
                    // SAFETY: A tile i/mr at depth pc holds kc*mr floats
                    // (caller's contract; i is a multiple of mr since mc is);
                    // this task alone writes C rows cmap(i..i+tr), columns of
                    // panels p0..p1.
                    unsafe {
                        let ap = a.get().add((i / mr) * a_gs + pc * mr) as *const f32;
                        let cp = c.get().add(jp * nr);
                        if direct {
                            (kern.ukernel_packed)(kc, ap, bp, cp.add(r0 * ldc), ldc, acc, pf);
                        } else {
                            let mut tile = Tile([0.0; TILE_MAX]);
                            let tp = tile.0.as_mut_ptr();
                            if acc {
                                for r in 0..tr {
                                    std::ptr::copy_nonoverlapping(
                                        cp.add(cmap.get(i + r) * ldc),
                                        tp.add(r * nr),
                                        cols,
                                    );
                                }
                            }
                            (kern.ukernel_packed)(kc, ap, bp, tp, nr, acc, pf);
                            for r in 0..tr {
                                std::ptr::copy_nonoverlapping(
                                    tp.add(r * nr),
                                    cp.add(cmap.get(i + r) * ldc),
                                    cols,
                                );
                            }
                        }
                    }
                }
            }
            pc += kc;
        }
    };
    let ntasks = tiles_m * tiles_n;
    let flops = 2.0 * m as f64 * n as f64 * k as f64;
    if ntasks > 1 && flops > 4e6 && threads > 1 {
        (0..ntasks).into_par_iter().for_each(task);
    } else {
        (0..ntasks).for_each(task);
    }
}

/// An A operand in row groups (see `generic::ukernel_rows_g`): element
/// (i, k) at `ptr[(k / gw) * gs + i * gw + k % gw]`. The activation panels
/// (gw = NR, gs = N*NR) and the per-token sums (gw = MR) are read this way
/// in place. With `gw >= K` there is one group: A is row-major with leading
/// dimension `gw` (the head's dh reads the row-major dlogits so), and the
/// driver cuts its depth into blocks anywhere, not at group boundaries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AGroups {
    pub ptr: *const f32,
    pub gw: usize,
    pub gs: usize,
}

// SAFETY: a read-only view (see `BRef`).
unsafe impl Send for AGroups {}
// SAFETY: as above.
unsafe impl Sync for AGroups {}

/// B panels per task of [`gemm_rows_grouped`]: a KC x 8*NR block of B
/// (512 KiB for AVX-512) stays in L2 while the task's rows stream past it.
const ROWS_GROUPED_PANELS: usize = crate::kernels::cache::B_PANELS_HOT;

/// `C (+)= A . B` with A in row groups, read in place ([`AGroups`]), and B
/// in panels: the head's logits (A = the top layer's activation panels) and
/// dh (A = grouped dlogits). Tasks are (panel block, row block) pairs,
/// panel block outermost, so consecutive tasks of a thread reuse the same
/// block of B from L2; each A tile is used for the whole panel block while
/// it is in L1. Parallel; K in blocks of KC, C reloaded between them, so
/// the FMA sequence of every element is that of the other drivers
/// (bit-identical results).
///
/// # Safety
/// A readable for rows 0..m and depths 0..b.k as described; B's panels
/// readable for b.k rows; C writable for m rows of b.n columns at `ldc`.
pub(crate) unsafe fn gemm_rows_grouped(
    kern: &Kernels,
    m: usize,
    a: AGroups,
    b: BRef,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    let (k, n) = (b.k, b.n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                // SAFETY: C row i is writable for n floats.
                unsafe { std::ptr::write_bytes(c.add(i * ldc), 0, n) };
            }
        }
        return;
    }
    let (mr, nr, gw) = (kern.mr, kern.nr, a.gw);
    let panels = n.div_ceil(nr);
    let threads = rayon::current_num_threads();
    // B-stationary: a block of ROWS_GROUPED_PANELS panels of depth KC stays
    // in L2 while every row tile of the task passes over it, for the logits
    // (K = H) and for dh (K = V) alike.
    //
    // dh used to run A-stationary (one call over the whole depth per tile
    // of 2 x MR rows, B streaming): that reads all of B once per 2 x MR rows,
    // MR flops per byte of B from L3. It kept up on Zen 4 (MR = 8) but not
    // elsewhere: 25-35% slower on Zen 3 (AVX2, MR = 6), and 2.7-3.5x slower
    // on an Intel Xeon (Emerald Rapids, AVX-512), whose per-core L3
    // bandwidth is lower (`gemm_probe 1048 8000 512 avx512 rgm`, one
    // thread, interleaved: 26-35% of the core's peak against 87-88%). On
    // Zen 4 alone it had gained 5-10% (189-195 -> 199-212 GFLOP/s).
    let pb = ROWS_GROUPED_PANELS;
    let want_m = (4 * threads).div_ceil(panels.div_ceil(pb));
    // KC in whole groups, so every microkernel call starts a group (a
    // row-major A, one group, is cut anywhere).
    let kc0 = block_override().map_or(kern.blocking().kc, |o| o.1);
    let kcb = if gw >= k { kc0 } else { (kc0 / gw).max(1) * gw };
    let mc = m.div_ceil(mr).div_ceil(want_m).max(1) * mr;
    let tiles_n = panels.div_ceil(pb);
    let tiles_m = m.div_ceil(mc);
    let c = SendPtr(c);
    let task = |t: usize| {
        let (a, b): (AGroups, BRef) = (a, b);
        let (tn, tm) = (t / tiles_m, t % tiles_m);
        let i0 = tm * mc;
        let rows = mc.min(m - i0);
        let p0 = tn * pb;
        let p1 = (p0 + pb).min(panels);
        let mut pc = 0;
        while pc < k {
            let kc = kcb.min(k - pc);
            let acc = accumulate || pc > 0;
            let ag = a.ptr.wrapping_add((pc / gw) * a.gs + pc % gw);
            for ir in (0..rows).step_by(mr) {
                let i = i0 + ir;
                for jp in p0..p1 {
                    let cols = nr.min(n - jp * nr);
                    // SAFETY: panel jp, depths pc..pc+kc, rows i.. of A and
                    // C exist (caller's contract); this task alone writes C
                    // rows i0..i0+rows of panels p0..p1.
                    unsafe {
                        let bp = b.ptr.add(jp * b.ps + pc * nr);
                        let cp = c.get().add(jp * nr);
                        if i + mr <= m && cols == nr {
                            (kern.ukernel_rows_g)(
                                kc,
                                ag.add(i * gw),
                                gw,
                                a.gs,
                                bp,
                                cp.add(i * ldc),
                                ldc,
                                acc,
                            );
                        } else {
                            rows_g_edge(kern, m, i, kc, ag, gw, a.gs, bp, cp, ldc, cols, acc);
                        }
                    }
                }
            }
            pc += kc;
        }
    };
    let ntasks = tiles_m * tiles_n;
    let flops = 2.0 * m as f64 * n as f64 * k as f64;
    if ntasks > 1 && flops > 4e6 && threads > 1 {
        (0..ntasks).into_par_iter().for_each(task);
    } else {
        (0..ntasks).for_each(task);
    }
}

/// An edge tile of [`gemm_rows_grouped`] (rows `i..min(i+mr, m)`, `cols`
/// columns) through a scratch tile. With m >= mr the kernel reads the rows
/// `m-mr..m` in place and only rows `i..` are kept (the others are neither
/// loaded from C nor stored, so no other task's rows are touched); with
/// m < mr, A is copied into a zero-padded packed tile.
///
/// # Safety
/// As [`gemm_rows_grouped`]; `ag` is A at this depth block, `c` the panel's
/// column 0 of row 0.
#[allow(clippy::too_many_arguments)]
unsafe fn rows_g_edge(
    kern: &Kernels,
    m: usize,
    i: usize,
    kc: usize,
    ag: *const f32,
    gw: usize,
    gs: usize,
    bp: *const f32,
    c: *mut f32,
    ldc: usize,
    cols: usize,
    acc: bool,
) {
    let (mr, nr) = (kern.mr, kern.nr);
    let mut t = Tile([0.0; TILE_MAX]);
    let tp = t.0.as_mut_ptr();
    let rows = mr.min(m - i);
    // SAFETY: rows r0..r0+mr (or 0..m) of A and rows i..i+rows of C are
    // inside the caller's operands; the tile holds mr*nr floats.
    unsafe {
        let r0 = if m >= mr { (m - mr).min(i) } else { 0 };
        if acc {
            for r in i..i + rows {
                std::ptr::copy_nonoverlapping(c.add(r * ldc), tp.add((r - r0) * nr), cols);
            }
        }
        if m >= mr {
            // A last panel at most half full (V = 65 with NR = 32 has one
            // column in its third panel) runs the half-width kernel: the
            // same FMA sequence for those columns, half the work.
            let f = if 2 * cols <= nr { kern.ukernel_rows_g_half } else { kern.ukernel_rows_g };
            f(kc, ag.add(r0 * gw), gw, gs, bp, tp, nr, acc);
        } else {
            APACK.with(|buf| {
                let mut buf = buf.borrow_mut();
                if buf.len() < mr * kc {
                    buf.resize(mr * kc);
                }
                let pa = buf.as_mut_ptr();
                for kk in 0..kc {
                    let src = ag.add((kk / gw) * gs + kk % gw);
                    for r in 0..mr {
                        *pa.add(kk * mr + r) = if r < m { *src.add(r * gw) } else { 0.0 };
                    }
                }
                (kern.ukernel_packed)(kc, pa, bp, tp, nr, acc, bp);
            });
        }
        for r in i..i + rows {
            std::ptr::copy_nonoverlapping(tp.add((r - r0) * nr), c.add(r * ldc), cols);
        }
    }
}

/// Copies `rows` rows (positions p0..p0+rows) of columns c0..c1 (c0 a
/// multiple of `nr`) of the row-major `src` (leading dimension `lds`, `src`
/// at row p0, column 0) into B panels of width `nr` whose panels are `ps`
/// floats apart: element (p, c) at `dst[(c / nr) * ps + p * nr + c % nr]`
/// (a [`BRef`] of the activations). Streaming stores where aligned: the
/// panels are read back only by the weight-gradient GEMMs, much later.
///
/// # Safety
/// The source rows and columns are readable; every destination address is
/// writable and not concurrently accessed.
pub(crate) unsafe fn rows_to_panels(
    src: *const f32,
    lds: usize,
    rows: usize,
    c0: usize,
    c1: usize,
    dst: *mut f32,
    ps: usize,
    nr: usize,
    p0: usize,
) {
    debug_assert!(c0.is_multiple_of(nr));
    let mut c = c0;
    while c < c1 {
        let q = c / nr;
        let w = nr.min(c1 - c);
        // SAFETY: caller's contract; panel q, rows p0..p0+rows.
        unsafe {
            let d = dst.add(q * ps + p0 * nr);
            let s = src.add(c);
            #[cfg(target_arch = "x86_64")]
            if w.is_multiple_of(4) && (d as usize).is_multiple_of(16) && (nr * 4).is_multiple_of(16) {
                use std::arch::x86_64::{_mm_loadu_ps, _mm_stream_ps};
                for r in 0..rows {
                    let (sp, dp) = (s.add(r * lds), d.add(r * nr));
                    for v in (0..w).step_by(4) {
                        _mm_stream_ps(dp.add(v), _mm_loadu_ps(sp.add(v)));
                    }
                }
                c += nr;
                continue;
            }
            for r in 0..rows {
                std::ptr::copy_nonoverlapping(s.add(r * lds), d.add(r * nr), w);
            }
        }
        c += nr;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a fence has no memory-safety preconditions.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// Copies `rows` rows (positions p0..p0+rows) of columns c0..c1 of the
/// row-major `src` (leading dimension `lds`; `src` points at row p0, column
/// 0) into the grouped layout of [`gemm_grouped_a`]: element (c, p) at
/// `dst[(c / mr) * gs + p * mr + c % mr]`.
///
/// # Safety
/// The source rows and columns are readable; every destination address is
/// writable and not concurrently accessed.
pub(crate) unsafe fn rows_to_grouped(
    src: *const f32,
    lds: usize,
    rows: usize,
    c0: usize,
    c1: usize,
    dst: *mut f32,
    gs: usize,
    mr: usize,
    p0: usize,
) {
    let mut c = c0;
    while c < c1 {
        let grp = c / mr;
        let (lo, hi) = (c - grp * mr, mr.min(c1 - grp * mr));
        // SAFETY: caller's contract; group grp's rows p0..p0+rows.
        unsafe {
            let d = dst.add(grp * gs + p0 * mr);
            let s = src.add(grp * mr);
            if mr == 8 && lo == 0 && hi == 8 {
                // One group of 8: rows contiguous in dst.
                #[cfg(target_arch = "x86_64")]
                if (d as usize).is_multiple_of(16) {
                    // Streaming stores: dst is read back only after the
                    // whole time loop, far beyond the caches, so skip the
                    // read-for-ownership of every destination line.
                    use std::arch::x86_64::{_mm_loadu_ps, _mm_stream_ps};
                    for r in 0..rows {
                        let (sp, dp) = (s.add(r * lds), d.add(r * 8));
                        _mm_stream_ps(dp, _mm_loadu_ps(sp));
                        _mm_stream_ps(dp.add(4), _mm_loadu_ps(sp.add(4)));
                    }
                    c = grp * mr + hi;
                    continue;
                }
                for r in 0..rows {
                    let v = std::ptr::read_unaligned(s.add(r * lds) as *const [f32; 8]);
                    std::ptr::write_unaligned(d.add(r * 8) as *mut [f32; 8], v);
                }
            } else if mr == 6
                && lo == 0
                && hi == 6
                && cfg!(target_arch = "x86_64")
                && (d as usize).is_multiple_of(16)
            {
                // One group of 6 (AVX2): rows contiguous in dst, 24 bytes
                // each, so four rows are six aligned 16-byte vectors; stream
                // them as for the groups of 8 above.
                #[cfg(target_arch = "x86_64")]
                {
                    use std::arch::x86_64::{
                        __m128, _mm_castpd_ps, _mm_load_sd, _mm_loadh_pd, _mm_loadu_ps, _mm_stream_ps,
                    };
                    // Two floats from each of two rows (movsd + movhpd: no
                    // alignment needed).
                    let pair = |lo2: *const f32, hi2: *const f32| -> __m128 {
                        _mm_castpd_ps(_mm_loadh_pd(_mm_load_sd(lo2.cast()), hi2.cast()))
                    };
                    let mut r = 0;
                    while r + 4 <= rows {
                        let (a, b) = (s.add(r * lds), s.add((r + 1) * lds));
                        let (c2, e) = (s.add((r + 2) * lds), s.add((r + 3) * lds));
                        let dp = d.add(r * 6);
                        _mm_stream_ps(dp, _mm_loadu_ps(a));
                        _mm_stream_ps(dp.add(4), pair(a.add(4), b));
                        _mm_stream_ps(dp.add(8), _mm_loadu_ps(b.add(2)));
                        _mm_stream_ps(dp.add(12), _mm_loadu_ps(c2));
                        _mm_stream_ps(dp.add(16), pair(c2.add(4), e));
                        _mm_stream_ps(dp.add(20), _mm_loadu_ps(e.add(2)));
                        r += 4;
                    }
                    for r in r..rows {
                        std::ptr::copy_nonoverlapping(s.add(r * lds), d.add(r * 6), 6);
                    }
                }
            } else {
                for r in 0..rows {
                    for q in lo..hi {
                        *d.add(r * mr + q) = *s.add(r * lds + q);
                    }
                }
            }
        }
        c = grp * mr + hi;
    }
    // Order the streaming stores before whatever publishes them (the time
    // loop's barrier is a release/acquire pair, which does not cover them).
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a fence has no memory-safety preconditions.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// The per-time-step GEMM of one task, on the calling thread:
/// `C[m x cols(p0..p1)] (+)= A[m x k] . B[:, panels p0..p1]` with A
/// row-major in place (`lda`). `c` points at column 0 of row 0 of the full C.
/// While it runs a panel it hints the next one into L2 (see
/// `ukernel_rows`); `after` is the panel the caller runs once this range is
/// done (the start of a packed panel; null: panel p1 of `b`), hinted during
/// the last one. Hints never change a result.
///
/// # Safety
/// A readable for m rows of b.k() floats at stride lda; C writable for
/// m rows over the columns of panels p0..p1; `b` packed for `kern`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_rows_panels(
    kern: &Kernels,
    m: usize,
    a: *const f32,
    lda: usize,
    b: &PackedB,
    p0: usize,
    p1: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    after: *const f32,
) {
    let (k, n) = (b.k(), b.n());
    let (mr, nr) = (kern.mr, kern.nr);
    debug_assert!(p1 <= b.panels());
    if m == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for jp in p0..p1 {
                let cols = nr.min(n - jp * nr);
                for i in 0..m {
                    // SAFETY: row i, the panel's columns, are inside C.
                    unsafe { std::ptr::write_bytes(c.add(i * ldc + jp * nr), 0, cols) };
                }
            }
        }
        return;
    }
    let split = row_split(m, mr);
    for jp in p0..p1 {
        let cols = nr.min(n - jp * nr);
        let mut pc = 0;
        while pc < k {
            let kc = block_override().map_or(kern.blocking().kc, |b| b.1).min(k - pc);
            let acc = accumulate || pc > 0;
            // SAFETY: panel jp, depth pc..pc+kc exist in the packing; the
            // row/column ranges below stay inside the caller's A and C.
            unsafe {
                let bp = b.panel_ptr(jp).add(pc * nr);
                // The same depth block of the next panel, hinted into L2 a
                // line per two depths: tile t takes lines t*kc/2.., as long
                // as they stay inside the block (the tiles of an AVX2 panel
                // have more depths than the block has lines); the others
                // hint their own, already cached block.
                let next = if jp + 1 < p1 || (after.is_null() && jp + 1 < b.panels()) {
                    b.panel_ptr(jp + 1).wrapping_add(pc * nr)
                } else if !after.is_null() {
                    after.wrapping_add(pc * nr)
                } else {
                    bp
                };
                let lines = kc * nr / 16;
                let pf = |t: usize| {
                    if (t + 1) * (kc / 2) <= lines { next.wrapping_add(t * (kc / 2) * 16) } else { bp }
                };
                if cols == nr
                    && let Some((hi, lo)) = split
                {
                    // Exact cover: `hi` tiles of MR rows, then `lo` of MR-1.
                    let mut ir = 0;
                    for t in 0..hi + lo {
                        let (f, h) =
                            if t < hi { (kern.ukernel_rows, mr) } else { (kern.ukernel_rows_lo, mr - 1) };
                        f(kc, a.add(ir * lda + pc), lda, bp, c.add(ir * ldc + jp * nr), ldc, acc, pf(t));
                        ir += h;
                    }
                    pc += kc;
                    continue;
                }
                let mut ir = 0;
                while ir < m {
                    let cp = c.add(ir * ldc + jp * nr);
                    if ir + mr <= m && cols == nr {
                        (kern.ukernel_rows)(kc, a.add(ir * lda + pc), lda, bp, cp, ldc, acc, pf(ir / mr));
                    } else {
                        rows_edge(kern, m, ir, kc, a, lda, pc, bp, c.add(jp * nr), ldc, cols, acc);
                    }
                    ir += mr;
                }
            }
            pc += kc;
        }
    }
}

/// How the per-step GEMM covers `m` rows exactly: `hi` tiles of MR rows and
/// then `lo` tiles of MR-1 (the most MR tiles possible), or None when no such
/// split exists (then the last tile is shifted up and partly recomputed, see
/// `rows_edge`). With the AVX2 tile (MR = 6) a batch of 32 rows is 2 x 6 +
/// 4 x 5 rather than 6 x 6 with 4 rows computed twice and the last tile
/// through a scratch copy; AVX-512 (MR = 8) and the scalar path (MR = 4)
/// divide 32 exactly.
pub(crate) fn row_split(m: usize, mr: usize) -> Option<(usize, usize)> {
    if m.is_multiple_of(mr) {
        return Some((m / mr, 0));
    }
    if mr < 2 {
        return None;
    }
    (0..=m / mr).rev().find(|&a| (m - a * mr).is_multiple_of(mr - 1)).map(|a| (a, (m - a * mr) / (mr - 1)))
}

/// An edge tile of `gemm_rows_panels`: rows `ir..min(ir+mr, m)`, `cols`
/// columns, through a scratch tile. When m >= mr the kernel runs on rows
/// `m-mr..m` read in place (the first rows of that window are recomputed and
/// discarded); when m < mr, A is copied into a zero-padded packed tile.
///
/// # Safety
/// As `gemm_rows_panels`; `c` points at the panel's column 0, row 0.
#[allow(clippy::too_many_arguments)]
unsafe fn rows_edge(
    kern: &Kernels,
    m: usize,
    ir: usize,
    kc: usize,
    a: *const f32,
    lda: usize,
    pc: usize,
    bp: *const f32,
    c: *mut f32,
    ldc: usize,
    cols: usize,
    acc: bool,
) {
    let (mr, nr) = (kern.mr, kern.nr);
    let mut t = Tile([0.0; TILE_MAX]);
    let tp = t.0.as_mut_ptr();
    let rows = mr.min(m - ir);
    // SAFETY: rows r0..r0+win are inside A and C; the tile holds mr*nr.
    unsafe {
        if m >= mr {
            let r0 = (m - mr).min(ir);
            if acc {
                for r in 0..mr {
                    std::ptr::copy_nonoverlapping(c.add((r0 + r) * ldc), tp.add(r * nr), cols);
                }
            }
            (kern.ukernel_rows)(kc, a.add(r0 * lda + pc), lda, bp, tp, nr, acc, bp);
            for r in ir..ir + rows {
                std::ptr::copy_nonoverlapping(tp.add((r - r0) * nr), c.add(r * ldc), cols);
            }
        } else {
            APACK.with(|buf| {
                let mut buf = buf.borrow_mut();
                if buf.len() < mr * kc {
                    buf.resize(mr * kc);
                }
                let pa = buf.as_mut_ptr();
                let aref = ARef { ptr: a, rs: lda, cs: 1, map: IndexMap::Identity };
                pack_a_tile(aref, ir, rows, pc, kc, mr, pa);
                if acc {
                    for r in 0..rows {
                        std::ptr::copy_nonoverlapping(c.add((ir + r) * ldc), tp.add(r * nr), cols);
                    }
                }
                (kern.ukernel_packed)(kc, pa, bp, tp, nr, acc, bp);
                for r in 0..rows {
                    std::ptr::copy_nonoverlapping(tp.add(r * nr), c.add((ir + r) * ldc), cols);
                }
            });
        }
    }
}

/// `C (+)= A . B` for general strided operands: element (i, p) of A at
/// `a[i*a_rs + p*a_cs]`, (p, j) of B at `b[p*b_rs + j*b_cs]`, C row-major
/// with leading dimension `ldc`. B is packed into `scratch` (reused across
/// calls). Parallel over output tiles; bit-identical for any thread count.
///
/// # Panics
/// If an index falls outside a slice.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    kern: &Kernels,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    scratch: &mut PackedB,
) {
    scratch.pack(kern, k, n, b, b_rs, b_cs);
    gemm_prepacked(kern, m, a, a_rs, a_cs, scratch, c, ldc, accumulate);
}

/// `C (+)= A . B` with B already packed (see [`gemm`]).
///
/// # Panics
/// If an index falls outside a slice or `b` was packed for another ISA.
#[allow(clippy::too_many_arguments)]
pub fn gemm_prepacked(
    kern: &Kernels,
    m: usize,
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &PackedB,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    let (k, n) = (b.k(), b.n());
    if m == 0 || n == 0 {
        return;
    }
    assert!(ldc >= n, "gemm: ldc {ldc} < n {n}");
    assert!(
        (m - 1) * ldc + n <= c.len(),
        "gemm: C of {} floats is too small for {m} x {n} at ldc {ldc}",
        c.len()
    );
    if k > 0 {
        let last = (m - 1) * a_rs + (k - 1) * a_cs;
        assert!(
            last < a.len(),
            "gemm: A element ({}, {}) at {last} is outside a slice of {}",
            m - 1,
            k - 1,
            a.len()
        );
    }
    let aref = ARef { ptr: a.as_ptr(), rs: a_rs, cs: a_cs, map: IndexMap::Identity };
    assert_eq!(b.nr(), kern.nr, "PackedB packed for another ISA");
    // SAFETY: bounds checked above; b is a complete packing for kern.
    unsafe { gemm_packed_raw(kern, m, aref, b.as_bref(), c.as_mut_ptr(), ldc, accumulate, true) }
}

/// `C[m x n] (+)= A . B[:, ..]` single-threaded with A row-major in place
/// (the per-time-step path), over all panels of `b`.
///
/// # Panics
/// If an index falls outside a slice or `b` was packed for another ISA.
pub fn gemm_rows(
    kern: &Kernels,
    m: usize,
    a: &[f32],
    lda: usize,
    b: &PackedB,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    let (k, n) = (b.k(), b.n());
    if m == 0 || n == 0 {
        return;
    }
    assert_eq!(b.nr(), kern.nr, "PackedB packed for another ISA");
    assert!(lda >= k && (m - 1) * lda + k <= a.len(), "gemm_rows: A too small");
    assert!(ldc >= n && (m - 1) * ldc + n <= c.len(), "gemm_rows: C too small");
    // SAFETY: bounds checked above.
    unsafe {
        gemm_rows_panels(
            kern,
            m,
            a.as_ptr(),
            lda,
            b,
            0,
            b.panels(),
            c.as_mut_ptr(),
            ldc,
            accumulate,
            std::ptr::null(),
        )
    }
}

/// Lays out A (m x k, element (i, p) at `a[i*rs + p*cs]`) as the grouped
/// operand of [`gemm_a_grouped`]: row i, depth p at
/// `[(i / MR) * k * MR + p * MR + i % MR]` with MR the kernels' tile rows,
/// rows beyond m zero. Returns the buffer and its group stride (k * MR).
///
/// # Panics
/// If an element index falls outside `a`.
pub fn group_a(kern: &Kernels, m: usize, k: usize, a: &[f32], rs: usize, cs: usize) -> (AlignedBuf, usize) {
    let mr = kern.mr;
    let mut out = AlignedBuf::zeros(m.div_ceil(mr) * mr * k);
    let o = out.as_mut_slice();
    for i in 0..m {
        for p in 0..k {
            o[(i / mr) * k * mr + p * mr + i % mr] = a[i * rs + p * cs];
        }
    }
    (out, k * mr)
}

/// `C (+)= A . B` with A in the grouped layout of [`group_a`] (group stride
/// `a_gs`) and B packed: the weight-gradient path of the trainer, which
/// reads dG^T this way with no packing. Parallel over output tiles;
/// bit-identical to [`gemm_prepacked`] on the same operands.
///
/// # Panics
/// If `a` or `c` is too small or `b` was packed for another ISA.
#[allow(clippy::too_many_arguments)]
pub fn gemm_a_grouped(
    kern: &Kernels,
    m: usize,
    a: &[f32],
    a_gs: usize,
    b: &PackedB,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    let (k, n) = (b.k(), b.n());
    if m == 0 || n == 0 {
        return;
    }
    assert_eq!(b.nr(), kern.nr, "PackedB packed for another ISA");
    assert!(ldc >= n && (m - 1) * ldc + n <= c.len(), "gemm_a_grouped: C too small");
    let groups = m.div_ceil(kern.mr);
    assert!(a_gs >= k * kern.mr, "gemm_a_grouped: group stride {a_gs} < k * MR");
    assert!((groups - 1) * a_gs + k * kern.mr <= a.len(), "gemm_a_grouped: A too small");
    // SAFETY: bounds checked above; b is a complete packing for kern.
    unsafe {
        gemm_grouped_a(
            kern,
            m,
            a.as_ptr(),
            a_gs,
            b.as_bref(),
            c.as_mut_ptr(),
            ldc,
            IndexMap::Identity,
            accumulate,
            std::ptr::null_mut(),
        )
    }
}

/// Lays out A (m x k, element (i, p) at `a[i*rs + p*cs]`) in row groups of
/// `gw` depths for [`gemm_rows_g`]: element (i, p) at
/// `[(p / gw) * m * gw + i * gw + p % gw]`. Returns the buffer and its group
/// stride (m * gw).
///
/// # Panics
/// If an element index falls outside `a` or `gw` is 0.
pub fn group_rows(m: usize, k: usize, gw: usize, a: &[f32], rs: usize, cs: usize) -> (AlignedBuf, usize) {
    assert!(gw > 0, "group_rows: group width 0");
    let mut out = AlignedBuf::zeros(k.div_ceil(gw) * m * gw);
    let o = out.as_mut_slice();
    for i in 0..m {
        for p in 0..k {
            o[(p / gw) * m * gw + i * gw + p % gw] = a[i * rs + p * cs];
        }
    }
    (out, m * gw)
}

/// `C (+)= A . B` with A in row groups of `gw` (the layout of
/// [`group_rows`], group stride `gs`) read in place and B packed: the
/// driver of the trainer's head GEMMs. Parallel; bit-identical to
/// [`gemm_prepacked`] on the same operands.
///
/// # Panics
/// If `a` or `c` is too small, `gw` is 0 or `b` was packed for another ISA.
#[allow(clippy::too_many_arguments)]
pub fn gemm_rows_g(
    kern: &Kernels,
    m: usize,
    a: &[f32],
    gw: usize,
    gs: usize,
    b: &PackedB,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    let (k, n) = (b.k(), b.n());
    if m == 0 || n == 0 {
        return;
    }
    assert!(gw > 0, "gemm_rows_g: group width 0");
    assert_eq!(b.nr(), kern.nr, "PackedB packed for another ISA");
    assert!(ldc >= n && (m - 1) * ldc + n <= c.len(), "gemm_rows_g: C too small");
    if k > 0 {
        let groups = k.div_ceil(gw);
        assert!(gs >= m * gw, "gemm_rows_g: group stride {gs} < m * gw");
        assert!((groups - 1) * gs + m * gw <= a.len(), "gemm_rows_g: A too small");
    }
    let ag = AGroups { ptr: a.as_ptr(), gw, gs };
    // SAFETY: bounds checked above (the last group's rows end within a).
    unsafe { gemm_rows_grouped(kern, m, ag, b.as_bref(), c.as_mut_ptr(), ldc, accumulate) }
}

#[cfg(test)]
mod tests {
    use super::{IndexMap, PackedB, gemm_a_grouped, gemm_grouped_a, group_a, rows_to_grouped};
    use crate::kernels::{AlignedBuf, Isa, Kernels};

    /// The row sums `gemm_grouped_a` takes along are, bit for bit, A's
    /// columns added one after the other into a running sum (from +0, or
    /// from the sums given with `accumulate`), with every row count (a
    /// partial last group), depths over several KC blocks, and tasks split
    /// over panels (small m); C is what the call without sums gives.
    #[test]
    fn grouped_row_sums_add_the_depths_in_order() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for isa in Isa::ALL {
            let Some(kern) = Kernels::get(isa) else { continue };
            for &(m, k, n) in &[(1, 3, 5), (7, 1100, 40), (65, 2100, 16), (131, 600, 70)] {
                let a: Vec<f32> = (0..m * k)
                    .map(|i| ((i * 7919 % 1009) as f32 - 504.0) * 1e-3 + 1.0 / (1 + i % 13) as f32)
                    .collect();
                let b: Vec<f32> = (0..k * n).map(|i| (i % 17) as f32 * 0.25 - 2.0).collect();
                let (ga, gs) = group_a(kern, m, k, &a, k, 1);
                let mut pb = PackedB::new();
                pb.pack(kern, k, n, &b, n, 1);
                let padded = m.div_ceil(kern.mr) * kern.mr;
                for acc in [false, true] {
                    let start: Vec<f32> = (0..padded).map(|i| i as f32 * 0.5 - 3.0).collect();
                    let mut want = if acc { start.clone() } else { vec![0.0; padded] };
                    for (i, w) in want.iter_mut().enumerate().take(m) {
                        for p in 0..k {
                            *w += a[i * k + p];
                        }
                    }
                    let c0: Vec<f32> = (0..m * n).map(|i| i as f32).collect();
                    let (mut c1, mut c2) = (c0.clone(), c0.clone());
                    let mut sums = start.clone();
                    pool.install(|| {
                        gemm_a_grouped(kern, m, ga.as_slice(), gs, &pb, &mut c1, n, acc);
                        // SAFETY: A grouped for kern over k depths, B packed
                        // for kern, C m x n, sums ceil(m/MR)*MR floats.
                        unsafe {
                            gemm_grouped_a(
                                kern,
                                m,
                                ga.as_ptr(),
                                gs,
                                pb.as_bref(),
                                c2.as_mut_ptr(),
                                n,
                                IndexMap::Identity,
                                acc,
                                sums.as_mut_ptr(),
                            )
                        };
                    });
                    assert!(
                        c1.iter().zip(&c2).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{isa:?} {m}x{k}x{n}"
                    );
                    for i in 0..m {
                        assert_eq!(
                            sums[i].to_bits(),
                            want[i].to_bits(),
                            "{isa:?} {m}x{k}x{n} acc={acc} row {i}"
                        );
                    }
                }
            }
        }
    }

    /// Every group width the kernels use, full and partial column ranges,
    /// row counts with and without a remainder of four, aligned and
    /// misaligned destinations: the fast paths place every element where
    /// the definition says and touch nothing else.
    #[test]
    fn rows_to_grouped_matches_its_definition() {
        let (lds, nrows) = (53usize, 23usize);
        let src: Vec<f32> = (0..lds * nrows).map(|i| i as f32 + 0.5).collect();
        for mr in [4, 6, 8, 14, 16] {
            for &(c0, c1) in &[(0, lds), (0, 12), (6, 48), (3, 50), (0, 1)] {
                for &(p0, rows) in &[(0, nrows), (4, 16), (1, 7), (0, 4), (2, 5)] {
                    for shift in [0, 1, 2] {
                        let groups = lds.div_ceil(mr);
                        let gs = ((p0 + rows) * mr + 8).next_multiple_of(4);
                        let mut buf = AlignedBuf::zeros(groups * gs + shift);
                        let dst = &mut buf.as_mut_slice()[shift..];
                        dst.fill(-1.0);
                        let mut want = dst.to_vec();
                        for c in c0..c1 {
                            for p in p0..p0 + rows {
                                want[(c / mr) * gs + p * mr + c % mr] = src[(p - p0) * lds + c];
                            }
                        }
                        // SAFETY: src holds `rows` rows of lds; dst holds
                        // every group's rows p0..p0+rows.
                        unsafe {
                            rows_to_grouped(src.as_ptr(), lds, rows, c0, c1, dst.as_mut_ptr(), gs, mr, p0)
                        };
                        assert_eq!(dst, &want[..], "mr={mr} cols {c0}..{c1} rows {p0}+{rows} shift {shift}");
                    }
                }
            }
        }
    }
}
