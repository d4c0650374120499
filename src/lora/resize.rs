//! Rank reduction of a LoRA (`lorabench lora resize`), kohya's `networks/resize_lora.py`
//! semantics on the exact product SVD of lora-formats.md §8.7.
//!
//! Convention (kohya's): the new factors are up = U_k·diag(S_k), down = V_kᵀ of the *unscaled*
//! product up · down, and the new alpha is old_scale · k, so new_alpha / k = old_alpha /
//! old_rank and the strength is unchanged (lora-formats.md §8.5 step 5).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::lowrank::{
    Factors, LowRankError, RankFileError, RankRule, Retained, factors_of_module, module_like,
    product_svd, select_rank,
};
use super::model::{LoraFile, write_kohya};
use super::progress::Task;
use super::safetensors::Dtype;

/// What resizing did to one module.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModuleResize {
    pub old_rank: usize,
    pub new_rank: usize,
    pub old_alpha: f32,
    pub new_alpha: f32,
    pub retained: Retained,
}

/// Resizes one module. `cap` bounds the dynamic rules (kohya's `--new_rank`); `None` lets
/// them go up to the old rank. The new rank never exceeds the number of singular values,
/// min(out, in, old rank).
pub fn resize_factors(
    factors: &Factors,
    rule: RankRule,
    cap: Option<usize>,
) -> Result<(Factors, ModuleResize), LowRankError> {
    if rule == RankRule::Fixed(0) || cap == Some(0) {
        return Err(LowRankError::ZeroRank);
    }
    let svd = product_svd(factors.up.as_ref(), factors.down.as_ref())?;
    let new_rank = select_rank(&svd.s, rule, cap.unwrap_or(usize::MAX));
    let (up, down) = svd.truncate(new_rank);
    let new_alpha = factors.scale() * new_rank as f32;
    let report = ModuleResize {
        old_rank: factors.rank(),
        new_rank,
        old_alpha: factors.alpha,
        new_alpha,
        retained: Retained::of(&svd.s, new_rank),
    };
    Ok((Factors::new(up, down, Some(new_alpha))?, report))
}

/// One module of a resized file.
#[derive(Debug, Clone, Serialize)]
pub struct NamedResize {
    pub module: String,
    #[serde(flatten)]
    pub resize: ModuleResize,
}

/// What `resize_file` did.
#[derive(Debug, Clone, Serialize)]
pub struct ResizeReport {
    pub input: PathBuf,
    pub output: PathBuf,
    pub rule: String,
    pub cap: Option<usize>,
    pub modules: Vec<NamedResize>,
    /// The largest rank of the output's modules.
    pub new_rank: usize,
    /// Modules left at their rank (already at or below the target).
    pub kept: usize,
    /// Mean and lowest retained (Frobenius) energy over the modules.
    pub mean_fro: f64,
    pub min_fro: f64,
}

/// Modules resized in parallel between two progress steps.
const CHUNK: usize = 16;

/// Resizes every module of the LoRA at `input` and writes a kohya file to `output` (atomic;
/// factors in `dtype`, default the input's). Metadata as kohya's resize_lora.py writes it:
/// `ss_training_comment`, `ss_network_dim`, `ss_network_alpha` updated, the rest kept, the
/// hash recomputed.
pub fn resize_file(
    input: &Path,
    output: &Path,
    rule: RankRule,
    cap: Option<usize>,
    dtype: Option<Dtype>,
    task: &mut Task<'_>,
) -> Result<ResizeReport, RankFileError> {
    let lora = LoraFile::read(input)?;
    let current = lora.modules.iter().map(|m| m.rank()).max().unwrap_or(0);
    if let RankRule::Fixed(rank) = rule
        && rank >= current
        && rank > 0
    {
        return Err(RankFileError::NotReduced {
            path: input.to_path_buf(),
            rank,
            current,
        });
    }
    let total = lora.modules.len() as u64;
    let mut modules = Vec::with_capacity(lora.modules.len());
    let mut report = Vec::with_capacity(lora.modules.len());
    for (i, chunk) in lora.modules.chunks(CHUNK).enumerate() {
        task.step((i * CHUNK) as u64, total, &chunk[0].name)?;
        let done: Vec<Result<_, RankFileError>> = chunk
            .par_iter()
            .map(|m| {
                let f = factors_of_module(input, m)?;
                let (g, r) =
                    resize_factors(&f, rule, cap).map_err(RankFileError::maths(input, &m.name))?;
                Ok((module_like(input, m, &g)?, r))
            })
            .collect();
        for d in done {
            let (m, r) = d?;
            report.push(NamedResize {
                module: m.name.clone(),
                resize: r,
            });
            modules.push(m);
        }
    }
    task.step(total, total, "writing")?;
    let metadata = resized_metadata(&lora.metadata, rule, cap, &report);
    write_kohya(output, &modules, &metadata, dtype.unwrap_or(lora.dtype))?;
    let fros: Vec<f64> = report.iter().map(|r| r.resize.retained.fro).collect();
    Ok(ResizeReport {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        rule: rule.to_string(),
        cap,
        new_rank: report.iter().map(|r| r.resize.new_rank).max().unwrap_or(0),
        kept: report
            .iter()
            .filter(|r| r.resize.new_rank == r.resize.old_rank)
            .count(),
        mean_fro: fros.iter().sum::<f64>() / fros.len().max(1) as f64,
        min_fro: fros.iter().copied().fold(1.0, f64::min),
        modules: report,
    })
}

/// kohya's resize metadata (lora-formats.md §8.5).
fn resized_metadata(
    old: &BTreeMap<String, String>,
    rule: RankRule,
    cap: Option<usize>,
    report: &[NamedResize],
) -> BTreeMap<String, String> {
    let mut metadata = old.clone();
    let old_dim = report.iter().map(|r| r.resize.old_rank).max().unwrap_or(0);
    // The rank the modules have now (a module already below the target keeps its own).
    let new_dim = report.iter().map(|r| r.resize.new_rank).max().unwrap_or(0);
    let comment = old.get("ss_training_comment").cloned().unwrap_or_default();
    match rule {
        RankRule::Fixed(_) => {
            metadata.insert(
                "ss_training_comment".into(),
                format!("dimension is resized from {old_dim} to {new_dim}; {comment}"),
            );
            metadata.insert("ss_network_dim".into(), new_dim.to_string());
            if let Some(last) = report.last() {
                metadata.insert(
                    "ss_network_alpha".into(),
                    python_float(last.resize.new_alpha),
                );
            }
        }
        dynamic => {
            let (method, param) = dynamic.to_string().split_once('=').map_or_else(
                || (dynamic.to_string(), String::new()),
                |(m, p)| (m.to_string(), p.to_string()),
            );
            let capped = cap.map_or(String::new(), |c| format!(" (at most {c})"));
            metadata.insert(
                "ss_training_comment".into(),
                format!("Dynamic resize with {method}: {param}{capped} from {old_dim}; {comment}"),
            );
            metadata.insert("ss_network_dim".into(), "Dynamic".into());
            metadata.insert("ss_network_alpha".into(), "Dynamic".into());
        }
    }
    metadata
}

/// A float as Python's `str` prints it (`16.0`, `0.5`): sd-scripts writes metadata that way.
pub fn python_float(x: f32) -> String {
    if x.is_finite() && x.fract() == 0.0 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}
