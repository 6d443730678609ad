//! Helpers shared by the trainer tests: a small deterministic random
//! generator and a few kilobytes of real text.

#![allow(dead_code)]

/// A 64-bit linear congruential generator (Knuth's MMIX constants): tests
/// need reproducible corpora, not statistical quality.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 11
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// English prose (Shakespeare, from tinyshakespeare), Python and C code,
/// numbers, contractions, whitespace runs, CRLF, CJK and emoji.
pub const REAL_TEXT: &str = r####"say it was for his country he did it to
please his mother and to be partly proud; which he
is, even till the altitude of his virtue.

Second Citizen:
What he cannot help in his nature, you account a
vice in him. You must in no way say he is covetous.

First Citizen:
If I must not, I need not be barren of accusations;
he hath faults, with surplus, to tire in repetition.
What shouts are these? The other side o' the city
is risen: why stay we prating here? to the Capitol!

All:
Come, come.

First Citizen:
Soft! who comes here?

Second Citizen:
Worthy Menenius Agrippa; one that hath always loved
the people.

First Citizen:
He's one honest enough: would all the rest were so!

MENENIUS:
What work's, my countrymen, in hand? where go you
With bats and clubs? The matter? speak, I pray you.

First Citizen:
Our business is not unknown to the senate; they have
had inkling this fortnight what we intend to do,
which now we'll show 'em in deeds. They say poor
suitors have strong breaths: they shall know we
have strong arms too.

MENENIUS:
Why, masters, my good friends, mine honest neighbours,
Will you undo yourselves?

First Citizen:
We cannot, sir, we are undone already.

MENENIUS:
I tell you, friends, most charitable care
Have the patricians of you. For your wants,
Your suffering in this dearth, you may as well
Strike at the heaven with your staves as lift them
Against the Roman state, whose course will on
The way it takes, cracking ten thousand curbs
Of more strong link asunder than can ever
Appear in your impediment. For the dearth,
The gods, not the patricians, make it, and
Your knees to them, not arms, must help. Alack,
You are transported by calamity
Thither where more attends you, and you slander
The helms o' the state, who care for you like fathers,
When you curse them as enemies.

First Citizen:
Care for us! True, indeed! They ne'er cared for us
yet: suffer us to famish, and their store-houses
crammed with grain; make edicts for usury, to
support usurers; repeal daily any wholesome act
established against the rich, and provide more
piercing statutes daily, to chain up and restrain
the poor. If the wars eat us not up, they will; and
there's all the love they bear us.

MENENIUS:
Either you must
Confess yourselves wondrous malicious,
Or be accused of folly. I shall tell you
A pretty tale: it may be you have heard it;
But, since it serves my purpose, I will venture
To stale 't a little more.

First Citizen:
Well, I'll hear it, sir: yet you must not think to
fob off
def merge_counts(words, pair, new_id):
    """Replace every occurrence of `pair` in each word, left to right."""
    out = {}
    for word, count in words.items():
        merged, i = [], 0
        while i < len(word):
            if word[i:i + 2] == pair:
                merged.append(new_id)
                i += 2
            else:
                merged.append(word[i])
                i += 1
        out[tuple(merged)] = out.get(tuple(merged), 0) + count
    return out

for (int i = 0; i < n; ++i) {
    if (buf[i] == '\n') { lines += 1; }   // count lines
}

Numbers: 3.14159 2718281828 1,000,000 0x1F600 and dates 2024-05-01T12:30:00Z.
Contractions: I'm, you're, they've, we'll, she'd, it's, DON'T, WE'LL.
Whitespace:   three spaces,	tabs		here, trailing spaces   
CRLF line
next line

日本語のテキストと中文文本，还有한국어 텍스트。 Emoji: 😀🎉👍🏽 and café, naïve, Zürich.
"####;

/// A text of about `bytes` bytes: pseudo-words drawn from a Zipf-like
/// distribution over a vocabulary of `vocab` random words, with punctuation
/// and newlines; deterministic in `seed`.
pub fn zipf_text(seed: u64, bytes: usize, vocab: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let letters = b"etaoinshrdlcumwfgypbvkjxqz";
    let words: Vec<Vec<u8>> = (0..vocab)
        .map(|_| {
            let len = 1 + rng.below(9) as usize;
            // Skewed letter choice, so that some pairs are much more common.
            (0..len).map(|_| letters[(rng.below(26) * rng.below(26) / 26) as usize]).collect()
        })
        .collect();
    let mut text = Vec::with_capacity(bytes + 16);
    while text.len() < bytes {
        // rank ~ vocab^u: a heavy head and a long tail.
        let u = rng.below(1 << 20) as f64 / f64::from(1 << 20);
        let rank = ((vocab as f64).powf(u) as usize).saturating_sub(1).min(vocab - 1);
        text.extend_from_slice(&words[rank]);
        match rng.below(20) {
            0 => text.extend_from_slice(b".\n"),
            1 => text.extend_from_slice(b", "),
            2 => text.push(b'\n'),
            _ => text.push(b' '),
        }
    }
    text
}
