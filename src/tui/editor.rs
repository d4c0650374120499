//! The caption editor's state: the caption as free text (a multi-line text area) or as a list
//! of comma-separated tags. Both edit the same draft; the draft is compared with the caption
//! it started from, so switching modes or moving a tag back where it was is not a change.

use std::path::{Path, PathBuf};

use ratatui_textarea::{TextArea, WrapMode};

use crate::dataset::tag_list::TagList;

/// Which face of the editor is showing.
pub enum EditorMode {
    Text(Box<TextArea<'static>>),
    Tags(TagList),
}

/// A text area holding `text`, soft-wrapped at word boundaries.
pub fn text_area(text: &str) -> TextArea<'static> {
    let mut area = TextArea::new(text.split('\n').map(str::to_string).collect());
    area.set_wrap_mode(WrapMode::Word);
    area
}

/// The editor open on one item's caption.
pub struct CaptionEditor {
    /// Index of the item in the dataset.
    pub item: usize,
    /// The caption text the editor started from (empty for a missing caption).
    pub original: String,
    pub mode: EditorMode,
}

impl CaptionEditor {
    pub fn text_mode(item: usize, original: String) -> CaptionEditor {
        let mode = EditorMode::Text(Box::new(text_area(&original)));
        CaptionEditor {
            item,
            original,
            mode,
        }
    }

    pub fn tag_mode(item: usize, original: String) -> CaptionEditor {
        let mode = EditorMode::Tags(TagList::from_text(&original));
        CaptionEditor {
            item,
            original,
            mode,
        }
    }

    /// The draft as it would be saved.
    pub fn text(&self) -> String {
        match &self.mode {
            EditorMode::Text(area) => area.lines().join("\n"),
            EditorMode::Tags(list) => list.text(),
        }
    }

    pub fn is_dirty(&self) -> bool {
        self.text() != self.original
    }

    /// Text <-> tags, keeping the draft.
    pub fn switch_mode(&mut self) {
        let text = self.text();
        self.mode = match &self.mode {
            EditorMode::Text(_) => EditorMode::Tags(TagList::from_text(&text)),
            EditorMode::Tags(_) => EditorMode::Text(Box::new(text_area(&text))),
        };
    }

    /// After a save: the saved text is the new baseline.
    pub fn mark_saved(&mut self) {
        self.original = self.text();
    }

    /// Replaces draft and baseline with `text` (take theirs).
    pub fn reset_to(&mut self, text: String) {
        let tags = matches!(self.mode, EditorMode::Tags(_));
        *self = if tags {
            CaptionEditor::tag_mode(self.item, text)
        } else {
            CaptionEditor::text_mode(self.item, text)
        };
    }
}

/// Where a draft that cannot be saved into the dataset is kept: outside it, in lorabench's
/// state folder (`drafts/`), else the temp folder. The name says which dataset and caption.
pub fn draft_path(root: &Path, caption: &Path) -> PathBuf {
    let name = |p: &Path| {
        p.to_string_lossy()
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    let dataset = root
        .file_name()
        .map_or_else(String::new, |n| name(Path::new(n)));
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let file = format!("{dataset}--{}--{secs}.txt", name(caption));
    crate::train::config::user::state_dir()
        .join("drafts")
        .join(file)
}

/// Writes `text` to `wanted` (a [`draft_path`]), or to the temp folder when that cannot be
/// written; returns where it went.
pub fn keep_draft(wanted: &Path, text: &str) -> std::io::Result<PathBuf> {
    let write = |path: &Path| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, text)
    };
    match write(wanted) {
        Ok(()) => Ok(wanted.to_path_buf()),
        Err(first) => {
            let fallback = std::env::temp_dir()
                .join("lorabench-drafts")
                .join(wanted.file_name().unwrap_or_default());
            write(&fallback).map_err(|_| first)?;
            Ok(fallback)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_tags_keep_the_original_spacing() {
        let mut ed = CaptionEditor::tag_mode(0, "a,b ,c\nnote".into());
        assert!(!ed.is_dirty());
        ed.switch_mode();
        ed.switch_mode();
        assert!(!ed.is_dirty());
        assert_eq!(ed.text(), "a,b ,c\nnote");
    }

    #[test]
    fn tag_operations() {
        let mut ed = CaptionEditor::tag_mode(0, "lighthouse, sea, night".into());
        let EditorMode::Tags(list) = &mut ed.mode else {
            unreachable!()
        };
        list.cursor = 2;
        list.to_front();
        assert_eq!(list.tags, ["night", "lighthouse", "sea"]);
        list.add("storm, (dramatic, sky:1.2)");
        assert_eq!(
            list.tags,
            ["night", "storm", "(dramatic, sky:1.2)", "lighthouse", "sea"]
        );
        assert_eq!(list.current(), Some("(dramatic, sky:1.2)"));
        list.shift(1);
        assert_eq!(list.tags[3], "(dramatic, sky:1.2)");
        list.shift(-1);
        list.edit("\\(escaped\\)");
        list.delete();
        assert_eq!(list.tags, ["night", "storm", "lighthouse", "sea"]);
        assert!(ed.is_dirty());
        assert_eq!(ed.text(), "night, storm, lighthouse, sea");
    }

    #[test]
    fn moving_a_tag_back_is_not_a_change() {
        let mut ed = CaptionEditor::tag_mode(0, "a, b".into());
        let EditorMode::Tags(list) = &mut ed.mode else {
            unreachable!()
        };
        list.shift(1);
        list.shift(-1);
        assert!(!ed.is_dirty());
    }

    #[test]
    fn text_mode_edits_multiple_lines() {
        let mut ed = CaptionEditor::text_mode(0, "one\ntwo".into());
        let EditorMode::Text(area) = &mut ed.mode else {
            unreachable!()
        };
        area.insert_str("x");
        assert_eq!(ed.text(), "xone\ntwo");
        ed.mark_saved();
        assert!(!ed.is_dirty());
    }

    #[test]
    fn empty_list_is_safe() {
        let mut ed = CaptionEditor::tag_mode(0, String::new());
        let EditorMode::Tags(list) = &mut ed.mode else {
            unreachable!()
        };
        list.delete();
        list.shift(1);
        list.to_front();
        list.move_cursor(5);
        assert_eq!(list.cursor, 0);
        list.edit("first");
        assert_eq!(ed.text(), "first");
    }
}
