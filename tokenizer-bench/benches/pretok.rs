//! Pre-tokenizer throughput: our hand-written splitters against tiktoken's
//! regexes in `fancy-regex` (the engine tiktoken and tiktoken-rs use).
//!
//! Inputs: the benchmark corpus (`TOKLAB_BENCH_CORPUS`, default
//! `~/.cache/bench-corpus`, built by `scripts/bench/make-corpus.sh`), one input per top-level
//! directory (`en`, `code`, ...: its files concatenated in sorted order), plus
//! generated multilingual text. Without the corpus, generated English-like
//! text stands in. `TOKLAB_PRETOK_BENCH_BYTES` caps each input (default: no
//! cap).
//!
//! Before timing, every input is split by both and the pieces compared, so the
//! bench never reports a speed for a wrong answer.
//!
//! Run: `cargo bench -p tokenizer-bench --bench pretok`; one pattern:
//! `cargo bench -p tokenizer-bench --bench pretok -- gpt4o/`.

#[path = "../../tokenizer/tests/pretok_ref/mod.rs"]
mod pretok_ref;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokenizer::Pattern;

/// The files under `dir` in the order `tok` reads a corpus; none when it is missing.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    dataset::corpus::list_files(&[dir])
        .map_or_else(|_| Vec::new(), |d| d.into_iter().map(|d| d.path).collect())
}

/// A deterministic text mixing English, code and other scripts.
fn generated(seed: u64, len: usize, words: &[&str]) -> Vec<u8> {
    const SPACES: &[&str] =
        &[" ", " ", " ", " ", " ", " ", "  ", "\n", "\n\n", ", ", ". ", ".\n", "\n    ", "\t"];
    let mut x = seed | 1;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let mut text = String::new();
    while text.len() < len {
        text.push_str(words[next(words.len())]);
        text.push_str(SPACES[next(SPACES.len())]);
    }
    text.into_bytes()
}

fn inputs() -> Vec<(String, Vec<u8>)> {
    let cap = std::env::var("TOKLAB_PRETOK_BENCH_BYTES").ok().and_then(|s| s.parse::<usize>().ok());
    let root = PathBuf::from(std::env::var("TOKLAB_BENCH_CORPUS").unwrap_or_else(|_| default_corpus()));
    let mut inputs = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&root) {
        let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        for dir in dirs {
            let mut text = Vec::new();
            for file in files_under(&dir) {
                if let Ok(bytes) = std::fs::read(&file) {
                    text.extend_from_slice(&bytes);
                }
            }
            let name = dir.file_name().map_or_else(|| "corpus".into(), |n| n.to_string_lossy().into_owned());
            inputs.push((name, text));
        }
    }
    if inputs.is_empty() {
        let english = [
            "the", "of", "and", "to", "in", "is", "that", "it", "was", "for", "I'll", "don't", "KING",
            "Hamlet", "1999", "42", "(x)", "--", "!", "?",
        ];
        inputs.push(("generated-en".into(), generated(1, 4 << 20, &english)));
    }
    let multilingual = [
        "the",
        "of",
        "naïve",
        "café",
        "Straße",
        "中文字符",
        "日本語の",
        "テキスト",
        "한국어",
        "Привет",
        "мир",
        "Ελλάδα",
        "العربية",
        "हिन्दी",
        "😀",
        "👍🏻",
        "٣٤٥",
        "1234",
        "don't",
        "I'M",
    ];
    inputs.push(("generated-multilingual".into(), generated(2, 4 << 20, &multilingual)));
    if let Some(cap) = cap {
        for (_, text) in &mut inputs {
            // Cut at a character boundary so the reference sees the same text.
            let mut end = cap.min(text.len());
            while end < text.len() && text[end] & 0xC0 == 0x80 {
                end += 1;
            }
            text.truncate(end);
        }
    }
    inputs
}

fn bench(c: &mut Criterion) {
    let inputs = inputs();
    for pattern in [Pattern::Gpt4, Pattern::Gpt4o, Pattern::Gpt2] {
        let mut group = c.benchmark_group(pattern.name());
        group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
        for (name, text) in &inputs {
            // Check the answer before timing it.
            let ours: Vec<&[u8]> = pattern.split(text).collect();
            assert!(
                ours == pretok_ref::split(pattern, text),
                "{} differs from the reference on {name}",
                pattern.name()
            );
            let lossy = String::from_utf8_lossy(text).into_owned();
            let re = pretok_ref::regex(pattern).expect("a regex");

            group.throughput(Throughput::Bytes(text.len() as u64));
            group.bench_function(format!("{name}/ours-split"), |b| {
                b.iter(|| pattern.split(black_box(text)).fold(0usize, |n, p| n + p.len()))
            });
            group.bench_function(format!("{name}/ours-for_each"), |b| {
                b.iter(|| {
                    let mut n = 0usize;
                    pattern.for_each_piece(black_box(text), |p| n += p.len());
                    n
                })
            });
            group.bench_function(format!("{name}/fancy-regex"), |b| {
                b.iter(|| {
                    re.find_iter(black_box(lossy.as_str()))
                        .fold(0usize, |n, m| n + m.map_or(0, |m| m.end() - m.start()))
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

/// Where `scripts/bench/make-corpus.sh` puts the corpus by default.
fn default_corpus() -> String {
    let cache = std::env::var("XDG_CACHE_HOME")
        .unwrap_or_else(|_| format!("{}/.cache", std::env::var("HOME").unwrap_or_else(|_| ".".into())));
    format!("{cache}/bench-corpus")
}
