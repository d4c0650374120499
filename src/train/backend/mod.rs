//! One module per trainer, each turning the config into the trainer's own files and argv
//! (a [`LaunchPlan`]). Every config key a backend does not map is refused by name
//! ([`PlanError::Unsupported`]), never dropped.

pub mod ai_toolkit;
pub mod builtin;
pub mod command;
pub mod diffusers;
pub mod kohya;
pub mod onetrainer;
pub mod simpletuner;
mod toml;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::dataset::buckets::Model;
use crate::train::config::{TrainConfig, UserConfig};
use crate::train::snapshot::SnapshotPlan;
use crate::train::{GeneratedFile, LaunchPlan, TrainerId};

/// Where a run's parts live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPaths {
    pub run_dir: PathBuf,
    /// The snapshot the trainer reads.
    pub dataset_dir: PathBuf,
    pub output_dir: PathBuf,
    /// TensorBoard and other structured logs.
    pub logs_dir: PathBuf,
}

impl RunPaths {
    /// The standard layout (DESIGN.md, "Run folder"); `save.output_dir` moves `output/`.
    pub fn new(run_dir: &Path, config: &TrainConfig) -> RunPaths {
        RunPaths {
            run_dir: run_dir.to_path_buf(),
            dataset_dir: run_dir.join("dataset"),
            output_dir: config
                .save
                .output_dir
                .clone()
                .unwrap_or_else(|| run_dir.join("output")),
            logs_dir: run_dir.join("logs"),
        }
    }
}

/// Everything a backend plans from.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    pub config: &'a TrainConfig,
    /// The base model's family (from the config or read from the model).
    pub family: Model,
    pub user: &'a UserConfig,
    pub paths: &'a RunPaths,
    pub snapshot: &'a SnapshotPlan,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "`{key}` is set, but the {backend} backend cannot honour it: {why}. Remove it \
         (`--set {key}=null` takes a preset's value away), or set the trainer's own option in \
         backend_options"
    )]
    Unsupported {
        key: String,
        backend: TrainerId,
        why: String,
    },
    #[error(
        "the {trainer} trainer is not set up: set trainers.{trainer}.path in {config} to its \
         folder (see `lorabench config`)"
    )]
    NotConfigured { trainer: TrainerId, config: String },
    #[error("{path} does not exist ({what})")]
    Missing { path: PathBuf, what: String },
    #[error("{key}: {path:?} is not UTF-8 and cannot be written into {format}")]
    NotUtf8 {
        key: String,
        path: PathBuf,
        format: &'static str,
    },
    #[error("the {backend} backend needs {key}: {why}")]
    Needs {
        key: String,
        backend: TrainerId,
        why: String,
    },
    #[error("backend_options.{key}: {why}")]
    BadOption { key: String, why: String },
    #[error("cannot resume: {0}")]
    NoResume(String),
}

impl PlanError {
    /// The config key the error is about, for locating it in the config files.
    pub fn key(&self) -> Option<String> {
        match self {
            PlanError::Unsupported { key, .. }
            | PlanError::NotUtf8 { key, .. }
            | PlanError::Needs { key, .. } => Some(key.clone()),
            PlanError::BadOption { key, .. } => Some(format!("backend_options.{key}")),
            _ => None,
        }
    }
}

/// Keys every backend honours: lorabench itself acts on them (naming, the snapshot, lint,
/// CUDA_VISIBLE_DEVICES, the family check).
const COMMON: &[&str] = &[
    "name",
    "backend",
    "model.family",
    "dataset.path",
    "dataset.trigger",
    "launcher.gpu_ids",
    "save.output_dir",
];

/// The keys set in `config` (dotted), `backend_options` excluded.
pub fn set_keys(config: &TrainConfig) -> Vec<String> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) if prefix.is_empty() || !is_leaf_map(prefix) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            serde_json::Value::Null => {}
            _ => out.push(prefix.to_string()),
        }
    }
    fn is_leaf_map(key: &str) -> bool {
        key == "backend_options"
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::to_value(config) {
        walk("", &v, &mut out);
    }
    out.retain(|k| k != "backend_options");
    out
}

/// Refuses every set key outside `COMMON` and `honours` (entries ending in `.*` cover a
/// whole section).
fn check_honoured(
    backend: TrainerId,
    config: &TrainConfig,
    honours: &[&str],
) -> Result<(), PlanError> {
    let covered = |key: &str| {
        COMMON
            .iter()
            .chain(honours)
            .any(|h| match h.strip_suffix(".*") {
                Some(section) => key.starts_with(section) && key[section.len()..].starts_with('.'),
                None => *h == key,
            })
    };
    match set_keys(config)
        .into_iter()
        .find(|k| !covered(k) && !inert(config, k))
    {
        Some(key) => Err(PlanError::Unsupported {
            key,
            backend,
            why: "lorabench has no mapping for it to this trainer".into(),
        }),
        None => Ok(()),
    }
}

/// Keys that change nothing as set, so no backend needs to map them: bucket sizes with
/// bucketing off, sample settings without prompts, a zero warm-up.
fn inert(config: &TrainConfig, key: &str) -> bool {
    let sample_keys = [
        "sample.every_n_steps",
        "sample.sampler",
        "sample.steps",
        "sample.seed",
    ];
    (key.starts_with("dataset.buckets.")
        && key != "dataset.buckets.enabled"
        && config.dataset.buckets.enabled != Some(true))
        || (sample_keys.contains(&key) && prompt_lines(config).is_empty())
        || (key == "train.warmup_steps" && config.train.warmup_steps == Some(0))
}

/// Plans a fresh run.
pub fn plan(job: &Job) -> Result<LaunchPlan, PlanError> {
    let backend = job.config.backend_id();
    match backend {
        TrainerId::Kohya => kohya::plan(job, None),
        TrainerId::AiToolkit => ai_toolkit::plan(job),
        TrainerId::Diffusers => diffusers::plan(job, false),
        TrainerId::Simpletuner => simpletuner::plan(job, false),
        TrainerId::Onetrainer => onetrainer::plan(job, false),
        TrainerId::Command => command::plan(job),
        TrainerId::Builtin => builtin::plan(job, false),
    }
}

/// Plans continuing a run from the newest saved state in its output folder, by each trainer's
/// own rule: kohya `--resume STATE` with the step counter carried on; ai-toolkit picks up its
/// newest save by itself; diffusers and SimpleTuner `--resume_from_checkpoint latest`;
/// OneTrainer `continue_last_backup`.
pub fn plan_resume(job: &Job) -> Result<LaunchPlan, PlanError> {
    let backend = job.config.backend_id();
    match backend {
        TrainerId::Kohya => {
            let state = kohya::latest_state(&job.paths.output_dir, &job.config.file_name())
                .ok_or_else(|| {
                    PlanError::NoResume(format!(
                        "no saved state (`{}-…-state` folder) in {}",
                        job.config.file_name(),
                        job.paths.output_dir.display()
                    ))
                })?;
            kohya::plan(job, Some(&state))
        }
        TrainerId::AiToolkit => ai_toolkit::plan(job),
        TrainerId::Diffusers => diffusers::plan(job, true),
        TrainerId::Simpletuner => simpletuner::plan(job, true),
        TrainerId::Onetrainer => onetrainer::plan(job, true),
        TrainerId::Builtin => builtin::plan(job, true),
        TrainerId::Command => Err(PlanError::NoResume(format!(
            "the {backend} backend has no resume rule"
        ))),
    }
}

/// The trainer's folder from the user config, checked to exist.
fn trainer_dir(job: &Job, trainer: TrainerId) -> Result<PathBuf, PlanError> {
    let dir = job
        .user
        .trainer_path(trainer)
        .ok_or_else(|| PlanError::NotConfigured {
            trainer,
            config: job
                .user
                .file
                .clone()
                .or_else(|| crate::train::config::user::config_dir().map(|d| d.join("config.yaml")))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "$XDG_CONFIG_HOME/lorabench/config.yaml".into()),
        })?;
    if !dir.is_dir() {
        return Err(PlanError::Missing {
            path: dir.to_path_buf(),
            what: format!("trainers.{trainer}.path"),
        });
    }
    Ok(dir.to_path_buf())
}

/// The trainer's python, checked to exist when the config names one.
fn python(job: &Job, trainer: TrainerId) -> Result<PathBuf, PlanError> {
    let p = job.user.python(trainer);
    if p.components().count() > 1 && !p.exists() {
        return Err(PlanError::Missing {
            path: p,
            what: format!("trainers.{trainer}.python"),
        });
    }
    Ok(p)
}

/// A file the trainer needs, checked to exist.
fn require_file(path: PathBuf, what: &str) -> Result<PathBuf, PlanError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(PlanError::Missing {
            path,
            what: what.to_string(),
        })
    }
}

/// A path as text for a trainer's config file.
fn utf8<'p>(key: &str, path: &'p Path, format: &'static str) -> Result<&'p str, PlanError> {
    path.to_str().ok_or_else(|| PlanError::NotUtf8 {
        key: key.to_string(),
        path: path.to_path_buf(),
        format,
    })
}

/// The environment every trainer gets: unbuffered Python, and the launcher's GPUs.
fn base_env(config: &TrainConfig) -> Vec<(OsString, OsString)> {
    let mut env = vec![("PYTHONUNBUFFERED".into(), "1".into())];
    if let Some(ids) = config
        .launcher
        .gpu_ids
        .as_ref()
        .filter(|ids| !ids.is_empty())
    {
        let list: Vec<String> = ids.iter().map(u32::to_string).collect();
        env.push(("CUDA_VISIBLE_DEVICES".into(), list.join(",").into()));
    }
    env
}

/// `accelerate launch` as a module of the trainer's python: `-m accelerate.commands.launch`
/// with the process count (and `--multi_gpu` above one) and the mixed precision.
fn accelerate_args(config: &TrainConfig) -> Vec<OsString> {
    let n = config.launcher.processes.unwrap_or(1);
    let mut args: Vec<OsString> = vec![
        "-m".into(),
        "accelerate.commands.launch".into(),
        "--num_processes".into(),
        n.to_string().into(),
        "--num_machines".into(),
        "1".into(),
        "--dynamo_backend".into(),
        "no".into(),
    ];
    if n > 1 {
        args.push("--multi_gpu".into());
    }
    if let Some(p) = config.train.precision {
        args.push("--mixed_precision".into());
        args.push(p.accelerate().into());
    }
    args
}

/// Sample prompts, one per line (newlines inside a prompt become spaces).
fn prompt_lines(config: &TrainConfig) -> Vec<String> {
    config
        .sample
        .prompts
        .iter()
        .flatten()
        .map(|p| p.replace(['\n', '\r'], " ").trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// A generated file, relative to the run folder.
fn file(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> GeneratedFile {
    GeneratedFile {
        path: path.into(),
        contents: contents.into(),
    }
}

/// `path` relative to the run folder (generated files are named that way).
fn in_run(paths: &RunPaths, path: &Path) -> PathBuf {
    path.strip_prefix(&paths.run_dir)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The single repeat count of every folder, or an error naming the key when they differ.
fn uniform_repeats(job: &Job, backend: TrainerId) -> Result<u32, PlanError> {
    let mut counts: Vec<u32> = job.snapshot.folders.iter().map(|f| f.repeats).collect();
    counts.sort_unstable();
    counts.dedup();
    match counts.as_slice() {
        [] => Ok(1),
        [n] => Ok(*n),
        _ => Err(PlanError::Unsupported {
            key: "dataset.repeats".into(),
            backend,
            why: "its dataset takes one repeat count, and the `N_name` folders ask for \
                  several; set dataset.repeats to one number"
                .into(),
        }),
    }
}

#[cfg(test)]
mod tests;
