//! Checkpoints: the model and the optimiser state as safetensors files that
//! PyTorch loads unchanged.
//!
//! A run directory holds
//! - `model.safetensors`: every parameter as an F32 tensor with exactly the
//!   PyTorch name and shape of the layout ([`ParamLayout::specs`]), without the
//!   layout's alignment padding, `head.weight` absent when tied (a tied
//!   PyTorch module's `state_dict` lists it under both names: alias it before
//!   `load_state_dict`, as `scripts/check_checkpoint.py` does). The header's
//!   `__metadata__` carries the [`ModelConfig`] as JSON (`config`) and the step.
//! - `optimizer.safetensors`: AdamW's moments as `exp_avg.<name>` and
//!   `exp_avg_sq.<name>` (F32, same shapes), and in `__metadata__` the step
//!   count, the AdamW hyperparameters (JSON, f64 printed round-trip exactly),
//!   the model config, and the trainer's own keys (`extra.<key>`), so a resumed
//!   run continues bit for bit.
//!
//! Files are written atomically (temporary file in the same directory, fsync,
//! rename), so a crash or Ctrl-C mid-write leaves the previous checkpoint
//! intact. Loading validates everything (header, names, dtypes, shapes,
//! config, finiteness) and reports problems as typed errors naming the file.
//!
//! What it is not: the run directory's `config.json` / `metrics.jsonl` (the
//! trainer's) or the tokenizer copy (the CLI's).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::TokenId;
use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::optim::{AdamW, AdamWConfig};
use crate::params::ParamLayout;
use crate::reference::Reference;

/// The model file's name inside a run directory.
pub const MODEL_FILE: &str = "model.safetensors";
/// The optimiser file's name inside a run directory.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The forward-pass probe `scripts/check_checkpoint.py` compares PyTorch against.
pub const FORWARD_CHECK_FILE: &str = "forward_check.json";

/// Version of our metadata keys; bumped on incompatible changes.
const FORMAT_VERSION: &str = "1";
const EXTRA_PREFIX: &str = "extra.";

/// A model read back from `model.safetensors`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedModel {
    pub config: ModelConfig,
    pub layout: ParamLayout,
    /// The parameters in the flat layout (padding zero).
    pub params: Vec<f32>,
    /// The number of optimiser steps the parameters had seen when saved.
    pub step: u64,
}

/// An optimiser read back from `optimizer.safetensors`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedOptimizer {
    pub optimizer: AdamW,
    /// The trainer's own state, as saved with [`save_optimizer`].
    pub extra: BTreeMap<String, String>,
}

/// A whole checkpoint: model, optimiser, trainer state.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub model: LoadedModel,
    pub optimizer: AdamW,
    pub extra: BTreeMap<String, String>,
}

// ----------------------------------------------------------------------------
// Saving

/// Writes `params` (flat layout) to `path` as the model file. `step` is the
/// number of optimiser steps taken (0 for a fresh model).
pub fn save_model(path: &Path, layout: &ParamLayout, params: &[f32], step: u64) -> Result<()> {
    check_len("parameter buffer", layout, params.len())?;
    let mut meta = base_metadata("model", layout.config(), step);
    meta.insert("num_params".into(), layout.config().num_params().to_string());
    let tensors =
        layout.specs().iter().map(|s| (s.name.clone(), s.shape.clone(), le_bytes(&params[s.range()])));
    write_safetensors(path, tensors.collect(), meta)
}

/// Writes AdamW's state to `path` as the optimiser file, with the trainer's
/// `extra` keys (names without the `extra.` prefix).
pub fn save_optimizer(
    path: &Path,
    layout: &ParamLayout,
    optimizer: &AdamW,
    extra: &BTreeMap<String, String>,
) -> Result<()> {
    check_len("exp_avg buffer", layout, optimizer.exp_avg().len())?;
    check_len("exp_avg_sq buffer", layout, optimizer.exp_avg_sq().len())?;
    let mut meta = base_metadata("optimizer", layout.config(), optimizer.step_count());
    meta.insert("adamw".into(), json(optimizer.config()));
    for (k, v) in extra {
        meta.insert(format!("{EXTRA_PREFIX}{k}"), v.clone());
    }
    let mut tensors = Vec::with_capacity(2 * layout.specs().len());
    for (prefix, buf) in [("exp_avg.", optimizer.exp_avg()), ("exp_avg_sq.", optimizer.exp_avg_sq())] {
        for s in layout.specs() {
            tensors.push((format!("{prefix}{}", s.name), s.shape.clone(), le_bytes(&buf[s.range()])));
        }
    }
    write_safetensors(path, tensors, meta)
}

/// Writes both files into the run directory `dir` (which must exist): the
/// optimiser first, then the model, each atomically. Loading checks that both
/// carry the same step, so a crash between the two renames is detected.
pub fn save_checkpoint(
    dir: &Path,
    layout: &ParamLayout,
    params: &[f32],
    optimizer: &AdamW,
    extra: &BTreeMap<String, String>,
) -> Result<()> {
    save_optimizer(&dir.join(OPTIMIZER_FILE), layout, optimizer, extra)?;
    save_model(&dir.join(MODEL_FILE), layout, params, optimizer.step_count())
}

fn base_metadata(kind: &str, config: &ModelConfig, step: u64) -> HashMap<String, String> {
    HashMap::from([
        // What Hugging Face tooling expects of a PyTorch-loadable file.
        ("format".into(), "pt".into()),
        ("toklab.kind".into(), kind.into()),
        ("toklab.version".into(), FORMAT_VERSION.into()),
        ("config".into(), json(config)),
        ("step".into(), step.to_string()),
    ])
}

fn json<T: serde::Serialize>(value: &T) -> String {
    // Serialising plain structs of numbers, bools and enums cannot fail.
    serde_json::to_string(value).expect("plain config structs serialise")
}

fn le_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn check_len(what: &'static str, layout: &ParamLayout, found: usize) -> Result<()> {
    if found != layout.len() {
        return Err(Error::Length { what, expected: layout.len(), found });
    }
    Ok(())
}

fn write_safetensors(
    path: &Path,
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    meta: HashMap<String, String>,
) -> Result<()> {
    let corrupt = |e: safetensors::SafeTensorError| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("cannot serialise: {e}"),
    };
    let mut views = Vec::with_capacity(tensors.len());
    for (name, shape, bytes) in &tensors {
        views.push((name.as_str(), TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(corrupt)?));
    }
    let bytes = safetensors::serialize(views, Some(meta)).map_err(corrupt)?;
    let bytes = canonical_header(&bytes).map_err(|reason| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("cannot serialise: {reason}"),
    })?;
    write_atomic(path, &bytes)
}

/// `safetensors::serialize` writes `__metadata__` from a `HashMap`, in an
/// order that changes from one run to the next, so the same weights gave
/// files that differ byte for byte. This rewrites the header with its keys
/// and the metadata's keys sorted (the tensors' own entries keep their
/// order), padded with spaces to a multiple of 8 bytes as the format asks;
/// the data section is unchanged, so the offsets stay valid.
fn canonical_header(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let len = bytes.get(..8).ok_or("no header length")?;
    let n = u64::from_le_bytes(len.try_into().map_err(|_| "no header length")?) as usize;
    let header = bytes.get(8..8 + n).ok_or("header past the end")?;
    let mut top: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| e.to_string())?;
    if let Some(meta) = top.remove("__metadata__") {
        let sorted: BTreeMap<String, String> = serde_json::from_value(meta).map_err(|e| e.to_string())?;
        top.insert("__metadata__".into(), serde_json::to_value(sorted).map_err(|e| e.to_string())?);
    }
    let mut out = vec![0u8; 8];
    let mut text = String::new();
    text.push('{');
    for (i, (k, v)) in top.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&serde_json::to_string(k).map_err(|e| e.to_string())?);
        text.push(':');
        text.push_str(&serde_json::to_string(v).map_err(|e| e.to_string())?);
    }
    text.push('}');
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    out[..8].copy_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

/// Writes `bytes` atomically ([`atomicfile::write`]); errors name the
/// destination, the file the user asked for.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    atomicfile::write(path, bytes).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

// ----------------------------------------------------------------------------
// Loading

/// A parsed file: its bytes, the checked metadata, the config it declares.
struct Parsed {
    path: PathBuf,
    bytes: Vec<u8>,
    meta: HashMap<String, String>,
    config: ModelConfig,
    step: u64,
}

impl Parsed {
    fn open(path: &Path, kind: &str) -> Result<Parsed> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let corrupt = |reason: String| Error::Corrupt { path: path.to_path_buf(), reason };
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| corrupt(format!("not a valid safetensors file: {e}")))?;
        let meta =
            header.metadata().clone().ok_or_else(|| corrupt("no __metadata__ in the header".into()))?;
        let get =
            |key: &str| meta.get(key).ok_or_else(|| corrupt(format!("metadata key {key:?} is missing")));
        let found_kind = get("toklab.kind")?;
        if found_kind != kind {
            return Err(Error::Mismatch {
                path: path.to_path_buf(),
                what: "file kind".into(),
                expected: kind.into(),
                found: found_kind.clone(),
            });
        }
        let version = get("toklab.version")?;
        if version != FORMAT_VERSION {
            return Err(corrupt(format!("format version {version:?}, this build reads {FORMAT_VERSION:?}")));
        }
        let config: ModelConfig = serde_json::from_str(get("config")?)
            .map_err(|e| corrupt(format!("metadata \"config\" does not parse: {e}")))?;
        config.validate().map_err(|e| corrupt(format!("metadata \"config\" is invalid: {e}")))?;
        // Before anything is allocated for it: a hand-edited config can
        // declare more parameters than memory holds, or than usize counts.
        // The file holds every parameter (twice for the optimiser's moments)
        // as 4 bytes, so its size bounds a valid config's.
        let copies = if kind == "optimizer" { 2 } else { 1 };
        let need = checked_num_params(&config).and_then(|n| n.checked_mul(4 * copies));
        if need.is_none_or(|n| n > bytes.len()) {
            return Err(corrupt(format!(
                "metadata \"config\" declares {} parameters, more than the file's {} bytes hold",
                checked_num_params(&config).map_or("more than 2^64".to_string(), |n| n.to_string()),
                bytes.len()
            )));
        }
        let step = get("step")?;
        let step =
            step.parse().map_err(|_| corrupt(format!("metadata \"step\" is not a count: {step:?}")))?;
        Ok(Parsed { path: path.to_path_buf(), bytes, meta, config, step })
    }

    fn tensors(&self) -> Result<SafeTensors<'_>> {
        SafeTensors::deserialize(&self.bytes).map_err(|e| Error::Corrupt {
            path: self.path.clone(),
            reason: format!("not a valid safetensors file: {e}"),
        })
    }

    /// Copies the tensors `prefix + spec.name` of every spec into `dst` (flat
    /// layout), checking dtype, shape and finiteness.
    fn read_into(&self, st: &SafeTensors, layout: &ParamLayout, prefix: &str, dst: &mut [f32]) -> Result<()> {
        let path = || self.path.clone();
        for spec in layout.specs() {
            let name = format!("{prefix}{}", spec.name);
            let view =
                st.tensor(&name).map_err(|_| Error::MissingTensor { path: path(), name: name.clone() })?;
            if view.dtype() != Dtype::F32 {
                return Err(Error::Dtype {
                    path: path(),
                    name,
                    expected: Dtype::F32.to_string(),
                    found: view.dtype().to_string(),
                });
            }
            if view.shape() != spec.shape.as_slice() {
                return Err(Error::Shape {
                    path: path(),
                    name,
                    expected: spec.shape.clone(),
                    found: view.shape().to_vec(),
                });
            }
            let out = &mut dst[spec.range()];
            for (i, (o, b)) in out.iter_mut().zip(view.data().chunks_exact(4)).enumerate() {
                let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                if !x.is_finite() {
                    return Err(Error::NonFinite { path: path(), name, index: i });
                }
                *o = x;
            }
        }
        Ok(())
    }

    /// Fails on any tensor whose name is not in `expected`.
    fn no_extra_tensors(&self, st: &SafeTensors, expected: &[String]) -> Result<()> {
        let mut names = st.names();
        names.sort_unstable();
        match names.into_iter().find(|n| !expected.iter().any(|e| e == n)) {
            Some(name) => Err(Error::UnexpectedTensor { path: self.path.clone(), name: name.to_string() }),
            None => Ok(()),
        }
    }
}

/// [`ModelConfig::num_params`] with checked arithmetic (`None` on overflow),
/// for configs read from files.
fn checked_num_params(c: &ModelConfig) -> Option<usize> {
    let g = c.gates().checked_mul(c.hidden)?;
    let layer = |input: usize| -> Option<usize> {
        g.checked_mul(input)?.checked_add(g.checked_mul(c.hidden)?)?.checked_add(g.checked_mul(2)?)
    };
    let first = layer(c.embed)?;
    let rest = layer(c.hidden)?.checked_mul(c.layers.checked_sub(1)?)?;
    let head = if c.tie { 0 } else { c.vocab.checked_mul(c.hidden)? };
    c.vocab
        .checked_mul(c.embed)?
        .checked_add(first)?
        .checked_add(rest)?
        .checked_add(head)?
        .checked_add(c.vocab)
}

/// Reads and validates a model file.
pub fn load_model(path: &Path) -> Result<LoadedModel> {
    let parsed = Parsed::open(path, "model")?;
    let st = parsed.tensors()?;
    let layout = ParamLayout::new(&parsed.config);
    let mut params = layout.zeros();
    parsed.read_into(&st, &layout, "", &mut params)?;
    let names: Vec<String> = layout.specs().iter().map(|s| s.name.clone()).collect();
    parsed.no_extra_tensors(&st, &names)?;
    Ok(LoadedModel { config: parsed.config, layout, params, step: parsed.step })
}

/// Reads and validates an optimiser file written for the model of `layout`.
pub fn load_optimizer(path: &Path, layout: &ParamLayout) -> Result<LoadedOptimizer> {
    let parsed = Parsed::open(path, "optimizer")?;
    if parsed.config != *layout.config() {
        return Err(Error::Mismatch {
            path: path.to_path_buf(),
            what: "model configuration".into(),
            expected: json(layout.config()),
            found: json(&parsed.config),
        });
    }
    let adamw = parsed.meta.get("adamw").ok_or_else(|| Error::Corrupt {
        path: path.to_path_buf(),
        reason: "metadata key \"adamw\" is missing".into(),
    })?;
    let config: AdamWConfig = serde_json::from_str(adamw).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("metadata \"adamw\" does not parse: {e}"),
    })?;
    let st = parsed.tensors()?;
    let (mut m, mut v) = (layout.zeros(), layout.zeros());
    parsed.read_into(&st, layout, "exp_avg.", &mut m)?;
    parsed.read_into(&st, layout, "exp_avg_sq.", &mut v)?;
    let names: Vec<String> = ["exp_avg.", "exp_avg_sq."]
        .iter()
        .flat_map(|p| layout.specs().iter().map(move |s| format!("{p}{}", s.name)))
        .collect();
    parsed.no_extra_tensors(&st, &names)?;
    let optimizer = AdamW::from_state(config, parsed.step, m, v)
        .map_err(|e| Error::Corrupt { path: path.to_path_buf(), reason: format!("optimiser state: {e}") })?;
    let extra = parsed
        .meta
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(EXTRA_PREFIX).map(|k| (k.to_string(), v.clone())))
        .collect();
    Ok(LoadedOptimizer { optimizer, extra })
}

/// Reads both files of the run directory `dir` and checks they belong together.
pub fn load_checkpoint(dir: &Path) -> Result<Checkpoint> {
    let model = load_model(&dir.join(MODEL_FILE))?;
    let opt_path = dir.join(OPTIMIZER_FILE);
    let LoadedOptimizer { optimizer, extra } = load_optimizer(&opt_path, &model.layout)?;
    if optimizer.step_count() != model.step {
        return Err(Error::Mismatch {
            path: opt_path,
            what: "step (model and optimiser were saved at different steps)".into(),
            expected: model.step.to_string(),
            found: optimizer.step_count().to_string(),
        });
    }
    Ok(Checkpoint { model, optimizer, extra })
}

// ----------------------------------------------------------------------------
// Forward probe for the Python cross-check

/// A batch and what our model computes on it, written beside a checkpoint so
/// `scripts/check_checkpoint.py` can run PyTorch (or numpy) on the same tokens
/// and compare.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ForwardProbe {
    pub batch: usize,
    pub seq: usize,
    /// (B, T)
    pub inputs: Vec<TokenId>,
    /// (B, T)
    pub targets: Vec<TokenId>,
    /// Mean cross-entropy (f32 reference, widened).
    pub loss: f64,
    /// (B, T, V)
    pub logits: Vec<f32>,
}

/// Runs the f32 reference on (`inputs`, `targets`) (B, T) and writes the
/// probe to `path` atomically.
pub fn write_forward_probe(
    path: &Path,
    layout: &ParamLayout,
    params: &[f32],
    inputs: &[TokenId],
    targets: &[TokenId],
    batch: usize,
    seq: usize,
) -> Result<ForwardProbe> {
    let mut model = Reference::<f32>::new(layout, batch, seq)?;
    let loss = model.forward(params, inputs, Some(targets))?;
    let probe = ForwardProbe {
        batch,
        seq,
        inputs: inputs.to_vec(),
        targets: targets.to_vec(),
        loss: loss as f64,
        logits: model.activations().logits.clone(),
    };
    write_atomic(path, json(&probe).as_bytes())?;
    Ok(probe)
}
