//! The UNet's shape: a diffusers `UNet2DConditionModel` `config.json` (the keys this model
//! implements; any other setting that changes the network is refused by name), or a preset.

use std::path::Path;

use serde::Deserialize;

use super::{Result, TrainerError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownBlock {
    Plain,
    CrossAttn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpBlock {
    Plain,
    CrossAttn,
}

/// A number or one per block (diffusers accepts both).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum PerBlock {
    One(usize),
    Each(Vec<usize>),
}

impl PerBlock {
    fn expand(&self, n: usize, key: &str) -> std::result::Result<Vec<usize>, String> {
        match self {
            PerBlock::One(v) => Ok(vec![*v; n]),
            PerBlock::Each(v) if v.len() == n => Ok(v.clone()),
            PerBlock::Each(v) => Err(format!("`{key}` has {} entries for {n} blocks", v.len())),
        }
    }
}

fn one() -> PerBlock {
    PerBlock::One(1)
}

/// The subset of diffusers' config.json that shapes an SD1.x/2.x UNet.
#[derive(Debug, Deserialize)]
struct Raw {
    #[serde(default = "four")]
    in_channels: usize,
    #[serde(default = "four")]
    out_channels: usize,
    block_out_channels: Vec<usize>,
    #[serde(default = "two")]
    layers_per_block: usize,
    down_block_types: Vec<String>,
    up_block_types: Vec<String>,
    cross_attention_dim: usize,
    #[serde(default)]
    attention_head_dim: Option<PerBlock>,
    #[serde(default)]
    num_attention_heads: Option<PerBlock>,
    #[serde(default = "one")]
    transformer_layers_per_block: PerBlock,
    #[serde(default = "groups")]
    norm_num_groups: usize,
    #[serde(default = "eps")]
    norm_eps: f64,
    #[serde(default = "yes")]
    flip_sin_to_cos: bool,
    #[serde(default)]
    freq_shift: f64,
    #[serde(default = "one_usize")]
    downsample_padding: usize,
    #[serde(default = "one_f64")]
    mid_block_scale_factor: f64,
    #[serde(default)]
    use_linear_projection: bool,
    #[serde(default)]
    center_input_sample: bool,
    // Settings this model does not implement: refused unless at their defaults.
    #[serde(default)]
    addition_embed_type: Option<String>,
    #[serde(default)]
    class_embed_type: Option<String>,
    #[serde(default)]
    encoder_hid_dim_type: Option<String>,
    #[serde(default)]
    time_cond_proj_dim: Option<usize>,
    #[serde(default)]
    mid_block_type: Option<String>,
    #[serde(default)]
    resnet_time_scale_shift: Option<String>,
    #[serde(default)]
    act_fn: Option<String>,
    #[serde(default)]
    only_cross_attention: Option<serde_json::Value>,
    #[serde(default)]
    dual_cross_attention: Option<bool>,
    #[serde(default)]
    conv_in_kernel: Option<usize>,
    #[serde(default)]
    conv_out_kernel: Option<usize>,
    #[serde(default)]
    time_embedding_type: Option<String>,
    #[serde(default)]
    attention_type: Option<String>,
}

fn four() -> usize {
    4
}
fn two() -> usize {
    2
}
fn groups() -> usize {
    32
}
fn eps() -> f64 {
    1e-5
}
fn yes() -> bool {
    true
}
fn one_usize() -> usize {
    1
}
fn one_f64() -> f64 {
    1.0
}

/// Everything the model needs, one entry per down block where it varies.
#[derive(Debug, Clone, PartialEq)]
pub struct UNetConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub block_out_channels: Vec<usize>,
    pub layers_per_block: usize,
    pub down_blocks: Vec<DownBlock>,
    pub up_blocks: Vec<UpBlock>,
    pub cross_attention_dim: usize,
    /// Attention heads per down block (diffusers' `num_attention_heads`, which SD configs
    /// spell `attention_head_dim`).
    pub heads: Vec<usize>,
    pub transformer_layers: Vec<usize>,
    pub norm_num_groups: usize,
    pub norm_eps: f64,
    pub flip_sin_to_cos: bool,
    pub freq_shift: f64,
    pub downsample_padding: usize,
    pub mid_block_scale_factor: f64,
    pub use_linear_projection: bool,
    pub center_input_sample: bool,
}

impl UNetConfig {
    /// Stable Diffusion 1.x (runwayml/stable-diffusion-v1-5's unet/config.json).
    pub fn sd15() -> Self {
        let cross = DownBlock::CrossAttn;
        UNetConfig {
            in_channels: 4,
            out_channels: 4,
            block_out_channels: vec![320, 640, 1280, 1280],
            layers_per_block: 2,
            down_blocks: vec![cross, cross, cross, DownBlock::Plain],
            up_blocks: vec![
                UpBlock::Plain,
                UpBlock::CrossAttn,
                UpBlock::CrossAttn,
                UpBlock::CrossAttn,
            ],
            cross_attention_dim: 768,
            heads: vec![8; 4],
            transformer_layers: vec![1; 4],
            norm_num_groups: 32,
            norm_eps: 1e-5,
            flip_sin_to_cos: true,
            freq_shift: 0.0,
            downsample_padding: 1,
            mid_block_scale_factor: 1.0,
            use_linear_projection: false,
            center_input_sample: false,
        }
    }

    /// Stable Diffusion 2.x: 64-dim heads, OpenCLIP-H context, linear projections.
    pub fn sd2() -> Self {
        UNetConfig {
            cross_attention_dim: 1024,
            heads: vec![5, 10, 20, 20],
            use_linear_projection: true,
            ..Self::sd15()
        }
    }

    /// A tiny SD-shaped UNet for CPU tests and benchmarks: `channels` per block, cross-attention
    /// in all blocks but the first (as diffusers' test UNets).
    pub fn tiny(
        channels: &[usize],
        groups: usize,
        heads: usize,
        cross_attention_dim: usize,
    ) -> Self {
        let n = channels.len();
        let down = (0..n)
            .map(|i| {
                if i == 0 {
                    DownBlock::Plain
                } else {
                    DownBlock::CrossAttn
                }
            })
            .collect();
        let up = (0..n)
            .map(|i| {
                if i + 1 == n {
                    UpBlock::Plain
                } else {
                    UpBlock::CrossAttn
                }
            })
            .collect();
        UNetConfig {
            block_out_channels: channels.to_vec(),
            layers_per_block: 1,
            down_blocks: down,
            up_blocks: up,
            cross_attention_dim,
            heads: vec![heads; n],
            transformer_layers: vec![1; n],
            norm_num_groups: groups,
            ..Self::sd15()
        }
    }

    /// Reads a diffusers `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| TrainerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|problem| TrainerError::Config {
            path: path.to_path_buf(),
            problem,
        })
    }

    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let raw: Raw = serde_json::from_str(text).map_err(|e| format!("not a UNet config: {e}"))?;
        let refuse = |key: &str, value: &dyn std::fmt::Debug| -> String {
            format!(
                "`{key}` = {value:?} is not supported by the builtin trainer (SD1.x/2.x UNets \
                 only); train SDXL or Flux with the kohya, ai-toolkit or diffusers backend"
            )
        };
        if let Some(v) = &raw.addition_embed_type {
            return Err(refuse("addition_embed_type", v));
        }
        if let Some(v) = &raw.class_embed_type {
            return Err(refuse("class_embed_type", v));
        }
        if let Some(v) = &raw.encoder_hid_dim_type {
            return Err(refuse("encoder_hid_dim_type", v));
        }
        if let Some(v) = &raw.time_cond_proj_dim {
            return Err(refuse("time_cond_proj_dim", v));
        }
        let checks: [(&str, &Option<String>, &str); 5] = [
            (
                "mid_block_type",
                &raw.mid_block_type,
                "UNetMidBlock2DCrossAttn",
            ),
            (
                "resnet_time_scale_shift",
                &raw.resnet_time_scale_shift,
                "default",
            ),
            ("act_fn", &raw.act_fn, "silu"),
            (
                "time_embedding_type",
                &raw.time_embedding_type,
                "positional",
            ),
            ("attention_type", &raw.attention_type, "default"),
        ];
        for (key, value, default) in checks {
            if let Some(v) = value.as_deref().filter(|v| *v != default) {
                return Err(refuse(key, &v));
            }
        }
        match &raw.only_cross_attention {
            None | Some(serde_json::Value::Bool(false)) => {}
            Some(v) => return Err(refuse("only_cross_attention", v)),
        }
        if raw.dual_cross_attention == Some(true) {
            return Err(refuse("dual_cross_attention", &true));
        }
        for (key, k) in [
            ("conv_in_kernel", raw.conv_in_kernel),
            ("conv_out_kernel", raw.conv_out_kernel),
        ] {
            if let Some(k) = k.filter(|&k| k != 3) {
                return Err(refuse(key, &k));
            }
        }
        let n = raw.block_out_channels.len();
        let down = raw
            .down_block_types
            .iter()
            .map(|t| match t.as_str() {
                "DownBlock2D" => Ok(DownBlock::Plain),
                "CrossAttnDownBlock2D" => Ok(DownBlock::CrossAttn),
                other => Err(refuse("down_block_types", &other)),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let up = raw
            .up_block_types
            .iter()
            .map(|t| match t.as_str() {
                "UpBlock2D" => Ok(UpBlock::Plain),
                "CrossAttnUpBlock2D" => Ok(UpBlock::CrossAttn),
                other => Err(refuse("up_block_types", &other)),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if down.len() != n || up.len() != n {
            return Err(format!(
                "{n} block_out_channels but {} down and {} up block types",
                down.len(),
                up.len()
            ));
        }
        let heads = raw
            .num_attention_heads
            .as_ref()
            .or(raw.attention_head_dim.as_ref())
            .unwrap_or(&PerBlock::One(8))
            .expand(n, "attention_head_dim")?;
        let cfg = UNetConfig {
            in_channels: raw.in_channels,
            out_channels: raw.out_channels,
            block_out_channels: raw.block_out_channels,
            layers_per_block: raw.layers_per_block,
            down_blocks: down,
            up_blocks: up,
            cross_attention_dim: raw.cross_attention_dim,
            heads,
            transformer_layers: raw
                .transformer_layers_per_block
                .expand(n, "transformer_layers_per_block")?,
            norm_num_groups: raw.norm_num_groups,
            norm_eps: raw.norm_eps,
            flip_sin_to_cos: raw.flip_sin_to_cos,
            freq_shift: raw.freq_shift,
            downsample_padding: raw.downsample_padding,
            mid_block_scale_factor: raw.mid_block_scale_factor,
            use_linear_projection: raw.use_linear_projection,
            center_input_sample: raw.center_input_sample,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Shape rules the layers rely on, said before any tensor is built.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let g = self.norm_num_groups;
        if self.block_out_channels.is_empty() || g == 0 {
            return Err("block_out_channels and norm_num_groups must be non-empty/non-zero".into());
        }
        for (i, &c) in self.block_out_channels.iter().enumerate() {
            if c % g != 0 {
                return Err(format!(
                    "block_out_channels[{i}] = {c} is not divisible by norm_num_groups {g}"
                ));
            }
            let n = self.block_out_channels.len();
            let attends = self.down_blocks.get(i) == Some(&DownBlock::CrossAttn)
                || self.up_blocks.get(n - 1 - i) == Some(&UpBlock::CrossAttn)
                || i + 1 == n;
            if attends && (self.heads[i] == 0 || c % self.heads[i] != 0) {
                return Err(format!(
                    "block_out_channels[{i}] = {c} is not divisible by {} heads",
                    self.heads[i]
                ));
            }
        }
        Ok(())
    }

    /// Latent sides must halve cleanly at every downsampler.
    pub fn check_latent(&self, h: usize, w: usize) -> std::result::Result<(), String> {
        let f = 1usize << (self.block_out_channels.len() - 1);
        if !h.is_multiple_of(f) || !w.is_multiple_of(f) {
            return Err(format!(
                "latent size {h}x{w} must be a multiple of {f} for this UNet"
            ));
        }
        Ok(())
    }

    pub fn time_embed_dim(&self) -> usize {
        self.block_out_channels[0] * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_diffusers_test_config_and_refuses_sdxl() {
        let text = include_str!("../../tests/fixtures/unet/pipe/config.json");
        let cfg = UNetConfig::from_json(text).unwrap();
        assert_eq!(cfg.block_out_channels, vec![4, 8]);
        assert_eq!(
            cfg.down_blocks,
            vec![DownBlock::Plain, DownBlock::CrossAttn]
        );
        assert_eq!(cfg.heads, vec![8, 8]);
        assert_eq!(cfg.norm_num_groups, 2);
        let sdxl = text.replace(
            "\"addition_embed_type\": null",
            "\"addition_embed_type\": \"text_time\"",
        );
        let err = UNetConfig::from_json(&sdxl).unwrap_err();
        assert!(
            err.contains("addition_embed_type") && err.contains("kohya"),
            "{err}"
        );
    }
}
