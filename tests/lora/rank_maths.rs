//! resize, mix and extract against a float64 reference of the formulas.
//!
//! The reference is computed here in f64 straight from the full products (Σ wᵢ αᵢ/rᵢ UᵢDᵢ,
//! then faer's dense f64 SVD of that full matrix for truncations), never through the
//! QR-of-factors path under test. Products (up · down) are compared, not factors: singular
//! vectors are only defined up to sign (lora-formats.md §8.7).
//!
//! Tolerances: the code under test works in f32, so relative Frobenius errors are held to
//! 1e-4 for exact results (about 100 f32 ulps over these sizes) and to a few times the
//! injected noise for extraction.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use faer::stats::prelude::{
    CwiseMatDistribution, Distribution, SeedableRng, StandardNormal, StdRng,
};
use faer::{Mat, MatRef};
use lorabench::lora::extract::{ExtractOptions, SvdMethod, extract_factors};
use lorabench::lora::lowrank::{Factors, RankRule, select_rank};
use lorabench::lora::mix::{Weighted, mix_exact, mix_reduced};
use lorabench::lora::resize::resize_factors;

const EXACT_TOL: f64 = 1e-4;

fn gaussian(rows: usize, cols: usize, seed: u64) -> Mat<f32> {
    CwiseMatDistribution {
        nrows: rows,
        ncols: cols,
        dist: StandardNormal,
    }
    .sample(&mut StdRng::seed_from_u64(seed))
}

fn to_f64(m: MatRef<'_, f32>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| f64::from(m[(i, j)]))
}

/// (alpha / r) · up · down in f64.
fn reference_delta(f: &Factors) -> Mat<f64> {
    let scale = f64::from(f.alpha) / f.rank() as f64;
    let mut m = to_f64(f.up.as_ref()) * to_f64(f.down.as_ref());
    m *= faer::Scale(scale);
    m
}

/// Best rank-k approximation of `m` by a dense f64 SVD of the full matrix, and its
/// singular values.
fn reference_truncation(m: &Mat<f64>, k: usize) -> (Mat<f64>, Vec<f64>) {
    let svd = m.thin_svd().expect("f64 reference SVD");
    let s: Vec<f64> = svd.S().column_vector().iter().copied().collect();
    let u = svd.U().get(.., ..k);
    let v = svd.V().get(.., ..k);
    let us = Mat::from_fn(m.nrows(), k, |i, j| u[(i, j)] * s[j]);
    (us * v.transpose(), s)
}

fn rel_err(got: MatRef<'_, f32>, want: &Mat<f64>) -> f64 {
    (to_f64(got) - want).norm_l2() / want.norm_l2()
}

fn lora(out: usize, rank: usize, inn: usize, alpha: f32, seed: u64) -> Factors {
    // Scaled like trained factors (|up·down| ~ 1e-2), so absolute sizes are realistic.
    let mut up = gaussian(out, rank, seed);
    up *= faer::Scale(0.01);
    let down = gaussian(rank, inn, seed + 1000);
    Factors::new(up, down, Some(alpha)).unwrap()
}

/// Factors whose product has exactly the singular values `s` (orthonormal U, V).
fn with_spectrum(out: usize, inn: usize, s: &[f32], seed: u64) -> Factors {
    let k = s.len();
    let u = gaussian(out, k, seed).qr().compute_thin_Q();
    let v = gaussian(inn, k, seed + 1).qr().compute_thin_Q();
    let up = Mat::from_fn(out, k, |i, j| u[(i, j)] * s[j]);
    Factors::new(up, v.transpose().to_owned(), None).unwrap()
}

#[test]
fn resize_matches_the_f64_truncated_svd_of_the_full_product() {
    // Linear, wide, and a 3×3 conv flattened to (out, in·9).
    for (out, rank, inn, alpha, new_rank) in [
        (64, 16, 48, 8.0, 4),
        (32, 12, 96, 1.0, 5),
        (40, 8, 20 * 9, 4.0, 3),
    ] {
        let f = lora(out, rank, inn, alpha, 7);
        let (resized, report) = resize_factors(&f, RankRule::Fixed(new_rank), None).unwrap();
        let (want, s) = reference_truncation(&reference_delta(&f), new_rank);
        let err = rel_err(resized.delta().as_ref(), &want);
        assert!(
            err < EXACT_TOL,
            "{out}x{inn} r{rank}->{new_rank}: rel err {err}"
        );
        assert_eq!(resized.rank(), new_rank);
        // kohya's convention: alpha_new = old scale · new rank.
        assert!((resized.alpha - alpha / rank as f32 * new_rank as f32).abs() < 1e-6);
        // Retained energy against the reference spectrum (of the scaled product; a ratio,
        // so the scale cancels).
        let kept: f64 = s[..new_rank].iter().map(|x| x * x).sum();
        let total: f64 = s.iter().map(|x| x * x).sum();
        assert!((report.retained.fro - (kept / total).sqrt()).abs() < 1e-5);
        let kept_sum: f64 = s[..new_rank].iter().sum();
        let total_sum: f64 = s.iter().sum();
        let sum = report.retained.sum.expect("exact SVD knows every value");
        assert!((sum - kept_sum / total_sum).abs() < 1e-4);
    }
}

#[test]
fn resize_at_full_rank_keeps_the_strength() {
    let f = lora(50, 10, 70, 3.0, 11);
    let (resized, report) = resize_factors(&f, RankRule::Fixed(10), None).unwrap();
    assert_eq!(report.new_rank, 10);
    assert!((resized.scale() - f.scale()).abs() < 1e-7);
    let err = rel_err(resized.delta().as_ref(), &reference_delta(&f));
    assert!(err < EXACT_TOL, "rel err {err}");
    assert!((report.retained.fro - 1.0).abs() < 1e-6);
}

#[test]
fn resize_without_alpha_uses_scale_one() {
    let f = Factors::new(gaussian(20, 6, 1), gaussian(6, 30, 2), None).unwrap();
    assert_eq!(f.alpha, 6.0);
    let (resized, _) = resize_factors(&f, RankRule::Fixed(3), None).unwrap();
    assert_eq!(resized.alpha, 3.0);
}

#[test]
fn dynamic_rules_pick_kohyas_rank_on_constructed_spectra() {
    // S = [10, 5, 2, 1, 0.5]. Hand-derived, following sd-scripts after PR #2194:
    //   sv_ratio=X keeps S_j > 10/X.
    //   cumsum(S)/ΣS = .5405 .8108 .9189 .9730 1; cumsum(S²)/ΣS² = .7678 .9597 .9904 .9981 1.
    let s = [10.0, 5.0, 2.0, 1.0, 0.5];
    let cases = [
        (RankRule::SvRatio(4.0), 2),       // > 2.5: 10, 5
        (RankRule::SvRatio(5.0), 2),       // > 2 (strictly): 10, 5
        (RankRule::SvRatio(20.0), 4),      // > 0.5: all but the last
        (RankRule::SvRatio(100.0), 5),     // all five
        (RankRule::SvCumulative(0.5), 1),  // .5405 ≥ .5 at index 0
        (RankRule::SvCumulative(0.8), 2),  // .8108 at index 1
        (RankRule::SvCumulative(0.95), 4), // .9730 at index 3
        (RankRule::SvCumulative(1.0), 5),  // reached only at the end
        (RankRule::SvFro(0.87), 1),        // .87² = .7569 ≤ .7678
        (RankRule::SvFro(0.9), 2),         // .81 ≤ .9597
        (RankRule::SvFro(0.99), 3),        // .9801 ≤ .9904
        (RankRule::Fixed(3), 3),
        (RankRule::Fixed(9), 5), // never more values than there are
    ];
    for (rule, want) in cases {
        assert_eq!(select_rank(&s, rule, usize::MAX), want, "{rule}");
    }
    // The cap (kohya's --new_rank) bounds the dynamic rules.
    assert_eq!(select_rank(&s, RankRule::SvRatio(100.0), 3), 3);
    // A ~zero product (S₀ ≤ 1e-6) becomes rank 1 whatever the rule.
    let tiny = [1e-7, 5e-8, 1e-8];
    assert_eq!(
        select_rank(&tiny, RankRule::SvCumulative(1.0), usize::MAX),
        1
    );
    assert_eq!(select_rank(&tiny, RankRule::Fixed(3), usize::MAX), 1);
}

#[test]
fn dynamic_resize_finds_the_rank_of_a_constructed_lora() {
    // A rank-16 LoRA whose product has three strong directions and thirteen faint ones.
    let mut s = vec![4.0f32, 3.0, 2.0];
    s.extend(std::iter::repeat_n(1e-3, 13));
    let f = with_spectrum(80, 60, &s, 5);
    let (resized, report) = resize_factors(&f, RankRule::SvFro(0.999), None).unwrap();
    assert_eq!(report.new_rank, 3);
    assert!(report.retained.fro > 0.999);
    let (_, report) = resize_factors(&f, RankRule::SvRatio(100.0), Some(2)).unwrap();
    assert_eq!(report.new_rank, 2, "the cap wins over the rule");
    // Dropping the faint directions barely changes the update.
    let err = rel_err(resized.delta().as_ref(), &reference_delta(&f));
    assert!(err < 1e-3, "rel err {err}");
}

fn weighted_reference(parts: &[(&Factors, f32)]) -> Mat<f64> {
    let mut sum = Mat::<f64>::zeros(parts[0].0.out_features(), parts[0].0.in_features());
    for (f, w) in parts {
        let mut d = reference_delta(f);
        d *= faer::Scale(f64::from(*w));
        sum += d;
    }
    sum
}

#[test]
fn exact_mix_equals_the_weighted_sum_of_the_updates() {
    let a = lora(48, 8, 40, 4.0, 21);
    let b = lora(48, 16, 40, 16.0, 22);
    let c = lora(48, 4, 40, 1.0, 23);
    let parts = [(&a, 1.0), (&b, -0.6), (&c, 0.25)];
    let weighted: Vec<_> = parts
        .iter()
        .map(|&(factors, weight)| Weighted { factors, weight })
        .collect();
    let mixed = mix_exact(&weighted).unwrap();
    assert_eq!(mixed.rank(), 28);
    assert_eq!(mixed.scale(), 1.0);
    let err = rel_err(mixed.delta().as_ref(), &weighted_reference(&parts));
    assert!(err < EXACT_TOL, "rel err {err}");
}

#[test]
fn reduced_mix_is_the_best_rank_n_approximation_of_the_sum() {
    let a = lora(64, 8, 56, 8.0, 31);
    let b = lora(64, 8, 56, 2.0, 32);
    let parts = [(&a, 0.7), (&b, 1.3)];
    let weighted: Vec<_> = parts
        .iter()
        .map(|&(factors, weight)| Weighted { factors, weight })
        .collect();
    for rank in [4, 16, 40] {
        let (mixed, retained) = mix_reduced(&weighted, rank, None).unwrap();
        let kept = rank.min(16);
        assert_eq!(mixed.rank(), kept, "rank is at most Σrᵢ");
        assert_eq!(mixed.scale(), 1.0);
        let (want, s) = reference_truncation(&weighted_reference(&parts), kept);
        let err = rel_err(mixed.delta().as_ref(), &want);
        assert!(err < EXACT_TOL, "rank {rank}: rel err {err}");
        let energy = (s[..kept].iter().map(|x| x * x).sum::<f64>()
            / s.iter().map(|x| x * x).sum::<f64>())
        .sqrt();
        assert!((retained.fro - energy).abs() < 1e-5);
    }
}

#[test]
fn mixing_modules_of_different_shapes_is_refused() {
    let a = lora(16, 4, 8, 4.0, 1);
    let b = lora(16, 4, 9, 4.0, 2);
    let parts = [
        Weighted {
            factors: &a,
            weight: 1.0,
        },
        Weighted {
            factors: &b,
            weight: 1.0,
        },
    ];
    assert!(mix_exact(&parts).is_err());
    assert!(mix_reduced(&parts, 2, None).is_err());
    assert!(mix_exact(&[]).is_err());
}

/// tuned = base + L + noise with L of rank k; extracting rank k from tuned − base and merging
/// it back must give base + L up to the noise.
#[test]
fn extract_then_merge_recovers_the_low_rank_part_of_a_difference() {
    let k = 6;
    for (out, inn, method) in [
        (96, 72, SvdMethod::Exact),
        (96, 72, SvdMethod::Randomized),
        (40, 16 * 9, SvdMethod::Auto), // a 3×3 conv flattened
    ] {
        let base = gaussian(out, inn, 41);
        let mut low_rank = gaussian(out, k, 42) * gaussian(k, inn, 43);
        low_rank *= faer::Scale(0.01);
        let mut noise = gaussian(out, inn, 44);
        // Noise ~1e-3 of the low-rank part in Frobenius norm.
        noise *= faer::Scale(1e-3 * low_rank.norm_l2() / noise.norm_l2());
        let tuned = &base + &low_rank + &noise;
        let delta = &tuned - &base;
        let opts = ExtractOptions {
            rank: k,
            method,
            clamp_quantile: None,
        };
        let extracted = extract_factors(delta.as_ref(), &opts).unwrap();
        assert_eq!(extracted.factors.rank(), k);
        assert_eq!(extracted.factors.scale(), 1.0);
        let merged = &base + extracted.factors.delta();
        let want = to_f64(base.as_ref()) + to_f64(low_rank.as_ref());
        let err = (to_f64(merged.as_ref()) - &want).norm_l2() / to_f64(low_rank.as_ref()).norm_l2();
        assert!(err < 3e-3, "{out}x{inn} {method:?}: rel err {err}");
        assert!(extracted.retained.fro > 0.999);
        assert_ne!(extracted.method, SvdMethod::Auto);
    }
}

#[test]
fn extract_caps_the_rank_at_the_smaller_dimension() {
    let delta = gaussian(5, 30, 3);
    let opts = ExtractOptions {
        rank: 16,
        method: SvdMethod::Auto,
        clamp_quantile: None,
    };
    let extracted = extract_factors(delta.as_ref(), &opts).unwrap();
    assert_eq!(extracted.factors.rank(), 5);
    let err = rel_err(extracted.factors.delta().as_ref(), &to_f64(delta.as_ref()));
    assert!(
        err < EXACT_TOL,
        "rank 5 of a 5-row matrix is exact: rel err {err}"
    );
}

#[test]
fn extract_with_clamp_bounds_every_factor_value() {
    let delta = gaussian(60, 50, 9);
    let opts = ExtractOptions {
        rank: 8,
        method: SvdMethod::Exact,
        clamp_quantile: Some(0.9),
    };
    let f = extract_factors(delta.as_ref(), &opts).unwrap().factors;
    let max = |m: &Mat<f32>| {
        m.col_iter()
            .flat_map(|c| c.iter().map(|x| x.abs()).collect::<Vec<_>>())
            .fold(0.0f32, f32::max)
    };
    let unclamped = extract_factors(
        delta.as_ref(),
        &ExtractOptions {
            clamp_quantile: None,
            ..opts
        },
    )
    .unwrap()
    .factors;
    let h = max(&f.up).max(max(&f.down));
    assert!(h < max(&unclamped.up).max(max(&unclamped.down)));
}
