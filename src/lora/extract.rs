//! A LoRA from the difference of two checkpoints (`lorabench lora extract`): per weight,
//! Δ = W_tuned − W_base, flattened to 2-D, and its best rank-r approximation
//! (lora-formats.md §8.6). This is the one place a full-size SVD is needed.
//!
//! Method: for matrices with min(out, in) ≤ [`EXACT_SVD_MAX_DIM`], faer's exact thin SVD;
//! above that a randomized SVD (sketch max(2r, r + 10), 2 power iterations, fixed seed), the
//! same split as kohya's `svd_lowrank` path. Output as kohya: up = U_r·diag(S_r), down = V_rᵀ,
//! alpha = r (scale 1); r = min(rank, out, in).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use faer::MatRef;
use serde::Serialize;

use super::lowrank::{
    Factors, LowRankError, RankFileError, Retained, clamp_quantile, exact_svd, mat_of_tensor,
    randomized_svd, tensor_of_mat,
};
use super::model::{LoraModule, write_kohya};
use super::names::{BaseLayout, Candidate, Rows, candidates};
use super::progress::Task;
use super::resize::python_float;
use super::safetensors::{Dtype, SafetensorsFile, TensorInfo};

/// Above this smaller dimension, `Auto` uses the randomized SVD (kohya's threshold).
pub const EXACT_SVD_MAX_DIM: usize = 2048;
/// Power iterations of the randomized SVD (torch.svd_lowrank's and kohya's `niter`).
pub const POWER_ITERS: usize = 2;
const SEED: u64 = 0x5eed_107a;

/// How the SVD of a difference is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SvdMethod {
    /// Exact up to [`EXACT_SVD_MAX_DIM`], randomized above.
    Auto,
    Exact,
    Randomized,
}

/// Options for one extraction.
#[derive(Debug, Clone, Copy)]
pub struct ExtractOptions {
    pub rank: usize,
    pub method: SvdMethod,
    /// kohya's `--clamp_quantile` (it uses 0.99); `None` keeps the exact truncated SVD.
    pub clamp_quantile: Option<f32>,
}

/// The LoRA factors of one difference, how much of it they keep, and the method used.
#[derive(Debug, Clone)]
pub struct Extracted {
    pub factors: Factors,
    pub retained: Retained,
    /// `Exact` or `Randomized`, never `Auto`.
    pub method: SvdMethod,
}

/// Extracts rank-`opts.rank` factors from a difference `delta` (out × in·kh·kw).
pub fn extract_factors(
    delta: MatRef<'_, f32>,
    opts: &ExtractOptions,
) -> Result<Extracted, LowRankError> {
    if opts.rank == 0 {
        return Err(LowRankError::ZeroRank);
    }
    if !delta.col_iter().all(|c| c.iter().all(|x| x.is_finite())) {
        return Err(LowRankError::NonFinite);
    }
    let min_dim = delta.nrows().min(delta.ncols());
    let rank = opts.rank.min(min_dim);
    let method = match opts.method {
        SvdMethod::Auto if min_dim > EXACT_SVD_MAX_DIM => SvdMethod::Randomized,
        SvdMethod::Auto => SvdMethod::Exact,
        other => other,
    };
    let (svd, retained) = if method == SvdMethod::Exact {
        let svd = exact_svd(delta)?;
        let retained = Retained::of(&svd.s, rank);
        (svd, retained)
    } else {
        let sketch = (2 * rank).max(rank + 10);
        let svd = randomized_svd(delta, sketch, POWER_ITERS, SEED)?;
        let retained = Retained::of_leading(&svd.s[..rank.min(svd.s.len())], frobenius(delta));
        (svd, retained)
    };
    let (mut up, mut down) = svd.truncate(rank);
    if let Some(q) = opts.clamp_quantile {
        clamp_quantile(&mut up, &mut down, q);
    }
    Ok(Extracted {
        factors: Factors::new(up, down, Some(rank as f32))?,
        retained,
        method,
    })
}

fn frobenius(m: MatRef<'_, f32>) -> f64 {
    m.col_iter()
        .map(|c| c.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>())
        .sum::<f64>()
        .sqrt()
}

/// Options for extracting a whole checkpoint pair.
#[derive(Debug, Clone, Copy)]
pub struct ExtractFileOptions {
    /// Rank of linear and 1×1 conv modules.
    pub rank: usize,
    /// Rank of k×k convolutions; `None` leaves resnet blocks out (kohya's default).
    pub conv_rank: Option<usize>,
    pub method: SvdMethod,
    pub clamp_quantile: Option<f32>,
    /// Weights whose largest absolute change is at most this are skipped.
    pub min_diff: f32,
    /// Factor dtype of the output.
    pub dtype: Dtype,
}

/// One extracted module.
#[derive(Debug, Clone, Serialize)]
pub struct ExtractedModule {
    pub module: String,
    /// The checkpoint key it came from.
    pub key: String,
    pub rank: usize,
    pub method: SvdMethod,
    pub retained: Retained,
}

/// What `extract_file` did.
#[derive(Debug, Clone, Serialize)]
pub struct ExtractReport {
    pub output: PathBuf,
    pub modules: Vec<ExtractedModule>,
    /// Target weights left out because they did not change (beyond `min_diff`).
    pub unchanged: usize,
    /// Target weights of the tuned checkpoint the base lacks or has in another shape.
    pub not_in_base: Vec<String>,
}

/// The kohya modules a checkpoint weight key is extracted to: its first kohya name
/// ([`candidates`]), or for bigG's fused q|k|v weight its three row blocks. kohya's targets
/// only: attention blocks and text-encoder attention/MLP; resnet, down- and upsampler layers
/// when `resnets` is set. Empty for anything else.
pub fn targets(key: &str, layout: &BaseLayout, resnets: bool) -> Vec<Candidate> {
    if !kohya_target(key, resnets) {
        return Vec::new();
    }
    let mut names = candidates(key, layout);
    if names.first().is_some_and(|c| c.rows.is_none()) {
        names.truncate(1);
    }
    names
}

/// Whether kohya's LoRA network adapts this checkpoint weight (lora-formats.md §4.1, §9).
fn kohya_target(key: &str, resnets: bool) -> bool {
    if let Some(rest) = key.strip_prefix("conditioner.embedders.1.model.transformer.resblocks.") {
        return [
            ".attn.in_proj_weight",
            ".attn.out_proj.weight",
            ".mlp.c_fc.weight",
            ".mlp.c_proj.weight",
        ]
        .iter()
        .any(|s| rest.ends_with(s));
    }
    let Some(path) = key.strip_suffix(".weight") else {
        return false;
    };
    let text_encoder = [
        "conditioner.embedders.0.transformer.",
        "cond_stage_model.transformer.",
    ];
    if text_encoder.iter().any(|p| path.starts_with(p)) {
        return path.contains(".encoder.layers.")
            && [
                ".self_attn.q_proj",
                ".self_attn.k_proj",
                ".self_attn.v_proj",
                ".self_attn.out_proj",
                ".mlp.fc1",
                ".mlp.fc2",
            ]
            .iter()
            .any(|s| path.ends_with(s));
    }
    let (unet_path, ldm) = match path.strip_prefix("model.diffusion_model.") {
        Some(p) => (p, true),
        None => (path, false),
    };
    if ["double_blocks.", "single_blocks."]
        .iter()
        .any(|b| unet_path.starts_with(b))
    {
        return true;
    }
    let attention = unet_path.contains(".transformer_blocks.")
        || unet_path.ends_with(".proj_in")
        || unet_path.ends_with(".proj_out");
    let resnet = [
        ".in_layers.",
        ".out_layers.",
        ".emb_layers.",
        ".skip_connection",
        ".op",
        ".resnets.",
        ".downsamplers.",
        ".upsamplers.",
    ]
    .iter()
    .any(|p| unet_path.contains(p))
        || (ldm && unet_path.starts_with("output_blocks.") && unet_path.ends_with(".conv"));
    attention || (resnets && resnet)
}

/// Extracts a LoRA from `tuned − base`, streaming one weight pair at a time (peak memory a
/// few times the largest weight), and writes it as a kohya file to `output` (atomic).
pub fn extract_file(
    base: &Path,
    tuned: &Path,
    output: &Path,
    opts: &ExtractFileOptions,
    task: &mut Task<'_>,
) -> Result<ExtractReport, RankFileError> {
    let refuse = |problem: String| RankFileError::Refused {
        output: output.to_path_buf(),
        problem,
    };
    if opts.rank == 0 || opts.conv_rank == Some(0) {
        return Err(refuse("ranks must be at least 1".into()));
    }
    let base_file = SafetensorsFile::open(base)?;
    let tuned_file = SafetensorsFile::open(tuned)?;
    let layout = BaseLayout::of(tuned_file.tensors());
    let sdxl = layout.sdxl();
    let planned: Vec<(&TensorInfo, Vec<Candidate>)> = tuned_file
        .tensors()
        .iter()
        .filter(|t| t.dtype.is_float() && matches!(t.shape.len(), 2 | 4))
        .map(|t| (t, targets(&t.name, &layout, opts.conv_rank.is_some())))
        .filter(|(_, targets)| !targets.is_empty())
        .collect();
    let total = planned.len() as u64;
    let mut modules = Vec::new();
    let mut report = ExtractReport {
        output: output.to_path_buf(),
        modules: Vec::new(),
        unchanged: 0,
        not_in_base: Vec::new(),
    };
    for (i, (info, targets)) in planned.iter().enumerate() {
        task.step(i as u64, total, &info.name)?;
        let same_shape = base_file
            .info(&info.name)
            .is_some_and(|b| b.shape == info.shape);
        if !same_shape {
            report.not_in_base.push(info.name.clone());
            continue;
        }
        let tensor = RankFileError::tensor(tuned, &info.name);
        let tuned_w = tuned_file.read_f32(&info.name)?;
        let base_w = base_file.read_f32(&info.name)?;
        let delta = tuned_w
            .sub(&base_w)
            .and_then(|d| mat_of_tensor(&d))
            .map_err(tensor)?;
        drop((tuned_w, base_w));
        let max_change = delta
            .col_iter()
            .flat_map(|c| c.iter().map(|x| x.abs()).max_by(f32::total_cmp))
            .fold(0.0f32, f32::max);
        if max_change <= opts.min_diff {
            report.unchanged += 1;
            continue;
        }
        for target in targets {
            let kernel = &info.shape[2..];
            let conv = kernel.iter().any(|&k| k > 1);
            let rank = match (conv, opts.conv_rank) {
                (false, _) => opts.rank,
                (true, Some(r)) => r,
                (true, None) => continue,
            };
            let rows = match target.rows {
                Some(Rows { block, parts }) => {
                    let n = delta.nrows() / parts;
                    delta.get(block * n..(block + 1) * n, ..)
                }
                None => delta.as_ref(),
            };
            let one = ExtractOptions {
                rank,
                method: opts.method,
                clamp_quantile: opts.clamp_quantile,
            };
            let got =
                extract_factors(rows, &one).map_err(RankFileError::maths(tuned, &target.name))?;
            let f = &got.factors;
            let mut down_shape = vec![f.rank()];
            down_shape.extend(&info.shape[1..]);
            let mut up_shape = vec![f.out_features(), f.rank()];
            up_shape.extend(kernel.iter().map(|_| 1));
            let tensor = RankFileError::tensor(tuned, &target.name);
            let down = tensor_of_mat(f.down.as_ref(), &down_shape).map_err(tensor)?;
            let up = tensor_of_mat(f.up.as_ref(), &up_shape)
                .map_err(RankFileError::tensor(tuned, &target.name))?;
            modules.push(LoraModule {
                name: target.name.clone(),
                down,
                up,
                alpha: Some(f.alpha),
                dotted: None,
            });
            report.modules.push(ExtractedModule {
                module: target.name.clone(),
                key: info.name.clone(),
                rank: f.rank(),
                method: got.method,
                retained: got.retained,
            });
        }
    }
    task.step(total, total, "writing")?;
    if modules.is_empty() {
        return Err(refuse(format!(
            "no weight differs between {} and {}; nothing to extract",
            base.display(),
            tuned.display()
        )));
    }
    modules.sort_by(|a, b| a.name.cmp(&b.name));
    let metadata = extracted_metadata(base, tuned, opts, sdxl, &tuned_file);
    write_kohya(output, &modules, &metadata, opts.dtype)?;
    Ok(report)
}

/// kohya's extract metadata (lora-formats.md §8.6) plus the source files.
fn extracted_metadata(
    base: &Path,
    tuned: &Path,
    opts: &ExtractFileOptions,
    sdxl: bool,
    tuned_file: &SafetensorsFile,
) -> BTreeMap<String, String> {
    let mut metadata = BTreeMap::new();
    let flux = tuned_file
        .tensors()
        .iter()
        .any(|t| t.name.starts_with("double_blocks."));
    let version = if sdxl {
        "sdxl_base_v1-0"
    } else if flux {
        "flux1"
    } else {
        "sd_v1"
    };
    metadata.insert("ss_base_model_version".into(), version.into());
    metadata.insert("ss_v2".into(), "False".into());
    metadata.insert("ss_network_module".into(), "networks.lora".into());
    metadata.insert("ss_network_dim".into(), opts.rank.to_string());
    metadata.insert("ss_network_alpha".into(), python_float(opts.rank as f32));
    let args = match opts.conv_rank {
        Some(c) => {
            serde_json::json!({"conv_dim": c.to_string(), "conv_alpha": python_float(c as f32)})
        }
        None => serde_json::json!({}),
    };
    metadata.insert("ss_network_args".into(), args.to_string());
    let name = |p: &Path| {
        p.file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned())
    };
    metadata.insert(
        "lorabench.extracted_from".into(),
        serde_json::json!({"base": name(base), "tuned": name(tuned)}).to_string(),
    );
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lora::safetensors::Dtype;

    fn layout(keys: &[&str]) -> BaseLayout {
        let infos: Vec<TensorInfo> = keys
            .iter()
            .map(|k| TensorInfo {
                name: k.to_string(),
                dtype: Dtype::F16,
                shape: vec![1, 1],
                begin: 0,
                end: 2,
            })
            .collect();
        BaseLayout::of(&infos)
    }

    fn names(key: &str, layout: &BaseLayout, resnets: bool) -> Vec<String> {
        targets(key, layout, resnets)
            .into_iter()
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn modules_get_the_name_kohya_writes_for_the_family() {
        let attn = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight";
        let sd1 = layout(&[attn]);
        assert_eq!(
            names(attn, &sd1, false),
            ["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"]
        );
        let sdxl = layout(&[attn, "conditioner.embedders.0.transformer.x.weight"]);
        assert_eq!(
            names(attn, &sdxl, false),
            ["lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q"]
        );
        let te = "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight";
        assert_eq!(
            names(te, &sd1, false),
            ["lora_te_text_model_encoder_layers_0_mlp_fc1"]
        );
        let qkv = "conditioner.embedders.1.model.transformer.resblocks.3.attn.in_proj_weight";
        assert_eq!(names(qkv, &sdxl, false).len(), 3);
    }

    #[test]
    fn resnets_only_when_asked_and_never_norms() {
        let resnet = "model.diffusion_model.input_blocks.1.0.in_layers.2.weight";
        let sd1 = layout(&[resnet]);
        assert!(names(resnet, &sd1, false).is_empty());
        assert_eq!(
            names(resnet, &sd1, true),
            ["lora_unet_down_blocks_0_resnets_0_conv1"]
        );
        let norm = "model.diffusion_model.input_blocks.1.1.norm.weight";
        assert!(names(norm, &sd1, true).is_empty());
        let final_layer = "cond_stage_model.transformer.text_model.final_layer_norm.weight";
        assert!(names(final_layer, &sd1, true).is_empty());
    }
}
