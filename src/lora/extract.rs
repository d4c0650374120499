//! A LoRA from the difference of two checkpoints (`lorabench lora extract`): per weight,
//! Δ = W_tuned − W_base, flattened to 2-D, and its best rank-r approximation
//! (lora-formats.md §8.6). This is the one place a full-size SVD is needed.
//!
//! Method: for matrices with min(out, in) ≤ [`EXACT_SVD_MAX_DIM`], faer's exact thin SVD;
//! above that a randomized SVD (sketch max(2r, r + 10), 2 power iterations, fixed seed), the
//! same split as kohya's `svd_lowrank` path. Output as kohya: up = U_r·diag(S_r), down = V_rᵀ,
//! alpha = r (scale 1); r = min(rank, out, in).

use faer::MatRef;
use serde::Serialize;

use super::lowrank::{Factors, LowRankError, Retained, clamp_quantile, exact_svd, randomized_svd};

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
