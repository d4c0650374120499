//! A training session on prepared inputs (latents and text embeddings already encoded): the
//! step loop with gradient accumulation, clipping and the LR schedule, checkpoints every N
//! steps and at the end, and exact resume. The data order is a function of the step alone and
//! the noise generator's state is saved, so a resumed run draws what an uninterrupted one
//! would have drawn and reproduces its losses.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::lora::{KohyaInfo, LoraSet};
use super::noise::{DdpmSchedule, NoiseConfig, weighted_mse};
use super::optim::{AdamW, AdamWConfig, Schedule};
use super::rng::Rng;
use super::unet::UNet;
use super::{Result, TrainerError};

/// One training example: latents (C, H, W) and its text embedding (L, D).
#[derive(Clone)]
pub struct Example {
    pub latents: Tensor,
    pub context: Tensor,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub steps: u64,
    pub batch_size: usize,
    pub gradient_accumulation: usize,
    pub learning_rate: f64,
    pub schedule: Schedule,
    pub warmup_steps: u64,
    pub max_grad_norm: Option<f64>,
    pub adamw: AdamWConfig,
    pub noise: NoiseConfig,
    pub seed: u64,
    /// Save a checkpoint every this many steps (and always at the end).
    pub save_every: Option<u64>,
    pub output_dir: PathBuf,
    pub info: KohyaInfo,
}

/// What one optimizer step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// 1-based.
    pub step: u64,
    pub total: u64,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    pub epoch: u64,
}

/// What a session tells its caller as it goes.
pub trait Observer {
    fn step(&mut self, report: &StepReport);
    fn checkpoint(&mut self, dir: &Path, step: u64);
}

/// The resumable state beside the LoRA and optimizer files of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct State {
    step: u64,
    rng: u64,
    seed: u64,
    examples: usize,
    batch_size: usize,
    gradient_accumulation: usize,
}

const LORA_FILE: &str = "lora.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const STATE_FILE: &str = "state.json";

/// How a session ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub steps_done: u64,
    pub last_checkpoint: Option<PathBuf>,
    /// Stopped by the stop flag before `steps`.
    pub stopped: bool,
}

pub struct Session<'a> {
    unet: &'a UNet,
    lora: &'a LoraSet,
    params: Vec<(String, candle_core::Var)>,
    examples: &'a [Example],
    cfg: SessionConfig,
    optimizer: AdamW,
    schedule: DdpmSchedule,
    rng: Rng,
    step: u64,
}

impl<'a> Session<'a> {
    pub fn new(
        unet: &'a UNet,
        lora: &'a LoraSet,
        examples: &'a [Example],
        cfg: SessionConfig,
    ) -> Result<Self> {
        if examples.is_empty() {
            return Err(TrainerError::Unsupported("no training examples".into()));
        }
        if cfg.batch_size == 0 || cfg.gradient_accumulation == 0 {
            return Err(TrainerError::Unsupported(
                "batch size and gradient accumulation must be at least 1".into(),
            ));
        }
        let shape = examples[0].latents.dims().to_vec();
        if let Some(e) = examples.iter().find(|e| e.latents.dims() != shape) {
            return Err(TrainerError::Unsupported(format!(
                "latents of shapes {:?} and {:?} in one session; one bucket per session",
                shape,
                e.latents.dims()
            )));
        }
        let params = lora.vars();
        let optimizer = AdamW::new(&params, cfg.adamw)?;
        Ok(Session {
            unet,
            lora,
            params,
            examples,
            rng: Rng::new(cfg.seed),
            cfg,
            optimizer,
            schedule: DdpmSchedule::sd(),
            step: 0,
        })
    }

    /// Continues from a checkpoint folder written by this kind of session.
    pub fn resume(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| TrainerError::Io {
            path: path.clone(),
            source,
        })?;
        let state: State = serde_json::from_str(&text).map_err(|e| TrainerError::Config {
            path: path.clone(),
            problem: format!("not a checkpoint state: {e}"),
        })?;
        let here = self.state();
        if (
            state.seed,
            state.examples,
            state.batch_size,
            state.gradient_accumulation,
        ) != (
            here.seed,
            here.examples,
            here.batch_size,
            here.gradient_accumulation,
        ) {
            return Err(TrainerError::Config {
                path,
                problem: "the checkpoint was made with another seed, dataset size, batch size or \
                          gradient accumulation; resuming would not continue the same run"
                    .into(),
            });
        }
        self.lora.load_kohya(&dir.join(LORA_FILE))?;
        self.optimizer.load(&dir.join(OPTIMIZER_FILE))?;
        self.step = state.step;
        self.rng = Rng::new(state.rng);
        Ok(())
    }

    fn state(&self) -> State {
        State {
            step: self.step,
            rng: self.rng.state(),
            seed: self.cfg.seed,
            examples: self.examples.len(),
            batch_size: self.cfg.batch_size,
            gradient_accumulation: self.cfg.gradient_accumulation,
        }
    }

    /// Example index at position `cursor` of the endless stream: epoch e is a shuffle seeded
    /// by (seed, e), so the order needs no state of its own.
    fn example_at(&self, cursor: u64) -> (usize, u64) {
        let n = self.examples.len() as u64;
        let (epoch, pos) = (cursor / n, cursor % n);
        let mut order: Vec<usize> = (0..self.examples.len()).collect();
        let mut r = Rng::new(self.cfg.seed ^ epoch.wrapping_mul(0xA076_1D64_78BD_642F) ^ 0x5EED);
        for i in (1..order.len()).rev() {
            order.swap(i, r.below(i as u64 + 1) as usize);
        }
        (order[pos as usize], epoch)
    }

    fn batch(&self, micro: u64) -> Result<(Tensor, Tensor, u64)> {
        let b = self.cfg.batch_size as u64;
        let picks: Vec<(usize, u64)> = (0..b).map(|k| self.example_at(micro * b + k)).collect();
        let lat: Vec<&Tensor> = picks
            .iter()
            .map(|(i, _)| &self.examples[*i].latents)
            .collect();
        let ctx: Vec<&Tensor> = picks
            .iter()
            .map(|(i, _)| &self.examples[*i].context)
            .collect();
        let epoch = picks.first().map_or(0, |p| p.1);
        Ok((Tensor::stack(&lat, 0)?, Tensor::stack(&ctx, 0)?, epoch))
    }

    /// Runs to `steps` (or until `stop` is set, which saves a checkpoint first).
    pub fn run(&mut self, observer: &mut dyn Observer, stop: &AtomicBool) -> Result<Outcome> {
        let total = self.cfg.steps;
        let accum = self.cfg.gradient_accumulation as u64;
        let mut last = None;
        while self.step < total {
            if stop.load(Ordering::Relaxed) {
                let dir = self.save(observer)?;
                return Ok(Outcome {
                    steps_done: self.step,
                    last_checkpoint: Some(dir),
                    stopped: true,
                });
            }
            let mut sums: Option<Vec<Tensor>> = None;
            let mut loss_sum = 0.0;
            let mut epoch = 0;
            for k in 0..accum {
                let (latents, context, e) = self.batch(self.step * accum + k)?;
                epoch = e;
                let nb = self
                    .schedule
                    .noise(&latents, &self.cfg.noise, &mut self.rng)?;
                let pred = self.unet.forward(&nb.noisy, &nb.timesteps, &context)?;
                let loss = weighted_mse(&pred, &nb.target, &nb.weights)?;
                let value = f64::from(loss.to_scalar::<f32>()?);
                if !value.is_finite() {
                    return Err(TrainerError::Unsupported(format!(
                        "loss is {value} at step {}; stopping (the last good checkpoint is kept)",
                        self.step + 1
                    )));
                }
                loss_sum += value;
                let grads = loss.backward()?;
                let mut gs = Vec::with_capacity(self.params.len());
                for (name, var) in &self.params {
                    let g = grads.get(var.as_tensor()).ok_or_else(|| {
                        TrainerError::Unsupported(format!("no gradient reached `{name}`"))
                    })?;
                    gs.push(g.clone());
                }
                sums = Some(match sums {
                    None => gs,
                    Some(s) => s
                        .iter()
                        .zip(&gs)
                        .map(|(a, b)| a + b)
                        .collect::<candle_core::Result<_>>()?,
                });
            }
            let grads = match sums {
                Some(s) if accum > 1 => s
                    .iter()
                    .map(|g| g / accum as f64)
                    .collect::<candle_core::Result<_>>()?,
                Some(s) => s,
                None => Vec::new(),
            };
            let lr = self.cfg.learning_rate
                * self
                    .cfg
                    .schedule
                    .factor(self.step, total, self.cfg.warmup_steps);
            let stats = self
                .optimizer
                .update(&self.params, grads, lr, self.cfg.max_grad_norm)?;
            self.step += 1;
            observer.step(&StepReport {
                step: self.step,
                total,
                loss: loss_sum / accum as f64,
                lr,
                grad_norm: stats.grad_norm,
                epoch,
            });
            let due = self
                .cfg
                .save_every
                .is_some_and(|n| n > 0 && self.step.is_multiple_of(n));
            if due || self.step == total {
                last = Some(self.save(observer)?);
            }
        }
        Ok(Outcome {
            steps_done: self.step,
            last_checkpoint: last,
            stopped: false,
        })
    }

    /// `output_dir/step-NNNNNN/`: the LoRA (kohya), the optimizer state and state.json,
    /// written into a temporary folder renamed into place, so a checkpoint is whole or absent.
    fn save(&self, observer: &mut dyn Observer) -> Result<PathBuf> {
        let dir = self.cfg.output_dir.join(format!("step-{:06}", self.step));
        let tmp = self
            .cfg
            .output_dir
            .join(format!(".step-{:06}.partial", self.step));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TrainerError::Io { path, source }
        };
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let mut info = self.cfg.info.clone();
        info.steps = self.step;
        info.learning_rate = self.cfg.learning_rate;
        info.lr_scheduler = self.cfg.schedule.name().into();
        info.seed = self.cfg.seed;
        self.lora.save_kohya(&tmp.join(LORA_FILE), &info)?;
        self.optimizer.save(&tmp.join(OPTIMIZER_FILE))?;
        let state = serde_json::to_string_pretty(&self.state())
            .map_err(|e| TrainerError::Unsupported(e.to_string()))?;
        std::fs::write(tmp.join(STATE_FILE), state).map_err(io(&tmp))?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
        observer.checkpoint(&dir, self.step);
        Ok(dir)
    }
}
