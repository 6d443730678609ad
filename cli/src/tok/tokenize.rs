//! `tok tokenize`: text in, token ids out (space separated, one line).

use std::path::PathBuf;

use anyhow::Context as _;
use tokenizer::Allowed;

use crate::{Input, Threads};

/// Encode a file (or stdin) and print its token ids, space separated, on one line.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub tokenizer: crate::TokenizerArg,

    /// Input file, or - for stdin (read as raw bytes).
    #[arg(default_value = "-", value_name = "FILE|-")]
    pub input: String,

    /// Write the ids to this file (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Special-token text to encode as its special id (repeatable; `all` for
    /// every special token). Without it, special-token text is ordinary text.
    #[arg(long = "allow-special", value_name = "TEXT|all")]
    pub allow_special: Vec<String>,

    #[command(flatten)]
    pub threads: Threads,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    args.threads.init()?;
    let input = Input::parse(&args.input);
    if let Some(out) = &args.output {
        crate::refuse_output_over_inputs(out, input.path().into_iter().chain([args.tokenizer.path()]))?;
    }
    let tok = args.tokenizer.load()?;
    let text = input.read()?;
    let specials: Vec<&str> = args.allow_special.iter().map(String::as_str).collect();
    let ids = if specials.is_empty() {
        tok.encode_ordinary_par(&text)
    } else if specials.contains(&"all") {
        tok.encode(&text, &Allowed::All)
    } else {
        tok.encode(&text, &Allowed::Some(&specials))
    }
    .with_context(|| input.name())?;
    crate::write_output(args.output.as_deref(), |w| {
        let mut buf = itoa_buf::Buf::default();
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                w.write_all(b" ")?;
            }
            w.write_all(buf.format(*id))?;
        }
        w.write_all(b"\n")
    })
}

/// Decimal formatting of ids without `fmt` machinery (a 26 MB text is
/// millions of ids).
mod itoa_buf {
    #[derive(Default)]
    pub struct Buf([u8; 10]);

    impl Buf {
        pub fn format(&mut self, mut v: u32) -> &[u8] {
            let mut i = self.0.len();
            loop {
                i -= 1;
                self.0[i] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    return &self.0[i..];
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn formats_decimal() {
            let mut b = super::Buf::default();
            assert_eq!(b.format(0), b"0");
            assert_eq!(b.format(7), b"7");
            assert_eq!(b.format(200_018), b"200018");
            assert_eq!(b.format(u32::MAX), b"4294967295");
        }
    }
}
