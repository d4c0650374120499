//! `lora merge`: W' = W + Σ strength · (alpha / rank) · up · down into a base checkpoint,
//! streamed tensor by tensor (reference §8.1). Peak memory is a few times the largest tensor.
//!
//! Base layouts: SD1.x/SDXL single files (LDM names, SDXL's fused OpenCLIP q|k|v included),
//! diffusers-layout UNets, Flux (BFL names, with or without `model.diffusion_model.`), and
//! diffusers Flux transformers. A base key is matched to LoRA modules through its kohya names
//! (built forward from the base key, never by inverting kohya names; reference §4.1).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::Tensor;

use super::keys::{Format, detect_format, group_keys};
use super::model::{LoraError, LoraFile, LoraModule};
use super::names::{BaseLayout, Rows, candidates};
use super::progress::{Cancelled, Task};
use super::safetensors::{
    Dtype, SafetensorsError, SafetensorsFile, TensorInfo, TensorSpec, Writer, decode_f32,
    encode_f32,
};

/// One LoRA to merge and its strength.
#[derive(Debug, Clone)]
pub struct MergeInput {
    pub path: PathBuf,
    pub strength: f32,
}

/// A LoRA module with no matching weight in the base.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Missing {
    pub lora: PathBuf,
    pub module: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    File(#[from] SafetensorsError),
    #[error(transparent)]
    Lora(#[from] LoraError),
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
    #[error(
        "{base} is a LoRA ({format}), not a checkpoint: give the base model as --base and the LoRAs after it"
    )]
    BaseIsLora { base: PathBuf, format: Format },
    #[error("{0}; nothing was written")]
    Strength(#[from] super::args::ArgError),
    #[error("{base}: {} LoRA module(s) have no weight in this base model (wrong base model family, or a layout lorabench does not map); nothing was written. Pass --allow-missing to merge the rest anyway:\n{}",
        missing.len(),
        missing.iter().map(|m| format!("  {}: {}", m.lora.display(), m.module)).collect::<Vec<_>>().join("\n"))]
    MissingModules {
        base: PathBuf,
        missing: Vec<Missing>,
    },
    #[error(
        "{lora}: module `{module}` makes a {delta:?} update but base weight `{key}` is {weight:?}; this LoRA is for another model"
    )]
    ShapeMismatch {
        lora: PathBuf,
        module: String,
        key: String,
        delta: Box<[usize]>,
        weight: Box<[usize]>,
    },
    #[error("{base}: weight `{key}` is {dtype}; merging needs F16, BF16, F32 or F64 weights")]
    BaseDtype {
        base: PathBuf,
        key: String,
        dtype: Dtype,
    },
    #[error("{lora}: tensor maths failed on `{module}`: {source}")]
    Candle {
        lora: PathBuf,
        module: String,
        source: Box<candle_core::Error>,
    },
}

/// What a merge did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MergeReport {
    pub output: PathBuf,
    pub tensors_written: usize,
    pub weights_changed: usize,
    pub modules_applied: usize,
    pub missing: Vec<Missing>,
}

/// One planned update of a base weight.
struct Update<'a> {
    lora: usize,
    module: &'a LoraModule,
    rows: Option<Rows>,
}

/// Merges LoRAs into `base`, writing `output` atomically. With `allow_missing` false, any LoRA
/// module without a base weight stops the merge before anything is written.
pub fn merge(
    base: &Path,
    inputs: &[MergeInput],
    output: &Path,
    allow_missing: bool,
    task: &mut Task<'_>,
) -> Result<MergeReport, MergeError> {
    for i in inputs {
        super::args::finite(i.strength, &format!("{}: strength", i.path.display()))?;
    }
    let base_file = SafetensorsFile::open(base)?;
    let (grouped, spellings, _) = group_keys(base_file.tensors().iter().map(|t| t.name.as_str()));
    let format = detect_format(&grouped, &spellings, base_file.metadata());
    if format != Format::Unknown {
        return Err(MergeError::BaseIsLora {
            base: base.to_path_buf(),
            format,
        });
    }
    let loras: Vec<LoraFile> = inputs
        .iter()
        .map(|i| LoraFile::read(&i.path))
        .collect::<Result<_, _>>()?;
    let by_name: Vec<HashMap<&str, &LoraModule>> = loras
        .iter()
        .map(|l| l.modules.iter().map(|m| (m.name.as_str(), m)).collect())
        .collect();

    // Plan every update from the headers alone, so problems show before any writing.
    let layout = BaseLayout::of(base_file.tensors());
    let mut plan: HashMap<&str, Vec<Update<'_>>> = HashMap::new();
    let mut used: BTreeSet<(usize, &str)> = BTreeSet::new();
    for info in base_file.tensors() {
        for cand in candidates(&info.name, &layout) {
            for (li, modules) in by_name.iter().enumerate() {
                let Some(&module) = modules.get(cand.name.as_str()) else {
                    continue;
                };
                check_shape(&base_file, info, &loras[li], module, cand.rows)?;
                if !info.dtype.is_float() {
                    return Err(MergeError::BaseDtype {
                        base: base.to_path_buf(),
                        key: info.name.clone(),
                        dtype: info.dtype,
                    });
                }
                used.insert((li, module.name.as_str()));
                plan.entry(info.name.as_str()).or_default().push(Update {
                    lora: li,
                    module,
                    rows: cand.rows,
                });
            }
        }
    }
    let missing: Vec<Missing> = loras
        .iter()
        .enumerate()
        .flat_map(|(li, l)| {
            let used = &used;
            l.modules
                .iter()
                .filter(move |m| !used.contains(&(li, m.name.as_str())))
                .map(|m| Missing {
                    lora: l.path.clone(),
                    module: m.name.clone(),
                })
        })
        .collect();
    if !missing.is_empty() && !allow_missing {
        return Err(MergeError::MissingModules {
            base: base.to_path_buf(),
            missing,
        });
    }

    let specs = base_file
        .tensors()
        .iter()
        .map(|t| TensorSpec {
            name: t.name.clone(),
            dtype: t.dtype,
            shape: t.shape.clone(),
        })
        .collect();
    let metadata = merged_metadata(base_file.metadata(), inputs, &loras, &used);
    let mut writer = Writer::create(output, specs, &metadata)?;
    let order: Vec<String> = writer.order().iter().map(|s| s.name.clone()).collect();
    let total = order.len() as u64;
    let mut values: Vec<f32> = Vec::new();
    for (i, name) in order.iter().enumerate() {
        task.step(i as u64, total, name)?;
        let mut bytes = base_file.read_bytes(name)?;
        if let (Some(updates), Some(info)) = (plan.get(name.as_str()), base_file.info(name)) {
            values.clear();
            values.extend(decode_f32(info.dtype, &bytes));
            for u in updates {
                add_update(&mut values, u, inputs[u.lora].strength).map_err(|source| {
                    MergeError::Candle {
                        lora: loras[u.lora].path.clone(),
                        module: u.module.name.clone(),
                        source: Box::new(source),
                    }
                })?;
            }
            encode_f32(info.dtype, &values, &mut bytes);
        }
        writer.write(name, &bytes)?;
    }
    task.step(total, total, "")?;
    writer.finish()?;
    Ok(MergeReport {
        output: output.to_path_buf(),
        tensors_written: order.len(),
        weights_changed: plan.len(),
        modules_applied: used.len(),
        missing,
    })
}

/// The update must have the weight's (or its row block's) shape; 1x1 convs and linears with the
/// same numbers of inputs agree.
fn check_shape(
    base: &SafetensorsFile,
    info: &TensorInfo,
    lora: &LoraFile,
    module: &LoraModule,
    rows: Option<Rows>,
) -> Result<(), MergeError> {
    let delta = module.weight_shape();
    let mut weight = info.shape.clone();
    if let (Some(r), Some(first)) = (rows, weight.first_mut()) {
        *first /= r.parts;
    }
    let flat = |s: &[usize]| (s.first().copied(), s.iter().skip(1).product::<usize>());
    let same = weight.len() >= 2 && flat(&delta) == flat(&weight);
    if same {
        Ok(())
    } else {
        Err(MergeError::ShapeMismatch {
            lora: lora.path.clone(),
            module: module.name.clone(),
            key: format!("{} in {}", info.name, base.path().display()),
            delta: delta.into(),
            weight: weight.into(),
        })
    }
}

fn add_update(values: &mut [f32], u: &Update<'_>, strength: f32) -> candle_core::Result<()> {
    let delta: Tensor = u.module.delta(strength)?;
    let delta = delta.flatten_all()?.to_vec1::<f32>()?;
    let start = u.rows.map_or(0, |r| r.block * delta.len());
    let Some(target) = values.get_mut(start..start + delta.len()) else {
        return Err(candle_core::Error::Msg("update outside the weight".into()));
    };
    for (v, d) in target.iter_mut().zip(&delta) {
        *v += d;
    }
    Ok(())
}

/// Base metadata plus `lorabench.merged_loras`: which files, strengths, hashes, module counts.
fn merged_metadata(
    base: &BTreeMap<String, String>,
    inputs: &[MergeInput],
    loras: &[LoraFile],
    used: &BTreeSet<(usize, &str)>,
) -> BTreeMap<String, String> {
    let record: Vec<serde_json::Value> = inputs
        .iter()
        .zip(loras)
        .enumerate()
        .map(|(li, (input, lora))| {
            let name = input
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            serde_json::json!({
                "file": name,
                "strength": super::json_f32(input.strength),
                "format": lora.format,
                "sshs_model_hash": lora.metadata.get("sshs_model_hash"),
                "modules_merged": used.iter().filter(|(l, _)| *l == li).count(),
                "modules_total": lora.modules.len(),
            })
        })
        .collect();
    let mut meta = base.clone();
    meta.insert(
        "lorabench.merged_loras".into(),
        serde_json::to_string(&record).unwrap_or_default(),
    );
    meta
}
