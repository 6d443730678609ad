//! Batch-1 generation speed of `fast::Stepper`: feeds N tokens one at a
//! time (greedy argmax, so the run is deterministic) and prints tokens/s.
//!
//! `cargo run --release -p model --example bench_sample -- --hidden 512 --layers 2 --vocab 65 --tokens 1000`

use model::fast::Stepper;
use model::{Cell, ModelConfig, ParamLayout};

const FLAGS: [&str; 6] = ["--hidden", "--vocab", "--embed", "--layers", "--tokens", "--threads"];

fn fail(msg: &str) -> ! {
    eprintln!("bench_sample: {msg}");
    std::process::exit(2)
}

/// The value of `--name` (a count, at least 1), or `default`.
fn arg(args: &[String], name: &str, default: usize) -> usize {
    match args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)) {
        None => default,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => fail(&format!("{name}: {v:?} is not a positive integer")),
        },
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Every argument is a known flag followed by its value: a typo is an
    // error, not a silently different run.
    for pair in args[1..].chunks(2) {
        if !FLAGS.contains(&pair[0].as_str()) {
            fail(&format!("unknown argument {:?} (flags: {})", pair[0], FLAGS.join(", ")));
        }
        if pair.len() < 2 {
            fail(&format!("{} needs a value", pair[0]));
        }
    }
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
