//! The training config's keys. Every key is optional in a layer (preset, config file, `--set`):
//! layers are merged key by key, and a key left unset at the end is not passed to the trainer,
//! so the trainer's own default applies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::buckets::Model;
use crate::train::TrainerId;

/// Declares a section: every field optional, unknown keys refused, merged key by key.
macro_rules! section {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty, )*
        }
        $( nested { $( $(#[$nmeta:meta])* $nfield:ident : $nty:ty, )* } )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $( $(#[$fmeta])* #[serde(skip_serializing_if = "Option::is_none")] pub $field: Option<$ty>, )*
            $( $( $(#[$nmeta])* #[serde(skip_serializing_if = "is_default")] pub $nfield: $nty, )* )?
        }

        impl $name {
            /// The keys of this section, as written in YAML.
            pub const KEYS: &'static [&'static str] =
                &[$(stringify!($field),)* $( $(stringify!($nfield),)* )?];

            /// Keys set in `over` replace ours.
            pub(crate) fn merge(&mut self, over: $name) {
                $( if over.$field.is_some() { self.$field = over.$field; } )*
                $( $( self.$nfield.merge(over.$nfield); )* )?
            }
        }
    };
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

section! {
    /// `model:` the base model.
    ModelConfig {
        /// sd15, sdxl or flux; read from the base model's tensor names when unset.
        family: Model,
        /// A single `.safetensors` file or a diffusers folder.
        base: PathBuf,
        vae: PathBuf,
        /// The base predicts v (SD2-style v-parameterisation).
        v_prediction: bool,
    }
}

section! {
    /// `dataset.buckets:` aspect-ratio bucketing.
    BucketsConfig {
        enabled: bool,
        min: u32,
        max: u32,
        step: u32,
        no_upscale: bool,
    }
}

section! {
    /// `dataset:` the images and captions.
    DatasetConfig {
        path: PathBuf,
        /// With the dot, e.g. `.txt`.
        caption_extension: String,
        trigger: String,
        resolution: u32,
        /// Repeats for every image, overriding the `N_name` folder counts.
        repeats: u32,
    }
    nested {
        buckets: BucketsConfig,
    }
}

section! {
    /// `network:` the LoRA itself.
    NetworkConfig {
        rank: u32,
        alpha: f64,
        dropout: f64,
        target_modules: Vec<String>,
        conv_rank: u32,
        conv_alpha: f64,
    }
}

section! {
    /// `train:` the optimisation.
    TrainSection {
        steps: u64,
        epochs: u64,
        batch_size: u32,
        grad_accum: u32,
        /// Learning rate of the UNet / transformer.
        lr: f64,
        /// 0 leaves the text encoder(s) untrained.
        text_encoder_lr: f64,
        optimizer: Optimizer,
        scheduler: Scheduler,
        warmup_steps: u64,
        precision: Precision,
        gradient_checkpointing: bool,
        seed: u64,
        shuffle_caption: bool,
        keep_tokens: u32,
        caption_dropout: f64,
        noise_offset: f64,
        min_snr_gamma: f64,
    }
}

section! {
    /// `save:` checkpoints.
    SaveConfig {
        every_n_steps: u64,
        every_n_epochs: u64,
        keep_last: u32,
        /// Default: the run folder's `output/`.
        output_dir: PathBuf,
        /// LoRA file name without extension. Default: the config's name.
        file_name: String,
    }
}

section! {
    /// `sample:` images made during training.
    SampleConfig {
        every_n_steps: u64,
        prompts: Vec<String>,
        sampler: String,
        steps: u32,
        seed: u64,
    }
}

section! {
    /// `launcher:` processes and GPUs.
    LauncherConfig {
        gpu_ids: Vec<u32>,
        processes: u32,
    }
}

/// Optimizers every backend can name (each in its own spelling). Unset: the trainer
/// community's usual choice (see the backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    Adamw,
    Adamw8bit,
    Prodigy,
    Adafactor,
    Lion,
    Sgd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheduler {
    Constant,
    ConstantWithWarmup,
    Cosine,
    CosineWithRestarts,
    Linear,
    Polynomial,
}

impl Scheduler {
    /// The name transformers/diffusers `get_scheduler` and sd-scripts use.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduler::Constant => "constant",
            Scheduler::ConstantWithWarmup => "constant_with_warmup",
            Scheduler::Cosine => "cosine",
            Scheduler::CosineWithRestarts => "cosine_with_restarts",
            Scheduler::Linear => "linear",
            Scheduler::Polynomial => "polynomial",
        }
    }
}

/// Training precision (mixed precision where the trainer has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    Fp16,
    Bf16,
}

impl Precision {
    /// accelerate's `--mixed_precision` value.
    pub fn accelerate(self) -> &'static str {
        match self {
            Precision::Fp32 => "no",
            Precision::Fp16 => "fp16",
            Precision::Bf16 => "bf16",
        }
    }
}

/// How the command backend's output shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressFormat {
    Tqdm,
    Jsonl,
}

/// The one training config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Run and LoRA name. Default: the dataset folder's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<TrainerId>,
    #[serde(skip_serializing_if = "is_default")]
    pub model: ModelConfig,
    #[serde(skip_serializing_if = "is_default")]
    pub dataset: DatasetConfig,
    #[serde(skip_serializing_if = "is_default")]
    pub network: NetworkConfig,
    #[serde(skip_serializing_if = "is_default")]
    pub train: TrainSection,
    #[serde(skip_serializing_if = "is_default")]
    pub save: SaveConfig,
    #[serde(skip_serializing_if = "is_default")]
    pub sample: SampleConfig,
    #[serde(skip_serializing_if = "is_default")]
    pub launcher: LauncherConfig,
    /// Written as they are into the trainer's own config file (kohya run.toml, ai-toolkit job
    /// process entry, SimpleTuner config.json, OneTrainer config); they win over lorabench's
    /// mapping of the keys above.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub backend_options: BTreeMap<String, serde_json::Value>,
    /// The command backend's argv.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// The command backend's progress format (default tqdm).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressFormat>,
}

impl TrainConfig {
    /// The top-level keys, as written in YAML.
    pub const KEYS: &'static [&'static str] = &[
        "name",
        "backend",
        "model",
        "dataset",
        "network",
        "train",
        "save",
        "sample",
        "launcher",
        "backend_options",
        "command",
        "progress",
    ];

    /// Puts `over` on top of `self`: keys it sets win. `train.steps` and `train.epochs` are one
    /// choice: a layer setting one clears the other. `backend_options` merge key by key
    /// (objects recursively).
    pub fn merge(&mut self, over: TrainConfig) {
        if over.train.steps.is_some() && over.train.epochs.is_none() {
            self.train.epochs = None;
        }
        if over.train.epochs.is_some() && over.train.steps.is_none() {
            self.train.steps = None;
        }
        if over.name.is_some() {
            self.name = over.name;
        }
        if over.backend.is_some() {
            self.backend = over.backend;
        }
        self.model.merge(over.model);
        self.dataset.merge(over.dataset);
        self.network.merge(over.network);
        self.train.merge(over.train);
        self.save.merge(over.save);
        self.sample.merge(over.sample);
        self.launcher.merge(over.launcher);
        for (k, v) in over.backend_options {
            match self.backend_options.get_mut(&k) {
                Some(old) => merge_json(old, v),
                None => {
                    self.backend_options.insert(k, v);
                }
            }
        }
        if over.command.is_some() {
            self.command = over.command;
        }
        if over.progress.is_some() {
            self.progress = over.progress;
        }
    }

    /// Relative paths in a config file are relative to its folder; `~/` is the home folder.
    pub(crate) fn anchor_paths(&mut self, base: &Path) {
        for p in [
            &mut self.model.base,
            &mut self.model.vae,
            &mut self.dataset.path,
            &mut self.save.output_dir,
        ]
        .into_iter()
        .flatten()
        {
            *p = anchor(base, p);
        }
    }

    /// The trainer: `backend`, else the builtin one (which needs nothing installed).
    pub fn backend_id(&self) -> TrainerId {
        self.backend.unwrap_or(TrainerId::Builtin)
    }

    /// The run's name: `name`, else the dataset folder's name, else `lora`.
    pub fn run_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| {
                self.dataset
                    .path
                    .as_ref()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "lora".to_string())
    }

    /// The LoRA's file name (no extension): `save.file_name`, else the run name.
    pub fn file_name(&self) -> String {
        self.save
            .file_name
            .clone()
            .unwrap_or_else(|| self.run_name())
    }

    /// Caption extension with its dot (default `.txt`).
    pub fn caption_extension(&self) -> String {
        match self.dataset.caption_extension.as_deref() {
            None | Some("") => ".txt".to_string(),
            Some(e) if e.starts_with('.') => e.to_string(),
            Some(e) => format!(".{e}"),
        }
    }

    /// Takes the dotted `key` away (a lower layer's value included).
    pub fn clear(&mut self, key: &str) {
        let Ok(mut value) = serde_json::to_value(&*self) else {
            return;
        };
        let (parent, last) = match key.rsplit_once('.') {
            Some((p, l)) => (format!("/{}", p.replace('.', "/")), l),
            None => (String::new(), key),
        };
        if let Some(serde_json::Value::Object(map)) = value.pointer_mut(&parent) {
            map.remove(last);
        }
        if let Ok(cleared) = serde_json::from_value(value) {
            *self = cleared;
        }
    }

    /// The config as YAML (the run's config snapshot).
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_default()
    }
}

fn merge_json(old: &mut serde_json::Value, new: serde_json::Value) {
    match (old, new) {
        (serde_json::Value::Object(o), serde_json::Value::Object(n)) => {
            for (k, v) in n {
                match o.get_mut(&k) {
                    Some(slot) => merge_json(slot, v),
                    None => {
                        o.insert(k, v);
                    }
                }
            }
        }
        (slot, new) => *slot = new,
    }
}

pub(crate) fn anchor(base: &Path, p: &Path) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_epochs_are_one_choice() {
        let mut a = TrainConfig::default();
        a.train.steps = Some(1500);
        let mut b = TrainConfig::default();
        b.train.epochs = Some(10);
        a.merge(b);
        assert_eq!((a.train.steps, a.train.epochs), (None, Some(10)));
    }

    #[test]
    fn backend_options_merge_recursively() {
        let mut a = TrainConfig::default();
        a.backend_options
            .insert("x".into(), serde_json::json!({"a": 1, "b": 2}));
        let mut b = TrainConfig::default();
        b.backend_options
            .insert("x".into(), serde_json::json!({"b": 3}));
        a.merge(b);
        assert_eq!(a.backend_options["x"], serde_json::json!({"a": 1, "b": 3}));
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let mut c = TrainConfig::default();
        c.dataset.path = Some("data/x".into());
        c.model.base = Some("/abs/m.safetensors".into());
        c.anchor_paths(Path::new("/cfg"));
        assert_eq!(c.dataset.path.as_deref(), Some(Path::new("/cfg/data/x")));
        assert_eq!(
            c.model.base.as_deref(),
            Some(Path::new("/abs/m.safetensors"))
        );
    }
}
