//! Base-model tensors by diffusers name: a diffusers folder (`config.json` +
//! `diffusion_pytorch_model.safetensors`, or a pipeline folder with `unet/`), an LDM single-file
//! checkpoint (`model.diffusion_model.*`, mapped with the LoRA code's name rules), or random
//! initialisation for tests and the tiny preset. Every lookup checks the shape.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::config::UNetConfig;
use super::rng::Rng;
use super::{Result, TrainerError};
use crate::lora::ldm::ldm_to_diffusers;

enum Source {
    Loaded(HashMap<String, Tensor>),
    /// Tensors drawn on request, so the shapes come from the model itself.
    Random(Rng),
}

pub struct Weights {
    path: PathBuf,
    source: Source,
    dtype: DType,
    device: Device,
}

const LDM_PREFIX: &str = "model.diffusion_model.";

impl Weights {
    /// Random weights ([`random_tensor`]).
    pub fn random(seed: u64, dtype: DType, device: &Device) -> Self {
        Weights {
            path: PathBuf::from("<random weights>"),
            source: Source::Random(Rng::new(seed)),
            dtype,
            device: device.clone(),
        }
    }

    /// Loads a UNet and its config from a diffusers folder or a single checkpoint file.
    pub fn load(path: &Path, dtype: DType, device: &Device) -> Result<(UNetConfig, Self)> {
        if path.is_dir() {
            let dir = if path.join("unet").join("config.json").is_file() {
                path.join("unet")
            } else {
                path.to_path_buf()
            };
            let cfg = UNetConfig::from_file(&dir.join("config.json"))?;
            let file = [
                "diffusion_pytorch_model.safetensors",
                "diffusion_pytorch_model.fp16.safetensors",
            ]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| TrainerError::Config {
                path: dir.clone(),
                problem: "no diffusion_pytorch_model.safetensors here; the builtin trainer \
                              reads safetensors UNets only"
                    .into(),
            })?;
            let tensors = read(&file, device)?;
            return Ok((cfg, Self::loaded(file, tensors, dtype, device)));
        }
        Self::from_checkpoint(path, read(path, device)?, dtype, device)
    }

    /// The UNet of a single-file checkpoint already read into `tensors` (the worker reads the
    /// file once for the UNet, VAE and text encoder).
    pub fn from_checkpoint(
        path: &Path,
        tensors: HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
    ) -> Result<(UNetConfig, Self)> {
        if tensors.keys().any(|k| k.starts_with(LDM_PREFIX)) {
            let cfg = ldm_family(path, &tensors)?;
            let mut mapped = HashMap::with_capacity(tensors.len());
            for (k, t) in tensors {
                let Some(rest) = k.strip_prefix(LDM_PREFIX) else {
                    continue;
                };
                let (module, leaf) = rest.rsplit_once('.').unwrap_or((rest, ""));
                if let Some(d) = ldm_to_diffusers(module) {
                    mapped.insert(format!("{d}.{leaf}"), t);
                }
            }
            return Ok((cfg, Self::loaded(path.to_path_buf(), mapped, dtype, device)));
        }
        Err(TrainerError::Config {
            path: path.to_path_buf(),
            problem: "neither an LDM checkpoint (model.diffusion_model.*) nor a diffusers folder; \
                      give the model folder, or the single .safetensors checkpoint"
                .into(),
        })
    }

    fn loaded(
        path: PathBuf,
        tensors: HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
    ) -> Self {
        Weights {
            path,
            source: Source::Loaded(tensors),
            dtype,
            device: device.clone(),
        }
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The tensor `name` with exactly `shape`, in the model dtype. A (c, c) linear stored as a
    /// (c, c, 1, 1) conv (or back) is accepted, as checkpoints differ there.
    pub fn get(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = match &mut self.source {
            Source::Loaded(map) => {
                let t = map.get(name).ok_or_else(|| TrainerError::MissingTensor {
                    path: self.path.clone(),
                    name: name.to_string(),
                    expected: shape.to_vec(),
                })?;
                let squeezed =
                    |d: &[usize]| d.iter().copied().filter(|&x| x != 1).collect::<Vec<_>>();
                if t.dims() == shape {
                    t.clone()
                } else if squeezed(t.dims()) == squeezed(shape)
                    && t.elem_count() == shape.iter().product::<usize>()
                {
                    t.reshape(shape)?
                } else {
                    return Err(TrainerError::ShapeMismatch {
                        path: self.path.clone(),
                        name: name.to_string(),
                        found: t.dims().to_vec(),
                        expected: shape.to_vec(),
                    });
                }
            }
            Source::Random(rng) => random_tensor(rng, name, shape, &self.device)?,
        };
        Ok(t.to_dtype(self.dtype)?.to_device(&self.device)?)
    }
}

/// A random tensor for parameter `name`: norms start at 1/0, other tensors uniform in
/// ±1/√fan_in (torch's default scale for linear and conv layers), biases in ±0.1.
pub fn random_tensor(
    rng: &mut Rng,
    name: &str,
    shape: &[usize],
    device: &Device,
) -> Result<Tensor> {
    let leaf = name.rsplit('.').next().unwrap_or("");
    let is_norm = name.contains("norm") && shape.len() == 1;
    Ok(if is_norm && leaf == "weight" {
        Tensor::ones(shape, DType::F32, device)?
    } else if shape.len() == 1 && !is_norm {
        rng.rand_uniform(shape, 0.1, device)?
    } else if is_norm {
        Tensor::zeros(shape, DType::F32, device)?
    } else {
        let fan_in: usize = shape[1..].iter().product();
        rng.rand_uniform(shape, 1.0 / (fan_in.max(1) as f64).sqrt(), device)?
    })
}

/// Every tensor of a safetensors file.
pub fn read(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, device).map_err(|source| TrainerError::Load {
        path: path.to_path_buf(),
        source,
    })
}

/// SD1.x or SD2.x from an LDM checkpoint's cross-attention width; SDXL is refused by name.
fn ldm_family(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<UNetConfig> {
    if tensors
        .keys()
        .any(|k| k.starts_with("model.diffusion_model.label_emb."))
    {
        return Err(TrainerError::Unsupported(format!(
            "{}: an SDXL checkpoint; the builtin trainer trains SD1.x/2.x only (use the kohya, \
             ai-toolkit or diffusers backend for SDXL)",
            path.display()
        )));
    }
    let key = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight";
    match tensors.get(key).map(|t| t.dims().to_vec()).as_deref() {
        Some([_, 768]) => Ok(UNetConfig::sd15()),
        Some([_, 1024]) => Ok(UNetConfig::sd2()),
        other => Err(TrainerError::Config {
            path: path.to_path_buf(),
            problem: format!(
                "`{key}` has shape {other:?}; expected a context width of 768 (SD1.x) or 1024 (SD2.x)"
            ),
        }),
    }
}
