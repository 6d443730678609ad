//! The experiment pipeline as a library call, with a FLOPs sweep: one trunk
//! and a cooldown branch per budget; budgets resolve to the same steps on
//! every machine, so the bits per character do not depend on its speed.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use model::Cell;
use trainer::experiment::{self, Event, Plan, SampleSpec, Shape, Vocab};
use trainer::run::{Budget, RunDir, Schedule, Status, TrainSettings};
use trainer::train::{LoopOptions, Progress};

/// Sentences from a tiny grammar, two files.
fn write_corpus(dir: &Path) -> PathBuf {
    let root = dir.join("corpus");
    std::fs::create_dir_all(&root).unwrap();
    let words = ["the cat", "a dog", "sees", "likes", "the river", "a bird", "the moon", "follows"];
    let mut x: u64 = 99;
    for f in 0..2 {
        let mut text = String::new();
        for _ in 0..900 {
            for _ in 0..3 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                text.push_str(words[((x >> 33) % 8) as usize]);
                text.push(' ');
            }
            text.push_str(".\n");
        }
        std::fs::write(root.join(format!("part{f}.txt")), text).unwrap();
    }
    root
}

fn plan(corpus: &Path, out: &Path, sweep: Vec<f64>) -> Plan {
    Plan {
        corpus: vec![corpus.to_path_buf()],
        vocabs: vec![Vocab::Char, Vocab::Bpe(300)],
        out: out.to_path_buf(),
        val_fraction: 0.1,
        pattern: tokenizer::Pattern::Gpt4,
        force: false,
        shape: Shape { cell: Cell::Lstm, layers: 1, hidden: 16, embed: None, tie: false },
        train: TrainSettings {
            seq: 16,
            batch: 4,
            lr: 1e-2,
            warmup: 100,
            min_lr_ratio: 0.1,
            weight_decay: 0.0,
            clip: 1.0,
            budget: Budget::Flops(*sweep.last().unwrap_or(&1e9)),
            schedule: Schedule::Cosine,
            eval_every_s: 1e9,
            seed: 3,
        },
        loop_options: LoopOptions { log_every_s: 1e9, interim_eval_bytes: 1024, snapshot_steps: Vec::new() },
        sample: SampleSpec { prompt: "the".into(), chars: 20, temperature: 0.8, seed: 1 },
        sweep,
        widths: Vec::new(),
    }
}

/// Records the events; trains silently.
struct Quiet {
    events: Vec<String>,
    silent: tokenizer::train::Silent,
    train: Steps,
}

impl Default for Quiet {
    fn default() -> Quiet {
        Quiet { events: Vec::new(), silent: tokenizer::train::Silent, train: Steps }
    }
}

#[derive(Default)]
struct Steps;

impl trainer::train::Observer for Steps {
    fn step(&mut self, _: &Progress) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

impl experiment::Observer for Quiet {
    fn event(&mut self, event: Event<'_>) {
        self.events.push(format!("{event:?}"));
    }
    fn tokenizer(&mut self) -> &mut dyn tokenizer::train::Observer {
        &mut self.silent
    }
    fn encoding(&mut self, _: &dataset::Progress) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    fn training(&mut self, _: &Path) -> &mut dyn trainer::train::Observer {
        &mut self.train
    }
}

fn bits_per_char(dir: &Path) -> f64 {
    let st = RunDir::new(dir).read_state().unwrap();
    assert_eq!(st.status, Status::Finished, "{}", dir.display());
    st.last_eval.unwrap().bits_per_char
}

// The H = 16, L = 1 model: training FLOPs per token for V ids.
fn flops_per_token(vocab: usize) -> f64 {
    model::ModelConfig { cell: Cell::Lstm, vocab, embed: 16, hidden: 16, layers: 1, tie: false }
        .train_flops_per_token()
}

#[test]
fn a_sweep_trains_one_trunk_and_a_cooldown_per_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path());
    let out = tmp.path().join("exp");
    let budgets = vec![2e8, 6e8];
    let p = plan(&corpus, &out, budgets.clone());
    let outcome = experiment::run(&p, &mut Quiet::default()).unwrap();
    assert_eq!(outcome.runs.len(), 4, "{:?}", outcome.runs);

    let per_step = 64u64;
    for (name, v) in [("char", 0usize), ("bpe300", 1)] {
        let trunk = out.join("runs").join(name);
        let cfg = RunDir::new(&trunk).read_config().unwrap();
        let fpt = flops_per_token(cfg.model.vocab);
        let steps = experiment::sweep_steps(&budgets, fpt, per_step, 100).unwrap();
        // The warmup fits the smallest budget: a tenth of its steps.
        assert_eq!(steps.warmup, steps.ends[0] / 10);
        assert_eq!(cfg.train.warmup, steps.warmup);
        assert_eq!(cfg.train.schedule, Schedule::Wsd { decay_start: None });
        // The trunk stops where the last cooldown starts.
        let trunk_state = RunDir::new(&trunk).read_state().unwrap();
        assert_eq!(trunk_state.step, *steps.starts.last().unwrap());
        for (i, &c) in budgets.iter().enumerate() {
            let branch = &outcome.runs[2 * v + i];
            assert_eq!(branch, &trunk.join("branches").join(format!("{c:e}")));
            let st = RunDir::new(branch).read_state().unwrap();
            assert_eq!(st.status, Status::Finished);
            // It ends exactly at the budget: the whole steps that spend it.
            assert_eq!(st.step, steps.ends[i]);
            assert_eq!(st.flops, (st.step * per_step) as f64 * fpt);
            assert!(st.flops >= c && st.flops < c + per_step as f64 * fpt, "{} vs {c}", st.flops);
            // The cooldown took the last fifth of the steps and decayed to the floor.
            assert_eq!(steps.ends[i] - steps.starts[i], (steps.ends[i] as f64 * 0.2).round() as u64);
            let lines = RunDir::new(branch).read_metrics().unwrap();
            let last = lines.last().unwrap();
            assert_eq!(last.step, steps.ends[i]);
            assert!((last.lr - 1e-3).abs() < 1e-12, "final lr {}", last.lr);
            assert_eq!(last.flops, st.flops);
            // `lm eval` of the branch's checkpoint reproduces its score exactly.
            let again = trainer::eval::evaluate_run(branch, None, dataset::Split::Val, None).unwrap();
            assert_eq!(again.eval, st.last_eval.unwrap());
        }
    }
    // Both branches of a vocabulary learned something and the longer one more.
    let b = |name: &str, c: f64| {
        bits_per_char(&out.join("runs").join(name).join("branches").join(format!("{c:e}")))
    };
    assert!(b("char", 6e8) < b("char", 2e8), "{} {}", b("char", 6e8), b("char", 2e8));

    // Re-running keeps everything.
    let mut q = Quiet::default();
    experiment::run(&p, &mut q).unwrap();
    assert!(q.events.iter().all(|e| !e.starts_with("RunStarting")), "{:?}", q.events);
}

/// The same sweep with a CPU hog beside it, and in a one-thread pool: the
/// same bits per character to the last bit, because every budget is a
/// number of steps, not of seconds.
#[test]
fn a_sweep_gives_the_same_bits_on_a_busy_machine_and_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path());
    let budgets = vec![1.5e8, 3e8];
    let scores = |out: &Path| -> Vec<f64> {
        ["char", "bpe300"]
            .iter()
            .flat_map(|n| budgets.iter().map(move |c| (n, *c)))
            .map(|(n, c)| bits_per_char(&out.join("runs").join(n).join("branches").join(format!("{c:e}"))))
            .collect()
    };
    let quiet_out = tmp.path().join("quiet");
    experiment::run(&plan(&corpus, &quiet_out, budgets.clone()), &mut Quiet::default()).unwrap();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hogs: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 1u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(3).wrapping_add(1));
                }
            })
        })
        .collect();
    let busy_out = tmp.path().join("busy");
    let busy = experiment::run(&plan(&corpus, &busy_out, budgets.clone()), &mut Quiet::default());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for h in hogs {
        h.join().unwrap();
    }
    busy.unwrap();
    assert_eq!(scores(&quiet_out), scores(&busy_out));

    let one_out = tmp.path().join("one");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(|| experiment::run(&plan(&corpus, &one_out, budgets.clone()), &mut Quiet::default()))
        .unwrap();
    assert_eq!(scores(&quiet_out), scores(&one_out));
}

#[test]
fn budgets_too_small_or_too_close_are_refused_with_the_figure() {
    let fpt = flops_per_token(65);
    let e = experiment::sweep_steps(&[1e6], fpt, 64, 100).err().unwrap().to_string();
    assert!(e.contains("--flops 1e6") && e.contains("at least 10 steps"), "{e}");
    // Under one step it says so (it said "only 1 steps"); a few steps are counted.
    assert!(e.contains("--flops 1e6: less than one step of 64 tokens"), "{e}");
    let step = fpt * 64.0;
    let e = experiment::sweep_steps(&[3.0 * step], fpt, 64, 100).err().unwrap().to_string();
    assert!(e.contains("only 3 steps of 64 tokens"), "{e}");
    let e = experiment::sweep_steps(&[1e9, 1e9 + 1.0], fpt, 64, 100).err().unwrap().to_string();
    assert!(e.contains("must increase"), "{e}");
    let e = experiment::sweep_steps(&[f64::NAN], fpt, 64, 100).err().unwrap().to_string();
    assert!(e.contains("not a positive number"), "{e}");
}

#[test]
fn budgets_no_vocabulary_size_can_save_are_refused_before_the_tokenizers() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path());
    let trained = |q: &Quiet| q.events.iter().any(|e| e.starts_with("TokenizerTrained"));
    // Too few steps even at one id: refused before anything is trained or
    // written, with the bound it was counted at.
    let out = tmp.path().join("small");
    let mut q = Quiet::default();
    let e = experiment::run(&plan(&corpus, &out, vec![1e5, 2e8]), &mut q).err().unwrap().to_string();
    assert!(
        e.contains("--flops 1e5: less than one step")
            && e.contains("vocabulary char at the fewest ids it can have, 1"),
        "{e}"
    );
    assert!(!trained(&q) && !out.exists(), "{:?}", q.events);
    // The budgets' own values.
    for (sweep, needle) in [
        (vec![2e8, 2e8], "--flops: 2e8 is given twice"),
        (vec![6e8, 2e8], "--flops: the budgets must increase; 2e8 comes after 6e8"),
        (vec![-1.0, 2e8], "--flops: -1 is not a positive number"),
    ] {
        let mut q = Quiet::default();
        let e = experiment::run(&plan(&corpus, &out, sweep), &mut q).err().unwrap().to_string();
        assert!(e.contains(needle), "{e}");
        assert!(!trained(&q) && !out.exists(), "{:?}", q.events);
    }
    // Enough at one id (9.5 steps: 10) but not at the corpus's ~20
    // characters (under 9): the tokenizers are trained, then the real size
    // refuses it.
    let budget = 9.5 * 64.0 * flops_per_token(1);
    let mut p = plan(&corpus, &out, vec![budget, 2e8]);
    p.vocabs = vec![Vocab::Char];
    let mut q = Quiet::default();
    let e = experiment::run(&p, &mut q).err().unwrap().to_string();
    assert!(e.contains("the smallest budget needs at least 10 steps") && !e.contains("fewest ids"), "{e}");
    assert!(trained(&q), "{:?}", q.events);
}

#[test]
fn warmup_fits_the_budget() {
    assert_eq!(trainer::run::warmup_steps(100, 40), 4);
    assert_eq!(trainer::run::warmup_steps(100, 5), 1);
    assert_eq!(trainer::run::warmup_steps(100, 5000), 100);
    assert_eq!(trainer::run::warmup_steps(0, 40), 0);
}

/// `plan` with the model widths of a grid.
fn grid_plan(corpus: &Path, out: &Path, vocabs: Vec<Vocab>, widths: Vec<usize>, sweep: Vec<f64>) -> Plan {
    Plan { vocabs, widths, ..plan(corpus, out, sweep) }
}

#[test]
fn a_grid_trains_one_sweep_per_vocabulary_and_width() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path());
    let out = tmp.path().join("exp");
    let budgets = vec![2e8, 6e8];
    let p = grid_plan(&corpus, &out, vec![Vocab::Char, Vocab::Bpe(300)], vec![8, 16], budgets.clone());
    let outcome = experiment::run(&p, &mut Quiet::default()).unwrap();
    assert!(outcome.skipped.is_empty(), "{:?}", outcome.skipped);

    // runs/NAME/hW/ is the trunk of each (vocabulary, width), its branches below it.
    let mut want = Vec::new();
    for name in ["char", "bpe300"] {
        for w in [8, 16] {
            for c in &budgets {
                want.push(
                    out.join("runs").join(name).join(format!("h{w}")).join("branches").join(format!("{c:e}")),
                );
            }
        }
    }
    assert_eq!(outcome.runs, want);
    for name in ["char", "bpe300"] {
        // No model of the plan's own shape (H = 16 at runs/NAME/).
        assert!(!out.join("runs").join(name).join("config.json").exists());
        for w in [8usize, 16] {
            let trunk = out.join("runs").join(name).join(format!("h{w}"));
            let cfg = RunDir::new(&trunk).read_config().unwrap();
            assert_eq!((cfg.model.hidden, cfg.model.embed), (w, w));
            assert_eq!(cfg.train.schedule, Schedule::Wsd { decay_start: None });
        }
    }
    for branch in &outcome.runs {
        let w: usize = branch.parent().unwrap().parent().unwrap().file_name().unwrap().to_str().unwrap()[1..]
            .parse()
            .unwrap();
        let rd = RunDir::new(branch);
        assert!(rd.model().exists(), "{}", branch.display());
        assert_eq!(rd.read_config().unwrap().model.hidden, w);
        let st = rd.read_state().unwrap();
        assert_eq!(st.status, Status::Finished);
        // `lm eval` of the branch's checkpoint reproduces its score exactly.
        let again = trainer::eval::evaluate_run(branch, None, dataset::Split::Val, None).unwrap();
        assert_eq!(again.eval, st.last_eval.unwrap(), "{}", branch.display());
    }
    // At one budget the wider model saw fewer characters (it costs more per token).
    let chars = |w: usize, c: f64| {
        let d = out.join("runs/char").join(format!("h{w}")).join("branches").join(format!("{c:e}"));
        RunDir::new(&d).read_state().unwrap().chars
    };
    assert!(chars(16, 6e8) < chars(8, 6e8));

    // Re-running trains nothing.
    let mut q = Quiet::default();
    let again = experiment::run(&p, &mut q).unwrap();
    assert_eq!(again.runs, want);
    assert!(q.events.iter().all(|e| !e.starts_with("RunStarting")), "{:?}", q.events);
}

#[test]
fn a_budget_too_small_for_a_width_is_skipped_there() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path());
    let out = tmp.path().join("exp");
    // At H = 128 (V = 30 characters) a step of 64 tokens costs 5.14e7
    // FLOPs: 3e7 is one step (skipped), 6e8 twelve (kept). At H = 8 both fit.
    let p = grid_plan(&corpus, &out, vec![Vocab::Char], vec![8, 128], vec![3e7, 6e8]);
    let mut q = Quiet::default();
    let outcome = experiment::run(&p, &mut q).unwrap();
    assert_eq!(outcome.skipped.len(), 1, "{:?}", outcome.skipped);
    let s = &outcome.skipped[0];
    assert_eq!((s.vocab.as_str(), s.hidden, s.flops, s.steps), ("char", 128, 3e7, 1));
    assert!(q.events.iter().any(|e| e.starts_with("Skipped")), "{:?}", q.events);
    let runs = out.join("runs/char");
    assert_eq!(
        outcome.runs,
        [runs.join("h8/branches/3e7"), runs.join("h8/branches/6e8"), runs.join("h128/branches/6e8")]
    );
    assert!(!runs.join("h128/branches/3e7").exists());
    assert_eq!(RunDir::new(runs.join("h128/branches/6e8")).read_state().unwrap().step, 12);
}

#[test]
fn a_grid_with_no_budget_at_any_width_or_bad_widths_is_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path());
    let out = tmp.path().join("exp");
    let p = grid_plan(&corpus, &out, vec![Vocab::Char], vec![128, 256], vec![3e7]);
    let e = experiment::run(&p, &mut Quiet::default()).err().unwrap().to_string();
    assert!(
        e.contains("--flops")
            && e.contains("vocabulary char")
            && e.contains("the smallest width needs 5.04e8 FLOPs")
            && e.contains("counted for vocabulary char at the fewest ids it can have, 1;"),
        "{e}"
    );
    assert!(!out.join("runs").exists(), "a model was trained");

    for (widths, needle) in
        [(vec![0], "--widths: a width must be at least 1"), (vec![8, 8], "8 is given twice")]
    {
        let out = tmp.path().join("bad");
        let p = grid_plan(&corpus, &out, vec![Vocab::Char], widths, vec![6e8]);
        let e = experiment::run(&p, &mut Quiet::default()).err().unwrap().to_string();
        assert!(e.contains(needle), "{e}");
        assert!(!out.exists(), "{} was written", out.display());
    }
    // The same vocabulary twice (512 and bpe512 are one vocabulary).
    let out = tmp.path().join("twice");
    let vocabs = vec![Vocab::Char, Vocab::Bpe(300), Vocab::Char];
    let p = grid_plan(&corpus, &out, vocabs, vec![8], vec![6e8]);
    let e = experiment::run(&p, &mut Quiet::default()).err().unwrap().to_string();
    assert!(e.contains("--vocab: char is given twice"), "{e}");
    assert!(!out.exists(), "{} was written", out.display());
    // --tie with an embedding width that is not the width.
    let mut p = grid_plan(&corpus, &tmp.path().join("tie"), vec![Vocab::Char], vec![8, 16], vec![6e8]);
    p.shape.tie = true;
    p.shape.embed = Some(8);
    let e = experiment::run(&p, &mut Quiet::default()).err().unwrap().to_string();
    assert!(e.contains("--widths 16") && e.contains("--tie"), "{e}");
}
