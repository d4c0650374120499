//! Caption text: bytes on disk <-> text, keeping the file's own conventions, and the
//! comma-separated tag view of a caption.

/// How lines end in a caption file. Kept on write so a Windows-made file stays CRLF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    #[default]
    Lf,
    CrLf,
}

/// A caption decoded from UTF-8. `text` uses `\n` between lines and has no final newline;
/// `encode` puts back the line endings, the final newline and the byte-order mark it came with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaptionText {
    pub text: String,
    pub line_ending: LineEnding,
    pub final_newline: bool,
    pub bom: bool,
}

/// The caption is not valid UTF-8; the bytes are kept untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotUtf8 {
    /// Byte offset of the first invalid sequence.
    pub at: usize,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl CaptionText {
    pub fn decode(bytes: &[u8]) -> Result<CaptionText, NotUtf8> {
        let (bom, body) = match bytes.strip_prefix(BOM) {
            Some(rest) => (true, rest),
            None => (false, bytes),
        };
        let s = std::str::from_utf8(body).map_err(|e| NotUtf8 {
            at: e.valid_up_to() + if bom { BOM.len() } else { 0 },
        })?;
        let line_ending = if s.contains("\r\n") {
            LineEnding::CrLf
        } else {
            LineEnding::Lf
        };
        let final_newline = s.ends_with('\n');
        let mut text = s.replace("\r\n", "\n");
        if final_newline {
            text.pop();
        }
        Ok(CaptionText {
            text,
            line_ending,
            final_newline,
            bom,
        })
    }

    /// A caption for a new file: plain text, LF, no final newline (what most taggers write).
    pub fn new(text: impl Into<String>) -> CaptionText {
        CaptionText {
            text: text.into(),
            ..CaptionText::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 4);
        if self.bom {
            out.extend_from_slice(BOM);
        }
        let nl = match self.line_ending {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
        };
        // Normalise whatever the editor produced to the file's own line ending.
        let body = self.text.replace("\r\n", "\n");
        out.extend_from_slice(body.replace('\n', nl).as_bytes());
        if self.final_newline {
            out.extend_from_slice(nl.as_bytes());
        }
        out
    }

    /// The same file conventions with other text.
    pub fn with_text(&self, text: impl Into<String>) -> CaptionText {
        CaptionText {
            text: text.into(),
            ..self.clone()
        }
    }

    /// The lines of the caption (sd-scripts trains on the first one only).
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.split('\n')
    }
}

/// The tags of a whole caption: every line split at its commas (what the info panel counts,
/// for a caption on disk and for the editor's draft alike).
pub fn caption_tags(text: &str) -> Vec<String> {
    text.lines().flat_map(split_tags).collect()
}

/// Splits a caption line into tags at top-level commas: a comma inside `()`, `[]`, `{}` does
/// not split (`(red, blue:1.2)` stays one tag), and escaped brackets `\(` are taken as text.
/// So is a bracket without its partner (`smile (happy, red hair`): it groups nothing, so the
/// commas after it still split. Tags are trimmed; empty tags are dropped.
pub fn split_tags(line: &str) -> Vec<String> {
    raw_tags(line)
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The line cut at its top-level commas, untrimmed and with empty pieces kept (`a,, b` gives
/// `a`, ``, ` b`): what [`split_tags`] trims, and where empty tags show.
pub fn raw_tags(line: &str) -> Vec<&str> {
    let paired = paired_brackets(line);
    let mut pieces = Vec::new();
    let mut depth: usize = 0;
    let mut start = 0;
    for (i, c) in line.char_indices() {
        match c {
            '(' | '[' | '{' if paired.binary_search(&i).is_ok() => depth += 1,
            ')' | ']' | '}' if paired.binary_search(&i).is_ok() => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                pieces.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&line[start..]);
    pieces
}

/// How many empty tags a line holds (`a,, b,` has two: between the commas and after the last).
/// A line with no comma has none, even when blank.
pub fn empty_tags(line: &str) -> usize {
    let pieces = raw_tags(line);
    if pieces.len() < 2 {
        return 0;
    }
    pieces.iter().filter(|p| p.trim().is_empty()).count()
}

/// Byte offsets of the brackets that have a partner (an opener and the closer of the same kind
/// that ends it, nested properly); escaped brackets (`\(`) are text and never pair.
fn paired_brackets(line: &str) -> Vec<usize> {
    let (paired, _) = match_brackets(line);
    paired
}

/// The brackets of a line without a partner, as (character offset, bracket), in order.
pub fn unbalanced_brackets(line: &str) -> Vec<(usize, char)> {
    let (_, lone) = match_brackets(line);
    let chars: Vec<usize> = line.char_indices().map(|(i, _)| i).collect();
    lone.into_iter()
        .filter_map(|byte| {
            let at = chars.binary_search(&byte).ok()?;
            Some((at, line[byte..].chars().next()?))
        })
        .collect()
}

/// (paired, lone) bracket byte offsets. A closer pairs with the innermost open bracket if it is
/// of its kind; otherwise it is lone. Openers still open at the end are lone.
fn match_brackets(line: &str) -> (Vec<usize>, Vec<usize>) {
    let mut open: Vec<(usize, char)> = Vec::new();
    let (mut paired, mut lone) = (Vec::new(), Vec::new());
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        let opener = match c {
            '\\' => {
                escaped = true;
                continue;
            }
            '(' | '[' | '{' => {
                open.push((i, c));
                continue;
            }
            ')' => '(',
            ']' => '[',
            '}' => '{',
            _ => continue,
        };
        match open.last() {
            Some(&(at, o)) if o == opener => {
                open.pop();
                paired.extend([at, i]);
            }
            _ => lone.push(i),
        }
    }
    lone.extend(open.into_iter().map(|(i, _)| i));
    lone.sort_unstable();
    paired.sort_unstable();
    (paired, lone)
}

/// Joins tags the way taggers write them: `a, b, c`.
pub fn join_tags(tags: &[String]) -> String {
    tags.join(", ")
}

/// Tags compare case-insensitively and with runs of whitespace collapsed.
pub fn same_tag(a: &str, b: &str) -> bool {
    let mut x = a.split_whitespace();
    let mut y = b.split_whitespace();
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(p), Some(q))
                if p.eq_ignore_ascii_case(q) || p.to_lowercase() == q.to_lowercase() => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_conventions() {
        for raw in [
            &b"a, b"[..],
            b"a, b\n",
            b"a, b\r\nsecond line\r\n",
            b"\xEF\xBB\xBFbom, caption\n",
            b"",
            b"\n",
        ] {
            let c = CaptionText::decode(raw).unwrap();
            assert_eq!(c.encode(), raw, "{raw:?}");
        }
    }

    #[test]
    fn keeps_crlf_on_edit() {
        let c = CaptionText::decode(b"one\r\ntwo\r\n").unwrap();
        assert_eq!(c.text, "one\ntwo");
        assert_eq!(c.with_text("x\ny").encode(), b"x\r\ny\r\n");
    }

    #[test]
    fn rejects_latin1_without_mangling() {
        let err = CaptionText::decode(b"caf\xe9, lighthouse").unwrap_err();
        assert_eq!(err.at, 3);
    }

    #[test]
    fn splits_at_top_level_commas_only() {
        assert_eq!(
            split_tags(" a ,(b, c:1.2), \\(d\\), ,e"),
            vec!["a", "(b, c:1.2)", "\\(d\\)", "e"]
        );
        assert_eq!(split_tags("x {a|b, c} y, z"), vec!["x {a|b, c} y", "z"]);
        assert!(split_tags(" , ").is_empty());
    }

    #[test]
    fn a_lone_bracket_is_text_and_groups_nothing() {
        assert_eq!(
            split_tags("lbx, smile (happy, red hair"),
            vec!["lbx", "smile (happy", "red hair"]
        );
        assert_eq!(split_tags("a], b, [c, d]"), vec!["a]", "b", "[c, d]"]);
        assert_eq!(split_tags("(a, b], c"), vec!["(a", "b]", "c"]);
        assert_eq!(
            unbalanced_brackets("x (a, [b], c"),
            vec![(2, '(')],
            "the nested pair is balanced"
        );
        assert_eq!(unbalanced_brackets("é), \\(d"), vec![(1, ')')]);
        assert!(unbalanced_brackets("(a, [b]), {c}").is_empty());
    }

    #[test]
    fn tag_equality_ignores_case_and_spacing() {
        assert!(same_tag("Long  Hair", "long hair"));
        assert!(!same_tag("long hair", "long_hair"));
    }
}
