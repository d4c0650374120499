//! The bottom line: the current mode's most useful keys, read from the key table.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::tui::keymap::{self, Mode};
use crate::tui::theme::Theme;

/// Key/description pairs for `mode`, as many as fit in `area`.
pub fn draw(frame: &mut Frame, area: Rect, mode: Mode, theme: &Theme) {
    let mut spans = Vec::new();
    let mut used = 0usize;
    for bd in keymap::bindings(mode) {
        let Some(hint) = bd.hint else { continue };
        // The first key only: the bar is short; the help lists them all.
        let first = bd.keys.first().map(|k| k.label()).unwrap_or_default();
        let key = format!(" {first} ");
        let desc = format!(" {hint}  ");
        let w = key.chars().count() + desc.chars().count();
        if used + w > usize::from(area.width) {
            break;
        }
        used += w;
        spans.push(Span::styled(key, theme.hint_key));
        spans.push(Span::styled(desc, theme.hint_text));
    }
    frame.render_widget(Line::from(spans).style(theme.base), area);
}
