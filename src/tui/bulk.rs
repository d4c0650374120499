//! The bulk-operation prompt (`b`): one line naming an operation, parsed into a core
//! [`BulkOp`]. Tags may contain spaces, so the rest of the line is the tag, and `=>` separates
//! the two halves of `replace` and `sub`.

use crate::dataset::ops::{BulkOp, Position};

/// The syntax, shown under the prompt.
pub const SYNTAX: &str = "add TAG [@front|@N] · remove TAG · replace OLD => NEW · trigger WORD · \
                          sub TEXT => NEW · regex RE => NEW · dedupe · normalize";

pub fn parse(input: &str) -> Result<BulkOp, String> {
    let input = input.trim();
    let (verb, rest) = input.split_once(char::is_whitespace).unwrap_or((input, ""));
    let rest = rest.trim();
    let need = |what: &str| -> Result<String, String> {
        if rest.is_empty() {
            Err(format!("{verb} needs {what}"))
        } else {
            Ok(rest.to_string())
        }
    };
    let pair = || -> Result<(String, String), String> {
        let (a, b) = rest
            .split_once("=>")
            .ok_or_else(|| format!("{verb} needs OLD => NEW"))?;
        let a = a.trim();
        if a.is_empty() {
            return Err(format!("{verb} needs something to look for before =>"));
        }
        Ok((a.to_string(), b.trim().to_string()))
    };
    Ok(match verb.to_ascii_lowercase().as_str() {
        "add" => {
            let (tag, at) = match rest.rsplit_once(" @") {
                Some((tag, pos)) => (tag.trim(), position(pos.trim())?),
                None => (rest, Position::Back),
            };
            if tag.is_empty() {
                return Err("add needs a tag".into());
            }
            BulkOp::Add {
                tag: tag.to_string(),
                at,
            }
        }
        "remove" | "rm" => BulkOp::Remove {
            tag: need("a tag")?,
        },
        "replace" => {
            let (old, new) = pair()?;
            BulkOp::Replace { old, new }
        }
        "trigger" => BulkOp::Trigger {
            word: need("a trigger word")?,
        },
        "sub" | "regex" => {
            let (pattern, replacement) = pair()?;
            BulkOp::Sub {
                pattern,
                replacement,
                regex: verb.eq_ignore_ascii_case("regex"),
            }
        }
        "dedupe" => BulkOp::Dedupe,
        "normalize" => BulkOp::Normalize,
        "" => return Err("type an operation".into()),
        other => return Err(format!("unknown operation {other:?}")),
    })
}

fn position(s: &str) -> Result<Position, String> {
    match s {
        "front" => Ok(Position::Front),
        "back" => Ok(Position::Back),
        n => n
            .parse::<usize>()
            .map(Position::Index)
            .map_err(|_| format!("position {n:?} is not front, back or a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_operation() {
        assert_eq!(
            parse("add red hair @front"),
            Ok(BulkOp::Add {
                tag: "red hair".into(),
                at: Position::Front
            })
        );
        assert_eq!(
            parse("add  (sky, blue:1.2) "),
            Ok(BulkOp::Add {
                tag: "(sky, blue:1.2)".into(),
                at: Position::Back
            })
        );
        assert_eq!(
            parse("add x @2"),
            Ok(BulkOp::Add {
                tag: "x".into(),
                at: Position::Index(2)
            })
        );
        assert_eq!(
            parse("remove sea"),
            Ok(BulkOp::Remove { tag: "sea".into() })
        );
        assert_eq!(
            parse("replace old tag => new tag"),
            Ok(BulkOp::Replace {
                old: "old tag".into(),
                new: "new tag".into()
            })
        );
        assert_eq!(
            parse("trigger lhx"),
            Ok(BulkOp::Trigger { word: "lhx".into() })
        );
        assert_eq!(
            parse(r"regex (\d+) => n$1"),
            Ok(BulkOp::Sub {
                pattern: r"(\d+)".into(),
                replacement: "n$1".into(),
                regex: true
            })
        );
        assert_eq!(parse("dedupe"), Ok(BulkOp::Dedupe));
        assert_eq!(parse("NORMALIZE"), Ok(BulkOp::Normalize));
    }

    #[test]
    fn explains_bad_input() {
        assert_eq!(parse("add"), Err("add needs a tag".into()));
        assert!(parse("replace a b").unwrap_err().contains("=>"));
        assert!(parse("add x @top").unwrap_err().contains("top"));
        assert!(parse("frobnicate").unwrap_err().contains("frobnicate"));
        assert!(parse("  ").is_err());
    }
}
