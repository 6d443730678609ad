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
    let threads = rayon::current_num_threads();
    let (peak, isa) = model::kernels::fma_peak_gflops(threads, 300);
    let b = model::fast::bench::bench_train(&cfg, args.batch, args.seq, 2, args.steps, 0);
    let sample = (args.sample_tokens > 0).then(|| sample_rate(&cfg, args.sample_tokens));
    let rss = model::fast::bench::peak_rss_bytes().map(|b| b as f64 / (1 << 20) as f64);
    if args.json {
        let v = serde_json::json!({
            "config": cfg, "batch": args.batch, "seq": args.seq, "threads": threads, "isa": isa.name(),
            "train_tokens_per_s": b.tokens_per_s(), "gflops": b.gflops(), "peak_gflops": peak,
            "percent_of_peak": 100.0 * b.gflops() / peak, "sample_tokens_per_s": sample, "peak_rss_mib": rss,
        });
        println!("{v}");
    } else {
        println!(
            "{} V={} E=H={} L={} B={} T={}, {threads} threads, {}",
            cfg.cell.name(),
            cfg.vocab,
            cfg.hidden,
            cfg.layers,
            args.batch,
            args.seq,
            isa.name()
        );
        println!(
            "  training  {:>9.0} tokens/s  {:>6.1} GFLOP/s  {:>5.1}% of the {:.0} GFLOP/s FMA peak",
            b.tokens_per_s(),
            b.gflops(),
            100.0 * b.gflops() / peak,
            peak
        );
        if let Some(s) = sample {
            println!("  sampling  {s:>9.0} tokens/s (batch 1)");
        }
        if let Some(r) = rss {
            println!("  peak RSS  {r:>9.0} MiB");
        }
    }
    Ok(())
}

fn sample_rate(cfg: &ModelConfig, n: usize) -> f64 {
    let layout = model::ParamLayout::new(cfg);
    let params = layout.init(0);
    let mut st = model::fast::Stepper::new(&layout, &params);
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
