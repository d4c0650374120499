//! The command backend: the user's own argv, run as given (no shell). The run's folders reach
//! the program through the environment: `LORABENCH_RUN_DIR`, `LORABENCH_OUTPUT_DIR`,
//! `LORABENCH_LOGS_DIR`, and `LORABENCH_DATASET_DIR` / `LORABENCH_BASE_MODEL` when the config
//! names a dataset / base model.

use std::ffi::OsString;

use super::{Job, PlanError};
use crate::train::config::ProgressFormat;
use crate::train::{LaunchPlan, TrainerId};

const ID: TrainerId = TrainerId::Command;

pub const HONOURS: &[&str] = &["command", "progress", "model.base", "save.file_name"];

/// The progress format of a command run (tqdm unless the config says jsonl).
pub fn progress_format(job: &Job) -> ProgressFormat {
    job.config.progress.unwrap_or(ProgressFormat::Tqdm)
}

pub fn plan(job: &Job) -> Result<LaunchPlan, PlanError> {
    super::check_honoured(ID, job.config, HONOURS)?;
    let argv = job.config.command.as_deref().unwrap_or_default();
    let Some((program, args)) = argv.split_first() else {
        return Err(PlanError::Unsupported {
            key: "command".into(),
            backend: ID,
            why: "it is empty".into(),
        });
    };
    let paths = job.paths;
    let mut env = super::base_env(job.config);
    let mut put = |k: &str, v: OsString| env.push((k.into(), v));
    put("LORABENCH_RUN_DIR", paths.run_dir.clone().into_os_string());
    put(
        "LORABENCH_OUTPUT_DIR",
        paths.output_dir.clone().into_os_string(),
    );
    put(
        "LORABENCH_LOGS_DIR",
        paths.logs_dir.clone().into_os_string(),
    );
    put("LORABENCH_OUTPUT_NAME", job.config.file_name().into());
    if job.config.dataset.path.is_some() {
        put(
            "LORABENCH_DATASET_DIR",
            paths.dataset_dir.clone().into_os_string(),
        );
    }
    if let Some(base) = &job.config.model.base {
        put("LORABENCH_BASE_MODEL", base.clone().into_os_string());
    }
    Ok(LaunchPlan {
        trainer: ID,
        program: program.into(),
        args: args.iter().map(OsString::from).collect(),
        env,
        cwd: paths.run_dir.clone(),
        files: Vec::new(),
        output_dir: paths.output_dir.clone(),
        metrics_dir: None,
        total_steps: None,
    })
}
