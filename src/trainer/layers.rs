//! The UNet's building blocks with frozen base weights (every op through [`bridge`], so no
//! weight gradient is ever computed) and optional LoRA adapters in their own dtype.

use candle_core::{DType, Module, Result, Tensor, Var};

use super::bridge;

/// A LoRA adapter: y += scale · up(down(x)). `down` (r, in[, k, k]), `up` (out, r[, 1, 1]).
#[derive(Clone)]
pub struct Adapter {
    /// kohya module name, `lora_unet_<diffusers path with _>`.
    pub name: String,
    pub down: Var,
    pub up: Var,
    pub alpha: f32,
    /// The base layer is a conv: the factors are 4-D (kohya's LoCon layout).
    pub conv: Option<ConvGeometry>,
    /// The base is a 1×1 conv computed as a linear over channels-last activations: the factors
    /// are used as 2-D and saved as (r, in, 1, 1) / (out, r, 1, 1).
    pub pointwise: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct ConvGeometry {
    pub stride: usize,
    pub padding: usize,
}

impl Adapter {
    pub fn rank(&self) -> usize {
        self.down.dims()[0]
    }

    pub fn scale(&self) -> f64 {
        f64::from(self.alpha) / self.rank() as f64
    }

    fn delta_linear(&self, x: &Tensor) -> Result<Tensor> {
        let dt = self.down.dtype();
        let in_f = x.dim(candle_core::D::Minus1)?;
        let rows = x.elem_count() / in_f;
        let x2 = x.reshape((rows, in_f))?.to_dtype(dt)?;
        let d = x2.matmul(&self.down.as_tensor().t()?)?;
        let u = (d.matmul(&self.up.as_tensor().t()?)? * self.scale())?;
        let mut shape = x.dims().to_vec();
        if let Some(last) = shape.last_mut() {
            *last = u.dim(1)?;
        }
        u.reshape(shape)?.to_dtype(x.dtype())
    }

    fn delta_conv(&self, x: &Tensor, g: ConvGeometry) -> Result<Tensor> {
        let xl = x.to_dtype(self.down.dtype())?;
        let d = xl.conv2d(self.down.as_tensor(), g.padding, g.stride, 1, 1)?;
        let u = d.conv2d(self.up.as_tensor(), 0, 1, 1, 1)?;
        (u * self.scale())?.to_dtype(x.dtype())
    }
}

/// A linear layer (or a 1×1 conv applied channels-last) with weight (out, in).
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub lora: Option<Adapter>,
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = bridge::linear(x, &self.weight, self.bias.as_ref())?;
        match &self.lora {
            Some(a) => y + a.delta_linear(x)?,
            None => Ok(y),
        }
    }
}

/// A square-kernel conv with weight (out, in, k, k).
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub stride: usize,
    pub padding: usize,
    pub lora: Option<Adapter>,
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = bridge::conv2d(
            x,
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
        )?;
        match &self.lora {
            Some(a) => {
                let g = ConvGeometry {
                    stride: self.stride,
                    padding: self.padding,
                };
                y + a.delta_conv(x, g)?
            }
            None => Ok(y),
        }
    }
}

pub struct GroupNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub groups: usize,
    pub eps: f64,
}

impl Module for GroupNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        bridge::group_norm(x, self.groups, &self.weight, &self.bias, self.eps)
    }
}

pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f64,
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        bridge::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

/// Multi-head attention with explicit QKᵀ, our differentiable softmax, then ·V.
pub struct Attention {
    pub to_q: Linear,
    pub to_k: Linear,
    pub to_v: Linear,
    pub to_out: Linear,
    pub heads: usize,
}

impl Attention {
    /// `x` (b, n, c); `context` (b, m, d) for cross-attention, `None` for self-attention.
    pub fn forward(&self, x: &Tensor, context: Option<&Tensor>) -> Result<Tensor> {
        let kv = context.unwrap_or(x);
        let q = self.to_q.forward(x)?;
        let k = self.to_k.forward(kv)?;
        let v = self.to_v.forward(kv)?;
        let (b, n, inner) = q.dims3()?;
        let m = k.dim(1)?;
        let h = self.heads;
        let d = inner / h;
        let split =
            |t: &Tensor, len: usize| t.reshape((b, len, h, d))?.transpose(1, 2)?.contiguous();
        let q = (split(&q, n)? * (1.0 / (d as f64).sqrt()))?;
        let (k, v) = (split(&k, m)?, split(&v, m)?);
        let p = bridge::softmax_last(&q.matmul(&k.t()?)?)?;
        let o = p.matmul(&v)?.transpose(1, 2)?.reshape((b, n, inner))?;
        self.to_out.forward(&o)
    }
}

/// GEGLU feed-forward: net.0.proj to 2·inner, value · gelu(gate), net.2 back.
pub struct FeedForward {
    pub proj: Linear,
    pub out: Linear,
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.proj.forward(x)?;
        let inner = h.dim(candle_core::D::Minus1)? / 2;
        let value = h.narrow(candle_core::D::Minus1, 0, inner)?;
        let gate = h.narrow(candle_core::D::Minus1, inner, inner)?;
        self.out.forward(&(value * gate.gelu_erf()?)?)
    }
}

/// Nearest-neighbour 2× upsampling as a broadcast, whose backward is a cheap sum (candle's
/// upsample backward is a grouped conv).
pub fn upsample2x(x: &Tensor) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    x.reshape((b, c, h, 1, w, 1))?
        .broadcast_as((b, c, h, 2, w, 2))?
        .reshape((b, c, 2 * h, 2 * w))
}

/// diffusers' sinusoidal timestep embedding of (B,) timesteps, in f32 then `dtype`.
pub fn timestep_embedding(
    t: &Tensor,
    dim: usize,
    flip_sin_to_cos: bool,
    shift: f64,
    dtype: DType,
) -> Result<Tensor> {
    let half = dim / 2;
    let denom = half as f32 - shift as f32;
    let ln = (10_000f32).ln();
    let freqs: Vec<f32> = (0..half).map(|i| (-ln * i as f32 / denom).exp()).collect();
    let freqs = Tensor::from_vec(freqs, (1, half), t.device())?;
    let args = t
        .to_dtype(DType::F32)?
        .unsqueeze(1)?
        .broadcast_mul(&freqs)?;
    let (sin, cos) = (args.sin()?, args.cos()?);
    let emb = if flip_sin_to_cos {
        Tensor::cat(&[cos, sin], 1)?
    } else {
        Tensor::cat(&[sin, cos], 1)?
    };
    emb.to_dtype(dtype)
}
