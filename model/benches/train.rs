//! One whole training step (forward_backward + AdamW) of the fast path,
//! for a small and the benchmark configuration (V=65, E=H=512, L=2, T=128,
//! B=32). Tokens/s comes from criterion's throughput line.
//!
//! `cargo bench -p model --bench train`
//! (For tokens/s, GFLOP/s, % of peak and peak RSS side by side with PyTorch
//! see scripts/bench/lstm.sh.)

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use model::fast::Workspace;
use model::kernels::Kernels;
use model::optim::AdamWConfig;
use model::rng::Rng;
use model::{Cell, ModelConfig, ParamLayout};

fn bench(c: &mut Criterion) {
    let threads = std::env::var("TOKLAB_BENCH_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    let kern = Kernels::detect();
    let mut g = c.benchmark_group("train step");
    g.sample_size(10)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(5));
    for (cell, vocab, hidden, batch, seq) in
        [(Cell::Lstm, 65, 128, 32, 64), (Cell::Rnn, 65, 512, 32, 128), (Cell::Lstm, 65, 512, 32, 128)]
    {
        let cfg = ModelConfig { cell, vocab, embed: hidden, hidden, layers: 2, tie: false };
        let layout = ParamLayout::new(&cfg);
        let mut params = layout.init(0);
        let mut grads = layout.zeros();
        let (mut m, mut v) = (layout.zeros(), layout.zeros());
        let mut ws = Workspace::new(&layout, batch, seq);
        let mut rng = Rng::new(2);
        let n = batch * seq;
        let x: Vec<u32> = (0..n).map(|_| rng.below(vocab as u64) as u32).collect();
        let y: Vec<u32> = (0..n).map(|_| rng.below(vocab as u64) as u32).collect();
        let hp = AdamWConfig::default();
        let mut step = 0;
        g.throughput(Throughput::Elements(n as u64));
        let id = format!("{} V={vocab} H={hidden} L=2 B={batch} T={seq} {}", cell.name(), kern.isa().name());
        g.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter(|| {
                let loss = ws.forward_backward(&params, &mut grads, &x, &y);
                step += 1;
                kern.adamw_step(&mut params, &grads, &mut m, &mut v, &hp, 2e-3, step);
                loss
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
