//! The merge loops: turn one piece that is not a whole token into tokens.
//!
//! Semantics (tiktoken's): start from single bytes; repeatedly merge the
//! adjacent pair whose concatenation is the token of lowest rank, the
//! leftmost such pair on ties, until no adjacent pair concatenates to a
//! token. Parts are always tokens, so "the concatenation of two parts is a
//! token of rank r" is exactly the pair-table lookup `(left, right) -> r`.
//!
//! Two algorithms with the same result, chosen by piece length:
//! - [`merge_small`]: tiktoken's O(n·m) loop on stack arrays. Each step
//!   scans the (short) rank array for its minimum, merges, and recomputes
//!   the two neighbouring ranks. For the pieces real text produces (a few
//!   bytes to a few dozen) the scan is a handful of cache-resident compares.
//! - [`merge_large`]: a doubly linked list over byte positions with a binary
//!   min-heap of `(rank, position)` and lazy invalidation (an entry is stale
//!   when the rank stored at its position no longer equals it), O(n log n).
//!   A 1 MB piece without spaces takes milliseconds, not hours.
//!
//! Performance notes:
//! - The crossover ([`SMALL_MAX`]) was measured with the `merge/` group of
//!   `benches/encode.rs` (o200k, random lowercase letters, so every piece is
//!   many merges): small/large = 106/235 ns at 8 bytes, 663/1244 ns at 32,
//!   2.37/2.36 µs at 64, 4.44/3.94 µs at 96, 8.34/5.88 µs at 128 (noisy
//!   shared machine; medians). The scan wins below ~64 bytes and loses above,
//!   so pieces up to 64 bytes take it (tiktoken switches at 100).
//! - Scanning with `u32` ranks where "no merge" is `u32::MAX` keeps the
//!   minimum search branch-light (the compiler vectorizes the simple form).
//! - Removing a part shifts the tail of two small arrays (`copy_within`);
//!   a linked list was slower below the crossover because of the pointer
//!   chasing in the minimum scan.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::table::PairTable;
use crate::TokenId;

/// What the merge loops read.
#[derive(Clone, Copy)]
pub(crate) struct Tables<'a> {
    pub byte_ids: &'a [TokenId; 256],
    /// `byte_pairs[b0 << 8 | b1]`: the merged id of two single bytes.
    pub byte_pairs: &'a [TokenId],
    pub pairs: &'a PairTable,
}

/// Pieces up to this many bytes use [`merge_small`]; longer ones use
/// [`merge_large`].
pub(crate) const SMALL_MAX: usize = 64;

/// The small path's stack arrays hold this many parts (more than
/// [`SMALL_MAX`], so the benchmark can time it past the crossover).
pub(crate) const SMALL_CAPACITY: usize = 128;

const NONE: TokenId = TokenId::MAX;

/// The O(n·m) merge for pieces of at most [`SMALL_CAPACITY`] bytes (used up
/// to [`SMALL_MAX`]).
#[inline]
pub(crate) fn merge_small(piece: &[u8], t: Tables<'_>, out: &mut Vec<TokenId>) {
    let pairs = t.pairs;
    let n = piece.len();
    debug_assert!((2..=SMALL_CAPACITY).contains(&n));
    let mut ids = [0 as TokenId; SMALL_CAPACITY];
    // ranks[i] is the rank of the pair (ids[i], ids[i + 1]); the last entry
    // is always NONE so that the scan needs no bound special case.
    let mut ranks = [NONE; SMALL_CAPACITY];
    for (slot, &b) in ids.iter_mut().zip(piece) {
        *slot = t.byte_ids[b as usize];
    }
    for (r, w) in ranks.iter_mut().zip(piece.windows(2)) {
        *r = t.byte_pairs[(w[0] as usize) << 8 | w[1] as usize];
    }
    let mut len = n;
    loop {
        // Leftmost minimum: strict `<` keeps the first of equal ranks.
        let mut best = NONE;
        let mut at = 0;
        for (i, &r) in ranks[..len - 1].iter().enumerate() {
            if r < best {
                best = r;
                at = i;
            }
        }
        if best == NONE {
            break;
        }
        ids[at] = best;
        // Drop part at + 1: shift the tails left by one.
        ids.copy_within(at + 2..len, at + 1);
        ranks.copy_within(at + 2..len, at + 1);
        len -= 1;
        ranks[len - 1] = NONE;
        if at + 1 < len {
            ranks[at] = pairs.get(ids[at], ids[at + 1]);
        } else {
            ranks[at] = NONE;
        }
        if at > 0 {
            ranks[at - 1] = pairs.get(ids[at - 1], ids[at]);
        }
        if len == 1 {
            break;
        }
    }
    out.extend_from_slice(&ids[..len]);
}

/// The O(n log n) merge for pieces of any length.
pub(crate) fn merge_large(piece: &[u8], t: Tables<'_>, out: &mut Vec<TokenId>) {
    let pairs = t.pairs;
    let n = piece.len();
    debug_assert!(n >= 2);
    // Positions are u32: a single piece of 4 GiB is not a case we support
    // (the caller cuts text into pieces far smaller than that).
    let mut ids: Vec<TokenId> = piece.iter().map(|&b| t.byte_ids[b as usize]).collect();
    let mut next: Vec<u32> = (1..=n as u32).collect();
    let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
    let mut ranks: Vec<TokenId> = vec![NONE; n];
    let mut heap: BinaryHeap<Reverse<u64>> = BinaryHeap::with_capacity(n);
    for i in 0..n - 1 {
        let r = t.byte_pairs[(piece[i] as usize) << 8 | piece[i + 1] as usize];
        ranks[i] = r;
        if r != NONE {
            heap.push(Reverse(((r as u64) << 32) | i as u64));
        }
    }
    let end = n as u32;
    while let Some(Reverse(entry)) = heap.pop() {
        let r = (entry >> 32) as TokenId;
        let i = entry as u32 as usize;
        if ranks[i] != r {
            continue; // stale: this pair was changed or removed since
        }
        let j = next[i] as usize;
        debug_assert!(j < n);
        ids[i] = r;
        // Unlink j.
        let k = next[j];
        next[i] = k;
        if k != end {
            prev[k as usize] = i as u32;
        }
        ranks[j] = NONE;
        // New pair on the right of i.
        let rr = if k != end { pairs.get(ids[i], ids[k as usize]) } else { NONE };
        ranks[i] = rr;
        if rr != NONE {
            heap.push(Reverse(((rr as u64) << 32) | i as u64));
        }
        // New pair on the left of i.
        let p = prev[i];
        if p != u32::MAX {
            let p = p as usize;
            let rl = pairs.get(ids[p], ids[i]);
            ranks[p] = rl;
            if rl != NONE {
                heap.push(Reverse(((rl as u64) << 32) | p as u64));
            }
        }
    }
    let mut i = 0u32;
    while i != end {
        out.push(ids[i as usize]);
        i = next[i as usize];
    }
}
