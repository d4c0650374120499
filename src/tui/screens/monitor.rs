//! The run monitor: one run's progress, its loss chart (raw, moving average, learning rate;
//! zoom and scroll by step, log scale), its checkpoints and samples, the end of its log and the
//! machine (the GPUs sampled once a second). It only reads the run folder: closing it never
//! touches the run. Files are watched with notify; the GPU sample also moves the clock.

use std::path::PathBuf;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::monitor::gpu::{self, Report};
use crate::train::Point;
use crate::train::metrics::JsonlTail;
use crate::train::metrics::series::{Series, ema};
use crate::train::run::display::{duration, reason, state_label, took};
use crate::train::run::logs::meaningful_tail;
use crate::train::run::status::now;
use crate::train::run::summary::{self, Artifact, Detail, ReadOptions};
use crate::train::run::{Home, RunId, State};
use crate::train::supervisor::TRAIN_LOG;
use crate::train::supervisor::follow::METRICS;
use crate::tui::job::{Job, Update};
use crate::tui::keymap::nav;
use crate::tui::msg::Msg;
use crate::tui::screen::{Command, Ctx, DrawCtx, Effect, Effects, Event, Level, Opener, Screen};
use crate::tui::theme::Theme;
use crate::tui::watch;
use crate::tui::widgets::loss_chart::{self, Data, View};
use crate::tui::widgets::panel::{gauge, human_size, panel, truncate_left};

/// Opened from the Runs screen, not from the browser.
pub const OPENER: Option<Opener> = None;

/// The screen's default keys.
pub const KEYS: &str = "
monitor:
  keys:
    zoom-in: + =
    zoom-out: '-'
    earlier: h Left
    later: l Right
    whole: '0'
    log-scale: L
    average: a
    help: '?'
    close: Esc q
";

const MODE: &str = "monitor";
const ZOOM_IN: &str = "zoom-in";
const ZOOM_OUT: &str = "zoom-out";
const EARLIER: &str = "earlier";
const LATER: &str = "later";
const WHOLE: &str = "whole";
const LOG_SCALE: &str = "log-scale";
const AVERAGE: &str = "average";
const CLOSE: &str = "close";

/// Weight of the newest point in the moving average.
const EMA_ALPHA: f64 = 0.05;
/// Lines of the log kept for the tail.
const LOG_LINES: usize = 200;

pub struct MonitorScreen {
    home: Home,
    id: RunId,
    opts: ReadOptions,
    detail: Option<Detail>,
    error: Option<String>,
    metrics: JsonlTail,
    loss: Series,
    ema: Series,
    lr: Series,
    /// Lines of metrics.jsonl that could not be read.
    problems: Vec<String>,
    log: Vec<String>,
    /// The steps shown; `None` follows the whole run as it grows.
    span: Option<(u64, u64)>,
    log_scale: bool,
    average: bool,
    gpus: Option<Report>,
    sampler: Job<Report, ()>,
    watcher: Option<RecommendedWatcher>,
    /// The time the progress line is drawn for (the last refresh or GPU sample).
    now: f64,
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
            loss: Series::new(),
            ema: Series::new(),
            lr: Series::new(),
            problems: Vec::new(),
            log: Vec::new(),
            span: None,
            log_scale: false,
            average: true,
            gpus: None,
            sampler: Job::new(),
            watcher: None,
            now: now(),
        };
        s.reload(true);
        s.watch(ctx, dir);
        if let Err(e) = s.sampler.start(ctx.tx, "gpu-sampler", sample_gpus) {
            s.gpus = Some(Report {
                source: gpu::Source::None,
                driver: None,
                cuda: None,
                gpus: Vec::new(),
                notes: vec![e],
            });
        }
        s
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
        for p in points {
            self.add(&p);
        }
        if let Some(d) = &self.detail {
            self.log = meaningful_tail(&d.log, LOG_LINES);
        }
    }

    fn add(&mut self, p: &Point) {
        if let Some(loss) = p.loss
            && self.loss.push(p.step, loss)
        {
            let avg = ema(self.ema.last().map(|(_, v)| v), loss, EMA_ALPHA);
            self.ema.push(p.step, avg);
        }
        if let Some(lr) = p.lr {
            self.lr.push(p.step, lr);
        }
    }

    /// The whole run's steps.
    fn full(&self) -> Option<(u64, u64)> {
        self.loss.span().or_else(|| self.lr.span())
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

    fn action(&mut self, action: &str) -> Effects {
        match action {
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
            return Vec::new();
        }
        let was_active = self.active();
        let light = paths.iter().all(|p| {
            p.file_name()
                .is_some_and(|n| n == TRAIN_LOG || n == METRICS)
        });
        self.reload(!light);
        match (&self.detail, was_active && !self.active()) {
            (Some(d), true) => {
                let s = &d.summary;
                let level = if s.state == State::Succeeded {
                    Level::Info
                } else {
                    Level::Warn
                };
                vec![Effect::status(
                    level,
                    format!("run {} {}", s.name, state_label(s)),
                )]
            }
            _ => Vec::new(),
        }
    }

    fn active(&self) -> bool {
        self.detail
            .as_ref()
            .is_some_and(|d| d.summary.state.is_active())
    }
}

impl Drop for MonitorScreen {
    fn drop(&mut self) {
        self.sampler.cancel();
    }
}

/// The GPU sampler's thread: one report a second until cancelled.
fn sample_gpus(r: &crate::tui::job::Reporter<Msg>) -> Result<(), String> {
    let sampler = gpu::Sampler::open();
    while !r.flag().load(std::sync::atomic::Ordering::Relaxed) {
        r.item(sampler.sample());
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(100));
            if r.flag().load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(());
            }
        }
    }
    Ok(())
}

impl Screen for MonitorScreen {
    fn mode(&self) -> &'static str {
        MODE
    }

    fn title(&self) -> &'static str {
        "Run monitor"
    }

    fn commands(&self, _ctx: &DrawCtx) -> Vec<Command> {
        let zoomed = self.span.is_some();
        let none = self.full().is_none();
        vec![
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

    fn event(&mut self, _ctx: &mut Ctx, event: Event) -> Effects {
        match event {
            Event::Key {
                action: Some(a), ..
            } => self.action(a),
            Event::Message(msg) => {
                if let Some(Msg::Watched(paths)) = msg.as_ref() {
                    let paths = paths.clone();
                    return self.on_change(&paths);
                }
                match self.sampler.take(msg) {
                    Some(Update::Item(report)) => {
                        self.gpus = Some(report);
                        self.now = now();
                    }
                    Some(Update::Done(Err(e))) => {
                        self.gpus = Some(Report {
                            source: gpu::Source::None,
                            driver: None,
                            cuda: None,
                            gpus: Vec::new(),
                            notes: vec![e],
                        });
                    }
                    _ => {}
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn draw(&self, frame: &mut Frame, body: Rect, ctx: &DrawCtx) {
        let t = ctx.theme;
        let [top, middle, bottom] = Layout::vertical([
            Constraint::Length(3),
            Constraint::Min(8),
            Constraint::Length(9),
        ])
        .areas(body);
        self.draw_progress(frame, top, t);
        let [chart, machine] =
            Layout::horizontal([Constraint::Min(30), Constraint::Length(34)]).areas(middle);
        self.draw_chart(frame, chart, t);
        self.draw_machine(frame, machine, t);
        let [ckpts, samples, log] = Layout::horizontal([
            Constraint::Percentage(30),
            Constraint::Percentage(25),
            Constraint::Percentage(45),
        ])
        .areas(bottom);
        let d = self.detail.as_ref();
        files(frame, ckpts, " Checkpoints ", d.map(|d| &d.checkpoints[..]), true, t);
        files(frame, samples, " Samples ", d.map(|d| &d.samples[..]), false, t);
        self.draw_log(frame, log, t);
    }
}

// ----- drawing -----

/// `3.21 it/s`, or `4.2 s/it` when slower than one step a second.
fn rate_text(rate: f64) -> String {
    if rate >= 1.0 {
        format!("{rate:.2} it/s")
    } else {
        format!("{:.1} s/it", 1.0 / rate.max(1e-9))
    }
}

fn files(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    list: Option<&[Artifact]>,
    sizes: bool,
    t: &Theme,
) {
    let list = list.unwrap_or_default();
    let block = panel(Line::from(format!("{title}({}) ", list.len())), false, t);
    let width = usize::from(area.width.saturating_sub(2));
    let rows = usize::from(area.height.saturating_sub(2));
    let mut lines: Vec<Line> = list
        .iter()
        .rev()
        .take(rows)
        .map(|a| {
            let step = a.step.map_or_else(|| "-".into(), |s| s.to_string());
            let size = if sizes { human_size(a.size) } else { String::new() };
            let name = a
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let room = width.saturating_sub(8 + size.len() + 2);
            Line::from(vec![
                Span::styled(format!("{step:>6}  "), t.accent),
                Span::styled(format!("{:<room$}", truncate_left(&name, room)), t.base),
                Span::styled(format!(" {size}"), t.dim),
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
            loss: &self.loss,
            ema: &self.ema,
            lr: &self.lr,
        };
        let view = View {
            lo,
            hi,
            log: self.log_scale,
            ema: self.average,
        };
        loss_chart::draw(frame, area, block, &data, view, t);
    }

    fn draw_machine(&self, frame: &mut Frame, area: Rect, t: &Theme) {
        let block = panel(Line::from(" Machine "), false, t);
        let mut lines = Vec::new();
        match &self.gpus {
            None => lines.push(Line::styled("sampling the GPUs…", t.dim)),
            Some(r) if r.gpus.is_empty() => {
                lines.push(Line::styled("no NVIDIA GPU found", t.dim));
                for n in &r.notes {
                    lines.push(Line::styled(n.clone(), t.dim));
                }
            }
            Some(r) => {
                for g in &r.gpus {
                    lines.push(Line::styled(format!("gpu{} {}", g.index, g.name), t.title));
                    if let (Some(used), Some(total)) = (g.memory_used, g.memory_total) {
                        lines.push(Line::raw(format!(
                            " vram {} / {}",
                            human_size(used),
                            human_size(total)
                        )));
                    }
                    let mut facts = Vec::new();
                    facts.extend(g.utilization.map(|u| format!("{u}%")));
                    facts.extend(g.temperature_c.map(|c| format!("{c}°C")));
                    facts.extend(g.power_w.map(|w| format!("{w:.0} W")));
                    if !facts.is_empty() {
                        lines.push(Line::raw(format!(" {}", facts.join(" · "))));
                    }
                }
            }
        }
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }

    fn draw_log(&self, frame: &mut Frame, area: Rect, t: &Theme) {
        let block = panel(Line::from(" Log "), false, t);
        let rows = usize::from(area.height.saturating_sub(2));
        let failed = self
            .detail
            .as_ref()
            .is_some_and(|d| d.summary.state == State::Failed);
        let error = self
            .detail
            .as_ref()
            .and_then(|d| d.summary.last_lines.last().cloned());
        let mut lines: Vec<Line> = self
            .problems
            .iter()
            .map(|p| Line::styled(p.clone(), t.warning))
            .collect();
        // The problems stay in view; the log's newest lines fill the rest.
        let room = rows.saturating_sub(lines.len());
        let from = self.log.len().saturating_sub(room);
        lines.extend(self.log[from..].iter().map(|l| {
            let style = if failed && error.as_deref() == Some(l.as_str()) {
                t.error
            } else {
                t.base
            };
            Line::styled(l.clone(), style)
        }));
        lines.truncate(rows);
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }
}
