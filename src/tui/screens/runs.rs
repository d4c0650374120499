//! The Runs screen: every run in the runs home, newest first, read with the same core summary
//! `lorabench runs` prints; stop one (after asking) or open its monitor. It watches the runs
//! folder and each run folder with notify (no polling), so runs started from the CLI, another
//! workbench or `runs attach` appear as they start, and rows change as their files do. While a
//! run is live, a slow tick looks at its log's age, so a run gone quiet shows as stalled
//! without waiting for a file to change.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::train::config::UserConfig;
use crate::train::run::control::{self, StopOptions};
use crate::train::run::display::{self, duration, reason, state_label, steps, took};
use crate::train::run::summary::{self, Entry, ReadOptions, Summary};
use crate::train::run::{Home, RunId, State};
use crate::train::supervisor::TRAIN_LOG;
use crate::train::supervisor::follow::METRICS;
use crate::tui::job::{Job, Reporter, Update};
use crate::tui::keymap::nav;
use crate::tui::layout::inner;
use crate::tui::msg::Msg;
use crate::tui::screen::{
    Command, Ctx, DrawCtx, Effect, Effects, Event, Level, Opener, Screen, list_commands,
};
use crate::tui::theme::Theme;
use crate::tui::watch;
use crate::tui::widgets::panel::{panel, plural};

use super::monitor;

/// Opened from the browser.
pub const OPENER: Option<Opener> = Some(Opener::new("open-runs", "training runs", open));

/// The screen's default keys: its mode, the stop question's, and the browser's key for it.
pub const KEYS: &str = "
browse:
  keys:
    open-runs: R
runs:
  inherit: [list]
  keys:
    open: Enter
    stop: s
    help: '?'
    close: Esc q
runs-stop:
  keys:
    yes: y
    no: n Esc
";

const MODE: &str = "runs";
const ASK: &str = "runs-stop";
const OPEN: &str = "open";
const STOP: &str = "stop";
const CLOSE: &str = "close";
const YES: &str = "yes";
const NO: &str = "no";

pub struct RunsScreen {
    home: Option<Home>,
    opts: ReadOptions,
    /// Newest first.
    entries: Vec<Entry>,
    cursor: usize,
    /// Why the runs could not be listed (no home, unreadable folder).
    error: Option<String>,
    /// The run the stop question is about, while it is asked.
    asking: Option<RunId>,
    /// Streams what the stop does; ends with the state the run ended in.
    stopping: Job<String, (RunId, State)>,
    watcher: Option<watch::Folders>,
    /// When each run's files were last read, and the runs with changes not read yet.
    read_at: BTreeMap<String, Instant>,
    pending: BTreeSet<String>,
    /// Ticks while some run is live, for the stall look.
    ticker: Job<(), ()>,
    tx: Option<Sender<Msg>>,
    /// Per live run: whether its log was quiet for the stall timeout at the last look.
    quiet: BTreeMap<String, bool>,
}

/// How often live runs are looked at for a quiet log (one stat per live run).
const STALL_LOOK: Duration = Duration::from_secs(2);
/// How often a live run's row is read again at most while its log streams.
const READ_EVERY: Duration = Duration::from_secs(1);

/// Opens the Runs screen on the runs home of the user's config.
pub fn open(ctx: &mut Ctx) -> Box<dyn Screen> {
    match UserConfig::load() {
        Ok(config) => {
            let opts = ReadOptions {
                stall_after: config.stall_timeout(),
            };
            Box::new(RunsScreen::new(ctx, Home::at(config.runs_home()), opts))
        }
        Err(e) => {
            let mut s = RunsScreen::empty(ReadOptions::default());
            s.error = Some(e.to_string());
            Box::new(s)
        }
    }
}

impl RunsScreen {
    fn empty(opts: ReadOptions) -> RunsScreen {
        RunsScreen {
            home: None,
            opts,
            entries: Vec::new(),
            cursor: 0,
            error: None,
            asking: None,
            stopping: Job::new(),
            watcher: None,
            read_at: BTreeMap::new(),
            pending: BTreeSet::new(),
            ticker: Job::new(),
            tx: None,
            quiet: BTreeMap::new(),
        }
    }

    /// The runs in `home`, watched from now on.
    pub fn new(ctx: &mut Ctx, home: Home, opts: ReadOptions) -> RunsScreen {
        let mut s = RunsScreen::empty(opts);
        s.home = Some(home);
        s.tx = Some(ctx.tx.clone());
        s.watcher = match watch::Folders::start(ctx.tx.clone(), Msg::Watched) {
            Ok(w) => Some(w),
            Err(e) => {
                s.error = Some(format!("not watching the runs folder: {e}"));
                None
            }
        };
        s.relist();
        s
    }

    /// The run under the cursor, if it could be read.
    pub fn current(&self) -> Option<&Summary> {
        match self.entries.get(self.cursor)? {
            Entry::Run(s) => Some(s),
            Entry::Unreadable { .. } => None,
        }
    }

    /// The ids listed, newest first.
    pub fn ids(&self) -> Vec<&str> {
        self.entries.iter().map(entry_id).collect()
    }

    /// Reads every run again and watches the folders that exist now.
    fn relist(&mut self) {
        let Some(home) = &self.home else { return };
        let keep = self.entries.get(self.cursor).map(|e| entry_id(e).to_string());
        match summary::list(home, &self.opts) {
            Ok(mut entries) => {
                entries.reverse();
                self.entries = entries;
                if self.error.as_deref().is_some_and(|e| !e.starts_with("not watching")) {
                    self.error = None;
                }
            }
            Err(e) => self.error = Some(e.to_string()),
        }
        self.cursor = keep
            .and_then(|id| self.entries.iter().position(|e| entry_id(e) == id))
            .unwrap_or(0)
            .min(self.entries.len().saturating_sub(1));
        self.arm();
        self.arm_ticker();
    }

    /// Ticks while a listed run is live; stops when none is.
    fn arm_ticker(&mut self) {
        let live = self
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Run(s) if s.state.is_active()));
        match (live, self.ticker.running(), &self.tx) {
            (true, false, Some(tx)) => {
                if let Err(e) = self.ticker.start(tx, "runs-ticker", ticker) {
                    self.error = Some(e);
                }
            }
            (false, true, _) => self.ticker.drop_run(),
            _ => {}
        }
    }

    /// The tick: a live run whose log's quiet has changed either way is read again.
    fn look_for_stalls(&mut self) {
        for id in std::mem::take(&mut self.pending) {
            self.refresh(&id);
        }
        let Some(runs) = self.home.as_ref().map(Home::runs_dir) else {
            return;
        };
        let stall_after = self.opts.stall_after;
        let mut changed = Vec::new();
        for e in &self.entries {
            let Entry::Run(s) = e else { continue };
            if !s.state.is_active() {
                continue;
            }
            let idle = std::fs::metadata(runs.join(&s.id).join(TRAIN_LOG))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok());
            let quiet = idle.is_some_and(|i| i >= stall_after);
            let was = *self.quiet.entry(s.id.clone()).or_insert(s.stalled);
            if quiet != was {
                self.quiet.insert(s.id.clone(), quiet);
                changed.push(s.id.clone());
            }
        }
        for id in changed {
            self.refresh(&id);
        }
        self.arm_ticker();
    }

    /// Watches the runs folder and each run folder, one level each (what a summary reads lives
    /// at the top of a run folder; the dataset snapshots below need no watch). While the runs
    /// folder does not exist yet, its nearest existing parent is watched for it to appear.
    fn arm(&mut self) {
        let (Some(home), Some(w)) = (&self.home, &self.watcher) else {
            return;
        };
        let runs = home.runs_dir();
        let mut want: BTreeSet<PathBuf> = BTreeSet::new();
        if runs.is_dir() {
            want.insert(runs.clone());
            want.extend(self.entries.iter().map(|e| runs.join(entry_id(e))));
        } else if let Some(parent) = runs.ancestors().skip(1).find(|p| p.is_dir()) {
            want.insert(parent.to_path_buf());
        }
        w.set(want);
    }

    /// Files changed under a watched folder: re-read the runs they belong to, or the whole
    /// list when runs came or went. `false` when nothing was read (changes held back).
    fn changed(&mut self, paths: &[PathBuf]) -> bool {
        let Some(runs) = self.home.as_ref().map(Home::runs_dir) else {
            return false;
        };
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut light = true;
        for p in paths {
            match run_of(&runs, p) {
                Some(id) if p.parent() != Some(runs.as_path()) => {
                    light &= p
                        .file_name()
                        .is_some_and(|n| n == TRAIN_LOG || n == METRICS);
                    touched.insert(id);
                }
                // A run folder came or went, or the runs folder (or a parent of it) appeared.
                _ if p.starts_with(&runs) || runs.starts_with(p) => {
                    self.relist();
                    return true;
                }
                _ => {}
            }
        }
        // A live run's log and metrics change tens of times a second: its row is read again at
        // most every READ_EVERY, the rest on the ticker; its state (status.json) at once.
        let mut read = false;
        for id in touched {
            let recent = self
                .read_at
                .get(&id)
                .is_some_and(|t| t.elapsed() < READ_EVERY);
            if light && recent {
                self.pending.insert(id);
            } else {
                self.refresh(&id);
                read = true;
            }
        }
        read
    }

    fn refresh(&mut self, id: &str) {
        self.pending.remove(id);
        self.read_at.insert(id.to_string(), Instant::now());
        let Some(home) = &self.home else { return };
        let Some(i) = self.entries.iter().position(|e| entry_id(e) == id) else {
            return self.relist();
        };
        let run = RunId(id.to_string());
        self.entries[i] = match summary::summary(home, &run, &self.opts) {
            Ok(s) => Entry::Run(Box::new(s)),
            Err(e) => Entry::Unreadable {
                id: id.to_string(),
                error: e.to_string(),
            },
        };
        self.arm_ticker();
    }

    fn stop(&mut self, ctx: &mut Ctx, id: RunId) -> Effects {
        let Some(home) = self.home.clone() else {
            return Vec::new();
        };
        let started = self.stopping.start(ctx.tx, "stop", move |r| {
            control::stop(&home, &id, StopOptions::default(), |line| {
                r.item(line.to_string());
            })
            .map(|state| (id, state))
            .map_err(|e| e.to_string())
        });
        match started {
            Ok(()) => vec![Effect::status(Level::Info, "stopping…")],
            Err(e) => vec![Effect::status(Level::Error, e)],
        }
    }

    fn action(&mut self, ctx: &mut Ctx, action: &str) -> Effects {
        if let Some(id) = self.asking.take() {
            return match action {
                YES => self.stop(ctx, id),
                _ => Vec::new(),
            };
        }
        if let Some(step) = nav::step(action, page(ctx.area)) {
            self.cursor = nav::moved(self.cursor, self.entries.len(), step);
            return Vec::new();
        }
        match action {
            OPEN => match (&self.home, self.current()) {
                (Some(home), Some(s)) => {
                    let id = RunId(s.id.clone());
                    vec![Effect::Open(Box::new(monitor::MonitorScreen::new(
                        ctx,
                        home.clone(),
                        id,
                        self.opts,
                    )))]
                }
                _ => Vec::new(),
            },
            STOP => {
                if let Some(s) = self.current().filter(|s| s.state.is_active()) {
                    self.asking = Some(RunId(s.id.clone()));
                }
                Vec::new()
            }
            CLOSE => vec![Effect::Close],
            _ => Vec::new(),
        }
    }
}

impl Drop for RunsScreen {
    fn drop(&mut self) {
        // A stop under way goes on in the core's own steps; only its messages are dropped.
        self.stopping.drop_run();
        self.ticker.drop_run();
    }
}

/// The ticker's thread: an empty item every [`STALL_LOOK`] until cancelled.
fn ticker(r: &Reporter<Msg>) -> Result<(), String> {
    let slice = Duration::from_millis(100);
    loop {
        for _ in 0..(STALL_LOOK.as_millis() / slice.as_millis()) {
            std::thread::sleep(slice);
            if r.flag().load(Ordering::Relaxed) {
                return Ok(());
            }
        }
        r.item(());
    }
}

fn entry_id(e: &Entry) -> &str {
    match e {
        Entry::Run(s) => &s.id,
        Entry::Unreadable { id, .. } => id,
    }
}

/// The run folder name `p` is in (or is), below `runs`.
fn run_of(runs: &Path, p: &Path) -> Option<String> {
    let rest = p.strip_prefix(runs).ok()?;
    let first = rest.components().next()?;
    Some(first.as_os_str().to_string_lossy().into_owned())
}

fn page(area: Rect) -> isize {
    (area.height.saturating_sub(12) as isize).max(1)
}

impl Screen for RunsScreen {
    fn mode(&self) -> &'static str {
        if self.asking.is_some() { ASK } else { MODE }
    }

    fn title(&self) -> &'static str {
        "Runs"
    }

    fn commands(&self, _ctx: &DrawCtx) -> Vec<Command> {
        if self.asking.is_some() {
            return vec![
                Command::new(YES, "stop it: SIGINT so the trainer can save, then SIGTERM")
                    .bar("stop it", 0),
                Command::new(NO, "leave it running").bar("keep it", 0),
            ];
        }
        let active = self.current().is_some_and(|s| s.state.is_active());
        let mut c = list_commands();
        c.extend([
            Command::new(OPEN, "watch the run: progress, loss, checkpoints, log")
                .bar("monitor", 1)
                .off_if(self.current().is_none(), "no readable run is selected"),
            Command::new(STOP, "stop the run (asks first)")
                .bar("stop", 1)
                .off_if(!active, "the selected run is not running")
                .off_if(self.stopping.running(), "a stop is under way"),
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
                // Looked at, not taken: the monitor above or below watches run files too.
                if let Some(Msg::Watched(paths)) = msg.as_ref() {
                    let paths = paths.clone();
                    return match self.changed(&paths) {
                        true => Vec::new(),
                        false => vec![Effect::Unchanged],
                    };
                }
                if let Some(update) = self.ticker.take(msg) {
                    if matches!(update, Update::Item(())) {
                        self.look_for_stalls();
                    }
                    return Vec::new();
                }
                match self.stopping.take(msg) {
                    Some(Update::Item(line)) => vec![Effect::status(Level::Info, line)],
                    Some(Update::Done(Ok((id, state)))) => {
                        self.refresh(id.as_str());
                        vec![Effect::status(Level::Info, format!("run {id} {state}"))]
                    }
                    Some(Update::Done(Err(e))) => vec![Effect::status(Level::Error, e)],
                    Some(Update::Progress) | None => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    fn draw(&self, frame: &mut Frame, body: Rect, ctx: &DrawCtx) {
        let t = ctx.theme;
        let [list, detail] =
            Layout::vertical([Constraint::Min(4), Constraint::Length(7)]).areas(body);
        self.draw_list(frame, list, t);
        self.draw_detail(frame, detail, t);
    }

    fn status_right(&self) -> Option<String> {
        (!self.entries.is_empty()).then(|| format!("{}/{} ", self.cursor + 1, self.entries.len()))
    }
}

// ----- drawing -----

/// Cells of the step bar.
const BAR: usize = 8;

/// `████▌░░░` for `ratio`, in eighths of a cell.
fn bar(ratio: f64) -> String {
    const PARTS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    let eighths = (ratio.clamp(0.0, 1.0) * (BAR * 8) as f64).round() as usize;
    let full = eighths / 8;
    let mut s = "█".repeat(full);
    let part = PARTS[eighths % 8];
    s.push_str(part);
    let used = full + usize::from(!part.is_empty());
    s.push_str(&"░".repeat(BAR - used));
    s
}

fn state_style(s: &Summary, t: &Theme) -> Style {
    match s.state {
        _ if s.stalled => t.warning,
        State::Running | State::Starting => t.accent,
        State::Queued => t.dim,
        State::Succeeded => t.ok,
        State::Failed => t.error,
        State::Stopped => t.warning,
    }
}

/// Clipped and padded to `n` columns, so the table's columns line up.
fn clip(s: &str, n: usize) -> String {
    format!("{:<n$}", display::clip(s, n))
}

/// The time column: what is left while it runs, how long it took once it ended.
fn time_text(s: &Summary) -> String {
    match (s.state.is_active(), s.eta, took(s)) {
        (true, Some(eta), _) => format!("eta {}", duration(eta)),
        (false, _, Some(secs)) => duration(secs),
        _ => "-".into(),
    }
}

fn gpus_text(s: &Summary) -> String {
    if s.gpus.is_empty() {
        return "-".into();
    }
    s.gpus
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One column of the runs table. Narrow terminals shrink the wide columns to `min` first,
/// then drop whole columns, least important (highest `drop`) first; `drop` 0 is always kept.
struct Col {
    head: &'static str,
    width: usize,
    min: usize,
    drop: u8,
    right: bool,
}

const NAME: usize = 0;
const BACKEND: usize = 1;
const STATE: usize = 2;
const PROGRESS: usize = 3;
const STEP: usize = 4;
const LOSS: usize = 5;
const TIME: usize = 6;

const COLS: [Col; 8] = [
    Col { head: "NAME", width: 20, min: 10, drop: 0, right: false },
    Col { head: "BACKEND", width: 11, min: 11, drop: 6, right: false },
    Col { head: "STATE", width: 17, min: 9, drop: 0, right: false },
    Col { head: "PROGRESS", width: BAR, min: BAR, drop: 5, right: false },
    Col { head: "STEP", width: 11, min: 9, drop: 1, right: true },
    Col { head: "LOSS", width: 8, min: 8, drop: 2, right: true },
    Col { head: "TIME", width: 10, min: 10, drop: 3, right: true },
    Col { head: "GPU", width: 5, min: 5, drop: 4, right: true },
];

/// The width of each column that fits in `width` cells (`None`: dropped). Each column takes
/// its width plus one separating space, and one leading space starts the row. Columns are
/// dropped while even their minimum widths do not fit; the room left grows the shrunk ones
/// back, a cell each in turn.
fn columns(width: usize) -> [Option<usize>; 8] {
    let mut w: [Option<usize>; 8] = std::array::from_fn(|i| Some(COLS[i].min));
    let used = |w: &[Option<usize>; 8]| 1 + w.iter().flatten().map(|n| n + 1).sum::<usize>();
    for level in (1..=6).rev() {
        if used(&w) > width {
            for (i, c) in COLS.iter().enumerate() {
                if c.drop == level {
                    w[i] = None;
                }
            }
        }
    }
    let mut grew = true;
    while grew {
        grew = false;
        for (i, c) in COLS.iter().enumerate() {
            if let Some(n) = w[i].filter(|n| *n < c.width)
                && used(&w) < width
            {
                w[i] = Some(n + 1);
                grew = true;
            }
        }
    }
    w
}

/// A cell: clipped and padded to its column, then the separating space.
fn cell(text: &str, col: usize, n: usize) -> String {
    let c = display::clip(text, n);
    if COLS[col].right {
        format!("{c:>n$} ")
    } else {
        format!("{c:<n$} ")
    }
}

fn header(width: usize) -> String {
    let mut head = " ".to_string();
    for (i, n) in columns(width).iter().enumerate() {
        if let Some(n) = n {
            head.push_str(&cell(COLS[i].head, i, *n));
        }
    }
    head
}

fn row(s: &Summary, width: usize, cursor: bool, t: &Theme) -> Line<'static> {
    let base = if cursor { t.cursor } else { t.base };
    let ratio = match (s.step, s.total) {
        (Some(a), Some(b)) if b > 0 => a as f64 / b as f64,
        _ => 0.0,
    };
    let loss = s.loss.map_or_else(|| "-".into(), |l| format!("{l:.4}"));
    let mut spans = vec![Span::styled(" ", base)];
    for (i, n) in columns(width).iter().enumerate() {
        let Some(n) = *n else { continue };
        let (text, style) = match i {
            NAME => (s.name.clone(), base),
            BACKEND => (s.backend.as_str().to_string(), base),
            STATE => (state_label(s), base.patch(state_style(s, t))),
            PROGRESS => (bar(ratio), base.patch(t.accent)),
            STEP => (steps(s), base),
            LOSS => (loss.clone(), base),
            TIME => (time_text(s), base),
            _ => (gpus_text(s), base), // GPU
        };
        spans.push(Span::styled(cell(&text, i, n), style));
    }
    let used: usize = spans.iter().map(Span::width).sum();
    let room = width.saturating_sub(used);
    let why = reason(s).unwrap_or_default();
    let why_style = match s.state {
        State::Failed => t.error,
        _ => t.dim,
    };
    spans.push(Span::styled(clip(&why, room), base.patch(why_style)));
    Line::from(spans)
}

impl RunsScreen {
    fn draw_list(&self, frame: &mut Frame, area: Rect, t: &Theme) {
        let n = self.entries.len();
        let title = match &self.home {
            Some(h) => format!(" Runs · {n} run{} in {} ", plural(n), h.runs_dir().display()),
            None => " Runs ".into(),
        };
        frame.render_widget(panel(Line::from(title), true, t), area);
        let room = inner(area);
        let width = usize::from(room.width);
        let mut lines = vec![Line::styled(clip(&header(width), width), t.title)];
        let rows = usize::from(room.height).saturating_sub(1);
        let offset = (self.cursor + 1).saturating_sub(rows);
        for (i, e) in self.entries.iter().enumerate().skip(offset).take(rows) {
            let cursor = i == self.cursor;
            lines.push(match e {
                Entry::Run(s) => row(s, width, cursor, t),
                Entry::Unreadable { id, error } => {
                    let style = if cursor { t.cursor } else { t.base };
                    let text = format!(" {id}  unreadable: {error}");
                    Line::styled(clip(&text, width), style.patch(t.error))
                }
            });
        }
        if self.entries.is_empty() {
            let text = match (&self.error, &self.home) {
                (Some(e), _) => e.clone(),
                (None, Some(h)) => format!(
                    "no runs yet in {}: `lorabench train` starts one",
                    h.runs_dir().display()
                ),
                (None, None) => String::new(),
            };
            lines.push(Line::styled(text, t.dim));
        }
        frame.render_widget(Paragraph::new(lines), room);
    }

    fn draw_detail(&self, frame: &mut Frame, area: Rect, t: &Theme) {
        if let Some(id) = &self.asking {
            let block = panel(Line::from(" Stop "), true, t);
            let text = vec![
                Line::styled(format!("Stop run {id}?"), t.warning),
                Line::styled(
                    "The trainer gets SIGINT to save and exit, then SIGTERM, then SIGKILL.",
                    t.base,
                ),
            ];
            frame.render_widget(Paragraph::new(text).block(block), area);
            return;
        }
        let block = panel(Line::from(" Run "), false, t);
        let mut lines = Vec::new();
        match self.entries.get(self.cursor) {
            Some(Entry::Run(s)) => {
                lines.push(Line::from(vec![
                    Span::styled(s.id.clone(), t.accent),
                    Span::styled(format!("  {}", s.name), t.title),
                ]));
                if let Some(r) = reason(s) {
                    let style = if s.state == State::Failed { t.error } else { t.base };
                    lines.push(Line::styled(r, style));
                }
                for l in s.last_lines.iter().rev().skip(1).take(3).rev() {
                    lines.push(Line::styled(l.clone(), t.dim));
                }
                for p in &s.problems {
                    lines.push(Line::styled(p.clone(), t.warning));
                }
            }
            Some(Entry::Unreadable { id, error }) => {
                lines.push(Line::styled(id.clone(), t.accent));
                lines.push(Line::styled(error.clone(), t.error));
            }
            None => {}
        }
        if let Some(e) = self.error.as_ref().filter(|_| !self.entries.is_empty()) {
            lines.push(Line::styled(e.clone(), t.warning));
        }
        frame.render_widget(
            Paragraph::new(lines).block(block).wrap(Wrap { trim: false }),
            area,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_in_eighths() {
        assert_eq!(bar(0.0), "░░░░░░░░");
        assert_eq!(bar(1.0), "████████");
        assert_eq!(bar(0.5), "████░░░░");
        assert_eq!(bar(1.0 / 16.0), "▌░░░░░░░");
        assert_eq!(bar(2.0), "████████", "clamped");
        assert!(bar(0.3).chars().count() == BAR);
    }

    #[test]
    fn narrow_tables_shrink_then_drop_the_least_important_columns() {
        let heads = |w: usize| header(w).split_whitespace().map(String::from).collect::<Vec<_>>();
        let all = ["NAME", "BACKEND", "STATE", "PROGRESS", "STEP", "LOSS", "TIME", "GPU"];
        assert_eq!(heads(120), all);
        assert_eq!(header(120).chars().count(), 99, "full widths at 120");
        // 80x24 leaves 78 cells inside the panel: only the backend goes.
        assert_eq!(heads(78), ["NAME", "STATE", "PROGRESS", "STEP", "LOSS", "TIME", "GPU"]);
        assert!(header(78).chars().count() <= 78);
        assert_eq!(heads(38), ["NAME", "STATE", "STEP"]);
        for w in 0..130 {
            assert!(header(w).chars().count() <= w.max(22), "{w}: {}", header(w));
        }
    }

    #[test]
    fn changed_paths_name_their_run() {
        let runs = Path::new("/h/runs");
        assert_eq!(
            run_of(runs, Path::new("/h/runs/20261201-1/status.json")).as_deref(),
            Some("20261201-1")
        );
        assert_eq!(run_of(runs, Path::new("/h/runs")), None);
        assert_eq!(run_of(runs, Path::new("/elsewhere/x")), None);
    }
}
