//! The built-in LoRA trainer (no UI): an SD-style UNet on candle-core with diffusers tensor
//! names, LoRA layers whose base weights are frozen without any weight-gradient work, our own
//! AdamW and DDPM training maths. Reference: shared/reference/candle-training.md.
//!
//! - [`unet`]: `UNet2DConditionModel` ([`config::UNetConfig`] from a diffusers `config.json`
//!   or a preset; [`weights::Weights`] from a diffusers folder or an LDM single file).
//! - [`lora`]: which layers carry adapters, their f32 factors, kohya-format save and load.
//! - [`bridge`]: the custom op that lets frozen layers and fused kernels pass gradients to
//!   their input only; [`layers`] builds linear, conv, norm and attention on it.
//! - [`optim`]: AdamW with saveable f32 state, global-norm clipping, learning-rate schedules.
//! - [`noise`]: DDPM schedule, per-sample timesteps, targets, min-SNR weighting.
//! - [`rng`]: a small seeded generator whose state is saved with checkpoints.
//! - [`encoders`]: the frozen VAE and CLIP text encoder (candle-transformers, inference only),
//!   from a diffusers folder or, through [`single_file`], an LDM checkpoint;
//!   [`data`]: the dataset snapshot as cached latents and caption embeddings.
//! - [`session`]: the step loop, checkpoints, exact resume; [`sample`]: DDIM sample images;
//!   [`worker`]: the `__train-worker` process the runs core supervises.

pub mod bridge;
pub mod config;
pub mod data;
pub mod encoders;
pub mod error;
pub mod layers;
pub mod lora;
pub mod noise;
pub mod optim;
pub mod rng;
pub mod sample;
pub mod session;
pub mod single_file;
pub mod unet;
pub mod weights;
pub mod worker;

pub use error::TrainerError;

pub type Result<T> = std::result::Result<T, TrainerError>;
