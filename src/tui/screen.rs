//! The screen component: every screen (the browser, Lint, Stats, LoRA, and the ones to come)
//! lists its [`Command`]s, handles an [`Event`] with a [`Ctx`] (dataset, journal, target, the
//! app's sender) and answers with [`Effect`]s, and draws through `&self`. No screen sees the
//! app, so a screen can be built and driven in a test from a temp folder with no terminal.

use std::path::PathBuf;
use std::sync::mpsc::Sender;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyEvent, MouseEvent};
use ratatui::layout::Rect;
use ratatui_image::picker::Picker;

use crate::dataset::Dataset;
use crate::dataset::journal::Journal;
use crate::dataset::lint::LintOptions;

use super::keymap::Keymap;
use super::msg::Msg;
use super::popups::form::Values;
use super::popups::{self, Handled, Popup};
use super::theme::Theme;

pub use super::command::{Command, Level, Status, list_commands};

/// What a screen reads and changes while it handles an event.
pub struct Ctx<'a> {
    pub dataset: &'a mut Dataset,
    /// `None` when the folder cannot hold a journal: looking works, writing is refused.
    pub journal: Option<&'a Journal>,
    /// The training target lint and stats judge the dataset for (kept while screens come and go).
    pub target: &'a mut LintOptions,
    /// For background work (see `job.rs`).
    pub tx: &'a Sender<Msg>,
    pub keys: &'a Keymap,
    /// The screens the browser can open (`screens::OPENERS`, from `screens!`).
    pub openers: &'a [Opener],
    /// How images are drawn (it changes once, when the terminal has been asked; screens then
    /// get [`Event::Resized`]).
    pub picker: &'a Picker,
    /// The whole terminal.
    pub area: Rect,
}

/// What a screen reads while it draws.
pub struct DrawCtx<'a> {
    pub dataset: &'a Dataset,
    pub target: &'a LintOptions,
    pub theme: &'a Theme,
    pub keys: &'a Keymap,
    pub openers: &'a [Opener],
    /// The graphics protocol in use.
    pub protocol: &'a str,
}

/// A screen the browser opens: the action that opens it (bound in the `browse` block of the
/// screen's `KEYS`), what it is for (the help), and how to build it.
#[derive(Clone, Copy)]
pub struct Opener {
    pub action: &'static str,
    pub desc: &'static str,
    pub open: fn(&mut Ctx) -> Box<dyn Screen>,
}

impl Opener {
    pub const fn new(
        action: &'static str,
        desc: &'static str,
        open: fn(&mut Ctx) -> Box<dyn Screen>,
    ) -> Opener {
        Opener { action, desc, open }
    }
}

/// Something another screen asks the browser to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Browse {
    /// The item with this dataset-relative path, else the one at `index` (as it was when the
    /// asking screen looked); the filter is cleared if it hides it.
    Item { path: PathBuf, index: usize },
    /// The images matching this filter.
    Filter(String),
}

/// What happened, for one screen.
pub enum Event<'a> {
    /// A key; `action` is what the keymap binds it to in the screen's mode, if anything.
    Key {
        action: Option<&'a str>,
        key: KeyEvent,
    },
    Mouse(MouseEvent),
    /// The terminal changed size (`Ctx::area` holds the new one).
    Resized,
    /// A background message; the screen it is for takes it out.
    Message(&'a mut Option<Msg>),
    /// The dataset was scanned again (`Ctx::dataset`); `old` is the one before.
    Reloaded {
        old: &'a Dataset,
    },
    /// Another screen asked the browser (the bottom screen) to show something.
    Browse(&'a Browse),
    /// The workbench is about to exit: keep the user's words.
    Exiting,
}

/// What a screen asks of the shell.
pub enum Effect {
    /// Show this on the status line (`None` clears it).
    Status(Option<Status>),
    /// Scan the dataset again; every screen then gets [`Event::Reloaded`].
    Reload,
    /// Scan again once this long has passed with no newer request (bursts of file changes).
    ReloadAfter(std::time::Duration),
    /// Close this screen and have the browser show something.
    Browse(Browse),
    /// Open a screen on top of this one.
    Open(Box<dyn Screen>),
    /// Close this screen.
    Close,
    /// Exit the workbench with this code.
    Quit(u8),
    /// Say this on the normal screen once the workbench has exited (where a kept draft is).
    Farewell(String),
    /// Ask the terminal for a desktop notification (`notify.rs`): a run ended, say.
    Notify { title: String, body: String },
    /// Nothing drawn changed (a file change held back for the next read): no frame for it.
    /// A live run writes its log tens of times a second; a frame for each is most of the
    /// monitor's cost.
    Unchanged,
}

impl Effect {
    pub fn status(level: Level, text: impl Into<String>) -> Effect {
        Effect::Status(Some(Status {
            text: text.into(),
            level,
        }))
    }
}

pub type Effects = Vec<Effect>;

/// The concrete screen behind a `dyn Screen` (tests and the shell's accessors look at it).
pub trait AsAny {
    fn as_any(&self) -> &dyn std::any::Any;
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

impl<T: std::any::Any> AsAny for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// A screen. While its pop-up (a form, a change preview) is open, the pop-up has the keyboard,
/// the commands and the top of the drawing: [`keyboard`], [`commands`], [`handle`] and [`draw`]
/// route there, so no screen dispatches to its pop-up itself.
pub trait Screen: AsAny {
    /// The screen's own keymap mode.
    fn mode(&self) -> &'static str;
    /// The heading of the help.
    fn title(&self) -> &'static str;
    /// What can be done now, in the order of the hint bar and the help.
    fn commands(&self, ctx: &DrawCtx) -> Vec<Command>;
    fn event(&mut self, ctx: &mut Ctx, event: Event) -> Effects;
    /// Draws the body (between the header and the status line).
    fn draw(&self, frame: &mut Frame, body: Rect, ctx: &DrawCtx);
    /// The screen's pop-up slot, if it has one.
    fn popup(&self) -> Option<&Option<Popup>> {
        None
    }
    fn popup_mut(&mut self) -> Option<&mut Option<Popup>> {
        None
    }
    /// One of its forms was submitted; `Err` keeps the form open, saying why.
    fn submit(&mut self, _ctx: &mut Ctx, _values: Values) -> Result<Effects, String> {
        Ok(Vec::new())
    }
    /// Words after the header's dataset summary (the browser's selection and filter).
    fn header_extra(&self) -> Vec<(String, HeaderTone)> {
        Vec::new()
    }
    /// Right-aligned on the status line (the browser's position).
    fn status_right(&self) -> Option<String> {
        None
    }
    /// Whether image decodes it asked for are still outstanding (tests wait on this).
    fn images_pending(&self) -> bool {
        false
    }
}

/// How a header word is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderTone {
    Dim,
    Selected,
    Accent,
}

/// The two pop-up slot accessors of a screen whose pop-up lives in the field `$field`.
macro_rules! popup_slot {
    ($field:ident) => {
        fn popup(&self) -> Option<&Option<$crate::tui::popups::Popup>> {
            Some(&self.$field)
        }

        fn popup_mut(&mut self) -> Option<&mut Option<$crate::tui::popups::Popup>> {
            Some(&mut self.$field)
        }
    };
}
pub(crate) use popup_slot;

fn open_popup(s: &dyn Screen) -> Option<&Popup> {
    s.popup().and_then(Option::as_ref)
}

/// The keymap mode that has the keyboard: the pop-up's, else the screen's.
pub fn keyboard(s: &dyn Screen) -> &'static str {
    open_popup(s).map_or_else(|| s.mode(), Popup::mode)
}

/// What can be done now: the pop-up's commands, else the screen's.
pub fn commands(s: &dyn Screen, ctx: &DrawCtx) -> Vec<Command> {
    open_popup(s).map_or_else(|| s.commands(ctx), Popup::commands)
}

/// Gives an event to the screen, or a key to its open pop-up.
pub fn handle(s: &mut dyn Screen, ctx: &mut Ctx, event: Event) -> Effects {
    if let Event::Key { action, key } = &event
        && let Some(slot) = s.popup_mut()
        && let Some(handled) = popups::key(slot, *action, *key)
    {
        return match handled {
            Handled::Stay => Vec::new(),
            Handled::Submit(values) => {
                let id = values.id;
                let result = s.submit(ctx, values);
                match s.popup_mut() {
                    Some(slot) => popups::finish(slot, id, result),
                    None => Vec::new(),
                }
            }
            Handled::Apply(preview) => match preview.apply(ctx.journal) {
                Ok((true, text)) => vec![Effect::Reload, Effect::status(Level::Info, text)],
                Ok((false, text)) => vec![Effect::status(Level::Info, text)],
                Err(text) => vec![Effect::status(Level::Error, text)],
            },
        };
    }
    s.event(ctx, event)
}

/// Draws the screen (when there is room for a body), then its pop-up over it.
pub fn draw(s: &dyn Screen, frame: &mut Frame, body: Rect, ctx: &DrawCtx) {
    if body.height >= 3 {
        s.draw(frame, body, ctx);
    }
    if let Some(p) = open_popup(s) {
        p.draw(frame, ctx.theme);
    }
}
