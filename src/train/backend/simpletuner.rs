//! bghira/SimpleTuner: `simpletuner train` run in the run folder, where it finds
//! `config/config.json`; the data backend JSON sits beside it (trainers.md §6). Each snapshot
//! folder is one `local` image backend with `caption_strategy: textfile`, plus the text-embed
//! cache backend SimpleTuner requires. Note: an accelerate default config on the host wins over
//! the process count SimpleTuner is given (§6.1).

use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::{Job, PlanError};
use crate::dataset::buckets::Model;
use crate::train::config::Optimizer;
use crate::train::{LaunchPlan, TrainerId};

const ID: TrainerId = TrainerId::Simpletuner;

pub const HONOURS: &[&str] = &[
    "model.base",
    "dataset.caption_extension",
    "dataset.resolution",
    "dataset.repeats",
    "dataset.buckets.enabled",
    "network.rank",
    "network.alpha",
    "train.steps",
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
    "train.seed",
    "train.caption_dropout",
    "train.noise_offset",
    "train.min_snr_gamma",
    "save.every_n_steps",
    "save.keep_last",
    "sample.every_n_steps",
    "sample.prompts",
    "sample.steps",
    "sample.seed",
    "launcher.processes",
];

fn family(f: Model) -> &'static str {
    match f {
        Model::Sd15 => "sd1x",
        Model::Sdxl => "sdxl",
        Model::Flux => "flux",
    }
}

/// SimpleTuner's optimizer names; unset: adamw_bf16, its documented default.
fn optimizer(o: Option<Optimizer>) -> Result<&'static str, PlanError> {
    Ok(match o {
        None | Some(Optimizer::Adamw) => "adamw_bf16",
        Some(Optimizer::Adamw8bit) => "bnb-adamw8bit",
        Some(Optimizer::Prodigy) => "prodigy",
        Some(Optimizer::Adafactor) => "adafactor",
        Some(Optimizer::Lion) => "optimi-lion",
        Some(Optimizer::Sgd) => {
            return Err(PlanError::Unsupported {
                key: "train.optimizer".into(),
                backend: ID,
                why: "SimpleTuner has no plain SGD".into(),
            });
        }
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
    if c.train.text_encoder_lr.is_some_and(|lr| lr > 0.0) {
        return Err(PlanError::Unsupported {
            key: "train.text_encoder_lr".into(),
            backend: ID,
            why: "lorabench trains SimpleTuner LoRAs on the UNet/transformer only; set it to 0"
                .into(),
        });
    }
    let prompts = super::prompt_lines(c);
    if prompts.len() > 1 {
        return Err(PlanError::Unsupported {
            key: "sample.prompts".into(),
            backend: ID,
            why: "lorabench passes one --validation_prompt".into(),
        });
    }
    let python = super::python(job, ID)?;
    // The `simpletuner` entry point beside the venv's python, else on PATH.
    let program = python
        .parent()
        .map(|bin| bin.join("simpletuner"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("simpletuner"));
    let paths = job.paths;
    let fmt = "SimpleTuner's config.json";
    let config_dir = paths.run_dir.join("config");
    let backend_file = config_dir.join("multidatabackend.json");
    let res = c
        .dataset
        .resolution
        .unwrap_or(job.family.default_resolution());

    let mut cfg = Map::new();
    cfg.insert("model_family".into(), family(job.family).into());
    cfg.insert("model_type".into(), "lora".into());
    if let Some(base) = &c.model.base {
        cfg.insert(
            "pretrained_model_name_or_path".into(),
            super::utf8("model.base", base, fmt)?.into(),
        );
    }
    cfg.insert(
        "output_dir".into(),
        super::utf8("save.output_dir", &paths.output_dir, fmt)?.into(),
    );
    cfg.insert(
        "data_backend_config".into(),
        super::utf8("dataset.path", &backend_file, fmt)?.into(),
    );
    cfg.insert(
        "logging_dir".into(),
        super::utf8("logs", &paths.logs_dir, fmt)?.into(),
    );
    cfg.insert("report_to".into(), "tensorboard".into());
    cfg.insert("resolution".into(), res.into());
    cfg.insert("resolution_type".into(), "pixel_area".into());
    put(&mut cfg, "lora_rank", c.network.rank);
    put(&mut cfg, "lora_alpha", c.network.alpha);
    match (t.steps, t.epochs) {
        (_, Some(e)) => {
            cfg.insert("num_train_epochs".into(), e.into());
            cfg.insert("max_train_steps".into(), 0.into());
        }
        (Some(s), None) => {
            cfg.insert("max_train_steps".into(), s.into());
            cfg.insert("num_train_epochs".into(), 0.into());
        }
        (None, None) => {}
    }
    put(&mut cfg, "train_batch_size", t.batch_size);
    put(&mut cfg, "gradient_accumulation_steps", t.grad_accum);
    put(&mut cfg, "learning_rate", t.lr);
    cfg.insert("optimizer".into(), optimizer(t.optimizer)?.into());
    put(&mut cfg, "lr_scheduler", t.scheduler.map(|s| s.as_str()));
    put(&mut cfg, "lr_warmup_steps", t.warmup_steps);
    put(
        &mut cfg,
        "mixed_precision",
        t.precision.map(|p| p.accelerate()),
    );
    put(&mut cfg, "gradient_checkpointing", t.gradient_checkpointing);
    put(&mut cfg, "seed", t.seed);
    put(&mut cfg, "caption_dropout_probability", t.caption_dropout);
    put(&mut cfg, "noise_offset", t.noise_offset);
    put(&mut cfg, "snr_gamma", t.min_snr_gamma);
    put(&mut cfg, "checkpoint_step_interval", c.save.every_n_steps);
    put(&mut cfg, "checkpoints_total_limit", c.save.keep_last);
    if let Some(p) = prompts.first() {
        cfg.insert("validation_prompt".into(), p.as_str().into());
        cfg.insert(
            "validation_resolution".into(),
            format!("{res}x{res}").into(),
        );
        put(&mut cfg, "validation_step_interval", c.sample.every_n_steps);
        put(&mut cfg, "validation_num_inference_steps", c.sample.steps);
        put(&mut cfg, "validation_seed", c.sample.seed);
    } else {
        cfg.insert("validation_disable".into(), true.into());
    }
    if resume {
        cfg.insert("resume_from_checkpoint".into(), "latest".into());
    }
    for (k, v) in &c.backend_options {
        cfg.insert(k.trim_start_matches("--").to_string(), v.clone());
    }

    let caption_ext = c.caption_extension();
    if caption_ext != ".txt" {
        return Err(PlanError::Unsupported {
            key: "dataset.caption_extension".into(),
            backend: ID,
            why: "SimpleTuner's textfile captions are `.txt`".into(),
        });
    }
    let mut backends: Vec<Value> = Vec::new();
    for (i, f) in job.snapshot.folders.iter().enumerate() {
        let dir = paths.dataset_dir.join(&f.rel);
        let cache = paths.run_dir.join("cache").join(format!("vae-{i}"));
        backends.push(json!({
            "id": format!("lorabench-{i}"),
            "type": "local",
            "dataset_type": "image",
            "instance_data_dir": super::utf8("dataset.path", &dir, fmt)?,
            "caption_strategy": "textfile",
            "resolution": res,
            "resolution_type": "pixel_area",
            // SimpleTuner counts extra passes: 0 shows each image once.
            "repeats": f.repeats.saturating_sub(1),
            "cache_dir_vae": super::utf8("cache", &cache, fmt)?,
        }));
        if c.dataset.buckets.enabled == Some(false)
            && let Some(Value::Object(b)) = backends.last_mut()
        {
            // No aspect buckets: one square centre crop, as the other trainers do.
            b.insert("crop".into(), true.into());
            b.insert("crop_aspect".into(), "square".into());
            b.insert("crop_style".into(), "center".into());
        }
    }
    let text_cache = paths.run_dir.join("cache").join("text");
    backends.push(json!({
        "id": "lorabench-text-embeds",
        "type": "local",
        "dataset_type": "text_embeds",
        "default": true,
        "cache_dir": super::utf8("cache", &text_cache, fmt)?,
    }));
    let to_json = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let mut env = super::base_env(c);
    if let Some(n) = c.launcher.processes {
        env.push(("TRAINING_NUM_PROCESSES".into(), n.to_string().into()));
    }
    Ok(LaunchPlan {
        trainer: ID,
        program,
        args: vec!["train".into()],
        env,
        cwd: paths.run_dir.clone(),
        files: vec![
            super::file(
                super::in_run(paths, &config_dir.join("config.json")),
                to_json(&Value::Object(cfg)),
            ),
            super::file(
                super::in_run(paths, &backend_file),
                to_json(&Value::Array(backends)),
            ),
        ],
        output_dir: paths.output_dir.clone(),
        metrics_dir: Some(paths.logs_dir.clone()),
        total_steps: t.steps,
    })
}
