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

use super::slots::{Pod, Slots};
use crate::TokenId;

const EMPTY: u64 = u64::MAX;

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
        fold_mul(prefix_key(b) ^ K0, (n as u64) ^ K1)
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

/// The first `min(len, 8)` bytes of `b` as a little-endian `u64`, zero
/// padded: the inline key of a [`ByteTable`] slot.
#[inline(always)]
pub(crate) fn prefix_key(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 8 {
        read8(b, 0)
    } else if n >= 4 {
        // Two overlapping loads; the shared bytes land on the same bits.
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
        let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]) as u64;
        lo | (hi << (8 * (n - 4)))
    } else if n > 0 {
        (b[0] as u64) | ((b[n / 2] as u64) << (8 * (n / 2))) | ((b[n - 1] as u64) << (8 * (n - 1)))
    } else {
        0
    }
}

/// A [`ByteTable`] slot: 16 bytes, four to a cache line.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct ByteSlot {
    /// The token's first 8 bytes ([`prefix_key`]).
    key: u64,
    /// `id | min(len, 255) << 21 | 3 hash bits << 29`; 0 marks an empty slot
    /// (no token has length 0).
    word: u32,
    /// Where the token's bytes start in the vocabulary's byte buffer.
    offset: u32,
}

// SAFETY: integers only: all bits valid (all zeros is the empty slot), no
// drop glue, alignment 16.
unsafe impl Pod for ByteSlot {}

const SLOT_ID: u32 = (1 << 21) - 1;

#[inline(always)]
fn word_of(n: usize, h: u64) -> u32 {
    ((n.min(255) as u32) << 21) | (((h >> 61) as u32) << 29)
}

/// Token bytes -> token id.
///
/// Tokens of up to 8 bytes (almost all lookups) are stored whole in their
/// slot, so a lookup is one probe into one cache line and no comparison
/// against the token buffer; longer tokens compare their first 8 bytes in
/// the slot and the rest in the buffer, at the offset the slot holds.
#[derive(Clone)]
pub(crate) struct ByteTable {
    slots: Slots<ByteSlot>,
    mask: usize,
}

impl ByteTable {
    /// Builds the table over the tokens of a flat buffer: token `id` is
    /// `bytes[starts[id]..starts[id + 1]]`; empty tokens (unused ids) are
    /// left out. Ids must be below [`MAX_IDS`] and the tokens distinct (the
    /// caller checks).
    pub(crate) fn new(bytes: &[u8], starts: &[u32]) -> ByteTable {
        let n = starts.len() - 1;
        let cap = (n.max(1) * 2).next_power_of_two();
        let mut slots = Slots::new(cap, ByteSlot { key: 0, word: 0, offset: 0 });
        let mask = cap - 1;
        for id in 0..n {
            let (s, e) = (starts[id] as usize, starts[id + 1] as usize);
            let b = &bytes[s..e];
            if b.is_empty() {
                continue;
            }
            let h = hash_bytes(b);
            let mut i = h as usize & mask;
            while slots[i].word != 0 {
                i = (i + 1) & mask;
            }
            slots[i] =
                ByteSlot { key: prefix_key(b), word: word_of(b.len(), h) | id as u32, offset: s as u32 };
        }
        ByteTable { slots, mask }
    }

    /// Where the probe for a key of hash `h` starts (to prefetch it).
    #[inline(always)]
    pub(crate) fn slot_addr(&self, h: u64) -> *const u8 {
        self.slots[h as usize & self.mask..].as_ptr().cast()
    }

    /// The id of the token whose bytes are `key`, given `h = hash_bytes(key)`;
    /// `bytes` is the buffer the table was built over, `long(id)` gives the
    /// bytes of a candidate of 255 bytes or more.
    #[inline(always)]
    pub(crate) fn get_hashed<'a>(
        &self,
        key: &[u8],
        h: u64,
        bytes: &[u8],
        long: impl Fn(TokenId) -> &'a [u8],
    ) -> Option<TokenId> {
        let n = key.len();
        let want = word_of(n, h);
        let prefix = prefix_key(key);
        let mut i = h as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s.word & !SLOT_ID == want && s.key == prefix {
                let id = s.word & SLOT_ID;
                let same = if n <= 8 {
                    true
                } else if n < 255 {
                    // The slot's length is exactly n: compare the tail.
                    let off = s.offset as usize;
                    bytes.get(off + 8..off + n) == Some(&key[8..])
                } else {
                    long(id) == key
                };
                if same {
                    return Some(id);
                }
            }
            if s.word == 0 {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// (left id, right id) -> merged id. In tiktoken's byte-keyed semantics the
/// merged id is also the rank of the pair.
///
/// Each slot is one `u64`: `left << 42 | right << 21 | merged`, so ids are
/// limited to 21 bits ([`MAX_IDS`]) and a probe reads 8 bytes.
#[derive(Clone)]
pub(crate) struct PairTable {
    slots: Slots<u64>,
    mask: usize,
    len: usize,
}

/// Ids must be below this for [`PairTable`]'s packing (2,097,151; the all-ones
/// id is reserved for the empty slot).
pub(crate) const MAX_IDS: usize = (1 << 21) - 1;
const ID_MASK: u64 = (1 << 21) - 1;

#[inline(always)]
fn pair_key(a: TokenId, b: TokenId) -> u64 {
    ((a as u64) << 21) | b as u64
}

#[inline(always)]
fn pair_hash(key: u64) -> usize {
    fold_mul(key ^ K0, K1) as usize
}

impl PairTable {
    /// Builds the table from `(left, right, merged)` triples (ids below
    /// [`MAX_IDS`]); a pair listed twice keeps its first value (the caller
    /// never lists one twice).
    pub(crate) fn new(entries: &[(TokenId, TokenId, TokenId)]) -> PairTable {
        let cap = (entries.len().max(1) * 2).next_power_of_two();
        let mut slots = Slots::new(cap, EMPTY);
        let mask = cap - 1;
        let mut len = 0;
        for &(a, b, m) in entries {
            debug_assert!((a.max(b).max(m) as usize) < MAX_IDS);
            let key = pair_key(a, b);
            let mut i = pair_hash(key) & mask;
            loop {
                if slots[i] == EMPTY {
                    slots[i] = (key << 21) | m as u64;
                    len += 1;
                    break;
                }
                if slots[i] >> 21 == key {
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
            if s >> 21 == key {
                return (s & ID_MASK) as TokenId;
            }
            if s == EMPTY {
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
        // Short, 9..254-byte and 255+-byte tokens, and an unused id.
        let mut toks: Vec<Vec<u8>> = (0u32..5000).map(|i| format!("t{i}").into_bytes()).collect();
        toks.push(Vec::new());
        toks.extend((0u32..300).map(|i| format!("long token number {i}").into_bytes()));
        toks.extend((0u32..3).map(|i| format!("{i}{}", "x".repeat(300)).into_bytes()));
        let mut bytes = Vec::new();
        let mut starts = vec![0u32];
        for t in &toks {
            bytes.extend_from_slice(t);
            starts.push(bytes.len() as u32);
        }
        let t = ByteTable::new(&bytes, &starts);
        let get = |key: &[u8]| {
            t.get_hashed(key, hash_bytes(key), &bytes, |id| {
                &bytes[starts[id as usize] as usize..starts[id as usize + 1] as usize]
            })
        };
        for (i, tok) in toks.iter().enumerate().filter(|(_, t)| !t.is_empty()) {
            assert_eq!(get(tok), Some(i as TokenId), "{:?}", String::from_utf8_lossy(tok));
        }
        assert_eq!(get(b"t5000"), None);
        assert_eq!(get(b""), None);
        assert_eq!(get(b"long token number 300"), None);
        assert_eq!(get(b"long token number 29"), Some(5030));
        assert_eq!(get(format!("0{}", "x".repeat(299)).as_bytes()), None);
        assert_eq!(get(format!("0{}", "x".repeat(301)).as_bytes()), None);
    }

    #[test]
    fn prefix_key_is_the_zero_padded_prefix() {
        let src = b"abcdefghijk";
        for n in 0..=11 {
            let mut buf = [0u8; 8];
            let k = n.min(8);
            buf[..k].copy_from_slice(&src[..k]);
            assert_eq!(prefix_key(&src[..n]), u64::from_le_bytes(buf), "n = {n}");
        }
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
