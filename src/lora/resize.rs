//! Rank reduction of a LoRA (`lorabench lora resize`), kohya's `networks/resize_lora.py`
//! semantics on the exact product SVD of lora-formats.md §8.7.
//!
//! Convention (kohya's): the new factors are up = U_k·diag(S_k), down = V_kᵀ of the *unscaled*
//! product up · down, and the new alpha is old_scale · k, so new_alpha / k = old_alpha /
//! old_rank and the strength is unchanged (lora-formats.md §8.5 step 5).

use serde::Serialize;

use super::lowrank::{Factors, LowRankError, RankRule, Retained, product_svd, select_rank};

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
