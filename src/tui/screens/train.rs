//! The Train screen: the run config for the open dataset as a form (preset, backend, base
//! model, then the main keys), checked as it is typed by the core checks `lorabench train`
//! runs, beside the dataset's lint summary and bucket table for the config's target. Its plan
//! (the exact files and argv) is shown before a launch; save and load a YAML; launch with the
//! core launch of `lorabench train`. Problems block the launch; lint errors block it unless
//! forced, as `--force` does.

pub mod form;
mod view;

use std::path::{Path, PathBuf};

use ratatui::Frame;
use ratatui::layout::Rect;

use crate::dataset::lint::{self, LintOptions, LintReport};
use crate::train::config::{self, Problem, UserConfig};
use crate::train::model_folders::{self, Roots};
use crate::train::prepare;
use crate::train::run::{Home, RunId};
use crate::train::start;
use crate::tui::job::{Job, Update};
use crate::tui::keymap::nav;
use crate::tui::popups::Popup;
use crate::tui::popups::form::{Form, FormId, Values};
use crate::tui::popups::picker::{Picker, Row};
use crate::tui::screen::{Command, Ctx, DrawCtx, Effect, Effects, Event, Level, Opener, Screen};
use crate::tui::widgets::line_input;
use crate::tui::widgets::panel::human_size;

use form::{CHOICES, Checked, ConfigForm};

/// Opened from the browser, on the open dataset.
pub const OPENER: Option<Opener> = Some(Opener::new(
    "open-train",
    "train a LoRA on this dataset",
    open,
));

/// The screen's default keys. Printable keys are typed into the focused field, so the
/// actions are on keys a field does not take.
pub const KEYS: &str = "
browse:
  keys:
    open-train: T
train:
  keys:
    next-field: Tab Down
    previous-field: Up
    choose-previous: Left
    choose-next: Right
    plan: Ctrl-p
    pick-base: Ctrl-b
    launch: Ctrl-r
    save: Ctrl-s
    load: Ctrl-o
    force: Ctrl-f
    queue: Ctrl-t
    scroll-down: PageDown
    scroll-up: PageUp
    help: Ctrl-k
    close: Esc
";

const MODE: &str = "train";
const NEXT: &str = "next-field";
const PREVIOUS: &str = "previous-field";
const CHOOSE_PREVIOUS: &str = "choose-previous";
const CHOOSE_NEXT: &str = "choose-next";
const PLAN: &str = "plan";
const PICK_BASE: &str = "pick-base";
const LAUNCH: &str = "launch";
const SAVE: &str = "save";
const LOAD: &str = "load";
const FORCE: &str = "force";
const QUEUE: &str = "queue";
const SCROLL_DOWN: &str = "scroll-down";
const SCROLL_UP: &str = "scroll-up";
const CLOSE: &str = "close";

/// What the right-hand panel shows.
pub enum Side {
    /// The dataset's lint for the config's target.
    Lint,
    /// The plan: the lines `--dry-run` prints.
    Plan(Vec<String>),
}

pub struct TrainScreen {
    pub form: ConfigForm,
    /// The row with the keyboard: the preset, the backend, then the text fields.
    pub focus: usize,
    pub checked: Checked,
    pub side: Side,
    pub scroll: usize,
    /// Launch past lint errors (`--force`).
    pub force: bool,
    /// Wait for busy GPUs (`--queue`).
    pub queue: bool,
    /// The last lint, and the options it ran with.
    pub lint: Option<Result<LintReport, String>>,
    lint_for: Option<LintOptions>,
    lint_job: Job<(), LintReport>,
    /// Why the last plan or launch was refused (the core's words).
    pub refused: Option<String>,
    /// The base model's family and size, once it checked out.
    pub base_note: Option<String>,
    /// The run this screen launched last.
    pub launched: Option<RunId>,
    pub popup: Option<Popup>,
    /// Where the base-model picker looks (the environment's places, from the current folder).
    pub model_roots: Roots,
    user: UserConfig,
    home: Home,
    /// The lorabench binary the run's supervisor is (this one, outside tests).
    exe: PathBuf,
}

fn open(ctx: &mut Ctx) -> Box<dyn Screen> {
    let (user, note) = match UserConfig::load() {
        Ok(u) => (u, None),
        Err(e) => (UserConfig::default(), Some(e.to_string())),
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("lorabench"));
    let mut s = TrainScreen::new(ctx, user, exe);
    if let Some(n) = note {
        s.refused = Some(format!("user config: {n}"));
    }
    Box::new(s)
}

impl TrainScreen {
    /// A form on the open dataset; runs go to the user config's runs home, supervised by
    /// `exe`.
    pub fn new(ctx: &mut Ctx, user: UserConfig, exe: PathBuf) -> TrainScreen {
        let cwd = std::env::current_dir().unwrap_or_else(|_| ctx.dataset.root.clone());
        let presets_dir = config::user::config_dir().map(|d| d.join("presets"));
        let home = Home::at(user.runs_home());
        let mut s = TrainScreen {
            form: ConfigForm::new(ctx.dataset.root.clone(), presets_dir, cwd),
            focus: 0,
            checked: Checked::default(),
            side: Side::Lint,
            scroll: 0,
            force: false,
            queue: true,
            lint: None,
            lint_for: None,
            lint_job: Job::new(),
            refused: None,
            base_note: None,
            launched: None,
            popup: None,
            model_roots: Roots::here(&std::env::current_dir().unwrap_or_default()),
            user,
            home,
            exe,
        };
        s.changed(ctx);
        s
    }

    pub fn lint_running(&self) -> bool {
        self.lint_job.running()
    }

    fn rows(&self) -> usize {
        CHOICES + self.form.fields.len()
    }

    /// After any edit: check again, drop a stale plan, lint again if the target moved.
    /// `true` when a plan was dropped.
    fn changed(&mut self, ctx: &mut Ctx) -> bool {
        self.checked = self.form.check();
        self.refused = None;
        self.base_note = self.base_note();
        let dropped = matches!(self.side, Side::Plan(_));
        if dropped {
            self.side = Side::Lint;
            self.scroll = 0;
        }
        let options = match (&self.checked.resolved, self.checked.family) {
            (Some(r), Some(family)) => prepare::lint_options(&r.config, family),
            _ => return dropped,
        };
        if self.lint_for.as_ref() != Some(&options) {
            let dataset = ctx.dataset.clone();
            self.lint_for = Some(options.clone());
            let started = self.lint_job.start(ctx.tx, "train-lint", move |r| {
                lint::run(&dataset, &options, r.flag(), |_| {}).map_err(|e| e.to_string())
            });
            if let Err(e) = started {
                self.lint = Some(Err(e));
            }
        }
        dropped
    }

    fn base_note(&self) -> Option<String> {
        let base = self.form.field("model.base")?.text();
        let family = self.checked.family?;
        if base.is_empty() || self.checked.about("model.base").next().is_some() {
            return None;
        }
        let meta = std::fs::metadata(self.path(&base)).ok()?;
        let size = if meta.is_dir() {
            "a folder".to_string()
        } else {
            human_size(meta.len())
        };
        Some(format!("{} · {size}", family.as_str()))
    }

    /// The core's full check ([`prepare::prepare`]: values, base model, dataset lint) with the
    /// plan's own on top; the first problem met, in the core's words.
    fn prepared(&self) -> Result<prepare::Prepared, String> {
        let resolved = match (&self.checked.resolved, self.checked.problems.first()) {
            (Some(r), None) => r.clone(),
            (_, Some(p)) => return Err(p.to_string()),
            (None, None) => return Err("the config did not merge".into()),
        };
        prepare::prepare(resolved, self.force).map_err(|e| e.to_string())
    }

    fn plan(&mut self) -> Effects {
        let run_dir = start::preview_dir(&self.home);
        let planned = self.prepared().and_then(|p| {
            let plan = p.plan(&self.user, &run_dir).map_err(|e| e.to_string())?;
            let mut lines = vec![format!("# {}", self.form.command_line()), String::new()];
            lines.extend(p.warnings.iter().map(|w| format!("warning: {w}")));
            lines.extend(start::describe(&p, &plan, &run_dir));
            Ok(lines)
        });
        match planned {
            Ok(lines) => {
                self.side = Side::Plan(lines);
                self.scroll = 0;
                self.refused = None;
                vec![Effect::status(
                    Level::Info,
                    "the plan: nothing written or started yet",
                )]
            }
            Err(e) => self.refuse(e),
        }
    }

    fn refuse(&mut self, e: String) -> Effects {
        let first = e.lines().next().unwrap_or_default().to_string();
        self.refused = Some(e);
        vec![Effect::status(Level::Error, first)]
    }

    fn launch(&mut self) -> Effects {
        let started = self.prepared().and_then(|p| {
            start::launch(&p, &self.user, &self.home, self.queue, &self.exe)
                .map_err(|e| e.to_string())
        });
        match started {
            Ok(s) => {
                let text = format!(
                    "launched run {} in {} (R lists it)",
                    s.id,
                    s.dir.display()
                );
                self.launched = Some(s.id);
                self.refused = None;
                vec![Effect::status(Level::Info, text)]
            }
            Err(e) => self.refuse(e),
        }
    }

    fn path_form(&self, id: FormId) -> Form {
        let (title, help, text) = match id {
            FormId::TrainSave => (
                "Save the config",
                "the merged config as YAML · a relative path is taken from the current folder",
                self.form
                    .config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "train.yaml".into()),
            ),
            _ => (
                "Load a config",
                "a training YAML, on top of the preset · the fields still win over it",
                String::new(),
            ),
        };
        Form::new(id, title, &[("file", text)], help)
    }

    /// The base models found where such models are kept, each with its family and size.
    fn base_picker(&self) -> Picker {
        let places = self.model_roots.places();
        let rows = model_folders::find(&places)
            .into_iter()
            .map(|f| {
                let text = f
                    .path
                    .strip_prefix(&self.form.cwd)
                    .unwrap_or(&f.path)
                    .display()
                    .to_string();
                let note = match &f.family {
                    Ok(family) => {
                        format!("{} · {} · {}", family.as_str(), human_size(f.size), f.place)
                    }
                    Err(why) => format!("{why} · {}", f.place),
                };
                Row {
                    value: f.path.display().to_string(),
                    text,
                    note,
                    ok: f.family.is_ok(),
                }
            })
            .collect();
        let help = if places.is_empty() {
            "no model folder found (ComfyUI, webui or forge model folders, the Hugging Face \
             cache, under here, home or /workspace): set LORABENCH_MODELS to your models' \
             folder, or type the path in the field"
                .to_string()
        } else {
            let looked: Vec<String> = places.iter().map(|p| p.dir.display().to_string()).collect();
            format!(
                "looked in {} · LORABENCH_MODELS adds folders (separated by ':')",
                looked.join(", ")
            )
        };
        Picker::new(FormId::TrainBase, "Base model", rows, help)
    }

    fn path(&self, text: &str) -> PathBuf {
        let p = Path::new(text);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.form.cwd.join(p)
        }
    }

    fn action(&mut self, ctx: &mut Ctx, action: &str) -> Option<Effects> {
        let on_choice = self.focus < CHOICES;
        let effects = match action {
            NEXT => {
                self.focus = (self.focus + 1) % self.rows();
                Vec::new()
            }
            PREVIOUS => {
                self.focus = (self.focus + self.rows() - 1) % self.rows();
                Vec::new()
            }
            CHOOSE_PREVIOUS | CHOOSE_NEXT if on_choice => {
                self.form.cycle(self.focus, action == CHOOSE_NEXT);
                match self.changed(ctx) {
                    true => vec![Effect::Status(None)],
                    false => Vec::new(),
                }
            }
            PLAN => self.plan(),
            PICK_BASE => {
                self.popup = Some(Popup::Picker(Box::new(self.base_picker())));
                Vec::new()
            }
            LAUNCH => self.launch(),
            SAVE => {
                self.popup = Some(Popup::Form(self.path_form(FormId::TrainSave)));
                Vec::new()
            }
            LOAD => {
                self.popup = Some(Popup::Form(self.path_form(FormId::TrainLoad)));
                Vec::new()
            }
            FORCE => {
                self.force = !self.force;
                self.refused = None;
                Vec::new()
            }
            QUEUE => {
                self.queue = !self.queue;
                Vec::new()
            }
            SCROLL_DOWN => {
                self.scroll = self.scroll.saturating_add(10);
                Vec::new()
            }
            SCROLL_UP => {
                self.scroll = self.scroll.saturating_sub(10);
                Vec::new()
            }
            CLOSE => vec![Effect::Close],
            _ => return None,
        };
        Some(effects)
    }

    /// A key no action took: typed into the focused text field. A plan it makes stale goes,
    /// and its status line with it.
    fn type_key(&mut self, ctx: &mut Ctx, key: ratatui::crossterm::event::KeyEvent) -> Effects {
        let Some(i) = self.focus.checked_sub(CHOICES) else {
            return Vec::new();
        };
        if let Some(f) = self.form.fields.get_mut(i)
            && line_input::key(&mut f.input, key)
            && self.changed(ctx)
        {
            return vec![Effect::Status(None)];
        }
        Vec::new()
    }

    /// Problems not about one of the form's fields (shown under the form).
    pub fn other_problems(&self) -> Vec<&Problem> {
        self.checked
            .problems
            .iter()
            .filter(|p| {
                !p.key
                    .as_deref()
                    .is_some_and(|k| self.form.field(k).is_some() || k == "backend")
            })
            .collect()
    }
}

impl Drop for TrainScreen {
    fn drop(&mut self) {
        self.lint_job.cancel();
    }
}

impl Screen for TrainScreen {
    fn mode(&self) -> &'static str {
        MODE
    }

    fn title(&self) -> &'static str {
        "Train"
    }

    fn commands(&self, _ctx: &DrawCtx) -> Vec<Command> {
        let bad = !self.checked.ok();
        let blocked = "fix the problems the form shows first";
        vec![
            Command::new(NEXT, "next field").bar("next", 2),
            Command::new(PREVIOUS, "previous field"),
            Command::new(CHOOSE_NEXT, "next preset / backend (on those rows)"),
            Command::new(CHOOSE_PREVIOUS, "previous preset / backend (on those rows)"),
            Command::new(PLAN, "show the files and argv the backend will use")
                .bar("plan", 1)
                .off_if(bad, blocked),
            Command::new(PICK_BASE, "choose the base model from the model folders found")
                .bar("base", 2),
            Command::new(LAUNCH, "launch the run")
                .bar("launch", 1)
                .off_if(bad, blocked),
            Command::new(SAVE, "save the config as YAML")
                .bar("save", 2)
                .off_if(self.checked.resolved.is_none(), blocked),
            Command::new(LOAD, "load a config YAML").bar("load", 2),
            Command::new(
                FORCE,
                if self.force {
                    "stop launching past lint errors"
                } else {
                    "launch even with lint errors (--force)"
                },
            )
            .bar(if self.force { "force: on" } else { "force" }, 3),
            Command::new(
                QUEUE,
                if self.queue {
                    "refuse when the GPU is busy"
                } else {
                    "wait when the GPU is busy (--queue)"
                },
            )
            .bar(if self.queue { "queue: on" } else { "queue: off" }, 3),
            Command::new(SCROLL_DOWN, "scroll the plan / lint down"),
            Command::new(SCROLL_UP, "scroll the plan / lint up"),
            Command::new(nav::HELP, "all keys").bar("help", 0),
            Command::new(CLOSE, "back to the browser").bar("back", 0),
        ]
    }

    fn event(&mut self, ctx: &mut Ctx, event: Event) -> Effects {
        match event {
            Event::Key { action, key } => {
                if let Some(a) = action
                    && let Some(effects) = self.action(ctx, a)
                {
                    return effects;
                }
                self.type_key(ctx, key)
            }
            Event::Message(msg) => {
                if let Some(u) = self.lint_job.take(msg) {
                    match u {
                        Update::Done(r) => self.lint = Some(r),
                        Update::Progress | Update::Item(()) => {}
                    }
                }
                Vec::new()
            }
            // The dataset changed on disk: its lint too.
            Event::Reloaded { .. } => {
                self.lint_for = None;
                self.changed(ctx);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn draw(&self, frame: &mut Frame, body: Rect, ctx: &DrawCtx) {
        view::draw(self, frame, body, ctx.theme);
    }

    crate::tui::screen::popup_slot!(popup);

    fn submit(&mut self, ctx: &mut Ctx, values: Values) -> Result<Effects, String> {
        let text = values.get(0);
        if text.is_empty() {
            return Err("a file name, please".into());
        }
        let path = self.path(text);
        match values.id {
            FormId::TrainBase => {
                self.form.set("model.base", text);
                self.changed(ctx);
                Ok(vec![Effect::status(
                    Level::Info,
                    format!("base model {}", path.display()),
                )])
            }
            FormId::TrainSave => {
                let Some(r) = &self.checked.resolved else {
                    return Err("the config does not merge yet: nothing to save".into());
                };
                let yaml = r.config.to_yaml();
                crate::dataset::fsio::write_atomic(&path, yaml.as_bytes(), false)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(vec![Effect::status(
                    Level::Info,
                    format!("saved {}", path.display()),
                )])
            }
            FormId::TrainLoad => {
                std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                self.form.config_file = Some(path.clone());
                self.changed(ctx);
                Ok(vec![Effect::status(
                    Level::Info,
                    format!("loaded {}", path.display()),
                )])
            }
            _ => Ok(Vec::new()),
        }
    }
}
