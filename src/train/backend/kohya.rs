//! kohya sd-scripts: `PYTHON -m accelerate.commands.launch … SCRIPT --config_file run.toml
//! --dataset_config dataset/dataset.toml` (trainers.md §4). Every training argument goes into
//! `run.toml` (sd-scripts flattens its sections and takes the keys as argparse defaults); the
//! dataset TOML has one subset per snapshot folder, since sd-scripts lists images
//! non-recursively.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::toml::{self, Entries, Value};
use super::{Job, PlanError, RunPaths};
use crate::dataset::buckets::Model;
use crate::train::config::Optimizer;
use crate::train::{LaunchPlan, TrainerId};

const ID: TrainerId = TrainerId::Kohya;

/// The keys this backend maps (besides the common ones).
pub const HONOURS: &[&str] = &[
    "model.base",
    "model.vae",
    "model.v_prediction",
    "dataset.caption_extension",
    "dataset.resolution",
    "dataset.repeats",
    "dataset.buckets.*",
    "network.rank",
    "network.alpha",
    "network.dropout",
    "network.conv_rank",
    "network.conv_alpha",
    "train.*",
    "save.*",
    "sample.*",
    "launcher.processes",
];

/// The training script for a family.
pub fn script(family: Model) -> &'static str {
    match family {
        Model::Sd15 => "train_network.py",
        Model::Sdxl => "sdxl_train_network.py",
        Model::Flux => "flux_train_network.py",
    }
}

/// sd-scripts' `--optimizer_type` spelling. Unset: AdamW8bit, the community's default.
fn optimizer(o: Option<Optimizer>) -> &'static str {
    match o {
        None | Some(Optimizer::Adamw8bit) => "AdamW8bit",
        Some(Optimizer::Adamw) => "AdamW",
        Some(Optimizer::Prodigy) => "Prodigy",
        Some(Optimizer::Adafactor) => "AdaFactor",
        Some(Optimizer::Lion) => "Lion",
        Some(Optimizer::Sgd) => "SGDNesterov",
    }
}

/// A saved training state to resume from, and the step it was saved at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub dir: PathBuf,
    pub step: u64,
}

/// The newest `NAME-step########-state` / `NAME-######-state` / `NAME-state` folder in `out`
/// by the step its `train_state.json` records. A state whose save was cut short (the run killed
/// while saving) is passed over: accelerate writes the random states, `random_states_0.pkl`,
/// last, and sd-scripts' `train_state.json` first.
pub fn latest_state(out: &Path, name: &str) -> Option<State> {
    let entries = std::fs::read_dir(out).ok()?;
    entries
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(name)
                && n.ends_with("-state")
                && e.path().join("random_states_0.pkl").is_file()
        })
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join("train_state.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            let step = v.get("current_step")?.as_u64()?;
            Some(State {
                dir: e.path(),
                step,
            })
        })
        .max_by_key(|s| s.step)
}

/// Plans a run; with `resume`, continues from that saved state with the step counter carried
/// on (`skip_until_initial_step`: a plain `--resume` would restart it at 0, trainers.md §11).
pub fn plan(job: &Job, resume: Option<&State>) -> Result<LaunchPlan, PlanError> {
    super::check_honoured(ID, job.config, HONOURS)?;
    let dir = super::trainer_dir(job, ID)?;
    let script = super::require_file(
        dir.join(script(job.family)),
        "the sd-scripts training script",
    )?;
    let python = super::python(job, ID)?;
    let paths = job.paths;
    let run_toml = paths.run_dir.join("run.toml");
    let dataset_toml = paths.dataset_dir.join("dataset.toml");
    let prompts_file = paths.run_dir.join("sample_prompts.txt");

    let mut files = vec![
        super::file(
            super::in_run(paths, &run_toml),
            run_entries(job, &prompts_file, resume)?,
        ),
        super::file(super::in_run(paths, &dataset_toml), dataset_text(job)?),
    ];
    let prompts = prompt_file(job);
    if !prompts.is_empty() {
        files.push(super::file(super::in_run(paths, &prompts_file), prompts));
    }

    let mut args = super::accelerate_args(job.config);
    args.extend([
        script.into_os_string(),
        OsString::from("--config_file"),
        run_toml.into_os_string(),
        OsString::from("--dataset_config"),
        dataset_toml.into_os_string(),
    ]);
    Ok(LaunchPlan {
        trainer: ID,
        program: python,
        args,
        env: super::base_env(job.config),
        cwd: dir,
        files,
        output_dir: paths.output_dir.clone(),
        metrics_dir: Some(paths.logs_dir.clone()),
        total_steps: job.config.train.steps,
    })
}

fn path_value(key: &str, p: &Path) -> Result<Value, PlanError> {
    Ok(Value::from(super::utf8(key, p, "sd-scripts' TOML")?))
}

fn run_entries(
    job: &Job,
    prompts_file: &Path,
    resume: Option<&State>,
) -> Result<String, PlanError> {
    let c = job.config;
    let t = &c.train;
    let paths: &RunPaths = job.paths;
    let mut e: Entries = Vec::new();
    if let Some(base) = &c.model.base {
        toml::set(
            &mut e,
            "pretrained_model_name_or_path",
            path_value("model.base", base)?,
        );
    }
    if let Some(vae) = &c.model.vae {
        toml::set(&mut e, "vae", path_value("model.vae", vae)?);
    }
    if c.model.v_prediction == Some(true) {
        toml::set(&mut e, "v_parameterization", true);
    }
    toml::set(
        &mut e,
        "output_dir",
        path_value("save.output_dir", &paths.output_dir)?,
    );
    toml::set(&mut e, "output_name", c.file_name());
    toml::set(&mut e, "save_model_as", "safetensors");
    toml::set(&mut e, "logging_dir", path_value("logs", &paths.logs_dir)?);
    toml::set(&mut e, "log_with", "tensorboard");

    let module = if job.family == Model::Flux {
        "networks.lora_flux"
    } else {
        "networks.lora"
    };
    toml::set(&mut e, "network_module", module);
    let n = &c.network;
    if let Some(rank) = n.rank {
        toml::set(&mut e, "network_dim", rank);
    }
    if let Some(alpha) = n.alpha {
        toml::set(&mut e, "network_alpha", alpha);
    }
    if let Some(d) = n.dropout {
        toml::set(&mut e, "network_dropout", d);
    }
    let mut net_args = Vec::new();
    if let Some(r) = n.conv_rank {
        net_args.push(Value::from(format!("conv_dim={r}")));
    }
    if let Some(a) = n.conv_alpha {
        net_args.push(Value::from(format!("conv_alpha={a}")));
    }
    if !net_args.is_empty() {
        toml::set(&mut e, "network_args", Value::Array(net_args));
    }

    if let Some(steps) = t.steps {
        toml::set(&mut e, "max_train_steps", steps);
    }
    if let Some(epochs) = t.epochs {
        toml::set(&mut e, "max_train_epochs", epochs);
    }
    if let Some(n) = t.grad_accum {
        toml::set(&mut e, "gradient_accumulation_steps", n);
    }
    if let Some(lr) = t.lr {
        toml::set(&mut e, "learning_rate", lr);
        toml::set(&mut e, "unet_lr", lr);
    }
    match t.text_encoder_lr {
        Some(0.0) => toml::set(&mut e, "network_train_unet_only", true),
        Some(lr) => {
            // One value per text encoder.
            let n = if job.family == Model::Sd15 { 1 } else { 2 };
            toml::set(
                &mut e,
                "text_encoder_lr",
                Value::Array(vec![Value::Float(lr); n]),
            );
        }
        None => {}
    }
    toml::set(&mut e, "optimizer_type", optimizer(t.optimizer));
    if let Some(s) = t.scheduler {
        toml::set(&mut e, "lr_scheduler", s.as_str());
    }
    if let Some(w) = t.warmup_steps {
        toml::set(&mut e, "lr_warmup_steps", w);
    }
    if let Some(p) = t.precision {
        toml::set(&mut e, "mixed_precision", p.accelerate());
    }
    if let Some(g) = t.gradient_checkpointing {
        toml::set(&mut e, "gradient_checkpointing", g);
    }
    if let Some(seed) = t.seed {
        toml::set(&mut e, "seed", seed);
    }
    if let Some(x) = t.noise_offset {
        toml::set(&mut e, "noise_offset", x);
    }
    if let Some(x) = t.min_snr_gamma {
        toml::set(&mut e, "min_snr_gamma", x);
    }

    let s = &c.save;
    // States are saved with every model save, so a run can always be resumed.
    toml::set(&mut e, "save_state", true);
    if let Some(n) = s.every_n_steps {
        toml::set(&mut e, "save_every_n_steps", n);
        if let Some(k) = s.keep_last {
            toml::set(&mut e, "save_last_n_steps", n * u64::from(k));
            toml::set(&mut e, "save_last_n_steps_state", n * u64::from(k));
        }
    }
    if let Some(n) = s.every_n_epochs {
        toml::set(&mut e, "save_every_n_epochs", n);
        if let Some(k) = s.keep_last {
            toml::set(&mut e, "save_last_n_epochs", k);
            toml::set(&mut e, "save_last_n_epochs_state", k);
        }
    }

    // Without prompts there is nothing to sample: the cadence keys then do nothing.
    let sm = &c.sample;
    if !super::prompt_lines(c).is_empty() {
        toml::set(
            &mut e,
            "sample_prompts",
            path_value("sample.prompts", prompts_file)?,
        );
        if let Some(n) = sm.every_n_steps {
            toml::set(&mut e, "sample_every_n_steps", n);
        }
        if let Some(s) = &sm.sampler {
            toml::set(&mut e, "sample_sampler", s.as_str());
        }
    }

    if let Some(state) = resume {
        toml::set(&mut e, "resume", path_value("resume", &state.dir)?);
        toml::set(&mut e, "skip_until_initial_step", true);
    }
    for (k, v) in &c.backend_options {
        match Value::from_json(v) {
            Some(v) => toml::set(&mut e, k, v),
            None => e.retain(|(name, _)| name != k),
        }
    }
    let mut out = String::from("# Written by lorabench for sd-scripts (--config_file).\n");
    toml::write_entries(&e, &mut out);
    Ok(out)
}

/// The `--dataset_config` TOML: captions' extension and handling in `[general]`, one dataset
/// with the resolution and buckets, one subset per snapshot folder with its repeats.
fn dataset_text(job: &Job) -> Result<String, PlanError> {
    let c = job.config;
    let mut general: Entries = Vec::new();
    toml::set(&mut general, "caption_extension", c.caption_extension());
    if let Some(s) = c.train.shuffle_caption {
        toml::set(&mut general, "shuffle_caption", s);
    }
    if let Some(k) = c.train.keep_tokens {
        toml::set(&mut general, "keep_tokens", k);
    }
    if let Some(d) = c.train.caption_dropout {
        toml::set(&mut general, "caption_dropout_rate", d);
    }
    let mut dataset: Entries = Vec::new();
    toml::set(
        &mut dataset,
        "resolution",
        c.dataset
            .resolution
            .unwrap_or(job.family.default_resolution()),
    );
    toml::set(&mut dataset, "batch_size", c.train.batch_size.unwrap_or(1));
    let b = &c.dataset.buckets;
    if let Some(on) = b.enabled {
        toml::set(&mut dataset, "enable_bucket", on);
    }
    if let Some(v) = b.min {
        toml::set(&mut dataset, "min_bucket_reso", v);
    }
    if let Some(v) = b.max {
        toml::set(&mut dataset, "max_bucket_reso", v);
    }
    if let Some(v) = b.step {
        toml::set(&mut dataset, "bucket_reso_steps", v);
    }
    if let Some(v) = b.no_upscale {
        toml::set(&mut dataset, "bucket_no_upscale", v);
    }
    let mut out =
        String::from("# Written by lorabench for sd-scripts (--dataset_config).\n[general]\n");
    toml::write_entries(&general, &mut out);
    out.push_str("\n[[datasets]]\n");
    toml::write_entries(&dataset, &mut out);
    for folder in &job.snapshot.folders {
        let mut sub: Entries = Vec::new();
        let dir = job.paths.dataset_dir.join(&folder.rel);
        toml::set(&mut sub, "image_dir", path_value("dataset.path", &dir)?);
        toml::set(&mut sub, "num_repeats", folder.repeats);
        // Used as the caption of images without a caption file.
        let tokens = folder
            .class_tokens
            .clone()
            .or_else(|| c.dataset.trigger.clone());
        if let Some(tokens) = tokens {
            toml::set(&mut sub, "class_tokens", tokens);
        }
        out.push_str("\n  [[datasets.subsets]]\n");
        let mut text = String::new();
        toml::write_entries(&sub, &mut text);
        for line in text.lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// One prompt per line with sd-scripts' inline options for steps (`--s`) and seed (`--d`).
fn prompt_file(job: &Job) -> String {
    let s = &job.config.sample;
    let mut out = String::new();
    for p in super::prompt_lines(job.config) {
        out.push_str(&p);
        if let Some(steps) = s.steps {
            out.push_str(&format!(" --s {steps}"));
        }
        if let Some(seed) = s.seed {
            out.push_str(&format!(" --d {seed}"));
        }
        out.push('\n');
    }
    out
}
