//! The hand-written pre-tokenizers against the reference: tiktoken's regexes
//! run by `fancy-regex` (tests/pretok_ref). Every test compares all pieces,
//! exactly; a few also pin expected pieces written out by hand so that a change
//! in the reference engine would be noticed too.

mod pretok_ref;

use proptest::prelude::*;
use tokenizer::Pattern;
use tokenizer::pretok::{GPT2_REGEX, GPT4_HF_REGEX, GPT4_REGEX, GPT4O_REGEX};

const SPLITTING: [Pattern; 3] = [Pattern::Gpt4, Pattern::Gpt4o, Pattern::Gpt2];

/// Shows pieces readably in assertion messages.
fn show(pieces: &[&[u8]]) -> Vec<String> {
    pieces.iter().map(|p| format!("{:?}", String::from_utf8_lossy(p))).collect()
}

/// Ours (iterator, callback and first-piece forms) against the reference, plus
/// the invariants: non-empty pieces that concatenate to the text.
fn check(pattern: Pattern, text: &[u8]) {
    let ours: Vec<&[u8]> = pattern.split(text).collect();
    let reference = pretok_ref::split(pattern, text);
    if ours != reference {
        let first =
            ours.iter().zip(&reference).position(|(a, b)| a != b).unwrap_or(ours.len().min(reference.len()));
        let from = first.saturating_sub(3);
        panic!(
            "pattern {} differs from the reference on {:?}\nfirst difference at piece {first}\n  ours:      {:?}\n  reference: {:?}",
            pattern.name(),
            String::from_utf8_lossy(&text[..text.len().min(200)]),
            show(&ours[from..ours.len().min(first + 3)]),
            show(&reference[from..reference.len().min(first + 3)]),
        );
    }
    assert!(ours.iter().all(|p| !p.is_empty()), "empty piece");
    assert_eq!(ours.concat(), text, "pieces do not concatenate to the text");
    let mut callback = Vec::new();
    pattern.for_each_piece(text, |p| callback.push(p));
    assert_eq!(callback, ours, "for_each_piece differs from split");
    assert_eq!(pattern.first_piece_len(text), ours.first().map_or(0, |p| p.len()));
}

fn check_all(text: &[u8]) {
    for pattern in SPLITTING {
        check(pattern, text);
    }
}

fn pieces(pattern: Pattern, text: &str) -> Vec<&str> {
    pattern
        .split(text.as_bytes())
        .map(|p| std::str::from_utf8(p).expect("valid input, valid pieces"))
        .collect()
}

// ---------------------------------------------------------------------------
// Hand-picked cases

const TRICKY: &[&str] = &[
    "",
    " ",
    "a",
    "Hello, world! How are you?\n",
    // contractions in every case, and apostrophes that are not contractions
    "don't DON'T Don'T we'll WE'LL We'Ll I've I'VE i'Ve they're THEY'RE I'm I'M he'd HE'D it's IT'S",
    "'s 'S 't 'T 'd 'D 'm 'M 'll 'LL 'lL 'Ll 've 'VE 'vE 're 'RE 'rE",
    "'sup 'Sorry 'tis 'twas 'llama 'very 'rest 'ssss 'x 'X '' ''s ' s '1 '\n ' 'é 'É",
    "rock'n'roll o'clock O'Neil l'homme d'Artagnan ma'am y'all ol' 'em '90s",
    "x's x'S x'll x'LL x've x're x'd x'm x't X'S X'T é's É'S 中's ǅ's ʰ's a\u{301}'s A\u{301}'S",
    "'ſ x'ſ 'ſt x'ſS 'K 'ﬆ 'ß",
    "Don’t use curly ’s apostrophes; they're not contractions’s",
    "''''' ''s'''s '''S",
    // newlines and carriage returns
    "a\r\nb\r\n\r\nc\n\n\nd\r\re\n \n f \r\n g",
    "line\r\n  indented\n\tTabbed\n\n\n   \n",
    "\n",
    "\r\n",
    "\n\n\n",
    " \n",
    "\n ",
    "a\n ",
    "a \n \n ",
    "x \r\n\r\n  y",
    // whitespace runs before letters, punctuation, digits and end of text
    "a  b   c    d",
    "a  !  ?   .",
    "a  1  22   333",
    "trailing   ",
    "trailing\t\t",
    "trailing \n",
    "   leading",
    "\t\tleading tabs",
    " \t mixed \t\t\t tabs\t\tx",
    "tab\tseparated\tvalues\t1\t2\n",
    // Unicode whitespace
    "nbsp\u{A0}word \u{A0}\u{A0}word\u{A0}!\u{A0}1\u{A0}",
    "ls\u{2028}para\u{2029}next\u{85}nel\u{3000}ideo\u{3000}\u{3000}x\u{202F}y\u{205F}z\u{1680}w\u{2000}\u{200A}v",
    "\u{3000}\u{3000}",
    "\u{A0}",
    "\u{B}\u{C}vertical\u{B}tab\u{C}feed \u{1C}\u{1D}\u{1E}\u{1F}",
    // digits, including non-ASCII ones
    "1 12 123 1234 12345 123456 1234567",
    "3.14159 2,718 1e10 0x1F -42 +7 1/2 100%",
    "٠١٢٣٤٥٦٧٨٩ ١٢٣٤",
    "０１２３４５６７ １２",
    "Ⅻ ⅻⅼ ½¼ ¹²³ ①②③④ 𝟘𝟙𝟚𝟛",
    "abc123def 123abc abc 123 a1b2c3",
    "   123",
    " 1",
    "$1,000,000.00",
    // letters with combining marks, titlecase, modifier letters
    "e\u{301}te\u{301} cafe\u{301} nai\u{308}ve E\u{301}TE\u{301}",
    "\u{301}\u{301}a \u{301}A \u{301}AB \u{301}Ab \u{301} \u{301}1 \u{301}! !\u{301} !\u{301}a",
    "AB\u{301}CD AB\u{301}cd A\u{301}B",
    "\u{301}AB",
    "\u{301}A",
    "\u{301}ǅ",
    "\u{301}ǅa",
    "\u{301}ʰA",
    "\u{301}Aʰ",
    "ʰAB",
    "ʰA\u{301}B",
    "ǅungla ǅ ǈ ǋ ǲ Ǆ ǆ ǅǅa aǅ",
    "ʰʱʲ ʰa Aʰ AʰB ˈstress ʼn",
    "क्षत्रिय हिन्दी देवनागरी",
    "ไทย ภาษาไทย",
    // CJK, Korean, Japanese
    "中文字符 日本語のテキスト 한국어 텍스트",
    "中a a中 A中 中A 中。文！",
    "漢字カタカナひらがなＡＢＣａｂｃ",
    // Greek, Cyrillic, Turkish, German
    "Ελληνικά ΕΛΛΗΝΙΚΆ Ελληνικά's Привет МИР ПрИвЕт",
    "İstanbul ıi İI straße STRASSE ẞ",
    // mixed case words
    "CamelCase camelCase HTTPServer XMLHttpRequest iPhone McDONALD's ABCdef abcDEF",
    // emoji and ZWJ sequences
    "😀 😀😀 👍🏻 👨‍👩‍👧‍👦 ❤️ 🏳️‍🌈 a😀b 😀a 1😀",
    "👍\u{FE0F}x \u{200D}a \u{200B}zero\u{200B}width \u{FEFF}bom",
    // punctuation runs followed by newlines and `/`
    "!!!\n\n ???\r\n ...\n/ ;;\n/\n /path/to/file.rs //comment\n",
    "...\n\n\nx",
    "--/\n/--",
    " //\n",
    " /\n/\n",
    "a/\n",
    "a /b",
    ") \n",
    "}\n\n}\n",
    "http://example.com/a/b?c=d&e=f#g",
    "fn main() {\n    println!(\"{}\", x);\n}\n",
    "def f(x):\n\treturn x ** 2  # square\n\n\nclass A:\n    pass\n",
    "<div class=\"a\">\n  <p>Hi</p>\n</div>\r\n",
    "\"quoted\" 'single' `back` «guillemets» „low“",
    // symbols and controls
    "\u{0}\u{1}\u{7F} a\u{0}b \u{0}",
    "© ® ™ € £ ¥ § ¶ • … — –",
    "\u{FFFD} \u{FFFD}a a\u{FFFD} \u{FFFD}\u{FFFD}",
    // text ending in whitespace of every kind
    "end ",
    "end  ",
    "end\n",
    "end\n\n",
    "end \n",
    "end\n ",
    "end \n ",
    "end\r\n",
    "end\t",
    "end\u{A0}",
    "end \u{3000}",
    "!  ",
    "1\n ",
];

#[test]
fn tricky_cases_match_the_reference() {
    for text in TRICKY {
        check_all(text.as_bytes());
    }
}

#[test]
fn tricky_cases_match_the_reference_in_context() {
    // Each case after a letter, a space and a digit, and before a letter, a
    // space, a newline and punctuation, so that every piece boundary is hit in
    // different states.
    for text in TRICKY {
        for before in ["", "x", " ", "9", "'", "\n"] {
            for after in ["", "x", " ", "\n", "!", "'s", "5"] {
                check_all(format!("{before}{text}{after}").as_bytes());
            }
        }
    }
}

#[test]
fn pinned_pieces_gpt4() {
    let p = Pattern::Gpt4;
    assert_eq!(pieces(p, "don't DON'T we'll"), ["don", "'t", " DON", "'T", " we", "'ll"]);
    assert_eq!(pieces(p, "'Sorry"), ["'S", "orry"]);
    assert_eq!(pieces(p, "x'ſ"), ["x", "'ſ"]);
    assert_eq!(pieces(p, "a  b"), ["a", " ", " b"]);
    assert_eq!(pieces(p, "a \n\n b"), ["a", " \n\n", " b"]);
    assert_eq!(pieces(p, "a\n  "), ["a", "\n  "]);
    assert_eq!(pieces(p, "1234567"), ["123", "456", "7"]);
    assert_eq!(pieces(p, " 123"), [" ", "123"]);
    assert_eq!(pieces(p, "!!!\n\n x"), ["!!!\n\n", " x"]);
    assert_eq!(pieces(p, " (x) ..."), [" (", "x", ")", " ..."]);
    assert_eq!(pieces(p, "\thello\u{A0}world"), ["\thello", "\u{A0}world"]);
    assert_eq!(pieces(p, "e\u{301}t"), ["e", "\u{301}t"]);
    assert_eq!(pieces(p, ""), Vec::<&str>::new());
}

#[test]
fn pinned_pieces_gpt4o() {
    let p = Pattern::Gpt4o;
    assert_eq!(pieces(p, "don't DON'T we'll"), ["don't", " DON'T", " we'll"]);
    assert_eq!(pieces(p, "they'rest"), ["they're", "st"]);
    assert_eq!(pieces(p, "HTTPServer iPhone"), ["HTTPServer", " i", "Phone"]);
    assert_eq!(pieces(p, "AB\u{301}CD"), ["AB\u{301}", "CD"]);
    assert_eq!(pieces(p, "\u{301}AB"), ["\u{301}", "AB"]);
    assert_eq!(pieces(p, "(AB"), ["(AB"]);
    assert_eq!(pieces(p, "a\n  "), ["a", "\n", "  "]);
    assert_eq!(pieces(p, "a  b"), ["a", " ", " b"]);
    assert_eq!(pieces(p, "...\n/x"), ["...\n/", "x"]);
    assert_eq!(pieces(p, "1234567"), ["123", "456", "7"]);
    assert_eq!(pieces(p, "中文a"), ["中文a"]);
}

#[test]
fn pinned_pieces_gpt2() {
    let p = Pattern::Gpt2;
    assert_eq!(pieces(p, "don't DON'T we'll"), ["don", "'t", " DON", "'", "T", " we", "'ll"]);
    assert_eq!(pieces(p, " 1234567 abc"), [" 1234567", " abc"]);
    assert_eq!(pieces(p, "a  b\n\n"), ["a", " ", " b", "\n\n"]);
    assert_eq!(pieces(p, "a\n\nb"), ["a", "\n", "\n", "b"]);
    assert_eq!(pieces(p, "!!x"), ["!!", "x"]);
}

#[test]
fn pattern_none_is_one_piece() {
    assert_eq!(Pattern::None.split(b"").count(), 0);
    let text = b"any text at all \xff\n 123";
    assert_eq!(Pattern::None.split(text).collect::<Vec<_>>(), [&text[..]]);
    let mut n = 0;
    Pattern::None.for_each_piece(b"", |_| n += 1);
    assert_eq!(n, 0);
    assert_eq!(Pattern::None.first_piece_len(text), text.len());
    assert_eq!(Pattern::None.regex(), None);
    assert_eq!(Pattern::None.hf_regex(), None);
}

#[test]
fn names_round_trip() {
    for p in Pattern::ALL {
        assert_eq!(Pattern::from_name(p.name()), Some(p));
    }
    assert_eq!(Pattern::from_name("cl100k"), None);
    assert_eq!(Pattern::Gpt4.regex(), Some(GPT4_REGEX));
    assert_eq!(Pattern::Gpt4o.regex(), Some(GPT4O_REGEX));
    assert_eq!(Pattern::Gpt2.regex(), Some(GPT2_REGEX));
}

#[test]
fn pieces_offset_tracks_position() {
    let text = b"Hello, world!";
    let mut it = Pattern::Gpt4.split(text);
    assert_eq!(it.offset(), 0);
    assert_eq!(it.next(), Some(&b"Hello"[..]));
    assert_eq!(it.offset(), 5);
    assert_eq!(it.by_ref().count(), 3);
    assert_eq!(it.offset(), text.len());
    assert_eq!(it.next(), None);
}

// ---------------------------------------------------------------------------
// Cut points for parallel work

/// Checks every position `cut_point` offers in `text`: splitting the halves
/// gives the pieces of the whole. Returns how many positions were checked.
fn check_cut_points(text: &[u8]) -> usize {
    let mut checked = 0;
    for pattern in SPLITTING {
        let whole: Vec<&[u8]> = pattern.split(text).collect();
        let mut from = 0;
        while let Some(k) = pattern.cut_point(text, from) {
            assert!(k >= from.max(1) && k < text.len(), "cut {k} out of range");
            let mut halves: Vec<&[u8]> = pattern.split(&text[..k]).collect();
            halves.extend(pattern.split(&text[k..]));
            assert!(
                halves == whole,
                "{}: cutting {:?} at {k} changes the pieces",
                pattern.name(),
                String::from_utf8_lossy(text)
            );
            checked += 1;
            from = k + 1;
        }
    }
    checked
}

#[test]
fn cut_points_keep_the_pieces() {
    let mut checked = 0;
    for text in TRICKY {
        for before in ["", "x", "'", "\n", "AB\u{301}"] {
            for after in ["", "x", " ", "\n", "'s", "\u{301}", "1"] {
                checked += check_cut_points(format!("{before}{text}{after}").as_bytes());
            }
        }
    }
    checked += check_cut_points(generated_text(3, 5_000).as_bytes());
    assert!(checked > 10_000, "only {checked} cut points checked");
}

#[test]
fn cut_points_are_where_documented() {
    assert_eq!(Pattern::Gpt4.cut_point(b"ab cd", 0), Some(2));
    assert_eq!(Pattern::Gpt4.cut_point(b"ab cd", 3), None);
    assert_eq!(Pattern::Gpt4.cut_point(b"ab cd.", 3), Some(5));
    assert_eq!(Pattern::Gpt4o.cut_point(b"don't", 0), None);
    assert_eq!(Pattern::Gpt4o.cut_point("中文 中文".as_bytes(), 0), None);
    assert_eq!(Pattern::Gpt2.cut_point(b"", 0), None);
    assert_eq!(Pattern::Gpt2.cut_point(b"a.", 7), None);
    assert_eq!(Pattern::None.cut_point(b"ab cd", 0), None);
}

// ---------------------------------------------------------------------------
// Hugging Face spelling

#[test]
fn hf_regex_differs_only_in_the_digit_quantifier() {
    assert_eq!(Pattern::Gpt4.hf_regex(), Some(GPT4_HF_REGEX));
    assert_eq!(GPT4_REGEX.replace(r"\p{N}{1,3}+", r"\p{N}{1,3}"), GPT4_HF_REGEX);
    assert_eq!(Pattern::Gpt4o.hf_regex(), Some(GPT4O_REGEX));
    assert_eq!(Pattern::Gpt2.hf_regex(), Some(GPT2_REGEX));
    // No counted repetition followed by `+`, which Oniguruma reads as a
    // repetition of the repetition.
    for pattern in SPLITTING {
        let re = pattern.hf_regex().expect("a regex");
        assert!(!re.as_bytes().windows(3).any(|w| w[0].is_ascii_digit() && w[1..] == *b"}+"), "{re}");
    }
}

#[test]
fn hf_regex_splits_like_tiktoken_in_fancy_regex() {
    let hf = fancy_regex::Regex::new(GPT4_HF_REGEX).expect("compiles");
    let mut texts: Vec<String> = TRICKY.iter().map(|s| s.to_string()).collect();
    texts.push(generated_text(7, 50_000));
    for text in &texts {
        let theirs: Vec<(usize, usize)> = hf
            .find_iter(text)
            .map(|m| m.map(|m| (m.start(), m.end())).expect("no backtrack limit"))
            .collect();
        assert_eq!(theirs, pretok_ref::split_str(Pattern::Gpt4, text), "{text:?}");
    }
}

// ---------------------------------------------------------------------------
// Unicode classes: every code point whose class matters

/// The code points of a regex class, as inclusive ranges, from regex-syntax.
fn class_ranges(pattern: &str) -> Vec<(u32, u32)> {
    use regex_syntax::hir::{Class, HirKind};
    let hir = regex_syntax::Parser::new().parse(pattern).expect("parses");
    match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => {
            c.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect()
        }
        other => panic!("{pattern}: not a class: {other:?}"),
    }
}

/// Every scalar value in the BMP, plus the first and last code point of every
/// range of the classes the patterns use, and their neighbours.
fn interesting_code_points() -> Vec<char> {
    let mut cps: Vec<u32> = (0..0x1_0000).collect();
    for class in [r"\p{L}", r"\p{N}", r"\s", r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"]
    {
        for (a, b) in class_ranges(class) {
            cps.extend([a.saturating_sub(1), a, b, b + 1]);
        }
    }
    cps.sort_unstable();
    cps.dedup();
    cps.into_iter().filter_map(char::from_u32).collect()
}

#[test]
fn every_interesting_code_point_in_context() {
    // Each code point `c` in contexts that tell its classes apart in each
    // pattern: after and before letters of both cases, digits, a space, an
    // apostrophe, punctuation, and doubled.
    let cps = interesting_code_points();
    for chunk in cps.chunks(4096) {
        let mut text = String::new();
        for &c in chunk {
            text.push_str(&format!("a{c}a A{c}B 1{c}1 {c}{c} '{c} !{c}! {c}x{c}X {c}\n{c}AB\n{c}'s\n"));
        }
        check_all(text.as_bytes());
    }
}

#[test]
fn contraction_letters_fold_like_the_regex() {
    // Every code point after an apostrophe, alone and followed by each of the
    // second letters: cl100k's and o200k's `(?i:...)` contractions.
    let cps = interesting_code_points();
    let mut text = String::new();
    for &c in &cps {
        text.push_str(&format!("x'{c} '{c}l '{c}e x'{c}L x'{c}E\n"));
    }
    check_all(text.as_bytes());
}

#[test]
fn regex_syntax_is_the_one_fancy_regex_uses() {
    // Our tables are built from the `regex-syntax` we depend on; they agree
    // with fancy-regex only if fancy-regex uses the same version.
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).expect("Cargo.lock");
    let packages: Vec<&str> = lock.split("[[package]]").collect();
    let versions: Vec<&str> = packages
        .iter()
        .filter(|p| p.contains("\nname = \"regex-syntax\"\n"))
        .filter_map(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .collect();
    assert_eq!(versions.len(), 1, "several regex-syntax versions in Cargo.lock: {versions:?}");
    let fancy: Vec<&&str> = packages.iter().filter(|p| p.contains("\nname = \"fancy-regex\"\n")).collect();
    assert!(!fancy.is_empty(), "fancy-regex not in Cargo.lock");
    for p in fancy {
        // A dependency on the only version is written without a version.
        assert!(p.contains("\n \"regex-syntax\",\n"), "fancy-regex's regex-syntax: {p}");
    }
}

// ---------------------------------------------------------------------------
// Property tests

/// Characters weighted towards the classes and boundaries the patterns care
/// about.
const ALPHABET: &[char] = &[
    'a',
    'b',
    'e',
    'l',
    'r',
    's',
    't',
    'v',
    'd',
    'm',
    'x',
    'A',
    'E',
    'L',
    'R',
    'S',
    'T',
    'V',
    'D',
    'M',
    'Z',
    '\'',
    '\'',
    '\'',
    ' ',
    ' ',
    ' ',
    ' ',
    '\t',
    '\n',
    '\n',
    '\r',
    '\u{B}',
    '\u{C}',
    '\u{85}',
    '\u{A0}',
    '\u{2028}',
    '\u{3000}',
    '\u{1680}',
    '0',
    '1',
    '9',
    '٣',
    '３',
    'Ⅻ',
    '½',
    '²',
    '!',
    '.',
    ',',
    '/',
    '/',
    '(',
    '"',
    '-',
    '_',
    '#',
    '\u{301}',
    '\u{903}',
    '\u{20DD}',
    '\u{FE0F}',
    'ǅ',
    'ǈ',
    'ʰ',
    'ˈ',
    '中',
    '文',
    'の',
    'É',
    'é',
    'ß',
    'ſ',
    'K',
    'İ',
    'ı',
    'Ω',
    'ω',
    'Я',
    'я',
    '😀',
    '👍',
    '\u{1F3FB}',
    '\u{200D}',
    '\u{200B}',
    '\u{FFFD}',
    '\u{0}',
    '\u{1C}',
    '€',
    '…',
    '’',
];

fn weighted_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(ALPHABET), 0..48).prop_map(|v| v.into_iter().collect())
}

/// Strings made of runs of one character (1 to 20 of it), so that runs of
/// every class cross the eight-byte steps of the scanners.
fn runs_text() -> impl Strategy<Value = String> {
    proptest::collection::vec((proptest::sample::select(ALPHABET), 1..20usize), 0..12)
        .prop_map(|runs| runs.into_iter().flat_map(|(c, n)| std::iter::repeat_n(c, n)).collect())
}

/// Whitespace runs of every kind, between words, digits and punctuation.
fn whitespace_text() -> impl Strategy<Value = String> {
    const WS: &[char] =
        &[' ', ' ', ' ', '\t', '\n', '\r', '\u{B}', '\u{A0}', '\u{3000}', '\u{2028}', '\u{85}'];
    const OTHER: &[&str] = &["x", "Ab", "1", "!", "'s", "é", "中", "\u{301}", "/", ""];
    proptest::collection::vec(
        (proptest::collection::vec(proptest::sample::select(WS), 0..24), proptest::sample::select(OTHER)),
        0..6,
    )
    .prop_map(|parts| parts.into_iter().flat_map(|(ws, other)| ws.into_iter().chain(other.chars())).collect())
}

/// Bytes that make valid and broken UTF-8 sequences alike.
const BYTES: &[u8] = &[
    b'a', b'Z', b's', b'\'', b' ', b' ', b'\n', b'\r', b'\t', b'1', b'!', b'/', 0x80, 0x8F, 0x9F, 0xA0, 0xA9,
    0xBF, 0xC0, 0xC3, 0xCC, 0xE0, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn weighted_strings_match_the_reference(text in weighted_text()) {
        check_all(text.as_bytes());
    }

    #[test]
    fn runs_match_the_reference(text in runs_text()) {
        check_all(text.as_bytes());
    }

    #[test]
    fn cut_points_keep_the_pieces_of_any_text(text in weighted_text(), bytes in proptest::collection::vec(proptest::sample::select(BYTES), 0..48)) {
        check_cut_points(text.as_bytes());
        check_cut_points(&bytes);
    }

    #[test]
    fn whitespace_runs_match_the_reference(text in whitespace_text()) {
        check_all(text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_match_the_reference(text in proptest::collection::vec(any::<u8>(), 0..64)) {
        check_all(&text);
    }

    #[test]
    fn utf8_like_bytes_match_the_reference(text in proptest::collection::vec(proptest::sample::select(BYTES), 0..64)) {
        check_all(&text);
    }

    #[test]
    fn invalid_bytes_behave_like_the_replacement_character(text in weighted_text(), at in any::<prop::sample::Index>(), bad in 0x80u8..=0xFF) {
        // Putting a lone invalid byte where a U+FFFD was gives the same
        // boundaries around it.
        let mut chars: Vec<char> = text.chars().collect();
        let i = if chars.is_empty() { 0 } else { at.index(chars.len() + 1) };
        chars.insert(i, '\u{FFFD}');
        let with_fffd: String = chars.iter().collect();
        let prefix: String = chars[..i].iter().collect();
        let mut with_byte = prefix.clone().into_bytes();
        with_byte.push(bad);
        with_byte.extend_from_slice(chars[i + 1..].iter().collect::<String>().as_bytes());
        for pattern in SPLITTING {
            // Map the boundaries of the U+FFFD text to the one-byte text.
            let shift = |b: usize| if b > prefix.len() { b - 2 } else { b };
            let expected: Vec<usize> = pattern.split(with_fffd.as_bytes()).scan(0, |end, p| { *end += p.len(); Some(shift(*end)) }).collect();
            let got: Vec<usize> = pattern.split(&with_byte).scan(0, |end, p| { *end += p.len(); Some(*end) }).collect();
            prop_assert_eq!(got, expected);
        }
        check_all(&with_byte);
    }
}

// ---------------------------------------------------------------------------
// Larger differential tests

/// A deterministic xorshift generator, so the generated text is the same on
/// every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Real-ish text: English prose with contractions and numbers, source code,
/// markup, and fragments in other scripts, with varied whitespace.
fn generated_text(seed: u64, len: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "of",
        "and",
        "to",
        "in",
        "is",
        "that",
        "it",
        "was",
        "for",
        "on",
        "are",
        "with",
        "as",
        "his",
        "they",
        "be",
        "at",
        "one",
        "have",
        "this",
        "from",
        "by",
        "hot",
        "word",
        "but",
        "what",
        "some",
        "we",
        "can",
        "out",
        "Hamlet",
        "KING",
        "Lord",
        "O",
        "I",
        "thee",
        "thou",
        "hath",
        "doth",
        "'tis",
        "don't",
        "won't",
        "I'll",
        "you're",
        "we've",
        "he'd",
        "I'm",
        "she's",
        "DON'T",
        "It's",
        "o'er",
        "ne'er",
        "McDonald",
        "iPhone",
        "XMLHttpRequest",
        "naïve",
        "café",
        "résumé",
        "Straße",
        "ǅemal",
        "fiancée",
        "coöperate",
        "e\u{301}le\u{300}ve",
        "中文",
        "日本語",
        "한국어",
        "Привет",
        "мир",
        "Ελλάδα",
        "עברית",
        "العربية",
        "हिन्दी",
        "ไทย",
        "😀",
        "👍🏻",
        "👨‍👩‍👧",
        "❤️",
        "1",
        "42",
        "1999",
        "3.14159",
        "1,000,000",
        "٣٤٥",
        "１２３４",
        "½",
        "Ⅻ",
        "$5",
        "100%",
        "#1",
        "def",
        "fn",
        "let",
        "self.x",
        "x_1",
        "__init__",
        "foo()",
        "bar[0]",
        "a->b",
        "i++",
        "x==y",
        "//",
        "/*",
        "*/",
        "http://a.b/c",
        "<div>",
        "</p>",
        "&amp;",
        "\"quoted\"",
        "'single'",
        "(parens)",
        "[1,",
        "2]",
        "{",
        "}",
        "...",
        "--",
        "—",
        "–",
        "!",
        "?",
        ";",
        ":",
        ",",
        ".",
        "’s",
        "‘hi’",
    ];
    const SPACES: &[&str] = &[
        " ",
        " ",
        " ",
        " ",
        " ",
        " ",
        " ",
        " ",
        "  ",
        "   ",
        "\n",
        "\n",
        "\n\n",
        "\r\n",
        "\r\n\r\n",
        "\t",
        "\n\t",
        "\n    ",
        "\n        ",
        " \n",
        "  \n  ",
        "\u{A0}",
        "\u{3000}",
        "",
        "",
        ". ",
        ", ",
        ".\n",
        "!\n\n",
        " / ",
    ];
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut text = String::with_capacity(len + 64);
    while text.len() < len {
        text.push_str(rng.pick(WORDS));
        text.push_str(rng.pick(SPACES));
    }
    text
}

#[test]
fn generated_text_matches_the_reference() {
    for seed in 1..=4 {
        check_all(generated_text(seed, 100_000).as_bytes());
    }
}

#[test]
fn generated_text_with_broken_bytes_matches_the_reference() {
    let mut text = generated_text(99, 100_000).into_bytes();
    let mut rng = Rng(12345);
    for _ in 0..2000 {
        let i = rng.below(text.len());
        text[i] = rng.pick(&[0x80, 0xBF, 0xC3, 0xE2, 0xF0, 0xFF, b'\'', b'\n', b' ']);
    }
    check_all(&text);
}
