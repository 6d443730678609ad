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
//! The `lm` cases (train, resume, eval, sample, compare, experiment, bench)
//! follow the `tok` ones, and a run killed with SIGKILL is resumed.

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
pub fn assert_clean_failure(cmd: Command, out_dir: &Path, expected: &str) -> String {
    check_failure(cmd, out_dir, expected, false)
}

/// [`assert_clean_failure`] for a command that reports progress on stderr
/// before it fails (`lm train`'s evaluations, `lm experiment`'s plan): the
/// error is the one line starting with the program's name, and it is last.
pub fn assert_clean_failure_after_progress(cmd: Command, out_dir: &Path, expected: &str) -> String {
    check_failure(cmd, out_dir, expected, true)
}

fn check_failure(mut cmd: Command, out_dir: &Path, expected: &str, progress: bool) -> String {
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
    let prog = Path::new(cmd.get_program()).file_stem().unwrap().to_string_lossy().into_owned();
    let prefix = format!("{prog}: ");
    let lines: Vec<&str> = stderr.lines().filter(|l| !progress || l.starts_with(&prefix)).collect();
    assert_eq!(lines.len(), 1, "{what}: expected exactly one error line on stderr, got {stderr:?}");
    assert!(lines[0].starts_with(&prefix), "{what}: {:?}", lines[0]);
    if progress {
        assert_eq!(
            stderr.lines().last(),
            Some(lines[0]),
            "{what}: the error is not the last line: {stderr:?}"
        );
    }
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
    for v in ["0", "-1", "nan", "99999999999999999999999", "100000"] {
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
        &format!("{}: directory {} does not exist", nowhere.display(), dir.join("no/such/dir").display()),
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
        "the output is also an input",
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
    for v in ["0", "-1", "nan", "100000"] {
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
        ("huge.txt", b"1 99999999999", "token id 99999999999 at byte offset 2 is out of range"),
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
    for v in ["0", "-1", "nan", "100000"] {
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
    for v in ["0", "-1", "nan", "100000"] {
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
    // The char shards' manifest saying their tokenizer is a BPE (the hash
    // and size still those of the char file): it was accepted.
    let d = case_dir(&[(&FIX.shards, "shards")]);
    let shards = d.path().join("shards");
    edit_json(&shards.join("manifest.json"), |v| v["tokenizer"]["kind"] = "bpe".into());
    assert_clean_failure(
        tok(&["inspect", s(&shards)]),
        d.path(),
        "tokenizer.json: tokenizer (the file next to the shards was changed?)",
    );
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

/// Damage done to a copy of a run directory.
type Damage = dyn Fn(&Path);

fn lm(args: &[&str]) -> Command {
    let mut c = Command::new(e2e::bin("lm"));
    c.args(args);
    c
}

/// The flags of a tiny model, so that the cases that do train are quick.
const TINY: &[&str] = &["--hidden", "16", "--layers", "1", "--seq", "16", "--batch", "4", "-q"];

/// [`TINY`] without the flags `extra` sets (clap refuses a flag given twice).
fn tiny_except(extra: &[&str]) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < TINY.len() {
        let takes_value = TINY[i] != "-q";
        if !extra.contains(&TINY[i]) {
            out.extend_from_slice(&TINY[i..i + 1 + usize::from(takes_value)]);
        }
        i += 1 + usize::from(takes_value);
    }
    out
}

/// Made once: a finished 3-step run of a tiny model on the fixture's char
/// shards. Cases copy it into their own directory before damaging it.
static RUN: LazyLock<(tempfile::TempDir, PathBuf)> = LazyLock::new(|| {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut args = vec!["train", s(&FIX.shards), "-o", s(&run), "--steps", "3"];
    args.extend_from_slice(TINY);
    let out = lm(&args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (tmp, run)
});

fn fixture_run() -> &'static Path {
    &RUN.1
}

/// `lm train SHARDS -o DIR/out --steps 3 <tiny> <extra>`.
fn train_cmd(shards: &Path, dir: &Path, extra: &[&str]) -> Command {
    let out = dir.join("out");
    let mut c = lm(&["train", s(shards), "-o", s(&out), "--steps", "3"]);
    c.args(tiny_except(extra)).args(extra);
    c
}

/// Every numeric flag of `lm train` at 0, negative, NaN and huge, where the
/// value is refused: (flag, values, what the error says).
const TRAIN_FLAGS: &[(&str, &[&str], &str)] = &[
    ("--hidden", &["0", "-1", "nan", "99999999999999999999999"], "--hidden"),
    ("--layers", &["0", "-1", "nan", "99999999999999999999999"], "--layers"),
    ("--embed", &["0", "-1", "nan", "99999999999999999999999"], "--embed"),
    ("--seq", &["0", "-1", "nan", "99999999999999999999999"], "seq"),
    ("--batch", &["0", "-1", "nan", "99999999999999999999999"], "batch"),
    ("--lr", &["0", "-1", "nan", "inf", "1e999"], "--lr"),
    ("--warmup", &["-1", "nan", "99999999999999999999999"], "--warmup"),
    ("--min-lr-ratio", &["-1", "nan", "2"], "--min-lr-ratio"),
    ("--weight-decay", &["-1", "nan", "inf"], "--weight-decay"),
    ("--clip", &["-1", "nan", "inf"], "--clip"),
    ("--eval-every", &["0", "-1", "nan"], "--eval-every"),
    ("--eval-bytes", &["0", "-1", "nan", "99999999999999999999999"], "--eval-bytes"),
    ("--seed", &["-1", "nan", "99999999999999999999999"], "--seed"),
    ("--threads", &["0", "-1", "nan", "99999999999999999999999", "100000"], "--threads"),
];

/// The budgets, which replace `--steps 3`.
const BUDGET_FLAGS: &[(&str, &[&str], &str)] = &[
    ("--steps", &["0", "-1", "nan", "99999999999999999999999"], "--steps"),
    ("--tokens", &["0", "-1", "nan", "1e30"], "--tokens"),
    ("--chars", &["0", "-1", "nan", "1e30"], "--chars"),
    ("--flops", &["0", "-1", "nan", "inf"], "--flops"),
    ("--time", &["0", "-1", "nan", "inf"], "--time"),
];

#[test]
fn lm_train() {
    let d = case_dir(&[(&FIX.shards, "shards"), (&FIX.bpe, "bpe.json")]);
    let dir = d.path();
    let shards = dir.join("shards");
    // Missing, empty and damaged shard directories.
    assert_clean_failure(train_cmd(Path::new("/no/such/shards"), dir, &[]), dir, "/no/such/shards");
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    assert_clean_failure(train_cmd(&dir.join("empty"), dir, &[]), dir, "manifest.json");
    let damaged = |_what: &str, f: &dyn Fn(&Path)| {
        let c = case_dir(&[(&FIX.shards, "shards")]);
        f(&c.path().join("shards"));
        c
    };
    let c = damaged("truncated", &|d| edit(&d.join("train_000001.bin"), |b| b.truncate(3000)));
    assert_clean_failure(train_cmd(&c.path().join("shards"), c.path(), &[]), c.path(), "train_000001.bin");
    let c = damaged("magic", &|d| edit(&d.join("train_000000.bin"), |b| b[..4].fill(0)));
    assert_clean_failure(train_cmd(&c.path().join("shards"), c.path(), &[]), c.path(), "train_000000.bin");
    let c = damaged("manifest", &|d| edit(&d.join("manifest.json"), |b| b.truncate(b.len() / 2)));
    assert_clean_failure(train_cmd(&c.path().join("shards"), c.path(), &[]), c.path(), "manifest.json");
    let c = damaged("tokenizer", &|d| std::fs::copy(&FIX.bpe, d.join("tokenizer.json")).map(drop).unwrap());
    assert_clean_failure(train_cmd(&c.path().join("shards"), c.path(), &[]), c.path(), "tokenizer.json");
    // An id out of the vocabulary in the validation shard: found by the
    // first evaluation, before any checkpoint, so no run is left behind.
    let c = damaged("ids", &|d| edit(&d.join("val_000000.bin"), |b| b[1024 + 76..1024 + 78].fill(0xff)));
    let line = assert_clean_failure_after_progress(
        train_cmd(&c.path().join("shards"), c.path(), &[]),
        c.path(),
        "val_000000.bin",
    );
    assert!(line.contains("token 38") && line.contains("65535"), "{line}");

    // Numeric flags.
    for (flag, values, expected) in TRAIN_FLAGS {
        for v in *values {
            assert_clean_failure(train_cmd(&shards, dir, &[flag, v]), dir, expected);
        }
    }
    for (flag, values, expected) in BUDGET_FLAGS {
        for v in *values {
            let out = dir.join("out");
            let mut c = lm(&["train", s(&shards), "-o", s(&out), flag, v]);
            c.args(TINY);
            assert_clean_failure(c, dir, expected);
        }
    }
    // Sizes the machine cannot hold, refused with the figure.
    for (flag, v) in [("--hidden", "100000"), ("--batch", "1000000000"), ("--embed", "4294967297")] {
        let line = assert_clean_failure(train_cmd(&shards, dir, &[flag, v]), dir, "GiB of memory");
        assert!(line.contains(flag), "{line}");
    }
    // A window longer than the data.
    assert_clean_failure(train_cmd(&shards, dir, &["--seq", "50000"]), dir, "use a shorter sequence length");
    assert_clean_failure(train_cmd(&shards, dir, &["--tie", "--embed", "8"]), dir, "--tie");
    // No budget, or two.
    let out = dir.join("out");
    assert_clean_failure(lm(&["train", s(&shards), "-o", s(&out), "-q"]), dir, "--steps");
    assert_clean_failure(train_cmd(&shards, dir, &["--tokens", "100"]), dir, "--tokens");
    // --resume without a run; a run without --resume.
    assert_clean_failure(train_cmd(&shards, dir, &["--resume"]), dir, "no run to resume");
    let c = case_dir(&[(&FIX.shards, "shards"), (fixture_run(), "out")]);
    assert_clean_failure(train_cmd(&c.path().join("shards"), c.path(), &[]), c.path(), "already exists");
    // A file where the run directory goes.
    let f = file(dir, "a_file", b"x");
    let mut c = lm(&["train", s(&shards), "-o", s(&f), "--steps", "3"]);
    c.args(TINY);
    assert_clean_failure(c, dir, "a_file: exists and is not a directory");
    // A learning rate that blows the loss up to huge finite values: the run
    // finishes and prints them in scientific notation, not as 30 digits.
    let huge = dir.join("huge_lr");
    let o = lm(&["train", s(&shards), "-o", s(&huge), "--steps", "3", "--lr", "1e30"])
        .args(TINY)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{text}");
    let longest = text.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0);
    assert!(text.contains("finished at step 3") && text.contains("e3") && longest < 12, "{text}");
}

/// `lm train --resume` of a run whose files were damaged or whose shards
/// are not the ones it was trained on.
#[test]
fn lm_train_resume() {
    // An unfinished run: the fixture with 3 more steps to go.
    let unfinished = |c: &tempfile::TempDir| {
        let run = c.path().join("out");
        edit_json(&run.join("state.json"), |v| {
            v["status"] = "interrupted".into();
            v["target_steps"] = 6.into();
        });
        edit_json(&run.join("config.json"), |v| v["train"]["budget"]["steps"] = 6.into());
        run
    };
    let resume = |c: &tempfile::TempDir, shards: &Path| {
        let mut cmd = lm(&["train", s(shards), "-o", s(&c.path().join("out")), "--resume", "-q"]);
        cmd.args(["--steps", "6"]);
        cmd
    };
    let cases: &[(&str, &Damage, &str)] = &[
        ("state", &|r| std::fs::write(r.join("state.json"), "garbage").unwrap(), "state.json"),
        ("config", &|r| edit(&r.join("config.json"), |b| b.truncate(b.len() / 2)), "config.json"),
        ("model", &|r| edit(&r.join("model.safetensors"), |b| b.truncate(b.len() / 2)), "model.safetensors"),
        (
            "optimizer",
            &|r| edit(&r.join("optimizer.safetensors"), |b| b.truncate(100)),
            "optimizer.safetensors",
        ),
        ("model header", &|r| edit(&r.join("model.safetensors"), |b| b[..8].fill(0xff)), "model.safetensors"),
        ("tokenizer", &|r| std::fs::copy(&FIX.bpe, r.join("tokenizer.json")).map(drop).unwrap(), "tokenizer"),
    ];
    for (name, damage, expected) in cases {
        let c = case_dir(&[(&FIX.shards, "shards"), (fixture_run(), "out")]);
        let run = unfinished(&c);
        damage(&run);
        let line = assert_clean_failure(resume(&c, &c.path().join("shards")), c.path(), expected);
        assert!(!line.is_empty(), "{name}");
    }
    // The BPE shards under a char run.
    let c = case_dir(&[(&FIX.bpe_shards, "bpe_shards"), (fixture_run(), "out")]);
    unfinished(&c);
    assert_clean_failure(resume(&c, &c.path().join("bpe_shards")), c.path(), "bpe_shards");
    // A stored setting given again with another value is refused (it was
    // dropped without a word: `--steps 8` on a finished run printed
    // "finished at step 3"); the same values, or none, are accepted.
    let c = case_dir(&[(&FIX.shards, "shards"), (fixture_run(), "out")]);
    let (shards, out) = (c.path().join("shards"), c.path().join("out"));
    let base = ["train", s(&shards), "-o", s(&out), "--resume", "-q"];
    for (flag, value) in [
        ("--steps", "8"),
        ("--flops", "1e12"),
        ("--hidden", "32"),
        ("--embed", "4"),
        ("--layers", "2"),
        ("--cell", "rnn"),
        ("--seq", "7"),
        ("--batch", "3"),
        ("--lr", "0.01"),
        ("--seed", "9"),
        ("--clip", "0.5"),
        ("--eval-every", "5s"),
    ] {
        let mut args = base.to_vec();
        args.extend([flag, value]);
        let line = assert_clean_failure(lm(&args), c.path(), flag);
        assert!(line.contains("a resumed run keeps the settings"), "{line}");
    }
    let mut same = base.to_vec();
    same.extend(["--steps", "3"]);
    same.extend(tiny_except(&["-q"]));
    for args in [base.to_vec(), same] {
        let o = lm(&args).stdin(Stdio::null()).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn lm_eval_and_sample() {
    let d = case_dir(&[(fixture_run(), "run"), (&FIX.bpe_shards, "bpe_shards"), (&FIX.shards, "shards")]);
    let dir = d.path();
    let run = dir.join("run");
    let r = s(&run);
    for cmd in ["eval", "sample"] {
        assert_clean_failure(lm(&[cmd, "/no/such/run"]), dir, "/no/such/run: no such run directory");
        let f = run.join("config.json");
        assert_clean_failure(lm(&[cmd, s(&f)]), dir, "config.json: is not a run directory (a file)");
        std::fs::create_dir_all(dir.join("empty")).unwrap();
        assert_clean_failure(
            lm(&[cmd, s(&dir.join("empty"))]),
            dir,
            "empty: is not a run directory (no config.json",
        );
        let cases: &[(&Damage, &str)] = &[
            (&|r| edit(&r.join("model.safetensors"), |b| b.truncate(b.len() / 2)), "model.safetensors"),
            (&|r| edit(&r.join("model.safetensors"), |b| b[..8].fill(0xff)), "model.safetensors"),
            (&|r| std::fs::write(r.join("model.safetensors"), BINARY).unwrap(), "model.safetensors"),
            (&|r| std::fs::remove_file(r.join("model.safetensors")).unwrap(), "model.safetensors"),
            (&|r| edit(&r.join("config.json"), |b| b.truncate(b.len() / 2)), "config.json"),
            (&|r| std::fs::write(r.join("config.json"), BAD_UTF8).unwrap(), "config.json"),
            (&|r| std::fs::copy(&FIX.bpe, r.join("tokenizer.json")).map(drop).unwrap(), "tokenizer.json"),
            // Missing, it is not looked for by name in the current directory.
            (&|r| std::fs::remove_file(r.join("tokenizer.json")).unwrap(), "tokenizer.json: missing"),
            (
                &|r| edit_json(&r.join("config.json"), |v| v["model"]["hidden"] = 32.into()),
                "model.safetensors",
            ),
        ];
        for (damage, expected) in cases {
            let c = case_dir(&[(fixture_run(), "run")]);
            damage(&c.path().join("run"));
            assert_clean_failure(lm(&[cmd, s(&c.path().join("run"))]), c.path(), expected);
        }
        for v in ["0", "-1", "nan", "99999999999999999999999", "100000"] {
            assert_clean_failure(lm(&[cmd, r, "--threads", v]), dir, "--threads");
        }
    }
    // eval: shards of another tokenizer, an id out of range, batch sizes.
    assert_clean_failure(lm(&["eval", r, "--shards", s(&dir.join("bpe_shards"))]), dir, "bpe_shards");
    let c = case_dir(&[(fixture_run(), "run"), (&FIX.shards, "shards")]);
    edit(&c.path().join("shards/val_000000.bin"), |b| b[1024 + 76..1024 + 78].fill(0xff));
    let line = assert_clean_failure(
        lm(&["eval", s(&c.path().join("run")), "--shards", s(&c.path().join("shards"))]),
        c.path(),
        "val_000000.bin",
    );
    assert!(line.contains("65535"), "{line}");
    for v in ["0", "-1", "nan", "99999999999999999999999"] {
        assert_clean_failure(lm(&["eval", r, "--batch", v]), dir, "--batch");
    }
    assert_clean_failure(lm(&["eval", r, "--batch", "1000000000"]), dir, "GiB of memory");
    assert_clean_failure(lm(&["eval", r, "--split", "test"]), dir, "--split");
    // sample: numeric flags and a prompt outside the vocabulary.
    for (flag, values, expected) in [
        ("--tokens", &["-1", "nan", "99999999999999999999999"][..], "--tokens"),
        ("--temperature", &["-1", "nan", "inf", "1e308"][..], "temperature"),
        ("--top-k", &["0", "-1", "nan", "99999999999999999999999"][..], "top-k"),
        ("--seed", &["-1", "nan", "99999999999999999999999"][..], "--seed"),
    ] {
        for v in values {
            assert_clean_failure(lm(&["sample", r, flag, v]), dir, expected);
        }
    }
    assert_clean_failure(lm(&["sample", r, "--prompt", "the kingdom ✓"]), dir, "--prompt");
    // A failure prints nothing to stdout (the prompt went out first).
    for args in [vec!["sample", r, "--prompt", "the kingdom ✓"], vec!["sample", r, "--top-k", "0"]] {
        let out = lm(&args).current_dir(dir).stdin(Stdio::null()).output().unwrap();
        assert!(!out.status.success() && out.stdout.is_empty(), "{args:?}: {:?}", out.stdout);
    }
    // A count far beyond memory streams until the reader goes away (`| head
    // -c 200`): a clean exit, not an abort on reserving 400 GB up front.
    let mut child = lm(&["sample", r, "--tokens", "99999999999", "--threads", "1"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 200];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut head).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "lm sample --tokens 99999999999 | head: {:?}, stderr: {stderr}",
        out.status
    );
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn lm_compare() {
    let d = case_dir(&[(fixture_run(), "run")]);
    let dir = d.path();
    let run = dir.join("run");
    let report = dir.join("report");
    assert_clean_failure(lm(&["compare", "/no/such/run", "-o", s(&report)]), dir, "/no/such/run");
    // The same run twice, under two spellings of its path.
    let again = dir.join("run/../run");
    assert_clean_failure(lm(&["compare", s(&run), s(&again), "-o", s(&report)]), dir, "given twice");
    // The directory that holds the runs, not a run (it read "config.json: No
    // such file or directory").
    assert_clean_failure(lm(&["compare", s(dir)]), dir, "is not a run directory (no config.json");
    let cases: &[(&Damage, &str)] = &[
        (&|r| std::fs::write(r.join("state.json"), "garbage").unwrap(), "state.json"),
        (&|r| edit(&r.join("config.json"), |b| b.truncate(b.len() / 2)), "config.json"),
    ];
    for (damage, expected) in cases {
        let c = case_dir(&[(fixture_run(), "run"), (fixture_run(), "good")]);
        damage(&c.path().join("run"));
        let (good, bad, out) = (c.path().join("good"), c.path().join("run"), c.path().join("report"));
        assert_clean_failure(lm(&["compare", s(&good), s(&bad), "-o", s(&out)]), c.path(), expected);
    }
    assert_clean_failure(
        lm(&["compare", s(&run), "--reference", "no_such_tokenizer"]),
        dir,
        "no_such_tokenizer",
    );
}

#[test]
fn lm_experiment() {
    let d = case_dir(&[]);
    let dir = d.path();
    let out = dir.join("ex");
    let o = s(&out);
    let corpus = s(&FIX.corpus);
    let experiment = |input: &str, extra: &[&str]| {
        let mut c = lm(&["experiment", input, "-o", o, "--steps", "2"]);
        if !extra.contains(&"--vocab") {
            c.args(["--vocab", "char"]);
        }
        c.args(tiny_except(extra)).args(extra);
        c
    };
    assert_clean_failure(experiment("/no/such/corpus", &[]), dir, "/no/such/corpus");
    std::fs::create_dir_all(dir.join("empty_dir")).unwrap();
    assert_clean_failure(experiment(s(&dir.join("empty_dir")), &[]), dir, "no files found");
    let empty = file(dir, "empty.txt", b"");
    assert_clean_failure_after_progress(experiment(s(&empty), &[]), dir, "empty");
    let binary = file(dir, "binary.bin", BINARY);
    assert_clean_failure_after_progress(experiment(s(&binary), &[]), dir, "binary.bin");
    let bad = file(dir, "bad.txt", BAD_UTF8);
    assert_clean_failure_after_progress(experiment(s(&bad), &[]), dir, "bad.txt");
    for (flag, values, expected) in [
        ("--vocab", &["100", "foo", ",", "-1", "nan", "99999999999999999999999"][..], "--vocab"),
        ("--flops", &["0", "-1", "nan", "inf"][..], "--flops"),
        ("--val-fraction", &["0", "1", "-1", "nan"][..], "--val-fraction"),
        ("--sample-chars", &["-1", "nan", "99999999999999999999999"][..], "--sample-chars"),
        ("--temperature", &["-1", "nan", "inf", "1e308"][..], "--temperature"),
        ("--pattern", &["foo"][..], "--pattern"),
        ("--reference", &["no_such_tokenizer"][..], "no_such_tokenizer"),
        ("--hidden", &["0", "-1"][..], "--hidden"),
        ("--seq", &["0", "-1"][..], "seq"),
        ("--batch", &["0", "-1"][..], "batch"),
        ("--lr", &["0", "nan"][..], "--lr"),
        ("--threads", &["0", "-1", "100000"][..], "--threads"),
    ] {
        for v in values {
            assert_clean_failure(experiment(corpus, &[flag, v]), dir, expected);
        }
    }
    // The prompt of every model's sample: empty, refused before anything is
    // written; outside the char vocabulary, refused once the tokenizers
    // exist and before any model trains (it used to fail after them all).
    assert_clean_failure(experiment(corpus, &["--prompt", ""]), dir, "the prompt");
    let line = assert_clean_failure_after_progress(
        experiment(corpus, &["--prompt", "the kingdom ✓"]),
        dir,
        "the prompt",
    );
    assert!(line.contains("the prompt") && line.contains("(vocabulary char)"), "{line}");
    let trained: Vec<PathBuf> = snapshot(&out).into_keys().filter(|p| p.ends_with("config.json")).collect();
    assert!(trained.is_empty(), "runs were started: {trained:?}");
}

#[test]
fn lm_bench() {
    let d = case_dir(&[]);
    let dir = d.path();
    for (flag, v, expected) in [
        ("--steps", "0", "--steps"),
        ("--batch", "0", "--batch"),
        ("--seq", "0", "--seq"),
        ("--hidden", "0", "hidden"),
        ("--layers", "0", "layers"),
        ("--vocab", "0", "vocab"),
        ("--hidden", "-1", "--hidden"),
        ("--steps", "nan", "--steps"),
        ("--hidden", "100000", "GiB of memory"),
        ("--isa", "foo", "--isa"),
        ("--threads", "0", "--threads"),
        ("--threads", "100000", "--threads"),
    ] {
        let mut c = lm(&["bench", flag, v, "--sample-tokens", "0"]);
        c.current_dir(dir);
        assert_clean_failure(c, dir, expected);
    }
}

// ------------------------------------------------------------------ kill -9 during lm train

/// `lm train` killed with SIGKILL after a checkpoint, then `--resume`d: the
/// resumed run finishes, its metrics parse line by line, and its weights are
/// bit-identical to an uninterrupted run's (the data order is a function of
/// the step, and the checkpoint holds the optimizer's state).
#[test]
fn kill_9_during_train_then_resume_gives_the_same_model() {
    let tmp = tempfile::tempdir().unwrap();
    let args = |out: &Path| -> Vec<String> {
        let mut a: Vec<String> = [
            "train",
            s(&FIX.shards),
            "-o",
            s(out),
            "--steps",
            "400",
            "--eval-every",
            "0.05s",
            "--eval-bytes",
            "500",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        a.extend(
            ["--hidden", "32", "--layers", "1", "--seq", "32", "--batch", "8", "-q", "--threads", "1"]
                .map(String::from),
        );
        a
    };
    let reference = tmp.path().join("reference");
    let a = args(&reference);
    let out = lm(&a.iter().map(String::as_str).collect::<Vec<_>>()).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let run = tmp.path().join("run");
    let a = args(&run);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut child = lm(&a).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Kill once a checkpoint after step 0 exists.
    let start = std::time::Instant::now();
    let past_zero = || {
        std::fs::read_to_string(run.join("state.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["step"].as_u64())
            .is_some_and(|s| s > 0)
    };
    while !past_zero() && child.try_wait().unwrap().is_none() && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before it could be killed");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("state.json")).unwrap()).unwrap();
    let step = state["step"].as_u64().unwrap();
    assert!(step > 0 && step < 2000, "killed at step {step}");
    // Restarting without --resume is refused; --resume finishes the run.
    assert_clean_failure(lm(&a), tmp.path().join("run").as_path(), "--resume");
    let mut resumed = a.clone();
    resumed.push("--resume");
    let out = lm(&resumed).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Byte for byte: the same weights give the same file.
    for f in ["model.safetensors", "optimizer.safetensors"] {
        let (a, b) = (std::fs::read(run.join(f)).unwrap(), std::fs::read(reference.join(f)).unwrap());
        assert!(a == b, "the resumed run's {f} differs from the uninterrupted one's");
    }
    for line in std::fs::read_to_string(run.join("metrics.jsonl")).unwrap().lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    }
    // No temporary files are left.
    for e in std::fs::read_dir(&run).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp"), "{name} left in the run directory");
    }
}

// ------------------------------------------------------------------ SIGTERM during lm train

/// SIGTERM (what `timeout` sends; Ctrl-C takes the same path) during `lm
/// train` saves a checkpoint and exits with 130 ("cancelled" last on
/// stderr); the run is marked interrupted, holds no temporary file, and
/// `--resume` continues it. The wait is bounded only to turn a hang into a
/// failure, not to time anything.
#[test]
fn sigterm_during_train_saves_an_interrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let child = lm(&["train", s(&FIX.shards), "-o", s(&run), "--steps", "1000000", "--eval-every", "0.05s"])
        .args(["--hidden", "64", "--layers", "1", "--seq", "32", "--batch", "8", "-q", "--threads", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert_sigterm_cancels(child, &run);
    // The checkpoint loads: eval works on it.
    let out = lm(&["eval", s(&run), "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// SIGTERM during `lm experiment`'s training is a cancel as in `lm train`:
/// exit 130 and "lm: cancelled" (it was exit 1 and "stopped before the end
/// of its budget", which a script cannot tell from a failure).
#[test]
fn sigterm_during_experiment_is_a_cancel() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("exp");
    let child = lm(&["experiment", s(&FIX.corpus), "--vocab", "char", "-o", s(&out), "--reference", "none"])
        .args(["--steps", "1000000", "--eval-every", "0.05s", "--hidden", "32", "--layers", "1"])
        .args(["--seq", "16", "--batch", "4", "-q", "--threads", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert_sigterm_cancels(child, &out.join("runs/char"));
}

/// Sends SIGTERM to `child` once `run/state.json` exists, and checks the
/// cancel: exit 130, "lm: cancelled" last on stderr, the run marked
/// interrupted with no temporary file left. The waits are bounded only to
/// turn a hang into a failure, not to time anything.
fn assert_sigterm_cancels(mut child: std::process::Child, run: &Path) {
    let start = std::time::Instant::now();
    while !run.join("state.json").exists() && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} did not stop after SIGTERM", run.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert_eq!(err.lines().last(), Some("lm: cancelled"), "{err}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["status"], "interrupted");
    for e in std::fs::read_dir(run).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp"), "{name} left in the run directory");
    }
}

/// Runs `cmd` with its stdout and/or stderr a pipe whose reader is already
/// gone (`cmd | true`), and returns its exit code.
fn exit_with_closed_pipes(mut cmd: Command, dir: &Path, stdout: bool, stderr: bool) -> Option<i32> {
    let pipe = |closed: bool| if closed { Stdio::piped() } else { Stdio::null() };
    let mut child =
        cmd.current_dir(dir).stdin(Stdio::null()).stdout(pipe(stdout)).stderr(pipe(stderr)).spawn().unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    child.wait().unwrap().code()
}

/// A reader that goes away (`tok inspect dir | head -1`, `lm eval run |
/// true`) ends a command quietly with its own exit code: these panicked
/// with "failed printing to stdout: Broken pipe" (exit 101), and any error
/// message to a closed stderr did the same.
#[test]
fn closed_pipes_end_commands_without_a_panic() {
    let d = case_dir(&[(fixture_run(), "run"), (&FIX.shards, "shards")]);
    let dir = d.path();
    let (run, shards) = (dir.join("run"), dir.join("shards"));
    let ok: &[Vec<&str>] =
        &[vec!["inspect", s(&shards)], vec!["inspect", s(&shards), "--split", "val", "--sample", "5"]];
    for args in ok {
        assert_eq!(exit_with_closed_pipes(tok(args), dir, true, false), Some(0), "tok {args:?} | true");
        assert_eq!(exit_with_closed_pipes(tok(args), dir, true, true), Some(0), "tok {args:?} 2>&1 | true");
    }
    let ok: &[Vec<&str>] = &[
        vec!["eval", s(&run)],
        vec!["eval", s(&run), "--json"],
        vec!["compare", s(&run)],
        vec!["compare", s(&run), "--json"],
        vec!["bench", "--hidden", "8", "--steps", "1", "--threads", "1", "--sample-tokens", "10"],
        vec!["sample", s(&run), "--tokens", "20"],
    ];
    for args in ok {
        assert_eq!(exit_with_closed_pipes(lm(args), dir, true, false), Some(0), "lm {args:?} | true");
        assert_eq!(exit_with_closed_pipes(lm(args), dir, true, true), Some(0), "lm {args:?} 2>&1 | true");
    }
    // Errors keep their exit code when there is nowhere to print them.
    let same = [s(&run), s(&run)];
    let twice = ["compare", same[0], same[1]];
    assert_eq!(
        exit_with_closed_pipes(lm(&twice), dir, false, true),
        Some(1),
        "lm compare run run 2>&1 | true"
    );
    assert_eq!(exit_with_closed_pipes(lm(&["eval", "/no/such/run"]), dir, true, true), Some(1));
    // Training finishes (and saves) with its progress going nowhere.
    assert_eq!(exit_with_closed_pipes(train_cmd(&shards, dir, &[]), dir, true, true), Some(0));
    let state = std::fs::read_to_string(dir.join("out/state.json")).unwrap();
    assert!(state.contains("finished"), "{state}");
}

/// A full stdout (`> /dev/full`) is an error with exit code 1 and a message
/// naming stdout, for `--help` and `--version` too: those printed nothing
/// and exited 0.
#[test]
fn a_full_stdout_is_an_error() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("skipped: no /dev/full on this system");
        return;
    }
    let d = case_dir(&[(&FIX.chars, "chars.json")]);
    let dir = d.path();
    let chars = dir.join("chars.json");
    let ids = dir.join("ids.txt");
    std::fs::write(&ids, "1 2 3\n").unwrap();
    let cases: [(Command, &str); 6] = [
        (tok(&["--help"]), "tok --help"),
        (tok(&["--version"]), "tok --version"),
        (tok(&["train", "--help"]), "tok train --help"),
        (lm(&["--help"]), "lm --help"),
        (lm(&["train", "--help"]), "lm train --help"),
        (tok(&["detokenize", "-t", s(&chars), s(&ids)]), "tok detokenize"),
    ];
    for (mut cmd, name) in cases {
        let out = cmd
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::OpenOptions::new().write(true).open(full).unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name} > /dev/full: {err}");
        assert!(err.contains("<stdout>") && err.lines().count() == 1, "{name} > /dev/full: {err:?}");
    }
}

/// An output that is an input under any spelling, or inside an input
/// directory, is refused before anything is read or written: `tok train
/// in.txt -o in.txt` replaced the corpus with the tokenizer (exit 0), and
/// `tok tokenize`, `tok detokenize`, `tok export` and `tok count` did the
/// same to their inputs.
#[test]
fn outputs_never_replace_inputs() {
    let d = case_dir(&[(&FIX.corpus, "corpus")]);
    let dir = d.path();
    let corpus = dir.join("corpus");
    let a = corpus.join("a.txt");
    let again = corpus.join("../corpus/./a.txt");
    std::fs::copy(&FIX.chars, dir.join("chars.json")).unwrap();
    let chars = dir.join("chars.json");
    let ids = dir.join("ids.txt");
    std::fs::write(&ids, "1 2 3\n").unwrap();
    let (tok_json, ladder, counts) =
        (corpus.join("tok.json"), corpus.join("ladder"), corpus.join("counts.bin"));
    let also = "the output is also an input";
    let inside = "is inside the input directory";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["train", s(&a), "--char", "-o", s(&a)], also),
        (vec!["train", s(&a), "--char", "-o", s(&again)], also),
        (vec!["train", s(&corpus), "--vocab", "300", "-o", s(&corpus)], also),
        (vec!["train", s(&corpus), "--char", "-o", s(&tok_json)], inside),
        (vec!["train", s(&corpus), "--vocab", "300,400", "-o", s(&ladder)], inside),
        (vec!["tokenize", "-t", s(&chars), s(&a), "-o", s(&a)], also),
        (vec!["tokenize", "-t", s(&chars), s(&a), "-o", s(&chars)], also),
        (vec!["detokenize", "-t", s(&chars), s(&ids), "-o", s(&ids)], also),
        (vec!["export", "-t", s(&chars), "--format", "hf", "-o", s(&chars)], also),
        (vec!["count", s(&corpus), "-o", s(&counts)], inside),
        (vec!["count", s(&a), "-o", s(&again)], also),
        (vec!["count", "--merge", s(&corpus), "-o", s(&counts)], inside),
        (vec!["train", s(&a), "--char", "-o", s(dir)], "is a directory; -o names the tokenizer file"),
        (
            vec!["train", s(&a), "--vocab", "300", "-o", "new_dir/"],
            "is a directory; -o names the tokenizer file",
        ),
    ];
    for (args, expected) in cases {
        assert_clean_failure(tok(&args), dir, expected);
    }
}
