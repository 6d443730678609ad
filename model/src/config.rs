//! The model's shape.

/// The recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cell {
    /// PyTorch's `nn.LSTM` cell: gates i, f, g, o; `c' = f*c + i*g`, `h' = o*tanh(c')`.
    Lstm,
    /// PyTorch's `nn.RNN` cell with tanh: `h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`.
    Rnn,
}

impl Cell {
    /// Rows of the gate dimension per hidden unit: 4 for the LSTM, 1 for the RNN.
    pub fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Rnn => 1,
        }
    }

    /// The PyTorch module name that prefixes the recurrent parameters.
    pub fn module_name(self) -> &'static str {
        match self {
            Cell::Lstm => "lstm",
            Cell::Rnn => "rnn",
        }
    }

    /// `"lstm"` or `"rnn"`.
    pub fn name(self) -> &'static str {
        self.module_name()
    }
}

/// The shape of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelConfig {
    pub cell: Cell,
    /// V: vocabulary size.
    pub vocab: usize,
    /// E: embedding width.
    pub embed: usize,
    /// H: hidden width of every recurrent layer.
    pub hidden: usize,
    /// L: number of recurrent layers.
    pub layers: usize,
    /// The head's weight is the embedding matrix (requires E == H).
    pub tie: bool,
}

impl ModelConfig {
    /// Checks that the shape can be built; the message names the offending values.
    pub fn validate(&self) -> Result<(), String> {
        if self.vocab == 0 || self.embed == 0 || self.hidden == 0 || self.layers == 0 {
            return Err(format!(
                "vocab ({}), embed ({}), hidden ({}) and layers ({}) must all be positive",
                self.vocab, self.embed, self.hidden, self.layers
            ));
        }
        if self.tie && self.embed != self.hidden {
            return Err(format!(
                "--tie needs the embedding width to equal the hidden width, got embed {} and hidden {}",
                self.embed, self.hidden
            ));
        }
        Ok(())
    }

    /// G: gate rows per hidden unit.
    pub fn gates(&self) -> usize {
        self.cell.gates()
    }

    /// The input width of layer `k`: E for the first layer, H after.
    pub fn layer_input(&self, k: usize) -> usize {
        if k == 0 { self.embed } else { self.hidden }
    }

    /// Number of trainable scalars (a tied head counts once).
    pub fn num_params(&self) -> usize {
        let g = self.gates() * self.hidden;
        let rec: usize = (0..self.layers).map(|k| g * self.layer_input(k) + g * self.hidden + 2 * g).sum();
        let head = if self.tie { 0 } else { self.vocab * self.hidden };
        self.vocab * self.embed + rec + head + self.vocab
    }

    /// Training FLOPs per token, the convention of the benchmarks: per layer
    /// `2*G*H*(in+H)` forward (8*H*(in+H) for the LSTM), twice that backward,
    /// and `6*H*V` for the head; embedding and elementwise work ignored.
    pub fn train_flops_per_token(&self) -> f64 {
        let g = self.gates() as f64;
        let h = self.hidden as f64;
        let fwd: f64 = (0..self.layers).map(|k| 2.0 * g * h * (self.layer_input(k) as f64 + h)).sum();
        3.0 * fwd + 6.0 * h * self.vocab as f64
    }
}
