//! The Stats/Tags screen: `dataset::stats::compute` as a background job; images per folder
//! with repeats, megapixel and aspect histograms, CLIP token counts, the tag table and the
//! bucket table. A tag can be shown in the browser, renamed or removed everywhere through the
//! journal (one undoable entry, previewed as a diff first).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::dataset::ops::{self, BulkOp};
use crate::dataset::stats::{self, Bin, Stats, TagSort};
use crate::tui::job::{Job, Update};
use crate::tui::keymap::nav;
use crate::tui::layout::inner;
use crate::tui::screen::{
    Browse, Command, Ctx, DrawCtx, Effect, Effects, Event, Level, Opener, Screen, list_commands,
};
use crate::tui::theme::Theme;
use crate::tui::widgets::bars;
use crate::tui::widgets::panel::{panel, plural, truncate_left};

use super::target;
use crate::tui::popups::Popup;
use crate::tui::popups::form::{Form, FormId, Values};
use crate::tui::popups::preview::Preview;

pub const MODE: &str = "stats";
const FOCUS: &str = "focus";
const SORT: &str = "sort";
const JUMP: &str = "jump";
const RENAME: &str = "rename";
const REMOVE: &str = "remove";
const TARGET: &str = "target";
const RERUN: &str = "rerun";
const CLOSE: &str = "close";

/// Which list the cursor keys move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Tags,
    Buckets,
}

pub struct StatsScreen {
    pub stats: Option<Stats>,
    pub error: Option<String>,
    pub sort: TagSort,
    pub focus: Focus,
    pub tag_cursor: usize,
    pub bucket_cursor: usize,
    pub popup: Option<Popup>,
    job: Job<(), Stats>,
}

/// Opened from the browser.
pub const OPENER: Option<Opener> = Some(Opener::new("open-stats", "statistics and tags", open));

/// The screen's default keys: its mode, and the browser's key for its opener.
pub const KEYS: &str = "
browse:
  keys:
    open-stats: S
stats:
  inherit: [list]
  keys:
    focus: Tab
    sort: s
    jump: Enter
    rename: r
    remove: d
    target: o
    rerun: R
    help: '?'
    close: Esc q
";

pub fn open(ctx: &mut Ctx) -> Box<dyn Screen> {
    let mut s = StatsScreen {
        stats: None,
        error: None,
        sort: TagSort::Count,
        focus: Focus::Tags,
        tag_cursor: 0,
        bucket_cursor: 0,
        popup: None,
        job: Job::new(),
    };
    s.start(ctx);
    Box::new(s)
}

impl StatsScreen {
    pub fn current_tag(&self) -> Option<&str> {
        self.stats
            .as_ref()
            .and_then(|s| s.tags.get(self.tag_cursor))
            .map(|t| t.tag.as_str())
    }

    pub fn running(&self) -> bool {
        self.job.running()
    }

    /// (Re)computes the statistics of the dataset as it is now; an older result is dropped.
    fn start(&mut self, ctx: &mut Ctx) {
        let dataset = ctx.dataset.clone();
        let options = ctx.target.clone();
        let started = self.job.start(ctx.tx, "stats", move |_| {
            stats::compute(&dataset, &options).map_err(|e| e.to_string())
        });
        if let Err(e) = started {
            self.error = Some(e);
        }
    }

    fn move_cursor(&mut self, delta: isize) {
        let Some(stats) = &self.stats else { return };
        let (cursor, len) = match self.focus {
            Focus::Tags => (&mut self.tag_cursor, stats.tags.len()),
            Focus::Buckets => (&mut self.bucket_cursor, stats.buckets.len()),
        };
        *cursor = nav::moved(*cursor, len, delta);
    }

    /// Puts the cursor back on `tag` after a re-sort or recompute (else keeps it in range).
    fn place(&mut self, tag: Option<String>) {
        let Some(stats) = &self.stats else { return };
        if let Some(pos) = tag.and_then(|t| stats.tags.iter().position(|x| x.tag == t)) {
            self.tag_cursor = pos;
        }
        self.tag_cursor = self.tag_cursor.min(stats.tags.len().saturating_sub(1));
        self.bucket_cursor = self
            .bucket_cursor
            .min(stats.buckets.len().saturating_sub(1));
    }

    fn on_job(&mut self, result: Result<Stats, String>) {
        match result {
            Ok(mut stats) => {
                let keep = self.current_tag().map(str::to_string);
                stats::sort_tags(&mut stats.tags, self.sort);
                self.stats = Some(stats);
                self.error = None;
                self.place(keep);
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn action(&mut self, ctx: &mut Ctx, action: &str) -> Effects {
        if let Some(step) = nav::step(action, 10) {
            self.move_cursor(step);
            return Vec::new();
        }
        match action {
            FOCUS => {
                self.focus = match self.focus {
                    Focus::Tags => Focus::Buckets,
                    Focus::Buckets => Focus::Tags,
                }
            }
            SORT => {
                self.sort = match self.sort {
                    TagSort::Count => TagSort::Name,
                    TagSort::Name => TagSort::Count,
                };
                let keep = self.current_tag().map(str::to_string);
                let sort = self.sort;
                if let Some(stats) = &mut self.stats {
                    stats::sort_tags(&mut stats.tags, sort);
                }
                self.place(keep);
            }
            JUMP => {
                if let Some(tag) = self.current_tag() {
                    let query = format!("tag:\"{}\"", tag.replace('"', ""));
                    return vec![Effect::Browse(Browse::Filter(query))];
                }
            }
            RENAME => {
                if let Some(tag) = self.current_tag().map(str::to_string) {
                    self.popup = Some(Popup::Form(Form::new(
                        FormId::TagRename,
                        format!("Rename tag \"{tag}\" everywhere"),
                        &[("new name", tag)],
                        "the changes are shown before anything is written · if the new name is there already, the old one just goes",
                    )));
                }
            }
            REMOVE => {
                if let Some(tag) = self.current_tag().map(str::to_string) {
                    return self.preview_op(ctx, BulkOp::Remove { tag });
                }
            }
            TARGET => self.popup = Some(Popup::Form(target::form(ctx.target))),
            RERUN => self.start(ctx),
            CLOSE => return vec![Effect::Close],
            _ => {}
        }
        Vec::new()
    }

    /// Plans a tag operation over every included image and shows it for confirmation.
    fn preview_op(&mut self, ctx: &Ctx, op: BulkOp) -> Effects {
        let targets: Vec<usize> = (0..ctx.dataset.items.len())
            .filter(|&i| !ctx.dataset.items[i].excluded)
            .collect();
        match ops::plan(ctx.dataset, &targets, &op) {
            Ok(plan) => {
                let n = plan.edits.len();
                let description = format!("{} ({n} caption{})", op.describe(), plural(n));
                let title = format!("{}: {n} caption{}", op.describe(), plural(n));
                self.popup = Some(Popup::Preview(Preview::new(title, description, plan)));
                Vec::new()
            }
            Err(e) => vec![Effect::status(Level::Error, e.to_string())],
        }
    }
}

impl Screen for StatsScreen {
    fn mode(&self) -> &'static str {
        MODE
    }

    fn title(&self) -> &'static str {
        "Stats and tags"
    }

    fn commands(&self, _ctx: &DrawCtx) -> Vec<Command> {
        let no_tag = self.current_tag().is_none();
        let why = "no tag is selected";
        let mut c = list_commands();
        c.extend([
            Command::new(FOCUS, "tags / buckets").bar("tags/buckets", 2),
            Command::new(SORT, "sort tags by count / name").bar("sort", 2),
            Command::new(JUMP, "filter the browser to the tag")
                .bar("filter", 1)
                .off_if(no_tag, why),
            Command::new(RENAME, "rename the tag everywhere")
                .bar("rename", 1)
                .off_if(no_tag, why),
            Command::new(REMOVE, "remove the tag everywhere")
                .bar("remove", 1)
                .off_if(no_tag, why),
            Command::new(TARGET, "training target: trainer, model, resolution, batch")
                .bar("target", 3),
            Command::new(RERUN, "recompute"),
            Command::new(nav::HELP, "help").bar("help", 0),
            Command::new(CLOSE, "back to the browser").bar("back", 0),
        ]);
        c
    }

    fn event(&mut self, ctx: &mut Ctx, event: Event) -> Effects {
        match event {
            Event::Key {
                action: Some(a), ..
            } => self.action(ctx, a),
            Event::Message(msg) => {
                if let Some(Update::Done(result)) = self.job.take(msg) {
                    self.on_job(result);
                }
                Vec::new()
            }
            // Renamed or removed tags are counted again.
            Event::Reloaded { .. } => {
                self.start(ctx);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn draw(&self, frame: &mut Frame, body: Rect, ctx: &DrawCtx) {
        let t = ctx.theme;
        let Some(stats) = &self.stats else {
            let text = match &self.error {
                Some(e) => Line::styled(e.clone(), t.error),
                None => Line::styled("reading image sizes and captions…", t.dim),
            };
            let block = panel(Line::from(" Stats "), true, t);
            frame.render_widget(Paragraph::new(text).block(block), body);
            return;
        };
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(body);
        let rows = |n: usize| Constraint::Length(n as u16 + 2);
        let (mp_bins, aspect_bins) = (trimmed(&stats.resolutions), trimmed(&stats.aspects));
        let [folders, mp, aspect, tokens] = Layout::vertical([
            rows(stats.folders.len().max(1) + 1),
            rows(mp_bins.len()),
            rows(aspect_bins.len()),
            Constraint::Min(3),
        ])
        .areas(left);
        folder_table(frame, t, stats, folders);
        histogram(frame, t, " Megapixels ", mp_bins, mp);
        histogram(frame, t, " Aspect (w/h) ", aspect_bins, aspect);
        let tok = &stats.tokens;
        let title = format!(
            " CLIP tokens · mean {:.1}, max {}, {} over 75 ",
            tok.mean, tok.max, tok.over_limit
        );
        histogram(frame, t, &title, trimmed(&tok.bins), tokens);
        let [tags, buckets] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(right);
        self.tag_table(frame, t, stats, tags);
        self.bucket_table(frame, ctx, stats, buckets);
    }

    crate::tui::screen::popup_slot!(popup);

    fn submit(&mut self, ctx: &mut Ctx, values: Values) -> Result<Effects, String> {
        match values.id {
            FormId::Target => {
                *ctx.target = target::parse(&values, ctx.target)?;
                self.start(ctx);
                Ok(Vec::new())
            }
            FormId::TagRename => {
                let Some(old) = self.current_tag().map(str::to_string) else {
                    return Ok(Vec::new());
                };
                let new = values.get(0).to_string();
                if new.is_empty() {
                    return Err("give the new name (removing a tag is its own command)".into());
                }
                if new.contains(',') {
                    return Err("one tag, without commas".into());
                }
                if new == old {
                    return Err("that is its name already".into());
                }
                Ok(self.preview_op(ctx, BulkOp::Replace { old, new }))
            }
            _ => Ok(Vec::new()),
        }
    }
}

// ----- drawing -----

impl StatsScreen {
    fn tag_table(&self, frame: &mut Frame, t: &Theme, stats: &Stats, area: Rect) {
        let focused = self.focus == Focus::Tags;
        let by = match self.sort {
            TagSort::Count => "count",
            TagSort::Name => "name",
        };
        let title = format!(" Tags · {} · by {by} ", stats.tags.len());
        let block = panel(Line::from(title), focused, t);
        let room = inner(area);
        frame.render_widget(block, area);
        let width = usize::from(room.width);
        let height = usize::from(room.height);
        let max = stats.tags.iter().map(|x| x.count).max().unwrap_or(0);
        let first = offset(self.tag_cursor, height);
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
                let style = if i == self.tag_cursor && focused {
                    t.cursor
                } else if i == self.tag_cursor {
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

    fn bucket_table(&self, frame: &mut Frame, ctx: &DrawCtx, stats: &Stats, area: Rect) {
        let t = ctx.theme;
        let focused = self.focus == Focus::Buckets;
        let title = format!(
            " Buckets · {} · {} ",
            stats.buckets.len(),
            target::label(ctx.target)
        );
        let block = panel(Line::from(title), focused, t);
        let room = inner(area);
        frame.render_widget(block, area);
        let width = usize::from(room.width);
        let height = usize::from(room.height);
        let first = offset(self.bucket_cursor, height);
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
                let style = if i == self.bucket_cursor && focused {
                    t.cursor
                } else {
                    t.base
                };
                Line::from(Span::styled(format!("{text:<width$}"), style))
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), room);
    }
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

fn histogram(frame: &mut Frame, t: &Theme, title: &str, bins: &[Bin], area: Rect) {
    frame.render_widget(panel(Line::from(title.to_string()), false, t), area);
    let rows: Vec<(String, usize)> = bins.iter().map(|b| (b.label.clone(), b.count)).collect();
    bars::draw(frame, inner(area), &rows, t.accent, t.base);
}

fn folder_table(frame: &mut Frame, t: &Theme, stats: &Stats, area: Rect) {
    let title = format!(" Folders · {} images ", stats.images);
    // The numbers keep their columns; the folder name takes what is left (cut from the left).
    let numbers = 3 + 7 + 6 + 9;
    let w = usize::from(inner(area).width)
        .saturating_sub(numbers)
        .clamp(6, 20);
    let mut lines = vec![Line::styled(
        format!(
            "{:<w$} {:>7} {:>6} {:>9}",
            "folder", "repeats", "images", "per epoch"
        ),
        t.dim,
    )];
    for f in &stats.folders {
        lines.push(Line::styled(
            format!(
                "{:<w$} {:>7} {:>6} {:>9}",
                truncate_left(&f.path, w),
                f.repeats,
                f.images,
                f.per_epoch
            ),
            t.base,
        ));
    }
    let block = panel(Line::from(title), false, t);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The first row to draw so that `cursor` is on screen.
fn offset(cursor: usize, height: usize) -> usize {
    (cursor + 1).saturating_sub(height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::screens::testing::Bench;

    fn stats(s: &dyn Screen) -> &StatsScreen {
        s.as_any().downcast_ref().unwrap()
    }

    #[test]
    fn tags_are_counted_and_removed_through_the_context() {
        let mut b = Bench::new(&[("a.png", Some("cat, red")), ("b.png", Some("cat"))]);
        let mut s = b.open(open);
        b.pump(&mut *s, |s| stats(s).stats.is_some());
        assert_eq!(stats(&*s).current_tag(), Some("cat"));
        // Remove shows a preview; applying it writes through the journal and asks for a reload.
        b.key(&mut *s, REMOVE);
        assert_eq!(crate::tui::screen::keyboard(&*s), "preview");
        let effects = b.key(&mut *s, "submit");
        assert!(matches!(effects.first(), Some(Effect::Reload)));
        assert_eq!(b.read("a.txt"), "red");
        // The shell reloads and the screen recomputes.
        b.reload(&mut *s);
        b.pump(&mut *s, |s| {
            stats(s)
                .stats
                .as_ref()
                .is_some_and(|st| st.tags.iter().all(|t| t.tag != "cat"))
        });
        // Jump asks the browser for the tag's filter.
        let effects = b.key(&mut *s, JUMP);
        assert!(matches!(
            effects.as_slice(),
            [Effect::Browse(Browse::Filter(q))] if q == "tag:\"red\""
        ));
    }
}
