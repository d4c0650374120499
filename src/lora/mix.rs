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

use faer::Mat;

use super::lowrank::{Factors, LowRankError, Retained, clamp_quantile, product_svd};

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
