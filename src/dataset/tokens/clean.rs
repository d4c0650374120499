//! The text cleaning transformers' `CLIPTokenizer` applies before BPE (with ftfy installed):
//! `whitespace_clean(ftfy.fix_text(text)).lower()`: fix, collapse whitespace, strip, lower-case.
//!
//! The tables (HTML entities, ligatures, width forms, control characters) are dumped from the
//! Python libraries by `assets/make_clip_text_tables.py`, so the behaviour follows them exactly.
//! One ftfy step is not reproduced: `fix_encoding` (mojibake repair, e.g. "cafÃ©" -> "café"),
//! which only acts on text ftfy's heuristics judge to be mojibake; see `tokens` module docs.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

#[derive(Deserialize)]
pub(super) struct Tables {
    html5: HashMap<String, String>,
    ftfy_entities: HashMap<String, String>,
    ligatures: HashMap<char, String>,
    width: HashMap<char, String>,
    control: HashSet<u32>,
    c1: HashMap<char, String>,
    invalid_charrefs: HashMap<u32, String>,
    invalid_codepoints: HashSet<u32>,
}

impl Tables {
    pub(super) fn parse(json: &str) -> Result<Tables, serde_json::Error> {
        serde_json::from_str(json)
    }
}

// These patterns are constants of the program; a failure to compile is a programming error
// caught by every test, never something user input can cause.
#[allow(clippy::expect_used)]
static FTFY_ENTITY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"&#?[0-9A-Za-z]{1,24};").expect("constant regex"));
#[allow(clippy::expect_used)]
static HTML_CHARREF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)").expect("constant regex")
});
#[allow(clippy::expect_used)]
static ANSI_ESCAPE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("\x1b\\[((?:\\d|;)*)([a-zA-Z])").expect("constant regex"));

/// Python's `str.isspace` (White_Space plus the information separators U+001C..U+001F).
pub(super) fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `whitespace_clean(ftfy.fix_text(text)).lower()`.
pub(super) fn clean_lower(tables: &Tables, text: &str) -> String {
    let fixed = fix_text(tables, text);
    let words: Vec<&str> = fixed.split(py_isspace).filter(|w| !w.is_empty()).collect();
    words.join(" ").to_lowercase()
}

/// `ftfy.fix_text` with its default configuration, line by line as ftfy does.
fn fix_text(tables: &Tables, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // "auto": HTML is unescaped until a segment holding '<' is seen, then never again.
    let mut unescape = true;
    for segment in text.split_inclusive('\n') {
        if segment.contains('<') {
            unescape = false;
        }
        out.push_str(&fix_segment(tables, segment, unescape));
    }
    out
}

/// `ftfy.fix_and_explain`: apply the fixers until the text stops changing.
fn fix_segment(tables: &Tables, segment: &str, unescape: bool) -> String {
    let mut text = segment.to_owned();
    loop {
        let mut next = if unescape {
            ftfy_unescape(tables, &text)
        } else {
            text.clone()
        };
        next = map_chars(&next, |c| tables.c1.get(&c));
        next = map_chars(&next, |c| tables.ligatures.get(&c));
        next = map_chars(&next, |c| tables.width.get(&c));
        next = next
            .chars()
            .map(|c| match c {
                '\u{2bc}' | '\u{2018}'..='\u{201b}' => '\'',
                '\u{201c}'..='\u{201f}' => '"',
                c => c,
            })
            .collect();
        next = next
            .replace("\r\n", "\n")
            .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n");
        next = ANSI_ESCAPE.replace_all(&next, "").into_owned();
        next.retain(|c| !tables.control.contains(&u32::from(c)));
        next = next.nfc().collect();
        if next == text {
            return text;
        }
        text = next;
    }
}

fn map_chars<'a>(text: &str, lookup: impl Fn(char) -> Option<&'a String>) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match lookup(c) {
            Some(replacement) => out.push_str(replacement),
            None => out.push(c),
        }
    }
    out
}

/// `ftfy.fixes.unescape_html`: only `&...;` forms, with ftfy's own entity table.
fn ftfy_unescape(tables: &Tables, text: &str) -> String {
    FTFY_ENTITY
        .replace_all(text, |caps: &Captures| {
            let entity = &caps[0];
            if let Some(value) = tables.ftfy_entities.get(entity) {
                value.clone()
            } else if entity.starts_with("&#") {
                let unescaped = html_unescape(tables, entity);
                if unescaped.contains(';') {
                    entity.to_owned()
                } else {
                    unescaped
                }
            } else {
                entity.to_owned()
            }
        })
        .into_owned()
}

/// Python's `html.unescape` (ftfy uses it for numeric references).
fn html_unescape(tables: &Tables, text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    HTML_CHARREF
        .replace_all(text, |caps: &Captures| charref(tables, &caps[1]))
        .into_owned()
}

fn charref(tables: &Tables, s: &str) -> String {
    if let Some(number) = s.strip_prefix('#') {
        let (digits, radix) = match number.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (number, 10),
        };
        let digits = digits.trim_end_matches(';');
        // Saturate: any value past U+10FFFF is treated alike.
        let num = digits.chars().fold(0u64, |acc, d| {
            let v = u64::from(d.to_digit(radix).unwrap_or(0));
            (acc * radix as u64 + v).min(0x11_0000)
        });
        let num = u32::try_from(num).unwrap_or(0x11_0000);
        if let Some(replacement) = tables.invalid_charrefs.get(&num) {
            return replacement.clone();
        }
        if (0xD800..=0xDFFF).contains(&num) || num > 0x10_FFFF {
            return "\u{fffd}".to_owned();
        }
        if tables.invalid_codepoints.contains(&num) {
            return String::new();
        }
        return char::from_u32(num).map(String::from).unwrap_or_default();
    }
    if let Some(value) = tables.html5.get(s) {
        return value.clone();
    }
    // The longest prefix naming an entity (only semicolon-less names can match here).
    let boundaries: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
    for &end in boundaries.iter().skip(2).rev() {
        if let Some(value) = tables.html5.get(&s[..end]) {
            return format!("{value}{}", &s[end..]);
        }
    }
    format!("&{s}")
}
