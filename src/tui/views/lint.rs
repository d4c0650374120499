//! The Lint screen: a progress gauge, the findings grouped by severity and kind, and the
//! selected finding in full.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::dataset::lint::Severity;
use crate::tui::app::App;
use crate::tui::layout::inner;
use crate::tui::screens::lint::{LintScreen, fixable};
use crate::tui::screens::target;
use crate::tui::theme::Theme;

use super::dataset::{panel, truncate_left};
use super::screen::{chrome, gauge};

pub fn draw(frame: &mut Frame, app: &App, s: &LintScreen) {
    let body = chrome(frame, app);
    if body.height < 3 {
        return;
    }
    let t = &app.theme;
    let [top, main] = Layout::vertical([Constraint::Length(1), Constraint::Min(2)]).areas(body);
    let (done, total) = s.progress;
    let [e, w, i] = s.counts();
    let state = if s.running {
        "checking"
    } else if s.summary.as_ref().is_some_and(|x| x.cancelled) {
        "stopped"
    } else if s.error.is_some() {
        "failed"
    } else {
        "done"
    };
    let ratio = if total == 0 {
        if s.running { 0.0 } else { 1.0 }
    } else {
        done as f64 / total as f64
    };
    gauge(
        frame,
        top,
        ratio,
        format!("{state}: {done}/{total} images · {e} errors, {w} warnings, {i} infos"),
        t,
    );
    let [list_area, detail_area] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Min(20)]).areas(main);
    list(frame, app, s, list_area);
    detail(frame, app, s, detail_area);
}

fn severity_style(sev: Severity, t: &Theme) -> Style {
    match sev {
        Severity::Error => t.error,
        Severity::Warning => t.warning,
        Severity::Info => t.accent,
    }
}

fn list(frame: &mut Frame, app: &App, s: &LintScreen, area: Rect) {
    let t = &app.theme;
    let o = &app.target;
    let mut title = vec![Span::raw(format!(" Lint · {} ", target::label(o)))];
    if let Some(sev) = s.severity {
        title.push(Span::styled(format!("· {}s only ", sev.as_str()), t.accent));
    }
    if !s.filter.is_empty() {
        title.push(Span::styled(format!("· filter: {} ", s.filter), t.accent));
    }
    if let Some(w) = &o.trigger {
        title.push(Span::styled(format!("· trigger: {w} "), t.dim));
    }
    let block = panel(Line::from(title), true, app);
    let room = inner(area);
    frame.render_widget(block, area);
    let shown = s.shown();
    let mut lines: Vec<Line> = Vec::new();
    let mut cursor_line = 0;
    let width = usize::from(room.width);
    let mut group = None;
    for (pos, &fi) in shown.iter().enumerate() {
        let f = &s.findings[fi];
        if group != Some((f.severity, f.kind)) {
            group = Some((f.severity, f.kind));
            let n = shown[pos..]
                .iter()
                .take_while(|&&j| {
                    let g = &s.findings[j];
                    (g.severity, g.kind) == (f.severity, f.kind)
                })
                .count();
            let fix = if fixable(f.kind) { " · fixable" } else { "" };
            lines.push(Line::styled(
                format!("{} · {} ({n}){fix}", f.severity.as_str(), f.kind),
                severity_style(f.severity, t).patch(t.title),
            ));
        }
        let selected = s.selected == Some(fi);
        if selected {
            cursor_line = lines.len();
        }
        let path = truncate_left(&f.path.to_string_lossy(), 28);
        let text = format!("  {path:<28} {}", f.message);
        let text: String = text.chars().take(width).collect();
        let style = if selected { t.cursor } else { t.base };
        lines.push(Line::styled(format!("{text:<width$}"), style));
    }
    if lines.is_empty() {
        let msg = if s.running {
            "checking…"
        } else if let Some(e) = &s.error {
            e.as_str()
        } else if s.findings.is_empty() {
            "no findings: the trainer will read this dataset as it is"
        } else {
            "nothing matches the filter (s, /)"
        };
        lines.push(Line::styled(msg, t.dim));
    }
    let height = usize::from(room.height);
    let offset = (cursor_line + 1).saturating_sub(height);
    frame.render_widget(
        Paragraph::new(lines).scroll((offset.min(usize::from(u16::MAX)) as u16, 0)),
        room,
    );
}

fn detail(frame: &mut Frame, app: &App, s: &LintScreen, area: Rect) {
    let t = &app.theme;
    let block = panel(Line::from(" Finding "), false, app);
    let Some(f) = s.current() else {
        frame.render_widget(block, area);
        return;
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(f.severity.as_str(), severity_style(f.severity, t)),
            Span::styled(format!(" · {}", f.kind), t.title),
        ]),
        Line::styled(f.path.to_string_lossy().into_owned(), t.accent),
        Line::raw(""),
        Line::styled(f.message.clone(), t.base),
    ];
    if !f.hint.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(format!("hint: {}", f.hint), t.dim));
    }
    lines.push(Line::raw(""));
    if f.item.is_some() {
        lines.push(Line::styled("Enter: show the image", t.dim));
    }
    if fixable(f.kind) {
        lines.push(Line::styled(
            format!("f: fix every {} finding (diff first)", f.kind),
            t.ok,
        ));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}
