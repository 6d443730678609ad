//! The word counter: counts equal a plain count of the pre-tokenizer's
//! pieces whatever the batching, the order of documents, the thread count
//! and the cutting of large documents; progress and cancellation.

mod train_common;

use std::collections::HashMap;
use std::ops::ControlFlow;

use tokenizer::Pattern;
use tokenizer::train::{Observer, Stage, WordCounter};
use train_common::{REAL_TEXT, zipf_text};

fn plain_counts(pattern: Pattern, docs: &[Vec<u8>]) -> HashMap<Vec<u8>, u64> {
    let mut counts = HashMap::new();
    for doc in docs {
        for piece in pattern.split(doc) {
            *counts.entry(piece.to_vec()).or_insert(0) += 1;
        }
    }
    counts
}

fn counts_of(counter: &WordCounter) -> HashMap<Vec<u8>, u64> {
    counter.iter().map(|(p, c)| (p.to_vec(), c)).collect()
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool")
}

/// Documents of all kinds, one larger than a work unit (256 KiB) so that it
/// is cut at safe points.
fn docs() -> Vec<Vec<u8>> {
    let mut docs = vec![zipf_text(3, 700_000, 3000), REAL_TEXT.as_bytes().to_vec(), Vec::new()];
    for i in 0..30 {
        docs.push(zipf_text(100 + i, 3000 + 500 * i as usize, 200));
    }
    // A large document whose lines end in whitespace and start with '/'
    // (cuts there would change r50k's and o200k's pieces) and with CRLF.
    let mut tricky = Vec::new();
    while tricky.len() < 600_000 {
        tricky.extend_from_slice(b"x = 1  \n/path/to \r\nword!\n/y\nz\n\n  indented\n\xff\xfe\n");
    }
    docs.push(tricky);
    docs
}

#[test]
fn counts_match_plain_counting_for_every_pattern() {
    let docs = docs();
    for pattern in Pattern::ALL {
        let expected = plain_counts(pattern, &docs);
        let mut counter = WordCounter::new(pattern);
        counter.feed_many(&docs);
        assert_eq!(counter.distinct(), expected.len(), "{pattern:?}");
        assert_eq!(counts_of(&counter), expected, "{pattern:?}");
        assert_eq!(counter.pieces(), expected.values().sum::<u64>());
        assert_eq!(counter.bytes_fed(), docs.iter().map(|d| d.len() as u64).sum::<u64>());
    }
}

#[test]
fn counts_do_not_depend_on_batching_order_or_threads() {
    let docs = docs();
    let pattern = Pattern::Gpt4;
    let expected = plain_counts(pattern, &docs);
    for threads in [1, 2, 4] {
        pool(threads).install(|| {
            // All at once.
            let mut all = WordCounter::new(pattern);
            all.feed_many(&docs);
            assert_eq!(counts_of(&all), expected, "{threads} threads, one batch");
            // One by one, in reverse order.
            let mut one = WordCounter::new(pattern);
            for doc in docs.iter().rev() {
                one.feed(doc);
            }
            assert_eq!(counts_of(&one), expected, "{threads} threads, one by one");
            // Two counters merged.
            let (left, right) = docs.split_at(docs.len() / 2);
            let mut a = WordCounter::new(pattern);
            a.feed_many(right);
            let mut b = WordCounter::new(pattern);
            b.feed_many(left);
            a.merge(&b).expect("same pattern");
            assert_eq!(counts_of(&a), expected, "{threads} threads, merged");
            assert_eq!(a.pieces(), all.pieces());
        });
    }
}

#[test]
fn pattern_none_keeps_each_document_whole() {
    let docs: Vec<Vec<u8>> =
        vec![b"one doc\nwith lines".to_vec(), vec![b'z'; 1 << 20], b"one doc\nwith lines".to_vec()];
    let mut counter = WordCounter::new(Pattern::None);
    counter.feed_many(&docs);
    assert_eq!(counter.distinct(), 2);
    assert_eq!(counter.get(b"one doc\nwith lines"), 2);
    assert_eq!(counter.get(&vec![b'z'; 1 << 20]), 1);
}

#[test]
fn add_and_merge() {
    let mut a = WordCounter::new(Pattern::Gpt4);
    a.add(b" hello", 5);
    a.add(b"", 3); // ignored: not a piece
    a.add(b"x", 0); // ignored: nothing to count
    a.feed(b"hello hello");
    assert_eq!(a.get(b" hello"), 6);
    assert_eq!(a.get(b"hello"), 1);
    assert_eq!(a.get(b"x"), 0);
    assert_eq!(a.distinct(), 2);
    let b = WordCounter::new(Pattern::Gpt2);
    let err = a.merge(&b).unwrap_err();
    assert!(err.to_string().contains("gpt2"), "{err}");
}

#[derive(Default)]
struct Record {
    calls: Vec<(Stage, u64, u64)>,
    stop_after: Option<usize>,
}

impl Observer for Record {
    fn progress(&mut self, stage: Stage, done: u64, total: u64) -> ControlFlow<()> {
        self.calls.push((stage, done, total));
        match self.stop_after {
            Some(n) if self.calls.len() >= n => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    }
}

#[test]
fn counting_reports_bytes_and_can_be_cancelled() {
    // 40 MB in 40 documents: several rounds of 16 MiB.
    let doc = zipf_text(9, 1 << 20, 500);
    let docs: Vec<&[u8]> = std::iter::repeat_n(doc.as_slice(), 40).collect();
    let total = 40 * doc.len() as u64;
    let mut counter = WordCounter::new(Pattern::Gpt4);
    counter.add(b"x", 1);
    let mut rec = Record::default();
    counter.feed_many_observed(&docs, &mut rec).expect("not cancelled");
    assert!(rec.calls.len() >= 3, "{:?}", rec.calls);
    assert!(rec.calls.iter().all(|&(s, _, t)| s == Stage::Counting && t == total));
    assert!(rec.calls.windows(2).all(|w| w[0].1 < w[1].1), "done grows");
    assert_eq!(rec.calls.last().map(|c| c.1), Some(total));

    let mut counter = WordCounter::new(Pattern::Gpt4);
    let mut rec = Record { stop_after: Some(1), ..Record::default() };
    let err = counter.feed_many_observed(&docs, &mut rec).unwrap_err();
    assert!(matches!(err, tokenizer::Error::Cancelled), "{err}");
    assert_eq!(rec.calls.len(), 1);
    assert!(counter.bytes_fed() < total);
}
