//! Caption edits waiting for the user's yes, shown as a diff (lint fixes, tag rename/remove),
//! as a pop-up component: scroll, apply (one journal entry) or cancel.

use ratatui::Frame;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};

use crate::dataset::journal::Journal;
use crate::dataset::ops::Plan;
use crate::tui::command::Command;
use crate::tui::keymap::nav;
use crate::tui::theme::Theme;
use crate::tui::widgets::panel::{centered, panel, plural};

/// The keymap mode of an open preview.
pub const MODE: &str = "preview";
const SUBMIT: &str = "submit";
const CANCEL: &str = "cancel";

/// What a key did to the preview.
pub enum Outcome {
    Stay,
    /// Write it: the owner takes the preview and calls [`Preview::apply`].
    Apply,
    Cancel,
}

pub struct Preview {
    pub title: String,
    /// What the journal entry will be called.
    pub description: String,
    pub diff: String,
    pub changes: usize,
    pub skipped: usize,
    pub scroll: u16,
    plan: Plan,
}

impl Preview {
    pub fn new(title: String, description: String, plan: Plan) -> Preview {
        Preview {
            title,
            description,
            diff: plan.diff(),
            changes: plan.edits.len(),
            skipped: plan.skipped.len(),
            scroll: 0,
            plan,
        }
    }

    pub fn commands() -> Vec<Command> {
        vec![
            Command::new(SUBMIT, "write the changes (one undo step)").bar("apply", 0),
            Command::new(nav::DOWN, "scroll down"),
            Command::new(nav::UP, "scroll up"),
            Command::new(CANCEL, "cancel").bar("cancel", 0),
        ]
    }

    pub fn event(&mut self, action: Option<&str>) -> Outcome {
        match action {
            Some(nav::DOWN) => self.scroll = self.scroll.saturating_add(1),
            Some(nav::UP) => self.scroll = self.scroll.saturating_sub(1),
            Some(CANCEL) => return Outcome::Cancel,
            Some(SUBMIT) => return Outcome::Apply,
            _ => {}
        }
        Outcome::Stay
    }

    /// Writes the plan as one journal entry: whether anything was written, and what to say;
    /// `Err` says why nothing could be.
    pub fn apply(self, journal: Option<&Journal>) -> Result<(bool, String), String> {
        let Some(journal) = journal else {
            return Err("read-only: nothing can be written here".into());
        };
        let Preview {
            description,
            changes,
            skipped,
            plan,
            ..
        } = self;
        match plan.apply(journal, &description) {
            Ok(Some(_)) => {
                let mut text = format!(
                    "{description}: {changes} caption{} changed (undo in the browser takes it back)",
                    plural(changes)
                );
                if skipped > 0 {
                    text.push_str(&format!("; {skipped} skipped"));
                }
                Ok((true, text))
            }
            Ok(None) => Ok((false, format!("{description}: nothing to change"))),
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn draw(&self, frame: &mut Frame, t: &Theme) {
        let area = centered(
            frame.area(),
            frame.area().width.saturating_sub(6),
            frame.area().height.saturating_sub(4),
        );
        frame.render_widget(Clear, area);
        let mut lines: Vec<Line> = Vec::new();
        if self.changes == 0 {
            lines.push(Line::styled("nothing to change", t.dim));
        }
        if self.skipped > 0 {
            lines.push(Line::styled(
                format!(
                    "{} caption(s) skipped (not UTF-8 or unreadable)",
                    self.skipped
                ),
                t.warning,
            ));
        }
        lines.extend(self.diff.lines().map(|l| diff_line(l, t)));
        let title = format!(" {} · applying is one undo step ", self.title);
        let block = panel(Line::from(title), true, t).style(t.popup);
        frame.render_widget(
            Paragraph::new(lines).block(block).scroll((self.scroll, 0)),
            area,
        );
    }
}

fn diff_line<'a>(l: &'a str, t: &Theme) -> Line<'a> {
    let style: Style = if l.starts_with("+++") || l.starts_with("---") {
        t.title
    } else if l.starts_with('+') {
        t.ok
    } else if l.starts_with('-') {
        t.error
    } else if l.starts_with("@@") {
        t.dim
    } else {
        t.base
    };
    Line::styled(l, style)
}
