//! Every way of cutting a token into two tokens: the entries of the pair
//! table, and of an HF merge list.
//!
//! The direct way tries every cut `k` of a token `t` and looks both halves
//! up, hashing them: `O(len²)` per token. That is nothing for the tokens of
//! real vocabularies (almost all under 20 bytes) but quadratic on the tokens
//! that BPE learns from one long repetitive piece: `'ab' * 80_000` trains
//! tokens of 2, 4, ... up to 160,000 bytes, and cutting the last one alone
//! hashed 10^10 bytes (11 s, where learning the merges took 50 ms).
//!
//! So tokens longer than [`DIRECT`] bytes are cut differently:
//! - a cut is tried only where a token of length `k` and one of length
//!   `len - k` exist (a sorted list of the distinct lengths: at most
//!   `min(distinct lengths, len)` cuts);
//! - a half of at most [`DIRECT`] bytes is looked up as before;
//! - a longer half is found by a polynomial hash modulo the Mersenne prime
//!   2^61 - 1 among the long tokens of that length, the hashes of all
//!   the token's cuts coming from one pass over its bytes, and confirmed by
//!   comparing the bytes (so a hash collision costs time, never a wrong
//!   entry). A modulus of 2^64 would not do: Thue–Morse strings, which is
//!   what `abba baab ...` repeats are, collide under it for every base.
//!
//! A token of length `L` then costs `O(L)` for its hashes, plus one byte
//! comparison per real cut. The result is the same set of entries, in the
//! same order (by cut position).

use rustc_hash::{FxHashMap, FxHashSet};

use crate::TokenId;

/// Tokens up to this many bytes are cut the direct way, and halves up to it
/// are looked up by bytes.
pub(super) const DIRECT: usize = 64;

const P: u64 = (1 << 61) - 1;
/// Any base below `P` works; this one is an arbitrary odd 61-bit constant.
const BASE: u64 = 0x0f1e_2d3c_4b5a_6978 % P;

fn mul_mod(a: u64, b: u64) -> u64 {
    let x = u128::from(a) * u128::from(b);
    let s = (x as u64 & P) + (x >> 61) as u64;
    let s = (s & P) + (s >> 61);
    if s >= P { s - P } else { s }
}

fn add_mod(a: u64, b: u64) -> u64 {
    let s = a + b;
    if s >= P { s - P } else { s }
}

fn sub_mod(a: u64, b: u64) -> u64 {
    if a >= b { a - b } else { a + P - b }
}

fn pow_mod(mut base: u64, mut e: u64) -> u64 {
    let mut r = 1;
    while e > 0 {
        if e & 1 == 1 {
            r = mul_mod(r, base);
        }
        base = mul_mod(base, base);
        e >>= 1;
    }
    r
}

/// `h(s) = sum (s[i] + 1) * BASE^(len - 1 - i) mod P`, byte by byte.
fn step(h: u64, byte: u8) -> u64 {
    add_mod(mul_mod(h, BASE), u64::from(byte) + 1)
}

fn poly_hash(b: &[u8]) -> u64 {
    b.iter().fold(0, |h, &x| step(h, x))
}

/// Cuts tokens into pairs of tokens (see the module docs).
pub(super) struct Splitter<'a, F, G>
where
    F: Fn(&[u8]) -> Option<TokenId> + Sync,
    G: Fn(TokenId) -> &'a [u8] + Sync,
{
    /// A token's id from its bytes (any length).
    lookup: F,
    /// A token's bytes from its id.
    bytes_of: G,
    /// The distinct lengths of the tokens, ascending.
    lengths: Vec<usize>,
    length_set: FxHashSet<usize>,
    /// Tokens longer than [`DIRECT`], by `(length, poly_hash)`.
    long: FxHashMap<(usize, u64), Vec<TokenId>>,
}

impl<'a, F, G> Splitter<'a, F, G>
where
    F: Fn(&[u8]) -> Option<TokenId> + Sync,
    G: Fn(TokenId) -> &'a [u8] + Sync,
{
    /// Indexes `tokens` (id order; empty entries are unused ids).
    pub(super) fn new<'t>(tokens: impl Iterator<Item = &'t [u8]>, lookup: F, bytes_of: G) -> Self {
        let mut length_set = FxHashSet::default();
        let mut long: FxHashMap<(usize, u64), Vec<TokenId>> = FxHashMap::default();
        for (id, t) in tokens.enumerate() {
            if t.is_empty() {
                continue;
            }
            length_set.insert(t.len());
            if t.len() > DIRECT {
                long.entry((t.len(), poly_hash(t))).or_default().push(id as TokenId);
            }
        }
        let mut lengths: Vec<usize> = length_set.iter().copied().collect();
        lengths.sort_unstable();
        Splitter { lookup, bytes_of, lengths, length_set, long }
    }

    /// A long token with bytes `half` whose poly hash is `h`.
    fn find_long(&self, half: &[u8], h: u64) -> Option<TokenId> {
        let ids = self.long.get(&(half.len(), h))?;
        ids.iter().copied().find(|&id| (self.bytes_of)(id) == half)
    }

    /// Every cut of `t` into two tokens `(left, right)`, by cut position.
    /// (No allocation for a short token: most of a 200k vocabulary.)
    pub(super) fn cuts<'s>(&'s self, t: &'s [u8]) -> impl Iterator<Item = (TokenId, TokenId)> + 's {
        let n = t.len();
        let (direct, long) = if n <= DIRECT { (1..n.max(1), Vec::new()) } else { (1..1, self.long_cuts(t)) };
        direct
            .filter_map(move |k| {
                let (l, r) = t.split_at(k);
                Some(((self.lookup)(l)?, (self.lookup)(r)?))
            })
            .chain(long)
    }

    /// The cuts of a token longer than [`DIRECT`].
    fn long_cuts(&self, t: &[u8]) -> Vec<(TokenId, TokenId)> {
        let n = t.len();
        let mut out = Vec::new();
        // The cuts worth trying: both sides' lengths exist.
        let cuts: Vec<usize> = self
            .lengths
            .iter()
            .copied()
            .take_while(|&k| k < n)
            .filter(|&k| self.length_set.contains(&(n - k)))
            .collect();
        if cuts.is_empty() {
            return out;
        }
        // Prefix hashes at the cuts, in one pass.
        let mut prefix = Vec::with_capacity(cuts.len());
        let mut h = 0;
        let mut next = cuts.iter().peekable();
        for (i, &byte) in t.iter().enumerate() {
            while next.peek().is_some_and(|&&k| k == i) {
                prefix.push(h);
                next.next();
            }
            h = step(h, byte);
        }
        let whole = h;
        for (&k, &hk) in cuts.iter().zip(&prefix) {
            let (l, r) = t.split_at(k);
            let a = if k <= DIRECT { (self.lookup)(l) } else { self.find_long(l, hk) };
            let Some(a) = a else { continue };
            let b = if n - k <= DIRECT {
                (self.lookup)(r)
            } else {
                // h(t) = h(l) * BASE^(n-k) + h(r)
                let hr = sub_mod(whole, mul_mod(hk, pow_mod(BASE, (n - k) as u64)));
                self.find_long(r, hr)
            };
            if let Some(b) = b {
                out.push((a, b));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mod_arithmetic_matches_u128() {
        let vals = [0, 1, 2, P - 1, P - 2, 1 << 60, BASE, 0x1234_5678_9abc_def0 % P];
        for &a in &vals {
            for &b in &vals {
                let want = ((u128::from(a) * u128::from(b)) % u128::from(P)) as u64;
                assert_eq!(mul_mod(a, b), want, "{a} * {b}");
                assert_eq!(add_mod(a, b), ((u128::from(a) + u128::from(b)) % u128::from(P)) as u64);
                assert_eq!(
                    sub_mod(a, b),
                    ((u128::from(a) + u128::from(P) - u128::from(b)) % u128::from(P)) as u64
                );
            }
        }
        assert_eq!(pow_mod(BASE, 0), 1);
        assert_eq!(pow_mod(BASE, 3), mul_mod(BASE, mul_mod(BASE, BASE)));
    }

    /// The cuts of long and short tokens equal those found the direct way.
    #[test]
    fn cuts_equal_the_direct_way() {
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        let mut x = b"ab".to_vec();
        while x.len() <= 4096 {
            tokens.push(x.clone());
            tokens.push([x.as_slice(), b"a"].concat());
            tokens.push([b"b", x.as_slice()].concat());
            x = [x.as_slice(), x.as_slice()].concat();
        }
        for n in [65, 70, 100, 129, 200, 300] {
            tokens.push(b"a".repeat(n));
        }
        tokens.push(b"b".repeat(200));
        tokens.push(Vec::new());
        let mut seen = FxHashSet::default();
        tokens.retain(|t| t.is_empty() || seen.insert(t.clone()));
        let index: FxHashMap<&[u8], TokenId> =
            tokens.iter().enumerate().map(|(i, t)| (t.as_slice(), i as TokenId)).collect();
        let lookup = |b: &[u8]| index.get(b).copied();
        let bytes_of = |id: TokenId| tokens[id as usize].as_slice();
        let s = Splitter::new(tokens.iter().map(Vec::as_slice), lookup, bytes_of);
        let mut long_cuts = 0;
        for t in &tokens {
            let got: Vec<(TokenId, TokenId)> = s.cuts(t).collect();
            let want: Vec<(TokenId, TokenId)> =
                (1..t.len()).filter_map(|k| Some((lookup(&t[..k])?, lookup(&t[k..])?))).collect();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&t[..t.len().min(20)]));
            if t.len() > DIRECT {
                long_cuts += got.len();
            }
        }
        assert!(long_cuts > 20, "the long path found {long_cuts} cuts");
    }
}
