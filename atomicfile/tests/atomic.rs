//! The atomic-write contract, including a process killed between the write
//! and the rename.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{Seek, SeekFrom, Write};
use std::process::Command;

use atomicfile::{AtomicFile, replace_file, write};

fn hidden_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    v.sort();
    v
}

#[test]
fn write_replaces_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.json");
    write(&p, b"one").unwrap();
    write(&p, b"two").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"two");
    assert!(hidden_files(dir.path()).is_empty());
}

#[test]
fn a_failed_write_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.json");
    write(&p, b"old").unwrap();
    let e = replace_file(&p, |w| {
        w.write_all(b"half")?;
        Err(std::io::Error::other("disk on fire"))
    })
    .unwrap_err();
    assert_eq!(e.to_string(), "disk on fire");
    assert_eq!(std::fs::read(&p).unwrap(), b"old");
    assert!(hidden_files(dir.path()).is_empty());
}

#[test]
fn dropped_without_commit_deletes_the_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("shard.bin");
    let mut f = AtomicFile::create(&p).unwrap();
    f.write_all(b"0123456789").unwrap();
    assert!(f.temp_path().exists());
    drop(f);
    assert!(!p.exists());
    assert!(hidden_files(dir.path()).is_empty());
}

#[test]
fn seek_back_fills_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("shard.bin");
    let mut f = AtomicFile::create(&p).unwrap();
    f.write_all(&[0; 4]).unwrap();
    f.write_all(b"body").unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.write_all(b"HEAD").unwrap();
    f.commit().unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"HEADbody");
}

#[test]
fn temporary_names_never_collide() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    let a = AtomicFile::create(&p).unwrap();
    let b = AtomicFile::create(&p).unwrap();
    assert_ne!(a.temp_path(), b.temp_path());
}

#[test]
fn errors_for_a_missing_directory_or_no_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let e = write(dir.path().join("missing/out.json"), b"x").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(e.to_string(), format!("directory {} does not exist", dir.path().join("missing").display()));
    let e = write("/", b"x").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}

/// The child side of [`a_crash_between_write_and_rename_keeps_the_old_file`]:
/// writes the new content, then dies before the rename.
#[test]
#[ignore = "run by a_crash_between_write_and_rename_keeps_the_old_file in a child process"]
fn crash_child() {
    let Ok(target) = std::env::var("ATOMICFILE_CRASH_TARGET") else { return };
    let mut f = AtomicFile::create(&target).unwrap();
    f.write_all(b"new content that must never be seen").unwrap();
    f.flush().unwrap();
    // No unwinding, no destructors: as kill -9 between write and rename.
    std::process::abort();
}

#[test]
fn a_crash_between_write_and_rename_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("state.json");
    write(&p, b"old").unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("ATOMICFILE_CRASH_TARGET", &p)
        .status()
        .unwrap();
    assert!(!status.success(), "the child must die before committing");
    // The target is untouched; only a hidden temporary file is left.
    assert_eq!(std::fs::read(&p).unwrap(), b"old");
    let hidden = hidden_files(dir.path());
    assert_eq!(hidden.len(), 1, "{hidden:?}");
    assert!(hidden[0].starts_with(".state.json.") && hidden[0].ends_with(".tmp"), "{hidden:?}");
    // And the next write works as usual.
    write(&p, b"new").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"new");
}

/// A symbolic link is followed: its file gets the content, the link stays a
/// link. A link to nowhere is refused and nothing is created.
#[cfg(unix)]
#[test]
fn a_symlink_is_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink("real.json", &link).unwrap();
    write(&link, b"new").unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(&real).unwrap(), b"new");
    let dangling = dir.path().join("dangling.json");
    std::os::unix::fs::symlink("nowhere/missing.json", &dangling).unwrap();
    let e = write(&dangling, b"x").unwrap_err();
    assert!(e.to_string().starts_with("a symbolic link to a file that cannot be reached"), "{e}");
    assert!(std::fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());
    assert_eq!(hidden_files(dir.path()), Vec::<String>::new());
}

/// A device, FIFO or socket is refused, not replaced with a regular file (as
/// root, `-o /dev/null` once replaced the system's /dev/null). A socket
/// stands in for them here: it needs no privileges and no libc call.
#[cfg(unix)]
#[test]
fn a_special_file_is_refused_and_kept() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("out.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let e = write(&sock, b"x").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(
        e.to_string(),
        "not a regular file (a device, FIFO or socket); refusing to replace it with one"
    );
    assert!(std::fs::symlink_metadata(&sock).unwrap().file_type().is_socket());
    // Through a link too.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&sock, &link).unwrap();
    assert_eq!(write(&link, b"x").unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(hidden_files(dir.path()), Vec::<String>::new());
}
