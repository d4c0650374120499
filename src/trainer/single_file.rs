//! The VAE and CLIP text encoder of an LDM single-file checkpoint (`first_stage_model.*`,
//! `cond_stage_model.transformer.*`, as A1111 and sd-scripts save SD1.x), renamed to the
//! diffusers names the encoders are built with; the UNet's renaming is `weights`'. Sizes are
//! read from the tensors' shapes, as diffusers' `from_single_file` does.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::stable_diffusion::vae::AutoEncoderKLConfig;

use super::encoders::{CLIP_VOCAB, CONTEXT_LEN, TextEncoder, Vae, file_stamp};
use super::{Result, TrainerError};

const VAE_PREFIX: &str = "first_stage_model.";
const CLIP_PREFIXES: [&str; 2] = [
    "cond_stage_model.transformer.text_model.",
    // Checkpoints saved with older transformers have no `text_model.` level.
    "cond_stage_model.transformer.",
];
/// SD1.x's VAE scaling factor (it is not stored in the checkpoint).
const SD_SCALING: f64 = 0.18215;

fn problem(path: &Path, p: impl Into<String>) -> TrainerError {
    TrainerError::Config {
        path: path.to_path_buf(),
        problem: p.into(),
    }
}

fn resnet_layer(ldm: &str) -> &str {
    if ldm == "nin_shortcut" {
        "conv_shortcut"
    } else {
        ldm
    }
}

/// One VAE tensor name (without `first_stage_model.`) in diffusers' naming; `levels` is the
/// number of resolution levels, since LDM numbers the decoder's levels from the bottom.
pub fn vae_name(ldm: &str, levels: usize) -> Option<String> {
    let (side, rest) = ldm.split_once('.')?;
    match side {
        "quant_conv" | "post_quant_conv" => return Some(ldm.to_string()),
        "encoder" | "decoder" => {}
        _ => return None,
    }
    let parts: Vec<&str> = rest.split('.').collect();
    let up = |i: &str| {
        i.parse::<usize>()
            .ok()
            .and_then(|i| levels.checked_sub(i + 1))
    };
    let mapped = match parts.as_slice() {
        ["norm_out", leaf] => format!("conv_norm_out.{leaf}"),
        [layer @ ("conv_in" | "conv_out"), leaf] => format!("{layer}.{leaf}"),
        ["down", i, "block", j, layer, leaf] => {
            format!("down_blocks.{i}.resnets.{j}.{}.{leaf}", resnet_layer(layer))
        }
        ["down", i, "downsample", "conv", leaf] => {
            format!("down_blocks.{i}.downsamplers.0.conv.{leaf}")
        }
        ["up", i, "block", j, layer, leaf] => format!(
            "up_blocks.{}.resnets.{j}.{}.{leaf}",
            up(i)?,
            resnet_layer(layer)
        ),
        ["up", i, "upsample", "conv", leaf] => {
            format!("up_blocks.{}.upsamplers.0.conv.{leaf}", up(i)?)
        }
        ["mid", block @ ("block_1" | "block_2"), layer, leaf] => format!(
            "mid_block.resnets.{}.{}.{leaf}",
            usize::from(*block == "block_2"),
            resnet_layer(layer)
        ),
        ["mid", "attn_1", layer, leaf] => {
            let to = match *layer {
                "norm" => "group_norm",
                "q" => "to_q",
                "k" => "to_k",
                "v" => "to_v",
                "proj_out" => "to_out.0",
                _ => return None,
            };
            format!("mid_block.attentions.0.{to}.{leaf}")
        }
        _ => return None,
    };
    Some(format!("{side}.{mapped}"))
}

/// The distinct numbers `N` of names `{prefix}N.…`.
fn indices<'a>(names: impl Iterator<Item = &'a str>, prefix: &str) -> BTreeSet<usize> {
    names
        .filter_map(|k| k.strip_prefix(prefix))
        .filter_map(|r| r.split('.').next()?.parse().ok())
        .collect()
}

fn dims(path: &Path, tensors: &HashMap<String, Tensor>, key: &str) -> Result<Vec<usize>> {
    tensors.get(key).map(|t| t.dims().to_vec()).ok_or_else(|| {
        problem(
            path,
            format!("no `{key}`; the checkpoint's VAE or text encoder is incomplete"),
        )
    })
}

/// The first dimension of tensor `key` (a damaged file's scalar is an error, not a panic).
fn rows(path: &Path, tensors: &HashMap<String, Tensor>, key: &str) -> Result<usize> {
    dims(path, tensors, key)?.first().copied().ok_or_else(|| {
        problem(
            path,
            format!("`{key}` is a scalar; the checkpoint is damaged"),
        )
    })
}

impl Vae {
    /// The VAE inside `tensors`, the whole checkpoint read from `path`.
    pub fn from_single_file(
        path: &Path,
        tensors: &HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Vae> {
        let own: HashMap<&str, &Tensor> = tensors
            .iter()
            .filter_map(|(k, t)| Some((k.strip_prefix(VAE_PREFIX)?, t)))
            .collect();
        if own.is_empty() {
            return Err(problem(
                path,
                "no VAE in this checkpoint (first_stage_model.*); give a diffusers folder, or a \
                 single file that holds the VAE",
            ));
        }
        let levels = indices(own.keys().copied(), "encoder.down.").len();
        let mut channels = Vec::with_capacity(levels);
        for i in 0..levels {
            let key = format!("{VAE_PREFIX}encoder.down.{i}.block.0.conv1.weight");
            channels.push(rows(path, tensors, &key)?);
        }
        let layers = indices(own.keys().copied(), "encoder.down.0.block.").len();
        let latent = rows(
            path,
            tensors,
            &format!("{VAE_PREFIX}post_quant_conv.weight"),
        )?;
        let mut renamed = HashMap::with_capacity(own.len());
        for (k, t) in own {
            if let Some(d) = vae_name(k, levels) {
                renamed.insert(d, t.clone());
            }
        }
        let cfg = AutoEncoderKLConfig {
            block_out_channels: channels,
            layers_per_block: layers,
            latent_channels: latent,
            // Not stored in the checkpoint; every SD VAE uses 32.
            norm_num_groups: 32,
            use_quant_conv: true,
            use_post_quant_conv: true,
        };
        let vb = VarBuilder::from_tensors(renamed, DType::F32, device);
        let id = format!("{}:vae:{}", path.display(), file_stamp(path));
        Vae::build(vb, cfg, SD_SCALING, id).map_err(|e| match e {
            TrainerError::Candle(c) => problem(path, format!("its VAE does not load: {c}")),
            other => other,
        })
    }
}

impl TextEncoder {
    /// SD1.x's CLIP text encoder inside `tensors`, the whole checkpoint read from `path`.
    pub fn from_single_file(
        path: &Path,
        tensors: &HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<TextEncoder> {
        if tensors
            .keys()
            .any(|k| k.starts_with("cond_stage_model.model."))
        {
            return Err(problem(
                path,
                "an SD2.x checkpoint (OpenCLIP text encoder); the builtin trainer has SD1.x's CLIP \
                 only (use the kohya or diffusers backend)",
            ));
        }
        let prefix = CLIP_PREFIXES
            .iter()
            .find(|p| tensors.keys().any(|k| k.starts_with(*p)))
            .ok_or_else(|| {
                problem(
                    path,
                    "no text encoder in this checkpoint (cond_stage_model.transformer.*); give a \
                     diffusers folder",
                )
            })?;
        let renamed: HashMap<String, Tensor> = tensors
            .iter()
            .filter_map(|(k, t)| {
                Some((
                    format!("text_model.{}", k.strip_prefix(*prefix)?),
                    t.clone(),
                ))
            })
            .collect();
        let shape = |key: &str| dims(path, &renamed, &format!("text_model.{key}"));
        let first = |key: &str| rows(path, &renamed, &format!("text_model.{key}"));
        let [vocab, width] = shape("embeddings.token_embedding.weight")?[..] else {
            return Err(problem(
                path,
                "the text encoder's token embedding is not a matrix",
            ));
        };
        let context = first("embeddings.position_embedding.weight")?;
        if vocab != CLIP_VOCAB || context != CONTEXT_LEN {
            return Err(problem(
                path,
                format!(
                    "a text encoder with vocabulary {vocab} and context {context}; the builtin \
                     trainer has SD1.x's CLIP ({CLIP_VOCAB}, {CONTEXT_LEN})"
                ),
            ));
        }
        let layers = indices(
            renamed.keys().map(String::as_str),
            "text_model.encoder.layers.",
        )
        .len();
        let intermediate = first("encoder.layers.0.mlp.fc1.weight")?;
        // The head count is not stored; every CLIP text encoder has 64-wide heads
        // (ViT-L/14: 768 = 12 x 64).
        let heads = (width / 64).max(1);
        let vb = VarBuilder::from_tensors(renamed, DType::F32, device);
        let id = format!("{}:clip:{}", path.display(), file_stamp(path));
        TextEncoder::build(vb, width, intermediate, layers, heads, id).map_err(|e| match e {
            TrainerError::Candle(c) => {
                problem(path, format!("its text encoder does not load: {c}"))
            }
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::vae_name;

    #[test]
    fn vae_names_follow_diffusers_and_number_the_decoder_from_the_top() {
        let cases = [
            (
                "encoder.down.0.block.1.nin_shortcut.weight",
                "encoder.down_blocks.0.resnets.1.conv_shortcut.weight",
            ),
            (
                "encoder.down.2.downsample.conv.bias",
                "encoder.down_blocks.2.downsamplers.0.conv.bias",
            ),
            (
                "decoder.up.3.block.2.conv1.weight",
                "decoder.up_blocks.0.resnets.2.conv1.weight",
            ),
            (
                "decoder.up.1.upsample.conv.weight",
                "decoder.up_blocks.2.upsamplers.0.conv.weight",
            ),
            (
                "encoder.mid.block_2.norm1.weight",
                "encoder.mid_block.resnets.1.norm1.weight",
            ),
            (
                "decoder.mid.attn_1.proj_out.weight",
                "decoder.mid_block.attentions.0.to_out.0.weight",
            ),
            (
                "decoder.mid.attn_1.norm.bias",
                "decoder.mid_block.attentions.0.group_norm.bias",
            ),
            ("encoder.norm_out.weight", "encoder.conv_norm_out.weight"),
            ("post_quant_conv.bias", "post_quant_conv.bias"),
        ];
        for (ldm, diffusers) in cases {
            assert_eq!(vae_name(ldm, 4).as_deref(), Some(diffusers), "{ldm}");
        }
        assert_eq!(vae_name("decoder.up.4.block.0.conv1.weight", 4), None);
        assert_eq!(vae_name("model_ema.decay", 4), None);
    }
}
