//! Evaluation: the validation text of a run's shards and the protocol that
//! scores a model on it in nats per token and bits per character and byte.
//!
//! Every token after the first is predicted once, each window of `T`
//! predictions from a zero state (`dataset::EvalBatches`). The characters and
//! bytes are those of the predicted text, special tokens excluded, so runs
//! with different tokenizers on the same text divide by the same counts.

use std::path::Path;

use dataset::{ShardSet, Split};
use model::fast::Workspace;
use tokenizer::{TokenId, Tokenizer};

use crate::run::EvalResult;
use crate::train::{Result, TrainError};

/// Appends the text `ids` stand for, special tokens left out.
pub fn push_text(tok: &Tokenizer, ids: &[TokenId], out: &mut Vec<u8>) {
    for &t in ids {
        if !is_special(tok, t) {
            out.extend_from_slice(tok.token_bytes(t).unwrap_or_default());
        }
    }
}

fn is_special(tok: &Tokenizer, id: TokenId) -> bool {
    tok.special_tokens().iter().any(|(_, s)| *s == id)
}

/// The text of a split of the shards in `dir` (special tokens left out): the
/// text every tokenizer of a comparison is measured on.
pub fn split_text(dir: &Path, split: Split) -> Result<Vec<u8>> {
    let set = ShardSet::open(dir)?;
    let tok = set.tokenizer()?;
    let mut text = Vec::new();
    set.split(split).for_each_block(|block| push_text(&tok, block, &mut text));
    Ok(text)
}

/// Evaluates `params` on a split of `shards`: every token after the first is
/// predicted once, each window of `T` predictions from a zero state (the
/// protocol of `dataset::EvalBatches`). With `max_bytes`, only the shortest
/// prefix of the split whose text reaches `max_bytes` bytes is scored.
/// Characters and bytes are those of the predicted text (the split's text
/// minus the first token's; special tokens count none).
pub fn evaluate(
    ws: &mut Workspace,
    params: &[f32],
    shards: &ShardSet,
    tok: &Tokenizer,
    split: Split,
    max_bytes: Option<u64>,
) -> Result<EvalResult> {
    let tokens = shards.split(split).to_vec();
    if tokens.len() < 2 {
        return Err(TrainError::Invalid(format!(
            "{}: the {} split has {} tokens; evaluation needs at least 2",
            shards.dir().display(),
            split.name(),
            tokens.len()
        )));
    }
    // The scored prefix: tokens[..end], predictions of tokens[1..end].
    let end = match max_bytes {
        None => tokens.len(),
        Some(limit) => {
            let mut bytes = 0u64;
            let mut end = tokens.len();
            for (i, &t) in tokens.iter().enumerate() {
                bytes += text_len(tok, t);
                if bytes >= limit && i >= 1 {
                    end = i + 1;
                    break;
                }
            }
            end
        }
    };
    let mut text = Vec::new();
    push_text(tok, &tokens[1..end], &mut text);
    let chars = tokenizer::stats::count_chars(&text);
    let predictions = (end - 1) as u64;

    let (b, t) = ws.shape();
    let mut batches = shards.eval_batches(split, b, t)?;
    let mut lengths = vec![0usize; b];
    let (mut nats, mut count) = (0f64, 0u64);
    while let Some(batch) = batches.next()? {
        let first = batch.first_window * t as u64;
        if first >= predictions {
            break;
        }
        for (row, len) in lengths.iter_mut().enumerate() {
            let start = first + (row * t) as u64;
            *len = (batch.lengths[row] as u64).min(predictions.saturating_sub(start)) as usize;
        }
        let (n, c) = ws.forward_loss(params, batch.inputs, batch.targets, &lengths);
        nats += n;
        count += c as u64;
    }
    debug_assert_eq!(count, predictions);
    let ln2 = std::f64::consts::LN_2;
    let bytes = text.len() as u64;
    Ok(EvalResult {
        val_loss: nats / count as f64,
        bits_per_token: nats / (ln2 * count as f64),
        bits_per_char: nats / (ln2 * chars as f64),
        bits_per_byte: nats / (ln2 * bytes as f64),
        tokens: count,
        chars,
        bytes,
        nats,
    })
}

/// Bytes of text a token stands for (special tokens: none).
fn text_len(tok: &Tokenizer, id: TokenId) -> u64 {
    if is_special(tok, id) { 0 } else { tok.token_bytes(id).map_or(0, |b| b.len() as u64) }
}

/// A run's checkpoint evaluated on a split: what `lm eval` reports.
#[derive(Clone, Debug)]
pub struct RunEval {
    pub eval: EvalResult,
    /// The step the checkpoint holds.
    pub step: u64,
    /// The shards it was evaluated on.
    pub shards: std::path::PathBuf,
}

/// Evaluates the checkpoint in `run` on `split` of `shards` (default: the
/// run's own shards, which must use the run's tokenizer), in batches of
/// `batch` windows (default: the run's).
pub fn evaluate_run(
    run: &Path,
    shards: Option<&Path>,
    split: Split,
    batch: Option<usize>,
) -> Result<RunEval> {
    let rd = crate::run::RunDir::new(run);
    crate::run::check_run_dir(run)?;
    let cfg = rd.read_config()?;
    let shards_dir = shards.map_or_else(|| cfg.data.shards.clone(), Path::to_path_buf);
    let set = ShardSet::open(&shards_dir)?;
    let tok = crate::train::run_tokenizer(run, &cfg)?;
    set.check_tokenizer(&tok)?;
    if shards.is_none() {
        // The run's own shards must still hold the run's text: re-encoded
        // from other text (or with another split) they would score the
        // model on text it may have trained on, under the run's name.
        let now = crate::train::data_ref(&set);
        if now.train != cfg.data.train || now.val != cfg.data.val {
            return Err(TrainError::Invalid(format!(
                "{}: these shards no longer hold the text the run was trained and evaluated on \
                 (train/val hashes differ from {}); encode the run's corpus as it was, or pass \
                 --shards to evaluate on this text deliberately",
                shards_dir.display(),
                run.join("config.json").display()
            )));
        }
    }
    let loaded = crate::train::run_model(run, &cfg)?;
    let batch = batch.unwrap_or(cfg.train.batch);
    if batch == 0 {
        return Err(TrainError::Invalid("--batch: must be at least 1".into()));
    }
    crate::train::check_memory(&cfg.model, batch, cfg.train.seq)?;
    let mut ws = Workspace::new(&loaded.layout, batch, cfg.train.seq);
    let eval = evaluate(&mut ws, &loaded.params, &set, &tok, split, None)?;
    Ok(RunEval { eval, step: loaded.step, shards: shards_dir })
}
