//! The bridge op (reference §6.3): an output computed without a graph, handed to candle as a
//! custom op on the input, whose backward returns the input gradient only. Frozen linear and
//! conv layers get no weight gradient at all, and fused forwards (softmax, norms) get an
//! analytic backward instead of keeping every intermediate of a composed op alive.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CudaStorage, CustomOp1, D, Error, Layout, Result, Shape, Storage, Tensor,
};

type Backward = Box<dyn Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor> + Send + Sync>;

struct Bridge {
    name: &'static str,
    /// Taken by the forward, so the precomputed output is not kept alive by the graph.
    out: Mutex<Option<Tensor>>,
    backward: Backward,
}

impl Bridge {
    fn take(&self) -> Result<Tensor> {
        self.out
            .lock()
            .map_err(|_| Error::Msg(format!("{}: poisoned lock", self.name)))?
            .take()
            .ok_or_else(|| Error::Msg(format!("{}: forward ran twice", self.name)))
    }
}

impl CustomOp1 for Bridge {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = self.take()?;
        let (storage, layout) = out.storage_and_layout();
        match &*storage {
            Storage::Cpu(s) => Ok((s.try_clone(layout)?, out.shape().clone())),
            _ => Err(Error::Msg(format!(
                "{}: output is not on the CPU",
                self.name
            ))),
        }
    }

    fn cuda_fwd(&self, _: &CudaStorage, _: &Layout) -> Result<(CudaStorage, Shape)> {
        let out = self.take()?;
        let (storage, layout) = out.storage_and_layout();
        match &*storage {
            Storage::Cuda(s) => Ok((s.try_clone(layout)?, out.shape().clone())),
            _ => Err(Error::Msg(format!(
                "{}: output is not on the GPU",
                self.name
            ))),
        }
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // Detached, so the gradient maths itself records no graph.
        (self.backward)(&arg.detach(), &res.detach(), &grad.detach()).map(Some)
    }
}

/// `out` (computed from `input.detach()`), attached to `input` so that the gradient flows
/// back through `backward(input, out, grad_out)`. Without a graph to join, `out` is returned.
pub fn bridge(
    input: &Tensor,
    out: Tensor,
    name: &'static str,
    backward: impl Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor> + Send + Sync + 'static,
) -> Result<Tensor> {
    if !input.track_op() {
        return Ok(out);
    }
    // A fresh, contiguous buffer so that the storage handed over is exactly the output.
    let out = if out.is_contiguous() && out.layout().start_offset() == 0 {
        out
    } else {
        out.copy()?
    };
    input.apply_op1(Bridge {
        name,
        out: Mutex::new(Some(out)),
        backward: Box::new(backward),
    })
}

/// x (…, in) · wᵀ (+ b) with `w` (out, in) frozen.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let (out_f, in_f) = w.dims2()?;
    let mut shape = x.dims().to_vec();
    let rows = x.elem_count() / in_f;
    let x2 = x.detach().reshape((rows, in_f))?;
    let mut y = x2.matmul(&w.t()?)?;
    if let Some(b) = b {
        y = y.broadcast_add(b)?;
    }
    if let Some(last) = shape.last_mut() {
        *last = out_f;
    }
    let y = y.reshape(shape)?;
    let w = w.clone();
    bridge(x, y, "frozen_linear", move |arg, _, g| {
        g.reshape((rows, out_f))?.matmul(&w)?.reshape(arg.shape())
    })
}

/// Square-kernel conv2d with frozen `w` (out, in, k, k).
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let mut y = x.detach().conv2d(w, padding, stride, 1, 1)?;
    if let Some(b) = b {
        y = y.broadcast_add(&b.reshape((1, (), 1, 1))?)?;
    }
    let w = w.clone();
    bridge(x, y, "frozen_conv2d", move |arg, _, g| {
        conv2d_input_grad(g, &w, arg.dims(), stride, padding)
    })
}

/// The input gradient of a conv as an ordinary (gemm-backed) conv: the output gradient,
/// spread out with zeros for a strided conv, correlated with the kernel rotated by 180° with
/// in/out swapped, padded by k − 1 − p and cut to the input size.
pub fn conv2d_input_grad(
    g: &Tensor,
    w: &Tensor,
    input_dims: &[usize],
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let (_, _, k, _) = w.dims4()?;
    let (h_in, w_in) = (input_dims[2], input_dims[3]);
    if padding >= k {
        return Err(Error::Msg(format!("conv padding {padding} >= kernel {k}")));
    }
    let g = if stride > 1 {
        let (b, c, h, wd) = g.dims4()?;
        let g6 = g.reshape((b, c, h, 1, wd, 1))?;
        let z = g6.zeros_like()?;
        let rows = Tensor::cat(
            &[&g6]
                .into_iter()
                .chain(std::iter::repeat_n(&z, stride - 1))
                .collect::<Vec<_>>(),
            3,
        )?;
        let zr = rows.zeros_like()?;
        let full = Tensor::cat(
            &[&rows]
                .into_iter()
                .chain(std::iter::repeat_n(&zr, stride - 1))
                .collect::<Vec<_>>(),
            5,
        )?;
        full.reshape((b, c, h * stride, wd * stride))?
    } else {
        g.contiguous()?
    };
    let wt = w.transpose(0, 1)?.contiguous()?;
    let wf = if k > 1 {
        wt.flip(&[2, 3])?.contiguous()?
    } else {
        wt
    };
    let dx = g.conv2d(&wf, k - 1 - padding, 1, 1, 1)?;
    let (_, _, h, wd) = dx.dims4()?;
    if h == h_in && wd == w_in {
        Ok(dx)
    } else {
        dx.narrow(2, 0, h_in)?.narrow(3, 0, w_in)
    }
}

/// Softmax over the last dimension; backward y ⊙ (g − Σ g ⊙ y) from the output alone.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let xd = x.detach();
    let e = xd.broadcast_sub(&xd.max_keepdim(D::Minus1)?)?.exp()?;
    let y = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
    bridge(x, y, "softmax", |_, y, g| {
        let dot = (g * y)?.sum_keepdim(D::Minus1)?;
        y * g.broadcast_sub(&dot)?
    })
}

/// Normalises `x` viewed as (rows, n) over n: returns (x̂, 1/σ) with σ² the biased variance.
fn standardise(x: &Tensor, eps: f64) -> Result<(Tensor, Tensor)> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let rstd = (var + eps)?.sqrt()?.recip()?;
    Ok((centred.broadcast_mul(&rstd)?, rstd))
}

/// The input gradient of x̂ = standardise(x) given dL/dx̂ (both (rows, n)):
/// (1/σ)·(dx̂ − mean(dx̂) − x̂·mean(dx̂ ⊙ x̂)). x̂ is recomputed, so nothing is kept.
fn standardise_grad(x: &Tensor, dxhat: &Tensor, eps: f64) -> Result<Tensor> {
    let (xhat, rstd) = standardise(x, eps)?;
    let m1 = dxhat.mean_keepdim(D::Minus1)?;
    let m2 = (dxhat * &xhat)?.mean_keepdim(D::Minus1)?;
    dxhat
        .broadcast_sub(&m1)?
        .sub(&xhat.broadcast_mul(&m2)?)?
        .broadcast_mul(&rstd)
}

/// GroupNorm over (b, c, …) with frozen affine `weight`/`bias` (c,).
pub fn group_norm(
    x: &Tensor,
    groups: usize,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (b, c) = (dims[0], dims[1]);
    let per = x.elem_count() / (b * groups);
    let mut aff = vec![1usize; dims.len()];
    aff[1] = c;
    let (w, bi) = (
        weight.reshape(aff.as_slice())?,
        bias.reshape(aff.as_slice())?,
    );
    let grouped = move |t: &Tensor| t.reshape((b * groups, per));
    let (xhat, _) = standardise(&grouped(&x.detach())?, eps)?;
    let y = xhat
        .reshape(dims.as_slice())?
        .broadcast_mul(&w)?
        .broadcast_add(&bi)?;
    bridge(x, y, "group_norm", move |arg, _, g| {
        let dxhat = grouped(&g.broadcast_mul(&w)?)?;
        standardise_grad(&grouped(arg)?, &dxhat, eps)?.reshape(arg.shape())
    })
}

/// LayerNorm over the last dimension with frozen affine `weight`/`bias` (n,).
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let n = x.dim(D::Minus1)?;
    let rows = x.elem_count() / n;
    let (xhat, _) = standardise(&x.detach().reshape((rows, n))?, eps)?;
    let y = xhat
        .broadcast_mul(weight)?
        .broadcast_add(bias)?
        .reshape(x.shape())?;
    let w = weight.clone();
    bridge(x, y, "layer_norm", move |arg, _, g| {
        let dxhat = g.reshape((rows, n))?.broadcast_mul(&w)?;
        standardise_grad(&arg.reshape((rows, n))?, &dxhat, eps)?.reshape(arg.shape())
    })
}
