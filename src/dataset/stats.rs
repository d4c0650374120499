//! Dataset statistics: images per folder with repeats, resolution and aspect histograms, the
//! bucket table with its images, tag frequency and the CLIP token-count distribution.
//!
//! Image sizes come from the file headers only (no pixel decode), read in parallel.

use std::collections::BTreeMap;
use std::path::Path;

use image::metadata::Orientation;
use image::{ImageDecoder, ImageReader};
use rayon::prelude::*;
use serde::Serialize;

use super::buckets::{BucketError, Size};
use super::caption::split_tags;
use super::lint::{BucketUse, LintOptions, Trainer, assign_buckets};
use super::scan::Dataset;
use super::tokens::{self, CLIP_TOKEN_LIMIT};

/// One bar of a histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bin {
    pub label: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FolderStat {
    /// Relative folder path (`.` for the top).
    pub path: String,
    /// kohya `N_name`: the class tokens and repeats (1 for other folders).
    pub name: Option<String>,
    pub repeats: u32,
    pub images: usize,
    /// images × repeats: how often the folder is seen per epoch.
    pub per_epoch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagCount {
    pub tag: String,
    /// Images whose caption holds the tag.
    pub count: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagSort {
    /// Most frequent first, then by name.
    Count,
    Name,
}

/// Sort the tag table for display.
pub fn sort_tags(tags: &mut [TagCount], by: TagSort) {
    match by {
        TagSort::Count => {
            tags.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.tag.cmp(&b.tag)))
        }
        TagSort::Name => tags.sort_by_key(|t| t.tag.to_lowercase()),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenStats {
    pub bins: Vec<Bin>,
    pub max: usize,
    pub mean: f64,
    /// Captions over the 75-token CLIP limit.
    pub over_limit: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub images: usize,
    pub folders: Vec<FolderStat>,
    /// Megapixels.
    pub resolutions: Vec<Bin>,
    /// Width / height.
    pub aspects: Vec<Bin>,
    pub buckets: Vec<BucketUse>,
    /// Most frequent first.
    pub tags: Vec<TagCount>,
    pub tokens: TokenStats,
    /// Images whose size could not be read.
    pub unreadable: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("bucket settings: {0}")]
    Buckets(#[from] BucketError),
    #[error("{0}")]
    Tokenizer(String),
}

const MEGAPIXEL_EDGES: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
const ASPECT_EDGES: [f64; 8] = [0.5, 0.67, 0.8, 0.95, 1.05, 1.25, 1.5, 2.0];
const TOKEN_EDGES: [usize; 5] = [25, 50, 75, 100, 150];

/// Size from the header, with the EXIF orientation, without decoding pixels.
fn header_size(path: &Path) -> Option<(Size, Orientation)> {
    let reader = ImageReader::open(path).ok()?.with_guessed_format().ok()?;
    let mut decoder = reader.into_decoder().ok()?;
    let (w, h) = decoder.dimensions();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    Some((Size::new(w, h), orientation))
}

fn oriented(size: Size, orientation: Orientation, trainer: Trainer) -> Size {
    let rotated = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    if rotated && trainer.applies_exif() {
        Size::new(size.h, size.w)
    } else {
        size
    }
}

fn float_bins(values: &[f64], edges: &[f64], precision: usize) -> Vec<Bin> {
    let mut counts = vec![0usize; edges.len() + 1];
    for &v in values {
        let bin = edges.iter().position(|&e| v < e).unwrap_or(edges.len());
        counts[bin] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| {
            let label = match i {
                0 => format!("< {:.*}", precision, edges[0]),
                i if i == edges.len() => format!(">= {:.*}", precision, edges[i - 1]),
                i => format!("{:.*}-{:.*}", precision, edges[i - 1], precision, edges[i]),
            };
            Bin { label, count }
        })
        .collect()
}

fn token_bins(counts: &[usize]) -> Vec<Bin> {
    let mut bins: Vec<Bin> = Vec::new();
    let mut low = 0;
    for &edge in TOKEN_EDGES.iter() {
        bins.push(Bin {
            label: format!("{low}-{edge}"),
            count: counts.iter().filter(|&&c| c >= low && c <= edge).count(),
        });
        low = edge + 1;
    }
    bins.push(Bin {
        label: format!("> {}", low - 1),
        count: counts.iter().filter(|&&c| c >= low).count(),
    });
    bins
}

/// Compute the statistics of the included images.
pub fn compute(dataset: &Dataset, options: &LintOptions) -> Result<Stats, StatsError> {
    let tokenizer = tokens::clip().map_err(|e| StatsError::Tokenizer(e.to_string()))?;
    let headers: Vec<Option<(Size, Orientation)>> = dataset
        .items
        .par_iter()
        .map(|item| {
            if item.excluded {
                None
            } else {
                header_size(&dataset.abs_path(item))
            }
        })
        .collect();
    let included: Vec<usize> = (0..dataset.items.len())
        .filter(|&i| !dataset.items[i].excluded)
        .collect();
    let sizes: Vec<Option<Size>> = headers
        .iter()
        .map(|h| h.map(|(s, o)| oriented(s, o, options.trainer)))
        .collect();
    let (_, buckets) = assign_buckets(dataset, &sizes, options)?;

    let mut folders: BTreeMap<String, FolderStat> = BTreeMap::new();
    let mut tag_counts: BTreeMap<String, TagCount> = BTreeMap::new();
    let mut token_counts = Vec::new();
    let mut unreadable = Vec::new();
    for &i in &included {
        let item = &dataset.items[i];
        let (path, name, repeats) = match &item.folder {
            Some(f) => (
                f.path.to_string_lossy().into_owned(),
                Some(f.name.clone()),
                f.repeats,
            ),
            None => {
                let parent = item.path.parent().map(|p| p.to_string_lossy().into_owned());
                (
                    parent
                        .filter(|p| !p.is_empty())
                        .unwrap_or_else(|| ".".into()),
                    None,
                    1,
                )
            }
        };
        let entry = folders.entry(path.clone()).or_insert(FolderStat {
            path,
            name,
            repeats,
            images: 0,
            per_epoch: 0,
        });
        entry.images += 1;
        entry.per_epoch += u64::from(repeats);
        if headers[i].is_none() {
            unreadable.push(item.path.to_string_lossy().into_owned());
        }
        if let Some(text) = item.caption.text() {
            let mut seen: Vec<String> = Vec::new();
            for tag in text.split('\n').flat_map(split_tags) {
                let key = tag.to_lowercase();
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key.clone());
                tag_counts
                    .entry(key)
                    .or_insert(TagCount { tag, count: 0 })
                    .count += 1;
            }
            let first = text.split('\n').next().unwrap_or_default();
            token_counts.push(tokenizer.encode(first).len());
        }
    }
    let megapixels: Vec<f64> = sizes
        .iter()
        .flatten()
        .map(|s| s.area() as f64 / 1e6)
        .collect();
    let aspects: Vec<f64> = sizes
        .iter()
        .flatten()
        .filter(|s| s.h > 0)
        .map(|s| s.aspect())
        .collect();
    let mut tags: Vec<TagCount> = tag_counts.into_values().collect();
    sort_tags(&mut tags, TagSort::Count);
    let tokens = TokenStats {
        bins: token_bins(&token_counts),
        max: token_counts.iter().copied().max().unwrap_or(0),
        mean: if token_counts.is_empty() {
            0.0
        } else {
            token_counts.iter().sum::<usize>() as f64 / token_counts.len() as f64
        },
        over_limit: token_counts
            .iter()
            .filter(|&&c| c > CLIP_TOKEN_LIMIT)
            .count(),
    };
    Ok(Stats {
        images: included.len(),
        folders: folders.into_values().collect(),
        resolutions: float_bins(&megapixels, &MEGAPIXEL_EDGES, 2),
        aspects: float_bins(&aspects, &ASPECT_EDGES, 2),
        buckets,
        tags,
        tokens,
        unreadable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_every_value_once() {
        let bins = float_bins(&[0.1, 0.5, 0.99, 1.0, 30.0], &[0.5, 1.0], 1);
        let counts: Vec<usize> = bins.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![1, 2, 2]);
        assert_eq!(bins[0].label, "< 0.5");
        assert_eq!(bins[2].label, ">= 1.0");
    }
}
