//! Fuzz targets for the tokenizer (see `fuzz_harness`): our JSON file format
//! from arbitrary bytes and from mutations of valid files, and encode/decode
//! round trips of arbitrary bytes for our BPE files, character vocabularies
//! (with and without byte fallback) and the pretrained cl100k/o200k; and
//! the word-count file of `tok count` from arbitrary bytes and from
//! mutations of a valid one (also with the checksum made right again, so
//! the checks behind it are reached). No input may panic: a file either
//! loads into a tokenizer (or counts) whose invariants hold or gives a typed
//! error naming it.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

#[path = "fuzz_harness/mod.rs"]
mod fuzz_harness;

use std::sync::LazyLock;

use fuzz_harness::*;
use proptest::prelude::*;
use tokenizer::bpe::Bpe;
use tokenizer::chars::CharVocab;
use tokenizer::{Allowed, Error, Pattern, TokenId, Tokenizer};

static O200K: LazyLock<Tokenizer> = LazyLock::new(|| Tokenizer::load("o200k_base").unwrap());
static CL100K: LazyLock<Tokenizer> = LazyLock::new(|| Tokenizer::load("cl100k_base").unwrap());

fn bpe_file() -> Tokenizer {
    let b = |c: char| c as TokenId;
    let merges =
        [(b('t'), b('h')), (256, b('e')), (b(' '), 257), (b('a'), b('b')), (259, 259), (233, b(' '))];
    let bpe = Bpe::from_merges(&merges, Pattern::Gpt4).unwrap();
    Tokenizer::from_bpe(bpe, vec![("<|endoftext|>".into(), 262)], "bpe").unwrap()
}

fn ranks_file() -> Tokenizer {
    let mut toks: Vec<Vec<u8>> = (0..=255u8).rev().map(|b| vec![b]).collect();
    toks.push(b"ab".to_vec());
    toks.push("é".as_bytes().to_vec());
    let bpe = Bpe::from_ranks(toks, Pattern::Gpt2).unwrap();
    Tokenizer::from_bpe(bpe, vec![("<|endoftext|>".into(), 300)], "ranks").unwrap()
}

fn char_file(byte_fallback: bool) -> Tokenizer {
    let chars = CharVocab::new(vec!['\n', ' ', 'a', 'b', 'c', 'é', '日'], byte_fallback).unwrap();
    Tokenizer::from_chars(chars, vec![("<|endoftext|>".into(), 300)], "chars").unwrap()
}

static VALID: LazyLock<Vec<String>> = LazyLock::new(|| {
    vec![bpe_file().to_json(), ranks_file().to_json(), char_file(true).to_json(), char_file(false).to_json()]
});

/// What every loaded tokenizer must satisfy.
fn check_tokenizer(t: &Tokenizer, sample: &[u8]) -> Result<(), String> {
    // Canonical JSON round trips to the same bytes and hash.
    let json = t.to_json();
    let back =
        Tokenizer::from_json(&json, "again.json").map_err(|e| format!("own JSON does not load: {e}"))?;
    if back.to_json() != json || back.content_hash() != t.content_hash() {
        return Err("to_json is not canonical".into());
    }
    if t.vocab_size() < t.base_vocab_size() {
        return Err("vocab_size < base_vocab_size".into());
    }
    // Every id decodes or is a typed error; ids past the vocabulary are errors.
    let probe: Vec<TokenId> =
        (0..t.vocab_size().min(600) as TokenId).chain([t.vocab_size() as TokenId, u32::MAX]).collect();
    for &id in &probe {
        match t.decode(&[id]) {
            Ok(b) => {
                if t.token_bytes(id).is_some_and(|tb| tb != b.as_slice()) {
                    return Err(format!("decode([{id}]) differs from token_bytes"));
                }
            }
            Err(Error::IdOutOfRange { .. } | Error::UnusedId { .. }) => {}
            Err(e) => return Err(format!("decode([{id}]): unexpected error {e}")),
        }
    }
    check_round_trip(t, sample)
}

/// `decode(encode(x)) == x`, or a typed encoding error for a character
/// vocabulary without byte fallback.
fn check_round_trip(t: &Tokenizer, bytes: &[u8]) -> Result<(), String> {
    for allowed in [Allowed::None, Allowed::All] {
        match t.encode(bytes, &allowed) {
            Ok(ids) => {
                if let Some(&id) = ids.iter().find(|&&id| id as usize >= t.vocab_size()) {
                    return Err(format!("encode gave id {id} >= vocab_size {}", t.vocab_size()));
                }
                let back = t.decode(&ids).map_err(|e| format!("decode of encode failed: {e}"))?;
                if back != bytes {
                    return Err(format!("round trip changed {bytes:?} into {back:?}"));
                }
            }
            Err(Error::UnknownChar { .. } | Error::InvalidUtf8 { .. })
                if t.as_chars().is_some_and(|c| !c.byte_fallback()) => {}
            Err(e) => return Err(format!("encode failed: {e}")),
        }
    }
    Ok(())
}

/// One directory for every case (a fresh one per case costs more than the
/// case), one file name per running target.
static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());

fn check_load(json_bytes: &[u8], sample: &[u8]) -> Result<(), String> {
    let name = format!("fuzzed-{:?}.json", std::thread::current().id()).replace(['(', ')'], "");
    let path = DIR.path().join(name);
    std::fs::write(&path, json_bytes).map_err(|e| e.to_string())?;
    match Tokenizer::from_file(&path) {
        Ok(t) => check_tokenizer(&t, sample),
        Err(e @ Error::BadFile { .. }) => {
            let msg = e.to_string();
            if !msg.starts_with(&path.display().to_string()) || msg.contains('\n') {
                return Err(format!("error does not name the file on one line: {msg}"));
            }
            Ok(())
        }
        Err(e) => Err(format!("unexpected error kind: {e}")),
    }
}

fn text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        arbitrary_bytes(64),
        ".{0,40}".prop_map(String::into_bytes),
        prop::collection::vec(prop::sample::select(&b"ab \n\xc3\xa9<|endoftext|>"[..]), 0..48),
    ]
}

#[test]
fn fuzz_tokenizer_json_arbitrary_bytes() {
    fuzz("tokenizer_json_bytes", 256, (arbitrary_bytes(256), text()), |(bytes, sample)| {
        check_load(&bytes, &sample)
    });
}

#[test]
fn fuzz_tokenizer_json_byte_mutations() {
    fuzz(
        "tokenizer_json_byte_mutations",
        256,
        (0..4usize, byte_mutations(), text()),
        |(k, edits, sample)| check_load(&apply_bytes(VALID[k].as_bytes(), &edits), &sample),
    );
}

#[test]
fn fuzz_tokenizer_json_field_mutations() {
    fuzz(
        "tokenizer_json_field_mutations",
        256,
        (0..4usize, json_mutations(), text()),
        |(k, edits, sample)| check_load(apply_json(&VALID[k], &edits).as_bytes(), &sample),
    );
}

#[test]
fn fuzz_round_trip_our_files() {
    let toks = [bpe_file(), ranks_file(), char_file(true), char_file(false)];
    fuzz("round_trip_ours", 256, text().prop_map(Bytes), |Bytes(bytes)| {
        toks.iter().try_for_each(|t| check_round_trip(t, &bytes))
    });
}

#[test]
fn fuzz_round_trip_pretrained() {
    fuzz("round_trip_pretrained", 128, text().prop_map(Bytes), |Bytes(bytes)| {
        check_round_trip(&CL100K, &bytes)?;
        check_round_trip(&O200K, &bytes)
    });
}

/// Arbitrary id lists decode or give a typed error, for every kind.
#[test]
fn fuzz_decode_arbitrary_ids() {
    let toks = [bpe_file(), ranks_file(), char_file(true), char_file(false), CL100K.clone(), O200K.clone()];
    let ids = prop::collection::vec(prop_oneof![0..400u32, 199_990..200_030u32, any::<u32>()], 0..16);
    fuzz("decode_ids", 256, ids, |ids| {
        for t in &toks {
            match t.decode(&ids) {
                Ok(_) => {
                    if let Some(id) = ids.iter().find(|&&id| id as usize >= t.vocab_size()) {
                        return Err(format!("{}: decoded id {id} past the vocabulary", t.name()));
                    }
                }
                Err(Error::IdOutOfRange { .. } | Error::UnusedId { .. }) => {}
                Err(e) => return Err(format!("{}: unexpected error {e}", t.name())),
            }
        }
        Ok(())
    });
}

// ------------------------------------------------------------------ word-count files

/// A valid word-count file: short and long pieces, a zero byte, counts
/// that need several varint bytes.
static COUNTS: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut w = tokenizer::train::WordCounter::new(Pattern::Gpt4);
    w.feed_many(&[
        b"the cat sat on the mat\n\n  and a piece longer than fifteen bytes, supercalifragilistic".as_slice(),
        b"\0\xff\xfe 12345 the the the",
    ]);
    w.add(b"x", 1 << 40);
    let path = DIR.path().join("valid-counts.bin");
    w.write_counts(&path, &mut tokenizer::train::Silent).unwrap();
    std::fs::read(&path).unwrap()
});

/// Reading (and merging with a valid file) either succeeds with sorted,
/// distinct entries whose counts sum to the header's, or fails with one
/// line naming the damaged file.
fn check_counts(bytes: &[u8]) -> Result<(), String> {
    use tokenizer::train::{CountsReader, Silent, merge_counts};
    let name = format!("fuzzed-{:?}.bin", std::thread::current().id()).replace(['(', ')'], "");
    let path = DIR.path().join(name);
    std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
    let named = |e: Error| -> Result<(), String> {
        let msg = e.to_string();
        match e {
            Error::BadCounts { .. }
                if msg.starts_with(&path.display().to_string()) && !msg.contains('\n') =>
            {
                Ok(())
            }
            _ => Err(format!("unexpected error: {msg}")),
        }
    };
    let mut r = match CountsReader::open(&path) {
        Ok(r) => r,
        Err(e) => return named(e),
    };
    let header = r.header();
    let mut prev: Option<Vec<u8>> = None;
    let mut sum = 0u64;
    let read = r.for_each(|p, c| {
        if prev.as_deref().is_some_and(|q| q >= p) || p.is_empty() || c == 0 {
            return Err(Error::Config("accepted an entry out of order, empty or zero".into()));
        }
        prev = Some(p.to_vec());
        sum += c;
        Ok(())
    });
    match read {
        Ok(()) if sum != header.pieces => return Err("accepted counts that do not sum to the header".into()),
        Ok(()) => {}
        Err(e) => return named(e),
    }
    let valid = DIR.path().join("valid-counts.bin");
    let mut sources = vec![
        CountsReader::open(&valid).map_err(|e| e.to_string())?,
        CountsReader::open(&path).map_err(|e| e.to_string())?,
    ];
    match merge_counts(&mut sources, 0, &mut Silent, |_, _| Ok(())) {
        Ok(_) => Ok(()),
        Err(e @ Error::Config(_)) if e.to_string().contains("overflow") => Ok(()),
        Err(e) => named(e),
    }
}

#[test]
fn fuzz_counts_arbitrary_bytes() {
    LazyLock::force(&COUNTS);
    fuzz("counts_bytes", 256, arbitrary_bytes(256), |bytes| check_counts(&bytes));
}

#[test]
fn fuzz_counts_byte_mutations() {
    fuzz("counts_byte_mutations", 512, byte_mutations(), |edits| check_counts(&apply_bytes(&COUNTS, &edits)));
}

/// Mutations whose checksum is then made right again, so that the checks
/// behind it (order, counts, trailer) are what must catch them.
#[test]
fn fuzz_counts_mutations_with_checksum() {
    fuzz("counts_mutations_rehashed", 512, byte_mutations(), |edits| {
        let mut b = apply_bytes(&COUNTS, &edits);
        if b.len() >= 32 {
            let n = b.len() - 32;
            let hash = blake3::hash(&b[..n]);
            b[n..].copy_from_slice(hash.as_bytes());
        }
        check_counts(&b)
    });
}
