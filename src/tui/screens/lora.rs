//! The LoRA screen: one file's inspection (the core's rows, as `lora inspect` prints them), and
//! convert / merge / resize / mix / extract run from a small form as a background job, with a
//! gauge fed by the core's progress callback and a cancel that the core checks.

use std::path::{Path, PathBuf};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::lora::args;
use crate::lora::convert::{self, Target};
use crate::lora::extract::{self, ExtractFileOptions, SvdMethod};
use crate::lora::inspect::{self, Inspection};
use crate::lora::merge::{self, MergeInput};
use crate::lora::mix::{self, MixInput};
use crate::lora::progress::Task;
use crate::lora::report::{self, Tone};
use crate::lora::resize;
use crate::lora::safetensors::Dtype;
use crate::tui::job::{Job, Reporter, Update};
use crate::tui::keymap::nav;
use crate::tui::msg::Msg;
use crate::tui::screen::{
    Command, Ctx, DrawCtx, Effect, Effects, Event, Level, Opener, Screen, list_commands,
};
use crate::tui::theme::Theme;
use crate::tui::widgets::panel::{gauge, panel};

use crate::tui::popups::Popup;
use crate::tui::popups::form::{Form, FormId, Values};

pub const MODE: &str = "lora";
const CONVERT: &str = "convert";
const MERGE: &str = "merge";
const RESIZE: &str = "resize";
const MIX: &str = "mix";
const EXTRACT: &str = "extract";
const OPEN: &str = "open";
const CLOSE: &str = "close";

/// Why the operations wait.
const BUSY: &str = "an operation is running (cancel it first)";
const NO_FILE: &str = "no LoRA file is open";

pub struct LoraScreen {
    pub path: PathBuf,
    /// The dataset folder: every relative path typed in a form starts there (one rule).
    root: PathBuf,
    pub inspection: Option<Result<Inspection, String>>,
    /// How the last operation ended.
    pub outcome: Option<Result<String, String>>,
    pub popup: Option<Popup>,
    pub scroll: u16,
    /// The running operation's name.
    what: &'static str,
    inspect: Job<(), Inspection>,
    operation: Job<(), String>,
}

/// Opens the LoRA screen on `path` and inspects it in the background.
pub fn open_file(ctx: &mut Ctx, path: PathBuf) -> Box<dyn Screen> {
    let mut s = LoraScreen {
        path,
        root: ctx.dataset.root.clone(),
        inspection: None,
        outcome: None,
        popup: None,
        scroll: 0,
        what: "",
        inspect: Job::new(),
        operation: Job::new(),
    };
    s.start_inspect(ctx);
    Box::new(s)
}

/// Opened from the browser.
pub const OPENER: Option<Opener> = Some(Opener::new("open-lora", "open a LoRA file", open));

/// The screen's default keys: its mode, and the browser's key for its opener.
pub const KEYS: &str = "
browse:
  keys:
    open-lora: O
lora:
  inherit: [list]
  keys:
    convert: c
    merge: m
    resize: z
    mix: x
    extract: e
    open: o
    help: '?'
    close: Esc q
";

/// Opens the LoRA screen with the "which file" form (from the browser).
pub fn open(ctx: &mut Ctx) -> Box<dyn Screen> {
    let root = ctx.dataset.root.clone();
    let mut s = LoraScreen {
        path: PathBuf::new(),
        popup: Some(Popup::Form(open_form(&root, String::new()))),
        root,
        inspection: None,
        outcome: None,
        scroll: 0,
        what: "",
        inspect: Job::new(),
        operation: Job::new(),
    };
    s.start_inspect(ctx);
    Box::new(s)
}

fn open_form(root: &Path, current: String) -> Form {
    Form::new(
        FormId::LoraOpen,
        titled("Open a LoRA file", root),
        &[("file", current)],
        "a .safetensors path, absolute or from the dataset folder",
    )
}

/// A form's title with the rule for relative paths, so no field has to guess.
fn titled(title: &str, root: &Path) -> String {
    let name = root.file_name().map_or_else(
        || root.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    format!("{title} · relative paths start in {name}/")
}

/// One operation, ready to run as a job.
type Work = Box<dyn FnOnce(&mut Task<'_>) -> Result<String, String> + Send>;

impl LoraScreen {
    pub fn running(&self) -> bool {
        self.operation.running()
    }

    pub fn cancelling(&self) -> bool {
        self.operation.cancelling()
    }

    /// The open LoRA's folder: where the forms propose to write their outputs.
    fn folder(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    fn stem(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "lora".into())
    }

    /// A path typed in a form: relative ones start in the dataset folder (every form, one
    /// rule, said in the form's title).
    fn resolve(&self, text: &str) -> PathBuf {
        let p = PathBuf::from(text);
        if p.is_absolute() {
            p
        } else {
            self.root.join(p)
        }
    }

    /// How a form pre-fills a path: from the dataset folder when inside it, else absolute.
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// A file beside the open LoRA, as a form pre-fills it.
    fn beside(&self, name: String) -> String {
        self.shown(&self.folder().join(name))
    }

    /// A file a form names, which must exist.
    fn existing(&self, text: &str, what: &str) -> Result<PathBuf, String> {
        if text.is_empty() {
            return Err(format!("give the {what} file"));
        }
        let p = self.resolve(text);
        if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{what}: no file at {}", p.display()))
        }
    }

    /// An output path a form names: not empty, not the input.
    fn output(&self, text: &str) -> Result<PathBuf, String> {
        if text.is_empty() {
            return Err("give the output file".into());
        }
        let p = self.resolve(text);
        if p == self.path {
            return Err("the output would overwrite the open file".into());
        }
        Ok(p)
    }

    fn start_inspect(&mut self, ctx: &Ctx) {
        self.inspection = None;
        self.scroll = 0;
        if self.path.as_os_str().is_empty() || self.path.is_dir() {
            self.inspect.drop_run();
            return;
        }
        let path = self.path.clone();
        let started = self.inspect.start(ctx.tx, "lora-inspect", move |_| {
            inspect::inspect(&path).map_err(|e| e.to_string())
        });
        if let Err(e) = started {
            self.inspection = Some(Err(e));
        }
    }

    fn form(&self, action: &str) -> Option<Form> {
        let stem = self.stem();
        let title = |t: &str| titled(t, &self.root);
        Some(match action {
            OPEN => open_form(&self.root, self.shown(&self.path)),
            CONVERT => Form::new(
                FormId::Convert,
                title("Convert"),
                &[
                    ("to", "peft".into()),
                    (
                        "output",
                        self.beside(format!("{stem}_converted.safetensors")),
                    ),
                ],
                "to: kohya or peft · the strength is unchanged (alpha kept)",
            ),
            MERGE => Form::new(
                FormId::Merge,
                title("Merge into a base checkpoint"),
                &[
                    ("base", String::new()),
                    ("strength", "1.0".into()),
                    ("output", self.beside(format!("{stem}_merged.safetensors"))),
                ],
                "base: an SD1.5/SDXL single file, a diffusers UNet or a Flux transformer",
            ),
            RESIZE => Form::new(
                FormId::Resize,
                title("Resize"),
                &[
                    ("rank", "16".into()),
                    ("output", self.beside(format!("{stem}_resized.safetensors"))),
                ],
                "rank: N, or sv_ratio=X, sv_fro=X, sv_cumulative=X · alpha recomputed, strength kept",
            ),
            MIX => Form::new(
                FormId::Mix,
                title("Mix with other LoRAs"),
                &[
                    ("this weight", "1.0".into()),
                    ("others", String::new()),
                    ("rank", String::new()),
                    ("output", self.beside(format!("{stem}_mixed.safetensors"))),
                ],
                "others: FILE[:weight], comma-separated · rank empty: exact (ranks stacked)",
            ),
            EXTRACT => Form::new(
                FormId::Extract,
                title("Extract a LoRA from two checkpoints"),
                &[
                    ("base", String::new()),
                    ("tuned", String::new()),
                    ("rank", "32".into()),
                    ("output", self.beside("extracted.safetensors".into())),
                ],
                "the difference tuned - base, reduced to the rank (f16 factors)",
            ),
            _ => return None,
        })
    }

    fn action(&mut self, action: &str) -> Effects {
        if let Some(step) = nav::step(action, 10) {
            let to = (i64::from(self.scroll) + step as i64).clamp(0, i64::from(u16::MAX));
            self.scroll = to as u16;
            return Vec::new();
        }
        if action == CLOSE {
            if self.operation.running() {
                // One operation at a time; closing asks it to stop first.
                self.operation.cancel();
                return Vec::new();
            }
            return vec![Effect::Close];
        }
        if let Some(f) = self.form(action) {
            self.popup = Some(Popup::Form(f));
        }
        Vec::new()
    }

    fn on_message(&mut self, msg: &mut Option<Msg>) -> Effects {
        if let Some(Update::Done(result)) = self.inspect.take(msg) {
            self.inspection = Some(result);
        }
        match self.operation.take(msg) {
            Some(Update::Done(result)) => {
                let (level, text) = match &result {
                    Ok(t) => (Level::Info, format!("{}: {t}", self.what)),
                    Err(e) => (Level::Error, format!("{}: {e}", self.what)),
                };
                self.outcome = Some(result);
                vec![Effect::status(level, text)]
            }
            _ => Vec::new(),
        }
    }
}

impl Drop for LoraScreen {
    fn drop(&mut self) {
        self.operation.cancel();
    }
}

impl Screen for LoraScreen {
    fn mode(&self) -> &'static str {
        MODE
    }

    fn title(&self) -> &'static str {
        "LoRA file"
    }

    fn commands(&self, _ctx: &DrawCtx) -> Vec<Command> {
        let busy = self.operation.running();
        let no_file = !matches!(self.inspection, Some(Ok(_)));
        let op = |action, desc, label, importance| {
            Command::new(action, desc)
                .bar(label, importance)
                .off_if(no_file, NO_FILE)
                .off_if(busy, BUSY)
        };
        let mut c = list_commands();
        c.extend([
            op(CONVERT, "convert kohya/peft", "convert", 1),
            op(MERGE, "merge into a base", "merge", 1),
            op(RESIZE, "resize the rank", "resize", 1),
            op(MIX, "mix with other LoRAs", "mix", 2),
            Command::new(EXTRACT, "extract from two checkpoints")
                .bar("extract", 2)
                .off_if(busy, BUSY),
            Command::new(OPEN, "open another file")
                .bar("open", 1)
                .off_if(busy, BUSY),
            Command::new(nav::HELP, "help").bar("help", 0),
            Command::new(
                CLOSE,
                if busy {
                    "cancel the running operation"
                } else {
                    "back to the browser"
                },
            )
            .bar(if busy { "cancel" } else { "back" }, 0),
        ]);
        c
    }

    fn event(&mut self, _ctx: &mut Ctx, event: Event) -> Effects {
        match event {
            Event::Key {
                action: Some(a), ..
            } => self.action(a),
            Event::Message(msg) => self.on_message(msg),
            _ => Vec::new(),
        }
    }

    fn draw(&self, frame: &mut Frame, body: Rect, ctx: &DrawCtx) {
        let t = ctx.theme;
        let [main, bottom] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(body);
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "no file".into());
        let lines = match &self.inspection {
            None if self.path.as_os_str().is_empty() => {
                vec![Line::styled("no file open yet", t.dim)]
            }
            None => vec![Line::styled("reading…", t.dim)],
            Some(Err(e)) => vec![Line::styled(e.clone(), t.error)],
            Some(Ok(i)) => inspection_lines(i, t),
        };
        let block = panel(Line::from(format!(" LoRA · {name} ")), true, t);
        frame.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false })
                .scroll((self.scroll, 0)),
            main,
        );
        let block = panel(Line::from(" Operation "), false, t);
        let room = block.inner(bottom);
        frame.render_widget(block, bottom);
        match &self.outcome {
            _ if self.operation.running() => {
                let p = self.operation.progress();
                let state = if self.operation.cancelling() {
                    "cancelling"
                } else {
                    self.what
                };
                let label = format!("{state}: {}/{} {}", p.done, p.total, p.item);
                gauge(frame, room, p.ratio(), label, t);
            }
            Some(Ok(text)) => {
                frame.render_widget(Line::styled(format!("done: {text}"), t.ok), room)
            }
            Some(Err(e)) => frame.render_widget(Line::styled(e.clone(), t.error), room),
            None => frame.render_widget(
                Line::styled("operations write their output beside the file", t.dim),
                room,
            ),
        }
    }

    crate::tui::screen::popup_slot!(popup);

    fn submit(&mut self, ctx: &mut Ctx, v: Values) -> Result<Effects, String> {
        let input = self.path.clone();
        let text = |e: args::ArgError| e.to_string();
        let (what, work): (&'static str, Work) = match v.id {
            FormId::LoraOpen => {
                let p = self.resolve(v.get(0));
                if !p.is_file() {
                    return Err(format!("no file at {}", p.display()));
                }
                self.path = p;
                self.outcome = None;
                self.start_inspect(ctx);
                return Ok(Vec::new());
            }
            FormId::Convert => {
                let to = match v.get(0) {
                    "kohya" => Target::Kohya,
                    "peft" => Target::Peft,
                    other => return Err(format!("to: `{other}`: use kohya or peft")),
                };
                let out = self.output(v.get(1))?;
                (
                    "convert",
                    Box::new(move |task: &mut Task<'_>| {
                        convert::convert(&input, &out, to, task)
                            .map(|r| {
                                format!(
                                    "{} modules from {} -> {}",
                                    r.modules,
                                    r.from,
                                    r.output.display()
                                )
                            })
                            .map_err(|e| e.to_string())
                    }),
                )
            }
            FormId::Merge => {
                let base = self.existing(v.get(0), "base")?;
                let strength = args::strength(v.get(1), "strength").map_err(text)?;
                let out = self.output(v.get(2))?;
                (
                    "merge",
                    Box::new(move |task: &mut Task<'_>| {
                        let inputs = [MergeInput {
                            path: input,
                            strength,
                        }];
                        merge::merge(&base, &inputs, &out, false, task)
                            .map(|r| {
                                format!(
                                    "{} modules into {} weights -> {}",
                                    r.modules_applied,
                                    r.weights_changed,
                                    r.output.display()
                                )
                            })
                            .map_err(|e| e.to_string())
                    }),
                )
            }
            FormId::Resize => {
                let rule = args::rank_rule(v.get(0)).map_err(text)?;
                let out = self.output(v.get(1))?;
                (
                    "resize",
                    Box::new(move |task: &mut Task<'_>| {
                        resize::resize_file(&input, &out, rule, None, None, task)
                            .map(|r| {
                                format!(
                                    "{} modules ({}), mean retained {:.1}% -> {}",
                                    r.modules.len(),
                                    r.rule,
                                    r.mean_fro * 100.0,
                                    r.output.display()
                                )
                            })
                            .map_err(|e| e.to_string())
                    }),
                )
            }
            FormId::Mix => {
                let weight = args::strength(v.get(0), "this weight").map_err(text)?;
                let mut inputs = vec![MixInput {
                    path: input,
                    weight,
                }];
                for part in v.get(1).split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (file, weight) = args::weighted_path(part).map_err(text)?;
                    inputs.push(MixInput {
                        path: self.existing(&file.to_string_lossy(), "LoRA")?,
                        weight,
                    });
                }
                if inputs.len() < 2 {
                    return Err("others: name at least one other LoRA".into());
                }
                let rank = match v.get(2) {
                    "" => None,
                    r => Some(args::rank(r, "rank").map_err(text)?),
                };
                let out = self.output(v.get(3))?;
                (
                    "mix",
                    Box::new(move |task: &mut Task<'_>| {
                        mix::mix_files(&inputs, &out, rank, None, None, task)
                            .map(|r| {
                                format!(
                                    "{} files into {} modules -> {}",
                                    inputs.len(),
                                    r.modules.len(),
                                    r.output.display()
                                )
                            })
                            .map_err(|e| e.to_string())
                    }),
                )
            }
            FormId::Extract => {
                let base = self.existing(v.get(0), "base")?;
                let tuned = self.existing(v.get(1), "tuned")?;
                let rank = args::rank(v.get(2), "rank").map_err(text)?;
                let out = self.output(v.get(3))?;
                let opts = ExtractFileOptions {
                    rank,
                    conv_rank: None,
                    method: SvdMethod::Auto,
                    clamp_quantile: None,
                    min_diff: 0.0,
                    dtype: Dtype::F16,
                };
                (
                    "extract",
                    Box::new(move |task: &mut Task<'_>| {
                        extract::extract_file(&base, &tuned, &out, &opts, task)
                            .map(|r| {
                                format!(
                                    "{} modules ({} unchanged) -> {}",
                                    r.modules.len(),
                                    r.unchanged,
                                    r.output.display()
                                )
                            })
                            .map_err(|e| e.to_string())
                    }),
                )
            }
            _ => return Ok(Vec::new()),
        };
        self.operation
            .start(ctx.tx, &format!("lora-{what}"), move |r: &Reporter<Msg>| {
                let mut task = Task::new(r.flag(), |step| {
                    r.progress(step.done, step.total, step.item);
                });
                work(&mut task)
            })?;
        self.what = what;
        self.outcome = None;
        Ok(Vec::new())
    }
}

// ----- drawing -----

/// The core's inspection rows, styled.
fn inspection_lines<'a>(i: &Inspection, t: &Theme) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    for section in report::sections(i, true) {
        if let Some(title) = &section.title {
            lines.push(Line::raw(""));
            lines.push(Line::styled(title.clone(), t.title));
        }
        // The file's name is the panel's title.
        for row in section.rows.into_iter().filter(|r| r.label != "file") {
            let style = match row.tone {
                Tone::Plain => t.base,
                Tone::Good => t.ok,
                Tone::Bad => t.error,
                Tone::Faint => t.dim,
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{:>14}  ", row.label), t.dim),
                Span::styled(row.value, style),
            ]));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::screens::testing::Bench;

    fn lora(s: &dyn Screen) -> &LoraScreen {
        s.as_any().downcast_ref().unwrap()
    }

    #[test]
    fn every_form_takes_relative_paths_from_the_dataset_folder_and_says_so() {
        let mut b = Bench::new(&[]);
        let sub = b.tmp.path().join("loras");
        std::fs::create_dir(&sub).unwrap();
        let file = sub.join("style.safetensors");
        std::fs::copy("tests/fixtures/lora/lora_kohya_meta.safetensors", &file).unwrap();
        let s = b.open(|ctx| open_file(ctx, file.clone()));
        let l = lora(&*s);
        for action in [OPEN, CONVERT, MERGE, RESIZE, MIX, EXTRACT] {
            let form = l.form(action).unwrap();
            assert!(
                form.title.contains("relative paths start in"),
                "{action}: {}",
                form.title
            );
        }
        let convert = l.form(CONVERT).unwrap().take_values();
        assert_eq!(convert.get(1), "loras/style_converted.safetensors");
        assert_eq!(
            l.resolve(convert.get(1)),
            sub.join("style_converted.safetensors")
        );
        assert_eq!(
            l.resolve("x.safetensors"),
            b.tmp.path().join("x.safetensors")
        );
        assert_eq!(
            l.form(OPEN).unwrap().take_values().get(0),
            "loras/style.safetensors"
        );
    }

    #[test]
    fn a_nan_strength_is_refused_in_the_form_and_nothing_runs() {
        let mut b = Bench::new(&[]);
        let file =
            std::fs::canonicalize("tests/fixtures/lora/lora_kohya_meta.safetensors").unwrap();
        let mut s = b.open(|ctx| open_file(ctx, file.clone()));
        b.pump(&mut *s, |s| lora(s).inspection.is_some());
        assert!(matches!(lora(&*s).inspection, Some(Ok(_))));
        b.key(&mut *s, MERGE);
        assert_eq!(crate::tui::screen::keyboard(&*s), "form");
        // base: an existing file; strength: NaN.
        b.type_text(&mut *s, &file.display().to_string());
        b.key(&mut *s, "next-field");
        for _ in 0..3 {
            b.backspace(&mut *s);
        }
        b.type_text(&mut *s, "NaN");
        b.key(&mut *s, "submit");
        assert_eq!(
            crate::tui::screen::keyboard(&*s),
            "form",
            "the form stays open"
        );
        assert!(!lora(&*s).running());
        match &lora(&*s).popup {
            Some(Popup::Form(f)) => {
                let e = f.error.as_deref().unwrap_or_default();
                assert!(e.contains("not a finite number"), "{e}");
            }
            _ => panic!("no form"),
        }
    }

    #[test]
    fn operations_are_disabled_while_one_runs_or_no_file_is_open() {
        let mut b = Bench::new(&[]);
        let mut s = b.open(open);
        assert_eq!(
            crate::tui::screen::keyboard(&*s),
            "form",
            "it asks which file first"
        );
        b.key(&mut *s, "cancel");
        let cmds = b.commands(&*s);
        let merge = cmds.iter().find(|c| c.action == MERGE).unwrap();
        assert_eq!(merge.disabled, Some(NO_FILE));
        // With a file open, an operation disables the others until it ends (the output goes
        // beside the file: a copy in the bench's folder).
        let file = b.tmp.path().join("style.safetensors");
        std::fs::copy("tests/fixtures/lora/lora_kohya_meta.safetensors", &file).unwrap();
        let mut s = b.open(|ctx| open_file(ctx, file.clone()));
        b.pump(&mut *s, |s| lora(s).inspection.is_some());
        b.key(&mut *s, CONVERT);
        b.key(&mut *s, "submit");
        assert!(lora(&*s).running());
        let cmds = b.commands(&*s);
        let resize = cmds.iter().find(|c| c.action == RESIZE).unwrap();
        assert_eq!(resize.disabled, Some(BUSY));
        b.pump(&mut *s, |s| !lora(s).running());
        assert!(
            matches!(lora(&*s).outcome, Some(Ok(_))),
            "{:?}",
            lora(&*s).outcome
        );
    }
}
