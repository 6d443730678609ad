//! Counting pre-tokenized pieces ("words") for the BPE trainer.
//!
//! [`WordCounter`] cuts documents with a [`Pattern`] and keeps one entry per
//! distinct piece: its bytes (inline when short, in a shared arena when long)
//! and how often it occurred.
//! Memory therefore grows with the number of distinct pieces, not with the
//! corpus. The counts do not depend on the order in which documents are fed,
//! nor on how many threads count them: they are sums.
//!
//! What it is not: it does not read files (the CLI does) and does not learn
//! merges ([`super::learn`] does).
//!
//! Parallelism: a batch of documents is cut into work units (whole small
//! documents, or pieces of large ones cut at [`Pattern::cut_point`]s, where
//! the pieces on either side are those of the whole text), each rayon
//! worker counts its units into private tables, and these are then folded
//! into the counter's tables.
//!
//! Performance notes:
//! - The global table holds pieces of up to 15 bytes by value (24 bytes an
//!   entry) and longer ones as `(start, len, count)` into one byte arena; no
//!   allocation per piece (a `HashMap<Vec<u8>, u64>` costs a heap block per
//!   piece and twice the memory).
//! - Private tables keep a long piece's hash next to the borrowed slice, so
//!   the fold into the global table does not hash it again.
//! - Pieces of up to 15 bytes (nearly all of them) are counted by value,
//!   packed in a `u128`, by the workers and in the global table: no
//!   byte-wise hash and no `memcmp` per lookup, and folding a worker's table
//!   into the global one needs no byte-wise hashing. This took about 5% off a
//!   whole training run; pieces of up to 7 bytes in a `u64` did about as
//!   well but left indentation runs on the slow path.
//! - Tried and rejected: a 4096-slot direct-mapped cache of hot pieces in
//!   front of a worker's table. It caught 83% of the pieces but gained
//!   nothing measurable: the hot entries of the table stay in cache anyway,
//!   and the remaining misses are the rare pieces.
//! - Counting costs roughly twice the pre-tokenizer alone (measure with
//!   `bench_bpe_train --split-time`); see `scripts/bench/train.sh`.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};

use hashbrown::HashTable;
use rayon::prelude::*;
use rustc_hash::FxBuildHasher;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

use super::counts_file::{CountsHeader, CountsReader};
use super::{Observer, Stage};
use crate::{Error, Pattern, Result};

/// Work units are cut to about this many bytes so that the threads balance.
const UNIT_BYTES: usize = 256 << 10;
/// A batch is counted in rounds of about this many bytes; progress is reported
/// (and cancellation checked) between rounds, and the private tables of a round
/// are folded before the next one starts, which bounds their memory.
const ROUND_BYTES: usize = 16 << 20;

fn hash_bytes(bytes: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    FxBuildHasher.hash_one(bytes)
}

/// One distinct long piece in the arena.
#[derive(Clone, Copy)]
struct Entry {
    start: usize,
    len: usize,
    count: u64,
}

/// Counts distinct pre-tokenized pieces across documents.
pub struct WordCounter {
    pattern: Pattern,
    /// Pieces of up to [`SHORT`] bytes, by value: the little-endian bytes of
    /// [`pack`] (the piece, then its length in the last byte) and the count.
    short: HashTable<([u8; 16], u64)>,
    /// The bytes of every longer distinct piece, back to back, and their
    /// table.
    arena: Vec<u8>,
    long: HashTable<Entry>,
    bytes_fed: u64,
    pieces: u64,
}

impl WordCounter {
    /// A counter that splits with `pattern`.
    pub fn new(pattern: Pattern) -> WordCounter {
        WordCounter {
            pattern,
            short: HashTable::new(),
            arena: Vec::new(),
            long: HashTable::new(),
            bytes_fed: 0,
            pieces: 0,
        }
    }

    /// An empty counter with room for `short` pieces of up to 15 bytes and
    /// `long` longer ones of `long_bytes` bytes in all, so that adding them
    /// never grows a table (see [`WordCounter::exact_memory_bytes`]).
    pub fn with_capacity(pattern: Pattern, short: usize, long: usize, long_bytes: usize) -> WordCounter {
        WordCounter {
            pattern,
            short: HashTable::with_capacity(short),
            arena: Vec::with_capacity(long_bytes),
            long: HashTable::with_capacity(long),
            bytes_fed: 0,
            pieces: 0,
        }
    }

    /// The pattern the documents are split with.
    pub fn pattern(&self) -> Pattern {
        self.pattern
    }

    /// Counts the pieces of one document (in parallel when it is large).
    pub fn feed(&mut self, doc: &[u8]) {
        self.feed_many(&[doc]);
    }

    /// Counts the pieces of several documents, in parallel across documents
    /// and inside large ones. The result is the same as feeding them one by
    /// one, in any order.
    pub fn feed_many<D: AsRef<[u8]> + Sync>(&mut self, docs: &[D]) {
        // `Silent` never cancels.
        let _ = self.feed_many_observed(docs, &mut super::Silent);
    }

    /// Like [`WordCounter::feed_many`], reporting [`Stage::Counting`] now and
    /// then with `done` = bytes counted so far by this counter and `total` =
    /// that plus the bytes of this batch not yet counted. A `Break` from the
    /// observer returns [`Error::Cancelled`]; the counter then holds the
    /// documents counted before the break.
    pub fn feed_many_observed<D: AsRef<[u8]> + Sync>(
        &mut self,
        docs: &[D],
        observer: &mut dyn Observer,
    ) -> Result<()> {
        let units = work_units(self.pattern, docs.iter().map(AsRef::as_ref));
        let batch: u64 = units.iter().map(|u| u.len() as u64).sum();
        let end = self.bytes_fed + batch;
        let mut rest = &units[..];
        while !rest.is_empty() {
            let mut take = 0;
            let mut bytes = 0;
            while take < rest.len() && (take == 0 || bytes < ROUND_BYTES) {
                bytes += rest[take].len();
                take += 1;
            }
            let (round, tail) = rest.split_at(take);
            rest = tail;
            self.count_round(round);
            self.bytes_fed += bytes as u64;
            if let ControlFlow::Break(()) = observer.progress(Stage::Counting, self.bytes_fed, end) {
                return Err(Error::Cancelled);
            }
        }
        Ok(())
    }

    /// Adds `count` occurrences of one piece, as if a document had produced it.
    pub fn add(&mut self, piece: &[u8], count: u64) {
        if !piece.is_empty() && count > 0 {
            self.insert(piece, count);
            self.pieces += count;
        }
    }

    /// Adds every count of `other` (which must use the same pattern).
    pub fn merge(&mut self, other: &WordCounter) -> Result<()> {
        if other.pattern != self.pattern {
            return Err(Error::Config(format!(
                "cannot merge word counts split with {} into counts split with {}",
                other.pattern.name(),
                self.pattern.name()
            )));
        }
        for (piece, count) in other.iter() {
            self.insert(piece, count);
        }
        self.pieces += other.pieces;
        self.bytes_fed += other.bytes_fed;
        Ok(())
    }

    /// Number of distinct pieces.
    pub fn distinct(&self) -> usize {
        self.short.len() + self.long.len()
    }

    /// Number of pieces counted (with repetition).
    pub fn pieces(&self) -> u64 {
        self.pieces
    }

    /// Number of bytes fed.
    pub fn bytes_fed(&self) -> u64 {
        self.bytes_fed
    }

    /// The distinct pieces and their counts, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> + '_ {
        let short = self.short.iter().map(|(key, count)| (&key[..usize::from(key[15])], *count));
        let long = self.long.iter().map(|e| (&self.arena[e.start..e.start + e.len], e.count));
        short.chain(long)
    }

    /// The count of one piece (0 when it never occurred).
    pub fn get(&self, piece: &[u8]) -> u64 {
        if piece.len() <= SHORT {
            let v = pack(piece);
            let key = v.to_le_bytes();
            return self.short.find(hash_short(v), |e| e.0 == key).map_or(0, |e| e.1);
        }
        let arena = &self.arena;
        self.long
            .find(hash_bytes(piece), |e| &arena[e.start..e.start + e.len] == piece)
            .map_or(0, |e| e.count)
    }

    /// The distinct pieces and their counts in increasing bytewise order,
    /// as word-count files store them. Takes [`SORT_BYTES_PER_PIECE`] bytes
    /// per distinct piece besides the counter.
    pub fn sorted(&self) -> Vec<(&[u8], u64)> {
        let mut v: Vec<(&[u8], u64)> = self.iter().collect();
        v.par_sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// What a word-count file of these counts says in its header.
    pub fn header(&self) -> CountsHeader {
        CountsHeader { pattern: self.pattern, pieces: self.pieces, bytes_fed: self.bytes_fed }
    }

    /// Writes the counts to `path` as a word-count file ([`counts_file`]),
    /// atomically. Errors name the file. The observer's `poll` is asked
    /// every 65,536 entries; a break leaves no file and gives
    /// [`Error::Cancelled`].
    ///
    /// [`counts_file`]: super::counts_file
    pub fn write_counts(&self, path: &Path, observer: &mut dyn Observer) -> Result<()> {
        // Sorted in chunks, polling between them, then merged while writing:
        // sorting tens of millions of pieces in one go would not see a
        // Ctrl-C for seconds. Same memory as one sort.
        let mut v: Vec<(&[u8], u64)> = self.iter().collect();
        for chunk in v.chunks_mut(SORT_CHUNK) {
            chunk.par_sort_unstable_by(|a, b| a.0.cmp(b.0));
            if observer.poll().is_break() {
                return Err(Error::Cancelled);
            }
        }
        let chunks: Vec<&[(&[u8], u64)]> = v.chunks(SORT_CHUNK).collect();
        let mut heap: BinaryHeap<ChunkHead<'_>> = chunks
            .iter()
            .enumerate()
            .filter_map(|(c, s)| s.first().map(|&(p, n)| Reverse((p, n, c, 0))))
            .collect();
        let merged = std::iter::from_fn(|| {
            let Reverse((piece, count, c, i)) = heap.pop()?;
            if let Some(&(p, n)) = chunks[c].get(i + 1) {
                heap.push(Reverse((p, n, c, i + 1)));
            }
            Some((piece, count))
        });
        super::counts_file::write_counts(path, self.header(), merged, observer)
    }

    /// Reads a word-count file into a new counter, sized once from the
    /// file's entry count. Every check of [`CountsReader`] applies; the
    /// observer's `poll` is asked every 65,536 entries (a break gives
    /// [`Error::Cancelled`]).
    pub fn read_counts(path: &Path, observer: &mut dyn Observer) -> Result<WordCounter> {
        let mut r = CountsReader::open(path)?;
        let header = r.header();
        let mut words = WordCounter::new(header.pattern);
        if let Some(d) = r.distinct_hint() {
            words.short.reserve(usize::try_from(d).unwrap_or(0), |e| hash_short(u128::from_le_bytes(e.0)));
        }
        let mut n = 0u64;
        r.for_each(|piece, count| {
            words.insert(piece, count);
            n += 1;
            if n.is_multiple_of(1 << 16) && observer.poll().is_break() {
                return Err(Error::Cancelled);
            }
            Ok(())
        })?;
        words.pieces = header.pieces;
        words.bytes_fed = header.bytes_fed;
        Ok(words)
    }

    /// Records `bytes` of text counted elsewhere (by the counter whose
    /// pieces were then given to [`WordCounter::add`], e.g. from a
    /// word-count file), so that [`WordCounter::bytes_fed`] stays the
    /// corpus's size.
    pub fn add_bytes_fed(&mut self, bytes: u64) {
        self.bytes_fed += bytes;
    }

    /// Drops the pieces counted fewer than `min_count` times (0 and 1 keep
    /// everything); [`WordCounter::pieces`] then counts the pieces kept.
    pub fn retain_min_count(&mut self, min_count: u64) {
        if min_count <= 1 {
            return;
        }
        let mut dropped = 0u64;
        self.short.retain(|e| {
            let keep = e.1 >= min_count;
            dropped += if keep { 0 } else { e.1 };
            keep
        });
        self.long.retain(|e| {
            let keep = e.count >= min_count;
            dropped += if keep { 0 } else { e.count };
            keep
        });
        self.pieces -= dropped;
        // The arena keeps the dropped pieces' bytes; compact it.
        let mut arena = Vec::with_capacity(self.long.iter().map(|e| e.len).sum());
        for e in self.long.iter_mut() {
            let start = arena.len();
            arena.extend_from_slice(&self.arena[e.start..e.start + e.len]);
            e.start = start;
        }
        self.arena = arena;
        self.short.shrink_to_fit(|e| hash_short(u128::from_le_bytes(e.0)));
        let arena = &self.arena;
        self.long.shrink_to_fit(|e| hash_bytes(&arena[e.start..e.start + e.len]));
    }

    /// Bytes the counter's tables hold now: every bucket of both hash
    /// tables (entry plus control byte, empty or not) and the arena of long
    /// pieces, by capacity. The rayon workers' private tables during
    /// counting come on top.
    pub fn memory_bytes(&self) -> u64 {
        table_bytes(buckets_for(self.short.capacity()), SHORT_ENTRY)
            + table_bytes(buckets_for(self.long.capacity()), LONG_ENTRY)
            + self.arena.capacity() as u64
    }

    /// The most the tables would hold at once while `extra` more distinct
    /// pieces are added: a hash table that must grow allocates its doubled
    /// table before it frees the old one. Assumes the new pieces split
    /// between short and long as the present ones do (all short when empty).
    pub fn memory_bytes_growing(&self, extra: usize) -> u64 {
        let now = self.memory_bytes();
        let distinct = self.distinct().max(1);
        let long_extra = extra * self.long.len() / distinct;
        let short_extra = extra - long_extra;
        let mut peak = now;
        for (cap, len, add, entry) in [
            (self.short.capacity(), self.short.len(), short_extra, SHORT_ENTRY),
            (self.long.capacity(), self.long.len(), long_extra, LONG_ENTRY),
        ] {
            if len + add > cap {
                // Old and new table side by side, while rehashing.
                peak += table_bytes(buckets_for(exact_capacity(len + add)), entry);
            }
        }
        let arena_extra =
            if self.long.is_empty() { 0 } else { long_extra * self.arena.len() / self.long.len() };
        if self.arena.len() + arena_extra > self.arena.capacity() {
            peak += ((self.arena.len() + arena_extra).next_power_of_two()) as u64;
        }
        peak
    }

    /// The bytes a counter holds once sized exactly for `short` pieces of up
    /// to 15 bytes and `long` longer ones of `long_bytes` bytes in all (as
    /// [`WordCounter::read_counts`] sizes it): hash-table buckets are a
    /// power of two at most 7/8 full, each costing its entry (24 bytes, short
    /// or long) plus one control byte.
    pub fn exact_memory_bytes(short: usize, long: usize, long_bytes: usize) -> u64 {
        table_bytes(buckets_for(exact_capacity(short)), SHORT_ENTRY)
            + table_bytes(buckets_for(exact_capacity(long)), LONG_ENTRY)
            + long_bytes as u64
    }

    /// The most the trainer ([`super::learn_merges`]) holds at once for
    /// `distinct` words of `piece_bytes` bytes in all, besides the counter:
    /// 64 bytes a word (the sorted list of words and its split into short
    /// and long ones, 48 bytes a word while both exist, then a 12-byte header
    /// and a 4-byte id) and 16 bytes a byte (4 for the symbol, 8 for the
    /// lists of words each pair occurs in, built per worker and then joined,
    /// and later holding dead entries until compacted, and an allowance of 4
    /// for the pair table and its heap, whose size is the number of distinct
    /// pairs). Measured: 1 GiB of generated text, 3.26 million distinct
    /// pieces, vocab 32,000: see docs/scale.md.
    pub fn learn_memory_bytes(distinct: usize, piece_bytes: usize) -> u64 {
        distinct as u64 * 64 + 16 * piece_bytes as u64
    }

    /// Whether `piece` is kept by value (a short piece, see
    /// [`WordCounter::exact_memory_bytes`]).
    pub fn is_short(piece: &[u8]) -> bool {
        piece.len() <= SHORT
    }

    fn insert(&mut self, piece: &[u8], count: u64) {
        if piece.len() <= SHORT {
            let v = pack(piece);
            self.insert_short(v, hash_short(v), count);
        } else {
            self.insert_long(hash_bytes(piece), piece, count);
        }
    }

    fn insert_short(&mut self, v: u128, hash: u64, count: u64) {
        let key = v.to_le_bytes();
        match self.short.find_mut(hash, |e| e.0 == key) {
            Some(e) => e.1 += count,
            None => {
                self.short.insert_unique(hash, (key, count), |e| hash_short(u128::from_le_bytes(e.0)));
            }
        }
    }

    fn insert_long(&mut self, hash: u64, piece: &[u8], count: u64) {
        let WordCounter { arena, long, .. } = self;
        if let Some(e) = long.find_mut(hash, |e| &arena[e.start..e.start + e.len] == piece) {
            e.count += count;
            return;
        }
        let start = arena.len();
        arena.extend_from_slice(piece);
        let arena = &*arena;
        long.insert_unique(hash, Entry { start, len: piece.len(), count }, |e| {
            hash_bytes(&arena[e.start..e.start + e.len])
        });
    }

    /// Counts one round of work units on all rayon threads and folds the
    /// private tables into the global one.
    fn count_round(&mut self, units: &[&[u8]]) {
        let pattern = self.pattern;
        let next = AtomicUsize::new(0);
        let workers = rayon::current_num_threads().min(units.len()).max(1);
        // Each worker pulls units until none are left, so a slow unit does not
        // hold up a fixed share of the work.
        let locals: Vec<LocalCounts<'_>> = (0..workers)
            .into_par_iter()
            .map(|_| {
                let mut local = LocalCounts::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(unit) = units.get(i) else { break };
                    local.count_unit(pattern, unit);
                }
                local
            })
            .collect();
        for local in locals {
            self.pieces += local.pieces;
            for &(v, count) in local.short.iter() {
                self.insert_short(v, hash_short(v), count);
            }
            for &(hash, piece, count) in local.long.iter() {
                self.insert_long(hash, piece, count);
            }
        }
    }
}

/// Pieces of at most this many bytes are counted by value (see [`pack`]).
const SHORT: usize = 15;
/// A sorted chunk's current piece and count, the chunk and the position in
/// it, in [`WordCounter::write_counts`]'s merge (a min-heap by piece).
type ChunkHead<'a> = Reverse<(&'a [u8], u64, usize, usize)>;
/// [`WordCounter::write_counts`] sorts this many pieces at a time (a
/// fraction of a second) between polls for cancellation (a few in unit
/// tests, so that they merge several chunks).
const SORT_CHUNK: usize = if cfg!(test) { 7 } else { 1 << 20 };
/// Bytes of one entry of the short and of the long table.
const SHORT_ENTRY: usize = std::mem::size_of::<([u8; 16], u64)>();
const LONG_ENTRY: usize = std::mem::size_of::<Entry>();
/// Bytes per distinct piece of [`WordCounter::sorted`]'s list: a slice and a
/// count.
pub const SORT_BYTES_PER_PIECE: u64 = std::mem::size_of::<(&[u8], u64)>() as u64;

/// The bucket count of a hashbrown table that can hold `capacity` entries
/// (its load factor is 7/8; small tables are exceptions).
fn buckets_for(capacity: usize) -> usize {
    if capacity == 0 {
        0
    } else if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity * 8 / 7).next_power_of_two()
    }
}

/// The capacity of a hashbrown table sized for exactly `n` entries.
fn exact_capacity(n: usize) -> usize {
    match buckets_for(n) {
        0 => 0,
        b if b < 8 => b - 1,
        b => b / 8 * 7,
    }
}

/// Bytes of a hashbrown table with `buckets` buckets of `entry` bytes: the
/// entries, one control byte each, and one group of trailing control bytes.
fn table_bytes(buckets: usize, entry: usize) -> u64 {
    if buckets == 0 { 0 } else { (buckets * (entry + 1) + 16) as u64 }
}

/// A piece of at most [`SHORT`] bytes as one integer: the bytes in the low
/// 120 bits, the length in the top 8 (so that zero bytes are not lost).
#[inline]
fn pack(piece: &[u8]) -> u128 {
    debug_assert!(piece.len() <= SHORT);
    let mut v = (piece.len() as u128) << 120;
    for (i, &b) in piece.iter().enumerate() {
        v |= u128::from(b) << (8 * i);
    }
    v
}

fn hash_short(v: u128) -> u64 {
    use std::hash::BuildHasher;
    FxBuildHasher.hash_one(v)
}

/// A worker's private counts. Almost all pieces are short and are counted by
/// value (see [`pack`]): two multiplies to hash and one integer compare,
/// instead of a byte-wise hash and a `memcmp` per lookup. Longer pieces are
/// slices borrowed from the documents, with their hash kept for the fold into
/// the global table.
#[derive(Default)]
struct LocalCounts<'a> {
    short: HashTable<(u128, u64)>,
    long: HashTable<(u64, &'a [u8], u64)>,
    pieces: u64,
}

impl<'a> LocalCounts<'a> {
    fn count_unit(&mut self, pattern: Pattern, unit: &'a [u8]) {
        pattern.for_each_piece(unit, |piece| {
            self.pieces += 1;
            if piece.len() <= SHORT {
                let v = pack(piece);
                let hash = hash_short(v);
                match self.short.find_mut(hash, |e| e.0 == v) {
                    Some(e) => e.1 += 1,
                    None => {
                        self.short.insert_unique(hash, (v, 1), |e| hash_short(e.0));
                    }
                }
                return;
            }
            let hash = hash_bytes(piece);
            match self.long.find_mut(hash, |e| e.1 == piece) {
                Some(e) => e.2 += 1,
                None => {
                    self.long.insert_unique(hash, (hash, piece, 1), |e| e.0);
                }
            }
        });
    }
}

/// Cuts documents into work units of about [`UNIT_BYTES`], cutting large
/// documents only at [`Pattern::cut_point`]s. Empty documents give no unit.
fn work_units<'a>(pattern: Pattern, docs: impl Iterator<Item = &'a [u8]>) -> Vec<&'a [u8]> {
    let mut units = Vec::new();
    for doc in docs {
        let mut rest = doc;
        while rest.len() > UNIT_BYTES {
            match pattern.cut_point(rest, UNIT_BYTES) {
                Some(cut) if cut < rest.len() => {
                    let (unit, tail) = rest.split_at(cut);
                    units.push(unit);
                    rest = tail;
                }
                _ => break,
            }
        }
        if !rest.is_empty() {
            units.push(rest);
        }
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_keeps_bytes_and_length() {
        let pieces: [&[u8]; 7] = [b"", b"\0", b"\0\0", b"a", b"abcdefg", b"\xff\0\xfe", b"0123456789abcde"];
        for p in pieces {
            let bytes = pack(p).to_le_bytes();
            assert_eq!(&bytes[..usize::from(bytes[15])], p);
        }
        assert_ne!(pack(b"\0"), pack(b"\0\0"));
    }

    #[test]
    fn work_units_cover_documents() {
        let mut doc = Vec::new();
        let mut i = 0;
        while doc.len() < 3 * UNIT_BYTES {
            doc.extend_from_slice(format!("line {i} has words\nand: more\n").as_bytes());
            i += 1;
        }
        let docs: [&[u8]; 3] = [&doc, b"", b"tiny"];
        let units = work_units(Pattern::Gpt4, docs.into_iter());
        assert!(units.len() >= 4, "{} units", units.len());
        assert_eq!(units.concat(), [&doc[..], b"tiny"].concat());
        let none = work_units(Pattern::None, docs.into_iter());
        assert_eq!(none.len(), 2);
    }
}
