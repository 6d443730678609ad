//! The batch loader's speed: training batches (random windows) and
//! evaluation batches (sequential windows) of B = 32 rows x T = 128 steps.
//!
//! Reads the shards in `$TOKLAB_BENCH_SHARDS` (e.g. the 26 MB benchmark
//! corpus encoded with `tok encode`) or, when unset, 30M synthetic u16
//! tokens in three shards (the loader's speed does not depend on the token
//! values). Throughput is reported per window (elements) and in bytes of
//! shard data read (B x (T + 1) x token width per batch).
//!
//! ```text
//! TOKLAB_BENCH_SHARDS=shards/char cargo bench -p dataset --bench batch
//! ```
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dataset::manifest::{self, Manifest, ShardEntry, SplitInfo, Splits};
use dataset::shard::{ShardWriter, TokenWidth};
use dataset::{ShardSet, Split};

const B: usize = 32;
const T: usize = 128;

/// Three train shards of 10M tokens and one val shard of 3M tokens.
fn synthetic(dir: &std::path::Path) {
    let mut state = 1u64;
    let mut split = |name: &str, sizes: &[u64]| {
        let mut info = SplitInfo::default();
        for (i, &n) in sizes.iter().enumerate() {
            let file = format!("{name}_{i:06}.bin");
            let mut w = ShardWriter::create(&dir.join(&file), TokenWidth::U16).unwrap();
            let mut buf = Vec::with_capacity(1 << 16);
            let mut left = n;
            while left > 0 {
                buf.clear();
                for _ in 0..left.min(1 << 16) {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    buf.push(((state >> 40) % 8000) as u32);
                }
                w.write(&buf).unwrap();
                left -= buf.len() as u64;
            }
            w.finish().unwrap();
            info.tokens += n;
            info.shards.push(ShardEntry { file, tokens: n });
        }
        info
    };
    let splits = Splits { train: split("train", &[10_000_000; 3]), val: split("val", &[3_000_000]) };
    let m = Manifest::synthetic(tokenizer::Kind::Bpe, 8000, TokenWidth::U16, 10_000_000, splits);
    m.save(&dir.join(manifest::MANIFEST_FILE)).unwrap();
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = match std::env::var_os("TOKLAB_BENCH_SHARDS") {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            synthetic(tmp.path());
            tmp.path().to_path_buf()
        }
    };
    let set = ShardSet::open(&dir).unwrap();
    let width = set.manifest().token_width.bytes() as u64;
    eprintln!(
        "shards: {} ({} train tokens, {} val tokens, {width}-byte tokens)",
        dir.display(),
        set.tokens(Split::Train),
        set.tokens(Split::Val)
    );

    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(B as u64));
    let mut train = set.train_batches(B, T, 0).unwrap();
    let mut step = 0u64;
    g.bench_function("train_windows_B32_T128", |b| {
        b.iter(|| {
            step += 1;
            black_box(train.batch(step).unwrap().targets[B * T - 1])
        })
    });
    let mut eval = set.eval_batches(Split::Val, B, T).unwrap();
    g.bench_function("eval_windows_B32_T128", |b| {
        b.iter(|| {
            if eval.next().unwrap().is_none() {
                eval.reset();
            }
            black_box(eval.next().unwrap().map(|b| b.lengths[0]))
        })
    });
    g.throughput(Throughput::Bytes(B as u64 * (T as u64 + 1) * width));
    g.bench_function("train_bytes_B32_T128", |b| {
        b.iter(|| {
            step += 1;
            black_box(train.batch(step).unwrap().targets[B * T - 1])
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
