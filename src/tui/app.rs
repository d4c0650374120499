//! The shell: the shared state screens get through their context (dataset, journal, target,
//! keys, the channel), the screen stack (the browser at the bottom), the status line and the
//! help overlay. Keys go to the top screen, background messages to the screen they are for;
//! screens answer with effects, which are applied here. Drawing reads `&App` only.

use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::time::Instant;

use ratatui::Frame;
use ratatui::crossterm::event::{Event as Input, KeyEvent, KeyEventKind};
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Block;
use ratatui_image::picker::Picker;

use crate::dataset::journal::Journal;
use crate::dataset::lint::LintOptions;
use crate::dataset::{Dataset, DatasetError, scan};

use super::keymap::{Keymap, nav};
use super::msg::Msg;
use super::remember::{self, Remembered};
use super::screen::{
    self, Browse, Command, Ctx, DrawCtx, Effect, Effects, Event, HeaderTone, Level, Screen, Status,
};
use super::screens::{self, OPENERS, browser::Browser};
use super::theme::Theme;
use super::widgets::panel::plural;
use super::widgets::{help, hint_bar};

/// The help overlay's keymap mode and actions.
const HELP_MODE: &str = "help";
const HELP_CLOSE: &str = "close";

pub struct App {
    pub dataset: Dataset,
    pub journal: Option<Journal>,
    pub theme: Theme,
    pub keys: Keymap,
    /// The graphics protocol in use, for the header.
    pub protocol: String,
    /// The training target lint and stats judge the dataset for (kept while screens come and go).
    pub target: LintOptions,
    pub tx: Sender<Msg>,
    /// How images are drawn.
    picker: Picker,
    /// The browser at the bottom; the open screens above it, the top one has the keyboard.
    stack: Vec<Box<dyn Screen>>,
    pub status: Option<Status>,
    /// The help overlay's scroll, while it is open.
    help: Option<u16>,
    /// The terminal area, as of the last resize.
    pub area: Rect,
    /// Something changed since the last frame.
    pub dirty: bool,
    /// The screen the last message went to said nothing drawn changed ([`Effect::Unchanged`]).
    unchanged: bool,
    /// Set when the workbench should exit, with the exit code.
    pub quit: Option<u8>,
    /// Printed once the terminal is back to normal.
    pub farewell: Vec<String>,
    /// Desktop notifications (title, body) the event loop writes to the terminal next.
    pub notices: Vec<(String, String)>,
    rescan_at: Option<Instant>,
}

impl App {
    /// A workbench on `dataset`. `journal` is an error when the folder cannot hold one (read
    /// only): browsing works, changes are refused with a message.
    pub fn new(
        dataset: Dataset,
        journal: Result<Journal, DatasetError>,
        theme: Theme,
        picker: &Picker,
        tx: Sender<Msg>,
        area: Rect,
    ) -> App {
        let protocol = format!("{:?}", picker.protocol_type()).to_lowercase();
        let (journal, status) = match journal {
            Ok(j) => (Some(j), None),
            Err(e) => (
                None,
                Some(Status {
                    text: format!("read-only: {e}"),
                    level: Level::Error,
                }),
            ),
        };
        let mut app = App {
            dataset,
            journal,
            theme,
            keys: Keymap::defaults(screens::KEYS),
            protocol,
            target: LintOptions::default(),
            tx,
            picker: picker.clone(),
            stack: Vec::new(),
            status,
            help: None,
            area,
            dirty: true,
            unchanged: false,
            quit: None,
            farewell: Vec::new(),
            notices: Vec::new(),
            rescan_at: None,
        };
        let browser = Browser::new(&mut app.ctx(), picker);
        app.stack.push(Box::new(browser));
        app
    }

    fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            dataset: &mut self.dataset,
            journal: self.journal.as_ref(),
            target: &mut self.target,
            tx: &self.tx,
            keys: &self.keys,
            openers: &OPENERS,
            picker: &self.picker,
            area: self.area,
        }
    }

    fn draw_ctx(&self) -> DrawCtx<'_> {
        DrawCtx {
            dataset: &self.dataset,
            target: &self.target,
            theme: &self.theme,
            keys: &self.keys,
            openers: &OPENERS,
            protocol: &self.protocol,
        }
    }

    // ----- reading state -----

    /// The keymap mode that has the keyboard.
    pub fn mode(&self) -> &'static str {
        match (self.help, self.stack.last()) {
            (Some(_), _) => HELP_MODE,
            (None, Some(s)) => screen::keyboard(s.as_ref()),
            (None, None) => "browse",
        }
    }

    /// The top screen, if it is a `T`.
    pub fn screen<T: 'static>(&self) -> Option<&T> {
        self.stack.last()?.as_any().downcast_ref()
    }

    /// The browser (the bottom screen).
    pub fn browser(&self) -> Option<&Browser> {
        self.stack.first()?.as_any().downcast_ref()
    }

    /// The item under the browser's cursor.
    pub fn current(&self) -> Option<usize> {
        self.browser().and_then(Browser::current)
    }

    /// Whether decodes asked for are still outstanding (tests and benchmarks wait on this).
    pub fn images_pending(&self) -> bool {
        self.stack.iter().any(|s| s.images_pending())
    }

    /// When `on_deadline` wants to run next (a pending rescan), if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.rescan_at
    }

    /// What can be done now, for the hint bar and the help.
    pub fn commands(&self) -> Vec<Command> {
        if self.help.is_some() {
            return vec![
                Command::new(nav::DOWN, "scroll down"),
                Command::new(nav::UP, "scroll up"),
                Command::new(HELP_CLOSE, "close the help").bar("close", 0),
            ];
        }
        self.stack
            .last()
            .map(|s| screen::commands(s.as_ref(), &self.draw_ctx()))
            .unwrap_or_default()
    }

    // ----- update -----

    pub fn update(&mut self, msg: Msg) {
        match msg {
            Msg::Input(Input::Key(key)) if key.kind != KeyEventKind::Release => self.on_key(key),
            Msg::Input(Input::Mouse(m)) => {
                if self.help.is_none() {
                    self.deliver(self.stack.len().saturating_sub(1), Event::Mouse(m));
                }
            }
            Msg::Input(Input::Resize(w, h)) => {
                self.area = Rect::new(0, 0, w, h);
                self.broadcast(|| Event::Resized);
            }
            Msg::Input(_) => return,
            Msg::WatchError(e) => self.set_status(Level::Warn, format!("not watching: {e}")),
            Msg::Signal(sig) => {
                self.broadcast(|| Event::Exiting);
                self.quit = Some(128u8.saturating_add(u8::try_from(sig).unwrap_or(0)));
            }
            other => {
                // From the top screen down, until the one it is for takes it.
                let mut msg = Some(other);
                for i in (0..self.stack.len()).rev() {
                    self.deliver(i, Event::Message(&mut msg));
                    if msg.is_none() {
                        break;
                    }
                }
            }
        }
        // A screen may say the message changed nothing it draws.
        if !std::mem::take(&mut self.unchanged) {
            self.dirty = true;
        }
    }

    /// Runs what was scheduled for `next_deadline`.
    pub fn on_deadline(&mut self, now: Instant) {
        if self.rescan_at.is_some_and(|t| t <= now) {
            self.rescan_at = None;
            self.reload();
            self.dirty = true;
        }
    }

    fn on_key(&mut self, key: KeyEvent) {
        if self.help.is_some() {
            let max = help::max_scroll(self.area, &self.help_lines());
            let Some(scroll) = &mut self.help else { return };
            match self.keys.lookup(HELP_MODE, &key) {
                Some(nav::DOWN) => *scroll = scroll.saturating_add(1).min(max),
                Some(nav::UP) => *scroll = scroll.saturating_sub(1),
                Some(HELP_CLOSE) => self.help = None,
                _ => {}
            }
            return;
        }
        let Some(top) = self.stack.len().checked_sub(1) else {
            return;
        };
        let mode = screen::keyboard(self.stack[top].as_ref());
        let action = self.keys.lookup(mode, &key).map(str::to_string);
        if let Some(a) = &action {
            let commands = self.commands();
            if let Some(why) = commands
                .iter()
                .find(|c| c.action == a.as_str())
                .and_then(|c| c.disabled.map(|why| (c.desc, why)))
            {
                return self.set_status(Level::Warn, format!("{}: {}", why.0, why.1));
            }
            if a == nav::HELP && commands.iter().any(|c| c.action == nav::HELP) {
                self.help = Some(0);
                return;
            }
        }
        self.deliver(
            top,
            Event::Key {
                action: action.as_deref(),
                key,
            },
        );
    }

    /// Gives `event` to screen `i` and applies what it answers.
    fn deliver(&mut self, i: usize, event: Event) {
        // Borrowed field by field, so the screen and its context can be held at once.
        let App {
            stack,
            dataset,
            journal,
            target,
            tx,
            keys,
            picker,
            area,
            ..
        } = self;
        let Some(top) = stack.get_mut(i) else {
            return;
        };
        let mut ctx = Ctx {
            dataset,
            journal: journal.as_ref(),
            target,
            tx,
            keys,
            openers: &OPENERS,
            picker,
            area: *area,
        };
        let effects = screen::handle(top.as_mut(), &mut ctx, event);
        self.apply(i, effects);
    }

    fn broadcast(&mut self, event: impl Fn() -> Event<'static>) {
        for i in 0..self.stack.len() {
            self.deliver(i, event());
        }
    }

    fn apply(&mut self, from: usize, effects: Effects) {
        for effect in effects {
            match effect {
                Effect::Status(s) => self.status = s,
                Effect::Reload => self.reload(),
                Effect::ReloadAfter(d) => self.rescan_at = Some(Instant::now() + d),
                Effect::Browse(what) => {
                    // Closing the screens above the browser stops their work (their Drop).
                    self.stack.truncate(1);
                    self.deliver(0, Event::Browse(&what));
                }
                Effect::Open(opened) => self.stack.push(opened),
                Effect::Close => {
                    if from > 0 && from < self.stack.len() {
                        self.stack.remove(from);
                    }
                }
                Effect::Quit(code) => self.quit = Some(code),
                Effect::Farewell(text) => self.farewell.push(text),
                Effect::Notify { title, body } => self.notices.push((title, body)),
                Effect::Unchanged => self.unchanged = true,
            }
        }
    }

    /// Scans the folder again and tells every screen (the browser keeps its cursor, selection
    /// and editor on the same files; lint and stats run again).
    pub fn reload(&mut self) {
        let options = self.dataset.options.clone();
        let new = match scan(&self.dataset.root, &options) {
            Ok(ds) => ds,
            Err(e) => return self.set_status(Level::Error, e.to_string()),
        };
        let old = std::mem::replace(&mut self.dataset, new);
        for i in 0..self.stack.len() {
            self.deliver(i, Event::Reloaded { old: &old });
        }
    }

    /// The terminal's graphics became known after the first frame: images are drawn with
    /// them from now on.
    pub fn set_picker(&mut self, picker: &Picker) {
        self.protocol = format!("{:?}", picker.protocol_type()).to_lowercase();
        self.picker = picker.clone();
        let tx = self.tx.clone();
        if let Some(b) = self
            .stack
            .first_mut()
            .and_then(|s| s.as_any_mut().downcast_mut::<Browser>())
        {
            b.set_picker(picker, tx);
        }
        // The screens ask for their images again, drawn the new way.
        self.broadcast(|| Event::Resized);
        self.dirty = true;
    }

    /// Gives the browser (the bottom screen) and a context to `f`.
    fn with_browser<R>(&mut self, f: impl FnOnce(&mut Browser, &mut Ctx) -> R) -> Option<R> {
        let App {
            stack,
            dataset,
            journal,
            target,
            tx,
            keys,
            picker,
            area,
            ..
        } = self;
        let browser = stack.first_mut()?.as_any_mut().downcast_mut::<Browser>()?;
        let mut ctx = Ctx {
            dataset,
            journal: journal.as_ref(),
            target,
            tx,
            keys,
            openers: &OPENERS,
            picker,
            area: *area,
        };
        Some(f(browser, &mut ctx))
    }

    /// What to remember of this run for the next one on the same dataset.
    pub fn remembered(&self) -> Remembered {
        let b = self.browser();
        Remembered {
            dataset: self.dataset.root.clone(),
            target: remember::Target::of(&self.target),
            cursor: b
                .and_then(|b| b.current_path(&self.dataset))
                .map(PathBuf::from),
            view: remember::view_word(b.map(|b| b.view).unwrap_or_default()).into(),
            filter: b.map(|b| b.filter_text.clone()).unwrap_or_default(),
        }
    }

    /// Puts back what the last run remembered; what cannot be used is said (the rest is
    /// restored all the same).
    pub fn restore(&mut self, r: &Remembered) -> Vec<String> {
        let mut said = Vec::new();
        match r.target.options() {
            Ok(o) => self.target = o,
            Err(e) => said.push(format!("remembered target not used: {e}")),
        }
        let view = remember::view_of(&r.view).unwrap_or_default();
        let browser =
            self.with_browser(|b, ctx| b.restore(ctx, view, &r.filter, r.cursor.as_deref()));
        said.extend(browser.flatten());
        self.dirty = true;
        said
    }

    /// Puts the browser's cursor on this image (relative to the dataset); `false` when the
    /// dataset has no such image.
    pub fn show_image(&mut self, rel: &std::path::Path) -> bool {
        let what = Browse::Item {
            path: rel.to_path_buf(),
            index: usize::MAX,
        };
        self.deliver(0, Event::Browse(&what));
        self.dirty = true;
        self.browser()
            .and_then(|b| b.current_path(&self.dataset))
            .is_some_and(|p| p == rel)
    }

    /// Opens a screen on top (the LoRA screen for `lorabench file.safetensors`).
    pub fn open(&mut self, f: impl FnOnce(&mut Ctx) -> Box<dyn Screen>) {
        let opened = f(&mut self.ctx());
        self.stack.push(opened);
    }

    pub fn set_status(&mut self, level: Level, text: String) {
        self.status = Some(Status { text, level });
    }

    // ----- drawing -----

    /// Draws the whole screen: the top screen's body, the header, status and hint lines around
    /// it, and the help overlay.
    pub fn draw(&self, frame: &mut Frame) {
        let t = &self.theme;
        let area = frame.area();
        frame.render_widget(Block::default().style(t.base), area);
        let Some(top) = self.stack.last() else { return };
        let ctx = self.draw_ctx();
        let body = super::layout::body(area);
        screen::draw(top.as_ref(), frame, body, &ctx);
        if area.height < 4 {
            return;
        }
        self.header(frame, Rect::new(area.x, area.y, area.width, 1));
        let status = Rect::new(area.x, area.bottom() - 2, area.width, 1);
        self.status_line(frame, top.as_ref(), status);
        let hints = Rect::new(area.x, area.bottom() - 1, area.width, 1);
        let commands = self.commands();
        hint_bar::draw(frame, hints, &commands, &self.keys, self.mode(), t);
        if let Some(scroll) = self.help {
            help::draw(frame, self.help_lines(), scroll, t);
        }
    }

    /// The help overlay's text for the top screen's current mode.
    fn help_lines(&self) -> Vec<Line<'static>> {
        let t = &self.theme;
        let Some(top) = self.stack.last() else {
            return Vec::new();
        };
        let mode = screen::keyboard(top.as_ref());
        let commands = screen::commands(top.as_ref(), &self.draw_ctx());
        let mut lines = help::lines(top.title(), &commands, &self.keys, mode, t);
        if mode == "browse" {
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                "Filter: words in captions, tag:x, -tag:x, name:glob, nocaption, excluded",
                t.dim,
            ));
            lines.push(Line::styled(
                "Mouse: wheel scrolls, click picks an image",
                t.dim,
            ));
        }
        lines
    }

    fn header(&self, frame: &mut Frame, area: Rect) {
        let t = &self.theme;
        let root = self
            .dataset
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.dataset.root.display().to_string());
        // Every image counts, as in the browser's list title; the excluded are said apart.
        let excluded = self.dataset.items.iter().filter(|i| i.excluded).count();
        let total = self.dataset.items.len();
        let mut spans = vec![
            Span::styled(" lorabench ", t.hint_key),
            Span::styled(format!(" {root} "), t.title),
            Span::styled(format!(" {total} image{}", plural(total)), t.base),
        ];
        if excluded > 0 {
            spans.push(Span::styled(format!(" · {excluded} excluded"), t.dim));
        }
        // The browser's selection and filter show on every screen.
        let bottom = self
            .stack
            .first()
            .map(|s| s.header_extra())
            .unwrap_or_default();
        for (text, tone) in bottom {
            let style = match tone {
                HeaderTone::Dim => t.dim,
                HeaderTone::Selected => t.selected,
                HeaderTone::Accent => t.accent,
            };
            spans.push(Span::styled(text, style));
        }
        let left = Line::from(spans).style(t.status);
        let right = format!(" {} · {} ", self.protocol, self.theme.name);
        // The right-hand note only where it fits beside the dataset's words.
        let fits = left.width() + right.chars().count() <= usize::from(area.width);
        frame.render_widget(left, area);
        if fits {
            frame.render_widget(
                Line::from(Span::styled(right, t.dim)).alignment(Alignment::Right),
                area,
            );
        }
    }

    fn status_line(&self, frame: &mut Frame, top: &dyn Screen, area: Rect) {
        let t = &self.theme;
        frame.render_widget(Block::default().style(t.status), area);
        if let Some(s) = &self.status {
            let style = match s.level {
                Level::Info => t.status,
                Level::Warn => t.status.patch(t.warning),
                Level::Error => t.status.patch(t.error),
            };
            frame.render_widget(
                Line::from(Span::styled(format!(" {}", s.text), style)),
                area,
            );
        }
        if let Some(right) = top.status_right() {
            frame.render_widget(
                Line::from(Span::styled(right, t.status)).alignment(Alignment::Right),
                area,
            );
        }
    }
}
