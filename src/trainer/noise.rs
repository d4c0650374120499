//! DDPM training maths with diffusers' / sd-scripts' definitions: the scaled-linear schedule,
//! per-sample timesteps, noising, epsilon and v targets, min-SNR-γ weighting, noise offset.

use candle_core::{DType, Device, Tensor};

use super::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prediction {
    Epsilon,
    V,
}

/// ᾱ_t for t = 0..T of SD's scaled-linear schedule (β from 0.00085 to 0.012, T = 1000).
pub struct DdpmSchedule {
    pub alphas_cumprod: Vec<f64>,
}

impl DdpmSchedule {
    pub fn scaled_linear(steps: usize, beta_start: f64, beta_end: f64) -> Self {
        let (a, b) = (beta_start.sqrt(), beta_end.sqrt());
        let mut prod = 1.0;
        let alphas_cumprod = (0..steps)
            .map(|t| {
                let s = a + (b - a) * t as f64 / (steps - 1).max(1) as f64;
                prod *= 1.0 - s * s;
                prod
            })
            .collect();
        DdpmSchedule { alphas_cumprod }
    }

    pub fn sd() -> Self {
        Self::scaled_linear(1000, 0.00085, 0.012)
    }

    pub fn len(&self) -> usize {
        self.alphas_cumprod.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alphas_cumprod.is_empty()
    }

    /// SNR_t = ᾱ_t / (1 − ᾱ_t).
    pub fn snr(&self, t: usize) -> f64 {
        let a = self.alphas_cumprod[t];
        a / (1.0 - a)
    }
}

/// A noised batch ready for the UNet.
pub struct NoisyBatch {
    pub noisy: Tensor,
    pub target: Tensor,
    /// (B,) f32 timesteps for the UNet.
    pub timesteps: Tensor,
    /// (B,) per-sample loss weights (min-SNR-γ, or ones).
    pub weights: Tensor,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseConfig {
    pub prediction: Prediction,
    /// kohya's `noise_offset`: noise += offset · N(0, 1) per (sample, channel).
    pub noise_offset: f64,
    pub min_snr_gamma: Option<f64>,
}

impl DdpmSchedule {
    /// Draws timesteps and noise for `latents` (B, C, H, W) and builds inputs and targets.
    pub fn noise(
        &self,
        latents: &Tensor,
        cfg: &NoiseConfig,
        rng: &mut Rng,
    ) -> candle_core::Result<NoisyBatch> {
        let (b, c, h, w) = latents.dims4()?;
        let dev = latents.device();
        let ts: Vec<usize> = (0..b)
            .map(|_| rng.below(self.len() as u64) as usize)
            .collect();
        let mut noise = rng.randn(&[b, c, h, w], 1.0, dev)?;
        if cfg.noise_offset != 0.0 {
            noise = noise.broadcast_add(&rng.randn(&[b, c, 1, 1], cfg.noise_offset, dev)?)?;
        }
        self.batch(latents, &noise, &ts, cfg)
    }

    /// The batch for given noise and timesteps (deterministic; [`Self::noise`] draws them).
    pub fn batch(
        &self,
        latents: &Tensor,
        noise: &Tensor,
        ts: &[usize],
        cfg: &NoiseConfig,
    ) -> candle_core::Result<NoisyBatch> {
        let dev = latents.device();
        let per = |f: &dyn Fn(usize) -> f64| -> candle_core::Result<Tensor> {
            let v: Vec<f32> = ts.iter().map(|&t| f(t) as f32).collect();
            Tensor::from_vec(v, (ts.len(), 1, 1, 1), dev)?.to_dtype(latents.dtype())
        };
        let sa = per(&|t| self.alphas_cumprod[t].sqrt())?;
        let s1 = per(&|t| (1.0 - self.alphas_cumprod[t]).sqrt())?;
        let noisy = (latents.broadcast_mul(&sa)? + noise.broadcast_mul(&s1)?)?;
        let target = match cfg.prediction {
            Prediction::Epsilon => noise.clone(),
            Prediction::V => (noise.broadcast_mul(&sa)? - latents.broadcast_mul(&s1)?)?,
        };
        let weights: Vec<f32> = ts
            .iter()
            .map(|&t| match cfg.min_snr_gamma {
                None => 1.0,
                Some(g) => {
                    let snr = self.snr(t);
                    let m = snr.min(g);
                    (match cfg.prediction {
                        Prediction::Epsilon => m / snr,
                        Prediction::V => m / (snr + 1.0),
                    }) as f32
                }
            })
            .collect();
        Ok(NoisyBatch {
            noisy,
            target,
            timesteps: Tensor::from_vec(
                ts.iter().map(|&t| t as f32).collect::<Vec<_>>(),
                ts.len(),
                dev,
            )?,
            weights: Tensor::from_vec(weights, ts.len(), &Device::Cpu)?.to_device(dev)?,
        })
    }
}

/// Per-sample MSE over (C, H, W), weighted, averaged over the batch; in f32.
pub fn weighted_mse(
    pred: &Tensor,
    target: &Tensor,
    weights: &Tensor,
) -> candle_core::Result<Tensor> {
    let b = pred.dim(0)?;
    let d = (pred.to_dtype(DType::F32)? - target.to_dtype(DType::F32)?)?.sqr()?;
    let per = d.reshape((b, ()))?.mean(1)?;
    (per * weights.to_dtype(DType::F32)?)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_matches_diffusers_endpoints() {
        // diffusers DDPMScheduler(beta_schedule="scaled_linear"): ᾱ_0 = 1 − 0.00085,
        // ᾱ_999 = 0.0046601 (diffusers 0.32.1, which computes in f32).
        let s = DdpmSchedule::sd();
        assert!((s.alphas_cumprod[0] - 0.99915).abs() < 1e-12);
        assert!(
            (s.alphas_cumprod[999] - 0.0046601).abs() < 2e-7,
            "{}",
            s.alphas_cumprod[999]
        );
    }

    #[test]
    fn v_target_and_min_snr_weights() -> candle_core::Result<()> {
        let s = DdpmSchedule::sd();
        let dev = Device::Cpu;
        let x0 = Tensor::ones((2, 1, 1, 1), DType::F32, &dev)?;
        let eps = Tensor::full(2f32, (2, 1, 1, 1), &dev)?;
        let cfg = NoiseConfig {
            prediction: Prediction::V,
            noise_offset: 0.0,
            min_snr_gamma: Some(5.0),
        };
        let b = s.batch(&x0, &eps, &[0, 999], &cfg)?;
        let v: Vec<f32> = b.target.flatten_all()?.to_vec1()?;
        for (i, t) in [0usize, 999].into_iter().enumerate() {
            let a = s.alphas_cumprod[t];
            let want = a.sqrt() * 2.0 - (1.0 - a).sqrt();
            assert!((f64::from(v[i]) - want).abs() < 1e-6);
        }
        let w: Vec<f32> = b.weights.to_vec1()?;
        // t = 0: SNR ≫ γ, weight γ/(SNR+1); t = 999: SNR < γ, weight SNR/(SNR+1).
        let (s0, s9) = (s.snr(0), s.snr(999));
        assert!((f64::from(w[0]) - 5.0 / (s0 + 1.0)).abs() < 1e-6);
        assert!((f64::from(w[1]) - s9 / (s9 + 1.0)).abs() < 1e-6);
        Ok(())
    }
}
