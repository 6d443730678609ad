//! Training throughput of the fast path for one configuration.
//!
//! ```text
//! cargo run --release -p cli --example bench_lstm_train -- \
//!     --vocab 65 --hidden 512 --embed 512 --layers 2 --seq 128 --batch 32 \
//!     --steps 10 --warmup 2 --threads 2 [--cell rnn] [--tie] [--json] \
//!     [--ids shards/train_000000.bin]
//! ```
//! Batches are uniformly random ids, or with `--ids` windows of a token
//! shard (llm.c format, as `tok encode` writes), as training draws them.
//! Prints tokens/s, GFLOP/s (the `ModelConfig::train_flops_per_token`
//! convention), % of the FMA peak measured on the same threads, the
//! time per phase and the peak RSS. (An example of `cli`, not `model`, so
//! it reads shards with `dataset`'s reader.)

use model::fast::bench::{bench_train_with, peak_rss_bytes};
use model::kernels::{Kernels, fma_peak_gflops_isa, widest_isa};
use model::{Cell, ModelConfig};

/// Flags that take a value, and flags that stand alone.
const VALUE_FLAGS: [&str; 11] = [
    "--cell",
    "--vocab",
    "--hidden",
    "--embed",
    "--layers",
    "--seq",
    "--batch",
    "--steps",
    "--warmup",
    "--threads",
    "--ids",
];
const SWITCHES: [&str; 2] = ["--tie", "--json"];

/// Refuses anything but the known flags (each value flag followed by a
/// value), so a typo is an error rather than a silently different run.
fn check_args(args: &[String]) {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        if VALUE_FLAGS.contains(&a) {
            if args.get(i + 1).is_none() {
                fail(&format!("{a} needs a value"));
            }
            i += 2;
        } else if SWITCHES.contains(&a) {
            i += 1;
        } else {
            fail(&format!(
                "unknown argument {a:?} (flags: {}, {})",
                VALUE_FLAGS.join(", "),
                SWITCHES.join(", ")
            ));
        }
    }
}

/// The value of `--name`, or `default`; a count, so at least `min`.
fn arg(args: &[String], name: &str, default: usize, min: usize) -> usize {
    let v = args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map_or(Ok(default), |v| {
        v.parse::<usize>().map_err(|_| format!("{name}: {v:?} is not a non-negative integer"))
    });
    match v {
        Ok(v) if v >= min => v,
        Ok(v) => fail(&format!("{name}: must be at least {min}, got {v}")),
        Err(e) => fail(&e),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    check_args(&args);
    let hidden = arg(&args, "--hidden", 512, 1);
    // check_args saw a value after every value flag.
    let cell = match args.iter().position(|a| a == "--cell").map(|i| args[i + 1].as_str()) {
        None | Some("lstm") => Cell::Lstm,
        Some("rnn") => Cell::Rnn,
        Some(c) => fail(&format!("--cell takes lstm or rnn, got {c:?}")),
    };
    let cfg = ModelConfig {
        cell,
        vocab: arg(&args, "--vocab", 65, 1),
        embed: arg(&args, "--embed", hidden, 1),
        hidden,
        layers: arg(&args, "--layers", 2, 1),
        tie: args.iter().any(|a| a == "--tie"),
    };
    let batch = arg(&args, "--batch", 32, 1);
    let seq = arg(&args, "--seq", 128, 1);
    let steps = arg(&args, "--steps", 10, 1);
    let warmup = arg(&args, "--warmup", 2, 0);
    let threads = arg(&args, "--threads", 2, 1);
    let json = args.iter().any(|a| a == "--json");
    if let Err(e) = cfg.validate() {
        fail(&e);
    }
    // The check `lm train` and `lm bench` make: a shape past the machine's
    // memory is refused here, not aborted by the allocator.
    if let Err(e) = trainer::train::check_memory(&cfg, batch, seq) {
        fail(&e.to_string());
    }
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().expect("rayon pool");
    // Other jobs can only lower a peak measurement: keep the best of five.
    // The peak of the ISA the kernels use (TOKLAB_SIMD may force one): on
    // cores with two 512-bit FMA units the AVX2 peak is half the AVX-512 one.
    // The scalar path is measured against the best vector peak.
    let peak_isa = match Kernels::detect().isa() {
        model::kernels::Isa::Scalar => widest_isa(),
        isa => isa,
    };
    let peak = (0..5).map(|_| fma_peak_gflops_isa(threads, 200, peak_isa)).fold(0.0, f64::max);
    let ids = args.iter().position(|a| a == "--ids").map(|i| {
        let path = args.get(i + 1).unwrap_or_else(|| fail("--ids needs a path"));
        dataset::shard::read_shard(std::path::Path::new(path))
            .map(|(_, ids)| ids)
            .unwrap_or_else(|e| fail(&e.to_string()))
    });
    if let Some(ids) = &ids {
        if ids.len() <= seq {
            fail(&format!("--ids: {} tokens, need more than T = {seq}", ids.len()));
        }
        if let Some(&x) = ids.iter().find(|&&x| x as usize >= cfg.vocab) {
            fail(&format!("--ids: token {x} >= --vocab {}", cfg.vocab));
        }
    }
    let r = bench_train_with(&cfg, batch, seq, warmup, steps, 0, Kernels::detect(), ids.as_deref());
    let rss = peak_rss_bytes().unwrap_or(0) as f64 / (1 << 20) as f64;
    let tps = r.tokens_per_s();
    let gf = r.gflops();
    // CPU-time rate: what the run would do if it had its cores to itself.
    let cpu_gf = r.cpu_secs.map(|c| r.gflops() * r.secs / c * threads as f64);
    let p = &r.profile;
    let ms = |x: f64| 1e3 * x / steps as f64;
    let phases = format!(
        "{{\"load\":{:.2},\"pack\":{:.2},\"fwd_proj\":{:.2},\"fwd_loop\":{:.2},\"head\":{:.2},\"bwd_loop\":{:.2},\"bwd_gemm\":{:.2},\"bwd_pack\":{:.2},\"bwd_dx\":{:.2},\"other\":{:.2}}}",
        ms(p.load),
        ms(p.pack),
        ms(p.fwd_proj),
        ms(p.fwd_loop),
        ms(p.head),
        ms(p.bwd_loop),
        ms(p.bwd_gemm),
        ms(p.bwd_pack),
        ms(p.bwd_dx),
        ms(p.other)
    );
    let head_parts = format!(
        "{{\"logits\":{:.2},\"softmax\":{:.2},\"dw\":{:.2},\"dh\":{:.2}}}",
        ms(p.head_logits),
        ms(p.head_softmax),
        ms(p.head_dw),
        ms(p.head_dh)
    );
    let step_ms: Vec<String> = r.step_secs.iter().map(|s| format!("{:.2}", 1e3 * s)).collect();
    let best_tps = r.best_step_tokens_per_s();
    if json {
        println!(
            "{{\"impl\":\"toklab\",\"isa\":\"{}\",\"vocab\":{},\"hidden\":{},\"embed\":{},\"layers\":{},\"batch\":{batch},\"seq\":{seq},\"threads\":{threads},\"steps\":{steps},\"tokens_per_s\":{tps:.1},\"best_step_tokens_per_s\":{best_tps:.1},\"step_ms\":[{}],\"gflops\":{gf:.2},\"peak_gflops\":{peak:.1},\"cpu_gflops\":{},\"recurrent_gflops\":{:.2},\"head_gflops\":{:.2},\"peak_rss_mib\":{rss:.1},\"final_loss\":{},\"phases_ms\":{phases},\"head_ms\":{head_parts}}}",
            Kernels::detect().isa().name(),
            cfg.vocab,
            cfg.hidden,
            cfg.embed,
            cfg.layers,
            step_ms.join(","),
            cpu_gf.map_or("null".into(), |g| format!("{g:.2}")),
            r.recurrent_gflops(),
            r.head_gflops(),
            r.losses.last().copied().unwrap_or(f32::NAN)
        );
        return;
    }
    println!("config: {cfg:?} B={batch} T={seq} threads={threads} isa={}", Kernels::detect().isa().name());
    println!("FMA peak ({} threads, {}): {peak:.1} GFLOP/s", threads, peak_isa.name());
    println!(
        "train: {tps:.0} tokens/s, {gf:.1} GFLOP/s = {:.1}% of peak ({steps} steps in {:.2} s; CPU {:.2} s{})",
        100.0 * gf / peak,
        r.secs,
        r.cpu_secs.unwrap_or(f64::NAN),
        cpu_gf.map_or(String::new(), |g| format!(", {g:.1} GFLOP/s per CPU-second x {threads}")),
    );
    println!(
        "fastest step: {best_tps:.0} tokens/s = {:.1}% of peak (steps in ms: {})",
        100.0 * r.best_step_gflops() / peak,
        step_ms.join(" ")
    );
    println!(
        "recurrent part {:.1} GFLOP/s = {:.1}% of peak; head {:.1} GFLOP/s = {:.1}% of peak",
        r.recurrent_gflops(),
        100.0 * r.recurrent_gflops() / peak,
        r.head_gflops(),
        100.0 * r.head_gflops() / peak
    );
    let p = &r.profile;
    let tot = p.total();
    println!(
        "phases (ms/step): load {:.1}, pack {:.1}, fwd_proj {:.1}, fwd_loop {:.1}, head {:.1} (logits {:.1}, softmax {:.1}, dw {:.1}, dh {:.1}), bwd_loop {:.1}, bwd_gemm {:.1} (pack {:.1}, dx {:.1}), other {:.1}; total {:.1}",
        1e3 * p.load / steps as f64,
        1e3 * p.pack / steps as f64,
        1e3 * p.fwd_proj / steps as f64,
        1e3 * p.fwd_loop / steps as f64,
        1e3 * p.head / steps as f64,
        1e3 * p.head_logits / steps as f64,
        1e3 * p.head_softmax / steps as f64,
        1e3 * p.head_dw / steps as f64,
        1e3 * p.head_dh / steps as f64,
        1e3 * p.bwd_loop / steps as f64,
        1e3 * p.bwd_gemm / steps as f64,
        1e3 * p.bwd_pack / steps as f64,
        1e3 * p.bwd_dx / steps as f64,
        1e3 * p.other / steps as f64,
        1e3 * tot / steps as f64,
    );
    println!(
        "workspace {:.1} MiB, peak RSS {rss:.1} MiB, losses {:?}",
        r.workspace_bytes as f64 / (1 << 20) as f64,
        r.losses
    );
}

fn fail(msg: &str) -> ! {
    eprintln!("bench_lstm_train: {msg}");
    std::process::exit(2)
}
