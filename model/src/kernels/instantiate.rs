//! `instantiate_kernels!`: the entry points of one ISA, each a thin
//! `#[target_feature]` wrapper that inlines a generic kernel, plus the
//! ISA's [`Kernels`](crate::kernels::Kernels) table.

/// Expands, inside a per-ISA module, to one `unsafe fn` per kernel carrying
/// the given attributes (the ISA's `#[target_feature]`), and to
/// `pub(crate) static KERNELS`.
///
/// # Safety (of every generated function)
/// The CPU must support the ISA named in the attributes (guaranteed when the
/// function is reached through a table from `Kernels::get`/`detect`), and the
/// pointer arguments must satisfy the contract of the generic kernel of the
/// same name in `generic.rs`.
macro_rules! instantiate_kernels {
    (
        $(#[$attr:meta])*
        isa: $isa:expr, vector: $V:ty, mr: $mr:literal, nv: $nv:literal
    ) => {
        use crate::kernels::generic as g;

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn ukernel_packed(
            kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, acc: bool, pf: *const f32,
        ) {
            // SAFETY: forwarded contract (see the macro docs).
            unsafe { g::ukernel_packed::<$V, $mr, $nv>(kc, a, b, c, ldc, acc, pf) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn ukernel_rows(
            kc: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32, ldc: usize, acc: bool, pf: *const f32,
        ) {
            // SAFETY: forwarded contract.
            unsafe { g::ukernel_rows::<$V, $mr, $nv>(kc, a, lda, b, c, ldc, acc, pf) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn ukernel_rows_lo(
            kc: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32, ldc: usize, acc: bool, pf: *const f32,
        ) {
            // SAFETY: forwarded contract (a tile of MR-1 rows).
            unsafe { g::ukernel_rows::<$V, { $mr - 1 }, $nv>(kc, a, lda, b, c, ldc, acc, pf) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn ukernel_rows_g(
            kc: usize, a: *const f32, gw: usize, gs: usize, b: *const f32, c: *mut f32, ldc: usize, acc: bool,
        ) {
            // SAFETY: forwarded contract.
            unsafe { g::ukernel_rows_g::<$V, $mr, $nv, $nv>(kc, a, gw, gs, b, c, ldc, acc) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn ukernel_rows_g_half(
            kc: usize, a: *const f32, gw: usize, gs: usize, b: *const f32, c: *mut f32, ldc: usize, acc: bool,
        ) {
            // SAFETY: forwarded contract (the first half of a full panel).
            unsafe { g::ukernel_rows_g::<$V, $mr, { $nv / 2 }, $nv>(kc, a, gw, gs, b, c, ldc, acc) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn gemv_panel(k: usize, x: *const f32, b: *const f32, y: *mut f32, acc: bool) {
            // SAFETY: forwarded contract.
            unsafe { g::gemv_panel::<$V, $nv>(k, x, b, y, acc) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn lstm_fwd_rows(
            rows: usize, w: usize, gates: *mut f32, ldg: usize, bias: *const f32, c_prev: *const f32,
            c: *mut f32, tc: *mut f32, h: *mut f32, ldh: usize,
        ) {
            // SAFETY: forwarded contract.
            unsafe { g::lstm_fwd_rows::<$V>(rows, w, gates, ldg, bias, c_prev, c, tc, h, ldh) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn lstm_bwd_rows(
            rows: usize, w: usize, gates: *mut f32, ldg: usize, tc: *const f32, c_prev: *const f32,
            dh: *const f32, dc: *mut f32, ldh: usize, db: *mut f32,
        ) {
            // SAFETY: forwarded contract.
            unsafe { g::lstm_bwd_rows::<$V>(rows, w, gates, ldg, tc, c_prev, dh, dc, ldh, db) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn rnn_fwd_rows(
            rows: usize, w: usize, pre: *const f32, ldg: usize, bias: *const f32, h: *mut f32, ldh: usize,
        ) {
            // SAFETY: forwarded contract.
            unsafe { g::rnn_fwd_rows::<$V>(rows, w, pre, ldg, bias, h, ldh) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn rnn_bwd_rows(
            rows: usize, w: usize, h: *const f32, dh: *const f32, ldh: usize, dpre: *mut f32, ldg: usize, db: *mut f32,
        ) {
            // SAFETY: forwarded contract.
            unsafe { g::rnn_bwd_rows::<$V>(rows, w, h, dh, ldh, dpre, ldg, db) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn softmax_xent_row(v: usize, z: *mut f32, bias: *const f32, target: usize, scale: f32, grad: bool) -> f64 {
            // SAFETY: forwarded contract.
            unsafe { g::softmax_xent_row::<$V>(v, z, bias, target, scale, grad) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn adamw(n: usize, p: *mut f32, gr: *const f32, m: *mut f32, v: *mut f32, c: crate::optim::AdamWScalars) {
            // SAFETY: forwarded contract.
            unsafe { g::adamw::<$V>(n, p, gr, m, v, c) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn sumsq(n: usize, x: *const f32) -> f64 {
            // SAFETY: forwarded contract.
            unsafe { g::sumsq::<$V>(n, x) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn scale(n: usize, x: *mut f32, s: f32) {
            // SAFETY: forwarded contract.
            unsafe { g::scale::<$V>(n, x, s) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn add(n: usize, y: *mut f32, x: *const f32) {
            // SAFETY: forwarded contract.
            unsafe { g::add::<$V>(n, y, x) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn group_sums(groups: usize, mr: usize, kc: usize, a: *const f32, gs: usize, s: *mut f32, acc: bool) {
            // SAFETY: forwarded contract.
            unsafe { g::group_sums::<$V>(groups, mr, kc, a, gs, s, acc) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn exp(n: usize, x: *const f32, y: *mut f32) {
            // SAFETY: forwarded contract.
            unsafe { g::map::<$V, 0>(n, x, y) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn tanh(n: usize, x: *const f32, y: *mut f32) {
            // SAFETY: forwarded contract.
            unsafe { g::map::<$V, 1>(n, x, y) }
        }

        $(#[$attr])*
        /// # Safety
        /// See `instantiate_kernels!`.
        pub(crate) unsafe fn sigmoid(n: usize, x: *const f32, y: *mut f32) {
            // SAFETY: forwarded contract.
            unsafe { g::map::<$V, 2>(n, x, y) }
        }

        pub(crate) static KERNELS: crate::kernels::Kernels = crate::kernels::Kernels {
            isa: $isa,
            mr: $mr,
            nr: $nv * <$V as crate::kernels::simd::Simd>::LANES,
            ukernel_packed,
            ukernel_rows,
            ukernel_rows_lo,
            ukernel_rows_g,
            ukernel_rows_g_half,
            gemv_panel,
            lstm_fwd_rows,
            lstm_bwd_rows,
            rnn_fwd_rows,
            rnn_bwd_rows,
            softmax_xent_row,
            adamw,
            sumsq,
            scale,
            add,
            group_sums,
            exp,
            tanh,
            sigmoid,
        };
    };
}
