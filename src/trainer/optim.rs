//! AdamW with f32 state that is saved and restored, global-norm gradient clipping and the
//! learning-rate schedules, all with torch's / transformers' exact definitions so that a run
//! matches theirs step for step.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

use super::{Result, TrainerError};
use crate::lora::safetensors::{SafetensorsFile, write_tensors};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    /// torch.optim.AdamW's defaults.
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

struct Moments {
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

/// AdamW over named parameters (in a fixed order); moments in f32 whatever the parameter dtype.
pub struct AdamW {
    pub config: AdamWConfig,
    step: u64,
    names: Vec<String>,
    state: Vec<Moments>,
}

/// What one step measured.
#[derive(Debug, Clone, Copy)]
pub struct StepStats {
    /// Global L2 norm of the gradients before clipping.
    pub grad_norm: f64,
}

impl AdamW {
    pub fn new(params: &[(String, Var)], config: AdamWConfig) -> Result<Self> {
        let state = params
            .iter()
            .map(|(_, v)| {
                let z = Tensor::zeros(v.shape(), DType::F32, v.device())?;
                Ok(Moments {
                    exp_avg: z.clone(),
                    exp_avg_sq: z,
                })
            })
            .collect::<Result<_>>()?;
        Ok(AdamW {
            config,
            step: 0,
            names: params.iter().map(|(n, _)| n.clone()).collect(),
            state,
        })
    }

    pub fn steps_done(&self) -> u64 {
        self.step
    }

    /// One update at learning rate `lr`, gradients clipped to global norm `max_norm` first
    /// (torch's clip_grad_norm_: scale by min(1, max_norm / (norm + 1e-6))). A parameter
    /// without a gradient is an error: the graph was cut somewhere.
    pub fn step(
        &mut self,
        params: &[(String, Var)],
        grads: &GradStore,
        lr: f64,
        max_norm: Option<f64>,
    ) -> Result<StepStats> {
        if params.len() != self.state.len() {
            return Err(TrainerError::Unsupported(format!(
                "optimizer holds {} parameters, the model {}",
                self.state.len(),
                params.len()
            )));
        }
        let gs = params
            .iter()
            .map(|(name, var)| {
                grads.get(var.as_tensor()).cloned().ok_or_else(|| {
                    TrainerError::Unsupported(format!("no gradient reached `{name}`"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.update(params, gs, lr, max_norm)
    }

    /// [`Self::step`] with the gradients given in parameter order.
    pub fn update(
        &mut self,
        params: &[(String, Var)],
        grads: Vec<Tensor>,
        lr: f64,
        max_norm: Option<f64>,
    ) -> Result<StepStats> {
        if params.len() != self.state.len() || grads.len() != params.len() {
            return Err(TrainerError::Unsupported(format!(
                "optimizer holds {} parameters, the model {} with {} gradients",
                self.state.len(),
                params.len(),
                grads.len()
            )));
        }
        let mut gs = Vec::with_capacity(grads.len());
        let mut sq = 0f64;
        for g in grads {
            let g = g.to_dtype(DType::F32)?;
            sq += g
                .sqr()?
                .sum_all()?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?;
            gs.push(g);
        }
        let grad_norm = sq.sqrt();
        let coef = max_norm.map_or(1.0, |c| (c / (grad_norm + 1e-6)).min(1.0));
        let c = self.config;
        self.step += 1;
        let k = self.step as i32;
        let bc1 = 1.0 - c.beta1.powi(k);
        let bc2_sqrt = (1.0 - c.beta2.powi(k)).sqrt();
        for ((g, (_, var)), m) in gs.into_iter().zip(params).zip(&mut self.state) {
            let g = if coef < 1.0 { (g * coef)? } else { g };
            m.exp_avg = ((&m.exp_avg * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            m.exp_avg_sq = ((&m.exp_avg_sq * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let denom = ((m.exp_avg_sq.sqrt()? / bc2_sqrt)? + c.eps)?;
            let p = var.as_tensor().to_dtype(DType::F32)?;
            let p = (p * (1.0 - lr * c.weight_decay))?;
            let p = (p - (m.exp_avg.div(&denom)? * (lr / bc1))?)?;
            var.set(&p.to_dtype(var.dtype())?)?;
        }
        Ok(StepStats { grad_norm })
    }

    /// Saves moments and step count (`<param>.exp_avg`, `<param>.exp_avg_sq`; metadata `step`
    /// and the hyper-parameters).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors = Vec::with_capacity(2 * self.state.len());
        for (n, m) in self.names.iter().zip(&self.state) {
            tensors.push((format!("{n}.exp_avg"), m.exp_avg.clone()));
            tensors.push((format!("{n}.exp_avg_sq"), m.exp_avg_sq.clone()));
        }
        let c = self.config;
        let meta = BTreeMap::from([
            ("optimizer".to_string(), "AdamW".to_string()),
            ("step".to_string(), self.step.to_string()),
            ("beta1".to_string(), c.beta1.to_string()),
            ("beta2".to_string(), c.beta2.to_string()),
            ("eps".to_string(), c.eps.to_string()),
            ("weight_decay".to_string(), c.weight_decay.to_string()),
        ]);
        write_tensors(path, &tensors, &meta, false)?;
        Ok(())
    }

    /// Restores the state written by [`Self::save`] for the same parameters.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let file = SafetensorsFile::open(path)?;
        let bad = |problem: String| TrainerError::Config {
            path: path.to_path_buf(),
            problem,
        };
        let step = file
            .metadata()
            .get("step")
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| {
                bad("no `step` in the metadata; not an optimizer state of lorabench".into())
            })?;
        let mut state = Vec::with_capacity(self.state.len());
        for (n, m) in self.names.iter().zip(&self.state) {
            let read = |suffix: &str| -> Result<Tensor> {
                let name = format!("{n}.{suffix}");
                let t = file.read_f32(&name).map_err(|_| {
                    bad(format!(
                        "`{name}` is missing; the state belongs to another model"
                    ))
                })?;
                if t.dims() != m.exp_avg.dims() {
                    return Err(bad(format!(
                        "`{name}` has shape {:?}, expected {:?}",
                        t.dims(),
                        m.exp_avg.dims()
                    )));
                }
                Ok(t.to_device(m.exp_avg.device())?)
            };
            state.push(Moments {
                exp_avg: read("exp_avg")?,
                exp_avg_sq: read("exp_avg_sq")?,
            });
        }
        self.state = state;
        self.step = step;
        Ok(())
    }
}

/// Learning-rate schedules, as transformers' `get_scheduler` defines them: the factor for
/// optimizer step `step` (0-based) of `total`, after `warmup` linear warm-up steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Constant,
    Cosine,
}

impl Schedule {
    pub fn factor(self, step: u64, total: u64, warmup: u64) -> f64 {
        if step < warmup {
            return step as f64 / warmup.max(1) as f64;
        }
        match self {
            Schedule::Constant => 1.0,
            Schedule::Cosine => {
                let progress =
                    (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
                (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Cosine => "cosine",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_follow_transformers() {
        let c = Schedule::Cosine;
        assert_eq!(c.factor(0, 100, 10), 0.0);
        assert_eq!(c.factor(5, 100, 10), 0.5);
        assert_eq!(c.factor(10, 100, 10), 1.0);
        assert!((c.factor(55, 100, 10) - 0.5).abs() < 1e-12);
        assert!(c.factor(100, 100, 10).abs() < 1e-12);
        assert_eq!(Schedule::Constant.factor(3, 10, 0), 1.0);
        assert_eq!(Schedule::Constant.factor(1, 10, 4), 0.25);
    }
}
