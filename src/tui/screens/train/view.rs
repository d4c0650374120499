//! Drawing the Train screen: the form and its problems on the left, the dataset's lint and
//! buckets (or the plan) on the right.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::form::{CHOICES, value_at};
use super::{Side, TrainScreen};
use crate::dataset::lint::Severity;
use crate::tui::theme::Theme;
use crate::tui::widgets::line_input;
use crate::tui::widgets::panel::{panel, truncate_left};

const LABEL: u16 = 16;

pub fn draw(s: &TrainScreen, frame: &mut Frame, body: Rect, t: &Theme) {
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Min(20)]).areas(body);
    draw_form(s, frame, left, t);
    match &s.side {
        Side::Lint => draw_lint(s, frame, right, t),
        Side::Plan(lines) => draw_lines(frame, right, " Plan (nothing started) ", lines, s.scroll, t),
    }
}

fn choice_text(s: &TrainScreen, row: usize) -> String {
    let c = s.checked.resolved.as_ref().map(|r| &r.config);
    match row {
        0 => s.form.preset_name().unwrap_or("(none)").to_string(),
        _ => match s.form.backend {
            Some(b) => b.to_string(),
            None => {
                let from = c.map_or_else(|| "builtin".into(), |c| c.backend_id().to_string());
                format!("{from} (the config's)")
            }
        },
    }
}

fn draw_form(s: &TrainScreen, frame: &mut Frame, area: Rect, t: &Theme) {
    let name = s
        .form
        .dataset
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let block = panel(Line::from(format!(" Run config · {name} ")), true, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width <= LABEL {
        return;
    }
    let value_w = inner.width - LABEL;
    let mut y = inner.y;
    let row_rect = |y: u16| Rect::new(inner.x + LABEL, y, value_w, 1);
    let label = |frame: &mut Frame, y: u16, text: &str, focused: bool, bad: bool| {
        let style = if bad {
            t.error
        } else if focused {
            t.accent
        } else {
            t.dim
        };
        let mark = if focused { '>' } else { ' ' };
        frame.render_widget(
            Line::styled(format!("{mark}{text:<w$}", w = usize::from(LABEL - 1)), style),
            Rect::new(inner.x, y, LABEL, 1),
        );
    };
    for (row, text) in ["preset", "backend"].iter().enumerate() {
        if y >= inner.bottom() {
            return;
        }
        let focused = s.focus == row;
        let bad = row == 1 && s.checked.about("backend").next().is_some();
        label(frame, y, text, focused, bad);
        let v = choice_text(s, row);
        let shown = if focused { format!("◀ {v} ▶") } else { v };
        frame.render_widget(Line::styled(shown, t.base), row_rect(y));
        y += 1;
    }
    let merged = s.checked.resolved.as_ref().map(|r| &r.config);
    for (i, f) in s.form.fields.iter().enumerate() {
        if y >= inner.bottom() {
            return;
        }
        let focused = s.focus == CHOICES + i;
        let bad = s.checked.about(f.key).next().is_some();
        label(frame, y, f.label, focused, bad);
        if focused {
            line_input::draw(frame, &f.input, row_rect(y), t);
        } else {
            let text = f.text();
            let line = if text.is_empty() {
                // What the preset or the loaded file gives, dimmed.
                let v = merged.and_then(|c| value_at(c, f.key)).unwrap_or_default();
                Line::styled(v, t.dim)
            } else {
                Line::styled(text, t.base)
            };
            frame.render_widget(line, row_rect(y));
        }
        if f.key == "model.base"
            && let Some(note) = &s.base_note
        {
            // After the path, where it fits.
            let used = f.text().chars().count() as u16 + 2;
            if used + 4 < value_w {
                let r = Rect::new(inner.x + LABEL + used, y, value_w - used, 1);
                frame.render_widget(Line::styled(note.clone(), t.dim), r);
            }
        }
        y += 1;
    }
    let mut lines: Vec<Line> = Vec::new();
    if let Some(file) = &s.form.config_file {
        lines.push(Line::styled(
            format!(
                "config file {}",
                truncate_left(&file.display().to_string(), usize::from(inner.width) - 12)
            ),
            t.dim,
        ));
    }
    let flags = format!(
        "force {} · queue when busy {}",
        if s.force { "on" } else { "off" },
        if s.queue { "on" } else { "off" }
    );
    lines.push(Line::styled(flags, t.dim));
    for p in &s.checked.problems {
        lines.push(Line::styled(p.to_string(), t.error));
    }
    for w in &s.checked.warnings {
        lines.push(Line::styled(format!("warning: {w}"), t.warning));
    }
    if let Some(r) = &s.refused {
        lines.extend(r.lines().map(|l| Line::styled(l.to_string(), t.error)));
    }
    if s.checked.ok() && s.refused.is_none() {
        lines.push(Line::styled(
            "config ok · plan and launch are ready (keys in the hint bar)",
            t.accent,
        ));
    }
    if let Some(id) = &s.launched {
        lines.push(Line::styled(format!("launched run {id}"), t.accent));
    }
    let rest = Rect::new(inner.x, y + 1, inner.width, inner.bottom().saturating_sub(y + 1));
    if rest.height > 0 && y + 1 < inner.bottom() {
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), rest);
    }
}

fn draw_lint(s: &TrainScreen, frame: &mut Frame, area: Rect, t: &Theme) {
    let mut lines: Vec<Line> = Vec::new();
    match &s.lint {
        _ if s.lint_running() => lines.push(Line::styled("checking the dataset…", t.dim)),
        None => lines.push(Line::styled(
            "lint runs once the config names a target",
            t.dim,
        )),
        Some(Err(e)) => lines.push(Line::styled(format!("lint failed: {e}"), t.error)),
        Some(Ok(report)) => {
            let m = &report.summary;
            lines.push(Line::styled(
                format!(
                    "{} rules · {} · {}px · batch {}",
                    m.trainer.name(),
                    m.model.as_str(),
                    m.resolution,
                    m.batch_size
                ),
                t.dim,
            ));
            let style = if m.errors > 0 { t.error } else { t.base };
            lines.push(Line::styled(
                format!(
                    "{} images: {} errors, {} warnings, {} infos",
                    m.images, m.errors, m.warnings, m.infos
                ),
                style,
            ));
            if m.errors > 0 {
                lines.push(Line::styled(
                    "errors block the launch unless forced (see the hint bar)",
                    t.error,
                ));
            }
            for f in report
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .take(5)
            {
                lines.push(Line::styled(
                    format!("  {}: {}", f.path.display(), f.message),
                    t.error,
                ));
            }
            for (kind, n) in &m.kinds {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {n:>4} "), t.accent),
                    Span::styled(kind.to_string(), t.base),
                ]));
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                format!("{} buckets   images", report.buckets.len()),
                t.title,
            ));
            for b in &report.buckets {
                lines.push(Line::styled(
                    format!("  {:>4}x{:<4} {:>6}", b.bucket.w, b.bucket.h, b.count),
                    t.base,
                ));
            }
        }
    }
    let block = panel(Line::from(" Dataset lint and buckets "), false, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let skip = s.scroll.min(lines.len().saturating_sub(1));
    let shown: Vec<Line> = lines.into_iter().skip(skip).collect();
    frame.render_widget(Paragraph::new(shown).wrap(Wrap { trim: false }), inner);
}

fn draw_lines(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: &[String],
    scroll: usize,
    t: &Theme,
) {
    let block = panel(Line::from(title.to_string()), false, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let skip = scroll.min(lines.len().saturating_sub(1));
    let shown: Vec<Line> = lines
        .iter()
        .skip(skip)
        .map(|l| Line::styled(l.clone(), t.base))
        .collect();
    frame.render_widget(Paragraph::new(shown).wrap(Wrap { trim: false }), inner);
}
