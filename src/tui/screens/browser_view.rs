//! Drawing the dataset browser: list or thumbnail grid, preview, info, caption (tag chips,
//! or the editor), and its dialogs. Reads the browser and the dataset; changes nothing.

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use crate::dataset::caption::{caption_tags, split_tags};
use crate::dataset::{CaptionState, Item};
use crate::tui::bulk;
use crate::tui::editor::EditorMode;
use crate::tui::layout::{self, View};
use crate::tui::screen::DrawCtx;
use crate::tui::theme::Theme;
use crate::tui::widgets::panel::{centered, human_size, panel, plural, truncate_left, width_of};
use crate::tui::widgets::{image_pane, line_input};

use super::browser::{Browser, Confirm, Conflict, Modal, Prompt, PromptKind};

impl Browser {
    /// Everything but the header, status and hint lines (the shell draws those).
    pub(super) fn draw_all(&self, frame: &mut Frame, v: &DrawCtx) {
        let b = self;
        let areas = b.areas();
        match b.view {
            View::List => list(frame, b, v, areas.browser),
            View::Grid => grid(frame, b, v, areas.browser),
        }
        if let Some(rect) = areas.preview {
            preview(frame, b, v, rect);
        }
        info(frame, b, v, areas.info);
        caption(frame, b, v, areas.caption);
        match &b.modal {
            Some(Modal::Prompt(p)) => prompt(frame, v, p),
            Some(Modal::Conflict(c)) => conflict(frame, b, v, c),
            Some(Modal::Confirm(c)) => confirm(frame, b, v, c),
            None => {}
        }
    }
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

/// A marker cell: the mark in its style when `on`, else blank in no style (a style with a
/// background, reverse video or underline would paint every row's empty cell).
fn marker(mark: &'static str, style: Style, on: bool) -> Span<'static> {
    if on {
        Span::styled(mark, style)
    } else {
        Span::raw(" ".repeat(width_of(mark)))
    }
}

fn is_dirty(b: &Browser, index: usize) -> bool {
    b.editor
        .as_ref()
        .is_some_and(|ed| ed.item == index && ed.is_dirty())
}

fn list(frame: &mut Frame, b: &Browser, v: &DrawCtx, area: Rect) {
    let t = v.theme;
    let count = if b.filter_text.is_empty() {
        format!(" Images {} ", b.visible.len())
    } else {
        format!(" Images {}/{} ", b.visible.len(), v.dataset.items.len())
    };
    let focused = b.editor.is_none();
    let block = panel(Line::from(count), focused, v.theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = usize::from(inner.height);
    let width = usize::from(inner.width);
    for (row, (pos, &index)) in b
        .visible
        .iter()
        .enumerate()
        .skip(b.scroll)
        .take(rows)
        .enumerate()
    {
        let item = &v.dataset.items[index];
        let is_cursor = pos == b.cursor;
        let base = if item.excluded { t.excluded } else { t.base };
        let (mark, mark_style) = caption_mark(item, t);
        let sel = marker("● ", t.selected, b.is_selected(v.dataset, index));
        let dirty = marker("✎", t.dirty, is_dirty(b, index));
        let broken = marker("✗", t.error, b.unreadable(v.dataset, index).is_some());
        let name = item.path.display().to_string();
        let room = width.saturating_sub(6);
        let name = truncate_left(&name, room);
        let pad = room.saturating_sub(width_of(&name));
        let mut line = Line::from(vec![
            sel,
            Span::styled(name, base),
            Span::raw(" ".repeat(pad)),
            broken,
            dirty,
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
    if b.visible.is_empty() {
        let msg = if v.dataset.items.is_empty() {
            "no images in this folder"
        } else {
            "nothing matches the filter"
        };
        frame.render_widget(
            Paragraph::new(msg).style(t.dim).wrap(Wrap { trim: true }),
            inner,
        );
    }
}

fn grid(frame: &mut Frame, b: &Browser, v: &DrawCtx, area: Rect) {
    let t = v.theme;
    let block = panel(
        Line::from(format!(" Images {} ", b.visible.len())),
        true,
        v.theme,
    );
    frame.render_widget(block, area);
    let (cols, rows) = layout::grid_dims(area);
    let first = b.scroll * cols;
    for (slot, (pos, &index)) in b
        .visible
        .iter()
        .enumerate()
        .skip(first)
        .take(cols * rows)
        .enumerate()
    {
        let item = &v.dataset.items[index];
        // Clipped: in a tiny terminal even one thumbnail does not fit.
        let cell = layout::grid_cell(area, slot).intersection(layout::inner(area));
        let is_cursor = pos == b.cursor;
        let sel = if b.is_selected(v.dataset, index) {
            Span::styled("●", t.selected)
        } else {
            Span::raw("")
        };
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
                sel,
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
            .title_top(
                Line::from(vec![
                    if b.unreadable(v.dataset, index).is_some() {
                        Span::styled("✗", t.error)
                    } else {
                        Span::raw("")
                    },
                    Span::styled(mark, mark_style),
                ])
                .alignment(Alignment::Right),
            );
        let inner = block.inner(cell);
        frame.render_widget(block, cell);
        let path = v.dataset.abs_path(item);
        image_pane::draw(frame, inner, b.thumbs.get(&path), &path, t);
    }
}

fn preview(frame: &mut Frame, b: &Browser, v: &DrawCtx, area: Rect) {
    let title = b
        .current()
        .map(|i| format!(" {} ", v.dataset.items[i].file_name()))
        .unwrap_or_else(|| " Preview ".into());
    let block = panel(Line::from(title), false, v.theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(i) = b.current() {
        let path = v.dataset.abs_path(&v.dataset.items[i]);
        image_pane::draw(frame, inner, b.preview.as_ref(), &path, v.theme);
    }
}

fn info(frame: &mut Frame, b: &Browser, v: &DrawCtx, area: Rect) {
    let t = v.theme;
    let Some(index) = b.current() else {
        frame.render_widget(panel(Line::from(" Info "), false, v.theme), area);
        return;
    };
    let item = &v.dataset.items[index];
    // The title is the path (folder and name), cut from the left when it does not fit.
    let room = usize::from(area.width.saturating_sub(4));
    let title = format!(
        " {} ",
        truncate_left(&item.path.display().to_string(), room)
    );
    let block = panel(Line::from(title), false, v.theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let label = |s: &'static str| Span::styled(format!("{s:<8}"), t.dim);
    let path = v.dataset.abs_path(item);
    let (dims, dims_style) = match (b.facts.get(&path), b.broken.get(&path)) {
        (Some(f), _) => (format!("{} × {}", f.width, f.height), t.base),
        (None, Some(why)) => (format!("unreadable: {why}"), t.error),
        (None, None) => ("…".into(), t.dim),
    };
    // The format is what the bytes say; a name's extension alone is not one.
    let format = match (item.sniffed_format, item.ext_format) {
        (Some(f), _) => format!("{f:?}").to_uppercase(),
        (None, Some(e)) => format!("not an image (named .{})", format!("{e:?}").to_lowercase()),
        (None, None) => "unknown".into(),
    };
    let mut lines = vec![
        Line::from(vec![label("size"), Span::styled(dims, dims_style)]),
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
        // The editor's draft, while it is open on this image: the panel follows each edit.
        CaptionState::Text(_) | CaptionState::Missing if is_dirty(b, index) => {
            let draft = b.editor.as_ref().map(|ed| ed.text()).unwrap_or_default();
            let n = caption_tags(&draft).len();
            (format!("{n} tag{} (unsaved)", plural(n)), t.dirty)
        }
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
    if b.is_selected(v.dataset, index) {
        state.push(Span::styled("selected ", t.selected));
    }
    if is_dirty(b, index) {
        state.push(Span::styled("unsaved edits ✎", t.dirty));
    }
    if !state.is_empty() {
        state.insert(0, label("state"));
        lines.push(Line::from(state));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn caption(frame: &mut Frame, b: &Browser, v: &DrawCtx, area: Rect) {
    let t = v.theme;
    let editor = b.editor.as_ref().filter(|ed| Some(ed.item) == b.current());
    let mut title = vec![Span::raw(" Caption ")];
    if let Some(ed) = editor {
        let mode = match ed.mode {
            EditorMode::Text(_) => "· text ",
            EditorMode::Tags(_) => "· tags ",
        };
        title.push(Span::styled(mode, t.accent));
        if ed.is_dirty() {
            title.push(Span::styled("● unsaved ", t.dirty));
        }
    }
    let block = panel(Line::from(title), editor.is_some(), v.theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    match editor.map(|ed| &ed.mode) {
        Some(EditorMode::Text(textarea)) => {
            frame.render_widget(&**textarea, inner);
        }
        Some(EditorMode::Tags(list)) => {
            let rows = usize::from(inner.height.max(1));
            let first = list.cursor.saturating_sub(rows - 1);
            let lines: Vec<Line> = list
                .tags
                .iter()
                .enumerate()
                .skip(first)
                .take(rows)
                .map(|(i, tag)| {
                    let style = if i == list.cursor {
                        t.tag_cursor
                    } else {
                        t.base
                    };
                    Line::from(vec![
                        Span::styled(format!("{:>3} ", i + 1), t.dim),
                        Span::styled(format!(" {tag} "), style),
                    ])
                })
                .collect();
            if lines.is_empty() {
                frame.render_widget(Paragraph::new("no tags yet").style(t.dim), inner);
            } else {
                frame.render_widget(Paragraph::new(lines), inner);
            }
        }
        None => browse(frame, b, v, inner),
    }
}

/// Tag chips packed into lines of `width` columns, breaking between chips only (a chip wider
/// than a line gets a line of its own, which the paragraph then wraps).
fn chip_lines(tags: &[String], width: usize, style: Style) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for tag in tags {
        let chip = format!(" {tag} ");
        let w = width_of(&chip);
        // The separating space is needed only between two chips on one line.
        if used > 0 && used + 1 + w > width {
            lines.push(Line::from(std::mem::take(&mut spans)));
            used = 0;
        }
        if used > 0 {
            spans.push(Span::raw(" "));
            used += 1;
        }
        spans.push(Span::styled(chip, style));
        used += w;
    }
    if !spans.is_empty() {
        lines.push(Line::from(spans));
    }
    lines
}

/// The caption read-only: the first line as tag chips, further lines as text.
fn browse(frame: &mut Frame, b: &Browser, v: &DrawCtx, inner: Rect) {
    let t = v.theme;
    let Some(index) = b.current() else { return };
    let para = match &v.dataset.items[index].caption {
        CaptionState::Text(c) if !c.text.trim().is_empty() => {
            let mut lines = c.text.split('\n');
            let first = lines.next().unwrap_or_default();
            let mut out = chip_lines(&split_tags(first), usize::from(inner.width), t.tag);
            out.extend(lines.map(|l| Line::styled(l.to_string(), t.dim)));
            Paragraph::new(out)
        }
        CaptionState::Text(_) => Paragraph::new("empty caption").style(t.warning),
        CaptionState::Missing => Paragraph::new("no caption file yet").style(t.warning),
        CaptionState::NotUtf8(_) => Paragraph::new(
            "this caption is not UTF-8; lorabench leaves its bytes untouched (lint can re-encode it)",
        )
        .style(t.error),
        CaptionState::Unreadable(e) => Paragraph::new(format!("cannot read the caption: {e}")).style(t.error),
    };
    frame.render_widget(para.wrap(Wrap { trim: true }), inner);
}

fn prompt(frame: &mut Frame, v: &DrawCtx, p: &Prompt) {
    let t = v.theme;
    let area = centered(frame.area(), 76, 6);
    frame.render_widget(Clear, area);
    let mut title = vec![Span::raw(format!(" {} ", p.kind.title()))];
    if let Some(scope) = &p.scope {
        title.push(Span::styled(format!("· {scope} "), t.accent));
    }
    let block = panel(Line::from(title), true, v.theme).style(t.popup);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let input = Rect::new(inner.x, inner.y, inner.width, 1);
    line_input::draw(frame, &p.input, input, t);
    let help = match (&p.error, p.kind) {
        (Some(e), _) => Line::styled(e.clone(), t.error),
        (None, PromptKind::Filter) => Line::styled(
            "words, tag:x, -tag:x, name:glob, nocaption, excluded · empty clears",
            t.dim,
        ),
        (None, PromptKind::Bulk) => Line::styled(bulk::SYNTAX, t.dim),
        (None, PromptKind::TagAdd) => {
            Line::styled("several tags: separate them with commas", t.dim)
        }
        (None, PromptKind::TagEdit) => Line::styled("empty deletes the tag", t.dim),
    };
    let rest = Rect::new(
        inner.x,
        inner.y + 2,
        inner.width,
        inner.height.saturating_sub(2),
    );
    frame.render_widget(Paragraph::new(help).wrap(Wrap { trim: true }), rest);
}

fn conflict(frame: &mut Frame, b: &Browser, v: &DrawCtx, c: &Conflict) {
    let t = v.theme;
    let name = v.dataset.items[c.item].caption_path.display().to_string();
    let (theirs, mine) = b.conflict_texts(c);
    let mut lines = vec![
        Line::styled(
            format!("{name} was changed by another program while you were editing it."),
            t.warning,
        ),
        Line::raw(""),
    ];
    if c.theirs.is_none() {
        lines.push(Line::styled("It was deleted on disk.", t.warning));
    }
    if c.show_diff {
        let diff = similar::TextDiff::from_lines(&theirs, &mine);
        lines.push(Line::styled("--- on disk", t.error));
        lines.push(Line::styled("+++ yours", t.ok));
        for change in diff.iter_all_changes() {
            let (sign, style) = match change.tag() {
                similar::ChangeTag::Delete => ("-", t.error),
                similar::ChangeTag::Insert => ("+", t.ok),
                similar::ChangeTag::Equal => (" ", t.dim),
            };
            lines.push(Line::styled(
                format!("{sign}{}", change.value().trim_end_matches('\n')),
                style,
            ));
        }
    } else {
        lines.push(Line::from(vec![
            Span::styled("on disk: ", t.dim),
            Span::styled(theirs, t.base),
        ]));
        lines.push(Line::from(vec![
            Span::styled("yours:   ", t.dim),
            Span::styled(mine, t.base),
        ]));
    }
    let h = (lines.len() as u16 + 2).min(frame.area().height);
    let area = centered(frame.area(), 80, h);
    frame.render_widget(Clear, area);
    let block = panel(Line::from(" Caption changed on disk "), true, v.theme).style(t.popup);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn confirm(frame: &mut Frame, b: &Browser, v: &DrawCtx, c: &Confirm) {
    let t = v.theme;
    let name = b
        .editor
        .as_ref()
        .and_then(|ed| v.dataset.items.get(ed.item))
        .map(|it| it.caption_path.display().to_string())
        .unwrap_or_default();
    let (title, lines) = match c {
        Confirm::Discard => (
            " Discard the changes? ",
            vec![
                Line::styled(format!("Discard your changes to {name}?"), t.warning),
                Line::styled("The caption on disk stays as it is.", t.dim),
            ],
        ),
        Confirm::Quit { why, draft } => (
            " Quit without saving? ",
            vec![
                Line::styled(format!("{name} cannot be saved: {why}."), t.warning),
                Line::raw(""),
                Line::styled("Quit, keeping your draft outside the dataset in", t.base),
                Line::styled(draft.display().to_string(), t.accent),
            ],
        ),
    };
    let mut lines = lines;
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "{} yes · {} no",
            v.keys.label(super::browser::CONFIRM, "submit"),
            v.keys.label(super::browser::CONFIRM, "cancel")
        ),
        t.dim,
    ));
    let w = frame.area().width.saturating_sub(4).min(80);
    let h = (lines.len() as u16 + 4).min(frame.area().height);
    let area = centered(frame.area(), w, h);
    frame.render_widget(Clear, area);
    let block = panel(Line::from(title), true, t).style(t.popup);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chips_wrap_between_tags_never_inside_one() {
        let tags: Vec<String> = ["lighthouse", "red and white stripes", "sea", "a b c d e f"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for width in 8..40 {
            let lines = chip_lines(&tags, width, Style::default());
            let chips: Vec<String> = lines
                .iter()
                .flat_map(|l| l.spans.iter())
                .map(|s| s.content.to_string())
                .filter(|c| c != " ")
                .collect();
            let expected: Vec<String> = tags.iter().map(|t| format!(" {t} ")).collect();
            assert_eq!(chips, expected, "width {width}: every chip whole, in order");
            for l in &lines {
                // A line holds whole chips; only a lone chip may be wider than the line.
                assert!(
                    l.width() <= width || l.spans.len() == 1,
                    "width {width}: {l:?}"
                );
            }
        }
    }
}
