//! The compute axis of a FLOPs sweep: per vocabulary, the fitted curve of
//! bits/char against training FLOPs; the frontier (which vocabulary is best
//! over which compute range, and where the curves cross); the intrinsic
//! tokenizer measures on the validation text; and which of them ordered the
//! vocabularies as the measured bits/char did, at each budget.
//!
//! Inputs are the comparison's rows with a FLOPs budget (the sweep's cooldown
//! branches); a point's x is the nominal budget, so the budgets of different
//! vocabularies match exactly (each run spends at most one step more).
//!
//! With several widths (`lm experiment --widths`), a vocabulary has one run
//! per width at each budget. Its point at that budget is then the best of
//! them, the lowest bits/char (the first width in row order on an exact
//! tie): the compute-optimal envelope over the widths, which is what a user
//! with that budget would train. The fits, the frontier, the plot and the
//! rank agreement all use that envelope, and [`ComputeAxis::envelope`] says
//! which width won at each budget. The fit over model size and data is
//! [`crate::scaling`]'s.

use serde::Serialize;

use crate::fit::{FitOptions, Point, PowerLaw, VocabFit, fit_power_law};
use crate::frontier::{
    BudgetAgreement, Frontier, FrontierRange, Intrinsic, VocabCurve, frontier, rank_agreement,
};
use crate::{Comparison, Result, RunSummary};

/// What `report.json` adds for a sweep.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ComputeAxis {
    /// Per vocabulary with at least 3 budgets: `E`, `A`, `alpha` and their intervals.
    pub fits: Vec<VocabFit>,
    /// Why a vocabulary has no fit.
    pub fit_notes: Vec<String>,
    /// The best fitted vocabulary per compute range, to 10x the largest budget.
    pub frontier: Vec<FrontierRange>,
    /// Crossings and the best measured vocabulary per budget.
    pub frontier_detail: Option<Frontier>,
    /// Per vocabulary: tokens/char, bytes/token, share of the vocabulary used, Rényi efficiency.
    pub intrinsic: Vec<Intrinsic>,
    /// At each budget, which intrinsic measure ordered the vocabularies as bits/char did.
    pub agreement: Vec<BudgetAgreement>,
    /// With several widths: per vocabulary and budget, the width whose run
    /// the points above use (module docs). Empty with one width.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub envelope: Vec<EnvelopePoint>,
}

/// The best width of one vocabulary at one budget.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnvelopePoint {
    pub vocab: String,
    /// The nominal budget.
    pub flops: f64,
    /// The hidden size of the best run.
    pub hidden: usize,
    /// The best run's name.
    pub run: String,
    pub bits_per_char: f64,
    /// Finished runs of this vocabulary at this budget (one per width).
    pub runs: usize,
}

/// The best finished run of `vocab` at each FLOPs budget in `c`, by budget.
fn envelope(c: &Comparison, vocab: &str) -> Vec<EnvelopePoint> {
    let mut best: Vec<EnvelopePoint> = Vec::new();
    for r in c.rows.iter().filter(|r| r.vocab == vocab && r.status == "finished") {
        let (Some(flops), Some(e)) = (r.budget_flops, r.eval) else { continue };
        match best.iter_mut().find(|b| b.flops == flops) {
            Some(b) => {
                b.runs += 1;
                if e.bits_per_char < b.bits_per_char {
                    (b.hidden, b.run, b.bits_per_char) = (r.hidden, r.run.clone(), e.bits_per_char);
                }
            }
            None => best.push(EnvelopePoint {
                vocab: vocab.to_string(),
                flops,
                hidden: r.hidden,
                run: r.run.clone(),
                bits_per_char: e.bits_per_char,
                runs: 1,
            }),
        }
    }
    best.sort_by(|a, b| a.flops.total_cmp(&b.flops));
    best
}

/// The finished budgets of `vocab` in `c`, by FLOPs: (nominal budget,
/// bits/char), the best width's at each budget.
fn points(c: &Comparison, vocab: &str) -> Vec<Point> {
    envelope(c, vocab).into_iter().map(|e| Point { flops: e.flops, bits_per_char: e.bits_per_char }).collect()
}

impl ComputeAxis {
    /// The analysis of `c`'s rows that have a FLOPs budget; `None` when none
    /// has. `runs` are the summaries `c` was built from (for the tokenizers)
    /// and `val_text` their common validation text.
    pub fn build(c: &Comparison, runs: &[RunSummary], val_text: &[u8]) -> Result<Option<ComputeAxis>> {
        let mut vocabs: Vec<String> = Vec::new();
        for r in c.rows.iter().filter(|r| r.budget_flops.is_some()) {
            if !vocabs.contains(&r.vocab) {
                vocabs.push(r.vocab.clone());
            }
        }
        if vocabs.is_empty() {
            return Ok(None);
        }
        let mut axis = ComputeAxis::default();
        let several = vocabs.iter().any(|v| {
            let mut w: Vec<usize> = c
                .rows
                .iter()
                .filter(|r| &r.vocab == v && r.budget_flops.is_some())
                .map(|r| r.hidden)
                .collect();
            w.sort_unstable();
            w.dedup();
            w.len() > 1
        });
        if several {
            axis.envelope = vocabs.iter().flat_map(|v| envelope(c, v)).collect();
        }
        let mut curves = Vec::new();
        let mut all = Vec::new();
        for v in &vocabs {
            let points = points(c, v);
            // Unfitted vocabularies still take part in the rank agreement,
            // which reads only the points.
            let unfitted = PowerLaw { e: f64::NAN, a: f64::NAN, alpha: f64::NAN };
            if points.len() < 3 {
                axis.fit_notes.push(format!("{v}: {} finished budget(s); a fit needs 3", points.len()));
                all.push(VocabCurve { vocab: v.clone(), law: unfitted, points });
                continue;
            }
            match fit_power_law(&points, &FitOptions::default()) {
                Ok(fit) => {
                    let curve = VocabCurve { vocab: v.clone(), law: fit.law, points: points.clone() };
                    curves.push(curve.clone());
                    all.push(curve);
                    axis.fits.push(VocabFit { vocab: v.clone(), fit });
                }
                Err(e) => {
                    axis.fit_notes.push(format!("{v}: {e}"));
                    all.push(VocabCurve { vocab: v.clone(), law: unfitted, points });
                }
            }
        }
        if !curves.is_empty() {
            let f = frontier(&curves)?;
            axis.frontier = f.ranges.clone();
            axis.frontier_detail = Some(f);
        }
        for v in &vocabs {
            let Some(run) = runs.iter().find(|r| &r.config.data.tokenizer_name == v) else { continue };
            let tok = trainer::train::run_tokenizer(&run.path, &run.config)?;
            let counter = tokenizer::stats::measure(&tok, &[val_text])?;
            axis.intrinsic.push(Intrinsic::from_counter(v, &counter, tok.vocab_size()));
        }
        axis.agreement = rank_agreement(&all, &axis.intrinsic);
        Ok(Some(axis))
    }

    /// The curves the frontier plot draws.
    pub fn curves(&self, c: &Comparison) -> Vec<VocabCurve> {
        self.fits
            .iter()
            .map(|f| VocabCurve { vocab: f.vocab.clone(), law: f.fit.law, points: points(c, &f.vocab) })
            .collect()
    }

    /// The Markdown section of `report.md`.
    pub fn markdown(&self) -> String {
        let mut md = String::from("\n## Bits per character against training compute\n\n");
        if !self.envelope.is_empty() {
            md.push_str(
                "Several widths: at each budget, each vocabulary's point below (the fits, the frontier, the plot \
                 and the rank agreement) is its best width there, the lowest bits/char (the compute-optimal \
                 envelope):\n\n",
            );
            md.push_str("| vocab | FLOPs | best width | bits/char | run | widths measured |\n");
            md.push_str("|---|---:|---:|---:|---|---:|\n");
            for e in &self.envelope {
                md.push_str(&format!(
                    "| {} | {:.2e} | {} | {:.4} | {} | {} |\n",
                    e.vocab, e.flops, e.hidden, e.bits_per_char, e.run, e.runs
                ));
            }
            md.push('\n');
        }
        if let Some(f) = &self.frontier_detail {
            md.push_str("![validation bits per character vs training FLOPs](bpc_vs_flops.svg)\n\n");
            md.push_str(
                "Best vocabulary by compute (fitted curves; past the largest budget is extrapolation):\n\n",
            );
            md.push_str("| from FLOPs | to FLOPs | best | |\n|---:|---:|---|---|\n");
            for r in &f.ranges {
                let note = if r.extrapolation { "extrapolated" } else { "measured range" };
                md.push_str(&format!(
                    "| {:.2e} | {:.2e} | {} | {note} |\n",
                    r.from_flops, r.to_flops, r.vocab
                ));
            }
            let on: Vec<String> = f
                .crossings
                .iter()
                .filter(|x| x.on_frontier)
                .map(|x| {
                    format!(
                        "{} overtakes {} at {:.2e} FLOPs{}",
                        x.vocabs[1],
                        x.vocabs[0],
                        x.flops,
                        if x.extrapolation { " (extrapolated)" } else { "" }
                    )
                })
                .collect();
            if !on.is_empty() {
                md.push_str(&format!("\nCrossings: {}.\n", on.join("; ")));
            }
        }
        if !self.fits.is_empty() {
            md.push_str(
                if self.envelope.is_empty() {
                    "\nFits of bits/char = E + A * C^(-alpha), C in FLOPs (Huber loss on log values):\n\n"
                } else {
                    "\nFits of bits/char = E + A * C^(-alpha), C in FLOPs, to the best width at each budget (Huber \
                     loss on log values):\n\n"
                },
            );
            md.push_str("| vocab | E | A | alpha | interval |\n|---|---:|---:|---:|---|\n");
            let iv =
                |i: &Option<[f64; 2]>| i.map_or(String::new(), |[lo, hi]| format!(" [{lo:.3}, {hi:.3}]"));
            for f in &self.fits {
                let l = &f.fit.law;
                md.push_str(&format!(
                    "| {} | {:.4}{} | {:.3e} | {:.4}{} | {} |\n",
                    f.vocab,
                    l.e,
                    iv(&f.fit.e_interval),
                    l.a,
                    l.alpha,
                    iv(&f.fit.alpha_interval),
                    f.fit.interval.meaning
                ));
            }
        }
        for n in &self.fit_notes {
            md.push_str(&format!("\nNo fit: {n}.\n"));
        }
        if !self.intrinsic.is_empty() {
            md.push_str("\nIntrinsic measures on the validation text:\n\n");
            md.push_str("| vocab | tokens/char | bytes/token | vocab used | Rényi efficiency (2.5) |\n");
            md.push_str("|---|---:|---:|---:|---:|\n");
            for i in &self.intrinsic {
                md.push_str(&format!(
                    "| {} | {:.4} | {:.3} | {:.1}% | {:.4} |\n",
                    i.vocab,
                    i.tokens_per_char,
                    i.bytes_per_token,
                    100.0 * i.vocab_used,
                    i.renyi_efficiency
                ));
            }
        }
        if !self.agreement.is_empty() {
            md.push_str("\nWhich intrinsic measure ordered the vocabularies as bits/char did:\n\n");
            for a in &self.agreement {
                md.push_str(&format!("- {}\n", a.line()));
            }
        }
        md
    }
}
