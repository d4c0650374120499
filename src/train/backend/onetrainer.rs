//! Nerogar/OneTrainer: `PYTHON scripts/train.py --config-path onetrainer.json` with
//! `training_method: LORA` (its default is a full fine-tune, trainers.md §11). OneTrainer counts
//! in epochs. Resume is `continue_last_backup` (its newest `backup/` folder in the workspace).

use std::ffi::OsString;

use serde_json::{Map, Value, json};

use super::{Job, PlanError};
use crate::dataset::buckets::Model;
use crate::train::config::{Optimizer, Precision, Scheduler};
use crate::train::{LaunchPlan, TrainerId};

const ID: TrainerId = TrainerId::Onetrainer;

pub const HONOURS: &[&str] = &[
    "model.base",
    "dataset.caption_extension",
    "dataset.resolution",
    "dataset.repeats",
    "dataset.buckets.enabled",
    "network.rank",
    "network.alpha",
    "train.epochs",
    "train.batch_size",
    "train.grad_accum",
    "train.lr",
    "train.text_encoder_lr",
    "train.optimizer",
    "train.scheduler",
    "train.warmup_steps",
    "train.precision",
    "train.gradient_checkpointing",
    "save.every_n_steps",
    "save.every_n_epochs",
    "save.file_name",
    "sample.every_n_steps",
    "sample.prompts",
];

fn model_type(f: Model) -> &'static str {
    match f {
        Model::Sd15 => "STABLE_DIFFUSION_15",
        Model::Sdxl => "STABLE_DIFFUSION_XL_10_BASE",
        Model::Flux => "FLUX_DEV_1",
    }
}

/// OneTrainer's optimizer enum; unset: ADAMW_8BIT, its LoRA presets' choice.
fn optimizer(o: Option<Optimizer>) -> &'static str {
    match o {
        None | Some(Optimizer::Adamw8bit) => "ADAMW_8BIT",
        Some(Optimizer::Adamw) => "ADAMW",
        Some(Optimizer::Prodigy) => "PRODIGY",
        Some(Optimizer::Adafactor) => "ADAFACTOR",
        Some(Optimizer::Lion) => "LION",
        Some(Optimizer::Sgd) => "SGD",
    }
}

/// OneTrainer's schedule names (its warm-up applies to every schedule).
fn scheduler(s: Scheduler) -> Option<&'static str> {
    Some(match s {
        Scheduler::Constant | Scheduler::ConstantWithWarmup => "CONSTANT",
        Scheduler::Cosine => "COSINE",
        Scheduler::CosineWithRestarts => "COSINE_WITH_RESTARTS",
        Scheduler::Linear => "LINEAR",
        Scheduler::Polynomial => return None,
    })
}

fn put<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        map.insert(key.to_string(), v.into());
    }
}

pub fn plan(job: &Job, resume: bool) -> Result<LaunchPlan, PlanError> {
    super::check_honoured(ID, job.config, HONOURS)?;
    let c = job.config;
    let t = &c.train;
    if c.caption_extension() != ".txt" {
        return Err(PlanError::Unsupported {
            key: "dataset.caption_extension".into(),
            backend: ID,
            why: "OneTrainer's per-image captions are `.txt` (prompt_source: sample)".into(),
        });
    }
    let schedule = t
        .scheduler
        .map(|s| {
            scheduler(s).ok_or_else(|| PlanError::Unsupported {
                key: "train.scheduler".into(),
                backend: ID,
                why: "OneTrainer has no polynomial schedule".into(),
            })
        })
        .transpose()?;
    let dir = super::trainer_dir(job, ID)?;
    let script = super::require_file(
        dir.join("scripts/train.py"),
        "OneTrainer's scripts/train.py",
    )?;
    let python = super::python(job, ID)?;
    let paths = job.paths;
    let fmt = "OneTrainer's config JSON";
    let workspace = paths.run_dir.join("onetrainer");
    let destination = paths
        .output_dir
        .join(format!("{}.safetensors", c.file_name()));

    let mut cfg = Map::new();
    cfg.insert("training_method".into(), "LORA".into());
    cfg.insert("model_type".into(), model_type(job.family).into());
    if let Some(base) = &c.model.base {
        cfg.insert(
            "base_model_name".into(),
            super::utf8("model.base", base, fmt)?.into(),
        );
    }
    cfg.insert(
        "workspace_dir".into(),
        super::utf8("run", &workspace, fmt)?.into(),
    );
    cfg.insert(
        "cache_dir".into(),
        super::utf8("run", &paths.run_dir.join("cache"), fmt)?.into(),
    );
    cfg.insert(
        "output_model_destination".into(),
        super::utf8("save.output_dir", &destination, fmt)?.into(),
    );
    cfg.insert("output_model_format".into(), "SAFETENSORS".into());
    cfg.insert("tensorboard".into(), true.into());
    put(&mut cfg, "epochs", t.epochs);
    put(&mut cfg, "batch_size", t.batch_size);
    put(&mut cfg, "gradient_accumulation_steps", t.grad_accum);
    put(&mut cfg, "learning_rate", t.lr);
    put(&mut cfg, "learning_rate_scheduler", schedule);
    put(&mut cfg, "learning_rate_warmup_steps", t.warmup_steps);
    put(&mut cfg, "lora_rank", c.network.rank);
    put(&mut cfg, "lora_alpha", c.network.alpha);
    let res = c
        .dataset
        .resolution
        .unwrap_or(job.family.default_resolution());
    cfg.insert("resolution".into(), res.to_string().into());
    put(
        &mut cfg,
        "aspect_ratio_bucketing",
        c.dataset.buckets.enabled,
    );
    put(
        &mut cfg,
        "train_dtype",
        t.precision.map(|p| match p {
            Precision::Fp32 => "FLOAT_32",
            Precision::Fp16 => "FLOAT_16",
            Precision::Bf16 => "BFLOAT_16",
        }),
    );
    put(
        &mut cfg,
        "gradient_checkpointing",
        t.gradient_checkpointing
            .map(|g| if g { "ON" } else { "OFF" }),
    );
    cfg.insert(
        "optimizer".into(),
        json!({ "optimizer": optimizer(t.optimizer) }),
    );
    if let Some(lr) = t.text_encoder_lr {
        cfg.insert(
            "text_encoder".into(),
            json!({ "train": lr > 0.0, "learning_rate": lr }),
        );
    }
    match (c.save.every_n_steps, c.save.every_n_epochs) {
        (Some(n), _) => {
            cfg.insert("save_every".into(), n.into());
            cfg.insert("save_every_unit".into(), "STEP".into());
        }
        (None, Some(n)) => {
            cfg.insert("save_every".into(), n.into());
            cfg.insert("save_every_unit".into(), "EPOCH".into());
        }
        (None, None) => {}
    }
    let prompts = super::prompt_lines(c);
    if !prompts.is_empty() {
        let samples: Vec<Value> = prompts
            .iter()
            .map(|p| json!({ "prompt": p, "width": res, "height": res }))
            .collect();
        cfg.insert("samples".into(), Value::Array(samples));
        if let Some(n) = c.sample.every_n_steps {
            cfg.insert("sample_after".into(), n.into());
            cfg.insert("sample_after_unit".into(), "STEP".into());
        }
    }
    let concepts: Vec<Value> = job
        .snapshot
        .folders
        .iter()
        .map(|f| {
            let dir = paths.dataset_dir.join(&f.rel);
            Ok(json!({
                "name": f.class_tokens.clone().unwrap_or_else(|| c.run_name()),
                "path": super::utf8("dataset.path", &dir, fmt)?,
                "include_subdirectories": false,
                "balancing": f.repeats,
                "balancing_strategy": "REPEATS",
                "text": { "prompt_source": "sample" },
            }))
        })
        .collect::<Result<_, PlanError>>()?;
    cfg.insert("concepts".into(), Value::Array(concepts));
    cfg.insert("continue_last_backup".into(), resume.into());
    for (k, v) in &c.backend_options {
        cfg.insert(k.clone(), v.clone());
    }
    let config_file = paths.run_dir.join("onetrainer.json");
    let text = serde_json::to_string_pretty(&Value::Object(cfg)).unwrap_or_default();
    Ok(LaunchPlan {
        trainer: ID,
        program: python,
        args: vec![
            script.into_os_string(),
            OsString::from("--config-path"),
            config_file.clone().into_os_string(),
        ],
        env: super::base_env(c),
        cwd: dir,
        files: vec![super::file(super::in_run(paths, &config_file), text)],
        output_dir: paths.output_dir.clone(),
        metrics_dir: Some(workspace.join("tensorboard")),
        total_steps: None,
    })
}
