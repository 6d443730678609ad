//! `tok` end to end: the binary as a user runs it, on corpora generated
//! here (tests must not depend on files outside the repository).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tokenizer::{Allowed, Tokenizer};

fn tok_cmd() -> Command {
    let mut c = Command::new(e2e::bin("tok"));
    c.stdin(Stdio::null());
    c
}

fn tok(args: &[&str]) -> Output {
    tok_cmd().args(args).output().expect("tok runs")
}

/// Runs tok and expects success; returns stdout.
fn ok(args: &[&str]) -> Vec<u8> {
    let out = tok(args);
    assert!(out.status.success(), "tok {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Runs tok and expects a one-line error mentioning `needle`; returns it.
fn fails(args: &[&str], needle: &str) -> String {
    let out = tok(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "tok {args:?} should fail");
    assert_eq!(out.status.code(), Some(1), "tok {args:?}: {err}");
    assert!(
        err.starts_with("tok: ") && err.ends_with('\n') && err.lines().count() == 1,
        "not one line: {err:?}"
    );
    assert!(err.contains(needle), "tok {args:?}: {err:?} does not mention {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// The 65 characters of tinyshakespeare.
const SHAKESPEARE_CHARS: &str = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A deterministic corpus over exactly those 65 characters, in two files.
fn shakespeare_like(dir: &Path) -> PathBuf {
    let corpus = dir.join("corpus");
    std::fs::create_dir_all(corpus.join("sub")).unwrap();
    let words = [
        "the", "king", "queen", "my", "lord", "thou", "art", "shall", "not", "what", "is", "love", "ROMEO",
        "JULIET", "First", "Citizen", "Before", "we", "proceed", "any", "further", "hear", "me", "speak",
    ];
    let mut x: u64 = 42;
    let mut text = String::new();
    for _ in 0..20_000 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        text.push_str(words[(x >> 33) as usize % words.len()]);
        let sep = [" ", " ", " ", ", ", ".\n", "!\n", "?\n", ":\n", ";\n", "'s ", "-", " $3 & "]
            [(x >> 20) as usize % 12];
        text.push_str(sep);
    }
    // Every character at least once.
    text.push_str(SHAKESPEARE_CHARS);
    text.push('\n');
    let (a, b) = text.split_at(text.len() / 2);
    std::fs::write(corpus.join("a.txt"), a).unwrap();
    std::fs::write(corpus.join("sub/b.txt"), b).unwrap();
    corpus
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn help_lists_the_subcommands() {
    let help = String::from_utf8(ok(&["--help"])).unwrap();
    for sub in ["train", "tokenize", "detokenize", "stats", "export"] {
        assert!(help.contains(sub), "{help}");
    }
    let help = String::from_utf8(ok(&["train", "--help"])).unwrap();
    for flag in
        ["--vocab", "--char", "--byte-fallback", "--pattern", "--min-frequency", "--special", "--threads"]
    {
        assert!(help.contains(flag), "{help}");
    }
}

#[test]
fn char_vocabulary_has_the_65_characters_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = shakespeare_like(dir.path());
    let out = dir.path().join("char.json");
    ok(&["train", s(&corpus), "--char", "-o", s(&out), "--quiet"]);
    let t = Tokenizer::from_file(&out).unwrap();
    assert_eq!(t.vocab_size(), 65);
    assert_eq!(t.name(), "char");
    let chars = t.as_chars().unwrap().chars();
    assert_eq!(chars.iter().collect::<String>(), SHAKESPEARE_CHARS);
    assert_eq!(t.encode_ordinary(b"\n A").unwrap(), vec![0, 1, 13]);

    // tokenize prints ids on one line; detokenize gives the bytes back.
    let text = dir.path().join("in.txt");
    std::fs::write(&text, "First Citizen:\nhear me!\n").unwrap();
    let ids = ok(&["tokenize", "-t", s(&out), s(&text)]);
    let line = String::from_utf8(ids.clone()).unwrap();
    assert!(line.ends_with('\n') && line.lines().count() == 1);
    let want: Vec<String> =
        t.encode_ordinary(b"First Citizen:\nhear me!\n").unwrap().iter().map(|i| i.to_string()).collect();
    assert_eq!(line.trim_end(), want.join(" "));
    let ids_file = dir.path().join("ids.txt");
    std::fs::write(&ids_file, &ids).unwrap();
    assert_eq!(ok(&["detokenize", "-t", s(&out), s(&ids_file)]), b"First Citizen:\nhear me!\n");

    // A character it lacks: an error naming it and its offset, no output file.
    std::fs::write(&text, "hear me, 7 times").unwrap();
    let dest = dir.path().join("ids.out");
    fails(&["tokenize", "-t", s(&out), s(&text), "-o", s(&dest)], "character '7' (U+0037) at byte offset 9");
    assert!(!dest.exists());
}

#[test]
fn byte_fallback_round_trips_anything() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = shakespeare_like(dir.path());
    std::fs::write(corpus.join("bin.dat"), b"ab\xff\xfe").unwrap();
    let out = dir.path().join("char.json");
    // Without the fallback, invalid UTF-8 in the corpus is an error naming the file.
    fails(&["train", s(&corpus), "--char", "-o", s(&out)], "bin.dat: invalid UTF-8 at byte offset 2 (");
    assert!(!out.exists());
    ok(&[
        "train",
        s(&corpus),
        "--char",
        "--byte-fallback",
        "--special",
        "<|endoftext|>",
        "-o",
        s(&out),
        "-q",
    ]);
    let t = Tokenizer::from_file(&out).unwrap();
    assert_eq!(t.vocab_size(), 65 + 256 + 1);
    assert_eq!(t.special_id("<|endoftext|>"), Some(321));
    let input = dir.path().join("in.bin");
    let bytes = "日本 7 \u{1F980}\r\n".bytes().chain([0xff, 0x00, 0x80]).collect::<Vec<u8>>();
    std::fs::write(&input, &bytes).unwrap();
    let ids = dir.path().join("ids.txt");
    ok(&["tokenize", "-t", s(&out), s(&input), "-o", s(&ids)]);
    assert_eq!(ok(&["detokenize", "-t", s(&out), s(&ids)]), bytes);
}

#[test]
fn bpe_train_tokenize_detokenize_stats_export() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = shakespeare_like(dir.path());
    let out = dir.path().join("bpe300.json");
    ok(&["train", s(&corpus), "--vocab", "300", "--special", "<|endoftext|>", "-o", s(&out), "--quiet"]);
    let t = Tokenizer::from_file(&out).unwrap();
    assert_eq!(t.vocab_size(), 300);
    assert_eq!(t.name(), "bpe300");
    assert_eq!(t.special_id("<|endoftext|>"), Some(299));
    assert_eq!(t.as_bpe().unwrap().merges().unwrap().len(), 43);

    // Deterministic whatever the thread count.
    let out1 = dir.path().join("t1.json");
    let out2 = dir.path().join("t2.json");
    for (file, threads) in [(&out1, "1"), (&out2, "2")] {
        let common = ["--vocab", "300", "--special", "<|endoftext|>", "--name", "bpe300", "-q"];
        ok(&[&["train", s(&corpus), "-o", s(file), "--threads", threads][..], &common[..]].concat());
    }
    let (a, b) = (std::fs::read(&out1).unwrap(), std::fs::read(&out2).unwrap());
    assert_eq!(a, b);
    assert_eq!(a, std::fs::read(&out).unwrap());

    // Any bytes round-trip through the binary.
    let input = dir.path().join("in.bin");
    let mut bytes: Vec<u8> = (0..=255u8).collect();
    bytes.extend_from_slice("the king's <|endoftext|> 日本語\r\n\n".as_bytes());
    std::fs::write(&input, &bytes).unwrap();
    let line = String::from_utf8(ok(&["tokenize", "-t", s(&out), s(&input)])).unwrap();
    let ids: Vec<u32> = line.split_whitespace().map(|w| w.parse().unwrap()).collect();
    assert_eq!(ids, t.encode_ordinary(&bytes).unwrap());
    assert!(!ids.contains(&299));
    let with =
        String::from_utf8(ok(&["tokenize", "-t", s(&out), s(&input), "--allow-special", "all"])).unwrap();
    let with: Vec<u32> = with.split_whitespace().map(|w| w.parse().unwrap()).collect();
    assert_eq!(with, t.encode(&bytes, &Allowed::All).unwrap());
    assert!(with.contains(&299));
    let ids_file = dir.path().join("ids.txt");
    std::fs::write(&ids_file, line).unwrap();
    assert_eq!(ok(&["detokenize", "-t", s(&out), s(&ids_file)]), bytes);

    // stdin works too.
    let mut child = tok_cmd()
        .args(["tokenize", "-t", s(&out), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"thou art").unwrap();
    let o = child.wait_with_output().unwrap();
    let want: Vec<String> = t.encode_ordinary(b"thou art").unwrap().iter().map(|i| i.to_string()).collect();
    assert_eq!(String::from_utf8(o.stdout).unwrap(), want.join(" ") + "\n");

    // Exports.
    let hf = dir.path().join("tokenizer.json");
    ok(&["export", "-t", s(&out), "--format", "hf", "-o", s(&hf)]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&hf).unwrap()).unwrap();
    assert_eq!(v["model"]["type"], "BPE");
    assert_eq!(v["added_tokens"][0]["id"], 299);
    let tk = dir.path().join("ranks.tiktoken");
    ok(&["export", "-t", s(&out), "--format", "tiktoken", "-o", s(&tk)]);
    assert_eq!(std::fs::read_to_string(&tk).unwrap().lines().count(), 299);
    // `-o -` is stdout, byte-identical to the file (it wrote a file named -).
    let cwd = std::env::current_dir().unwrap();
    for (format, file) in [("hf", &hf), ("tiktoken", &tk)] {
        assert_eq!(
            ok(&["export", "-t", s(&out), "--format", format, "-o", "-"]),
            std::fs::read(file).unwrap()
        );
    }
    assert!(!cwd.join("-").exists());
    // A write error names the output once.
    let err = fails(&["export", "-t", s(&out), "--format", "hf", "-o", s(dir.path())], "Is a directory");
    assert_eq!(err.matches(s(dir.path())).count(), 1, "{err}");
}

#[test]
fn stats_json_has_the_issue_keys_and_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = shakespeare_like(dir.path());
    let char_json = dir.path().join("char.json");
    ok(&["train", s(&corpus), "--char", "-o", s(&char_json), "-q"]);
    let out = ok(&["stats", s(&corpus), "-t", s(&char_json), "-t", "r50k_base", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let keys: Vec<&str> = rows[0].as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec![
        "tokenizer",
        "vocab_size",
        "tokens",
        "chars",
        "bytes",
        "tokens_per_char",
        "chars_per_token",
        "bytes_per_token",
        "vocab_used",
    ];
    let mut got = keys.clone();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
    let bytes: u64 =
        ["a.txt", "sub/b.txt"].iter().map(|f| std::fs::metadata(corpus.join(f)).unwrap().len()).sum();
    let c = &rows[0];
    assert_eq!(c["tokenizer"], "char");
    assert_eq!(c["vocab_size"], 65);
    assert_eq!(c["tokens"], bytes);
    assert_eq!(c["chars"], bytes);
    assert_eq!(c["bytes"], bytes);
    assert_eq!(c["tokens_per_char"], 1.0);
    assert_eq!(c["vocab_used"], 1.0);
    let r = &rows[1];
    assert_eq!(r["tokenizer"], "r50k_base");
    assert_eq!(r["vocab_size"], 50257);
    let text: Vec<u8> =
        [std::fs::read(corpus.join("a.txt")).unwrap(), std::fs::read(corpus.join("sub/b.txt")).unwrap()]
            .concat();
    let r50k = Tokenizer::load("r50k_base").unwrap();
    // Tokens are counted per file (documents are encoded separately).
    let tokens = r50k.encode_ordinary(&std::fs::read(corpus.join("a.txt")).unwrap()).unwrap().len()
        + r50k.encode_ordinary(&std::fs::read(corpus.join("sub/b.txt")).unwrap()).unwrap().len();
    assert_eq!(r["tokens"], tokens as u64);
    assert_eq!(r["bytes_per_token"], text.len() as f64 / tokens as f64);

    // The table has the same rows.
    let table = String::from_utf8(ok(&["stats", s(&corpus), "-t", s(&char_json)])).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("tokenizer") && lines[0].contains("vocab_used"));
    assert!(lines[1].starts_with("char ") && lines[1].ends_with("100.00%"), "{table}");
}

#[test]
fn bad_input_gives_one_line_errors_and_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = shakespeare_like(dir.path());
    let out = dir.path().join("out.json");
    let o = s(&out);
    fails(&["train", "/no/such/dir", "--vocab", "300", "-o", o], "/no/such/dir");
    fails(&["train", s(&corpus), "--vocab", "200", "-o", o], "--vocab 200");
    fails(
        &["train", s(&corpus), "--vocab", "257", "--special", "a", "--special", "b", "-o", o],
        "--vocab 257",
    );
    // The flag at fault is named, for BPE and char alike (it was reported
    // under --vocab, or under the corpus with the token's id).
    for kind in [["--vocab", "300"], ["--char", "--quiet"]] {
        let mut args = vec!["train", s(&corpus)];
        args.extend(kind);
        fails(
            &[&args[..], &["--special", "", "-o", o]].concat(),
            "--special '': a special token cannot be empty",
        );
        fails(
            &[&args[..], &["--special", "x", "--special", "y", "--special", "x", "-o", o]].concat(),
            "--special \"x\": given twice",
        );
    }
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    fails(&["train", s(&empty), "--vocab", "300", "-o", o], "empty");
    std::fs::write(empty.join("zero.txt"), b"").unwrap();
    fails(&["train", s(&empty), "--vocab", "300", "-o", o], "the corpus is empty");
    fails(&["train", s(&empty), "--char", "-o", o], "the corpus is empty");
    assert!(!out.exists());

    // Corrupt and truncated tokenizer files.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        b"{\"format\": \"toklab-tokenizer\", \"version\": 1, \"kind\": \"bpe\", \"pattern\"",
    )
    .unwrap();
    fails(&["tokenize", "-t", s(&bad), s(&corpus.join("a.txt"))], "bad.json: invalid tokenizer file");
    std::fs::write(&bad, b"\x00\x01binary").unwrap();
    fails(&["stats", s(&corpus), "-t", s(&bad)], "bad.json: invalid tokenizer file");
    fails(&["tokenize", "-t", "gpt5_base", s(&corpus.join("a.txt"))], "unknown tokenizer \"gpt5_base\"");
    fails(&["tokenize", "-t", "r50k_base", "/no/such/file"], "/no/such/file");

    // Ids out of range and not ids at all.
    let ids = dir.path().join("ids.txt");
    std::fs::write(&ids, b"1 2 50257\n").unwrap();
    let dest = dir.path().join("bytes.out");
    fails(&["detokenize", "-t", "r50k_base", s(&ids), "-o", s(&dest)], "token id 50257 is out of range");
    std::fs::write(&ids, b"1 x2").unwrap();
    fails(&["detokenize", "-t", "r50k_base", s(&ids), "-o", s(&dest)], "\"x2\" at byte offset 2");
    assert!(!dest.exists());

    // Exports a format cannot hold.
    let char_json = dir.path().join("char.json");
    ok(&["train", s(&corpus), "--char", "-o", s(&char_json), "-q"]);
    fails(&["export", "-t", s(&char_json), "--format", "tiktoken", "-o", s(&dest)], "character vocabularies");
    assert!(!dest.exists());
    // Usage errors are clap's (exit 2), still no panic.
    let u = tok(&["train", s(&corpus), "-o", o]);
    assert_eq!(u.status.code(), Some(2));
    let u = tok(&["train", s(&corpus), "--vocab", "300", "--byte-fallback", "-o", o]);
    assert_eq!(u.status.code(), Some(2));
}

#[test]
fn pretrained_names_work_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    let text = "Hello, world! 12345 日本語 🦀 <|endoftext|>\r\n";
    std::fs::write(&input, text).unwrap();
    for name in ["cl100k_base", "o200k_base"] {
        let t = Tokenizer::load(name).unwrap();
        let line = String::from_utf8(ok(&["tokenize", "-t", name, s(&input)])).unwrap();
        let ids: Vec<u32> = line.split_whitespace().map(|w| w.parse().unwrap()).collect();
        assert_eq!(ids, t.encode_ordinary(text.as_bytes()).unwrap());
    }
}

/// Our exports in Python: `scripts/check_interop.py` loads them with HF
/// `tokenizers` and `tiktoken` and compares ids with `tok tokenize`. Skipped
/// with a notice when the packages are missing, unless
/// `TOKLAB_REQUIRE_PYTHON=1` (CI sets it).
#[test]
fn exports_encode_identically_in_python() {
    let require = std::env::var("TOKLAB_REQUIRE_PYTHON").is_ok_and(|v| v == "1");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python).args(["-c", "import tokenizers, tiktoken"]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(!require, "TOKLAB_REQUIRE_PYTHON=1 but {python} cannot import tokenizers and tiktoken");
        eprintln!(
            "NOTICE: skipping the Python interop check: {python} lacks tokenizers/tiktoken (pip install tokenizers tiktoken)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let corpus = shakespeare_like(dir.path());
    let bpe = dir.path().join("bpe.json");
    ok(&["train", s(&corpus), "--vocab", "400", "--special", "<|endoftext|>", "-o", s(&bpe), "-q"]);
    let bpe4o = dir.path().join("bpe4o.json");
    ok(&["train", s(&corpus), "--vocab", "350", "--pattern", "gpt4o", "-o", s(&bpe4o), "-q"]);
    let chars = dir.path().join("char.json");
    ok(&["train", s(&corpus), "--char", "--byte-fallback", "-o", s(&chars), "-q"]);
    let texts = [
        (
            "english.txt",
            "First Citizen:\nBefore we proceed any further, hear me speak. It's the KING'S men.\r\n",
        ),
        ("digits.txt", "1 12 123 1234 12345 1234567890123 3.14159 ٣٤٥٦٧ １２３４ 0000000\n"),
        ("space.txt", "a\u{a0}b\u{2009}c\u{3000}d  e\t\tf\r\n\r\ng \u{200b} h\u{2028}i\n \n  \n   "),
        ("code.txt", "def f(x):\n    return {'a': [1, 2]}  # ok\r\n\tif x/2 == 0: pass\n// a->b /* c */\n"),
        ("cjk.txt", "日本語のテキスト、中文。한국어. 🦀👨‍👩‍👧‍👦🇫🇷 a\u{301} ǅ <|endoftext|> 'ſ\n"),
    ];
    let mut args: Vec<String> = vec![
        concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/check_interop.py").into(),
        "--quiet".into(),
        "--tok".into(),
        e2e::bin("tok").display().to_string(),
    ];
    for t in [s(&bpe), s(&bpe4o), s(&chars), "cl100k_base", "o200k_base", "p50k_base"] {
        args.extend(["-t".into(), t.to_string()]);
    }
    for (name, text) in texts {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        args.push(p.display().to_string());
    }
    args.push(corpus.join("a.txt").display().to_string());
    let out = Command::new(&python).args(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

/// SIGTERM (what `timeout` sends; Ctrl-C takes the same path) during a long
/// `tok train` ends it with exit code 130 and "cancelled", and leaves no
/// output or temporary file. The input, one piece of `'ab' * 20,000,000`,
/// spends seconds in single merge steps over a 40 MB word, where the trainer
/// used to check for cancellation only between steps; the signal is sent
/// 0.5 s after the start. The wait is bounded only to turn a hang into a
/// failure, not to time anything.
#[test]
fn sigterm_cancels_training_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ab.txt");
    std::fs::write(&input, "ab".repeat(20_000_000)).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let output = out_dir.join("bpe.json");
    let mut child = tok_cmd()
        .args(["train", s(&input), "--vocab", "300", "-o", s(&output), "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tok starts");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(kill.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("tok train did not stop after SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut err).unwrap();
    assert_eq!((status.code(), err.as_str()), (Some(130), "tok: cancelled\n"));
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `tok train --vocab A,B,C -o DIR` writes DIR/bpeA.json ... from one
/// training, each byte-identical to `tok train --vocab A -o x/bpeA.json`;
/// a repeated or too small size is refused before anything is written.
#[test]
fn vocabulary_ladder_equals_separate_runs() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = shakespeare_like(dir.path());
    let ladder = dir.path().join("ladder");
    let special = ["--special", "<|endoftext|>"];
    ok(&[&["train", s(&corpus), "--vocab", "600,300,1000", "-o", s(&ladder), "-q"][..], &special].concat());
    let mut names: Vec<String> =
        std::fs::read_dir(&ladder).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["bpe1000.json", "bpe300.json", "bpe600.json"]);
    let single = dir.path().join("single");
    std::fs::create_dir(&single).unwrap();
    for size in ["300", "600", "1000"] {
        let out = single.join(format!("bpe{size}.json"));
        ok(&[&["train", s(&corpus), "--vocab", size, "-o", s(&out), "-q"][..], &special].concat());
        let a = std::fs::read(ladder.join(format!("bpe{size}.json"))).unwrap();
        assert!(a == std::fs::read(&out).unwrap(), "size {size} differs");
    }
    // A corpus too small for the sizes asked says so (it used to give 258
    // ids for --vocab 300 without a word); a size it reaches does not.
    let tiny = dir.path().join("tiny.txt");
    std::fs::write(&tiny, "abab").unwrap();
    let small = dir.path().join("small");
    let out = tok(&["train", s(&tiny), "--vocab", "257,300", "-o", s(&small), "-q"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bpe300.json: 258 ids, fewer than the 300 asked: the corpus has no pair left"),
        "{err}"
    );
    let out =
        tok(&["train", s(&tiny), "--vocab", "300", "--min-frequency", "2", "-o", s(&small.join("f.json"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("f.json: 257 ids") && err.contains("seen at least 2 times"), "{err}");
    let bad = dir.path().join("bad");
    fails(&["train", s(&corpus), "--vocab", "300,300", "-o", s(&bad)], "--vocab 300: given twice");
    fails(&["train", s(&corpus), "--vocab", "300,200", "-o", s(&bad)], "--vocab 200");
    assert!(!bad.exists());
}

/// Issue 13 item 1: `tok count --part i/N` on every part, `tok count
/// --merge`, then `tok train --counts` gives byte for byte the vocabularies
/// of `tok train` on the corpus, single and as a ladder, for any N.
#[test]
fn counts_of_parts_train_the_same_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = shakespeare_like(dir.path());
    // More files, of different sizes, so that parts differ.
    for i in 0..5 {
        let text: String =
            (0..(300 * (i + 1))).map(|j| format!("word{} and{} ", j % 97, (j * i) % 13)).collect();
        std::fs::write(corpus.join(format!("extra{i}.txt")), text).unwrap();
    }
    let whole = dir.path().join("whole");
    ok(&["train", s(&corpus), "--vocab", "300,1000", "-o", s(&whole), "-q"]);
    let single = dir.path().join("single.json");
    ok(&["train", s(&corpus), "--vocab", "700", "-o", s(&single), "-q"]);
    for n in [1, 2, 3, 8] {
        let parts = dir.path().join(format!("counts{n}"));
        std::fs::create_dir(&parts).unwrap();
        for i in 0..n {
            let out = parts.join(format!("part-{i}.bin"));
            let printed = ok(&["count", s(&corpus), "--part", &format!("{i}/{n}"), "-o", s(&out), "-q"]);
            assert!(String::from_utf8_lossy(&printed).starts_with("counted "), "{printed:?}");
        }
        let merged = dir.path().join(format!("counts{n}.bin"));
        ok(&["count", "--merge", s(&parts), "-o", s(&merged)]);
        let ladder = dir.path().join(format!("ladder{n}"));
        ok(&["train", "--counts", s(&merged), "--vocab", "300,1000", "-o", s(&ladder), "-q"]);
        for name in ["bpe300.json", "bpe1000.json"] {
            let a = std::fs::read(whole.join(name)).unwrap();
            assert!(a == std::fs::read(ladder.join(name)).unwrap(), "{n} parts: {name} differs");
        }
        let one = dir.path().join(format!("n{n}")).join("single.json");
        std::fs::create_dir(one.parent().unwrap()).unwrap();
        ok(&["train", "--counts", s(&merged), "--vocab", "700", "-o", s(&one), "-q"]);
        assert!(
            std::fs::read(&single).unwrap() == std::fs::read(&one).unwrap(),
            "{n} parts: vocab 700 differs"
        );
    }
}

/// Issue 13 item 2: `tok train --max-memory` below what counting would
/// use spills sorted runs, leaves no spill directory, and learns exactly
/// the vocabulary of the unlimited run.
#[test]
fn max_memory_spills_and_gives_the_same_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    // About 2.4 MB in 12 files of new words, so that counting reads several
    // 1 MiB batches.
    let mut x: u64 = 7;
    for f in 0..12 {
        let mut text = String::new();
        while text.len() < 200_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let w = (x >> 40) % 5000;
            text.push_str(&format!("w{w}x{} ", (x >> 20) % 7));
            if (x >> 10).is_multiple_of(11) {
                text.push('\n');
            }
        }
        std::fs::write(corpus.join(format!("f{f:02}.txt")), text).unwrap();
    }
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let free = out.join("free.json");
    ok(&["train", s(&corpus), "--vocab", "2000", "-o", s(&free), "-q", "--name", "v"]);
    for min in ["0", "1"] {
        let limited = out.join(format!("limited{min}.json"));
        let printed = ok(&[
            "train",
            s(&corpus),
            "--vocab",
            "2000",
            "-o",
            s(&limited),
            "--name",
            "v",
            "--max-memory",
            "8M",
            "--min-frequency",
            min,
        ]);
        let printed = String::from_utf8_lossy(&printed).into_owned();
        let runs: usize =
            printed.split(" sorted runs").next().and_then(|t| t.rsplit(' ').next()).unwrap().parse().unwrap();
        assert!(runs >= 2, "{printed}");
        assert!(std::fs::read(&free).unwrap() == std::fs::read(&limited).unwrap(), "min {min}: differs");
    }
    let mut left: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(left, ["free.json", "limited0.json", "limited1.json"]);
    // Too small for the table to learn from: refused with the figure.
    let err = fails(
        &["train", s(&corpus), "--vocab", "2000", "-o", s(&out.join("x.json")), "--max-memory", "64K"],
        "--max-memory",
    );
    assert!(err.contains("needs about") && err.contains("65536 bytes"), "{err}");
}

/// SIGTERM while `tok train --max-memory` is spilling: exit 130 within the
/// bound, and neither the output nor the spill directory beside it is left.
#[test]
fn sigterm_while_spilling_leaves_no_spill_directory() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    // ~48 MB of ever-new words in 48 files: many 1 MiB batches, each spilled.
    // Letters, not digits: the pre-tokenizer cuts digit runs into groups of
    // three, which left ~1,000 distinct pieces and a release build done in
    // 0.2 s, before the signal. These 6.8 M pieces take 2.5 s to count (and
    // are then too many to learn from in 8 MiB); the signal comes at ~0.35 s.
    let mut x: u64 = 11;
    for f in 0..48 {
        let mut text = String::with_capacity(1 << 20);
        while text.len() < 1_000_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut w = x >> 36;
            for _ in 0..6 {
                text.push((b'a' + (w % 26) as u8) as char);
                w /= 26;
            }
            text.push(' ');
        }
        std::fs::write(corpus.join(format!("f{f:02}.txt")), text).unwrap();
    }
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let output = out_dir.join("bpe.json");
    let mut child = tok_cmd()
        .args(["train", s(&corpus), "--vocab", "30000", "-o", s(&output), "-q", "--max-memory", "8M"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tok starts");
    // Wait until it has spilled (the hidden directory appears), then stop it.
    let start = std::time::Instant::now();
    while std::fs::read_dir(&out_dir).unwrap().next().is_none() {
        assert!(start.elapsed().as_secs() < 120, "no spill directory appeared");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(kill.success());
    let stopped = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        assert!(stopped.elapsed().as_secs() < 60, "tok train did not stop after SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut err).unwrap();
    assert_eq!((status.code(), err.as_str()), (Some(130), "tok: cancelled\n"));
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
