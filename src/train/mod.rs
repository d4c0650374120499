//! Training runs (no UI): config and presets, one module per trainer backend, run folders,
//! the detached supervisor, progress parsing and metrics (DESIGN.md, "Run folder").
//!
//! The types in this file are the vocabulary the parts share: a backend turns a config into a
//! [`LaunchPlan`]; the supervisor runs it and feeds the trainer's log to the backend's progress
//! parser, which yields [`Point`]s and [`Event`]s; `runs` reads them back from the run folder.

pub mod doctor;
pub mod metrics;
pub mod plot;
pub mod progress;
pub mod run;
pub mod supervisor;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub mod backend;
pub mod config;
pub mod model_family;
pub mod model_folders;
pub mod prepare;
pub mod snapshot;
pub mod start;

/// A trainer lorabench can launch or watch. The id is the same everywhere: config `backend:`,
/// `--backend`, `--trainer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainerId {
    Kohya,
    AiToolkit,
    Diffusers,
    Simpletuner,
    Onetrainer,
    Command,
    Builtin,
}

impl TrainerId {
    pub const ALL: [TrainerId; 7] = [
        TrainerId::Kohya,
        TrainerId::AiToolkit,
        TrainerId::Diffusers,
        TrainerId::Simpletuner,
        TrainerId::Onetrainer,
        TrainerId::Command,
        TrainerId::Builtin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TrainerId::Kohya => "kohya",
            TrainerId::AiToolkit => "ai-toolkit",
            TrainerId::Diffusers => "diffusers",
            TrainerId::Simpletuner => "simpletuner",
            TrainerId::Onetrainer => "onetrainer",
            TrainerId::Command => "command",
            TrainerId::Builtin => "builtin",
        }
    }
}

impl fmt::Display for TrainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TrainerId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TrainerId::ALL
            .into_iter()
            .find(|id| id.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = TrainerId::ALL.iter().map(|id| id.as_str()).collect();
                format!(
                    "unknown trainer `{s}` (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// One progress observation, as parsed from a log or a structured metrics file. One line of
/// `metrics.jsonl` per point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Optimisation step (1-based, counted from the start of the run, resume offsets applied).
    pub step: u64,
    /// Total steps when the trainer says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Steps per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// Seconds since the Unix epoch when the point was seen, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
}

/// Something that happened in a run besides progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    CheckpointSaved {
        path: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<u64>,
    },
    SampleWritten {
        path: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<u64>,
    },
    /// The error a run ended with (an exception line, CUDA out of memory, NaN loss).
    Error { message: String },
}

/// A file a backend generates for the trainer, relative to the run folder.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
}

/// Everything needed to start a trainer: an argument vector (never a shell string, DESIGN.md
/// principle 8), its environment and working folder, and the files to write first.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchPlan {
    pub trainer: TrainerId,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Variables set on top of the inherited environment.
    pub env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
    /// Written (atomically) before launch, relative to the run folder.
    pub files: Vec<GeneratedFile>,
    /// Where checkpoints and samples appear.
    pub output_dir: PathBuf,
    /// Where the trainer writes structured metrics (TensorBoard logs, loss_log.db, jsonl).
    pub metrics_dir: Option<PathBuf>,
    /// Steps the config asks for, when known before launch.
    pub total_steps: Option<u64>,
}
