//! The caption panel: tag chips when browsing, the text area or the tag list when editing.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::dataset::CaptionState;
use crate::dataset::caption::split_tags;
use crate::tui::app::App;
use crate::tui::editor::EditorMode;

use super::dataset::panel;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let editor = app
        .editor
        .as_ref()
        .filter(|ed| Some(ed.item) == app.current());
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
    let block = panel(Line::from(title), editor.is_some(), app);
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
                frame.render_widget(
                    Paragraph::new("no tags yet: a adds one").style(t.dim),
                    inner,
                );
            } else {
                frame.render_widget(Paragraph::new(lines), inner);
            }
        }
        None => browse(frame, app, inner),
    }
}

/// The caption read-only: the first line as tag chips, further lines as text.
fn browse(frame: &mut Frame, app: &App, inner: Rect) {
    let t = &app.theme;
    let Some(index) = app.current() else { return };
    let para = match &app.dataset.items[index].caption {
        CaptionState::Text(c) if !c.text.trim().is_empty() => {
            let mut lines = c.text.split('\n');
            let first = lines.next().unwrap_or_default();
            let mut spans = Vec::new();
            for tag in split_tags(first) {
                spans.push(Span::styled(format!(" {tag} "), t.tag));
                spans.push(Span::raw(" "));
            }
            let mut out = vec![Line::from(spans)];
            out.extend(lines.map(|l| Line::styled(l.to_string(), t.dim)));
            Paragraph::new(out)
        }
        CaptionState::Text(_) => Paragraph::new("empty caption: e to write one, t for tags").style(t.warning),
        CaptionState::Missing => Paragraph::new("no caption file: e to write one, t for tags").style(t.warning),
        CaptionState::NotUtf8(_) => Paragraph::new(
            "this caption is not UTF-8; lorabench leaves its bytes untouched (lint can re-encode it)",
        )
        .style(t.error),
        CaptionState::Unreadable(e) => Paragraph::new(format!("cannot read the caption: {e}")).style(t.error),
    };
    frame.render_widget(para.wrap(Wrap { trim: true }), inner);
}
