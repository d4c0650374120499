//! `UNet2DConditionModel` (SD1.x/2.x) with diffusers' structure and tensor names, per-sample
//! timesteps, and LoRA adapters where the [`LoraSpec`] asks for them.

use candle_core::{DType, Module, Result as CResult, Tensor};

use super::config::{DownBlock, UNetConfig, UpBlock};
use super::layers::{self, Attention, Conv2d, FeedForward, GroupNorm, LayerNorm, Linear};
use super::lora::{Builder, LoraSet, LoraSpec, Role};
use super::weights::Weights;
use super::{Result, TrainerError};

struct Resnet {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Linear,
    norm2: GroupNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
    output_scale: f64,
}

impl Resnet {
    fn new(
        b: &mut Builder,
        path: &str,
        cfg: &UNetConfig,
        in_c: usize,
        out_c: usize,
        output_scale: f64,
    ) -> Result<Self> {
        let (g, eps) = (cfg.norm_num_groups, cfg.norm_eps);
        let shortcut = match in_c != out_c {
            true => Some(b.conv(
                &format!("{path}.conv_shortcut"),
                in_c,
                out_c,
                1,
                1,
                0,
                Role::ResnetLinear,
            )?),
            false => None,
        };
        Ok(Resnet {
            norm1: b.group_norm(&format!("{path}.norm1"), g, in_c, eps)?,
            conv1: b.conv(
                &format!("{path}.conv1"),
                in_c,
                out_c,
                3,
                1,
                1,
                Role::ResnetConv,
            )?,
            time_emb_proj: b.linear(
                &format!("{path}.time_emb_proj"),
                cfg.time_embed_dim(),
                out_c,
                true,
                Role::ResnetLinear,
            )?,
            norm2: b.group_norm(&format!("{path}.norm2"), g, out_c, eps)?,
            conv2: b.conv(
                &format!("{path}.conv2"),
                out_c,
                out_c,
                3,
                1,
                1,
                Role::ResnetConv,
            )?,
            shortcut,
            output_scale,
        })
    }

    /// `temb` is silu(time embedding), shared by every ResNet.
    fn forward(&self, x: &Tensor, temb: &Tensor) -> CResult<Tensor> {
        let h = self.conv1.forward(&self.norm1.forward(x)?.silu()?)?;
        let t = self
            .time_emb_proj
            .forward(temb)?
            .unsqueeze(2)?
            .unsqueeze(3)?;
        let h = h.broadcast_add(&t)?;
        let h = self.conv2.forward(&self.norm2.forward(&h)?.silu()?)?;
        let skip = match &self.shortcut {
            Some(c) => c.forward(x)?,
            None => x.clone(),
        };
        let y = (skip + h)?;
        if self.output_scale == 1.0 {
            Ok(y)
        } else {
            y / self.output_scale
        }
    }
}

struct TransformerBlock {
    norm1: LayerNorm,
    attn1: Attention,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    ff: FeedForward,
}

fn attention(
    b: &mut Builder,
    path: &str,
    dim: usize,
    kv_dim: usize,
    heads: usize,
) -> Result<Attention> {
    let role = Role::Attention;
    Ok(Attention {
        to_q: b.linear(&format!("{path}.to_q"), dim, dim, false, role)?,
        to_k: b.linear(&format!("{path}.to_k"), kv_dim, dim, false, role)?,
        to_v: b.linear(&format!("{path}.to_v"), kv_dim, dim, false, role)?,
        to_out: b.linear(&format!("{path}.to_out.0"), dim, dim, true, role)?,
        heads,
    })
}

impl TransformerBlock {
    fn new(b: &mut Builder, path: &str, dim: usize, cross: usize, heads: usize) -> Result<Self> {
        let ff = Role::FeedForward;
        Ok(TransformerBlock {
            norm1: b.layer_norm(&format!("{path}.norm1"), dim, 1e-5)?,
            attn1: attention(b, &format!("{path}.attn1"), dim, dim, heads)?,
            norm2: b.layer_norm(&format!("{path}.norm2"), dim, 1e-5)?,
            attn2: attention(b, &format!("{path}.attn2"), dim, cross, heads)?,
            norm3: b.layer_norm(&format!("{path}.norm3"), dim, 1e-5)?,
            ff: FeedForward {
                proj: b.linear(&format!("{path}.ff.net.0.proj"), dim, dim * 8, true, ff)?,
                out: b.linear(&format!("{path}.ff.net.2"), dim * 4, dim, true, ff)?,
            },
        })
    }

    fn forward(&self, x: &Tensor, context: &Tensor) -> CResult<Tensor> {
        let x = (self.attn1.forward(&self.norm1.forward(x)?, None)? + x)?;
        let x = (self
            .attn2
            .forward(&self.norm2.forward(&x)?, Some(context))?
            + &x)?;
        self.ff.forward(&self.norm3.forward(&x)?)? + &x
    }
}

/// diffusers' Transformer2DModel. Both projection kinds run channels-last as linears (a 1×1
/// conv is one), so the file layout is the only difference.
struct Transformer2D {
    norm: GroupNorm,
    proj_in: Linear,
    blocks: Vec<TransformerBlock>,
    proj_out: Linear,
}

impl Transformer2D {
    fn new(
        b: &mut Builder,
        path: &str,
        cfg: &UNetConfig,
        c: usize,
        heads: usize,
        depth: usize,
    ) -> Result<Self> {
        let role = Role::Projection;
        let proj = |b: &mut Builder, name: &str| match cfg.use_linear_projection {
            true => b.linear(&format!("{path}.{name}"), c, c, true, role),
            false => b.pointwise(&format!("{path}.{name}"), c, c, role),
        };
        let norm = b.group_norm(&format!("{path}.norm"), cfg.norm_num_groups, c, 1e-6)?;
        let proj_in = proj(b, "proj_in")?;
        let blocks = (0..depth)
            .map(|k| {
                TransformerBlock::new(
                    b,
                    &format!("{path}.transformer_blocks.{k}"),
                    c,
                    cfg.cross_attention_dim,
                    heads,
                )
            })
            .collect::<Result<_>>()?;
        let proj_out = proj(b, "proj_out")?;
        Ok(Transformer2D {
            norm,
            proj_in,
            blocks,
            proj_out,
        })
    }

    fn forward(&self, x: &Tensor, context: &Tensor) -> CResult<Tensor> {
        let (bsz, c, h, w) = x.dims4()?;
        let t = self
            .norm
            .forward(x)?
            .permute((0, 2, 3, 1))?
            .reshape((bsz, h * w, c))?;
        let mut t = self.proj_in.forward(&t)?;
        for blk in &self.blocks {
            t = blk.forward(&t, context)?;
        }
        let t = self.proj_out.forward(&t)?;
        t.reshape((bsz, h, w, c))?.permute((0, 3, 1, 2))? + x
    }
}

/// A down or up block: ResNets, each followed by a transformer in cross-attention blocks,
/// then an optional resampling conv.
struct Block {
    resnets: Vec<Resnet>,
    attentions: Vec<Transformer2D>,
    resample: Option<Conv2d>,
}

pub struct UNet {
    cfg: UNetConfig,
    conv_in: Conv2d,
    time_1: Linear,
    time_2: Linear,
    down: Vec<Block>,
    mid_resnets: [Resnet; 2],
    mid_attention: Transformer2D,
    up: Vec<Block>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    dtype: DType,
}

impl UNet {
    /// Builds the model from `weights` (shapes checked against `cfg`), with adapters where
    /// `lora` targets them.
    pub fn new(
        cfg: &UNetConfig,
        weights: &mut Weights,
        lora: Option<&LoraSpec>,
    ) -> Result<(UNet, LoraSet)> {
        cfg.validate().map_err(TrainerError::Unsupported)?;
        let dtype = weights.dtype();
        let mut builder = Builder::new(weights, lora);
        let unet = Self::build(cfg, dtype, &mut builder)?;
        Ok((unet, builder.finish()))
    }

    fn build(cfg: &UNetConfig, dtype: DType, b: &mut Builder) -> Result<UNet> {
        let ch = &cfg.block_out_channels;
        let n = ch.len();
        let temb = cfg.time_embed_dim();
        let conv_in = b.conv("conv_in", cfg.in_channels, ch[0], 3, 1, 1, Role::Other)?;
        let time_1 = b.linear("time_embedding.linear_1", ch[0], temb, true, Role::Other)?;
        let time_2 = b.linear("time_embedding.linear_2", temb, temb, true, Role::Other)?;

        let mut down = Vec::with_capacity(n);
        for (i, kind) in cfg.down_blocks.iter().enumerate() {
            let path = format!("down_blocks.{i}");
            let (in_c, out_c) = (if i == 0 { ch[0] } else { ch[i - 1] }, ch[i]);
            let mut block = Block {
                resnets: Vec::new(),
                attentions: Vec::new(),
                resample: None,
            };
            for j in 0..cfg.layers_per_block {
                let rin = if j == 0 { in_c } else { out_c };
                block.resnets.push(Resnet::new(
                    b,
                    &format!("{path}.resnets.{j}"),
                    cfg,
                    rin,
                    out_c,
                    1.0,
                )?);
                if *kind == DownBlock::CrossAttn {
                    let t = Transformer2D::new(
                        b,
                        &format!("{path}.attentions.{j}"),
                        cfg,
                        out_c,
                        cfg.heads[i],
                        cfg.transformer_layers[i],
                    )?;
                    block.attentions.push(t);
                }
            }
            if i + 1 < n {
                let pad = cfg.downsample_padding;
                block.resample = Some(b.conv(
                    &format!("{path}.downsamplers.0.conv"),
                    out_c,
                    out_c,
                    3,
                    2,
                    pad,
                    Role::ResnetConv,
                )?);
            }
            down.push(block);
        }

        let c = ch[n - 1];
        let s = cfg.mid_block_scale_factor;
        let mid_0 = Resnet::new(b, "mid_block.resnets.0", cfg, c, c, s)?;
        let mid_attention = Transformer2D::new(
            b,
            "mid_block.attentions.0",
            cfg,
            c,
            cfg.heads[n - 1],
            cfg.transformer_layers[n - 1],
        )?;
        let mid_1 = Resnet::new(b, "mid_block.resnets.1", cfg, c, c, s)?;

        let rev: Vec<usize> = ch.iter().rev().copied().collect();
        let mut up = Vec::with_capacity(n);
        for (i, kind) in cfg.up_blocks.iter().enumerate() {
            let path = format!("up_blocks.{i}");
            let prev_out = if i == 0 { c } else { rev[i - 1] };
            let (out_c, in_c) = (rev[i], rev[(i + 1).min(n - 1)]);
            let layers = cfg.layers_per_block + 1;
            let mut block = Block {
                resnets: Vec::new(),
                attentions: Vec::new(),
                resample: None,
            };
            for j in 0..layers {
                let skip = if j + 1 == layers { in_c } else { out_c };
                let rin = if j == 0 { prev_out } else { out_c };
                block.resnets.push(Resnet::new(
                    b,
                    &format!("{path}.resnets.{j}"),
                    cfg,
                    rin + skip,
                    out_c,
                    1.0,
                )?);
                if *kind == UpBlock::CrossAttn {
                    let heads = cfg.heads[n - 1 - i];
                    let depth = cfg.transformer_layers[n - 1 - i];
                    block.attentions.push(Transformer2D::new(
                        b,
                        &format!("{path}.attentions.{j}"),
                        cfg,
                        out_c,
                        heads,
                        depth,
                    )?);
                }
            }
            if i + 1 < n {
                block.resample = Some(b.conv(
                    &format!("{path}.upsamplers.0.conv"),
                    out_c,
                    out_c,
                    3,
                    1,
                    1,
                    Role::ResnetConv,
                )?);
            }
            up.push(block);
        }
        let norm_out = b.group_norm("conv_norm_out", cfg.norm_num_groups, ch[0], cfg.norm_eps)?;
        let conv_out = b.conv("conv_out", ch[0], cfg.out_channels, 3, 1, 1, Role::Other)?;
        Ok(UNet {
            cfg: cfg.clone(),
            conv_in,
            time_1,
            time_2,
            down,
            mid_resnets: [mid_0, mid_1],
            mid_attention,
            up,
            norm_out,
            conv_out,
            dtype,
        })
    }

    pub fn config(&self) -> &UNetConfig {
        &self.cfg
    }

    /// Where the weights live (the CPU, or the GPU in a `cuda` build).
    pub fn device(&self) -> &candle_core::Device {
        self.conv_in.weight.device()
    }

    /// Predicts noise (or v) for `sample` (B, C, H, W) at per-sample `timesteps` (B,) with
    /// text `context` (B, L, cross_attention_dim).
    pub fn forward(
        &self,
        sample: &Tensor,
        timesteps: &Tensor,
        context: &Tensor,
    ) -> CResult<Tensor> {
        let cfg = &self.cfg;
        let t = layers::timestep_embedding(
            timesteps,
            cfg.block_out_channels[0],
            cfg.flip_sin_to_cos,
            cfg.freq_shift,
            self.dtype,
        )?;
        let emb = self.time_2.forward(&self.time_1.forward(&t)?.silu()?)?;
        let temb = emb.silu()?;
        let sample = if cfg.center_input_sample {
            ((sample * 2.0)? - 1.0)?
        } else {
            sample.clone()
        };
        let mut x = self.conv_in.forward(&sample)?;
        let mut skips = vec![x.clone()];
        for block in &self.down {
            for (j, r) in block.resnets.iter().enumerate() {
                x = r.forward(&x, &temb)?;
                if let Some(a) = block.attentions.get(j) {
                    x = a.forward(&x, context)?;
                }
                skips.push(x.clone());
            }
            if let Some(d) = &block.resample {
                x = d.forward(&x)?;
                skips.push(x.clone());
            }
        }
        x = self.mid_resnets[0].forward(&x, &temb)?;
        x = self.mid_attention.forward(&x, context)?;
        x = self.mid_resnets[1].forward(&x, &temb)?;
        for block in &self.up {
            for (j, r) in block.resnets.iter().enumerate() {
                let skip = skips.pop().ok_or_else(|| {
                    candle_core::Error::Msg("UNet skip connections ran out".into())
                })?;
                x = r.forward(&Tensor::cat(&[&x, &skip], 1)?, &temb)?;
                if let Some(a) = block.attentions.get(j) {
                    x = a.forward(&x, context)?;
                }
            }
            if let Some(u) = &block.resample {
                x = u.forward(&layers::upsample2x(&x)?)?;
            }
        }
        self.conv_out.forward(&self.norm_out.forward(&x)?.silu()?)
    }
}
