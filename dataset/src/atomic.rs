//! Atomic file creation: write under a hidden temporary name in the target's
//! directory, then rename over the target. A reader never sees a half-written
//! file under the final name, and an interrupted run leaves only a hidden
//! `.NAME.PID.tmp` (removed on drop unless the write was committed).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A file being written under a temporary name; [`TempFile::commit`] renames
/// it to its final name, dropping it without committing deletes it.
pub(crate) struct TempFile {
    tmp: PathBuf,
    target: PathBuf,
    file: Option<File>,
}

impl TempFile {
    /// Creates the temporary file for `target` (same directory, hidden name
    /// with the process id so concurrent `--part` runs never collide).
    pub(crate) fn create(target: &Path) -> Result<TempFile> {
        let dir = target.parent().unwrap_or(Path::new("."));
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(TempFile { tmp, target: target.to_path_buf(), file: Some(file) })
    }

    /// The open file.
    pub(crate) fn file(&mut self) -> &mut File {
        // Invariant: `file` is `Some` until `commit` consumes `self`.
        self.file.as_mut().expect("TempFile used after commit")
    }

    /// The final path (for error messages).
    pub(crate) fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes to disk and renames to the final name.
    pub(crate) fn commit(mut self) -> Result<()> {
        if let Some(file) = self.file.take() {
            file.sync_data().map_err(|e| Error::io(&self.tmp, e))?;
        }
        std::fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        // Committed: nothing left for `Drop` to delete.
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` atomically (`tokenizer::file::replace_file`).
pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    tokenizer::file::replace_file(path, |w| w.write_all(bytes)).map_err(|e| Error::io(path, e))
}
