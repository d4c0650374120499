//! The dataset browser: header, list or thumbnail grid, preview, info, caption, status, hints.

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};

use crate::dataset::{CaptionState, Item};
use crate::tui::app::{App, Level, plural};
use crate::tui::layout::{self, View};
use crate::tui::theme::Theme;
use crate::tui::widgets::{hint_bar, image_pane};

use super::caption;

pub fn draw(frame: &mut Frame, app: &App) {
    let areas = app.areas();
    let theme = &app.theme;
    frame.render_widget(Block::default().style(theme.base), frame.area());
    header(frame, app, areas.header);
    match app.view {
        View::List => list(frame, app, areas.browser),
        View::Grid => grid(frame, app, areas.browser),
    }
    if let Some(rect) = areas.preview {
        preview(frame, app, rect);
    }
    info(frame, app, areas.info);
    caption::draw(frame, app, areas.caption);
    status(frame, app, areas.status);
    hint_bar::draw(frame, areas.hints, app.mode(), theme);
}

/// A bordered panel with a title; the focused one gets the focus colour.
pub fn panel<'a>(title: Line<'a>, focused: bool, app: &App) -> Block<'a> {
    let t = &app.theme;
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(if focused { t.border_focus } else { t.border })
        .title(title.style(t.title))
}

pub fn header(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let root = app
        .dataset
        .root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| app.dataset.root.display().to_string());
    let total = app.dataset.items.len() - app.excluded_count();
    let mut spans = vec![
        Span::styled(" lorabench ", t.hint_key),
        Span::styled(format!(" {root} "), t.title),
        Span::styled(format!(" {total} image{}", plural(total)), t.base),
    ];
    let excluded = app.excluded_count();
    if excluded > 0 {
        spans.push(Span::styled(format!(" · {excluded} excluded"), t.dim));
    }
    if !app.selected.is_empty() {
        spans.push(Span::styled(
            format!(" · {} selected", app.selected.len()),
            t.selected,
        ));
    }
    if !app.filter_text.is_empty() {
        spans.push(Span::styled(" · filter: ", t.dim));
        spans.push(Span::styled(app.filter_text.clone(), t.accent));
    }
    frame.render_widget(Line::from(spans).style(t.status), area);
    let right = format!("{} · {} ", app.protocol, app.theme.name);
    frame.render_widget(
        Line::from(Span::styled(right, t.dim)).alignment(Alignment::Right),
        area,
    );
}

/// One character saying what state the caption is in, and its style.
fn caption_mark(item: &Item, t: &Theme) -> (&'static str, Style) {
    match &item.caption {
        CaptionState::Text(c) if c.text.trim().is_empty() => ("○", t.warning),
        CaptionState::Text(_) => ("✓", t.ok),
        CaptionState::Missing => ("∅", t.warning),
        CaptionState::NotUtf8(_) | CaptionState::Unreadable(_) => ("!", t.error),
    }
}

fn is_dirty(app: &App, index: usize) -> bool {
    app.editor
        .as_ref()
        .is_some_and(|ed| ed.item == index && ed.is_dirty())
}

fn list(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let count = if app.filter_text.is_empty() {
        format!(" Images {} ", app.visible.len())
    } else {
        format!(" Images {}/{} ", app.visible.len(), app.dataset.items.len())
    };
    let focused = app.editor.is_none();
    let block = panel(Line::from(count), focused, app);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = usize::from(inner.height);
    let width = usize::from(inner.width);
    for (row, (pos, &index)) in app
        .visible
        .iter()
        .enumerate()
        .skip(app.scroll)
        .take(rows)
        .enumerate()
    {
        let item = &app.dataset.items[index];
        let is_cursor = pos == app.cursor;
        let base = if item.excluded { t.excluded } else { t.base };
        let (mark, mark_style) = caption_mark(item, t);
        let sel = if app.is_selected(index) { "● " } else { "  " };
        let dirty = if is_dirty(app, index) { "✎" } else { " " };
        let name = item.path.display().to_string();
        let room = width.saturating_sub(5);
        let name = truncate_left(&name, room);
        let pad = room.saturating_sub(width_of(&name));
        let mut line = Line::from(vec![
            Span::styled(sel, t.selected),
            Span::styled(name, base),
            Span::raw(" ".repeat(pad)),
            Span::styled(dirty, t.dirty),
            Span::styled(format!("{mark} "), mark_style),
        ]);
        if is_cursor {
            // Patch every span: their own backgrounds would otherwise hide the cursor bar.
            let bar = if focused {
                t.cursor
            } else {
                t.cursor_unfocused
            };
            for span in &mut line.spans {
                span.style = span.style.patch(bar);
            }
            line = line.style(bar);
        }
        let rect = Rect::new(inner.x, inner.y + row as u16, inner.width, 1);
        frame.render_widget(line, rect);
    }
    if app.visible.is_empty() {
        let msg = if app.dataset.items.is_empty() {
            "no images in this folder"
        } else {
            "nothing matches the filter (Esc clears it)"
        };
        frame.render_widget(
            Paragraph::new(msg).style(t.dim).wrap(Wrap { trim: true }),
            inner,
        );
    }
}

fn grid(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let block = panel(
        Line::from(format!(" Images {} ", app.visible.len())),
        true,
        app,
    );
    frame.render_widget(block, area);
    let (cols, rows) = layout::grid_dims(area);
    let first = app.scroll * cols;
    for (slot, (pos, &index)) in app
        .visible
        .iter()
        .enumerate()
        .skip(first)
        .take(cols * rows)
        .enumerate()
    {
        let item = &app.dataset.items[index];
        // Clipped: in a tiny terminal even one thumbnail does not fit.
        let cell = layout::grid_cell(area, slot).intersection(layout::inner(area));
        let is_cursor = pos == app.cursor;
        let sel = if app.is_selected(index) { "●" } else { "" };
        let name = truncate_left(&item.file_name(), usize::from(cell.width).saturating_sub(4));
        let (mark, mark_style) = caption_mark(item, t);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(if is_cursor {
                BorderType::Thick
            } else {
                BorderType::Rounded
            })
            .border_style(if is_cursor { t.border_focus } else { t.border })
            .title_bottom(Line::from(vec![
                Span::styled(sel, t.selected),
                Span::styled(
                    name,
                    if is_cursor {
                        t.title
                    } else if item.excluded {
                        t.excluded
                    } else {
                        t.dim
                    },
                ),
            ]))
            .title_top(Line::from(Span::styled(mark, mark_style)).alignment(Alignment::Right));
        let inner = block.inner(cell);
        frame.render_widget(block, cell);
        let path = app.dataset.abs_path(item);
        image_pane::draw(frame, inner, app.thumbs.get(&path), &path, t);
    }
}

fn preview(frame: &mut Frame, app: &App, area: Rect) {
    let title = app
        .current()
        .map(|i| format!(" {} ", app.dataset.items[i].file_name()))
        .unwrap_or_else(|| " Preview ".into());
    let block = panel(Line::from(title), false, app);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(i) = app.current() {
        let path = app.dataset.abs_path(&app.dataset.items[i]);
        image_pane::draw(frame, inner, app.preview.as_ref(), &path, &app.theme);
    }
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

fn info(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Some(index) = app.current() else {
        frame.render_widget(panel(Line::from(" Info "), false, app), area);
        return;
    };
    let item = &app.dataset.items[index];
    // The title is the path (folder and name), cut from the left when it does not fit.
    let room = usize::from(area.width.saturating_sub(4));
    let title = format!(
        " {} ",
        truncate_left(&item.path.display().to_string(), room)
    );
    let block = panel(Line::from(title), false, app);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let label = |s: &'static str| Span::styled(format!("{s:<8}"), t.dim);
    let path = app.dataset.abs_path(item);
    let dims = app
        .facts
        .get(&path)
        .map(|f| format!("{} × {}", f.width, f.height))
        .unwrap_or_else(|| "…".into());
    let format = item
        .sniffed_format
        .or(item.ext_format)
        .map(|f| format!("{f:?}").to_uppercase())
        .unwrap_or_else(|| "unknown".into());
    let mut lines = vec![
        Line::from(vec![label("size"), Span::styled(dims, t.base)]),
        Line::from(vec![
            label("format"),
            Span::styled(format!("{format} · {}", human_size(item.file_size)), t.base),
        ]),
    ];
    if item.sniffed_format.is_some()
        && item.ext_format.is_some()
        && item.sniffed_format != item.ext_format
    {
        lines.push(Line::from(vec![
            label(""),
            Span::styled("extension does not match content", t.warning),
        ]));
    }
    let (caption_text, style) = match &item.caption {
        CaptionState::Text(c) if c.text.trim().is_empty() => ("empty".to_string(), t.warning),
        CaptionState::Text(_) => {
            let n = item.tags().len();
            (format!("{n} tag{}", plural(n)), t.ok)
        }
        CaptionState::Missing => ("missing".to_string(), t.warning),
        CaptionState::NotUtf8(_) => ("not UTF-8 (kept as is)".to_string(), t.error),
        CaptionState::Unreadable(e) => (format!("unreadable: {e}"), t.error),
    };
    lines.push(Line::from(vec![
        label("caption"),
        Span::styled(caption_text, style),
    ]));
    let repeats = match &item.folder {
        Some(f) => format!("{}× ({})", f.repeats, f.path.display()),
        None => "1× (no N_name folder)".into(),
    };
    lines.push(Line::from(vec![
        label("repeats"),
        Span::styled(repeats, t.base),
    ]));
    let mut state = Vec::new();
    if item.excluded {
        state.push(Span::styled("excluded ", t.excluded));
    }
    if app.is_selected(index) {
        state.push(Span::styled("selected ", t.selected));
    }
    if is_dirty(app, index) {
        state.push(Span::styled("unsaved edits ✎", t.dirty));
    }
    if !state.is_empty() {
        state.insert(0, label("state"));
        lines.push(Line::from(state));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn status(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    frame.render_widget(Block::default().style(t.status), area);
    if let Some(s) = &app.status {
        let style = match s.level {
            Level::Info => t.status,
            Level::Warn => t.status.patch(t.warning),
            Level::Error => t.status.patch(t.error),
        };
        frame.render_widget(
            Line::from(Span::styled(format!(" {}", s.text), style)),
            area,
        );
    }
    if !app.visible.is_empty() {
        let pos = format!("{}/{} ", app.cursor + 1, app.visible.len());
        frame.render_widget(
            Line::from(Span::styled(pos, t.status)).alignment(Alignment::Right),
            area,
        );
    }
}

fn width_of(s: &str) -> usize {
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
        let w = width(c);
        if used + w > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out.into_iter().rev().collect()
}

/// Display width of one character (wide CJK and emoji take two cells).
fn width(c: char) -> usize {
    let mut buf = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}
