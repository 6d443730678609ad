//! Text from a run's checkpoint: the prompt is encoded with the run's
//! tokenizer, then `model::sample` draws one token at a time.

use std::ops::ControlFlow;
use std::path::Path;

use model::sample::{Sampler, SamplingConfig};
use tokenizer::{TokenId, Tokenizer};

use crate::run::RunDir;
use crate::train::{Result, TrainError, run_tokenizer};

/// What [`generate`] produced: counts only, the text went to the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generated {
    /// Tokens sampled (the one that stopped the stream included).
    pub tokens: usize,
    /// Bytes handed to the callback.
    pub bytes: u64,
}

/// An empty prompt is refused: sampling needs a token to start from.
pub(crate) fn check_prompt(prompt: &str) -> Result<()> {
    if prompt.is_empty() {
        return Err(TrainError::Prompt("give at least one character to start from".into()));
    }
    Ok(())
}

/// The prompt's ids with `tok`: an error for an empty prompt or one the
/// vocabulary cannot encode (a character outside a char vocabulary).
pub(crate) fn prompt_ids(tok: &Tokenizer, prompt: &str) -> Result<Vec<TokenId>> {
    check_prompt(prompt)?;
    tok.encode_ordinary(prompt.as_bytes()).map_err(|e| TrainError::Prompt(e.to_string()))
}

/// Generates `n` tokens after `prompt` with the checkpoint in `run`, handing
/// the text to `on_bytes` in whole characters as it comes (byte-level tokens
/// can split one); `Break` stops early. Nothing is kept here beyond a split
/// character, so any `n` streams in constant memory.
pub fn generate(
    run: &Path,
    prompt: &str,
    n: usize,
    config: SamplingConfig,
    seed: u64,
    mut on_bytes: impl FnMut(&[u8]) -> std::io::Result<ControlFlow<()>>,
) -> Result<Generated> {
    let rd = RunDir::new(run);
    crate::run::check_run_dir(run)?;
    let cfg = rd.read_config()?;
    let tok = run_tokenizer(run, &cfg)?;
    let loaded = crate::train::run_model(run, &cfg)?;
    let ids = prompt_ids(&tok, prompt)?;
    let mut stepper = model::fast::Stepper::new(&loaded.layout, &loaded.params);
    let mut sampler = Sampler::new(config, seed)?;
    let mut text = CharStream::default();
    let mut io_err = None;
    let tokens = model::sample::generate(&mut stepper, &ids, n, &mut sampler, |t| {
        match text.push(tok.token_bytes(t).unwrap_or_default(), &mut on_bytes) {
            Ok(ControlFlow::Continue(())) => true,
            Ok(ControlFlow::Break(())) => false,
            Err(e) => {
                io_err = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = io_err {
        return Err(TrainError::Output(e));
    }
    text.finish(&mut on_bytes).map_err(TrainError::Output)?;
    Ok(Generated { tokens, bytes: text.bytes })
}

/// Bytes to whole characters: holds back the start of a UTF-8 character a
/// token split until the rest arrives (invalid bytes pass through as they
/// are), so what it holds is at most one token's bytes.
#[derive(Debug, Default)]
struct CharStream {
    pending: Vec<u8>,
    bytes: u64,
}

impl CharStream {
    fn push(
        &mut self,
        bytes: &[u8],
        out: &mut impl FnMut(&[u8]) -> std::io::Result<ControlFlow<()>>,
    ) -> std::io::Result<ControlFlow<()>> {
        self.bytes += bytes.len() as u64;
        self.pending.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        if valid == 0 {
            return Ok(ControlFlow::Continue(()));
        }
        let flow = out(&self.pending[..valid]);
        self.pending.drain(..valid);
        flow
    }

    /// Hands over a trailing partial character as it is.
    fn finish(
        &mut self,
        out: &mut impl FnMut(&[u8]) -> std::io::Result<ControlFlow<()>>,
    ) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            // Nothing follows, so a Break changes nothing.
            let _ = out(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(pieces: &[&[u8]]) -> (Vec<Vec<u8>>, usize) {
        let mut s = CharStream::default();
        let mut got = Vec::new();
        let mut most = 0;
        for p in pieces {
            let flow = s
                .push(p, &mut |b: &[u8]| {
                    got.push(b.to_vec());
                    Ok(ControlFlow::Continue(()))
                })
                .unwrap();
            assert_eq!(flow, ControlFlow::Continue(()));
            most = most.max(s.pending.len());
        }
        s.finish(&mut |b: &[u8]| {
            got.push(b.to_vec());
            Ok(ControlFlow::Continue(()))
        })
        .unwrap();
        assert_eq!(s.bytes, pieces.iter().map(|p| p.len() as u64).sum::<u64>());
        (got, most)
    }

    #[test]
    fn a_split_character_waits_for_its_last_byte() {
        // "é" is C3 A9, "€" E2 82 AC: split across tokens as byte-level BPE can.
        let (got, most) = collect(&[b"a\xC3", b"\xA9b", b"\xE2", b"\x82", b"\xACc"]);
        assert_eq!(got, vec![b"a".to_vec(), "\u{e9}b".as_bytes().to_vec(), "\u{20ac}c".as_bytes().to_vec()]);
        assert!(most <= 2, "held back at most the split character's bytes");
    }

    #[test]
    fn invalid_bytes_pass_through_and_a_trailing_partial_is_flushed() {
        let (got, _) = collect(&[b"\xFFx", b"y\xE2\x82"]);
        assert_eq!(got, vec![b"\xFFx".to_vec(), b"y".to_vec(), b"\xE2\x82".to_vec()]);
    }

    /// A long stream keeps nothing: after every whole character the buffer
    /// is empty again (an endless `lm sample` used to keep every byte).
    #[test]
    fn a_long_stream_holds_nothing_between_characters() {
        let mut s = CharStream::default();
        let mut total = 0usize;
        for _ in 0..100_000 {
            let flow = s
                .push("h\u{e9}llo ".as_bytes(), &mut |b: &[u8]| {
                    total += b.len();
                    Ok(ControlFlow::Continue(()))
                })
                .unwrap();
            assert_eq!(flow, ControlFlow::Continue(()));
            assert!(s.pending.is_empty());
        }
        assert_eq!((total, s.bytes), (700_000, 700_000));
    }

    #[test]
    fn break_and_errors_from_the_callback_come_back() {
        let mut s = CharStream::default();
        let flow = s.push(b"ab", &mut |_: &[u8]| Ok(ControlFlow::Break(()))).unwrap();
        assert_eq!(flow, ControlFlow::Break(()));
        let err = s.push(b"c", &mut |_: &[u8]| Err(std::io::Error::other("pipe closed"))).unwrap_err();
        assert_eq!(err.to_string(), "pipe closed");
    }
}
