//! The byte-level BPE vocabulary and encoder.
//!
//! Encoding follows tiktoken: the text is cut into pieces by the pre-tokenizer;
//! a piece that is a whole token becomes that token; otherwise, starting from
//! single bytes, the adjacent pair whose concatenation has the lowest rank is
//! merged (leftmost on ties) until no adjacent pair concatenates to a token.
//! The rule is keyed on bytes: a pair merges when its concatenation is a
//! token, whichever merge created that token. Ranks are ids.
//!
//! The trainer builds a vocabulary with [`Bpe::from_merges`], the pretrained
//! loader and our rank files with [`Bpe::from_ranks`]; either is wrapped in a
//! [`crate::Tokenizer`] with [`crate::Tokenizer::from_bpe`], which adds the
//! special tokens. This module knows nothing of special tokens.
//!
//! What it is not: a pre-tokenizer ([`crate::pretok`] is), nor a trainer.
//!
//! Layout: token bytes live in one flat buffer (`bytes`, `starts`); whole
//! pieces are looked up in a `table::ByteTable`; merges use a
//! `table::PairTable` holding, for every token and every way of cutting it
//! into two tokens, `(left, right) -> token`. Because parts are always
//! tokens, that table answers exactly tiktoken's byte-keyed question "is the
//! concatenation a token, and of which rank" without hashing bytes.
//!
//! Performance notes (see also `merge.rs`, `table.rs`, `cache.rs`). On the
//! 26 MB benchmark corpus with o200k, 6.0M pieces: 0.9M are one byte, 4.5M
//! are whole tokens, 0.6M (101k distinct, 4.4 MB) need merging. The work is
//! memory-bound: a 200k vocabulary's tables are megabytes probed at random.
//! Measured with the pieces pre-split (`bpe_only` in `benches/encode.rs`,
//! per-thread CPU time, shared 2-core machine, so ratios matter more than
//! MB/s), each step kept because it helped:
//! - start: `HashMap`-like table of ids + flat bytes: ~45 MB/s, no faster
//!   than tiktoken's own lookup (three dependent cache misses per lookup:
//!   slot, `starts[id]`, bytes; plus a `memcmp` call);
//! - whole-token slots holding the first 8 bytes, the length and the offset
//!   of the rest: one miss for tokens of up to 8 bytes, two above;
//! - pair table packed into one `u64` per slot, and a 256 KiB direct table
//!   for the first round of byte pairs: ~55 MB/s;
//! - pieces queued in batches of 16 whose slots are prefetched first, so the
//!   misses overlap: ~75 MB/s;
//! - a per-thread memo of merged pieces (63% hits with 4096 entries; 16384
//!   entries gave 73% hits but no measurable gain): ~80 MB/s;
//! - tables on huge pages (the TLB misses made prefetches stall): ~90-100
//!   MB/s, 1.4-1.9x tiktoken's per-piece work measured side by side.
//!   With the hand-written pre-tokenizer (~200 MB/s) the whole encoder runs
//!   at ~5-7x `tiktoken-rs` on one thread.
//! - Rejected: a larger memo (above), an LRU (tiktoken's authors removed
//!   theirs too), and merging with a linked list below the crossover.
//! - One-byte pieces are a table index; pieces longer than the longest token
//!   skip the whole-token lookup.
//! - Parallelism lives a level up ([`crate::Tokenizer::encode_batch`],
//!   [`crate::Tokenizer::encode_ordinary_par`]): the tables are read-only and
//!   shared, the memo is per thread, so threads never contend.

mod cache;
mod merge;
mod slots;
mod splits;
mod table;

use rayon::prelude::*;

use crate::{Error, Pattern, Result, TokenId};
use table::{ByteTable, PairTable};

/// A byte-level BPE vocabulary (no special tokens) with its encoder.
#[derive(Clone)]
pub struct Bpe {
    pattern: Pattern,
    /// The bytes of every token, concatenated in id order.
    bytes: Vec<u8>,
    /// `bytes[starts[id]..starts[id + 1]]` is token `id`; `len() + 1` entries.
    starts: Vec<u32>,
    /// The merge list, when the vocabulary was built from one (kept so that
    /// files we write hold merges, not bytes).
    merges: Option<Vec<(TokenId, TokenId)>>,
    /// The id of each single byte.
    byte_ids: [TokenId; 256],
    /// Length of the longest token, in bytes.
    max_len: usize,
    /// Token bytes -> id, for whole pieces.
    whole: ByteTable,
    /// `(left, right) -> merged` for every split of every token into two tokens.
    pairs: PairTable,
    /// The same for pairs of single bytes, indexed by `b0 << 8 | b1`: the
    /// first round of every merge reads only this (256 KiB, cache resident).
    byte_pairs: Box<[TokenId]>,
    /// This vocabulary's tag in the per-thread memo of merged pieces.
    memo_owner: u32,
}

impl std::fmt::Debug for Bpe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bpe")
            .field("pattern", &self.pattern)
            .field("tokens", &self.len())
            .field("from_merges", &self.merges.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds the flat byte storage from token byte strings.
fn flatten<'a>(tokens: impl Iterator<Item = &'a [u8]>) -> (Vec<u8>, Vec<u32>) {
    let mut bytes = Vec::new();
    let mut starts = vec![0u32];
    for t in tokens {
        bytes.extend_from_slice(t);
        starts.push(bytes.len() as u32);
    }
    (bytes, starts)
}

impl Bpe {
    /// The vocabulary of a trained merge list: ids 0..=255 are the single
    /// bytes in byte order, and merge `i` = `(a, b)` creates id `256 + i`
    /// whose bytes are `bytes(a) ++ bytes(b)`. Fails when a merge refers to
    /// an id not yet defined or creates bytes that already exist.
    pub fn from_merges(merges: &[(TokenId, TokenId)], pattern: Pattern) -> Result<Bpe> {
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        let mut seen: rustc_hash::FxHashMap<Vec<u8>, usize> = Default::default();
        for (i, &(a, b)) in merges.iter().enumerate() {
            let defined = tokens.len();
            for side in [a, b] {
                if side as usize >= defined {
                    return Err(Error::Config(format!(
                        "merge {i} ({a}, {b}) refers to token {side}, which is not defined before it \
                         (ids below {defined} are)"
                    )));
                }
            }
            let mut t = tokens[a as usize].clone();
            t.extend_from_slice(&tokens[b as usize]);
            // Byte tokens are single bytes and merges are at least two, so
            // only earlier merges can collide.
            if let Some(&other) = seen.get(&t) {
                return Err(Error::Config(format!(
                    "merge {i} ({a}, {b}) creates {:?}, which token {} already is",
                    String::from_utf8_lossy(&t),
                    256 + other
                )));
            }
            seen.insert(t.clone(), i);
            tokens.push(t);
        }
        let mut bpe = Bpe::build(&tokens, pattern)?;
        bpe.merges = Some(merges.to_vec());
        Ok(bpe)
    }

    /// A vocabulary given as token bytes by rank (`tokens[id]`), as tiktoken
    /// files hold them: every single byte must be present (at any rank), and
    /// no two ids may share bytes. An empty entry marks an unused id (p50k
    /// has its `<|endoftext|>` special in the middle of its ranks): no token
    /// has it, and a special token may take it.
    pub fn from_ranks(tokens: Vec<Vec<u8>>, pattern: Pattern) -> Result<Bpe> {
        Bpe::build(&tokens, pattern)
    }

    /// A vocabulary whose checks and pair entries were worked out ahead of
    /// time (the pretrained vocabularies, baked by `build.rs`): token `id`
    /// is `bytes[starts[id]..starts[id + 1]]` (empty: unused), the tokens
    /// are distinct, and `entries` lists every cut of every token into two
    /// tokens as `(left, right, token)`. Only the single-byte check is
    /// repeated.
    pub(crate) fn from_baked(
        bytes: Vec<u8>,
        starts: Vec<u32>,
        entries: &[(TokenId, TokenId, TokenId)],
        pattern: Pattern,
    ) -> Result<Bpe> {
        let ids = starts.len().saturating_sub(1);
        if ids >= table::MAX_IDS || starts.last().is_none_or(|&e| e as usize != bytes.len()) {
            return Err(Error::Config("malformed baked vocabulary".into()));
        }
        if entries.iter().any(|&(a, b, m)| a.max(b).max(m) as usize >= ids) {
            return Err(Error::Config("malformed baked vocabulary: pair entry out of range".into()));
        }
        let (byte_ids, max_len) = Bpe::byte_ids(&starts, &bytes)?;
        let whole = ByteTable::new(&bytes, &starts);
        Ok(Bpe::assemble(pattern, bytes, starts, byte_ids, max_len, whole, entries))
    }

    /// The id of each single byte and the longest token's length; fails
    /// when a byte is missing.
    fn byte_ids(starts: &[u32], bytes: &[u8]) -> Result<([TokenId; 256], usize)> {
        let mut byte_ids = [TokenId::MAX; 256];
        let mut max_len = 0;
        for (id, w) in starts.windows(2).enumerate() {
            let (s, e) = (w[0] as usize, w[1] as usize);
            if e < s || e > bytes.len() {
                return Err(Error::Config("malformed token offsets".into()));
            }
            if e - s == 1 {
                byte_ids[bytes[s] as usize] = id as TokenId;
            }
            max_len = max_len.max(e - s);
        }
        if let Some(b) = byte_ids.iter().position(|&id| id == TokenId::MAX) {
            return Err(Error::Config(format!(
                "byte 0x{b:02X} is not a token: a byte-level vocabulary needs all 256 single bytes"
            )));
        }
        Ok((byte_ids, max_len))
    }

    fn assemble(
        pattern: Pattern,
        bytes: Vec<u8>,
        starts: Vec<u32>,
        byte_ids: [TokenId; 256],
        max_len: usize,
        whole: ByteTable,
        entries: &[(TokenId, TokenId, TokenId)],
    ) -> Bpe {
        let pairs = PairTable::new(entries);
        let mut byte_pairs = vec![TokenId::MAX; 1 << 16].into_boxed_slice();
        for b0 in 0..256usize {
            for b1 in 0..256usize {
                byte_pairs[b0 << 8 | b1] = pairs.get(byte_ids[b0], byte_ids[b1]);
            }
        }
        Bpe {
            pattern,
            bytes,
            starts,
            merges: None,
            byte_ids,
            max_len,
            whole,
            pairs,
            byte_pairs,
            memo_owner: cache::next_owner(),
        }
    }

    fn build(tokens: &[Vec<u8>], pattern: Pattern) -> Result<Bpe> {
        if tokens.len() >= table::MAX_IDS {
            return Err(Error::Config(format!("{} tokens is more than this encoder supports", tokens.len())));
        }
        let (bytes, starts) = flatten(tokens.iter().map(|t| t.as_slice()));
        if bytes.len() > u32::MAX as usize {
            return Err(Error::Config("token bytes exceed 4 GiB".into()));
        }
        let (byte_ids, max_len) = Bpe::byte_ids(&starts, &bytes)?;
        let whole = ByteTable::new(&bytes, &starts);
        let get = |id: TokenId| &bytes[starts[id as usize] as usize..starts[id as usize + 1] as usize];
        let lookup = |t: &[u8]| whole.get_hashed(t, table::hash_bytes(t), &bytes, get);
        // Duplicates: every token must find itself. (Parallel, like the
        // splits below: building a 200k vocabulary is ~1.5M lookups, and
        // `tok` pays it at every start.)
        let dup = (0..tokens.len()).into_par_iter().find_first(|&id| {
            let t = &tokens[id];
            !t.is_empty() && lookup(t).is_some_and(|found| found != id as TokenId)
        });
        if let Some(id) = dup {
            let t = &tokens[id];
            let found = lookup(t).unwrap_or_default();
            return Err(Error::Config(format!(
                "tokens {found} and {id} have the same bytes {:?}",
                String::from_utf8_lossy(t)
            )));
        }
        // Every split of every token into two tokens (`splits`: linear in a
        // long token's length). Listed in id order then split position
        // (rayon's collect keeps the order); a pair is unique (its
        // concatenation fixes the token), so no entry shadows another.
        let splitter = splits::Splitter::new(tokens.iter().map(Vec::as_slice), lookup, get);
        let entries: Vec<(TokenId, TokenId, TokenId)> = (0..tokens.len())
            .into_par_iter()
            .flat_map_iter(|id| splitter.cuts(&tokens[id]).map(move |(l, r)| (l, r, id as TokenId)))
            .collect();
        Ok(Bpe::assemble(pattern, bytes, starts, byte_ids, max_len, whole, &entries))
    }

    /// The pre-tokenizer this vocabulary was built with.
    pub fn pattern(&self) -> Pattern {
        self.pattern
    }

    /// Number of ids (`0..len()`), unused ids included.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Never true: every vocabulary holds at least the 256 bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of token `id` (`None` past the end and for unused ids).
    #[inline]
    pub fn token_bytes(&self, id: TokenId) -> Option<&[u8]> {
        let id = id as usize;
        if id + 1 < self.starts.len() {
            let (s, e) = (self.starts[id] as usize, self.starts[id + 1] as usize);
            (e > s).then(|| &self.bytes[s..e])
        } else {
            None
        }
    }

    /// True when `id` is below [`Bpe::len`] but no token has it.
    pub fn is_unused(&self, id: TokenId) -> bool {
        (id as usize) < self.len() && self.token_bytes(id).is_none()
    }

    #[inline(always)]
    fn bytes_of(&self, id: TokenId) -> &[u8] {
        let id = id as usize;
        &self.bytes[self.starts[id] as usize..self.starts[id + 1] as usize]
    }

    /// The merge list, when the vocabulary was built from one.
    pub fn merges(&self) -> Option<&[(TokenId, TokenId)]> {
        self.merges.as_deref()
    }

    /// The id of the token whose bytes are exactly `bytes`.
    #[inline]
    pub fn token_id(&self, bytes: &[u8]) -> Option<TokenId> {
        if bytes.len() > self.max_len {
            return None;
        }
        self.whole.get_hashed(bytes, table::hash_bytes(bytes), &self.bytes, |id| self.bytes_of(id))
    }

    /// The id of the single byte `b`.
    #[inline]
    pub fn byte_id(&self, b: u8) -> TokenId {
        self.byte_ids[b as usize]
    }

    /// The merged token of the adjacent tokens `(a, b)`, if their
    /// concatenation is a token: the byte-keyed merge rule as a table.
    pub fn pair(&self, a: TokenId, b: TokenId) -> Option<TokenId> {
        Some(self.pairs.get(a, b)).filter(|&m| m != TokenId::MAX)
    }

    /// Every `(left, right, merged)` such that `bytes(left) ++ bytes(right)
    /// == bytes(merged)`, sorted by merged id, then by the length of `left`.
    /// This is what an HF `tokenizer.json` merge list needs.
    pub fn all_pairs(&self) -> Vec<(TokenId, TokenId, TokenId)> {
        let mut out = Vec::with_capacity(self.pairs.len());
        let tokens = (0..self.len() as TokenId).map(|id| self.bytes_of(id));
        let splitter = splits::Splitter::new(tokens, |t| self.token_id(t), |id| self.bytes_of(id));
        for id in 0..self.len() as TokenId {
            out.extend(splitter.cuts(self.bytes_of(id)).map(|(a, b)| (a, b, id)));
        }
        out
    }

    /// Encodes one piece (a pre-tokenizer output), appending its ids.
    #[inline]
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        match piece.len() {
            0 => {}
            1 => out.push(self.byte_ids[piece[0] as usize]),
            n => {
                if let Some(id) = self.token_id(piece) {
                    out.push(id);
                } else if n <= merge::SMALL_MAX {
                    merge::merge_small(piece, self.tables(), out);
                } else {
                    merge::merge_large(piece, self.tables(), out);
                }
            }
        }
    }

    #[inline(always)]
    fn tables(&self) -> merge::Tables<'_> {
        merge::Tables { byte_ids: &self.byte_ids, byte_pairs: &self.byte_pairs, pairs: &self.pairs }
    }

    /// The merge step alone, always through the heap path (benchmarks and
    /// tests compare it with the small path).
    #[doc(hidden)]
    pub fn encode_piece_large(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        match piece.len() {
            0 => {}
            1 => out.push(self.byte_ids[piece[0] as usize]),
            _ => merge::merge_large(piece, self.tables(), out),
        }
    }

    /// The merge step alone through the small path (`piece.len()` must be
    /// between 2 and 128); benchmarks and tests only.
    #[doc(hidden)]
    pub fn encode_piece_small(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        assert!((2..=merge::SMALL_CAPACITY).contains(&piece.len()), "small path takes 2..=128 bytes");
        merge::merge_small(piece, self.tables(), out);
    }

    /// Pre-tokenizes `text` and encodes every piece, appending the ids.
    pub fn encode_into(&self, text: &[u8], out: &mut Vec<TokenId>) {
        out.reserve(text.len() / 4 + 8);
        cache::with(|memo| {
            let mut batch = Batch::default();
            self.pattern.for_each_piece(text, |p| {
                self.add(&mut batch, p);
                if batch.n == BATCH {
                    self.flush(&mut batch, memo, out);
                }
            });
            self.flush(&mut batch, memo, out);
        });
    }

    /// Encodes a sequence of pieces, appending the ids: the same as calling
    /// [`Bpe::encode_piece`] on each, only faster.
    pub fn encode_pieces<'t>(&self, pieces: impl Iterator<Item = &'t [u8]>, out: &mut Vec<TokenId>) {
        cache::with(|memo| {
            let mut batch = Batch::default();
            for p in pieces {
                self.add(&mut batch, p);
                if batch.n == BATCH {
                    self.flush(&mut batch, memo, out);
                }
            }
            self.flush(&mut batch, memo, out);
        });
    }

    /// Queues a piece: hashes it and prefetches its whole-token slot.
    #[inline(always)]
    fn add<'t>(&self, batch: &mut Batch<'t>, p: &'t [u8]) {
        let h = if p.len() >= 2 && p.len() <= self.max_len { table::hash_bytes(p) } else { 0 };
        if h != 0 {
            prefetch(self.whole.slot_addr(h));
        }
        batch.items[batch.n] = (p, h);
        batch.n += 1;
    }

    /// Encodes the queued pieces in order and empties the queue.
    #[inline(always)]
    fn flush(&self, batch: &mut Batch<'_>, memo: &mut cache::Memo, out: &mut Vec<TokenId>) {
        for &(p, h) in &batch.items[..batch.n] {
            if h == 0 {
                // One byte, or longer than any token.
                self.encode_piece(p, out);
            } else if let Some(id) = self.whole.get_hashed(p, h, &self.bytes, |id| self.bytes_of(id)) {
                out.push(id);
            } else if p.len() <= cache::MAX_PIECE {
                if let Some(ids) = memo.get(self.memo_owner, p, h) {
                    out.extend_from_slice(ids);
                } else {
                    let at = out.len();
                    merge::merge_small(p, self.tables(), out);
                    if out.len() - at <= cache::MAX_IDS {
                        memo.put(self.memo_owner, p, h, &out[at..]);
                    }
                }
            } else if p.len() <= merge::SMALL_MAX {
                merge::merge_small(p, self.tables(), out);
            } else {
                merge::merge_large(p, self.tables(), out);
            }
        }
        batch.n = 0;
    }
}

/// Pieces are looked up in batches of this many: every piece's whole-token
/// slot is prefetched when it is queued, so the cache misses of a batch
/// overlap instead of queueing one behind the other.
const BATCH: usize = 16;

/// Queued pieces and their hashes (0: no whole-token lookup).
struct Batch<'t> {
    items: [(&'t [u8], u64); BATCH],
    n: usize,
}

impl Default for Batch<'_> {
    fn default() -> Self {
        Batch { items: [(&[], 0); BATCH], n: 0 }
    }
}

/// Hints the CPU to bring the cache line at `p` in; no effect on results.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint: it never faults and reads nothing the
    // program can observe, whatever the address (here always one inside a
    // live table).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tiktoken's algorithm written literally over a byte-keyed map: the
    /// reference the table-driven loops must equal.
    fn reference(bpe: &Bpe, piece: &[u8]) -> Vec<TokenId> {
        if let Some(id) = bpe.token_id(piece) {
            return vec![id];
        }
        let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
        loop {
            let mut best: Option<(TokenId, usize)> = None;
            for i in 0..parts.len().saturating_sub(1) {
                let cat = [parts[i].as_slice(), parts[i + 1].as_slice()].concat();
                if let Some(r) = bpe.token_id(&cat)
                    && best.is_none_or(|(br, _)| r < br)
                {
                    best = Some((r, i));
                }
            }
            let Some((_, i)) = best else { break };
            let right = parts.remove(i + 1);
            parts[i].extend_from_slice(&right);
        }
        parts.iter().map(|p| bpe.token_id(p).expect("parts are tokens")).collect()
    }

    fn sample() -> Bpe {
        // a+b, ab+c, c+c, cc+c, b+c, a+bc (bytes "abc" again: rejected below), ...
        let (a, b, c) = (b'a' as TokenId, b'b' as TokenId, b'c' as TokenId);
        Bpe::from_merges(&[(a, b), (256, c), (c, c), (258, c), (b, c), (a, a), (261, a)], Pattern::None)
            .expect("valid merges")
    }

    #[test]
    fn from_merges_defines_ids_in_order() {
        let bpe = sample();
        assert_eq!(bpe.len(), 256 + 7);
        assert_eq!(bpe.token_bytes(256), Some(&b"ab"[..]));
        assert_eq!(bpe.token_bytes(257), Some(&b"abc"[..]));
        assert_eq!(bpe.token_bytes(259), Some(&b"ccc"[..]));
        assert_eq!(bpe.token_bytes(262), Some(&b"aaa"[..]));
        assert_eq!(bpe.token_bytes(263), None);
        assert_eq!(bpe.token_id(b"ccc"), Some(259));
        // Byte-keyed: "a" + "bc" is "abc" although merge 1 was ("ab", "c").
        assert_eq!(bpe.pair(b'a' as TokenId, 260), Some(257));
        assert_eq!(bpe.pair(b'c' as TokenId, 258), Some(259));
    }

    #[test]
    fn from_merges_rejects_bad_lists() {
        let e = Bpe::from_merges(&[(97, 256)], Pattern::None).unwrap_err().to_string();
        assert!(e.contains("merge 0 (97, 256) refers to token 256"), "{e}");
        let e = Bpe::from_merges(&[(97, 98), (256, 99), (98, 99), (97, 258)], Pattern::None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("merge 3 (97, 258) creates \"abc\", which token 257 already is"), "{e}");
    }

    #[test]
    fn from_ranks_needs_every_byte_once() {
        let mut toks: Vec<Vec<u8>> = (0..=255u8).rev().map(|b| vec![b]).collect();
        toks.push(b"xy".to_vec());
        let bpe = Bpe::from_ranks(toks.clone(), Pattern::None).unwrap();
        assert_eq!(bpe.byte_id(255), 0);
        assert_eq!(bpe.byte_id(0), 255);
        let mut out = Vec::new();
        bpe.encode_into(b"xyz", &mut out);
        assert_eq!(out, vec![256, 255 - b'z' as TokenId]);

        let mut missing = toks.clone();
        missing.remove(0); // byte 0xFF
        let e = Bpe::from_ranks(missing, Pattern::None).unwrap_err().to_string();
        assert!(e.contains("byte 0xFF is not a token"), "{e}");
        let mut dup = toks;
        dup.push(b"xy".to_vec());
        let e = Bpe::from_ranks(dup, Pattern::None).unwrap_err().to_string();
        assert!(e.contains("tokens 256 and 257 have the same bytes"), "{e}");
    }

    #[test]
    fn small_and_large_paths_equal_the_reference() {
        let bpe = sample();
        let inputs: [&[u8]; 8] =
            [b"abcabc", b"cccccccc", b"aaaaaaa", b"abcccab", b"bcbcabca", b"ab", b"xaabcccaax", b"caaab"];
        for text in inputs {
            let mut small = Vec::new();
            let mut large = Vec::new();
            bpe.encode_piece_small(text, &mut small);
            bpe.encode_piece_large(text, &mut large);
            let mut want = Vec::new();
            // The reference starts with the whole-token lookup; the raw
            // paths do not, so compare them when the piece is not a token.
            if bpe.token_id(text).is_none() {
                want = reference(&bpe, text);
                assert_eq!(small, want, "small {:?}", String::from_utf8_lossy(text));
                assert_eq!(large, want, "large {:?}", String::from_utf8_lossy(text));
            }
            let mut full = Vec::new();
            bpe.encode_piece(text, &mut full);
            if want.is_empty() {
                want = reference(&bpe, text);
            }
            assert_eq!(full, want);
        }
    }

    #[test]
    fn leftmost_wins_on_equal_ranks() {
        // "aaaa": pairs (a,a) at 0, 1, 2 all rank 261; leftmost first gives
        // aa|aa, then (aa, aa) is not a token; "aaa" = aa + a is rank 262.
        let bpe = sample();
        let mut out = Vec::new();
        bpe.encode_piece_small(b"aaaa", &mut out);
        assert_eq!(out, vec![261, 261]);
        out.clear();
        bpe.encode_piece_small(b"aaaaa", &mut out);
        // aa a a a -> aa aa a -> (aa,aa) none, (aa,a) = aaa: aa aaa
        assert_eq!(out, vec![261, 262]);
    }
}
