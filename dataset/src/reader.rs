//! Opening a shard directory: manifest, memory maps, validation.
//!
//! [`ShardSet::open`] reads `manifest.json`, memory-maps every shard it
//! lists and checks each one the way llm.c's loader does (magic, version,
//! width, file size == 1024 + count x width) and against the manifest (the
//! file list, each shard's token count, the token width); shard-named files
//! that the manifest does not list are an error too, since other tools glob
//! `train_*.bin`. Every error names the file and says what was expected and
//! what was found.
//!
//! # Memory-mapping contract
//! Mapping a file is only sound while nobody modifies it in place: a shard
//! truncated or rewritten under a live map can change the tokens a batch
//! sees or kill the process with SIGBUS. Shard files must therefore never be
//! modified in place while a [`ShardSet`] is open. Our own writer keeps that
//! contract: shards are written under temporary names and *renamed* into
//! place, so re-encoding a directory that a trainer has open replaces the
//! directory entries while the open maps keep the old files alive.
//!
//! What it is not: no batching here (see [`crate::batch`]); no scan of every
//! token on open (that would read the whole dataset; `tok inspect` does it).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use tokenizer::Tokenizer;

use crate::batch::{EvalBatches, TrainBatches};
use crate::manifest::{self, MANIFEST_FILE, Manifest, describe_tokenizer};
use crate::shard::{HEADER_BYTES, ShardHeader, TokenWidth};
use crate::{Error, Result, Split, TokenId};

/// A validated, memory-mapped shard directory.
pub struct ShardSet {
    dir: PathBuf,
    manifest: Manifest,
    train: Arc<SplitData>,
    val: Arc<SplitData>,
}

/// One memory-mapped shard.
pub(crate) struct MappedShard {
    pub(crate) path: PathBuf,
    pub(crate) count: u64,
    map: Mmap,
}

/// The shards of one split, seen as one token stream.
pub(crate) struct SplitData {
    pub(crate) shards: Vec<MappedShard>,
    /// `starts[k]` is the stream index of shard `k`'s first token;
    /// `starts[shards.len()]` is the total.
    pub(crate) starts: Vec<u64>,
    pub(crate) width: TokenWidth,
    /// The vocabulary size of the manifest's tokenizer: every id is below it.
    pub(crate) vocab: u64,
    /// The directory, for error messages.
    pub(crate) dir: PathBuf,
}

impl ShardSet {
    /// Opens and validates the shard directory `dir` (module docs). Cheap:
    /// reads the manifest and each shard's header, maps the rest.
    pub fn open(dir: &Path) -> Result<ShardSet> {
        let manifest_path = dir.join(MANIFEST_FILE);
        if !manifest_path.exists() {
            let meta = std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
            if !meta.is_dir() {
                return Err(Error::corrupt(
                    dir,
                    "not a directory (expected a shard directory from `tok encode`)",
                ));
            }
            let has_parts = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .flatten()
                .any(|e| manifest::is_part_manifest_name(&e.file_name().to_string_lossy()));
            let hint = if has_parts {
                "the directory holds partial manifests of a --part encoding: run `tok merge-manifests` on it"
            } else {
                "not a shard directory, or its encoding did not finish: run `tok encode`"
            };
            return Err(Error::mismatch(
                &manifest_path,
                "manifest",
                "a manifest.json",
                "no such file",
                Some(hint),
            ));
        }
        let manifest = Manifest::load(&manifest_path)?;
        Self::with_manifest(dir, manifest)
    }

    /// Validates the shard directory `dir` against `manifest` as [`Self::open`]
    /// does, without reading `manifest.json`: `tok merge-manifests` checks
    /// the joined manifest this way before writing it. Messages name
    /// `dir/manifest.json`, the file the manifest is (or will be) saved as.
    pub fn with_manifest(dir: &Path, manifest: Manifest) -> Result<ShardSet> {
        let manifest_path = dir.join(MANIFEST_FILE);
        if let Some(p) = &manifest.part {
            return Err(Error::corrupt(
                &manifest_path,
                format!(
                    "a partial manifest (part {} of {}) under the final name; run `tok merge-manifests`",
                    p.index, p.count
                ),
            ));
        }
        if let Some(file) = &manifest.tokenizer.file
            && !dir.join(file).is_file()
        {
            return Err(Error::mismatch(
                dir.join(file),
                "the shards' tokenizer (manifest.json names it)",
                "the file",
                "no such file",
                Some("copy the tokenizer.json that was written with the shards, or re-encode"),
            ));
        }
        let train = Arc::new(open_split(dir, &manifest_path, &manifest, Split::Train)?);
        let val = Arc::new(open_split(dir, &manifest_path, &manifest, Split::Val)?);
        check_no_strays(dir, &manifest)?;
        Ok(ShardSet { dir: dir.to_path_buf(), manifest, train, val })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The vocabulary size of the shards' tokenizer (ids are below it).
    pub fn vocab_size(&self) -> usize {
        self.manifest.tokenizer.vocab_size
    }

    /// Tokens in a split.
    pub fn tokens(&self, split: Split) -> u64 {
        self.data(split).len()
    }

    /// A split's tokens, read through the maps.
    pub fn split(&self, split: Split) -> SplitTokens<'_> {
        SplitTokens { data: self.data(split) }
    }

    fn data(&self, split: Split) -> &Arc<SplitData> {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }

    /// The shards' tokenizer: the copy next to the shards, or the pretrained
    /// vocabulary the manifest names. Checked against the manifest's hash.
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        let info = &self.manifest.tokenizer;
        let (tok, path) = match &info.file {
            Some(file) => {
                let path = self.dir.join(file);
                let tok = Tokenizer::from_file(&path)
                    .map_err(|e| Error::Tokenizer { path: path.clone(), source: e })?;
                (tok, path)
            }
            // No file: a pretrained tokenizer, by name only (a name is not
            // looked up as a path in the current directory).
            None => {
                let path = self.dir.join(MANIFEST_FILE);
                let tok = tokenizer::pretrained::load(&info.name)
                    .unwrap_or_else(|| Err(tokenizer::Error::UnknownTokenizer { spec: info.name.clone() }))
                    .map_err(|e| Error::Tokenizer { path: path.clone(), source: e })?;
                (tok, path)
            }
        };
        if tok.content_hash() != info.content_hash
            || tok.vocab_size() != info.vocab_size
            || tok.kind() != info.kind
        {
            return Err(Error::mismatch(
                path,
                "tokenizer (the file next to the shards was changed?)",
                info.describe(),
                describe_tokenizer(tok.name(), tok.vocab_size(), &tok.content_hash()),
                Some("re-encode the corpus, or restore the tokenizer the shards were made with"),
            ));
        }
        Ok(tok)
    }

    /// Checks that `tokenizer` is the one the shards were encoded with
    /// (same content hash), e.g. before training or sampling with it.
    pub fn check_tokenizer(&self, tokenizer: &Tokenizer) -> Result<()> {
        self.check_tokenizer_hash(tokenizer.name(), tokenizer.vocab_size(), &tokenizer.content_hash())
    }

    /// [`ShardSet::check_tokenizer`] from a description: name (for the
    /// message), vocabulary size and content hash.
    pub fn check_tokenizer_hash(&self, name: &str, vocab_size: usize, content_hash: &str) -> Result<()> {
        let info = &self.manifest.tokenizer;
        if content_hash == info.content_hash && vocab_size == info.vocab_size {
            return Ok(());
        }
        Err(Error::TokenizerMismatch {
            path: self.dir.join(MANIFEST_FILE),
            expected: info.describe(),
            found: describe_tokenizer(name, vocab_size, content_hash),
        })
    }

    /// Random training windows over the train split (see [`TrainBatches`]).
    pub fn train_batches(&self, batch: usize, seq: usize, seed: u64) -> Result<TrainBatches> {
        TrainBatches::new(self.train.clone(), batch, seq, seed)
    }

    /// Sequential evaluation windows over a split (see [`EvalBatches`]).
    pub fn eval_batches(&self, split: Split, batch: usize, seq: usize) -> Result<EvalBatches> {
        EvalBatches::new(self.data(split).clone(), batch, seq)
    }
}

fn open_split(dir: &Path, manifest_path: &Path, m: &Manifest, split: Split) -> Result<SplitData> {
    let info = m.splits.get(split);
    let mut shards = Vec::with_capacity(info.shards.len());
    let mut starts = vec![0u64];
    for entry in &info.shards {
        if entry.file.is_empty() || entry.file.contains(['/', '\\']) || entry.file.starts_with('.') {
            return Err(Error::corrupt(
                manifest_path,
                format!("shard file name {:?} is not a plain file name in the directory", entry.file),
            ));
        }
        let path = dir.join(&entry.file);
        let shard = map_shard(&path, m.token_width, Some(entry.tokens))?;
        starts.push(starts.last().copied().unwrap_or(0) + shard.count);
        shards.push(shard);
    }
    Ok(SplitData {
        shards,
        starts,
        width: m.token_width,
        vocab: m.tokenizer.vocab_size as u64,
        dir: dir.to_path_buf(),
    })
}

/// Maps one shard and checks its header, width, size and (if given) the
/// count the manifest states.
fn map_shard(path: &Path, width: TokenWidth, expected_count: Option<u64>) -> Result<MappedShard> {
    let file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::mismatch(
                path,
                "shard listed in manifest.json",
                "the file",
                "no such file",
                Some("the directory is incomplete: copy the missing shard or re-encode"),
            )
        } else {
            Error::io(path, e)
        }
    })?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    // SAFETY: the module's memory-mapping contract: shard files are never
    // modified in place while mapped (our writer replaces them by rename).
    // Every access below goes through bounds-checked slices of `map`.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    let header = ShardHeader::parse(&map[..map.len().min(HEADER_BYTES)], path)?;
    if header.width != width {
        return Err(Error::mismatch(
            path,
            "token width (manifest.json's token_width)",
            format!("{width:?}"),
            format!("{:?} (magic {})", header.width, header.width.magic()),
            None,
        ));
    }
    if let Some(expected) = expected_count
        && expected != header.count
    {
        return Err(Error::mismatch(
            path,
            "token count in the shard header",
            format!("{expected} (as manifest.json lists it)"),
            header.count,
            Some("the shard and the manifest come from different encodings"),
        ));
    }
    header.check_file_len(len, path)?;
    #[cfg(unix)]
    {
        // Training reads random windows: tell the kernel not to read ahead.
        let _ = map.advise(memmap2::Advice::Random);
    }
    Ok(MappedShard { path: path.to_path_buf(), count: header.count, map })
}

/// Shard-named files in `dir` that the manifest does not list.
fn check_no_strays(dir: &Path, m: &Manifest) -> Result<()> {
    let listed: std::collections::HashSet<&str> = m.shard_files().collect();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if crate::encode::parse_shard_name(&name).is_some() && !listed.contains(name.as_ref()) {
            return Err(Error::corrupt(
                entry.path(),
                "a shard file that manifest.json does not list (left over from another encoding?); \
                 remove it or re-encode the directory",
            ));
        }
    }
    Ok(())
}

impl SplitData {
    pub(crate) fn len(&self) -> u64 {
        self.starts.last().copied().unwrap_or(0)
    }

    /// The shard holding stream index `i` (`i < len`).
    pub(crate) fn shard_of(&self, i: u64) -> usize {
        self.starts.partition_point(|&s| s <= i) - 1
    }

    /// Copies `out.len()` tokens of shard `k` starting at `offset`.
    #[inline]
    pub(crate) fn copy_from_shard(&self, k: usize, offset: u64, out: &mut [TokenId]) {
        let shard = &self.shards[k];
        let w = self.width.bytes();
        let start = HEADER_BYTES + offset as usize * w;
        let bytes = &shard.map[start..start + out.len() * w];
        match self.width {
            TokenWidth::U16 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = u16::from_le_bytes([b[0], b[1]]) as TokenId;
                }
            }
            TokenWidth::U32 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
        }
    }

    /// Checks that `tokens`, read from the stream starting at `start`, are
    /// ids of the vocabulary. A shard is not scanned when it is opened (that
    /// would read every shard of a large set before the first step), so
    /// every window is checked as it is read: a damaged shard, or one
    /// written with another tokenizer than its manifest names, is refused
    /// with the file and the offset instead of reaching the model.
    pub(crate) fn check_ids(&self, start: u64, tokens: &[TokenId]) -> Result<()> {
        let vocab = self.vocab;
        if tokens.iter().all(|&t| u64::from(t) < vocab) {
            return Ok(());
        }
        let i = tokens.iter().position(|&t| u64::from(t) >= vocab).unwrap_or(0);
        let pos = start + i as u64;
        let k = self.shard_of(pos);
        Err(Error::mismatch(
            &self.shards[k].path,
            format!("token {} of the shard", pos - self.starts[k]),
            format!("an id below the vocabulary size {vocab}"),
            tokens[i],
            Some("the shard is damaged, or was not written with the tokenizer its manifest names"),
        ))
    }

    /// Copies `out.len()` tokens of the stream starting at `start`, across
    /// shard ends.
    pub(crate) fn copy(&self, start: u64, out: &mut [TokenId]) {
        assert!(
            start + out.len() as u64 <= self.len(),
            "token range {start}..{} out of bounds ({} tokens)",
            start + out.len() as u64,
            self.len()
        );
        let mut pos = start;
        let mut out = out;
        while !out.is_empty() {
            let k = self.shard_of(pos);
            let offset = pos - self.starts[k];
            let n = ((self.shards[k].count - offset) as usize).min(out.len());
            let (head, tail) = out.split_at_mut(n);
            self.copy_from_shard(k, offset, head);
            pos += n as u64;
            out = tail;
        }
    }
}

/// A split's tokens as one stream over its shards.
#[derive(Clone, Copy)]
pub struct SplitTokens<'a> {
    data: &'a SplitData,
}

impl<'a> SplitTokens<'a> {
    /// Number of tokens.
    pub fn len(&self) -> u64 {
        self.data.len()
    }

    /// No tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shards: path and token count, in stream order.
    pub fn shards(&self) -> impl Iterator<Item = (&'a Path, u64)> + 'a {
        self.data.shards.iter().map(|s| (s.path.as_path(), s.count))
    }

    /// Copies `out.len()` tokens starting at stream index `start` (across
    /// shard ends).
    ///
    /// # Panics
    /// If the range passes the end of the split.
    pub fn copy_to(&self, start: u64, out: &mut [TokenId]) {
        self.data.copy(start, out)
    }

    /// Calls `f` on consecutive blocks of the stream, in order, with a
    /// block buffer reused between calls (for scans such as histograms or
    /// decoding the whole split).
    pub fn for_each_block(&self, mut f: impl FnMut(&[TokenId])) {
        let mut buf = vec![0; 1 << 16];
        let mut pos = 0;
        while pos < self.len() {
            let n = ((self.len() - pos) as usize).min(buf.len());
            self.copy_to(pos, &mut buf[..n]);
            f(&buf[..n]);
            pos += n as u64;
        }
    }

    /// All tokens in a vector (tests and small tools).
    pub fn to_vec(&self) -> Vec<TokenId> {
        let mut v = vec![0; self.len() as usize];
        self.copy_to(0, &mut v);
        v
    }
}
