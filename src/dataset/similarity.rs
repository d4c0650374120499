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

/// SHA-256 of bytes already in memory.
pub fn sha256_bytes(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
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
    let cell_of_x: Vec<usize> = (0..w).map(|x| x * gw / w).collect();
    let mut sums = vec![0u64; gw * gh];
    let mut counts = vec![0u64; gw * gh];
    for (y, row) in bytes.chunks_exact(w * channels).take(h).enumerate() {
        let base = (y * gh / h) * gw;
        for (x, px) in row.chunks_exact(channels).enumerate() {
            let luma = if channels >= 3 {
                (77 * u64::from(px[0]) + 150 * u64::from(px[1]) + 29 * u64::from(px[2])) >> 8
            } else {
                u64::from(px[0])
            };
            let cell = base + cell_of_x[x];
            sums[cell] += luma;
            counts[cell] += 1;
        }
    }
    let pixels = sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| (s / (*c).max(1)) as u8)
        .collect();
    GrayImage::from_raw(gw as u32, gh as u32, pixels).unwrap_or_else(|| GrayImage::new(1, 1))
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
        let x = Some(sha256_bytes(b"x"));
        let y = Some(sha256_bytes(b"y"));
        assert_eq!(exact_groups(&[x, y, None, x]), vec![vec![0, 3]]);
    }
}
