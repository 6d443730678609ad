//! Token shards end to end: `tok encode`, `tok inspect`, `tok merge-manifests`
//! and the `dataset` reader with real tokenizers (a character vocabulary, a
//! BPE trained on the test corpus, and the pretrained o200k_base).
//!
//! Covers issue 3's done-when list: decoding train then val reproduces the
//! corpus byte for byte; validation text is identical across tokenizers;
//! shards are byte-identical for any thread count; `--part` + merge equals
//! one run; numpy reads the shards (`scripts/check_shards.py`, skipped with a
//! notice unless `TOKLAB_REQUIRE_PYTHON=1`); bad input gives a one-line error
//! naming the file and a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dataset::{ShardSet, Split};
use tokenizer::Tokenizer;

// ------------------------------------------------------------------ helpers

fn tok(args: &[&str]) -> Output {
    Command::new(e2e::bin("tok")).args(args).output().expect("run tok")
}

fn tok_ok(args: &[&str]) -> String {
    let out = tok(args);
    assert!(
        out.status.success(),
        "tok {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `tok` expecting failure: non-zero exit, no panic, exactly one line
/// on stderr containing every needle. Returns that line.
fn tok_err(args: &[&str], needles: &[&str]) -> String {
    let out = tok(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "tok {args:?} should fail; stderr: {stderr}");
    assert_ne!(out.status.code(), Some(101), "tok {args:?} panicked: {stderr}");
    assert!(!stderr.contains("panicked"), "tok {args:?} panicked: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "tok {args:?}: expected a one-line error, got:\n{stderr}");
    for n in needles {
        assert!(lines[0].contains(n), "tok {args:?}: error {:?} does not mention {n:?}", lines[0]);
    }
    lines[0].to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// A deterministic corpus: a play of ~1.5 MB (more than one 1 MiB encoder
/// chunk), smaller files with non-ASCII text, an empty file and a file
/// without any newline.
fn make_corpus(root: &Path) -> PathBuf {
    let corpus = root.join("corpus");
    let words = [
        "the",
        "king",
        "thou",
        "art",
        "my",
        "lord",
        "and",
        "I",
        "shall",
        "not",
        "be",
        "so",
        "a",
        "wherefore",
        "Romeo",
        "—",
        "naïve",
        "café",
        "to",
        "of",
        "what",
        "is",
        "love",
        "?",
        "!",
        ",",
        "42",
        "1601",
    ];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut text = |bytes: usize| {
        let mut t = String::new();
        while t.len() < bytes {
            if next(12) == 0 {
                t.push_str(["ROMEO:\n", "JULIET:\n", "\n", "KING HENRY:\n"][next(4)]);
            }
            let line_words = 3 + next(9);
            for i in 0..line_words {
                if i > 0 {
                    t.push(' ');
                }
                t.push_str(words[next(words.len())]);
            }
            t.push('\n');
        }
        t
    };
    let files: [(&str, String); 6] = [
        ("a/play.txt", text(1_500_000)),
        ("a/sonnets.txt", text(60_000)),
        ("b/notes.md", format!("# Notes 日本語\n{}", text(5_000))),
        ("b/empty.txt", String::new()),
        ("c/one-line.txt", "a single line with no newline at all, — fin".to_string()),
        ("c/tail.txt", text(20_000)),
    ];
    for (name, t) in files {
        let path = corpus.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, t).unwrap();
    }
    corpus
}

fn corpus_files(corpus: &Path) -> Vec<Vec<u8>> {
    dataset::corpus::list_files(&[corpus]).unwrap().iter().map(|d| std::fs::read(&d.path).unwrap()).collect()
}

/// A character vocabulary of the corpus with an end-of-text special.
fn char_tokenizer(corpus: &Path, out: &Path) -> Tokenizer {
    let mut counter = tokenizer::train::CharCounter::new();
    for doc in corpus_files(corpus) {
        counter.feed(&doc).unwrap();
    }
    let tok = tokenizer::train::train_char(counter, &[tokenizer::END_OF_TEXT.to_string()], false).unwrap();
    tok.save(out).unwrap();
    tok
}

/// A BPE vocabulary trained on the corpus by `tokenizer::train` (GPT-4
/// split pattern, `merges` merges) with an end-of-text special.
fn bpe_tokenizer(corpus: &Path, out: &Path, merges: usize) -> Tokenizer {
    use tokenizer::train::{BpeConfig, Silent, WordCounter, train_bpe};
    let pattern = tokenizer::Pattern::Gpt4;
    let mut words = WordCounter::new(pattern);
    for doc in corpus_files(corpus) {
        words.feed(&doc);
    }
    let config = BpeConfig {
        vocab_size: 256 + merges + 1,
        pattern,
        min_frequency: 2,
        specials: vec![tokenizer::END_OF_TEXT.to_string()],
    };
    let tok = train_bpe(&config, words, &mut Silent).unwrap().with_name("bpe-test");
    tok.save(out).unwrap();
    tok
}

fn decode_split(set: &ShardSet, split: Split) -> Vec<u8> {
    let tok = set.tokenizer().unwrap();
    let mut ids = set.split(split).to_vec();
    if let Some(eot) = set.manifest().eot_id {
        ids.retain(|&t| t != eot);
    }
    tok.decode(&ids).unwrap()
}

fn read_dir_sorted(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// Each file's (train, val) text by the split rule.
fn expected_split(corpus: &Path, f: f64) -> (Vec<u8>, Vec<u8>) {
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for doc in corpus_files(corpus) {
        let s = dataset::split::val_start(&doc, f);
        train.extend_from_slice(&doc[..s]);
        val.extend_from_slice(&doc[s..]);
    }
    (train, val)
}

// -------------------------------------------------------------------- tests

#[test]
fn single_file_decodes_back_to_the_corpus() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    let file = corpus.join("a/sonnets.txt");
    let char_json = tmp.path().join("char.json");
    char_tokenizer(&corpus, &char_json);
    let out = tmp.path().join("shards");
    tok_ok(&[
        "encode",
        s(&file),
        "--tokenizer",
        s(&char_json),
        "--out",
        s(&out),
        "--shard-tokens",
        "10K",
        "-q",
    ]);
    let set = ShardSet::open(&out).unwrap();
    let mut text = decode_split(&set, Split::Train);
    text.extend(decode_split(&set, Split::Val));
    assert!(text == std::fs::read(&file).unwrap(), "train ++ val differs from the file");
    assert!(set.manifest().splits.train.shards.len() > 1);
    // The copy of the tokenizer next to the shards is what decodes them.
    assert!(out.join("tokenizer.json").exists());
}

#[test]
fn corpus_round_trip_and_manifest_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    let bpe_json = tmp.path().join("bpe.json");
    let tok = bpe_tokenizer(&corpus, &bpe_json, 80);
    let out = tmp.path().join("shards");
    let stdout =
        tok_ok(&["encode", s(&corpus), "-t", s(&bpe_json), "-o", s(&out), "--eot", "--shard-tokens", "50K"]);
    assert!(stdout.contains("train") && stdout.contains("tokens/char"), "{stdout}");
    let set = ShardSet::open(&out).unwrap();
    set.check_tokenizer(&tok).unwrap();
    let m = set.manifest();
    let (train, val) = expected_split(&corpus, 0.1);
    for (split, text) in [(Split::Train, &train), (Split::Val, &val)] {
        assert!(&decode_split(&set, split) == text, "{split:?} text differs");
        let info = m.splits.get(split);
        assert_eq!(info.bytes, text.len() as u64);
        assert_eq!(info.chars, std::str::from_utf8(text).unwrap().chars().count() as u64);
        // One end-of-text token per document part; the rest encodes the text.
        let ids = set.split(split).to_vec();
        let eots = ids.iter().filter(|&&t| Some(t) == m.eot_id).count() as u64;
        assert_eq!(eots, info.documents);
        assert_eq!(info.tokens - eots, tok.encode_ordinary(text).unwrap().len() as u64);
    }
    // 6 files: the empty one has no part; the one-line file has no val part.
    assert_eq!((m.splits.train.documents, m.splits.val.documents), (5, 4));
    assert!(m.eot && !m.tokenizer.pretrained);
}

#[test]
fn val_text_is_identical_across_tokenizers() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    let char_json = tmp.path().join("char.json");
    let bpe_json = tmp.path().join("bpe.json");
    char_tokenizer(&corpus, &char_json);
    bpe_tokenizer(&corpus, &bpe_json, 120);
    let mut sets = Vec::new();
    for (name, spec) in [("char", s(&char_json)), ("bpe", s(&bpe_json)), ("o200k", "o200k_base")] {
        let out = tmp.path().join(name);
        tok_ok(&[
            "encode",
            s(&corpus),
            "--tokenizer",
            spec,
            "--out",
            s(&out),
            "--val-fraction",
            "0.15",
            "-q",
        ]);
        sets.push(ShardSet::open(&out).unwrap());
    }
    let (_, val) = expected_split(&corpus, 0.15);
    let first = sets[0].manifest().splits.clone();
    for set in &sets {
        let m = set.manifest();
        for split in [Split::Train, Split::Val] {
            let (a, b) = (first.get(split), m.splits.get(split));
            assert_eq!(
                (a.bytes, a.chars, a.documents),
                (b.bytes, b.chars, b.documents),
                "{}",
                m.tokenizer.name
            );
            assert_eq!(a.text_hash, b.text_hash, "{} {split:?}", m.tokenizer.name);
        }
        assert!(decode_split(set, Split::Val) == val, "{}: val text differs", m.tokenizer.name);
    }
    // The tokenizations do differ (the char vocabulary needs the most tokens).
    let tokens: Vec<u64> = sets.iter().map(|s| s.manifest().splits.val.tokens).collect();
    assert!(tokens[0] > tokens[1] && tokens[0] > tokens[2] && tokens[1] != tokens[2], "{tokens:?}");
    // o200k: u32 tokens, no tokenizer copy (the name is enough).
    let o = sets[2].manifest();
    assert_eq!(o.token_width, dataset::shard::TokenWidth::U32);
    assert!(o.tokenizer.pretrained && o.tokenizer.file.is_none());
    assert!(!tmp.path().join("o200k/tokenizer.json").exists());
    assert_eq!(sets[0].manifest().token_width, dataset::shard::TokenWidth::U16);
}

#[test]
fn shards_are_identical_for_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    let bpe_json = tmp.path().join("bpe.json");
    bpe_tokenizer(&corpus, &bpe_json, 60);
    let mut outputs = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = tmp.path().join(format!("t{threads}"));
        tok_ok(&[
            "encode",
            s(&corpus),
            "-t",
            s(&bpe_json),
            "-o",
            s(&out),
            "--shard-tokens",
            "100K",
            "--threads",
            threads,
            "--eot",
            "-q",
        ]);
        outputs.push(read_dir_sorted(&out));
    }
    assert!(outputs[0].len() > 5, "expected several shards");
    for (i, o) in outputs.iter().enumerate().skip(1) {
        let names = |v: &Vec<(String, Vec<u8>)>| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
        assert_eq!(names(o), names(&outputs[0]));
        for (a, b) in o.iter().zip(&outputs[0]) {
            assert!(a.1 == b.1, "{} differs with {} threads", a.0, i + 1);
        }
    }
}

#[test]
fn parts_merged_equal_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    let char_json = tmp.path().join("char.json");
    char_tokenizer(&corpus, &char_json);
    let whole = tmp.path().join("whole");
    tok_ok(&["encode", s(&corpus), "-t", s(&char_json), "-o", s(&whole), "--eot", "-q"]);
    let parted = tmp.path().join("parted");
    for i in 0..3 {
        let stdout = tok_ok(&[
            "encode",
            s(&corpus),
            "-t",
            s(&char_json),
            "-o",
            s(&parted),
            "--eot",
            "--part",
            &format!("{i}/3"),
        ]);
        assert!(stdout.contains("tok merge-manifests"), "{stdout}");
    }
    tok_err(&["inspect", s(&parted)], &["manifest.json", "merge-manifests"]);
    let stdout = tok_ok(&["merge-manifests", s(&parted)]);
    assert!(stdout.contains("merged 3 parts"), "{stdout}");
    let (a, b) = (ShardSet::open(&whole).unwrap(), ShardSet::open(&parted).unwrap());
    for split in [Split::Train, Split::Val] {
        let (x, y) = (a.manifest().splits.get(split), b.manifest().splits.get(split));
        assert_eq!((x.tokens, x.bytes, x.chars, x.documents), (y.tokens, y.bytes, y.chars, y.documents));
        assert_eq!(x.text_hash, y.text_hash);
        assert_eq!(a.split(split).to_vec(), b.split(split).to_vec(), "{split:?}");
    }
}

#[test]
fn inspect_shows_manifest_histogram_and_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    let char_json = tmp.path().join("char.json");
    char_tokenizer(&corpus, &char_json);
    let out = tmp.path().join("shards");
    tok_ok(&["encode", s(&corpus), "-t", s(&char_json), "-o", s(&out), "-q"]);
    let stdout = tok_ok(&["inspect", s(&out), "--top", "5", "--sample", "20", "--split", "val"]);
    for needle in
        ["tokenizer", "uint16", "train_000000.bin", "val_000000.bin", "histogram", "sample", "decoded"]
    {
        assert!(stdout.contains(needle), "inspect output lacks {needle:?}:\n{stdout}");
    }
    // The most frequent character of this corpus is the space.
    let top = stdout.lines().skip_while(|l| !l.contains("histogram")).nth(1).unwrap();
    assert!(top.contains("\" \""), "{top}");
}

#[test]
fn numpy_reads_the_shards() {
    let python = std::env::var("TOKLAB_PYTHON").unwrap_or_else(|_| "python3".into());
    let required = std::env::var("TOKLAB_REQUIRE_PYTHON").is_ok_and(|v| v == "1");
    let has_numpy =
        Command::new(&python).args(["-c", "import numpy"]).output().is_ok_and(|o| o.status.success());
    if !has_numpy {
        assert!(!required, "TOKLAB_REQUIRE_PYTHON=1 but {python} cannot import numpy");
        eprintln!(
            "SKIPPED numpy_reads_the_shards: {python} with numpy not found (set TOKLAB_PYTHON, or TOKLAB_REQUIRE_PYTHON=1 to fail)"
        );
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check_shards.py");
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    let char_json = tmp.path().join("char.json");
    char_tokenizer(&corpus, &char_json);
    for (name, spec) in [("char", s(&char_json)), ("o200k", "o200k_base")] {
        let out = tmp.path().join(name);
        tok_ok(&["encode", s(&corpus), "-t", spec, "-o", s(&out), "--shard-tokens", "200K", "-q"]);
        let run = Command::new(&python).arg(&script).arg(&out).output().unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "check_shards.py {name}: {stdout}{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let set = ShardSet::open(&out).unwrap();
        for (line, split) in stdout.lines().zip([Split::Train, Split::Val]) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let ids = set.split(split).to_vec();
            assert_eq!(v["tokens"].as_u64(), Some(ids.len() as u64), "{name} {split:?}");
            assert_eq!(v["id_sum"].as_u64(), Some(ids.iter().map(|&t| t as u64).sum()), "{name} {split:?}");
        }
        // A truncated shard is caught by numpy's reading too.
        let shard = out.join("train_000000.bin");
        let bytes = std::fs::read(&shard).unwrap();
        std::fs::write(&shard, &bytes[..bytes.len() - 4]).unwrap();
        let run = Command::new(&python).arg(&script).arg(&out).output().unwrap();
        assert!(!run.status.success());
        assert!(String::from_utf8_lossy(&run.stderr).contains("train_000000.bin"));
    }
}

#[test]
fn bad_input_gives_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());
    let char_json = tmp.path().join("char.json");
    char_tokenizer(&corpus, &char_json);
    let out = tmp.path().join("out");
    let o = s(&out);

    // Missing and wrong tokenizers.
    tok_err(&["encode", s(&corpus), "-t", "nope.json", "-o", o], &["nope.json"]);
    let not_tok = tmp.path().join("not-a-tokenizer.json");
    std::fs::write(&not_tok, "{\"hello\": 1}").unwrap();
    tok_err(&["encode", s(&corpus), "-t", s(&not_tok), "-o", o], &["not-a-tokenizer.json"]);
    // Missing and empty corpora.
    tok_err(&["encode", "/no/such/corpus", "-t", s(&char_json), "-o", o], &["/no/such/corpus"]);
    let empty_dir = tmp.path().join("empty-dir");
    std::fs::create_dir_all(&empty_dir).unwrap();
    tok_err(&["encode", s(&empty_dir), "-t", s(&char_json), "-o", o], &["no files found", "empty-dir"]);
    let empty_file = empty_dir.join("nothing.txt");
    std::fs::write(&empty_file, "").unwrap();
    tok_err(&["encode", s(&empty_dir), "-t", s(&char_json), "-o", o], &["no text", "nothing.txt"]);
    // A character the character vocabulary lacks: file and offset.
    let odd = tmp.path().join("odd.txt");
    std::fs::write(&odd, "the king\nsays ☃ here\n").unwrap();
    tok_err(&["encode", s(&odd), "-t", s(&char_json), "-o", o], &["odd.txt", "offset 14", "☃"]);
    // Flags that cannot work.
    tok_err(&["encode", s(&corpus), "-t", s(&char_json), "-o", o, "--val-fraction", "1.5"], &["[0, 1)"]);
    let no_eot = tmp.path().join("no-eot.json");
    let mut counter = tokenizer::train::CharCounter::new();
    for d in corpus_files(&corpus) {
        counter.feed(&d).unwrap();
    }
    tokenizer::train::train_char(counter, &[], false).unwrap().save(&no_eot).unwrap();
    tok_err(&["encode", s(&corpus), "-t", s(&no_eot), "-o", o, "--eot"], &["--eot", "<|endoftext|>"]);

    // Broken shard directories.
    tok_ok(&["encode", s(&corpus), "-t", s(&char_json), "-o", o, "--shard-tokens", "300K", "-q"]);
    tok_ok(&["inspect", o]);
    let shard = out.join("train_000001.bin");
    let original = std::fs::read(&shard).unwrap();
    let mut bad = original.clone();
    bad[..4].copy_from_slice(&7i32.to_le_bytes());
    std::fs::write(&shard, &bad).unwrap();
    tok_err(&["inspect", o], &["train_000001.bin", "bad magic", "found 7"]);
    std::fs::write(&shard, &original[..original.len() - 10]).unwrap();
    tok_err(&["inspect", o], &["train_000001.bin", "truncated"]);
    std::fs::write(&shard, &original).unwrap();
    let manifest_path = out.join("manifest.json");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    m["splits"]["train"]["shards"][1]["tokens"] = serde_json::json!(12345);
    std::fs::write(&manifest_path, serde_json::to_string(&m).unwrap()).unwrap();
    tok_err(&["inspect", o], &["manifest.json", "train tokens"]);
    std::fs::write(&manifest_path, &manifest).unwrap();
    std::fs::remove_file(out.join("val_000000.bin")).unwrap();
    tok_err(&["inspect", o], &["val_000000.bin", "listed in manifest.json"]);
    tok_err(&["inspect", s(&tmp.path().join("no-shards-here"))], &["no-shards-here"]);

    // Vocabulary mismatch: another tokenizer than the shards'.
    tok_ok(&["encode", s(&corpus), "-t", s(&char_json), "-o", o, "-q"]);
    let set = ShardSet::open(&out).unwrap();
    let other = Tokenizer::load("o200k_base").unwrap();
    let err = set.check_tokenizer(&other).unwrap_err().to_string();
    assert!(err.contains("manifest.json") && err.contains("o200k_base") && err.contains("char"), "{err}");
    assert!(!err.contains('\n'));
    // A tokenizer.json swapped next to the shards is caught when decoding.
    std::fs::copy(&no_eot, out.join("tokenizer.json")).unwrap();
    tok_err(&["inspect", o], &["tokenizer.json", "tokenizer"]);
}

/// The figures on tinyshakespeare (`tests/data/tinyshakespeare.txt`):
/// 65 character ids, the split rule's exact token counts, and a byte-exact
/// round trip of train then val.
#[test]
fn tinyshakespeare_char_figures() {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/tinyshakespeare.txt"));
    let tmp = tempfile::tempdir().unwrap();
    let char_json = tmp.path().join("char.json");
    let mut counter = tokenizer::train::CharCounter::new();
    let text = std::fs::read(&path).unwrap();
    counter.feed(&text).unwrap();
    tokenizer::train::train_char(counter, &[], false).unwrap().save(&char_json).unwrap();
    let out = tmp.path().join("char");
    println!("{}", tok_ok(&["encode", s(&path), "-t", s(&char_json), "-o", s(&out)]));
    let set = ShardSet::open(&out).unwrap();
    let mut back = decode_split(&set, Split::Train);
    back.extend(decode_split(&set, Split::Val));
    assert!(back == text, "train ++ val differs from the corpus");
    let m = set.manifest();
    assert_eq!(m.tokenizer.vocab_size, 65);
    // nanoGPT's 90/10 cut is at 1,003,854; the rule moves it to the next line start.
    assert_eq!(dataset::split::nominal_cut(text.len() as u64, 0.1), 1_003_854);
    assert_eq!((m.splits.train.tokens, m.splits.val.tokens), (1_003_856, 111_538));
    assert_eq!((m.splits.val.bytes, m.splits.val.chars), (111_538, 111_538));
    assert_eq!(&text[1_003_855..1_003_856], b"\n");
}
