//! `lorabench doctor`: what stands between this machine and a training run, each problem with
//! what to do. GPUs and driver, each configured trainer (its folder, its python, whether
//! torch — with CUDA —, accelerate and the trainer's own modules import), free disk where runs
//! and outputs go. The terminal's image protocol is the UI's to say (it asks the terminal).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::monitor::gpu::{self, Source};
use crate::monitor::host::LOW_DISK;
use crate::train::TrainerId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Problem,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub area: String,
    pub level: Level,
    pub detail: String,
    /// What to do about it (for warnings and problems).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn new(area: impl Into<String>, level: Level, detail: impl Into<String>) -> Check {
        Check {
            area: area.into(),
            level,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// A trainer as the user config sets it up.
#[derive(Debug, Clone)]
pub struct Install {
    pub trainer: TrainerId,
    pub path: Option<PathBuf>,
    pub python: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub gpus: gpu::Report,
    pub checks: Vec<Check>,
}

/// Importing torch and a trainer's modules takes seconds; a broken install may hang.
const PROBE_LIMIT: Duration = Duration::from_secs(180);

/// The folders whose free space matters: the runs folder, and every run's output folder that
/// lies outside it (`save.output_dir`), each once.
pub fn folders(home: &crate::train::run::Home) -> Vec<(String, PathBuf)> {
    let runs = home.runs_dir();
    let mut out = vec![("runs".to_string(), runs.clone())];
    for id in home.run_ids().unwrap_or_default() {
        let Ok(m) = crate::train::run::manifest::Manifest::read(&home.run_dir(&id)) else {
            continue;
        };
        if !m.output_dir.starts_with(&runs) && !out.iter().any(|(_, p)| *p == m.output_dir) {
            out.push((format!("output of run {id}"), m.output_dir));
        }
    }
    out
}

pub fn run(installs: &[Install], folders: &[(String, PathBuf)]) -> Report {
    let gpus = gpu::probe();
    let mut checks = vec![gpu_check(&gpus)];
    // Trainers are probed in parallel: each import of torch takes seconds.
    let probed: Vec<Vec<Check>> = std::thread::scope(|s| {
        let handles: Vec<_> = installs
            .iter()
            .map(|i| s.spawn(|| trainer_checks(i, !gpus.gpus.is_empty())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    if installs.is_empty() {
        checks.push(
            Check::new("trainers", Level::Warning, "no trainer configured").fix(
                "set `trainers: {kohya: {path: DIR}}` (or ai-toolkit, diffusers, simpletuner, \
                 onetrainer) in the user config; `lorabench config` shows where it is",
            ),
        );
    }
    checks.extend(probed.into_iter().flatten());
    for (what, path) in folders {
        checks.push(disk_check(what, path));
    }
    Report { gpus, checks }
}

fn gpu_check(r: &gpu::Report) -> Check {
    match r.source {
        Source::None => Check::new(
            "gpu",
            Level::Warning,
            format!("no NVIDIA GPU found ({})", r.notes.join("; ")),
        )
        .fix("training will run on the CPU, very slowly; on a GPU box install the NVIDIA driver and check that `nvidia-smi` works"),
        _ if r.gpus.is_empty() => Check::new("gpu", Level::Warning, "the NVIDIA driver answers but lists no GPU")
            .fix("check CUDA_VISIBLE_DEVICES and `nvidia-smi -L`"),
        _ => {
            let names: Vec<String> = r
                .gpus
                .iter()
                .map(|g| match g.memory_total {
                    Some(m) => format!("{}: {} ({} GiB)", g.index, g.name, m >> 30),
                    None => format!("{}: {}", g.index, g.name),
                })
                .collect();
            let driver = r.driver.as_deref().unwrap_or("unknown");
            let cuda = r.cuda.as_deref().map(|c| format!(", CUDA {c}")).unwrap_or_default();
            Check::new(
                "gpu",
                Level::Ok,
                format!("{}; driver {driver}{cuda}", names.join(", ")),
            )
        }
    }
}

/// The module that proves a trainer's own code imports.
fn own_module(t: TrainerId) -> Option<&'static str> {
    match t {
        TrainerId::Kohya => Some("library.train_util"),
        TrainerId::AiToolkit => Some("toolkit.job"),
        TrainerId::Diffusers => Some("diffusers"),
        TrainerId::Simpletuner => Some("simpletuner"),
        TrainerId::Onetrainer => Some("modules.util.config.TrainConfig"),
        TrainerId::Command | TrainerId::Builtin => None,
    }
}

const PROBE: &str = r#"
import importlib, json, os, sys
sys.path.insert(0, os.getcwd())
r = {"python": sys.version.split()[0]}
def probe(key, name):
    try:
        m = importlib.import_module(name)
        r[key] = str(getattr(m, "__version__", "yes"))
    except BaseException as e:
        r[key + "_error"] = (type(e).__name__ + ": " + str(e))[:300]
probe("torch", "torch")
if "torch" in r:
    import torch
    r["cuda"] = bool(torch.cuda.is_available())
    r["torch_cuda"] = torch.version.cuda
probe("accelerate", "accelerate")
if len(sys.argv) > 1:
    probe("own", sys.argv[1])
print("LORABENCH-PROBE " + json.dumps(r))
"#;

#[derive(Debug, Default, Deserialize)]
struct Probe {
    python: String,
    torch: Option<String>,
    torch_error: Option<String>,
    #[serde(default)]
    cuda: bool,
    torch_cuda: Option<String>,
    accelerate: Option<String>,
    accelerate_error: Option<String>,
    own: Option<String>,
    own_error: Option<String>,
}

fn trainer_checks(i: &Install, have_gpu: bool) -> Vec<Check> {
    let area = i.trainer.as_str().to_string();
    let mut checks = Vec::new();
    if let Some(path) = &i.path
        && !path.is_dir()
    {
        checks.push(
            Check::new(
                &area,
                Level::Problem,
                format!("{} is not a folder", path.display()),
            )
            .fix(format!("fix `trainers.{area}.path` in the user config")),
        );
        return checks;
    }
    let mut cmd = Command::new(&i.python);
    cmd.arg("-c").arg(PROBE);
    if let Some(m) = own_module(i.trainer) {
        cmd.arg(m);
    }
    if let Some(p) = &i.path {
        cmd.current_dir(p);
    }
    let probe = match run_probe(cmd) {
        Ok(p) => p,
        Err(e) => {
            checks.push(
                Check::new(
                    &area,
                    Level::Problem,
                    format!("python {}: {e}", i.python.display()),
                )
                .fix(format!(
                    "set `trainers.{area}.python` in the user config to the trainer's venv python"
                )),
            );
            return checks;
        }
    };
    checks.push(Check::new(
        &area,
        Level::Ok,
        format!("python {} ({})", probe.python, i.python.display()),
    ));
    match (&probe.torch, &probe.torch_error) {
        (Some(v), _) if probe.cuda => checks.push(Check::new(
            &area,
            Level::Ok,
            format!(
                "torch {v} with CUDA {}",
                probe.torch_cuda.as_deref().unwrap_or("?")
            ),
        )),
        (Some(v), _) => {
            let c = Check::new(
                &area,
                if have_gpu {
                    Level::Problem
                } else {
                    Level::Warning
                },
                format!(
                    "torch {v} sees no CUDA device (built for CUDA {})",
                    probe
                        .torch_cuda
                        .as_deref()
                        .unwrap_or("none: a CPU-only build")
                ),
            );
            checks.push(if have_gpu {
                c.fix("install the torch build for this driver's CUDA version into the trainer's venv (pytorch.org lists the index URLs)")
            } else {
                c.fix("fine for a CPU test; training needs an NVIDIA GPU")
            });
        }
        (None, e) => checks.push(
            Check::new(
                &area,
                Level::Problem,
                format!("torch does not import: {}", e.as_deref().unwrap_or("?")),
            )
            .fix("install the trainer's requirements into its venv"),
        ),
    }
    match (&probe.accelerate, &probe.accelerate_error) {
        (Some(v), _) => checks.push(Check::new(&area, Level::Ok, format!("accelerate {v}"))),
        (None, e)
            if matches!(
                i.trainer,
                TrainerId::Kohya | TrainerId::Diffusers | TrainerId::Simpletuner
            ) =>
        {
            checks.push(
                Check::new(
                    &area,
                    Level::Problem,
                    format!(
                        "accelerate does not import: {}",
                        e.as_deref().unwrap_or("?")
                    ),
                )
                .fix("pip install accelerate into the trainer's venv"),
            )
        }
        (None, _) => {}
    }
    if let Some(m) = own_module(i.trainer) {
        match (&probe.own, &probe.own_error) {
            (Some(_), _) => checks.push(Check::new(&area, Level::Ok, format!("{m} imports"))),
            (None, e) => checks.push(
                Check::new(&area, Level::Problem, format!("{m} does not import: {}", e.as_deref().unwrap_or("?")))
                    .fix("check `trainers.{area}.path` points at the checkout and its requirements are installed"),
            ),
        }
    }
    checks
}

fn run_probe(mut cmd: Command) -> Result<Probe, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > PROBE_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("importing took over {} s", PROBE_LIMIT.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("LORABENCH-PROBE "))
        .ok_or_else(|| format!("did not run ({})", out.status))?;
    serde_json::from_str(line).map_err(|e| e.to_string())
}

fn disk_check(what: &str, path: &Path) -> Check {
    // The folder may not exist yet: the nearest one that does is asked.
    match crate::monitor::host::disk(path).map(|d| d.free) {
        Some(free) if free < LOW_DISK => Check::new(
            "disk",
            Level::Warning,
            format!("{what} ({}): only {} GiB free", path.display(), free >> 30),
        )
        .fix("free some space or point the folder elsewhere; checkpoints and samples add up"),
        Some(free) => Check::new(
            "disk",
            Level::Ok,
            format!("{what} ({}): {} GiB free", path.display(), free >> 30),
        ),
        None => Check::new(
            "disk",
            Level::Warning,
            format!("{what} ({}): free space unknown", path.display()),
        ),
    }
}

/// Where the user config says each trainer lives. Until `train::config::UserConfig` is merged
/// here this reads only the `trainers:` map of `$XDG_CONFIG_HOME/lorabench/config.yaml`
/// (`python` defaulting to `DIR/venv/bin/python`, then `DIR/.venv/bin/python`, then `python3`).
pub fn configured_installs() -> Result<Vec<Install>, String> {
    #[derive(Deserialize, Default)]
    struct Entry {
        path: Option<PathBuf>,
        python: Option<PathBuf>,
    }
    #[derive(Deserialize, Default)]
    struct File {
        #[serde(default)]
        trainers: std::collections::BTreeMap<String, Entry>,
    }
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    let Some(path) = dir.map(|d| d.join("lorabench/config.yaml")) else {
        return Ok(Vec::new());
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let file: File =
        serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    file.trainers
        .into_iter()
        .map(|(name, e)| {
            let trainer: TrainerId = name
                .parse()
                .map_err(|m| format!("{}: {m}", path.display()))?;
            let python = e.python.unwrap_or_else(|| {
                e.path
                    .as_ref()
                    .map(|d| d.join("venv/bin/python"))
                    .filter(|p| p.exists())
                    .or_else(|| {
                        e.path
                            .as_ref()
                            .map(|d| d.join(".venv/bin/python"))
                            .filter(|p| p.exists())
                    })
                    .unwrap_or_else(|| PathBuf::from("python3"))
            });
            Ok(Install {
                trainer,
                path: e.path,
                python,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_python_is_a_problem_with_a_fix() {
        let checks = trainer_checks(
            &Install {
                trainer: TrainerId::Kohya,
                path: None,
                python: PathBuf::from("/nonexistent/python"),
            },
            false,
        );
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].level, Level::Problem);
        assert!(
            checks[0]
                .fix
                .as_deref()
                .unwrap()
                .contains("trainers.kohya.python")
        );
    }

    #[test]
    fn free_disk_is_read() {
        let c = disk_check("runs", Path::new("/tmp/does/not/exist/yet"));
        assert_ne!(c.level, Level::Problem);
        assert!(c.detail.contains("GiB free"), "{}", c.detail);
    }
}
