//! A list to choose one entry from, narrowed by what is typed (the Train screen's base
//! models): the `picker` mode's keys move and choose, any other key is typed into the filter.
//! Choosing hands the entry's value to the screen as a form's one value would be.

use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui_textarea::TextArea;

use crate::tui::command::Command;
use crate::tui::keymap::nav;
use crate::tui::theme::Theme;
use crate::tui::widgets::line_input;
use crate::tui::widgets::panel::{centered, panel, truncate_left, width_of};

use super::form::{FormId, Values};

/// The keymap mode of an open picker.
pub const MODE: &str = "picker";
const SUBMIT: &str = "submit";
const CANCEL: &str = "cancel";

/// Rows moved by a page key.
const PAGE: isize = 10;

/// One entry: what is handed over when chosen, what is shown, and a note beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub value: String,
    pub text: String,
    pub note: String,
    /// `false` draws the entry as one that will be refused (the note says why).
    pub ok: bool,
}

pub enum Outcome {
    Stay,
    Pick(Values),
    Cancel,
}

pub struct Picker {
    pub id: FormId,
    title: String,
    rows: Vec<Row>,
    filter: TextArea<'static>,
    /// Index into the rows the filter lets through.
    cursor: usize,
    /// Under the list: where was looked, or why the choice was refused.
    pub help: String,
    pub error: Option<String>,
}

impl Picker {
    pub fn new(id: FormId, title: impl Into<String>, rows: Vec<Row>, help: String) -> Picker {
        Picker {
            id,
            title: title.into(),
            rows,
            filter: line_input::new(""),
            cursor: 0,
            help,
            error: None,
        }
    }

    /// The rows whose text or note holds every word typed (any case).
    fn shown(&self) -> Vec<&Row> {
        let filter = line_input::text(&self.filter).to_lowercase();
        let words: Vec<&str> = filter.split_whitespace().collect();
        self.rows
            .iter()
            .filter(|r| {
                let hay = format!("{} {}", r.text, r.note).to_lowercase();
                words.iter().all(|w| hay.contains(w))
            })
            .collect()
    }

    pub fn commands() -> Vec<Command> {
        vec![
            Command::new(nav::DOWN, "next entry"),
            Command::new(nav::UP, "previous entry"),
            Command::new(nav::PAGE_DOWN, "ten entries down"),
            Command::new(nav::PAGE_UP, "ten entries up"),
            Command::new(SUBMIT, "choose this one").bar("choose", 0),
            Command::new(CANCEL, "cancel").bar("cancel", 0),
        ]
    }

    pub fn event(&mut self, action: Option<&str>, key: KeyEvent) -> Outcome {
        let n = self.shown().len();
        if let Some(step) = action.and_then(|a| nav::step(a, PAGE)) {
            self.cursor = nav::moved(self.cursor, n, step);
            return Outcome::Stay;
        }
        match action {
            Some(SUBMIT) => {
                if let Some(row) = self.shown().get(self.cursor) {
                    return Outcome::Pick(Values {
                        id: self.id,
                        values: vec![row.value.clone()],
                    });
                }
                self.error = Some("nothing to choose: change the filter".into());
            }
            Some(CANCEL) => return Outcome::Cancel,
            _ => {
                if line_input::key(&mut self.filter, key) {
                    self.cursor = 0;
                    self.error = None;
                }
            }
        }
        Outcome::Stay
    }

    pub fn draw(&self, frame: &mut Frame, t: &Theme) {
        let shown = self.shown();
        let list_rows = shown.len().clamp(1, 16) as u16;
        // The filter, the list, a blank row and two rows of help inside the border.
        let area = centered(frame.area(), 100, list_rows + 7);
        frame.render_widget(Clear, area);
        let title = format!(" {} ({}/{}) ", self.title, shown.len(), self.rows.len());
        let block = panel(Line::from(title), true, t).style(t.popup);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if inner.height < 3 || inner.width < 10 {
            return;
        }
        let label = "filter: ";
        frame.render_widget(
            Line::styled(label, t.accent),
            Rect::new(inner.x, inner.y, 8, 1),
        );
        line_input::draw(
            frame,
            &self.filter,
            Rect::new(inner.x + 8, inner.y, inner.width - 8, 1),
            t,
        );
        let rows = usize::from(inner.height.saturating_sub(4));
        let width = usize::from(inner.width);
        let skip = (self.cursor + 1).saturating_sub(rows);
        let mut lines: Vec<Line> = shown
            .iter()
            .enumerate()
            .skip(skip)
            .take(rows)
            .map(|(i, r)| {
                let base = if i == self.cursor { t.cursor } else { t.base };
                let note_style = if r.ok { t.dim } else { t.warning };
                let note = truncate_left(&r.note, width / 2);
                let room = width.saturating_sub(width_of(&note) + 1);
                let text = truncate_left(&r.text, room);
                let pad = room.saturating_sub(width_of(&text));
                Line::from(vec![
                    Span::styled(format!("{text}{} ", " ".repeat(pad)), base),
                    Span::styled(note, base.patch(note_style)),
                ])
            })
            .collect();
        if lines.is_empty() {
            let none = if self.rows.is_empty() {
                "none found"
            } else {
                "nothing matches the filter"
            };
            lines.push(Line::styled(none, t.dim));
        }
        let list = Rect::new(inner.x, inner.y + 1, inner.width, rows as u16);
        frame.render_widget(Paragraph::new(lines), list);
        let help = match &self.error {
            Some(e) => Line::styled(e.clone(), t.error),
            None => Line::styled(self.help.clone(), t.dim),
        };
        let y = inner.y + 1 + rows as u16 + 1;
        if y < inner.bottom() {
            let rest = Rect::new(inner.x, y, inner.width, inner.bottom() - y);
            frame.render_widget(Paragraph::new(help).wrap(Wrap { trim: true }), rest);
        }
    }
}
