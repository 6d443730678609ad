//! Tests of the encoder, the reader and the batchers together, with a small
//! context-sensitive fake tokenizer (the real ones are tested end to end in
//! the root `tests/` package).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::corpus::{Document, list_files};
use crate::encode::{EncodeConfig, Encoder, Part, encode_with};
use crate::manifest::{self, Manifest, TokenizerInfo};
use crate::shard::{ShardHeader, TokenWidth, read_shard};
use crate::{Error, ShardSet, Split, TokenId, split};

/// Bytes are ids 0..=255; the pair "th" is id 256 (so encoding depends on
/// context, like BPE); id 257 is end-of-text. Boundaries: just after a '\n'
/// followed by an ASCII graphic byte, the rule of BPE with a split pattern.
/// Fails on the byte 0xFF, to test error locations.
struct Fake;

const TH: TokenId = 256;
const EOT: TokenId = 257;

impl Encoder for Fake {
    fn encode_into(&self, text: &[u8], out: &mut Vec<TokenId>) -> tokenizer::Result<()> {
        let mut i = 0;
        while i < text.len() {
            if text[i] == 0xFF {
                return Err(tokenizer::Error::InvalidUtf8 { offset: i });
            }
            if text[i..].starts_with(b"th") {
                out.push(TH);
                i += 2;
            } else {
                out.push(text[i] as TokenId);
                i += 1;
            }
        }
        Ok(())
    }

    fn chunk_boundary(&self, text: &[u8], from: usize) -> Option<usize> {
        (from.max(1)..text.len()).find(|&p| text[p - 1] == b'\n' && (0x21..=0x7E).contains(&text[p]))
    }
}

fn decode(tokens: &[TokenId]) -> Vec<u8> {
    let mut out = Vec::new();
    for &t in tokens {
        match t {
            TH => out.extend_from_slice(b"th"),
            EOT => {}
            b => out.push(b as u8),
        }
    }
    out
}

fn info(vocab_size: usize) -> TokenizerInfo {
    TokenizerInfo {
        kind: tokenizer::Kind::Bpe,
        name: "fake".into(),
        source: "fake.json".into(),
        pretrained: false,
        vocab_size,
        content_hash: "0123456789abcdef".repeat(4),
        file: Some(manifest::TOKENIZER_FILE.into()),
    }
}

/// A deterministic pseudo-random corpus: `files` files of various sizes
/// (some empty, one without any newline, some much larger than the chunk
/// size), with multi-byte UTF-8 and "th" pairs.
fn make_corpus(root: &Path, files: usize) -> Vec<Document> {
    let words = ["the", "thin", "moth", "a", "über", "naïve", "日本語", "\t", "x", "bath", "!"];
    let mut state = 12345u64;
    let mut rnd = |n: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    for f in 0..files {
        let size = match f % 5 {
            0 => 0,
            1 => 40,
            2 => 3_000,
            3 => 20_000,
            _ => 700,
        };
        let mut text = String::new();
        while text.len() < size {
            text.push_str(words[rnd(words.len() as u64) as usize]);
            text.push(match rnd(8) {
                0 => '\n',
                1 => ' ',
                2 if f != 1 => '\n',
                _ => ' ',
            });
        }
        if f == 1 {
            text = text.replace('\n', " ");
        }
        let dir = root.join(format!("d{}", f % 3));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{f:03}.txt")), text).unwrap();
    }
    list_files(&[root]).unwrap()
}

fn small_config() -> EncodeConfig {
    EncodeConfig {
        val_fraction: 0.2,
        shard_tokens: 5_000,
        eot: false,
        part: None,
        chunk_bytes: 500,
        window_bytes: 4_000,
    }
}

/// A real tokenizer with [`Fake`]'s ids ("th" = 256, end-of-text 257), so
/// that the copy `encode` writes beside the shards loads and matches the
/// manifest (`tok merge-manifests` checks it). [`Fake`] still does the
/// encoding: its chunk boundaries are what these tests rely on.
fn fake_tokenizer() -> tokenizer::Tokenizer {
    let bpe =
        tokenizer::bpe::Bpe::from_merges(&[(u32::from(b't'), u32::from(b'h'))], tokenizer::Pattern::None)
            .unwrap();
    tokenizer::Tokenizer::from_bpe(bpe, vec![("<|eot|>".into(), EOT)], "fake").unwrap()
}

fn encode(docs: &[Document], out: &Path, config: &EncodeConfig, eot: bool) -> crate::Result<Manifest> {
    let tok = fake_tokenizer();
    assert_eq!(tok.vocab_size(), 258);
    encode_with(
        docs,
        &Fake,
        TokenizerInfo { content_hash: tok.content_hash(), ..info(258) },
        Some(&tok.to_json()),
        eot.then_some(EOT),
        out,
        config,
        &mut |_| ControlFlow::Continue(()),
    )
}

/// Each document's train and val text by the split rule.
fn expected_parts(docs: &[Document], f: f64) -> [Vec<Vec<u8>>; 2] {
    let mut parts = [Vec::new(), Vec::new()];
    for d in docs {
        let text = std::fs::read(&d.path).unwrap();
        let s = split::val_start(&text, f);
        parts[0].push(text[..s].to_vec());
        parts[1].push(text[s..].to_vec());
    }
    parts
}

fn split_tokens(dir: &Path, split: Split) -> Vec<TokenId> {
    ShardSet::open(dir).unwrap().split(split).to_vec()
}

fn dir_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn round_trip_counts_and_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = make_corpus(&tmp.path().join("corpus"), 23);
    let out = tmp.path().join("shards");
    let config = small_config();
    let m = encode(&docs, &out, &config, false).unwrap();
    let parts = expected_parts(&docs, config.val_fraction);

    for (k, split) in [Split::Train, Split::Val].into_iter().enumerate() {
        let text: Vec<u8> = parts[k].concat();
        let tokens = split_tokens(&out, split);
        assert_eq!(decode(&tokens), text, "{split:?}");
        // Chunking is invisible: the tokens equal those of whole parts.
        let mut whole = Vec::new();
        for p in &parts[k] {
            Fake.encode_into(p, &mut whole).unwrap();
        }
        assert_eq!(tokens, whole, "{split:?}");
        let info = m.splits.get(split);
        assert_eq!(info.tokens, tokens.len() as u64);
        assert_eq!(info.bytes, text.len() as u64);
        assert_eq!(info.chars, String::from_utf8(text).unwrap().chars().count() as u64);
        let nonempty: Vec<&Vec<u8>> = parts[k].iter().filter(|p| !p.is_empty()).collect();
        assert_eq!(info.documents, nonempty.len() as u64);
        let digests: Vec<blake3::Hash> = nonempty.iter().map(|p| blake3::hash(p)).collect();
        assert_eq!(info.text_hash, manifest::combine_doc_hashes(&digests));
        // Shards are full except the last.
        let counts: Vec<u64> = info.shards.iter().map(|s| s.tokens).collect();
        assert!(counts[..counts.len() - 1].iter().all(|&c| c == config.shard_tokens), "{counts:?}");
        for (i, s) in info.shards.iter().enumerate() {
            assert_eq!(s.file, format!("{}_{i:06}.bin", split.name()));
        }
    }
    assert!(m.splits.val.tokens > 0 && m.splits.train.shards.len() > 2);
    assert_eq!(m.corpus.files, 23);
    assert_eq!(Manifest::load(&out.join("manifest.json")).unwrap(), m);
    assert_eq!(std::fs::read_to_string(out.join("tokenizer.json")).unwrap(), fake_tokenizer().to_json());
    // Nothing else in the directory: no temporary files left.
    let n_shards = m.splits.train.shards.len() + m.splits.val.shards.len();
    assert_eq!(dir_files(&out).len(), n_shards + 2);
}

#[test]
fn identical_for_any_thread_count_and_window() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = make_corpus(&tmp.path().join("corpus"), 17);
    type Files = Vec<(String, Vec<u8>)>;
    let mut reference: Option<(Manifest, Files)> = None;
    for (threads, window) in [(1, 1), (2, 4_000), (3, 100_000), (4, 777)] {
        let out = tmp.path().join(format!("out{threads}"));
        let config = EncodeConfig { window_bytes: window, ..small_config() };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let m = pool.install(|| encode(&docs, &out, &config, true)).unwrap();
        let files: Vec<(String, Vec<u8>)> =
            dir_files(&out).into_iter().map(|f| (f.clone(), std::fs::read(out.join(&f)).unwrap())).collect();
        match &reference {
            None => reference = Some((m, files)),
            Some((m0, f0)) => {
                assert_eq!(&m, m0, "{threads} threads");
                assert!(&files == f0, "shards differ with {threads} threads");
            }
        }
    }
}

#[test]
fn eot_starts_every_document_part() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = make_corpus(&tmp.path().join("corpus"), 11);
    let out = tmp.path().join("shards");
    let config = small_config();
    let m = encode(&docs, &out, &config, true).unwrap();
    assert!(m.eot);
    assert_eq!(m.eot_id, Some(EOT));
    let parts = expected_parts(&docs, config.val_fraction);
    for (k, split) in [Split::Train, Split::Val].into_iter().enumerate() {
        let mut expected = Vec::new();
        for p in parts[k].iter().filter(|p| !p.is_empty()) {
            expected.push(EOT);
            Fake.encode_into(p, &mut expected).unwrap();
        }
        let tokens = split_tokens(&out, split);
        assert_eq!(tokens, expected);
        let info = m.splits.get(split);
        assert_eq!(info.tokens, expected.len() as u64);
        assert_eq!(tokens.iter().filter(|&&t| t == EOT).count() as u64, info.documents);
    }
}

#[test]
fn parts_merge_into_the_single_run() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = make_corpus(&tmp.path().join("corpus"), 29);
    let whole_dir = tmp.path().join("whole");
    let whole = encode(&docs, &whole_dir, &small_config(), true).unwrap();

    let parted = tmp.path().join("parted");
    let n = 4;
    let mut covered = 0;
    for i in 0..n {
        let config = EncodeConfig { part: Some(Part { index: i, count: n }), ..small_config() };
        let m = encode(&docs, &parted, &config, true).unwrap();
        let p = m.part.as_ref().unwrap();
        assert_eq!(p.first_file, covered);
        covered = p.end_file;
        assert!(parted.join(format!("manifest_p{i}.json")).exists());
        assert_eq!(m.splits.train.doc_hashes.as_ref().unwrap().len() as u64, m.splits.train.documents);
        // Not readable before the merge, with a hint saying so.
        let err = ShardSet::open(&parted).err().unwrap().to_string();
        assert!(err.contains("tok merge-manifests"), "{err}");
    }
    assert_eq!(covered, docs.len());
    let merged = manifest::merge_parts(&parted).unwrap();
    assert_eq!(merged.part, None);
    for split in [Split::Train, Split::Val] {
        let (a, b) = (whole.splits.get(split), merged.splits.get(split));
        assert_eq!((a.tokens, a.bytes, a.chars, a.documents), (b.tokens, b.bytes, b.chars, b.documents));
        assert_eq!(a.text_hash, b.text_hash, "{split:?}");
        assert!(b.shards.iter().all(|s| s.file.starts_with(&format!("{}_p", split.name()))));
        assert_eq!(split_tokens(&whole_dir, split), split_tokens(&parted, split), "{split:?}");
    }
    assert_eq!(Manifest::load(&parted.join("manifest.json")).unwrap(), merged);

    // A merge that fails writes no manifest.json (it was written first and
    // the shards checked after): a shard missing, a stray shard, a changed
    // tokenizer copy.
    let manifest_path = parted.join("manifest.json");
    let shard = parted.join(&merged.splits.val.shards[0].file);
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::remove_file(&shard).unwrap();
    std::fs::remove_file(&manifest_path).unwrap();
    let err = manifest::merge_parts(&parted).unwrap_err().to_string();
    assert!(err.contains(&merged.splits.val.shards[0].file) && err.contains("no such file"), "{err}");
    assert!(!manifest_path.exists());
    std::fs::write(&shard, &bytes).unwrap();
    std::fs::write(parted.join("train_000000.bin"), &bytes).unwrap();
    let err = manifest::merge_parts(&parted).unwrap_err().to_string();
    assert!(err.contains("train_000000.bin: a shard file that manifest.json does not list"), "{err}");
    assert!(!manifest_path.exists());
    std::fs::remove_file(parted.join("train_000000.bin")).unwrap();
    let tok_path = parted.join(manifest::TOKENIZER_FILE);
    let tok_json = std::fs::read(&tok_path).unwrap();
    let other = tokenizer::Tokenizer::from_bpe(
        tokenizer::bpe::Bpe::from_merges(&[(u32::from(b'e'), u32::from(b'r'))], tokenizer::Pattern::None)
            .unwrap(),
        vec![("<|eot|>".into(), EOT)],
        "fake",
    )
    .unwrap();
    other.save(&tok_path).unwrap();
    let err = manifest::merge_parts(&parted).unwrap_err().to_string();
    assert!(err.contains("tokenizer (the file next to the shards was changed?)"), "{err}");
    assert!(!manifest_path.exists());
    std::fs::write(&tok_path, &tok_json).unwrap();
    assert_eq!(manifest::merge_parts(&parted).unwrap(), merged);

    // A partial manifest copied under another part's name is refused (it
    // replaced that part silently, and counted as one more).
    let p3 = std::fs::read(parted.join("manifest_p3.json")).unwrap();
    std::fs::copy(parted.join("manifest_p0.json"), parted.join("manifest_p3.json")).unwrap();
    std::fs::remove_file(parted.join("manifest.json")).unwrap();
    let err = manifest::merge_parts(&parted).unwrap_err().to_string();
    assert!(err.contains("manifest_p3.json: part index: expected the index in the file name"), "{err}");
    assert!(!parted.join("manifest.json").exists());
    std::fs::write(parted.join("manifest_p3.json"), p3).unwrap();

    // A missing part is named.
    std::fs::remove_file(parted.join("manifest_p2.json")).unwrap();
    let err = manifest::merge_parts(&parted).unwrap_err().to_string();
    assert!(err.contains("parts 2 of 4 are missing"), "{err}");
}

#[test]
fn partition_is_balanced_contiguous_and_complete() {
    let docs: Vec<Document> = [10u64, 0, 500, 30, 30, 30, 1000, 0, 5, 5]
        .iter()
        .map(|&len| Document { path: PathBuf::new(), len, train_part: None })
        .collect();
    for n in 1..=12u32 {
        let mut next = 0;
        for i in 0..n {
            let r = Part { index: i, count: n }.files(&docs);
            assert_eq!(r.start, next, "part {i}/{n}");
            assert!(r.end >= r.start);
            next = r.end;
        }
        assert_eq!(next, docs.len(), "{n} parts");
    }
    // Two parts: the 1000-byte file's middle is past the half of 1610 bytes.
    assert_eq!(Part { index: 0, count: 2 }.files(&docs), 0..6);
    let empty: Vec<Document> =
        (0..5).map(|_| Document { path: PathBuf::new(), len: 0, train_part: None }).collect();
    assert_eq!(Part { index: 1, count: 2 }.files(&empty), 3..5);
    assert_eq!("3/4".parse::<Part>().unwrap(), Part { index: 3, count: 4 });
    for bad in ["4/4", "1", "a/b", "0/0", "-1/2"] {
        assert!(bad.parse::<Part>().is_err(), "{bad}");
    }
}

#[test]
fn reencoding_removes_stale_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = make_corpus(&tmp.path().join("corpus"), 9);
    let out = tmp.path().join("shards");
    let many = encode(&docs, &out, &EncodeConfig { shard_tokens: 1_000, ..small_config() }, false).unwrap();
    let few =
        encode(&docs, &out, &EncodeConfig { shard_tokens: 1_000_000, ..small_config() }, false).unwrap();
    assert!(many.splits.train.shards.len() > 1);
    assert_eq!(few.splits.train.shards.len(), 1);
    assert_eq!(dir_files(&out), ["manifest.json", "tokenizer.json", "train_000000.bin", "val_000000.bin"]);
    ShardSet::open(&out).unwrap();
    // A --part run over that whole encoding removes its manifest and, now,
    // its shards (they stayed, for a reader globbing `*.bin`).
    let part = EncodeConfig { part: Some(Part { index: 0, count: 2 }), ..small_config() };
    encode(&docs, &out, &part, false).unwrap();
    assert!(
        dir_files(&out).iter().all(|f| f.contains("_p0") || f == "tokenizer.json"),
        "{:?}",
        dir_files(&out)
    );
}

#[test]
fn cancelling_leaves_no_complete_looking_file() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = make_corpus(&tmp.path().join("corpus"), 23);
    let out = tmp.path().join("shards");
    let mut calls = 0;
    let err = encode_with(
        &docs,
        &Fake,
        info(258),
        None,
        None,
        &out,
        // Small shards: some are complete (renamed) before the cancel.
        &EncodeConfig { shard_tokens: 1_000, ..small_config() },
        &mut |p| {
            calls += 1;
            assert!(p.bytes_done <= p.bytes_total);
            if calls == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    // Not even the directory the run created is left.
    assert!(!out.exists(), "{:?}", dir_files(&out));
}

/// Issue 11 battery: a run that failed on bad input (here a cancel) into an
/// existing empty directory leaves it empty: the tokenizer copy is written
/// only with the manifest, and a directory that existed is kept.
#[test]
fn a_failed_run_leaves_an_existing_directory_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = make_corpus(&tmp.path().join("corpus"), 23);
    let out = tmp.path().join("shards");
    std::fs::create_dir_all(&out).unwrap();
    let err = encode_with(&docs, &Fake, info(258), Some("{}"), None, &out, &small_config(), &mut |_| {
        ControlFlow::Break(())
    })
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert_eq!(dir_files(&out), Vec::<String>::new());
}

/// A re-encode cancelled part way, over an earlier encoding with more
/// shards, used to delete the shards it had written (which had replaced the
/// old ones of the same names) and leave the old encoding's tail without a
/// manifest: part of an old corpus for any reader that globs `*.bin`. The
/// old shards and tokenizer copy now go before the first new shard, so the
/// directory keeps only what is not the encoding's.
#[test]
fn a_cancelled_reencode_leaves_none_of_the_old_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = make_corpus(&tmp.path().join("corpus"), 23);
    let out = tmp.path().join("shards");
    let old = encode(&docs, &out, &EncodeConfig { shard_tokens: 300, ..small_config() }, false).unwrap();
    assert!(old.splits.train.shards.len() > 10);
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();
    let mut calls = 0;
    let err = encode_with(
        &docs,
        &Fake,
        info(258),
        Some("{}"),
        None,
        &out,
        &EncodeConfig { shard_tokens: 1_000, ..small_config() },
        &mut |_| {
            calls += 1;
            if calls == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert_eq!(dir_files(&out), ["notes.txt"]);
}

/// Issue 11 (kill -9 during `tok encode`): the killed run's hidden
/// temporary files stayed in the directory after the rerun. The rerun now
/// removes those of its own files, and only those.
#[test]
fn a_rerun_removes_the_temporary_files_of_a_killed_run() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = make_corpus(&tmp.path().join("corpus"), 5);
    let out = tmp.path().join("shards");
    std::fs::create_dir_all(&out).unwrap();
    for name in [
        ".train_000000.bin.999999.tmp",
        ".val_000003.bin.1.tmp",
        ".manifest.json.999999.0.tmp",
        ".tokenizer.json.7.12.tmp",
        ".notes.txt.5.tmp",
        ".train_000000.bin.tmp",
        "notes.txt",
    ] {
        std::fs::write(out.join(name), b"x").unwrap();
    }
    encode_with(&docs, &Fake, info(258), None, None, &out, &small_config(), &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    let names: Vec<String> = dir_files(&out).into_iter().filter(|n| !n.ends_with(".bin")).collect();
    assert_eq!(names, [".notes.txt.5.tmp", ".train_000000.bin.tmp", "manifest.json", "notes.txt"]);
}

#[test]
fn progress_reaches_the_total() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = make_corpus(&tmp.path().join("corpus"), 13);
    let mut last = None;
    let m = encode_with(
        &docs,
        &Fake,
        info(258),
        None,
        None,
        &tmp.path().join("shards"),
        &small_config(),
        &mut |p| {
            last = Some(p.clone());
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    let p = last.unwrap();
    assert_eq!(p.bytes_done, p.bytes_total);
    assert_eq!(p.files_done, 13);
    assert_eq!(p.tokens, m.splits.train.tokens + m.splits.val.tokens);
}

#[test]
fn encoder_errors_name_the_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(corpus.join("a.txt"), "fine\n".repeat(1000)).unwrap();
    let mut bad = "line\n".repeat(300).into_bytes();
    bad[1234] = 0xFF;
    std::fs::write(corpus.join("b.txt"), &bad).unwrap();
    let docs = list_files(&[&corpus]).unwrap();
    let err = encode(&docs, &tmp.path().join("out"), &small_config(), false).unwrap_err().to_string();
    assert!(err.contains("b.txt") && err.contains("offset 1234"), "{err}");
}

#[test]
fn config_and_corpus_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(corpus.join("empty.txt"), "").unwrap();
    let docs = list_files(&[&corpus]).unwrap();
    let out = tmp.path().join("out");
    let err = encode(&docs, &out, &small_config(), false).unwrap_err().to_string();
    assert!(err.contains("no text") && err.contains("empty.txt"), "{err}");

    std::fs::write(corpus.join("text.txt"), "hello\n").unwrap();
    let docs = list_files(&[&corpus]).unwrap();
    for (config, needle) in [
        (EncodeConfig { val_fraction: 1.0, ..small_config() }, "[0, 1)"),
        (EncodeConfig { shard_tokens: 0, ..small_config() }, "shard size"),
        (EncodeConfig { shard_tokens: 1 << 31, ..small_config() }, "shard size"),
    ] {
        let err = encode(&docs, &out, &config, false).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    }
    let parts = crate::corpus::train_parts(&docs, 0.1).unwrap();
    let err = encode(&parts, &out, &small_config(), false).unwrap_err().to_string();
    assert!(err.contains(".txt: a train part cannot be encoded"), "{err}");
}

#[test]
fn output_inside_the_corpus_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(corpus.join("a.txt"), "some text\nmore text\n").unwrap();
    let out = corpus.join("shards");
    // The first run is fine: nothing of ours is in the corpus yet.
    encode(&list_files(&[&corpus]).unwrap(), &out, &small_config(), false).unwrap();
    let err = encode(&list_files(&[&corpus]).unwrap(), &out, &small_config(), false).unwrap_err().to_string();
    assert!(err.contains("inside the corpus") && err.contains("shards"), "{err}");
}

#[test]
fn huge_line_without_boundaries_is_one_piece() {
    // A file of one long line: no boundary anywhere, so the part is a
    // single piece however small the chunk size (and still correct).
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let text = "the moth ".repeat(100_000);
    std::fs::write(corpus.join("line.txt"), &text).unwrap();
    let docs = list_files(&[&corpus]).unwrap();
    let out = tmp.path().join("out");
    let m = encode(&docs, &out, &EncodeConfig { chunk_bytes: 64, ..small_config() }, false).unwrap();
    assert_eq!(m.splits.val.tokens, 0);
    assert_eq!(decode(&split_tokens(&out, Split::Train)), text.as_bytes());
}

// ---------------------------------------------------------------- reader

/// Encodes a small corpus and returns its directory.
fn encoded(tmp: &Path) -> PathBuf {
    let docs = make_corpus(&tmp.join("corpus"), 12);
    let out = tmp.join("shards");
    encode(&docs, &out, &EncodeConfig { shard_tokens: 2_000, ..small_config() }, false).unwrap();
    out
}

fn open_err(dir: &Path) -> String {
    ShardSet::open(dir).err().expect("open should fail").to_string()
}

#[test]
fn reader_reports_bad_shards_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = encoded(tmp.path());
    let shard = dir.join("train_000001.bin");
    let original = std::fs::read(&shard).unwrap();

    let mut bytes = original.clone();
    bytes[0] ^= 0x55;
    std::fs::write(&shard, &bytes).unwrap();
    let err = open_err(&dir);
    assert!(err.contains("train_000001.bin: bad magic"), "{err}");

    std::fs::write(&shard, &original[..original.len() - 2]).unwrap();
    let err = open_err(&dir);
    assert!(err.contains("train_000001.bin: shard file size") && err.contains("truncated"), "{err}");

    std::fs::write(&shard, &original[..10]).unwrap();
    assert!(open_err(&dir).contains("file too short"));

    // A shard of the right format but another count than the manifest says.
    let mut bytes = original.clone();
    bytes.extend_from_slice(&[1, 0]);
    bytes[..1024].copy_from_slice(&ShardHeader { width: TokenWidth::U16, count: 2_001 }.to_bytes());
    std::fs::write(&shard, &bytes).unwrap();
    let err = open_err(&dir);
    assert!(err.contains("train_000001.bin: token count") && err.contains("expected 2000"), "{err}");

    // A u32 shard where the manifest says u16.
    let (_, tokens) = read_shard(&dir.join("train_000000.bin")).unwrap();
    let mut w = crate::shard::ShardWriter::create(&shard, TokenWidth::U32).unwrap();
    w.write(&tokens).unwrap();
    w.finish().unwrap();
    let err = open_err(&dir);
    assert!(err.contains("train_000001.bin: token width") && err.contains("expected U16"), "{err}");

    std::fs::remove_file(&shard).unwrap();
    let err = open_err(&dir);
    assert!(err.contains("train_000001.bin: shard listed in manifest.json"), "{err}");

    std::fs::write(&shard, &original).unwrap();
    ShardSet::open(&dir).unwrap();
}

#[test]
fn reader_reports_manifest_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = encoded(tmp.path());
    let mpath = dir.join("manifest.json");
    let original = std::fs::read_to_string(&mpath).unwrap();

    // A stray shard that the manifest does not list.
    std::fs::copy(dir.join("val_000000.bin"), dir.join("val_000007.bin")).unwrap();
    let err = open_err(&dir);
    assert!(err.contains("val_000007.bin") && err.contains("does not list"), "{err}");
    std::fs::remove_file(dir.join("val_000007.bin")).unwrap();

    // The tokenizer copy is part of the directory.
    let tok_path = dir.join("tokenizer.json");
    std::fs::rename(&tok_path, dir.join("elsewhere.json")).unwrap();
    let err = open_err(&dir);
    assert!(err.contains("tokenizer.json") && err.contains("no such file"), "{err}");
    std::fs::rename(dir.join("elsewhere.json"), &tok_path).unwrap();

    // Totals that disagree with the shard list.
    let mut m: Manifest = serde_json::from_str(&original).unwrap();
    m.splits.val.tokens += 1;
    m.save(&mpath).unwrap();
    let err = open_err(&dir);
    assert!(err.contains("manifest.json: val tokens"), "{err}");

    std::fs::write(&mpath, "[]").unwrap();
    assert!(open_err(&dir).contains("manifest.json"));

    std::fs::remove_file(&mpath).unwrap();
    let err = open_err(&dir);
    assert!(err.contains("manifest.json") && err.contains("run `tok encode`"), "{err}");

    let err = open_err(&tmp.path().join("nowhere"));
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn reader_streams_across_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = encoded(tmp.path());
    let set = ShardSet::open(&dir).unwrap();
    let all = set.split(Split::Train).to_vec();
    assert_eq!(all.len() as u64, set.tokens(Split::Train));
    let mut buf = vec![0; 3_500];
    for start in [0u64, 1_999, 2_000, 2_001, all.len() as u64 - 3_500] {
        set.split(Split::Train).copy_to(start, &mut buf);
        assert_eq!(buf, all[start as usize..start as usize + 3_500]);
    }
    let mut blocks = Vec::new();
    set.split(Split::Train).for_each_block(|b| blocks.extend_from_slice(b));
    assert_eq!(blocks, all);
}

// ---------------------------------------------------------------- batches

#[test]
fn train_windows_are_deterministic_and_stay_in_one_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = encoded(tmp.path());
    let set = ShardSet::open(&dir).unwrap();
    let counts: Vec<u64> = set.manifest().splits.train.shards.iter().map(|s| s.tokens).collect();
    let tokens = set.split(Split::Train).to_vec();
    let starts: Vec<u64> = counts.iter().scan(0, |acc, &c| Some(std::mem::replace(acc, *acc + c))).collect();
    let (b, t) = (8, 64);
    let mut a = set.train_batches(b, t, 42).unwrap();
    let mut again = set.train_batches(b, t, 42).unwrap();
    let mut other = set.train_batches(b, t, 43).unwrap();
    for step in [0u64, 1, 2, 1000, 5, 1] {
        let batch = a.batch(step).unwrap();
        let (inputs, targets) = (batch.inputs.to_vec(), batch.targets.to_vec());
        let again_batch = again.batch(step).unwrap();
        assert_eq!(again_batch.inputs, &inputs[..]);
        assert_eq!(again_batch.targets, &targets[..]);
        assert_ne!(other.batch(step).unwrap().inputs, &inputs[..]);
        for row in 0..b {
            let (k, off) = a.window_start(step, row);
            // T + 1 tokens from `off` must fit: off + T + 1 <= count.
            assert!(off + (t as u64) < counts[k], "window crosses the end of shard {k}");
            let g = (starts[k] + off) as usize;
            assert_eq!(&inputs[row * t..(row + 1) * t], &tokens[g..g + t]);
            assert_eq!(&targets[row * t..(row + 1) * t], &tokens[g + 1..g + t + 1]);
        }
    }
}

#[test]
fn train_windows_cover_every_position_uniformly() {
    // Shards of 10, 3 (too short for T = 4) and 7 tokens: 6 + 0 + 3 = 9
    // valid starts; each must come up about 1/9 of the time.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut train = Vec::new();
    for (i, n) in [10u32, 3, 7].into_iter().enumerate() {
        let name = format!("train_{i:06}.bin");
        let mut w = crate::shard::ShardWriter::create(&dir.join(&name), TokenWidth::U16).unwrap();
        w.write(&(0..n).map(|x| 100 * i as u32 + x).collect::<Vec<_>>()).unwrap();
        w.finish().unwrap();
        train.push(manifest::ShardEntry { file: name, tokens: n as u64 });
    }
    let splits = manifest::Splits {
        train: manifest::SplitInfo { tokens: 20, shards: train, ..Default::default() },
        val: manifest::SplitInfo::default(),
    };
    let m = Manifest::synthetic(tokenizer::Kind::Bpe, 300, TokenWidth::U16, 10, splits);
    m.save(&dir.join("manifest.json")).unwrap();
    let set = ShardSet::open(dir).unwrap();
    let mut batches = set.train_batches(3, 4, 7).unwrap();
    assert_eq!(batches.positions(), 9);
    let mut seen = std::collections::HashMap::new();
    for step in 0..3_000 {
        let first_inputs: Vec<u32> = batches.batch(step).unwrap().inputs.chunks(4).map(|r| r[0]).collect();
        for s in first_inputs {
            *seen.entry(s).or_insert(0) += 1;
        }
    }
    let mut keys: Vec<u32> = seen.keys().copied().collect();
    keys.sort();
    assert_eq!(keys, [0, 1, 2, 3, 4, 5, 200, 201, 202]);
    for (k, c) in seen {
        assert!((900..1100).contains(&c), "start {k}: {c} of 9000");
    }
    let err = set.train_batches(1, 10, 0).err().unwrap().to_string();
    assert!(
        err.contains("expected a shard of at least 11 tokens") && err.contains("largest with 10"),
        "{err}"
    );
}

#[test]
fn eval_windows_predict_every_token_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = encoded(tmp.path());
    let set = ShardSet::open(&dir).unwrap();
    for split in [Split::Train, Split::Val] {
        let tokens = set.split(split).to_vec();
        let m = tokens.len();
        for (b, t) in [(1, 1), (3, 7), (8, 64), (5, 2000), (2, m)] {
            let mut ev = set.eval_batches(split, b, t).unwrap();
            assert_eq!(ev.predictions(), m as u64 - 1);
            let mut inputs = Vec::new();
            let mut targets = Vec::new();
            let mut windows = 0;
            let mut batches = 0;
            while let Some(batch) = ev.next().unwrap() {
                assert_eq!(batch.first_window, windows);
                for row in 0..b {
                    let len = batch.lengths[row];
                    let r = row * t..(row + 1) * t;
                    let (i, tg) = (&batch.inputs[r.clone()], &batch.targets[r]);
                    if len > 0 {
                        // Overlap by one: this window starts where the last ended.
                        assert_eq!(i[0], tokens[windows as usize * t]);
                        windows += 1;
                    }
                    assert!(i[len..].iter().chain(&tg[len..]).all(|&x| x == 0));
                    inputs.extend_from_slice(&i[..len]);
                    targets.extend_from_slice(&tg[..len]);
                }
                batches += 1;
            }
            assert_eq!(inputs, tokens[..m - 1], "b={b} t={t}");
            assert_eq!(targets, tokens[1..], "b={b} t={t}");
            assert_eq!(windows, ev.windows());
            assert_eq!(windows, (m as u64 - 1).div_ceil(t as u64));
            assert_eq!(batches, ev.batches());
            ev.reset();
            assert_eq!(ev.next().unwrap().unwrap().first_window, 0);
        }
    }
}

#[test]
fn batch_buffers_are_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = encoded(tmp.path());
    let set = ShardSet::open(&dir).unwrap();
    let mut tb = set.train_batches(4, 16, 1).unwrap();
    let p = tb.batch(0).unwrap().inputs.as_ptr();
    assert_eq!(tb.batch(1).unwrap().inputs.as_ptr(), p);
    let mut ev = set.eval_batches(Split::Val, 4, 16).unwrap();
    let p = ev.next().unwrap().unwrap().inputs.as_ptr();
    assert_eq!(ev.next().unwrap().unwrap().inputs.as_ptr(), p);
}

// ---------------------------------------------------------------- properties

mod props {
    use proptest::prelude::*;

    use super::*;

    fn text_strategy() -> impl Strategy<Value = Vec<u8>> {
        // Few letters so that "th" pairs, newlines followed by graphic
        // bytes, and newline runs are all common.
        proptest::collection::vec(prop::sample::select(b"th \n\nx!".to_vec()), 0..400)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the chunk and window sizes, the shards hold the tokens of
        /// each document part encoded whole, and the counts match.
        #[test]
        fn chunking_never_changes_tokens(
            files in proptest::collection::vec(text_strategy(), 1..5),
            chunk in 1usize..64,
            window in 1usize..300,
            shard_tokens in 1u64..500,
            f in 0.0f64..0.9,
        ) {
            let tmp = tempfile::tempdir().unwrap();
            let corpus = tmp.path().join("corpus");
            std::fs::create_dir_all(&corpus).unwrap();
            for (i, t) in files.iter().enumerate() {
                std::fs::write(corpus.join(format!("{i}.txt")), t).unwrap();
            }
            let docs = list_files(&[&corpus]).unwrap();
            let config = EncodeConfig {
                val_fraction: f,
                shard_tokens,
                eot: false,
                part: None,
                chunk_bytes: chunk,
                window_bytes: window,
            };
            let out = tmp.path().join("out");
            match encode(&docs, &out, &config, true) {
                Err(Error::Empty(_)) => prop_assert!(files.iter().all(|t| t.is_empty())),
                Err(e) => prop_assert!(false, "{e}"),
                Ok(m) => {
                    let parts = expected_parts(&docs, f);
                    for (k, split) in [Split::Train, Split::Val].into_iter().enumerate() {
                        let mut expected = Vec::new();
                        for p in parts[k].iter().filter(|p| !p.is_empty()) {
                            expected.push(EOT);
                            Fake.encode_into(p, &mut expected).unwrap();
                        }
                        prop_assert_eq!(&split_tokens(&out, split), &expected);
                        let info = m.splits.get(split);
                        prop_assert_eq!(info.bytes, parts[k].iter().map(|p| p.len() as u64).sum::<u64>());
                        prop_assert!(info.shards.iter().all(|s| s.tokens <= shard_tokens && s.tokens > 0));
                    }
                }
            }
        }
    }
}
