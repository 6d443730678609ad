//! Learning byte-level BPE merges from counted words: the heart of the trainer.
//!
//! [`learn_merges`] takes the distinct pieces of a [`WordCounter`] and returns
//! the merge list. It does not build a tokenizer ([`super::train_bpe`] wraps
//! the result) and never looks at the corpus again.
//!
//! The recipe:
//! 1. Flatten the words: every word of two bytes or more, sorted by
//!    decreasing count, as a small header (count, length) followed by its
//!    symbols, all in one `Vec<u32>`; words longer than [`LONG_WORD`] as
//!    linked positions instead ([`LongWords`]). Words of one byte have no
//!    pair and play no part.
//! 2. Count the initial pairs (byte pairs, so a dense 256×256 table) in
//!    parallel, with the list of words each pair occurs in.
//! 3. Repeatedly take the pair with the highest count (ties: the smaller pair,
//!    see [`PairTable::pop_best`]) from a max-heap whose stale entries are
//!    refreshed lazily, merge it in the words that contain it (in parallel
//!    when they are many), and update the counts of the neighbouring pairs
//!    incrementally.
//!
//! Duplicates: when the bytes of a merged pair already exist as a token, the
//! pair is merged in the words into the existing token, as Hugging Face's
//! trainer does, so that every count stays exact; it takes no vocabulary slot
//! and is not recorded in the merge list (under tiktoken semantics such a pair
//! is mergeable at the existing token's rank anyway). With plain byte-level
//! BPE this never happens, and the code path exists for robustness only:
//! merges apply to every occurrence, left to right, inside independent
//! words, so a stretch of a word whose ends are token boundaries at step `t`
//! has been segmented exactly as the same bytes would be as a word of their
//! own (no merge ever crossed its ends, and the left-to-right scan enters it
//! fresh). If `T = x·y` was created at step `s`, the bytes of `T` as a word
//! of their own are the single token `T` from step `s` on; so two tokens
//! `x'·y' = T` can never be adjacent later, nor (by the same argument at
//! step `s - 1`) at the same time as `x, y`. Hugging Face needs the check
//! because its word-piece prefixes and `max_token_length` break that
//! argument; we keep it (one hash lookup per merge) and test its mechanics
//! with seeded tokens.
//!
//! Performance notes:
//! - Pair keys are `u64` (`a << 32 | b`) in an `FxHashMap`, whose order on
//!   keys is the order on pairs, so the heap's tie rule compares integers.
//! - The heap is 4-ary over `u128` entries (`count << 64 | !key`): half the
//!   depth of `std`'s binary heap, and the four children share a cache line.
//!   With `BinaryHeap<(u64, Reverse<u64>)>` pops were a tenth of the merge
//!   loop.
//! - The occurrence index is one arena of word ids: each pair owns a slice,
//!   written once when the pair appears (every word that gains it in that
//!   step, in word order) and dropped when it is merged; no hash set and no
//!   allocation per pair (a `Vec<u32>` per pair spent 6% of the loop in
//!   malloc/free). The arena is compacted when more than half of it is dead.
//! - A merge step aggregates its pair updates by neighbour token in dense
//!   arrays (one set per worker), so the pair table sees one update per
//!   distinct neighbour rather than one per occurrence, and no transient
//!   pair is ever created.
//! - Visiting a word is a cache miss; the word header sits beside the
//!   symbols (one line instead of three arrays), words are sorted by count so
//!   that the frequent ones, visited most, share lines, and the next words of
//!   a step are prefetched.
//! - Words longer than [`LONG_WORD`] symbols (documents under
//!   `Pattern::None`, long runs) are doubly linked positions, and their
//!   occurrence entries are positions: a merge touches only the places where
//!   the pair is. Rescanning them, as HF and rustbpe do, made vocab 8000 on
//!   tinyshakespeare as one word take 10.5 s; linked, 0.45 s.
//! - Merging the words of a step runs on all rayon threads when the step has
//!   at least [`PARALLEL_WORDS`] words; below that the fork costs more than it
//!   saves.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{Observer, Stage, WordCounter};
use crate::{Error, Result, TokenId};

/// A step merges its words on all threads from this many words on.
const PARALLEL_WORDS: usize = 2048;
/// A step over a long word polls the observer for cancellation every this
/// many positions (a few milliseconds).
const POLL_POSITIONS: usize = 1 << 20;
/// How many words ahead of the current one to prefetch.
const PREFETCH_AHEAD: usize = 8;
/// Words longer than this many symbols are stored as linked positions and
/// merged only where the pair occurs (see [`LongWords`]); shorter ones are
/// rescanned, which is cheaper than following links while a word fits in a
/// few cache lines.
const LONG_WORD: usize = 64;
/// Occurrence-list entries with this bit set are long-word positions; the
/// others are short words' ids.
const LONG: u32 = 1 << 31;
/// "No position" in [`LongWords`] links.
const NONE: u32 = u32::MAX;
/// The symbol of a position that no longer starts a token.
const DEAD: u32 = u32::MAX;
/// At most this many workers merge words or count initial pairs: each holds
/// per-token (or per-byte-pair) tables of a few MB, and beyond a handful of
/// workers the sequential part of a step dominates anyway.
const MAX_WORKERS: usize = 8;

/// What [`learn_merges`] learned.
#[derive(Clone, Debug)]
pub struct Learned {
    /// The merges that created a token, in order: merge `i` = `(a, b)` created
    /// id `256 + i` with bytes `bytes(a) ++ bytes(b)`.
    pub merges: Vec<(TokenId, TokenId)>,
    /// How the training went.
    pub stats: LearnStats,
}

/// Why learning stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The requested number of merges was reached.
    Target,
    /// No pair of symbols is left in any word.
    NoPairs,
    /// The best pair occurs fewer times than the minimum frequency.
    MinFrequency,
}

/// Figures about one training run, for benchmarks and logs.
#[derive(Clone, Debug)]
pub struct LearnStats {
    /// Distinct words of two bytes or more (the others cannot merge).
    pub words: usize,
    /// Their total length in bytes.
    pub symbols: usize,
    /// Merge steps performed, duplicates included.
    pub steps: usize,
    /// Steps whose bytes already existed as a token (no new token).
    pub duplicates: usize,
    /// Word visits over all steps (a word is visited once per step that may
    /// contain the pair).
    pub word_visits: u64,
    /// Pair-count updates applied to the pair table.
    pub pair_updates: u64,
    /// Entries popped from the heap (stale ones included).
    pub heap_pops: u64,
    /// Steps whose words were merged on several threads.
    pub parallel_steps: usize,
    /// Word visits in those steps.
    pub parallel_visits: u64,
    /// Largest number of distinct pairs alive at once.
    pub peak_pairs: usize,
    /// Count of the last merged pair (0 when none was merged).
    pub last_count: u64,
    /// Why it stopped.
    pub stop: Stop,
    /// Time to flatten the words.
    pub setup_time: Duration,
    /// Time to count the initial pairs.
    pub pairs_time: Duration,
    /// Time in the merge loop.
    pub merge_time: Duration,
}

/// Learns up to `merges` new tokens from the counted words.
///
/// Stops early when no pair is left or when the best pair occurs fewer than
/// `min_frequency` times. Fails with [`Error::EmptyCorpus`] when no text was
/// counted (no piece and no byte fed), and with [`Error::Cancelled`] when
/// the observer breaks; the observer sees [`Stage::Merging`] with `done` =
/// new tokens so far and `total` = `merges`, about every half percent.
///
/// Ties between pairs of equal count go to the smaller pair `(a, b)` in id
/// order (`a` first, then `b`), as in Hugging Face tokenizers, rustbpe and
/// bpeasy. The result depends only on the counts: not on the order in which
/// documents were counted, nor on the number of rayon threads.
pub fn learn_merges(
    words: &WordCounter,
    merges: usize,
    min_frequency: u64,
    observer: &mut dyn Observer,
) -> Result<Learned> {
    learn(words, &[], merges, min_frequency, observer)
}

/// [`learn_merges`] with `seeds` as tokens `256..` before the first merge
/// (the merges then create ids from `256 + seeds.len()`). Only tests use
/// seeds: they are the one way to reach the duplicate-bytes path.
fn learn(
    words: &WordCounter,
    seeds: &[Vec<u8>],
    merges: usize,
    min_frequency: u64,
    observer: &mut dyn Observer,
) -> Result<Learned> {
    // No piece but some text: every piece was dropped as rarer than the
    // minimum count (`--max-memory` with `--min-frequency`). That is no
    // pair seen often enough, as without the limit: zero merges, not an
    // empty corpus.
    if words.distinct() == 0 && words.bytes_fed() == 0 {
        return Err(Error::EmptyCorpus);
    }
    let cancelled = |observer: &mut dyn Observer| matches!(observer.poll(), ControlFlow::Break(()));
    if cancelled(observer) {
        return Err(Error::Cancelled);
    }
    let t0 = Instant::now();
    let mut corpus = Corpus::from_counter(words)?;
    let setup_time = t0.elapsed();
    if cancelled(observer) {
        return Err(Error::Cancelled);
    }

    let t1 = Instant::now();
    let mut pairs = PairTable::initial(&corpus);
    let pairs_time = t1.elapsed();

    let t2 = Instant::now();
    let mut stats = LearnStats {
        words: corpus.words(),
        symbols: corpus.symbols,
        steps: 0,
        duplicates: 0,
        word_visits: 0,
        pair_updates: 0,
        heap_pops: 0,
        parallel_steps: 0,
        parallel_visits: 0,
        peak_pairs: pairs.map.len(),
        last_count: 0,
        stop: Stop::Target,
        setup_time,
        pairs_time,
        merge_time: Duration::ZERO,
    };
    let mut vocab = Vocab::new(seeds);
    // Every step removes at least one symbol and leaves every word at least
    // one, so no more tokens than that can be created, whatever was asked.
    let max_steps = corpus.symbols - corpus.words();
    let id_cap = vocab.len() + merges.min(max_steps);
    let workers = rayon::current_num_threads().clamp(1, MAX_WORKERS);
    let mut accs: Vec<StepAcc> = (0..workers).map(|_| StepAcc::new(id_cap)).collect();
    let mut todo: Vec<u32> = Vec::new();
    let mut out: Vec<(TokenId, TokenId)> = Vec::with_capacity(merges.min(max_steps));
    let report_every = (merges / 200).max(1);

    if let ControlFlow::Break(()) = observer.progress(Stage::Merging, 0, merges as u64) {
        return Err(Error::Cancelled);
    }
    while out.len() < merges {
        if cancelled(observer) {
            return Err(Error::Cancelled);
        }
        let Some((count, key)) = pairs.pop_best() else {
            stats.stop = Stop::NoPairs;
            break;
        };
        if count < min_frequency {
            stats.stop = Stop::MinFrequency;
            break;
        }
        let (a, b) = unkey(key);
        let (n, fresh) = vocab.merged(a, b);
        if fresh {
            out.push((a, b));
        } else {
            stats.duplicates += 1;
        }
        stats.steps += 1;
        stats.last_count = count;
        let step = Step { a, b, n };

        // The entries that may hold the pair, each once, in order: short
        // word ids, then long-word positions (tagged with [`LONG`]) in
        // ascending order, as the left-to-right rule needs. Lists are in that
        // order already unless a duplicate merge happened, and sorting a
        // sorted list is a linear scan.
        todo.clear();
        todo.extend_from_slice(pairs.words_of(key));
        todo.sort_unstable();
        todo.dedup();
        stats.word_visits += todo.len() as u64;
        let (short, long) = todo.split_at(todo.partition_point(|&e| e < LONG));
        if short.len() >= PARALLEL_WORDS && workers > 1 {
            stats.parallel_steps += 1;
            stats.parallel_visits += short.len() as u64;
            let per = short.len().div_ceil(workers);
            let shared = SharedWords::new(&mut corpus);
            short.par_chunks(per).zip(accs.par_iter_mut()).for_each(|(chunk, acc)| {
                for (i, &w) in chunk.iter().enumerate() {
                    if let Some(&ahead) = chunk.get(i + PREFETCH_AHEAD) {
                        shared.prefetch(ahead);
                    }
                    // SAFETY: `short` holds distinct word ids (deduplicated
                    // above) and the chunks partition it, so no two workers
                    // touch the same word.
                    unsafe { shared.merge_word(w, step, acc) };
                }
            });
        } else {
            let acc = &mut accs[0];
            for (i, &w) in short.iter().enumerate() {
                if let Some(&ahead) = short.get(i + PREFETCH_AHEAD) {
                    corpus.prefetch(ahead);
                }
                corpus.merge_word(w, step, acc);
            }
        }
        // Long words on this thread: their positions are linked, so one
        // word's positions must be visited in order by one worker.
        let acc = &mut accs[0];
        acc.last_merged = NONE;
        for chunk in long.chunks(POLL_POSITIONS) {
            for &e in chunk {
                corpus.long.merge_at(e & !LONG, step, acc);
            }
            if chunk.len() == POLL_POSITIONS && cancelled(observer) {
                return Err(Error::Cancelled);
            }
        }
        stats.pair_updates += pairs.apply(step, key, &mut accs);
        stats.peak_pairs = stats.peak_pairs.max(pairs.map.len());

        if fresh && out.len().is_multiple_of(report_every) {
            let flow = observer.progress(Stage::Merging, out.len() as u64, merges as u64);
            if let ControlFlow::Break(()) = flow {
                return Err(Error::Cancelled);
            }
        }
    }
    if (!out.len().is_multiple_of(report_every) || out.is_empty())
        && let ControlFlow::Break(()) = observer.progress(Stage::Merging, out.len() as u64, merges as u64)
    {
        return Err(Error::Cancelled);
    }
    stats.heap_pops = pairs.pops;
    stats.merge_time = t2.elapsed();
    Ok(Learned { merges: out, stats })
}

fn key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

fn unkey(k: u64) -> (u32, u32) {
    ((k >> 32) as u32, k as u32)
}

/// Hints the CPU to fetch the cache line at `p`.
#[inline(always)]
fn prefetch(p: *const u32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address;
    // SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The merge being applied: pair `(a, b)` becomes token `n`.
#[derive(Clone, Copy)]
struct Step {
    a: u32,
    b: u32,
    n: u32,
}

/// Token bytes, to recognise a merge whose bytes already exist.
struct Vocab {
    tokens: Vec<Vec<u8>>,
    ids: FxHashMap<Vec<u8>, u32>,
}

impl Vocab {
    /// The 256 bytes, then `seeds`.
    fn new(seeds: &[Vec<u8>]) -> Vocab {
        let mut v = Vocab { tokens: Vec::new(), ids: FxHashMap::default() };
        for t in (0..=255u8).map(|b| vec![b]).chain(seeds.iter().cloned()) {
            v.ids.insert(t.clone(), v.tokens.len() as u32);
            v.tokens.push(t);
        }
        v
    }

    fn len(&self) -> usize {
        self.tokens.len()
    }

    /// The id of `bytes(a) ++ bytes(b)`, and whether it is new.
    fn merged(&mut self, a: u32, b: u32) -> (u32, bool) {
        let mut bytes = self.tokens[a as usize].clone();
        bytes.extend_from_slice(&self.tokens[b as usize]);
        if let Some(&id) = self.ids.get(&bytes) {
            return (id, false);
        }
        let id = self.tokens.len() as u32;
        self.ids.insert(bytes.clone(), id);
        self.tokens.push(bytes);
        (id, true)
    }
}

/// Words of the corpus: a header of [`HEADER`] `u32`s (the word's count as
/// low and high halves, then its current length) followed by its symbols.
const HEADER: usize = 3;

/// The words being merged, flattened. A short word's id is its offset in
/// `data`, so visiting it touches nothing but its own cache line(s).
struct Corpus {
    /// Each short word's header, then its symbols, which shrink in place as
    /// they merge (the space they free stays unused).
    data: Vec<u32>,
    /// Every short word's id (offset), in order.
    ids: Vec<u32>,
    /// The words longer than [`LONG_WORD`].
    long: LongWords,
    /// Total symbols at the start.
    symbols: usize,
}

impl Corpus {
    /// The words of two bytes or more, by decreasing count, then bytes (a
    /// layout that depends on the counts only, and keeps the frequent words,
    /// which are visited most, together).
    fn from_counter(words: &WordCounter) -> Result<Corpus> {
        let mut list: Vec<(&[u8], u64)> = words.iter().filter(|(p, _)| p.len() >= 2).collect();
        list.sort_unstable_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(y.0)));
        let symbols: usize = list.iter().map(|(p, _)| p.len()).sum();
        let (short, long): (Vec<_>, Vec<_>) = list.into_iter().partition(|(p, _)| p.len() <= LONG_WORD);
        let size = short.iter().map(|(p, _)| HEADER + p.len()).sum::<usize>();
        let long_size = long.iter().map(|(p, _)| p.len()).sum::<usize>();
        if size >= LONG as usize || long_size >= LONG as usize {
            return Err(Error::Config(format!(
                "the distinct pieces hold {symbols} bytes: more than the trainer's limit of 2^31 \
                 symbols in short or in long words (pre-tokenize with a pattern, or train on less text)"
            )));
        }
        let mut c = Corpus {
            data: Vec::with_capacity(size),
            ids: Vec::with_capacity(short.len()),
            long: LongWords::new(&long),
            symbols,
        };
        for (piece, count) in short {
            c.ids.push(c.data.len() as u32);
            c.data.extend_from_slice(&[count as u32, (count >> 32) as u32, piece.len() as u32]);
            c.data.extend(piece.iter().map(|&b| u32::from(b)));
        }
        Ok(c)
    }

    /// Number of words (short and long).
    fn words(&self) -> usize {
        self.ids.len() + self.long.counts.len()
    }

    /// Word `w`'s count and current symbols.
    fn word(&self, w: u32) -> (u64, &[u32]) {
        let w = w as usize;
        let count = u64::from(self.data[w]) | (u64::from(self.data[w + 1]) << 32);
        (count, &self.data[w + HEADER..w + HEADER + self.data[w + 2] as usize])
    }

    fn prefetch(&self, w: u32) {
        prefetch(self.data.as_ptr().wrapping_add(w as usize));
    }

    fn merge_word(&mut self, w: u32, step: Step, acc: &mut StepAcc) {
        let w_ = w as usize;
        let end = w_ + HEADER + self.data[w_ + 2] as usize;
        merge_word(&mut self.data[w_..end], step, w, acc);
    }
}

/// Words longer than [`LONG_WORD`] symbols (a document under
/// [`crate::Pattern::None`], a long run of one character): rescanning such a
/// word at every merge that touches it would make training quadratic in its
/// length, so its symbols are doubly linked positions and occurrence lists
/// name positions, merged in place where the pair is.
struct LongWords {
    /// Per position: the symbol of the token starting there, or [`DEAD`].
    sym: Vec<u32>,
    /// Per position: the next and the previous token start in its word, or
    /// [`NONE`].
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Per position: its word's index in `counts`.
    word: Vec<u32>,
    counts: Vec<u64>,
}

impl LongWords {
    fn new(words: &[(&[u8], u64)]) -> LongWords {
        let n: usize = words.iter().map(|(p, _)| p.len()).sum();
        let mut l = LongWords {
            sym: Vec::with_capacity(n),
            next: Vec::with_capacity(n),
            prev: Vec::with_capacity(n),
            word: Vec::with_capacity(n),
            counts: Vec::with_capacity(words.len()),
        };
        for (i, &(piece, count)) in words.iter().enumerate() {
            let start = l.sym.len() as u32;
            let end = start + piece.len() as u32;
            for (j, &byte) in piece.iter().enumerate() {
                let p = start + j as u32;
                l.sym.push(u32::from(byte));
                l.next.push(if p + 1 < end { p + 1 } else { NONE });
                l.prev.push(if p > start { p - 1 } else { NONE });
                l.word.push(i as u32);
            }
            l.counts.push(count);
        }
        l
    }

    /// Merges `step` at position `p` if the pair still starts there,
    /// recording the neighbouring pairs' changes exactly as
    /// [`merge_symbols`] does. Positions of one word must come in ascending
    /// order within a step, with `acc.last_merged` reset before the step:
    /// that is the left-to-right rule (`a a a` merges at its first `a`, and
    /// the second position is dead by the time it comes up).
    fn merge_at(&mut self, p: u32, step: Step, acc: &mut StepAcc) {
        let Step { a, b, n } = step;
        let pi = p as usize;
        let q = self.next[pi];
        if self.sym[pi] != a || q == NONE || self.sym[q as usize] != b {
            return; // a stale entry: the pair is no longer here
        }
        let count = self.counts[self.word[pi] as usize];
        acc.occurrences += count;
        let l = self.prev[pi];
        if l != NONE {
            if l == acc.last_merged {
                acc.add_adjacent(count, LONG | l);
            } else {
                acc.add_left(self.sym[l as usize], count, LONG | l);
            }
        }
        let r = self.next[q as usize];
        if r != NONE {
            let rn = self.next[r as usize];
            let next_is_occurrence = self.sym[r as usize] == a && rn != NONE && self.sym[rn as usize] == b;
            if !next_is_occurrence {
                acc.add_right(self.sym[r as usize], count, LONG | p);
            }
            self.prev[r as usize] = p;
        }
        self.sym[pi] = n;
        self.next[pi] = r;
        self.sym[q as usize] = DEAD;
        acc.last_merged = p;
    }
}

/// Raw access to the words for merging distinct words in parallel.
struct SharedWords<'a> {
    data: *mut u32,
    len: usize,
    _corpus: std::marker::PhantomData<&'a mut Corpus>,
}

// SAFETY: the pointer comes from `&mut Corpus` borrowed for `'a`; every access
// goes through `merge_word`, whose callers guarantee distinct words per
// thread, and `prefetch` only hints.
unsafe impl Sync for SharedWords<'_> {}

impl<'a> SharedWords<'a> {
    fn new(c: &'a mut Corpus) -> SharedWords<'a> {
        SharedWords { data: c.data.as_mut_ptr(), len: c.data.len(), _corpus: std::marker::PhantomData }
    }

    fn prefetch(&self, w: u32) {
        prefetch(self.data.wrapping_add(w as usize));
    }

    /// # Safety
    /// `w` must be a word id, and no other thread may access word `w` during
    /// the call.
    unsafe fn merge_word(&self, w: u32, step: Step, acc: &mut StepAcc) {
        let w_ = w as usize;
        debug_assert!(w_ + HEADER <= self.len);
        // SAFETY: `w_` is a word's offset, so its header lies inside the
        // allocation, and no other thread touches the word now.
        let len = unsafe { *self.data.add(w_ + 2) } as usize;
        debug_assert!(w_ + HEADER + len <= self.len);
        // SAFETY: the word's header and current symbols are inside the
        // allocation and disjoint from every other word's, and the caller
        // guarantees that no other thread touches this word during the call.
        let region = unsafe { std::slice::from_raw_parts_mut(self.data.add(w_), HEADER + len) };
        merge_word(region, step, w, acc);
    }
}

/// Merges `step` in one word's region (header and symbols).
fn merge_word(region: &mut [u32], step: Step, w: u32, acc: &mut StepAcc) {
    let count = u64::from(region[0]) | (u64::from(region[1]) << 32);
    let len = region[2] as usize;
    let new_len = merge_symbols(&mut region[HEADER..HEADER + len], step, count, w, acc);
    region[2] = new_len as u32;
}

/// Merges every occurrence of `(a, b)` in `syms`, left to right without
/// overlap (`a a a` with `(a, a)` gives `n a`), in place; returns the new
/// length and records in `acc` how the neighbouring pairs change.
///
/// For an occurrence at `i` with left neighbour `l` and right neighbour `r`,
/// the pairs `(l, a)`, `(a, b)`, `(b, r)` disappear and `(l, n)`, `(n, r)`
/// appear. When two occurrences touch (`a b a b`), the pair `(b, a)` between
/// them becomes `(n, n)`; it is counted once, by the right occurrence, so no
/// transient pair `(n, a)` is ever recorded.
fn merge_symbols(syms: &mut [u32], step: Step, count: u64, w: u32, acc: &mut StepAcc) -> usize {
    let Step { a, b, n } = step;
    let len = syms.len();
    let (mut r, mut wr) = (0, 0);
    // Read position just after the previous occurrence (none yet).
    let mut last_end = usize::MAX;
    // `wr <= r` throughout, so reads at `r..` see the original symbols.
    while r < len {
        if syms[r] == a && r + 1 < len && syms[r + 1] == b {
            acc.occurrences += count;
            if r > 0 {
                if last_end == r {
                    acc.add_adjacent(count, w);
                } else {
                    // The output's last symbol is the original `syms[r - 1]`.
                    acc.add_left(syms[wr - 1], count, w);
                }
            }
            if r + 2 < len {
                let next = syms[r + 2];
                let next_is_occurrence = next == a && r + 3 < len && syms[r + 3] == b;
                if !next_is_occurrence {
                    acc.add_right(next, count, w);
                }
            }
            syms[wr] = n;
            wr += 1;
            r += 2;
            last_end = r;
        } else {
            syms[wr] = syms[r];
            wr += 1;
            r += 1;
        }
    }
    wr
}

/// One worker's record of how a merge step changes the pair counts,
/// aggregated by neighbour token.
struct StepAcc {
    /// `left[l]`: count moving from `(l, a)` to `(l, n)`; the words gaining
    /// `(l, n)`, in the order visited, in `left_words[l]`.
    left: Vec<u64>,
    left_words: Vec<Vec<u32>>,
    left_touched: Vec<u32>,
    /// `right[r]`: count moving from `(b, r)` to `(n, r)`.
    right: Vec<u64>,
    right_words: Vec<Vec<u32>>,
    right_touched: Vec<u32>,
    /// Count moving from `(b, a)` to `(n, n)` (touching occurrences).
    adjacent: u64,
    adjacent_words: Vec<u32>,
    /// Occurrences of `(a, b)` merged, weighted by word count.
    occurrences: u64,
    /// The long-word position merged last in this step (see
    /// [`LongWords::merge_at`]).
    last_merged: u32,
}

impl StepAcc {
    fn new(id_cap: usize) -> StepAcc {
        StepAcc {
            left: vec![0; id_cap],
            left_words: vec![Vec::new(); id_cap],
            left_touched: Vec::new(),
            right: vec![0; id_cap],
            right_words: vec![Vec::new(); id_cap],
            right_touched: Vec::new(),
            adjacent: 0,
            adjacent_words: Vec::new(),
            occurrences: 0,
            last_merged: NONE,
        }
    }

    fn add_left(&mut self, l: u32, count: u64, w: u32) {
        let i = l as usize;
        if self.left[i] == 0 {
            self.left_touched.push(l);
        }
        self.left[i] += count;
        push_once(&mut self.left_words[i], w);
    }

    fn add_right(&mut self, r: u32, count: u64, w: u32) {
        let i = r as usize;
        if self.right[i] == 0 {
            self.right_touched.push(r);
        }
        self.right[i] += count;
        push_once(&mut self.right_words[i], w);
    }

    fn add_adjacent(&mut self, count: u64, w: u32) {
        self.adjacent += count;
        push_once(&mut self.adjacent_words, w);
    }

    /// Adds `other`'s record to this one and clears `other`. Word lists stay
    /// in visiting order when `other` visited later words.
    fn absorb(&mut self, other: &mut StepAcc) {
        for &l in &other.left_touched {
            let i = l as usize;
            if self.left[i] == 0 {
                self.left_touched.push(l);
            }
            self.left[i] += std::mem::take(&mut other.left[i]);
            self.left_words[i].append(&mut other.left_words[i]);
        }
        for &r in &other.right_touched {
            let i = r as usize;
            if self.right[i] == 0 {
                self.right_touched.push(r);
            }
            self.right[i] += std::mem::take(&mut other.right[i]);
            self.right_words[i].append(&mut other.right_words[i]);
        }
        other.left_touched.clear();
        other.right_touched.clear();
        self.adjacent += std::mem::take(&mut other.adjacent);
        self.adjacent_words.append(&mut other.adjacent_words);
        self.occurrences += std::mem::take(&mut other.occurrences);
    }
}

/// Words are visited one at a time, so a word already recorded for a pair
/// in this step is the last one in the list.
fn push_once(words: &mut Vec<u32>, w: u32) {
    if words.last() != Some(&w) {
        words.push(w);
    }
}

/// A pair's count and where its word list lives in the arena.
struct PairInfo {
    count: u64,
    /// `occ[start..start + len]` lists every word holding the pair (a listed
    /// word may no longer hold it).
    start: usize,
    len: usize,
}

/// A 4-ary max-heap of `count << 64 | !key` entries.
#[derive(Default)]
struct Heap {
    v: Vec<u128>,
}

impl Heap {
    fn entry(count: u64, key: u64) -> u128 {
        (u128::from(count) << 64) | u128::from(!key)
    }

    fn push(&mut self, x: u128) {
        let mut i = self.v.len();
        self.v.push(x);
        while i > 0 {
            let parent = (i - 1) / 4;
            if self.v[parent] >= x {
                break;
            }
            self.v[i] = self.v[parent];
            i = parent;
        }
        self.v[i] = x;
    }

    fn pop(&mut self) -> Option<u128> {
        let last = self.v.pop()?;
        let Some(&top) = self.v.first() else { return Some(last) };
        let n = self.v.len();
        let mut i = 0;
        loop {
            let first = 4 * i + 1;
            if first >= n {
                break;
            }
            let mut best = first;
            for c in first + 1..(first + 4).min(n) {
                if self.v[c] > self.v[best] {
                    best = c;
                }
            }
            if self.v[best] <= last {
                break;
            }
            self.v[i] = self.v[best];
            i = best;
        }
        self.v[i] = last;
        Some(top)
    }
}

/// Pair counts, occurrence lists and the max-heap.
struct PairTable {
    map: FxHashMap<u64, PairInfo>,
    heap: Heap,
    /// The word lists of all pairs (see [`PairInfo`]), with `dead` entries
    /// no pair refers to any more.
    occ: Vec<u32>,
    dead: usize,
    /// Pairs whose count grew in the current step (to push to the heap).
    grown: Vec<u64>,
    pops: u64,
}

impl PairTable {
    /// Counts the byte pairs of every word, in parallel.
    fn initial(c: &Corpus) -> PairTable {
        const N: usize = 256 * 256;
        struct Part {
            count: Vec<u64>,
            words: Vec<Vec<u32>>,
        }
        let workers = rayon::current_num_threads().clamp(1, MAX_WORKERS);
        let per = c.ids.len().div_ceil(workers).max(1);
        // Parts cover consecutive word ranges, so concatenating their lists
        // in order keeps each list in word order.
        let mut parts: Vec<Part> = c
            .ids
            .par_chunks(per)
            .map(|chunk| {
                let mut p = Part { count: vec![0; N], words: vec![Vec::new(); N] };
                for &w in chunk {
                    let (cnt, word) = c.word(w);
                    for pair in word.windows(2) {
                        let i = ((pair[0] as usize) << 8) | pair[1] as usize;
                        p.count[i] += cnt;
                        push_once(&mut p.words[i], w);
                    }
                }
                p
            })
            .collect();
        // Long words last: their positions, ascending.
        let long = &c.long;
        if !long.counts.is_empty() {
            let mut p = Part { count: vec![0; N], words: vec![Vec::new(); N] };
            for pos in 0..long.sym.len() {
                let next = long.next[pos];
                if next != NONE {
                    let i = ((long.sym[pos] as usize) << 8) | long.sym[next as usize] as usize;
                    p.count[i] += long.counts[long.word[pos] as usize];
                    p.words[i].push(LONG | pos as u32);
                }
            }
            parts.push(p);
        }
        let total: usize = parts.iter().flat_map(|p| p.words.iter().map(Vec::len)).sum();
        let mut t = PairTable {
            map: FxHashMap::default(),
            heap: Heap::default(),
            occ: Vec::with_capacity(total),
            dead: 0,
            grown: Vec::new(),
            pops: 0,
        };
        for i in 0..N {
            let count: u64 = parts.iter().map(|p| p.count[i]).sum();
            if count == 0 {
                continue;
            }
            let start = t.occ.len();
            for p in &parts {
                t.occ.extend_from_slice(&p.words[i]);
            }
            let k = key((i >> 8) as u32, (i & 255) as u32);
            t.map.insert(k, PairInfo { count, start, len: t.occ.len() - start });
            t.heap.push(Heap::entry(count, k));
        }
        t
    }

    /// Pops the pair with the highest count, refreshing stale heap entries.
    ///
    /// TIE RULE: entries are `count << 64 | !key`, so among equal counts the
    /// smaller key is the larger entry and pops first, and `key(a, b) =
    /// a << 32 | b` orders pairs by `a`, then `b`: highest count first, then
    /// the smaller pair `(a, b)` in id order — the rule of Hugging Face
    /// tokenizers, rustbpe and bpeasy.
    ///
    /// Every live pair has a heap entry whose count is at least its current
    /// count (an entry is pushed whenever a pair's count grows), so an entry
    /// whose count is current is the true maximum.
    fn pop_best(&mut self) -> Option<(u64, u64)> {
        while let Some(e) = self.heap.pop() {
            self.pops += 1;
            let (stored, k) = ((e >> 64) as u64, !(e as u64));
            let current = self.map.get(&k).map_or(0, |p| p.count);
            if current == stored {
                return Some((stored, k));
            }
            if current != 0 && current < stored {
                self.heap.push(Heap::entry(current, k));
            }
            // `current > stored`: a newer entry with the current count exists.
        }
        None
    }

    /// The word list of pair `k`.
    fn words_of(&self, k: u64) -> &[u32] {
        self.map.get(&k).map_or(&[], |p| &self.occ[p.start..p.start + p.len])
    }

    fn decrease(&mut self, k: u64, by: u64) {
        if let Some(p) = self.map.get_mut(&k) {
            debug_assert!(p.count >= by, "pair count would go negative");
            p.count -= by;
            if p.count == 0 {
                self.dead += p.len;
                self.map.remove(&k);
            }
        } else {
            debug_assert!(false, "decreasing an unknown pair");
        }
    }

    fn increase(&mut self, k: u64, by: u64, words: &mut Vec<u32>) {
        let end = self.occ.len();
        let p = self.map.entry(k).or_insert(PairInfo { count: 0, start: end, len: 0 });
        p.count += by;
        if p.len > 0 && p.start + p.len != end {
            // The pair already has a list that is not at the arena's end
            // (possible only after a duplicate merge): move it there.
            self.occ.extend_from_within(p.start..p.start + p.len);
            self.dead += p.len;
            p.start = end;
        } else if p.len == 0 {
            p.start = end;
        }
        p.len += words.len();
        self.occ.append(words);
        self.grown.push(k);
    }

    /// Applies the workers' records of a step that merged pair `merged`;
    /// returns the number of pair updates. Clears the records.
    fn apply(&mut self, step: Step, merged: u64, accs: &mut [StepAcc]) -> u64 {
        let Step { a, b, n } = step;
        let (acc, rest) = accs.split_first_mut().expect("at least one worker");
        for other in rest {
            acc.absorb(other);
        }
        // The merged pair's list is done with.
        if let Some(p) = self.map.get_mut(&merged) {
            self.dead += p.len;
            p.len = 0;
        }
        for &l in &acc.left_touched {
            let i = l as usize;
            let by = std::mem::take(&mut acc.left[i]);
            self.decrease(key(l, a), by);
            self.increase(key(l, n), by, &mut acc.left_words[i]);
        }
        for &r in &acc.right_touched {
            let i = r as usize;
            let by = std::mem::take(&mut acc.right[i]);
            self.decrease(key(b, r), by);
            self.increase(key(n, r), by, &mut acc.right_words[i]);
        }
        let mut updates = 2 * (acc.left_touched.len() + acc.right_touched.len()) as u64;
        acc.left_touched.clear();
        acc.right_touched.clear();
        if acc.adjacent > 0 {
            let by = std::mem::take(&mut acc.adjacent);
            self.decrease(key(b, a), by);
            self.increase(key(n, n), by, &mut acc.adjacent_words);
            updates += 2;
        }
        if acc.occurrences > 0 {
            let by = std::mem::take(&mut acc.occurrences);
            self.decrease(merged, by);
            updates += 1;
        }
        debug_assert!(!self.map.contains_key(&merged), "a merged pair must be gone from every word");
        self.grown.sort_unstable();
        self.grown.dedup();
        for &k in &self.grown {
            if let Some(p) = self.map.get(&k) {
                self.heap.push(Heap::entry(p.count, k));
            }
        }
        self.grown.clear();
        if self.dead > (1 << 20) && self.dead * 2 > self.occ.len() {
            self.compact();
        }
        updates
    }

    /// Drops the dead entries of the arena.
    fn compact(&mut self) {
        let mut occ = Vec::with_capacity(self.occ.len() - self.dead);
        for p in self.map.values_mut() {
            let start = occ.len();
            occ.extend_from_slice(&self.occ[p.start..p.start + p.len]);
            p.start = start;
        }
        self.occ = occ;
        self.dead = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pattern;
    use crate::train::Silent;

    fn words(list: &[(&[u8], u64)]) -> WordCounter {
        let mut c = WordCounter::new(Pattern::None);
        for &(w, n) in list {
            c.add(w, n);
        }
        c
    }

    /// Seeded tokens reach the duplicate path: the pair is merged in the
    /// words into the existing token, the counts stay exact, and no slot or
    /// merge is spent on it.
    #[test]
    fn duplicate_maps_to_the_existing_token() {
        // Seed "ab" = 256. Words "abab" x3, "xab" x1 (x = 120).
        // 1. (a,b) 7: "ab" exists -> 256, not listed; abab -> 256 256 (the
        //    (b,a) between the touching occurrences becomes (256,256) x3),
        //    xab -> x 256.
        // 2. (256,256) 3 -> 257 "abab".
        // 3. (x,256) 1 -> 258 "xab".
        let w = words(&[(b"abab", 3), (b"xab", 1)]);
        let learned = learn(&w, &[b"ab".to_vec()], 10, 0, &mut Silent).expect("learns");
        assert_eq!(learned.merges, vec![(256, 256), (120, 256)]);
        assert_eq!((learned.stats.duplicates, learned.stats.steps), (1, 3));
        assert_eq!(learned.stats.stop, Stop::NoPairs);
    }

    #[test]
    fn chained_duplicates() {
        // Seeds "bc" = 256, "abc" = 257. Words abc x2, abcbc x1, bcd x1.
        // Pairs: (a,b) 3, (b,c) 5, (c,b) 1, (c,d) 1.
        // 1. (b,c) 5 -> 256 (exists): a 256 | a 256 256 | 256 d.
        // 2. (a,256) 3 -> 257 (exists): 257 | 257 256 | 256 d.
        // 3. (256,d) 1 and (257,256) 1 tie; (256,100) is smaller -> 258 "bcd".
        // 4. (257,256) 1 -> 259 "abcbc".
        let w = words(&[(b"abc", 2), (b"abcbc", 1), (b"bcd", 1)]);
        let learned = learn(&w, &[b"bc".to_vec(), b"abc".to_vec()], 10, 0, &mut Silent).expect("learns");
        assert_eq!(learned.merges, vec![(256, 100), (257, 256)]);
        assert_eq!((learned.stats.duplicates, learned.stats.steps), (2, 4));
        // A vocabulary budget counts new tokens only: one new token asked,
        // two duplicate steps before it.
        let learned = learn(&w, &[b"bc".to_vec(), b"abc".to_vec()], 1, 0, &mut Silent).expect("learns");
        assert_eq!((learned.merges, learned.stats.stop), (vec![(256, 100)], Stop::Target));
    }

    #[test]
    fn heap_pops_highest_count_then_smallest_pair() {
        let mut h = Heap::default();
        let entries = [
            (5, key(1, 2)),
            (5, key(1, 1)),
            (7, key(9, 9)),
            (5, key(0, 300)),
            (1, key(0, 0)),
            (5, key(1, 1)),
        ];
        for (c, k) in entries {
            h.push(Heap::entry(c, k));
        }
        let popped: Vec<(u64, (u32, u32))> =
            std::iter::from_fn(|| h.pop()).map(|e| ((e >> 64) as u64, unkey(!(e as u64)))).collect();
        assert_eq!(
            popped,
            vec![(7, (9, 9)), (5, (0, 300)), (5, (1, 1)), (5, (1, 1)), (5, (1, 2)), (1, (0, 0))]
        );
    }

    #[test]
    fn heap_orders_many_entries() {
        let mut h = Heap::default();
        let mut x = 12345u64;
        let mut all = Vec::new();
        for _ in 0..5000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let e = Heap::entry((x >> 40) % 50, x % 1000);
            all.push(e);
            h.push(e);
        }
        all.sort_unstable_by(|a, b| b.cmp(a));
        let popped: Vec<u128> = std::iter::from_fn(|| h.pop()).collect();
        assert_eq!(popped, all);
    }
}
