//! The Stats/Tags screen: images per folder with repeats, megapixel and aspect histograms,
//! CLIP token counts, the tag table and the bucket table with the images in each.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::dataset::stats::{Bin, Stats, TagSort};
use crate::tui::app::App;
use crate::tui::layout::inner;
use crate::tui::screens::stats::{Focus, StatsScreen};
use crate::tui::screens::target;
use crate::tui::widgets::bars;

use super::dataset::panel;
use super::screen::chrome;

pub fn draw(frame: &mut Frame, app: &App, s: &StatsScreen) {
    let body = chrome(frame, app);
    if body.height < 3 {
        return;
    }
    let t = &app.theme;
    let Some(stats) = &s.stats else {
        let text = match &s.error {
            Some(e) => Line::styled(e.clone(), t.error),
            None => Line::styled("reading image sizes and captions…", t.dim),
        };
        let block = panel(Line::from(" Stats "), true, app);
        frame.render_widget(Paragraph::new(text).block(block), body);
        return;
    };
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
    let rows = |n: usize| Constraint::Length(n as u16 + 2);
    let (mp_bins, aspect_bins) = (trimmed(&stats.resolutions), trimmed(&stats.aspects));
    let [folders, mp, aspect, tokens] = Layout::vertical([
        rows(stats.folders.len().max(1) + 1),
        rows(mp_bins.len()),
        rows(aspect_bins.len()),
        Constraint::Min(3),
    ])
    .areas(left);
    folder_table(frame, app, stats, folders);
    histogram(frame, app, " Megapixels ", mp_bins, mp);
    histogram(frame, app, " Aspect (w/h) ", aspect_bins, aspect);
    let tok = &stats.tokens;
    let title = format!(
        " CLIP tokens · mean {:.1}, max {}, {} over 75 ",
        tok.mean, tok.max, tok.over_limit
    );
    histogram(frame, app, &title, trimmed(&tok.bins), tokens);
    let [tags, buckets] =
        Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(right);
    tag_table(frame, app, s, stats, tags);
    bucket_table(frame, app, s, stats, buckets);
}

/// The bins from the first to the last non-empty one (empty ends only take room; empty bins
/// between full ones stay, they are part of the shape).
fn trimmed(bins: &[Bin]) -> &[Bin] {
    let first = bins.iter().position(|b| b.count > 0);
    let last = bins.iter().rposition(|b| b.count > 0);
    match (first, last) {
        (Some(a), Some(b)) => &bins[a..=b],
        _ => bins,
    }
}

fn histogram(frame: &mut Frame, app: &App, title: &str, bins: &[Bin], area: Rect) {
    let t = &app.theme;
    frame.render_widget(panel(Line::from(title.to_string()), false, app), area);
    let rows: Vec<(String, usize)> = bins.iter().map(|b| (b.label.clone(), b.count)).collect();
    bars::draw(frame, inner(area), &rows, t.accent, t.base);
}

fn folder_table(frame: &mut Frame, app: &App, stats: &Stats, area: Rect) {
    let t = &app.theme;
    let title = format!(" Folders · {} images ", stats.images);
    let mut lines = vec![Line::styled(
        format!(
            "{:<20} {:>7} {:>6} {:>9}",
            "folder", "repeats", "images", "per epoch"
        ),
        t.dim,
    )];
    for f in &stats.folders {
        lines.push(Line::styled(
            format!(
                "{:<20} {:>7} {:>6} {:>9}",
                super::dataset::truncate_left(&f.path, 20),
                f.repeats,
                f.images,
                f.per_epoch
            ),
            t.base,
        ));
    }
    let block = panel(Line::from(title), false, app);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The first row to draw so that `cursor` is on screen.
fn offset(cursor: usize, height: usize) -> usize {
    (cursor + 1).saturating_sub(height)
}

fn tag_table(frame: &mut Frame, app: &App, s: &StatsScreen, stats: &Stats, area: Rect) {
    let t = &app.theme;
    let focused = s.focus == Focus::Tags;
    let by = match s.sort {
        TagSort::Count => "count",
        TagSort::Name => "name",
    };
    let title = format!(" Tags · {} · by {by} ", stats.tags.len());
    let block = panel(Line::from(title), focused, app);
    let room = inner(area);
    frame.render_widget(block, area);
    let width = usize::from(room.width);
    let height = usize::from(room.height);
    let max = stats.tags.iter().map(|x| x.count).max().unwrap_or(0);
    let first = offset(s.tag_cursor, height);
    let lines: Vec<Line> = stats
        .tags
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, tag)| {
            let b = bars::bar(tag.count, max, 10);
            let text = format!("{:>4} {b:<10} {}", tag.count, tag.tag);
            let text: String = text.chars().take(width).collect();
            let style = if i == s.tag_cursor && focused {
                t.cursor
            } else if i == s.tag_cursor {
                t.cursor_unfocused
            } else {
                t.base
            };
            Line::styled(format!("{text:<width$}"), style)
        })
        .collect();
    if lines.is_empty() {
        frame.render_widget(Line::styled("no tags: no captions yet", t.dim), room);
        return;
    }
    frame.render_widget(Paragraph::new(lines), room);
}

fn bucket_table(frame: &mut Frame, app: &App, s: &StatsScreen, stats: &Stats, area: Rect) {
    let t = &app.theme;
    let focused = s.focus == Focus::Buckets;
    let title = format!(
        " Buckets · {} · {} ",
        stats.buckets.len(),
        target::label(&app.target)
    );
    let block = panel(Line::from(title), focused, app);
    let room = inner(area);
    frame.render_widget(block, area);
    let width = usize::from(room.width);
    let height = usize::from(room.height);
    let first = offset(s.bucket_cursor, height);
    let lines: Vec<Line> = stats
        .buckets
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, b)| {
            let names: Vec<&str> = b
                .images
                .iter()
                .map(|p| p.rsplit('/').next().unwrap_or(p))
                .collect();
            let head = format!("{:>4}x{:<4} {:>3} ", b.bucket.w, b.bucket.h, b.count);
            let text: String = format!("{head}{}", names.join(", "))
                .chars()
                .take(width)
                .collect();
            let style = if i == s.bucket_cursor && focused {
                t.cursor
            } else {
                t.base
            };
            Line::from(Span::styled(format!("{text:<width$}"), style))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), room);
}
