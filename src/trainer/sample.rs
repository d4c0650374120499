//! Sample images during training: diffusers' DDIM sampler (η = 0, "leading" timestep
//! spacing with SD's steps_offset 1, ᾱ_prev at the end = ᾱ_0) with classifier-free guidance,
//! run through the UNet with the LoRA as trained so far, decoded by the VAE and written as PNG.

use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};

use super::encoders::Vae;
use super::noise::{DdpmSchedule, Prediction};
use super::rng::Rng;
use super::unet::UNet;
use super::{Result, TrainerError};

/// What to sample and how.
pub struct Sampler<'a> {
    pub vae: &'a Vae,
    /// (prompt embedding (L, D)) per prompt.
    pub prompts: Vec<Tensor>,
    /// The empty prompt's embedding.
    pub uncond: Tensor,
    pub steps: usize,
    pub guidance: f64,
    pub seed: u64,
    /// Latent height and width.
    pub size: (usize, usize),
    pub prediction: Prediction,
    pub dir: PathBuf,
    pub name: String,
}

impl Sampler<'_> {
    /// Timesteps from noisiest to cleanest.
    fn timesteps(&self, train_steps: usize) -> Vec<usize> {
        let n = self.steps.clamp(1, train_steps);
        let ratio = train_steps / n;
        (0..n)
            .rev()
            .map(|i| (i * ratio + 1).min(train_steps - 1))
            .collect()
    }

    /// One latent image for prompt `context` (L, D).
    fn latents(&self, unet: &UNet, context: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        let schedule = DdpmSchedule::sd();
        let ac = &schedule.alphas_cumprod;
        let c = unet.config().in_channels;
        let (h, w) = self.size;
        let dev = unet.device();
        let mut x = rng.randn(&[1, c, h, w], 1.0, dev)?;
        let ctx = Tensor::stack(&[self.uncond.to_device(dev)?, context.to_device(dev)?], 0)?;
        let ts = self.timesteps(ac.len());
        let ratio = ac.len() / ts.len();
        for &t in &ts {
            let input = Tensor::cat(&[&x, &x], 0)?;
            let tt = Tensor::new(&[t as f32, t as f32], dev)?;
            let out = unet.forward(&input, &tt, &ctx)?.detach();
            let (u, cnd) = (out.narrow(0, 0, 1)?, out.narrow(0, 1, 1)?);
            let out = (&u + ((cnd - &u)? * self.guidance)?)?;
            let a_t = ac[t];
            let a_prev = t.checked_sub(ratio).map_or(ac[0], |p| ac[p]);
            let (sa, s1a) = (a_t.sqrt(), (1.0 - a_t).sqrt());
            let (x0, eps) = match self.prediction {
                Prediction::Epsilon => (((&x - (&out * s1a)?)? / sa)?, out),
                Prediction::V => (((&x * sa)? - (&out * s1a)?)?, ((&out * sa)? + (&x * s1a)?)?),
            };
            x = ((x0 * a_prev.sqrt())? + (eps * (1.0 - a_prev).sqrt())?)?.detach();
        }
        Ok(x)
    }

    /// Writes one PNG per prompt for `step`; returns their paths.
    pub fn write(&self, unet: &UNet, step: u64) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(&self.dir).map_err(|source| TrainerError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let mut out = Vec::new();
        for (i, p) in self.prompts.iter().enumerate() {
            // The same noise for a prompt at every step, so the images show what training did.
            let mut rng = Rng::new(self.seed.wrapping_add(i as u64));
            let latents = self.latents(unet, p, &mut rng)?;
            let image = self.vae.decode(&latents)?.squeeze(0)?;
            let path = self.dir.join(format!("{}_{step:06}_{i:02}.png", self.name));
            write_png(&image, &path)?;
            out.push(path);
        }
        Ok(out)
    }
}

/// (3, H, W) in [-1, 1] as an 8-bit PNG, written under a temporary name first.
fn write_png(image: &Tensor, path: &Path) -> Result<()> {
    let (_, h, w) = image.dims3()?;
    let bytes = ((image.permute((1, 2, 0))? + 1.0)? * 127.5)?
        .clamp(0f32, 255f32)?
        .round()?
        .to_dtype(DType::U8)?
        .flatten_all()?
        .to_vec1::<u8>()?;
    let img = image::RgbImage::from_raw(w as u32, h as u32, bytes)
        .ok_or_else(|| TrainerError::Unsupported("sample image of the wrong size".into()))?;
    let tmp = path.with_extension("png.partial");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| TrainerError::Config {
            path: tmp.clone(),
            problem: format!("cannot write the sample: {e}"),
        })?;
    std::fs::rename(&tmp, path).map_err(|source| TrainerError::Io {
        path: path.to_path_buf(),
        source,
    })
}
