//! The safe fixes lint offers, planned as caption edits (shown as a diff first) and applied as
//! one journal entry, so `lorabench captions undo` takes them back.

use super::Kind;
use super::text::{
    content_lines, drop_controls, drop_empty_tags, guess_encoding, join_lines, tidy_whitespace,
};
use crate::dataset::caption::CaptionText;
use crate::dataset::ops::{BulkOp, Edit, Plan};
use crate::dataset::scan::{CaptionState, Dataset, Item};

/// The finding kinds that have a safe fix.
pub const FIXABLE: [Kind; 9] = [
    Kind::CaptionEncoding,
    Kind::ControlCharacter,
    Kind::MultiLineCaption,
    Kind::Whitespace,
    Kind::EmptyTag,
    Kind::DuplicateTag,
    Kind::MissingTrigger,
    Kind::EmptyCaption,
    Kind::MissingCaption,
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixError {
    #[error("`{0}` has no automatic fix; fixable kinds: {1}")]
    NotFixable(String, String),
    #[error("the missing-trigger fix needs the trigger word: pass --trigger WORD")]
    NoTrigger,
}

/// Check the requested kinds.
pub fn parse_kinds(ids: &[String]) -> Result<Vec<Kind>, FixError> {
    ids.iter()
        .map(|id| {
            Kind::from_id(id.trim())
                .filter(|k| FIXABLE.contains(k))
                .ok_or_else(|| {
                    FixError::NotFixable(
                        id.clone(),
                        FIXABLE
                            .iter()
                            .map(|k| k.id())
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                })
        })
        .collect()
}

/// The caption a new or empty caption gets: the kohya class tokens of its `N_name` folder,
/// else its folder's name (the dataset folder's for images at the top).
pub fn folder_caption(dataset: &Dataset, item: &Item) -> String {
    if let Some(folder) = &item.folder {
        return folder.name.clone();
    }
    let dir = match item.path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::fs::canonicalize(&dataset.root).unwrap_or_else(|_| dataset.root.clone()),
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.replace('_', " ").trim().to_string()
}

/// Plan the fixes of `kinds` over the included images. Nothing is written.
pub fn plan(dataset: &Dataset, kinds: &[Kind], trigger: Option<&str>) -> Result<Plan, FixError> {
    let wants = |k: Kind| kinds.contains(&k);
    let trigger_op = if wants(Kind::MissingTrigger) {
        Some(BulkOp::Trigger {
            word: trigger.ok_or(FixError::NoTrigger)?.to_string(),
        })
    } else {
        None
    };
    let dedupe = BulkOp::Dedupe;
    let mut plan = Plan::default();
    for item in dataset.items.iter().filter(|i| !i.excluded) {
        let path = dataset.rel_caption_path(item);
        let (old, mut caption) = match &item.caption {
            CaptionState::Text(c) => (Some(c.encode()), c.clone()),
            CaptionState::NotUtf8(bytes) if wants(Kind::CaptionEncoding) => {
                let guess = guess_encoding(bytes);
                let Some(text) = guess.text else {
                    plan.skipped.push((
                        path,
                        format!("looks like {}: not re-encoded automatically", guess.name),
                    ));
                    continue;
                };
                match CaptionText::decode(text.as_bytes()) {
                    Ok(c) => (Some(bytes.clone()), c),
                    Err(_) => continue,
                }
            }
            CaptionState::NotUtf8(_) => {
                plan.skipped
                    .push((path, "not UTF-8: fix caption-encoding first".into()));
                continue;
            }
            CaptionState::Missing if wants(Kind::EmptyCaption) || wants(Kind::MissingCaption) => {
                (None, CaptionText::new(""))
            }
            CaptionState::Missing | CaptionState::Unreadable(_) => continue,
        };
        let mut text = caption.text.clone();
        if wants(Kind::ControlCharacter) {
            text = drop_controls(&text);
        }
        if wants(Kind::MultiLineCaption) && content_lines(&text).len() > 1 {
            text = join_lines(&text);
        }
        if wants(Kind::Whitespace) {
            text = tidy_whitespace(&text);
        } else if wants(Kind::EmptyTag) {
            text = drop_empty_tags(&text);
        }
        if wants(Kind::DuplicateTag)
            && let Ok(op) = dedupe.compile()
        {
            text = op.apply(&text);
        }
        if text.trim().is_empty() && (wants(Kind::EmptyCaption) || wants(Kind::MissingCaption)) {
            text = folder_caption(dataset, item);
        }
        if let Some(op) = &trigger_op
            && let Ok(op) = op.compile()
            && !text.trim().is_empty()
        {
            text = op.apply(&text);
        }
        caption = caption.with_text(text);
        let new = caption.encode();
        if old.as_deref() != Some(new.as_slice()) {
            plan.edits.push(Edit { path, old, new });
        }
    }
    Ok(plan)
}
