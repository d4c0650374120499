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

use super::ldm;
use super::model::{LoraError, LoraFile, LoraModule};
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

/// Where one LoRA module lands in a base weight: the whole weight, or one of `parts` equal row
/// blocks (`block` of them) for fused q|k|v projections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rows {
    block: usize,
    parts: usize,
}

/// A kohya module name a base key answers to, with its row block.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    name: String,
    rows: Option<Rows>,
}

fn whole(name: String) -> Candidate {
    Candidate { name, rows: None }
}

fn kohya(prefix: &str, dotted: &str) -> String {
    format!("{prefix}{}", dotted.replace('.', "_"))
}

/// BFL Flux top-level modules (kohya names them `lora_unet_` + path).
const FLUX_BFL: &[&str] = &[
    "double_blocks.",
    "single_blocks.",
    "img_in",
    "txt_in",
    "time_in.",
    "vector_in.",
    "guidance_in.",
    "final_layer.",
];

/// The layout facts some mappings need, taken from the base's key set.
struct BaseLayout {
    /// diffusers-layout UNets: up blocks with attention layers.
    up_blocks_with_attention: BTreeSet<usize>,
}

impl BaseLayout {
    fn of(tensors: &[TensorInfo]) -> Self {
        let up_blocks_with_attention = tensors
            .iter()
            .filter_map(|t| {
                let rest = t.name.strip_prefix("up_blocks.")?;
                let (i, rest) = rest.split_once('.')?;
                rest.starts_with("attentions.").then(|| i.parse().ok())?
            })
            .collect();
        Self {
            up_blocks_with_attention,
        }
    }
}

/// The kohya names (and row blocks) a base weight key answers to.
fn candidates(key: &str, layout: &BaseLayout) -> Vec<Candidate> {
    // OpenCLIP bigG (SDXL te2): fused q|k|v rows, and its own names for the rest.
    if let Some(rest) = key.strip_prefix("conditioner.embedders.1.model.transformer.resblocks.") {
        let Some((i, rest)) = rest.split_once('.') else {
            return Vec::new();
        };
        let layer = format!("lora_te2_text_model_encoder_layers_{i}");
        return match rest {
            "attn.in_proj_weight" => ["q", "k", "v"]
                .iter()
                .enumerate()
                .map(|(block, p)| Candidate {
                    name: format!("{layer}_self_attn_{p}_proj"),
                    rows: Some(Rows { block, parts: 3 }),
                })
                .collect(),
            "attn.out_proj.weight" => vec![whole(format!("{layer}_self_attn_out_proj"))],
            "mlp.c_fc.weight" => vec![whole(format!("{layer}_mlp_fc1"))],
            "mlp.c_proj.weight" => vec![whole(format!("{layer}_mlp_fc2"))],
            _ => Vec::new(),
        };
    }
    let Some(module) = key.strip_suffix(".weight") else {
        return Vec::new();
    };
    if let Some(rest) = module.strip_prefix("conditioner.embedders.0.transformer.") {
        return vec![whole(kohya("lora_te1_", rest))];
    }
    if let Some(rest) = module.strip_prefix("cond_stage_model.transformer.") {
        let rest = if rest.starts_with("text_model.") {
            rest.to_string()
        } else {
            format!("text_model.{rest}")
        };
        // SD1 has one text encoder; diffusers' kohya export calls it `lora_te1_`.
        return vec![
            whole(kohya("lora_te_", &rest)),
            whole(kohya("lora_te1_", &rest)),
        ];
    }
    let (inner, bare) = match module.strip_prefix("model.diffusion_model.") {
        Some(inner) => (inner, false),
        None => (module, true),
    };
    if FLUX_BFL.iter().any(|p| inner.starts_with(p)) {
        return vec![whole(kohya("lora_unet_", inner))];
    }
    let mut out = vec![whole(kohya("lora_unet_", inner))];
    if bare {
        // A diffusers-layout UNet or transformer: also answer to LDM (SDXL kohya) names.
        let has_attn = |i: usize| layout.up_blocks_with_attention.contains(&i);
        if let Some(l) = ldm::diffusers_to_ldm(inner, &has_attn) {
            out.push(whole(kohya("lora_unet_", &l)));
        }
        out.push(whole(kohya("lora_transformer_", inner)));
        if inner.starts_with("text_model.") {
            out.push(whole(kohya("lora_te_", inner)));
        }
    } else if let Some(d) = ldm::ldm_to_diffusers(inner) {
        out.push(whole(kohya("lora_unet_", &d)));
    }
    out
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
    let base_file = SafetensorsFile::open(base)?;
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
                "strength": input.strength,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(key: &str) -> Vec<String> {
        let layout = BaseLayout {
            up_blocks_with_attention: [1, 2, 3].into_iter().collect(),
        };
        candidates(key, &layout)
            .into_iter()
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn sd15_single_file_keys_answer_to_diffusers_kohya_names() {
        let n =
            names("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight");
        assert!(n.contains(
            &"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q".to_string()
        ));
        let n = names("model.diffusion_model.output_blocks.2.1.conv.weight");
        assert!(n.contains(&"lora_unet_up_blocks_0_upsamplers_0_conv".to_string()));
        let n = names(
            "cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight",
        );
        assert!(n.contains(&"lora_te_text_model_encoder_layers_0_self_attn_q_proj".to_string()));
        assert!(n.contains(&"lora_te1_text_model_encoder_layers_0_self_attn_q_proj".to_string()));
    }

    #[test]
    fn sdxl_keys_answer_to_ldm_kohya_names_and_fused_qkv_rows() {
        let n =
            names("model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight");
        assert!(
            n.contains(&"lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q".to_string())
        );
        let layout = BaseLayout {
            up_blocks_with_attention: BTreeSet::new(),
        };
        let c = candidates(
            "conditioner.embedders.1.model.transformer.resblocks.3.attn.in_proj_weight",
            &layout,
        );
        assert_eq!(c.len(), 3);
        assert_eq!(
            c[1].name,
            "lora_te2_text_model_encoder_layers_3_self_attn_k_proj"
        );
        assert_eq!(c[1].rows, Some(Rows { block: 1, parts: 3 }));
    }

    #[test]
    fn flux_and_diffusers_layouts() {
        assert_eq!(
            names("double_blocks.0.img_attn.qkv.weight"),
            vec!["lora_unet_double_blocks_0_img_attn_qkv"]
        );
        assert_eq!(
            names("model.diffusion_model.single_blocks.3.linear1.weight"),
            vec!["lora_unet_single_blocks_3_linear1"]
        );
        let n = names("down_blocks.1.attentions.0.proj_in.weight");
        assert!(n.contains(&"lora_unet_down_blocks_1_attentions_0_proj_in".to_string()));
        assert!(n.contains(&"lora_unet_input_blocks_4_1_proj_in".to_string()));
        let n = names("single_transformer_blocks.0.attn.to_q.weight");
        assert!(n.contains(&"lora_transformer_single_transformer_blocks_0_attn_to_q".to_string()));
        assert!(names("model.diffusion_model.input_blocks.1.1.norm.bias").is_empty());
    }
}
