//! `lm bench`: training and sampling throughput of the fast path on random
//! tokens, with GFLOP/s against the machine's measured FMA peak.

use anyhow::Result;
use model::{Cell, ModelConfig};

use crate::Threads;

/// Measure training tokens/s, GFLOP/s and % of the FMA peak; and sampling tokens/s.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Vocabulary size.
    #[arg(long, default_value_t = 65, value_name = "V")]
    pub vocab: usize,
    /// Hidden (and embedding) width.
    #[arg(long, default_value_t = 512, value_name = "H")]
    pub hidden: usize,
    /// Layers.
    #[arg(long, default_value_t = 2, value_name = "L")]
    pub layers: usize,
    /// Cell: lstm or rnn.
    #[arg(long, default_value = "lstm", value_parser = ["lstm", "rnn"])]
    pub cell: String,
    #[arg(long, default_value_t = 128, value_name = "T")]
    pub seq: usize,
    #[arg(long, default_value_t = 32, value_name = "B")]
    pub batch: usize,
    /// Timed training steps (after 2 warm-up steps).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Also time batch-1 sampling of this many tokens (0: skip).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub sample_tokens: usize,
    /// Force a kernel path: avx2, avx512 or scalar (an error when this CPU
    /// lacks it). Default: the best the CPU has (or TOKLAB_SIMD).
    #[arg(long, value_name = "ISA", value_parser = ["avx2", "avx512", "scalar"])]
    pub isa: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub threads: Threads,
}

pub fn run(args: Args) -> Result<()> {
    args.threads.init()?;
    let cfg = ModelConfig {
        cell: if args.cell == "rnn" { Cell::Rnn } else { Cell::Lstm },
        vocab: args.vocab,
        embed: args.hidden,
        hidden: args.hidden,
        layers: args.layers,
        tie: false,
    };
    cfg.validate().map_err(anyhow::Error::msg)?;
    anyhow::ensure!(args.steps >= 1, "--steps: must be at least 1");
    anyhow::ensure!(args.batch >= 1, "--batch: must be at least 1");
    anyhow::ensure!(args.seq >= 1, "--seq: must be at least 1");
    trainer::train::check_memory(&cfg, args.batch, args.seq)?;
    let threads = rayon::current_num_threads();
    use model::kernels::{Isa, Kernels};
    let kern = match &args.isa {
        None => Kernels::detect(),
        Some(name) => {
            let isa = Isa::from_name(name).ok_or_else(|| anyhow::anyhow!("unknown ISA {name}"))?;
            Kernels::get(isa)
                .ok_or_else(|| anyhow::anyhow!("--isa {name}: this CPU does not support {name}"))?
        }
    };
    let isa = kern.isa();
    // The peak of the path being measured (a scalar run is compared with
    // the widest vector ISA's), measured before and after the training
    // steps; the higher counts. On a shared host another tenant can hold a
    // core through a whole 300 ms measurement (a 2-CPU Zen 3 read 102-188
    // GFLOP/s for 204 in 4 of 16 measurements, and once printed 169% of
    // peak); a busy host only ever lowers a measurement.
    let peak_isa = match isa {
        Isa::Scalar => model::kernels::widest_isa(),
        _ => isa,
    };
    let measure_peak = || model::kernels::fma_peak_gflops_isa(threads, 300, peak_isa);
    let peak_before = measure_peak();
    let caches = model::kernels::CacheSizes::detect();
    let blocking = kern.blocking();
    let (mr, nr) = kern.tile();
    let b = model::fast::bench::bench_train_with(&cfg, args.batch, args.seq, 2, args.steps, 0, kern, None);
    let peak = peak_before.max(measure_peak());
    let sample = (args.sample_tokens > 0).then(|| sample_rate(&cfg, args.sample_tokens, kern));
    let rss = model::fast::bench::peak_rss_bytes().map(|b| b as f64 / (1 << 20) as f64);
    let pct = |g: f64| if peak > 0.0 { 100.0 * g / peak } else { f64::NAN };
    if args.json {
        let v = serde_json::json!({
            "config": cfg, "batch": args.batch, "seq": args.seq, "threads": threads, "isa": isa.name(),
            "tile": [mr, nr], "mc": blocking.mc, "kc": blocking.kc,
            "caches": {"l1d": caches.l1d, "l2": caches.l2, "l3": caches.l3, "source": caches.source},
            "train_tokens_per_s": b.tokens_per_s(), "gflops": b.gflops(), "peak_gflops": peak,
            "best_step_tokens_per_s": b.best_step_tokens_per_s(),
            "best_step_percent_of_peak": pct(b.best_step_gflops()),
            "peak_isa": peak_isa.name(), "percent_of_peak": pct(b.gflops()),
            "recurrent_gflops": b.recurrent_gflops(), "recurrent_percent_of_peak": pct(b.recurrent_gflops()),
            "head_gflops": b.head_gflops(), "head_percent_of_peak": pct(b.head_gflops()),
            "sample_tokens_per_s": sample, "peak_rss_mib": rss,
        });
        crate::outln!("{v}")?;
    } else {
        crate::outln!(
            "{} V={} E=H={} L={} B={} T={}, {threads} threads, {}",
            cfg.cell.name(),
            cfg.vocab,
            cfg.hidden,
            cfg.layers,
            args.batch,
            args.seq,
            isa.name()
        )?;
        crate::outln!(
            "  kernels   {} tile {mr}x{nr}, KC {} MC {}; caches L1d {} KiB, L2 {} KiB, L3 {} KiB ({})",
            isa.name(),
            blocking.kc,
            blocking.mc,
            caches.l1d >> 10,
            caches.l2 >> 10,
            caches.l3 >> 10,
            caches.source
        )?;
        crate::outln!(
            "  training  {:>9.0} tokens/s  {:>6.1} GFLOP/s  {:>5.1}% of the {:.0} GFLOP/s FMA peak ({})",
            b.tokens_per_s(),
            b.gflops(),
            pct(b.gflops()),
            peak,
            peak_isa.name()
        )?;
        crate::outln!(
            "  fastest   {:>9.0} tokens/s  {:>6.1} GFLOP/s  {:>5.1}% of peak (its fastest step of {})",
            b.best_step_tokens_per_s(),
            b.best_step_gflops(),
            pct(b.best_step_gflops()),
            args.steps
        )?;
        crate::outln!(
            "  recurrent {:>25.1} GFLOP/s  {:>5.1}% of peak (input table, loops, weight gradients)",
            b.recurrent_gflops(),
            pct(b.recurrent_gflops())
        )?;
        crate::outln!(
            "  head      {:>25.1} GFLOP/s  {:>5.1}% of peak (logits, softmax-CE, dW_head, dh)",
            b.head_gflops(),
            pct(b.head_gflops())
        )?;
        if let Some(s) = sample {
            crate::outln!("  sampling  {s:>9.0} tokens/s (batch 1)")?;
        }
        if let Some(r) = rss {
            crate::outln!("  peak RSS  {r:>9.0} MiB")?;
        }
    }
    Ok(())
}

fn sample_rate(cfg: &ModelConfig, n: usize, kern: &'static model::kernels::Kernels) -> f64 {
    let layout = model::ParamLayout::new(cfg);
    let params = layout.init(0);
    let mut st = model::fast::Stepper::with_kernels(&layout, &params, kern);
    st.set_threads(rayon::current_num_threads());
    let mut tok = 0u32;
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        let logits = st.step(tok);
        // Greedy: a cheap, deterministic feedback path.
        tok = logits.iter().enumerate().fold((0, f32::MIN), |a, (i, &x)| if x > a.1 { (i, x) } else { a }).0
            as u32;
    }
    n as f64 / t0.elapsed().as_secs_f64()
}
