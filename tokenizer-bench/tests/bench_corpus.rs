//! Checks over every file of the benchmark corpus (built by
//! `scripts/bench/make-corpus.sh DIR`; `TOKLAB_BENCH_CORPUS=DIR`). Slow in
//! the reference engines, so ignored by default:
//! `TOKLAB_BENCH_CORPUS=DIR cargo test --release -p tokenizer-bench -- --ignored`.
//! Without the corpus they fail rather than pass having compared nothing.

#[path = "../../tokenizer/tests/pretok_ref/mod.rs"]
mod pretok_ref;

use tokenizer::{Pattern, Tokenizer};

/// The corpus as `tok` reads it.
fn corpus_files() -> Vec<std::path::PathBuf> {
    let root = std::env::var("TOKLAB_BENCH_CORPUS")
        .expect("set TOKLAB_BENCH_CORPUS to the directory scripts/bench/make-corpus.sh built");
    let files: Vec<_> = dataset::corpus::list_files(&[&root])
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|d| d.path)
        .collect();
    assert!(!files.is_empty(), "no files under {root}");
    files
}

#[test]
#[ignore = "needs the benchmark corpus; slow"]
fn bench_corpus_pieces_match_the_reference() {
    let files = corpus_files();
    let mut bytes = 0;
    for path in &files {
        let text = std::fs::read(path).expect("readable corpus file");
        bytes += text.len();
        for pattern in [Pattern::Gpt4, Pattern::Gpt4o, Pattern::Gpt2] {
            let ours: Vec<&[u8]> = pattern.split(&text).collect();
            let reference = pretok_ref::split(pattern, &text);
            assert!(ours == reference, "{} differs on {}", pattern.name(), path.display());
        }
    }
    assert!(bytes > 0, "the corpus is empty: nothing compared");
    eprintln!("{} files, {bytes} bytes: all three patterns match the reference", files.len());
}

#[test]
#[ignore = "needs the benchmark corpus; slow"]
fn bench_corpus_ids_match_tiktoken() {
    let files = corpus_files();
    let pairs = [
        ("cl100k_base", tiktoken_rs::cl100k_base_singleton()),
        ("o200k_base", tiktoken_rs::o200k_base_singleton()),
        ("r50k_base", tiktoken_rs::r50k_base_singleton()),
        ("p50k_base", tiktoken_rs::p50k_base_singleton()),
    ];
    let ours: Vec<Tokenizer> =
        pairs.iter().map(|(n, _)| Tokenizer::load(n).expect("pretrained loads")).collect();
    let (mut n, mut bytes) = (0, 0);
    for f in &files {
        let data = std::fs::read(f).expect("readable corpus file");
        let Ok(text) = std::str::from_utf8(&data) else { continue };
        for (tok, (_, theirs)) in ours.iter().zip(&pairs) {
            let want = theirs.encode_ordinary(text);
            let got = tok.encode_ordinary(text.as_bytes()).expect("BPE never fails");
            assert!(got == want, "{}: ids differ on {}", tok.name(), f.display());
        }
        n += 1;
        bytes += data.len();
    }
    assert!(n > 0, "no UTF-8 file in the corpus: nothing compared");
    eprintln!("compared {n} files, {bytes} bytes, 4 vocabularies: identical");
}
