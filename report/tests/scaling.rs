//! Runs of several widths through the report: the rows' width and `N`, the
//! fit of `L(N, D)` per vocabulary, and the compute axis from the best width
//! at each budget. The runs are written by hand with bits/char taken from a
//! known law, so the fit must give that law back.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use model::{Cell, ModelConfig};
use report::compute::ComputeAxis;
use report::fit::ScalingLaw;
use report::scaling::ScalingAxis;
use report::{Comparison, RunSummary};
use trainer::run::*;

/// The law the synthetic runs follow (the one `fit.rs` tests with, here
/// over the N and D of small LSTMs).
const LAW: ScalingLaw = ScalingLaw { e: 1.0, a_coef: 50.0, a_exp: 0.35, b_coef: 100.0, b_exp: 0.3 };

const WIDTHS: [usize; 3] = [16, 32, 64];
const BUDGETS: [f64; 4] = [1e9, 1e10, 1e11, 1e12];

fn model(hidden: usize) -> ModelConfig {
    ModelConfig { cell: Cell::Lstm, vocab: 512, embed: hidden, hidden, layers: 1, tie: false }
}

/// Non-embedding parameters of one LSTM layer with E = H: `8H^2 + 8H`.
fn n_params(hidden: usize) -> usize {
    8 * hidden * hidden + 8 * hidden
}

/// Training characters of the run of width `hidden` at budget `c`: the
/// tokens the budget buys (6 N FLOPs per token, as a rough count) at 2
/// characters per token, so wider models see less text.
fn chars(hidden: usize, c: f64) -> u64 {
    (2.0 * c / (6.0 * n_params(hidden) as f64)).round() as u64
}

fn bits(hidden: usize, c: f64) -> f64 {
    LAW.predict(n_params(hidden) as f64, chars(hidden, c) as f64)
}

/// A finished cooldown branch `root/VOCAB/hW/branches/C` as `lm experiment
/// --widths` writes it.
fn write_branch(root: &Path, vocab: &str, hidden: usize, c: f64) -> PathBuf {
    let trunk = root.join(vocab).join(format!("h{hidden}"));
    let dir = trunk.join("branches").join(format!("{c:e}"));
    std::fs::create_dir_all(&dir).unwrap();
    let rd = RunDir::new(&dir);
    let val = SplitRef { tokens: 50_000, bytes: 110_000, chars: 100_000, text_hash: "h".into() };
    let cfg = RunConfig {
        format_version: FORMAT_VERSION,
        model: model(hidden),
        train: TrainSettings {
            seq: 128,
            batch: 32,
            lr: 2e-3,
            warmup: 10,
            min_lr_ratio: 0.1,
            weight_decay: 0.0,
            clip: 1.0,
            budget: Budget::Flops(c),
            schedule: Schedule::Wsd { decay_start: Some(80) },
            eval_every_s: 30.0,
            seed: 0,
        },
        data: DataRef {
            shards: root.join("shards").join(vocab),
            tokenizer_kind: "bpe".into(),
            tokenizer_name: vocab.into(),
            tokenizer_hash: format!("hash-of-{vocab}"),
            vocab_size: 512,
            train: SplitRef { tokens: 450_000, bytes: 990_000, chars: 900_000, text_hash: "t".into() },
            val,
        },
        branch: Some(BranchRef { trunk, step: 80 }),
    };
    write_json(&rd.config(), &cfg).unwrap();
    let bpc = bits(hidden, c);
    let ln2 = std::f64::consts::LN_2;
    let nats = bpc * ln2 * 100_000.0;
    let st = RunState {
        status: Status::Finished,
        step: 100,
        target_steps: Some(100),
        tokens: chars(hidden, c) / 2,
        chars: chars(hidden, c),
        flops: c,
        train_s: 60.0,
        wall_s: 66.0,
        last_eval: Some(EvalResult {
            val_loss: nats / 50_000.0,
            bits_per_token: nats / (ln2 * 50_000.0),
            bits_per_char: bpc,
            bits_per_byte: nats / (ln2 * 110_000.0),
            tokens: 50_000,
            chars: 100_000,
            bytes: 110_000,
            nats,
        }),
        message: None,
    };
    write_json(&rd.state(), &st).unwrap();
    dir
}

fn grid(root: &Path) -> Comparison {
    let mut runs = Vec::new();
    for w in WIDTHS {
        for c in BUDGETS {
            runs.push(RunSummary::load(&write_branch(root, "bpe512", w, c)).unwrap());
        }
    }
    Comparison::new(&runs).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn rows_carry_the_width_and_non_embedding_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let c = grid(tmp.path());
    let r = &c.rows[4];
    assert_eq!(r.run, "bpe512/h32@1e9");
    assert_eq!(r.hidden, 32);
    assert_eq!(r.non_embedding_params, n_params(32));
    assert_eq!(r.non_embedding_params + r.embed_head_params, r.params);
    let v = serde_json::to_value(&c.rows[0]).unwrap();
    assert_eq!(v["hidden"], 16);
    assert_eq!(v["non_embedding_params"], n_params(16));
    // Several widths: the table shows H and N.
    let md = report::table::markdown(&c);
    assert!(md.contains("| run | vocab | H | params | non-emb | emb+head |"), "{md}");
    assert!(md.contains("| bpe512/h64@1e12 | 512 | 64 |"), "{md}");
}

#[test]
fn the_scaling_fit_recovers_a_known_law_through_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = grid(tmp.path());
    c.scaling = ScalingAxis::build(&c);
    let axis = c.scaling.as_ref().unwrap();
    assert!(axis.scaling_notes.is_empty(), "{:?}", axis.scaling_notes);
    assert_eq!(axis.scaling_fits.len(), 1);
    let f = &axis.scaling_fits[0];
    assert_eq!((f.vocab.as_str(), f.widths.as_slice(), f.fit.points), ("bpe512", &WIDTHS[..], 12));
    let l = f.fit.law;
    // Exact points: every parameter to 1e-4 relative.
    for (got, want) in [
        (l.e, LAW.e),
        (l.a_coef, LAW.a_coef),
        (l.a_exp, LAW.a_exp),
        (l.b_coef, LAW.b_coef),
        (l.b_exp, LAW.b_exp),
    ] {
        assert!(rel(got, want) < 1e-4, "{got} vs {want}: {l:?}");
    }
    // report.json: the fit with its intervals; the existing keys unchanged.
    let v = serde_json::to_value(&c).unwrap();
    let s = &v["scaling_fits"][0];
    for key in ["vocab", "widths", "E", "A", "alpha", "B", "beta", "interval", "points", "loss"] {
        assert!(s.get(key).is_some(), "{key} in {s}");
    }
    for key in ["E_interval", "A_interval", "alpha_interval", "B_interval", "beta_interval"] {
        let [lo, hi] = [s[key][0].as_f64().unwrap(), s[key][1].as_f64().unwrap()];
        let value = s[key.trim_end_matches("_interval")].as_f64().unwrap();
        assert!(lo <= value * (1.0 + 1e-9) && value * (1.0 - 1e-9) <= hi, "{key}: {value} [{lo}, {hi}]");
    }
    assert_eq!(s["interval"]["method"], "bootstrap");
    assert!(v.get("rows").is_some() && v.get("fits").is_none());
    let md = report::markdown_report(&c);
    assert!(md.contains("E + A / N^alpha + B / D^beta"), "{md}");
    assert!(md.contains("| bpe512 | 16, 32, 64 | 12 | 1.0000"), "{md}");
}

#[test]
fn one_width_has_no_scaling_fit_and_too_few_runs_get_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let runs: Vec<RunSummary> = BUDGETS
        .iter()
        .map(|&b| RunSummary::load(&write_branch(tmp.path(), "char", 16, b)).unwrap())
        .collect();
    let c = Comparison::new(&runs).unwrap();
    assert!(ScalingAxis::build(&c).is_none());
    // The table keeps its one-width columns.
    assert!(report::table::markdown(&c).contains("| run | vocab | params | emb+head |"));

    // Two widths by two budgets: 4 runs for 5 parameters.
    let runs: Vec<RunSummary> = [16, 32]
        .iter()
        .flat_map(|&w| BUDGETS[..2].iter().map(move |&b| (w, b)))
        .map(|(w, b)| RunSummary::load(&write_branch(tmp.path(), "bpe512", w, b)).unwrap())
        .collect();
    let c = Comparison::new(&runs).unwrap();
    let axis = ScalingAxis::build(&c).unwrap();
    assert!(axis.scaling_fits.is_empty());
    assert!(
        axis.scaling_notes[0].contains("4 points cannot determine 5 parameters"),
        "{:?}",
        axis.scaling_notes
    );
}

#[test]
fn the_compute_axis_uses_the_best_width_at_each_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let c = grid(tmp.path());
    let axis = ComputeAxis::build(&c, &[], b"").unwrap().unwrap();
    assert_eq!(axis.envelope.len(), BUDGETS.len());
    for (e, &b) in axis.envelope.iter().zip(&BUDGETS) {
        let best = WIDTHS.into_iter().min_by(|&x, &y| bits(x, b).total_cmp(&bits(y, b))).unwrap();
        assert_eq!((e.flops, e.hidden, e.bits_per_char, e.runs), (b, best, bits(best, b), 3));
        assert_eq!(e.run, format!("bpe512/h{best}@{b:e}"));
    }
    // The envelope is not one width throughout: the small model wins the
    // small budget and a wider one the largest.
    assert_eq!(axis.envelope[0].hidden, 16);
    assert!(axis.envelope[3].hidden > 16);
    // The power-law fit is over those points, one per budget.
    assert_eq!(axis.fits.len(), 1);
    assert_eq!(axis.fits[0].fit.points, BUDGETS.len());
    let measured: Vec<(f64, &str)> = axis
        .frontier_detail
        .as_ref()
        .unwrap()
        .measured_best
        .iter()
        .map(|m| (m.bits_per_char, m.vocab.as_str()))
        .collect();
    let want: Vec<(f64, &str)> = axis.envelope.iter().map(|e| (e.bits_per_char, "bpe512")).collect();
    assert_eq!(measured, want);
    let md = axis.markdown();
    assert!(md.contains("best width") && md.contains("compute-optimal envelope"), "{md}");
    let v = serde_json::to_value(&axis).unwrap();
    assert_eq!(v["envelope"][0]["hidden"], 16);
}
