//! Everything checked before a run starts, in one place for the CLI and the TUI: the merged
//! config's values, the base model (exists, is a model, of the family the config says), the
//! dataset (exists, lints clean unless forced), and the backend's plan (every key honoured).
//! [`Prepared::materialize`] then makes the snapshot and the plan inside a run folder.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::dataset::buckets::Model;
use crate::dataset::lint::{self, Finding, LintOptions, Severity, Trainer};
use crate::dataset::{Dataset, ScanOptions, scan};
use crate::train::backend::{self, Job, PlanError, RunPaths};
use crate::train::config::{ConfigError, Problem, Resolved, TrainConfig, UserConfig};
use crate::train::model_family::{self, FamilyError};
use crate::train::snapshot::{self, Made, SnapshotError, SnapshotPlan};
use crate::train::{LaunchPlan, TrainerId};

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "the dataset {path} has {} lint error(s) that would spoil the run:\n{}\n(fix them — \
         `lorabench lint {path}` shows all — or pass --force to train anyway)",
        .findings.len(), .findings.join("\n")
    )]
    Lint {
        path: PathBuf,
        findings: Vec<String>,
    },
    #[error("cannot check the dataset: {0}")]
    LintFailed(String),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

/// A config that passed every check, with what was read on the way.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub resolved: Resolved,
    /// The merged config with `model.family` filled in from the base model.
    pub config: TrainConfig,
    pub family: Model,
    pub snapshot: SnapshotPlan,
    /// Lint errors passed over with `--force`, and other notes, for the user to see.
    pub warnings: Vec<String>,
}

/// What [`Prepared::materialize`] made.
#[derive(Debug, Clone)]
pub struct Materialized {
    pub plan: LaunchPlan,
    pub paths: RunPaths,
    pub made: Made,
}

/// The lint rules for a backend.
fn lint_trainer(id: TrainerId) -> Trainer {
    match id {
        TrainerId::Kohya => Trainer::Kohya,
        TrainerId::AiToolkit => Trainer::AiToolkit,
        TrainerId::Diffusers => Trainer::Diffusers,
        TrainerId::Simpletuner => Trainer::Simpletuner,
        TrainerId::Onetrainer => Trainer::Onetrainer,
        TrainerId::Command | TrainerId::Builtin => Trainer::Builtin,
    }
}

fn family_problem(r: &Resolved, e: FamilyError) -> Problem {
    r.problem("model.base", e.to_string())
}

/// Runs every check. `force` goes on past dataset lint errors (they become warnings).
pub fn prepare(resolved: Resolved, force: bool) -> Result<Prepared, PrepareError> {
    resolved.check()?;
    let mut config = resolved.config.clone();
    let mut warnings = Vec::new();

    let (family, warning) = family_of(&resolved)?;
    warnings.extend(warning);
    config.model.family = Some(family);

    let snapshot = match &config.dataset.path {
        Some(path) => {
            let dataset = scan(
                path,
                &ScanOptions::with_caption_ext(&config.caption_extension()),
            )
            .map_err(|e| ConfigError::one(resolved.problem("dataset.path", e.to_string())))?;
            let errors = lint_errors(&dataset, &config, family)?;
            if !errors.is_empty() {
                if !force {
                    return Err(PrepareError::Lint {
                        path: path.clone(),
                        findings: errors,
                    });
                }
                warnings.extend(errors.into_iter().map(|e| format!("lint (forced): {e}")));
            }
            snapshot::plan(&dataset, config.dataset.repeats)?
        }
        None => SnapshotPlan::empty(),
    };
    let prepared = Prepared {
        resolved,
        config,
        family,
        snapshot,
        warnings,
    };
    Ok(prepared)
}

/// The model family the run trains: read from the base model's tensor names (refused when the
/// config declares another one), else the declared one, else SDXL. An unreadable base is
/// trusted to be the declared family, with a warning.
pub fn family_of(resolved: &Resolved) -> Result<(Model, Option<String>), PrepareError> {
    let config = &resolved.config;
    Ok(match (&config.model.base, config.model.family) {
        (Some(base), declared) => match model_family::detect(base) {
            Ok(found) => match declared {
                Some(d) if d != found => {
                    return Err(ConfigError::one(resolved.problem(
                        "model.family",
                        format!(
                            "the config says {} but {} is {} (read from its tensor names)",
                            d.as_str(),
                            base.display(),
                            found.as_str()
                        ),
                    ))
                    .into());
                }
                _ => (found, None),
            },
            Err(FamilyError::Unreadable { path, problem }) if declared.is_some() => (
                declared.unwrap_or(Model::Sdxl),
                Some(format!(
                    "{}: {problem}; trusting model.family",
                    path.display()
                )),
            ),
            Err(e) => return Err(ConfigError::one(family_problem(resolved, e)).into()),
        },
        (None, Some(d)) => (d, None),
        (None, None) => (Model::Sdxl, None),
    })
}

/// What the dataset is linted against for this config: the backend's rules, the family, and
/// the config's resolution, batch size, trigger and buckets.
pub fn lint_options(config: &TrainConfig, family: Model) -> LintOptions {
    LintOptions {
        trainer: lint_trainer(config.backend_id()),
        model: family,
        resolution: config.dataset.resolution,
        batch_size: config.train.batch_size.unwrap_or(1),
        trigger: config.dataset.trigger.clone(),
        bucket_no_upscale: config.dataset.buckets.no_upscale.unwrap_or(false),
        min_bucket_reso: config.dataset.buckets.min,
        max_bucket_reso: config.dataset.buckets.max,
        bucket_reso_steps: config.dataset.buckets.step,
        ..LintOptions::default()
    }
}

fn lint_errors(
    dataset: &Dataset,
    config: &TrainConfig,
    family: Model,
) -> Result<Vec<String>, PrepareError> {
    let options = lint_options(config, family);
    let cancel = AtomicBool::new(false);
    let report = lint::run(dataset, &options, &cancel, |_| {})
        .map_err(|e| PrepareError::LintFailed(e.to_string()))?;
    Ok(report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(describe)
        .collect())
}

fn describe(f: &Finding) -> String {
    if f.hint.is_empty() {
        format!("  {}: {}", f.path.display(), f.message)
    } else {
        format!("  {}: {} ({})", f.path.display(), f.message, f.hint)
    }
}

impl Prepared {
    fn job<'a>(&'a self, user: &'a UserConfig, paths: &'a RunPaths) -> Job<'a> {
        Job {
            config: &self.config,
            family: self.family,
            user,
            paths,
            snapshot: &self.snapshot,
        }
    }

    /// A plan error as a config problem, located where the key was set.
    fn plan_problem(&self, e: PlanError) -> PrepareError {
        let problem = match e.key() {
            Some(key) if !key.starts_with("backend_options.(") => {
                self.resolved.problem(&key, e.to_string())
            }
            _ => Problem {
                source: None,
                line: None,
                column: None,
                key: None,
                message: e.to_string(),
            },
        };
        PrepareError::Config(ConfigError::one(problem))
    }

    /// The plan for a run in `run_dir`; writes nothing (what `--dry-run` shows).
    pub fn plan(&self, user: &UserConfig, run_dir: &Path) -> Result<LaunchPlan, PrepareError> {
        let paths = RunPaths::new(run_dir, &self.config);
        backend::plan(&self.job(user, &paths)).map_err(|e| self.plan_problem(e))
    }

    /// Plans the run in `run_dir` (an allocated, empty run folder) and makes the dataset
    /// snapshot in `run_dir/dataset`. The plan's files are for the launcher to write.
    pub fn materialize(
        &self,
        user: &UserConfig,
        run_dir: &Path,
    ) -> Result<Materialized, PrepareError> {
        let plan = self.plan(user, run_dir)?;
        let paths = RunPaths::new(run_dir, &self.config);
        let made = if self.config.dataset.path.is_some() {
            self.snapshot.make(&paths.dataset_dir)?
        } else {
            Made::default()
        };
        Ok(Materialized { plan, paths, made })
    }
}
