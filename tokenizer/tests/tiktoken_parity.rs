//! Our encoder against `tiktoken-rs`, the reference: identical ids on the
//! pretrained vocabularies (cl100k, o200k, r50k, p50k) and on vocabularies of
//! our own loaded into `tiktoken_rs::CoreBPE::new`.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::HashSet;
use std::sync::LazyLock;

use proptest::prelude::*;
use rustc_hash::FxHashMap;
use tiktoken_rs::CoreBPE;
use tokenizer::bpe::Bpe;
use tokenizer::{Allowed, Pattern, TokenId, Tokenizer};

struct Pair {
    ours: Tokenizer,
    theirs: &'static CoreBPE,
}

fn pair(name: &str) -> Pair {
    let theirs = match name {
        "cl100k_base" => tiktoken_rs::cl100k_base_singleton(),
        "o200k_base" => tiktoken_rs::o200k_base_singleton(),
        "r50k_base" => tiktoken_rs::r50k_base_singleton(),
        "p50k_base" => tiktoken_rs::p50k_base_singleton(),
        _ => unreachable!(),
    };
    Pair { ours: Tokenizer::load(name).expect("pretrained loads"), theirs }
}

static CL100K: LazyLock<Pair> = LazyLock::new(|| pair("cl100k_base"));
static O200K: LazyLock<Pair> = LazyLock::new(|| pair("o200k_base"));
static R50K: LazyLock<Pair> = LazyLock::new(|| pair("r50k_base"));
static P50K: LazyLock<Pair> = LazyLock::new(|| pair("p50k_base"));

fn all() -> [&'static Pair; 4] {
    [&CL100K, &O200K, &R50K, &P50K]
}

fn check(p: &Pair, text: &str) {
    let want = p.theirs.encode_ordinary(text);
    let got = p.ours.encode_ordinary(text.as_bytes()).expect("BPE never fails");
    assert_eq!(got, want, "{}: ids differ on {:?}", p.ours.name(), truncate(text));
    assert_eq!(p.ours.decode(&got).unwrap(), text.as_bytes());
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

/// The fixed texts of the issue: English, code, CJK, emoji, whitespace runs,
/// long digits, contractions, `\r\n`, long pieces without spaces.
fn fixed_texts() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        "Hello, world!",
        "The quick brown fox jumps over the lazy dog. It's 3:45pm; they'll've gone.",
        "I'M SHOUTING, YOU'RE NOT, WE'D BETTER STOP. Don't won't can't shouldn't've",
        "def f(x):\n    return x ** 2  # square\n\n\nclass A(object):\n\tpass\r\n",
        "for (int i = 0; i < n; ++i) { a[i] = b[i] * 2; }\n",
        "日本語のテキストです。中文文本。한국어 텍스트.",
        "emoji 🦀🚀👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵",
        "   leading and trailing spaces   ",
        "tabs\t\t\tand\n\n\n\nnewlines\r\n\r\n  \r\n",
        "1234567890123456789 3.14159265358979 1,000,000 0x1F 10e-9",
        "user@example.com https://example.com/path?q=1&r=2#frag",
        "Ünïcödé äccents, ÇÀ, ß, Ω, Ж, ئ, हिन्दी, ไทย",
        "\u{a0}\u{2009}\u{3000}nbsp and thin space\u{200b}zero width",
        "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'Ve",
        "<|endoftext|> is text here <|fim_prefix|>",
        "a\u{301}e\u{301} combining marks \u{fe0f}",
        " \n \n  x \r\n\t y",
        "\n",
        " ",
        "   ",
        "x   ",
        "x \n",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a".repeat(5000));
    v.push("ab".repeat(3000));
    v.push("0123456789".repeat(500));
    v.push(" ".repeat(3000));
    v.push("\n".repeat(1000) + "x");
    v.push("😀".repeat(700));
    v.push("日本".repeat(1000));
    v.push("!@#$%^&*()".repeat(300));
    v.push("Supercalifragilisticexpialidocious".repeat(100));
    v
}

#[test]
fn fixed_texts_match_tiktoken() {
    for p in all() {
        for t in fixed_texts() {
            check(p, &t);
        }
    }
}

#[test]
fn a_long_piece_without_spaces_matches_and_stays_fast() {
    // 200 kB of letters: one piece for every pattern. Quadratic merging would
    // take minutes here; the heap path takes milliseconds.
    let mut s = String::new();
    let mut x: u32 = 12345;
    while s.len() < 200_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        s.push((b'a' + (x >> 16) as u8 % 26) as char);
    }
    for p in [&*CL100K, &*O200K] {
        check(p, &s);
    }
}

#[test]
fn specials_match_tiktoken_when_allowed() {
    let text = "a<|endoftext|>b<|fim_prefix|><|endofprompt|>c<|endoftext|";
    for p in [&*CL100K, &*O200K] {
        let want = p.theirs.encode_with_special_tokens(text);
        let got = p.ours.encode(text.as_bytes(), &Allowed::All).unwrap();
        assert_eq!(got, want, "{}", p.ours.name());
        assert_eq!(p.ours.decode(&got).unwrap(), text.as_bytes());
        let only: HashSet<&str> = ["<|endoftext|>"].into();
        let (want, _) = p.theirs.encode(text, &only).unwrap();
        assert_eq!(p.ours.encode(text.as_bytes(), &Allowed::Some(&["<|endoftext|>"])).unwrap(), want);
    }
}

#[test]
fn pretrained_shapes() {
    let o = &O200K.ours;
    assert_eq!(o.vocab_size(), 200_019);
    assert_eq!(o.base_vocab_size(), 199_998);
    assert_eq!(o.special_id("<|endoftext|>"), Some(199_999));
    assert_eq!(o.pattern(), Some(Pattern::Gpt4o));
    let c = &CL100K.ours;
    assert_eq!(c.vocab_size(), 100_277);
    assert_eq!(c.special_tokens().len(), 5);
    assert_eq!(c.token_bytes(0), Some(&b"!"[..]));
    assert_eq!(R50K.ours.vocab_size(), 50_257);
    assert_eq!(P50K.ours.vocab_size(), 50_281);
    // The pretrained files round-trip through our format.
    let back = Tokenizer::from_json(&c.to_json(), "cl100k.json").unwrap();
    assert_eq!(back.name(), "cl100k_base");
    assert_eq!(back.content_hash(), c.content_hash());
    let text = "round trip through the rank file 12345 🦀";
    assert_eq!(back.encode_ordinary(text.as_bytes()).unwrap(), c.encode_ordinary(text.as_bytes()).unwrap());
}

#[test]
fn gaps_are_unused_ids() {
    let e = O200K.ours.decode(&[199_998]).unwrap_err().to_string();
    assert_eq!(e, "token id 199998 is unused in this vocabulary (no token has it)");
    assert_eq!(O200K.ours.decode(&[200_018]).unwrap(), b"<|endofprompt|>");
}

/// A random-ish vocabulary of our own, also loaded into tiktoken-rs: checks
/// the byte-keyed merge rule on vocabularies with many alternative cuts.
fn random_vocab(seed: u64, merges: usize, pattern: Pattern) -> (Tokenizer, CoreBPE) {
    let mut x = seed;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    // Small alphabet so that tokens overlap and compete.
    let alphabet = b"ab c\n1";
    let mut list: Vec<(TokenId, TokenId)> = Vec::new();
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut seen: HashSet<Vec<u8>> = tokens.iter().cloned().collect();
    let mut pool: Vec<TokenId> = alphabet.iter().map(|&b| b as TokenId).collect();
    while list.len() < merges {
        let a = pool[next(pool.len())];
        let b = pool[next(pool.len())];
        let t = [tokens[a as usize].as_slice(), tokens[b as usize].as_slice()].concat();
        if t.len() > 12 || !seen.insert(t.clone()) {
            continue;
        }
        list.push((a, b));
        tokens.push(t);
        pool.push(tokens.len() as TokenId - 1);
    }
    let bpe = Bpe::from_merges(&list, pattern).unwrap();
    let ours = Tokenizer::from_bpe(bpe, vec![], "random").unwrap();
    let encoder: FxHashMap<Vec<u8>, u32> =
        tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let theirs = CoreBPE::new(encoder, FxHashMap::default(), pattern.tiktoken_pat_str()).unwrap();
    (ours, theirs)
}

#[test]
fn random_vocabularies_match_tiktoken() {
    for seed in 1..=8u64 {
        // Pattern::None goes to tiktoken as its `tiktoken_pat_str`.
        let pattern = [Pattern::Gpt4, Pattern::Gpt4o, Pattern::Gpt2, Pattern::None][seed as usize % 4];
        let (ours, theirs) = random_vocab(seed * 7919, 400, pattern);
        let mut x = seed;
        for len in [2usize, 5, 17, 64, 127, 128, 129, 300, 3000] {
            for _ in 0..20 {
                let s: String = (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        b"ab c\n1"[(x >> 33) as usize % 6] as char
                    })
                    .collect();
                let want = theirs.encode_ordinary(&s);
                assert_eq!(ours.encode_ordinary(s.as_bytes()).unwrap(), want, "seed {seed} on {s:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_unicode_matches_tiktoken(s in "\\PC{0,40}|[ \\t\\n\\r\\u{a0}\\u{3000}a-zA-Z0-9'!.,/]{0,60}") {
        for p in all() {
            let want = p.theirs.encode_ordinary(&s);
            prop_assert_eq!(p.ours.encode_ordinary(s.as_bytes()).unwrap(), want, "{} on {:?}", p.ours.name(), s);
        }
    }

    #[test]
    fn any_string_matches_tiktoken(s in any::<String>()) {
        for p in [&*CL100K, &*O200K] {
            let want = p.theirs.encode_ordinary(&s);
            prop_assert_eq!(p.ours.encode_ordinary(s.as_bytes()).unwrap(), want);
        }
    }
}
