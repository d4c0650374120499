//! The pieces every screen draws with: a bordered panel, a centred pop-up rectangle, a
//! one-line gauge, and text that fits (paths cut from the left, human sizes).

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Gauge};

use crate::tui::theme::Theme;

/// A bordered panel with a title; the focused one gets the focus colour.
pub fn panel<'a>(title: Line<'a>, focused: bool, t: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(if focused { t.border_focus } else { t.border })
        .title(title.style(t.title))
}

/// A rectangle of at most `w` x `h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [rect] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    rect
}

/// A one-line progress gauge with a label.
pub fn gauge(frame: &mut Frame, area: Rect, ratio: f64, label: String, t: &Theme) {
    let g = Gauge::default()
        .ratio(ratio.clamp(0.0, 1.0))
        .label(label)
        .gauge_style(t.accent)
        .style(t.base);
    frame.render_widget(g, area);
}

/// "412 KB" style sizes.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Display width of a string (wide CJK and emoji take two cells).
pub fn width_of(s: &str) -> usize {
    Span::raw(s).width()
}

/// Keeps the end of `s` (the file name) when it is too wide, marking the cut with "…".
pub fn truncate_left(s: &str, max: usize) -> String {
    if width_of(s) <= max {
        return s.to_string();
    }
    let mut out: Vec<char> = Vec::new();
    let mut used = 1;
    for c in s.chars().rev() {
        let mut buf = [0u8; 4];
        let w = width_of(c.encode_utf8(&mut buf));
        if used + w > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out.into_iter().rev().collect()
}
