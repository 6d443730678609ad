//! Batches of (inputs, targets) windows from the shards.
//!
//! Shapes: B = rows per batch, T = time steps per row. Inputs and targets are
//! row-major `B x T` u32 buffers, owned by the batcher and refilled in place
//! on every call: no allocation per batch.
//!
//! # Training: [`TrainBatches`]
//! Each row is a window of T+1 consecutive tokens inside one shard (inputs
//! are its first T, targets its last T). The window start is drawn uniformly
//! over all valid positions of all train shards (shard `k` with `n_k` tokens
//! has `max(0, n_k - T)` of them), so no window crosses a shard end and
//! every position is equally likely whatever the shard sizes.
//!
//! The draw is counter-based: row `r` of the batch at step `s` uses a
//! SplitMix64 stream seeded from `(seed, s, r)` alone, and the index is
//! drawn below the number of positions with Lemire's unbiased method. So
//! the batch at step `s` is a pure function of the seed, `s`, B, T and the
//! shard sizes: a run resumed at step `s` sees exactly the batches an
//! uninterrupted run sees, with no RNG state to save.
//!
//! # Evaluation: [`EvalBatches`]
//! The protocol of issue 4: the split's tokens (all its shards as one
//! stream of M tokens) are cut into consecutive windows of T+1 tokens that
//! overlap by one (window `w` covers tokens `w*T ..= w*T + T`, so each
//! window's last token is the next one's first); the last window keeps its
//! real, shorter length. Every token after the first is predicted exactly
//! once: `M - 1` predictions in `ceil((M - 1) / T)` windows. Windows are
//! handed out B at a time, each row with its length (the number of valid
//! positions); rows past the end have length 0, and padding positions hold
//! token 0, for the trainer to mask.
//!
//! What it is not: no shuffling epochs, no multi-process sharding of the
//! stream (a single trainer process reads all of it).

use std::sync::Arc;

use crate::reader::SplitData;
use crate::{Error, Result, TokenId};

/// Random training windows (module docs).
pub struct TrainBatches {
    data: Arc<SplitData>,
    batch: usize,
    seq: usize,
    seed: u64,
    /// `positions[k]`: valid window starts in shards `0..k`; the last entry
    /// is the total.
    positions: Vec<u64>,
    inputs: Vec<TokenId>,
    targets: Vec<TokenId>,
    window: Vec<TokenId>,
}

/// One training batch: `inputs` and `targets`, each `B x T`, row-major.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    pub inputs: &'a [TokenId],
    pub targets: &'a [TokenId],
}

fn check_shape(batch: usize, seq: usize) -> Result<()> {
    if batch == 0 || seq == 0 {
        return Err(Error::Config(format!(
            "batch size and sequence length must be at least 1, got {batch} x {seq}"
        )));
    }
    Ok(())
}

impl TrainBatches {
    pub(crate) fn new(data: Arc<SplitData>, batch: usize, seq: usize, seed: u64) -> Result<TrainBatches> {
        check_shape(batch, seq)?;
        let mut positions = vec![0u64];
        for s in &data.shards {
            let n = s.count.saturating_sub(seq as u64);
            positions.push(positions.last().copied().unwrap_or(0) + n);
        }
        if positions.last().copied().unwrap_or(0) == 0 {
            let largest = data.shards.iter().map(|s| s.count).max().unwrap_or(0);
            return Err(Error::mismatch(
                &data.dir,
                format!("train shard length for windows of T + 1 = {} tokens", seq + 1),
                format!("a shard of at least {} tokens", seq + 1),
                format!("{} shard(s), the largest with {largest} tokens", data.shards.len()),
                Some("use a shorter sequence length or more text"),
            ));
        }
        Ok(TrainBatches {
            data,
            batch,
            seq,
            seed,
            positions,
            inputs: vec![0; batch * seq],
            targets: vec![0; batch * seq],
            window: vec![0; seq + 1],
        })
    }

    /// Rows per batch (B).
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// Time steps per row (T).
    pub fn seq_len(&self) -> usize {
        self.seq
    }

    /// Number of distinct window starts.
    pub fn positions(&self) -> u64 {
        self.positions.last().copied().unwrap_or(0)
    }

    /// Where row `row` of the batch at `step` starts: (shard index, token
    /// offset in that shard). Pure function of (seed, step, row).
    pub fn window_start(&self, step: u64, row: usize) -> (usize, u64) {
        let u = Stream::new(self.seed, step, row as u64).below(self.positions());
        let k = self.positions.partition_point(|&p| p <= u) - 1;
        (k, u - self.positions[k])
    }

    /// Fills and returns the batch for `step`.
    ///
    /// Errors: [`Error::Mismatch`] naming the shard and the offset when a
    /// window holds an id outside the manifest's vocabulary.
    pub fn batch(&mut self, step: u64) -> Result<Batch<'_>> {
        let t = self.seq;
        for row in 0..self.batch {
            let (k, offset) = self.window_start(step, row);
            self.data.copy_from_shard(k, offset, &mut self.window);
            self.data.check_ids(self.data.starts[k] + offset, &self.window)?;
            self.inputs[row * t..(row + 1) * t].copy_from_slice(&self.window[..t]);
            self.targets[row * t..(row + 1) * t].copy_from_slice(&self.window[1..]);
        }
        Ok(Batch { inputs: &self.inputs, targets: &self.targets })
    }
}

/// Sequential evaluation windows (module docs).
pub struct EvalBatches {
    data: Arc<SplitData>,
    batch: usize,
    seq: usize,
    windows: u64,
    next_window: u64,
    inputs: Vec<TokenId>,
    targets: Vec<TokenId>,
    lengths: Vec<usize>,
    window: Vec<TokenId>,
}

/// One evaluation batch: `B x T` inputs and targets, and each row's number
/// of valid positions (0 for rows past the end; positions at or past a
/// row's length hold token 0 and must be masked).
#[derive(Clone, Copy, Debug)]
pub struct EvalBatch<'a> {
    pub inputs: &'a [TokenId],
    pub targets: &'a [TokenId],
    pub lengths: &'a [usize],
    /// Index of this batch's first window.
    pub first_window: u64,
}

impl EvalBatch<'_> {
    /// Rows holding a window.
    pub fn rows(&self) -> usize {
        self.lengths.iter().filter(|&&l| l > 0).count()
    }

    /// Positions to score (the sum of the lengths).
    pub fn predictions(&self) -> usize {
        self.lengths.iter().sum()
    }
}

impl EvalBatches {
    pub(crate) fn new(data: Arc<SplitData>, batch: usize, seq: usize) -> Result<EvalBatches> {
        check_shape(batch, seq)?;
        let m = data.len();
        let windows = if m >= 2 { (m - 1).div_ceil(seq as u64) } else { 0 };
        Ok(EvalBatches {
            data,
            batch,
            seq,
            windows,
            next_window: 0,
            inputs: vec![0; batch * seq],
            targets: vec![0; batch * seq],
            lengths: vec![0; batch],
            window: vec![0; seq + 1],
        })
    }

    /// Number of windows.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// Number of batches (`ceil(windows / B)`).
    pub fn batches(&self) -> u64 {
        self.windows.div_ceil(self.batch as u64)
    }

    /// Positions scored over all batches: the split's tokens minus one.
    pub fn predictions(&self) -> u64 {
        self.data.len().saturating_sub(1)
    }

    /// Starts over from the first window.
    pub fn reset(&mut self) {
        self.next_window = 0;
    }

    /// The next batch, or `None` after the last.
    ///
    /// Errors: [`Error::Mismatch`] naming the shard and the offset when a
    /// window holds an id outside the manifest's vocabulary.
    #[allow(clippy::should_implement_trait)] // lends its buffers: not an Iterator
    pub fn next(&mut self) -> Result<Option<EvalBatch<'_>>> {
        if self.next_window >= self.windows {
            return Ok(None);
        }
        let first_window = self.next_window;
        let t = self.seq;
        let predictions = self.predictions();
        for row in 0..self.batch {
            let w = first_window + row as u64;
            let (inputs, targets) =
                (&mut self.inputs[row * t..(row + 1) * t], &mut self.targets[row * t..(row + 1) * t]);
            if w >= self.windows {
                self.lengths[row] = 0;
                inputs.fill(0);
                targets.fill(0);
                continue;
            }
            let start = w * t as u64;
            let len = (predictions - start).min(t as u64) as usize;
            let window = &mut self.window[..len + 1];
            self.data.copy(start, window);
            self.data.check_ids(start, window)?;
            inputs[..len].copy_from_slice(&window[..len]);
            targets[..len].copy_from_slice(&window[1..]);
            inputs[len..].fill(0);
            targets[len..].fill(0);
            self.lengths[row] = len;
        }
        self.next_window = (first_window + self.batch as u64).min(self.windows);
        Ok(Some(EvalBatch {
            inputs: &self.inputs,
            targets: &self.targets,
            lengths: &self.lengths,
            first_window,
        }))
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014) as a counter-based stream.
struct Stream(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Stream {
    /// The stream for one (seed, step, row): `mix64` is a bijection, so
    /// distinct steps (and distinct rows within a step) get distinct states.
    fn new(seed: u64, step: u64, row: u64) -> Stream {
        Stream(mix64(mix64(mix64(seed ^ GOLDEN) ^ step) ^ row))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    /// Uniform in `[0, n)`, `n > 0`, without modulo bias (Lemire 2019).
    fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        loop {
            let m = self.next_u64() as u128 * n as u128;
            if (m as u64) >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_reproducible_and_unbiased_enough() {
        let mut a = Stream::new(7, 3, 1);
        let mut b = Stream::new(7, 3, 1);
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Stream::new(7, 3, 1).next_u64(), Stream::new(7, 4, 1).next_u64());
        assert_ne!(Stream::new(7, 3, 1).next_u64(), Stream::new(7, 3, 2).next_u64());
        assert_ne!(Stream::new(7, 3, 1).next_u64(), Stream::new(8, 3, 1).next_u64());
        // Chi-square-ish sanity: 10 buckets, 100k draws, each within 5%.
        let mut counts = [0u32; 10];
        for i in 0..100_000 {
            counts[Stream::new(1, i, 0).below(10) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
    }
}
