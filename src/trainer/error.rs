//! The trainer's error type: every message names the file or option at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainerError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Config { path: PathBuf, problem: String },
    #[error(
        "{path}: tensor `{name}` is missing (expected shape {expected:?}); is this the UNet of \
         a model of the configured family?"
    )]
    MissingTensor {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
    },
    #[error("{path}: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("{path}: {source}")]
    Load {
        path: PathBuf,
        source: candle_core::Error,
    },
    #[error("tensor maths failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    File(#[from] crate::lora::safetensors::SafetensorsError),
    #[error(transparent)]
    Lora(#[from] crate::lora::model::LoraError),
}
