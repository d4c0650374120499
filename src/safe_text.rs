//! Text from user data (captions, file names, LoRA metadata) made safe to print on a terminal:
//! control characters (C0, DEL, C1: ESC, BEL, the OSC and CSI introducers...) are shown as
//! visible escapes (`\x1b`, `\u{9b}`) instead of being sent to the terminal, which would obey
//! them (change the title, move the cursor, hide text, ring the bell).

use std::borrow::Cow;
use std::fmt::Write;

/// A C0 or C1 control character or DEL: what a terminal may act on.
pub fn is_control(c: char) -> bool {
    c.is_control()
}

/// One line: every control character escaped, newlines and tabs too.
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape(text, |_| true)
}

/// A block of lines (a diff, a multi-line caption): newlines and tabs kept, every other
/// control character escaped.
pub fn block(text: &str) -> Cow<'_, str> {
    escape(text, |c| c != '\n' && c != '\t')
}

fn escape(text: &str, escaped: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_control(c) && escaped(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !(is_control(c) && escaped(c)) {
            out.push(c);
            continue;
        }
        let _ = match c {
            '\n' => write!(out, "\\n"),
            '\t' => write!(out, "\\t"),
            '\r' => write!(out, "\\r"),
            c if u32::from(c) < 0x80 => write!(out, "\\x{:02x}", u32::from(c)),
            c => write!(out, "\\u{{{:x}}}", u32::from(c)),
        };
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_control_character_survives() {
        // Every C0, DEL and C1 character, among text, in both forms.
        let all: String = (0u32..0x20)
            .chain(0x7f..0xa0)
            .filter_map(char::from_u32)
            .flat_map(|c| [c, 'a'])
            .collect();
        for shown in [one_line(&all), block(&all)] {
            assert!(
                !shown
                    .chars()
                    .any(|c| is_control(c) && c != '\n' && c != '\t'),
                "{shown:?}"
            );
        }
        assert!(!one_line(&all).contains('\n'));
        assert_eq!(one_line("a\x1b]0;title\x07b"), "a\\x1b]0;title\\x07b");
        assert_eq!(block("a\n\tb\u{9b}c"), "a\n\tb\\u{9b}c");
        assert!(matches!(one_line("plain, text"), Cow::Borrowed(_)));
    }
}
