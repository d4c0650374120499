//! The frozen parts around the UNet, inference only: the VAE (candle-transformers'
//! `AutoEncoderKL`) that turns images into latents once and latents back into sample images,
//! and the CLIP text encoder (candle-transformers' `ClipTextTransformer`) for the captions.
//! Both load from a diffusers folder (`vae/`, `text_encoder/`) or are drawn at random from a
//! seed (the tiny preset).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::clip::text_model::{
    Activation, ClipTextConfig, ClipTextTransformer,
};
use candle_transformers::models::stable_diffusion::vae::{AutoEncoderKL, AutoEncoderKLConfig};
use serde::Deserialize;

use super::rng::Rng;
use super::weights::random_tensor;
use super::{Result, TrainerError};

/// CLIP's start, end (and padding) tokens and its context length.
pub const BOS: u32 = 49406;
pub const EOS: u32 = 49407;
pub const CONTEXT_LEN: usize = 77;
pub const CLIP_VOCAB: usize = 49408;

/// Sizes of a randomly initialised VAE and text encoder.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TinyEncoders {
    pub vae_channels: Vec<usize>,
    pub vae_groups: usize,
    pub text_width: usize,
    pub text_layers: usize,
    pub text_heads: usize,
    #[serde(default)]
    pub seed: u64,
}

pub struct Vae {
    model: AutoEncoderKL,
    device: Device,
    scaling: f64,
    /// Image pixels per latent pixel.
    pub factor: usize,
    /// Names the weights, for the latent cache.
    pub id: String,
}

pub struct TextEncoder {
    model: ClipTextTransformer,
    device: Device,
    pub width: usize,
    pub id: String,
}

fn problem(path: &Path, p: impl Into<String>) -> TrainerError {
    TrainerError::Config {
        path: path.to_path_buf(),
        problem: p.into(),
    }
}

/// Overwrites every variable with seeded values (candle's own CPU initialiser cannot be
/// seeded), in name order so the draw does not depend on hash-map order.
fn reseed(map: &VarMap, seed: u64, device: &Device) -> Result<()> {
    let data = map
        .data()
        .lock()
        .map_err(|_| TrainerError::Unsupported("random weights: a poisoned lock".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = Rng::new(seed);
    for name in names {
        if let Some(var) = data.get(name) {
            var.set(&random_tensor(&mut rng, name, var.dims(), device)?)?;
        }
    }
    Ok(())
}

fn load_tensors(path: &Path, device: &Device) -> Result<VarBuilder<'static>> {
    let tensors =
        candle_core::safetensors::load(path, device).map_err(|source| TrainerError::Load {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(VarBuilder::from_tensors(tensors, DType::F32, device))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| TrainerError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| problem(path, format!("not a diffusers config: {e}")))
}

/// The safetensors file of a diffusers component folder.
fn weights_file(dir: &Path, names: &[&str]) -> Result<PathBuf> {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            problem(
                dir,
                format!(
                    "no {} here; the builtin trainer reads safetensors weights from a diffusers \
                     folder",
                    names[0]
                ),
            )
        })
}

/// A load error names the file and reads as a model problem, not a maths one.
fn in_file(path: &Path) -> impl Fn(candle_core::Error) -> TrainerError + '_ {
    move |e| {
        problem(
            path,
            format!("does not fit the model its config.json describes: {e}"),
        )
    }
}

#[derive(Deserialize)]
struct VaeJson {
    block_out_channels: Vec<usize>,
    #[serde(default = "two")]
    layers_per_block: usize,
    #[serde(default = "four")]
    latent_channels: usize,
    #[serde(default = "thirty_two")]
    norm_num_groups: usize,
    #[serde(default = "sd_scaling")]
    scaling_factor: f64,
}

fn two() -> usize {
    2
}
fn four() -> usize {
    4
}
fn thirty_two() -> usize {
    32
}
fn sd_scaling() -> f64 {
    0.18215
}

impl Vae {
    pub(super) fn build(
        vb: VarBuilder,
        cfg: AutoEncoderKLConfig,
        scaling: f64,
        id: String,
    ) -> Result<Vae> {
        let factor = 1 << cfg.block_out_channels.len().saturating_sub(1);
        Ok(Vae {
            device: vb.device().clone(),
            model: AutoEncoderKL::new(vb, 3, 3, cfg)?,
            scaling,
            factor,
            id,
        })
    }

    pub fn tiny(t: &TinyEncoders, device: &Device) -> Result<Vae> {
        let map = VarMap::new();
        let cfg = AutoEncoderKLConfig {
            block_out_channels: t.vae_channels.clone(),
            layers_per_block: 1,
            latent_channels: 4,
            norm_num_groups: t.vae_groups,
            use_quant_conv: true,
            use_post_quant_conv: true,
        };
        let vb = VarBuilder::from_varmap(&map, DType::F32, device);
        let vae = Self::build(vb, cfg, 0.18215, format!("tiny-vae-{t:?}"))?;
        reseed(&map, t.seed ^ 0x7AE, device)?;
        Ok(vae)
    }

    /// `base/vae/` of a diffusers pipeline folder.
    pub fn load(base: &Path, device: &Device) -> Result<Vae> {
        let dir = base.join("vae");
        let json: VaeJson = read_json(&dir.join("config.json"))?;
        let file = weights_file(
            &dir,
            &[
                "diffusion_pytorch_model.safetensors",
                "diffusion_pytorch_model.fp16.safetensors",
            ],
        )?;
        let cfg = AutoEncoderKLConfig {
            block_out_channels: json.block_out_channels,
            layers_per_block: json.layers_per_block,
            latent_channels: json.latent_channels,
            norm_num_groups: json.norm_num_groups,
            use_quant_conv: true,
            use_post_quant_conv: true,
        };
        let id = format!("{}:{}", file.display(), file_stamp(&file));
        Self::build(load_tensors(&file, device)?, cfg, json.scaling_factor, id).map_err(|e| match e
        {
            TrainerError::Candle(c) => in_file(&file)(c),
            other => other,
        })
    }

    /// Latents (C, h, w) of one image (3, H, W) in [-1, 1]: a draw from the encoder's
    /// distribution, scaled, as sd-scripts caches them. The draw uses candle's unseeded
    /// generator (the distribution's mean is private), which is why the latents are cached
    /// once per run and a resumed run reads the same ones.
    pub fn encode(&self, image: &Tensor) -> Result<Tensor> {
        let dist = self
            .model
            .encode(&image.to_device(&self.device)?.unsqueeze(0)?)?;
        Ok((dist.sample()? * self.scaling)?.squeeze(0)?)
    }

    /// Images (B, 3, H, W) in [-1, 1] from latents (B, C, h, w).
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        let x = (latents.to_device(&self.device)? / self.scaling)?;
        Ok(self.model.decode(&x)?.clamp(-1f32, 1f32)?)
    }
}

#[derive(Deserialize)]
struct ClipJson {
    hidden_size: usize,
    intermediate_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    #[serde(default = "clip_vocab")]
    vocab_size: usize,
    #[serde(default = "context_len")]
    max_position_embeddings: usize,
    #[serde(default = "quick_gelu")]
    hidden_act: String,
}

fn clip_vocab() -> usize {
    CLIP_VOCAB
}
fn context_len() -> usize {
    CONTEXT_LEN
}
fn quick_gelu() -> String {
    "quick_gelu".into()
}

fn clip_config(width: usize, intermediate: usize, layers: usize, heads: usize) -> ClipTextConfig {
    ClipTextConfig {
        vocab_size: CLIP_VOCAB,
        embed_dim: width,
        activation: Activation::QuickGelu,
        intermediate_size: intermediate,
        max_position_embeddings: CONTEXT_LEN,
        pad_with: None,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        projection_dim: width,
    }
}

impl TextEncoder {
    pub fn tiny(t: &TinyEncoders, device: &Device) -> Result<TextEncoder> {
        let map = VarMap::new();
        let cfg = clip_config(t.text_width, 2 * t.text_width, t.text_layers, t.text_heads);
        let vb = VarBuilder::from_varmap(&map, DType::F32, device);
        let model = ClipTextTransformer::new(vb, &cfg)?;
        reseed(&map, t.seed ^ 0xC11F, device)?;
        Ok(TextEncoder {
            model,
            device: device.clone(),
            width: t.text_width,
            id: format!("tiny-clip-{t:?}"),
        })
    }

    /// `base/text_encoder/` of a diffusers pipeline folder (SD1.x's CLIP ViT-L/14).
    pub fn load(base: &Path, device: &Device) -> Result<TextEncoder> {
        let dir = base.join("text_encoder");
        let config_path = dir.join("config.json");
        let json: ClipJson = read_json(&config_path)?;
        if json.hidden_act != "quick_gelu"
            || json.vocab_size != CLIP_VOCAB
            || json.max_position_embeddings != CONTEXT_LEN
        {
            return Err(problem(
                &config_path,
                format!(
                    "a text encoder with {} activation, vocabulary {} and context {}; the \
                     builtin trainer has SD1.x's CLIP (quick_gelu, 49408, 77) — SD2's OpenCLIP \
                     text encoder is not supported yet (use the kohya or diffusers backend)",
                    json.hidden_act, json.vocab_size, json.max_position_embeddings
                ),
            ));
        }
        let file = weights_file(&dir, &["model.safetensors", "model.fp16.safetensors"])?;
        let id = format!("{}:{}", file.display(), file_stamp(&file));
        Self::build(
            load_tensors(&file, device)?,
            json.hidden_size,
            json.intermediate_size,
            json.num_hidden_layers,
            json.num_attention_heads,
            id,
        )
        .map_err(|e| match e {
            TrainerError::Candle(c) => in_file(&file)(c),
            other => other,
        })
    }

    /// SD1.x's CLIP (quick GELU, 49408 tokens, 77 positions) of the given sizes from `vb`,
    /// whose names start with `text_model.`.
    pub(super) fn build(
        vb: VarBuilder,
        width: usize,
        intermediate: usize,
        layers: usize,
        heads: usize,
        id: String,
    ) -> Result<TextEncoder> {
        let cfg = clip_config(width, intermediate, layers, heads);
        let device = vb.device().clone();
        let model = ClipTextTransformer::new(vb.pp("text_model"), &cfg)?;
        Ok(TextEncoder {
            model,
            device,
            width,
            id,
        })
    }

    /// Token ids (without start/end) to CLIP's input row: start, up to 75 tokens, end, padded
    /// with the end token to 77 (SD1.x's convention).
    pub fn input_row(tokens: &[u32]) -> Vec<u32> {
        let mut row = Vec::with_capacity(CONTEXT_LEN);
        row.push(BOS);
        row.extend(tokens.iter().copied().take(CONTEXT_LEN - 2));
        row.resize(CONTEXT_LEN, EOS);
        row
    }

    /// The last hidden state (L, D) for one caption's tokens.
    pub fn encode(&self, tokens: &[u32]) -> Result<Tensor> {
        let row = Self::input_row(tokens);
        let ids = Tensor::from_vec(row, (1, CONTEXT_LEN), &self.device)?;
        let hidden = self.model.forward_with_mask(&ids, usize::MAX)?;
        Ok(hidden.squeeze(0)?.detach())
    }
}

/// Size and modification time, so a changed file invalidates the caches.
pub(super) fn file_stamp(path: &Path) -> String {
    std::fs::metadata(path)
        .ok()
        .map(|m| {
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            format!("{}-{t}", m.len())
        })
        .unwrap_or_default()
}
