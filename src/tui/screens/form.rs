//! A small form of one-line fields (a trigger word, a tag's new name, a LoRA operation's
//! inputs): Tab moves between fields, Enter submits, Esc cancels.

use ratatui::crossterm::event::KeyEvent;
use ratatui_textarea::{CursorMove, TextArea};

/// What a form asks for; the screen that opened it reads its values by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormId {
    LintFilter,
    LintTrigger,
    Target,
    TagRename,
    LoraOpen,
    Convert,
    Merge,
    Resize,
    Mix,
    Extract,
}

pub struct Field {
    pub label: &'static str,
    pub input: TextArea<'static>,
}

pub struct Form {
    pub id: FormId,
    pub title: String,
    pub fields: Vec<Field>,
    pub focus: usize,
    /// Why the last submit was refused.
    pub error: Option<String>,
    /// A line of help under the fields.
    pub help: &'static str,
}

/// The submitted text of every field, in order.
pub struct Values {
    pub id: FormId,
    pub values: Vec<String>,
}

impl Values {
    /// Field `i`, trimmed (empty when absent).
    pub fn get(&self, i: usize) -> &str {
        self.values.get(i).map_or("", |v| v.trim())
    }
}

impl Form {
    /// `fields`: label and initial text.
    pub fn new(
        id: FormId,
        title: impl Into<String>,
        fields: &[(&'static str, String)],
        help: &'static str,
    ) -> Form {
        Form {
            id,
            title: title.into(),
            fields: fields
                .iter()
                .map(|(label, text)| {
                    let mut input = TextArea::new(vec![text.clone()]);
                    input.move_cursor(CursorMove::End);
                    Field { label, input }
                })
                .collect(),
            focus: 0,
            error: None,
            help,
        }
    }

    pub fn next_field(&mut self) {
        if !self.fields.is_empty() {
            self.focus = (self.focus + 1) % self.fields.len();
        }
    }

    pub fn input(&mut self, key: KeyEvent) {
        if let Some(f) = self.fields.get_mut(self.focus) {
            f.input.input(key);
            self.error = None;
        }
    }

    pub fn take_values(&self) -> Values {
        Values {
            id: self.id,
            values: self
                .fields
                .iter()
                .map(|f| f.input.lines().join(" "))
                .collect(),
        }
    }
}
