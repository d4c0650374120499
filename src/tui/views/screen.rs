//! What the Lint, Stats and LoRA screens share: the header, status and hint lines around
//! their body, the form pop-up and the diff preview pop-up.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Gauge, Paragraph, Wrap};

use crate::tui::app::{App, Level};
use crate::tui::screens::{Form, Preview, Screen};
use crate::tui::theme::Theme;
use crate::tui::widgets::hint_bar;

use super::centered;
use super::dataset::{header, panel};

/// Draws the header, status and hints; returns the body rectangle.
pub fn chrome(frame: &mut Frame, app: &App) -> Rect {
    let t = &app.theme;
    let area = frame.area();
    frame.render_widget(Block::default().style(t.base), area);
    if area.height < 4 {
        return Rect::default();
    }
    header(frame, app, Rect::new(area.x, area.y, area.width, 1));
    let status = Rect::new(area.x, area.bottom() - 2, area.width, 1);
    frame.render_widget(Block::default().style(t.status), status);
    if let Some(s) = &app.status {
        let style = match s.level {
            Level::Info => t.status,
            Level::Warn => t.status.patch(t.warning),
            Level::Error => t.status.patch(t.error),
        };
        frame.render_widget(
            Line::from(Span::styled(format!(" {}", s.text), style)),
            status,
        );
    }
    let hints = Rect::new(area.x, area.bottom() - 1, area.width, 1);
    hint_bar::draw(frame, hints, app.mode(), t);
    Rect::new(area.x, area.y + 1, area.width, area.height - 3)
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

/// The screen's pop-ups (a form, or a preview), drawn over its body.
pub fn popups(frame: &mut Frame, app: &App, screen: &Screen) {
    if let Some(p) = screen.preview() {
        preview(frame, app, p);
    }
    if let Some(f) = screen.form() {
        form(frame, app, f);
    }
}

fn form(frame: &mut Frame, app: &App, f: &Form) {
    let t = &app.theme;
    let label_w = f.fields.iter().map(|x| x.label.len()).max().unwrap_or(0) as u16 + 2;
    let height = f.fields.len() as u16 + 5;
    let area = centered(frame.area(), 80, height);
    frame.render_widget(Clear, area);
    let block = panel(Line::from(format!(" {} ", f.title)), true, app).style(t.popup);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    for (i, field) in f.fields.iter().enumerate() {
        let y = inner.y + i as u16;
        if y >= inner.bottom() {
            return;
        }
        let focused = i == f.focus;
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
            frame.render_widget(&field.input, input);
        } else {
            frame.render_widget(Line::styled(field.input.lines().join(" "), t.base), input);
        }
    }
    let help_y = inner.y + f.fields.len() as u16 + 1;
    if help_y < inner.bottom() {
        let help = match &f.error {
            Some(e) => Line::styled(e.clone(), t.error),
            None => Line::styled(f.help, t.dim),
        };
        let rest = Rect::new(inner.x, help_y, inner.width, inner.bottom() - help_y);
        frame.render_widget(Paragraph::new(help).wrap(Wrap { trim: true }), rest);
    }
}

fn preview(frame: &mut Frame, app: &App, p: &Preview) {
    let t = &app.theme;
    let area = centered(
        frame.area(),
        frame.area().width.saturating_sub(6),
        frame.area().height.saturating_sub(4),
    );
    frame.render_widget(Clear, area);
    let mut lines: Vec<Line> = Vec::new();
    if p.changes == 0 {
        lines.push(Line::styled("nothing to change", t.dim));
    }
    if p.skipped > 0 {
        lines.push(Line::styled(
            format!("{} caption(s) skipped (not UTF-8 or unreadable)", p.skipped),
            t.warning,
        ));
    }
    lines.extend(p.diff.lines().map(|l| diff_line(l, t)));
    let title = format!(" {} · Enter applies (one undo step), Esc cancels ", p.title);
    let block = panel(Line::from(title), true, app).style(t.popup);
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((p.scroll, 0)),
        area,
    );
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
