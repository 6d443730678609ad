//! The input corpus: files and directories, walked recursively in sorted
//! order; every regular file is one document, read as raw bytes.
//!
//! Sorting is by the path's bytes, so the order (and with it every shard and
//! every trained vocabulary) is the same on every machine. Symbolic links are
//! followed. Inside a directory, hidden entries (names starting with `.`, such
//! as `.git/` or a download marker) are skipped, as ripgrep does; a hidden
//! file named explicitly on the command line is taken.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// One document of the corpus.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes when listed (the whole file's, also for a train part).
    pub len: u64,
    /// `Some(f)`: the document stands for the file's train part under the
    /// split with validation fraction `f` (`crate::split`), and readers
    /// ([`for_each_batch`], so every trainer of `crate::learn`) give its
    /// bytes `[0, val_start)` only: a tokenizer learned from it never saw the
    /// validation text. `None`: the whole file. See [`train_parts`].
    pub train_part: Option<f64>,
}

/// The regular files under `paths` (files are taken as they are, directories
/// walked recursively), each directory's entries sorted by name, in the order
/// the paths were given. A file reached twice (a path given twice, a file
/// and its directory, a link to a file or directory also in the corpus) is
/// listed once, where it was first reached: counted twice it would train
/// and be scored twice. A missing path is an error naming it; so is a corpus
/// with no files at all.
pub fn list_files<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<Document>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for p in paths {
        walk(p.as_ref(), true, &mut out, &mut Vec::new(), &mut seen)?;
    }
    if out.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.as_ref().display().to_string()).collect();
        return Err(Error::Empty(format!("no files found in {}", names.join(", "))));
    }
    Ok(out)
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), source }
}

/// A file's or directory's identity: (device, inode) on Unix, where
/// symbolic links can make a directory its own descendant and reach a file
/// twice.
#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Walks `path`; `ancestors` holds the (device, inode) and path of the
/// directories being walked above it, so a symbolic link back to one of them
/// is reported as a cycle, naming the link, instead of being followed until
/// the path is too long (ELOOP). A link to a directory elsewhere in the tree
/// is no cycle and is walked. `seen` holds the files listed so far, so a
/// file reached again is skipped. `top`: `path` was given, not found in a
/// directory.
fn walk(
    path: &Path,
    top: bool,
    out: &mut Vec<Document>,
    ancestors: &mut Vec<((u64, u64), PathBuf)>,
    seen: &mut HashSet<(u64, u64)>,
) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| {
        // The OS says only "No such file or directory" for a link whose
        // target is gone, of a path that is plainly there in a listing.
        if e.kind() == std::io::ErrorKind::NotFound
            && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        {
            io_err(path, std::io::Error::new(e.kind(), "a symbolic link to a missing file or directory"))
        } else {
            io_err(path, e)
        }
    })?;
    if meta.is_file() {
        if file_id(&meta).is_none_or(|id| seen.insert(id)) {
            out.push(Document { path: path.to_path_buf(), len: meta.len(), train_part: None });
        }
    } else if meta.is_dir() {
        let id = file_id(&meta);
        if let Some(k) = id.and_then(|id| ancestors.iter().position(|(a, _)| *a == id)) {
            return Err(cycle_error(&ancestors[k + 1..], path));
        }
        let mut entries = std::fs::read_dir(path)
            .map_err(|e| io_err(path, e))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| io_err(path, e))?;
        entries.sort_by(|a, b| a.as_os_str().as_encoded_bytes().cmp(b.as_os_str().as_encoded_bytes()));
        for e in entries {
            if e.file_name().is_some_and(|n| n.as_encoded_bytes().starts_with(b".")) {
                continue;
            }
            if let Some(id) = id {
                ancestors.push((id, path.to_path_buf()));
            }
            let r = walk(&e, false, out, ancestors, seen);
            if id.is_some() {
                ancestors.pop();
            }
            r?;
        }
    } else if top {
        // Named on its own, a fifo, socket or device is a mistake worth its
        // own message; inside a directory it is skipped.
        return Err(Error::Config(format!(
            "{}: not a regular file or directory (a fifo, socket or device cannot be a corpus file)",
            path.display()
        )));
    }
    Ok(())
}

/// The error for a cycle: `path` is the directory `inside` (the
/// directories walked since) started from. The link that closed it is the
/// last symbolic link among them.
fn cycle_error(inside: &[((u64, u64), PathBuf)], path: &Path) -> Error {
    let is_link = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
    let link = std::iter::once(path)
        .chain(inside.iter().rev().map(|(_, p)| p.as_path()))
        .find(|p| is_link(p))
        .unwrap_or(path);
    let target = std::fs::read_link(link).map_or(String::new(), |t| format!(" to {}", t.display()));
    Error::Corrupt {
        path: link.to_path_buf(),
        reason: format!(
            "symbolic link cycle: this link{target} leads back to a directory that contains it \
             (hint: remove the link or pass a path that does not contain it)"
        ),
    }
}

/// Reads a whole document; errors name the file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io_err(path, e))
}

/// The documents' train parts under the split with validation fraction
/// `val_fraction` (`crate::split`): what a tokenizer may learn from when
/// the models it serves are scored on the validation parts. Errors: a
/// fraction outside `[0, 1)`.
pub fn train_parts(docs: &[Document], val_fraction: f64) -> Result<Vec<Document>> {
    crate::split::check_fraction(val_fraction)?;
    Ok(docs.iter().map(|d| Document { train_part: Some(val_fraction), ..d.clone() }).collect())
}

/// Total size of the listed documents in bytes.
pub fn total_bytes(docs: &[Document]) -> u64 {
    docs.iter().map(|d| d.len).sum()
}

/// Reads the documents in corpus order, in batches of about `batch_bytes`
/// (at least one document each), calling `f` with each batch's documents and
/// contents (a document's train part only, when it is one). Memory holds
/// one batch. Errors name the file; an error from `f`
/// stops the walk and is returned.
pub fn for_each_batch<E: From<Error>>(
    docs: &[Document],
    batch_bytes: u64,
    mut f: impl FnMut(&[&Document], &[Vec<u8>]) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let mut batch: Vec<&Document> = Vec::new();
    let mut texts = Vec::new();
    let mut size = 0u64;
    for d in docs {
        let mut text = read(&d.path)?;
        if let Some(f) = d.train_part {
            text.truncate(crate::split::val_start(&text, f));
        }
        size += text.len() as u64;
        batch.push(d);
        texts.push(text);
        if size >= batch_bytes {
            f(&batch, &texts)?;
            batch.clear();
            texts.clear();
            size = 0;
        }
    }
    if !texts.is_empty() {
        f(&batch, &texts)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_and_recursive() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/sub")).unwrap();
        std::fs::write(root.join("b/sub/z.txt"), "zz").unwrap();
        std::fs::write(root.join("b/a.txt"), "a").unwrap();
        std::fs::write(root.join("c.txt"), "ccc").unwrap();
        std::fs::write(root.join("a.txt"), "").unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/HEAD"), "ref").unwrap();
        std::fs::write(root.join(".complete"), "").unwrap();
        let docs = list_files(&[root]).unwrap();
        let rel: Vec<_> = docs.iter().map(|d| d.path.strip_prefix(root).unwrap().to_path_buf()).collect();
        assert_eq!(
            rel,
            ["a.txt", "b/a.txt", "b/sub/z.txt", "c.txt"].iter().map(PathBuf::from).collect::<Vec<_>>()
        );
        assert_eq!(total_bytes(&docs), 6);
    }

    #[test]
    fn missing_path_is_named() {
        let err = list_files(&["/definitely/not/here"]).unwrap_err().to_string();
        assert!(err.contains("/definitely/not/here"), "{err}");
    }

    /// A link whose target is gone: the OS's "No such file or directory"
    /// named a path the user could see in the listing.
    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_is_named_as_one() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("a.txt"), b"text").unwrap();
        std::os::unix::fs::symlink("nowhere", root.join("broken")).unwrap();
        let err = list_files(&[root]).unwrap_err().to_string();
        assert!(err.ends_with("broken: a symbolic link to a missing file or directory"), "{err}");
    }

    /// Issue 11 item 8: a directory link to an ancestor was followed until
    /// the OS refused the path (ELOOP, with a path of 250 characters).
    #[cfg(unix)]
    #[test]
    fn symlink_cycle_is_an_error_naming_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/x.txt"), "x").unwrap();
        std::os::unix::fs::symlink("..", root.join("a/b/up")).unwrap();
        let err = list_files(&[root]).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: symbolic link cycle: this link to .. leads back to a directory that contains it \
                 (hint: remove the link or pass a path that does not contain it)",
                root.join("a/b/up").display()
            )
        );
        // A link to the root itself, given as the corpus, is caught on the first step.
        std::fs::remove_file(root.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink(root, root.join("a/loop")).unwrap();
        let err = list_files(&[root.join("a")]).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: symbolic link cycle", root.join("a/loop").display())), "{err}");
    }

    /// A link to a directory that is not an ancestor is walked, not refused;
    /// what it reaches again is listed once.
    #[cfg(unix)]
    #[test]
    fn symlink_to_a_sibling_directory_is_walked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir_all(root.join("elsewhere")).unwrap();
        std::fs::write(root.join("a/x.txt"), "x").unwrap();
        std::fs::write(root.join("elsewhere/y.txt"), "y").unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("b")).unwrap();
        let corpus = root.join("corpus");
        std::fs::create_dir_all(&corpus).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), corpus.join("e")).unwrap();
        let docs = list_files(&[root]).unwrap();
        let rel: Vec<_> = docs.iter().map(|d| d.path.strip_prefix(root).unwrap().to_path_buf()).collect();
        assert_eq!(rel, [PathBuf::from("a/x.txt"), PathBuf::from("corpus/e/y.txt")]);
        let docs = list_files(&[corpus]).unwrap();
        assert_eq!(docs.len(), 1, "a link out of the corpus is walked");
    }

    /// A file given twice, or as itself and inside its directory, is one
    /// document (`tok encode c c/a.txt c` counted 5 files for 2).
    #[test]
    fn a_file_reached_twice_is_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.txt"), "aa").unwrap();
        std::fs::write(root.join("b.txt"), "b").unwrap();
        let a = root.join("a.txt");
        let again = root.join(".").join("a.txt");
        let docs = list_files(&[root, a.as_path(), root, again.as_path()]).unwrap();
        let names: Vec<_> = docs.iter().map(|d| d.path.file_name().unwrap().to_owned()).collect();
        assert_eq!(names, ["a.txt", "b.txt"]);
        assert_eq!(total_bytes(&docs), 3);
        let docs = list_files(&[a.as_path(), root]).unwrap();
        assert_eq!(docs[0].path, a, "kept where first reached");
        assert_eq!(docs.len(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_named_on_its_own_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo here
        }
        let err = list_files(&[&fifo]).unwrap_err().to_string();
        assert!(err.contains("fifo: not a regular file or directory"), "{err}");
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        assert_eq!(list_files(&[dir.path()]).unwrap().len(), 1, "skipped inside a directory");
    }

    #[test]
    fn empty_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = list_files(&[dir.path()]).unwrap_err().to_string();
        assert!(err.contains("no files found"), "{err}");
    }
}
