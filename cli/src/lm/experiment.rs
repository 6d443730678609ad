//! `lm experiment`: the whole comparison in one command. Flags and glue:
//! the pipeline is `trainer::experiment::run` (train each tokenizer, encode
//! the shards with one shared text split, train the same model for the same
//! budget, evaluate, sample), the comparison `report::write_report`.
//! Re-running skips every step whose output exists and is valid; `--force`
//! redoes them.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use trainer::experiment::{Event, Plan, SampleSpec, Vocab};

use super::train::{Bar, ModelArgs, TrainArgs};
use crate::{Interrupt, Threads, TrainProgress};

/// Train and compare a character vocabulary and BPE vocabularies on one corpus.
#[derive(clap::Args, Debug)]
#[command(
    args_override_self = true,
    after_help = "Examples:
  lm experiment data/shakespeare --vocab char,512,2048,8000 --flops 2e12,5e12,1e13,2e13
  lm experiment data/shakespeare --vocab char,512 --flops 2e12,5e12,1e13 --widths 128,256,512
  lm experiment data/shakespeare --vocab char,512,2048,8000 --budget 2m -o experiments/shakespeare
  lm experiment corpus/ --vocab char,1024,4096 --tokens 5M --hidden 256"
)]
pub struct Args {
    /// Corpus files or directories.
    #[arg(required = true, value_name = "CORPUS")]
    pub corpus: Vec<PathBuf>,
    /// Vocabularies: `char` and BPE sizes (byte tokens included).
    #[arg(long, value_delimiter = ',', default_value = "char,512,2048,8000")]
    pub vocab: Vec<String>,
    /// Output directory (default: experiments/NAME, NAME being the first corpus path's name).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Fraction of each file (its tail) held out for validation, the same for every vocabulary.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// BPE pre-tokenizer: gpt4, gpt4o, gpt2 or none.
    #[arg(long, default_value = "gpt4")]
    pub pattern: String,
    /// Redo every step even when its output exists.
    #[arg(long)]
    pub force: bool,
    /// The prompt of every model's sample.
    #[arg(long, default_value = "\n")]
    pub prompt: String,
    /// Characters of text to sample from each model.
    #[arg(long, default_value_t = 400, value_name = "N")]
    pub sample_chars: usize,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.8, value_parser = crate::parse_temperature)]
    pub temperature: f32,
    /// Pretrained tokenizers to add to the table (tokens per character only).
    #[arg(long, value_delimiter = ',', default_value = "cl100k_base,o200k_base")]
    pub reference: Vec<String>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Model widths: a grid of runs, one per (vocabulary, width), with hidden
    /// size W (instead of --hidden) in runs/NAME/hW/. A budget that gives a
    /// width fewer than 10 steps is skipped there. The report fits
    /// L(N, D) per vocabulary and draws the frontier from the best width at
    /// each budget.
    #[arg(long, value_name = "W,...", value_delimiter = ',', allow_hyphen_values = true)]
    pub widths: Option<Vec<String>>,
    /// Also accepts `--budget DURATION`, an alias of `--time`, per vocabulary.
    #[command(flatten)]
    pub train: TrainArgs,
    /// No progress bars.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub threads: Threads,
}

pub fn run(args: Args) -> Result<()> {
    args.threads.init()?;
    let vocabs = args
        .vocab
        .iter()
        .map(|s| Vocab::parse(s).map_err(|e| anyhow::anyhow!("--vocab: {e}")))
        .collect::<Result<Vec<_>>>()?;
    anyhow::ensure!(!vocabs.is_empty(), "--vocab: give at least one vocabulary");
    let widths = match &args.widths {
        Some(w) => parse_widths(w).map_err(|e| anyhow::anyhow!("--widths: {e}"))?,
        None => Vec::new(),
    };
    let budget = args
        .train
        .budget()
        .context("give a budget per vocabulary: --flops, --budget (--time), --tokens, --chars or --steps")?;
    let mut sweep = args.train.flops.clone().unwrap_or_default();
    sweep.sort_by(f64::total_cmp);
    let out = match &args.output {
        Some(o) => o.clone(),
        None => {
            let stem = args.corpus[0]
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or("corpus".into());
            PathBuf::from("experiments").join(stem)
        }
    };
    let pattern = tokenizer::Pattern::from_name(&args.pattern)
        .with_context(|| format!("--pattern: unknown pattern {:?}", args.pattern))?;
    // Settings used only after training are checked before it (the
    // temperature by its parser).
    for name in args.reference.iter().filter(|n| *n != "none") {
        tokenizer::Tokenizer::load(name).with_context(|| format!("--reference {name}"))?;
    }
    let plan = Plan {
        corpus: args.corpus.clone(),
        vocabs,
        out: out.clone(),
        val_fraction: args.val_fraction,
        pattern,
        force: args.force,
        shape: args.model.shape(),
        train: args.train.settings(budget),
        loop_options: args.train.loop_options(),
        sample: SampleSpec {
            prompt: args.prompt.clone(),
            chars: args.sample_chars,
            temperature: args.temperature,
            seed: 1,
        },
        sweep,
        widths,
    };
    let mut progress = Progress::new(&plan, args.quiet);
    let created = !out.exists();
    let outcome = trainer::experiment::run(&plan, &mut progress);
    drop(progress);
    if outcome.is_err() && created && !out.join("runs").exists() {
        // Failed before any model was trained (an empty or binary corpus, a
        // corpus too small for the model, Ctrl-C): nothing worth resuming.
        let _ = std::fs::remove_dir_all(&out);
    }
    let outcome = outcome?;

    let c = super::compare::build(&outcome.runs, &args.reference)?;
    report::write_report(&c, &out)?;
    crate::outln!()?;
    crate::out!("{}", report::table::markdown(&c))?;
    crate::outln!("\nwrote {}/report.md, report.json and 3 SVG plots", out.display())?;
    Ok(())
}

/// `128,256,512`: distinct hidden sizes of at least 1, ascending.
fn parse_widths(values: &[String]) -> std::result::Result<Vec<usize>, String> {
    let mut widths = Vec::new();
    for v in values {
        let w: usize = match v.trim().parse() {
            Ok(w) if w > 0 => w,
            _ if v.trim().is_empty() => {
                return Err("an empty width; give hidden sizes such as 128,256,512".into());
            }
            _ => {
                return Err(format!(
                    "{v:?} is not a hidden size (a whole number of at least 1, such as 256)"
                ));
            }
        };
        if widths.contains(&w) {
            return Err(format!("{w} is given twice"));
        }
        widths.push(w);
    }
    if widths.is_empty() {
        return Err("give at least one width, such as 128,256,512".into());
    }
    widths.sort_unstable();
    Ok(widths)
}

/// Draws the experiment on stderr: one line per step, and the bars of the
/// tokenizer trainer, the encoder and the training loop. Ctrl-C stops it.
struct Progress {
    quiet: bool,
    vocabs: String,
    widths: String,
    budget: String,
    interrupt: Interrupt,
    tokenizer: TrainProgress,
    encode: Option<indicatif::ProgressBar>,
    train: Option<Bar>,
}

impl Progress {
    fn new(plan: &Plan, quiet: bool) -> Progress {
        let interrupt = Interrupt::install();
        Progress {
            quiet,
            vocabs: plan.vocabs.iter().map(Vocab::name).collect::<Vec<_>>().join(", "),
            widths: if plan.widths.is_empty() {
                String::new()
            } else {
                let w: Vec<String> = plan.widths.iter().map(usize::to_string).collect();
                format!("; widths {}", w.join(", "))
            },
            budget: if plan.sweep.is_empty() {
                super::train::describe_budget(&plan.train.budget)
            } else {
                let b: Vec<String> = plan.sweep.iter().map(|f| format!("{f:e}")).collect();
                format!("a sweep over {} FLOPs", b.join(", "))
            },
            tokenizer: TrainProgress::new(quiet, interrupt.clone()),
            interrupt,
            encode: None,
            train: None,
        }
    }

    fn clear(&mut self) {
        self.tokenizer.finish();
        if let Some(bar) = self.encode.take() {
            bar.finish_and_clear();
        }
        if let Some(t) = self.train.take() {
            t.bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

impl trainer::experiment::Observer for Progress {
    fn event(&mut self, event: Event<'_>) {
        self.clear();
        match event {
            Event::Start { files, bytes, out } => crate::errln!(
                "experiment: {files} files, {bytes} bytes; vocabularies {}{}; {} per run; output {}",
                self.vocabs,
                self.widths,
                self.budget,
                out.display()
            ),
            Event::CorpusChanged { stamp } => crate::errln!(
                "experiment: the corpus changed since {} was written: redoing every step",
                stamp.display()
            ),
            Event::Kept { path } => crate::errln!("{}: exists, kept", path.display()),
            Event::RunKept { dir } => crate::errln!("{}: finished, kept", dir.display()),
            Event::TokenizerTrained { path } => crate::errln!("{}: trained", path.display()),
            Event::Encoded { dir, manifest, seconds } => {
                // An observer cannot fail; a closed stdout ends the command
                // at its final table instead.
                let _ = crate::tok::encode::print_summary(manifest, seconds, dir);
            }
            Event::RunStarting { dir, config, resumed } => {
                if !resumed {
                    super::train::describe_run(dir, config);
                }
            }
            Event::RunFinished { dir, eval } => {
                if let Some(e) = eval {
                    crate::errln!("{}: {}", dir.display(), super::train::describe_eval(e));
                }
            }
            Event::Sampled { .. } => {}
            Event::Skipped { dir, skipped: s } => crate::errln!(
                "{}: budget {:e} skipped at width {}: {} step(s), fewer than the {} a sweep needs ({:.2e} FLOPs \
                 at this width)",
                dir.display(),
                s.flops,
                s.hidden,
                s.steps,
                trainer::experiment::MIN_SWEEP_STEPS,
                s.min_flops
            ),
        }
    }

    fn tokenizer(&mut self) -> &mut dyn tokenizer::train::Observer {
        &mut self.tokenizer
    }

    fn encoding(&mut self, p: &dataset::Progress) -> ControlFlow<()> {
        let quiet = self.quiet;
        let bar = self.encode.get_or_insert_with(|| crate::tok::encode::bar(p.bytes_total, quiet));
        bar.set_position(p.bytes_done);
        bar.set_message(format!("{} files, {} tokens", p.files_done, p.tokens));
        if self.interrupt.is_set() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }

    fn training(&mut self, dir: &Path) -> &mut dyn trainer::train::Observer {
        self.train.insert(Bar::new(&dir.display().to_string(), self.quiet))
    }
}
