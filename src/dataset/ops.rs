//! Bulk caption operations: planned as a list of edits (so they can be shown as a diff first),
//! then applied as one journal entry.

use std::path::PathBuf;

use regex::Regex;

use super::caption::{CaptionText, join_tags, same_tag, split_tags};
use super::error::{DatasetError, Result};
use super::journal::{FileOp, Journal};
use super::scan::{CaptionState, Dataset};

/// Where `add` puts a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Front,
    Back,
    /// 0-based index among the tags (past the end = back).
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkOp {
    /// Adds a tag unless the caption already has it.
    Add {
        tag: String,
        at: Position,
    },
    Remove {
        tag: String,
    },
    /// Renames a tag; if the new name is already there, the old one is just removed.
    Replace {
        old: String,
        new: String,
    },
    /// Puts the trigger word first, once: moved to the front if present elsewhere.
    Trigger {
        word: String,
    },
    /// Substitution over the whole caption text, literal or regex (`$1` in the replacement).
    Sub {
        pattern: String,
        replacement: String,
        regex: bool,
    },
    /// Drops repeated tags (case-insensitive), keeping the first.
    Dedupe,
    /// Trims tags, collapses inner whitespace, writes separators as `, `, drops empty tags.
    Normalize,
}

impl BulkOp {
    pub fn describe(&self) -> String {
        match self {
            BulkOp::Add { tag, .. } => format!("add tag {tag:?}"),
            BulkOp::Remove { tag } => format!("remove tag {tag:?}"),
            BulkOp::Replace { old, new } => format!("replace tag {old:?} with {new:?}"),
            BulkOp::Trigger { word } => format!("trigger word {word:?}"),
            BulkOp::Sub {
                pattern,
                replacement,
                ..
            } => format!("substitute {pattern:?} with {replacement:?}"),
            BulkOp::Dedupe => "dedupe tags".into(),
            BulkOp::Normalize => "normalize captions".into(),
        }
    }

    /// Whether an image with no caption file gets one (with just this tag).
    fn creates_captions(&self) -> bool {
        matches!(self, BulkOp::Add { .. } | BulkOp::Trigger { .. })
    }

    /// Checks the op once (e.g. compiles its regex) so applying it per caption cannot fail.
    pub fn compile(&self) -> Result<CompiledOp<'_>> {
        let regex = match self {
            BulkOp::Sub {
                pattern,
                regex: true,
                ..
            } => Some(Regex::new(pattern).map_err(|e| DatasetError::Pattern {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?),
            _ => None,
        };
        Ok(CompiledOp { op: self, regex })
    }
}

pub struct CompiledOp<'a> {
    op: &'a BulkOp,
    regex: Option<Regex>,
}

impl CompiledOp<'_> {
    /// The caption text after the operation. Tag operations work line by line (each line is a
    /// caption of its own for OneTrainer and SimpleTuner; sd-scripts reads the first).
    pub fn apply(&self, text: &str) -> String {
        match self.op {
            BulkOp::Sub {
                pattern,
                replacement,
                ..
            } => match &self.regex {
                Some(re) => re.replace_all(text, replacement.as_str()).into_owned(),
                None => text.replace(pattern.as_str(), replacement),
            },
            op => text
                .split('\n')
                .map(|line| tag_line(op, line))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

fn tag_line(op: &BulkOp, line: &str) -> String {
    let mut tags = split_tags(line);
    let has = |tags: &[String], t: &str| tags.iter().position(|x| same_tag(x, t));
    match op {
        BulkOp::Add { tag, at } => {
            if has(&tags, tag).is_some() {
                return line.to_string();
            }
            let i = match at {
                Position::Front => 0,
                Position::Back => tags.len(),
                Position::Index(i) => (*i).min(tags.len()),
            };
            tags.insert(i, tag.clone());
        }
        BulkOp::Remove { tag } => {
            if has(&tags, tag).is_none() {
                return line.to_string();
            }
            tags.retain(|x| !same_tag(x, tag));
        }
        BulkOp::Replace { old, new } => {
            let Some(i) = has(&tags, old) else {
                return line.to_string();
            };
            if has(&tags, new).is_some() {
                tags.remove(i);
            } else {
                tags[i] = new.clone();
            }
        }
        BulkOp::Trigger { word } => match has(&tags, word) {
            Some(0) => return line.to_string(),
            Some(i) => {
                let t = tags.remove(i);
                tags.insert(0, t);
            }
            None => tags.insert(0, word.clone()),
        },
        BulkOp::Dedupe => {
            let before = tags.len();
            let mut kept: Vec<String> = Vec::with_capacity(before);
            for t in tags {
                if !kept.iter().any(|k| same_tag(k, &t)) {
                    kept.push(t);
                }
            }
            if kept.len() == before {
                return line.to_string();
            }
            tags = kept;
        }
        BulkOp::Normalize => {
            tags = tags
                .iter()
                .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
        }
        BulkOp::Sub { .. } => return line.to_string(),
    }
    join_tags(&tags)
}

/// One caption file to change (paths relative to the dataset root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub path: PathBuf,
    pub old: Option<Vec<u8>>,
    pub new: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub edits: Vec<Edit>,
    /// Captions left alone, with the reason (not UTF-8, unreadable).
    pub skipped: Vec<(PathBuf, String)>,
}

/// Plans `op` over the items at `indices`. Nothing is written.
pub fn plan(dataset: &Dataset, indices: &[usize], op: &BulkOp) -> Result<Plan> {
    let compiled = op.compile()?;
    let mut plan = Plan::default();
    for &i in indices {
        let Some(item) = dataset.items.get(i) else {
            continue;
        };
        let path = dataset.rel_caption_path(item);
        let (old_caption, old) = match &item.caption {
            CaptionState::Text(c) => (c.clone(), Some(c.encode())),
            CaptionState::Missing if op.creates_captions() => (CaptionText::new(""), None),
            CaptionState::Missing => continue,
            CaptionState::NotUtf8(_) => {
                plan.skipped.push((
                    path,
                    "not UTF-8: left untouched (lint can re-encode it)".into(),
                ));
                continue;
            }
            CaptionState::Unreadable(e) => {
                plan.skipped.push((path, format!("unreadable: {e}")));
                continue;
            }
        };
        let text = compiled.apply(&old_caption.text);
        if text != old_caption.text || old.is_none() {
            plan.edits.push(Edit {
                path,
                old,
                new: old_caption.with_text(text).encode(),
            });
        }
    }
    Ok(plan)
}

impl Plan {
    /// A unified diff of every edit, as `--dry-run` prints it.
    pub fn diff(&self) -> String {
        let ops: Vec<FileOp> = self.clone().into_ops();
        ops_diff(&ops)
    }

    pub fn into_ops(self) -> Vec<FileOp> {
        self.edits
            .into_iter()
            .map(|e| FileOp::Write {
                path: e.path,
                before: e.old,
                after: Some(e.new),
            })
            .collect()
    }

    /// Applies the plan as one journal entry; `None` when there was nothing to change.
    pub fn apply(self, journal: &Journal, description: &str) -> Result<Option<u64>> {
        if self.edits.is_empty() {
            return Ok(None);
        }
        journal.commit(description, self.into_ops()).map(Some)
    }
}

/// The journal entry (description and file ops) that sets the caption of the item at `index`
/// to `text`, keeping the file's line endings, final newline and BOM. `None` when the text is
/// unchanged. Nothing is written: [`write_caption`] commits it, a dry run shows it.
pub fn caption_edit(
    dataset: &Dataset,
    index: usize,
    text: &str,
) -> Result<Option<(String, Vec<FileOp>)>> {
    let Some(item) = dataset.items.get(index) else {
        return Ok(None);
    };
    let (caption, old) = match &item.caption {
        CaptionState::Text(c) if c.text == text => return Ok(None),
        CaptionState::Text(c) => (c.with_text(text), Some(c.encode())),
        CaptionState::Missing if text.is_empty() => return Ok(None),
        CaptionState::Missing => (CaptionText::new(text), None),
        CaptionState::NotUtf8(_) | CaptionState::Unreadable(_) => {
            return Err(DatasetError::NotEditable {
                path: dataset.abs_caption_path(item),
            });
        }
    };
    let description = format!("edit caption {}", item.caption_path.display());
    let ops = vec![FileOp::Write {
        path: dataset.rel_caption_path(item),
        before: old,
        after: Some(caption.encode()),
    }];
    Ok(Some((description, ops)))
}

/// Saves one caption edited in the workbench (see [`caption_edit`]). Refuses (`Conflict`) if
/// the file changed on disk since it was read. `None` when the text is unchanged (nothing is
/// written).
pub fn write_caption(
    journal: &Journal,
    dataset: &Dataset,
    index: usize,
    text: &str,
) -> Result<Option<u64>> {
    match caption_edit(dataset, index, text)? {
        Some((description, ops)) => journal.commit(&description, ops).map(Some),
        None => Ok(None),
    }
}

/// What a list of file ops would do, as a dry run shows it: a unified diff per written file
/// (`/dev/null` for a file created or removed) and one `move FROM -> TO` line per move.
pub fn ops_diff(ops: &[FileOp]) -> String {
    let mut out = String::new();
    for op in ops {
        match op {
            FileOp::Write {
                path,
                before,
                after,
            } => {
                let text = |b: &Option<Vec<u8>>| {
                    b.as_deref()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .unwrap_or_default()
                };
                let side = |b: &Option<Vec<u8>>, prefix: &str| match b {
                    Some(_) => format!("{prefix}/{}", path.display()),
                    None => "/dev/null".to_string(),
                };
                let (old, new) = (text(before), text(after));
                let diff = similar::TextDiff::from_lines(old.as_str(), new.as_str());
                out.push_str(
                    &diff
                        .unified_diff()
                        .header(&side(before, "a"), &side(after, "b"))
                        .to_string(),
                );
            }
            FileOp::Move { from, to } => {
                out.push_str(&format!("move {} -> {}\n", from.display(), to.display()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(op: BulkOp, text: &str) -> String {
        op.compile().unwrap().apply(text)
    }

    #[test]
    fn add_never_doubles() {
        let add = |at| BulkOp::Add {
            tag: "sea".into(),
            at,
        };
        assert_eq!(run(add(Position::Back), "a, b"), "a, b, sea");
        assert_eq!(run(add(Position::Front), "a, b"), "sea, a, b");
        assert_eq!(run(add(Position::Index(1)), "a, b"), "a, sea, b");
        assert_eq!(run(add(Position::Back), "a, Sea, b"), "a, Sea, b");
        assert_eq!(run(add(Position::Back), ""), "sea");
    }

    #[test]
    fn trigger_once_at_front() {
        let t = || BulkOp::Trigger {
            word: "lbhouse".into(),
        };
        assert_eq!(run(t(), "sea, rocks"), "lbhouse, sea, rocks");
        assert_eq!(run(t(), "sea, lbhouse"), "lbhouse, sea");
        let once = run(t(), "sea");
        assert_eq!(run(t(), &once), once);
        assert_eq!(run(t(), "a\nb"), "lbhouse, a\nlbhouse, b");
    }

    #[test]
    fn remove_replace_dedupe_normalize() {
        let r = BulkOp::Remove { tag: "x".into() };
        assert_eq!(run(r, "x, y, X"), "y");
        let rep = |o: &str, n: &str| BulkOp::Replace {
            old: o.into(),
            new: n.into(),
        };
        assert_eq!(run(rep("a", "b"), "a, c"), "b, c");
        assert_eq!(run(rep("a", "c"), "a, c"), "c");
        assert_eq!(run(BulkOp::Dedupe, "a, b, A, b, c"), "a, b, c");
        assert_eq!(
            run(BulkOp::Normalize, " a  b ,,c ,   (d, e:1.2)\\(x\\)"),
            "a b, c, (d, e:1.2)\\(x\\)"
        );
    }

    #[test]
    fn substitution() {
        let sub = |p: &str, r: &str, regex| BulkOp::Sub {
            pattern: p.into(),
            replacement: r.into(),
            regex,
        };
        assert_eq!(run(sub("a.c", "X", false), "abc a.c"), "abc X");
        assert_eq!(
            run(sub("(\\w+)_(\\w+)", "$1 $2", true), "long_hair"),
            "long hair"
        );
        assert!(sub("(", "", true).compile().is_err());
    }

    #[test]
    fn escaped_parentheses_survive_every_op() {
        let text = "\\(artist\\), a";
        for op in [
            BulkOp::Dedupe,
            BulkOp::Normalize,
            BulkOp::Trigger { word: "t".into() },
        ] {
            assert!(run(op, text).contains("\\(artist\\)"));
        }
    }
}
