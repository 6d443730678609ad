//! The flat parameter buffer and its named views.
//!
//! All parameters (and, with the same layout, their gradients and the AdamW
//! moments) live in one `Vec<f32>`. Each tensor starts at a multiple of
//! [`ALIGN`] floats (64 bytes) so SIMD kernels see aligned rows; the padding
//! between tensors is zero in parameters and gradients and stays zero.
//!
//! Order and names are PyTorch's (`state_dict` of `Embedding -> nn.LSTM(batch_first=True) -> Linear`
//! named `embedding`, `lstm` (or `rnn`), `head`):
//!
//! | name | shape |
//! |---|---|
//! | `embedding.weight` | `[V, E]` |
//! | `{lstm,rnn}.weight_ih_l{k}` | `[G*H, in_k]` (in_0 = E, else H) |
//! | `{lstm,rnn}.weight_hh_l{k}` | `[G*H, H]` |
//! | `{lstm,rnn}.bias_ih_l{k}` | `[G*H]` |
//! | `{lstm,rnn}.bias_hh_l{k}` | `[G*H]` |
//! | `head.weight` | `[V, H]` (absent when tied: it is `embedding.weight`) |
//! | `head.bias` | `[V]` |
//!
//! Gate rows are ordered i, f, g, o (LSTM).

use crate::config::ModelConfig;
use crate::rng::Rng;

/// Tensor starts are aligned to this many floats.
pub const ALIGN: usize = 16;

/// One named tensor inside the flat buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// PyTorch's name.
    pub name: String,
    /// Row-major shape.
    pub shape: Vec<usize>,
    /// Offset of the first element in the flat buffer.
    pub offset: usize,
}

impl ParamSpec {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for a tensor with no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element range in the flat buffer.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// The layout of every parameter of a model in one flat buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    config: ModelConfig,
    specs: Vec<ParamSpec>,
    len: usize,
}

/// The offsets of one recurrent layer's tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerOffsets {
    /// `weight_ih_l{k}` `[G*H, in]`.
    pub w_ih: usize,
    /// `weight_hh_l{k}` `[G*H, H]`.
    pub w_hh: usize,
    /// `bias_ih_l{k}` `[G*H]`.
    pub b_ih: usize,
    /// `bias_hh_l{k}` `[G*H]`.
    pub b_hh: usize,
}

impl ParamLayout {
    /// The layout for `config` (which must validate).
    pub fn new(config: &ModelConfig) -> ParamLayout {
        let mut specs = Vec::new();
        let mut len = 0;
        let mut push = |name: String, shape: Vec<usize>| {
            let offset = len;
            let n: usize = shape.iter().product();
            len = (offset + n).div_ceil(ALIGN) * ALIGN;
            specs.push(ParamSpec { name, shape, offset });
        };
        let (v, e, h, g) = (config.vocab, config.embed, config.hidden, config.gates());
        let m = config.cell.module_name();
        push("embedding.weight".into(), vec![v, e]);
        for k in 0..config.layers {
            push(format!("{m}.weight_ih_l{k}"), vec![g * h, config.layer_input(k)]);
            push(format!("{m}.weight_hh_l{k}"), vec![g * h, h]);
            push(format!("{m}.bias_ih_l{k}"), vec![g * h]);
            push(format!("{m}.bias_hh_l{k}"), vec![g * h]);
        }
        if !config.tie {
            push("head.weight".into(), vec![v, h]);
        }
        push("head.bias".into(), vec![v]);
        ParamLayout { config: *config, specs, len }
    }

    /// The model shape this layout was built for.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Length of the flat buffer (padding included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no parameters (never, for a valid config).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every tensor, in PyTorch's `state_dict` order.
    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// The tensor named `name`.
    pub fn get(&self, name: &str) -> Option<&ParamSpec> {
        self.specs.iter().find(|s| s.name == name)
    }

    /// Offset of `embedding.weight` `[V, E]`.
    pub fn embedding(&self) -> usize {
        self.specs[0].offset
    }

    /// Offsets of layer `k`'s tensors.
    pub fn layer(&self, k: usize) -> LayerOffsets {
        let s = &self.specs[1 + 4 * k..1 + 4 * k + 4];
        LayerOffsets { w_ih: s[0].offset, w_hh: s[1].offset, b_ih: s[2].offset, b_hh: s[3].offset }
    }

    /// Offset of the head's weight `[V, H]`: `head.weight`, or `embedding.weight` when tied.
    pub fn head_weight(&self) -> usize {
        if self.config.tie { self.embedding() } else { self.specs[1 + 4 * self.config.layers].offset }
    }

    /// Offset of `head.bias` `[V]`.
    pub fn head_bias(&self) -> usize {
        self.specs[self.specs.len() - 1].offset
    }

    /// A zeroed buffer of this layout's length (parameters, gradients, moments).
    pub fn zeros(&self) -> Vec<f32> {
        vec![0.0; self.len]
    }

    /// PyTorch's default initialisation, from `seed`: `nn.Embedding` N(0, 1);
    /// every recurrent weight and bias U(-1/sqrt(H), 1/sqrt(H)); `nn.Linear`
    /// weight and bias U(-1/sqrt(H), 1/sqrt(H)) (kaiming_uniform with a = sqrt(5)).
    /// (The values follow PyTorch's distributions, not its random stream.)
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut p = self.zeros();
        let bound = 1.0 / (self.config.hidden as f64).sqrt();
        for spec in &self.specs {
            let dst = &mut p[spec.range()];
            if spec.name == "embedding.weight" {
                dst.iter_mut().for_each(|x| *x = rng.normal() as f32);
            } else {
                dst.iter_mut().for_each(|x| *x = rng.uniform(-bound, bound) as f32);
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cell;

    fn fixture_config(tie: bool) -> ModelConfig {
        ModelConfig { cell: Cell::Lstm, vocab: 65, embed: 16, hidden: 16, layers: 2, tie }
    }

    #[test]
    fn names_and_shapes_are_pytorchs() {
        let l = ParamLayout::new(&fixture_config(false));
        let names: Vec<_> = l.specs().iter().map(|s| (s.name.as_str(), s.shape.clone())).collect();
        assert_eq!(
            names,
            vec![
                ("embedding.weight", vec![65, 16]),
                ("lstm.weight_ih_l0", vec![64, 16]),
                ("lstm.weight_hh_l0", vec![64, 16]),
                ("lstm.bias_ih_l0", vec![64]),
                ("lstm.bias_hh_l0", vec![64]),
                ("lstm.weight_ih_l1", vec![64, 16]),
                ("lstm.weight_hh_l1", vec![64, 16]),
                ("lstm.bias_ih_l1", vec![64]),
                ("lstm.bias_hh_l1", vec![64]),
                ("head.weight", vec![65, 16]),
                ("head.bias", vec![65]),
            ]
        );
        assert!(l.specs().iter().all(|s| s.offset % ALIGN == 0));
        let count: usize = l.specs().iter().map(ParamSpec::len).sum();
        assert_eq!(count, fixture_config(false).num_params());
    }

    #[test]
    fn tied_head_is_the_embedding() {
        let l = ParamLayout::new(&fixture_config(true));
        assert!(l.get("head.weight").is_none());
        assert_eq!(l.head_weight(), l.embedding());
        assert_eq!(l.specs().last().map(|s| s.name.as_str()), Some("head.bias"));
    }
}
