//! Combining several LoRAs into one (`lorabench lora mix`).
//!
//! For one module, inputs i with user weight wᵢ contribute cᵢ = wᵢ · αᵢ / rᵢ times Uᵢ·Dᵢ.
//!
//! - Exact: the factors are stacked along the rank, U = [sign(cᵢ)√|cᵢ| Uᵢ | …] and
//!   D = [√|cᵢ| Dᵢ ; …], alpha = Σ rᵢ (scale 1), so U·D = Σ cᵢ Uᵢ Dᵢ with no loss and every
//!   loader reads it (lora-formats.md §8.3). Splitting √|cᵢ| between the factors keeps their
//!   magnitudes alike, which matters when the file is saved in half precision.
//! - Reduced to rank N: the SVD of the stacked product by thin QR of each stacked factor and
//!   an SVD of the small core (§8.7), truncated to N; up = U_N·diag(S_N), down = V_Nᵀ,
//!   alpha = N (scale 1), as kohya's `svd_merge_lora.py` writes it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use faer::Mat;
use rayon::prelude::*;
use serde::Serialize;

use super::lowrank::{
    Factors, LowRankError, RankFileError, Retained, clamp_quantile, factors_of_module, module_like,
    product_svd,
};
use super::model::{LoraFile, LoraModule, write_kohya};
use super::progress::Task;
use super::safetensors::Dtype;

/// One input module and the user's weight for its file.
#[derive(Debug, Clone, Copy)]
pub struct Weighted<'a> {
    pub factors: &'a Factors,
    pub weight: f32,
}

impl Weighted<'_> {
    /// cᵢ = wᵢ · αᵢ / rᵢ.
    fn coefficient(&self) -> f32 {
        self.weight * self.factors.scale()
    }
}

/// The exact combination: rank Σ rᵢ, no loss.
pub fn mix_exact(parts: &[Weighted<'_>]) -> Result<Factors, LowRankError> {
    let (up, down) = stack(parts, |c| (c.signum() * c.abs().sqrt(), c.abs().sqrt()))?;
    let rank = down.nrows() as f32;
    Factors::new(up, down, Some(rank))
}

/// The best rank-`rank` approximation of the combination (Eckart–Young), with kohya's
/// quantile clamp if `clamp` is given. Returns the retained share of the combination.
pub fn mix_reduced(
    parts: &[Weighted<'_>],
    rank: usize,
    clamp: Option<f32>,
) -> Result<(Factors, Retained), LowRankError> {
    if rank == 0 {
        return Err(LowRankError::ZeroRank);
    }
    // The coefficient goes wholly on up: the QR does not care how it is split.
    let (up, down) = stack(parts, |c| (c, 1.0))?;
    let svd = product_svd(up.as_ref(), down.as_ref())?;
    let new_rank = rank.min(svd.s.len());
    let (mut up, mut down) = svd.truncate(new_rank);
    if let Some(q) = clamp {
        clamp_quantile(&mut up, &mut down, q);
    }
    let retained = Retained::of(&svd.s, new_rank);
    Ok((Factors::new(up, down, Some(new_rank as f32))?, retained))
}

/// Stacks the parts along the rank: up columns multiplied by the first of `split(cᵢ)`, down
/// rows by the second.
fn stack(
    parts: &[Weighted<'_>],
    split: impl Fn(f32) -> (f32, f32),
) -> Result<(Mat<f32>, Mat<f32>), LowRankError> {
    let first = parts.first().ok_or(LowRankError::NothingToCombine)?.factors;
    let (out, inn) = (first.out_features(), first.in_features());
    if let Some(odd) = parts
        .iter()
        .map(|p| p.factors)
        .find(|f| f.out_features() != out || f.in_features() != inn)
    {
        return Err(LowRankError::ShapeMismatch {
            expected_out: out,
            expected_in: inn,
            found_out: odd.out_features(),
            found_in: odd.in_features(),
        });
    }
    let total: usize = parts.iter().map(|p| p.factors.rank()).sum();
    let mut up = Mat::<f32>::zeros(out, total);
    let mut down = Mat::<f32>::zeros(total, inn);
    let mut at = 0;
    for part in parts {
        let (up_mul, down_mul) = split(part.coefficient());
        let f = part.factors;
        let r = f.rank();
        up.get_mut(.., at..at + r).copy_from(&f.up);
        down.get_mut(at..at + r, ..).copy_from(&f.down);
        for j in at..at + r {
            up.col_mut(j).iter_mut().for_each(|x| *x *= up_mul);
            down.row_mut(j).iter_mut().for_each(|x| *x *= down_mul);
        }
        at += r;
    }
    Ok((up, down))
}

/// One LoRA file to mix and the weight of its update.
#[derive(Debug, Clone, PartialEq)]
pub struct MixInput {
    pub path: PathBuf,
    pub weight: f32,
}

/// One module of a mixed file.
#[derive(Debug, Clone, Serialize)]
pub struct MixedModule {
    pub module: String,
    /// How many input files had this module.
    pub inputs: usize,
    pub rank: usize,
    /// The inputs' ranks added up: the rank of the exact combination.
    pub stacked_rank: usize,
    /// The retained share of the combination (reduced mixes only).
    pub retained: Option<Retained>,
}

/// What `mix_files` did.
#[derive(Debug, Clone, Serialize)]
pub struct MixReport {
    pub output: PathBuf,
    /// `None` for an exact mix.
    pub rank: Option<usize>,
    pub modules: Vec<MixedModule>,
}

impl MixReport {
    /// The largest rank of the output's modules.
    pub fn max_rank(&self) -> usize {
        self.modules.iter().map(|m| m.rank).max().unwrap_or(0)
    }

    /// Whether any module lost rank (a reduced mix whose inputs stack above `--rank`).
    pub fn reduced(&self) -> bool {
        self.modules.iter().any(|m| m.rank < m.stacked_rank)
    }
}

/// Modules combined in parallel between two progress steps.
const CHUNK: usize = 16;

/// Mixes the LoRAs `inputs` module by module (the union of their modules; a module only some
/// files have gets only their terms) and writes a kohya file to `output` (atomic; factors in
/// `dtype`, default the first input's). Exact without `rank`, else reduced to it.
pub fn mix_files(
    inputs: &[MixInput],
    output: &Path,
    rank: Option<usize>,
    clamp: Option<f32>,
    dtype: Option<Dtype>,
    task: &mut Task<'_>,
) -> Result<MixReport, RankFileError> {
    let refuse = |problem: String| RankFileError::Refused {
        output: output.to_path_buf(),
        problem,
    };
    if inputs.is_empty() {
        return Err(refuse("no LoRA files to mix".into()));
    }
    if rank == Some(0) {
        return Err(refuse("--rank must be at least 1".into()));
    }
    for i in inputs {
        let what = format!("{}: weight", i.path.display());
        super::args::finite(i.weight, &what).map_err(|e| refuse(e.to_string()))?;
    }
    let mut files = Vec::with_capacity(inputs.len());
    for input in inputs {
        files.push(LoraFile::read(&input.path)?);
    }
    // module name -> (file index, module) in input order.
    let mut by_name: BTreeMap<&str, Vec<(usize, &LoraModule)>> = BTreeMap::new();
    for (fi, file) in files.iter().enumerate() {
        for m in &file.modules {
            by_name.entry(m.name.as_str()).or_default().push((fi, m));
        }
    }
    let groups: Vec<(&str, Vec<(usize, &LoraModule)>)> = by_name.into_iter().collect();
    let total = groups.len() as u64;
    let mut modules = Vec::with_capacity(groups.len());
    let mut report = Vec::with_capacity(groups.len());
    for (ci, chunk) in groups.chunks(CHUNK).enumerate() {
        task.step((ci * CHUNK) as u64, total, chunk[0].0)?;
        let done: Vec<Result<_, RankFileError>> = chunk
            .par_iter()
            .map(|(name, parts)| mix_module(inputs, name, parts, rank, clamp))
            .collect();
        for d in done {
            let (m, r) = d?;
            modules.push(m);
            report.push(r);
        }
    }
    task.step(total, total, "writing")?;
    let metadata = mixed_metadata(inputs, &files, &report);
    let dtype = dtype.unwrap_or(files[0].dtype);
    write_kohya(output, &modules, &metadata, dtype)?;
    Ok(MixReport {
        output: output.to_path_buf(),
        rank,
        modules: report,
    })
}

fn mix_module(
    inputs: &[MixInput],
    name: &str,
    parts: &[(usize, &LoraModule)],
    rank: Option<usize>,
    clamp: Option<f32>,
) -> Result<(LoraModule, MixedModule), RankFileError> {
    let factors = parts
        .iter()
        .map(|(fi, m)| factors_of_module(&inputs[*fi].path, m))
        .collect::<Result<Vec<_>, _>>()?;
    let weighted: Vec<Weighted<'_>> = factors
        .iter()
        .zip(parts)
        .map(|(f, (fi, _))| Weighted {
            factors: f,
            weight: inputs[*fi].weight,
        })
        .collect();
    let first = &inputs[parts[0].0].path;
    let (mixed, retained) = match rank {
        None => (mix_exact(&weighted), None),
        Some(r) => match mix_reduced(&weighted, r, clamp) {
            Ok((f, ret)) => (Ok(f), Some(ret)),
            Err(e) => (Err(e), None),
        },
    };
    let mixed = mixed.map_err(RankFileError::maths(first, name))?;
    // The conv kernel shape (if any) is the same in every part: shapes were checked.
    let module = module_like(first, parts[0].1, &mixed)?;
    let report = MixedModule {
        module: name.to_string(),
        inputs: parts.len(),
        rank: mixed.rank(),
        stacked_rank: factors.iter().map(Factors::rank).sum(),
        retained,
    };
    Ok((module, report))
}

/// Minimal kohya metadata plus what was mixed. Base-model keys are kept when every input
/// agrees on them.
fn mixed_metadata(
    inputs: &[MixInput],
    files: &[LoraFile],
    modules: &[MixedModule],
) -> BTreeMap<String, String> {
    let mut metadata = BTreeMap::new();
    for key in [
        "ss_base_model_version",
        "ss_v2",
        "modelspec.architecture",
        "modelspec.implementation",
    ] {
        let values: BTreeSet<Option<&String>> = files.iter().map(|f| f.metadata.get(key)).collect();
        if let [Some(v)] = values.into_iter().collect::<Vec<_>>()[..] {
            metadata.insert(key.to_string(), v.clone());
        }
    }
    // The rank the modules really have (alpha = rank: scale 1); kohya's word when they differ.
    let ranks: BTreeSet<usize> = modules.iter().map(|m| m.rank).collect();
    let dim = match ranks.iter().collect::<Vec<_>>()[..] {
        [r] => r.to_string(),
        _ => "Dynamic".to_string(),
    };
    metadata.insert("ss_network_module".into(), "networks.lora".into());
    metadata.insert("ss_network_dim".into(), dim.clone());
    metadata.insert("ss_network_alpha".into(), dim);
    let sources: Vec<_> = inputs
        .iter()
        .zip(files)
        .map(|(i, f)| {
            serde_json::json!({
                "file": i.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "weight": super::json_f32(i.weight),
                "sshs_model_hash": f.metadata.get("sshs_model_hash"),
            })
        })
        .collect();
    metadata.insert(
        "lorabench.mixed_from".into(),
        serde_json::Value::Array(sources).to_string(),
    );
    metadata
}
