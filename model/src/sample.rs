//! The sampling policy: temperature and top-k (greedy at temperature 0),
//! token by token, each sample fed back as the next input, from a seeded
//! [`Rng`] so a seed reproduces a sample.
//!
//! The model is anything that implements [`Stepper`] (one token in, with the
//! recurrent state kept, next-token logits out): the scalar reference
//! ([`crate::reference::ReferenceStepper`]) now, the batch-1 GEMV fast path
//! later. The policy does not care which.
//!
//! What it is not: a decoder. Token ids in, token ids out; turning them into
//! text (with the shards' tokenizer) is the CLI's job.
//!
//! Determinism: one `Rng::next_f64` per sampled token at temperature > 0, none
//! when greedy; probabilities are computed in f64 over the candidates in index
//! order; top-k keeps the k largest logits, ties broken toward the lower id.
//! The same logits, seed and settings give the same tokens on every machine.

use std::cmp::Ordering;

use crate::TokenId;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// One step of a recurrent model at batch size 1.
pub trait Stepper {
    /// V: the length of the logits [`step`](Stepper::step) returns.
    fn vocab(&self) -> usize;

    /// Back to the zero state (the state every training window starts from).
    fn reset(&mut self);

    /// Feeds `token` (which must be `< vocab()`; [`generate`] checks prompts)
    /// and returns the logits (V) of the token that follows.
    fn step(&mut self, token: TokenId) -> &[f32];
}

/// How to turn logits into a token.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingConfig {
    /// Logits are divided by this before the softmax; 0 means greedy (argmax).
    pub temperature: f32,
    /// Sample only among the k most likely tokens (`None`: all of them).
    pub top_k: Option<usize>,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig { temperature: 1.0, top_k: None }
    }
}

impl SamplingConfig {
    /// Rejects negative or non-finite temperatures and `top_k == Some(0)`.
    pub fn validate(&self) -> Result<()> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(Error::Sampling(format!(
                "temperature must be a finite number >= 0, got {}",
                self.temperature
            )));
        }
        if self.top_k == Some(0) {
            return Err(Error::Sampling("top-k must be at least 1".into()));
        }
        Ok(())
    }
}

/// Draws tokens from logits under a [`SamplingConfig`].
#[derive(Clone, Debug)]
pub struct Sampler {
    config: SamplingConfig,
    rng: Rng,
    /// Scratch: candidate ids, then their unnormalised probabilities.
    ids: Vec<u32>,
    weights: Vec<f64>,
}

impl Sampler {
    /// A sampler with its own generator seeded by `seed`.
    pub fn new(config: SamplingConfig, seed: u64) -> Result<Sampler> {
        config.validate()?;
        Ok(Sampler { config, rng: Rng::new(seed), ids: Vec::new(), weights: Vec::new() })
    }

    /// The settings.
    pub fn config(&self) -> &SamplingConfig {
        &self.config
    }

    /// Picks the next token from `logits` (V). `position` only labels the error
    /// for non-finite logits.
    pub fn sample(&mut self, logits: &[f32], position: usize) -> Result<TokenId> {
        if logits.is_empty() {
            return Err(Error::Sampling("empty logits".into()));
        }
        if logits.iter().any(|x| !x.is_finite()) {
            return Err(Error::NonFiniteLogits { position });
        }
        // Descending logit, then ascending id: a total order, so ties are deterministic.
        let before = |a: u32, b: u32| -> Ordering {
            logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b))
        };
        if self.config.temperature == 0.0 {
            let best = (0..logits.len() as u32).min_by(|&a, &b| before(a, b)).unwrap_or(0);
            return Ok(best);
        }
        self.ids.clear();
        self.ids.extend(0..logits.len() as u32);
        if let Some(k) = self.config.top_k.filter(|&k| k < logits.len()) {
            self.ids.select_nth_unstable_by(k - 1, |&a, &b| before(a, b));
            self.ids.truncate(k);
            self.ids.sort_unstable();
        }
        let max = self.ids.iter().map(|&i| logits[i as usize]).fold(f32::NEG_INFINITY, f32::max) as f64;
        let temp = self.config.temperature as f64;
        self.weights.clear();
        self.weights.extend(self.ids.iter().map(|&i| ((logits[i as usize] as f64 - max) / temp).exp()));
        let total: f64 = self.weights.iter().sum();
        // The largest candidate has weight 1, so total >= 1: no division by zero.
        let target = self.rng.next_f64() * total;
        let mut cum = 0.0;
        for (&id, &w) in self.ids.iter().zip(&self.weights) {
            cum += w;
            if target < cum {
                return Ok(id);
            }
        }
        // Rounding can leave `target` a hair above the final sum: the last candidate.
        Ok(*self.ids.last().unwrap_or(&0))
    }
}

/// Runs `prompt` through `model` from the zero state, then samples `n` tokens,
/// feeding each back in. `on_token` sees every generated token as it is drawn
/// and returns `false` to stop early; it is the only place they go, so a
/// stream of any length runs in constant memory (`lm sample --tokens N`
/// with a huge N streams until its reader stops). Returns how many tokens
/// were generated (the one that stopped the loop included).
pub fn generate<S: Stepper + ?Sized>(
    model: &mut S,
    prompt: &[TokenId],
    n: usize,
    sampler: &mut Sampler,
    mut on_token: impl FnMut(TokenId) -> bool,
) -> Result<usize> {
    let vocab = model.vocab();
    let Some(&last) = prompt.last() else { return Err(Error::EmptyPrompt) };
    if let Some(position) = prompt.iter().position(|&t| t as usize >= vocab) {
        return Err(Error::TokenOutOfRange { what: "prompt", token: prompt[position], position, vocab });
    }
    model.reset();
    for &t in &prompt[..prompt.len() - 1] {
        model.step(t);
    }
    let mut next = last;
    for position in 0..n {
        let logits = model.step(next);
        next = sampler.sample(logits, position)?;
        if !on_token(next) {
            return Ok(position + 1);
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`generate`] collecting the tokens.
    fn generate_vec<S: Stepper + ?Sized>(
        model: &mut S,
        prompt: &[TokenId],
        n: usize,
        sampler: &mut Sampler,
    ) -> Result<Vec<TokenId>> {
        let mut out = Vec::new();
        generate(model, prompt, n, sampler, |t| {
            out.push(t);
            true
        })?;
        Ok(out)
    }

    /// A fake model whose logits favour `(previous token + 1) mod V`.
    struct Counter {
        v: usize,
        logits: Vec<f32>,
        steps: usize,
        peak: f32,
    }

    impl Stepper for Counter {
        fn vocab(&self) -> usize {
            self.v
        }
        fn reset(&mut self) {
            self.steps = 0;
        }
        fn step(&mut self, token: TokenId) -> &[f32] {
            self.steps += 1;
            self.logits.fill(0.0);
            self.logits[(token as usize + 1) % self.v] = self.peak;
            &self.logits
        }
    }

    fn counter(v: usize) -> Counter {
        Counter { v, logits: vec![0.0; v], steps: 0, peak: 5.0 }
    }

    /// A count far beyond memory is fine when the callback stops the loop:
    /// nothing is reserved or kept for it (this aborted on a 400 GB
    /// allocation for `--tokens 99999999999`, and kept every token before
    /// that). Two million tokens through the callback, none stored here.
    #[test]
    fn a_huge_count_stopped_by_the_callback_keeps_nothing() {
        let mut m = counter(7);
        let mut s = Sampler::new(SamplingConfig { temperature: 0.0, top_k: None }, 1).unwrap();
        let mut first = Vec::new();
        let (mut seen, mut sum) = (0usize, 0u64);
        let count = generate(&mut m, &[3], usize::MAX, &mut s, |t| {
            if first.len() < 5 {
                first.push(t);
            }
            seen += 1;
            sum += u64::from(t);
            seen < 2_000_000
        })
        .unwrap();
        assert_eq!(first, vec![4, 5, 6, 0, 1]);
        assert_eq!((count, seen), (2_000_000, 2_000_000));
        // 4, 5, 6, 0, 1, ... is 0..7 shifted: 285,714 whole cycles (sum 21)
        // and two more tokens (4 + 5).
        assert_eq!(sum, 285_714 * 21 + 4 + 5);
    }

    #[test]
    fn generate_vec_collects_what_generate_streams() {
        let mut s = Sampler::new(SamplingConfig { temperature: 0.0, top_k: None }, 1).unwrap();
        assert_eq!(generate_vec(&mut counter(7), &[2, 5], 6, &mut s).unwrap(), vec![6, 0, 1, 2, 3, 4]);
        let mut s = Sampler::new(SamplingConfig { temperature: 0.0, top_k: None }, 1).unwrap();
        assert_eq!(generate(&mut counter(7), &[2, 5], 6, &mut s, |_| true).unwrap(), 6);
        let mut s = Sampler::new(SamplingConfig { temperature: 0.0, top_k: None }, 1).unwrap();
        assert!(generate_vec(&mut counter(7), &[2, 5], 0, &mut s).unwrap().is_empty());
    }

    #[test]
    fn greedy_follows_the_argmax_and_feeds_samples_back() {
        let mut m = counter(7);
        let mut s = Sampler::new(SamplingConfig { temperature: 0.0, top_k: None }, 1).unwrap();
        let out = generate_vec(&mut m, &[2, 5], 6, &mut s).unwrap();
        assert_eq!(out, vec![6, 0, 1, 2, 3, 4]);
        assert_eq!(m.steps, 2 + 5, "prompt (2) then every sample but the last is fed back");
    }

    #[test]
    fn greedy_ties_go_to_the_lowest_id() {
        let mut s = Sampler::new(SamplingConfig { temperature: 0.0, top_k: None }, 1).unwrap();
        assert_eq!(s.sample(&[1.0, 3.0, 3.0, 2.0], 0).unwrap(), 1);
    }

    #[test]
    fn top_1_is_greedy_and_top_k_never_leaves_the_top_k() {
        let logits: Vec<f32> = (0..50).map(|i| ((i * 37) % 50) as f32 * 0.1).collect();
        let mut order: Vec<usize> = (0..50).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        let top5: Vec<u32> = order[..5].iter().map(|&i| i as u32).collect();
        let mut s1 = Sampler::new(SamplingConfig { temperature: 1.0, top_k: Some(1) }, 3).unwrap();
        let mut s5 = Sampler::new(SamplingConfig { temperature: 2.0, top_k: Some(5) }, 3).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..2000 {
            assert_eq!(s1.sample(&logits, i).unwrap(), order[0] as u32);
            let t = s5.sample(&logits, i).unwrap();
            assert!(top5.contains(&t), "{t} is not among the top 5 {top5:?}");
            seen.insert(t);
        }
        assert_eq!(seen.len(), 5, "at temperature 2 every one of the top 5 shows up in 2000 draws");
    }

    #[test]
    fn frequencies_follow_the_softmax() {
        // p = softmax([0, ln 2, ln 5] / 1) = [1, 2, 5] / 8.
        let logits = [0.0, 2f32.ln(), 5f32.ln()];
        let mut s = Sampler::new(SamplingConfig { temperature: 1.0, top_k: None }, 7).unwrap();
        let mut counts = [0usize; 3];
        let n = 80_000;
        for i in 0..n {
            counts[s.sample(&logits, i).unwrap() as usize] += 1;
        }
        for (c, p) in counts.iter().zip([1.0 / 8.0, 2.0 / 8.0, 5.0 / 8.0]) {
            let f = *c as f64 / n as f64;
            // 5 standard deviations of a binomial proportion.
            let sd = (p * (1.0 - p) / n as f64).sqrt();
            assert!((f - p).abs() < 5.0 * sd, "frequency {f} vs probability {p}");
        }
    }

    #[test]
    fn same_seed_same_tokens() {
        let cfg = SamplingConfig { temperature: 0.8, top_k: Some(3) };
        let run = |seed| {
            let mut m = Counter { peak: 1.0, ..counter(11) };
            let mut s = Sampler::new(cfg, seed).unwrap();
            generate_vec(&mut m, &[0], 50, &mut s).unwrap()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn bad_settings_and_inputs_are_errors() {
        assert!(Sampler::new(SamplingConfig { temperature: -1.0, top_k: None }, 0).is_err());
        assert!(Sampler::new(SamplingConfig { temperature: f32::NAN, top_k: None }, 0).is_err());
        assert!(Sampler::new(SamplingConfig { temperature: 1.0, top_k: Some(0) }, 0).is_err());
        let mut s = Sampler::new(SamplingConfig::default(), 0).unwrap();
        assert!(matches!(generate(&mut counter(4), &[], 3, &mut s, |_| true), Err(Error::EmptyPrompt)));
        assert!(matches!(
            generate(&mut counter(4), &[1, 4], 3, &mut s, |_| true),
            Err(Error::TokenOutOfRange { token: 4, position: 1, vocab: 4, .. })
        ));
        assert!(matches!(s.sample(&[0.0, f32::NAN], 9), Err(Error::NonFiniteLogits { position: 9 })));
    }

    #[test]
    fn the_callback_can_stop_generation() {
        let mut s = Sampler::new(SamplingConfig { temperature: 0.0, top_k: None }, 0).unwrap();
        let mut out = Vec::new();
        let count = generate(&mut counter(5), &[0], 100, &mut s, |t| {
            out.push(t);
            out.len() < 3
        })
        .unwrap();
        assert_eq!((count, out), (3, vec![1, 2, 3]));
    }
}
