//! The builtin backend: lorabench's own candle trainer (`src/trainer`), run as
//! `lorabench __train-worker builtin.json` (the running binary itself). The config becomes the
//! worker's JSON spec; progress comes back as JSON lines. It trains SD1.x LoRA from a diffusers
//! folder, or the `tiny` preset's random model (`backend_options.random_model: tiny`, a
//! pipeline demonstration); SDXL and Flux are refused with the backends that train them.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Job, PlanError};
use crate::dataset::buckets::Model;
use crate::train::config::{Optimizer, Scheduler, TrainConfig};
use crate::train::{LaunchPlan, TrainerId};

const ID: TrainerId = TrainerId::Builtin;

/// The spec file, relative to the run folder.
pub const SPEC_FILE: &str = "builtin.json";

pub const HONOURS: &[&str] = &[
    "model.base",
    "model.v_prediction",
    "dataset.caption_extension",
    "dataset.resolution",
    "dataset.repeats",
    "dataset.buckets.*",
    "network.rank",
    "network.alpha",
    "network.target_modules",
    "network.conv_rank",
    "network.conv_alpha",
    "train.steps",
    "train.epochs",
    "train.batch_size",
    "train.grad_accum",
    "train.lr",
    "train.optimizer",
    "train.scheduler",
    "train.warmup_steps",
    "train.seed",
    "train.shuffle_caption",
    "train.keep_tokens",
    "train.caption_dropout",
    "train.noise_offset",
    "train.min_snr_gamma",
    "save.every_n_steps",
    "save.file_name",
    "sample.every_n_steps",
    "sample.prompts",
    "sample.sampler",
    "sample.steps",
    "sample.seed",
];

/// The sizes of the `tiny` random model: a UNet of (32, 64) channels, a four-block VAE (8×
/// down, like SD's) and a two-layer CLIP, all 32 wide.
fn tiny_model(seed: u64) -> Value {
    json!({"tiny": {
        "unet": {"channels": [32, 64], "groups": 8, "heads": 4, "cross_attention_dim": 32,
                 "seed": seed},
        "encoders": {"vae_channels": [8, 16, 16, 16], "vae_groups": 4, "text_width": 32,
                     "text_layers": 2, "text_heads": 4, "seed": seed},
    }})
}

fn unsupported(key: &str, why: impl Into<String>) -> PlanError {
    PlanError::Unsupported {
        key: key.into(),
        backend: ID,
        why: why.into(),
    }
}

/// The base model part of the spec.
fn model(job: &Job) -> Result<Value, PlanError> {
    let c = job.config;
    let random = c.backend_options.get("random_model");
    if let Some(key) = c.backend_options.keys().find(|k| *k != "random_model") {
        return Err(PlanError::BadOption {
            key: key.clone(),
            why: "the builtin backend knows only `random_model`".into(),
        });
    }
    match (random, &c.model.base) {
        (Some(Value::String(s)), None) if s == "tiny" => Ok(tiny_model(c.train.seed.unwrap_or(0))),
        (Some(_), Some(_)) => Err(PlanError::BadOption {
            key: "random_model".into(),
            why: "a random model and model.base at once; set one".into(),
        }),
        (Some(v), None) => Err(PlanError::BadOption {
            key: "random_model".into(),
            why: format!("{v} is not a random model; the one there is is `tiny`"),
        }),
        (None, Some(base)) => {
            let single_file = base.is_file()
                && base
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
            if !base.is_dir() && !single_file {
                return Err(unsupported(
                    "model.base",
                    format!(
                        "{} is neither a diffusers folder (unet/, vae/, text_encoder/) nor a \
                         single-file .safetensors checkpoint",
                        base.display()
                    ),
                ));
            }
            Ok(json!({ "base": base }))
        }
        (None, None) => Err(PlanError::Needs {
            key: "model.base".into(),
            backend: ID,
            why: "give --base with an SD1.5 diffusers folder or .safetensors checkpoint, or try the pipeline demonstration with \
                  --preset tiny (or pick another trainer with --backend)"
                .into(),
        }),
    }
}

/// SD1.x only, for now: SDXL's text-time conditioning and second text encoder are a later step.
fn check_family(job: &Job) -> Result<(), PlanError> {
    match job.family {
        Model::Sd15 => Ok(()),
        other => Err(unsupported(
            "model.family",
            format!(
                "it trains SD1.x only; {} LoRA is trained by the kohya, ai-toolkit, diffusers, \
                 simpletuner or onetrainer backend (`--backend kohya`)",
                other.as_str()
            ),
        )),
    }
}

fn targets(c: &TrainConfig) -> Result<Vec<String>, PlanError> {
    let known = ["attention", "feed_forward", "projections", "resnets"];
    let mut out: Vec<String> = match &c.network.target_modules {
        Some(list) => {
            if let Some(bad) = list.iter().find(|t| !known.contains(&t.as_str())) {
                return Err(unsupported(
                    "network.target_modules",
                    format!("`{bad}` is none of {}", known.join(", ")),
                ));
            }
            list.clone()
        }
        // sd-scripts' default for SD1.x: every linear layer of the transformers.
        None => ["attention", "feed_forward", "projections"]
            .map(String::from)
            .to_vec(),
    };
    if c.network.conv_rank.is_some() && !out.iter().any(|t| t == "resnets") {
        out.push("resnets".into());
    }
    Ok(out)
}

fn schedule(c: &TrainConfig) -> Result<&'static str, PlanError> {
    match c.train.scheduler {
        None | Some(Scheduler::Constant) | Some(Scheduler::ConstantWithWarmup) => Ok("constant"),
        Some(Scheduler::Cosine) => Ok("cosine"),
        Some(other) => Err(unsupported(
            "train.scheduler",
            format!(
                "it has constant, constant_with_warmup and cosine, not {}",
                other.as_str()
            ),
        )),
    }
}

/// The worker spec as JSON, around the `model` part.
fn spec(job: &Job, model: Value) -> Result<Value, PlanError> {
    let c = job.config;
    let t = &c.train;
    if let Some(o) = t.optimizer.filter(|o| *o != Optimizer::Adamw) {
        return Err(unsupported(
            "train.optimizer",
            format!("it has AdamW only, not {o:?}"),
        ));
    }
    if let Some(s) = c.sample.sampler.as_deref().filter(|s| *s != "ddim") {
        return Err(unsupported(
            "sample.sampler",
            format!("it samples with ddim only, not {s}"),
        ));
    }
    let resolution = c.dataset.resolution.unwrap_or(512);
    let b = &c.dataset.buckets;
    let buckets = (b.enabled == Some(true)).then(|| {
        json!({
            "min": b.min.unwrap_or(256),
            "max": b.max.unwrap_or(1024),
            "step": b.step.unwrap_or(64),
            "no_upscale": b.no_upscale.unwrap_or(false),
        })
    });
    let rank = c.network.rank.unwrap_or(16);
    let prompts = super::prompt_lines(c);
    let sample = (!prompts.is_empty()).then(|| {
        json!({
            "every_n_steps": c.sample.every_n_steps.unwrap_or(0),
            "prompts": prompts,
            "steps": c.sample.steps.unwrap_or(20),
            "seed": c.sample.seed.unwrap_or(0),
            "guidance": 7.5,
        })
    });
    let steps = match (t.steps, t.epochs) {
        (None, None) => Some(1000),
        (s, _) => s,
    };
    Ok(json!({
        "model": model,
        "data": {
            "dataset_dir": job.paths.dataset_dir,
            "caption_extension": c.caption_extension(),
            "resolution": resolution,
            "buckets": buckets,
            "repeats": c.dataset.repeats,
            "shuffle_caption": t.shuffle_caption.unwrap_or(false),
            "keep_tokens": t.keep_tokens.unwrap_or(0),
            "caption_dropout": t.caption_dropout.unwrap_or(0.0),
            "cache_dir": job.paths.run_dir.join("cache"),
        },
        "output_dir": job.paths.output_dir,
        "output_name": c.file_name(),
        "rank": rank,
        "alpha": c.network.alpha.unwrap_or(f64::from(rank)),
        "targets": targets(c)?,
        "conv_rank": c.network.conv_rank,
        "conv_alpha": c.network.conv_alpha,
        "steps": steps,
        "epochs": t.epochs,
        "batch_size": t.batch_size.unwrap_or(1),
        "gradient_accumulation": t.grad_accum.unwrap_or(1),
        "learning_rate": t.lr.unwrap_or(1e-4),
        "schedule": schedule(c)?,
        "warmup_steps": t.warmup_steps.unwrap_or(0),
        "max_grad_norm": 1.0,
        "prediction": if c.model.v_prediction == Some(true) { "v" } else { "epsilon" },
        "noise_offset": t.noise_offset.unwrap_or(0.0),
        "min_snr_gamma": t.min_snr_gamma,
        "seed": t.seed.unwrap_or(42),
        "save_every": c.save.every_n_steps,
        "sample": sample,
    }))
}

/// The newest checkpoint state folder (`NAME-stepNNNNNNNN-state`) in `out`.
pub fn latest_state(out: &Path, name: &str) -> Option<PathBuf> {
    let prefix = format!("{name}-step");
    std::fs::read_dir(out)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let step: u64 = file
                .strip_prefix(&prefix)?
                .strip_suffix("-state")?
                .parse()
                .ok()?;
            e.path()
                .join("state.json")
                .is_file()
                .then(|| (step, e.path()))
        })
        .max_by_key(|(s, _)| *s)
        .map(|(_, p)| p)
}

/// Plans a run; `resume` continues from the newest checkpoint in the output folder.
pub fn plan(job: &Job, resume: bool) -> Result<LaunchPlan, PlanError> {
    // What is asked of the model first: a missing base or another family says more than
    // the keys a preset for that family sets.
    let model = model(job)?;
    check_family(job)?;
    super::check_honoured(ID, job.config, HONOURS)?;
    let mut spec = spec(job, model)?;
    if resume {
        let state =
            latest_state(&job.paths.output_dir, &job.config.file_name()).ok_or_else(|| {
                PlanError::NoResume(format!(
                    "no checkpoint (`{}-step…-state` folder) in {}",
                    job.config.file_name(),
                    job.paths.output_dir.display()
                ))
            })?;
        spec["resume_from"] = json!(state);
    }
    let text = serde_json::to_string_pretty(&spec).map_err(|e| PlanError::BadOption {
        key: "(spec)".into(),
        why: e.to_string(),
    })?;
    let program = std::env::current_exe().map_err(|e| PlanError::Missing {
        path: PathBuf::from("lorabench"),
        what: format!("the running lorabench binary, which runs the builtin trainer ({e})"),
    })?;
    let paths = job.paths;
    Ok(LaunchPlan {
        trainer: ID,
        program,
        args: vec![
            "__train-worker".into(),
            paths.run_dir.join(SPEC_FILE).into_os_string(),
        ],
        env: super::base_env(job.config),
        cwd: paths.run_dir.clone(),
        files: vec![super::file(SPEC_FILE, text + "\n")],
        output_dir: paths.output_dir.clone(),
        metrics_dir: None,
        total_steps: job.config.train.steps,
    })
}
