//! The Stats/Tags screen: `dataset::stats::compute` on a worker thread; the tag table can be
//! sorted, a tag shown in the browser (`tag:x`), renamed or removed everywhere through the
//! journal (one undoable entry, previewed as a diff first).

use crate::dataset::ops::{self, BulkOp};
use crate::dataset::stats::{self, Stats, TagSort};

use super::form::{Form, FormId, Values};
use super::{Preview, Screen, ScreenMsg, included, set_status};
use crate::tui::app::{App, Level, plural};
use crate::tui::keymap::Action;

#[derive(Debug)]
pub enum StatsMsg {
    Done {
        generation: u64,
        result: Box<Result<Stats, String>>,
    },
}

/// Which list the cursor keys move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Tags,
    Buckets,
}

pub struct StatsScreen {
    pub stats: Option<Stats>,
    pub error: Option<String>,
    pub running: bool,
    pub sort: TagSort,
    pub focus: Focus,
    pub tag_cursor: usize,
    pub bucket_cursor: usize,
    pub form: Option<Form>,
    pub preview: Option<Preview>,
    generation: u64,
}

impl StatsScreen {
    pub fn current_tag(&self) -> Option<&str> {
        self.stats
            .as_ref()
            .and_then(|s| s.tags.get(self.tag_cursor))
            .map(|t| t.tag.as_str())
    }

    fn move_cursor(&mut self, delta: isize) {
        let Some(stats) = &self.stats else { return };
        let (cursor, len) = match self.focus {
            Focus::Tags => (&mut self.tag_cursor, stats.tags.len()),
            Focus::Buckets => (&mut self.bucket_cursor, stats.buckets.len()),
        };
        let last = len.saturating_sub(1) as isize;
        *cursor = (*cursor as isize + delta).clamp(0, last.max(0)) as usize;
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
}

fn screen(app: &mut App) -> Option<&mut StatsScreen> {
    match app.screen.as_mut() {
        Some(Screen::Stats(s)) => Some(s),
        _ => None,
    }
}

pub fn open(app: &mut App) {
    super::close(app);
    app.screen = Some(Screen::Stats(Box::new(StatsScreen {
        stats: None,
        error: None,
        running: false,
        sort: TagSort::Count,
        focus: Focus::Tags,
        tag_cursor: 0,
        bucket_cursor: 0,
        form: None,
        preview: None,
        generation: 0,
    })));
    start(app);
}

/// (Re)computes the statistics of the dataset as it is now; an older result is dropped.
pub fn start(app: &mut App) {
    let dataset = app.dataset.clone();
    let tx = app.tx.clone();
    let options = app.target.clone();
    let Some(s) = screen(app) else { return };
    s.generation += 1;
    s.running = true;
    let generation = s.generation;
    let spawned = std::thread::Builder::new()
        .name("stats".into())
        .spawn(move || {
            let result = stats::compute(&dataset, &options).map_err(|e| e.to_string());
            let _ = tx.send(
                ScreenMsg::Stats(StatsMsg::Done {
                    generation,
                    result: Box::new(result),
                })
                .into(),
            );
        });
    if let Err(e) = spawned
        && let Some(s) = screen(app)
    {
        s.running = false;
        s.error = Some(format!("cannot start the stats worker: {e}"));
    }
}

pub fn on_msg(app: &mut App, msg: StatsMsg) {
    let Some(s) = screen(app) else { return };
    let StatsMsg::Done { generation, result } = msg;
    if generation != s.generation {
        return;
    }
    s.running = false;
    match *result {
        Ok(mut stats) => {
            let keep = s.current_tag().map(str::to_string);
            stats::sort_tags(&mut stats.tags, s.sort);
            s.stats = Some(stats);
            s.error = None;
            s.place(keep);
        }
        Err(e) => s.error = Some(e),
    }
}

pub fn on_action(app: &mut App, action: Action) {
    let Some(Screen::Stats(s)) = app.screen.as_mut() else {
        return;
    };
    let target = &app.target;
    if let Some(step) = super::cursor_step(action) {
        s.move_cursor(step);
        return;
    }
    match action {
        Action::NextField => {
            s.focus = match s.focus {
                Focus::Tags => Focus::Buckets,
                Focus::Buckets => Focus::Tags,
            }
        }
        Action::Sort => {
            s.sort = match s.sort {
                TagSort::Count => TagSort::Name,
                TagSort::Name => TagSort::Count,
            };
            let keep = s.current_tag().map(str::to_string);
            let sort = s.sort;
            if let Some(stats) = &mut s.stats {
                stats::sort_tags(&mut stats.tags, sort);
            }
            s.place(keep);
        }
        Action::Jump => {
            let Some(tag) = s.current_tag().map(str::to_string) else {
                return;
            };
            super::close(app);
            let query = format!("tag:\"{}\"", tag.replace('"', ""));
            if let Err(e) = app.apply_filter(&query) {
                set_status(app, Level::Error, e);
            }
        }
        Action::Rename => {
            let Some(tag) = s.current_tag().map(str::to_string) else {
                return;
            };
            s.form = Some(Form::new(
                FormId::TagRename,
                format!("Rename tag \"{tag}\" everywhere"),
                &[("new name", tag)],
                "Enter shows the changes first · if the new name is there already, the old one just goes",
            ));
        }
        Action::RemoveTag => {
            let Some(tag) = s.current_tag().map(str::to_string) else {
                return;
            };
            preview_op(app, BulkOp::Remove { tag });
        }
        Action::Target => s.form = Some(super::target::form(target)),
        Action::Rerun => start(app),
        Action::Close | Action::Escape => super::close(app),
        _ => {}
    }
}

/// Plans a tag operation over every included image and shows it for confirmation.
fn preview_op(app: &mut App, op: BulkOp) {
    let targets = included(app);
    match ops::plan(&app.dataset, &targets, &op) {
        Ok(plan) => {
            let n = plan.edits.len();
            let description = format!("{} ({n} caption{})", op.describe(), plural(n));
            let title = format!("{}: {n} caption{}", op.describe(), plural(n));
            if let Some(s) = screen(app) {
                s.preview = Some(Preview::new(title, description, plan));
            }
        }
        Err(e) => set_status(app, Level::Error, e.to_string()),
    }
}

pub fn submit(app: &mut App, values: Values) -> Result<(), String> {
    if values.id == FormId::Target {
        app.target = super::target::parse(&values, &app.target)?;
        start(app);
        return Ok(());
    }
    let Some(s) = screen(app) else { return Ok(()) };
    if values.id != FormId::TagRename {
        return Ok(());
    }
    let Some(old) = s.current_tag().map(str::to_string) else {
        return Ok(());
    };
    let new = values.get(0).to_string();
    if new.is_empty() {
        return Err("give the new name (d removes a tag)".into());
    }
    if new.contains(',') {
        return Err("one tag, without commas".into());
    }
    if new == old {
        return Err("that is its name already".into());
    }
    s.form = None;
    preview_op(app, BulkOp::Replace { old, new });
    Ok(())
}
