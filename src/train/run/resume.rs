//! `runs resume`: a stopped or failed run goes on as a new run folder linked to the old one
//! (`resumed_from` in its run.yaml). The old folder keeps the truthful record of how the first
//! attempt ended; the new one trains on the same snapshot (made from the old one: the same
//! bytes, the same content hash) and writes into the same output folder, where the trainer's
//! own resume rule finds its newest saved state ([`backend::plan_resume`]). Steps stay global:
//! kohya runs with `skip_until_initial_step`, prints `skipping N steps`, and the progress parser
//! adds N to its bar.

use std::path::Path;
use std::time::Duration;

use super::launch::{LaunchSpec, launch_using};
use super::manifest::{DatasetRef, Manifest};
use super::status::{State, Status};
use super::{Home, RunError, RunId};
use crate::dataset::{ScanOptions, scan};
use crate::train::backend::{self, Job, RunPaths};
use crate::train::config::{TrainConfig, UserConfig};
use crate::train::snapshot::{self, SnapshotPlan};

fn refuse(id: &RunId, why: impl Into<String>) -> RunError {
    RunError::CannotResume {
        id: id.to_string(),
        why: why.into(),
    }
}

/// Starts the run that continues `id`, with `exe` (a `lorabench` binary) as its supervisor.
/// Returns the new run's id.
pub fn resume(home: &Home, id: &RunId, user: &UserConfig, exe: &Path) -> Result<RunId, RunError> {
    let dir = home.run_dir(id);
    let manifest = Manifest::read(&dir)?;
    let status = Status::read(&dir)?;
    let seen = status.observe(None, Duration::MAX);
    match seen.state {
        s if s.is_active() => {
            return Err(RunError::WrongState {
                id: id.to_string(),
                state: s,
                what: "it is still going (`lorabench runs stop` it first)".into(),
            });
        }
        State::Succeeded => {
            return Err(RunError::WrongState {
                id: id.to_string(),
                state: State::Succeeded,
                what: "it trained to the end; there is nothing to resume".into(),
            });
        }
        _ => {}
    }
    if manifest.attached.is_some() {
        return Err(refuse(
            id,
            "it was started elsewhere (`runs attach`); resume it with its own trainer",
        ));
    }
    let config: TrainConfig = serde_saphyr::from_str(&manifest.config)
        .map_err(|e| refuse(id, format!("its run.yaml holds no readable config: {e}")))?;
    let family = config
        .model
        .family
        .ok_or_else(|| refuse(id, "its config names no model family"))?;
    let new = home.allocate()?;
    let paths = RunPaths {
        dataset_dir: new.dir.join("dataset"),
        // Where the saved states are: the trainer's resume rule looks there.
        output_dir: manifest.output_dir.clone(),
        logs_dir: new.dir.join("logs"),
        run_dir: new.dir.clone(),
    };
    let prepared = (|| {
        let snapshot = old_snapshot(id, &dir, &config)?;
        let job = Job {
            config: &config,
            family,
            user,
            paths: &paths,
            snapshot: &snapshot,
        };
        let plan = backend::plan_resume(&job).map_err(|e| refuse(id, e.to_string()))?;
        if config.dataset.path.is_some() {
            snapshot
                .make(&paths.dataset_dir)
                .map_err(|e| refuse(id, e.to_string()))?;
        }
        Ok((plan, snapshot))
    })();
    let (plan, snapshot) = match prepared {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&new.dir);
            return Err(e);
        }
    };
    let dataset = manifest.dataset.clone().map(|d| DatasetRef {
        hash: snapshot.hash.clone(),
        ..d
    });
    launch_using(
        LaunchSpec {
            home: home.clone(),
            run: new,
            name: manifest.name.clone(),
            config_yaml: manifest.config.clone(),
            plan,
            dataset,
            gpus: manifest.gpus.clone(),
            queue: manifest.queue,
            log_format: manifest.log_format,
            on_finish: manifest.on_finish.iter().map(|a| a.to_os()).collect(),
            resumed_from: Some(id.clone()),
        },
        exe,
    )
}

/// The snapshot the old run trained on, read back from its folder (captions as they were at
/// its launch, whatever the user's dataset holds now).
fn old_snapshot(id: &RunId, dir: &Path, config: &TrainConfig) -> Result<SnapshotPlan, RunError> {
    if config.dataset.path.is_none() {
        return Ok(SnapshotPlan::empty());
    }
    let root = dir.join("dataset");
    let dataset = scan(
        &root,
        &ScanOptions::with_caption_ext(&config.caption_extension()),
    )
    .map_err(|e| refuse(id, format!("its dataset snapshot cannot be read: {e}")))?;
    snapshot::plan(&dataset, config.dataset.repeats).map_err(|e| refuse(id, e.to_string()))
}
