//! The fast path against PyTorch: `tests/fixtures/lstm/` holds a tiny model
//! (V=65, E=H=16, L=2, T=8, B=2, batch_first) with PyTorch 2.15's loss and
//! gradients (the recipe is in `fixtures/lstm/recipe/grads.py`). For the
//! untied LSTM, the tied LSTM and the tanh RNN, through every dispatch path
//! this CPU has (scalar, avx2, avx512), our loss must be within 1e-5 and
//! every gradient element within 1e-6 (absolute) of PyTorch's. The fixture's
//! own f32-vs-f64 error is about 3e-9, so 1e-6 leaves room for a different
//! summation order but not for a wrong formula.
//!
//! Also: bit-identical results for 1 and 2 threads, and `forward_loss` on
//! full rows equal to `forward_backward`'s loss times the count.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell as FlagCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use model::fast::{Stepper, Workspace};
use model::kernels::Isa;
use model::{Cell, ModelConfig, ParamLayout};
use safetensors::{Dtype, SafeTensors};

/// Counts heap allocations made by threads that opted in (the pool of
/// `step_loop_does_not_allocate`), so tests running alongside on other
/// threads do not disturb the count.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTED: FlagCell<bool> = const { FlagCell::new(false) };
}

// SAFETY: forwards every call to the system allocator unchanged; the
// counter is a relaxed atomic and the flag a const thread-local (neither
// allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTED.try_with(|c| c.get()).unwrap_or(false) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lstm").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("tensor {name}: {e}"));
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn ids(st: &SafeTensors, name: &str) -> Vec<u32> {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("tensor {name}: {e}"));
    assert_eq!(t.dtype(), Dtype::I64, "{name}");
    t.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32).collect()
}

struct Case {
    layout: ParamLayout,
    params: Vec<f32>,
    inputs: Vec<u32>,
    targets: Vec<u32>,
    loss: f32,
    grads: Vec<(String, Vec<f32>)>,
}

fn case(cell: Cell, tie: bool) -> Case {
    let (pf, gf) = match (cell, tie) {
        (Cell::Lstm, false) => ("params.safetensors", "grads.safetensors"),
        (Cell::Lstm, true) => ("params_tied.safetensors", "grads_tied.safetensors"),
        (Cell::Rnn, _) => ("rnn_params.safetensors", "rnn_grads.safetensors"),
    };
    let (pb, gb) = (fixture(pf), fixture(gf));
    let (ps, gs) = (SafeTensors::deserialize(&pb).unwrap(), SafeTensors::deserialize(&gb).unwrap());
    let cfg = ModelConfig { cell, vocab: 65, embed: 16, hidden: 16, layers: 2, tie };
    let layout = ParamLayout::new(&cfg);
    let mut params = layout.zeros();
    let mut grads = Vec::new();
    for spec in layout.specs() {
        let v = f32s(&ps, &spec.name);
        assert_eq!(v.len(), spec.len(), "{}", spec.name);
        params[spec.range()].copy_from_slice(&v);
        grads.push((spec.name.clone(), f32s(&gs, &spec.name)));
    }
    Case {
        layout,
        params,
        inputs: ids(&ps, "inputs"),
        targets: ids(&ps, "targets"),
        loss: f32s(&gs, "loss")[0],
        grads,
    }
}

fn check(cell: Cell, tie: bool) {
    let c = case(cell, tie);
    for isa in Isa::tested() {
        let mut ws = Workspace::with_isa(&c.layout, 2, 8, isa).unwrap();
        let mut grads = vec![f32::NAN; c.layout.len()];
        let loss = ws.forward_backward(&c.params, &mut grads, &c.inputs, &c.targets);
        assert!(
            (loss - c.loss).abs() <= 1e-5,
            "{cell:?} tie={tie} {isa:?}: loss {loss} vs PyTorch {}",
            c.loss
        );
        for (name, want) in &c.grads {
            let spec = c.layout.get(name).unwrap();
            let got = &grads[spec.range()];
            let (i, err) = got
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .enumerate()
                .fold((0, 0.0f32), |m, (i, e)| if e > m.1 || e.is_nan() { (i, e) } else { m });
            assert!(
                err <= 1e-6,
                "{cell:?} tie={tie} {isa:?}: {name}[{i}] = {} vs PyTorch {} (|diff| {err})",
                got[i],
                want[i]
            );
        }
        // Padding between tensors is zero.
        let mut end = 0;
        for s in c.layout.specs() {
            assert!(grads[end..s.offset].iter().all(|&x| x == 0.0), "padding before {}", s.name);
            end = s.offset + s.len();
        }
        // forward_loss on full rows = mean loss x count.
        let (sum, count) = ws.forward_loss(&c.params, &c.inputs, &c.targets, &[8, 8]);
        assert_eq!(count, 16);
        assert!((sum / 16.0 - loss as f64).abs() < 1e-6, "{isa:?}: forward_loss {sum}/16 vs {loss}");
    }
}

#[test]
fn lstm_matches_pytorch() {
    check(Cell::Lstm, false);
}

#[test]
fn tied_lstm_matches_pytorch() {
    check(Cell::Lstm, true);
}

#[test]
fn rnn_matches_pytorch() {
    check(Cell::Rnn, false);
}

/// PyTorch's forward activations: the stepper's logits, fed the inputs of
/// row 0 one token at a time, equal `forward.safetensors`'s logits.
#[test]
fn stepper_matches_pytorch_logits() {
    let c = case(Cell::Lstm, false);
    let fb = fixture("forward.safetensors");
    let fwd = SafeTensors::deserialize(&fb).unwrap();
    let logits = f32s(&fwd, "logits"); // [B, T, V]
    for isa in Isa::tested() {
        let kern = model::kernels::Kernels::get(isa).unwrap();
        let mut st = Stepper::with_kernels(&c.layout, &c.params, kern);
        for b in 0..2 {
            st.reset();
            for t in 0..8 {
                let got = st.step(c.inputs[b * 8 + t]).to_vec();
                let want = &logits[(b * 8 + t) * 65..(b * 8 + t + 1) * 65];
                let err = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                assert!(err <= 1e-5, "{isa:?} row {b} step {t}: max |logit diff| {err}");
            }
        }
    }
}

/// Random model with shapes that are not multiples of any vector width.
fn odd_case(cell: Cell, tie: bool) -> (ParamLayout, Vec<f32>, Vec<u32>, Vec<u32>, usize, usize) {
    let h = 40;
    let cfg = ModelConfig { cell, vocab: 37, embed: if tie { h } else { 24 }, hidden: h, layers: 2, tie };
    let layout = ParamLayout::new(&cfg);
    let params = layout.init(7);
    let (b, t) = (3, 11);
    let mut rng = model::rng::Rng::new(3);
    let inputs: Vec<u32> = (0..b * t).map(|_| rng.below(37) as u32).collect();
    let targets: Vec<u32> = (0..b * t).map(|_| rng.below(37) as u32).collect();
    (layout, params, inputs, targets, b, t)
}

/// Every ISA agrees with the scalar reference on odd shapes: loss within
/// 1e-5 relative, gradients within 1e-5 of the largest gradient element of
/// their tensor (f32 with different summation orders and exp/tanh
/// implementations).
#[test]
fn isas_agree_on_odd_shapes() {
    for (cell, tie) in [(Cell::Lstm, false), (Cell::Lstm, true), (Cell::Rnn, false)] {
        let (layout, params, inputs, targets, b, t) = odd_case(cell, tie);
        let mut ws = Workspace::with_isa(&layout, b, t, Isa::Scalar).unwrap();
        let mut g0 = layout.zeros();
        let l0 = ws.forward_backward(&params, &mut g0, &inputs, &targets);
        for isa in Isa::tested() {
            let mut ws = Workspace::with_isa(&layout, b, t, isa).unwrap();
            let mut g = layout.zeros();
            let l = ws.forward_backward(&params, &mut g, &inputs, &targets);
            assert!((l - l0).abs() <= 1e-5 * l0.abs(), "{cell:?} {isa:?}: loss {l} vs scalar {l0}");
            for s in layout.specs() {
                let scale = g0[s.range()].iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-30);
                for i in s.range() {
                    assert!(
                        (g[i] - g0[i]).abs() <= 1e-5 * scale,
                        "{cell:?} {isa:?} {}[{}]: {} vs scalar {}",
                        s.name,
                        i - s.offset,
                        g[i],
                        g0[i]
                    );
                }
            }
        }
    }
}

/// Central finite differences of the loss (f64 sums of f32 losses) agree
/// with the fast gradient on a few coordinates of every tensor.
#[test]
fn gradients_match_finite_differences() {
    for (cell, tie) in [(Cell::Lstm, false), (Cell::Lstm, true), (Cell::Rnn, false)] {
        let (layout, params, inputs, targets, b, t) = odd_case(cell, tie);
        let mut ws = Workspace::new(&layout, b, t);
        let mut g = layout.zeros();
        ws.forward_backward(&params, &mut g, &inputs, &targets);
        let lens = vec![t; b];
        let n = (b * t) as f64;
        let mut p = params.clone();
        for s in layout.specs() {
            for i in [s.offset, s.offset + s.len() / 2, s.offset + s.len() - 1] {
                let eps = 1e-2f32;
                let x = p[i];
                p[i] = x + eps;
                let lp = ws.forward_loss(&p, &inputs, &targets, &lens).0 / n;
                p[i] = x - eps;
                let lm = ws.forward_loss(&p, &inputs, &targets, &lens).0 / n;
                p[i] = x;
                let fd = (lp - lm) / (2.0 * eps as f64);
                let err = (fd - g[i] as f64).abs();
                assert!(
                    err <= 2e-3 * fd.abs().max(g[i].abs() as f64) + 2e-5,
                    "{cell:?} tie={tie} {}: fd {fd} vs {}",
                    s.name,
                    g[i]
                );
            }
        }
    }
}

/// Same bits for 1, 2 and 3 threads.
#[test]
fn thread_count_does_not_change_bits() {
    let (layout, params, inputs, targets, b, t) = odd_case(Cell::Lstm, false);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut ws = Workspace::new(&layout, b, t);
            let mut g = layout.zeros();
            let l = ws.forward_backward(&params, &mut g, &inputs, &targets);
            (l.to_bits(), g.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
}

/// Layer 0's input table (V <= N/4) changes only the two sums it
/// reorders: with the table on and off, the loss, the evaluation loss and
/// every gradient but layer 0's W_ih and the embedding (which the table
/// path sums per token first) are bit-identical, and those two match the
/// f64 reference with the table on. Every ISA, both cells and a tied head
/// (whose embedding is the head weight), on shapes that are not multiples
/// of any vector width.
#[test]
fn input_table_changes_only_the_input_side_sums() {
    for (cell, tie) in [(Cell::Lstm, false), (Cell::Rnn, false), (Cell::Lstm, true)] {
        let embed = if tie { 40 } else { 24 };
        let cfg = ModelConfig { cell, vocab: 7, embed, hidden: 40, layers: 2, tie };
        let layout = ParamLayout::new(&cfg);
        let params = layout.init(9);
        let (b, t) = (3, 11);
        assert!(4 * cfg.vocab <= b * t, "the case must use the table");
        let mut rng = model::rng::Rng::new(8);
        let x: Vec<u32> = (0..b * t).map(|_| rng.below(7) as u32).collect();
        let y: Vec<u32> = (0..b * t).map(|_| rng.below(7) as u32).collect();
        let (emb, w_ih0) = (layout.embedding(), layout.layer(0).w_ih);
        let reordered = |i: usize| {
            (emb..emb + cfg.vocab * embed).contains(&i)
                || (w_ih0..w_ih0 + cfg.gates() * cfg.hidden * embed).contains(&i)
        };
        for isa in Isa::tested() {
            let run = |on: bool| {
                let mut ws = Workspace::with_isa(&layout, b, t, isa).unwrap();
                ws.set_input_table(on);
                let mut g = layout.zeros();
                let l = ws.forward_backward(&params, &mut g, &x, &y);
                let (e, _) = ws.forward_loss(&params, &x, &y, &[t, 5, 0]);
                // The table's GEMM is layer 0's input projection: its time
                // is the profile's fwd_proj (the recurrent part's in `lm
                // bench`), not weight packing's; without the table there is
                // none.
                assert_eq!(ws.profile().fwd_proj > 0.0, on, "{isa:?} {cell:?}: fwd_proj");
                (l.to_bits(), e.to_bits(), g)
            };
            let (on, off) = (run(true), run(false));
            let case = format!("{isa:?} {cell:?} tie={tie}");
            assert_eq!((on.0, on.1), (off.0, off.1), "{case}: losses");
            for (i, (a, b)) in on.2.iter().zip(&off.2).enumerate() {
                if !reordered(i) {
                    assert_eq!(a.to_bits(), b.to_bits(), "{case}: gradient element {i}");
                }
            }
        }
        assert_matches_f64(&layout, &params, &x, &y, b, t, &format!("table {cell:?} tie={tie}"));
    }
}

/// The input table at a vocabulary larger than the batch: it holds only
/// the batch's distinct input tokens, and a batch with more of them than
/// `table_cap` (7/8 of B*T) takes the X path for that call only. With V =
/// 300 and B*T = 33 (at most 28 table rows): a batch of 9 distinct ids
/// takes the table (9 rows, most tokens absent), a batch of uniformly
/// random ids (31 distinct) does not; each equals the table-off workspace
/// in every bit outside layer 0's input-side sums, which match the f64
/// reference; and one workspace alternating the two batches gives the
/// same bits as fresh ones (nothing of one batch's table outlives it).
/// Every ISA, LSTM and RNN, untied and tied.
#[test]
fn input_table_follows_the_batch_distinct_tokens() {
    for (cell, tie) in [(Cell::Lstm, false), (Cell::Rnn, false), (Cell::Lstm, true)] {
        let embed = if tie { 40 } else { 24 };
        let v = 300;
        let cfg = ModelConfig { cell, vocab: v, embed, hidden: 40, layers: 2, tie };
        let layout = ParamLayout::new(&cfg);
        let params = layout.init(21);
        let (b, t) = (3, 11);
        let mut rng = model::rng::Rng::new(5);
        let few: Vec<u32> = (0..b * t).map(|_| (rng.below(9) * 31 + 7) as u32).collect();
        let many: Vec<u32> = (0..b * t).map(|_| rng.below(v as u64) as u32).collect();
        let y: Vec<u32> = (0..b * t).map(|_| rng.below(v as u64) as u32).collect();
        let distinct = |x: &[u32]| x.iter().collect::<std::collections::BTreeSet<_>>().len();
        assert_eq!(distinct(&few), 9, "the small batch must use all 9 ids");
        assert!(distinct(&many) > 28, "the large batch must outgrow the table");
        let (emb, w_ih0) = (layout.embedding(), layout.layer(0).w_ih);
        let reordered = |i: usize| {
            (emb..emb + v * embed).contains(&i)
                || (w_ih0..w_ih0 + cfg.gates() * cfg.hidden * embed).contains(&i)
        };
        type Out = (u32, u64, Vec<f32>);
        // The output, and the table rows forward_backward took (forward_loss
        // has its own batch: rows 1 and 2 cut short, row 2 to nothing).
        let call = |ws: &mut Workspace, x: &[u32]| -> (Out, usize) {
            let mut g = layout.zeros();
            let l = ws.forward_backward(&params, &mut g, x, &y);
            let rows = ws.input_table_rows();
            let (e, _) = ws.forward_loss(&params, x, &y, &[t, 5, 0]);
            ((l.to_bits(), e.to_bits(), g), rows)
        };
        let bits = |g: &[f32]| g.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for isa in Isa::tested() {
            let case = format!("{isa:?} {cell:?} tie={tie}");
            let fresh = |x: &[u32], on: bool| -> (Out, usize) {
                let mut ws = Workspace::with_isa(&layout, b, t, isa).unwrap();
                ws.set_input_table(on);
                call(&mut ws, x)
            };
            let ((few_on, rows_few), (few_off, rows_off)) = (fresh(&few, true), fresh(&few, false));
            let ((many_on, rows_many), (many_off, _)) = (fresh(&many, true), fresh(&many, false));
            assert!(rows_few == 9, "{case}: the small batch takes the table ({rows_few} rows)");
            assert_eq!((rows_off, rows_many), (0, 0), "{case}: table off / too many distinct ids");
            assert_eq!((few_on.0, few_on.1), (few_off.0, few_off.1), "{case}: losses");
            for (i, (a, c)) in few_on.2.iter().zip(&few_off.2).enumerate() {
                if !reordered(i) {
                    assert_eq!(a.to_bits(), c.to_bits(), "{case}: gradient element {i}");
                }
            }
            assert_eq!(
                (many_on.0, many_on.1, bits(&many_on.2)),
                (many_off.0, many_off.1, bits(&many_off.2)),
                "{case}: X path"
            );
            // One workspace, alternating.
            let mut ws = Workspace::with_isa(&layout, b, t, isa).unwrap();
            for (x, want) in [(&few, &few_on), (&many, &many_on), (&few, &few_on), (&many, &many_on)] {
                let got = call(&mut ws, x).0;
                assert_eq!(
                    (got.0, got.1, bits(&got.2)),
                    (want.0, want.1, bits(&want.2)),
                    "{case}: alternating batches"
                );
            }
        }
        assert_matches_f64(&layout, &params, &few, &y, b, t, &format!("sparse table {cell:?} tie={tie}"));
        assert_matches_f64(&layout, &params, &many, &y, b, t, &format!("no table {cell:?} tie={tie}"));
    }
}

/// `forward_loss` with short rows equals the loss of the valid prefix.
#[test]
fn forward_loss_respects_lens() {
    let (layout, params, inputs, targets, b, t) = odd_case(Cell::Lstm, false);
    let mut ws = Workspace::new(&layout, b, t);
    let lens = [t, 4, 0];
    let (sum, count) = ws.forward_loss(&params, &inputs, &targets, &lens);
    assert_eq!(count, t + 4);
    // Row by row with a B=1 workspace of the row's length.
    let mut want = 0.0;
    for (row, &len) in lens.iter().enumerate() {
        if len == 0 {
            continue;
        }
        let mut w1 = Workspace::new(&layout, 1, len);
        let x = &inputs[row * t..row * t + len];
        let y = &targets[row * t..row * t + len];
        want += w1.forward_loss(&params, x, y, &[len]).0;
    }
    assert!((sum - want).abs() < 1e-4, "{sum} vs {want}");
}

/// The stepper agrees with the training path: the cross-entropy of its
/// logits, summed over a sequence, equals `forward_loss` of that sequence,
/// and its parallel split (H >= 256) gives the same bits as one thread.
/// With layer 0's input table (V = 37) and without it (V = 16,000: the
/// table would exceed `INPUT_TABLE_BYTES`, so W_ih is read per token).
#[test]
fn stepper_agrees_with_forward_loss() {
    let big_v = 16_000;
    assert!(
        big_v * 4 * 272 * 4 > model::fast::stepper::INPUT_TABLE_BYTES,
        "the large case must skip the table"
    );
    for (cell, vocab) in [(Cell::Lstm, 37), (Cell::Rnn, 37), (Cell::Lstm, big_v)] {
        let cfg = ModelConfig { cell, vocab, embed: 24, hidden: 272, layers: 2, tie: false };
        let layout = ParamLayout::new(&cfg);
        let params = layout.init(11);
        let mut rng = model::rng::Rng::new(5);
        let t = 9;
        let x: Vec<u32> = (0..t).map(|_| rng.below(vocab as u64) as u32).collect();
        let y: Vec<u32> = (0..t).map(|_| rng.below(vocab as u64) as u32).collect();
        let mut ws = Workspace::new(&layout, 1, t);
        let (want, _) = ws.forward_loss(&params, &x, &y, &[t]);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let mut runs = Vec::new();
        for threads in [1, 2] {
            let mut st = Stepper::new(&layout, &params);
            st.set_threads(threads);
            let mut loss = 0.0f64;
            let mut bits = Vec::new();
            pool.install(|| {
                for (&xi, &yi) in x.iter().zip(&y) {
                    let z = st.step(xi);
                    let m = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
                    let s: f64 = z.iter().map(|&v| (v as f64 - m).exp()).sum();
                    loss += s.ln() + m - z[yi as usize] as f64;
                    bits.extend(z.iter().map(|v| v.to_bits()));
                }
            });
            assert!(
                (loss - want).abs() < 1e-4,
                "{cell:?} threads={threads}: stepper {loss} vs forward_loss {want}"
            );
            runs.push(bits);
        }
        assert_eq!(runs[0], runs[1], "{cell:?}: 1 and 2 threads differ");
    }
}

/// The fast path against the f64 reference (`crate::reference`, itself
/// checked against PyTorch and by finite differences) on odd shapes: loss
/// within 1e-5 relative; every gradient within 2e-5 of its tensor's largest
/// element (f32 against f64 over B*T positions and T steps of recurrence).
#[test]
fn fast_path_matches_f64_reference() {
    for (cell, tie) in [(Cell::Lstm, false), (Cell::Lstm, true), (Cell::Rnn, false)] {
        let (layout, params, inputs, targets, b, t) = odd_case(cell, tie);
        assert_matches_f64(&layout, &params, &inputs, &targets, b, t, &format!("{cell:?} tie={tie}"));
    }
}

/// Every ISA's loss within 1e-5 relative of the f64 reference's, and every
/// gradient within 2e-5 of its tensor's largest element.
fn assert_matches_f64(
    layout: &ParamLayout,
    params: &[f32],
    inputs: &[u32],
    targets: &[u32],
    b: usize,
    t: usize,
    case: &str,
) {
    use model::reference::Reference;
    let p64: Vec<f64> = params.iter().map(|&x| x as f64).collect();
    let mut g64 = vec![0.0f64; layout.len()];
    let mut r = Reference::<f64>::new(layout, b, t).unwrap();
    let l64 = r.forward_backward(&p64, &mut g64, inputs, targets).unwrap();
    for isa in Isa::tested() {
        let mut ws = Workspace::with_isa(layout, b, t, isa).unwrap();
        let mut g = layout.zeros();
        let l = ws.forward_backward(params, &mut g, inputs, targets) as f64;
        assert!((l - l64).abs() <= 1e-5 * l64.abs(), "{case} {isa:?}: loss {l} vs f64 {l64}");
        for s in layout.specs() {
            let scale = g64[s.range()].iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-30);
            let (i, worst) = s
                .range()
                .map(|i| (i, (g[i] as f64 - g64[i]).abs()))
                .fold((s.offset, 0.0f64), |a, c| if c.1 > a.1 { c } else { a });
            assert!(
                worst <= 2e-5 * scale,
                "{case} {isa:?} {}[{}]: {} vs f64 {} (largest element {scale})",
                s.name,
                i - s.offset,
                g[i],
                g64[i]
            );
        }
    }
}

/// Degenerate batch shapes against the f64 reference: one step (no
/// recurrence, an empty dW_hh sum), one row (fewer rows than any GEMM
/// tile), and B*T below the tile height, on every ISA, with the tolerances
/// of `fast_path_matches_f64_reference`.
#[test]
fn edge_shapes_match_f64_reference() {
    use model::reference::Reference;
    for cell in [Cell::Lstm, Cell::Rnn] {
        let cfg = ModelConfig { cell, vocab: 37, embed: 24, hidden: 40, layers: 2, tie: false };
        let layout = ParamLayout::new(&cfg);
        let params = layout.init(9);
        let p64: Vec<f64> = params.iter().map(|&x| x as f64).collect();
        for (b, t) in [(1, 1), (4, 1), (1, 5), (3, 2), (9, 3)] {
            let mut rng = model::rng::Rng::new((b * 100 + t) as u64);
            let inputs: Vec<u32> = (0..b * t).map(|_| rng.below(37) as u32).collect();
            let targets: Vec<u32> = (0..b * t).map(|_| rng.below(37) as u32).collect();
            let mut g64 = vec![0.0f64; layout.len()];
            let mut r = Reference::<f64>::new(&layout, b, t).unwrap();
            let l64 = r.forward_backward(&p64, &mut g64, &inputs, &targets).unwrap();
            for isa in Isa::tested() {
                let mut ws = Workspace::with_isa(&layout, b, t, isa).unwrap();
                let mut g = vec![f32::NAN; layout.len()];
                let l = ws.forward_backward(&params, &mut g, &inputs, &targets) as f64;
                assert!(
                    (l - l64).abs() <= 1e-5 * l64.abs(),
                    "{cell:?} B={b} T={t} {isa:?}: loss {l} vs f64 {l64}"
                );
                for s in layout.specs() {
                    let scale = g64[s.range()].iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-30);
                    for i in s.range() {
                        assert!(
                            (g[i] as f64 - g64[i]).abs() <= 2e-5 * scale,
                            "{cell:?} B={b} T={t} {isa:?} {}[{}]: {} vs f64 {}",
                            s.name,
                            i - s.offset,
                            g[i],
                            g64[i]
                        );
                    }
                }
            }
        }
    }
}

/// Nothing allocates per time step: after a warm-up call, forward_backward
/// and forward_loss make as many allocations for T = 4 as for T = 40, give
/// or take a few (what remains are rayon's per-call job boxes of the time
/// loops, whose number depends on scheduling, not on T), on a 2-thread pool
/// whose threads are counted.
#[test]
fn step_loop_does_not_allocate() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| COUNTED.with(|c| c.set(true)))
        .build()
        .unwrap();
    let cfg = ModelConfig { cell: Cell::Lstm, vocab: 37, embed: 48, hidden: 64, layers: 2, tie: false };
    let layout = ParamLayout::new(&cfg);
    let params = layout.init(4);
    let count = |t: usize| -> usize {
        pool.install(|| {
            // B >= every ISA's tile height: fewer rows would route the step
            // GEMMs through a thread-local scratch tile, allocated on a
            // thread's first use, which may fall after the warm-up.
            let b = 8;
            let mut rng = model::rng::Rng::new(t as u64);
            let x: Vec<u32> = (0..b * t).map(|_| rng.below(37) as u32).collect();
            let y: Vec<u32> = (0..b * t).map(|_| rng.below(37) as u32).collect();
            let lens = vec![t; b];
            let mut ws = Workspace::new(&layout, b, t);
            let mut g = layout.zeros();
            ws.forward_backward(&params, &mut g, &x, &y);
            ws.forward_loss(&params, &x, &y, &lens);
            let before = ALLOCS.load(Ordering::Relaxed);
            for _ in 0..3 {
                ws.forward_backward(&params, &mut g, &x, &y);
                ws.forward_loss(&params, &x, &y, &lens);
            }
            ALLOCS.load(Ordering::Relaxed) - before
        })
    };
    let (short, long) = (count(4), count(40));
    // One allocation per time step would add 3 x 2 x 36 = 216 for T=40.
    // The job boxes vary by a few with scheduling (a job run inline or
    // stolen), so the two counts may differ by up to 8, no more.
    assert!(long.abs_diff(short) <= 8, "allocations grow with T: {short} for T=4, {long} for T=40");
    assert!(short <= 3 * 16, "{short} allocations in 3 forward_backward + forward_loss calls");
}

/// The head at a BPE-sized vocabulary against the f64 reference, on every
/// ISA, same tolerances as above: V = 5003 sends the logits, dW_head and dh
/// GEMMs down their long-K and many-panel paths, which V = 37 never reaches,
/// and B*T = 1803 positions split the head into two chunks (the workspace
/// holds 2^23 floats of logits: 1676 rows at this V), so dW_head accumulates
/// across chunks and the second chunk is a partial one.
#[test]
fn fast_path_matches_f64_reference_at_large_vocab() {
    let v = 5003;
    let cfg = ModelConfig { cell: Cell::Lstm, vocab: v, embed: 24, hidden: 40, layers: 2, tie: false };
    let layout = ParamLayout::new(&cfg);
    let params = layout.init(13);
    let (b, t) = (3, 601);
    let mut rng = model::rng::Rng::new(17);
    let inputs: Vec<u32> = (0..b * t).map(|_| rng.below(v as u64) as u32).collect();
    let targets: Vec<u32> = (0..b * t).map(|_| rng.below(v as u64) as u32).collect();
    assert_matches_f64(&layout, &params, &inputs, &targets, b, t, "V=5003");
}
