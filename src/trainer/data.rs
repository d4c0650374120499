//! The training data from the run's dataset snapshot: images read by the dataset core, sized
//! to their aspect-ratio bucket (sd-scripts' rule, `dataset::buckets`) and encoded once by the
//! VAE; captions tokenized with our CLIP tokenizer and encoded by the frozen text encoder,
//! afresh per draw when they are shuffled or dropped. Latents and fixed-caption embeddings
//! are cached in the run folder, so a resumed run reads exactly what the first one trained on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::encoders::{TextEncoder, Vae};
use super::rng::Rng;
use super::session::{Conditioning, Example};
use super::{Result, TrainerError};
use crate::dataset::buckets::{KohyaBuckets, KohyaConfig, Size};
use crate::dataset::{ScanOptions, scan};

/// `dataset.buckets` as the worker gets it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    pub min: u32,
    pub max: u32,
    pub step: u32,
    #[serde(default)]
    pub no_upscale: bool,
}

/// Where the data is and how captions are varied.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// The run's dataset snapshot.
    pub dataset_dir: PathBuf,
    pub caption_extension: String,
    pub resolution: u32,
    /// Aspect-ratio buckets; without them every image is resized and centre-cropped square.
    #[serde(default)]
    pub buckets: Option<BucketSpec>,
    /// Overrides the `N_name` folders' repeat counts.
    #[serde(default)]
    pub repeats: Option<u32>,
    #[serde(default)]
    pub shuffle_caption: bool,
    /// Leading comma-separated tags kept in place when shuffling.
    #[serde(default)]
    pub keep_tokens: usize,
    /// Probability of training an example on the empty caption.
    #[serde(default)]
    pub caption_dropout: f64,
    /// The latent and text-embedding caches (in the run folder).
    pub cache_dir: PathBuf,
}

/// The examples and how their captions are drawn.
pub struct Data {
    pub examples: Vec<Example>,
    pub captions: Captions,
    /// Images skipped as unreadable, with the reason.
    pub skipped: Vec<String>,
}

/// One safetensors file of tensors by key, read at start and written back when it grew.
struct Cache {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
    grew: bool,
}

impl Cache {
    fn open(path: PathBuf) -> Cache {
        // A damaged cache is rebuilt, not fatal: it holds nothing that cannot be recomputed.
        let tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap_or_default();
        Cache {
            path,
            tensors,
            grew: false,
        }
    }

    fn get_or(&mut self, key: String, make: impl FnOnce() -> Result<Tensor>) -> Result<Tensor> {
        if let Some(t) = self.tensors.get(&key) {
            return Ok(t.clone());
        }
        // Detached: the frozen encoders' graph never reaches the loss (tests/trainer/grads.rs).
        // Kept in host memory, as the cache file is; the session moves each batch to the GPU.
        let t = make()?
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .contiguous()?
            .detach();
        self.tensors.insert(key, t.clone());
        self.grew = true;
        Ok(t)
    }

    fn save(&self) -> Result<()> {
        if !self.grew {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| TrainerError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut tensors: Vec<(String, Tensor)> = self
            .tensors
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let tmp = self.path.with_extension("partial");
        crate::lora::safetensors::write_tensors(&tmp, &tensors, &Default::default(), false)?;
        std::fs::rename(&tmp, &self.path).map_err(|source| TrainerError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

fn key(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The image at `path` resized to cover `bucket` and centre-cropped to it, as (3, H, W) in
/// [-1, 1].
fn image_tensor(path: &Path, resized: Size, bucket: Size) -> std::result::Result<Tensor, String> {
    let img = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())?
        .to_rgb8();
    let (rw, rh) = (resized.w.max(bucket.w), resized.h.max(bucket.h));
    let img = image::imageops::resize(&img, rw, rh, image::imageops::FilterType::CatmullRom);
    let (x, y) = ((rw - bucket.w) / 2, (rh - bucket.h) / 2);
    let img = image::imageops::crop_imm(&img, x, y, bucket.w, bucket.h).to_image();
    let (w, h) = (bucket.w as usize, bucket.h as usize);
    Tensor::from_vec(img.into_raw(), (h, w, 3), &Device::Cpu)
        .and_then(|t| t.permute((2, 0, 1)))
        .and_then(|t| t.to_dtype(DType::F32))
        .and_then(|t| t.affine(1.0 / 127.5, -1.0))
        .map_err(|e| e.to_string())
}

/// Reads the snapshot, encodes what the caches lack, and returns the examples.
pub fn load(spec: &DataSpec, vae: &Vae, text: TextEncoder, seed: u64) -> Result<Data> {
    let dataset = scan(
        &spec.dataset_dir,
        &ScanOptions::with_caption_ext(&spec.caption_extension),
    )
    .map_err(|e| TrainerError::Config {
        path: spec.dataset_dir.clone(),
        problem: e.to_string(),
    })?;
    let step = vae.factor as u32 * 8;
    let buckets = KohyaBuckets::new(KohyaConfig {
        resolution: Size::new(spec.resolution, spec.resolution),
        enable_bucket: spec.buckets.is_some(),
        min_bucket_reso: spec.buckets.as_ref().map_or(spec.resolution, |b| b.min),
        max_bucket_reso: spec.buckets.as_ref().map_or(spec.resolution, |b| b.max),
        bucket_reso_steps: spec.buckets.as_ref().map_or(step, |b| b.step),
        bucket_no_upscale: spec.buckets.as_ref().is_some_and(|b| b.no_upscale),
    })
    .map_err(|e| TrainerError::Config {
        path: spec.dataset_dir.clone(),
        problem: format!("dataset.buckets: {e}"),
    })?;
    let tokenizer =
        crate::dataset::tokens::clip().map_err(|e| TrainerError::Unsupported(e.to_string()))?;
    let mut latents = Cache::open(spec.cache_dir.join("latents.safetensors"));
    let mut embeds = Cache::open(spec.cache_dir.join("text.safetensors"));
    let mut examples = Vec::new();
    let mut tags = Vec::new();
    let mut skipped = Vec::new();
    for item in dataset.items.iter().filter(|i| !i.excluded) {
        let path = dataset.abs_path(item);
        let size = match image::image_dimensions(&path) {
            Ok((w, h)) if w > 0 && h > 0 => Size::new(w, h),
            Ok(_) => {
                skipped.push(format!("{}: an empty image", path.display()));
                continue;
            }
            Err(e) => {
                skipped.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let a = buckets.assign(size);
        let rel = item.path.to_string_lossy();
        let k = key(&[
            vae.id.as_bytes(),
            rel.as_bytes(),
            &item.file_size.to_le_bytes(),
            &a.bucket.w.to_le_bytes(),
            &a.bucket.h.to_le_bytes(),
        ]);
        let mut unreadable = None;
        let lat = latents.get_or(k, || match image_tensor(&path, a.resized, a.bucket) {
            Ok(img) => vae.encode(&img),
            Err(e) => {
                unreadable = Some(e);
                Err(TrainerError::Unsupported(String::new()))
            }
        });
        let lat = match (lat, unreadable) {
            (Ok(l), _) => l,
            (Err(_), Some(reason)) => {
                skipped.push(format!("{}: {reason}", path.display()));
                continue;
            }
            (Err(e), None) => return Err(e),
        };
        let caption = item.caption.text().unwrap_or_default();
        let caption_tags: Vec<String> = caption
            .lines()
            .flat_map(crate::dataset::caption::split_tags)
            .collect();
        let ids = tokenizer.encode(&caption_tags.join(", "));
        let ctx = embeds.get_or(text_key(&text, &ids), || text.encode(&ids))?;
        let repeats = spec
            .repeats
            .or(item.folder.as_ref().map(|f| f.repeats))
            .unwrap_or(1)
            .max(1);
        for _ in 0..repeats {
            examples.push(Example {
                latents: lat.clone(),
                context: ctx.clone(),
            });
            tags.push(caption_tags.clone());
        }
    }
    if examples.is_empty() {
        let why = if skipped.is_empty() {
            "it holds no images".to_string()
        } else {
            format!("none could be read:\n  {}", skipped.join("\n  "))
        };
        return Err(TrainerError::Config {
            path: spec.dataset_dir.clone(),
            problem: format!("no usable image to train on: {why}"),
        });
    }
    let empty = embeds.get_or(text_key(&text, &[]), || text.encode(&[]))?;
    latents.save()?;
    embeds.save()?;
    Ok(Data {
        examples,
        captions: Captions {
            tags,
            empty,
            text,
            shuffle: spec.shuffle_caption,
            keep_tokens: spec.keep_tokens,
            dropout: spec.caption_dropout,
            seed,
        },
        skipped,
    })
}

fn text_key(text: &TextEncoder, ids: &[u32]) -> String {
    let bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
    key(&[text.id.as_bytes(), &bytes])
}

/// Captions as drawn per use: shuffled after the kept leading tags, or dropped.
pub struct Captions {
    tags: Vec<Vec<String>>,
    empty: Tensor,
    text: TextEncoder,
    shuffle: bool,
    keep_tokens: usize,
    dropout: f64,
    seed: u64,
}

impl Captions {
    /// The text encoder, for the sample prompts.
    pub fn encoder(&self) -> &TextEncoder {
        &self.text
    }

    /// The empty caption's embedding (dropout, and the sampler's unconditional half).
    pub fn empty(&self) -> &Tensor {
        &self.empty
    }

    /// The caption example `index` gets at `cursor`, or `None` when it is dropped.
    pub fn draw(&self, index: usize, cursor: u64) -> Option<Vec<String>> {
        let mut r = Rng::new(self.seed ^ cursor.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xCA9);
        if self.dropout > 0.0 && r.uniform() < self.dropout {
            return None;
        }
        let mut tags = self.tags.get(index)?.clone();
        if self.shuffle {
            let keep = self.keep_tokens.min(tags.len());
            let rest = &mut tags[keep..];
            for i in (1..rest.len()).rev() {
                rest.swap(i, r.below(i as u64 + 1) as usize);
            }
        }
        Some(tags)
    }

    fn varies(&self) -> bool {
        self.dropout > 0.0 || self.shuffle
    }
}

impl Conditioning for Captions {
    fn context(&self, index: usize, cursor: u64) -> Result<Tensor> {
        match self.draw(index, cursor) {
            None => Ok(self.empty.clone()),
            Some(tags) => {
                let tokenizer = crate::dataset::tokens::clip()
                    .map_err(|e| TrainerError::Unsupported(e.to_string()))?;
                self.text.encode(&tokenizer.encode(&tags.join(", ")))
            }
        }
    }
}

impl Data {
    /// The conditioning the session should draw from: none when every caption is fixed (the
    /// cached embeddings in the examples are then exact).
    pub fn conditioning(&self) -> Option<&dyn Conditioning> {
        self.captions
            .varies()
            .then_some(&self.captions as &dyn Conditioning)
    }
}
