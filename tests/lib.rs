//! Helpers shared by the end-to-end tests (see `e2e/main.rs`).

use std::path::PathBuf;
use std::sync::OnceLock;

/// The path of a binary of the `cli` package (`tok`, `lm`), built for these
/// tests.
///
/// `env!("CARGO_BIN_EXE_<name>")` exists only for a package's own binaries,
/// and the binaries live in `cli/`, so the tests build them: `cargo build -p
/// cli --bins` (with `--release` when the tests are a release build) into the
/// tests' own target directory. Cargo has released its build lock by the
/// time tests run, and the build is incremental, so this costs little after
/// the first time. The build happens once per test process.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT.get_or_init(build_cli).as_ref().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

fn build_cli() -> Result<PathBuf, String> {
    // The test executable is target/<profile>/deps/e2e-<hash>.
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| format!("unexpected test executable path {}", exe.display()))?
        .to_path_buf();
    let target_dir = profile_dir.parent().ok_or("no target directory")?.to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "cli", "--bins"])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(|e| format!("running cargo build -p cli: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build -p cli --bins failed ({status})"));
    }
    Ok(profile_dir)
}

/// Runs a binary of the `cli` package with `args`.
pub fn run(name: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin(name)).args(args).output().expect("spawn binary")
}

/// Runs it and checks it succeeded; returns stdout.
pub fn run_ok(name: &str, args: &[&str]) -> String {
    let out = run(name, args);
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs it and checks it failed with a one-line error on stderr that
/// contains every needle; returns that line.
pub fn run_err(name: &str, args: &[&str], needles: &[&str]) -> String {
    let out = run(name, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{name} {args:?} succeeded; stderr: {err}");
    assert!(!err.contains("panicked"), "{name} {args:?} panicked: {err}");
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with(&format!("{name}: ")), "not a one-line error: {err}");
    for n in needles {
        assert!(last.contains(n), "{name} {args:?}: {n:?} not in {last:?}");
    }
    last
}

/// A path as `&str` for command lines.
pub fn s(p: &std::path::Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `tests/data/tinyshakespeare.txt`.
pub fn tinyshakespeare() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/tinyshakespeare.txt"))
}
