//! The word-count file: the distinct pre-tokenized pieces of a corpus (or of
//! part of one) with their counts, sorted by bytes, so that any number of
//! such files merge by streaming ([`merge_counts`]) in memory bounded by the
//! number of files, not by their size.
//!
//! `tok count --part i/N` writes one per part (the map step), `tok count
//! --merge` joins them (the reduce step), and `tok train --counts` learns from
//! the result; `tok train --max-memory` writes the same format for its sorted
//! runs. Learning depends only on the (piece, count) pairs, so a vocabulary
//! learned from merged counts is byte-identical to one learned from the
//! whole corpus, however it was split.
//!
//! # Format, version 1
//!
//! All integers are little-endian; `varint` is unsigned LEB128 (7 bits per
//! byte, low bits first, at most 10 bytes).
//!
//! | field | size | meaning |
//! |---|---|---|
//! | magic | 8 | `TOKCOUNT` |
//! | version | u32 | 1 |
//! | flags | u32 | 0 (reserved; a reader refuses other values) |
//! | pieces | u64 | pieces counted, with repetition: the sum of all counts |
//! | bytes fed | u64 | bytes of text the counts come from |
//! | pattern length | u8 | 1 to 32 |
//! | pattern | n | the pre-tokenizer's name (`gpt4`, `gpt4o`, `gpt2`, `none`) |
//! | entries | | per distinct piece: `varint len` (>= 1), `len` bytes, `varint count` (>= 1) |
//! | end | 1 | `0` (a length of zero: pieces are never empty) |
//! | distinct | u64 | number of entries |
//! | checksum | 32 | BLAKE3 of every byte before it |
//!
//! Entries are in strictly increasing bytewise order of their piece (as
//! `[u8]` compares: `a` < `ab` < `b`), each piece once. A reader checks
//! everything: magic, version, flags, the pattern name, the order, that no
//! count is zero, that the counts sum to `pieces`, the entry count, the
//! checksum, and that nothing follows it. Any failure is
//! [`Error::BadCounts`] naming the file; a reader reports a corrupt entry as
//! it reaches it, and a damaged byte anywhere at the latest at the checksum,
//! before the caller has committed anything.
//!
//! What it is not: a random-access index (it is read front to back), nor
//! compressed (a piece's bytes are stored as they are; counts are varints).

use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use super::Observer;
use crate::{Error, Pattern, Result};

/// The first 8 bytes of every word-count file.
pub const MAGIC: [u8; 8] = *b"TOKCOUNT";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;
/// Bytes of the header before the pattern name.
const FIXED_HEADER: usize = 8 + 4 + 4 + 8 + 8;
/// Bytes after the end marker: the entry count and the checksum.
const TRAILER: usize = 8 + 32;
/// Longest pattern name a file may carry.
const MAX_PATTERN_NAME: usize = 32;
/// I/O buffer size of readers and writers.
const BUF: usize = 1 << 16;
/// A merge polls the observer for cancellation every this many entries.
const POLL_ENTRIES: u64 = 1 << 16;

/// What a word-count file says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountsHeader {
    /// The pre-tokenizer the pieces were cut with.
    pub pattern: Pattern,
    /// Pieces counted, with repetition (the sum of the counts).
    pub pieces: u64,
    /// Bytes of text counted.
    pub bytes_fed: u64,
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), source }
}

// ------------------------------------------------------------------ writing

/// Writes a word-count file entry by entry (the caller supplies the pieces
/// in increasing order). I/O errors are `io::Error`s for the caller to wrap
/// with the path; a piece out of order, an empty piece, a zero count or
/// counts that do not sum to the header's `pieces` are `InvalidInput`
/// errors (bugs in the caller, never a reason to write a bad file).
pub struct CountsWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    hasher: blake3::Hasher,
    header: CountsHeader,
    last: Vec<u8>,
    distinct: u64,
    sum: u64,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

impl<W: Write> CountsWriter<W> {
    /// Starts a file with `header`.
    pub fn new(out: W, header: CountsHeader) -> io::Result<CountsWriter<W>> {
        let mut w = CountsWriter {
            out,
            buf: Vec::with_capacity(BUF + 64),
            hasher: blake3::Hasher::new(),
            header,
            last: Vec::new(),
            distinct: 0,
            sum: 0,
        };
        w.buf.extend_from_slice(&MAGIC);
        w.buf.extend_from_slice(&VERSION.to_le_bytes());
        w.buf.extend_from_slice(&0u32.to_le_bytes());
        w.buf.extend_from_slice(&header.pieces.to_le_bytes());
        w.buf.extend_from_slice(&header.bytes_fed.to_le_bytes());
        let name = header.pattern.name().as_bytes();
        w.buf.push(name.len() as u8);
        w.buf.extend_from_slice(name);
        Ok(w)
    }

    fn spill(&mut self) -> io::Result<()> {
        self.hasher.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Appends one entry: `piece` must sort after the previous one.
    pub fn push(&mut self, piece: &[u8], count: u64) -> io::Result<()> {
        if piece.is_empty() || count == 0 {
            return Err(invalid(format!("empty piece or zero count ({} bytes, count {count})", piece.len())));
        }
        if self.distinct > 0 && piece <= self.last.as_slice() {
            return Err(invalid("pieces out of order".into()));
        }
        self.sum =
            self.sum.checked_add(count).ok_or_else(|| invalid("the counts overflow 64 bits".into()))?;
        self.last.clear();
        self.last.extend_from_slice(piece);
        self.distinct += 1;
        put_varint(&mut self.buf, piece.len() as u64);
        if piece.len() > BUF {
            self.spill()?;
            self.hasher.update(piece);
            self.out.write_all(piece)?;
        } else {
            self.buf.extend_from_slice(piece);
        }
        put_varint(&mut self.buf, count);
        if self.buf.len() >= BUF {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes the end marker, the entry count and the checksum, and returns
    /// the output (not flushed to disk: commit it).
    pub fn finish(mut self) -> io::Result<W> {
        if self.sum != self.header.pieces {
            return Err(invalid(format!(
                "the counts sum to {} but the header says {} pieces",
                self.sum, self.header.pieces
            )));
        }
        self.buf.push(0);
        self.buf.extend_from_slice(&self.distinct.to_le_bytes());
        self.spill()?;
        let hash = self.hasher.finalize();
        self.out.write_all(hash.as_bytes())?;
        Ok(self.out)
    }
}

/// Writes `entries` (increasing order) to `path` atomically: a failure or a
/// cancellation (the observer's `poll`, asked every 65,536 entries) leaves
/// no file. Errors name the file.
pub fn write_counts<'a>(
    path: &Path,
    header: CountsHeader,
    entries: impl IntoIterator<Item = (&'a [u8], u64)>,
    observer: &mut dyn Observer,
) -> Result<()> {
    let mut file = atomicfile::AtomicFile::create(path).map_err(|e| io_error(path, e))?;
    let mut w = CountsWriter::new(&mut file, header).map_err(|e| io_error(path, e))?;
    for (i, (piece, count)) in entries.into_iter().enumerate() {
        w.push(piece, count).map_err(|e| io_error(path, e))?;
        if i as u64 % POLL_ENTRIES == POLL_ENTRIES - 1 && observer.poll().is_break() {
            return Err(Error::Cancelled);
        }
    }
    w.finish().map_err(|e| io_error(path, e))?;
    file.commit().map_err(|e| io_error(path, e))
}

// ------------------------------------------------------------------ reading

/// Reads a word-count file front to back, checking it as it goes (see the
/// module docs). Every error names the file.
pub struct CountsReader<R: Read> {
    inner: R,
    origin: PathBuf,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// `buf[..hashed]` has been fed to the hasher.
    hashed: usize,
    hasher: blake3::Hasher,
    /// Bytes consumed before `buf[0]`.
    offset: u64,
    header: CountsHeader,
    distinct_hint: Option<u64>,
    /// The current entry's piece and the one before it.
    piece: Vec<u8>,
    prev: Vec<u8>,
    distinct: u64,
    sum: u64,
    done: bool,
}

impl CountsReader<File> {
    /// Opens `path` and checks its header. Also reads its entry count from
    /// the trailer, unchecked until the end, as [`CountsReader::distinct_hint`].
    pub fn open(path: &Path) -> Result<CountsReader<File>> {
        let mut file = File::open(path).map_err(|e| io_error(path, e))?;
        let len = file.metadata().map_err(|e| io_error(path, e))?.len();
        if path.is_dir() {
            return Err(bad(path, "is a directory, expected a word-count file".into()));
        }
        let mut hint = None;
        if len >= (FIXED_HEADER + 2 + TRAILER) as u64 {
            let mut b = [0u8; 8];
            file.seek(SeekFrom::Start(len - TRAILER as u64))
                .and_then(|_| file.read_exact(&mut b))
                .and_then(|_| file.seek(SeekFrom::Start(0)))
                .map_err(|e| io_error(path, e))?;
            // Each entry takes at least 3 bytes: a hint above that is damage,
            // and must not size an allocation.
            hint = Some(u64::from_le_bytes(b)).filter(|&d| d <= len / 3);
        }
        let mut r = CountsReader::new(file, path)?;
        r.distinct_hint = hint;
        Ok(r)
    }
}

fn bad(path: &Path, reason: String) -> Error {
    Error::BadCounts { path: path.to_path_buf(), reason }
}

impl<R: Read> CountsReader<R> {
    /// Reads and checks the header from `inner`; `origin` names it in errors.
    pub fn new(inner: R, origin: &Path) -> Result<CountsReader<R>> {
        let mut r = CountsReader {
            inner,
            origin: origin.to_path_buf(),
            buf: vec![0u8; BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
            hashed: 0,
            hasher: blake3::Hasher::new(),
            offset: 0,
            header: CountsHeader { pattern: Pattern::None, pieces: 0, bytes_fed: 0 },
            distinct_hint: None,
            piece: Vec::new(),
            prev: Vec::new(),
            distinct: 0,
            sum: 0,
            done: false,
        };
        let mut fixed = [0u8; FIXED_HEADER];
        if let Err(e) = r.read_exact(&mut fixed) {
            return Err(match e {
                Error::BadCounts { .. } => {
                    r.bad(format!("not a word-count file (shorter than the {FIXED_HEADER}-byte header)"))
                }
                e => e,
            });
        }
        if fixed[..8] != MAGIC {
            // Printable ASCII as text, anything else as hex: a shard's
            // header read as "\"��4\u{1}\u{1}\0\0\0\"".
            let found = &fixed[..8];
            let shown = if found.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
                format!("{:?}", String::from_utf8_lossy(found))
            } else {
                found.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
            };
            return Err(r.bad(format!(
                "not a word-count file (magic {shown}, expected {:?}; hint: pass files written by `tok count`)",
                String::from_utf8_lossy(&MAGIC)
            )));
        }
        let u32_at = |i: usize| u32::from_le_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&fixed[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let version = u32_at(8);
        if version != VERSION {
            return Err(r.bad(format!("format version {version}, this build reads version {VERSION}")));
        }
        let flags = u32_at(12);
        if flags != 0 {
            return Err(r.bad(format!("unknown flags {flags:#x} in the header")));
        }
        let (pieces, bytes_fed) = (u64_at(16), u64_at(24));
        let n = usize::from(r.byte()?);
        if n == 0 || n > MAX_PATTERN_NAME {
            return Err(r.bad(format!("bad pattern name length {n}")));
        }
        let mut name = vec![0u8; n];
        r.read_exact(&mut name)?;
        let pattern = std::str::from_utf8(&name).ok().and_then(Pattern::from_name).ok_or_else(|| {
            r.bad(format!("unknown pattern {:?} in the header", String::from_utf8_lossy(&name)))
        })?;
        r.header = CountsHeader { pattern, pieces, bytes_fed };
        Ok(r)
    }

    /// The header.
    pub fn header(&self) -> CountsHeader {
        self.header
    }

    /// The file's own entry count, read from its trailer when opened with
    /// [`CountsReader::open`] (unverified until the end: use it to size
    /// tables, not to trust).
    pub fn distinct_hint(&self) -> Option<u64> {
        self.distinct_hint
    }

    /// The file, for messages.
    pub fn path(&self) -> &Path {
        &self.origin
    }

    fn bad(&self, reason: String) -> Error {
        bad(&self.origin, reason)
    }

    fn at(&self) -> u64 {
        self.offset + self.pos as u64
    }

    /// Refills the buffer; false at the end of the input.
    fn fill(&mut self) -> Result<bool> {
        self.hasher.update(&self.buf[self.hashed..self.end]);
        self.offset += self.end as u64;
        self.pos = 0;
        self.end = 0;
        self.hashed = 0;
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => {
                    self.end = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(&self.origin, e)),
            }
        }
    }

    fn truncated(&self) -> Error {
        self.bad(format!(
            "truncated at byte {} (hint: the file was cut short; rerun the command that wrote it)",
            self.at()
        ))
    }

    fn byte(&mut self) -> Result<u8> {
        if self.pos == self.end && !self.fill()? {
            return Err(self.truncated());
        }
        self.pos += 1;
        Ok(self.buf[self.pos - 1])
    }

    fn read_exact(&mut self, out: &mut [u8]) -> Result<()> {
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.end && !self.fill()? {
                return Err(self.truncated());
            }
            let n = (self.end - self.pos).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            done += n;
        }
        Ok(())
    }

    fn varint(&mut self) -> Result<u64> {
        let start = self.at();
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                break;
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.bad(format!("corrupt: a number at byte {start} overflows 64 bits")))
    }

    /// The next entry, or `None` after the last one (the trailer and the
    /// checksum have then been checked).
    pub fn next_entry(&mut self) -> Result<Option<(&[u8], u64)>> {
        if self.done {
            return Ok(None);
        }
        let at = self.at();
        let len = self.varint()?;
        if len == 0 {
            self.finish()?;
            return Ok(None);
        }
        // Read the piece in buffer-sized steps: a damaged length allocates
        // no more than the bytes that are really there.
        std::mem::swap(&mut self.piece, &mut self.prev);
        self.piece.clear();
        let mut left = len;
        while left > 0 {
            if self.pos == self.end && !self.fill()? {
                return Err(self.truncated());
            }
            let n = ((self.end - self.pos) as u64).min(left) as usize;
            self.piece.extend_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            left -= n as u64;
        }
        let count = self.varint()?;
        if count == 0 {
            return Err(self.bad(format!("corrupt: the entry at byte {at} has a count of zero")));
        }
        if self.distinct > 0 && self.piece.as_slice().cmp(self.prev.as_slice()) != Ordering::Greater {
            return Err(self.bad(format!(
                "corrupt: the entry at byte {at} is not in increasing order (hint: the pieces must \
                 be sorted and distinct, as `tok count` writes them)"
            )));
        }
        self.sum = self
            .sum
            .checked_add(count)
            .ok_or_else(|| bad(&self.origin, format!("corrupt: the counts overflow 64 bits at byte {at}")))?;
        self.distinct += 1;
        Ok(Some((&self.piece, count)))
    }
}

impl<R: Read> CountsReader<R> {
    /// Checks the trailer after the end marker: the entry count, the sum of
    /// the counts, the checksum, and that nothing follows.
    fn finish(&mut self) -> Result<()> {
        let mut d = [0u8; 8];
        self.read_exact(&mut d)?;
        let distinct = u64::from_le_bytes(d);
        // Everything before the checksum is hashed; the checksum itself is not.
        self.hasher.update(&self.buf[self.hashed..self.pos]);
        self.hashed = self.pos;
        let computed = self.hasher.finalize();
        let mut stored = [0u8; 32];
        self.read_exact(&mut stored)?;
        self.hashed = self.pos;
        if computed.as_bytes() != &stored {
            return Err(self.bad(
                "checksum mismatch: the file is corrupt (hint: rerun the command that wrote it)".into(),
            ));
        }
        if distinct != self.distinct {
            return Err(self.bad(format!(
                "corrupt: the trailer says {distinct} entries, the file holds {}",
                self.distinct
            )));
        }
        if self.sum != self.header.pieces {
            return Err(self.bad(format!(
                "corrupt: the counts sum to {} but the header says {} pieces",
                self.sum, self.header.pieces
            )));
        }
        let at = self.at();
        if self.pos < self.end || self.fill()? {
            return Err(self.bad(format!("trailing bytes after the checksum at byte {at}")));
        }
        self.done = true;
        Ok(())
    }

    /// Reads the remaining entries, calling `f` with each; checks the end.
    pub fn for_each(&mut self, mut f: impl FnMut(&[u8], u64) -> Result<()>) -> Result<()> {
        while let Some((piece, count)) = self.next_entry()? {
            f(piece, count)?;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ merging

/// Merges sorted word-count sources into one sorted stream: equal pieces
/// have their counts added, and pieces whose total is below `min_frequency`
/// are left out (0 and 1 keep everything). Calls `sink` once per distinct
/// piece, in increasing order, and returns the header of the merged counts
/// (`pieces` = the sum of the counts given to `sink`).
///
/// Memory: one piece per source (a k-way merge over a heap of the sources'
/// current pieces), whatever the sizes. Every source is read to its end and
/// checked (a corrupt source fails the merge, naming its file).
///
/// Errors: [`Error::BadCounts`] for a corrupt source or for sources cut with
/// different patterns (naming the first file that differs from the first),
/// [`Error::Config`] for no sources or counts that overflow 64 bits,
/// [`Error::Cancelled`] when the observer's `poll` breaks.
pub fn merge_counts<R: Read>(
    sources: &mut [CountsReader<R>],
    min_frequency: u64,
    observer: &mut dyn Observer,
    mut sink: impl FnMut(&[u8], u64) -> Result<()>,
) -> Result<CountsHeader> {
    let first = sources.first().ok_or_else(|| Error::Config("no word-count files to merge".into()))?;
    let pattern = first.header().pattern;
    let first_path = first.path().to_path_buf();
    let mut bytes_fed = 0u64;
    for s in sources.iter() {
        let h = s.header();
        if h.pattern != pattern {
            return Err(s.bad(format!(
                "pieces cut with pattern {}, but {} was cut with {} (hint: count every part with the \
                 same --pattern)",
                h.pattern.name(),
                first_path.display(),
                pattern.name()
            )));
        }
        bytes_fed = bytes_fed.saturating_add(h.bytes_fed);
    }
    // The current entry of each source (`None` once it is exhausted) and a
    // min-heap of the live sources, ordered by that entry's piece.
    let mut cur: Vec<Option<(Vec<u8>, u64)>> = Vec::with_capacity(sources.len());
    for s in sources.iter_mut() {
        cur.push(s.next_entry()?.map(|(p, c)| (p.to_vec(), c)));
    }
    let mut heap: Vec<usize> = (0..sources.len()).filter(|&i| cur[i].is_some()).collect();
    for i in (0..heap.len() / 2).rev() {
        sift_down(&mut heap, i, |a, b| less(&cur, a, b));
    }
    let mut piece: Vec<u8> = Vec::new();
    let mut pieces = 0u64;
    let mut merged = 0u64;
    while let Some(&top) = heap.first() {
        let Some((p, _)) = &cur[top] else { break };
        piece.clear();
        piece.extend_from_slice(p);
        let mut count = 0u64;
        // Take every source whose current piece equals `piece`.
        while let Some(&top) = heap.first() {
            let (same, c) = match &cur[top] {
                Some((p, c)) if *p == piece => (true, *c),
                _ => (false, 0),
            };
            if !same {
                break;
            }
            count =
                count.checked_add(c).ok_or_else(|| Error::Config("merged counts overflow 64 bits".into()))?;
            match sources[top].next_entry()? {
                Some((p, c)) => {
                    if let Some((buf, n)) = &mut cur[top] {
                        buf.clear();
                        buf.extend_from_slice(p);
                        *n = c;
                    }
                }
                None => {
                    cur[top] = None;
                    let last = heap.len() - 1;
                    heap.swap(0, last);
                    heap.pop();
                }
            }
            sift_down(&mut heap, 0, |a, b| less(&cur, a, b));
        }
        if count >= min_frequency.max(1) {
            pieces += count;
            sink(&piece, count)?;
        }
        merged += 1;
        if merged.is_multiple_of(POLL_ENTRIES) && observer.poll().is_break() {
            return Err(Error::Cancelled);
        }
    }
    if let ControlFlow::Break(()) = observer.poll() {
        return Err(Error::Cancelled);
    }
    Ok(CountsHeader { pattern, pieces, bytes_fed })
}

/// The merge heap's order: source `a`'s current piece sorts before `b`'s
/// (an exhausted source sorts last).
fn less(cur: &[Option<(Vec<u8>, u64)>], a: usize, b: usize) -> bool {
    match (&cur[a], &cur[b]) {
        (Some((x, _)), Some((y, _))) => x < y,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Restores the heap order below `i` (`less` is the heap's order).
fn sift_down(heap: &mut [usize], mut i: usize, less: impl Fn(usize, usize) -> bool) {
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut m = i;
        if l < heap.len() && less(heap[l], heap[m]) {
            m = l;
        }
        if r < heap.len() && less(heap[r], heap[m]) {
            m = r;
        }
        if m == i {
            return;
        }
        heap.swap(i, m);
        i = m;
    }
}

/// Merges the word-count files `inputs` into `output` (atomically), keeping
/// every piece: the reduce step of `tok count --merge`. Returns the header
/// written. Errors as [`merge_counts`]; the output names itself.
pub fn merge_count_files(
    inputs: &[PathBuf],
    output: &Path,
    observer: &mut dyn Observer,
) -> Result<CountsHeader> {
    let mut sources = inputs.iter().map(|p| CountsReader::open(p)).collect::<Result<Vec<_>>>()?;
    let mut pieces = 0u64;
    for s in &sources {
        pieces = pieces
            .checked_add(s.header().pieces)
            .ok_or_else(|| Error::Config("merged counts overflow 64 bits".into()))?;
    }
    let pattern = sources.first().map_or(Pattern::None, |s| s.header().pattern);
    let bytes_fed = sources.iter().fold(0u64, |a, s| a.saturating_add(s.header().bytes_fed));
    let mut file = atomicfile::AtomicFile::create(output).map_err(|e| io_error(output, e))?;
    let mut w = CountsWriter::new(&mut file, CountsHeader { pattern, pieces, bytes_fed })
        .map_err(|e| io_error(output, e))?;
    let header =
        merge_counts(&mut sources, 0, observer, |p, c| w.push(p, c).map_err(|e| io_error(output, e)))?;
    w.finish().map_err(|e| io_error(output, e))?;
    file.commit().map_err(|e| io_error(output, e))?;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{Silent, WordCounter};

    fn counter(docs: &[&[u8]]) -> WordCounter {
        let mut w = WordCounter::new(Pattern::Gpt4);
        w.feed_many(docs);
        w
    }

    fn entries(w: &WordCounter) -> Entries {
        w.sorted().into_iter().map(|(p, c)| (p.to_vec(), c)).collect()
    }

    type Entries = Vec<(Vec<u8>, u64)>;

    fn read_all(path: &Path) -> Result<(CountsHeader, Entries)> {
        let mut r = CountsReader::open(path)?;
        let mut v = Vec::new();
        r.for_each(|p, c| {
            v.push((p.to_vec(), c));
            Ok(())
        })?;
        Ok((r.header(), v))
    }

    const LONG: &[u8] =
        b"a piece longer than fifteen bytes: supercalifragilisticexpialidocious, and \0\xff bytes";

    #[test]
    fn round_trip_keeps_every_entry_and_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let w = counter(&[b"the cat the hat\n\n  x", LONG, b"", b"\xff\xfe the"]);
        let path = dir.path().join("c.bin");
        w.write_counts(&path, &mut Silent).unwrap();
        let (h, v) = read_all(&path).unwrap();
        assert_eq!(h, w.header());
        assert_eq!(v, entries(&w));
        let back = WordCounter::read_counts(&path, &mut Silent).unwrap();
        assert_eq!(entries(&back), entries(&w));
        assert_eq!((back.pieces(), back.bytes_fed()), (w.pieces(), w.bytes_fed()));
        // Empty counts are a valid file too.
        let empty = WordCounter::new(Pattern::Gpt2);
        empty.write_counts(&path, &mut Silent).unwrap();
        assert_eq!(read_all(&path).unwrap(), (empty.header(), vec![]));
    }

    #[test]
    fn merged_parts_equal_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        let docs: [&[u8]; 5] = [b"one two three two", LONG, b"three three four", b"", b"one\n\ttwo"];
        let whole = counter(&docs);
        let mut paths = Vec::new();
        for (i, chunk) in [&docs[..2], &docs[2..3], &docs[3..]].iter().enumerate() {
            let p = dir.path().join(format!("p{i}.bin"));
            counter(chunk).write_counts(&p, &mut Silent).unwrap();
            paths.push(p);
        }
        let out = dir.path().join("merged.bin");
        let h = merge_count_files(&paths, &out, &mut Silent).unwrap();
        assert_eq!(h, whole.header());
        assert_eq!(read_all(&out).unwrap(), (whole.header(), entries(&whole)));
        // With a minimum count.
        let mut sources = paths.iter().map(|p| CountsReader::open(p).unwrap()).collect::<Vec<_>>();
        let mut kept = Vec::new();
        let h = merge_counts(&mut sources, 2, &mut Silent, |p, c| {
            kept.push((p.to_vec(), c));
            Ok(())
        })
        .unwrap();
        let mut pruned = whole;
        pruned.retain_min_count(2);
        assert_eq!(kept, entries(&pruned));
        assert_eq!(h.pieces, pruned.pieces());
    }

    #[test]
    fn damaged_files_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.bin");
        counter(&[b"the cat sat on the mat", LONG]).write_counts(&good, &mut Silent).unwrap();
        let bytes = std::fs::read(&good).unwrap();
        let bad = dir.path().join("bad.bin");
        let check = |b: &[u8], needle: &str| {
            std::fs::write(&bad, b).unwrap();
            let err = read_all(&bad).unwrap_err().to_string();
            assert!(err.starts_with(&bad.display().to_string()), "{err}");
            assert!(err.contains(needle), "{needle:?} not in {err}");
        };
        check(b"", "not a word-count file");
        check(b"TOKCOUNX\x01\0\0\0\0\0\0\0", "not a word-count file");
        let mut b = bytes.clone();
        b[7] = b'X';
        check(&b, "not a word-count file (magic \"TOKCOUNX\"");
        // A shard's header (llm.c magic 20240520, version 1) shows as hex.
        let mut shard = 20240520i32.to_le_bytes().to_vec();
        shard.extend_from_slice(&[1, 0, 0, 0]);
        shard.resize(64, 0);
        check(&shard, "not a word-count file (magic 88 d8 34 01 01 00 00 00, expected \"TOKCOUNT\"");
        let mut b = bytes.clone();
        b[0] = b'X';
        check(&b, "magic");
        let mut b = bytes.clone();
        b[8] = 9;
        check(&b, "version 9");
        for cut in [FIXED_HEADER + 3, bytes.len() / 2, bytes.len() - 1] {
            check(&bytes[..cut], "truncated");
        }
        // A flipped byte in an entry's bytes: only the checksum can tell.
        let mut b = bytes.clone();
        let at = FIXED_HEADER + 1 + 4 + 2;
        b[at] ^= 0x01;
        std::fs::write(&bad, &b).unwrap();
        assert!(read_all(&bad).is_err());
        let mut b = bytes.clone();
        b.push(0);
        check(&b, "trailing bytes");
        let mut b = bytes.clone();
        let n = b.len();
        b[n - 1] ^= 0x80;
        check(&b, "checksum mismatch");
        // Patterns may not be mixed.
        let other = dir.path().join("other.bin");
        let mut w = WordCounter::new(Pattern::Gpt2);
        w.feed(b"x y");
        w.write_counts(&other, &mut Silent).unwrap();
        let out = dir.path().join("out.bin");
        let err =
            merge_count_files(&[good.clone(), other.clone()], &out, &mut Silent).unwrap_err().to_string();
        assert!(err.starts_with(&other.display().to_string()) && err.contains("pattern gpt2"), "{err}");
        assert!(!out.exists());
    }

    #[test]
    fn writer_refuses_bad_entries() {
        let h = CountsHeader { pattern: Pattern::Gpt4, pieces: 3, bytes_fed: 3 };
        let mut w = CountsWriter::new(Vec::new(), h).unwrap();
        w.push(b"b", 1).unwrap();
        assert!(w.push(b"a", 1).is_err());
        assert!(w.push(b"b", 1).is_err());
        assert!(w.push(b"", 1).is_err());
        assert!(w.push(b"c", 0).is_err());
        w.push(b"c", 1).unwrap();
        assert!(w.finish().is_err(), "sum 2 is not the header's 3");
    }
}
