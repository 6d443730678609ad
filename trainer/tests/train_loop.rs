//! The training loop (`trainer::train`): bit-exact resume, the NaN stop, the
//! metrics file, and the evaluation protocol checked against the reference
//! model window by window.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use dataset::{EncodeConfig, ShardSet, Split, TokenizerSource};
use model::reference::Reference;
use model::{Cell, ModelConfig, ParamLayout};
use trainer::run::{Budget, MetricsLine, RunConfig, RunDir, Schedule, Status, TrainSettings};
use trainer::train::{LoopOptions, Observer, Progress, TrainError};

/// A small synthetic corpus with structure to learn: sentences from a tiny grammar.
fn write_corpus(dir: &Path) -> PathBuf {
    let root = dir.join("corpus");
    std::fs::create_dir_all(&root).unwrap();
    let subjects = ["the cat", "a dog", "my friend", "the old king", "her sister"];
    let verbs = ["sees", "likes", "finds", "follows", "remembers"];
    let objects = ["the river", "a small bird", "the castle", "an apple", "the moon"];
    let mut x: u64 = 12345;
    let mut next = |n: usize| {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((x >> 33) % n as u64) as usize
    };
    for f in 0..3 {
        let mut text = String::new();
        for _ in 0..700 {
            text.push_str(&format!("{} {} {}.\n", subjects[next(5)], verbs[next(5)], objects[next(5)]));
        }
        std::fs::write(root.join(format!("part{f}.txt")), text).unwrap();
    }
    root
}

fn char_shards(dir: &Path) -> ShardSet {
    let corpus = write_corpus(dir);
    let docs = dataset::corpus::list_files(&[&corpus]).unwrap();
    let mut counter = tokenizer::train::CharCounter::new();
    for d in &docs {
        counter.feed(&std::fs::read(&d.path).unwrap()).unwrap();
    }
    let tok = tokenizer::train::train_char(counter, &[], false).unwrap().with_name("char");
    let tok_path = dir.join("char.json");
    tok.save(&tok_path).unwrap();
    let out = dir.join("shards");
    dataset::encode_corpus(
        &docs,
        &tok,
        &TokenizerSource::File(tok_path),
        &out,
        &EncodeConfig::default(),
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    ShardSet::open(&out).unwrap()
}

fn config(shards: &ShardSet, budget: Budget, lr: f64) -> RunConfig {
    RunConfig {
        format_version: trainer::run::FORMAT_VERSION,
        model: ModelConfig {
            cell: Cell::Lstm,
            vocab: shards.vocab_size(),
            embed: 16,
            hidden: 32,
            layers: 2,
            tie: false,
        },
        train: TrainSettings {
            seq: 16,
            batch: 4,
            lr,
            warmup: 5,
            min_lr_ratio: 0.1,
            weight_decay: 0.01,
            clip: 1.0,
            budget,
            schedule: Schedule::Cosine,
            eval_every_s: 1e9,
            seed: 7,
        },
        data: trainer::train::data_ref(shards),
        branch: None,
    }
}

/// Records every step's loss; stops after `stop_at` steps.
#[derive(Default)]
struct Record {
    losses: Vec<(u64, f64)>,
    lines: Vec<MetricsLine>,
    stop_at: Option<u64>,
}

impl Observer for Record {
    fn step(&mut self, p: &Progress) -> ControlFlow<()> {
        self.losses.push((p.step, p.loss));
        if Some(p.step) == self.stop_at { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }
    fn metrics(&mut self, line: &MetricsLine) {
        self.lines.push(line.clone());
    }
}

fn opts() -> LoopOptions {
    LoopOptions { log_every_s: 1e9, interim_eval_bytes: 2048, snapshot_steps: Vec::new() }
}

#[test]
fn a_resumed_run_equals_an_uninterrupted_one_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = char_shards(tmp.path());
    let cfg = config(&shards, Budget::Steps(40), 3e-3);

    let mut straight = Record::default();
    let a = tmp.path().join("a");
    let st = trainer::train::train_new(&a, cfg.clone(), &shards, opts(), &mut straight).unwrap();
    assert_eq!((st.status, st.step), (Status::Finished, 40));

    let b = tmp.path().join("b");
    let mut first = Record { stop_at: Some(17), ..Record::default() };
    let st = trainer::train::train_new(&b, cfg, &shards, opts(), &mut first).unwrap();
    assert_eq!((st.status, st.step), (Status::Interrupted, 17));
    let mut second = Record::default();
    let st = trainer::train::train_resume(&b, &shards, opts(), &mut second).unwrap();
    assert_eq!((st.status, st.step), (Status::Finished, 40));

    let resumed: Vec<(u64, f64)> = first.losses.iter().chain(&second.losses).copied().collect();
    assert_eq!(resumed, straight.losses, "per-step losses of the resumed run");
    let pa = model::checkpoint::load_model(&RunDir::new(&a).model()).unwrap();
    let pb = model::checkpoint::load_model(&RunDir::new(&b).model()).unwrap();
    assert_eq!(pa.step, 40);
    assert!(pa.params.iter().zip(&pb.params).all(|(x, y)| x.to_bits() == y.to_bits()), "final parameters");
    // The loss went down on this learnable corpus (measured: 3.17 -> 2.89 over the first and last 5 steps).
    let mean = |s: &[(u64, f64)]| s.iter().map(|l| l.1).sum::<f64>() / s.len() as f64;
    let (head, tail) = (mean(&straight.losses[..5]), mean(&straight.losses[35..]));
    assert!(tail < head - 0.2, "{head} -> {tail}");
}

#[test]
fn a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = char_shards(tmp.path());
    let mut cfg = config(&shards, Budget::Steps(20), 1e30);
    cfg.train.warmup = 0;
    let dir = tmp.path().join("run");
    let err = trainer::train::train_new(&dir, cfg, &shards, opts(), &mut Record::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TrainError::Diverged { kept: 0, .. }), "{msg}");
    assert!(msg.contains("training diverged at step") && msg.contains(&dir.display().to_string()), "{msg}");
    let rd = RunDir::new(&dir);
    let st = rd.read_state().unwrap();
    assert_eq!(st.status, Status::Diverged);
    assert_eq!(model::checkpoint::load_model(&rd.model()).unwrap().step, 0);
}

#[test]
fn metrics_lines_carry_the_documented_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = char_shards(tmp.path());
    let mut cfg = config(&shards, Budget::Steps(12), 3e-3);
    cfg.train.eval_every_s = 0.0; // evaluate after every step
    let dir = tmp.path().join("run");
    let mut rec = Record::default();
    trainer::train::train_new(&dir, cfg, &shards, opts(), &mut rec).unwrap();
    let text = std::fs::read_to_string(RunDir::new(&dir).metrics()).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 13, "the step-0 evaluation, then one line per step");
    for l in &lines {
        for key in ["step", "time_s", "tokens", "chars", "train_loss", "lr", "grad_norm", "tokens_per_s"] {
            assert!(l.get(key).is_some(), "{key} missing from {l}");
        }
        assert!(l.get("val_loss").is_some() && l.get("val_bits_per_char").is_some(), "{l}");
    }
    assert_eq!(lines[12]["step"], 12);
    assert_eq!(lines[12]["tokens"], 12 * 4 * 16);
    let per_tensor = lines[5]["grad_norms"].as_array().unwrap();
    assert_eq!(
        per_tensor.len(),
        ParamLayout::new(&config(&shards, Budget::Steps(1), 0.0).model).specs().len()
    );
    assert_eq!(rec.lines.len(), 13);
}

#[test]
fn resuming_on_other_shards_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = char_shards(tmp.path());
    let dir = tmp.path().join("run");
    let mut stop = Record { stop_at: Some(3), ..Record::default() };
    trainer::train::train_new(&dir, config(&shards, Budget::Steps(10), 3e-3), &shards, opts(), &mut stop)
        .unwrap();
    // Other shards: the same corpus with another validation fraction.
    let other_dir = tmp.path().join("other");
    let tok = shards.tokenizer().unwrap();
    let docs = dataset::corpus::list_files(&[tmp.path().join("corpus")]).unwrap();
    let cfg = EncodeConfig { val_fraction: 0.2, ..EncodeConfig::default() };
    let src = TokenizerSource::File(tmp.path().join("char.json"));
    dataset::encode_corpus(&docs, &tok, &src, &other_dir, &cfg, &mut |_| ControlFlow::Continue(())).unwrap();
    let other = ShardSet::open(&other_dir).unwrap();
    let err =
        trainer::train::train_resume(&dir, &other, opts(), &mut Record::default()).unwrap_err().to_string();
    assert!(err.contains("other text than the run's"), "{err}");
}

#[test]
fn evaluation_scores_every_token_once_from_zero_state_per_window() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = char_shards(tmp.path());
    let cfg = config(&shards, Budget::Steps(1), 0.0);
    let layout = ParamLayout::new(&cfg.model);
    let params = layout.init(3);
    let tok = shards.tokenizer().unwrap();
    let (b, t) = (3, 16);
    let mut ws = model::fast::Workspace::new(&layout, b, t);

    // Independent computation: windows of T+1 tokens overlapping by one, each
    // from zero state, through the f64 reference model, one window at a time.
    let tokens = shards.split(Split::Val).to_vec();
    let expect = |end: usize| {
        let params64: Vec<f64> = params.iter().map(|&x| x as f64).collect();
        let mut total = 0f64;
        let mut start = 0;
        while start + 1 < end {
            let len = (end - 1 - start).min(t);
            let mut r = Reference::<f64>::new(&layout, 1, len).unwrap();
            let inp = &tokens[start..start + len];
            let tgt = &tokens[start + 1..start + 1 + len];
            total += r.forward_loss(&params64, inp, tgt).unwrap() * len as f64;
            start += len;
        }
        total
    };

    let full = trainer::eval::evaluate(&mut ws, &params, &shards, &tok, Split::Val, None).unwrap();
    assert_eq!(full.tokens, tokens.len() as u64 - 1);
    let val = &shards.manifest().splits.val;
    // Characters of the predicted text: all but the first token's one.
    assert_eq!(full.chars, val.chars - 1);
    assert_eq!(full.bytes, val.bytes - 1);
    let want = expect(tokens.len());
    assert!((full.nats - want).abs() < 1e-4 * want, "{} vs {want}", full.nats);
    let ln2 = std::f64::consts::LN_2;
    assert_eq!(full.bits_per_char, full.nats / (ln2 * full.chars as f64));
    assert_eq!(full.val_loss, full.nats / full.tokens as f64);

    // A prefix of 1000 bytes: the first 1000 tokens (one char each), 999 predictions.
    let part = trainer::eval::evaluate(&mut ws, &params, &shards, &tok, Split::Val, Some(1000)).unwrap();
    assert_eq!((part.tokens, part.chars, part.bytes), (999, 999, 999));
    let want = expect(1000);
    assert!((part.nats - want).abs() < 1e-4 * want, "{} vs {want}", part.nats);
}

/// Issue 11, item 7: a `metrics.jsonl` line torn by a kill is dropped before
/// `--resume` appends, so the file stays whole.
#[test]
fn resume_repairs_a_metrics_line_torn_by_a_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = char_shards(tmp.path());
    let dir = tmp.path().join("run");
    let mut first = Record { stop_at: Some(5), ..Record::default() };
    trainer::train::train_new(&dir, config(&shards, Budget::Steps(12), 3e-3), &shards, opts(), &mut first)
        .unwrap();
    let rd = RunDir::new(&dir);
    let whole = std::fs::read_to_string(rd.metrics()).unwrap();
    std::fs::write(rd.metrics(), format!("{whole}{{\"step\": 9, \"time_s\": 1.2")).unwrap();
    let st = trainer::train::train_resume(&dir, &shards, opts(), &mut Record::default()).unwrap();
    assert_eq!(st.status, Status::Finished);
    let text = std::fs::read_to_string(rd.metrics()).unwrap();
    assert!(text.starts_with(&whole) && text.ends_with('\n'), "{text}");
    for (i, line) in text.lines().enumerate() {
        serde_json::from_str::<MetricsLine>(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", i + 1));
    }
    assert_eq!(rd.read_metrics().unwrap().last().unwrap().step, 12);
}

/// Issue 11, items 3 and 4: settings that cannot work are refused before
/// anything is written, with the flag's name.
#[test]
fn bad_settings_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = char_shards(tmp.path());
    type Edit = Box<dyn Fn(&mut RunConfig)>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|c| c.train.batch = 0), "--batch"),
        (Box::new(|c| c.train.seq = 0), "--seq"),
        (Box::new(|c| c.train.lr = f64::NAN), "--lr"),
        (Box::new(|c| c.train.lr = -1.0), "--lr"),
        (Box::new(|c| c.train.clip = -1.0), "--clip"),
        (Box::new(|c| c.train.budget = Budget::Steps(0)), "--steps"),
        (Box::new(|c| c.train.budget = Budget::Flops(f64::INFINITY)), "--flops"),
        (Box::new(|c| c.model.hidden = 100_000), "GiB of memory"),
        (Box::new(|c| c.train.batch = 1_000_000_000), "GiB of memory"),
        (Box::new(|c| c.train.seq = 1_000_000), "at least 1000001 tokens"),
    ];
    for (i, (change, want)) in cases.iter().enumerate() {
        let mut cfg = config(&shards, Budget::Steps(3), 3e-3);
        change(&mut cfg);
        let dir = tmp.path().join(format!("run{i}"));
        let err = trainer::train::train_new(&dir, cfg, &shards, opts(), &mut Record::default()).unwrap_err();
        assert!(err.to_string().contains(want), "case {i}: {err}");
        assert!(!dir.exists(), "case {i}: {} was created", dir.display());
    }
}

/// A run killed (kill -9) before its first checkpoint leaves config.json and
/// the tokenizer copy only. It could be neither resumed (no state.json) nor
/// started again (a run exists there); `--resume` now starts it from step 0
/// with its config, and ends where an uninterrupted run does.
#[test]
fn a_run_killed_before_its_first_checkpoint_resumes_from_step_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = char_shards(tmp.path());
    let cfg = config(&shards, Budget::Steps(12), 3e-3);
    let a = tmp.path().join("a");
    let mut straight = Record::default();
    trainer::train::train_new(&a, cfg.clone(), &shards, opts(), &mut straight).unwrap();
    // What the kill leaves: the run's first two files.
    let b = tmp.path().join("b");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(RunDir::new(&a).config(), RunDir::new(&b).config()).unwrap();
    std::fs::copy(RunDir::new(&a).tokenizer(), RunDir::new(&b).tokenizer()).unwrap();
    let err = trainer::train::train_new(&b, cfg, &shards, opts(), &mut Record::default()).unwrap_err();
    assert!(err.to_string().contains("pass --resume"), "{err}");
    let mut resumed = Record::default();
    let st = trainer::train::train_resume(&b, &shards, opts(), &mut resumed).unwrap();
    assert_eq!((st.status, st.step), (Status::Finished, 12));
    assert_eq!(resumed.losses, straight.losses);
    let pa = model::checkpoint::load_model(&RunDir::new(&a).model()).unwrap();
    let pb = model::checkpoint::load_model(&RunDir::new(&b).model()).unwrap();
    assert!(pa.params.iter().zip(&pb.params).all(|(x, y)| x.to_bits() == y.to_bits()));
}

/// A time budget too long for its step count to fit in u64 (`--time 1e16s`
/// at a tiny model's speed; 1e300 s here, past u64 at any speed) trains
/// until stopped; the step estimate used to wrap around and end the run at
/// step 10.
#[test]
fn a_huge_time_budget_does_not_wrap_to_a_short_run() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = char_shards(tmp.path());
    let dir = tmp.path().join("run");
    let mut rec = Record { stop_at: Some(25), ..Record::default() };
    let cfg = config(&shards, Budget::Seconds(1e300), 3e-3);
    let st = trainer::train::train_new(&dir, cfg, &shards, opts(), &mut rec).unwrap();
    assert_eq!((st.status, st.step), (Status::Interrupted, 25));
    assert!(st.target_steps.is_some_and(|t| t > 1 << 60), "{:?}", st.target_steps);
}

/// A run that stops on an error after its first checkpoint (here ids past
/// the vocabulary in a train shard, which are found when a batch reads
/// them) says so in state.json: "interrupted" with the error, not "running"
/// as if a process were still training.
#[test]
fn a_failed_run_records_why_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = char_shards(tmp.path());
    let shard = tmp.path().join("shards/train_000000.bin");
    let mut bytes = std::fs::read(&shard).unwrap();
    for t in (1024..bytes.len()).step_by(2 * 7) {
        bytes[t..t + 2].copy_from_slice(&u16::MAX.to_le_bytes());
    }
    std::fs::write(&shard, bytes).unwrap();
    let dir = tmp.path().join("run");
    let cfg = config(&shards, Budget::Steps(10), 3e-3);
    let err = trainer::train::train_new(
        &dir,
        cfg,
        &ShardSet::open(&tmp.path().join("shards")).unwrap(),
        opts(),
        &mut Record::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("train_000000.bin"), "{err}");
    let state = RunDir::new(&dir).read_state().unwrap();
    assert_eq!(state.status, Status::Interrupted);
    assert_eq!(state.message.as_deref(), Some(err.as_str()));
}
