//! The comparison's arithmetic and its refusal of runs on different text.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use model::{Cell, ModelConfig};
use report::{Comparison, RunSummary};
use trainer::run::*;

fn val(hash: &str) -> SplitRef {
    SplitRef { tokens: 0, bytes: 110_000, chars: 100_000, text_hash: hash.into() }
}

fn write_run(
    root: &Path,
    name: &str,
    vocab: usize,
    val_tokens: u64,
    hash: &str,
    state: Option<RunState>,
) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let rd = RunDir::new(&dir);
    let cfg = RunConfig {
        format_version: FORMAT_VERSION,
        model: ModelConfig { cell: Cell::Lstm, vocab, embed: 64, hidden: 128, layers: 2, tie: false },
        train: TrainSettings {
            seq: 128,
            batch: 32,
            lr: 2e-3,
            warmup: 100,
            min_lr_ratio: 0.1,
            weight_decay: 0.0,
            clip: 1.0,
            budget: Budget::Seconds(60.0),
            schedule: Schedule::Cosine,
            eval_every_s: 30.0,
            seed: 0,
        },
        data: DataRef {
            shards: root.join("shards").join(name),
            tokenizer_kind: if vocab == 65 { "char".into() } else { "bpe".into() },
            tokenizer_name: name.into(),
            tokenizer_hash: format!("hash-of-{name}"),
            vocab_size: vocab,
            train: SplitRef { tokens: 9 * val_tokens, bytes: 990_000, chars: 900_000, text_hash: "t".into() },
            val: SplitRef { tokens: val_tokens, ..val(hash) },
        },
        branch: None,
    };
    write_json(&rd.config(), &cfg).unwrap();
    if let Some(st) = state {
        write_json(&rd.state(), &st).unwrap();
    }
    for (i, bpc) in [3.0, 2.5, 2.2].iter().enumerate() {
        let m = MetricsLine {
            step: 100 * (i as u64 + 1),
            time_s: 20.0 * (i as f64 + 1.0),
            tokens: 409_600 * (i as u64 + 1),
            chars: 409_600 * (i as u64 + 1),
            flops: 0.0,
            train_loss: 1.5,
            lr: 2e-3,
            grad_norm: 0.5,
            tokens_per_s: 20_480.0,
            val_loss: Some(1.6),
            val_bits_per_char: Some(*bpc),
            val_bits_per_byte: Some(*bpc),
            grad_norms: vec![],
        };
        append_metrics(&rd.metrics(), &m).unwrap();
    }
    dir
}

fn finished(nats: f64, tokens: u64, chars: u64) -> RunState {
    let ln2 = std::f64::consts::LN_2;
    RunState {
        status: Status::Finished,
        step: 300,
        target_steps: Some(300),
        tokens: 1_228_800,
        chars: 4_915_200,
        flops: 0.0,
        train_s: 60.0,
        wall_s: 66.0,
        last_eval: Some(EvalResult {
            val_loss: nats / tokens as f64,
            bits_per_token: nats / (ln2 * tokens as f64),
            bits_per_char: nats / (ln2 * chars as f64),
            bits_per_byte: nats / (ln2 * 110_000.0),
            tokens,
            chars,
            bytes: 110_000,
            nats,
        }),
        message: None,
    }
}

#[test]
fn rows_carry_exact_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_run(tmp.path(), "char", 65, 100_000, "h", Some(finished(100_000.0, 99_999, 100_000)));
    let b = write_run(tmp.path(), "bpe2k", 2048, 25_000, "h", Some(finished(70_000.0, 24_999, 100_000)));
    let runs = [RunSummary::load(&a).unwrap(), RunSummary::load(&b).unwrap()];
    let c = Comparison::new(&runs).unwrap();
    let (r0, r1) = (&c.rows[0], &c.rows[1]);
    assert_eq!(r0.tokens_per_char, 1.0);
    assert_eq!(r1.tokens_per_char, 0.25);
    // V*E + H*V + V
    assert_eq!(r0.embed_head_params, 65 * 64 + 128 * 65 + 65);
    assert_eq!(r1.embed_head_params, 2048 * 64 + 128 * 2048 + 2048);
    assert_eq!(r1.params - r0.params, (2048 - 65) * (64 + 128 + 1));
    let e1 = r1.eval.unwrap();
    assert_eq!(e1.bits_per_char, 70_000.0 / (std::f64::consts::LN_2 * 100_000.0));
    assert_eq!(report::compare::measured(&e1).bits_per_char(), e1.bits_per_char);
    assert_eq!(r0.tokens_per_s, Some(1_228_800.0 / 60.0));
    assert_eq!(r0.chars_per_s, Some(4_915_200.0 / 60.0));
    let pts: Vec<(f64, u64, f64)> =
        c.curves[1].points.iter().map(|p| (p.time_s, p.chars, p.bits_per_char)).collect();
    assert_eq!(c.curves[1].run, "bpe2k");
    assert_eq!(pts, vec![(20.0, 409_600, 3.0), (40.0, 819_200, 2.5), (60.0, 1_228_800, 2.2)]);
    let md = report::table::markdown(&c);
    assert!(md.contains("| bpe2k | 2048 |"), "{md}");
    assert!(md.contains(&format!("**{:.4}**", e1.bits_per_char)), "{md}");
    let files = report::plot::write_all(&c, tmp.path()).unwrap();
    assert_eq!(files.len(), 3);
    for f in files {
        let svg = std::fs::read_to_string(f).unwrap();
        assert!(svg.starts_with("<svg"));
    }
}

#[test]
fn runs_on_different_validation_text_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_run(tmp.path(), "char", 65, 100_000, "aaaa", Some(finished(1.0, 1, 1)));
    let b = write_run(tmp.path(), "bpe2k", 2048, 25_000, "bbbb", Some(finished(1.0, 1, 1)));
    let runs = [RunSummary::load(&a).unwrap(), RunSummary::load(&b).unwrap()];
    let err = Comparison::new(&runs).unwrap_err().to_string();
    assert!(err.contains("not evaluated on the same validation text"), "{err}");
    assert!(err.contains("char: 110000 bytes") && err.contains("text hash aaaa"), "{err}");
    assert!(err.contains("bpe2k: 110000 bytes") && err.contains("text hash bbbb"), "{err}");
}

#[test]
fn unfinished_and_unstarted_runs_are_shown_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let mut st = finished(1.0, 1, 1);
    st.status = Status::Running;
    let a = write_run(tmp.path(), "char", 65, 100_000, "h", Some(st));
    let b = write_run(tmp.path(), "bpe2k", 2048, 25_000, "h", None);
    let runs = [RunSummary::load(&a).unwrap(), RunSummary::load(&b).unwrap()];
    let c = Comparison::new(&runs).unwrap();
    assert_eq!(c.rows[0].status, "unfinished");
    assert_eq!(c.rows[1].status, "not started");
    assert_eq!(c.rows[1].eval, None);
    let md = report::table::markdown(&c);
    assert!(md.contains("| not started |"), "{md}");
}

#[test]
fn a_missing_run_directory_is_named() {
    let err = RunSummary::load(Path::new("/no/such/run")).unwrap_err().to_string();
    assert!(err.contains("/no/such/run"), "{err}");
}

#[test]
#[ignore = "writes plots to $PLOT_DIR for a visual check"]
fn plots_for_a_visual_check() {
    let out = PathBuf::from(std::env::var("PLOT_DIR").unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let a = write_run(tmp.path(), "char", 65, 100_000, "h", Some(finished(100_000.0, 99_999, 100_000)));
    let b = write_run(tmp.path(), "bpe2k", 2048, 25_000, "h", Some(finished(70_000.0, 24_999, 100_000)));
    let runs = [RunSummary::load(&a).unwrap(), RunSummary::load(&b).unwrap()];
    let c = Comparison::new(&runs).unwrap();
    report::plot::write_all(&c, &out).unwrap();
}
