//! The two lookup tables of the encoder: token bytes -> id, and
//! (left id, right id) -> merged id.
//!
//! Both are open-addressing tables with linear probing, built once and read
//! only afterwards. They exist instead of a `HashMap<Vec<u8>, TokenId>`
//! because the hot loop looks up borrowed byte slices millions of times per
//! second: the byte table hashes the slice without allocating, keeps 32 bits
//! of the hash beside each id so that almost every mismatch is rejected
//! without touching the token bytes, and compares against one flat byte
//! buffer. The pair table packs its key into a `u64` and its value beside it,
//! so a probe is one cache line.

use crate::TokenId;

const EMPTY: u64 = u64::MAX;

/// Reads up to 8 bytes little-endian into a `u64` (for `b.len() <= 8`).
#[inline(always)]
fn read_small(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 4 {
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
        let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]) as u64;
        lo | (hi << 32)
    } else if n > 0 {
        ((b[0] as u64) << 16) | ((b[n / 2] as u64) << 8) | b[n - 1] as u64
    } else {
        0
    }
}

#[inline(always)]
fn read8(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5], b[at + 6], b[at + 7]])
}

/// Multiplies in 128 bits and folds the halves: a cheap, well-mixing step
/// (the core of wyhash-style hashes).
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

const K0: u64 = 0xa076_1d64_78bd_642f;
const K1: u64 = 0xe703_7ed1_a0b4_28db;
const K2: u64 = 0x8ebc_6af0_9c88_c6e3;

/// Hash of a byte string. Short strings (the common case: most pieces are
/// 1..8 bytes) take two loads and one multiply.
#[inline(always)]
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    let n = b.len();
    let acc = if n <= 8 {
        fold_mul(read_small(b) ^ K0, (n as u64) ^ K1)
    } else {
        let mut acc = (n as u64) ^ K2;
        let mut i = 0;
        while i + 8 < n {
            acc = fold_mul(acc ^ read8(b, i), K1);
            i += 8;
        }
        // The last 8 bytes, possibly overlapping the previous chunk.
        fold_mul(acc ^ read8(b, n - 8), K0)
    };
    fold_mul(acc, K2)
}

/// Token bytes -> token id.
#[derive(Clone)]
pub(crate) struct ByteTable {
    /// `(hash >> 32) << 32 | id`, or `EMPTY`.
    slots: Vec<u64>,
    mask: usize,
}

impl ByteTable {
    /// Builds the table over `n` tokens whose bytes are `bytes(id)`; empty
    /// tokens (unused ids) are left out. The tokens must be distinct (the
    /// caller checks).
    pub(crate) fn new<'a>(n: usize, bytes: impl Fn(usize) -> &'a [u8]) -> ByteTable {
        let cap = (n.max(1) * 2).next_power_of_two();
        let mut slots = vec![EMPTY; cap];
        let mask = cap - 1;
        for id in 0..n {
            if bytes(id).is_empty() {
                continue;
            }
            let h = hash_bytes(bytes(id));
            let mut i = h as usize & mask;
            while slots[i] != EMPTY {
                i = (i + 1) & mask;
            }
            slots[i] = (h & 0xffff_ffff_0000_0000) | id as u64;
        }
        ByteTable { slots, mask }
    }

    /// The id of the token whose bytes are `key`; `bytes(id)` gives the bytes
    /// of a candidate.
    #[inline(always)]
    pub(crate) fn get<'a>(&self, key: &[u8], bytes: impl Fn(TokenId) -> &'a [u8]) -> Option<TokenId> {
        let h = hash_bytes(key);
        let tag = h & 0xffff_ffff_0000_0000;
        let mut i = h as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if s & 0xffff_ffff_0000_0000 == tag {
                let id = s as TokenId;
                if bytes(id) == key {
                    return Some(id);
                }
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// (left id, right id) -> merged id. In tiktoken's byte-keyed semantics the
/// merged id is also the rank of the pair.
#[derive(Clone)]
pub(crate) struct PairTable {
    slots: Vec<PairSlot>,
    mask: usize,
    len: usize,
}

#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct PairSlot {
    key: u64,
    value: TokenId,
}

#[inline(always)]
fn pair_key(a: TokenId, b: TokenId) -> u64 {
    ((a as u64) << 32) | b as u64
}

#[inline(always)]
fn pair_hash(key: u64) -> usize {
    fold_mul(key ^ K0, K1) as usize
}

impl PairTable {
    /// Builds the table from `(left, right, merged)` triples; a pair listed
    /// twice keeps its first value (the caller never lists one twice).
    pub(crate) fn new(entries: &[(TokenId, TokenId, TokenId)]) -> PairTable {
        let cap = (entries.len().max(1) * 2).next_power_of_two();
        let mut slots = vec![PairSlot { key: EMPTY, value: 0 }; cap];
        let mask = cap - 1;
        let mut len = 0;
        for &(a, b, m) in entries {
            let key = pair_key(a, b);
            let mut i = pair_hash(key) & mask;
            loop {
                if slots[i].key == EMPTY {
                    slots[i] = PairSlot { key, value: m };
                    len += 1;
                    break;
                }
                if slots[i].key == key {
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        PairTable { slots, mask, len }
    }

    /// The merged id of `(a, b)`, or `TokenId::MAX` when the concatenation
    /// is not a token. (A sentinel rather than an `Option` because the merge
    /// loops compare ranks and the sentinel is "never merges".)
    #[inline(always)]
    pub(crate) fn get(&self, a: TokenId, b: TokenId) -> TokenId {
        let key = pair_key(a, b);
        let mut i = pair_hash(key) & self.mask;
        loop {
            let s = self.slots[i];
            if s.key == key {
                return s.value;
            }
            if s.key == EMPTY {
                return TokenId::MAX;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Number of pairs.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_finds_every_token_and_nothing_else() {
        let toks: Vec<Vec<u8>> = (0u32..5000).map(|i| format!("t{i}").into_bytes()).collect();
        let t = ByteTable::new(toks.len(), |i| &toks[i]);
        for (i, tok) in toks.iter().enumerate() {
            assert_eq!(t.get(tok, |id| &toks[id as usize]), Some(i as TokenId));
        }
        assert_eq!(t.get(b"t5000", |id| &toks[id as usize]), None);
        assert_eq!(t.get(b"", |id| &toks[id as usize]), None);
        assert_eq!(t.get(b"a much longer key than any token", |id| &toks[id as usize]), None);
    }

    #[test]
    fn hash_distinguishes_lengths_and_overlaps() {
        // Keys that share the bytes the short path reads must still differ.
        assert_ne!(hash_bytes(b"abcdefgh"), hash_bytes(b"abcdXefgh"));
        assert_ne!(hash_bytes(b"ab"), hash_bytes(b"aab"));
        assert_ne!(hash_bytes(b"\0"), hash_bytes(b""));
        assert_ne!(hash_bytes(&[0u8; 9]), hash_bytes(&[0u8; 10]));
    }

    #[test]
    fn pair_table_round_trips() {
        let entries: Vec<_> = (0..1000u32).map(|i| (i, i * 7 % 13, 10_000 + i)).collect();
        let t = PairTable::new(&entries);
        assert_eq!(t.len(), 1000);
        for &(a, b, m) in &entries {
            assert_eq!(t.get(a, b), m);
        }
        assert_eq!(t.get(1, 1), TokenId::MAX);
    }
}
