//! `train_bpe` and `learn_merges` at the API boundary: bad configurations,
//! determinism across thread counts, progress reports and cancellation.

mod train_common;

use std::ops::ControlFlow;

use tokenizer::train::{
    BpeConfig, Observer, Silent, Stage, Stop, WordCounter, learn_merges, train_bpe, train_bpe_ladder,
};
use tokenizer::{Error, Pattern};
use train_common::{REAL_TEXT, zipf_text};

fn config(vocab_size: usize, specials: &[&str]) -> BpeConfig {
    BpeConfig {
        vocab_size,
        pattern: Pattern::Gpt4,
        min_frequency: 0,
        specials: specials.iter().map(|s| s.to_string()).collect(),
    }
}

fn counted(text: &[u8]) -> WordCounter {
    let mut c = WordCounter::new(Pattern::Gpt4);
    c.feed(text);
    c
}

fn config_error(result: tokenizer::Result<tokenizer::Tokenizer>) -> String {
    match result {
        Err(Error::Config(msg)) => msg,
        Err(e) => panic!("expected a configuration error, got {e}"),
        Ok(_) => panic!("expected a configuration error"),
    }
}

#[test]
fn vocab_smaller_than_bytes_and_specials() {
    let msg = config_error(train_bpe(&config(255, &[]), counted(b"abc"), &mut Silent));
    assert!(msg.contains("255") && msg.contains("256"), "{msg}");
    let msg = config_error(train_bpe(&config(257, &["<|a|>", "<|b|>"]), counted(b"abc"), &mut Silent));
    assert!(msg.contains("257") && msg.contains("258"), "{msg}");
}

#[test]
fn bad_special_tokens() {
    let msg = config_error(train_bpe(&config(300, &["<|a|>", "<|a|>"]), counted(b"abc"), &mut Silent));
    assert!(msg.contains("<|a|>") && msg.contains("twice"), "{msg}");
    let msg = config_error(train_bpe(&config(300, &[""]), counted(b"abc"), &mut Silent));
    assert!(msg.contains("empty"), "{msg}");
}

#[test]
fn pattern_mismatch() {
    let mut words = WordCounter::new(Pattern::Gpt2);
    words.feed(b"abc");
    let msg = config_error(train_bpe(&config(300, &[]), words, &mut Silent));
    assert!(msg.contains("gpt2") && msg.contains("gpt4"), "{msg}");
}

#[test]
fn empty_corpus() {
    let mut words = WordCounter::new(Pattern::Gpt4);
    words.feed_many::<&[u8]>(&[b"", b""]);
    match train_bpe(&config(300, &[]), words, &mut Silent) {
        Err(Error::EmptyCorpus) => {}
        Err(e) => panic!("expected EmptyCorpus, got {e}"),
        Ok(_) => panic!("expected EmptyCorpus"),
    }
}

/// Text was counted but every piece was dropped as rarer than a minimum
/// count (`tok train --max-memory` with `--min-frequency` above every
/// count): no pair is seen often enough, so the 256 byte tokens, as without
/// the limit; it used to fail as an empty corpus.
#[test]
fn pieces_all_dropped_give_the_byte_tokens() {
    let mut words = WordCounter::new(Pattern::Gpt4);
    words.feed(b"some text");
    words.retain_min_count(1_000_000);
    assert_eq!(words.distinct(), 0);
    let tok = train_bpe(&config(300, &[]), words, &mut Silent).unwrap();
    assert_eq!(tok.vocab_size(), 256);
}

/// A corpus big enough for the parallel paths: a document larger than a
/// work unit, and merge steps touching more words than the parallel
/// threshold (2048).
fn big_docs() -> Vec<Vec<u8>> {
    let mut docs = vec![zipf_text(11, 900_000, 40_000)];
    for i in 0..40 {
        docs.push(zipf_text(200 + i, 5_000, 2_000));
    }
    docs.push(REAL_TEXT.as_bytes().to_vec());
    docs
}

#[test]
fn same_merges_whatever_the_thread_count() {
    let docs = big_docs();
    let mut results = Vec::new();
    for threads in [1, 2, 4] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        let learned = pool.install(|| {
            let mut counter = WordCounter::new(Pattern::Gpt4);
            // Fed in a different order and grouping for each thread count.
            match threads {
                1 => counter.feed_many(&docs),
                2 => docs.iter().rev().for_each(|d| counter.feed(d)),
                _ => docs.chunks(7).for_each(|c| counter.feed_many(c)),
            }
            learn_merges(&counter, 3000, 0, &mut Silent).expect("learns")
        });
        assert_eq!(learned.merges.len(), 3000);
        results.push((threads, learned));
    }
    let (_, first) = &results[0];
    assert!(first.stats.word_visits > 3 * 2048, "the corpus must exercise the parallel merge");
    for (threads, learned) in &results[1..] {
        assert!(learned.merges == first.merges, "{threads} threads learned different merges");
    }
}

#[test]
fn same_merges_whatever_the_thread_count_without_a_pattern() {
    // Whole documents are words: long words, merged through linked positions.
    let docs: Vec<Vec<u8>> = (0..4).map(|i| zipf_text(50 + i, 60_000, 3_000)).collect();
    let mut results = Vec::new();
    for threads in [1, 2, 4] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        let learned = pool.install(|| {
            let mut counter = WordCounter::new(Pattern::None);
            counter.feed_many(&docs);
            learn_merges(&counter, 2000, 0, &mut Silent).expect("learns")
        });
        assert_eq!(learned.merges.len(), 2000);
        results.push((threads, learned.merges));
    }
    for (threads, merges) in &results[1..] {
        assert!(*merges == results[0].1, "{threads} threads learned different merges");
    }
}

#[derive(Default)]
struct Record {
    calls: Vec<(Stage, u64, u64)>,
    stop_at: Option<u64>,
}

impl Observer for Record {
    fn progress(&mut self, stage: Stage, done: u64, total: u64) -> ControlFlow<()> {
        self.calls.push((stage, done, total));
        if self.stop_at.is_some_and(|n| done >= n) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

#[test]
fn merging_reports_progress_now_and_then() {
    let counter = counted(&zipf_text(5, 200_000, 5_000));
    let mut rec = Record::default();
    let learned = learn_merges(&counter, 2000, 0, &mut rec).expect("learns");
    assert_eq!(learned.merges.len(), 2000);
    assert!(rec.calls.iter().all(|&(s, _, t)| s == Stage::Merging && t == 2000));
    assert_eq!(rec.calls.first().map(|c| c.1), Some(0));
    assert_eq!(rec.calls.last().map(|c| c.1), Some(2000));
    assert!(rec.calls.windows(2).all(|w| w[0].1 < w[1].1), "done grows");
    // Every half percent or so: not on every merge.
    assert!((100..=250).contains(&rec.calls.len()), "{} reports", rec.calls.len());
}

#[test]
fn merging_reports_the_end_when_stopping_early() {
    let counter = counted(b"aaabdaaabac");
    let mut rec = Record::default();
    let learned = learn_merges(&counter, 1000, 0, &mut rec).expect("learns");
    assert_eq!(learned.stats.stop, Stop::NoPairs);
    let n = learned.merges.len() as u64;
    assert_eq!(rec.calls.last(), Some(&(Stage::Merging, n, 1000)));
}

#[test]
fn merging_can_be_cancelled() {
    let counter = counted(&zipf_text(5, 100_000, 3_000));
    let mut rec = Record { stop_at: Some(100), ..Record::default() };
    match learn_merges(&counter, 1000, 0, &mut rec) {
        Err(Error::Cancelled) => {}
        other => panic!("expected Cancelled, got {:?}", other.map(|l| l.merges.len())),
    }
    let (_, done, _) = *rec.calls.last().expect("called");
    assert!((100..110).contains(&done), "stopped soon after the break, at {done}");
    // Cancelling through train_bpe gives the same error.
    let mut rec = Record { stop_at: Some(0), ..Record::default() };
    assert!(matches!(train_bpe(&config(1000, &[]), counter, &mut rec), Err(Error::Cancelled)));
}

/// Breaks at the `n`-th poll.
struct PollBreak {
    polls: u64,
    at: u64,
    progress: Vec<(Stage, u64, u64)>,
}

impl Observer for PollBreak {
    fn progress(&mut self, stage: Stage, done: u64, total: u64) -> ControlFlow<()> {
        self.progress.push((stage, done, total));
        ControlFlow::Continue(())
    }

    fn poll(&mut self) -> ControlFlow<()> {
        self.polls += 1;
        if self.polls == self.at { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }
}

/// A merge step over a long word polls inside the step: on one piece of
/// `'ab' * 1,500,000` the first step visits 1.5M positions, and the poll
/// after the first million (the 4th: before the setup, after it, before the
/// step) cancels it there, before any merge is reported.
#[test]
fn cancellation_is_polled_inside_a_long_merge_step() {
    let counter = counted(&b"ab".repeat(1_500_000));
    let mut obs = PollBreak { polls: 0, at: 4, progress: Vec::new() };
    match learn_merges(&counter, 10, 0, &mut obs) {
        Err(Error::Cancelled) => {}
        other => panic!("expected Cancelled, got {:?}", other.map(|l| l.merges)),
    }
    assert_eq!(obs.polls, 4);
    assert_eq!(obs.progress, vec![(Stage::Merging, 0, 10)]);
    // Without the break the same run completes: 'ab' -> 256, then doublings.
    let mut obs = PollBreak { polls: 0, at: u64::MAX, progress: Vec::new() };
    let learned = learn_merges(&counter, 10, 0, &mut obs).expect("learns");
    assert_eq!(learned.merges[..2], [(97, 98), (256, 256)]);
}

/// A ladder from one training equals separate trainings, file for file
/// (the JSON we save), at every size, with specials, with a minimum
/// frequency that stops the largest run early, and in the order given.
#[test]
fn ladder_equals_separate_runs() {
    let text = zipf_text(3, 60_000, 2_000);
    for (min_frequency, specials) in [(0, vec![]), (0, vec!["<|endoftext|>", "<|pad|>"]), (40, vec!["<|x|>"])]
    {
        let mut base = config(300, &specials);
        base.min_frequency = min_frequency;
        let sizes = [1200, 300, 700, 4000, 700];
        let ladder = train_bpe_ladder(&base, &sizes, counted(&text), &mut Silent).expect("ladder");
        assert_eq!(ladder.len(), sizes.len());
        for (tok, &size) in ladder.iter().zip(&sizes) {
            let single =
                train_bpe(&BpeConfig { vocab_size: size, ..base.clone() }, counted(&text), &mut Silent)
                    .expect("single");
            assert_eq!(tok.to_json(), single.to_json(), "size {size}, min frequency {min_frequency}");
        }
    }
    // The smallest size's check comes before any training.
    let msg = config_error(
        train_bpe_ladder(&config(0, &["<|a|>"]), &[8000, 256], counted(b"abc"), &mut Silent)
            .map(|mut v| v.remove(0)),
    );
    assert!(msg.contains("256"), "{msg}");
    let msg = config_error(
        train_bpe_ladder(&config(300, &[]), &[], counted(b"abc"), &mut Silent).map(|mut v| v.remove(0)),
    );
    assert_eq!(msg, "no vocabulary size given");
}
