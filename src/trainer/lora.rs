//! Which UNet layers carry LoRA adapters, how they are initialised, and the adapters as a
//! set: the trainable `Var`s, kohya-format save (with `ss_*` and `modelspec.*` metadata,
//! through the LoRA code's writer) and load for resume.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Tensor, Var};

use super::layers::{Adapter, Conv2d, ConvGeometry, GroupNorm, LayerNorm, Linear};
use super::rng::Rng;
use super::weights::Weights;
use super::{Result, TrainerError};
use crate::lora::model::{LoraFile, LoraModule, write_kohya};
use crate::lora::safetensors::Dtype;

/// What a layer is, for choosing LoRA targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// to_q, to_k, to_v, to_out.0.
    Attention,
    /// ff.net.0.proj, ff.net.2.
    FeedForward,
    /// A transformer's proj_in / proj_out.
    Projection,
    /// A ResNet's time_emb_proj or 1×1 conv_shortcut (kohya trains them with the main rank
    /// once ResNets are targeted).
    ResnetLinear,
    /// 3×3 convs of ResNets, downsamplers and upsamplers (LoCon, the conv rank).
    ResnetConv,
    /// conv_in, conv_out, the time embedding: never adapted.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Targets {
    pub attention: bool,
    pub feed_forward: bool,
    pub projections: bool,
    /// ResNet convs as LoCon (with `conv_rank`/`conv_alpha`) and their linear parts.
    pub resnets: bool,
}

impl Targets {
    /// to_q, to_k, to_v, to_out.0 only.
    pub fn attention() -> Self {
        Targets {
            attention: true,
            ..Default::default()
        }
    }

    /// Every linear layer inside the transformers (kohya's default for SD1.x).
    pub fn transformer() -> Self {
        Targets {
            attention: true,
            feed_forward: true,
            projections: true,
            resnets: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoraSpec {
    pub rank: usize,
    pub alpha: f32,
    pub conv_rank: usize,
    pub conv_alpha: f32,
    pub targets: Targets,
    /// The factors' dtype: F32 whatever the base dtype (F64 only for gradient checks).
    pub dtype: DType,
    pub seed: u64,
}

impl LoraSpec {
    pub fn new(rank: usize, alpha: f32, targets: Targets, seed: u64) -> Self {
        LoraSpec {
            rank,
            alpha,
            conv_rank: rank,
            conv_alpha: alpha,
            targets,
            dtype: DType::F32,
            seed,
        }
    }

    /// (rank, alpha) for a layer of `role`, or `None` when it is not a target.
    fn for_role(&self, role: Role) -> Option<(usize, f32)> {
        let t = &self.targets;
        let main = Some((self.rank, self.alpha));
        match role {
            Role::Attention if t.attention => main,
            Role::FeedForward if t.feed_forward => main,
            Role::Projection if t.projections => main,
            Role::ResnetLinear if t.resnets => main,
            Role::ResnetConv if t.resnets && self.conv_rank > 0 => {
                Some((self.conv_rank, self.conv_alpha))
            }
            _ => None,
        }
    }
}

/// Loads base layers by diffusers path and attaches the adapters the spec asks for.
pub struct Builder<'a> {
    weights: &'a mut Weights,
    spec: Option<LoraSpec>,
    rng: Rng,
    adapters: Vec<Adapter>,
}

impl<'a> Builder<'a> {
    pub fn new(weights: &'a mut Weights, spec: Option<&LoraSpec>) -> Self {
        let seed = spec.map_or(0, |s| s.seed);
        Builder {
            weights,
            spec: spec.cloned(),
            rng: Rng::new(seed),
            adapters: Vec::new(),
        }
    }

    pub fn finish(self) -> LoraSet {
        LoraSet {
            adapters: self.adapters,
        }
    }

    /// kohya's init: down ~ U(±1/√fan_in) (kaiming_uniform with a = √5), up = 0, so the
    /// adapted model starts as the base model.
    fn adapter(
        &mut self,
        path: &str,
        role: Role,
        down: &[usize],
        up: &[usize],
    ) -> Result<Option<Adapter>> {
        let Some((rank, alpha)) = self.spec.as_ref().and_then(|s| s.for_role(role)) else {
            return Ok(None);
        };
        let dtype = self.spec.as_ref().map_or(DType::F32, |s| s.dtype);
        let device = self.weights.device().clone();
        let mut down = down.to_vec();
        let mut up = up.to_vec();
        down[0] = rank;
        up[1] = rank;
        let fan_in: usize = down[1..].iter().product();
        let d = self
            .rng
            .rand_uniform(&down, 1.0 / (fan_in as f64).sqrt(), &device)?
            .to_dtype(dtype)?;
        let u = Tensor::zeros(up.as_slice(), dtype, &device)?;
        let a = Adapter {
            name: format!("lora_unet_{}", path.replace('.', "_")),
            down: Var::from_tensor(&d)?,
            up: Var::from_tensor(&u)?,
            alpha,
            conv: None,
            pointwise: false,
        };
        Ok(Some(a))
    }

    pub fn linear(
        &mut self,
        path: &str,
        in_f: usize,
        out_f: usize,
        bias: bool,
        role: Role,
    ) -> Result<Linear> {
        self.linear_like(path, in_f, out_f, bias, role, false)
    }

    /// A 1×1 conv stored as (out, in, 1, 1) but applied as a linear over channels-last input.
    pub fn pointwise(
        &mut self,
        path: &str,
        in_f: usize,
        out_f: usize,
        role: Role,
    ) -> Result<Linear> {
        self.linear_like(path, in_f, out_f, true, role, true)
    }

    fn linear_like(
        &mut self,
        path: &str,
        in_f: usize,
        out_f: usize,
        bias: bool,
        role: Role,
        pointwise: bool,
    ) -> Result<Linear> {
        let shape: &[usize] = if pointwise {
            &[out_f, in_f, 1, 1]
        } else {
            &[out_f, in_f]
        };
        let weight = self
            .weights
            .get(&format!("{path}.weight"), shape)?
            .reshape((out_f, in_f))?;
        let bias = match bias {
            true => Some(self.weights.get(&format!("{path}.bias"), &[out_f])?),
            false => None,
        };
        let lora = self
            .adapter(path, role, &[0, in_f], &[out_f, 0])?
            .map(|mut a| {
                a.pointwise = pointwise;
                a
            });
        if let Some(a) = &lora {
            self.adapters.push(a.clone());
        }
        Ok(Linear { weight, bias, lora })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        path: &str,
        in_c: usize,
        out_c: usize,
        k: usize,
        stride: usize,
        padding: usize,
        role: Role,
    ) -> Result<Conv2d> {
        let weight = self
            .weights
            .get(&format!("{path}.weight"), &[out_c, in_c, k, k])?;
        let bias = Some(self.weights.get(&format!("{path}.bias"), &[out_c])?);
        let lora = self
            .adapter(path, role, &[0, in_c, k, k], &[out_c, 0, 1, 1])?
            .map(|mut a| {
                a.conv = Some(ConvGeometry { stride, padding });
                a
            });
        if let Some(a) = &lora {
            self.adapters.push(a.clone());
        }
        Ok(Conv2d {
            weight,
            bias,
            stride,
            padding,
            lora,
        })
    }

    pub fn group_norm(
        &mut self,
        path: &str,
        groups: usize,
        c: usize,
        eps: f64,
    ) -> Result<GroupNorm> {
        Ok(GroupNorm {
            weight: self.weights.get(&format!("{path}.weight"), &[c])?,
            bias: self.weights.get(&format!("{path}.bias"), &[c])?,
            groups,
            eps,
        })
    }

    pub fn layer_norm(&mut self, path: &str, c: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: self.weights.get(&format!("{path}.weight"), &[c])?,
            bias: self.weights.get(&format!("{path}.bias"), &[c])?,
            eps,
        })
    }
}

/// The adapters of one model, in build order (a stable order for the optimizer state).
#[derive(Clone, Default)]
pub struct LoraSet {
    pub adapters: Vec<Adapter>,
}

/// What the file says about the training, as kohya writes it (reference lora-formats §6).
#[derive(Debug, Clone, Default)]
pub struct KohyaInfo {
    pub output_name: String,
    pub base_model_name: String,
    /// `sd_v1`, `sd_v2` or `sd_v2_v`.
    pub base_model_version: String,
    pub v_prediction: bool,
    pub resolution: (usize, usize),
    pub steps: u64,
    pub learning_rate: f64,
    pub lr_scheduler: String,
    pub seed: u64,
    pub training_started_at: u64,
    /// `modelspec.date`, ISO-8601 without fraction.
    pub date: String,
}

impl LoraSet {
    pub fn is_empty(&self) -> bool {
        self.adapters.is_empty()
    }

    /// Every trainable tensor with its kohya key (`<module>.lora_down.weight` / `.lora_up.weight`).
    pub fn vars(&self) -> Vec<(String, Var)> {
        self.adapters
            .iter()
            .flat_map(|a| {
                [
                    (format!("{}.lora_down.weight", a.name), a.down.clone()),
                    (format!("{}.lora_up.weight", a.name), a.up.clone()),
                ]
            })
            .collect()
    }

    /// The adapters as LoRA modules in kohya's layout (4-D factors for convs and 1×1 convs).
    pub fn modules(&self) -> Result<Vec<LoraModule>> {
        self.adapters
            .iter()
            .map(|a| {
                let file_shape = |t: &Tensor| -> Result<Tensor> {
                    let t = t.detach().to_dtype(DType::F32)?.copy()?;
                    Ok(if a.pointwise {
                        t.unsqueeze(2)?.unsqueeze(3)?
                    } else {
                        t
                    })
                };
                Ok(LoraModule {
                    name: a.name.clone(),
                    down: file_shape(a.down.as_tensor())?,
                    up: file_shape(a.up.as_tensor())?,
                    alpha: Some(a.alpha),
                    dotted: None,
                })
            })
            .collect()
    }

    /// Writes the adapters as a kohya LoRA with sd-scripts-style metadata.
    pub fn save_kohya(&self, path: &Path, info: &KohyaInfo) -> Result<()> {
        let modules = self.modules()?;
        write_kohya(path, &modules, &self.metadata(info), Dtype::F32)?;
        Ok(())
    }

    fn metadata(&self, info: &KohyaInfo) -> BTreeMap<String, String> {
        let first = |conv: bool| self.adapters.iter().find(|a| a.conv.is_some() == conv);
        let (dim, alpha) = first(false)
            .or(first(true))
            .map_or((0, 0.0), |a| (a.rank(), a.alpha));
        let args = match first(true) {
            Some(c) => format!(
                r#"{{"conv_dim": "{}", "conv_alpha": "{}"}}"#,
                c.rank(),
                c.alpha
            ),
            None => "{}".to_string(),
        };
        let v2 = info.base_model_version.starts_with("sd_v2");
        let arch = match (v2, info.v_prediction) {
            (false, _) => "stable-diffusion-v1/lora",
            (true, false) => "stable-diffusion-v2-512/lora",
            (true, true) => "stable-diffusion-v2-768-v/lora",
        };
        let (w, h) = info.resolution;
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("ss_network_module", "networks.lora".into());
        put("ss_network_dim", dim.to_string());
        put("ss_network_alpha", format!("{alpha:?}"));
        put("ss_network_args", args);
        put("ss_v2", if v2 { "True" } else { "False" }.into());
        put("ss_base_model_version", info.base_model_version.clone());
        put("ss_sd_model_name", info.base_model_name.clone());
        put("ss_output_name", info.output_name.clone());
        put("ss_resolution", format!("({w}, {h})"));
        put("ss_steps", info.steps.to_string());
        put("ss_learning_rate", info.learning_rate.to_string());
        put("ss_unet_lr", info.learning_rate.to_string());
        put("ss_lr_scheduler", info.lr_scheduler.clone());
        put("ss_optimizer", "lorabench.AdamW".into());
        put("ss_mixed_precision", "no".into());
        put("ss_seed", info.seed.to_string());
        put(
            "ss_training_started_at",
            info.training_started_at.to_string(),
        );
        put(
            "ss_training_comment",
            "trained by lorabench's builtin trainer".into(),
        );
        put("modelspec.sai_model_spec", "1.0.1".into());
        put("modelspec.architecture", arch.into());
        put("modelspec.implementation", "diffusers".into());
        put(
            "modelspec.implementation_version",
            format!("lorabench/{}", env!("CARGO_PKG_VERSION")),
        );
        put("modelspec.title", info.output_name.clone());
        put("modelspec.resolution", format!("{w}x{h}"));
        put("modelspec.date", info.date.clone());
        put(
            "modelspec.prediction_type",
            if info.v_prediction { "v" } else { "epsilon" }.into(),
        );
        m
    }

    /// Sets every adapter from a kohya file written by [`Self::save_kohya`] (resume); the file
    /// must hold exactly these modules with these shapes.
    pub fn load_kohya(&self, path: &Path) -> Result<()> {
        let file = LoraFile::read(path)?;
        let by_name: BTreeMap<&str, &LoraModule> =
            file.modules.iter().map(|m| (m.name.as_str(), m)).collect();
        let problem = |p: String| TrainerError::Config {
            path: path.to_path_buf(),
            problem: p,
        };
        if by_name.len() != self.adapters.len() {
            return Err(problem(format!(
                "holds {} LoRA modules, this model has {}; it is not a checkpoint of this run",
                by_name.len(),
                self.adapters.len()
            )));
        }
        for a in &self.adapters {
            let m = by_name
                .get(a.name.as_str())
                .ok_or_else(|| problem(format!("module `{}` is missing", a.name)))?;
            for (var, t) in [(&a.down, &m.down), (&a.up, &m.up)] {
                let t = t
                    .reshape(var.shape())?
                    .to_dtype(var.dtype())?
                    .to_device(var.device());
                var.set(&t.map_err(|_| problem(format!("`{}` has the wrong shape", a.name)))?)?;
            }
        }
        Ok(())
    }
}
