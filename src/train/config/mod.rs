//! The one training config (YAML): schema, presets, layering (`--preset`, then `--config FILE`,
//! then each `--set key.path=value`, then the command-line flags), and validation that names the
//! file, line, column and key of every problem.

mod error;
pub mod presets;
mod schema;
pub mod user;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, Problem, Source, nearest};
pub use schema::{
    BucketsConfig, DatasetConfig, LauncherConfig, ModelConfig, NetworkConfig, Optimizer, Precision,
    ProgressFormat, SampleConfig, SaveConfig, Scheduler, TrainConfig, TrainSection,
};
pub use user::{TrainerInstall, UserConfig};

use crate::train::TrainerId;

/// One config layer as read, kept for error locations.
#[derive(Debug, Clone)]
pub struct Layer {
    pub source: Source,
    /// The YAML text the layer was parsed from (empty for command-line flags).
    pub text: String,
    pub config: TrainConfig,
    /// Keys this layer clears (`--set key=null`), so a preset's value can be taken away.
    pub unset: Vec<String>,
}

impl Layer {
    /// Parses one YAML layer. Relative paths are taken from `base`.
    pub fn parse(source: Source, text: String, base: &Path) -> Result<Layer, Problem> {
        let mut config = if is_blank(&text) {
            TrainConfig::default()
        } else {
            serde_saphyr::from_str::<TrainConfig>(&text)
                .map_err(|err| yaml_problem(&source, &text, &err))?
        };
        config.anchor_paths(base);
        Ok(Layer {
            source,
            text,
            config,
            unset: Vec::new(),
        })
    }

    /// A `--set key.path=value` layer. The value is read as YAML (so `[0, 1]` is a list and
    /// `1e-4` a number); relative paths are taken from the current folder.
    pub fn from_set(arg: &str, cwd: &Path) -> Result<Layer, ConfigError> {
        let bad = || ConfigError::BadSet {
            arg: arg.to_string(),
        };
        let (key, value) = arg.split_once('=').ok_or_else(bad)?;
        let key = key.trim();
        let parts: Vec<&str> = key.split('.').collect();
        let key_ok = |p: &&str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !parts.iter().all(key_ok) || value.contains(['\n', '\r']) {
            return Err(bad());
        }
        let mut text = String::new();
        for (depth, part) in parts.iter().enumerate() {
            text.push_str(&"  ".repeat(depth));
            text.push_str(part);
            text.push(':');
            text.push(if depth + 1 == parts.len() { ' ' } else { '\n' });
        }
        text.push_str(value);
        text.push('\n');
        let source = Source::Arg(format!("--set {arg}"));
        let mut layer = Layer::parse(source, text, cwd).map_err(|mut p| {
            // Line numbers of the generated text mean nothing to the user.
            p.line = None;
            p.column = None;
            p.key = p.key.or_else(|| Some(key.to_string()));
            ConfigError::one(p)
        })?;
        if matches!(value.trim(), "" | "null" | "~") {
            layer.unset.push(key.to_string());
        }
        Ok(layer)
    }

    /// Whether this layer sets the dotted key.
    fn sets(&self, key: &str) -> bool {
        let Ok(value) = serde_json::to_value(&self.config) else {
            return false;
        };
        let pointer = format!("/{}", key.replace('.', "/"));
        value.pointer(&pointer).is_some_and(|v| !v.is_null())
    }
}

fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---"
    })
}

/// Turns serde-saphyr's error into a problem with the key and the nearest valid name.
fn yaml_problem(source: &Source, text: &str, err: &serde_saphyr::Error) -> Problem {
    let loc = err.location();
    let line = loc.map(|l| l.line()).filter(|l| *l > 0);
    let column = loc.map(|l| l.column()).filter(|c| *c > 0);
    let key = line.and_then(|l| error::key_path_at(text, l));
    let message = match err.without_snippet() {
        serde_saphyr::Error::SerdeUnknownField {
            field, expected, ..
        } => format!(
            "unknown key `{field}`{}; expected one of: {}",
            error::hint(&nearest(field, expected.iter().copied())),
            expected.join(", ")
        ),
        serde_saphyr::Error::SerdeUnknownVariant {
            variant, expected, ..
        } => format!(
            "unknown value `{variant}`{}; expected one of: {}",
            error::hint(&nearest(variant, expected.iter().copied())),
            expected.join(", ")
        ),
        other => first_line(&other.to_string()),
    };
    Problem {
        source: Some(source.clone()),
        line,
        column,
        key,
        message,
    }
}

/// serde-saphyr's message without its own location suffix (we print ours in front).
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    match line.find(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}

/// What to merge, lowest first: `preset`, `config_file`, each of `sets`, then `overrides`
/// (command-line flags such as `--dataset`, each named by its flag).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub preset: Option<String>,
    pub config_file: Option<PathBuf>,
    pub sets: Vec<String>,
    pub overrides: Vec<(String, TrainConfig)>,
    /// User presets (`NAME.yaml`) that win over the built-in ones of the same name.
    pub presets_dir: Option<PathBuf>,
    /// Where relative paths in `--set` and flags are taken from.
    pub cwd: PathBuf,
}

/// The merged config and the layers it came from (for error locations).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub config: TrainConfig,
    pub layers: Vec<Layer>,
}

impl Resolved {
    /// A problem about `key`, located in the last layer that set it.
    pub fn problem(&self, key: &str, message: impl Into<String>) -> Problem {
        let layer = self.layers.iter().rev().find(|l| l.sets(key));
        // A `--set` layer's text is generated: its lines mean nothing to the user.
        let (line, column) = layer
            .filter(|l| !matches!(l.source, Source::Arg(_)))
            .and_then(|l| error::locate(&l.text, key))
            .map_or((None, None), |(l, c)| (Some(l), Some(c)));
        Problem {
            source: layer.map(|l| l.source.clone()),
            line,
            column,
            key: Some(key.to_string()),
            message: message.into(),
        }
    }

    /// Checks of the merged values that need nothing outside the config.
    pub fn check(&self) -> Result<(), ConfigError> {
        let problems = check_values(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// Merges the layers of `request`; every layer's problems are reported together.
pub fn resolve_request(request: &Request) -> Result<Resolved, ConfigError> {
    let mut read: Vec<Result<Layer, ConfigError>> = Vec::new();
    if let Some(name) = &request.preset {
        match presets::load(name, request.presets_dir.as_deref()) {
            Err(e @ (ConfigError::UnknownPreset { .. } | ConfigError::Io { .. })) => return Err(e),
            other => read.push(other),
        }
    }
    if let Some(path) = &request.config_file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        let base = path
            .parent()
            .map(|p| request.cwd.join(p))
            .unwrap_or_else(|| request.cwd.clone());
        read.push(Layer::parse(Source::File(path.clone()), text, &base).map_err(ConfigError::one));
    }
    for arg in &request.sets {
        read.push(Layer::from_set(arg, &request.cwd));
    }
    for (flag, config) in &request.overrides {
        let mut config = config.clone();
        config.anchor_paths(&request.cwd);
        read.push(Ok(Layer {
            source: Source::Arg(flag.clone()),
            text: String::new(),
            config,
            unset: Vec::new(),
        }));
    }
    let mut layers = Vec::new();
    let mut problems = Vec::new();
    for r in read {
        match r {
            Ok(l) => layers.push(l),
            Err(ConfigError::Invalid(p)) => problems.extend(p),
            Err(other) => problems.push(Problem {
                source: None,
                line: None,
                column: None,
                key: None,
                message: other.to_string(),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    let mut config = TrainConfig::default();
    for layer in &layers {
        if layer.config.train.steps.is_some() && layer.config.train.epochs.is_some() {
            problems.push(Problem {
                source: Some(layer.source.clone()),
                line: error::locate(&layer.text, "train.epochs").map(|(l, _)| l),
                column: error::locate(&layer.text, "train.epochs").map(|(_, c)| c),
                key: Some("train.epochs".into()),
                message: "set train.steps or train.epochs, not both".into(),
            });
        }
        config.merge(layer.config.clone());
        for key in &layer.unset {
            config.clear(key);
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    Ok(Resolved { config, layers })
}

/// `resolve_request` with the user presets folder and the current folder filled in.
pub fn resolve(
    preset: Option<&str>,
    config_file: Option<&Path>,
    sets: &[String],
) -> Result<Resolved, ConfigError> {
    resolve_request(&Request {
        preset: preset.map(str::to_string),
        config_file: config_file.map(Path::to_path_buf),
        sets: sets.to_vec(),
        overrides: Vec::new(),
        presets_dir: user::config_dir().map(|d| d.join("presets")),
        cwd: std::env::current_dir().unwrap_or_default(),
    })
}

fn check_values(r: &Resolved) -> Vec<Problem> {
    let c = &r.config;
    let mut out = Vec::new();
    let mut bad = |key: &str, msg: &str| out.push(r.problem(key, msg));
    let no_dataset = "no dataset: set dataset.path or pass --dataset FOLDER";
    match c.backend_id() {
        // The builtin backend checks the base itself: a diffusers folder, or the tiny
        // preset's random model.
        TrainerId::Builtin => {
            if c.dataset.path.is_none() {
                bad("dataset.path", no_dataset);
            }
        }
        TrainerId::Command => {
            if c.command.as_ref().is_none_or(|argv| argv.is_empty()) {
                bad(
                    "command",
                    "the command backend needs `command: [program, args...]`",
                );
            }
        }
        _ => {
            if c.model.base.is_none() {
                bad(
                    "model.base",
                    "no base model: set model.base or pass --base FILE|FOLDER",
                );
            }
            if c.dataset.path.is_none() {
                bad("dataset.path", no_dataset);
            }
        }
    }
    if c.backend != Some(TrainerId::Command) && (c.command.is_some() || c.progress.is_some()) {
        let key = if c.command.is_some() {
            "command"
        } else {
            "progress"
        };
        bad(
            key,
            "only the command backend runs `command` / reads `progress`",
        );
    }
    for (key, value) in [
        ("name", c.name.as_deref()),
        ("save.file_name", c.save.file_name.as_deref()),
    ] {
        if let Some(v) = value
            && (v.is_empty() || v.contains(['/', '\0']) || v == "." || v == "..")
        {
            bad(key, "must be a plain file name (no `/`)");
        }
    }
    let positive_u = [
        ("network.rank", c.network.rank.map(u64::from)),
        ("network.conv_rank", c.network.conv_rank.map(u64::from)),
        ("train.steps", c.train.steps),
        ("train.epochs", c.train.epochs),
        ("train.batch_size", c.train.batch_size.map(u64::from)),
        ("train.grad_accum", c.train.grad_accum.map(u64::from)),
        ("dataset.resolution", c.dataset.resolution.map(u64::from)),
        ("dataset.repeats", c.dataset.repeats.map(u64::from)),
        (
            "dataset.buckets.step",
            c.dataset.buckets.step.map(u64::from),
        ),
        ("save.every_n_steps", c.save.every_n_steps),
        ("save.every_n_epochs", c.save.every_n_epochs),
        ("save.keep_last", c.save.keep_last.map(u64::from)),
        ("sample.every_n_steps", c.sample.every_n_steps),
        ("sample.steps", c.sample.steps.map(u64::from)),
        ("launcher.processes", c.launcher.processes.map(u64::from)),
    ];
    for (key, v) in positive_u {
        if v == Some(0) {
            bad(key, "must be at least 1");
        }
    }
    let floats = [
        ("network.alpha", c.network.alpha, 0.0, f64::MAX, false),
        (
            "network.conv_alpha",
            c.network.conv_alpha,
            0.0,
            f64::MAX,
            false,
        ),
        ("network.dropout", c.network.dropout, 0.0, 1.0, true),
        ("train.lr", c.train.lr, 0.0, 1.0, false),
        (
            "train.text_encoder_lr",
            c.train.text_encoder_lr,
            0.0,
            1.0,
            true,
        ),
        (
            "train.caption_dropout",
            c.train.caption_dropout,
            0.0,
            1.0,
            true,
        ),
        ("train.noise_offset", c.train.noise_offset, 0.0, 1.0, true),
        (
            "train.min_snr_gamma",
            c.train.min_snr_gamma,
            0.0,
            100.0,
            false,
        ),
    ];
    for (key, v, lo, hi, zero_ok) in floats {
        if let Some(v) = v {
            let ok = v.is_finite() && v <= hi && (v > lo || (zero_ok && v == lo));
            if !ok {
                let low = if zero_ok { "from" } else { "above" };
                bad(key, &format!("must be a number {low} {lo} up to {hi}"));
            }
        }
    }
    if let Some(res) = c.dataset.resolution
        && (res < 64 || res % 8 != 0)
    {
        bad("dataset.resolution", "must be a multiple of 8, at least 64");
    }
    let b = &c.dataset.buckets;
    if let (Some(min), Some(max)) = (b.min, b.max)
        && min > max
    {
        bad("dataset.buckets.min", "is larger than dataset.buckets.max");
    }
    if let (Some(n), Some(ids)) = (c.launcher.processes, &c.launcher.gpu_ids)
        && n as usize > ids.len()
        && !ids.is_empty()
    {
        bad(
            "launcher.processes",
            &format!(
                "{n} processes on {} GPU id(s) in launcher.gpu_ids",
                ids.len()
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests;
