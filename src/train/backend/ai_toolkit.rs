//! ostris/ai-toolkit: a job YAML (`job: extension`, one `sd_trainer` process) and
//! `PYTHON run.py job.yaml` (trainers.md §5). Saves go to `output_dir/NAME/`; resuming is
//! ai-toolkit's own rule: run the same job again and it loads the newest save there. The seed
//! is the `SEED` environment variable (run.py). Its SQLite `loss_log.db` is switched on
//! (`logging.use_ui_logger`) as the structured metrics source.

use serde_json::{Map, Value, json};

use super::{Job, PlanError};
use crate::dataset::buckets::Model;
use crate::train::config::{Optimizer, Precision};
use crate::train::{LaunchPlan, TrainerId};

const ID: TrainerId = TrainerId::AiToolkit;

pub const HONOURS: &[&str] = &[
    "model.base",
    "model.vae",
    "model.v_prediction",
    "dataset.caption_extension",
    "dataset.resolution",
    "dataset.repeats",
    "dataset.buckets.enabled",
    "network.*",
    "train.steps",
    "train.batch_size",
    "train.grad_accum",
    "train.lr",
    "train.text_encoder_lr",
    "train.optimizer",
    "train.scheduler",
    "train.precision",
    "train.gradient_checkpointing",
    "train.seed",
    "train.shuffle_caption",
    "train.keep_tokens",
    "train.caption_dropout",
    "train.noise_offset",
    "train.min_snr_gamma",
    "save.every_n_steps",
    "save.keep_last",
    "save.file_name",
    "sample.*",
];

/// ai-toolkit's optimizer names; unset: adamw8bit, as in its example configs.
fn optimizer(o: Option<Optimizer>) -> &'static str {
    match o {
        None | Some(Optimizer::Adamw8bit) => "adamw8bit",
        Some(Optimizer::Adamw) => "adamw",
        Some(Optimizer::Prodigy) => "prodigy",
        Some(Optimizer::Adafactor) => "adafactor",
        Some(Optimizer::Lion) => "lion",
        Some(Optimizer::Sgd) => "sgd",
    }
}

fn arch(family: Model) -> &'static str {
    match family {
        Model::Sd15 => "sd1",
        Model::Sdxl => "sdxl",
        Model::Flux => "flux",
    }
}

/// Puts `v` under `key` when it is set.
fn put<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        map.insert(key.to_string(), v.into());
    }
}

pub fn plan(job: &Job) -> Result<LaunchPlan, PlanError> {
    super::check_honoured(ID, job.config, HONOURS)?;
    let c = job.config;
    if c.save
        .file_name
        .as_ref()
        .is_some_and(|f| *f != c.run_name())
    {
        return Err(PlanError::Unsupported {
            key: "save.file_name".into(),
            backend: ID,
            why: "ai-toolkit names its files after the job name; set `name` instead".into(),
        });
    }
    let dir = super::trainer_dir(job, ID)?;
    let run_py = super::require_file(dir.join("run.py"), "ai-toolkit's run.py")?;
    let python = super::python(job, ID)?;
    let paths = job.paths;
    let fmt = "ai-toolkit's job YAML";

    let mut model = Map::new();
    if let Some(base) = &c.model.base {
        model.insert(
            "name_or_path".into(),
            super::utf8("model.base", base, fmt)?.into(),
        );
    }
    model.insert("arch".into(), arch(job.family).into());
    if let Some(vae) = &c.model.vae {
        model.insert(
            "vae_path".into(),
            super::utf8("model.vae", vae, fmt)?.into(),
        );
    }
    put(&mut model, "is_v_pred", c.model.v_prediction);

    let n = &c.network;
    let mut network = Map::new();
    network.insert("type".into(), "lora".into());
    put(&mut network, "linear", n.rank);
    put(&mut network, "linear_alpha", n.alpha);
    put(&mut network, "conv", n.conv_rank);
    put(&mut network, "conv_alpha", n.conv_alpha);
    put(&mut network, "dropout", n.dropout);
    if let Some(modules) = &n.target_modules {
        network.insert(
            "network_kwargs".into(),
            json!({ "only_if_contains": modules }),
        );
    }

    let repeats = super::uniform_repeats(job, ID)?;
    let caption_ext = c.caption_extension();
    let datasets: Vec<Value> = job
        .snapshot
        .folders
        .iter()
        .map(|f| {
            let folder = paths.dataset_dir.join(&f.rel);
            let mut d = Map::new();
            d.insert(
                "folder_path".into(),
                super::utf8("dataset.path", &folder, fmt)?.into(),
            );
            d.insert(
                "caption_ext".into(),
                caption_ext.trim_start_matches('.').into(),
            );
            let res = c
                .dataset
                .resolution
                .unwrap_or(job.family.default_resolution());
            d.insert("resolution".into(), json!([res]));
            d.insert("num_repeats".into(), repeats.into());
            put(&mut d, "buckets", c.dataset.buckets.enabled);
            put(&mut d, "shuffle_tokens", c.train.shuffle_caption);
            put(&mut d, "keep_tokens", c.train.keep_tokens);
            put(&mut d, "caption_dropout_rate", c.train.caption_dropout);
            Ok(Value::Object(d))
        })
        .collect::<Result<_, PlanError>>()?;

    let t = &c.train;
    let mut train = Map::new();
    put(&mut train, "steps", t.steps);
    put(&mut train, "batch_size", t.batch_size);
    put(&mut train, "gradient_accumulation_steps", t.grad_accum);
    put(&mut train, "lr", t.lr);
    put(&mut train, "unet_lr", t.lr);
    match t.text_encoder_lr {
        Some(0.0) => {
            train.insert("train_text_encoder".into(), false.into());
        }
        Some(lr) => {
            train.insert("train_text_encoder".into(), true.into());
            train.insert("text_encoder_lr".into(), lr.into());
        }
        None => {}
    }
    train.insert("train_unet".into(), true.into());
    train.insert("optimizer".into(), optimizer(t.optimizer).into());
    put(&mut train, "lr_scheduler", t.scheduler.map(|s| s.as_str()));
    put(
        &mut train,
        "dtype",
        t.precision.map(|p| match p {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Bf16 => "bf16",
        }),
    );
    put(
        &mut train,
        "gradient_checkpointing",
        t.gradient_checkpointing,
    );
    put(&mut train, "noise_offset", t.noise_offset);
    put(&mut train, "min_snr_gamma", t.min_snr_gamma);

    let mut save = Map::new();
    save.insert("dtype".into(), "float16".into());
    put(&mut save, "save_every", c.save.every_n_steps);
    put(&mut save, "max_step_saves_to_keep", c.save.keep_last);

    let s = &c.sample;
    let prompts = super::prompt_lines(c);
    let mut sample = Map::new();
    put(&mut sample, "sampler", s.sampler.clone());
    put(&mut sample, "sample_every", s.every_n_steps);
    put(&mut sample, "sample_steps", s.steps);
    put(&mut sample, "seed", s.seed);
    if !prompts.is_empty() {
        sample.insert("prompts".into(), prompts.into());
        let res = c
            .dataset
            .resolution
            .unwrap_or(job.family.default_resolution());
        sample.insert("width".into(), res.into());
        sample.insert("height".into(), res.into());
    }

    let mut process = Map::new();
    process.insert("type".into(), "sd_trainer".into());
    process.insert(
        "training_folder".into(),
        super::utf8("save.output_dir", &paths.output_dir, fmt)?.into(),
    );
    process.insert("device".into(), "cuda:0".into());
    put(&mut process, "trigger_word", c.dataset.trigger.clone());
    process.insert("network".into(), Value::Object(network));
    process.insert("save".into(), Value::Object(save));
    process.insert("datasets".into(), Value::Array(datasets));
    process.insert("train".into(), Value::Object(train));
    process.insert("model".into(), Value::Object(model));
    process.insert("sample".into(), Value::Object(sample));
    process.insert(
        "logging".into(),
        json!({ "log_every": 1, "use_ui_logger": true }),
    );
    for (k, v) in &c.backend_options {
        merge(&mut process, k, v.clone());
    }
    let job_doc = json!({
        "job": "extension",
        "config": { "name": c.run_name(), "process": [Value::Object(process)] },
        "meta": { "name": "[name]", "version": "1.0" },
    });
    let yaml = serde_saphyr::to_string(&job_doc).map_err(|e| PlanError::BadOption {
        key: "(job)".into(),
        why: e.to_string(),
    })?;
    let job_file = paths.run_dir.join("job.yaml");
    let mut env = super::base_env(c);
    if let Some(seed) = t.seed {
        env.push(("SEED".into(), seed.to_string().into()));
    }
    Ok(LaunchPlan {
        trainer: ID,
        program: python,
        args: vec![run_py.into_os_string(), job_file.clone().into_os_string()],
        env,
        cwd: dir,
        files: vec![super::file(
            super::in_run(paths, &job_file),
            format!("# Written by lorabench for ai-toolkit (run.py).\n{yaml}"),
        )],
        output_dir: paths.output_dir.join(c.run_name()),
        metrics_dir: Some(paths.output_dir.join(c.run_name())),
        total_steps: t.steps,
    })
}

/// backend_options merge into the process entry: objects key by key, the rest replaced.
fn merge(map: &mut Map<String, Value>, key: &str, v: Value) {
    match (map.get_mut(key), v) {
        (Some(Value::Object(old)), Value::Object(new)) => {
            for (k, v) in new {
                merge(old, &k, v);
            }
        }
        (_, v) => {
            map.insert(key.to_string(), v);
        }
    }
}
