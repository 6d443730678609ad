//! Batch-1 generation speed of `fast::Stepper`: feeds N tokens one at a
//! time (greedy argmax, so the run is deterministic) and prints tokens/s.
//!
//! `cargo run --release -p model --example bench_sample -- --hidden 512 --layers 2 --vocab 65 --tokens 1000`

use model::fast::Stepper;
use model::{Cell, ModelConfig, ParamLayout};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let hidden = arg(&args, "--hidden", 512);
    let cfg = ModelConfig {
        cell: Cell::Lstm,
        vocab: arg(&args, "--vocab", 65),
        embed: arg(&args, "--embed", hidden),
        hidden,
        layers: arg(&args, "--layers", 2),
        tie: false,
    };
    let tokens = arg(&args, "--tokens", 1000);
    let layout = ParamLayout::new(&cfg);
    let params = layout.init(0);
    let mut st = Stepper::new(&layout, &params);
    if args.iter().any(|a| a == "--threads") {
        st.set_threads(arg(&args, "--threads", 1));
    }
    let mut best = f64::MAX;
    let mut last = 0u32;
    for _ in 0..5 {
        st.reset();
        let t = std::time::Instant::now();
        let mut tok = 0u32;
        for _ in 0..tokens {
            let logits = st.step(tok);
            tok = logits
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |m, (i, &x)| if x > m.1 { (i, x) } else { m })
                .0 as u32;
        }
        best = best.min(t.elapsed().as_secs_f64());
        last = tok;
    }
    println!(
        "{cfg:?}: {tokens} tokens in {:.1} ms: {:.0} tokens/s (best of 5; last token {last})",
        best * 1e3,
        tokens as f64 / best
    );
}
