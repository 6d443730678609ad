//! The corpus encoder: files -> tokens -> shards, in parallel, streaming.
//!
//! # Pipeline
//! 1. A reader thread walks the documents in corpus order. Each file is cut
//!    into its train part and its validation part ([`crate::split`]), and
//!    each part into *pieces*: a whole part when it is at most
//!    `chunk_bytes`, otherwise chunks of about `chunk_bytes` ending at
//!    [`Tokenizer::chunk_boundary`] points (the first boundary at or after
//!    `chunk_bytes` from the chunk's start). Pieces are grouped into windows
//!    of about `window_bytes`.
//! 2. The calling thread encodes a window's pieces in parallel on the
//!    current rayon pool, then writes their tokens in piece order, hashing
//!    and counting the text as it goes.
//!
//! Pieces depend only on the text and `chunk_bytes` (a fixed size, not a
//! function of the thread count), and tokens are written in piece order, so
//! the shards are byte-identical for any number of threads and any window
//! size. Because each boundary is a point where `encode(a ++ b) ==
//! encode(a) ++ encode(b)`, the tokens also equal those of encoding every
//! document part whole.
//!
//! # Memory
//! Text moves in window buffers that are recycled (at most four exist: one
//! being filled by the reader, one queued, one being encoded and written, one
//! on its way back), plus one reused token buffer for the window being
//! written (4 bytes per text byte at most), a per-thread encoder scratch and
//! the reader's read-ahead: with the defaults, about 30 MB peak RSS whatever
//! the corpus size (measured: 28 MB for the 26 MB benchmark corpus with
//! bpe8k, 29 MB for four copies of it). The exception is a BPE vocabulary
//! without a split pattern, whose `chunk_boundary` never finds a cut: each
//! document part is then one piece, held whole.
//!
//! # Counting
//! Characters are counted per piece with [`tokenizer::stats::count_chars`],
//! which is additive over cuts that do not fall inside a valid multi-byte
//! character; piece cuts are next to ASCII bytes (BPE) or at a character
//! start (character vocabulary), and the split cut is after a newline, so
//! the per-piece counts sum to the document part's count.
//!
//! # Output
//! [`TOKENIZER_FILE`]; shards `train_000000.bin`, ... (or
//! `train_p{i}_000000.bin` for `--part i/N`) of at most `shard_tokens`
//! tokens, written under hidden temporary names and renamed when complete;
//! then the manifest, last, so a directory with a manifest is complete. A
//! new encoding first removes the old manifest and the shard files of its own
//! scope (for a full run also the old tokenizer copy). An encoding that fails
//! or is cancelled deletes the shards it wrote, so it leaves no shards of its
//! scope (a killed process leaves its own, without a manifest; the next
//! encoding removes them).
//!
//! # Performance notes
//! - Reading overlaps encoding (a reader thread and a one-window queue);
//!   writing and hashing stay on the calling thread: blake3 and the u16
//!   conversion run at GB/s, far above any encoder's speed.
//! - Chunking is per document part at `chunk_bytes` = 256 KiB, windows of
//!   `max(2 MiB, 4 x threads x chunk)`: small enough that the working set
//!   stays in a few MB (first-touch page faults of 8 MiB windows and 1 MiB
//!   chunks were 20% of the char encoder's time on the benchmark corpus, at
//!   75 MB peak RSS; now 28 MB, same CPU time for bpe8k, 15% less for char),
//!   large enough that the per-piece overhead (a rayon task, one copy of the
//!   tokens out of the thread's scratch) is invisible.
//! - Tried and replaced: one `Vec<u8>` per piece, recycled through a pool
//!   (a pooled buffer keeps its largest capacity, so memory grew with the
//!   number of small files: 129 MB peak RSS on the benchmark corpus); a fresh
//!   token `Vec` per piece (a page fault per 4 KiB of tokens, every window);
//!   `Read::take(..).read_to_end` for file reads (15 read calls per file on
//!   average from its probing reads; `read_exact` into a resized buffer
//!   needs 3).
//! - Shards, the tokenizer copy and the manifest are `fdatasync`ed before
//!   their rename (about 0.1 s for 200 MB of shards here): a directory whose
//!   manifest exists is complete even after a power loss.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::mpsc;

use rayon::prelude::*;
use tokenizer::Tokenizer;

use crate::corpus::Document;
use crate::manifest::{
    self, CorpusInfo, MANIFEST_FILE, Manifest, PartInfo, ShardEntry, SplitInfo, SplitRule, Splits,
    TOKENIZER_FILE, TokenizerInfo,
};
use crate::shard::{MAX_TOKENS, ShardWriter, TokenWidth};
use crate::{Error, Result, Split, TokenId, split};

/// Encoder settings.
#[derive(Clone, Debug)]
pub struct EncodeConfig {
    /// Fraction of each file that is validation ([`crate::split`]); default 0.1.
    pub val_fraction: f64,
    /// Shard size cap in tokens; default 100M, at most [`MAX_TOKENS`].
    pub shard_tokens: u64,
    /// Put the end-of-text token before each document's part in each split.
    pub eot: bool,
    /// Encode only this part of the files.
    pub part: Option<Part>,
    /// Target chunk size for splitting large files (module docs); default 256 KiB.
    pub chunk_bytes: usize,
    /// Text handed to the thread pool at a time; default 2 MiB (at least
    /// four chunks per thread). Does not change the output.
    pub window_bytes: usize,
}

impl Default for EncodeConfig {
    fn default() -> Self {
        EncodeConfig {
            val_fraction: 0.1,
            shard_tokens: 100_000_000,
            eot: false,
            part: None,
            chunk_bytes: 256 << 10,
            window_bytes: 2 << 20,
        }
    }
}

/// `--part i/N`: the `index`-th (from 0) of `count` partitions of the files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub index: u32,
    pub count: u32,
}

impl FromStr for Part {
    type Err = Error;

    /// Parses `i/N` with `0 <= i < N`.
    fn from_str(s: &str) -> Result<Part> {
        let bad = || Error::Config(format!("bad part {s:?}: expected i/N with 0 <= i < N, e.g. 0/4"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Part { index, count })
    }
}

impl Part {
    /// The files of this part: a contiguous range of the listing, balanced by
    /// bytes. File `j` (starting at byte `B_j` of the concatenated corpus of
    /// `T` bytes, `L_j` bytes long) belongs to part
    /// `min(N - 1, floor(N * (2 B_j + L_j) / (2 T)))`, the part holding its
    /// middle byte; with `T = 0`, to part `floor(N * j / files)`. Depends only
    /// on the listing, so every machine computes the same partition.
    pub fn files(&self, docs: &[Document]) -> std::ops::Range<usize> {
        let total: u64 = crate::corpus::total_bytes(docs);
        let n = self.count as u128;
        let mut before = 0u64;
        let owner = |j: usize, d: &Document, before: u64| -> u32 {
            let p = if total == 0 {
                n * j as u128 / docs.len() as u128
            } else {
                n * (2 * before as u128 + d.len as u128) / (2 * total as u128)
            };
            p.min(n - 1) as u32
        };
        let mut start = docs.len();
        let mut end = docs.len();
        for (j, d) in docs.iter().enumerate() {
            let p = owner(j, d, before);
            before += d.len;
            if p >= self.index && start == docs.len() {
                start = j;
            }
            if p > self.index {
                end = j;
                break;
            }
        }
        start.min(end)..end
    }
}

/// Where the tokenizer came from, as recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenizerSource {
    /// A pretrained vocabulary built into the binary.
    Pretrained(String),
    /// A tokenizer file (our JSON format); copied next to the shards.
    File(PathBuf),
}

impl TokenizerSource {
    /// The source of a `--tokenizer` argument as [`Tokenizer::load`] reads it
    /// (a pretrained name wins over a file of the same name).
    pub fn from_spec(spec: &str) -> TokenizerSource {
        if tokenizer::pretrained::NAMES.contains(&spec) {
            TokenizerSource::Pretrained(spec.to_string())
        } else {
            TokenizerSource::File(PathBuf::from(spec))
        }
    }
}

/// What the progress callback sees, after each window.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Bytes of text encoded and written.
    pub bytes_done: u64,
    /// Bytes of text to encode in all (as listed).
    pub bytes_total: u64,
    /// Tokens written.
    pub tokens: u64,
    /// Files started.
    pub files_done: usize,
    /// Files to encode.
    pub files_total: usize,
}

/// Encodes `docs` (the whole sorted listing, even with `config.part` set)
/// with `tokenizer` into shards in `out_dir` (created if needed) and writes
/// the manifest (`manifest.json`, or `manifest_p{i}.json` for a part).
/// `progress` is called from this thread after each window; returning
/// `ControlFlow::Break` stops with [`Error::Cancelled`]; like any error, it
/// deletes the shards this run wrote and leaves no manifest.
pub fn encode_corpus(
    docs: &[Document],
    tokenizer: &Tokenizer,
    source: &TokenizerSource,
    out_dir: &Path,
    config: &EncodeConfig,
    progress: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
) -> Result<Manifest> {
    let pretrained = matches!(source, TokenizerSource::Pretrained(_));
    let info = TokenizerInfo {
        kind: tokenizer.kind(),
        name: tokenizer.name().to_string(),
        source: match source {
            TokenizerSource::Pretrained(name) => name.clone(),
            TokenizerSource::File(path) => path.display().to_string(),
        },
        pretrained,
        vocab_size: tokenizer.vocab_size(),
        content_hash: tokenizer.content_hash(),
        file: (!pretrained).then(|| TOKENIZER_FILE.to_string()),
    };
    let eot_id = if config.eot {
        Some(tokenizer.special_id(tokenizer::END_OF_TEXT).ok_or_else(|| {
            Error::Config(format!(
                "--eot: tokenizer {:?} has no {} special token",
                tokenizer.name(),
                tokenizer::END_OF_TEXT
            ))
        })?)
    } else {
        None
    };
    let json = (!pretrained).then(|| tokenizer.to_json());
    encode_with(docs, tokenizer, info, json.as_deref(), eot_id, out_dir, config, progress)
}

/// What the pipeline needs of a tokenizer; [`Tokenizer`] is the one real
/// implementation, tests add a trivial one.
pub(crate) trait Encoder: Sync {
    fn encode_into(&self, text: &[u8], out: &mut Vec<TokenId>) -> tokenizer::Result<()>;
    fn chunk_boundary(&self, text: &[u8], from: usize) -> Option<usize>;
}

impl Encoder for Tokenizer {
    fn encode_into(&self, text: &[u8], out: &mut Vec<TokenId>) -> tokenizer::Result<()> {
        self.encode_ordinary_into(text, out)
    }

    fn chunk_boundary(&self, text: &[u8], from: usize) -> Option<usize> {
        Tokenizer::chunk_boundary(self, text, from)
    }
}

/// Bytes past a boundary that must be in the buffer before the boundary is
/// trusted: `chunk_boundary` decides from the bytes next to the cut (an ASCII
/// letter and the byte after it, or a UTF-8 lead byte), so a cut found this
/// far from the end of a partial buffer is also a cut of the whole text.
const LOOKAHEAD: usize = 16;

#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_with(
    docs: &[Document],
    encoder: &dyn Encoder,
    info: TokenizerInfo,
    tokenizer_json: Option<&str>,
    eot_id: Option<TokenId>,
    out_dir: &Path,
    config: &EncodeConfig,
    progress: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
) -> Result<Manifest> {
    split::check_fraction(config.val_fraction)?;
    // Encoding makes the split itself, from whole files.
    if let Some(d) = docs.iter().find(|d| d.train_part.is_some()) {
        return Err(Error::Config(format!(
            "{}: a train part cannot be encoded (the encoder splits whole files)",
            d.path.display()
        )));
    }
    if config.shard_tokens == 0 || config.shard_tokens > MAX_TOKENS {
        return Err(Error::Config(format!(
            "the shard size must be between 1 and {MAX_TOKENS} tokens (the header stores an i32), got {}",
            config.shard_tokens
        )));
    }
    if config.chunk_bytes == 0 {
        return Err(Error::Config("the chunk size must be at least 1 byte".into()));
    }
    if docs.is_empty() {
        return Err(Error::Empty("the corpus has no files".into()));
    }
    if config.part.is_none() && crate::corpus::total_bytes(docs) == 0 {
        return Err(empty_corpus(docs));
    }
    let width = TokenWidth::for_vocab(info.vocab_size);
    let range = config.part.map_or(0..docs.len(), |p| p.files(docs));
    let mine = &docs[range.clone()];

    // A failed run leaves no trace: a directory it created goes again (after
    // `outputs`, declared later, has deleted the shards), and the tokenizer
    // copy is written only once the shards are.
    let created = RemoveIfCreated::new(out_dir);
    atomicfile::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    check_out_dir_outside_corpus(docs, out_dir)?;
    // An old manifest must not describe shards we are about to replace.
    let manifest_path = out_dir.join(match config.part {
        Some(p) => manifest::part_manifest_file(p.index),
        None => MANIFEST_FILE.to_string(),
    });
    remove_if_exists(&out_dir.join(MANIFEST_FILE))?;
    remove_if_exists(&manifest_path)?;
    // With its manifest gone the old encoding is unusable: its shards (and
    // for a full run its tokenizer copy) go now, not at the end, so that a
    // run that fails or is cancelled part way leaves no old shards that a
    // reader globbing `*.bin` would take for a corpus. (They went at the end
    // before, after the new shards had replaced those of the same names: a
    // cancelled re-encode deleted its new shards and left the old encoding's
    // tail, 1,720 of 3,332 shards in the case that showed it.)
    remove_old_shards(out_dir, config.part)?;
    if config.part.is_none() {
        remove_if_exists(&out_dir.join(TOKENIZER_FILE))?;
    }

    let prefix = |split: Split| match config.part {
        Some(p) => format!("{}_p{}", split.name(), p.index),
        None => split.name().to_string(),
    };
    let mut outputs = [
        SplitOutput::new(out_dir, prefix(Split::Train), width, config),
        SplitOutput::new(out_dir, prefix(Split::Val), width, config),
    ];
    let mut prog = Progress {
        bytes_total: crate::corpus::total_bytes(mine),
        files_total: mine.len(),
        ..Progress::default()
    };
    let window_bytes =
        config.window_bytes.max(4 * rayon::current_num_threads() * config.chunk_bytes.min(1 << 20));

    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = mpsc::sync_channel::<Result<Window>>(1);
        // Window buffers go back to the reader for reuse, so at most three
        // exist (one filling, one queued, one being encoded).
        let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<u8>>();
        scope.spawn(move || {
            let mut reader = PieceReader::new(mine, range.start, encoder, config, recycle_rx);
            loop {
                let window = reader.next_window(window_bytes);
                let stop = !matches!(&window, Ok(w) if !w.pieces.is_empty());
                // A closed channel means the consumer stopped: so do we.
                if tx.send(window).is_err() || stop {
                    break;
                }
            }
        });
        // One token buffer for the whole window, reused from window to
        // window (fresh buffers cost a page fault per 4 KiB): piece `i` owns
        // the slots of its text's byte range, which hold its tokens because
        // every token covers at least one byte.
        let mut tokens: Vec<TokenId> = Vec::new();
        for window in rx {
            let window = window?;
            if window.pieces.is_empty() {
                break;
            }
            let text = &window.text;
            tokens.resize(text.len(), 0);
            let mut slots: Vec<&mut [TokenId]> = Vec::with_capacity(window.pieces.len());
            let mut rest = &mut tokens[..];
            for piece in &window.pieces {
                let (slot, tail) = rest.split_at_mut(piece.range.len());
                slots.push(slot);
                rest = tail;
            }
            let encoded: Vec<Result<(usize, u64)>> = window
                .pieces
                .par_iter()
                .zip(slots)
                .map(|(piece, slot)| {
                    let bytes = &text[piece.range.clone()];
                    let n = encode_piece(encoder, bytes, slot, config.chunk_bytes)
                        .map_err(|e| piece_error(piece, mine, range.start, e))?;
                    Ok((n, tokenizer::stats::count_chars(bytes)))
                })
                .collect();
            for (piece, result) in window.pieces.iter().zip(encoded) {
                let (n, chars) = result?;
                let bytes = &text[piece.range.clone()];
                let piece_tokens = &tokens[piece.range.start..piece.range.start + n];
                outputs[piece.split as usize].write_piece(piece, bytes, chars, eot_id, piece_tokens)?;
                prog.bytes_done += bytes.len() as u64;
                prog.tokens += n as u64 + u64::from(piece.first && eot_id.is_some());
            }
            prog.files_done = window.files_started;
            // The reader may have finished; then the buffer is just freed.
            let _ = recycle_tx.send(window.text);
            if progress(&prog).is_break() {
                return Err(Error::Cancelled);
            }
        }
        Ok(())
    })?;

    // On any error from here on, dropping `outputs` deletes the shards.
    let train = outputs[0].finish(config.part.is_some())?;
    let val = outputs[1].finish(config.part.is_some())?;
    if config.part.is_none() && train.tokens == 0 {
        return Err(empty_corpus(docs));
    }

    let m = Manifest {
        format_version: manifest::FORMAT_VERSION,
        tokenizer: info,
        token_width: width,
        split: SplitRule { rule: split::RULE.to_string(), val_fraction: config.val_fraction },
        eot: eot_id.is_some(),
        eot_id,
        shard_tokens: config.shard_tokens,
        corpus: CorpusInfo { files: docs.len(), bytes: crate::corpus::total_bytes(docs) },
        part: config.part.map(|p| PartInfo {
            index: p.index,
            count: p.count,
            first_file: range.start,
            end_file: range.end,
        }),
        splits: Splits { train, val },
    };
    if let Some(json) = tokenizer_json {
        let path = out_dir.join(TOKENIZER_FILE);
        atomicfile::write(&path, json.as_bytes()).map_err(|e| Error::io(&path, e))?;
    }
    m.save(&manifest_path)?;
    outputs.iter_mut().for_each(SplitOutput::commit);
    created.keep();
    Ok(m)
}

/// Removes the directory on drop if it did not exist when made and is empty
/// by then (so it never removes anything but itself), unless kept.
struct RemoveIfCreated<'a> {
    dir: Option<&'a Path>,
}

impl<'a> RemoveIfCreated<'a> {
    fn new(dir: &'a Path) -> Self {
        RemoveIfCreated { dir: (!dir.exists()).then_some(dir) }
    }

    fn keep(mut self) {
        self.dir = None;
    }
}

impl Drop for RemoveIfCreated<'_> {
    fn drop(&mut self) {
        if let Some(d) = self.dir {
            let _ = std::fs::remove_dir(d);
        }
    }
}

thread_local! {
    /// Per-thread encoder output, reused across pieces.
    static SCRATCH: std::cell::RefCell<Vec<TokenId>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Encodes `bytes` into `slot` (as long as `bytes`) through the thread's
/// scratch buffer; returns the number of tokens.
fn encode_piece(
    encoder: &dyn Encoder,
    bytes: &[u8],
    slot: &mut [TokenId],
    chunk_bytes: usize,
) -> tokenizer::Result<usize> {
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        encoder.encode_into(bytes, scratch)?;
        let n = scratch.len();
        // Every token covers at least one byte of text.
        assert!(n <= slot.len(), "{n} tokens for {} bytes", slot.len());
        slot[..n].copy_from_slice(scratch);
        // A huge piece (a part without any chunk boundary) must not keep its
        // buffer alive for the rest of the run.
        if scratch.capacity() > 4 * chunk_bytes.max(1 << 20) {
            *scratch = Vec::new();
        }
        Ok(n)
    })
}

/// Refuses an output directory inside the corpus, where a previous run's
/// shards would be read as documents. Only files named like our outputs are
/// checked (one `canonicalize` each), so the cost is nil for a normal corpus.
fn check_out_dir_outside_corpus(docs: &[Document], out_dir: &Path) -> Result<()> {
    let ours = |name: &str| {
        parse_shard_name(name).is_some()
            || name == MANIFEST_FILE
            || name == TOKENIZER_FILE
            || manifest::is_part_manifest_name(name)
    };
    let mut out_canon = None;
    for d in docs {
        let Some(name) = d.path.file_name().and_then(|n| n.to_str()) else { continue };
        if !ours(name) {
            continue;
        }
        let out = match &out_canon {
            Some(o) => o,
            None => out_canon.insert(std::fs::canonicalize(out_dir).map_err(|e| Error::io(out_dir, e))?),
        };
        let parent = d.path.parent().and_then(|p| std::fs::canonicalize(p).ok());
        if parent.as_deref() == Some(out.as_path()) {
            return Err(Error::Config(format!(
                "the output directory {} is inside the corpus: {} would be read as a document; \
                 choose an --out outside the corpus",
                out_dir.display(),
                d.path.display()
            )));
        }
    }
    Ok(())
}

fn empty_corpus(docs: &[Document]) -> Error {
    Error::Empty(format!(
        "the corpus has no text: its {} file(s) are empty (the first is {})",
        docs.len(),
        docs[0].path.display()
    ))
}

/// A tokenizer error in a piece, located in its file.
fn piece_error(piece: &Piece, docs: &[Document], first_doc: usize, e: tokenizer::Error) -> Error {
    let e = match e {
        tokenizer::Error::UnknownChar { ch, code, offset } => {
            tokenizer::Error::UnknownChar { ch, code, offset: offset + piece.offset as usize }
        }
        tokenizer::Error::InvalidUtf8 { offset } => {
            tokenizer::Error::InvalidUtf8 { offset: offset + piece.offset as usize }
        }
        e => e,
    };
    Error::Tokenizer { path: docs[piece.doc - first_doc].path.clone(), source: e }
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// Shard file names: `train_000000.bin`, `val_p3_000012.bin`. Returns the
/// split and the part (if any).
pub(crate) fn parse_shard_name(name: &str) -> Option<(Split, Option<u32>)> {
    let stem = name.strip_suffix(".bin")?;
    let (head, index) = stem.rsplit_once('_')?;
    if index.len() != 6 || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (split, part) = match head.split_once('_') {
        Some((s, p)) => {
            let digits = p.strip_prefix('p')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (s, Some(digits.parse().ok()?))
        }
        None => (head, None),
    };
    let split = match split {
        "train" => Split::Train,
        "val" => Split::Val,
        _ => return None,
    };
    Some((split, part))
}

/// Removes the shard files of this run's scope before it writes any: all
/// shard names (and part manifests) for a full run, the directory being the
/// encoding's; this part's names for a part.
fn remove_old_shards(dir: &Path, part: Option<Part>) -> Result<()> {
    let ours = |name: &str| match (parse_shard_name(name), part) {
        (Some(_), None) => true,
        (Some((_, Some(i))), Some(p)) => i == p.index,
        // A whole encoding's shards: its manifest.json went above, so a part
        // run makes them unusable too (they were kept, for a `*.bin` glob).
        (Some((_, None)), Some(_)) => true,
        _ => manifest::is_part_manifest_name(name) && part.is_none(),
    };
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stale = match temp_file_target(&name) {
            // The temporary file of a run that was killed (kill -9, power
            // loss) before it could delete it. Ours by name: this run has
            // not started a writer yet.
            Some(target) => {
                ours(target)
                    || (part.is_none() && (target == MANIFEST_FILE || target == TOKENIZER_FILE))
                    || part.is_some_and(|p| target == manifest::part_manifest_file(p.index))
            }
            None => ours(&name),
        };
        if stale {
            remove_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

/// The final name of a temporary file of ours: `.NAME.PID.tmp` (shards) or
/// `.NAME.PID.N.tmp` (other files).
fn temp_file_target(name: &str) -> Option<&str> {
    let mut rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    for _ in 0..2 {
        match rest.rsplit_once('.') {
            Some((head, n)) if numeric(n) && (head.ends_with(".bin") || head.ends_with(".json")) => {
                return Some(head);
            }
            Some((head, n)) if numeric(n) => rest = head,
            _ => return None,
        }
    }
    None
}

/// A piece of one document part: the unit of parallel encoding.
struct Piece {
    split: Split,
    /// Index of the document in the whole listing.
    doc: usize,
    /// First piece of its document part (the EOT goes before it).
    first: bool,
    /// Last piece of its document part (its digest is complete after it).
    last: bool,
    /// Byte offset in the file.
    offset: u64,
    /// Where its text is in the window's buffer.
    range: std::ops::Range<usize>,
}

/// Consecutive pieces, their text in one buffer.
struct Window {
    text: Vec<u8>,
    pieces: Vec<Piece>,
    files_started: usize,
}

/// The reader: documents -> parts -> pieces -> windows (module docs).
struct PieceReader<'a> {
    docs: &'a [Document],
    first_doc: usize,
    next_doc: usize,
    encoder: &'a dyn Encoder,
    recycled: mpsc::Receiver<Vec<u8>>,
    chunk_bytes: usize,
    val_fraction: f64,
    cur: Option<OpenDoc>,
    /// Bytes read from the current document but not yet in a piece,
    /// starting at its `chunk_start` (reused across documents).
    buf: Vec<u8>,
}

struct OpenDoc {
    doc: usize,
    path: PathBuf,
    file: std::fs::File,
    /// The train part `[0, val_start)`, then the val part `[val_start, len)`.
    parts: [(Split, u64, u64); 2],
    part: usize,
    /// File offset of the reader's `buf[0]`: where the next piece starts.
    chunk_start: u64,
    first: bool,
}

impl<'a> PieceReader<'a> {
    fn new(
        docs: &'a [Document],
        first_doc: usize,
        encoder: &'a dyn Encoder,
        config: &EncodeConfig,
        recycled: mpsc::Receiver<Vec<u8>>,
    ) -> Self {
        PieceReader {
            docs,
            first_doc,
            next_doc: 0,
            encoder,
            recycled,
            chunk_bytes: config.chunk_bytes,
            val_fraction: config.val_fraction,
            cur: None,
            buf: Vec::new(),
        }
    }

    fn next_window(&mut self, window_bytes: usize) -> Result<Window> {
        let mut text = self.recycled.try_recv().unwrap_or_default();
        text.clear();
        let mut pieces = Vec::new();
        while text.len() < window_bytes {
            match self.next_piece(&mut text)? {
                Some(p) => pieces.push(p),
                None => break,
            }
        }
        Ok(Window { text, pieces, files_started: self.next_doc })
    }

    fn open(&mut self) -> Result<bool> {
        let Some(d) = self.docs.get(self.next_doc) else { return Ok(false) };
        let path = d.path.clone();
        let mut file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let n = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        let s = split::val_start_in_file(&path, &mut file, n, self.val_fraction)?;
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(0)).map_err(|e| Error::io(&path, e))?;
        self.buf.clear();
        self.cur = Some(OpenDoc {
            doc: self.first_doc + self.next_doc,
            path,
            file,
            parts: [(Split::Train, 0, s), (Split::Val, s, n)],
            part: 0,
            chunk_start: 0,
            first: true,
        });
        self.next_doc += 1;
        Ok(true)
    }

    /// Cuts the next piece and appends its text to `text`.
    fn next_piece(&mut self, text: &mut Vec<u8>) -> Result<Option<Piece>> {
        loop {
            if self.cur.is_none() && !self.open()? {
                return Ok(None);
            }
            let d = self.cur.as_mut().expect("opened above");
            let (split, _, end) = d.parts[d.part];
            if d.chunk_start == end {
                d.part += 1;
                d.first = true;
                if d.part == d.parts.len() {
                    self.cur = None;
                }
                continue;
            }
            let len = cut_piece(d, &mut self.buf, end, self.chunk_bytes, self.encoder)?;
            let start = text.len();
            text.extend_from_slice(&self.buf[..len]);
            self.buf.drain(..len);
            let piece = Piece {
                split,
                doc: d.doc,
                first: d.first,
                last: d.chunk_start + len as u64 == end,
                offset: d.chunk_start,
                range: start..start + len,
            };
            d.first = false;
            d.chunk_start += len as u64;
            return Ok(Some(piece));
        }
    }
}

/// Reads as much of the current part as needed and returns the length of
/// the next piece starting at `d.chunk_start` (module docs).
fn cut_piece(
    d: &mut OpenDoc,
    buf: &mut Vec<u8>,
    end: u64,
    chunk_bytes: usize,
    encoder: &dyn Encoder,
) -> Result<usize> {
    let mut search_from = chunk_bytes;
    loop {
        let avail = buf.len();
        let complete = d.chunk_start + avail as u64 == end;
        if complete && avail <= chunk_bytes {
            return Ok(avail);
        }
        if complete || avail >= search_from + LOOKAHEAD {
            match encoder.chunk_boundary(buf, search_from.min(avail)) {
                Some(p) if p > 0 && p < avail && (complete || p + LOOKAHEAD <= avail) => return Ok(p),
                _ if complete => return Ok(avail),
                // No trustworthy boundary yet: everything before
                // `avail - LOOKAHEAD` was judged with full context.
                _ => search_from = search_from.max(avail - LOOKAHEAD),
            }
        }
        // Read what the next search needs, and at least 256 KiB so that a
        // long stretch without a boundary costs few reads.
        let need = (search_from + LOOKAHEAD).saturating_sub(avail).max(256 << 10);
        let want = (need as u64).min(end - d.chunk_start - avail as u64);
        use std::io::Read;
        let old = buf.len();
        buf.resize(old + want as usize, 0);
        if let Err(e) = d.file.read_exact(&mut buf[old..]) {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                return Err(Error::mismatch(
                    &d.path,
                    "file size while encoding",
                    format!("{} bytes", d.parts[1].2),
                    format!("fewer (read stopped at byte {})", d.chunk_start + old as u64),
                    Some("the file changed while it was being encoded"),
                ));
            }
            return Err(Error::io(&d.path, e));
        }
    }
}

/// One split's shards and totals as they are written.
struct SplitOutput {
    dir: PathBuf,
    prefix: String,
    width: TokenWidth,
    shard_tokens: u64,
    writer: Option<ShardWriter>,
    info: SplitInfo,
    doc_hasher: blake3::Hasher,
    digests: Vec<blake3::Hash>,
    /// Set once the manifest is written; until then, dropping the output
    /// deletes its shards (an encoding that failed or was cancelled leaves
    /// no shard behind; the open one's temporary file goes with its writer).
    committed: bool,
}

impl Drop for SplitOutput {
    fn drop(&mut self) {
        if !self.committed {
            for e in &self.info.shards {
                let _ = std::fs::remove_file(self.dir.join(&e.file));
            }
        }
    }
}

impl SplitOutput {
    fn new(dir: &Path, prefix: String, width: TokenWidth, config: &EncodeConfig) -> Self {
        SplitOutput {
            dir: dir.to_path_buf(),
            prefix,
            width,
            shard_tokens: config.shard_tokens,
            writer: None,
            info: SplitInfo::default(),
            doc_hasher: blake3::Hasher::new(),
            digests: Vec::new(),
            committed: false,
        }
    }

    fn write_piece(
        &mut self,
        piece: &Piece,
        text: &[u8],
        chars: u64,
        eot: Option<TokenId>,
        tokens: &[TokenId],
    ) -> Result<()> {
        if piece.first {
            self.info.documents += 1;
            self.doc_hasher.reset();
            if let Some(eot) = eot {
                self.write_tokens(&[eot])?;
            }
        }
        self.write_tokens(tokens)?;
        self.doc_hasher.update(text);
        self.info.bytes += text.len() as u64;
        self.info.chars += chars;
        if piece.last {
            self.digests.push(self.doc_hasher.finalize());
        }
        Ok(())
    }

    fn write_tokens(&mut self, mut tokens: &[TokenId]) -> Result<()> {
        while !tokens.is_empty() {
            let w = match &mut self.writer {
                Some(w) => w,
                None => {
                    let name = format!("{}_{:06}.bin", self.prefix, self.info.shards.len());
                    self.writer.insert(ShardWriter::create(&self.dir.join(name), self.width)?)
                }
            };
            let room = (self.shard_tokens - w.count()) as usize;
            let n = room.min(tokens.len());
            w.write(&tokens[..n])?;
            self.info.tokens += n as u64;
            tokens = &tokens[n..];
            if w.count() == self.shard_tokens {
                self.close_shard()?;
            }
        }
        Ok(())
    }

    fn close_shard(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            let file = w.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let header = w.finish()?;
            self.info.shards.push(ShardEntry { file, tokens: header.count });
        }
        Ok(())
    }

    /// Closes the last shard and returns the split's entry for the
    /// manifest; a part's manifest keeps the documents' digests.
    fn finish(&mut self, keep_doc_hashes: bool) -> Result<SplitInfo> {
        self.close_shard()?;
        self.info.text_hash = manifest::combine_doc_hashes(&self.digests);
        if keep_doc_hashes {
            self.info.doc_hashes = Some(self.digests.iter().map(|d| d.to_hex().to_string()).collect());
        }
        Ok(self.info.clone())
    }

    /// The manifest is written: the shards stay.
    fn commit(&mut self) {
        self.committed = true;
    }
}
