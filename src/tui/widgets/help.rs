//! The help overlay: every command of the screen's current mode, with all its keys as bound,
//! straight from the screen's commands (so no key is written in prose anywhere).

use ratatui::Frame;
use ratatui::layout::Rect;
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

/// Where the overlay goes in `screen`: as wide as its widest line (within the screen), as
/// tall as the screen allows.
fn area(screen: Rect, lines: &[Line]) -> Rect {
    let widest = lines.iter().map(Line::width).max().unwrap_or(0);
    let w = u16::try_from(widest + 4).unwrap_or(u16::MAX).max(40);
    let h = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    centered(
        screen,
        w.min(screen.width.saturating_sub(2)),
        h.min(screen.height.saturating_sub(4)),
    )
}

/// The furthest the help scrolls: its last line at the bottom, never past it.
pub fn max_scroll(screen: Rect, lines: &[Line]) -> u16 {
    let inner = area(screen, lines).height.saturating_sub(2);
    u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_sub(inner)
}

pub fn draw(frame: &mut Frame, lines: Vec<Line>, scroll: u16, t: &Theme) {
    let area = area(frame.area(), &lines);
    let scroll = scroll.min(max_scroll(frame.area(), &lines));
    frame.render_widget(Clear, area);
    let block = panel(Line::from(" Keys "), true, t).style(t.popup);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), area);
}
