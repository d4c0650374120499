//! Token counts against the tokenizer sd-scripts uses: transformers' `CLIPTokenizer` with ftfy,
//! run live by tests/kohya/clip_tokenizer.py in the real sd-scripts environment, on generated
//! captions (tags, sentences, weights, HTML entities with and without a `<`, markup, emoji,
//! scripts, control and odd whitespace characters, captions over the limit). Every caption
//! must give the same token ids.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use crate::kohya_env;

use std::io::Write;
use std::process::{Command, Stdio};

use lorabench::dataset::tokens::{CLIP_TOKEN_LIMIT, clip};

/// A small xorshift generator: the same captions on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

const TAGS: &[&str] = &[
    "1girl",
    "solo",
    "long hair",
    "looking at viewer",
    "outdoors",
    "night",
    "lighthouse",
    "(masterpiece:1.2)",
    "[blurry]",
    "watercolor \\(medium\\)",
    "score_9",
    "ohwx man",
    "Golden Hour",
    "RAW photo",
    "f/2.8",
    "35mm",
    "café",
    "naïve",
    "Straße",
    "東京",
    "さくら",
    "서울",
    "Москва",
    "ΣΟΦΊΑ",
    "🌸",
    "👨‍👩‍👧",
    "❤️",
    "½",
    "①",
    "ﬁne",
    "ＦＵＬＬ",
    "o_O",
    ">_<",
    "it's",
    "THEY'RE",
    "don't",
    "“quoted”",
    "‘single’",
    "e\u{301}",
    "İstanbul",
    "supercalifragilisticexpialidocious",
];

/// Pieces that exercise the cleaning: entities (which ftfy unescapes only before a `<`),
/// markup, and characters ftfy or the whitespace rule removes or changes.
const ODD: &[&str] = &[
    "&amp;",
    "&lt;3",
    "&gt;",
    "&quot;",
    "&#39;",
    "&#x263A;",
    "&eacute;",
    "&copy",
    "&notin;",
    "&amp;amp;",
    "&unknown;",
    "&#0;",
    "&#128;",
    "AT&T",
    "fish & chips",
    "<b>bold</b>",
    "<",
    "a < b",
    "x<y",
    "<|endoftext|>",
    "<start_of_text>",
    "\t",
    "\n",
    "\r\n",
    "\u{a0}",
    "\u{3000}",
    "\u{2028}",
    "\u{85}",
    "\u{200b}",
    "\u{ad}",
    "\u{feff}",
    "\x07",
    "\x1b[31m",
    "\u{9b}",
    "\0",
    "  ",
    ",,",
    " , ",
];

fn captions() -> Vec<String> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut out = Vec::new();
    for n in [1usize, 2, 4, 8, 16, 30, 45, 60, 90] {
        for _ in 0..40 {
            let mut parts: Vec<String> = Vec::with_capacity(n);
            for _ in 0..n {
                let piece = if rng.next().is_multiple_of(4) {
                    rng.pick(ODD)
                } else {
                    rng.pick(TAGS)
                };
                let piece = match rng.next() % 5 {
                    0 => piece.to_uppercase(),
                    _ => piece.to_string(),
                };
                parts.push(piece);
            }
            let sep = rng.pick(&[", ", ",", " ", "; ", "\n"]);
            out.push(parts.join(sep));
        }
    }
    out
}

#[test]
fn token_ids_match_transformers_clip_tokenizer_on_generated_captions() {
    let env = kohya_env::kohya();
    let folder = env
        .path("TOKENIZER_CACHE")
        .join("openai_clip-vit-large-patch14");
    let captions = captions();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kohya/clip_tokenizer.py");
    let mut child = Command::new(env.path("PYTHON"))
        .arg(script)
        .arg(&folder)
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the kohya python");
    let request = serde_json::to_vec(&captions).expect("plain JSON");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&request)
        .expect("send the captions");
    let out = child.wait_with_output().expect("python finishes");
    assert!(
        out.status.success(),
        "clip_tokenizer.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<Vec<u32>> = serde_json::from_slice(&out.stdout).expect("python's JSON");
    assert_eq!(theirs.len(), captions.len());

    let tokenizer = clip().expect("embedded vocabulary loads");
    let mut differ = Vec::new();
    let (mut over, mut with_lt, mut with_entity) = (0, 0, 0);
    for (caption, want) in captions.iter().zip(&theirs) {
        let ids = tokenizer.encode(caption);
        if ids != *want {
            differ.push(format!(
                "{caption:?}\n  cleaned {:?}\n  ours   {ids:?}\n  theirs {want:?}",
                tokenizer.clean(caption)
            ));
        }
        let count = tokenizer.count(caption, CLIP_TOKEN_LIMIT);
        assert_eq!(count.count, want.len(), "{caption:?}");
        over += usize::from(want.len() > CLIP_TOKEN_LIMIT);
        with_lt += usize::from(caption.contains('<'));
        with_entity += usize::from(caption.contains("&amp;") || caption.contains("&#"));
    }
    assert!(
        differ.is_empty(),
        "{} of {} captions differ:\n{}",
        differ.len(),
        captions.len(),
        differ.join("\n")
    );
    // The generator covers what it is meant to.
    assert!(
        over > 50 && with_lt > 50 && with_entity > 50,
        "{over} {with_lt} {with_entity}"
    );
    eprintln!(
        "{} token counts agree with transformers' CLIPTokenizer ({over} over the limit, \
         {with_lt} holding `<`, {with_entity} holding entities)",
        captions.len()
    );
}
