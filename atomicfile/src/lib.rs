//! Writing files so that an interrupted process never leaves a broken one.
//!
//! Every file the workspace writes goes through [`AtomicFile`]: the bytes go
//! to a hidden temporary file in the target's directory
//! (`.NAME.PID.N.tmp`), which [`AtomicFile::commit`] flushes, syncs to disk,
//! renames over the target and makes durable by syncing the directory.
//! A reader sees the old file or the new one, never a partial one. Dropped
//! without `commit` (an error, a panic, a cancellation), the temporary file
//! is deleted; a process killed outright leaves only the hidden temporary
//! file, which no reader takes for the target.
//!
//! [`replace_file`] and [`write()`] are the one-call forms; [`create_dir_all`]
//! makes an output directory.
//! [`AtomicFile::commit`] is the only place in the workspace that renames a
//! temporary file over its target. Callers wrap the `io::Error` in their own
//! error type, with the path.
//!
//! What it is not: a lock. Two processes writing the same target both
//! succeed, and the last rename wins; the temporary names (process id and a
//! per-process counter) never collide.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A file being written under a temporary name next to its target.
///
/// It is a [`Write`] and [`Seek`] over the temporary file (unbuffered: wrap
/// it in a `BufWriter` for small writes, or use [`replace_file`]).
#[derive(Debug)]
pub struct AtomicFile {
    /// The temporary file; `None` once committed.
    file: Option<File>,
    tmp: PathBuf,
    target: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file for `target`. Fails if `target` has no file
    /// name or its directory does not exist. A symbolic link is followed:
    /// the file it points to gets the new content and the link stays (as
    /// with a shell's `>`). A device, FIFO or socket is refused: the rename
    /// would replace it with a regular file (run as root, `-o /dev/null`
    /// replaced the system's /dev/null), and a reader waiting on a FIFO
    /// would get nothing.
    pub fn create(target: impl AsRef<Path>) -> io::Result<AtomicFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let target = &resolve_target(target.as_ref())?;
        let name = target
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path (no file name)"))?;
        let dir = parent_dir(target);
        let tmp = dir.join(format!(
            ".{}.{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::options().write(true).read(true).create_new(true).open(&tmp).map_err(|e| {
            // The OS says only "No such file or directory", which the caller
            // would print after the target's name: say which is missing.
            if e.kind() == io::ErrorKind::NotFound && !dir.is_dir() {
                io::Error::new(e.kind(), format!("directory {} does not exist", dir.display()))
            } else {
                e
            }
        })?;
        Ok(AtomicFile { file: Some(file), tmp, target: target.to_path_buf() })
    }

    /// The path the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file's path (for tests and messages).
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    fn file(&mut self) -> io::Result<&mut File> {
        self.file.as_mut().ok_or_else(|| io::Error::other("atomic file used after commit"))
    }

    /// Syncs the temporary file, renames it over the target and syncs the
    /// directory, so the new file survives a power cut once this returns.
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file()?;
        file.flush()?;
        file.sync_all()?;
        self.file = None;
        std::fs::rename(&self.tmp, &self.target)?;
        // Renamed: nothing is left for `Drop` to delete.
        self.tmp = PathBuf::new();
        sync_dir(parent_dir(&self.target))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file()?.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file()?.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file()?.flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file()?.seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `path` atomically with the content `write` produces through a
/// buffered writer. On error nothing is left behind and `path` is unchanged.
pub fn replace_file(
    path: impl AsRef<Path>,
    write: impl FnOnce(&mut io::BufWriter<&mut AtomicFile>) -> io::Result<()>,
) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    let mut w = io::BufWriter::with_capacity(1 << 16, &mut file);
    write(&mut w)?;
    w.flush()?;
    drop(w);
    file.commit()
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    replace_file(path, |w| w.write_all(bytes))
}

/// The path to rename onto: `target`, or the file a symbolic link there
/// points to. Errors for a link that leads nowhere and for an existing
/// target that is neither a regular file nor a directory (a directory fails
/// at the rename, with the OS's message).
fn resolve_target(target: &Path) -> io::Result<PathBuf> {
    let is_link = std::fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_symlink());
    let path = if is_link {
        std::fs::canonicalize(target).map_err(|e| {
            io::Error::new(e.kind(), format!("a symbolic link to a file that cannot be reached ({e})"))
        })?
    } else {
        target.to_path_buf()
    };
    match std::fs::metadata(&path) {
        Ok(m) if !m.is_file() && !m.is_dir() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a device, FIFO or socket); refusing to replace it with one",
        )),
        _ => Ok(path),
    }
}

/// [`std::fs::create_dir_all`] for an output directory, with a message that
/// says what is wrong when a file already holds the name (the OS says only
/// "File exists", which reads as if the directory did).
pub fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    std::fs::create_dir_all(path).map_err(|e| {
        if path.exists() && !path.is_dir() {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a directory (a directory is written here)",
            )
        } else {
            e
        }
    })
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Makes a rename in `dir` durable. Where directories cannot be opened for
/// syncing (not on Linux), the rename is still atomic, only its durability
/// rests with the file system.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
