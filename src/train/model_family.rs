//! The family of a base model (SD1.5, SDXL, Flux), read from its tensor names: a single
//! `.safetensors` checkpoint (LDM / BFL layout) or a diffusers folder (its UNet or transformer
//! weights, or their shard index). Only headers are read.

use std::path::{Path, PathBuf};

use crate::dataset::buckets::Model;
use crate::lora::safetensors::{SafetensorsError, SafetensorsFile};

#[derive(Debug, thiserror::Error)]
pub enum FamilyError {
    #[error("base model {0} does not exist (check model.base / --base)")]
    NotFound(PathBuf),
    #[error(transparent)]
    Safetensors(#[from] SafetensorsError),
    #[error("{path}: {problem}")]
    Unreadable { path: PathBuf, problem: String },
    #[error(
        "{path} is {what}, not a base model (model.base needs a checkpoint or a diffusers folder)"
    )]
    NotAModel { path: PathBuf, what: String },
    #[error(
        "{path} is {family}; lorabench trains sd15, sdxl and flux (set model.family and use the \
         command backend for other models)"
    )]
    Unsupported { path: PathBuf, family: String },
}

/// A tensor name with its shape where the header says.
struct Tensor {
    name: String,
    shape: Vec<usize>,
}

/// Reads the family of the model at `path`.
pub fn detect(path: &Path) -> Result<Model, FamilyError> {
    if !path.exists() {
        return Err(FamilyError::NotFound(path.to_path_buf()));
    }
    if path.is_dir() {
        return detect_diffusers(path);
    }
    let is_safetensors = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    if !is_safetensors {
        return Err(FamilyError::Unreadable {
            path: path.to_path_buf(),
            problem: "only .safetensors files and diffusers folders can be checked (set \
                      model.family to say which family it is)"
                .into(),
        });
    }
    let tensors = read_file(path)?;
    classify(path, &tensors)
}

fn read_file(path: &Path) -> Result<Vec<Tensor>, FamilyError> {
    let file = SafetensorsFile::open(path)?;
    Ok(file
        .tensors()
        .iter()
        .map(|t| Tensor {
            name: t.name.clone(),
            shape: t.shape.clone(),
        })
        .collect())
}

/// A diffusers folder: the UNet's or transformer's weights (one file or a shard index).
fn detect_diffusers(dir: &Path) -> Result<Model, FamilyError> {
    for part in ["transformer", "unet"] {
        let sub = dir.join(part);
        if !sub.is_dir() {
            continue;
        }
        let index = sub.join("diffusion_pytorch_model.safetensors.index.json");
        if index.is_file() {
            let names = read_index(&index)?;
            let tensors: Vec<Tensor> = names
                .into_iter()
                .map(|name| Tensor {
                    name,
                    shape: Vec::new(),
                })
                .collect();
            return classify(dir, &tensors);
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&sub)
            .map_err(|e| FamilyError::Unreadable {
                path: sub.clone(),
                problem: e.to_string(),
            })?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        files.sort();
        if let Some(file) = files.first() {
            return classify(dir, &read_file(file)?);
        }
    }
    Err(FamilyError::NotAModel {
        path: dir.to_path_buf(),
        what: "a folder without unet/ or transformer/ safetensors weights".into(),
    })
}

fn read_index(path: &Path) -> Result<Vec<String>, FamilyError> {
    let bad = |problem: String| FamilyError::Unreadable {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("no `weight_map` object".into()))?;
    Ok(map.keys().cloned().collect())
}

fn classify(path: &Path, tensors: &[Tensor]) -> Result<Model, FamilyError> {
    let has = |needle: &str| tensors.iter().any(|t| t.name.contains(needle));
    let starts = |prefix: &str| tensors.iter().any(|t| t.name.starts_with(prefix));
    if starts("lora_") || has(".lora_down.") || has(".lora_A.") || has(".lora_up.") {
        return Err(FamilyError::NotAModel {
            path: path.to_path_buf(),
            what: "a LoRA".into(),
        });
    }
    // BFL single file (double_blocks/single_blocks) or diffusers FluxTransformer2DModel.
    if has("double_blocks.")
        || (starts("single_transformer_blocks.") && starts("transformer_blocks."))
    {
        return Ok(Model::Flux);
    }
    // SDXL: two text encoders (conditioner.embedders.1) / the added size embedding.
    if starts("conditioner.embedders.") || has("label_emb.") || starts("add_embedding.") {
        return Ok(Model::Sdxl);
    }
    // SD2 single files carry OpenCLIP (`cond_stage_model.model.`); diffusers UNets show it in
    // the cross-attention width (768 for SD1, 1024 for SD2).
    if starts("cond_stage_model.model.") {
        return Err(FamilyError::Unsupported {
            path: path.to_path_buf(),
            family: "Stable Diffusion 2".into(),
        });
    }
    let cross = tensors
        .iter()
        .find(|t| t.name.ends_with("attn2.to_k.weight") && t.shape.len() == 2)
        .map(|t| t.shape[1]);
    if cross == Some(1024) {
        return Err(FamilyError::Unsupported {
            path: path.to_path_buf(),
            family: "Stable Diffusion 2".into(),
        });
    }
    if starts("cond_stage_model.transformer.")
        || starts("model.diffusion_model.input_blocks.")
        || starts("down_blocks.")
    {
        return Ok(Model::Sd15);
    }
    Err(FamilyError::NotAModel {
        path: path.to_path_buf(),
        what: format!(
            "a safetensors file with no UNet or transformer tensors ({} tensors)",
            tensors.len()
        ),
    })
}
