//! The filter language of the browser (`/`) and of `--filter`:
//!
//! | term          | matches images whose ...                                  |
//! |---------------|-----------------------------------------------------------|
//! | `word`        | caption contains `word` (case-insensitive)                 |
//! | `"two words"` | caption contains the phrase                               |
//! | `tag:x`       | caption has the tag `x` (`tag:"long hair"` for spaces)     |
//! | `name:glob`   | file name matches the glob (`*`, `?`); with `/`, the path |
//! | `nocaption`   | caption is missing or empty                               |
//! | `excluded`    | image is excluded (without it, only included images match) |
//!
//! Any term but `excluded` can be negated with a leading `-`. Terms combine with AND; `|`
//! (outside quotes, alone or between terms) separates alternatives, and an image matches when
//! one alternative matches all its terms: `tag:night | tag:dusk sea` is night, or dusk and sea.

use super::caption::same_tag;
use super::scan::Item;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Text(String),
    Tag(String),
    Name(String),
    NoCaption,
}

/// Terms that must all hold (one alternative of a query).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct All {
    terms: Vec<(bool, Term)>,
    excluded: bool,
}

impl All {
    fn matches(&self, item: &Item) -> bool {
        item.excluded == self.excluded
            && self
                .terms
                .iter()
                .all(|(negated, term)| term_matches(term, item) != *negated)
    }
}

/// A parsed filter: alternatives, any of which may match (none: every included image).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    any: Vec<All>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("unclosed quote in filter {0:?}")]
    UnclosedQuote(String),
    #[error("empty value after {0:?} in filter")]
    EmptyValue(String),
    #[error(
        "unknown filter key {0:?}: the keys are tag:, name: (and the words nocaption, excluded); \
         to search for the text itself, quote it: \"{1}\""
    )]
    UnknownKey(String, String),
}

/// The `key:` prefixes the language knows.
const KEYS: [&str; 2] = ["tag:", "name:"];

impl Query {
    pub fn parse(input: &str) -> Result<Query, QueryError> {
        let mut query = Query::default();
        let mut all = All::default();
        for word in words(input)? {
            let Word::Word(word, quoted) = word else {
                // An empty alternative (`a |`, while typing) adds nothing.
                if all != All::default() {
                    query.any.push(std::mem::take(&mut all));
                }
                continue;
            };
            let (negated, body) = match word.strip_prefix('-') {
                Some(rest) if !rest.is_empty() && !quoted => (true, rest.to_string()),
                _ => (false, word.clone()),
            };
            if !quoted && let Some(key) = unknown_key(&body) {
                return Err(QueryError::UnknownKey(key, body));
            }
            let term = if quoted {
                Term::Text(body.to_lowercase())
            } else if let Some(v) = body.strip_prefix("tag:") {
                Term::Tag(non_empty(v, "tag:")?)
            } else if let Some(v) = body.strip_prefix("name:") {
                Term::Name(non_empty(v, "name:")?.to_lowercase())
            } else if body == "nocaption" {
                Term::NoCaption
            } else if body == "excluded" && !negated {
                all.excluded = true;
                continue;
            } else {
                Term::Text(body.to_lowercase())
            };
            all.terms.push((negated, term));
        }
        if all != All::default() {
            query.any.push(all);
        }
        Ok(query)
    }

    pub fn is_empty(&self) -> bool {
        self.any.is_empty()
    }

    pub fn matches(&self, item: &Item) -> bool {
        if self.any.is_empty() {
            return !item.excluded;
        }
        self.any.iter().any(|all| all.matches(item))
    }
}

/// A word of the filter, or the `|` between alternatives.
enum Word {
    /// The text, and whether it began inside quotes.
    Word(String, bool),
    Or,
}

fn non_empty(v: &str, what: &str) -> Result<String, QueryError> {
    if v.is_empty() {
        Err(QueryError::EmptyValue(what.to_string()))
    } else {
        Ok(v.to_string())
    }
}

/// `key:` of a word that looks like a key (letters, then a colon) the language does not know:
/// `tags:night`, `TAG:night`. Text such as `score:9` or `1girl:1.2` is not a key.
fn unknown_key(body: &str) -> Option<String> {
    let (key, _) = body.split_once(':')?;
    let key = format!("{key}:");
    let looks_like_key = key.len() > 1
        && key[..key.len() - 1]
            .chars()
            .all(|c| c.is_ascii_alphabetic());
    (looks_like_key && !KEYS.contains(&key.as_str())).then_some(key)
}

/// Splits at whitespace and at `|` (kept as [`Word::Or`]); double quotes group
/// (`tag:"long hair"` is one word, `"a|b"` is text). Each word comes with whether it began
/// inside quotes (`"tags:x"` is text, never a key).
fn words(input: &str) -> Result<Vec<Word>, QueryError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut has_word = false;
    let mut starts_quoted = false;
    for c in input.chars() {
        match c {
            '"' => {
                if !has_word {
                    starts_quoted = true;
                }
                quoted = !quoted;
                has_word = true;
            }
            c if (c.is_whitespace() || c == '|') && !quoted => {
                if has_word {
                    out.push(Word::Word(std::mem::take(&mut cur), starts_quoted));
                }
                if c == '|' {
                    out.push(Word::Or);
                }
                has_word = false;
                starts_quoted = false;
            }
            c => {
                cur.push(c);
                has_word = true;
            }
        }
    }
    if quoted {
        return Err(QueryError::UnclosedQuote(input.to_string()));
    }
    if has_word {
        out.push(Word::Word(cur, starts_quoted));
    }
    Ok(out)
}

fn term_matches(term: &Term, item: &Item) -> bool {
    match term {
        Term::Text(t) => item
            .caption
            .text()
            .is_some_and(|c| c.to_lowercase().contains(t.as_str())),
        Term::Tag(t) => item.tags().iter().any(|x| same_tag(x, t)),
        Term::Name(glob) => {
            let subject = if glob.contains('/') {
                item.path.to_string_lossy().to_lowercase()
            } else {
                item.file_name().to_lowercase()
            };
            glob_match(glob, &subject)
        }
        Term::NoCaption => item.caption.text().is_none_or(|c| c.trim().is_empty()),
    }
}

/// `*` matches any run of characters, `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::caption::CaptionText;
    use crate::dataset::scan::CaptionState;
    use std::path::PathBuf;

    fn item(name: &str, caption: Option<&str>, excluded: bool) -> Item {
        Item {
            path: PathBuf::from(name),
            ext_format: None,
            sniffed_format: None,
            file_size: 0,
            caption_path: PathBuf::from(name).with_extension("txt"),
            caption: caption.map_or(CaptionState::Missing, |c| {
                CaptionState::Text(CaptionText::new(c))
            }),
            folder: None,
            excluded,
        }
    }

    #[test]
    fn terms_combine() {
        let a = item(
            "10_x/Night sky.png",
            Some("lbhouse, night, Long Hair"),
            false,
        );
        let b = item("day.jpg", Some("lbhouse, day"), false);
        let c = item("none.png", None, false);
        let d = item("gone.png", Some("night"), true);
        let q = |s: &str| Query::parse(s).unwrap();
        assert!(q("").matches(&a) && !q("").matches(&d));
        assert!(q("tag:night").matches(&a) && !q("tag:night").matches(&b));
        assert!(q("tag:\"long hair\"").matches(&a));
        assert!(!q("tag:long").matches(&a), "tags match whole");
        assert!(q("-tag:night lbhouse").matches(&b) && !q("-tag:night").matches(&a));
        assert!(q("name:*.png nigh").matches(&a) && !q("name:*.png").matches(&b));
        assert!(q("name:10_*/*").matches(&a));
        assert!(q("nocaption").matches(&c) && !q("nocaption").matches(&b));
        assert!(q("-nocaption").matches(&b));
        assert!(q("excluded").matches(&d) && !q("excluded").matches(&a));
        assert!(q("excluded tag:night").matches(&d));
    }

    #[test]
    fn bar_separates_alternatives() {
        let night = item("n.png", Some("night, sea"), false);
        let dusk = item("d.png", Some("dusk, sea"), false);
        let dusk_only = item("o.png", Some("dusk"), false);
        let gone = item("g.png", Some("night"), true);
        let q = |s: &str| Query::parse(s).unwrap();
        for text in ["tag:night | tag:dusk sea", "tag:night|tag:dusk sea"] {
            let q = q(text);
            assert!(q.matches(&night) && q.matches(&dusk), "{text}");
            assert!(!q.matches(&dusk_only), "{text}: AND binds tighter than |");
            assert!(!q.matches(&gone), "{text}: included images only");
        }
        assert!(q("excluded | tag:dusk").matches(&gone));
        assert!(
            q("tag:night |").matches(&night),
            "an empty alternative adds nothing"
        );
        assert!(!q("tag:night |").matches(&dusk));
        assert!(q("|").is_empty());
        let quoted = item("q.png", Some("a|b"), false);
        assert!(q("\"a|b\"").matches(&quoted) && !q("\"a|b\"").matches(&night));
    }

    #[test]
    fn parse_errors() {
        assert!(matches!(
            Query::parse("tag:\"x"),
            Err(QueryError::UnclosedQuote(_))
        ));
        assert!(matches!(
            Query::parse("tag:"),
            Err(QueryError::EmptyValue(_))
        ));
        for unknown in ["tags:night", "TAG:night", "-Name:x", "caption:sea"] {
            let err = Query::parse(unknown).expect_err(unknown);
            assert!(matches!(err, QueryError::UnknownKey(..)), "{unknown}");
            assert!(err.to_string().contains("tag:, name:"), "{err}");
        }
        // Text with a colon that is no key, and quoted text, still search.
        for text in ["1girl:1.2", "(red:1.2)", "\"tags:night\"", "9:16"] {
            assert!(Query::parse(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.png", "a.png"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(glob_match("?.jpg", "x.jpg") && !glob_match("?.jpg", "xy.jpg"));
        assert!(!glob_match("*.png", "a.png.txt"));
    }
}
