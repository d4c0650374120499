//! Starting a [`Prepared`] config: the one launch sequence behind `lorabench train` and the
//! Train screen (plan, run folder, dataset snapshot, supervisor), and the description of the
//! plan that `--dry-run` prints and the screen shows before a launch.

use std::path::{Path, PathBuf};

use crate::train::LaunchPlan;
use crate::train::config::{ProgressFormat, UserConfig};
use crate::train::prepare::{PrepareError, Prepared};
use crate::train::progress::LogFormat;
use crate::train::run::manifest::DatasetRef;
use crate::train::run::{self, Home, LaunchSpec, RunError, RunId};
use crate::words::plural;

/// The run folder name a plan is shown in before the launch gives the run its id.
pub const NEW_RUN: &str = "NEW-RUN";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// A launched run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub id: RunId,
    pub dir: PathBuf,
}

/// Where a plan is shown: `HOME/runs/NEW-RUN`.
pub fn preview_dir(home: &Home) -> PathBuf {
    home.runs_dir().join(NEW_RUN)
}

/// Launches `prepared` in a new run folder of `home`, with `exe` (a lorabench binary) as its
/// supervisor. With `queue`, a run whose GPUs are busy waits as `queued`; without, it is
/// refused. Every check, the backend's included, runs before a run folder exists, and a
/// failure after that leaves none behind.
pub fn launch(
    prepared: &Prepared,
    user: &UserConfig,
    home: &Home,
    queue: bool,
    exe: &Path,
) -> Result<Started, StartError> {
    prepared.plan(user, &preview_dir(home))?;
    let new = home.allocate()?;
    let made = match prepared.materialize(user, &new.dir) {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&new.dir);
            return Err(e.into());
        }
    };
    let c = &prepared.config;
    let dataset = c.dataset.path.as_ref().map(|path| DatasetRef {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string()),
        hash: prepared.snapshot.hash.clone(),
        path: Some(path.clone()),
    });
    let log_format = match c.progress {
        Some(ProgressFormat::Jsonl) => LogFormat::Jsonl,
        _ => LogFormat::Tqdm,
    };
    let dir = new.dir.clone();
    let spec = LaunchSpec {
        home: home.clone(),
        run: new,
        name: c.run_name(),
        config_yaml: c.to_yaml(),
        plan: made.plan,
        dataset,
        gpus: c.launcher.gpu_ids.clone().unwrap_or_default(),
        queue,
        log_format,
        on_finish: user
            .on_finish
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect(),
        resumed_from: None,
    };
    let id = run::launch_using(spec, exe)?;
    Ok(Started { id, dir })
}

/// The plan as `--dry-run` prints it: where the config came from, the run folder, backend and
/// family, the dataset snapshot, output folder, working folder, environment, argv, then each
/// file the backend writes and the config snapshot, in full.
pub fn describe(prepared: &Prepared, plan: &LaunchPlan, run_dir: &Path) -> Vec<String> {
    let c = &prepared.config;
    let mut out = Vec::new();
    let sources: Vec<String> = prepared
        .resolved
        .layers
        .iter()
        .map(|l| l.source.to_string())
        .collect();
    out.push(format!(
        "config: {}",
        if sources.is_empty() {
            "(none)".into()
        } else {
            sources.join(" < ")
        }
    ));
    out.push(format!(
        "run folder: {} ({NEW_RUN} is the id given at launch)",
        run_dir.display()
    ));
    out.push(format!(
        "backend: {}, family: {}",
        plan.trainer,
        prepared.family.as_str()
    ));
    if let Some(path) = &c.dataset.path {
        let s = &prepared.snapshot;
        out.push(format!(
            "dataset: {} -> {}/dataset ({} in {}, content hash {})",
            path.display(),
            run_dir.display(),
            plural(s.images(), "image", "images"),
            plural(s.folders.len(), "folder", "folders"),
            s.hash
        ));
    }
    out.push(format!("output: {}", plan.output_dir.display()));
    out.push(format!("cwd: {}", plan.cwd.display()));
    for (k, v) in &plan.env {
        out.push(format!(
            "env: {}={}",
            k.to_string_lossy(),
            v.to_string_lossy()
        ));
    }
    out.push("argv:".into());
    out.push(format!("  {:?}", plan.program));
    for a in &plan.args {
        out.push(format!("  {a:?}"));
    }
    for f in &plan.files {
        out.push(format!("--- {}", run_dir.join(&f.path).display()));
        out.extend(
            String::from_utf8_lossy(&f.contents)
                .lines()
                .map(str::to_string),
        );
    }
    out.push(format!(
        "--- {}/run.yaml (the config snapshot)",
        run_dir.display()
    ));
    out.extend(c.to_yaml().lines().map(str::to_string));
    out
}
