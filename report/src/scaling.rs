//! Model size and data: with runs of several widths (`lm experiment
//! --widths`), per vocabulary the fit of the lecture's
//! `L(N, D) = E + A / N^alpha + B / D^beta` to bits per character.
//!
//! - `N`: the non-embedding parameters of the run's model (the recurrent
//!   layers: everything but the embedding and the head, which grow with the
//!   vocabulary rather than with the width), [`Row::non_embedding_params`].
//! - `D`: the training characters the run saw ([`Row::chars`]), a measure of
//!   data that does not depend on the tokenizer.
//!
//! Every finished run of the vocabulary is a point, whatever its budget
//! (each branch of a FLOPs sweep is one), so a grid of `w` widths and `b`
//! budgets gives `w * b` points. A vocabulary is fitted when its runs have at
//! least two widths; the fit itself ([`crate::fit::fit_scaling_law`]) needs
//! at least 5 points with two sizes and two character counts, and a
//! vocabulary that falls short gets a note saying why instead of a fit.
//!
//! What it is not: evidence that the law holds beyond the grid, nor the
//! compute axis (see [`crate::compute`], which uses the best width at each
//! budget).

use serde::Serialize;

use crate::fit::{FitOptions, ScalingLawFit, SizePoint, fit_scaling_law};
use crate::{Comparison, Row};

/// What `report.json` adds for runs of several widths.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScalingAxis {
    /// Per vocabulary with runs at two or more widths: `E`, `A`, `alpha`,
    /// `B`, `beta` and their intervals.
    pub scaling_fits: Vec<VocabScalingFit>,
    /// Why a vocabulary with several widths has no fit.
    pub scaling_notes: Vec<String>,
}

/// One entry of `report.json`'s `scaling_fits`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VocabScalingFit {
    pub vocab: String,
    /// The widths (hidden sizes) of its runs, ascending.
    pub widths: Vec<usize>,
    #[serde(flatten)]
    pub fit: ScalingLawFit,
}

/// The distinct widths of `rows`, ascending.
fn widths<'a>(rows: impl Iterator<Item = &'a Row>) -> Vec<usize> {
    let mut w: Vec<usize> = rows.map(|r| r.hidden).collect();
    w.sort_unstable();
    w.dedup();
    w
}

/// The finished runs of `vocab` in `c` as points `(N, D, bits/char)`.
pub fn size_points(c: &Comparison, vocab: &str) -> Vec<SizePoint> {
    c.rows
        .iter()
        .filter(|r| r.vocab == vocab && r.status == "finished")
        .filter_map(|r| {
            Some(SizePoint {
                params: r.non_embedding_params as f64,
                chars: r.chars? as f64,
                bits_per_char: r.eval?.bits_per_char,
            })
        })
        .collect()
}

impl ScalingAxis {
    /// The fits of `c`'s vocabularies that have runs at two or more widths;
    /// `None` when none has.
    pub fn build(c: &Comparison) -> Option<ScalingAxis> {
        let mut vocabs: Vec<&str> = Vec::new();
        for r in &c.rows {
            if !vocabs.contains(&r.vocab.as_str()) {
                vocabs.push(&r.vocab);
            }
        }
        let mut axis = ScalingAxis::default();
        let mut any = false;
        for v in vocabs {
            let all = widths(c.rows.iter().filter(|r| r.vocab == v));
            if all.len() < 2 {
                continue;
            }
            any = true;
            let finished =
                widths(c.rows.iter().filter(|r| r.vocab == v && r.status == "finished" && r.eval.is_some()));
            let points = size_points(c, v);
            match fit_scaling_law(&points, &FitOptions::default()) {
                Ok(fit) => {
                    axis.scaling_fits.push(VocabScalingFit { vocab: v.to_string(), widths: finished, fit })
                }
                Err(e) => axis.scaling_notes.push(format!(
                    "{v}: {e} ({} finished runs at {} width(s))",
                    points.len(),
                    finished.len()
                )),
            }
        }
        any.then_some(axis)
    }

    /// The Markdown section of `report.md`.
    pub fn markdown(&self) -> String {
        let mut md = String::from("\n## Bits per character against model size and data\n\n");
        if !self.scaling_fits.is_empty() {
            md.push_str(
                "Fits of bits/char = E + A / N^alpha + B / D^beta, N the non-embedding parameters (the recurrent \
                 layers), D the training characters, over every finished run of each vocabulary (Huber loss on \
                 log values):\n\n",
            );
            md.push_str(
                "| vocab | widths | runs | E | A | alpha | B | beta | interval |\n\
                 |---|---|---:|---:|---:|---:|---:|---:|---|\n",
            );
            let iv = |i: &Option<[f64; 2]>, p: usize| {
                i.map_or(String::new(), |[lo, hi]| format!(" [{lo:.p$}, {hi:.p$}]"))
            };
            let ive =
                |i: &Option<[f64; 2]>| i.map_or(String::new(), |[lo, hi]| format!(" [{lo:.2e}, {hi:.2e}]"));
            for f in &self.scaling_fits {
                let l = &f.fit.law;
                let w: Vec<String> = f.widths.iter().map(usize::to_string).collect();
                md.push_str(&format!(
                    "| {} | {} | {} | {:.4}{} | {:.3e}{} | {:.4}{} | {:.3e}{} | {:.4}{} | {} |\n",
                    f.vocab,
                    w.join(", "),
                    f.fit.points,
                    l.e,
                    iv(&f.fit.e_interval, 3),
                    l.a_coef,
                    ive(&f.fit.a_coef_interval),
                    l.a_exp,
                    iv(&f.fit.a_exp_interval, 3),
                    l.b_coef,
                    ive(&f.fit.b_coef_interval),
                    l.b_exp,
                    iv(&f.fit.b_exp_interval, 3),
                    f.fit.interval.meaning
                ));
            }
        }
        for n in &self.scaling_notes {
            md.push_str(&format!("\nNo fit of L(N, D): {n}.\n"));
        }
        md
    }
}
