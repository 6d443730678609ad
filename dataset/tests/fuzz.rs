//! Fuzz targets for everything the dataset crate reads from outside (see
//! `tokenizer/tests/fuzz_harness`): shard headers, whole shards, manifests,
//! whole shard directories and the partial manifests of a `--part`
//! encoding, from arbitrary bytes and from mutations of valid files. No input
//! may panic: each either opens with its invariants holding or is a typed
//! error naming the file.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

#[path = "../../tokenizer/tests/fuzz_harness/mod.rs"]
mod fuzz_harness;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use dataset::manifest::{self, MANIFEST_FILE, Manifest, TOKENIZER_FILE};
use dataset::shard::{HEADER_BYTES, MAX_TOKENS, ShardHeader, TokenWidth, read_shard};
use dataset::{EncodeConfig, Part, ShardSet, Split, TokenizerSource, encode_corpus};
use fuzz_harness::*;
use proptest::prelude::*;
use tokenizer::Tokenizer;
use tokenizer::chars::CharVocab;

fn one_line(e: &dataset::Error) -> Result<(), String> {
    let msg = e.to_string();
    if msg.contains('\n') || msg.is_empty() { Err(format!("error is not one line: {msg:?}")) } else { Ok(()) }
}

fn shard_bytes(width: TokenWidth, tokens: &[u32]) -> Vec<u8> {
    let mut b = ShardHeader { width, count: tokens.len() as u64 }.to_bytes().to_vec();
    for &t in tokens {
        match width {
            TokenWidth::U16 => b.extend_from_slice(&(t as u16).to_le_bytes()),
            TokenWidth::U32 => b.extend_from_slice(&t.to_le_bytes()),
        }
    }
    b
}

fn width() -> impl Strategy<Value = TokenWidth> {
    prop_oneof![Just(TokenWidth::U16), Just(TokenWidth::U32)]
}

#[test]
fn fuzz_shard_header() {
    let input = prop_oneof![
        arbitrary_bytes(1100),
        (width(), 0..100u32, byte_mutations()).prop_map(|(w, n, edits)| apply_bytes(
            &ShardHeader { width: w, count: n as u64 }.to_bytes(),
            &edits
        )),
    ];
    let path = Path::new("fuzz.bin");
    fuzz("shard_header", 512, input.prop_map(Bytes), |Bytes(bytes)| match ShardHeader::parse(&bytes, path) {
        Ok(h) => {
            if h.count > MAX_TOKENS || h.to_bytes()[..] != bytes[..HEADER_BYTES] {
                return Err(format!("accepted header {h:?} does not write back the same bytes"));
            }
            Ok(())
        }
        Err(e) => one_line(&e),
    });
}

#[test]
fn fuzz_read_shard() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train_000000.bin");
    let input = prop_oneof![
        arbitrary_bytes(1200),
        (width(), prop::collection::vec(any::<u32>(), 0..40), byte_mutations())
            .prop_map(|(w, toks, edits)| apply_bytes(&shard_bytes(w, &toks), &edits)),
    ];
    fuzz("read_shard", 256, input.prop_map(Bytes), |Bytes(bytes)| {
        std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
        match read_shard(&path) {
            Ok((h, tokens)) => {
                if tokens.len() as u64 != h.count || h.file_len() != bytes.len() as u64 {
                    return Err(format!("{h:?} with {} tokens from {} bytes", tokens.len(), bytes.len()));
                }
                if shard_bytes(h.width, &tokens) != bytes {
                    return Err("the tokens read do not write back the same file".into());
                }
                Ok(())
            }
            Err(e) => one_line(&e),
        }
    });
}

/// A shard directory encoded from a small corpus with a character
/// vocabulary (byte fallback), two shards per split.
struct Encoded {
    _tmp: tempfile::TempDir,
    shards: PathBuf,
    parts: PathBuf,
}

static ENCODED: LazyLock<Encoded> = LazyLock::new(|| {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    for i in 0..4 {
        std::fs::write(corpus.join(format!("d{i}.txt")), format!("abc é {i}\n").repeat(10 + i)).unwrap();
    }
    let chars = CharVocab::new(vec!['\n', ' ', 'a', 'b', 'c', 'é'], true).unwrap();
    let tok = Tokenizer::from_chars(chars, vec![("<|endoftext|>".into(), 262)], "chars").unwrap();
    let tok_path = tmp.path().join("chars.json");
    tok.save(&tok_path).unwrap();
    let docs = dataset::corpus::list_files(&[&corpus]).unwrap();
    let source = TokenizerSource::File(tok_path);
    let config = EncodeConfig { shard_tokens: 150, eot: true, ..EncodeConfig::default() };
    let shards = tmp.path().join("shards");
    encode_corpus(&docs, &tok, &source, &shards, &config, &mut |_| ControlFlow::Continue(())).unwrap();
    let parts = tmp.path().join("parts");
    for index in 0..2 {
        let config = EncodeConfig { part: Some(Part { index, count: 2 }), ..config.clone() };
        encode_corpus(&docs, &tok, &source, &parts, &config, &mut |_| ControlFlow::Continue(())).unwrap();
    }
    Encoded { _tmp: tmp, shards, parts }
});

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
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

/// What to do to one file of a directory.
#[derive(Clone, Debug)]
enum FileEdit {
    Json(usize, Vec<JsonEdit>),
    Bytes(usize, Vec<ByteEdit>),
    Delete(usize),
    AddStray(String),
}

fn file_edits() -> impl Strategy<Value = Vec<FileEdit>> {
    let edit = prop_oneof![
        4 => (any::<usize>(), json_mutations()).prop_map(|(f, e)| FileEdit::Json(f, e)),
        4 => (any::<usize>(), byte_mutations()).prop_map(|(f, e)| FileEdit::Bytes(f, e)),
        1 => any::<usize>().prop_map(FileEdit::Delete),
        1 => prop_oneof![Just("train_000009.bin"), Just("val_000000.bin"), Just("manifest_p0.json")]
            .prop_map(|s| FileEdit::AddStray(s.to_string())),
    ];
    prop::collection::vec(edit, 1..3)
}

/// Copies `files` into a fresh directory with `edits` applied.
fn mutated_dir(files: &[(String, Vec<u8>)], edits: &[FileEdit]) -> tempfile::TempDir {
    let mut files = files.to_vec();
    for e in edits {
        let n = files.len();
        match e {
            FileEdit::Json(f, edits) => {
                // JSON edits go to the JSON files only.
                let json: Vec<usize> = (0..n).filter(|&i| files[i].0.ends_with(".json")).collect();
                if let Some(&i) = json.get(f % json.len().max(1))
                    && let Ok(text) = std::str::from_utf8(&files[i].1)
                    && serde_json::from_str::<serde_json::Value>(text).is_ok()
                {
                    files[i].1 = apply_json(text, edits).into_bytes();
                }
            }
            FileEdit::Bytes(f, edits) if n > 0 => files[f % n].1 = apply_bytes(&files[f % n].1, edits),
            FileEdit::Delete(f) if n > 0 => {
                files.remove(f % n);
            }
            FileEdit::AddStray(name) => {
                if let Some(src) =
                    files.iter().find(|(n, _)| n.ends_with(".bin") || n.starts_with("manifest"))
                {
                    let bytes = src.1.clone();
                    files.push((name.clone(), bytes));
                }
            }
            _ => {}
        }
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in &files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

/// Everything a reader of an opened directory does must work or fail with
/// a typed error.
fn check_open_set(set: &ShardSet) -> Result<(), String> {
    let m = set.manifest();
    let _ = m.tokenizer.describe();
    for split in [Split::Train, Split::Val] {
        let s = set.split(split);
        let v = s.to_vec();
        if v.len() as u64 != s.len() || s.len() != m.splits.get(split).tokens {
            return Err(format!(
                "{split:?}: {} tokens read, manifest says {}",
                v.len(),
                m.splits.get(split).tokens
            ));
        }
        match set.eval_batches(split, 2, 3) {
            Ok(mut it) => loop {
                match it.next() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        one_line(&e)?;
                        break;
                    }
                }
            },
            Err(e) => one_line(&e)?,
        }
    }
    match set.train_batches(2, 3, 7) {
        Ok(mut it) => {
            for step in 0..4 {
                if let Err(e) = it.batch(step) {
                    one_line(&e)?;
                    break;
                }
            }
        }
        Err(e) => one_line(&e)?,
    }
    match set.tokenizer() {
        Ok(tok) => {
            let ids = set.split(Split::Train).to_vec();
            match tok.decode(&ids) {
                Ok(_) | Err(tokenizer::Error::IdOutOfRange { .. } | tokenizer::Error::UnusedId { .. }) => {}
                Err(e) => return Err(format!("decode: unexpected error {e}")),
            }
        }
        Err(e) => one_line(&e)?,
    }
    Ok(())
}

#[test]
fn fuzz_shard_directory() {
    let files = files_of(&ENCODED.shards);
    assert!(
        files.iter().any(|(n, _)| n == "train_000001.bin"),
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(files.iter().any(|(n, _)| n == TOKENIZER_FILE));
    fuzz("shard_directory", 256, file_edits(), |edits| {
        let dir = mutated_dir(&files, &edits);
        match ShardSet::open(dir.path()) {
            Ok(set) => check_open_set(&set),
            Err(e) => one_line(&e),
        }
    });
}

#[test]
fn fuzz_manifest() {
    let base = std::fs::read_to_string(ENCODED.shards.join(MANIFEST_FILE)).unwrap();
    let input = prop_oneof![
        1 => arbitrary_bytes(512),
        2 => byte_mutations().prop_map(|e| apply_bytes(base.as_bytes(), &e)),
        4 => json_mutations().prop_map(|e| apply_json(&base, &e).into_bytes()),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(MANIFEST_FILE);
    let again = tmp.path().join("again.json");
    fuzz("manifest", 512, input.prop_map(Bytes), |Bytes(bytes)| {
        std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
        match Manifest::load(&path) {
            Ok(m) => {
                let _ = m.tokenizer.describe();
                for h in [&m.tokenizer.content_hash, &m.splits.train.text_hash, &m.splits.val.text_hash] {
                    manifest::check_hex_hash(&path, "hash", h).map_err(|e| format!("accepted: {e}"))?;
                }
                m.save(&again).map_err(|e| e.to_string())?;
                let back =
                    Manifest::load(&again).map_err(|e| format!("saved manifest does not load: {e}"))?;
                if back != m {
                    return Err("save + load changed the manifest".into());
                }
                Ok(())
            }
            Err(e) => one_line(&e),
        }
    });
}

#[test]
fn fuzz_merge_part_manifests() {
    let files = files_of(&ENCODED.parts);
    assert!(files.iter().any(|(n, _)| n == "manifest_p1.json"));
    fuzz("merge_parts", 256, file_edits(), |edits| {
        let dir = mutated_dir(&files, &edits);
        match manifest::merge_parts(dir.path()) {
            Ok(m) => {
                if m.part.is_some() {
                    return Err("a merged manifest with \"part\"".into());
                }
                let back = Manifest::load(&dir.path().join(MANIFEST_FILE))
                    .map_err(|e| format!("the merged manifest does not load: {e}"))?;
                if back != m {
                    return Err("the written manifest differs from the returned one".into());
                }
                Ok(())
            }
            Err(e) => one_line(&e),
        }
    });
}
