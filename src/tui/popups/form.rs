//! A small form of one-line fields (a trigger word, a tag's new name, a LoRA operation's
//! inputs), as a pop-up component: its commands (next field, submit, cancel), its keys (the
//! `form` mode; other keys are typed into the focused field) and its drawing.

use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui_textarea::TextArea;

use crate::tui::command::Command;
use crate::tui::theme::Theme;
use crate::tui::widgets::line_input;
use crate::tui::widgets::panel::{centered, panel};

/// The keymap mode of an open form.
pub const MODE: &str = "form";
const SUBMIT: &str = "submit";
const NEXT: &str = "next-field";
const CANCEL: &str = "cancel";

/// What a key did to the form.
pub enum Outcome {
    /// Still open.
    Stay,
    Submit(Values),
    Cancel,
}

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
    TrainSave,
    TrainLoad,
    TrainBase,
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
                .map(|(label, text)| Field {
                    label,
                    input: line_input::new(text),
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
        if let Some(f) = self.fields.get_mut(self.focus)
            && line_input::key(&mut f.input, key)
        {
            self.error = None;
        }
    }

    pub fn commands() -> Vec<Command> {
        vec![
            Command::new(SUBMIT, "run / apply").bar("ok", 0),
            Command::new(NEXT, "next field").bar("next field", 1),
            Command::new(CANCEL, "cancel").bar("cancel", 0),
        ]
    }

    pub fn event(&mut self, action: Option<&str>, key: KeyEvent) -> Outcome {
        match action {
            Some(SUBMIT) => return Outcome::Submit(self.take_values()),
            Some(NEXT) => self.next_field(),
            Some(CANCEL) => return Outcome::Cancel,
            _ => self.input(key),
        }
        Outcome::Stay
    }

    pub fn draw(&self, frame: &mut Frame, t: &Theme) {
        let label_w = self.fields.iter().map(|x| x.label.len()).max().unwrap_or(0) as u16 + 2;
        let height = self.fields.len() as u16 + 5;
        let area = centered(frame.area(), 80, height);
        frame.render_widget(Clear, area);
        let block = panel(Line::from(format!(" {} ", self.title)), true, t).style(t.popup);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        for (i, field) in self.fields.iter().enumerate() {
            let y = inner.y + i as u16;
            if y >= inner.bottom() {
                return;
            }
            let focused = i == self.focus;
            let label_style = if focused { t.accent } else { t.dim };
            frame.render_widget(
                Line::styled(
                    format!("{:>w$}: ", field.label, w = usize::from(label_w - 2)),
                    label_style,
                ),
                Rect::new(inner.x, y, label_w.min(inner.width), 1),
            );
            let input = Rect::new(
                inner.x + label_w.min(inner.width),
                y,
                inner.width.saturating_sub(label_w),
                1,
            );
            if focused {
                line_input::draw(frame, &field.input, input, t);
            } else {
                frame.render_widget(Line::styled(line_input::text(&field.input), t.base), input);
            }
        }
        let help_y = inner.y + self.fields.len() as u16 + 1;
        if help_y < inner.bottom() {
            let help = match &self.error {
                Some(e) => Line::styled(e.clone(), t.error),
                None => Line::styled(self.help, t.dim),
            };
            let rest = Rect::new(inner.x, help_y, inner.width, inner.bottom() - help_y);
            frame.render_widget(Paragraph::new(help).wrap(Wrap { trim: true }), rest);
        }
    }

    pub fn take_values(&self) -> Values {
        Values {
            id: self.id,
            values: self
                .fields
                .iter()
                .map(|f| line_input::text(&f.input))
                .collect(),
        }
    }
}
