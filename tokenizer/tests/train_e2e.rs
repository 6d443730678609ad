//! `train_bpe` end to end: the tokenizer it builds has the learned merges,
//! the documented ids and vocabulary size, round-trips bytes, encodes the
//! training words exactly as training left them, and is byte-identical
//! whatever the thread count.

mod train_common;

use tokenizer::train::{BpeConfig, Silent, WordCounter, learn_merges, train_bpe};
use tokenizer::{Pattern, Tokenizer};
use train_common::{REAL_TEXT, Rng, zipf_text};

fn config(vocab_size: usize, specials: &[&str]) -> BpeConfig {
    BpeConfig {
        vocab_size,
        pattern: Pattern::Gpt4,
        min_frequency: 0,
        specials: specials.iter().map(|s| s.to_string()).collect(),
    }
}

fn corpus() -> Vec<Vec<u8>> {
    vec![REAL_TEXT.as_bytes().to_vec(), zipf_text(21, 150_000, 4_000)]
}

fn counter(docs: &[Vec<u8>]) -> WordCounter {
    let mut c = WordCounter::new(Pattern::Gpt4);
    c.feed_many(docs);
    c
}

/// Applies merges to a word the way training does: in order, each to every
/// occurrence, left to right.
fn segment(word: &[u8], merges: &[(u32, u32)]) -> Vec<u32> {
    let mut ids: Vec<u32> = word.iter().map(|&b| u32::from(b)).collect();
    for (i, &(a, b)) in merges.iter().enumerate() {
        let n = 256 + i as u32;
        let mut out = Vec::with_capacity(ids.len());
        let mut j = 0;
        while j < ids.len() {
            if j + 1 < ids.len() && ids[j] == a && ids[j + 1] == b {
                out.push(n);
                j += 2;
            } else {
                out.push(ids[j]);
                j += 1;
            }
        }
        ids = out;
    }
    ids
}

#[test]
fn trained_tokenizer_has_the_learned_merges_and_ids() {
    let docs = corpus();
    let learned = learn_merges(&counter(&docs), 2000 - 258, 0, &mut Silent).expect("learns");
    let tok =
        train_bpe(&config(2000, &["<|endoftext|>", "<|pad|>"]), counter(&docs), &mut Silent).expect("trains");
    assert_eq!(tok.vocab_size(), 2000);
    assert_eq!(tok.pattern(), Some(Pattern::Gpt4));
    assert_eq!(tok.special_tokens(), &[("<|endoftext|>".to_string(), 1998), ("<|pad|>".to_string(), 1999)]);
    let bpe = tok.as_bpe().expect("a BPE tokenizer");
    assert_eq!(bpe.merges(), Some(learned.merges.as_slice()));
    for b in 0..=255u8 {
        assert_eq!(tok.token_bytes(u32::from(b)), Some(&[b][..]));
    }
    for (i, &(a, b)) in learned.merges.iter().enumerate() {
        let expected = [tok.token_bytes(a).expect("a"), tok.token_bytes(b).expect("b")].concat();
        assert_eq!(tok.token_bytes(256 + i as u32), Some(expected.as_slice()), "token {}", 256 + i);
    }
}

#[test]
fn encoding_training_words_gives_the_training_segmentation() {
    let docs = corpus();
    let words = counter(&docs);
    let learned = learn_merges(&words, 1500, 0, &mut Silent).expect("learns");
    let tok = train_bpe(&config(256 + 1500, &[]), counter(&docs), &mut Silent).expect("trains");
    let mut checked = 0;
    for (word, _) in words.iter() {
        let ids = tok.encode_ordinary(word).expect("encodes");
        assert_eq!(ids, segment(word, &learned.merges), "word {:?}", String::from_utf8_lossy(word));
        checked += 1;
    }
    assert!(checked > 1000);
}

#[test]
fn round_trips_bytes() {
    let tok = train_bpe(&config(1200, &["<|endoftext|>"]), counter(&corpus()), &mut Silent).expect("trains");
    let mut rng = Rng::new(5);
    let random: Vec<u8> = (0..20_000).map(|_| rng.below(256) as u8).collect();
    for text in [REAL_TEXT.as_bytes(), &random, b"", b"<|endoftext|> is plain text here"] {
        let ids = tok.encode_ordinary(text).expect("encodes");
        assert_eq!(tok.decode(&ids).expect("decodes"), text);
    }
    let ids = tok.encode_ordinary(REAL_TEXT.as_bytes()).expect("encodes");
    // REAL_TEXT is part of the training corpus: it must compress.
    assert!(ids.len() * 3 < REAL_TEXT.len() * 2, "{} tokens for {} bytes", ids.len(), REAL_TEXT.len());
}

#[test]
fn stops_early_with_a_smaller_vocabulary() {
    let mut words = WordCounter::new(Pattern::Gpt4);
    words.feed(b"aaabdaaabac");
    let tok = train_bpe(&config(1000, &["<|x|>"]), words, &mut Silent).expect("trains");
    // Seven merges exhaust the single word (see train_naive.rs), then the
    // special token follows them.
    assert_eq!(tok.vocab_size(), 256 + 7 + 1);
    assert_eq!(tok.special_id("<|x|>"), Some(263));
    assert_eq!(tok.encode_ordinary(b"aaabdaaabac").expect("encodes"), vec![262]);
}

#[test]
fn identical_file_whatever_the_thread_count() {
    let docs: Vec<Vec<u8>> = vec![zipf_text(31, 600_000, 20_000), REAL_TEXT.as_bytes().to_vec()];
    let mut files = Vec::new();
    for threads in [1, 2, 4] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        let tok: Tokenizer = pool
            .install(|| train_bpe(&config(3000, &["<|endoftext|>"]), counter(&docs), &mut Silent))
            .expect("trains");
        files.push((threads, tok.to_json()));
    }
    for (threads, json) in &files[1..] {
        assert!(*json == files[0].1, "{threads} threads wrote a different file");
    }
}
