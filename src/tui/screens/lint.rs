//! The Lint screen: `dataset::lint::run` as a background job, findings shown as they stream
//! in, grouped by severity and kind, filterable; the finding's image is previewed beside the
//! list, can be shown in the browser or excluded from here (undoable), and a safe fix is
//! previewed as a diff.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::dataset::lint::{self, Finding, Kind, LintEvent, Severity, Summary, fix};
use crate::tui::job::{Job, Update};
use crate::tui::keymap::nav;
use crate::tui::layout::{body, inner};
use crate::tui::screen::{
    Browse, Command, Ctx, DrawCtx, Effect, Effects, Event, Level, Opener, Screen, list_commands,
};
use crate::tui::theme::Theme;
use crate::tui::widgets::image_pane::{self, PreviewPane};
use crate::tui::widgets::panel::{gauge, panel, plural, truncate_left};

use super::{changes, target};
use crate::tui::popups::Popup;
use crate::tui::popups::form::{Form, FormId, Values};
use crate::tui::popups::preview::Preview;

pub const MODE: &str = "lint";
const JUMP: &str = "jump";
const FIX: &str = "fix";
const SEVERITY: &str = "severity";
const FILTER: &str = "filter";
const TRIGGER: &str = "trigger";
const TARGET: &str = "target";
const RERUN: &str = "rerun";
const EXCLUDE: &str = "exclude";
const UNDO: &str = "undo";
const CLOSE: &str = "close";

pub struct LintScreen {
    /// In arrival order (never reordered, so indices stay valid while more arrive).
    pub findings: Vec<Finding>,
    pub summary: Option<Summary>,
    pub error: Option<String>,
    /// Show only this severity.
    pub severity: Option<Severity>,
    /// Show only findings whose kind, path or message holds this text.
    pub filter: String,
    /// The finding under the cursor (index into `findings`).
    pub selected: Option<usize>,
    pub popup: Option<Popup>,
    /// The user moved the cursor in this run; until then it stays on the first finding
    /// shown while findings arrive (they are sorted in, not appended).
    moved: bool,
    /// Images checked, of total.
    progress: (usize, usize),
    /// Where the cursor was in the list before a change to the dataset started this run: it
    /// goes back there when the run ends (the next finding, after an exclude).
    resume: Option<usize>,
    /// The selected finding's image.
    pane: PreviewPane,
    /// The terminal, as of the last event (the preview is decoded for its size).
    area: Rect,
    job: Job<LintEvent, Summary>,
}

/// Opened from the browser.
pub const OPENER: Option<Opener> = Some(Opener::new("open-lint", "lint the dataset", open));

/// The screen's default keys: its mode, and the browser's key for its opener.
pub const KEYS: &str = "
browse:
  keys:
    open-lint: L
lint:
  inherit: [list]
  keys:
    jump: Enter
    fix: f
    severity: s
    filter: /
    trigger: T
    target: o
    rerun: r
    exclude: x
    undo: u
    help: '?'
    close: Esc q
";

/// Opens the Lint screen and starts checking the dataset.
pub fn open(ctx: &mut Ctx) -> Box<dyn Screen> {
    let mut s = LintScreen {
        findings: Vec::new(),
        summary: None,
        error: None,
        severity: None,
        filter: String::new(),
        selected: None,
        popup: None,
        moved: false,
        progress: (0, 0),
        resume: None,
        pane: PreviewPane::new(ctx.picker, ctx.tx.clone()),
        area: ctx.area,
        job: Job::new(),
    };
    s.start(ctx);
    s.request_preview(ctx);
    Box::new(s)
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

    pub fn running(&self) -> bool {
        self.job.running()
    }

    /// Images checked, of total.
    pub fn progress(&self) -> (usize, usize) {
        self.progress
    }

    /// The run the findings come from (a message of an earlier one is dropped).
    pub fn generation(&self) -> u64 {
        self.job.generation()
    }

    /// Counts by severity of everything found so far.
    pub fn counts(&self) -> [usize; 3] {
        let mut c = [0; 3];
        for f in &self.findings {
            c[f.severity as usize] += 1;
        }
        c
    }

    /// The selected finding's image, as it was decoded for the preview.
    pub fn preview(&self) -> Option<&crate::tui::images::Shown> {
        self.pane.only()
    }

    /// The selected finding's image, absolute, if it is about one image still in the dataset.
    fn current_image(&self, ds: &crate::dataset::Dataset) -> Option<std::path::PathBuf> {
        let f = self.current()?;
        let item = ds.items.get(f.item?).filter(|it| it.path == f.path)?;
        Some(ds.abs_path(item))
    }

    /// Asks for the selected finding's image, at the size the preview has now.
    fn request_preview(&mut self, ctx: &Ctx) {
        let (Some(path), Some(rect)) = (
            self.current_image(ctx.dataset),
            areas(body(self.area)).preview,
        ) else {
            return;
        };
        let cells = inner(rect);
        self.pane.want(path, (cells.width, cells.height));
    }

    /// (Re)starts the check on the dataset as it is now; a run in progress is cancelled and
    /// its results dropped.
    fn start(&mut self, ctx: &mut Ctx) {
        self.findings.clear();
        self.selected = None;
        self.moved = false;
        self.summary = None;
        self.error = None;
        self.progress = (0, ctx.dataset.items.iter().filter(|i| !i.excluded).count());
        let dataset = ctx.dataset.clone();
        let options = ctx.target.clone();
        let started = self.job.start(ctx.tx, "lint", move |r| {
            let result = lint::run(&dataset, &options, r.flag(), |event| r.item(event));
            result.map(|r| r.summary).map_err(|e| e.to_string())
        });
        if let Err(e) = started {
            self.error = Some(e);
        }
    }

    fn move_cursor(&mut self, delta: isize) {
        self.moved = true;
        let shown = self.shown();
        if shown.is_empty() {
            self.selected = None;
            return;
        }
        let pos = self
            .selected
            .and_then(|s| shown.iter().position(|&i| i == s));
        let to = match pos {
            Some(p) => nav::moved(p, shown.len(), delta),
            None => 0,
        };
        self.selected = Some(shown[to]);
    }

    /// Keeps the cursor on something shown after the list changed.
    fn keep_selection(&mut self) {
        let shown = self.shown();
        if !self.moved || self.selected.is_none_or(|s| !shown.contains(&s)) {
            self.selected = shown.first().copied();
        }
    }

    fn on_job(&mut self, update: Update<LintEvent, Summary>) {
        match update {
            Update::Progress => {}
            Update::Item(LintEvent::Finding(f)) => {
                self.findings.push(f);
                self.keep_selection();
            }
            Update::Item(LintEvent::Progress { done, total }) => self.progress = (done, total),
            Update::Done(Ok(summary)) => {
                if !summary.cancelled {
                    self.progress.0 = self.progress.1;
                }
                if let Some(pos) = self.resume.take().filter(|_| !self.moved) {
                    let shown = self.shown();
                    self.selected = shown.get(pos.min(shown.len().saturating_sub(1))).copied();
                }
                self.summary = Some(summary);
            }
            Update::Done(Err(e)) => self.error = Some(e),
        }
    }

    fn action(&mut self, ctx: &mut Ctx, action: &str) -> Effects {
        if let Some(step) = nav::step(action, 10) {
            self.move_cursor(step);
            return Vec::new();
        }
        match action {
            SEVERITY => {
                self.severity = match self.severity {
                    None => Some(Severity::Error),
                    Some(Severity::Error) => Some(Severity::Warning),
                    Some(Severity::Warning) => Some(Severity::Info),
                    Some(Severity::Info) => None,
                };
                self.keep_selection();
            }
            FILTER => {
                self.popup = Some(Popup::Form(Form::new(
                    FormId::LintFilter,
                    "Filter findings",
                    &[("text", self.filter.clone())],
                    "kind, path or message text · empty shows all",
                )));
            }
            TRIGGER => {
                let word = ctx.target.trigger.clone().unwrap_or_default();
                self.popup = Some(Popup::Form(Form::new(
                    FormId::LintTrigger,
                    "Trigger word",
                    &[("trigger", word)],
                    "every caption should hold it (checked as missing-trigger) · empty: no check",
                )));
            }
            TARGET => self.popup = Some(Popup::Form(target::form(ctx.target))),
            RERUN => self.start(ctx),
            JUMP => {
                return match self.current().map(|f| (f.item, f.path.clone())) {
                    Some((Some(index), path)) => {
                        vec![Effect::Browse(Browse::Item { path, index })]
                    }
                    Some((None, _)) => vec![Effect::status(
                        Level::Info,
                        "this finding is about no single image",
                    )],
                    None => Vec::new(),
                };
            }
            FIX => return self.preview_fix(ctx),
            EXCLUDE => {
                let Some(index) = self.current().and_then(|f| f.item) else {
                    return Vec::new();
                };
                return changes::toggle_exclude(ctx, &[index]).unwrap_or_else(|said| vec![said]);
            }
            UNDO => return changes::undo_redo(ctx, true),
            CLOSE => {
                if self.job.running() {
                    // The worker notices between images and reports what it had.
                    self.job.cancel();
                    return vec![Effect::status(Level::Info, "lint stopped")];
                }
                return vec![Effect::Close];
            }
            _ => {}
        }
        Vec::new()
    }

    /// Plans the safe fix for the selected finding's kind (over the whole dataset) and shows it.
    fn preview_fix(&mut self, ctx: &Ctx) -> Effects {
        let Some(kind) = self.current().map(|f| f.kind) else {
            return Vec::new();
        };
        if !fixable(kind) {
            let fixable: Vec<&str> = fix::FIXABLE.iter().map(|k| k.id()).collect();
            return vec![Effect::status(
                Level::Warn,
                format!(
                    "{kind} has no automatic fix (fixable: {})",
                    fixable.join(", ")
                ),
            )];
        }
        match fix::plan(ctx.dataset, &[kind], ctx.target.trigger.as_deref()) {
            Ok(plan) => {
                let n = plan.edits.len();
                self.popup = Some(Popup::Preview(Preview::new(
                    format!("Fix {kind}: {n} caption{}", plural(n)),
                    format!("lint fix {kind}"),
                    plan,
                )));
                Vec::new()
            }
            Err(e) => vec![Effect::status(Level::Warn, e.to_string())],
        }
    }
}

impl Drop for LintScreen {
    fn drop(&mut self) {
        self.job.cancel();
    }
}

/// Whether `kind` has a safe fix (the view marks those findings).
pub fn fixable(kind: Kind) -> bool {
    fix::FIXABLE.contains(&kind)
}

impl Screen for LintScreen {
    fn mode(&self) -> &'static str {
        MODE
    }

    fn title(&self) -> &'static str {
        "Lint"
    }

    fn commands(&self, _ctx: &DrawCtx) -> Vec<Command> {
        let on_image = self.current().is_some_and(|f| f.item.is_some());
        let can_fix = self.current().is_some_and(|f| fixable(f.kind));
        let mut c = list_commands();
        c.extend([
            Command::new(JUMP, "show the image in the browser")
                .bar("show", 1)
                .off_if(!on_image, "the selected finding is about no single image"),
            Command::new(FIX, "fix this kind (preview first)")
                .bar("fix", 1)
                .off_if(!can_fix, "the selected kind has no automatic fix"),
            Command::new(EXCLUDE, "exclude the image from training (undo takes it back)")
                .bar("exclude", 2)
                .off_if(!on_image, "the selected finding is about no single image"),
            Command::new(UNDO, "undo the last change").bar("undo", 3),
            Command::new(SEVERITY, "severity: all, errors, warnings, infos").bar("severity", 2),
            Command::new(FILTER, "filter findings").bar("filter", 2),
            Command::new(TRIGGER, "trigger word to check").bar("trigger", 3),
            Command::new(TARGET, "training target: trainer, model, resolution, batch")
                .bar("target", 3),
            Command::new(RERUN, "check again").bar("rerun", 2),
            Command::new(nav::HELP, "help").bar("help", 0),
            Command::new(
                CLOSE,
                if self.job.running() {
                    "stop checking"
                } else {
                    "back to the browser"
                },
            )
            .bar(if self.job.running() { "stop" } else { "back" }, 0),
        ]);
        c
    }

    fn event(&mut self, ctx: &mut Ctx, event: Event) -> Effects {
        self.area = ctx.area;
        let effects = match event {
            Event::Key {
                action: Some(a), ..
            } => self.action(ctx, a),
            Event::Message(msg) => {
                if !self.pane.take(msg)
                    && let Some(u) = self.job.take(msg)
                {
                    self.on_job(u);
                }
                Vec::new()
            }
            // Fixed captions and excluded images are checked again; the cursor comes back
            // to where it was in the list.
            Event::Reloaded { .. } => {
                let pos = self
                    .selected
                    .and_then(|s| self.shown().iter().position(|&i| i == s));
                self.start(ctx);
                self.resume = pos;
                Vec::new()
            }
            // Also sent when the terminal's graphics became known.
            Event::Resized => {
                self.pane.use_picker(ctx.picker, ctx.tx);
                Vec::new()
            }
            _ => Vec::new(),
        };
        self.request_preview(ctx);
        effects
    }

    fn images_pending(&self) -> bool {
        self.pane.pending()
    }

    fn draw(&self, frame: &mut Frame, body: Rect, ctx: &DrawCtx) {
        let t = ctx.theme;
        let a = areas(body);
        let top = a.gauge;
        let (done, total) = self.progress();
        let [e, w, i] = self.counts();
        let cancelled = self.summary.as_ref().is_some_and(|x| x.cancelled);
        let state = if self.running() {
            "checking"
        } else if cancelled {
            "stopped"
        } else if self.error.is_some() {
            "failed"
        } else {
            "done"
        };
        let ratio = if total == 0 {
            if self.running() { 0.0 } else { 1.0 }
        } else {
            done as f64 / total as f64
        };
        gauge(
            frame,
            top,
            ratio,
            format!("{state}: {done}/{total} images · {e} errors, {w} warnings, {i} infos"),
            t,
        );
        self.draw_list(frame, a.list, ctx);
        self.draw_detail(frame, a.detail, t);
        if let Some(rect) = a.preview {
            self.draw_preview(frame, rect, ctx);
        }
    }

    crate::tui::screen::popup_slot!(popup);

    fn submit(&mut self, ctx: &mut Ctx, values: Values) -> Result<Effects, String> {
        match values.id {
            FormId::LintFilter => {
                self.filter = values.get(0).to_string();
                self.keep_selection();
            }
            FormId::LintTrigger => {
                let word = values.get(0);
                if word.contains(',') {
                    return Err("one tag, without commas".into());
                }
                ctx.target.trigger = (!word.is_empty()).then(|| word.to_string());
                self.start(ctx);
            }
            FormId::Target => {
                *ctx.target = target::parse(&values, ctx.target)?;
                self.start(ctx);
            }
            _ => {}
        }
        Ok(Vec::new())
    }
}

// ----- drawing -----

/// Where the Lint screen's parts go in its body.
struct Areas {
    gauge: Rect,
    list: Rect,
    detail: Rect,
    /// Below the finding's text, where there is height for a picture.
    preview: Option<Rect>,
}

/// The body's layout; the preview's size (what its image is decoded for) comes from here too.
fn areas(body: Rect) -> Areas {
    let [gauge, main] = Layout::vertical([Constraint::Length(1), Constraint::Min(2)]).areas(body);
    let [list, right] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Min(20)]).areas(main);
    if right.height < 14 {
        return Areas {
            gauge,
            list,
            detail: right,
            preview: None,
        };
    }
    let [detail, preview] =
        Layout::vertical([Constraint::Min(7), Constraint::Percentage(55)]).areas(right);
    Areas {
        gauge,
        list,
        detail,
        preview: Some(preview),
    }
}

fn severity_style(sev: Severity, t: &Theme) -> Style {
    match sev {
        Severity::Error => t.error,
        Severity::Warning => t.warning,
        Severity::Info => t.accent,
    }
}

impl LintScreen {
    fn draw_list(&self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        let t = ctx.theme;
        let o = ctx.target;
        let mut title = vec![Span::raw(format!(" Lint · {} ", target::label(o)))];
        if let Some(sev) = self.severity {
            title.push(Span::styled(format!("· {}s only ", sev.as_str()), t.accent));
        }
        if !self.filter.is_empty() {
            title.push(Span::styled(
                format!("· filter: {} ", self.filter),
                t.accent,
            ));
        }
        if let Some(w) = &o.trigger {
            title.push(Span::styled(format!("· trigger: {w} "), t.dim));
        }
        let block = panel(Line::from(title), true, t);
        let room = inner(area);
        frame.render_widget(block, area);
        let shown = self.shown();
        let mut lines: Vec<Line> = Vec::new();
        let mut cursor_line = 0;
        let width = usize::from(room.width);
        let mut group = None;
        for (pos, &fi) in shown.iter().enumerate() {
            let f = &self.findings[fi];
            if group != Some((f.severity, f.kind)) {
                group = Some((f.severity, f.kind));
                let n = shown[pos..]
                    .iter()
                    .take_while(|&&j| {
                        let g = &self.findings[j];
                        (g.severity, g.kind) == (f.severity, f.kind)
                    })
                    .count();
                let fix = if fixable(f.kind) { " · fixable" } else { "" };
                lines.push(Line::styled(
                    format!("{} · {} ({n}){fix}", f.severity.as_str(), f.kind),
                    severity_style(f.severity, t).patch(t.title),
                ));
            }
            let selected = self.selected == Some(fi);
            if selected {
                cursor_line = lines.len();
            }
            let path = truncate_left(&f.path.to_string_lossy(), 28);
            let text = format!("  {path:<28} {}", f.message);
            let text: String = text.chars().take(width).collect();
            let style = if selected { t.cursor } else { t.base };
            lines.push(Line::styled(format!("{text:<width$}"), style));
        }
        if lines.is_empty() {
            let msg = if self.running() {
                "checking…"
            } else if let Some(e) = &self.error {
                e.as_str()
            } else if self.findings.is_empty() {
                "no findings: the trainer will read this dataset as it is"
            } else {
                "nothing matches the severity and text filters"
            };
            lines.push(Line::styled(msg, t.dim));
        }
        let height = usize::from(room.height);
        let offset = (cursor_line + 1).saturating_sub(height);
        frame.render_widget(
            Paragraph::new(lines).scroll((offset.min(usize::from(u16::MAX)) as u16, 0)),
            room,
        );
    }

    fn draw_preview(&self, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
        let t = ctx.theme;
        let path = self.current_image(ctx.dataset);
        let title = path
            .as_ref()
            .and_then(|p| p.file_name())
            .map_or_else(|| " Image ".into(), |n| format!(" {} ", n.to_string_lossy()));
        let block = panel(Line::from(title), false, t);
        let room = block.inner(area);
        frame.render_widget(block, area);
        match path {
            Some(p) => image_pane::draw(frame, room, self.pane.shown(&p), &p, t),
            None if self.current().is_some() => frame.render_widget(
                Paragraph::new("about no single image")
                    .style(t.dim)
                    .wrap(Wrap { trim: true }),
                room,
            ),
            None => {}
        }
    }

    fn draw_detail(&self, frame: &mut Frame, area: Rect, t: &Theme) {
        let block = panel(Line::from(" Finding "), false, t);
        let Some(f) = self.current() else {
            frame.render_widget(block, area);
            return;
        };
        let mut lines = vec![
            Line::from(vec![
                Span::styled(f.severity.as_str(), severity_style(f.severity, t)),
                Span::styled(format!(" · {}", f.kind), t.title),
            ]),
            Line::styled(f.path.to_string_lossy().into_owned(), t.accent),
            Line::raw(""),
            Line::styled(f.message.clone(), t.base),
        ];
        if !f.hint.is_empty() {
            lines.push(Line::raw(""));
            lines.push(Line::styled(format!("hint: {}", f.hint), t.dim));
        }
        if fixable(f.kind) {
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                format!("every {} finding can be fixed (diff first)", f.kind),
                t.ok,
            ));
        }
        frame.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false }),
            area,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::screens::testing::Bench;

    #[test]
    fn lint_runs_through_its_context_and_jumps_to_an_image() {
        let mut b = Bench::new(&[("a.png", Some("x, x")), ("b.png", None)]);
        let mut s = b.open(open);
        b.pump(&mut *s, |s| !downcast(s).running());
        let lint = downcast(&*s);
        assert!(lint.findings.iter().any(|f| f.kind == Kind::MissingCaption));
        assert_eq!(lint.progress(), (2, 2));
        // The missing caption is about one image: jump asks the browser to show it.
        b.key(&mut *s, "top");
        for _ in 0..20 {
            if downcast(&*s)
                .current()
                .is_some_and(|f| f.kind == Kind::MissingCaption)
            {
                break;
            }
            b.key(&mut *s, "down");
        }
        let kinds: Vec<Kind> = downcast(&*s).findings.iter().map(|f| f.kind).collect();
        let current = downcast(&*s).current().map(|f| f.kind);
        assert_eq!(current, Some(Kind::MissingCaption), "{kinds:?}");
        let effects = b.key(&mut *s, JUMP);
        assert!(matches!(
            effects.as_slice(),
            [Effect::Browse(Browse::Item { path, .. })] if path.ends_with("b.png")
        ));
        // On a finding about one image the command is enabled; on one about the whole dataset
        // (too few images, sorted last) it is shown disabled.
        let enabled = |b: &Bench, s: &dyn Screen| {
            b.commands(s)
                .iter()
                .any(|c| c.action == JUMP && c.disabled.is_none())
        };
        assert!(enabled(&b, &*s));
        b.key(&mut *s, "bottom");
        assert_eq!(
            downcast(&*s).current().map(|f| f.kind),
            Some(Kind::TooFewImages)
        );
        assert!(!enabled(&b, &*s));
    }

    #[test]
    fn the_cursor_is_on_the_first_finding_shown_when_the_run_ends() {
        // Findings of several severities arrive in image order and are sorted in as they come.
        let mut b = Bench::new(&[
            ("a.png", Some("x, x")),
            ("b.png", None),
            ("c.png", Some("")),
            ("d.png", Some("y,,  z")),
        ]);
        let mut s = b.open(open);
        b.pump(&mut *s, |s| !downcast(s).running());
        let lint = downcast(&*s);
        assert!(lint.findings.len() > 2);
        assert_eq!(lint.selected, lint.shown().first().copied());
        // Once the user moves, the cursor is theirs.
        b.key(&mut *s, "down");
        let moved = downcast(&*s).selected;
        assert_eq!(moved, downcast(&*s).shown().get(1).copied());
    }

    #[test]
    fn the_findings_image_is_previewed_and_excluded_from_lint_then_undone() {
        let mut b = Bench::new(&[("a.png", Some("x, x")), ("b.png", None), ("c.png", Some("z"))]);
        let mut s = b.open(open);
        b.pump(&mut *s, |s| !downcast(s).running());
        b.key(&mut *s, "top");
        while downcast(&*s)
            .current()
            .is_some_and(|f| f.kind != Kind::MissingCaption)
        {
            b.key(&mut *s, "down");
        }
        assert!(downcast(&*s).current().unwrap().path.ends_with("b.png"));
        // The preview beside the list decodes the finding's image, through the image workers.
        b.pump(&mut *s, |s| !s.images_pending());
        let shown = downcast(&*s).preview().map(|(k, r)| (k.path.clone(), r.is_ok()));
        assert_eq!(shown, Some((b.tmp.path().join("b.png"), true)));
        // Exclude moves it under .lorabench/excluded through the journal; lint runs again.
        let effects = b.key(&mut *s, EXCLUDE);
        assert!(matches!(effects.first(), Some(Effect::Reload)));
        assert!(b.tmp.path().join(".lorabench/excluded/b.png").exists());
        assert!(!b.tmp.path().join("b.png").exists());
        b.reload(&mut *s);
        b.pump(&mut *s, |s| !downcast(s).running());
        let lint = downcast(&*s);
        assert!(!lint.findings.iter().any(|f| f.path.ends_with("b.png")));
        assert!(lint.selected.is_some(), "the cursor comes back to the list");
        // Undo (the journal's, as in the browser) puts it back.
        let effects = b.key(&mut *s, UNDO);
        assert!(matches!(effects.first(), Some(Effect::Reload)));
        assert!(b.tmp.path().join("b.png").exists());
        b.reload(&mut *s);
        b.pump(&mut *s, |s| !downcast(s).running());
        assert!(downcast(&*s).findings.iter().any(|f| f.path.ends_with("b.png")));
        // A finding about the whole dataset has nothing to exclude: the command says why.
        b.key(&mut *s, "top");
        for _ in 0..50 {
            if downcast(&*s).current().is_some_and(|f| f.item.is_none()) {
                break;
            }
            b.key(&mut *s, "down");
        }
        assert_eq!(downcast(&*s).current().map(|f| f.item), Some(None));
        let excl = b.commands(&*s).into_iter().find(|c| c.action == EXCLUDE).unwrap();
        assert!(excl.disabled.is_some());
    }

    #[test]
    fn exclude_on_a_read_only_dataset_says_so_and_moves_nothing() {
        let mut b = Bench::new(&[("a.png", None)]);
        b.journal = None;
        let mut s = b.open(open);
        b.pump(&mut *s, |s| !downcast(s).running());
        b.key(&mut *s, "top");
        let effects = b.key(&mut *s, EXCLUDE);
        assert!(matches!(
            effects.as_slice(),
            [Effect::Status(Some(st))] if st.text.contains("read-only")
        ));
        assert!(b.tmp.path().join("a.png").exists());
    }

    fn downcast(s: &dyn Screen) -> &LintScreen {
        s.as_any().downcast_ref().unwrap()
    }
}
