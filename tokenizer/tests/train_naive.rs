//! The BPE trainer against a naive reference that recounts every pair at
//! every merge: identical merges on corpora with many ties, runs of one
//! character, invalid UTF-8, random bytes and real text; plus merge lists
//! worked out by hand for tiny corpora.

mod train_common;

use tokenizer::Pattern;
use tokenizer::train::{Learned, Silent, Stop, WordCounter, learn_merges};
use train_common::{REAL_TEXT, Rng, zipf_text};

/// The naive trainer: every merge recounts all pairs of all words, takes the
/// highest count, ties to the smallest pair `(a, b)`, and replaces the pair
/// left to right without overlap. A merge whose bytes already exist maps to
/// the existing token, takes no slot and is not listed (the same rule as the
/// trainer). Returns the merges, why it stopped and the number of duplicates.
fn naive(counter: &WordCounter, merges: usize, min_frequency: u64) -> (Vec<(u32, u32)>, Stop, usize) {
    let mut words: Vec<(Vec<u32>, u64)> =
        counter.iter().map(|(w, c)| (w.iter().map(|&b| u32::from(b)).collect(), c)).collect();
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut out = Vec::new();
    let mut dups = 0;
    let mut counts: std::collections::HashMap<(u32, u32), u64> = Default::default();
    while out.len() < merges {
        counts.clear();
        for (w, c) in &words {
            for p in w.windows(2) {
                *counts.entry((p[0], p[1])).or_default() += c;
            }
        }
        let mut best: Option<((u32, u32), u64)> = None;
        for (&pair, &count) in &counts {
            let better = match best {
                None => true,
                Some((bp, bc)) => count > bc || (count == bc && pair < bp),
            };
            if better {
                best = Some((pair, count));
            }
        }
        let Some(((a, b), count)) = best else { return (out, Stop::NoPairs, dups) };
        if count < min_frequency {
            return (out, Stop::MinFrequency, dups);
        }
        let bytes = [tokens[a as usize].as_slice(), tokens[b as usize].as_slice()].concat();
        let id = match tokens.iter().position(|t| *t == bytes) {
            Some(id) => {
                dups += 1;
                id as u32
            }
            None => {
                tokens.push(bytes);
                out.push((a, b));
                tokens.len() as u32 - 1
            }
        };
        for (w, _) in &mut words {
            let mut merged = Vec::with_capacity(w.len());
            let mut i = 0;
            while i < w.len() {
                if i + 1 < w.len() && w[i] == a && w[i + 1] == b {
                    merged.push(id);
                    i += 2;
                } else {
                    merged.push(w[i]);
                    i += 1;
                }
            }
            *w = merged;
        }
    }
    (out, Stop::Target, dups)
}

fn count(pattern: Pattern, docs: &[Vec<u8>]) -> WordCounter {
    let mut c = WordCounter::new(pattern);
    c.feed_many(docs);
    c
}

fn learn(counter: &WordCounter, merges: usize, min_frequency: u64) -> Learned {
    learn_merges(counter, merges, min_frequency, &mut Silent).expect("learns")
}

/// Trains both ways and compares merges, stop reason and duplicates.
fn check(name: &str, counter: &WordCounter, merges: usize, min_frequency: u64) -> Learned {
    let learned = learn(counter, merges, min_frequency);
    let (expected, stop, dups) = naive(counter, merges, min_frequency);
    assert_eq!(learned.merges.len(), expected.len(), "{name}: number of merges");
    if let Some(i) = (0..expected.len()).find(|&i| learned.merges[i] != expected[i]) {
        panic!("{name}: merge {i} is {:?}, the naive trainer says {:?}", learned.merges[i], expected[i]);
    }
    assert_eq!(learned.stats.stop, stop, "{name}: stop reason");
    // Byte-level BPE with left-to-right merging never meets a duplicate (see
    // the module docs of `train::learn`); the naive trainer confirms it.
    assert_eq!((learned.stats.duplicates, dups), (0, 0), "{name}: duplicate merges");
    learned
}

/// Random words over a small alphabet, each used a few times: most pairs tie
/// with many others at every step.
fn tie_text(rng: &mut Rng, words: usize, alphabet: &[u8]) -> Vec<u8> {
    let mut text = Vec::new();
    for _ in 0..words {
        let len = 1 + rng.below(6) as usize;
        for _ in 0..len {
            text.push(alphabet[rng.below(alphabet.len() as u64) as usize]);
        }
        text.push(b' ');
    }
    text
}

#[test]
fn ties_small_alphabet() {
    let mut rng = Rng::new(1);
    for (i, alphabet) in [&b"ab"[..], b"abc", b"abcd", b"xyzXYZ"].into_iter().enumerate() {
        let docs = vec![tie_text(&mut rng, 300, alphabet), tie_text(&mut rng, 50, alphabet)];
        for pattern in [Pattern::Gpt4, Pattern::None] {
            let counter = count(pattern, &docs);
            check(&format!("ties {i} {pattern:?}"), &counter, 400, 0);
        }
    }
}

#[test]
fn every_word_once_all_counts_tie() {
    // Every string of length 2..=4 over "abc", once each: all words have
    // count 1 and many pairs tie at every step.
    let mut counter = WordCounter::new(Pattern::None);
    let letters = b"abc";
    for len in 2..=4u32 {
        for mut code in 0..3u32.pow(len) {
            let mut w = Vec::new();
            for _ in 0..len {
                w.push(letters[(code % 3) as usize]);
                code /= 3;
            }
            counter.add(&w, 1);
        }
    }
    let learned = check("all words once", &counter, 1000, 0);
    assert_eq!(learned.stats.stop, Stop::NoPairs);
}

#[test]
fn runs_of_one_character() {
    // Overlapping merges: "aa" + "aa", left-to-right replacement in odd and
    // even runs, touching occurrences ("abab"), runs of punctuation and
    // whitespace.
    let mut docs = Vec::new();
    for n in 1..=40 {
        docs.push(format!(
            "{} {} {} {}\n",
            "a".repeat(n),
            "=".repeat(n % 13 + 1),
            "ab".repeat(n % 7 + 1),
            " ".repeat(n % 5)
        ));
        docs.push(format!("b{}c {}\n", "a".repeat(n % 9), "-=".repeat(n % 4 + 1)));
    }
    let docs: Vec<Vec<u8>> = docs.into_iter().map(String::into_bytes).collect();
    for pattern in [Pattern::Gpt4, Pattern::Gpt2, Pattern::None] {
        let counter = count(pattern, &docs);
        check(&format!("runs {pattern:?}"), &counter, 500, 0);
    }
    // One long run with a few counts of different lengths.
    let mut counter = WordCounter::new(Pattern::None);
    for n in [2, 3, 4, 5, 7, 8, 16, 31, 64, 100] {
        counter.add("a".repeat(n).as_bytes(), n as u64 % 3 + 1);
    }
    check("long runs", &counter, 100, 0);
}

#[test]
fn invalid_utf8_and_random_bytes() {
    let mut rng = Rng::new(7);
    let mut docs = Vec::new();
    for _ in 0..20 {
        // Random bytes biased to a few values, so pairs repeat.
        let doc: Vec<u8> = (0..500)
            .map(|_| match rng.below(4) {
                0 => rng.below(256) as u8,
                1 => 0xFF,
                2 => b' ',
                _ => [0xC3, 0xA9, 0xE2, 0x80][rng.below(4) as usize],
            })
            .collect();
        docs.push(doc);
    }
    docs.push(b"caf\xc3\xa9 \xff\xfe na\xefve \xe2\x80\x94 \xf0\x9f\x98\x80 \xc3".to_vec());
    for pattern in [Pattern::Gpt4, Pattern::Gpt4o, Pattern::None] {
        let counter = count(pattern, &docs);
        check(&format!("bytes {pattern:?}"), &counter, 300, 0);
    }
}

#[test]
fn real_text() {
    let docs = vec![REAL_TEXT.as_bytes().to_vec()];
    for pattern in [Pattern::Gpt4, Pattern::Gpt4o, Pattern::Gpt2] {
        let counter = count(pattern, &docs);
        check(&format!("real {pattern:?}"), &counter, 300, 0);
    }
    let counter = count(Pattern::Gpt4, &docs);
    let learned = check("real min-frequency", &counter, 10_000, 3);
    assert_eq!(learned.stats.stop, Stop::MinFrequency);
    assert!(learned.stats.last_count >= 3);
}

#[test]
fn long_words() {
    // Words longer than 64 symbols are merged through linked positions
    // rather than rescanned: whole documents under Pattern::None, and long
    // runs (overlapping "aa" + "aa", touching "abab") mixed with short words
    // holding the same pairs.
    let mut counter = WordCounter::new(Pattern::None);
    counter.add(REAL_TEXT.as_bytes(), 2);
    counter.add(&zipf_text(4, 3000, 300), 1);
    for (unit, n) in [("a", 200), ("a", 65), ("ab", 150), ("aab", 90), ("abc", 70), ("=", 129)] {
        counter.add(unit.repeat(n).as_bytes(), 1 + n as u64 % 3);
    }
    for w in ["aa", "aaa", "ab", "abab", "ba", "aab", "=="] {
        counter.add(w.as_bytes(), 5);
    }
    check("long words", &counter, 1500, 0);

    // cl100k pieces longer than 64 bytes: runs of spaces and punctuation.
    let mut text = String::from(REAL_TEXT);
    for n in [70, 100, 65, 200] {
        text.push_str(&format!("x{}y {}\n{}\n", " ".repeat(n), "-".repeat(n), "ab".repeat(n / 2)));
    }
    let counter = count(Pattern::Gpt4, &[text.into_bytes()]);
    check("long pieces", &counter, 600, 0);
}

#[test]
fn hand_worked_aaabdaaabac() {
    // The classic example "aaabdaaabac" as one word (a=97, b=98, c=99, d=100):
    // 1. aa:4 is the most frequent pair              -> 256 = aa;  256 a b d 256 a b a c
    // 2. (256,a):2 and (a,b):2 tie; (97,98) is smaller -> 257 = ab;  256 257 d 256 257 a c
    // 3. (256,257):2                                  -> 258 = aaab; 258 d 258 a c
    // 4. all pairs count 1; the smallest is (a,c)     -> 259 = ac;   258 d 258 259
    // 5. smallest of (258,d), (d,258), (258,259)      -> 260 = daaab; 258 260 259
    // 6. smallest of (258,260), (260,259)             -> 261;        261 259
    // 7.                                              -> 262;        262
    let mut counter = WordCounter::new(Pattern::None);
    counter.feed(b"aaabdaaabac");
    let expected = vec![(97, 97), (97, 98), (256, 257), (97, 99), (100, 258), (258, 260), (261, 259)];
    let learned = learn(&counter, 100, 0);
    assert_eq!(learned.merges, expected);
    assert_eq!(learned.stats.stop, Stop::NoPairs);
    // Asking for fewer merges stops at the target.
    let learned = learn(&counter, 3, 0);
    assert_eq!((learned.merges.as_slice(), learned.stats.stop), (&expected[..3], Stop::Target));
    // With a minimum frequency of 2 the merges of count 1 are not made.
    let learned = learn(&counter, 100, 2);
    assert_eq!((learned.merges.as_slice(), learned.stats.stop), (&expected[..3], Stop::MinFrequency));
}

#[test]
fn hand_worked_overlapping_run() {
    // "aaaaa": aa:4 -> 256, replaced left to right: 256 256 a.
    // (256,256):1 and (256,a):1 tie; (256,97) is smaller -> 257: 256 257.
    // Then (256,257) -> 258.
    let mut counter = WordCounter::new(Pattern::None);
    counter.feed(b"aaaaa");
    assert_eq!(learn(&counter, 10, 0).merges, vec![(97, 97), (256, 97), (256, 257)]);
}

#[test]
fn hand_worked_word_counts() {
    // Pieces " the" x3, "the" x1, " then" x1 (cl100k's split of the text).
    // Pair counts: (t,h) 5, (h,e) 5, (' ',t) 4, (e,n) 1.
    // 1. (t,h) and (h,e) tie at 5; (104,101) < (116,104)   -> 256 = he
    // 2. (t,256) 5                                         -> 257 = the
    // 3. (' ',257) 4                                       -> 258 = " the"
    // 4. (258,n) 1                                         -> 259 = " then"
    let mut counter = WordCounter::new(Pattern::Gpt4);
    counter.feed(b"the the the then");
    counter.feed(b" the");
    assert_eq!((counter.get(b" the"), counter.get(b"the"), counter.get(b" then")), (3, 1, 1));
    let learned = learn(&counter, 10, 0);
    assert_eq!(learned.merges, vec![(104, 101), (116, 256), (32, 257), (258, 110)]);
}

#[test]
fn single_bytes_only_learn_nothing() {
    let mut counter = WordCounter::new(Pattern::Gpt4);
    counter.feed(b"a1!");
    assert_eq!(counter.distinct(), 3);
    let learned = learn(&counter, 100, 0);
    assert!(learned.merges.is_empty());
    assert_eq!(learned.stats.stop, Stop::NoPairs);
}

#[test]
fn empty_corpus_is_an_error() {
    let mut counter = WordCounter::new(Pattern::Gpt4);
    counter.feed(b"");
    counter.feed_many::<&[u8]>(&[]);
    let err = learn_merges(&counter, 10, 0, &mut Silent).unwrap_err();
    assert!(matches!(err, tokenizer::Error::EmptyCorpus), "{err}");
}

/// Long repetitive pieces, the inputs that made training quadratic (issue
/// 11): one piece of `'ab' * n`, a run of one byte, a period-3 repeat and
/// random DNA, under cl100k's split (one letter run is one piece) and
/// without a pattern; the merges equal the naive trainer's, and the trained
/// vocabulary (whose tokens reach the piece's length) encodes the piece back.
#[test]
fn long_repetitive_pieces() {
    let mut rng = Rng::new(11);
    let dna: Vec<u8> = (0..20_000).map(|_| b"ACGT"[rng.below(4) as usize]).collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("ab*5000", b"ab".repeat(5000)),
        ("a*8000", b"a".repeat(8000)),
        ("a*8191", b"a".repeat(8191)),
        ("abc*3000+ab", [b"abc".repeat(3000), b"ab".to_vec()].concat()),
        ("=*3000 ab*1500", [b"=".repeat(3000), b" ".to_vec(), b"ab".repeat(1500)].concat()),
        ("dna", dna),
    ];
    for (name, text) in cases {
        for pattern in [Pattern::Gpt4, Pattern::None] {
            let counter = count(pattern, std::slice::from_ref(&text));
            let learned = check(&format!("{name} {pattern:?}"), &counter, 200, 0);
            let bpe = tokenizer::bpe::Bpe::from_merges(&learned.merges, pattern).expect("builds");
            let tok = tokenizer::Tokenizer::from_bpe(bpe, Vec::new(), "t").expect("wraps");
            let ids = tok.encode_ordinary(&text).expect("encodes");
            assert_eq!(tok.decode(&ids).expect("decodes"), text, "{name} {pattern:?}: round trip");
            if learned.stats.stop == Stop::NoPairs && counter.distinct() == 1 {
                // Every pair merged: the piece is one token.
                assert_eq!(ids.len(), 1, "{name} {pattern:?}");
            }
        }
    }
}
