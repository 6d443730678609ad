//! Round trips and parallel encoding: `decode(encode(x)) == x` for every byte
//! string, chunked and parallel encoding equal to the sequential one.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::LazyLock;

use proptest::prelude::*;
use tokenizer::bpe::Bpe;
use tokenizer::chars::CharVocab;
use tokenizer::{Allowed, Pattern, TokenId, Tokenizer};

static O200K: LazyLock<Tokenizer> = LazyLock::new(|| Tokenizer::load("o200k_base").unwrap());
static CL100K: LazyLock<Tokenizer> = LazyLock::new(|| Tokenizer::load("cl100k_base").unwrap());
static R50K: LazyLock<Tokenizer> = LazyLock::new(|| Tokenizer::load("r50k_base").unwrap());

/// A small trained-style vocabulary over common English pairs, one per pattern.
fn small(pattern: Pattern) -> Tokenizer {
    let b = |c: char| c as TokenId;
    let merges = [
        (b('t'), b('h')),
        (256, b('e')),
        (b(' '), 257),
        (b('i'), b('n')),
        (b(' '), b('a')),
        (259, b('g')),
        (b('e'), b('r')),
        (b('\n'), b('\n')),
        (b('0'), b('0')),
        (264, b('0')),
    ];
    let bpe = Bpe::from_merges(&merges, pattern).unwrap();
    Tokenizer::from_bpe(bpe, vec![("<|endoftext|>".into(), 266)], "small").unwrap()
}

fn all_bpe() -> Vec<Tokenizer> {
    let mut v = vec![O200K.clone(), CL100K.clone(), R50K.clone()];
    v.extend([Pattern::Gpt4, Pattern::Gpt4o, Pattern::Gpt2, Pattern::None].map(small));
    v
}

fn real_text() -> String {
    let mut s = String::new();
    for i in 0..200 {
        s.push_str(&format!(
            "Line {i}: the thinking king's men weren't in the garden.\r\n\tdef f_{i}(x): return x*{i} # ok\n\
             日本語 {i}🦀 ... \u{a0}   spaces   and\n\n\n"
        ));
    }
    s
}

fn check_round_trip(t: &Tokenizer, bytes: &[u8]) {
    let ids = t.encode_ordinary(bytes).unwrap();
    assert_eq!(t.decode(&ids).unwrap(), bytes, "{}", t.name());
    let ids = t.encode(bytes, &Allowed::All).unwrap();
    assert_eq!(t.decode(&ids).unwrap(), bytes, "{} with specials", t.name());
}

/// Cutting at every chunk boundary, and the parallel encoder, give the
/// sequential ids.
fn check_chunks(t: &Tokenizer, text: &[u8]) {
    let whole = t.encode_ordinary(text).unwrap();
    let mut from = 0;
    let mut checked = 0;
    while let Some(p) = t.chunk_boundary(text, from) {
        assert!(p >= from.max(1) && p < text.len());
        let mut cut = t.encode_ordinary(&text[..p]).unwrap();
        cut.extend(t.encode_ordinary(&text[p..]).unwrap());
        assert_eq!(cut, whole, "{}: cut at {p} changes the ids", t.name());
        from = p + 1;
        checked += 1;
        if checked > 200 {
            break;
        }
    }
    for target in [1, 7, 64, 1000] {
        let mut ids = Vec::new();
        for r in t.chunk_ranges(text, target) {
            ids.extend(t.encode_ordinary(&text[r]).unwrap());
        }
        assert_eq!(ids, whole, "{}: chunks of {target}", t.name());
    }
    assert_eq!(t.encode_ordinary_par(text).unwrap(), whole);
}

#[test]
fn real_text_round_trips_and_chunks() {
    let text = real_text();
    for t in all_bpe() {
        check_round_trip(&t, text.as_bytes());
        check_chunks(&t, text.as_bytes());
    }
}

#[test]
fn large_text_encodes_the_same_in_parallel() {
    // Larger than the parallel encoder's smallest chunk, so it really cuts.
    let text = real_text().repeat(60);
    assert!(text.len() > 1 << 20);
    for t in [&*O200K, &*CL100K] {
        let seq = t.encode_ordinary(text.as_bytes()).unwrap();
        assert_eq!(t.encode_ordinary_par(text.as_bytes()).unwrap(), seq);
        let docs: Vec<&[u8]> = text.as_bytes().chunks(100_003).collect();
        let batch = t.encode_batch(&docs).unwrap();
        for (d, ids) in docs.iter().zip(&batch) {
            assert_eq!(ids, &t.encode_ordinary(d).unwrap());
        }
    }
}

#[test]
fn char_vocabularies_round_trip_with_fallback() {
    let chars: Vec<char> = "\n !',.?abcdefghijklmnopqrstuvwxyz".chars().collect();
    let t =
        Tokenizer::from_chars(CharVocab::new(chars, true).unwrap(), vec![("<s>".into(), 400)], "c").unwrap();
    let text = real_text();
    check_round_trip(&t, text.as_bytes());
    check_round_trip(&t, b"\xff\xfe invalid \xe2\x82 utf8 <s>");
    check_chunks(&t, text.as_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for t in all_bpe() {
            let ids = t.encode_ordinary(&bytes).unwrap();
            prop_assert_eq!(t.decode(&ids).unwrap(), bytes.clone());
        }
    }

    #[test]
    fn random_unicode_round_trips(s in "\\PC{0,80}") {
        for t in all_bpe() {
            check_round_trip(&t, s.as_bytes());
        }
    }

    #[test]
    fn chunks_are_exact_on_random_text(s in "([a-zA-Z]{1,6}[ .,'!\\n\\r\\t0-9]{0,3}|\\PC){0,60}") {
        for t in all_bpe() {
            check_chunks(&t, s.as_bytes());
        }
    }

    #[test]
    fn long_pieces_round_trip(s in "[ab]{100,2000}") {
        // One piece: the heap path, on a vocabulary where "aa", "ab", ... compete.
        for t in [&*O200K, &*CL100K] {
            check_round_trip(t, s.as_bytes());
        }
    }
}
