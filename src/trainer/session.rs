//! A training session on prepared inputs (latents and text embeddings already encoded): the
//! step loop with gradient accumulation, clipping and the LR schedule, checkpoints every N
//! steps and at the end, and exact resume. The data order is a function of the step alone and
//! the noise generator's state is saved, so a resumed run draws what an uninterrupted one
//! would have drawn and reproduces its losses.
//!
//! Examples of different latent sizes (aspect-ratio buckets) are never batched together: each
//! epoch shuffles every bucket, cuts it into batches and shuffles the batches (sd-scripts'
//! rule). A checkpoint is kohya's layout: `NAME-stepNNNNNNNN.safetensors` (the LoRA) beside
//! `NAME-stepNNNNNNNN-state/` (optimizer state and the step counter), which the runs core does
//! not list as a LoRA.

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
    /// A checkpoint was saved: the LoRA file and its state folder.
    fn checkpoint(&mut self, saved: &Checkpoint, step: u64);
    /// After each optimizer step, with the model as trained so far (samples are made here).
    fn after_step(&mut self, _unet: &UNet, _step: u64) -> Result<()> {
        Ok(())
    }
}

/// The text embedding of each example, drawn afresh per use (caption shuffling and dropout);
/// without one the session uses [`Example::context`].
pub trait Conditioning {
    /// The (L, D) embedding for example `index` at position `cursor` of the example stream.
    fn context(&self, index: usize, cursor: u64) -> Result<Tensor>;
}

/// A saved checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub lora: PathBuf,
    /// Resume from this folder.
    pub state: PathBuf,
}

impl Checkpoint {
    /// The checkpoint whose state folder is `state` (`X-state` beside `X.safetensors`).
    pub fn of_state(state: &Path) -> Checkpoint {
        let name = state
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = name.strip_suffix("-state").unwrap_or(&name);
        Checkpoint {
            lora: state.with_file_name(format!("{stem}.safetensors")),
            state: state.to_path_buf(),
        }
    }
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

const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const STATE_FILE: &str = "state.json";

/// How a session ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub steps_done: u64,
    pub last_checkpoint: Option<Checkpoint>,
    /// Stopped by the stop flag before `steps`.
    pub stopped: bool,
}

fn shuffle(v: &mut [usize], r: &mut Rng) {
    for i in (1..v.len()).rev() {
        v.swap(i, r.below(i as u64 + 1) as usize);
    }
}

/// Example indices by latent shape, in order of first appearance.
fn buckets_of(examples: &[Example]) -> Vec<Vec<usize>> {
    let mut shapes: Vec<&[usize]> = Vec::new();
    let mut buckets: Vec<Vec<usize>> = Vec::new();
    for (i, e) in examples.iter().enumerate() {
        match shapes.iter().position(|s| *s == e.latents.dims()) {
            Some(b) => buckets[b].push(i),
            None => {
                shapes.push(e.latents.dims());
                buckets.push(vec![i]);
            }
        }
    }
    buckets
}

fn batches_per_epoch(buckets: &[Vec<usize>], batch_size: usize) -> u64 {
    buckets
        .iter()
        .map(|ix| ix.len().div_ceil(batch_size.max(1)) as u64)
        .sum()
}

/// Optimizer steps in one pass over `examples` (for `train.epochs`).
pub fn steps_per_epoch(examples: &[Example], batch_size: usize, accum: usize) -> u64 {
    batches_per_epoch(&buckets_of(examples), batch_size)
        .div_ceil(accum.max(1) as u64)
        .max(1)
}

pub struct Session<'a> {
    unet: &'a UNet,
    lora: &'a LoraSet,
    params: Vec<(String, candle_core::Var)>,
    examples: &'a [Example],
    conditioning: Option<&'a dyn Conditioning>,
    /// Example indices by latent shape, in order of first appearance.
    buckets: Vec<Vec<usize>>,
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
        let buckets = buckets_of(examples);
        let params = lora.vars();
        let optimizer = AdamW::new(&params, cfg.adamw)?;
        Ok(Session {
            unet,
            lora,
            params,
            examples,
            conditioning: None,
            buckets,
            rng: Rng::new(cfg.seed),
            cfg,
            optimizer,
            schedule: DdpmSchedule::sd(),
            step: 0,
        })
    }

    /// Draws each example's text embedding from `c` instead of [`Example::context`].
    pub fn with_conditioning(mut self, c: &'a dyn Conditioning) -> Self {
        self.conditioning = Some(c);
        self
    }

    /// The optimizer steps done (where a resumed session starts).
    pub fn step(&self) -> u64 {
        self.step
    }

    fn batches_per_epoch(&self) -> u64 {
        batches_per_epoch(&self.buckets, self.cfg.batch_size)
    }

    /// Continues from a checkpoint state folder written by this kind of session.
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
        self.lora.load_kohya(&Checkpoint::of_state(dir).lora)?;
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

    /// The examples of micro-batch `micro` of the endless stream and its epoch: epoch e is a
    /// shuffle seeded by (seed, e), so the order needs no state of its own.
    fn batch_indices(&self, micro: u64) -> (Vec<usize>, u64) {
        let per_epoch = self.batches_per_epoch().max(1);
        let (epoch, pos) = (micro / per_epoch, micro % per_epoch);
        let mut r = Rng::new(self.cfg.seed ^ epoch.wrapping_mul(0xA076_1D64_78BD_642F) ^ 0x5EED);
        let mut batches: Vec<Vec<usize>> = Vec::new();
        for bucket in &self.buckets {
            let mut order = bucket.clone();
            shuffle(&mut order, &mut r);
            batches.extend(order.chunks(self.cfg.batch_size).map(<[usize]>::to_vec));
        }
        let mut which: Vec<usize> = (0..batches.len()).collect();
        shuffle(&mut which, &mut r);
        let picked = which
            .get(pos as usize)
            .and_then(|&b| batches.get(b).cloned())
            .unwrap_or_default();
        (picked, epoch)
    }

    fn batch(&self, micro: u64) -> Result<(Tensor, Tensor, u64)> {
        let (picks, epoch) = self.batch_indices(micro);
        let b = self.cfg.batch_size as u64;
        let lat: Vec<&Tensor> = picks.iter().map(|i| &self.examples[*i].latents).collect();
        let ctx: Vec<Tensor> = picks
            .iter()
            .enumerate()
            .map(|(k, &i)| match self.conditioning {
                Some(c) => c.context(i, micro * b + k as u64),
                None => Ok(self.examples[i].context.clone()),
            })
            .collect::<Result<_>>()?;
        let dev = self.unet.device();
        Ok((
            Tensor::stack(&lat, 0)?.to_device(dev)?,
            Tensor::stack(&ctx, 0)?.to_device(dev)?,
            epoch,
        ))
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
            observer.after_step(self.unet, self.step)?;
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

    /// `NAME-stepNNNNNNNN.safetensors` and its `-state` folder, each written under a temporary
    /// name and renamed into place, the LoRA first: a checkpoint is whole or absent.
    fn save(&self, observer: &mut dyn Observer) -> Result<Checkpoint> {
        let stem = format!("{}-step{:08}", self.cfg.info.output_name, self.step);
        let out = &self.cfg.output_dir;
        let saved = Checkpoint {
            lora: out.join(format!("{stem}.safetensors")),
            state: out.join(format!("{stem}-state")),
        };
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TrainerError::Io { path, source }
        };
        std::fs::create_dir_all(out).map_err(io(out))?;
        let mut info = self.cfg.info.clone();
        info.steps = self.step;
        info.learning_rate = self.cfg.learning_rate;
        info.lr_scheduler = self.cfg.schedule.name().into();
        info.seed = self.cfg.seed;
        let tmp_lora = out.join(format!(".{stem}.safetensors.partial"));
        self.lora.save_kohya(&tmp_lora, &info)?;
        std::fs::rename(&tmp_lora, &saved.lora).map_err(io(&saved.lora))?;
        let tmp = out.join(format!(".{stem}-state.partial"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        self.optimizer.save(&tmp.join(OPTIMIZER_FILE))?;
        let state = serde_json::to_string_pretty(&self.state())
            .map_err(|e| TrainerError::Unsupported(e.to_string()))?;
        std::fs::write(tmp.join(STATE_FILE), state).map_err(io(&tmp))?;
        if saved.state.exists() {
            std::fs::remove_dir_all(&saved.state).map_err(io(&saved.state))?;
        }
        std::fs::rename(&tmp, &saved.state).map_err(io(&saved.state))?;
        observer.checkpoint(&saved, self.step);
        Ok(saved)
    }
}
