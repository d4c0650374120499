//! A caption as an editable list of tags (no UI in it): the first line split at commas, the
//! other lines kept as they are (sd-scripts trains on the first line; extra lines are notes
//! some people keep). Untouched, it gives back the first line exactly as written.

use super::caption::{join_tags, split_tags};

/// The tag face: the first line of the caption as tags, the other lines kept as they are
/// (sd-scripts trains on the first line; extra lines are notes some people keep).
#[derive(Debug, Clone, PartialEq)]
pub struct TagList {
    pub tags: Vec<String>,
    pub cursor: usize,
    /// The first line as written, returned unchanged while the tags are untouched (so `a,b`
    /// does not silently become `a, b`).
    first_line: String,
    rest: Option<String>,
    touched: bool,
}

impl TagList {
    pub fn from_text(text: &str) -> TagList {
        let (first, rest) = match text.split_once('\n') {
            Some((f, r)) => (f, Some(r.to_string())),
            None => (text, None),
        };
        TagList {
            tags: split_tags(first),
            cursor: 0,
            first_line: first.to_string(),
            rest,
            touched: false,
        }
    }

    pub fn text(&self) -> String {
        let first = if self.touched {
            join_tags(&self.tags)
        } else {
            self.first_line.clone()
        };
        match &self.rest {
            Some(rest) => format!("{first}\n{rest}"),
            None => first,
        }
    }

    fn clamp(&mut self) {
        self.cursor = self.cursor.min(self.tags.len().saturating_sub(1));
    }

    pub fn move_cursor(&mut self, delta: isize) {
        let last = self.tags.len().saturating_sub(1) as isize;
        self.cursor = (self.cursor as isize + delta).clamp(0, last.max(0)) as usize;
    }

    /// Adds tags (the input may hold several, comma-separated) after the cursor.
    pub fn add(&mut self, input: &str) {
        let new = split_tags(input);
        if new.is_empty() {
            return;
        }
        let at = if self.tags.is_empty() {
            0
        } else {
            self.cursor + 1
        };
        let n = new.len();
        self.tags.splice(at..at, new);
        self.cursor = at + n - 1;
        self.touched = true;
    }

    /// Replaces the tag under the cursor; an empty input deletes it.
    pub fn edit(&mut self, input: &str) {
        if self.tags.is_empty() {
            return self.add(input);
        }
        let new = split_tags(input);
        let at = self.cursor;
        self.tags.splice(at..=at, new);
        self.touched = true;
        self.clamp();
    }

    pub fn delete(&mut self) {
        if self.cursor < self.tags.len() {
            self.tags.remove(self.cursor);
            self.touched = true;
            self.clamp();
        }
    }

    /// Moves the tag under the cursor by `delta` places, taking the cursor with it.
    pub fn shift(&mut self, delta: isize) {
        let to = self.cursor as isize + delta;
        if self.tags.is_empty() || to < 0 || to as usize >= self.tags.len() {
            return;
        }
        self.tags.swap(self.cursor, to as usize);
        self.cursor = to as usize;
        self.touched = true;
    }

    pub fn to_front(&mut self) {
        if self.cursor > 0 && self.cursor < self.tags.len() {
            let tag = self.tags.remove(self.cursor);
            self.tags.insert(0, tag);
            self.cursor = 0;
            self.touched = true;
        }
    }

    pub fn current(&self) -> Option<&str> {
        self.tags.get(self.cursor).map(String::as_str)
    }
}
