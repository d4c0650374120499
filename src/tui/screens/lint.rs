//! The Lint screen: `dataset::lint::run` on a worker thread, findings shown as they stream in,
//! grouped by severity and kind, filterable; Enter shows the image, `f` previews a safe fix.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::dataset::lint::{self, Finding, Kind, LintEvent, Severity, Summary, fix};

use super::form::{Form, FormId, Values};
use super::{Preview, Screen, ScreenMsg, set_status, show_in_browser};
use crate::tui::app::{App, Level};
use crate::tui::keymap::Action;

#[derive(Debug)]
pub enum LintMsg {
    Event {
        generation: u64,
        event: LintEvent,
    },
    Done {
        generation: u64,
        result: Result<Summary, String>,
    },
}

pub struct LintScreen {
    /// In arrival order (never reordered, so indices stay valid while more arrive).
    pub findings: Vec<Finding>,
    /// Images checked, of total.
    pub progress: (usize, usize),
    pub running: bool,
    pub summary: Option<Summary>,
    pub error: Option<String>,
    /// Show only this severity.
    pub severity: Option<Severity>,
    /// Show only findings whose kind, path or message holds this text.
    pub filter: String,
    /// The finding under the cursor (index into `findings`).
    pub selected: Option<usize>,
    pub form: Option<Form>,
    pub preview: Option<Preview>,
    generation: u64,
    cancel: Arc<AtomicBool>,
}

impl LintScreen {
    /// Indices of the findings shown, in display order: severity, kind, path.
    pub fn shown(&self) -> Vec<usize> {
        let needle = self.filter.to_lowercase();
        let mut v: Vec<usize> = (0..self.findings.len())
            .filter(|&i| {
                let f = &self.findings[i];
                self.severity.is_none_or(|s| f.severity == s)
                    && (needle.is_empty()
                        || f.kind.id().contains(&needle)
                        || f.path.to_string_lossy().to_lowercase().contains(&needle)
                        || f.message.to_lowercase().contains(&needle))
            })
            .collect();
        v.sort_by(|&a, &b| {
            let (fa, fb) = (&self.findings[a], &self.findings[b]);
            (fa.severity, fa.kind, &fa.path, a).cmp(&(fb.severity, fb.kind, &fb.path, b))
        });
        v
    }

    pub fn current(&self) -> Option<&Finding> {
        self.selected.and_then(|i| self.findings.get(i))
    }

    /// Counts by severity of everything found so far.
    pub fn counts(&self) -> [usize; 3] {
        let mut c = [0; 3];
        for f in &self.findings {
            c[f.severity as usize] += 1;
        }
        c
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Stops the worker (it notices between images).
    pub fn stop(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    fn move_cursor(&mut self, delta: isize) {
        let shown = self.shown();
        if shown.is_empty() {
            self.selected = None;
            return;
        }
        let pos = self
            .selected
            .and_then(|s| shown.iter().position(|&i| i == s));
        let to = match pos {
            Some(p) => (p as isize + delta).clamp(0, shown.len() as isize - 1) as usize,
            None => 0,
        };
        self.selected = Some(shown[to]);
    }

    /// Keeps the cursor on something shown after the list changed.
    fn keep_selection(&mut self) {
        let shown = self.shown();
        if self.selected.is_none_or(|s| !shown.contains(&s)) {
            self.selected = shown.first().copied();
        }
    }
}

fn screen(app: &mut App) -> Option<&mut LintScreen> {
    match app.screen.as_mut() {
        Some(Screen::Lint(s)) => Some(s),
        _ => None,
    }
}

/// Opens the Lint screen and starts checking the dataset.
pub fn open(app: &mut App) {
    super::close(app);
    app.screen = Some(Screen::Lint(Box::new(LintScreen {
        findings: Vec::new(),
        progress: (0, 0),
        running: false,
        summary: None,
        error: None,
        severity: None,
        filter: String::new(),
        selected: None,
        form: None,
        preview: None,
        generation: 0,
        cancel: Arc::new(AtomicBool::new(false)),
    })));
    start(app);
}

/// (Re)starts the check on the dataset as it is now; a run in progress is cancelled and its
/// results dropped.
pub fn start(app: &mut App) {
    let dataset = app.dataset.clone();
    let tx = app.tx.clone();
    let options = app.target.clone();
    let Some(s) = screen(app) else { return };
    s.stop();
    s.generation += 1;
    s.cancel = Arc::new(AtomicBool::new(false));
    s.findings.clear();
    s.selected = None;
    s.summary = None;
    s.error = None;
    s.progress = (0, dataset.items.iter().filter(|i| !i.excluded).count());
    s.running = true;
    let (generation, cancel) = (s.generation, s.cancel.clone());
    let spawned = std::thread::Builder::new()
        .name("lint".into())
        .spawn(move || {
            let events = tx.clone();
            let result = lint::run(&dataset, &options, &cancel, |event| {
                let _ = events.send(ScreenMsg::Lint(LintMsg::Event { generation, event }).into());
            });
            let result = result.map(|r| r.summary).map_err(|e| e.to_string());
            let _ = tx.send(ScreenMsg::Lint(LintMsg::Done { generation, result }).into());
        });
    if let Err(e) = spawned
        && let Some(s) = screen(app)
    {
        s.running = false;
        s.error = Some(format!("cannot start the lint worker: {e}"));
    }
}

pub fn on_msg(app: &mut App, msg: LintMsg) {
    let Some(s) = screen(app) else { return };
    match msg {
        LintMsg::Event { generation, .. } | LintMsg::Done { generation, .. }
            if generation != s.generation => {}
        LintMsg::Event { event, .. } => match event {
            LintEvent::Finding(f) => {
                s.findings.push(f);
                s.keep_selection();
            }
            LintEvent::Progress { done, total } => s.progress = (done, total),
        },
        LintMsg::Done { result, .. } => {
            s.running = false;
            match result {
                Ok(summary) => {
                    s.progress.0 = if summary.cancelled {
                        s.progress.0
                    } else {
                        s.progress.1
                    };
                    s.summary = Some(summary);
                }
                Err(e) => s.error = Some(e),
            }
        }
    }
}

pub fn on_action(app: &mut App, action: Action) {
    let Some(Screen::Lint(s)) = app.screen.as_mut() else {
        return;
    };
    let target = &app.target;
    if let Some(step) = super::cursor_step(action) {
        s.move_cursor(step);
        return;
    }
    match action {
        Action::CycleSeverity => {
            s.severity = match s.severity {
                None => Some(Severity::Error),
                Some(Severity::Error) => Some(Severity::Warning),
                Some(Severity::Warning) => Some(Severity::Info),
                Some(Severity::Info) => None,
            };
            s.keep_selection();
        }
        Action::Filter => {
            s.form = Some(Form::new(
                FormId::LintFilter,
                "Filter findings",
                &[("text", s.filter.clone())],
                "kind, path or message text · empty shows all",
            ));
        }
        Action::Trigger => {
            let word = target.trigger.clone().unwrap_or_default();
            s.form = Some(Form::new(
                FormId::LintTrigger,
                "Trigger word",
                &[("trigger", word)],
                "every caption should hold it (checked as missing-trigger) · empty: no check",
            ));
        }
        Action::Target => s.form = Some(super::target::form(target)),
        Action::Rerun => start(app),
        Action::Jump => {
            let target = s.current().map(|f| (f.item, f.path.clone()));
            match target {
                Some((Some(i), path)) => {
                    // By path first: a rescan since the check may have renumbered the items.
                    let i = app.dataset.index_of(&path).unwrap_or(i);
                    if i < app.dataset.items.len() {
                        show_in_browser(app, i);
                    }
                }
                Some((None, _)) => set_status(
                    app,
                    Level::Info,
                    "this finding is about no single image".into(),
                ),
                None => {}
            }
        }
        Action::Fix => preview_fix(app),
        Action::Close | Action::Escape => {
            if s.running {
                s.stop();
                set_status(app, Level::Info, "lint stopped".into());
            } else {
                super::close(app);
            }
        }
        _ => {}
    }
}

/// Plans the safe fix for the selected finding's kind (over the whole dataset) and shows it.
fn preview_fix(app: &mut App) {
    let Some(s) = screen(app) else { return };
    let Some(kind) = s.current().map(|f| f.kind) else {
        return;
    };
    if !fix::FIXABLE.contains(&kind) {
        let fixable: Vec<&str> = fix::FIXABLE.iter().map(|k| k.id()).collect();
        return set_status(
            app,
            Level::Warn,
            format!(
                "{kind} has no automatic fix (fixable: {})",
                fixable.join(", ")
            ),
        );
    }
    let trigger = app.target.trigger.clone();
    match fix::plan(&app.dataset, &[kind], trigger.as_deref()) {
        Ok(plan) => {
            let n = plan.edits.len();
            let preview = Preview::new(
                format!("Fix {kind}: {n} caption{}", crate::tui::app::plural(n)),
                format!("lint fix {kind}"),
                plan,
            );
            if let Some(s) = screen(app) {
                s.preview = Some(preview);
            }
        }
        Err(e) => set_status(app, Level::Warn, e.to_string()),
    }
}

pub fn submit(app: &mut App, values: Values) -> Result<(), String> {
    let Some(s) = screen(app) else { return Ok(()) };
    match values.id {
        FormId::LintFilter => {
            s.filter = values.get(0).to_string();
            s.keep_selection();
        }
        FormId::LintTrigger => {
            let word = values.get(0);
            if word.contains(',') {
                return Err("one tag, without commas".into());
            }
            app.target.trigger = (!word.is_empty()).then(|| word.to_string());
            start(app);
        }
        FormId::Target => {
            app.target = super::target::parse(&values, &app.target)?;
            start(app);
        }
        _ => {}
    }
    Ok(())
}

/// Whether `kind` has a safe fix (the view marks those findings).
pub fn fixable(kind: Kind) -> bool {
    fix::FIXABLE.contains(&kind)
}
