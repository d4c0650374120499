//! Pop-up dialogs: the one-line prompt and the caption conflict.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::tui::app::{App, Conflict, Prompt, PromptKind};
use crate::tui::bulk;

use super::centered;
use super::dataset::panel;

pub fn prompt(frame: &mut Frame, app: &App, p: &Prompt) {
    let t = &app.theme;
    let area = centered(frame.area(), 76, 6);
    frame.render_widget(Clear, area);
    let mut title = vec![Span::raw(format!(" {} ", p.kind.title()))];
    if let Some(scope) = &p.scope {
        title.push(Span::styled(format!("· {scope} "), t.accent));
    }
    let block = panel(Line::from(title), true, app).style(t.popup);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let input = Rect::new(inner.x, inner.y, inner.width, 1);
    frame.render_widget(&p.input, input);
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

pub fn conflict(frame: &mut Frame, app: &App, c: &Conflict) {
    let t = &app.theme;
    let name = app.dataset.items[c.item].caption_path.display().to_string();
    let (theirs, mine) = app.conflict_texts(c);
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
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled(" m ", t.hint_key),
        Span::styled(" keep mine (theirs stays in undo)  ", t.hint_text),
        Span::styled(" t ", t.hint_key),
        Span::styled(" take theirs  ", t.hint_text),
        Span::styled(" d ", t.hint_key),
        Span::styled(" show diff", t.hint_text),
    ]));
    let h = (lines.len() as u16 + 2).min(frame.area().height);
    let area = centered(frame.area(), 80, h);
    frame.render_widget(Clear, area);
    let block = panel(Line::from(" Caption changed on disk "), true, app).style(t.popup);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}
