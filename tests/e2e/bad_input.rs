//! The bad-input battery (issue 11): every `tok` command given missing,
//! empty, binary and invalid-UTF-8 input, truncated and corrupted shards,
//! manifests and tokenizer files, ids out of range, a tokenizer that does
//! not match the shards, and numeric flags at 0, negative, NaN and huge.
//!
//! Each case asserts ([`assert_clean_failure`]): a non-zero exit, exactly
//! one line on stderr naming the file or flag and the problem, no panic, and
//! no partial or changed artifact (every file under the case's directory,
//! inputs and outputs, is byte-identical before and after).
//!
//! The `lm` cases go in the marked section at the end, with the same helper.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::LazyLock;

// ------------------------------------------------------------------ helpers

/// Every file and directory under `dir`, with the bytes of each file (a
/// missing `dir` is an empty snapshot), to compare before and after a run.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(root: &Path, p: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        let Ok(meta) = std::fs::symlink_metadata(p) else { return };
        let rel = p.strip_prefix(root).unwrap_or(p).to_path_buf();
        if meta.is_dir() {
            out.insert(rel, None);
            let mut entries: Vec<PathBuf> =
                std::fs::read_dir(p).unwrap().map(|e| e.unwrap().path()).collect();
            entries.sort();
            for e in entries {
                walk(root, &e, out);
            }
        } else {
            out.insert(rel, Some(std::fs::read(p).unwrap_or_default()));
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Runs `cmd` (stdin closed) and asserts a clean failure: a non-zero exit
/// that is not a panic (101) or a signal, exactly one non-empty line on
/// stderr, starting with the program's name and containing `expected`, no
/// "panicked" anywhere, and `out_dir` unchanged, file for file (so nothing
/// partial was left and no input was touched). Returns the line.
pub fn assert_clean_failure(mut cmd: Command, out_dir: &Path, expected: &str) -> String {
    let before = snapshot(out_dir);
    let what = format!("{cmd:?}");
    // Counted by `--nocapture` runs (the number of cases in the report).
    println!("bad-input case: {what}");
    let out = cmd.stdin(Stdio::null()).output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{what} panicked: {stderr}");
    let code = out.status.code();
    assert!(code.is_some(), "{what} was killed by a signal: {stderr}");
    assert!(code != Some(0) && code != Some(101), "{what}: exit {code:?}; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: expected exactly one line on stderr, got {stderr:?}");
    let prog = Path::new(cmd.get_program()).file_stem().unwrap().to_string_lossy().into_owned();
    assert!(lines[0].starts_with(&format!("{prog}: ")), "{what}: {:?}", lines[0]);
    assert!(lines[0].contains(expected), "{what}: {:?} does not contain {expected:?}", lines[0]);
    let after = snapshot(out_dir);
    if before != after {
        let changed: Vec<&PathBuf> =
            before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).collect();
        panic!("{what} changed {}: {changed:?}", out_dir.display());
    }
    lines[0].to_string()
}

fn tok(args: &[&str]) -> Command {
    let mut c = Command::new(e2e::bin("tok"));
    c.args(args);
    c
}

fn tok_ok(args: &[&str]) {
    let out = tok(args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "tok {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// Made once: a corpus, a character vocabulary (no byte fallback), a BPE
/// trained on the corpus, and the corpus encoded with each into shards
/// (the char one also as two `--part`s). Cases copy what they damage.
struct Fixture {
    _tmp: tempfile::TempDir,
    corpus: PathBuf,
    chars: PathBuf,
    bpe: PathBuf,
    shards: PathBuf,
    bpe_shards: PathBuf,
    parts: PathBuf,
}

static FIX: LazyLock<Fixture> = LazyLock::new(|| {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let corpus = root.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let mut text = String::new();
    for i in 0..400 {
        text.push_str(&format!("the king and the queen {i}, said the lord.\n"));
    }
    std::fs::write(corpus.join("a.txt"), &text).unwrap();
    std::fs::write(corpus.join("b.txt"), &text[..text.len() / 3]).unwrap();
    let chars = root.join("chars.json");
    let bpe = root.join("bpe.json");
    let (shards, bpe_shards, parts) = (root.join("shards"), root.join("bpe_shards"), root.join("parts"));
    tok_ok(&["train", s(&corpus), "--char", "-o", s(&chars), "-q"]);
    tok_ok(&["train", s(&corpus), "--vocab", "300", "-o", s(&bpe), "-q"]);
    tok_ok(&["encode", s(&corpus), "-t", s(&chars), "-o", s(&shards), "--shard-tokens", "5000", "-q"]);
    tok_ok(&["encode", s(&corpus), "-t", s(&bpe), "-o", s(&bpe_shards), "-q"]);
    for p in ["0/2", "1/2"] {
        tok_ok(&["encode", s(&corpus), "-t", s(&chars), "-o", s(&parts), "--part", p, "-q"]);
    }
    Fixture { _tmp: tmp, corpus, chars, bpe, shards, bpe_shards, parts }
});

/// A case's own directory; `copy` copies fixture directories into it.
fn case_dir(copy: &[(&Path, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (src, name) in copy {
        let dst = d.path().join(name);
        if src.is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            for e in std::fs::read_dir(src).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
            }
        } else {
            std::fs::copy(src, &dst).unwrap();
        }
    }
    d
}

/// A file with `bytes` in `dir`.
fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(path).unwrap();
    f(&mut b);
    std::fs::write(path, b).unwrap();
}

fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

const BINARY: &[u8] = b"\x00\x01\x02\xff\xfe\x00binary\x00";
/// Invalid UTF-8 after text the character vocabulary has, at byte offset 14.
const BAD_UTF8: &[u8] = b"the king said \xc3\x28 the lord\n";

/// Bad tokenizer files: (name, bytes, what the error says).
fn bad_tokenizers() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let good = std::fs::read(&FIX.chars).unwrap();
    vec![
        ("empty.json", vec![], "invalid tokenizer file: not valid JSON"),
        ("binary.json", BINARY.to_vec(), "invalid tokenizer file: not UTF-8"),
        ("bad_utf8.json", BAD_UTF8.to_vec(), "invalid tokenizer file: not UTF-8"),
        ("truncated.json", good[..good.len() / 2].to_vec(), "invalid tokenizer file: not valid JSON"),
        (
            "corrupted.json",
            String::from_utf8(good).unwrap().replacen("\"chars\": [", "\"charz\": [", 1).into_bytes(),
            "invalid tokenizer file",
        ),
    ]
}

// ------------------------------------------------------------------ tok train

#[test]
fn tok_train() {
    let d = case_dir(&[]);
    let dir = d.path();
    let out = dir.join("out.json");
    let o = s(&out);
    let corpus = s(&FIX.corpus);
    // Missing, empty, binary and invalid-UTF-8 corpora.
    assert_clean_failure(
        tok(&["train", "/no/such/corpus", "-o", o, "--vocab", "300"]),
        dir,
        "/no/such/corpus",
    );
    std::fs::create_dir_all(dir.join("empty_dir")).unwrap();
    let empty_dir = dir.join("empty_dir");
    assert_clean_failure(tok(&["train", s(&empty_dir), "-o", o, "--vocab", "300"]), dir, "no files found");
    let empty = file(dir, "empty.txt", b"");
    assert_clean_failure(tok(&["train", s(&empty), "-o", o, "--vocab", "300"]), dir, "empty");
    assert_clean_failure(tok(&["train", s(&empty), "-o", o, "--char"]), dir, "empty");
    let binary = file(dir, "binary.bin", BINARY);
    assert_clean_failure(tok(&["train", s(&binary), "-o", o, "--char"]), dir, "binary.bin");
    let bad = file(dir, "bad.txt", BAD_UTF8);
    assert_clean_failure(tok(&["train", s(&bad), "-o", o, "--char"]), dir, "bad.txt");
    // Numeric flags.
    for (v, msg) in [
        ("0", "--vocab"),
        ("-1", "--vocab"),
        ("nan", "--vocab"),
        ("99999999999999999999999", "--vocab"),
        ("100", "--vocab"),
    ] {
        assert_clean_failure(tok(&["train", corpus, "-o", o, "--vocab", v]), dir, msg);
    }
    assert_clean_failure(tok(&["train", corpus, "-o", o, "--vocab", "1000000000000"]), dir, "--vocab");
    for v in ["-1", "nan", "1e400"] {
        assert_clean_failure(
            tok(&["train", corpus, "-o", o, "--vocab", "300", "--min-frequency", v]),
            dir,
            "--min-frequency",
        );
    }
    for v in ["0", "-1", "nan", "99999999999999999999999"] {
        assert_clean_failure(
            tok(&["train", corpus, "-o", o, "--vocab", "300", "--threads", v]),
            dir,
            "--threads",
        );
    }
    // An output in a directory that does not exist.
    let nowhere = dir.join("no/such/dir/out.json");
    assert_clean_failure(
        tok(&["train", corpus, "-o", s(&nowhere), "--vocab", "300"]),
        dir,
        "no/such/dir/out.json",
    );
}

// ------------------------------------------------------------------ tok count / train --counts

/// Word-count files: (name, bytes, what the error says), from a good one.
fn bad_counts(good: &[u8]) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut flipped = good.to_vec();
    flipped[good.len() / 2] ^= 0x01;
    let mut version = good.to_vec();
    version[8] = 2;
    let mut trailing = good.to_vec();
    trailing.push(0);
    vec![
        ("empty.bin", vec![], "not a word-count file"),
        ("binary.bin", BINARY.to_vec(), "not a word-count file"),
        ("text.bin", b"the king and the queen said the lord, a text file".to_vec(), "magic"),
        ("truncated.bin", good[..good.len() / 2].to_vec(), "truncated"),
        ("no_checksum.bin", good[..good.len() - 1].to_vec(), "truncated"),
        ("flipped.bin", flipped, "invalid word-count file"),
        ("version.bin", version, "format version 2"),
        ("trailing.bin", trailing, "trailing bytes"),
    ]
}

#[test]
fn tok_count() {
    let d = case_dir(&[]);
    let dir = d.path();
    let corpus = s(&FIX.corpus);
    let good = dir.join("good.bin");
    tok_ok(&["count", corpus, "-o", s(&good), "-q"]);
    let gpt2 = dir.join("gpt2.bin");
    tok_ok(&["count", corpus, "--pattern", "gpt2", "-o", s(&gpt2), "-q"]);
    let out = dir.join("out.bin");
    let o = s(&out);
    // Corpora and flags.
    assert_clean_failure(tok(&["count", "/no/such/corpus", "-o", o]), dir, "/no/such/corpus");
    std::fs::create_dir_all(dir.join("empty_dir")).unwrap();
    assert_clean_failure(tok(&["count", s(&dir.join("empty_dir")), "-o", o]), dir, "no files found");
    for p in ["2/2", "0/0", "x", "1/nan"] {
        assert_clean_failure(tok(&["count", corpus, "-o", o, "--part", p]), dir, "--part");
    }
    assert_clean_failure(tok(&["count", corpus, "-o", o, "--pattern", "gpt5"]), dir, "--pattern");
    assert_clean_failure(tok(&["count", corpus, "-o", s(&dir.join("no/dir/x.bin"))]), dir, "no/dir/x.bin");
    // Damaged files, merged or learned from: one line naming the file.
    let bytes = std::fs::read(&good).unwrap();
    for (name, damaged, expected) in bad_counts(&bytes) {
        let sub = dir.join(format!("case-{name}"));
        std::fs::create_dir_all(&sub).unwrap();
        let bad = file(&sub, name, &damaged);
        let line =
            assert_clean_failure(tok(&["count", "--merge", s(&good), s(&bad), "-o", o]), dir, expected);
        assert!(line.contains(s(&bad)), "{line}");
        let line = assert_clean_failure(
            tok(&["train", "--counts", s(&bad), "--vocab", "300", "-o", s(&dir.join("t.json"))]),
            dir,
            expected,
        );
        assert!(line.contains(s(&bad)), "{line}");
    }
    // Mixed patterns, a missing file, a directory with no files.
    let line =
        assert_clean_failure(tok(&["count", "--merge", s(&good), s(&gpt2), "-o", o]), dir, "pattern gpt2");
    assert!(line.contains(s(&gpt2)), "{line}");
    assert_clean_failure(tok(&["count", "--merge", "/no/such.bin", "-o", o]), dir, "/no/such.bin");
    assert_clean_failure(
        tok(&["count", "--merge", s(&dir.join("empty_dir")), "-o", o]),
        dir,
        "no files found",
    );
    assert_clean_failure(
        tok(&["train", "--counts", "/no/such.bin", "--vocab", "300", "-o", s(&dir.join("t.json"))]),
        dir,
        "/no/such.bin",
    );
    assert_clean_failure(
        tok(&["train", "--counts", s(&good), "--vocab", "100", "-o", s(&dir.join("t.json"))]),
        dir,
        "--vocab",
    );
    // The output among the inputs.
    assert_clean_failure(
        tok(&["count", "--merge", s(&good), "-o", s(&good)]),
        dir,
        "the output is also one of",
    );
    // --counts with a corpus, --max-memory values.
    assert_clean_failure(
        tok(&["train", corpus, "--counts", s(&good), "--vocab", "300", "-o", s(&dir.join("t.json"))]),
        dir,
        "--counts",
    );
    for v in ["0", "-1", "nan", "2X", "1e30T", ""] {
        assert_clean_failure(
            tok(&["train", corpus, "--vocab", "300", "-o", s(&dir.join("t.json")), "--max-memory", v]),
            dir,
            "--max-memory",
        );
    }
    assert_clean_failure(
        tok(&["train", corpus, "--vocab", "300", "-o", s(&dir.join("t.json")), "--max-memory", "4K"]),
        dir,
        "--max-memory: learning from",
    );
}

// ------------------------------------------------------------------ tok tokenize / detokenize

#[test]
fn tok_tokenize() {
    let d = case_dir(&[]);
    let dir = d.path();
    let out = dir.join("ids.txt");
    let o = s(&out);
    let chars = s(&FIX.chars);
    let text = file(dir, "in.txt", b"the king\n");
    assert_clean_failure(tok(&["tokenize", "-t", chars, "/no/such/input", "-o", o]), dir, "/no/such/input");
    assert_clean_failure(
        tok(&["tokenize", "-t", "/no/such/tok.json", s(&text), "-o", o]),
        dir,
        "/no/such/tok.json",
    );
    for (name, bytes, msg) in bad_tokenizers() {
        let t = file(dir, name, &bytes);
        assert_clean_failure(
            tok(&["tokenize", "-t", s(&t), s(&text), "-o", o]),
            dir,
            &format!("{name}: {msg}"),
        );
        std::fs::remove_file(t).unwrap();
    }
    // The character vocabulary has no byte fallback: binary and invalid UTF-8 are errors naming the input.
    let binary = file(dir, "binary.bin", BINARY);
    assert_clean_failure(tok(&["tokenize", "-t", chars, s(&binary), "-o", o]), dir, "binary.bin");
    let bad = file(dir, "bad.txt", BAD_UTF8);
    assert_clean_failure(
        tok(&["tokenize", "-t", chars, s(&bad), "-o", o]),
        dir,
        "bad.txt: invalid UTF-8 at byte offset 14",
    );
    assert_clean_failure(
        tok(&["tokenize", "-t", chars, s(&text), "--allow-special", "<|nope|>", "-o", o]),
        dir,
        "<|nope|>",
    );
    for v in ["0", "-1", "nan"] {
        assert_clean_failure(
            tok(&["tokenize", "-t", chars, s(&text), "-o", o, "--threads", v]),
            dir,
            "--threads",
        );
    }
}

#[test]
fn tok_detokenize() {
    let d = case_dir(&[]);
    let dir = d.path();
    let out = dir.join("bytes.out");
    let o = s(&out);
    let chars = s(&FIX.chars);
    let ids = file(dir, "ids.txt", b"1 2 3\n");
    assert_clean_failure(tok(&["detokenize", "-t", chars, "/no/such/ids", "-o", o]), dir, "/no/such/ids");
    for (name, bytes, msg) in bad_tokenizers() {
        let t = file(dir, name, &bytes);
        assert_clean_failure(
            tok(&["detokenize", "-t", s(&t), s(&ids), "-o", o]),
            dir,
            &format!("{name}: {msg}"),
        );
        std::fs::remove_file(t).unwrap();
    }
    for (name, bytes, msg) in [
        ("range.txt", &b"1 2 999"[..], "token id 999 is out of range"),
        ("u32max.txt", b"4294967295", "token id 4294967295 is out of range"),
        ("huge.txt", b"1 99999999999", "\"99999999999\" at byte offset 2 is not a token id"),
        ("negative.txt", b"-1", "\"-1\" at byte offset 0 is not a token id"),
        ("nan.txt", b"3 nan", "\"nan\" at byte offset 2 is not a token id"),
        ("float.txt", b"1.5", "\"1.5\" at byte offset 0 is not a token id"),
        ("binary.txt", BINARY, "\"\\0\\u{1}\\u{2}"),
        ("bad_utf8.txt", BAD_UTF8, "\"the\" at byte offset 0 is not a token id"),
    ] {
        let f = file(dir, name, bytes);
        assert_clean_failure(
            tok(&["detokenize", "-t", chars, s(&f), "-o", o]),
            dir,
            &format!("{name}: {msg}"),
        );
    }
}

// ------------------------------------------------------------------ tok stats / export

#[test]
fn tok_stats_and_export() {
    let d = case_dir(&[]);
    let dir = d.path();
    let chars = s(&FIX.chars);
    let corpus = s(&FIX.corpus);
    assert_clean_failure(tok(&["stats", "/no/such/corpus", "-t", chars]), dir, "/no/such/corpus");
    std::fs::create_dir_all(dir.join("empty_dir")).unwrap();
    assert_clean_failure(tok(&["stats", s(&dir.join("empty_dir")), "-t", chars]), dir, "no files found");
    let binary = file(dir, "binary.bin", BINARY);
    assert_clean_failure(tok(&["stats", s(&binary), "-t", chars]), dir, "binary.bin");
    let bad = file(dir, "bad.txt", BAD_UTF8);
    assert_clean_failure(tok(&["stats", s(&bad), "-t", chars]), dir, "bad.txt");
    for v in ["0", "-1", "nan"] {
        assert_clean_failure(tok(&["stats", corpus, "-t", chars, "--threads", v]), dir, "--threads");
    }
    let out = dir.join("export.json");
    for (name, bytes, msg) in bad_tokenizers() {
        let t = file(dir, name, &bytes);
        assert_clean_failure(tok(&["stats", corpus, "-t", s(&t)]), dir, &format!("{name}: {msg}"));
        for format in ["hf", "tiktoken"] {
            let args = ["export", "-t", s(&t), "--format", format, "-o", s(&out)];
            assert_clean_failure(tok(&args), dir, &format!("{name}: {msg}"));
        }
        std::fs::remove_file(t).unwrap();
    }
    assert_clean_failure(
        tok(&["export", "-t", chars, "--format", "sentencepiece", "-o", s(&out)]),
        dir,
        "--format",
    );
    assert_clean_failure(
        tok(&["export", "-t", chars, "--format", "tiktoken", "-o", s(&out)]),
        dir,
        "character vocabularies",
    );
    let nowhere = dir.join("no/such/dir/out.json");
    assert_clean_failure(
        tok(&["export", "-t", s(&FIX.bpe), "--format", "hf", "-o", s(&nowhere)]),
        dir,
        "no/such/dir/out.json",
    );
}

// ------------------------------------------------------------------ tok encode

#[test]
fn tok_encode() {
    let d = case_dir(&[]);
    let dir = d.path();
    let out = dir.join("shards");
    let o = s(&out);
    let chars = s(&FIX.chars);
    let corpus = s(&FIX.corpus);
    assert_clean_failure(tok(&["encode", "/no/such/corpus", "-t", chars, "-o", o]), dir, "/no/such/corpus");
    std::fs::create_dir_all(dir.join("empty_dir")).unwrap();
    assert_clean_failure(
        tok(&["encode", s(&dir.join("empty_dir")), "-t", chars, "-o", o]),
        dir,
        "no files found",
    );
    let binary = file(dir, "binary.bin", BINARY);
    assert_clean_failure(tok(&["encode", s(&binary), "-t", chars, "-o", o]), dir, "binary.bin");
    let bad = file(dir, "bad.txt", BAD_UTF8);
    assert_clean_failure(tok(&["encode", s(&bad), "-t", chars, "-o", o]), dir, "bad.txt");
    for (name, bytes, msg) in bad_tokenizers() {
        let t = file(dir, name, &bytes);
        assert_clean_failure(tok(&["encode", corpus, "-t", s(&t), "-o", o]), dir, &format!("{name}: {msg}"));
        std::fs::remove_file(t).unwrap();
    }
    for v in ["-1", "nan", "inf", "1.5", "1e400"] {
        assert_clean_failure(
            tok(&["encode", corpus, "-t", chars, "-o", o, "--val-fraction", v]),
            dir,
            "--val-fraction",
        );
    }
    for v in ["0", "-1", "nan", "99999999999999999999999", "3000000000"] {
        assert_clean_failure(
            tok(&["encode", corpus, "-t", chars, "-o", o, "--shard-tokens", v]),
            dir,
            "--shard-tokens",
        );
    }
    for v in ["2/2", "0/0", "=-1/2", "nan/2", "1/99999999999", "1"] {
        let args = ["encode", corpus, "-t", chars, "-o", o, "--part", v];
        let args: Vec<&str> = match v.strip_prefix('=') {
            Some(v) => args[..6].iter().copied().chain([format!("--part={v}").leak() as &str]).collect(),
            None => args.to_vec(),
        };
        assert_clean_failure(tok(&args), dir, "--part");
    }
    // Not a number to clap, so an unknown option; still one line naming it.
    assert_clean_failure(
        tok(&["encode", corpus, "-t", chars, "-o", o, "--part", "-1/2"]),
        dir,
        "unexpected argument '-1'",
    );
    for v in ["0", "-1", "nan"] {
        assert_clean_failure(
            tok(&["encode", corpus, "-t", chars, "-o", o, "--threads", v]),
            dir,
            "--threads",
        );
    }
    // The output is a file, not a directory.
    let f = file(dir, "a_file", b"x");
    assert_clean_failure(tok(&["encode", corpus, "-t", chars, "-o", s(&f)]), dir, "a_file");
}

// ------------------------------------------------------------------ tok inspect

/// A copy of the char shards with `damage` applied; runs inspect on it.
fn inspect_damaged(damage: impl FnOnce(&Path), extra: &[&str], expected: &str) {
    let d = case_dir(&[(&FIX.shards, "shards")]);
    let shards = d.path().join("shards");
    damage(&shards);
    let mut args = vec!["inspect", s(&shards)];
    args.extend_from_slice(extra);
    assert_clean_failure(tok(&args), d.path(), expected);
}

#[test]
fn tok_inspect() {
    let none = |_: &Path| {};
    inspect_damaged(|d| std::fs::remove_dir_all(d).unwrap(), &[], "shards");
    inspect_damaged(|d| std::fs::remove_file(d.join("manifest.json")).unwrap(), &[], "manifest.json");
    inspect_damaged(
        |d| std::fs::write(d.join("manifest.json"), b"").unwrap(),
        &[],
        "manifest.json: not valid JSON",
    );
    inspect_damaged(|d| std::fs::write(d.join("manifest.json"), BINARY).unwrap(), &[], "manifest.json");
    inspect_damaged(
        |d| edit(&d.join("manifest.json"), |b| b.truncate(b.len() / 2)),
        &[],
        "manifest.json: not valid JSON",
    );
    // Issue 11 item 6: a non-ASCII hash made `tok inspect` panic slicing it.
    inspect_damaged(
        |d| edit_json(&d.join("manifest.json"), |v| v["tokenizer"]["content_hash"] = "é".repeat(32).into()),
        &[],
        "manifest.json: \"tokenizer.content_hash\" is",
    );
    inspect_damaged(
        |d| edit_json(&d.join("manifest.json"), |v| v["splits"]["train"]["text_hash"] = "日本".into()),
        &[],
        "manifest.json: \"splits.train.text_hash\" is \"日本\", not a hash",
    );
    inspect_damaged(
        |d| {
            edit_json(&d.join("manifest.json"), |v| {
                v["splits"]["train"]["shards"][0]["tokens"] = u64::MAX.into()
            })
        },
        &[],
        "manifest.json: train tokens",
    );
    inspect_damaged(
        |d| edit_json(&d.join("manifest.json"), |v| v["tokenizer"]["vocab_size"] = 100_000_000_000u64.into()),
        &[],
        "",
    );
    // Shards: truncated, corrupted magic, count, an id out of range.
    inspect_damaged(
        |d| edit(&d.join("train_000000.bin"), |b| b.truncate(b.len() - 3)),
        &[],
        "train_000000.bin: shard file size",
    );
    inspect_damaged(
        |d| edit(&d.join("train_000000.bin"), |b| b.truncate(100)),
        &[],
        "train_000000.bin: file too short",
    );
    inspect_damaged(
        |d| edit(&d.join("train_000000.bin"), |b| b[0] ^= 0xff),
        &[],
        "train_000000.bin: bad magic number",
    );
    inspect_damaged(
        |d| edit(&d.join("train_000000.bin"), |b| b[8] ^= 1),
        &[],
        "train_000000.bin: token count",
    );
    inspect_damaged(
        |d| edit(&d.join("train_000000.bin"), |b| b[100] = 1),
        &[],
        "train_000000.bin: reserved header int [25]",
    );
    inspect_damaged(
        |d| edit(&d.join("train_000000.bin"), |b| b[1024..1026].copy_from_slice(&60000u16.to_le_bytes())),
        &[],
        "train_000000.bin: token id 60000 is outside the vocabulary",
    );
    inspect_damaged(|d| std::fs::remove_file(d.join("val_000000.bin")).unwrap(), &[], "val_000000.bin");
    inspect_damaged(|d| std::fs::write(d.join("train_000099.bin"), b"").unwrap(), &[], "train_000099.bin");
    // The tokenizer next to the shards: damaged, or another one (mismatch).
    for (name, bytes, msg) in bad_tokenizers() {
        inspect_damaged(
            |d| std::fs::write(d.join("tokenizer.json"), &bytes).unwrap(),
            &[],
            &format!("tokenizer.json: {msg}"),
        );
        let _ = name;
    }
    inspect_damaged(
        |d| {
            std::fs::copy(&FIX.bpe, d.join("tokenizer.json")).unwrap();
        },
        &[],
        "tokenizer.json: tokenizer (the file next to the shards was changed?)",
    );
    // Numeric flags.
    for (flag, v) in [
        ("--top", "-1"),
        ("--top", "nan"),
        ("--sample", "-1"),
        ("--sample", "1e3"),
        ("--offset", "-1"),
        ("--offset", "nan"),
        ("--top", "99999999999999999999999"),
    ] {
        inspect_damaged(none, &[flag, v], flag);
    }
    inspect_damaged(none, &["--split", "test"], "--split");
}

// ------------------------------------------------------------------ tok merge-manifests

fn merge_damaged(damage: impl FnOnce(&Path), expected: &str) {
    let d = case_dir(&[(&FIX.parts, "parts")]);
    let parts = d.path().join("parts");
    damage(&parts);
    assert_clean_failure(tok(&["merge-manifests", s(&parts)]), d.path(), expected);
}

#[test]
fn tok_merge_manifests() {
    merge_damaged(|d| std::fs::remove_dir_all(d).unwrap(), "parts");
    merge_damaged(|d| std::fs::remove_file(d.join("manifest_p0.json")).unwrap(), "parts 0 of 2 are missing");
    merge_damaged(
        |d| {
            std::fs::remove_file(d.join("manifest_p0.json")).unwrap();
            std::fs::remove_file(d.join("manifest_p1.json")).unwrap();
        },
        "no partial manifests",
    );
    merge_damaged(
        |d| std::fs::write(d.join("manifest_p1.json"), b"").unwrap(),
        "manifest_p1.json: not valid JSON",
    );
    merge_damaged(|d| std::fs::write(d.join("manifest_p1.json"), BINARY).unwrap(), "manifest_p1.json");
    merge_damaged(
        |d| edit(&d.join("manifest_p0.json"), |b| b.truncate(b.len() - 10)),
        "manifest_p0.json: not valid JSON",
    );
    merge_damaged(
        |d| edit_json(&d.join("manifest_p0.json"), |v| v["part"]["count"] = u32::MAX.into()),
        "manifest_p1.json: number of parts: expected 4294967295",
    );
    merge_damaged(
        |d| {
            for p in ["manifest_p0.json", "manifest_p1.json"] {
                edit_json(&d.join(p), |v| v["part"]["count"] = u32::MAX.into());
            }
        },
        "parts 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ... of 4294967295 are missing",
    );
    merge_damaged(
        |d| edit_json(&d.join("manifest_p1.json"), |v| v["part"]["count"] = 3.into()),
        "manifest_p1.json: number of parts",
    );
    merge_damaged(
        |d| {
            edit_json(&d.join("manifest_p1.json"), |v| {
                v["splits"]["train"]["doc_hashes"][0] = "é".repeat(32).into()
            })
        },
        "manifest_p1.json: \"splits.train.doc_hashes[0]\" is",
    );
    merge_damaged(
        |d| {
            edit_json(&d.join("manifest_p0.json"), |v| {
                v["splits"]["train"]["tokens"] = u64::MAX.into();
                v["splits"]["train"]["shards"] =
                    serde_json::json!([{"file": "train_p0_000000.bin", "tokens": u64::MAX}]);
            })
        },
        "train tokens: the total over the parts passes 2^64",
    );
    // The parts of two different tokenizers.
    merge_damaged(
        |d| {
            edit_json(&d.join("manifest_p1.json"), |v| {
                v["tokenizer"]["content_hash"] = "ab".repeat(32).into()
            })
        },
        "manifest_p1.json: tokenizer (every part must be encoded the same way)",
    );
}

// ------------------------------------------------------------------ mismatched tokenizer and shards

#[test]
fn tokenizer_and_shards_that_do_not_match() {
    // The BPE shards with the char tokenizer copied in.
    let d = case_dir(&[(&FIX.bpe_shards, "shards")]);
    let shards = d.path().join("shards");
    std::fs::copy(&FIX.chars, shards.join("tokenizer.json")).unwrap();
    assert_clean_failure(
        tok(&["inspect", s(&shards)]),
        d.path(),
        "tokenizer.json: tokenizer (the file next to the shards was changed?)",
    );
    // Char shards under a BPE-encoded manifest: widths agree, hashes do not.
    let d = case_dir(&[(&FIX.shards, "shards")]);
    let shards = d.path().join("shards");
    let bpe_manifest = std::fs::read(FIX.bpe_shards.join("manifest.json")).unwrap();
    std::fs::write(shards.join("manifest.json"), bpe_manifest).unwrap();
    assert_clean_failure(tok(&["inspect", s(&shards)]), d.path(), "shards");
}

// ------------------------------------------------------------------ kill -9 during tok encode

/// `tok encode` killed with SIGKILL while writing shards, then run again:
/// the rerun succeeds and its directory is identical, file for file, to an
/// uninterrupted run's (the killed run's temporary files are gone).
#[test]
fn kill_9_during_encode_then_rerun_gives_the_same_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let line = "the king and the queen, said the lord; thou art not what is love 0123456789\n";
    for i in 0..16 {
        std::fs::write(corpus.join(format!("f{i:02}.txt")), format!("{i} {line}").repeat(15_000)).unwrap();
    }
    let run = |out: &Path| -> Vec<String> {
        [
            "encode",
            s(&corpus),
            "-t",
            s(&FIX.bpe),
            "-o",
            s(out),
            "--shard-tokens",
            "200K",
            "--threads",
            "1",
            "-q",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let reference = tmp.path().join("reference");
    let args = run(&reference);
    tok_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let out = tmp.path().join("out");
    let args = run(&out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child =
        tok(&args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Kill as soon as a shard is being written.
    let start = std::time::Instant::now();
    let writing = || {
        std::fs::read_dir(&out)
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".tmp")))
            .unwrap_or(false)
    };
    while !writing() && child.try_wait().unwrap().is_none() && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before it could be killed");
    assert!(!out.join("manifest.json").exists());
    // Something of the killed run is left (a temporary file or a finished
    // shard, depending on the moment of the kill).
    assert!(
        std::fs::read_dir(&out).unwrap().count() > 0,
        "the killed run left nothing: the case is not exercised"
    );

    tok_ok(&args);
    assert_eq!(snapshot(&out), snapshot(&reference));
}

// ================================================================== lm
//
// The `lm` cases go here: build the command with `e2e::bin("lm")`, point it
// at a copy of a fixture in a `case_dir`, and call
// `assert_clean_failure(cmd, case_dir.path(), "the flag or file and problem")`.
