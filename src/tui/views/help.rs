//! The help overlay (`?`): every binding of every mode, straight from the key table.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::tui::app::App;
use crate::tui::keymap::{self, Mode};

use super::centered;
use super::dataset::panel;

const MODES: [Mode; 11] = [
    Mode::Browse,
    Mode::Lint,
    Mode::Stats,
    Mode::Lora,
    Mode::Form,
    Mode::Preview,
    Mode::Tags,
    Mode::Text,
    Mode::Prompt,
    Mode::Conflict,
    Mode::Help,
];

pub fn draw(frame: &mut Frame, app: &App, scroll: u16) {
    let t = &app.theme;
    let mut lines = Vec::new();
    for mode in MODES {
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::styled(mode.title(), t.title));
        for bd in keymap::bindings(mode) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<16}", keymap::keys_label(bd)), t.accent),
                Span::styled(bd.desc, t.base),
            ]));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Filter: words in captions, tag:x, -tag:x, name:glob, nocaption, excluded",
        t.dim,
    ));
    lines.push(Line::styled(
        "Mouse: wheel scrolls, click picks an image",
        t.dim,
    ));
    let area = centered(frame.area(), 64, frame.area().height.saturating_sub(4));
    frame.render_widget(Clear, area);
    let block = panel(Line::from(" Keys (j/k scroll, Esc closes) "), true, app).style(t.popup);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), area);
}
