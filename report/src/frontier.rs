//! The answer on the compute axis: which vocabulary is best over which range
//! of FLOPs, where the fitted curves cross, and which intrinsic tokenizer
//! measure ordered the vocabularies as the measured bits/char did.
//!
//! What it is: arithmetic on fitted curves ([`crate::fit::PowerLaw`]) and
//! measured points, tested on curves whose crossings are known analytically.
//! What it is not: a fitter (see [`crate::fit`]), a printer, or evidence
//! beyond the measured budgets: the part of the range past the largest
//! measured budget is marked as extrapolation.
//!
//! # The frontier
//!
//! Over `[smallest budget, 10 x largest budget]` the best vocabulary at `C`
//! is the one whose fitted curve is lowest there (the first in input order on
//! an exact tie). [`frontier`] evaluates every curve at 4001 points evenly
//! spaced in `ln C`; where the best vocabulary changes between two
//! neighbours, the switch point is found by bisection on `ln C` of the
//! difference of the two curves (to a relative width of 1e-13). A range that
//! spans the largest measured budget is split there, and the part above it is
//! marked `extrapolation`. Crossings of every pair of curves in the range are
//! found the same way (a sign change of their difference between grid
//! points), and marked as on the frontier or not. A pair whose curves cross
//! twice within one grid step (1/4000 of the log range) would be missed.
//!
//! # Rank agreement
//!
//! [`rank_agreement`] compares, at each measured budget, the order of the
//! vocabularies by measured bits/char with their order by each intrinsic
//! measure ([`Intrinsic`]), with Kendall's tau-b (Kendall 1945, the variant
//! that accounts for ties): `(concordant - discordant) / sqrt((n0 - t_x)(n0 -
//! t_y))`, `n0 = n(n-1)/2`, `t` the tied pairs. A measure *ordered the
//! vocabularies as bits/char did* when tau-b is exactly +1 or -1: every pair
//! is ordered the same way, with no ties, in one direction (+1: larger
//! measure, larger bits/char; -1: larger measure, smaller bits/char). With
//! fewer than two vocabularies, or all values tied, tau-b is undefined
//! (`None`).
//!
//! The intrinsic measures: tokens per character, bytes per token, share of
//! the vocabulary used, and Rényi efficiency at order 2.5 (Zouhar et al.
//! 2023; definitions in `tokenizer::stats`).

use serde::{Deserialize, Serialize};

use crate::fit::{FitError, Point, PowerLaw};

/// One vocabulary: its fitted curve and its measured points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VocabCurve {
    pub vocab: String,
    pub law: PowerLaw,
    pub points: Vec<Point>,
}

/// One entry of `report.json`'s `frontier`: `vocab` has the lowest fitted
/// bits/char from `from_flops` to `to_flops`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrontierRange {
    pub vocab: String,
    pub from_flops: f64,
    pub to_flops: f64,
    /// The range lies past the largest measured budget.
    pub extrapolation: bool,
}

/// Where two fitted curves cross.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Crossing {
    /// The two vocabularies, the one better below the crossing first.
    pub vocabs: [String; 2],
    pub flops: f64,
    /// The curves' common value there.
    pub bits_per_char: f64,
    /// The crossing lies past the largest measured budget.
    pub extrapolation: bool,
    /// The best vocabulary changes there.
    pub on_frontier: bool,
}

/// The vocabulary with the lowest measured bits/char at one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasuredBest {
    pub flops: f64,
    pub vocab: String,
    pub bits_per_char: f64,
}

/// The frontier over `[from_flops, to_flops]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frontier {
    /// Smallest measured budget.
    pub from_flops: f64,
    /// Largest measured budget; past it is extrapolation.
    pub measured_to_flops: f64,
    /// 10 x the largest measured budget.
    pub to_flops: f64,
    /// Consecutive ranges covering `[from_flops, to_flops]`, in order.
    pub ranges: Vec<FrontierRange>,
    /// Every crossing of two fitted curves in the range, by FLOPs.
    pub crossings: Vec<Crossing>,
    /// At each measured budget, the best measured vocabulary (budgets that
    /// appear in several curves compared as equal values).
    pub measured_best: Vec<MeasuredBest>,
}

/// How far past the largest measured budget the frontier goes.
pub const EXTRAPOLATION_FACTOR: f64 = 10.0;

const GRID: usize = 4001;

/// The frontier of `curves` (module docs). Errors: no curves, a curve
/// without points, or a non-finite or non-positive budget, bits/char or
/// curve parameter.
pub fn frontier(curves: &[VocabCurve]) -> Result<Frontier, FitError> {
    if curves.is_empty() {
        return Err(FitError::Empty("no curves: nothing to compare".into()));
    }
    for (ci, c) in curves.iter().enumerate() {
        if c.points.is_empty() {
            return Err(FitError::Empty(format!("{}: no measured points", c.vocab)));
        }
        for p in &c.points {
            for (field, v) in [("flops", p.flops), ("bits_per_char", p.bits_per_char)] {
                if !(v.is_finite() && v > 0.0) {
                    return Err(FitError::BadValue { index: ci, field, value: v });
                }
            }
        }
        for (field, v) in [("E", c.law.e), ("A", c.law.a), ("alpha", c.law.alpha)] {
            if !v.is_finite() || v < 0.0 {
                return Err(FitError::BadValue { index: ci, field, value: v });
            }
        }
    }
    let all = curves.iter().flat_map(|c| c.points.iter());
    let lo = all.clone().map(|p| p.flops).fold(f64::INFINITY, f64::min);
    let meas_hi = all.map(|p| p.flops).fold(0.0, f64::max);
    let hi = meas_hi * EXTRAPOLATION_FACTOR;
    let (ulo, uhi) = (lo.ln(), hi.ln());
    let at = |i: usize, u: f64| curves[i].law.predict(u.exp());
    let grid: Vec<f64> = (0..GRID).map(|g| ulo + (uhi - ulo) * g as f64 / (GRID - 1) as f64).collect();
    let best_at = |u: f64| -> usize {
        let mut b = 0;
        for i in 1..curves.len() {
            if at(i, u) < at(b, u) {
                b = i;
            }
        }
        b
    };

    // Switch points of the lowest curve.
    let mut switches: Vec<(f64, usize)> = Vec::new(); // (ln C where it starts, vocab index)
    let mut cur = best_at(grid[0]);
    switches.push((ulo, cur));
    for w in grid.windows(2) {
        let next = best_at(w[1]);
        if next != cur {
            let u = bisect(|u| at(cur, u) - at(next, u), w[0], w[1]);
            switches.push((u, next));
            cur = next;
        }
    }
    let mut ranges = Vec::new();
    let umeas = meas_hi.ln();
    for (k, &(u0, i)) in switches.iter().enumerate() {
        let u1 = switches.get(k + 1).map_or(uhi, |s| s.0);
        let push = |ranges: &mut Vec<FrontierRange>, a: f64, b: f64, extrapolation: bool| {
            let from_flops = if a == ulo {
                lo
            } else if a == umeas {
                meas_hi
            } else {
                a.exp()
            };
            let to_flops = if b == uhi {
                hi
            } else if b == umeas {
                meas_hi
            } else {
                b.exp()
            };
            ranges.push(FrontierRange {
                vocab: curves[i].vocab.clone(),
                from_flops,
                to_flops,
                extrapolation,
            });
        };
        if u1 <= umeas {
            push(&mut ranges, u0, u1, false);
        } else if u0 >= umeas {
            push(&mut ranges, u0, u1, true);
        } else {
            push(&mut ranges, u0, umeas, false);
            push(&mut ranges, umeas, u1, true);
        }
    }

    // Crossings of every pair.
    let mut crossings = Vec::new();
    for i in 0..curves.len() {
        for j in i + 1..curves.len() {
            let d = |u: f64| at(i, u) - at(j, u);
            for w in grid.windows(2) {
                let (d0, d1) = (d(w[0]), d(w[1]));
                if d0 == 0.0 || !(d0 * d1 < 0.0 || d1 == 0.0) {
                    continue;
                }
                let u = bisect(d, w[0], w[1]);
                // The curve better just below the crossing comes first.
                let (a, b) = if d0 < 0.0 { (i, j) } else { (j, i) };
                let c = u.exp();
                let y = at(i, u);
                let lowest = (0..curves.len()).map(|m| at(m, u)).fold(f64::INFINITY, f64::min);
                crossings.push(Crossing {
                    vocabs: [curves[a].vocab.clone(), curves[b].vocab.clone()],
                    flops: c,
                    bits_per_char: y,
                    extrapolation: c > meas_hi,
                    on_frontier: y <= lowest + 1e-12 * lowest.abs(),
                });
            }
        }
    }
    crossings.sort_by(|a, b| a.flops.total_cmp(&b.flops));

    // The best measured vocabulary at each budget.
    let mut budgets: Vec<f64> = curves.iter().flat_map(|c| c.points.iter().map(|p| p.flops)).collect();
    budgets.sort_by(f64::total_cmp);
    budgets.dedup();
    let measured_best = budgets
        .iter()
        .filter_map(|&f| {
            let mut best: Option<(&str, f64)> = None;
            for c in curves {
                for p in c.points.iter().filter(|p| p.flops == f) {
                    if best.is_none_or(|b| p.bits_per_char < b.1) {
                        best = Some((&c.vocab, p.bits_per_char));
                    }
                }
            }
            best.map(|(v, b)| MeasuredBest { flops: f, vocab: v.to_string(), bits_per_char: b })
        })
        .collect();

    Ok(Frontier {
        from_flops: lo,
        measured_to_flops: meas_hi,
        to_flops: hi,
        ranges,
        crossings,
        measured_best,
    })
}

/// A root of `f` in `[a, b]` where `f(a)` and `f(b)` differ in sign (or
/// `f(b) = 0`), by bisection to a relative width of 1e-13.
fn bisect(f: impl Fn(f64) -> f64, mut a: f64, mut b: f64) -> f64 {
    let fa0 = f(a);
    for _ in 0..200 {
        let m = 0.5 * (a + b);
        if (b - a).abs() <= 1e-13 * m.abs().max(1.0) {
            break;
        }
        let fm = f(m);
        if fm == 0.0 {
            return m;
        }
        if (fm < 0.0) == (fa0 < 0.0) {
            a = m;
        } else {
            b = m;
        }
    }
    0.5 * (a + b)
}

/// One entry of `report.json`'s `intrinsic`: a vocabulary's intrinsic
/// tokenizer measures on the validation text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intrinsic {
    pub vocab: String,
    pub tokens_per_char: f64,
    pub bytes_per_token: f64,
    /// Share (0..=1) of the vocabulary's ids that occur.
    pub vocab_used: f64,
    /// Rényi efficiency at order 2.5.
    pub renyi_efficiency: f64,
}

impl Intrinsic {
    /// The measures of the text counted by `counter`, for a vocabulary of
    /// `vocab_size` ids.
    pub fn from_counter(vocab: &str, counter: &tokenizer::stats::Counter, vocab_size: usize) -> Intrinsic {
        let s = counter.finish(vocab, vocab_size);
        Intrinsic {
            vocab: vocab.to_string(),
            tokens_per_char: s.tokens_per_char,
            bytes_per_token: s.bytes_per_token,
            vocab_used: s.vocab_used,
            renyi_efficiency: counter.renyi_efficiency(tokenizer::stats::RENYI_ALPHA, vocab_size),
        }
    }

    /// The value of `m`.
    pub fn get(&self, m: Measure) -> f64 {
        match m {
            Measure::TokensPerChar => self.tokens_per_char,
            Measure::BytesPerToken => self.bytes_per_token,
            Measure::VocabUsed => self.vocab_used,
            Measure::RenyiEfficiency => self.renyi_efficiency,
        }
    }
}

/// An intrinsic measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    TokensPerChar,
    BytesPerToken,
    VocabUsed,
    RenyiEfficiency,
}

impl Measure {
    /// All measures, in report order.
    pub const ALL: [Measure; 4] =
        [Measure::TokensPerChar, Measure::BytesPerToken, Measure::VocabUsed, Measure::RenyiEfficiency];

    /// The `report.json` key.
    pub fn key(self) -> &'static str {
        match self {
            Measure::TokensPerChar => "tokens_per_char",
            Measure::BytesPerToken => "bytes_per_token",
            Measure::VocabUsed => "vocab_used",
            Measure::RenyiEfficiency => "renyi_efficiency",
        }
    }
}

/// How one measure ordered the vocabularies at one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasureAgreement {
    pub measure: Measure,
    /// Kendall's tau-b between the measure and bits/char; `None` when
    /// undefined (module docs).
    pub tau_b: Option<f64>,
    /// tau-b is exactly +1 or -1: the measure ordered the vocabularies as
    /// bits/char did (in one direction or the other).
    pub same_order: bool,
}

/// Rank agreement at one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetAgreement {
    pub flops: f64,
    /// The vocabularies compared, from lowest to highest measured bits/char.
    pub by_bits_per_char: Vec<String>,
    pub measures: Vec<MeasureAgreement>,
}

impl BudgetAgreement {
    /// The measures that ordered the vocabularies as bits/char did.
    pub fn agreeing(&self) -> Vec<Measure> {
        self.measures.iter().filter(|m| m.same_order).map(|m| m.measure).collect()
    }

    /// One line for the report, e.g. `at 1e14 FLOPs (char < bpe512 <
    /// bpe2048): renyi_efficiency ordered the vocabularies as bits/char did
    /// (higher value, lower bits/char); tau-b: tokens_per_char 0.33, ...`.
    pub fn line(&self) -> String {
        let mut s = format!("at {:.3e} FLOPs ({}): ", self.flops, self.by_bits_per_char.join(" < "));
        let agree: Vec<String> = self
            .measures
            .iter()
            .filter(|m| m.same_order)
            .map(|m| {
                let dir = if m.tau_b > Some(0.0) { "higher value, higher" } else { "higher value, lower" };
                format!("{} ({dir} bits/char)", m.measure.key())
            })
            .collect();
        if agree.is_empty() {
            s.push_str("no intrinsic measure ordered the vocabularies as bits/char did");
        } else {
            s.push_str(&format!("{} ordered the vocabularies as bits/char did", agree.join(" and ")));
        }
        let taus: Vec<String> = self
            .measures
            .iter()
            .map(|m| match m.tau_b {
                Some(t) => format!("{} {t:.2}", m.measure.key()),
                None => format!("{} undefined", m.measure.key()),
            })
            .collect();
        s.push_str(&format!("; Kendall tau-b: {}", taus.join(", ")));
        s
    }
}

/// At each budget where at least two vocabularies with intrinsic measures
/// have a measured point, how each measure's order compares with the
/// measured bits/char order (module docs). Budgets are matched by equal
/// FLOPs values. Vocabularies in `curves` without an entry in `intrinsic`
/// are left out.
pub fn rank_agreement(curves: &[VocabCurve], intrinsic: &[Intrinsic]) -> Vec<BudgetAgreement> {
    let mut budgets: Vec<f64> = curves.iter().flat_map(|c| c.points.iter().map(|p| p.flops)).collect();
    budgets.sort_by(f64::total_cmp);
    budgets.dedup();
    let mut out = Vec::new();
    for f in budgets {
        // (bits/char, intrinsic) of each vocabulary measured at f.
        let mut rows: Vec<(f64, &Intrinsic)> = Vec::new();
        for c in curves {
            let Some(m) = intrinsic.iter().find(|m| m.vocab == c.vocab) else { continue };
            if let Some(p) = c.points.iter().find(|p| p.flops == f) {
                rows.push((p.bits_per_char, m));
            }
        }
        if rows.len() < 2 {
            continue;
        }
        let bpc: Vec<f64> = rows.iter().map(|r| r.0).collect();
        let measures = Measure::ALL
            .iter()
            .map(|&measure| {
                let v: Vec<f64> = rows.iter().map(|r| r.1.get(measure)).collect();
                let tau_b = kendall_tau_b(&v, &bpc);
                MeasureAgreement { measure, tau_b, same_order: tau_b.is_some_and(|t| t.abs() == 1.0) }
            })
            .collect();
        let mut order = rows.clone();
        order.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.push(BudgetAgreement {
            flops: f,
            by_bits_per_char: order.iter().map(|r| r.1.vocab.clone()).collect(),
            measures,
        });
    }
    out
}

/// Kendall's tau-b of the pairs `(x[i], y[i])`; `None` with fewer than two
/// pairs, different lengths, or when either side is all ties or not finite.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 2 || y.len() != n || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let (mut conc, mut disc, mut tx, mut ty) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let dx = (x[i] - x[j]).partial_cmp(&0.0)?;
            let dy = (y[i] - y[j]).partial_cmp(&0.0)?;
            use std::cmp::Ordering::Equal;
            match (dx, dy) {
                (Equal, Equal) => {
                    tx += 1;
                    ty += 1;
                }
                (Equal, _) => tx += 1,
                (_, Equal) => ty += 1,
                _ if dx == dy => conc += 1,
                _ => disc += 1,
            }
        }
    }
    let n0 = (n * (n - 1) / 2) as i64;
    let den = (((n0 - tx) * (n0 - ty)) as f64).sqrt();
    if den == 0.0 { None } else { Some((conc - disc) as f64 / den) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(vocab: &str, e: f64, a: f64, alpha: f64, budgets: &[f64]) -> VocabCurve {
        let law = PowerLaw { e, a, alpha };
        VocabCurve {
            vocab: vocab.into(),
            law,
            points: budgets.iter().map(|&c| Point { flops: c, bits_per_char: law.predict(c) }).collect(),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs()
    }

    /// Three curves with the same exponent: `E_i + A_i x` with `x = C^-1/2`
    /// cross where `x = (E_j - E_i) / (A_i - A_j)`:
    /// small/mid at C = 180^2 = 32400, small/big at 990^2 = 980100,
    /// mid/big at 1800^2 = 3.24e6.
    fn three() -> Vec<VocabCurve> {
        let b = [1e4, 1e5, 1e6];
        vec![
            curve("big", 1.0, 1000.0, 0.5, &b),
            curve("mid", 1.5, 100.0, 0.5, &b),
            curve("small", 2.0, 10.0, 0.5, &b),
        ]
    }

    #[test]
    fn frontier_matches_analytic_crossings() {
        let f = frontier(&three()).unwrap();
        assert_eq!((f.from_flops, f.measured_to_flops, f.to_flops), (1e4, 1e6, 1e7));
        let got: Vec<(&str, bool)> = f.ranges.iter().map(|r| (r.vocab.as_str(), r.extrapolation)).collect();
        assert_eq!(got, [("small", false), ("mid", false), ("mid", true), ("big", true)]);
        let edges: Vec<(f64, f64)> = f.ranges.iter().map(|r| (r.from_flops, r.to_flops)).collect();
        // Relative tolerance 1e-9 on the crossings; the ends are exact.
        assert_eq!(edges[0].0, 1e4);
        assert!(close(edges[0].1, 32400.0) && close(edges[1].0, 32400.0), "{edges:?}");
        assert_eq!((edges[1].1, edges[2].0), (1e6, 1e6));
        assert!(close(edges[2].1, 3.24e6) && close(edges[3].0, 3.24e6), "{edges:?}");
        assert_eq!(edges[3].1, 1e7);

        let c: Vec<(&str, &str, bool, bool)> = f
            .crossings
            .iter()
            .map(|c| (c.vocabs[0].as_str(), c.vocabs[1].as_str(), c.extrapolation, c.on_frontier))
            .collect();
        assert_eq!(
            c,
            [("small", "mid", false, true), ("small", "big", false, false), ("mid", "big", true, true)]
        );
        for (x, want) in f.crossings.iter().zip([32400.0, 980100.0, 3.24e6]) {
            assert!(close(x.flops, want), "{x:?}");
            // At the crossing both curves give the same value: 1.5 + 100 / sqrt(C).
        }
        assert!(close(f.crossings[0].bits_per_char, 1.5 + 100.0 / 180.0));

        let best: Vec<&str> = f.measured_best.iter().map(|m| m.vocab.as_str()).collect();
        assert_eq!(best, ["small", "mid", "mid"]);
    }

    #[test]
    fn different_exponents_cross_where_solved() {
        // 1 + 100 C^-0.5 and 1 + 10 C^-0.25 meet where C^0.25 = 10: C = 1e4.
        let b = [1e2, 1e3, 1e5];
        let f =
            frontier(&[curve("steep", 1.0, 100.0, 0.5, &b), curve("shallow", 1.0, 10.0, 0.25, &b)]).unwrap();
        assert_eq!(f.ranges.len(), 3);
        assert_eq!(f.ranges[0].vocab, "shallow");
        assert!(close(f.ranges[0].to_flops, 1e4), "{:?}", f.ranges);
        assert_eq!((f.ranges[1].vocab.as_str(), f.ranges[1].to_flops), ("steep", 1e5));
        assert!(f.ranges[2].extrapolation && f.ranges[2].to_flops == 1e6);
        assert_eq!(f.crossings.len(), 1);
    }

    #[test]
    fn one_dominating_curve_has_one_range_split_at_the_data() {
        let b = [1e10, 1e11];
        let f = frontier(&[curve("worse", 2.0, 5.0, 0.1, &b), curve("better", 1.0, 5.0, 0.1, &b)]).unwrap();
        let got: Vec<(&str, f64, f64, bool)> =
            f.ranges.iter().map(|r| (r.vocab.as_str(), r.from_flops, r.to_flops, r.extrapolation)).collect();
        assert_eq!(got, [("better", 1e10, 1e11, false), ("better", 1e11, 1e12, true)]);
        assert!(f.crossings.is_empty());
    }

    #[test]
    fn frontier_refuses_degenerate_input() {
        assert!(matches!(frontier(&[]), Err(FitError::Empty(_))));
        let mut c = curve("x", 1.0, 1.0, 0.5, &[]);
        assert!(matches!(frontier(std::slice::from_ref(&c)), Err(FitError::Empty(_))));
        c.points.push(Point { flops: f64::NAN, bits_per_char: 1.0 });
        assert!(matches!(frontier(std::slice::from_ref(&c)), Err(FitError::BadValue { field: "flops", .. })));
        let mut c = curve("x", 1.0, 1.0, 0.5, &[1e3]);
        c.law.alpha = f64::INFINITY;
        assert!(matches!(frontier(&[c]), Err(FitError::BadValue { field: "alpha", .. })));
    }

    #[test]
    fn kendall_tau_b_exact_values() {
        assert_eq!(kendall_tau_b(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), Some(1.0));
        assert_eq!(kendall_tau_b(&[1.0, 2.0, 3.0], &[30.0, 20.0, 10.0]), Some(-1.0));
        // 4 items, one discordant pair of 6: (5 - 1) / 6.
        assert_eq!(kendall_tau_b(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 4.0, 3.0]), Some(4.0 / 6.0));
        // Ties: x = (1, 1, 2), y = (1, 2, 3): C = 2, D = 0, tx = 1, ty = 0:
        // 2 / sqrt(2 * 3).
        assert_eq!(kendall_tau_b(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]), Some(2.0 / 6f64.sqrt()));
        assert_eq!(kendall_tau_b(&[1.0, 1.0], &[1.0, 2.0]), None);
        assert_eq!(kendall_tau_b(&[1.0], &[1.0]), None);
        assert_eq!(kendall_tau_b(&[1.0, 2.0], &[1.0]), None);
        assert_eq!(kendall_tau_b(&[1.0, f64::NAN], &[1.0, 2.0]), None);
    }

    fn intrinsic(vocab: &str, tpc: f64, bpt: f64, used: f64, renyi: f64) -> Intrinsic {
        Intrinsic {
            vocab: vocab.into(),
            tokens_per_char: tpc,
            bytes_per_token: bpt,
            vocab_used: used,
            renyi_efficiency: renyi,
        }
    }

    #[test]
    fn rank_agreement_per_budget() {
        // Measured: at 1e4 small < mid < big; at 1e6 mid < big < small.
        let curves = three();
        let ins = [
            intrinsic("big", 0.25, 4.0, 0.9, 0.40),
            intrinsic("mid", 0.5, 2.0, 0.95, 0.45),
            intrinsic("small", 1.0, 1.0, 1.0, 0.50),
        ];
        let r = rank_agreement(&curves, &ins);
        assert_eq!(r.iter().map(|b| b.flops).collect::<Vec<_>>(), [1e4, 1e5, 1e6]);
        assert_eq!(r[0].by_bits_per_char, ["small", "mid", "big"]);
        // At 1e4: tokens/char falls as bits/char rises (tau -1), bytes/token
        // rises with it (+1), vocab_used and renyi fall with it (-1).
        let taus: Vec<Option<f64>> = r[0].measures.iter().map(|m| m.tau_b).collect();
        assert_eq!(taus, [Some(-1.0), Some(1.0), Some(-1.0), Some(-1.0)]);
        assert_eq!(r[0].agreeing(), Measure::ALL);
        // At 1e6 (mid 1.6, big 2.0, small 2.01): every measure has one
        // concordant and two discordant pairs, or the reverse: |tau| = 1/3.
        assert_eq!(r[2].by_bits_per_char, ["mid", "big", "small"]);
        for m in &r[2].measures {
            assert!((m.tau_b.unwrap().abs() - 1.0 / 3.0).abs() < 1e-15, "{m:?}");
        }
        assert!(r[2].agreeing().is_empty());
        assert!(r[2].line().contains("no intrinsic measure ordered"));
        assert!(r[0].line().contains("renyi_efficiency (higher value, lower bits/char)"), "{}", r[0].line());
        // A vocabulary without intrinsic measures is left out; one left is too few.
        let r = rank_agreement(&curves, &ins[..1]);
        assert!(r.is_empty());
    }

    #[test]
    fn intrinsic_from_counter_and_json() {
        let mut c = tokenizer::stats::Counter::new(4);
        c.add(b"abcdefgh", &[0, 1, 2, 3]);
        let m = Intrinsic::from_counter("bpe4", &c, 4);
        assert_eq!((m.tokens_per_char, m.bytes_per_token, m.vocab_used), (0.5, 2.0, 1.0));
        assert!((m.renyi_efficiency - 1.0).abs() < 1e-15);
        let v = serde_json::to_value(&m).unwrap();
        for k in ["vocab", "tokens_per_char", "bytes_per_token", "vocab_used", "renyi_efficiency"] {
            assert!(v.get(k).is_some());
        }
        let f = frontier(&three()).unwrap();
        let v = serde_json::to_value(&f.ranges).unwrap();
        assert_eq!(v[0]["vocab"], "small");
        assert_eq!(v[0]["from_flops"], 1e4);
        assert!(v[0].get("to_flops").is_some());
    }
}
