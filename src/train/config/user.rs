//! The user config `$XDG_CONFIG_HOME/lorabench/config.yaml`: where each trainer lives, what to
//! run when a run ends, and the runs settings. Every key is optional; a missing file is an
//! empty config.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Source};
use crate::train::TrainerId;

/// Where one trainer is installed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainerInstall {
    /// The trainer's checkout (sd-scripts, ai-toolkit, OneTrainer, diffusers) or install folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Default: `path/venv/bin/python`, then `path/.venv/bin/python`, then `python3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python: Option<PathBuf>,
}

/// `runs:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunsSettings {
    /// Where run folders live (`HOME/runs/ID`); the `LORABENCH_HOME` variable wins over it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home: Option<PathBuf>,
    /// Seconds without progress, while the trainer lives, before a run is flagged stalled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stall_timeout: Option<u64>,
}

/// The stall timeout when the config sets none.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub trainers: HashMap<TrainerId, TrainerInstall>,
    /// Run when a run ends (argv; the run's id, state, exit code, duration and output folder
    /// are in its environment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_finish: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_default")]
    pub runs: RunsSettings,
    /// The file this was read from (None: no file).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// `$XDG_CONFIG_HOME/lorabench`, else `~/.config/lorabench`.
pub fn config_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("lorabench"))
}

/// lorabench's state folder: `$XDG_STATE_HOME/lorabench`, else `~/.local/state/lorabench`
/// (runs, the TUI's remembered places and unsaved caption drafts live below it).
pub fn state_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("lorabench")
}

impl UserConfig {
    /// Reads `config_dir()/config.yaml`; a missing file is an empty config.
    pub fn load() -> Result<UserConfig, ConfigError> {
        match config_dir() {
            Some(dir) => UserConfig::load_from(&dir.join("config.yaml")),
            None => Ok(UserConfig::default()),
        }
    }

    pub fn load_from(path: &Path) -> Result<UserConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(UserConfig::default());
            }
            Err(source) => {
                return Err(ConfigError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let mut config = UserConfig::parse(&text).map_err(|err| {
            ConfigError::one(super::yaml_problem(
                &Source::File(path.to_path_buf()),
                &text,
                &err,
            ))
        })?;
        let base = path.parent().unwrap_or(Path::new("/"));
        for install in config.trainers.values_mut() {
            for p in [&mut install.path, &mut install.python]
                .into_iter()
                .flatten()
            {
                *p = super::schema::anchor(base, p);
            }
        }
        if let Some(home) = &mut config.runs.home {
            *home = super::schema::anchor(base, home);
        }
        config.file = Some(path.to_path_buf());
        Ok(config)
    }

    fn parse(text: &str) -> Result<UserConfig, serde_saphyr::Error> {
        if text.trim().is_empty() {
            return Ok(UserConfig::default());
        }
        serde_saphyr::from_str(text)
    }

    /// The trainer's folder, if configured.
    pub fn trainer_path(&self, trainer: TrainerId) -> Option<&Path> {
        self.trainers.get(&trainer)?.path.as_deref()
    }

    /// The trainer's python: `python` if set, else `path/venv/bin/python`, then
    /// `path/.venv/bin/python` where they exist, else `python3` (looked up on PATH).
    pub fn python(&self, trainer: TrainerId) -> PathBuf {
        let install = self.trainers.get(&trainer);
        if let Some(p) = install.and_then(|i| i.python.clone()) {
            return p;
        }
        if let Some(dir) = install.and_then(|i| i.path.as_deref()) {
            for venv in ["venv", ".venv"] {
                let p = dir.join(venv).join("bin/python");
                if p.exists() {
                    return p;
                }
            }
        }
        PathBuf::from("python3")
    }

    /// Where runs live: `LORABENCH_HOME`, else `runs.home`, else `$XDG_STATE_HOME/lorabench`
    /// (`~/.local/state/lorabench`).
    pub fn runs_home(&self) -> PathBuf {
        if let Some(home) = std::env::var_os("LORABENCH_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(home);
        }
        if let Some(home) = &self.runs.home {
            return home.clone();
        }
        state_dir()
    }

    pub fn stall_timeout(&self) -> Duration {
        self.runs
            .stall_timeout
            .map_or(DEFAULT_STALL_TIMEOUT, Duration::from_secs)
    }

    /// The settings in effect, every default filled in, as printed by `lorabench config`.
    pub fn effective(&self) -> serde_json::Value {
        let trainers: serde_json::Map<String, serde_json::Value> = TrainerId::ALL
            .into_iter()
            .filter(|t| !matches!(t, TrainerId::Command | TrainerId::Builtin))
            .map(|t| {
                let v = serde_json::json!({
                    "path": self.trainer_path(t),
                    "python": self.python(t),
                });
                (t.to_string(), v)
            })
            .collect();
        serde_json::json!({
            "file": self.file,
            "trainers": trainers,
            "on_finish": self.on_finish,
            "runs": {
                "home": self.runs_home(),
                "stall_timeout": self.stall_timeout().as_secs(),
            },
            "presets": super::presets::names(config_dir().map(|d| d.join("presets")).as_deref()),
        })
    }
}
