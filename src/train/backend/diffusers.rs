//! huggingface/diffusers example scripts under accelerate (trainers.md §8): SD1.5 with
//! `examples/text_to_image/train_text_to_image_lora.py --train_data_dir`, SDXL and Flux with
//! `examples/dreambooth/train_dreambooth_lora_{sdxl,flux}.py --dataset_name`. Per-image
//! captions go through a `metadata.jsonl` (`file_name`, `text`) written into the snapshot:
//! `--instance_data_dir` would open the caption files as images (§11).

use std::ffi::OsString;
use std::path::Path;

use super::{Job, PlanError};
use crate::dataset::buckets::Model;
use crate::train::config::Optimizer;
use crate::train::{LaunchPlan, TrainerId};

const ID: TrainerId = TrainerId::Diffusers;

/// Keys every script maps.
const HONOURS: &[&str] = &[
    "model.base",
    "dataset.caption_extension",
    "dataset.resolution",
    "dataset.repeats",
    "dataset.buckets.enabled",
    "network.rank",
    "train.steps",
    "train.epochs",
    "train.batch_size",
    "train.grad_accum",
    "train.lr",
    "train.text_encoder_lr",
    "train.scheduler",
    "train.warmup_steps",
    "train.precision",
    "train.gradient_checkpointing",
    "train.seed",
    "train.optimizer",
    "save.every_n_steps",
    "save.keep_last",
    "sample.prompts",
];

/// Keys only some scripts have.
fn extra(family: Model) -> &'static [&'static str] {
    match family {
        Model::Sd15 => &[
            "train.noise_offset",
            "train.min_snr_gamma",
            "model.v_prediction",
        ],
        Model::Sdxl => &["train.min_snr_gamma", "model.vae"],
        Model::Flux => &["network.alpha"],
    }
}

pub fn script(family: Model) -> &'static str {
    match family {
        Model::Sd15 => "examples/text_to_image/train_text_to_image_lora.py",
        Model::Sdxl => "examples/dreambooth/train_dreambooth_lora_sdxl.py",
        Model::Flux => "examples/dreambooth/train_dreambooth_lora_flux.py",
    }
}

/// The metadata.jsonl of the snapshot: one `{"file_name", "text"}` line per image with the
/// caption's first line (the snapshot's copy, as read at launch).
pub fn metadata_jsonl(job: &Job) -> Result<String, PlanError> {
    let mut out = String::new();
    for e in &job.snapshot.entries {
        let name = super::utf8("dataset.path", &e.rel, "metadata.jsonl")?;
        let text = e
            .caption
            .as_ref()
            .map(|(_, b)| {
                String::from_utf8_lossy(b)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        out.push_str(&serde_json::json!({"file_name": name, "text": text}).to_string());
        out.push('\n');
    }
    Ok(out)
}

fn unsupported(key: &str, why: &str) -> PlanError {
    PlanError::Unsupported {
        key: key.into(),
        backend: ID,
        why: why.into(),
    }
}

pub fn plan(job: &Job, resume: bool) -> Result<LaunchPlan, PlanError> {
    let honours: Vec<&str> = HONOURS.iter().chain(extra(job.family)).copied().collect();
    super::check_honoured(ID, job.config, &honours)?;
    let c = job.config;
    let t = &c.train;
    if c.dataset.buckets.enabled == Some(true) {
        return Err(unsupported(
            "dataset.buckets.enabled",
            "the diffusers scripts do not bucket (one fixed --resolution crop); set it to false",
        ));
    }
    if c.sample.every_n_steps.is_some() {
        return Err(unsupported(
            "sample.every_n_steps",
            "the diffusers scripts validate per epoch, not per step",
        ));
    }
    let prompts = super::prompt_lines(c);
    if prompts.len() > 1 {
        return Err(unsupported(
            "sample.prompts",
            "the scripts take one validation prompt",
        ));
    }
    let base = c.model.base.as_deref().unwrap_or(Path::new(""));
    if !base.is_dir() {
        return Err(unsupported(
            "model.base",
            "the diffusers scripts load a diffusers folder, not a single checkpoint file",
        ));
    }
    let repeats = super::uniform_repeats(job, ID)?;
    if job.family == Model::Sd15 && repeats != 1 {
        return Err(unsupported(
            "dataset.repeats",
            "train_text_to_image_lora.py has no --repeats; use train.epochs",
        ));
    }
    let text_lr = t.text_encoder_lr.filter(|lr| *lr > 0.0);
    if text_lr.is_some() && job.family == Model::Sd15 {
        return Err(unsupported(
            "train.text_encoder_lr",
            "train_text_to_image_lora.py trains the UNet only; set it to 0",
        ));
    }
    let dir = super::trainer_dir(job, ID)?;
    let script = super::require_file(dir.join(script(job.family)), "the diffusers example script")?;
    let python = super::python(job, ID)?;
    let paths = job.paths;

    let mut a: Vec<OsString> = super::accelerate_args(c);
    a.push(script.into_os_string());
    let mut flag = |k: &str, v: OsString| {
        a.push(format!("--{k}").into());
        a.push(v);
    };
    flag("pretrained_model_name_or_path", base.as_os_str().into());
    let data_flag = if job.family == Model::Sd15 {
        "train_data_dir"
    } else {
        "dataset_name"
    };
    flag(data_flag, paths.dataset_dir.clone().into_os_string());
    flag("image_column", "image".into());
    flag("caption_column", "text".into());
    if job.family != Model::Sd15 {
        let instance = c.dataset.trigger.clone().unwrap_or_else(|| c.run_name());
        flag("instance_prompt", instance.into());
        flag("repeats", repeats.to_string().into());
    }
    flag("output_dir", paths.output_dir.clone().into_os_string());
    flag("logging_dir", paths.logs_dir.clone().into_os_string());
    flag("report_to", "tensorboard".into());
    let res = c
        .dataset
        .resolution
        .unwrap_or(job.family.default_resolution());
    flag("resolution", res.to_string().into());
    let num = |v: Option<u64>| v.map(|n| OsString::from(n.to_string()));
    if let Some(v) = num(t.steps) {
        flag("max_train_steps", v);
    }
    if let Some(v) = num(t.epochs) {
        flag("num_train_epochs", v);
    }
    if let Some(v) = num(t.batch_size.map(u64::from)) {
        flag("train_batch_size", v);
    }
    if let Some(v) = num(t.grad_accum.map(u64::from)) {
        flag("gradient_accumulation_steps", v);
    }
    if let Some(lr) = t.lr {
        flag("learning_rate", lr.to_string().into());
    }
    if let Some(s) = t.scheduler {
        flag("lr_scheduler", s.as_str().into());
    }
    if let Some(v) = num(t.warmup_steps) {
        flag("lr_warmup_steps", v);
    }
    if let Some(p) = t.precision {
        flag("mixed_precision", p.accelerate().into());
    }
    if let Some(v) = num(t.seed) {
        flag("seed", v);
    }
    if let Some(r) = c.network.rank {
        flag("rank", r.to_string().into());
    }
    if let Some(a) = c.network.alpha {
        flag("lora_alpha", a.to_string().into());
    }
    if let Some(v) = num(c.save.every_n_steps) {
        flag("checkpointing_steps", v);
    }
    if let Some(v) = num(c.save.keep_last.map(u64::from)) {
        flag("checkpoints_total_limit", v);
    }
    if let Some(x) = t.noise_offset {
        flag("noise_offset", x.to_string().into());
    }
    if let Some(x) = t.min_snr_gamma {
        flag("snr_gamma", x.to_string().into());
    }
    if c.model.v_prediction == Some(true) {
        flag("prediction_type", "v_prediction".into());
    }
    if let Some(vae) = &c.model.vae {
        flag(
            "pretrained_vae_model_name_or_path",
            vae.clone().into_os_string(),
        );
    }
    if let Some(lr) = text_lr {
        flag("text_encoder_lr", lr.to_string().into());
    }
    if let Some(p) = prompts.first() {
        flag("validation_prompt", p.into());
    }
    if resume {
        flag("resume_from_checkpoint", "latest".into());
    }
    for (k, v) in &c.backend_options {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Bool(true) => {
                a.push(format!("--{k}").into());
                continue;
            }
            serde_json::Value::Number(n) => n.to_string(),
            _ => {
                return Err(PlanError::BadOption {
                    key: k.clone(),
                    why: "the diffusers scripts take command-line flags: use a string, a \
                          number or true"
                        .into(),
                });
            }
        };
        a.push(format!("--{k}").into());
        a.push(v.into());
    }
    if text_lr.is_some() {
        a.push("--train_text_encoder".into());
    }
    if t.gradient_checkpointing == Some(true) {
        a.push("--gradient_checkpointing".into());
    }
    match (t.optimizer, job.family) {
        (None | Some(Optimizer::Adamw), _) => {}
        (Some(Optimizer::Adamw8bit), _) => a.push("--use_8bit_adam".into()),
        (Some(Optimizer::Prodigy), Model::Sdxl | Model::Flux) => {
            a.push("--optimizer".into());
            a.push("prodigy".into());
        }
        (Some(_), _) => {
            return Err(unsupported(
                "train.optimizer",
                "the diffusers scripts offer adamw, adamw8bit and (SDXL, Flux) prodigy",
            ));
        }
    }
    let metadata = paths.dataset_dir.join("metadata.jsonl");
    Ok(LaunchPlan {
        trainer: ID,
        program: python,
        args: a,
        env: super::base_env(c),
        cwd: paths.run_dir.clone(),
        files: vec![super::file(
            super::in_run(paths, &metadata),
            metadata_jsonl(job)?,
        )],
        output_dir: paths.output_dir.clone(),
        metrics_dir: Some(paths.logs_dir.clone()),
        total_steps: t.steps,
    })
}
