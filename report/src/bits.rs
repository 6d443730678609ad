//! The fair metric: bits per character and per byte of the evaluated text.
//!
//! A model's cross-entropy summed over a text, in nats, divided by ln 2 and by
//! the text's length in characters (or bytes), does not depend on how the text
//! was cut into tokens: it is the number of bits the model needs to encode the
//! text, per character. Loss per token does depend on the tokenizer (a BPE token
//! carries several characters) and is not comparable across vocabularies.

use std::f64::consts::LN_2;

/// What an evaluation measured: the summed loss and the size of the text it covers.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Measured {
    /// Cross-entropy summed over the predicted tokens, in nats.
    pub nats: f64,
    /// Number of predicted tokens.
    pub tokens: u64,
    /// Characters (Unicode scalar values) of the predicted text.
    pub chars: u64,
    /// Bytes of the predicted text.
    pub bytes: u64,
}

impl Measured {
    /// Mean loss per token, in nats.
    pub fn nats_per_token(&self) -> f64 {
        self.nats / self.tokens as f64
    }

    /// Mean loss per token, in bits.
    pub fn bits_per_token(&self) -> f64 {
        self.nats / (LN_2 * self.tokens as f64)
    }

    /// Bits per character: `nats / (ln 2 * chars)`.
    pub fn bits_per_char(&self) -> f64 {
        self.nats / (LN_2 * self.chars as f64)
    }

    /// Bits per byte: `nats / (ln 2 * bytes)`.
    pub fn bits_per_byte(&self) -> f64 {
        self.nats / (LN_2 * self.bytes as f64)
    }

    /// Tokens per character of the predicted text.
    pub fn tokens_per_char(&self) -> f64 {
        self.tokens as f64 / self.chars as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uniform_char_model_costs_log2_v_bits_per_char() {
        // A model that is uniform over 65 characters pays ln(65) nats per token
        // and, one token per character, log2(65) bits per character.
        let n = 111_540;
        let m = Measured { nats: n as f64 * 65f64.ln(), tokens: n, chars: n, bytes: n };
        assert!((m.bits_per_char() - 65f64.log2()).abs() < 1e-12);
        assert!((m.bits_per_token() - m.bits_per_char()).abs() < 1e-12);
        assert_eq!(m.tokens_per_char(), 1.0);
    }

    #[test]
    fn bpe_loss_per_token_converts_to_bits_per_char_through_the_counts() {
        // 1000 tokens covering 4000 characters (5000 bytes) at 2.0 nats/token:
        // 2000 nats = 2885.39 bits over 4000 chars = 0.72135 bits/char.
        let m = Measured { nats: 2000.0, tokens: 1000, chars: 4000, bytes: 5000 };
        assert_eq!(m.nats_per_token(), 2.0);
        assert_eq!(m.bits_per_char(), 2000.0 / (LN_2 * 4000.0));
        assert_eq!(m.bits_per_byte(), 2000.0 / (LN_2 * 5000.0));
        assert!((m.bits_per_char() - 0.721_347_520_444_481_7).abs() < 1e-15);
        assert_eq!(m.tokens_per_char(), 0.25);
    }
}
