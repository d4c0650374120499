//! The Train screen's config form as data: the preset, the backend and the main keys, turned
//! into the same [`Request`] `lorabench train` builds from its flags (`--preset`, `--config`,
//! `--set KEY=VALUE`, `--dataset`, `--base`, `--backend`, `--name`), and checked by the same
//! core functions, so every message reads as the CLI's would.

use std::path::PathBuf;

use ratatui_textarea::TextArea;

use crate::dataset::buckets::Model;
use crate::train::TrainerId;
use crate::train::config::{self, ConfigError, Problem, Request, Resolved, TrainConfig};
use crate::train::prepare::{self, PrepareError};
use crate::tui::widgets::line_input;

/// The text fields: config key and label. `model.base` and `name` go in as the CLI's `--base`
/// and `--name` (a path needs no YAML quoting); the rest as `--set KEY=VALUE`, read as YAML
/// (`1e-4` a number, `[python, train.py]` a list).
pub const TEXT_FIELDS: &[(&str, &str)] = &[
    ("model.base", "base model"),
    ("name", "run name"),
    ("train.steps", "steps"),
    ("train.lr", "learning rate"),
    ("network.rank", "rank"),
    ("network.alpha", "alpha"),
    ("dataset.resolution", "resolution"),
    ("train.batch_size", "batch size"),
    ("save.every_n_steps", "save every"),
    ("sample.every_n_steps", "sample every"),
    ("command", "command"),
];

/// Rows before the text fields: the preset and the backend.
pub const CHOICES: usize = 2;

pub const BACKENDS: &[TrainerId] = &[
    TrainerId::Builtin,
    TrainerId::Kohya,
    TrainerId::AiToolkit,
    TrainerId::Diffusers,
    TrainerId::Simpletuner,
    TrainerId::Onetrainer,
    TrainerId::Command,
];

pub struct TextField {
    pub key: &'static str,
    pub label: &'static str,
    pub input: TextArea<'static>,
}

impl TextField {
    pub fn text(&self) -> String {
        line_input::text(&self.input).trim().to_string()
    }
}

/// What the form holds.
pub struct ConfigForm {
    pub dataset: PathBuf,
    pub presets: Vec<String>,
    /// Index into `presets`; `None`: no preset (the config file and fields alone).
    pub preset: Option<usize>,
    /// `None`: the preset's (or the loaded file's) backend.
    pub backend: Option<TrainerId>,
    /// A YAML loaded on top of the preset (`--config FILE`).
    pub config_file: Option<PathBuf>,
    pub fields: Vec<TextField>,
    pub presets_dir: Option<PathBuf>,
    pub cwd: PathBuf,
}

/// The form checked: the merged config when it merged, and every problem found.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub resolved: Option<Resolved>,
    pub family: Option<Model>,
    pub problems: Vec<Problem>,
    /// Notes that do not block (an unreadable base trusted to be the declared family).
    pub warnings: Vec<String>,
}

impl Checked {
    pub fn ok(&self) -> bool {
        self.resolved.is_some() && self.problems.is_empty()
    }

    /// Problems about `key`.
    pub fn about<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Problem> + 'a {
        self.problems
            .iter()
            .filter(move |p| p.key.as_deref() == Some(key))
    }
}

fn general(message: String) -> Problem {
    Problem {
        source: None,
        line: None,
        column: None,
        key: None,
        message,
    }
}

fn problems_of(e: ConfigError) -> Vec<Problem> {
    match e {
        ConfigError::Invalid(p) => p,
        other => vec![general(other.to_string())],
    }
}

impl ConfigForm {
    /// A form on `dataset` starting from the preset `tiny` (or the first one there is).
    pub fn new(dataset: PathBuf, presets_dir: Option<PathBuf>, cwd: PathBuf) -> ConfigForm {
        let presets = config::presets::names(presets_dir.as_deref());
        let preset = presets
            .iter()
            .position(|p| p == "tiny")
            .or((!presets.is_empty()).then_some(0));
        ConfigForm {
            dataset,
            presets,
            preset,
            backend: None,
            config_file: None,
            fields: TEXT_FIELDS
                .iter()
                .map(|&(key, label)| TextField {
                    key,
                    label,
                    input: line_input::new(""),
                })
                .collect(),
            presets_dir,
            cwd,
        }
    }

    pub fn preset_name(&self) -> Option<&str> {
        self.presets.get(self.preset?).map(String::as_str)
    }

    /// Puts `text` in the field for `key` (a chosen base model); `false` if there is none.
    pub fn set(&mut self, key: &str, text: &str) -> bool {
        match self.fields.iter_mut().find(|f| f.key == key) {
            Some(f) => {
                f.input = line_input::new(text);
                true
            }
            None => false,
        }
    }

    pub fn field(&self, key: &str) -> Option<&TextField> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// Moves the preset or the backend choice by one; "none" comes after the last preset and
    /// before the first backend.
    pub fn cycle(&mut self, row: usize, forward: bool) {
        match row {
            0 => {
                let n = self.presets.len();
                let i = self.preset.unwrap_or(n);
                self.preset = Some(step(i, n + 1, forward)).filter(|&j| j < n);
            }
            1 => {
                let i = self
                    .backend
                    .and_then(|b| BACKENDS.iter().position(|x| *x == b))
                    .map_or(0, |i| i + 1);
                let j = step(i, BACKENDS.len() + 1, forward);
                self.backend = j.checked_sub(1).and_then(|j| BACKENDS.get(j).copied());
            }
            _ => {}
        }
    }

    /// The flags as the CLI's config layers, each named by its flag.
    fn overrides(&self) -> Vec<(String, TrainConfig)> {
        let mut out = Vec::new();
        let mut c = TrainConfig::default();
        c.dataset.path = Some(self.dataset.clone());
        out.push((format!("--dataset {}", self.dataset.display()), c));
        if let Some(b) = self.backend {
            let c = TrainConfig {
                backend: Some(b),
                ..TrainConfig::default()
            };
            out.push((format!("--backend {b}"), c));
        }
        if let Some(base) = self.field("model.base").map(TextField::text)
            && !base.is_empty()
        {
            let mut c = TrainConfig::default();
            c.model.base = Some(PathBuf::from(&base));
            out.push((format!("--base {base}"), c));
        }
        if let Some(name) = self.field("name").map(TextField::text)
            && !name.is_empty()
        {
            let c = TrainConfig {
                name: Some(name.clone()),
                ..TrainConfig::default()
            };
            out.push((format!("--name {name}"), c));
        }
        out
    }

    /// The `--set` arguments of the fields that hold text.
    fn sets(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| !matches!(f.key, "model.base" | "name"))
            .filter_map(|f| {
                let v = f.text();
                (!v.is_empty()).then(|| format!("{}={v}", f.key))
            })
            .collect()
    }

    /// What `lorabench train` would be given for this form.
    pub fn request(&self) -> Request {
        Request {
            preset: self.preset_name().map(str::to_string),
            config_file: self.config_file.clone(),
            sets: self.sets(),
            overrides: self.overrides(),
            presets_dir: self.presets_dir.clone(),
            cwd: self.cwd.clone(),
        }
    }

    /// The same form as a `lorabench train` command line (shown with the plan).
    pub fn command_line(&self) -> String {
        let mut words = vec!["lorabench".to_string(), "train".into()];
        if let Some(p) = self.preset_name() {
            words.extend(["--preset".into(), p.to_string()]);
        }
        if let Some(f) = &self.config_file {
            words.extend(["--config".into(), f.display().to_string()]);
        }
        for s in self.sets() {
            words.extend(["--set".into(), s]);
        }
        for (flag, _) in self.overrides() {
            words.push(flag);
        }
        words.join(" ")
    }

    /// Checks the form as typed: the layers merge ([`config::resolve_request`]), the merged
    /// values ([`Resolved::check`]) and the base model ([`prepare::family_of`]). The dataset's
    /// lint and the backend's plan are checked by [`prepare::prepare`] before a plan or launch.
    pub fn check(&self) -> Checked {
        let mut out = Checked::default();
        let resolved = match config::resolve_request(&self.request()) {
            Ok(r) => r,
            Err(e) => {
                out.problems = problems_of(e);
                return out;
            }
        };
        if let Err(e) = resolved.check() {
            out.problems.extend(problems_of(e));
        }
        match prepare::family_of(&resolved) {
            Ok((family, warning)) => {
                out.family = Some(family);
                out.warnings.extend(warning);
            }
            Err(PrepareError::Config(e)) => out.problems.extend(problems_of(e)),
            Err(e) => out.problems.push(general(e.to_string())),
        }
        out.resolved = Some(resolved);
        out
    }
}

/// `i` moved by one in a ring of `n`.
fn step(i: usize, n: usize, forward: bool) -> usize {
    match (n, forward) {
        (0, _) => 0,
        (_, true) => (i + 1) % n,
        (_, false) => (i + n - 1) % n,
    }
}

/// The merged config's value at a dotted key, as one line (`120`, `0.003`, `[a, b]`).
pub fn value_at(config: &TrainConfig, key: &str) -> Option<String> {
    let value = serde_json::to_value(config).ok()?;
    let v = value.pointer(&format!("/{}", key.replace('.', "/")))?;
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}
