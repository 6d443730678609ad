//! Encoder throughput: ours against `tiktoken-rs` (`CoreBPE::encode_ordinary`)
//! with `o200k_base` and `cl100k_base`.
//!
//! Input: the benchmark corpus (`TOKLAB_BENCH_CORPUS`, default
//! `~/.cache/bench-corpus`, built by `scripts/bench/make-corpus.sh`), every
//! file one document; without it, 4 MB of generated English-like text.
//! Before timing, both encoders run on every document and the ids are
//! compared, so no speed is reported for a wrong answer.
//!
//! Criterion groups (`cargo bench -p tokenizer-bench --bench encode`):
//! - `encode/<vocab>`: whole pipeline (pre-tokenizer + BPE), one thread.
//! - `bpe_only/<vocab>`: the pieces pre-split once, then only whole-token
//!   lookups and merges: ours against tiktoken-rs's `byte_pair_split` over an
//!   `FxHashMap<Vec<u8>, Rank>` (what `encode_ordinary` does per piece).
//! - `merge/<len>`: one piece of `len` letters that is not a token, through
//!   the small (O(n·m) scan) and large (heap) merge paths: where they cross
//!   is `SMALL_MAX` in `src/bpe/merge.rs`.
//!
//! Table mode (`TOKLAB_ENCODE_TABLE=1`, used by `scripts/bench/encode.sh`):
//! no criterion; for each vocabulary and for 1 and 2 threads, the median
//! wall time of `TOKLAB_ENCODE_RUNS` (default 5) encodes of the whole corpus,
//! ours and tiktoken-rs interleaved, printed as lines
//! `RESULT <tool> <vocab> <threads> <MB/s>`.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use rustc_hash::FxHashMap;
use tiktoken_rs::CoreBPE;
use tokenizer::{TokenId, Tokenizer};

const VOCABS: [&str; 2] = ["o200k_base", "cl100k_base"];

/// The files under `dir` in the order `tok` reads a corpus; none when it is missing.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    dataset::corpus::list_files(&[dir])
        .map_or_else(|_| Vec::new(), |d| d.into_iter().map(|d| d.path).collect())
}

/// The documents (valid UTF-8 only: tiktoken-rs takes `&str`).
fn corpus() -> (String, Vec<String>) {
    let root = std::env::var("TOKLAB_BENCH_CORPUS").unwrap_or_else(|_| default_corpus());
    let docs: Vec<String> = files_under(Path::new(&root))
        .iter()
        .filter_map(|p| String::from_utf8(std::fs::read(p).ok()?).ok())
        .collect();
    if !docs.is_empty() {
        return (root, docs);
    }
    let words = [
        "the",
        "of",
        "and",
        "to",
        "in",
        "a",
        "is",
        "that",
        "for",
        "it",
        "as",
        "was",
        "with",
        "be",
        "by",
        "on",
        "not",
        "he",
        "I",
        "this",
        "are",
        "or",
        "his",
        "from",
        "at",
        "which",
        "but",
        "have",
        "an",
        "had",
        "they",
        "you",
        "were",
        "their",
        "one",
        "all",
        "we",
        "can",
        "her",
        "has",
        "there",
        "been",
        "if",
        "more",
        "when",
        "will",
        "would",
        "who",
        "so",
        "no",
        "Shakespeare",
        "def",
        "return",
        "self",
        "None",
        "x[i]",
        "1234",
        "don't",
        "HTTPServer",
        "naïve",
        "日本語",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut docs = Vec::new();
    for _ in 0..64 {
        let mut s = String::new();
        while s.len() < 64 << 10 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push_str(words[(x % words.len() as u64) as usize]);
            s.push_str([" ", " ", " ", ", ", ".\n", "\n\n    ", "  "][(x >> 40) as usize % 7]);
        }
        docs.push(s);
    }
    ("generated".into(), docs)
}

fn load(vocab: &str) -> (Tokenizer, CoreBPE) {
    let ours = Tokenizer::load(vocab).expect("pretrained vocabulary");
    let theirs = tokenizer::pretrained::core_bpe(vocab).expect("known name").expect("tiktoken-rs builds");
    (ours, theirs)
}

/// Both encoders agree on every document, or the bench stops.
fn verify(vocab: &str, ours: &Tokenizer, theirs: &CoreBPE, docs: &[String]) {
    for (i, d) in docs.iter().enumerate() {
        let a = ours.encode_ordinary(d.as_bytes()).expect("BPE never fails");
        let b = theirs.encode_ordinary(d);
        assert!(a == b, "{vocab}: ids differ from tiktoken-rs on document {i}");
    }
}

fn total_bytes(docs: &[String]) -> u64 {
    docs.iter().map(|d| d.len() as u64).sum()
}

fn bench_encode(c: &mut Criterion) {
    let (_, docs) = corpus();
    let bytes = total_bytes(&docs);
    for vocab in VOCABS {
        let (ours, theirs) = load(vocab);
        verify(vocab, &ours, &theirs, &docs);
        let mut g = c.benchmark_group(format!("encode/{vocab}"));
        g.throughput(Throughput::Bytes(bytes)).sample_size(10).measurement_time(Duration::from_secs(20));
        g.bench_function("ours", |b| {
            b.iter(|| docs.iter().map(|d| ours.encode_ordinary(d.as_bytes()).unwrap().len()).sum::<usize>())
        });
        g.bench_function("tiktoken-rs", |b| {
            b.iter(|| docs.iter().map(|d| theirs.encode_ordinary(d).len()).sum::<usize>())
        });
        g.finish();
    }
}

fn bench_bpe_only(c: &mut Criterion) {
    let (_, docs) = corpus();
    let bytes = total_bytes(&docs);
    for vocab in VOCABS {
        let (ours, _) = load(vocab);
        let bpe = ours.as_bpe().expect("BPE");
        let pieces: Vec<&[u8]> = docs.iter().flat_map(|d| bpe.pattern().split(d.as_bytes())).collect();
        let ranks: FxHashMap<Vec<u8>, u32> =
            (0..bpe.len() as TokenId).filter_map(|id| Some((bpe.token_bytes(id)?.to_vec(), id))).collect();
        let tiktoken_bpe = |out: &mut Vec<u32>| {
            for p in &pieces {
                match ranks.get(*p) {
                    Some(&id) => out.push(id),
                    None => out.extend(tiktoken_rs::byte_pair_split(p, &ranks).into_iter().map(|s| ranks[s])),
                }
            }
        };
        let mut a = Vec::new();
        bpe.encode_pieces(pieces.iter().copied(), &mut a);
        let mut b = Vec::new();
        tiktoken_bpe(&mut b);
        assert!(a == b, "{vocab}: bpe-only ids differ");
        let mut g = c.benchmark_group(format!("bpe_only/{vocab}"));
        g.throughput(Throughput::Bytes(bytes)).sample_size(10).measurement_time(Duration::from_secs(10));
        g.bench_function("ours", |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(a.len());
                bpe.encode_pieces(pieces.iter().copied(), &mut out);
                out.len()
            })
        });
        g.bench_function("tiktoken-rs", |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(a.len());
                tiktoken_bpe(&mut out);
                out.len()
            })
        });
        g.finish();
    }
}

fn bench_merge_paths(c: &mut Criterion) {
    let (ours, _) = load("o200k_base");
    let bpe = ours.as_bpe().expect("BPE");
    let mut g = c.benchmark_group("merge");
    let mut x: u64 = 7;
    for len in [8usize, 16, 32, 64, 96, 128] {
        // Random lowercase letters: not a token, many merges.
        let piece: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                b'a' + ((x >> 33) % 26) as u8
            })
            .collect();
        let (mut s, mut l) = (Vec::new(), Vec::new());
        bpe.encode_piece_small(&piece, &mut s);
        bpe.encode_piece_large(&piece, &mut l);
        assert_eq!(s, l);
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::new("small", len), &piece, |b, p| {
            b.iter(|| {
                let mut out = Vec::with_capacity(len);
                bpe.encode_piece_small(black_box(p), &mut out);
                out
            })
        });
        g.bench_with_input(BenchmarkId::new("large", len), &piece, |b, p| {
            b.iter(|| {
                let mut out = Vec::with_capacity(len);
                bpe.encode_piece_large(black_box(p), &mut out);
                out
            })
        });
    }
    g.finish();
}

/// Median wall time of `runs` calls of `f`.
fn median(runs: usize, mut f: impl FnMut() -> usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// tiktoken-rs on `threads` threads: documents handed out one at a time.
fn tiktoken_parallel(theirs: &CoreBPE, docs: &[String], threads: usize) -> usize {
    let next = AtomicUsize::new(0);
    let total = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut n = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(d) = docs.get(i) else { break };
                    n += theirs.encode_ordinary(d).len();
                }
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    total.into_inner()
}

fn table_mode() {
    let runs: usize =
        std::env::var("TOKLAB_ENCODE_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5).max(1);
    let (root, docs) = corpus();
    let bytes = total_bytes(&docs) as f64;
    println!("CORPUS {root} {} {}", docs.len(), bytes as u64);
    let mbps = |d: Duration| bytes / d.as_secs_f64() / 1e6;
    for vocab in VOCABS {
        let (ours, theirs) = load(vocab);
        verify(vocab, &ours, &theirs, &docs);
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
            let mut t_ours = Vec::new();
            let mut t_theirs = Vec::new();
            // Interleaved, so that drift in machine speed hits both alike.
            for _ in 0..runs {
                t_ours.push(median(1, || {
                    if threads == 1 {
                        docs.iter().map(|d| ours.encode_ordinary(d.as_bytes()).unwrap().len()).sum()
                    } else {
                        pool.install(|| {
                            use rayon::prelude::*;
                            docs.par_iter()
                                .map(|d| ours.encode_ordinary_par(d.as_bytes()).unwrap().len())
                                .sum()
                        })
                    }
                }));
                t_theirs.push(median(1, || {
                    if threads == 1 {
                        docs.iter().map(|d| theirs.encode_ordinary(d).len()).sum()
                    } else {
                        tiktoken_parallel(&theirs, &docs, threads)
                    }
                }));
            }
            t_ours.sort();
            t_theirs.sort();
            println!("RESULT toklab {vocab} {threads} {:.1}", mbps(t_ours[runs / 2]));
            println!("RESULT tiktoken-rs {vocab} {threads} {:.1}", mbps(t_theirs[runs / 2]));
        }
    }
}

criterion_group!(benches, bench_encode, bench_bpe_only, bench_merge_paths);

fn main() {
    if std::env::var("TOKLAB_ENCODE_TABLE").is_ok_and(|v| v == "1") {
        table_mode();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

/// Where `scripts/bench/make-corpus.sh` puts the corpus by default.
fn default_corpus() -> String {
    let cache = std::env::var("XDG_CACHE_HOME")
        .unwrap_or_else(|_| format!("{}/.cache", std::env::var("HOME").unwrap_or_else(|_| ".".into())));
    format!("{cache}/bench-corpus")
}
