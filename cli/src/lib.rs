//! Shared glue for the `tok` and `lm` binaries: progress bars, exit codes,
//! thread-pool setup, input and output files. Nothing here is a library for
//! other crates.
//!
//! Conventions every subcommand follows:
//! - errors are one line on stderr, `tok: <file or value>: <problem>`, and
//!   the exit code is non-zero ([`finish`]); a closed stdout (`tok tokenize
//!   big.txt | head`) is not an error;
//! - output files are written atomically (temporary file, then rename), so a
//!   failed or cancelled run leaves no partial file;
//! - `--threads N` sizes the rayon pool ([`Threads`]);
//! - Ctrl-C during training or encoding cancels through the library's callback
//!   ([`Interrupt`]), and nothing is written.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;

pub mod lm;
pub mod tok;

/// Exit code of a run that failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of a command line clap rejects (clap's own convention).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of a run cancelled with Ctrl-C (128 + SIGINT, as shells do).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The `--threads` flag, flattened into each subcommand that does parallel work.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Threads {
    /// Worker threads for parallel work (default: one per CPU core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// `--threads` accepts at most this many threads per CPU the process may
/// use. A few more threads than CPUs cost little (4 on 2 CPUs trains as
/// fast as 2), but the work is split per thread, so thousands of threads on
/// a few CPUs turn a second's work into hours (`lm bench --threads 8192
/// --hidden 8` on 2 CPUs: over 5 minutes, against 0.7 s with 16).
pub const MAX_THREADS_PER_CPU: usize = 8;

impl Threads {
    /// Sizes the global rayon pool. Call once, before any parallel work.
    pub fn init(&self) -> anyhow::Result<()> {
        if let Some(n) = self.threads {
            anyhow::ensure!(n >= 1, "--threads: must be at least 1");
            let cpus = model::kernels::usable_cpus();
            let max = MAX_THREADS_PER_CPU * cpus;
            anyhow::ensure!(
                n <= max,
                "--threads {n}: this process may use {cpus} CPUs, and more threads than CPUs only slow \
                 the work down; at most {max} ({MAX_THREADS_PER_CPU} per CPU)"
            );
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build_global()
                .context("--threads: could not set up the thread pool")?;
        }
        Ok(())
    }
}

/// Turns a subcommand's result into the process exit: prints the error chain
/// on one line as `<prog>: <error>`, maps a broken pipe on stdout to success
/// and a cancellation to [`EXIT_INTERRUPTED`].
pub fn finish(prog: &str, result: anyhow::Result<()>) -> ExitCode {
    let Err(err) = result else { return ExitCode::SUCCESS };
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return ExitCode::SUCCESS;
        }
        if matches!(cause.downcast_ref::<tokenizer::Error>(), Some(tokenizer::Error::Cancelled))
            || matches!(cause.downcast_ref::<dataset::Error>(), Some(dataset::Error::Cancelled))
            || matches!(cause.downcast_ref::<trainer::TrainError>(), Some(trainer::TrainError::Cancelled))
        {
            crate::errln!("{prog}: cancelled");
            return ExitCode::from(EXIT_INTERRUPTED);
        }
    }
    crate::errln!("{prog}: {}", one_line(&err));
    ExitCode::from(EXIT_FAILURE)
}

/// The error chain on one line, joined with ": ". Our library errors already
/// print their cause (`path: No such file or directory`), so a cause whose
/// text ends the message so far is not repeated; newlines inside messages
/// (rare, from third-party errors) are flattened.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if msg.is_empty() {
            msg = text;
        } else if !msg.ends_with(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg.replace('\n', " ")
}

/// The input named on the command line: a file, or `-` for stdin.
#[derive(Clone, Debug)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    pub fn parse(arg: &str) -> Input {
        if arg == "-" { Input::Stdin } else { Input::File(PathBuf::from(arg)) }
    }

    /// The file, unless it is standard input.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Input::Stdin => None,
            Input::File(p) => Some(p),
        }
    }

    /// How errors name it.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }

    /// Reads it whole, as bytes. Errors name the file.
    pub fn read(&self) -> anyhow::Result<Vec<u8>> {
        match self {
            Input::Stdin => {
                let mut buf = Vec::new();
                std::io::stdin().lock().read_to_end(&mut buf).context("<stdin>")?;
                Ok(buf)
            }
            Input::File(p) => {
                if p.is_dir() {
                    anyhow::bail!("{}: is a directory, expected a file", p.display());
                }
                std::fs::read(p).with_context(|| p.display().to_string())
            }
        }
    }
}

/// Refuses an output path that would replace or join an input: the same
/// file as an input file under any spelling (`tok train in.txt -o in.txt`
/// replaced the corpus with the tokenizer), or a path inside an input
/// directory (the next run would read the output as a document). Inputs
/// that do not exist are skipped; reading them reports them.
pub fn refuse_output_over_inputs<'a>(
    output: &Path,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> anyhow::Result<()> {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    // The output may not exist yet: its directory's canonical form and name.
    let out = canon(output).or_else(|| {
        let name = output.file_name()?;
        let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some(canon(parent)?.join(name))
    });
    let Some(out) = out else { return Ok(()) };
    for input in inputs {
        let Some(inp) = canon(input) else { continue };
        if inp == out {
            anyhow::bail!(
                "{}: the output is also an input ({}); writing it would replace that input, choose another output",
                output.display(),
                input.display()
            );
        }
        if inp.is_dir() && out.starts_with(&inp) {
            anyhow::bail!(
                "{}: the output is inside the input directory {}, where the next run would read it as a \
                 document; choose an output outside it",
                output.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// Writes `write`'s output to `path` atomically, or to stdout when `path` is
/// `None`. Errors name the file.
pub fn write_output(
    path: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    match path {
        Some(p) => atomicfile::replace_file(p, |w| write(w)).with_context(|| p.display().to_string()),
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            write(&mut w).context("<stdout>")?;
            w.flush().context("<stdout>")?;
            Ok(())
        }
    }
}

/// Set by Ctrl-C; long operations check it through their observer.
#[derive(Clone, Debug)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// Installs the Ctrl-C handler (once per process; later calls share it).
    pub fn install() -> Interrupt {
        static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
        let flag = FLAG.get_or_init(|| {
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            // If a handler cannot be installed, Ctrl-C simply kills the
            // process, which leaves no partial file either (writes are atomic).
            let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
            flag
        });
        Interrupt(flag.clone())
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Training progress on stderr: a byte bar while counting, a merge bar while
/// merging. Hidden when stderr is not a terminal (indicatif's default), and
/// with `quiet`. Implements the trainer's observer; cancels on Ctrl-C.
pub struct TrainProgress {
    bar: Option<indicatif::ProgressBar>,
    stage: Option<tokenizer::train::Stage>,
    quiet: bool,
    interrupt: Interrupt,
}

impl TrainProgress {
    pub fn new(quiet: bool, interrupt: Interrupt) -> TrainProgress {
        TrainProgress { bar: None, stage: None, quiet, interrupt }
    }

    fn bar_for(stage: tokenizer::train::Stage, total: u64) -> indicatif::ProgressBar {
        use tokenizer::train::Stage;
        let (template, prefix) = match stage {
            Stage::Counting => {
                ("{prefix:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}", "counting")
            }
            Stage::Merging => ("{prefix:>9} [{bar:30}] {pos}/{len} merges {per_sec} eta {eta}", "merging"),
        };
        let style = indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr_with_hz(10),
        );
        bar.set_style(style);
        bar.set_prefix(prefix);
        bar
    }

    /// Clears the bar (call before printing anything else).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl tokenizer::train::Observer for TrainProgress {
    fn progress(
        &mut self,
        stage: tokenizer::train::Stage,
        done: u64,
        total: u64,
    ) -> std::ops::ControlFlow<()> {
        if self.interrupt.is_set() {
            self.finish();
            return std::ops::ControlFlow::Break(());
        }
        if self.quiet {
            return std::ops::ControlFlow::Continue(());
        }
        if self.stage != Some(stage) {
            self.finish();
            self.bar = Some(TrainProgress::bar_for(stage, total));
            self.stage = Some(stage);
        }
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        }
        std::ops::ControlFlow::Continue(())
    }

    /// Polled between the trainer's small units of work (inside one long
    /// merge step too), so Ctrl-C or SIGTERM ends training within a fraction
    /// of a second.
    fn poll(&mut self) -> std::ops::ControlFlow<()> {
        if self.interrupt.is_set() {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    }
}

impl Drop for TrainProgress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// What `--tokenizer` takes, in every command's help.
pub const TOKENIZER_HELP: &str =
    "A tokenizer file from `tok train`, or a pretrained name (cl100k_base, o200k_base, r50k_base, p50k_base)";

/// The `--tokenizer` flag, flattened into each subcommand that reads one.
#[derive(clap::Args, Clone, Debug)]
pub struct TokenizerArg {
    #[arg(long = "tokenizer", short = 't', value_name = "FILE|NAME", help = TOKENIZER_HELP)]
    pub spec: String,
}

impl TokenizerArg {
    /// The flag's value as a path (a pretrained name is no file).
    pub fn path(&self) -> &Path {
        Path::new(&self.spec)
    }

    /// Loads it (a pretrained name wins over a file of the same name).
    pub fn load(&self) -> anyhow::Result<tokenizer::Tokenizer> {
        Ok(tokenizer::Tokenizer::load(&self.spec)?)
    }

    /// Where it came from, as a manifest records it.
    pub fn source(&self) -> dataset::TokenizerSource {
        dataset::TokenizerSource::from_spec(&self.spec)
    }
}

/// `123`, `100M`, `1.5G`, `64k`: a count with an optional decimal suffix.
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('G') => (&t[..t.len() - 1], 1e9),
        _ => (&t[..], 1.0),
    };
    let bad = || format!("bad count {s:?}: expected a number with an optional K, M or G suffix, e.g. 100M");
    let too_big = || format!("bad count {s:?}: past the largest count, {}", u64::MAX);
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult as u64).ok_or_else(too_big);
    }
    // Digits only, yet not a u64: too many of them.
    if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(too_big());
    }
    let x: f64 = num.parse().map_err(|_| bad())?;
    let v = x * mult;
    if !v.is_finite() || v < 0.0 || v.fract() != 0.0 {
        return Err(bad());
    }
    if v > u64::MAX as f64 {
        return Err(too_big());
    }
    Ok(v as u64)
}

/// A model dimension (layers, hidden or embedding width): a whole number
/// at least 1. Zero was refused only by the model's check, whose message
/// named no flag (`--hidden 0` read "vocab (10), embed (0), hidden (0) ...
/// must all be positive").
pub fn parse_width(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err(format!("{s:?}: must be at least 1")),
        Ok(n) => Ok(n),
        Err(_) if !s.trim().is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("{s:?}: past the largest value, {}", usize::MAX))
        }
        Err(_) => Err(format!("{s:?}: not a whole number >= 1")),
    }
}

/// A softmax temperature: a number >= 0 (0: greedy) that an f32 holds.
/// Parsed as f64 first, so `1e308` is refused as too large instead of
/// reaching the sampler as infinity.
pub fn parse_temperature(s: &str) -> Result<f32, String> {
    let t: f64 = s.trim().parse().map_err(|_| format!("{s:?}: not a number"))?;
    if t.is_nan() || t < 0.0 {
        return Err(format!("{s:?}: must be a number >= 0 (0 is greedy)"));
    }
    // Rounded to the nearest f32; past f32::MAX by more than half a step
    // that is infinity.
    let f = t as f32;
    if f.is_infinite() {
        return Err(format!("{s:?}: past the largest temperature ({:e})", f32::MAX));
    }
    Ok(f)
}

/// [`parse_count`] for a count that must be at least 1.
pub fn parse_positive_count(s: &str) -> Result<u64, String> {
    match parse_count(s)? {
        0 => Err(format!("{s:?}: must be at least 1")),
        n => Ok(n),
    }
}

/// `2G`, `512M`, `1.5G`, `100000` (bytes): a memory size with an optional
/// binary suffix K, M, G or T (powers of 1024, as memory is counted; `B`
/// and `iB` are accepted after it: `2GiB`, `2GB` are both 2^31 bytes).
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let bad =
        || format!("bad memory size {s:?}: expected a number with an optional K, M, G or T suffix, e.g. 2G");
    let t = s.trim().to_ascii_uppercase();
    let t = t.strip_suffix("IB").or_else(|| t.strip_suffix('B')).unwrap_or(&t);
    let (num, shift) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 10),
        Some('M') => (&t[..t.len() - 1], 20),
        Some('G') => (&t[..t.len() - 1], 30),
        Some('T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let x: f64 = num.trim().parse().map_err(|_| bad())?;
    let v = x * (1u64 << shift) as f64;
    if !v.is_finite() {
        return Err(bad());
    }
    if v < 1.0 {
        return Err(format!("bad memory size {s:?}: must be at least 1 byte"));
    }
    if v >= u64::MAX as f64 {
        return Err(format!("bad memory size {s:?}: too large"));
    }
    Ok(v as u64)
}

/// `40s`, `10m`, `1.5h`, `90` (seconds): a duration in seconds.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let bad = || format!("bad duration {s:?}: expected a number with an optional s, m or h suffix, e.g. 10m");
    let (num, mult) = match t.chars().last() {
        Some('s') => (&t[..t.len() - 1], 1.0),
        Some('m') => (&t[..t.len() - 1], 60.0),
        Some('h') => (&t[..t.len() - 1], 3600.0),
        _ => (t, 1.0),
    };
    let x: f64 = num.parse().map_err(|_| bad())?;
    if !x.is_finite() {
        return Err(bad());
    }
    if x <= 0.0 {
        return Err(format!("bad duration {s:?}: must be positive"));
    }
    Ok(x * mult)
}

/// The command line [`parse_args`] parsed, for [`flag_given`].
static MATCHES: std::sync::OnceLock<clap::ArgMatches> = std::sync::OnceLock::new();

/// Whether the subcommand's argument `id` (its field name: `min_lr_ratio`
/// for `--min-lr-ratio`) was given on the command line, not defaulted.
pub fn flag_given(id: &str) -> bool {
    MATCHES.get().and_then(clap::ArgMatches::subcommand).is_some_and(|(_, sub)| {
        sub.try_get_raw(id).is_ok_and(|v| v.is_some())
            && sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
    })
}

/// Parses the command line of `prog` (`tok`, `lm`).
///
/// `--lr -1` is a value the flag's parser refuses (naming the flag), not an
/// unknown option `-1`. A usage error is printed as one line naming the flag
/// and the problem, like every other error (clap's own adds a usage block
/// and a tip), and gives exit code 2. `--help`, `--version` and the bare
/// program name print as clap does.
pub fn parse_args<C: clap::Parser>(prog: &str) -> Result<C, ExitCode> {
    let command = C::command().mut_subcommands(|sub| {
        sub.mut_args(|a| {
            let takes_value = a.get_action().takes_values();
            if takes_value { a.allow_negative_numbers(true) } else { a }
        })
    });
    let parsed = command.try_get_matches().and_then(|m| {
        let c = C::from_arg_matches(&m)?;
        // Set once per process, by the one parse a binary makes.
        let _ = MATCHES.set(m);
        Ok(c)
    });
    match parsed {
        Ok(c) => Ok(c),
        Err(e) if !e.use_stderr() => {
            // `--help` and `--version` on stdout: a failed write (`> /dev/full`)
            // is an error like any other output's; a closed pipe is not.
            match e.print() {
                Err(io) if io.kind() != std::io::ErrorKind::BrokenPipe => {
                    crate::errln!("{prog}: <stdout>: {io}");
                    Err(ExitCode::from(EXIT_FAILURE))
                }
                _ => Err(ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_FAILURE))),
            }
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        Err(e) => {
            let text = e.render().to_string();
            let parts: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect();
            let line = parts.join(" ");
            crate::errln!("{prog}: {}", line.strip_prefix("error: ").unwrap_or(&line));
            Err(ExitCode::from(2))
        }
    }
}

/// `println!` that hands back the write's error instead of panicking: a
/// reader that closes the pipe early (`tok inspect dir | head -1`) makes
/// the command stop quietly through [`finish`], not panic.
#[macro_export]
macro_rules! outln {
    () => {
        ::std::io::Write::write_all(&mut ::std::io::stdout().lock(), b"\n")
    };
    ($($arg:tt)*) => {
        ::std::io::Write::write_fmt(&mut ::std::io::stdout().lock(), format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` likewise (see [`outln!`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        ::std::io::Write::write_fmt(&mut ::std::io::stdout().lock(), format_args!($($arg)*))
    };
}

/// `eprintln!` that drops the write's error instead of panicking: with
/// `lm train ... 2>&1 | head -1` the reader goes away while the command
/// still has work to finish and report through its exit code.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        let _ = ::std::io::Write::write_fmt(
            &mut ::std::io::stderr().lock(),
            format_args!("{}\n", format_args!($($arg)*)),
        );
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        assert_eq!(parse_width("1"), Ok(1));
        assert_eq!(parse_width("512"), Ok(512));
        assert_eq!(parse_width("0"), Err("\"0\": must be at least 1".into()));
        assert!(parse_width("99999999999999999999999").unwrap_err().contains("past the largest value"));
        for bad in ["-1", "nan", "", "1.5", "2k"] {
            assert!(parse_width(bad).unwrap_err().contains("not a whole number >= 1"), "{bad}");
        }
    }

    #[test]
    fn temperatures() {
        assert_eq!(parse_temperature("0"), Ok(0.0));
        assert_eq!(parse_temperature("0.8"), Ok(0.8));
        assert_eq!(parse_temperature("3.4028235e38"), Ok(f32::MAX));
        // Beyond f32 (it used to become infinity and be echoed as `inf`).
        for big in ["1e308", "3.5e38", "inf"] {
            let e = parse_temperature(big).unwrap_err();
            assert!(e.contains("past the largest temperature"), "{big}: {e}");
        }
        for bad in ["-1", "-0.5", "nan", "", "warm"] {
            assert!(parse_temperature(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_with_suffixes() {
        assert_eq!(parse_count("100M"), Ok(100_000_000));
        assert_eq!(parse_count("64k"), Ok(64_000));
        assert_eq!(parse_count("1.5G"), Ok(1_500_000_000));
        assert_eq!(parse_count("12345"), Ok(12345));
        assert_eq!(parse_count("1_000"), Ok(1000));
        for bad in ["", "M", "1.5", "-3", "10X", "1e400"] {
            assert!(parse_count(bad).is_err(), "{bad}");
        }
        // Too large is said as such, not as a malformed number.
        for big in ["99999999999G", "99999999999999999999999", "1e30", "18446744073709551616"] {
            let e = parse_count(big).unwrap_err();
            assert!(e.ends_with("past the largest count, 18446744073709551615"), "{big}: {e}");
        }
        assert_eq!(parse_count("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn memory_sizes_are_binary() {
        assert_eq!(parse_memory("2G"), Ok(2 << 30));
        assert_eq!(parse_memory("2GiB"), Ok(2 << 30));
        assert_eq!(parse_memory("512m"), Ok(512 << 20));
        assert_eq!(parse_memory("1.5G"), Ok(3 << 29));
        assert_eq!(parse_memory("4096"), Ok(4096));
        for bad in ["", "G", "nanG", "2X", "infG"] {
            assert!(parse_memory(bad).unwrap_err().contains("expected a number"), "{bad}");
        }
        for small in ["0", "-1G", "0.5"] {
            assert_eq!(
                parse_memory(small),
                Err(format!("bad memory size {small:?}: must be at least 1 byte"))
            );
        }
        assert_eq!(parse_memory("1e30T"), Err("bad memory size \"1e30T\": too large".to_string()));
    }

    #[test]
    fn durations_take_suffixes() {
        assert_eq!(parse_duration("40s"), Ok(40.0));
        assert_eq!(parse_duration("10m"), Ok(600.0));
        assert_eq!(parse_duration("1.5h"), Ok(5400.0));
        assert_eq!(parse_duration("90"), Ok(90.0));
        for bad in ["", "m", "10x", "inf"] {
            assert!(parse_duration(bad).unwrap_err().contains("expected a number"), "{bad}");
        }
        for nonpositive in ["-3s", "0", "0m"] {
            assert_eq!(
                parse_duration(nonpositive),
                Err(format!("bad duration {nonpositive:?}: must be positive"))
            );
        }
    }

    #[test]
    fn error_chains_are_one_line_without_repeats() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e: anyhow::Error = tokenizer::Error::Io { path: "/x".into(), source: io }.into();
        assert_eq!(one_line(&e), "/x: No such file or directory");
        let e = anyhow::anyhow!("inner\nproblem").context("outer");
        assert_eq!(one_line(&e), "outer: inner problem");
    }
}
