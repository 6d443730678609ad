//! Finite-difference gradient checks of the reference model in f64: every
//! element of every parameter tensor, for the LSTM and the RNN, with two
//! layers, tied and untied (untied with E != H, so layer 0's input width
//! differs from layer 1's).
//!
//! Each element's analytic gradient is compared with the central difference
//! `(L(p + eps) - L(p - eps)) / (2 eps)`, eps = 1e-5. The truncation error is
//! O(eps^2 * L''') ~ 1e-11 and the rounding error ~ 1e-16 / eps ~ 1e-11, so an
//! element passes when `|fd - grad| <= 1e-8 + 1e-6 * |grad|`. Measured worst
//! absolute error: 4.9e-11 to 8.3e-11 over the four cases (printed with
//! `--nocapture`); a wrong sign, a missing term or a dropped time step is off
//! by orders of magnitude more.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use model::config::{Cell, ModelConfig};
use model::params::ParamLayout;
use model::reference::Reference;
use model::rng::Rng;

const EPS: f64 = 1e-5;
const ABS_TOL: f64 = 1e-8;
const REL_TOL: f64 = 1e-6;

fn batch(v: usize, b: usize, t: usize, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let mut rng = Rng::new(seed);
    let tokens: Vec<Vec<u32>> =
        (0..b).map(|_| (0..=t).map(|_| rng.below(v as u64) as u32).collect()).collect();
    let x = tokens.iter().flat_map(|r| r[..t].to_vec()).collect();
    let y = tokens.iter().flat_map(|r| r[1..].to_vec()).collect();
    (x, y)
}

fn gradcheck(cell: Cell, embed: usize, hidden: usize, tie: bool) {
    let cfg = ModelConfig { cell, vocab: 7, embed, hidden, layers: 2, tie };
    let layout = ParamLayout::new(&cfg);
    let (b, t) = (2, 5);
    // PyTorch's init scale, doubled for the recurrent weights so the gates leave
    // their linear region and the nonlinearities' derivatives matter.
    let mut params: Vec<f64> = layout.init(42).iter().map(|&p| p as f64).collect();
    for s in layout.specs().iter().filter(|s| s.name.contains("weight_")) {
        params[s.range()].iter_mut().for_each(|p| *p *= 2.0);
    }
    let (x, y) = batch(cfg.vocab, b, t, 7);
    let mut model = Reference::<f64>::new(&layout, b, t).unwrap();
    let mut grads = vec![0.0; layout.len()];
    let loss = model.forward_backward(&params, &mut grads, &x, &y).unwrap();
    assert!(loss.is_finite());

    let (mut worst_abs, mut checked, mut nonzero) = (0.0f64, 0, 0);
    for spec in layout.specs() {
        for i in spec.range() {
            let old = params[i];
            params[i] = old + EPS;
            let plus = model.forward_loss(&params, &x, &y).unwrap();
            params[i] = old - EPS;
            let minus = model.forward_loss(&params, &x, &y).unwrap();
            params[i] = old;
            let fd = (plus - minus) / (2.0 * EPS);
            let err = (fd - grads[i]).abs();
            assert!(
                err <= ABS_TOL + REL_TOL * grads[i].abs(),
                "{cell:?} tie={tie}: {}[{}]: analytic {} vs finite difference {fd} (|diff| {err:e})",
                spec.name,
                i - spec.offset,
                grads[i]
            );
            worst_abs = worst_abs.max(err);
            checked += 1;
            nonzero += (grads[i].abs() > 1e-6) as usize;
        }
    }
    println!("{cfg:?}: {checked} elements ({nonzero} with |grad| > 1e-6), worst |fd - grad| {worst_abs:e}");
    assert!(nonzero > checked / 2, "the check must exercise real gradients");
}

#[test]
fn lstm_untied() {
    gradcheck(Cell::Lstm, 4, 5, false);
}

#[test]
fn lstm_tied() {
    gradcheck(Cell::Lstm, 5, 5, true);
}

#[test]
fn rnn_untied() {
    gradcheck(Cell::Rnn, 4, 5, false);
}

#[test]
fn rnn_tied() {
    gradcheck(Cell::Rnn, 5, 5, true);
}

/// `backward` accumulates (`+=`) and `forward_backward` starts from zero, as documented.
#[test]
fn backward_accumulates_and_forward_backward_zeroes() {
    let cfg = ModelConfig { cell: Cell::Lstm, vocab: 7, embed: 4, hidden: 5, layers: 2, tie: false };
    let layout = ParamLayout::new(&cfg);
    let params: Vec<f64> = layout.init(3).iter().map(|&p| p as f64).collect();
    let (x, y) = batch(7, 2, 5, 1);
    let mut model = Reference::<f64>::new(&layout, 2, 5).unwrap();
    let mut once = vec![0.0; layout.len()];
    model.forward_backward(&params, &mut once, &x, &y).unwrap();
    let mut twice = once.clone();
    model.backward(&params, &mut twice, &x, &y).unwrap();
    // Equal up to rounding: the second pass adds its terms one by one onto the first's sums.
    assert!(once.iter().zip(&twice).all(|(a, b)| (b - 2.0 * a).abs() <= 1e-12 * a.abs()));
    assert!(once.iter().any(|&a| a != 0.0));
    let mut dirty = vec![1.0; layout.len()];
    model.forward_backward(&params, &mut dirty, &x, &y).unwrap();
    assert_eq!(dirty, once);
}
