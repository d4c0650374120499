//! Worker mode: one training session described by a JSON spec, progress printed as JSON lines
//! that the runs core parses like any other trainer's structured output:
//! `{"step":3,"total":10,"loss":0.12,"lr":0.0001,"epoch":1}` per optimizer step and
//! `{"event":{"kind":"checkpoint_saved","path":"…","step":3}}` per checkpoint. SIGINT or
//! SIGTERM makes it save a checkpoint and exit cleanly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use super::config::UNetConfig;
use super::lora::{KohyaInfo, LoraSpec, Targets};
use super::noise::{NoiseConfig, Prediction};
use super::optim::{AdamWConfig, Schedule};
use super::session::{Example, Observer, Outcome, Session, SessionConfig, StepReport};
use super::unet::UNet;
use super::weights::Weights;
use super::{Result, TrainerError};
use crate::train::{Event, Point};

/// A randomly initialised SD-shaped UNet (pipeline demonstrations, tests).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TinyUnet {
    pub channels: Vec<usize>,
    pub groups: usize,
    pub heads: usize,
    pub cross_attention_dim: usize,
    #[serde(default)]
    pub seed: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum UnetSource {
    /// A diffusers folder or an SD1.x/2.x single-file checkpoint.
    Base(PathBuf),
    Tiny(TinyUnet),
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSpec {
    pub unet: UnetSource,
    /// safetensors with `latents.<i>` (C, H, W) and `context.<i>` (L, D), i = 0, 1, …
    pub inputs: PathBuf,
    pub output_dir: PathBuf,
    pub output_name: String,
    pub rank: usize,
    pub alpha: f32,
    /// Any of `attention`, `feed_forward`, `projections`, `resnets`.
    pub targets: Vec<String>,
    #[serde(default)]
    pub conv_rank: Option<usize>,
    #[serde(default)]
    pub conv_alpha: Option<f32>,
    pub steps: u64,
    pub batch_size: usize,
    #[serde(default = "one")]
    pub gradient_accumulation: usize,
    pub learning_rate: f64,
    /// `constant` or `cosine`.
    pub schedule: String,
    #[serde(default)]
    pub warmup_steps: u64,
    #[serde(default)]
    pub max_grad_norm: Option<f64>,
    #[serde(default)]
    pub weight_decay: Option<f64>,
    /// `epsilon` or `v`.
    #[serde(default)]
    pub prediction: Option<String>,
    #[serde(default)]
    pub noise_offset: f64,
    #[serde(default)]
    pub min_snr_gamma: Option<f64>,
    pub seed: u64,
    #[serde(default)]
    pub save_every: Option<u64>,
    /// A checkpoint folder of this run to continue from.
    #[serde(default)]
    pub resume_from: Option<PathBuf>,
}

impl WorkerSpec {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| TrainerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| TrainerError::Config {
            path: path.to_path_buf(),
            problem: format!("not a builtin-trainer worker spec: {e}"),
        })
    }

    fn lora(&self) -> Result<LoraSpec> {
        let mut t = Targets::default();
        for name in &self.targets {
            match name.as_str() {
                "attention" => t.attention = true,
                "feed_forward" => t.feed_forward = true,
                "projections" => t.projections = true,
                "resnets" => t.resnets = true,
                other => {
                    return Err(TrainerError::Unsupported(format!(
                        "LoRA target `{other}`; use attention, feed_forward, projections or resnets"
                    )));
                }
            }
        }
        let mut spec = LoraSpec::new(self.rank, self.alpha, t, self.seed);
        spec.conv_rank = self.conv_rank.unwrap_or(self.rank);
        spec.conv_alpha = self.conv_alpha.unwrap_or(self.alpha);
        Ok(spec)
    }

    fn session(&self, cfg: &UNetConfig, base_name: String) -> Result<SessionConfig> {
        let schedule = match self.schedule.as_str() {
            "constant" => Schedule::Constant,
            "cosine" => Schedule::Cosine,
            other => {
                return Err(TrainerError::Unsupported(format!(
                    "schedule `{other}`; use constant or cosine"
                )));
            }
        };
        let prediction = match self.prediction.as_deref() {
            None | Some("epsilon") => Prediction::Epsilon,
            Some("v") | Some("v_prediction") => Prediction::V,
            Some(other) => {
                return Err(TrainerError::Unsupported(format!(
                    "prediction `{other}`; use epsilon or v"
                )));
            }
        };
        let v2 = cfg.cross_attention_dim == 1024;
        Ok(SessionConfig {
            steps: self.steps,
            batch_size: self.batch_size,
            gradient_accumulation: self.gradient_accumulation,
            learning_rate: self.learning_rate,
            schedule,
            warmup_steps: self.warmup_steps,
            max_grad_norm: self.max_grad_norm,
            adamw: AdamWConfig {
                weight_decay: self
                    .weight_decay
                    .unwrap_or(AdamWConfig::default().weight_decay),
                ..AdamWConfig::default()
            },
            noise: NoiseConfig {
                prediction,
                noise_offset: self.noise_offset,
                min_snr_gamma: self.min_snr_gamma,
            },
            seed: self.seed,
            save_every: self.save_every,
            output_dir: self.output_dir.clone(),
            info: KohyaInfo {
                output_name: self.output_name.clone(),
                base_model_name: base_name,
                base_model_version: match (v2, prediction) {
                    (false, _) => "sd_v1",
                    (true, Prediction::Epsilon) => "sd_v2",
                    (true, Prediction::V) => "sd_v2_v",
                }
                .into(),
                v_prediction: prediction == Prediction::V,
                training_started_at: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                ..Default::default()
            },
        })
    }
}

/// Reads `latents.<i>` / `context.<i>` pairs.
pub fn read_inputs(path: &Path, device: &Device) -> Result<Vec<Example>> {
    let mut map =
        candle_core::safetensors::load(path, device).map_err(|source| TrainerError::Load {
            path: path.to_path_buf(),
            source,
        })?;
    let mut out = Vec::new();
    while let Some(latents) = map.remove(&format!("latents.{}", out.len())) {
        let i = out.len();
        let context = map
            .remove(&format!("context.{i}"))
            .ok_or_else(|| TrainerError::Config {
                path: path.to_path_buf(),
                problem: format!("`latents.{i}` has no `context.{i}`"),
            })?;
        out.push(Example {
            latents: latents.to_dtype(DType::F32)?,
            context: context.to_dtype(DType::F32)?,
        });
    }
    if out.is_empty() {
        return Err(TrainerError::Config {
            path: path.to_path_buf(),
            problem: "no `latents.0`; nothing to train on".into(),
        });
    }
    Ok(out)
}

/// Prints the JSON lines.
struct Lines<'w> {
    out: &'w mut dyn Write,
    started: std::time::Instant,
}

impl Observer for Lines<'_> {
    fn step(&mut self, r: &StepReport) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let point = Point {
            step: r.step,
            total: Some(r.total),
            loss: Some(r.loss),
            lr: Some(r.lr),
            rate: (elapsed > 0.0).then(|| r.step as f64 / elapsed),
            epoch: Some(r.epoch),
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs_f64()),
        };
        if let Ok(line) = serde_json::to_string(&point) {
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
        }
    }

    fn checkpoint(&mut self, dir: &Path, step: u64) {
        let event = Event::CheckpointSaved {
            path: dir.join("lora.safetensors"),
            step: Some(step),
        };
        if let Ok(line) = serde_json::to_string(&serde_json::json!({ "event": event })) {
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
        }
    }
}

/// A flag set by SIGINT or SIGTERM, for [`run`]'s `stop`.
pub fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&flag)).map_err(|source| TrainerError::Io {
            path: PathBuf::from("<signal handler>"),
            source,
        })?;
    }
    Ok(flag)
}

/// Runs the session `spec` describes on the CPU, printing JSON lines to `out`. An error is
/// also printed as an `error` event before it is returned.
pub fn run(spec: &WorkerSpec, out: &mut dyn Write, stop: &AtomicBool) -> Result<Outcome> {
    let result = run_inner(spec, out, stop);
    if let Err(e) = &result {
        let event = Event::Error {
            message: e.to_string(),
        };
        if let Ok(line) = serde_json::to_string(&serde_json::json!({ "event": event })) {
            let _ = writeln!(out, "{line}");
        }
    }
    result
}

fn run_inner(spec: &WorkerSpec, out: &mut dyn Write, stop: &AtomicBool) -> Result<Outcome> {
    let device = Device::Cpu;
    let (cfg, mut weights, base_name) = match &spec.unet {
        UnetSource::Base(path) => {
            let (cfg, w) = Weights::load(path, DType::F32, &device)?;
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            (cfg, w, name)
        }
        UnetSource::Tiny(t) => (
            UNetConfig::tiny(&t.channels, t.groups, t.heads, t.cross_attention_dim),
            Weights::random(t.seed, DType::F32, &device),
            "tiny (random weights)".to_string(),
        ),
    };
    let examples = read_inputs(&spec.inputs, &device)?;
    let (c, h, w) = examples[0].latents.dims3()?;
    if c != cfg.in_channels {
        return Err(TrainerError::Config {
            path: spec.inputs.clone(),
            problem: format!(
                "latents have {c} channels, the UNet takes {}",
                cfg.in_channels
            ),
        });
    }
    cfg.check_latent(h, w)
        .map_err(|problem| TrainerError::Config {
            path: spec.inputs.clone(),
            problem,
        })?;
    let lora = spec.lora()?;
    let (unet, set) = UNet::new(&cfg, &mut weights, Some(&lora))?;
    drop(weights);
    let mut session_cfg = spec.session(&cfg, base_name)?;
    session_cfg.info.resolution = (w * 8, h * 8);
    let mut session = Session::new(&unet, &set, &examples, session_cfg)?;
    if let Some(dir) = &spec.resume_from {
        session.resume(dir)?;
    }
    let mut lines = Lines {
        out,
        started: std::time::Instant::now(),
    };
    session.run(&mut lines, stop)
}

/// The inputs file for [`WorkerSpec::inputs`].
pub fn write_inputs(path: &Path, examples: &[Example]) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = Vec::with_capacity(2 * examples.len());
    for (i, e) in examples.iter().enumerate() {
        tensors.push((format!("latents.{i}"), e.latents.clone()));
        tensors.push((format!("context.{i}"), e.context.clone()));
    }
    crate::lora::safetensors::write_tensors(path, &tensors, &Default::default(), false)?;
    Ok(())
}
