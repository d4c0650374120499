//! The maths of a module's low-rank update, on faer matrices (no file I/O).
//!
//! A LoRA module stores ΔW = (alpha / r) · up · down with up (out × r) and down (r × in); a
//! convolution's down is flattened to (r, in·kh·kw) and its 1×1 up to (out, r)
//! (lora-formats.md §3). Everything here works on those 2-D views in f32.
//!
//! The SVD of up · down is computed exactly without forming the out × in product: a thin QR of
//! each factor leaves an r × r core whose SVD gives the singular values and vectors of the
//! product (lora-formats.md §8.7). Cost O((out + in)·r²) instead of O(out·in·min(out, in)).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use candle_core::{DType, Device, Tensor};
use faer::stats::prelude::{
    CwiseMatDistribution, Distribution, SeedableRng, StandardNormal, StdRng,
};
use faer::{Mat, MatRef};

use super::model::{LoraError, LoraModule};
use super::progress::Cancelled;
use super::safetensors::SafetensorsError;

/// kohya's `MIN_SV`: a product whose largest singular value is at most this is treated as zero
/// and resized to rank 1 (`networks/resize_lora.py::rank_resize`).
pub const MIN_SV: f32 = 1e-6;

/// What can go wrong in the rank maths. Callers add the module and file names.
#[derive(Debug, thiserror::Error)]
pub enum LowRankError {
    #[error(
        "up is {up_rows}×{up_cols} but down is {down_rows}×{down_cols}: the rank (up columns, down rows) must agree; the file is damaged or the tensors are swapped"
    )]
    RankMismatch {
        up_rows: usize,
        up_cols: usize,
        down_rows: usize,
        down_cols: usize,
    },
    #[error("a factor has rank 0: there is nothing to decompose")]
    EmptyRank,
    #[error("the factors hold NaN or infinite values; the LoRA is corrupt (re-export it)")]
    NonFinite,
    #[error("the alpha {0} is not a finite number; the LoRA is corrupt (re-export it)")]
    BadAlpha(f32),
    #[error("the SVD did not converge (the weights are badly scaled or corrupt)")]
    NoConvergence,
    #[error("target rank must be at least 1")]
    ZeroRank,
    #[error(
        "the modules to combine have different shapes ({expected_out}×{expected_in} and {found_out}×{found_in}); they were trained for different models"
    )]
    ShapeMismatch {
        expected_out: usize,
        expected_in: usize,
        found_out: usize,
        found_in: usize,
    },
    #[error("nothing to combine")]
    NothingToCombine,
}

impl From<faer::linalg::svd::SvdError> for LowRankError {
    fn from(_: faer::linalg::svd::SvdError) -> Self {
        LowRankError::NoConvergence
    }
}

/// A module's low-rank update ΔW = (alpha / rank) · up · down, flattened to 2-D.
#[derive(Debug, Clone)]
pub struct Factors {
    /// out × r.
    pub up: Mat<f32>,
    /// r × in (in·kh·kw for a convolution).
    pub down: Mat<f32>,
    /// The stored alpha; a file without one has alpha = rank (scale 1).
    pub alpha: f32,
}

impl Factors {
    /// Checks the shapes agree and the values are finite. A missing alpha means scale 1
    /// (lora-formats.md §3), so it becomes the rank.
    pub fn new(up: Mat<f32>, down: Mat<f32>, alpha: Option<f32>) -> Result<Self, LowRankError> {
        if up.ncols() != down.nrows() {
            return Err(LowRankError::RankMismatch {
                up_rows: up.nrows(),
                up_cols: up.ncols(),
                down_rows: down.nrows(),
                down_cols: down.ncols(),
            });
        }
        if up.ncols() == 0 {
            return Err(LowRankError::EmptyRank);
        }
        if !all_finite(up.as_ref()) || !all_finite(down.as_ref()) {
            return Err(LowRankError::NonFinite);
        }
        let alpha = alpha.unwrap_or(up.ncols() as f32);
        if !alpha.is_finite() {
            return Err(LowRankError::BadAlpha(alpha));
        }
        Ok(Factors { up, down, alpha })
    }

    pub fn rank(&self) -> usize {
        self.down.nrows()
    }

    pub fn out_features(&self) -> usize {
        self.up.nrows()
    }

    pub fn in_features(&self) -> usize {
        self.down.ncols()
    }

    /// alpha / rank: the factor every consumer multiplies up · down by.
    pub fn scale(&self) -> f32 {
        self.alpha / self.rank() as f32
    }

    /// The full update (alpha / rank) · up · down. Only for small modules and checks: the
    /// rank maths never forms it.
    pub fn delta(&self) -> Mat<f32> {
        let mut m = &self.up * &self.down;
        m *= faer::Scale(self.scale());
        m
    }
}

/// An SVD M = U · diag(S) · Vᵀ, thin, singular values in non-increasing order.
#[derive(Debug, Clone)]
pub struct Svd {
    /// out × k.
    pub u: Mat<f32>,
    /// k values, largest first.
    pub s: Vec<f32>,
    /// in × k (V, not Vᵀ).
    pub v: Mat<f32>,
}

impl Svd {
    /// kohya's layout for the first `k` triplets: up = U_k · diag(S_k), down = V_kᵀ.
    pub fn truncate(&self, k: usize) -> (Mat<f32>, Mat<f32>) {
        let k = k.min(self.s.len());
        let up = Mat::from_fn(self.u.nrows(), k, |i, j| self.u[(i, j)] * self.s[j]);
        let down = self.v.get(.., ..k).transpose().to_owned();
        (up, down)
    }
}

/// The exact SVD of up · down (up: out × R, down: R × in) from a thin QR of each factor and
/// an SVD of the small core (lora-formats.md §8.7). Returns min(out, in, R) triplets.
pub fn product_svd(up: MatRef<'_, f32>, down: MatRef<'_, f32>) -> Result<Svd, LowRankError> {
    if up.ncols() != down.nrows() {
        return Err(LowRankError::RankMismatch {
            up_rows: up.nrows(),
            up_cols: up.ncols(),
            down_rows: down.nrows(),
            down_cols: down.ncols(),
        });
    }
    if up.ncols() == 0 {
        return Err(LowRankError::EmptyRank);
    }
    let qr_up = up.qr();
    let qr_down = down.transpose().qr();
    // up = Q₁R₁, downᵀ = Q₂R₂  ⇒  up · down = Q₁ (R₁R₂ᵀ) Q₂ᵀ.
    let core = qr_up.thin_R() * qr_down.thin_R().transpose();
    let core_svd = core.thin_svd()?;
    let u = qr_up.compute_thin_Q() * core_svd.U();
    let v = qr_down.compute_thin_Q() * core_svd.V();
    let s = core_svd.S().column_vector().iter().copied().collect();
    Ok(Svd { u, s, v })
}

/// The thin SVD of a full matrix by faer's dense algorithm. O(m·n·min(m, n)).
pub fn exact_svd(a: MatRef<'_, f32>) -> Result<Svd, LowRankError> {
    let svd = a.thin_svd()?;
    Ok(Svd {
        u: svd.U().to_owned(),
        s: svd.S().column_vector().iter().copied().collect(),
        v: svd.V().to_owned(),
    })
}

/// The leading `k` singular triplets of a full matrix by a randomized range finder with
/// power iterations (Halko, Martinsson & Tropp 2011, algorithms 4.4 and 5.1), the method
/// `torch.svd_lowrank` uses. `sketch` columns are sampled (clamped to min(m, n)); each power
/// iteration re-orthonormalises so small singular values are not lost to rounding. Seeded,
/// so the result is reproducible.
pub fn randomized_svd(
    a: MatRef<'_, f32>,
    sketch: usize,
    power_iters: usize,
    seed: u64,
) -> Result<Svd, LowRankError> {
    let (m, n) = a.shape();
    let q = sketch.clamp(1, m.min(n).max(1));
    let mut rng = StdRng::seed_from_u64(seed);
    let omega: Mat<f32> = CwiseMatDistribution {
        nrows: n,
        ncols: q,
        dist: StandardNormal,
    }
    .sample(&mut rng);
    let mut basis = orthonormal_basis(a * &omega);
    for _ in 0..power_iters {
        let row_basis = orthonormal_basis(a.transpose() * &basis);
        basis = orthonormal_basis(a * &row_basis);
    }
    // A ≈ Q (Qᵀ A); the SVD of the small q × n matrix Qᵀ A gives the rest.
    let small = basis.transpose() * a;
    let svd = small.thin_svd()?;
    Ok(Svd {
        u: &basis * svd.U(),
        s: svd.S().column_vector().iter().copied().collect(),
        v: svd.V().to_owned(),
    })
}

fn orthonormal_basis(m: Mat<f32>) -> Mat<f32> {
    m.qr().compute_thin_Q()
}

/// How the new rank of a module is chosen. The dynamic rules are kohya's
/// (`networks/resize_lora.py`), applied to the singular values of the unscaled up · down.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RankRule {
    /// Keep this many singular values.
    Fixed(usize),
    /// Keep the singular values larger than S₀ / X.
    SvRatio(f32),
    /// Keep the fewest values whose Frobenius norm reaches X of the total.
    SvFro(f32),
    /// Keep the fewest values whose sum reaches X of the total.
    SvCumulative(f32),
}

/// A `--dynamic` value that is not `sv_ratio=X`, `sv_fro=X` or `sv_cumulative=X`.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not a rank rule: use sv_ratio=X (X > 1, e.g. 8), sv_fro=X or sv_cumulative=X (0 < X ≤ 1, e.g. 0.9)"
)]
pub struct RankRuleParseError(String);

impl FromStr for RankRule {
    type Err = RankRuleParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || RankRuleParseError(text.to_string());
        let (method, value) = text.split_once('=').ok_or_else(bad)?;
        let x: f32 = value.trim().parse().map_err(|_| bad())?;
        if !x.is_finite() || x <= 0.0 {
            return Err(bad());
        }
        match method.trim() {
            "sv_ratio" => Ok(RankRule::SvRatio(x)),
            "sv_fro" if x <= 1.0 => Ok(RankRule::SvFro(x)),
            "sv_cumulative" if x <= 1.0 => Ok(RankRule::SvCumulative(x)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for RankRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RankRule::Fixed(r) => write!(f, "rank {r}"),
            RankRule::SvRatio(x) => write!(f, "sv_ratio={x}"),
            RankRule::SvFro(x) => write!(f, "sv_fro={x}"),
            RankRule::SvCumulative(x) => write!(f, "sv_cumulative={x}"),
        }
    }
}

/// kohya's `rank_resize` rank choice for singular values `s` (non-increasing), capped at
/// `cap` (kohya's `--new_rank`). This follows sd-scripts after PR #2194 (off-by-one fix):
///
/// - sv_ratio: clamp(#{j : S_j > S₀/X} − 1, 0, n−1) + 1
/// - sv_cumulative: clamp(searchsorted(cumsum(S)/ΣS, X), 0, n−1) + 1
/// - sv_fro: clamp(searchsorted(cumsum(S²)/ΣS², X²), 0, n−1) + 1
///
/// then 1 if S₀ ≤ [`MIN_SV`], else at most `cap`. `searchsorted` is the left one: the first
/// index whose cumulative fraction is ≥ the target. A fixed rank is also held to n, so it
/// never exceeds the number of singular values there are. Returns 0 only for empty `s`.
pub fn select_rank(s: &[f32], rule: RankRule, cap: usize) -> usize {
    let n = s.len();
    if n == 0 {
        return 0;
    }
    let last = n - 1;
    let rank = match rule {
        RankRule::Fixed(r) => r.min(n),
        RankRule::SvRatio(x) => {
            let floor = s[0] / x;
            let above = s.iter().filter(|&&v| v > floor).count();
            above.saturating_sub(1).min(last) + 1
        }
        RankRule::SvCumulative(x) => {
            searchsorted_fraction(s.iter().map(|&v| f64::from(v)), f64::from(x)).min(last) + 1
        }
        RankRule::SvFro(x) => {
            let target = f64::from(x) * f64::from(x);
            searchsorted_fraction(s.iter().map(|&v| f64::from(v) * f64::from(v)), target).min(last)
                + 1
        }
    };
    if s[0] <= MIN_SV {
        1
    } else {
        rank.min(cap.max(1))
    }
}

/// First index where cumsum(values) / sum(values) ≥ target (n if none).
fn searchsorted_fraction(values: impl Iterator<Item = f64> + Clone, target: f64) -> usize {
    let total: f64 = values.clone().sum();
    let mut running = 0.0;
    let mut count = 0;
    for v in values {
        running += v;
        if running / total >= target {
            return count;
        }
        count += 1;
    }
    count
}

/// How much of a module's update a truncation keeps, as kohya's resize reports it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Retained {
    /// Σ_{j<r} S_j / Σ S_j; `None` when not every singular value is known (a randomized SVD).
    pub sum: Option<f64>,
    /// ‖kept‖_F / ‖all‖_F = √(Σ_{j<r} S_j²) / √(Σ S_j²): the retained (Frobenius) energy.
    pub fro: f64,
    /// S₀ / S_{r−1}; `None` when S_{r−1} is zero.
    pub max_ratio: Option<f64>,
}

impl Retained {
    /// For the first `rank` of singular values `s`. An all-zero spectrum loses nothing.
    pub fn of(s: &[f32], rank: usize) -> Self {
        let rank = rank.min(s.len());
        let sum = |it: &[f32]| it.iter().map(|&v| f64::from(v.abs())).sum::<f64>();
        let sq = |it: &[f32]| it.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
        let (total, total_sq) = (sum(s), sq(s));
        let kept = &s[..rank];
        let ratio = |num: f64, den: f64| if den > 0.0 { num / den } else { 1.0 };
        let max_ratio = match (s.first(), kept.last()) {
            (Some(&first), Some(&last)) if last > 0.0 => Some(f64::from(first) / f64::from(last)),
            _ => None,
        };
        Retained {
            sum: Some(ratio(sum(kept), total)),
            fro: ratio(sq(kept).sqrt(), total_sq.sqrt()),
            max_ratio,
        }
    }

    /// For kept singular values `kept` of a matrix whose Frobenius norm is `total_fro`, when
    /// the rest of the spectrum is unknown (a randomized SVD): only the energy is exact.
    pub fn of_leading(kept: &[f32], total_fro: f64) -> Self {
        let kept_sq: f64 = kept.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let max_ratio = match (kept.first(), kept.last()) {
            (Some(&first), Some(&last)) if last > 0.0 => Some(f64::from(first) / f64::from(last)),
            _ => None,
        };
        Retained {
            sum: None,
            fro: if total_fro > 0.0 {
                (kept_sq.sqrt() / total_fro).min(1.0)
            } else {
                1.0
            },
            max_ratio,
        }
    }
}

/// kohya's quantile clamp (`svd_merge_lora.py`, `extract_lora_from_models.py`): h is the
/// `quantile` of all signed values of up and down together (linear interpolation, as
/// `torch.quantile`), and both are clamped to [−h, h]. Lossy by design: it trims outliers
/// so half-precision files do not overflow.
pub fn clamp_quantile(up: &mut Mat<f32>, down: &mut Mat<f32>, quantile: f32) {
    let mut values = Vec::with_capacity(up.nrows() * up.ncols() + down.nrows() * down.ncols());
    for c in up.col_iter().chain(down.col_iter()) {
        values.extend(c.iter().copied());
    }
    if values.is_empty() {
        return;
    }
    let pos = f64::from(quantile.clamp(0.0, 1.0)) * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = (pos - lo as f64) as f32;
    let (_, &mut below, rest) = values.select_nth_unstable_by(lo, f32::total_cmp);
    let above = rest.iter().copied().min_by(f32::total_cmp).unwrap_or(below);
    let h = below + (above - below) * frac;
    for m in [up, down] {
        for c in m.col_iter_mut() {
            for x in c.iter_mut() {
                *x = x.clamp(-h, h);
            }
        }
    }
}

/// A row-major slice (the safetensors layout) as a faer matrix.
pub fn mat_from_row_major(rows: usize, cols: usize, data: &[f32]) -> Mat<f32> {
    MatRef::from_row_major_slice(data, rows, cols).to_owned()
}

/// A faer matrix in row-major order (the safetensors layout).
pub fn mat_to_row_major(m: MatRef<'_, f32>) -> Vec<f32> {
    let mut out = Vec::with_capacity(m.nrows() * m.ncols());
    for i in 0..m.nrows() {
        out.extend(m.row(i).iter().copied());
    }
    out
}

/// A LoRA file operation that failed: the file and module are named.
#[derive(Debug, thiserror::Error)]
pub enum RankFileError {
    // Boxed: these errors are large and the success values are passed around by value.
    #[error(transparent)]
    Lora(Box<LoraError>),
    #[error(transparent)]
    File(Box<SafetensorsError>),
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
    #[error("{path}: module `{module}`: {source}")]
    Maths {
        path: PathBuf,
        module: String,
        source: LowRankError,
    },
    #[error("{path}: module `{module}`: tensor conversion failed: {source}")]
    Tensor {
        path: PathBuf,
        module: String,
        source: Box<candle_core::Error>,
    },
    #[error("{output}: {problem}")]
    Refused { output: PathBuf, problem: String },
    #[error(
        "{path} is already rank {current}: resizing only lowers the rank, so --rank {rank} would change nothing (pick a rank below {current})"
    )]
    NotReduced {
        path: PathBuf,
        rank: usize,
        current: usize,
    },
}

impl From<LoraError> for RankFileError {
    fn from(e: LoraError) -> Self {
        RankFileError::Lora(Box::new(e))
    }
}

impl From<SafetensorsError> for RankFileError {
    fn from(e: SafetensorsError) -> Self {
        RankFileError::File(Box::new(e))
    }
}

impl RankFileError {
    pub(crate) fn maths(path: &Path, module: &str) -> impl FnOnce(LowRankError) -> Self {
        move |source| RankFileError::Maths {
            path: path.to_path_buf(),
            module: module.to_string(),
            source,
        }
    }

    pub(crate) fn tensor(path: &Path, module: &str) -> impl FnOnce(candle_core::Error) -> Self {
        move |source| RankFileError::Tensor {
            path: path.to_path_buf(),
            module: module.to_string(),
            source: Box::new(source),
        }
    }
}

/// A tensor's values as a 2-D row-major matrix: every dimension after the first flattened
/// (lora-formats.md §3).
pub fn mat_of_tensor(t: &Tensor) -> candle_core::Result<Mat<f32>> {
    let flat = t.flatten_from(1)?.to_dtype(DType::F32)?;
    let (rows, cols) = flat.dims2()?;
    let values = flat.flatten_all()?.to_vec1::<f32>()?;
    Ok(mat_from_row_major(rows, cols, &values))
}

/// A matrix as an F32 tensor of `shape` (row-major; the element counts must agree).
pub fn tensor_of_mat(m: MatRef<'_, f32>, shape: &[usize]) -> candle_core::Result<Tensor> {
    Tensor::from_vec(mat_to_row_major(m), shape, &Device::Cpu)
}

/// A LoRA module's factors, flattened to 2-D.
pub fn factors_of_module(path: &Path, m: &LoraModule) -> Result<Factors, RankFileError> {
    let tensor = RankFileError::tensor(path, &m.name);
    let up = mat_of_tensor(&m.up).map_err(tensor)?;
    let down = mat_of_tensor(&m.down).map_err(RankFileError::tensor(path, &m.name))?;
    Factors::new(up, down, m.alpha).map_err(RankFileError::maths(path, &m.name))
}

/// New factors as a module shaped like `like` (a conv keeps its kernel in down and its 1×1
/// up), under `like`'s names.
pub fn module_like(
    path: &Path,
    like: &LoraModule,
    f: &Factors,
) -> Result<LoraModule, RankFileError> {
    let tensor = |e| RankFileError::tensor(path, &like.name)(e);
    let rank = f.rank();
    let mut down_shape = vec![rank];
    down_shape.extend(&like.down.dims()[1..]);
    let mut up_shape = vec![f.out_features(), rank];
    up_shape.extend(&like.up.dims()[2..]);
    Ok(LoraModule {
        name: like.name.clone(),
        down: tensor_of_mat(f.down.as_ref(), &down_shape).map_err(tensor)?,
        up: tensor_of_mat(f.up.as_ref(), &up_shape).map_err(tensor)?,
        alpha: Some(f.alpha),
        dotted: like.dotted.clone(),
    })
}

fn all_finite(m: MatRef<'_, f32>) -> bool {
    m.col_iter().all(|c| c.iter().all(|x| x.is_finite()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaussian(rows: usize, cols: usize, seed: u64) -> Mat<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        CwiseMatDistribution {
            nrows: rows,
            ncols: cols,
            dist: StandardNormal,
        }
        .sample(&mut rng)
    }

    fn rel_err(a: MatRef<'_, f32>, b: MatRef<'_, f32>) -> f32 {
        (a - b).norm_l2() / b.norm_l2()
    }

    #[test]
    fn product_svd_reconstructs_the_product_with_orthonormal_vectors() {
        // Tall, wide and rank-above-dimension cases (a rank-8 LoRA on a 5-wide layer).
        for (out, r, inn) in [(40, 6, 30), (12, 6, 50), (5, 8, 20)] {
            let up = gaussian(out, r, 1);
            let down = gaussian(r, inn, 2);
            let svd = product_svd(up.as_ref(), down.as_ref()).unwrap();
            let k = svd.s.len();
            assert_eq!(k, out.min(inn).min(r));
            assert!(svd.s.windows(2).all(|w| w[0] >= w[1]));
            let (u_s, vt) = svd.truncate(k);
            let product = &up * &down;
            assert!(rel_err((&u_s * &vt).as_ref(), product.as_ref()) < 1e-5);
            let gram = svd.u.transpose() * &svd.u;
            assert!(rel_err(gram.as_ref(), Mat::<f32>::identity(k, k).as_ref()) < 1e-5);
        }
    }

    #[test]
    fn rank_rule_parses_kohya_spellings_and_rejects_nonsense() {
        assert_eq!(
            "sv_fro=0.9".parse::<RankRule>().unwrap(),
            RankRule::SvFro(0.9)
        );
        assert_eq!(
            "sv_ratio=8".parse::<RankRule>().unwrap(),
            RankRule::SvRatio(8.0)
        );
        assert_eq!(
            "sv_cumulative=0.5".parse::<RankRule>().unwrap(),
            RankRule::SvCumulative(0.5)
        );
        for bad in [
            "sv_fro",
            "sv_fro=1.5",
            "sv_ratio=-1",
            "svd=3",
            "sv_fro=nan",
            "",
        ] {
            assert!(bad.parse::<RankRule>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn clamp_quantile_interpolates_like_torch() {
        // The 20 values -10..-1, 1..10: torch.quantile(v, 0.9) = 8.1 (position 0.9·19 = 17.1
        // between the sorted values 8 and 9).
        let mut up = Mat::from_fn(10, 1, |i, _| (i + 1) as f32);
        let mut down = Mat::from_fn(1, 10, |_, j| -((j + 1) as f32));
        clamp_quantile(&mut up, &mut down, 0.9);
        assert!((up[(9, 0)] - 8.1).abs() < 1e-6);
        assert!((up[(8, 0)] - 8.1).abs() < 1e-6);
        assert_eq!(up[(7, 0)], 8.0);
        assert!((down[(0, 9)] + 8.1).abs() < 1e-6);
        assert_eq!(down[(0, 0)], -1.0);
    }

    #[test]
    fn row_major_round_trip_keeps_element_order() {
        let data: Vec<f32> = (0..6).map(|x| x as f32).collect();
        let m = mat_from_row_major(2, 3, &data);
        assert_eq!(m[(1, 0)], 3.0);
        assert_eq!(mat_to_row_major(m.as_ref()), data);
    }
}
