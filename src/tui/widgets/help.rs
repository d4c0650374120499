//! The help overlay: every command of the screen's current mode, with all its keys as bound,
//! straight from the screen's commands (so no key is written in prose anywhere).

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::tui::keymap::Keymap;
use crate::tui::screen::Command;
use crate::tui::theme::Theme;

use super::panel::{centered, panel};

/// The help text: a heading, then one line per command (`keys  what it does`).
pub fn lines<'a>(
    title: &str,
    commands: &[Command],
    keys: &Keymap,
    mode: &str,
    t: &Theme,
) -> Vec<Line<'a>> {
    let mut lines = vec![Line::styled(title.to_string(), t.title)];
    for c in commands {
        let mut row = vec![
            Span::styled(format!("  {:<16}", keys.label(mode, c.action)), t.accent),
            Span::styled(c.desc, t.base),
        ];
        if let Some(why) = c.disabled {
            row.push(Span::styled(format!(" (not now: {why})"), t.dim));
        }
        lines.push(Line::from(row));
    }
    lines
}

pub fn draw(frame: &mut Frame, lines: Vec<Line>, scroll: u16, t: &Theme) {
    let area = centered(frame.area(), 64, frame.area().height.saturating_sub(4));
    frame.render_widget(Clear, area);
    let block = panel(Line::from(" Keys "), true, t).style(t.popup);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), area);
}
