//! The llm.c shard format: a 1024-byte header of 256 little-endian i32
//! (`[0]` magic, `[1]` version, `[2]` token count, rest zero), then the tokens.
//! Magic 20240520 + version 1: u16 tokens; magic 20240801 + version 7: u32.
//!
//! This is the layout of llm.c's `dev/data/data_common.py::write_datafile`,
//! which llm.c's C loader, its `train_gpt2.py`/`train_llama3.py` and
//! modded-nanogpt read, and which numpy reads with
//! `np.fromfile(path, dtype=np.uint16, offset=1024)`. One [`ShardHeader`]
//! type serves the writer ([`ShardWriter`]) and every reader, so the two can
//! never disagree.
//!
//! What it is not: it knows nothing of manifests, splits or tokenizers; the
//! token width is chosen by the caller ([`TokenWidth::for_vocab`]).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result, TokenId};
use atomicfile::AtomicFile;

/// Size of the header in bytes (256 little-endian i32).
pub const HEADER_BYTES: usize = 1024;
const HEADER_INTS: usize = HEADER_BYTES / 4;

/// The largest token count a shard can hold: the header stores it as an i32
/// (llm.c's writer asserts `len(toks) < 2**31`).
pub const MAX_TOKENS: u64 = i32::MAX as u64;

/// How tokens are stored on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenWidth {
    /// u16 tokens: llm.c's "gpt-2" format (magic 20240520, version 1).
    U16,
    /// u32 tokens: llm.c's "llama-3" format (magic 20240801, version 7).
    U32,
}

impl TokenWidth {
    /// The narrowest width that holds every id of a vocabulary of
    /// `vocab_size` ids (`0..vocab_size`): u16 up to 65,536 ids.
    pub fn for_vocab(vocab_size: usize) -> TokenWidth {
        if vocab_size <= 1 << 16 { TokenWidth::U16 } else { TokenWidth::U32 }
    }

    /// Bytes per token.
    pub const fn bytes(self) -> usize {
        match self {
            TokenWidth::U16 => 2,
            TokenWidth::U32 => 4,
        }
    }

    /// The header magic.
    pub const fn magic(self) -> i32 {
        match self {
            TokenWidth::U16 => 20240520,
            TokenWidth::U32 => 20240801,
        }
    }

    /// The header version.
    pub const fn version(self) -> i32 {
        match self {
            TokenWidth::U16 => 1,
            TokenWidth::U32 => 7,
        }
    }

    /// The numpy dtype name of a token (`uint16` or `uint32`).
    pub const fn numpy_dtype(self) -> &'static str {
        match self {
            TokenWidth::U16 => "uint16",
            TokenWidth::U32 => "uint32",
        }
    }

    /// One more than the largest id this width stores.
    pub const fn id_limit(self) -> u64 {
        match self {
            TokenWidth::U16 => 1 << 16,
            TokenWidth::U32 => 1 << 32,
        }
    }

    fn from_magic(magic: i32) -> Option<TokenWidth> {
        [TokenWidth::U16, TokenWidth::U32].into_iter().find(|w| w.magic() == magic)
    }
}

/// The header of one shard: token width (magic and version) and token count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardHeader {
    /// Token width, which fixes magic and version.
    pub width: TokenWidth,
    /// Number of tokens after the header; at most [`MAX_TOKENS`].
    pub count: u64,
}

impl ShardHeader {
    /// The 1024 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_BYTES] {
        debug_assert!(self.count <= MAX_TOKENS);
        let mut out = [0u8; HEADER_BYTES];
        let ints = [self.width.magic(), self.width.version(), self.count as i32];
        for (slot, v) in out.chunks_exact_mut(4).zip(ints) {
            slot.copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Parses and validates a header read from `path`: magic, version, a
    /// non-negative count and zeros in the reserved ints. `bytes` may be
    /// shorter than [`HEADER_BYTES`] (a truncated file), which is an error.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<ShardHeader> {
        if bytes.len() < HEADER_BYTES {
            return Err(Error::mismatch(
                path,
                "file too short for the shard header",
                format!("at least {HEADER_BYTES} bytes"),
                format!("{} bytes", bytes.len()),
                Some("the file is truncated or is not a token shard"),
            ));
        }
        let int = |i: usize| {
            let b = &bytes[4 * i..4 * i + 4];
            i32::from_le_bytes([b[0], b[1], b[2], b[3]])
        };
        let magic = int(0);
        let Some(width) = TokenWidth::from_magic(magic) else {
            let hint = if TokenWidth::from_magic(magic.swap_bytes()).is_some() {
                "the header was written big-endian; llm.c shards are little-endian"
            } else {
                "not an llm.c token shard: the first 4 bytes hold the magic number"
            };
            return Err(Error::mismatch(
                path,
                "bad magic number in the shard header",
                format!(
                    "{} (u16 tokens) or {} (u32 tokens)",
                    TokenWidth::U16.magic(),
                    TokenWidth::U32.magic()
                ),
                magic,
                Some(hint),
            ));
        };
        let version = int(1);
        if version != width.version() {
            return Err(Error::mismatch(
                path,
                format!("unsupported shard version for magic {magic}"),
                width.version(),
                version,
                Some("llm.c uses version 1 with u16 tokens (magic 20240520) and 7 with u32 (magic 20240801)"),
            ));
        }
        let count = int(2);
        if count < 0 {
            return Err(Error::mismatch(
                path,
                "token count in the shard header",
                "a count >= 0",
                count,
                None,
            ));
        }
        if let Some(i) = (3..HEADER_INTS).find(|&i| int(i) != 0) {
            return Err(Error::mismatch(
                path,
                format!("reserved header int [{i}]"),
                0,
                int(i),
                Some("ints 3..256 of an llm.c token shard header are zero"),
            ));
        }
        Ok(ShardHeader { width, count: count as u64 })
    }

    /// The exact size of a shard with this header: header plus tokens.
    pub fn file_len(&self) -> u64 {
        HEADER_BYTES as u64 + self.count * self.width.bytes() as u64
    }

    /// Checks that a file of `found` bytes at `path` holds exactly this
    /// header's tokens (llm.c's "file size is not as expected" check).
    pub fn check_file_len(&self, found: u64, path: &Path) -> Result<()> {
        let expected = self.file_len();
        if found == expected {
            return Ok(());
        }
        let hint = if found < expected {
            "the shard is truncated, e.g. by an interrupted copy"
        } else {
            "the shard has bytes after its last token"
        };
        Err(Error::mismatch(
            path,
            "shard file size",
            format!(
                "{HEADER_BYTES} + {} tokens x {} bytes = {expected} bytes",
                self.count,
                self.width.bytes()
            ),
            format!("{found} bytes"),
            Some(hint),
        ))
    }
}

/// Reads a whole shard into memory, validating header and size. For tools and
/// tests; training reads shards through [`crate::ShardSet`]'s memory maps.
pub fn read_shard(path: &Path) -> Result<(ShardHeader, Vec<TokenId>)> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    let header = ShardHeader::parse(&bytes, path)?;
    header.check_file_len(bytes.len() as u64, path)?;
    let body = &bytes[HEADER_BYTES..];
    let tokens = match header.width {
        TokenWidth::U16 => {
            body.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]) as TokenId).collect()
        }
        TokenWidth::U32 => {
            body.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        }
    };
    Ok((header, tokens))
}

/// Writes one shard: tokens are appended to a hidden temporary file, the
/// header is filled in by [`ShardWriter::finish`], which then renames the
/// file to its final name. Dropped without `finish`, the temporary file is
/// deleted, so no file under a shard name is ever incomplete.
pub struct ShardWriter {
    out: std::io::BufWriter<AtomicFile>,
    /// The final name (for errors).
    path: PathBuf,
    width: TokenWidth,
    count: u64,
    scratch: Vec<u8>,
}

impl ShardWriter {
    /// Starts a shard that will be named `path`.
    pub fn create(path: &Path, width: TokenWidth) -> Result<ShardWriter> {
        let file = AtomicFile::create(path).map_err(|e| Error::io(path, e))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        // A zero header for now: if the process dies before `finish`, the
        // temporary file has magic 0 and no reader takes it for a shard.
        out.write_all(&[0u8; HEADER_BYTES]).map_err(|e| Error::io(path, e))?;
        Ok(ShardWriter { out, path: path.to_path_buf(), width, count: 0, scratch: Vec::new() })
    }

    /// Tokens written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The shard's final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends tokens. Fails (naming the file) if the count would pass
    /// [`MAX_TOKENS`] or a token does not fit the width.
    pub fn write(&mut self, tokens: &[TokenId]) -> Result<()> {
        let path = &self.path;
        if self.count + tokens.len() as u64 > MAX_TOKENS {
            return Err(Error::mismatch(
                path,
                "shard token count",
                format!("at most {MAX_TOKENS} (the header stores an i32)"),
                self.count + tokens.len() as u64,
                None,
            ));
        }
        // Convert through a scratch buffer with fixed-size chunks, which the
        // compiler vectorizes (an iterator of `to_le_bytes` arrays is not).
        match self.width {
            TokenWidth::U16 => {
                let max = tokens.iter().copied().max().unwrap_or(0);
                if max > u16::MAX as u32 {
                    return Err(Error::mismatch(path, "token id in a u16 shard", "an id < 65536", max, None));
                }
                self.scratch.resize(tokens.len() * 2, 0);
                for (dst, &t) in self.scratch.chunks_exact_mut(2).zip(tokens) {
                    dst.copy_from_slice(&(t as u16).to_le_bytes());
                }
            }
            TokenWidth::U32 => {
                self.scratch.resize(tokens.len() * 4, 0);
                for (dst, &t) in self.scratch.chunks_exact_mut(4).zip(tokens) {
                    dst.copy_from_slice(&t.to_le_bytes());
                }
            }
        }
        self.out.write_all(&self.scratch).map_err(|e| Error::io(path, e))?;
        self.count += tokens.len() as u64;
        Ok(())
    }

    /// Writes the header, flushes, and renames the shard to its final name.
    pub fn finish(self) -> Result<ShardHeader> {
        let header = ShardHeader { width: self.width, count: self.count };
        let path = self.path;
        let mut file = self.out.into_inner().map_err(|e| Error::io(&path, e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(&path, e))?;
        file.write_all(&header.to_bytes()).map_err(|e| Error::io(&path, e))?;
        file.commit().map_err(|e| Error::io(&path, e))?;
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_tokens(path: &Path, width: TokenWidth, tokens: &[u32]) -> ShardHeader {
        let mut w = ShardWriter::create(path, width).unwrap();
        w.write(&tokens[..tokens.len() / 2]).unwrap();
        w.write(&tokens[tokens.len() / 2..]).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn header_layout_is_llm_c() {
        let h = ShardHeader { width: TokenWidth::U16, count: 1234 };
        let b = h.to_bytes();
        assert_eq!(&b[0..4], &20240520i32.to_le_bytes());
        assert_eq!(&b[4..8], &1i32.to_le_bytes());
        assert_eq!(&b[8..12], &1234i32.to_le_bytes());
        assert!(b[12..].iter().all(|&x| x == 0));
        let h32 = ShardHeader { width: TokenWidth::U32, count: 7 };
        let b = h32.to_bytes();
        assert_eq!(&b[0..8], &[20240801i32.to_le_bytes(), 7i32.to_le_bytes()].concat()[..]);
        assert_eq!(ShardHeader::parse(&b, Path::new("x")).unwrap(), h32);
    }

    #[test]
    fn width_follows_vocab() {
        assert_eq!(TokenWidth::for_vocab(65), TokenWidth::U16);
        assert_eq!(TokenWidth::for_vocab(65536), TokenWidth::U16);
        assert_eq!(TokenWidth::for_vocab(65537), TokenWidth::U32);
        assert_eq!(TokenWidth::for_vocab(200_019), TokenWidth::U32);
    }

    #[test]
    fn round_trip_both_widths() {
        let dir = tempfile::tempdir().unwrap();
        for (width, tokens) in [
            (TokenWidth::U16, vec![0u32, 1, 65535, 42, 7]),
            (TokenWidth::U32, vec![0u32, 200_018, 65536, u32::MAX]),
        ] {
            let path = dir.path().join(format!("s_{width:?}.bin"));
            let h = write_tokens(&path, width, &tokens);
            assert_eq!(h.count, tokens.len() as u64);
            let len = std::fs::metadata(&path).unwrap().len();
            assert_eq!(len, 1024 + tokens.len() as u64 * width.bytes() as u64);
            let (h2, back) = read_shard(&path).unwrap();
            assert_eq!(h2, h);
            assert_eq!(back, tokens);
        }
        // Nothing but the two shards: the temporary files are gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train_000000.bin");
        let mut w = ShardWriter::create(&path, TokenWidth::U16).unwrap();
        w.write(&[1, 2, 3]).unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn u16_shard_rejects_wide_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.bin");
        let mut w = ShardWriter::create(&path, TokenWidth::U16).unwrap();
        let err = w.write(&[1, 70000]).unwrap_err().to_string();
        assert!(err.contains("s.bin") && err.contains("70000"), "{err}");
    }

    fn parse_err(bytes: &[u8]) -> String {
        ShardHeader::parse(bytes, Path::new("shards/x/train_000000.bin")).unwrap_err().to_string()
    }

    #[test]
    fn bad_headers_are_named_and_explained() {
        let good = ShardHeader { width: TokenWidth::U16, count: 3 }.to_bytes();

        let err = parse_err(&good[..100]);
        assert!(err.starts_with("shards/x/train_000000.bin: file too short"), "{err}");
        assert!(err.contains("found 100 bytes"), "{err}");

        let mut b = good;
        b[0..4].copy_from_slice(&12345i32.to_le_bytes());
        let err = parse_err(&b);
        assert!(err.contains("bad magic") && err.contains("found 12345"), "{err}");
        assert!(err.contains("expected 20240520 (u16 tokens) or 20240801 (u32 tokens)"), "{err}");

        let mut b = good;
        b[0..4].copy_from_slice(&20240520i32.to_be_bytes());
        assert!(parse_err(&b).contains("big-endian"));

        let mut b = good;
        b[4..8].copy_from_slice(&7i32.to_le_bytes());
        let err = parse_err(&b);
        assert!(err.contains("version") && err.contains("expected 1, found 7"), "{err}");

        let mut b = good;
        b[8..12].copy_from_slice(&(-5i32).to_le_bytes());
        assert!(parse_err(&b).contains("found -5"));

        let mut b = good;
        b[40..44].copy_from_slice(&9i32.to_le_bytes());
        let err = parse_err(&b);
        assert!(err.contains("reserved header int [10]") && err.contains("found 9"), "{err}");
    }

    #[test]
    fn size_check_names_both_sizes() {
        let h = ShardHeader { width: TokenWidth::U32, count: 10 };
        assert!(h.check_file_len(1064, Path::new("a.bin")).is_ok());
        let err = h.check_file_len(1050, Path::new("a.bin")).unwrap_err().to_string();
        assert_eq!(
            err,
            "a.bin: shard file size: expected 1024 + 10 tokens x 4 bytes = 1064 bytes, found 1050 bytes \
             (hint: the shard is truncated, e.g. by an interrupted copy)"
        );
        let err = h.check_file_len(1070, Path::new("a.bin")).unwrap_err().to_string();
        assert!(err.contains("bytes after its last token"), "{err}");
    }

    #[test]
    fn read_shard_detects_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("val_000000.bin");
        write_tokens(&path, TokenWidth::U16, &[5; 100]);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = read_shard(&path).unwrap_err().to_string();
        assert!(err.contains("val_000000.bin") && err.contains("found 1221 bytes"), "{err}");
    }
}
