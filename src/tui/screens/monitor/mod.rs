//! The run monitor: one run's progress, its loss chart (raw, moving average, learning rate;
//! zoom and scroll by step, log scale), its checkpoints (Enter opens one on the LoRA screen)
//! and sample images (by step and prompt, or one prompt side by side across steps), the end
//! of its log with a search, and the machine (sampled once a second). It
//! only reads the run folder: closing it never touches the run. Files are watched with notify;
//! the machine sample also moves the clock and notices a run going quiet (stalled).

mod log_panel;
pub mod machine;
mod samples_panel;

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::train::Point;
use crate::train::metrics::JsonlTail;
use crate::train::metrics::curves::Curves;
use crate::train::run::display::{duration, reason, state_label, took};
use crate::train::run::logs::meaningful_tail;
use crate::train::run::status::now;
use crate::train::run::summary::{self, Artifact, Detail, ReadOptions};
use crate::train::run::{Home, RunId, State};
use crate::train::supervisor::TRAIN_LOG;
use crate::train::supervisor::follow::METRICS;
use crate::tui::job::{Job, Update};
use crate::tui::keymap::nav;
use crate::tui::layout::body;
use crate::tui::msg::Msg;
use crate::tui::screen::{Command, Ctx, DrawCtx, Effect, Effects, Event, Level, Opener, Screen};
use crate::tui::theme::Theme;
use crate::tui::watch;
use crate::tui::widgets::image_pane::PreviewPane;
use crate::tui::widgets::loss_chart::{self, Data, View};
use crate::tui::widgets::panel::{gauge, human_size, panel, truncate_left};

use super::lora;
use log_panel::LogPanel;
use machine::{Machine, MachinePanel};
use samples_panel::SamplesPanel;

/// Opened from the Runs screen, not from the browser.
pub const OPENER: Option<Opener> = None;

/// The screen's default keys.
pub const KEYS: &str = "
monitor:
  inherit: [list]
  keys:
    zoom-in: + =
    zoom-out: '-'
    earlier: h Left
    later: l Right
    whole: '0'
    log-scale: L
    average: a
    older-sample: '['
    newer-sample: ']'
    previous-prompt: '{'
    next-prompt: '}'
    side-by-side: s
    inspect: Enter
    search: /
    next-match: n
    previous-match: N
    help: '?'
    close: Esc q
";

/// The shared prompt mode (keymap.yaml): the log search is typed in it.
const PROMPT: &str = "prompt";
const SUBMIT: &str = "submit";
const CANCEL: &str = "cancel";

const MODE: &str = "monitor";
const ZOOM_IN: &str = "zoom-in";
const ZOOM_OUT: &str = "zoom-out";
const EARLIER: &str = "earlier";
const LATER: &str = "later";
const WHOLE: &str = "whole";
const LOG_SCALE: &str = "log-scale";
const AVERAGE: &str = "average";
const INSPECT: &str = "inspect";
const OLDER_SAMPLE: &str = "older-sample";
const NEWER_SAMPLE: &str = "newer-sample";
const PREVIOUS_PROMPT: &str = "previous-prompt";
const NEXT_PROMPT: &str = "next-prompt";
const SIDE_BY_SIDE: &str = "side-by-side";
const SEARCH: &str = "search";
const NEXT_MATCH: &str = "next-match";
const PREVIOUS_MATCH: &str = "previous-match";
const CLOSE: &str = "close";

/// How often a live run's log and metrics are read at most (a frame each time): twice a
/// second follows a run closely enough (benches/monitor_cpu.rs measures the cost).
const READ_EVERY: Duration = Duration::from_millis(500);

/// Lines of the log kept for the tail (and searched).
const LOG_LINES: usize = 200;

pub struct MonitorScreen {
    home: Home,
    id: RunId,
    opts: ReadOptions,
    detail: Option<Detail>,
    error: Option<String>,
    metrics: JsonlTail,
    curves: Curves,
    /// The chart's columns, kept between frames (drawing has only `&self`).
    chart: RefCell<loss_chart::Cache>,
    /// Lines of metrics.jsonl that could not be read.
    problems: Vec<String>,
    log: LogPanel,
    /// The checkpoint under the cursor, counted from the newest.
    checkpoint: usize,
    /// The steps shown; `None` follows the whole run as it grows.
    span: Option<(u64, u64)>,
    log_scale: bool,
    average: bool,
    machine: MachinePanel,
    samples: SamplesPanel,
    sampler: Job<Machine, ()>,
    watcher: Option<RecommendedWatcher>,
    /// The time the progress line is drawn for (the last refresh or machine sample).
    now: f64,
    /// Whether the log had been quiet for the stall timeout at the last look (the summary is
    /// read again only when that changes).
    quiet: bool,
    /// When the run's files were last read, and whether a change came since that was not.
    last_read: Instant,
    stale: bool,
}

impl MonitorScreen {
    pub fn new(ctx: &mut Ctx, home: Home, id: RunId, opts: ReadOptions) -> MonitorScreen {
        let dir = home.run_dir(&id);
        let mut s = MonitorScreen {
            metrics: JsonlTail::new(dir.join(METRICS)),
            home,
            id,
            opts,
            detail: None,
            error: None,
            curves: Curves::new(),
            chart: RefCell::default(),
            problems: Vec::new(),
            log: LogPanel::default(),
            checkpoint: 0,
            span: None,
            log_scale: false,
            average: true,
            machine: MachinePanel::default(),
            samples: SamplesPanel::new(PreviewPane::new(ctx.picker, ctx.tx.clone())),
            sampler: Job::new(),
            watcher: None,
            now: now(),
            quiet: false,
            last_read: Instant::now(),
            stale: false,
        };
        s.reload(true);
        s.quiet = s.detail.as_ref().is_some_and(|d| d.summary.stalled);
        // The free disk that matters is where the checkpoints go.
        let folder = s
            .detail
            .as_ref()
            .map_or_else(|| dir.clone(), |d| d.output_dir.clone());
        s.watch(ctx, dir);
        if let Err(e) = s.sampler.start(ctx.tx, "machine-sampler", machine::sampler(folder)) {
            s.machine.failed(e);
        }
        s.request_images(ctx.area);
        s
    }

    fn sample_list(&self) -> &[Artifact] {
        samples_of(&self.detail)
    }

    /// Asks for the sample images the screen will draw at its size now.
    fn request_images(&mut self, area: Rect) {
        let a = areas(body(area));
        self.samples
            .request(samples_of(&self.detail), a.samples, a.chart);
    }

    fn watch(&mut self, ctx: &Ctx, dir: PathBuf) {
        let mut w = match watch::watcher(ctx.tx.clone(), Msg::Watched) {
            Ok(w) => w,
            Err(e) => {
                self.error = Some(format!("not watching the run: {e}"));
                return;
            }
        };
        let _ = w.watch(&dir, RecursiveMode::NonRecursive);
        if let Some(out) = self.detail.as_ref().map(|d| d.output_dir.clone())
            && !out.starts_with(&dir)
        {
            let _ = w.watch(&out, RecursiveMode::Recursive);
        } else {
            let _ = w.watch(&dir.join("output"), RecursiveMode::Recursive);
        }
        self.watcher = Some(w);
    }

    /// Reads what changed: the summary, new metrics and the log's end always; the files in
    /// the output folder too when `files`.
    fn reload(&mut self, files: bool) {
        self.now = now();
        self.last_read = Instant::now();
        self.stale = false;
        if files || self.detail.is_none() {
            match summary::detail(&self.home, &self.id, &self.opts) {
                Ok(d) => {
                    self.detail = Some(d);
                    self.error = None;
                }
                Err(e) => self.error = Some(e.to_string()),
            }
        } else if let Some(d) = &mut self.detail {
            match summary::summary(&self.home, &self.id, &self.opts) {
                Ok(s) => d.summary = s,
                Err(e) => self.error = Some(e.to_string()),
            }
        }
        let to_end = self
            .detail
            .as_ref()
            .is_some_and(|d| !d.summary.state.is_active());
        let mut points: Vec<Point> = Vec::new();
        let mut problems = Vec::new();
        if let Err(e) = self.metrics.read_new(to_end, &mut points, &mut problems) {
            problems.push(e);
        }
        // Named from the run folder: the panel is narrow and the folder is in the title.
        let prefix = format!("{}/", self.home.run_dir(&self.id).display());
        self.problems
            .extend(problems.iter().map(|p| p.to_string().replace(&prefix, "")));
        for p in &points {
            self.curves.add(p);
        }
        if let Some(d) = &self.detail {
            self.log.set_lines(meaningful_tail(&d.log, LOG_LINES));
            let n = d.checkpoints.len();
            self.checkpoint = self.checkpoint.min(n.saturating_sub(1));
        }
    }

    /// A machine sample came (once a second): the clock moves, and a live run whose log has
    /// been quiet for the stall timeout is read again, so "stalled" shows without waiting for
    /// a file to change (one stat a second; the summary only when quiet flips).
    fn tick(&mut self) {
        self.now = now();
        if self.stale {
            self.reload(false);
        }
        let Some(d) = self.detail.as_ref().filter(|d| d.summary.state.is_active()) else {
            return;
        };
        let idle = std::fs::metadata(&d.log)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        let quiet = idle.is_some_and(|i| i >= self.opts.stall_after);
        if quiet != self.quiet {
            self.quiet = quiet;
            self.reload(false);
        }
    }

    /// The checkpoints, newest first (as the panel lists them).
    fn checkpoints(&self) -> impl Iterator<Item = &Artifact> {
        self.detail
            .iter()
            .flat_map(|d| d.checkpoints.iter().rev())
    }

    /// The whole run's steps.
    fn full(&self) -> Option<(u64, u64)> {
        self.curves.span()
    }

    fn shown(&self) -> Option<(u64, u64)> {
        self.span.or_else(|| self.full())
    }

    fn zoom(&mut self, action: &str) {
        let (Some((a, b)), Some((first, last))) = (self.shown(), self.full()) else {
            return;
        };
        let width = b - a;
        let (lo, hi) = match action {
            ZOOM_IN if width >= 8 => (b - width / 2, b),
            ZOOM_OUT => (b.saturating_sub(width.saturating_mul(2).max(8)), b),
            EARLIER => {
                let d = (width / 4).max(1).min(a - first);
                (a - d, b - d)
            }
            LATER => {
                let d = (width / 4).max(1).min(last.saturating_sub(b));
                (a + d, b + d)
            }
            _ => (a, b),
        };
        let (lo, hi) = (lo.max(first), hi.min(last));
        // Showing everything again follows the run as it grows.
        self.span = (lo > first || hi < last).then_some((lo, hi));
    }

    fn action(&mut self, ctx: &mut Ctx, action: &str) -> Effects {
        if let Some(step) = nav::step(action, 5) {
            let n = self.checkpoints().count();
            self.checkpoint = nav::moved(self.checkpoint, n, step);
            return Vec::new();
        }
        match action {
            INSPECT => {
                if let Some(a) = self.checkpoints().nth(self.checkpoint) {
                    let path = a.path.clone();
                    return vec![Effect::Open(lora::open_file(ctx, path))];
                }
            }
            SEARCH => self.log.open_prompt(),
            NEXT_MATCH | PREVIOUS_MATCH if !self.log.step(action == NEXT_MATCH) => {
                return vec![Effect::status(Level::Info, "no match in the log")];
            }
            OLDER_SAMPLE | NEWER_SAMPLE => {
                let by = if action == OLDER_SAMPLE { -1 } else { 1 };
                self.samples.cursor.step(samples_of(&self.detail), by);
            }
            PREVIOUS_PROMPT | NEXT_PROMPT => {
                let by = if action == PREVIOUS_PROMPT { -1 } else { 1 };
                self.samples.cursor.prompt_by(samples_of(&self.detail), by);
            }
            SIDE_BY_SIDE => self.samples.side_by_side = !self.samples.side_by_side,
            ZOOM_IN | ZOOM_OUT | EARLIER | LATER => self.zoom(action),
            WHOLE => self.span = None,
            LOG_SCALE => self.log_scale = !self.log_scale,
            AVERAGE => self.average = !self.average,
            CLOSE => return vec![Effect::Close],
            _ => {}
        }
        Vec::new()
    }

    fn on_change(&mut self, paths: &[PathBuf]) -> Effects {
        let dir = self.home.run_dir(&self.id);
        let out = self.detail.as_ref().map(|d| d.output_dir.clone());
        let mine = |p: &PathBuf| p.parent() == Some(dir.as_path());
        let files = |p: &PathBuf| out.as_ref().is_some_and(|o| p.starts_with(o));
        if !paths.iter().any(|p| mine(p) || files(p)) {
            // Another run's files (the Runs screen below watches them all).
            return vec![Effect::Unchanged];
        }
        let was_active = self.active();
        let light = paths.iter().all(|p| {
            p.file_name()
                .is_some_and(|n| n == TRAIN_LOG || n == METRICS)
        });
        // The log and metrics of a live run change tens of times a second: read them at most
        // every READ_EVERY (what came meanwhile waits for the next change or machine sample).
        if light && self.last_read.elapsed() < READ_EVERY {
            self.stale = true;
            return vec![Effect::Unchanged];
        }
        self.reload(!light);
        match (&self.detail, was_active && !self.active()) {
            (Some(d), true) => ended(&d.summary),
            _ => Vec::new(),
        }
    }

    fn active(&self) -> bool {
        self.detail
            .as_ref()
            .is_some_and(|d| d.summary.state.is_active())
    }
}

/// A run ended while it was watched: the status line says so, and the terminal is asked for a
/// desktop notification (the person may be in another window for hours).
fn ended(s: &summary::Summary) -> Effects {
    let level = if s.state == State::Succeeded {
        Level::Info
    } else {
        Level::Warn
    };
    let what = format!("run {} {}", s.name, state_label(s));
    let body = reason(s).unwrap_or_else(|| what.clone());
    vec![
        Effect::status(level, what.clone()),
        Effect::Notify {
            title: format!("lorabench: {what}"),
            body,
        },
    ]
}

impl Drop for MonitorScreen {
    fn drop(&mut self) {
        self.sampler.cancel();
    }
}

impl Screen for MonitorScreen {
    fn mode(&self) -> &'static str {
        if self.log.prompting() { PROMPT } else { MODE }
    }

    fn title(&self) -> &'static str {
        "Run monitor"
    }

    fn commands(&self, _ctx: &DrawCtx) -> Vec<Command> {
        if self.log.prompting() {
            return vec![
                Command::new(SUBMIT, "keep the search").bar("keep", 0),
                Command::new(CANCEL, "drop the search").bar("drop", 0),
            ];
        }
        let zoomed = self.span.is_some();
        let none = self.full().is_none();
        let no_checkpoint = self.checkpoints().next().is_none();
        let no_search = !self.log.searching();
        let no_sample = self.sample_list().is_empty();
        let side = if self.samples.side_by_side {
            "back to the loss chart"
        } else {
            "one prompt's samples side by side across steps"
        };
        vec![
            Command::new(nav::DOWN, "next older checkpoint").off_if(no_checkpoint, "no checkpoints yet"),
            Command::new(nav::UP, "next newer checkpoint").off_if(no_checkpoint, "no checkpoints yet"),
            Command::new(nav::PAGE_DOWN, "five checkpoints older").off_if(no_checkpoint, "no checkpoints yet"),
            Command::new(nav::PAGE_UP, "five checkpoints newer").off_if(no_checkpoint, "no checkpoints yet"),
            Command::new(nav::TOP, "the first checkpoint listed").off_if(no_checkpoint, "no checkpoints yet"),
            Command::new(nav::BOTTOM, "the last checkpoint listed").off_if(no_checkpoint, "no checkpoints yet"),
            Command::new(INSPECT, "inspect the checkpoint on the LoRA screen")
                .bar("inspect", 1)
                .off_if(no_checkpoint, "no checkpoints yet"),
            Command::new(OLDER_SAMPLE, "the sample one step older").off_if(no_sample, "no samples yet"),
            Command::new(NEWER_SAMPLE, "the sample one step newer").off_if(no_sample, "no samples yet"),
            Command::new(PREVIOUS_PROMPT, "the previous prompt's sample").off_if(no_sample, "no samples yet"),
            Command::new(NEXT_PROMPT, "the next prompt's sample").off_if(no_sample, "no samples yet"),
            Command::new(SIDE_BY_SIDE, side).bar("samples", 2).off_if(no_sample, "no samples yet"),
            Command::new(SEARCH, "search the log").bar("search", 2),
            Command::new(NEXT_MATCH, "next older match").off_if(no_search, "no search yet"),
            Command::new(PREVIOUS_MATCH, "next newer match").off_if(no_search, "no search yet"),
            Command::new(ZOOM_IN, "zoom in on the latest steps")
                .bar("zoom", 2)
                .off_if(none, "no points yet"),
            Command::new(ZOOM_OUT, "zoom out").off_if(!zoomed, "the whole run is shown"),
            Command::new(EARLIER, "scroll to earlier steps").off_if(!zoomed, "the whole run is shown"),
            Command::new(LATER, "scroll to later steps").off_if(!zoomed, "the whole run is shown"),
            Command::new(WHOLE, "show the whole run").off_if(!zoomed, "the whole run is shown"),
            Command::new(LOG_SCALE, "log scale for the loss").bar("log", 3),
            Command::new(AVERAGE, "moving average over the raw loss").bar("average", 3),
            Command::new(nav::HELP, "help").bar("help", 0),
            Command::new(CLOSE, "back to the runs").bar("back", 0),
        ]
    }

    fn event(&mut self, ctx: &mut Ctx, event: Event) -> Effects {
        let effects = self.on_event(ctx, event);
        // A held-back file change changed nothing shown, so no image either.
        if !matches!(effects.as_slice(), [Effect::Unchanged]) {
            self.request_images(ctx.area);
        }
        effects
    }

    fn images_pending(&self) -> bool {
        self.samples.pending()
    }

    fn draw(&self, frame: &mut Frame, body: Rect, ctx: &DrawCtx) {
        let t = ctx.theme;
        let a = areas(body);
        self.draw_progress(frame, a.top, t);
        if self.samples.side_by_side {
            self.samples.draw_strip(frame, a.chart, self.sample_list(), t);
        } else {
            self.draw_chart(frame, a.chart, t);
        }
        self.machine.draw(frame, a.machine, t);
        let d = self.detail.as_ref();
        let checkpoints = d.map_or(&[][..], |d| &d.checkpoints[..]);
        checkpoints_panel(frame, a.checkpoints, checkpoints, self.checkpoint, t);
        self.samples.draw(frame, a.samples, self.sample_list(), t);
        let failed = d.filter(|d| d.summary.state == State::Failed);
        // The line the run failed with: the error the follower found, else the log's last.
        let error = failed.and_then(|d| {
            let s = &d.summary;
            s.message
                .as_deref()
                .filter(|m| self.log.lines.iter().any(|l| l == m))
                .or_else(|| s.last_lines.last().map(String::as_str))
        });
        self.log.draw(frame, a.log, &self.problems, error, t);
    }
}

impl MonitorScreen {
    fn on_event(&mut self, ctx: &mut Ctx, event: Event) -> Effects {
        match event {
            Event::Key { action, key } if self.log.prompting() => {
                match action {
                    Some(SUBMIT) => self.log.close_prompt(true),
                    Some(_) => self.log.close_prompt(false),
                    None => self.log.key(key),
                }
                Vec::new()
            }
            Event::Key {
                action: Some(a), ..
            } => self.action(ctx, a),
            Event::Resized => {
                self.samples.pane().use_picker(ctx.picker, ctx.tx);
                Vec::new()
            }
            Event::Message(msg) => {
                if self.samples.pane().take(msg) {
                    return Vec::new();
                }
                if let Some(Msg::Watched(paths)) = msg.as_ref() {
                    let paths = paths.clone();
                    return self.on_change(&paths);
                }
                match self.sampler.take(msg) {
                    Some(Update::Item(m)) => {
                        self.machine.push(m);
                        self.tick();
                    }
                    Some(Update::Done(Err(e))) => self.machine.failed(e),
                    _ => {}
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

// ----- drawing -----

/// The run's samples (none before its folder was read); a field borrow, so the samples panel
/// can be changed beside it.
fn samples_of(detail: &Option<Detail>) -> &[Artifact] {
    detail.as_ref().map_or(&[][..], |d| &d.samples[..])
}

/// Where each panel goes; the same numbers size the sample images asked for.
struct Areas {
    top: Rect,
    chart: Rect,
    machine: Rect,
    checkpoints: Rect,
    samples: Rect,
    log: Rect,
}

fn areas(body: Rect) -> Areas {
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(8),
        Constraint::Length(9),
    ])
    .areas(body);
    let [chart, machine] =
        Layout::horizontal([Constraint::Min(30), Constraint::Length(34)]).areas(middle);
    let [checkpoints, samples, log] = Layout::horizontal([
        Constraint::Percentage(30),
        Constraint::Percentage(25),
        Constraint::Percentage(45),
    ])
    .areas(bottom);
    Areas {
        top,
        chart,
        machine,
        checkpoints,
        samples,
        log,
    }
}

/// `3.21 it/s`, or `4.2 s/it` when slower than one step a second.
fn rate_text(rate: f64) -> String {
    if rate >= 1.0 {
        format!("{rate:.2} it/s")
    } else {
        format!("{:.1} s/it", 1.0 / rate.max(1e-9))
    }
}

/// The checkpoints, newest first; `cursor` (counted from the newest) marks one.
fn checkpoints_panel(frame: &mut Frame, area: Rect, list: &[Artifact], cursor: usize, t: &Theme) {
    let block = panel(Line::from(format!(" Checkpoints ({}) ", list.len())), false, t);
    let width = usize::from(area.width.saturating_sub(2));
    let rows = usize::from(area.height.saturating_sub(2));
    let skip = (cursor + 1).saturating_sub(rows);
    let mut lines: Vec<Line> = list
        .iter()
        .rev()
        .enumerate()
        .skip(skip)
        .take(rows)
        .map(|(i, a)| {
            let step = match (a.step, a.epoch) {
                (Some(s), _) => s.to_string(),
                (None, Some(e)) => format!("ep {e}"),
                (None, None) => "-".into(),
            };
            // The size where the panel has room for it; the stem (the extension says little).
            let size = if width >= 30 {
                human_size(a.size)
            } else {
                String::new()
            };
            let name = a
                .path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let room = width.saturating_sub(6 + size.len() + 1);
            let row = if cursor == i { t.cursor } else { t.base };
            Line::from(vec![
                Span::styled(format!("{step:>5} "), row.patch(t.accent)),
                Span::styled(format!("{:<room$}", truncate_left(&name, room)), row),
                Span::styled(format!(" {size}"), row.patch(t.dim)),
            ])
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::styled("none yet", t.dim));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

impl MonitorScreen {
    fn draw_progress(&self, frame: &mut Frame, area: Rect, t: &Theme) {
        let Some(d) = &self.detail else {
            let block = panel(Line::from(format!(" Run {} ", self.id)), true, t);
            let text = self.error.clone().unwrap_or_default();
            frame.render_widget(Paragraph::new(Line::styled(text, t.error)).block(block), area);
            return;
        };
        let s = &d.summary;
        let title = Line::from(vec![
            Span::raw(format!(" {} · {} · ", s.name, s.id)),
            Span::styled(format!("{} ", state_label(s)), t.accent),
        ]);
        let block = panel(title, true, t);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let mut parts = Vec::new();
        let ratio = match (s.step, s.total) {
            (Some(a), Some(b)) if b > 0 => {
                parts.push(format!("step {a}/{b}"));
                parts.push(format!("{:.1}%", a as f64 * 100.0 / b as f64));
                a as f64 / b as f64
            }
            (Some(a), None) => {
                parts.push(format!("step {a}"));
                0.0
            }
            _ => {
                parts.push("no step yet".into());
                0.0
            }
        };
        parts.extend(s.rate.map(rate_text));
        let elapsed = match took(s) {
            Some(secs) => Some(secs),
            None => s.started_at.map(|t0| self.now - t0),
        };
        parts.extend(elapsed.map(|e| format!("elapsed {}", duration(e))));
        parts.extend(s.eta.map(|e| format!("eta {}", duration(e))));
        parts.extend(s.epoch.map(|e| format!("epoch {e}")));
        if let Some(why) = reason(s) {
            parts.push(why);
        }
        gauge(frame, inner, ratio, parts.join(" · "), t);
    }

    fn draw_chart(&self, frame: &mut Frame, area: Rect, t: &Theme) {
        let mut title = vec![Span::raw(" Loss ")];
        if self.average {
            title.push(Span::styled("· average ", t.accent));
        }
        title.push(Span::styled("· lr ", t.warning));
        if self.log_scale {
            title.push(Span::styled("· log ", t.dim));
        }
        if let Some((a, b)) = self.span {
            title.push(Span::styled(format!("· steps {a}–{b} "), t.dim));
        }
        let block = panel(Line::from(title), false, t);
        let Some((lo, hi)) = self.shown() else {
            let text = if self.problems.is_empty() {
                "no loss reported yet"
            } else {
                "no readable loss: see the problems in the log panel"
            };
            frame.render_widget(Paragraph::new(Line::styled(text, t.dim)).block(block), area);
            return;
        };
        let data = Data {
            loss: &self.curves.loss,
            ema: &self.curves.ema,
            lr: &self.curves.lr,
        };
        let view = View {
            lo,
            hi,
            log: self.log_scale,
            ema: self.average,
        };
        loss_chart::draw(frame, area, block, &data, view, &mut self.chart.borrow_mut(), t);
    }
}
