//! BPE training speed: counting pieces (`WordCounter`, pre-tokenizer
//! included) and learning merges (`learn_merges`, the merge loop) separately.
//!
//! Input: the benchmark corpus (`TOKLAB_BENCH_CORPUS`, default
//! `~/.cache/bench-corpus`, built by `scripts/bench/make-corpus.sh`), every file one document;
//! without it, 8 MB of generated Zipf-distributed text stands in.
//! `TOKLAB_TRAIN_BENCH_MERGES` sets the merge counts (default `8000,31744`,
//! i.e. vocabularies of 8256 and 32000).
//!
//! Run: `cargo bench -p tokenizer-bench --bench train`; one part:
//! `cargo bench -p tokenizer-bench --bench train -- learn`. Thread count:
//! `RAYON_NUM_THREADS`. Side by side with rustbpe and Hugging Face:
//! `scripts/bench/train.sh`.

#[path = "../../tokenizer/tests/train_common/mod.rs"]
mod train_common;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokenizer::Pattern;
use tokenizer::train::{Silent, WordCounter, learn_merges};

fn corpus() -> (String, Vec<Vec<u8>>) {
    let dir = std::env::var("TOKLAB_BENCH_CORPUS").unwrap_or_else(|_| default_corpus());
    let files = dataset::corpus::list_files(&[Path::new(&dir)]).unwrap_or_default();
    let docs: Vec<Vec<u8>> = files.iter().filter_map(|f| std::fs::read(&f.path).ok()).collect();
    if docs.iter().map(Vec::len).sum::<usize>() > 0 {
        return (format!("corpus-{}MB", docs.iter().map(Vec::len).sum::<usize>() >> 20), docs);
    }
    let docs: Vec<Vec<u8>> = (0..8).map(|i| train_common::zipf_text(i, 1 << 20, 30_000)).collect();
    ("zipf-8MB".to_string(), docs)
}

fn bench(c: &mut Criterion) {
    let (name, docs) = corpus();
    let bytes: u64 = docs.iter().map(|d| d.len() as u64).sum();

    let mut group = c.benchmark_group("count");
    group.sample_size(10).measurement_time(Duration::from_secs(10)).throughput(Throughput::Bytes(bytes));
    group.bench_function(BenchmarkId::new("gpt4", &name), |b| {
        b.iter(|| {
            let mut counter = WordCounter::new(Pattern::Gpt4);
            counter.feed_many(black_box(&docs));
            counter
        })
    });
    group.finish();

    let mut counter = WordCounter::new(Pattern::Gpt4);
    counter.feed_many(&docs);
    let merges: Vec<usize> = std::env::var("TOKLAB_TRAIN_BENCH_MERGES")
        .unwrap_or_else(|_| "8000,31744".into())
        .split(',')
        .map(|s| s.trim().parse().expect("TOKLAB_TRAIN_BENCH_MERGES: numbers"))
        .collect();
    let mut group = c.benchmark_group("learn");
    group.sample_size(10).measurement_time(Duration::from_secs(15));
    for &n in &merges {
        // Check the answer once before timing: the target must be reached.
        let learned = learn_merges(&counter, n, 0, &mut Silent).expect("learns");
        assert_eq!(learned.merges.len(), n, "{name} has too few pairs for {n} merges");
        group.bench_function(BenchmarkId::new(format!("{n}-merges"), &name), |b| {
            b.iter(|| learn_merges(black_box(&counter), n, 0, &mut Silent).expect("learns"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

/// Where `scripts/bench/make-corpus.sh` puts the corpus by default.
fn default_corpus() -> String {
    let cache = std::env::var("XDG_CACHE_HOME")
        .unwrap_or_else(|_| format!("{}/.cache", std::env::var("HOME").unwrap_or_else(|_| ".".into())));
    format!("{cache}/bench-corpus")
}
