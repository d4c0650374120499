//! Reduced inverse DCTs: an 8x8 block of coefficients to a `W`x`H` block of pixels (each 1, 2,
//! 4 or 8), from the block's `W`x`H` lowest frequencies. That is the N-point inverse DCT of
//! the low coefficients, scaled so a 1x1 output is the block's mean, as libjpeg's scaled
//! decoding does (T.81 A.3.3 with N in place of 8).
//!
//! A component subsampled 2x (chroma in 4:2:0) gets an output block twice as wide and tall as
//! the luma's, so every plane comes out at the same scale and needs no upsampling.

use std::f32::consts::{FRAC_1_SQRT_2, PI};

/// `basis[x][u] = C(u) cos((2x + 1) u pi / 2N) / 2` for one output size N.
pub(super) type Basis = [[f32; 8]; 8];

/// The basis for an N-point inverse DCT, N in 1, 2, 4, 8.
pub(super) fn basis(n: usize) -> Basis {
    let mut out = [[0.0; 8]; 8];
    for (x, row) in out.iter_mut().enumerate().take(n) {
        for (u, value) in row.iter_mut().enumerate().take(n) {
            let c = if u == 0 { FRAC_1_SQRT_2 } else { 1.0 };
            let angle = (2 * x + 1) as f32 * u as f32 * PI / (2 * n) as f32;
            *value = c * angle.cos() / 2.0;
        }
    }
    out
}

/// Writes one block's pixels at the start of `out`, rows `stride` apart.
pub(super) type BlockIdct = fn(&[i32; 64], &Basis, &Basis, &mut [u8], usize);

/// The inverse DCT for a `width` x `height` output block; `None` for sizes it has none for.
pub(super) fn for_size(width: usize, height: usize) -> Option<BlockIdct> {
    fn by_height<const W: usize>(height: usize) -> Option<BlockIdct> {
        Some(match height {
            1 => idct::<W, 1>,
            2 => idct::<W, 2>,
            4 => idct::<W, 4>,
            8 => idct::<W, 8>,
            _ => return None,
        })
    }
    match width {
        1 => by_height::<1>(height),
        2 => by_height::<2>(height),
        4 => by_height::<4>(height),
        8 => by_height::<8>(height),
        _ => None,
    }
}

/// Rows first (only the `H` lowest rows of coefficients matter), then columns; the +128 level
/// shift and rounding go into the column sums.
fn idct<const W: usize, const H: usize>(
    coefficients: &[i32; 64],
    horizontal: &Basis,
    vertical: &Basis,
    out: &mut [u8],
    stride: usize,
) {
    let mut rows = [[0.0f32; W]; H];
    for (v, row) in rows.iter_mut().enumerate() {
        let input = &coefficients[v * 8..v * 8 + W];
        for (x, value) in row.iter_mut().enumerate() {
            let basis = &horizontal[x];
            *value = input.iter().zip(basis).map(|(&c, &b)| c as f32 * b).sum();
        }
    }
    for (y, basis) in vertical.iter().enumerate().take(H) {
        let line = &mut out[y * stride..y * stride + W];
        for (x, pixel) in line.iter_mut().enumerate() {
            let mut sum = 128.5f32;
            for (row, &b) in rows.iter().zip(basis) {
                sum += row[x] * b;
            }
            *pixel = sum.clamp(0.0, 255.0) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full 8x8 inverse DCT straight from T.81 A.3.3.
    fn reference_8x8(coefficients: &[i32; 64]) -> [f32; 64] {
        let mut out = [0.0; 64];
        for y in 0..8 {
            for x in 0..8 {
                let mut sum = 0.0f64;
                for v in 0..8 {
                    for u in 0..8 {
                        let cu = if u == 0 { 0.5f64.sqrt() } else { 1.0 };
                        let cv = if v == 0 { 0.5f64.sqrt() } else { 1.0 };
                        sum += cu
                            * cv
                            * f64::from(coefficients[v * 8 + u])
                            * (((2 * x + 1) * u) as f64 * std::f64::consts::PI / 16.0).cos()
                            * (((2 * y + 1) * v) as f64 * std::f64::consts::PI / 16.0).cos();
                    }
                }
                out[y * 8 + x] = (sum / 4.0 + 128.0) as f32;
            }
        }
        out
    }

    fn block() -> [i32; 64] {
        let mut c = [0i32; 64];
        for (i, value) in c.iter_mut().enumerate() {
            // Falling with frequency, signs mixed, like a real block.
            *value = ((i as i32 * 37) % 23 - 11) * 40 / (1 + i as i32);
        }
        c[0] = -300;
        c
    }

    fn run(width: usize, height: usize, c: &[i32; 64]) -> Vec<u8> {
        let mut out = vec![0u8; width * height];
        let idct = for_size(width, height).expect("supported size");
        idct(c, &basis(width), &basis(height), &mut out, width);
        out
    }

    #[test]
    fn full_size_matches_the_standard_definition() {
        let c = block();
        let reference = reference_8x8(&c);
        for (got, want) in run(8, 8, &c).iter().zip(reference) {
            assert!(
                (f32::from(*got) - want.clamp(0.0, 255.0)).abs() <= 0.51,
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn one_by_one_is_the_block_mean() {
        let c = block();
        let mean = reference_8x8(&c).iter().sum::<f32>() / 64.0;
        assert_eq!(run(1, 1, &c), [(mean + 0.5) as u8]);
    }

    #[test]
    fn reduced_sizes_follow_the_low_frequencies() {
        // With only low frequencies present, a 4x4 output samples the same smooth surface
        // the 8x8 one does: each output is close to the mean of the 2x2 pixels it covers.
        let mut c = [0i32; 64];
        c[0] = 100;
        c[1] = -60;
        c[8] = 45;
        c[9] = 20;
        let full = reference_8x8(&c);
        let small = run(4, 4, &c);
        for y in 0..4 {
            for x in 0..4 {
                let mean = (full[(2 * y) * 8 + 2 * x]
                    + full[(2 * y) * 8 + 2 * x + 1]
                    + full[(2 * y + 1) * 8 + 2 * x]
                    + full[(2 * y + 1) * 8 + 2 * x + 1])
                    / 4.0;
                let got = f32::from(small[y * 4 + x]);
                assert!((got - mean).abs() < 2.0, "({x},{y}): {got} vs {mean}");
            }
        }
    }

    #[test]
    fn unsupported_sizes_have_no_transform() {
        assert!(for_size(3, 3).is_none());
        assert!(for_size(8, 16).is_none());
    }
}
