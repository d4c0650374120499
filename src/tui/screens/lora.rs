//! The LoRA screen: one file's inspection, and convert / merge / resize / mix / extract run
//! from a small form on a worker thread, with a gauge fed by the core's progress callback and
//! Esc setting its cancel flag.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::lora::convert::{self, Target};
use crate::lora::extract::{self, ExtractFileOptions, SvdMethod};
use crate::lora::inspect::{self, Inspection};
use crate::lora::lowrank::RankRule;
use crate::lora::merge::{self, MergeInput};
use crate::lora::mix::{self, MixInput};
use crate::lora::progress::Task;
use crate::lora::resize;
use crate::lora::safetensors::Dtype;

use super::form::{Form, FormId, Values};
use super::{Screen, ScreenMsg, set_status};
use crate::tui::app::{App, Level};
use crate::tui::keymap::Action;

#[derive(Debug)]
pub enum LoraMsg {
    Inspected {
        generation: u64,
        result: Box<Result<Inspection, String>>,
    },
    Progress {
        job: u64,
        done: u64,
        total: u64,
        item: String,
    },
    Finished {
        job: u64,
        result: Result<String, String>,
    },
}

/// An operation running on the worker.
pub struct Job {
    pub what: &'static str,
    pub done: u64,
    pub total: u64,
    /// What it works on now (a tensor or module name).
    pub item: String,
    pub cancelling: bool,
    id: u64,
    cancel: Arc<AtomicBool>,
}

pub struct LoraScreen {
    pub path: PathBuf,
    pub inspection: Option<Result<Inspection, String>>,
    pub job: Option<Job>,
    /// How the last operation ended.
    pub outcome: Option<Result<String, String>>,
    pub form: Option<Form>,
    pub scroll: u16,
    generation: u64,
    jobs: u64,
}

impl LoraScreen {
    pub fn stop(&self) {
        if let Some(j) = &self.job {
            j.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// The folder outputs are written to when a form names a bare file.
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

    /// A path typed in a form: relative ones are taken from the LoRA's folder.
    fn resolve(&self, text: &str) -> PathBuf {
        let p = PathBuf::from(text);
        if p.is_absolute() {
            p
        } else {
            self.folder().join(p)
        }
    }
}

fn screen(app: &mut App) -> Option<&mut LoraScreen> {
    match app.screen.as_mut() {
        Some(Screen::Lora(s)) => Some(s),
        _ => None,
    }
}

/// Opens the LoRA screen on `path` and inspects it in the background.
pub fn open(app: &mut App, path: PathBuf) {
    super::close(app);
    app.screen = Some(Screen::Lora(Box::new(LoraScreen {
        path,
        inspection: None,
        job: None,
        outcome: None,
        form: None,
        scroll: 0,
        generation: 0,
        jobs: 0,
    })));
    start_inspect(app);
}

/// Opens the LoRA screen with the "which file" form (from the browser).
pub fn open_prompt(app: &mut App) {
    open(app, PathBuf::new());
    if let Some(s) = screen(app) {
        s.form = Some(open_form(String::new()));
    }
}

fn open_form(current: String) -> Form {
    Form::new(
        FormId::LoraOpen,
        "Open a LoRA file",
        &[("file", current)],
        "a .safetensors path (relative to the dataset folder, or absolute)",
    )
}

fn start_inspect(app: &mut App) {
    let tx = app.tx.clone();
    let Some(s) = screen(app) else { return };
    s.generation += 1;
    s.inspection = None;
    s.scroll = 0;
    if s.path.as_os_str().is_empty() || s.path.is_dir() {
        return;
    }
    let (generation, path) = (s.generation, s.path.clone());
    let _ = std::thread::Builder::new()
        .name("lora-inspect".into())
        .spawn(move || {
            let result = inspect::inspect(&path).map_err(|e| e.to_string());
            let _ = tx.send(
                ScreenMsg::Lora(LoraMsg::Inspected {
                    generation,
                    result: Box::new(result),
                })
                .into(),
            );
        });
}

pub fn on_msg(app: &mut App, msg: LoraMsg) {
    let Some(s) = screen(app) else { return };
    match msg {
        LoraMsg::Inspected { generation, result } if generation == s.generation => {
            s.inspection = Some(*result);
        }
        LoraMsg::Progress {
            job,
            done,
            total,
            item,
        } => {
            if let Some(j) = s.job.as_mut().filter(|j| j.id == job) {
                (j.done, j.total, j.item) = (done, total, item);
            }
        }
        LoraMsg::Finished { job, result } if s.job.as_ref().is_some_and(|j| j.id == job) => {
            let what = s.job.take().map_or("", |j| j.what);
            let (level, text) = match &result {
                Ok(t) => (Level::Info, format!("{what}: {t}")),
                Err(e) => (Level::Error, format!("{what}: {e}")),
            };
            s.outcome = Some(result);
            set_status(app, level, text);
        }
        _ => {}
    }
}

pub fn on_action(app: &mut App, action: Action) {
    let Some(s) = screen(app) else { return };
    if s.job.is_some() {
        // One operation at a time; Esc is the only thing that acts on it.
        if matches!(action, Action::Close | Action::Escape)
            && let Some(j) = s.job.as_mut()
        {
            j.cancel.store(true, Ordering::Relaxed);
            j.cancelling = true;
        }
        return;
    }
    let stem = s.stem();
    let form = match action {
        Action::Down => {
            s.scroll = s.scroll.saturating_add(1);
            None
        }
        Action::Up => {
            s.scroll = s.scroll.saturating_sub(1);
            None
        }
        Action::PageDown => {
            s.scroll = s.scroll.saturating_add(10);
            None
        }
        Action::PageUp => {
            s.scroll = s.scroll.saturating_sub(10);
            None
        }
        Action::OpenLora => Some(open_form(s.path.display().to_string())),
        Action::Convert => Some(Form::new(
            FormId::Convert,
            "Convert",
            &[
                ("to", "peft".into()),
                ("output", format!("{stem}_converted.safetensors")),
            ],
            "to: kohya or peft · the strength is unchanged (alpha kept)",
        )),
        Action::Merge => Some(Form::new(
            FormId::Merge,
            "Merge into a base checkpoint",
            &[
                ("base", String::new()),
                ("strength", "1.0".into()),
                ("output", format!("{stem}_merged.safetensors")),
            ],
            "base: an SD1.5/SDXL single file, a diffusers UNet or a Flux transformer",
        )),
        Action::Resize => Some(Form::new(
            FormId::Resize,
            "Resize",
            &[
                ("rank", "16".into()),
                ("output", format!("{stem}_resized.safetensors")),
            ],
            "rank: N, or sv_ratio=X, sv_fro=X, sv_cumulative=X · alpha recomputed, strength kept",
        )),
        Action::Mix => Some(Form::new(
            FormId::Mix,
            "Mix with other LoRAs",
            &[
                ("this weight", "1.0".into()),
                ("others", String::new()),
                ("rank", String::new()),
                ("output", format!("{stem}_mixed.safetensors")),
            ],
            "others: FILE[:weight], comma-separated · rank empty: exact (ranks stacked)",
        )),
        Action::Extract => Some(Form::new(
            FormId::Extract,
            "Extract a LoRA from two checkpoints",
            &[
                ("base", String::new()),
                ("tuned", String::new()),
                ("rank", "32".into()),
                ("output", "extracted.safetensors".into()),
            ],
            "the difference tuned - base, reduced to the rank (f16 factors)",
        )),
        Action::Close | Action::Escape => {
            super::close(app);
            return;
        }
        _ => None,
    };
    if let Some(f) = form {
        s.form = Some(f);
    }
}

fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{what}: `{text}` is not a number"))
}

/// A file a form names, which must exist.
fn existing(s: &LoraScreen, text: &str, what: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err(format!("give the {what} file"));
    }
    let p = s.resolve(text);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!("{what}: no file at {}", p.display()))
    }
}

/// An output path a form names: not empty, not the input.
fn output(s: &LoraScreen, text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("give the output file".into());
    }
    let p = s.resolve(text);
    if p == s.path {
        return Err("the output would overwrite the open file".into());
    }
    Ok(p)
}

/// One operation, ready to run on the worker.
type Work = Box<dyn FnOnce(&mut Task<'_>) -> Result<String, String> + Send>;

pub fn submit(app: &mut App, v: Values) -> Result<(), String> {
    let Some(s) = screen(app) else { return Ok(()) };
    let input = s.path.clone();
    let (what, work): (&'static str, Work) = match v.id {
        FormId::LoraOpen => {
            let p = PathBuf::from(v.get(0));
            let p = if p.is_absolute() {
                p
            } else {
                app.dataset.root.join(p)
            };
            if !p.is_file() {
                return Err(format!("no file at {}", p.display()));
            }
            let s = screen(app).ok_or_else(String::new)?;
            s.path = p;
            s.outcome = None;
            start_inspect(app);
            return Ok(());
        }
        FormId::Convert => {
            let to = match v.get(0) {
                "kohya" => Target::Kohya,
                "peft" => Target::Peft,
                other => return Err(format!("to: `{other}`: use kohya or peft")),
            };
            let out = output(s, v.get(1))?;
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
            let base = existing(s, v.get(0), "base")?;
            let strength: f32 = number(v.get(1), "strength")?;
            let out = output(s, v.get(2))?;
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
            let rule = match v.get(0).parse::<usize>() {
                Ok(n) => RankRule::Fixed(n),
                Err(_) => v.get(0).parse::<RankRule>().map_err(|e| e.to_string())?,
            };
            let out = output(s, v.get(1))?;
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
            let weight: f32 = number(v.get(0), "this weight")?;
            let mut inputs = vec![MixInput {
                path: input,
                weight,
            }];
            for part in v.get(1).split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (file, w) = match part.rsplit_once(':') {
                    Some((f, w)) if w.parse::<f32>().is_ok() => (f, number(w, "weight")?),
                    _ => (part, 1.0),
                };
                inputs.push(MixInput {
                    path: existing(s, file, "LoRA")?,
                    weight: w,
                });
            }
            if inputs.len() < 2 {
                return Err("others: name at least one other LoRA".into());
            }
            let rank = match v.get(2) {
                "" => None,
                r => Some(number::<usize>(r, "rank")?),
            };
            let out = output(s, v.get(3))?;
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
            let base = existing(s, v.get(0), "base")?;
            let tuned = existing(s, v.get(1), "tuned")?;
            let rank: usize = number(v.get(2), "rank")?;
            let out = output(s, v.get(3))?;
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
        _ => return Ok(()),
    };
    run_job(app, what, work)
}

fn run_job(app: &mut App, what: &'static str, work: Work) -> Result<(), String> {
    let tx = app.tx.clone();
    let Some(s) = screen(app) else { return Ok(()) };
    s.jobs += 1;
    let cancel = Arc::new(AtomicBool::new(false));
    let (id, flag) = (s.jobs, cancel.clone());
    std::thread::Builder::new()
        .name(format!("lora-{what}"))
        .spawn(move || {
            let progress = tx.clone();
            let mut task = Task::new(&flag, |step| {
                let _ = progress.send(
                    ScreenMsg::Lora(LoraMsg::Progress {
                        job: id,
                        done: step.done,
                        total: step.total,
                        item: step.item.to_string(),
                    })
                    .into(),
                );
            });
            let result = work(&mut task);
            let _ = tx.send(ScreenMsg::Lora(LoraMsg::Finished { job: id, result }).into());
        })
        .map_err(|e| format!("cannot start the worker: {e}"))?;
    s.outcome = None;
    s.job = Some(Job {
        what,
        done: 0,
        total: 0,
        item: String::new(),
        cancelling: false,
        id,
        cancel,
    });
    Ok(())
}
