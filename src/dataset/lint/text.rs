//! Caption text helpers shared by the checks and the fixes: whitespace clean-up, duplicate
//! tags, and guessing the encoding of a caption that is not UTF-8.

use crate::dataset::caption::{empty_tags, raw_tags, same_tag, split_tags};

/// The caption with each line trimmed, runs of spaces/tabs collapsed to one space, spaces
/// before commas removed and empty tags (`a,, b,`) dropped. Line structure is kept (joining
/// lines is a separate fix).
pub fn tidy_whitespace(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            let collapsed = line
                .split([' ', '\t', '\u{a0}', '\u{3000}'])
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
                .replace(" ,", ",");
            drop_empty_tags_line(&collapsed)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The caption with empty tags (`a,, b,`) dropped, per line; nothing else changes.
pub fn drop_empty_tags(text: &str) -> String {
    text.split('\n')
        .map(drop_empty_tags_line)
        .collect::<Vec<_>>()
        .join("\n")
}

fn drop_empty_tags_line(line: &str) -> String {
    if empty_tags(line) == 0 {
        return line.to_string();
    }
    raw_tags(line)
        .into_iter()
        .filter(|t| !t.trim().is_empty())
        .collect::<Vec<_>>()
        .join(",")
        .trim()
        .to_string()
}

/// The caption without control characters other than newline and tab.
pub fn drop_controls(text: &str) -> String {
    text.chars()
        .filter(|&c| !crate::safe_text::is_control(c) || c == '\n' || c == '\t')
        .collect()
}

/// Tags that appear more than once on a line (case-insensitive), once each, in order.
pub fn duplicate_tags(line: &str) -> Vec<String> {
    let tags = split_tags(line);
    let mut dups: Vec<String> = Vec::new();
    for (i, t) in tags.iter().enumerate() {
        if tags[..i].iter().any(|p| same_tag(p, t)) && !dups.iter().any(|d| same_tag(d, t)) {
            dups.push(t.clone());
        }
    }
    dups
}

/// The non-empty lines of a caption.
pub fn content_lines(text: &str) -> Vec<&str> {
    text.split('\n').filter(|l| !l.trim().is_empty()).collect()
}

/// All lines joined into one comma-separated line (the multi-line fix).
pub fn join_lines(text: &str) -> String {
    content_lines(text)
        .iter()
        .map(|l| l.trim().trim_end_matches(',').trim_end())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a non-UTF-8 caption looks like, and its text when we can decode that encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodingGuess {
    pub name: &'static str,
    pub text: Option<String>,
}

/// Windows-1252 for bytes 0x80..0x9F (undefined ones kept as the C1 control, like Python's
/// "sloppy" codec); 0xA0..0xFF are Latin-1.
const CP1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

fn decode_utf16(bytes: &[u8], little: bool) -> Option<String> {
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units = bytes.chunks_exact(2).map(|c| {
        if little {
            u16::from_le_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], c[1]])
        }
    });
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

/// Guess the encoding of bytes that are not UTF-8. UTF-16 (with or without a byte-order mark)
/// and Windows-1252 are decoded; double-byte East Asian encodings are only named.
pub fn guess_encoding(bytes: &[u8]) -> EncodingGuess {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return EncodingGuess {
            name: "UTF-16LE",
            text: decode_utf16(rest, true),
        };
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return EncodingGuess {
            name: "UTF-16BE",
            text: decode_utf16(rest, false),
        };
    }
    let pairs = bytes.len() / 2;
    if pairs > 0 {
        let odd_nuls = bytes.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
        let even_nuls = bytes.iter().step_by(2).filter(|&&b| b == 0).count();
        if odd_nuls * 2 > pairs {
            return EncodingGuess {
                name: "UTF-16LE",
                text: decode_utf16(bytes, true),
            };
        }
        if even_nuls * 2 > pairs {
            return EncodingGuess {
                name: "UTF-16BE",
                text: decode_utf16(bytes, false),
            };
        }
    }
    let high = bytes.iter().filter(|&&b| b >= 0x80).count();
    if high * 4 > bytes.len() && looks_double_byte(bytes) {
        return EncodingGuess {
            name: "a double-byte East Asian encoding (Shift_JIS, GBK or EUC)",
            text: None,
        };
    }
    let text = bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect();
    EncodingGuess {
        name: "Windows-1252 (Latin-1)",
        text: Some(text),
    }
}

/// High bytes come in lead/trail pairs, as in Shift_JIS, GBK and EUC.
fn looks_double_byte(bytes: &[u8]) -> bool {
    let (mut pairs, mut singles, mut i) = (0usize, 0usize, 0);
    while i < bytes.len() {
        if bytes[i] >= 0x81 {
            if i + 1 < bytes.len() && bytes[i + 1] >= 0x40 {
                pairs += 1;
                i += 2;
                continue;
            }
            singles += 1;
        }
        i += 1;
    }
    pairs > 0 && singles * 4 <= pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_tidied_per_line() {
        assert_eq!(tidy_whitespace("  a  b ,c\t\n d "), "a b,c\nd");
        assert_eq!(tidy_whitespace("a, b"), "a, b");
        assert_eq!(tidy_whitespace("a,b,, c,, d,"), "a,b, c, d");
        assert_eq!(tidy_whitespace(", a , ,b"), "a,b");
        assert_eq!(
            tidy_whitespace("(x,, y), z"),
            "(x,, y), z",
            "inside a group is not a tag"
        );
        // The fix leaves nothing the check would still report.
        for messy in ["a,b,, c,, d,", " ,, ", "a ,\t, b,\n,c"] {
            let tidy = tidy_whitespace(messy);
            assert!(tidy.split('\n').all(|l| empty_tags(l) == 0), "{tidy:?}");
            assert_eq!(tidy_whitespace(&tidy), tidy);
        }
    }

    #[test]
    fn duplicates_found_once() {
        assert_eq!(duplicate_tags("a, b, A, a, c"), vec!["A".to_string()]);
        assert!(duplicate_tags("(a, a:1.2), a").is_empty());
    }

    #[test]
    fn encodings_are_guessed() {
        let latin = guess_encoding(b"caf\xe9 \x93q\x94");
        assert_eq!(latin.name, "Windows-1252 (Latin-1)");
        assert_eq!(latin.text.as_deref(), Some("café “q”"));
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("héllo".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(guess_encoding(&utf16).text.as_deref(), Some("héllo"));
        // "日本語" in Shift_JIS.
        let sjis = guess_encoding(b"\x93\xfa\x96\x7b\x8c\xea");
        assert!(sjis.name.contains("East Asian"));
        assert_eq!(join_lines("a, b,\n\nc\n"), "a, b, c");
    }
}
