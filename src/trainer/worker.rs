//! Worker mode (`lorabench __train-worker SPEC`): one training run described by a JSON spec
//! (written by the builtin backend), progress printed on stdout as the JSON lines the runs
//! core's jsonl parser reads: `{"step":3,"total":10,"loss":0.12,"lr":0.0001,"epoch":1}` per
//! optimizer step, and an [`Event`] as it serialises (`{"kind":"checkpoint_saved","path":"…",
//! "step":3}`, `sample_written`, `error`). Notes for people go to stderr. SIGINT or SIGTERM
//! makes it save a checkpoint and exit cleanly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device};
use serde::Deserialize;

use super::config::UNetConfig;
use super::data::DataSpec;
use super::encoders::{TextEncoder, TinyEncoders, Vae};
use super::lora::{KohyaInfo, LoraSpec, Targets};
use super::noise::{NoiseConfig, Prediction};
use super::optim::{AdamWConfig, Schedule};
use super::sample::Sampler;
use super::session::{Checkpoint, Observer, Outcome, Session, SessionConfig, StepReport};
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

/// The base model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ModelSource {
    /// A diffusers pipeline folder (`unet/`, `vae/`, `text_encoder/`).
    Base(PathBuf),
    /// Random weights from fixed seeds: a pipeline demonstration, not a useful model.
    Tiny {
        unet: TinyUnet,
        encoders: TinyEncoders,
    },
}

/// Sample images every N steps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSpec {
    pub every_n_steps: u64,
    pub prompts: Vec<String>,
    pub steps: usize,
    pub seed: u64,
    pub guidance: f64,
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSpec {
    pub model: ModelSource,
    pub data: DataSpec,
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
    /// Optimizer steps; or `epochs` passes over the data.
    #[serde(default)]
    pub steps: Option<u64>,
    #[serde(default)]
    pub epochs: Option<u64>,
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
    #[serde(default)]
    pub sample: Option<SampleSpec>,
    /// A checkpoint state folder of this run to continue from.
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

    fn prediction(&self) -> Result<Prediction> {
        match self.prediction.as_deref() {
            None | Some("epsilon") => Ok(Prediction::Epsilon),
            Some("v") | Some("v_prediction") => Ok(Prediction::V),
            Some(other) => Err(TrainerError::Unsupported(format!(
                "prediction `{other}`; use epsilon or v"
            ))),
        }
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
        let prediction = self.prediction()?;
        let v2 = cfg.cross_attention_dim == 1024;
        Ok(SessionConfig {
            steps: self.steps.unwrap_or(0),
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

/// One JSON line on `out`.
fn emit(out: &mut dyn Write, value: &impl serde::Serialize) {
    if let Ok(line) = serde_json::to_string(value) {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Prints the JSON lines and makes the samples.
struct Lines<'w> {
    out: &'w mut dyn Write,
    started: std::time::Instant,
    first_step: u64,
    sampler: Option<(Sampler<'w>, u64)>,
}

impl Observer for Lines<'_> {
    fn step(&mut self, r: &StepReport) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let done = r.step.saturating_sub(self.first_step);
        let point = Point {
            step: r.step,
            total: Some(r.total),
            loss: Some(r.loss),
            lr: Some(r.lr),
            rate: (elapsed > 0.0).then(|| done as f64 / elapsed),
            epoch: Some(r.epoch),
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs_f64()),
        };
        emit(self.out, &point);
    }

    fn checkpoint(&mut self, saved: &Checkpoint, step: u64) {
        let event = Event::CheckpointSaved {
            path: saved.lora.clone(),
            step: Some(step),
        };
        emit(self.out, &event);
    }

    fn after_step(&mut self, unet: &UNet, step: u64) -> Result<()> {
        let Some((sampler, every)) = &self.sampler else {
            return Ok(());
        };
        if *every == 0 || !step.is_multiple_of(*every) {
            return Ok(());
        }
        for path in sampler.write(unet, step)? {
            emit(
                self.out,
                &Event::SampleWritten {
                    path,
                    step: Some(step),
                },
            );
        }
        Ok(())
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

/// Runs the session `spec` describes (on the GPU in a `cuda` build), printing JSON lines to `out`. An error is
/// also printed as an `error` event before it is returned.
pub fn run(spec: &WorkerSpec, out: &mut dyn Write, stop: &AtomicBool) -> Result<Outcome> {
    let result = run_inner(spec, out, stop);
    if let Err(e) = &result {
        emit(
            out,
            &Event::Error {
                message: e.to_string(),
            },
        );
    }
    result
}

fn run_inner(spec: &WorkerSpec, out: &mut dyn Write, stop: &AtomicBool) -> Result<Outcome> {
    // The first GPU the launcher left visible (CUDA_VISIBLE_DEVICES) in a `cuda` build; the
    // CPU in the default build, where candle answers "no CUDA" with the CPU.
    let device = Device::cuda_if_available(0)?;
    eprintln!(
        "device: {}",
        if device.is_cuda() { "cuda:0" } else { "cpu" }
    );
    let (cfg, mut weights, vae, text, base_name) = match &spec.model {
        ModelSource::Base(path) => {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            if path.is_dir() {
                let (cfg, w) = Weights::load(path, DType::F32, &device)?;
                let vae = Vae::load(path, &device)?;
                let text = TextEncoder::load(path, &device)?;
                (cfg, w, vae, text, name)
            } else {
                // A single-file checkpoint: read once, the three models taken from it.
                let tensors = super::weights::read(path, &device)?;
                let vae = Vae::from_single_file(path, &tensors, &device)?;
                let text = TextEncoder::from_single_file(path, &tensors, &device)?;
                let (cfg, w) = Weights::from_checkpoint(path, tensors, DType::F32, &device)?;
                (cfg, w, vae, text, name)
            }
        }
        ModelSource::Tiny { unet: t, encoders } => (
            UNetConfig::tiny(&t.channels, t.groups, t.heads, t.cross_attention_dim),
            Weights::random(t.seed, DType::F32, &device),
            Vae::tiny(encoders, &device)?,
            TextEncoder::tiny(encoders, &device)?,
            "tiny (random weights; a pipeline demonstration)".to_string(),
        ),
    };
    if text.width != cfg.cross_attention_dim {
        return Err(TrainerError::Unsupported(format!(
            "the text encoder is {} wide, the UNet's cross-attention takes {}; they are not \
             parts of one model",
            text.width, cfg.cross_attention_dim
        )));
    }
    let started = std::time::Instant::now();
    let data = super::data::load(&spec.data, &vae, text, spec.seed)?;
    for s in &data.skipped {
        eprintln!("skipped (unreadable): {s}");
    }
    eprintln!(
        "data: {} examples from {} ({:.1} s, caches in {})",
        data.examples.len(),
        spec.data.dataset_dir.display(),
        started.elapsed().as_secs_f64(),
        spec.data.cache_dir.display()
    );
    let (c, h, w) = data.examples[0].latents.dims3()?;
    if c != cfg.in_channels {
        return Err(TrainerError::Unsupported(format!(
            "the VAE makes {c}-channel latents, the UNet takes {}",
            cfg.in_channels
        )));
    }
    for e in &data.examples {
        let (_, h, w) = e.latents.dims3()?;
        cfg.check_latent(h, w)
            .map_err(|problem| TrainerError::Config {
                path: spec.data.dataset_dir.clone(),
                problem,
            })?;
    }
    let lora = spec.lora()?;
    let (unet, set) = UNet::new(&cfg, &mut weights, Some(&lora))?;
    drop(weights);
    let mut session_cfg = spec.session(&cfg, base_name)?;
    session_cfg.info.resolution = (w * vae.factor, h * vae.factor);
    session_cfg.steps = match (spec.steps, spec.epochs) {
        (Some(s), _) => s,
        (None, Some(e)) => {
            e * super::session::steps_per_epoch(
                &data.examples,
                spec.batch_size,
                spec.gradient_accumulation,
            )
        }
        (None, None) => {
            return Err(TrainerError::Unsupported(
                "neither train.steps nor train.epochs is set".into(),
            ));
        }
    };
    let mut session = Session::new(&unet, &set, &data.examples, session_cfg)?;
    if let Some(c) = data.conditioning() {
        session = session.with_conditioning(c);
    }
    if let Some(dir) = &spec.resume_from {
        session.resume(dir)?;
    }
    let sampler = match &spec.sample {
        Some(s) if !s.prompts.is_empty() => {
            let tokenizer = crate::dataset::tokens::clip()
                .map_err(|e| TrainerError::Unsupported(e.to_string()))?;
            let text = data.captions.encoder();
            let prompts = s
                .prompts
                .iter()
                .map(|p| text.encode(&tokenizer.encode(p)))
                .collect::<Result<_>>()?;
            let side = spec.data.resolution as usize / vae.factor;
            Some((
                Sampler {
                    vae: &vae,
                    prompts,
                    uncond: data.captions.empty().clone(),
                    steps: s.steps,
                    guidance: s.guidance,
                    seed: s.seed,
                    size: (side, side),
                    prediction: spec.prediction()?,
                    dir: spec.output_dir.join("sample"),
                    name: spec.output_name.clone(),
                },
                s.every_n_steps,
            ))
        }
        _ => None,
    };
    let mut lines = Lines {
        out,
        started: std::time::Instant::now(),
        first_step: session.step(),
        sampler,
    };
    session.run(&mut lines, stop)
}

/// `lorabench __train-worker SPEC`: runs the spec, printing JSON lines on stdout. Exit
/// status 0 when it finished or was stopped (a checkpoint saved), 1 on an error (printed as
/// an error event and on stderr).
pub fn main(spec_path: &Path) -> std::process::ExitCode {
    let fail = |e: &TrainerError| {
        eprintln!("lorabench train worker: {e}");
        std::process::ExitCode::FAILURE
    };
    let stop = match stop_on_signals() {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let spec = match WorkerSpec::read(spec_path) {
        Ok(s) => s,
        Err(e) => {
            emit(
                &mut std::io::stdout(),
                &Event::Error {
                    message: e.to_string(),
                },
            );
            return fail(&e);
        }
    };
    let mut stdout = std::io::stdout();
    match run(&spec, &mut stdout, &stop) {
        Ok(o) => {
            if o.stopped {
                eprintln!("stopped at step {}; checkpoint saved", o.steps_done);
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}
