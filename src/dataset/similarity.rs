//! Exact duplicates (SHA-256 of the file bytes) and near duplicates (64-bit perceptual
//! difference hash, dHash, from the `image_hasher` crate; datasets.md §6).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use image::{DynamicImage, GrayImage};
use image_hasher::{HashAlg, HasherConfig};
use sha2::{Digest, Sha256};

/// Default largest Hamming distance (of 64 bits) reported as a near duplicate: czkawka's
/// "Medium" preset for 8×8 hashes, inside Krawetz's 1–10 "likely a variation" range
/// (datasets.md §6.2).
pub const DEFAULT_NEAR_DUPLICATE_DISTANCE: u32 = 5;

/// Side of the grid hashed instead of the full image: the hash only needs 9×8 pixels, and a
/// one-pass box filter onto this grid keeps hashing a 12 MP photo cheap.
const HASH_THUMBNAIL: u32 = 64;

/// SHA-256 of a file, read in blocks (no whole-file buffer).
pub fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

/// A 64-bit perceptual hash (dHash: brightness gradients of a 9×8 grayscale thumbnail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PerceptualHash(pub u64);

impl PerceptualHash {
    pub fn distance(self, other: PerceptualHash) -> u32 {
        (self.0 ^ other.0).count_ones()
    }
    /// All bits equal: a flat image, whose hash says nothing (czkawka skips these too).
    pub fn is_degenerate(self) -> bool {
        self.0 == 0 || self.0 == u64::MAX
    }
}

/// Hash a decoded image.
pub fn perceptual_hash(image: &DynamicImage) -> PerceptualHash {
    let hasher = HasherConfig::with_bytes_type::<[u8; 8]>()
        .hash_size(8, 8)
        .hash_alg(HashAlg::Gradient)
        .to_hasher();
    let hash = hasher.hash_image(&DynamicImage::ImageLuma8(luma_grid(image)));
    PerceptualHash(u64::from_le_bytes(hash.into_inner()))
}

/// Box-average the image's luma onto a grid of at most `HASH_THUMBNAIL`² cells, in one pass
/// over the pixel bytes (the hasher then only resizes this small grid).
fn luma_grid(image: &DynamicImage) -> GrayImage {
    let converted;
    let (bytes, channels): (&[u8], usize) = match image {
        DynamicImage::ImageLuma8(i) => (i.as_raw(), 1),
        DynamicImage::ImageLumaA8(i) => (i.as_raw(), 2),
        DynamicImage::ImageRgb8(i) => (i.as_raw(), 3),
        DynamicImage::ImageRgba8(i) => (i.as_raw(), 4),
        other => {
            converted = other.to_rgb8();
            (converted.as_raw(), 3)
        }
    };
    let (w, h) = (image.width() as usize, image.height() as usize);
    let (gw, gh) = (
        w.min(HASH_THUMBNAIL as usize),
        h.min(HASH_THUMBNAIL as usize),
    );
    if gw == 0 || gh == 0 {
        return GrayImage::new(1, 1);
    }
    // Pixel x falls in cell x·gw/w, so cell c starts at ⌈c·w/gw⌉: whole runs of a row are
    // summed per cell (no per-pixel lookup), and the counts follow from the run lengths.
    let starts: Vec<usize> = (0..=gw).map(|c| (c * w).div_ceil(gw)).collect();
    let mut sums = vec![0u64; gw * gh];
    let mut rows_in_band = vec![0u64; gh];
    for (y, row) in bytes.chunks_exact(w * channels).take(h).enumerate() {
        let band = y * gh / h;
        rows_in_band[band] += 1;
        for (c, sum) in sums[band * gw..(band + 1) * gw].iter_mut().enumerate() {
            *sum += luma_sum(
                &row[starts[c] * channels..starts[c + 1] * channels],
                channels,
            );
        }
    }
    let pixels = sums
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (band, c) = (i / gw, i % gw);
            let count = rows_in_band[band] * (starts[c + 1] - starts[c]) as u64;
            (s / count.max(1)) as u8
        })
        .collect();
    GrayImage::from_raw(gw as u32, gh as u32, pixels).unwrap_or_else(|| GrayImage::new(1, 1))
}

/// Sum of the 8-bit luma of a run of pixels with `channels` bytes each (the first three RGB).
fn luma_sum(run: &[u8], channels: usize) -> u64 {
    if channels >= 3 {
        run.chunks_exact(channels)
            .map(|p| (77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2])) >> 8)
            .map(u64::from)
            .sum()
    } else {
        run.iter().step_by(channels).map(|&v| u64::from(v)).sum()
    }
}

/// Indices of items sharing a byte hash, in groups of two or more (first index first).
pub fn exact_groups(hashes: &[Option<[u8; 32]>]) -> Vec<Vec<usize>> {
    let mut by_hash: HashMap<[u8; 32], Vec<usize>> = HashMap::new();
    for (i, h) in hashes.iter().enumerate() {
        if let Some(h) = h {
            by_hash.entry(*h).or_default().push(i);
        }
    }
    let mut groups: Vec<Vec<usize>> = by_hash.into_values().filter(|g| g.len() > 1).collect();
    groups.sort();
    groups
}

/// A pair of perceptually similar images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NearPair {
    pub a: usize,
    pub b: usize,
    pub distance: u32,
}

/// Every pair within `max_distance` (a < b), skipping degenerate hashes and pairs listed as
/// exact duplicates by the caller via `skip`.
pub fn near_pairs(
    hashes: &[Option<PerceptualHash>],
    max_distance: u32,
    skip: impl Fn(usize, usize) -> bool,
) -> Vec<NearPair> {
    let valid: Vec<(usize, PerceptualHash)> = hashes
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.filter(|h| !h.is_degenerate()).map(|h| (i, h)))
        .collect();
    let mut pairs = Vec::new();
    for (k, &(a, ha)) in valid.iter().enumerate() {
        for &(b, hb) in &valid[k + 1..] {
            let distance = ha.distance(hb);
            if distance <= max_distance && !skip(a, b) {
                pairs.push(NearPair { a, b, distance });
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn gradient(w: u32, h: u32, flip: bool) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            let v = ((x * 255 / w) as u8).wrapping_add((y * 40 / h) as u8);
            let v = if flip { 255 - v } else { v };
            Rgb([v, v / 2, 255 - v])
        }))
    }

    #[test]
    fn resized_copy_is_near_and_inverse_is_far() {
        let a = perceptual_hash(&gradient(1200, 800, false));
        let b = perceptual_hash(&gradient(600, 400, false));
        let c = perceptual_hash(&gradient(1200, 800, true));
        assert!(a.distance(b) <= DEFAULT_NEAR_DUPLICATE_DISTANCE);
        assert!(a.distance(c) > 20);
        let pairs = near_pairs(&[Some(a), Some(b), Some(c)], 5, |_, _| false);
        assert_eq!(pairs.len(), 1);
        assert_eq!((pairs[0].a, pairs[0].b), (0, 1));
    }

    #[test]
    fn exact_groups_by_hash() {
        let (x, y) = (Some([1; 32]), Some([2; 32]));
        assert_eq!(exact_groups(&[x, y, None, x]), vec![vec![0, 3]]);
    }

    #[test]
    fn grid_is_the_mean_luma_of_each_cell() {
        // Odd sizes so cells differ in width and height; every pixel type the fast path takes.
        let (w, h) = (301u32, 157u32);
        let rgba = image::RgbaImage::from_fn(w, h, |x, y| {
            image::Rgba([(x * 7 + y) as u8, (x ^ y) as u8, (y * 3) as u8, 200])
        });
        for image in [
            DynamicImage::ImageRgba8(rgba.clone()),
            DynamicImage::ImageRgba8(rgba).to_rgb8().into(),
            DynamicImage::ImageLumaA8(image::GrayAlphaImage::from_fn(w, h, |x, y| {
                image::LumaA([(x + 2 * y) as u8, 9])
            })),
        ] {
            let grid = luma_grid(&image);
            let (gw, gh) = (grid.width() as usize, grid.height() as usize);
            let mut sums = vec![(0u64, 0u64); gw * gh];
            let rgb = image.to_rgb8();
            for (x, y, p) in rgb.enumerate_pixels() {
                let luma = match image {
                    DynamicImage::ImageLumaA8(_) => u64::from(p[0]),
                    _ => (77 * u64::from(p[0]) + 150 * u64::from(p[1]) + 29 * u64::from(p[2])) >> 8,
                };
                let cell = (y as usize * gh / h as usize) * gw + x as usize * gw / w as usize;
                sums[cell].0 += luma;
                sums[cell].1 += 1;
            }
            let expected: Vec<u8> = sums.iter().map(|(s, n)| (s / n) as u8).collect();
            assert_eq!(grid.as_raw(), &expected);
        }
    }
}
