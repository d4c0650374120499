//! Aspect-ratio buckets, computed the way the trainers compute them (datasets.md §4).
//!
//! - kohya sd-scripts (`make_bucket_resolutions`, `BucketManager.select_bucket`): a fixed list
//!   of buckets of about the target area in upscale mode; buckets made on demand with
//!   `bucket_no_upscale`.
//! - ai-toolkit: per image, never above the target area, sides rounded to the divisibility.
//!
//! Sizes are the raw pixel sizes: sd-scripts ignores EXIF orientation.

use std::collections::BTreeSet;

use serde::Serialize;

/// Width × height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Size {
    pub w: u32,
    pub h: u32,
}

impl Size {
    pub fn new(w: u32, h: u32) -> Size {
        Size { w, h }
    }
    pub fn area(self) -> u64 {
        u64::from(self.w) * u64::from(self.h)
    }
    /// w / h (infinite for a zero height).
    pub fn aspect(self) -> f64 {
        f64::from(self.w) / f64::from(self.h)
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.w, self.h)
    }
}

/// The model family being trained; it sets the default resolution and the bucket steps its
/// training script accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    Sd15,
    Sdxl,
    Flux,
}

impl Model {
    pub const ALL: [Model; 3] = [Model::Sd15, Model::Sdxl, Model::Flux];

    /// The id used in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Sd15 => "sd15",
            Model::Sdxl => "sdxl",
            Model::Flux => "flux",
        }
    }

    pub fn default_resolution(self) -> u32 {
        match self {
            Model::Sd15 => 512,
            Model::Sdxl | Model::Flux => 1024,
        }
    }
    /// What sd-scripts' LoRA script for this model requires `bucket_reso_steps` to divide by
    /// (`verify_bucket_reso_steps`: 64 in train_network.py, 32 in sdxl_ and flux_train_network.py).
    /// The step itself defaults to [`KOHYA_DEFAULT_STEPS`] for every model.
    pub fn kohya_step_divisor(self) -> u32 {
        match self {
            Model::Sd15 => 64,
            Model::Sdxl | Model::Flux => 32,
        }
    }
    /// ai-toolkit's bucket divisibility for this model.
    pub fn ai_toolkit_divisibility(self) -> u32 {
        match self {
            Model::Sd15 | Model::Sdxl => 16,
            Model::Flux => 32,
        }
    }
}

/// sd-scripts' defaults (`--min_bucket_reso`, `--max_bucket_reso`, `--bucket_reso_steps`), the
/// same for every model.
pub const KOHYA_DEFAULT_MIN: u32 = 256;
pub const KOHYA_DEFAULT_MAX: u32 = 1024;
pub const KOHYA_DEFAULT_STEPS: u32 = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BucketError {
    #[error("bucket step must be positive (got {0}); pass a step such as 64 or 32")]
    ZeroStep(u32),
    #[error(
        "bucket step {step} is not a multiple of {divisor}, which sd-scripts requires for {model}; \
         pass --bucket-reso-steps {divisor} or a multiple of it"
    )]
    StepNotDivisible {
        step: u32,
        divisor: u32,
        model: &'static str,
    },
    #[error(
        "resolution {res} is outside min/max bucket size {min}..{max}; sd-scripts would abort: \
         lower --resolution, or set --min-bucket-reso/--max-bucket-reso around it"
    )]
    ResolutionOutOfRange { res: Size, min: u32, max: u32 },
    #[error("resolution must be positive (got {0})")]
    ZeroResolution(Size),
}

/// sd-scripts bucket settings (dataset TOML / CLI names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KohyaConfig {
    /// `resolution`: (W, H); the target area is W·H.
    pub resolution: Size,
    pub enable_bucket: bool,
    pub min_bucket_reso: u32,
    pub max_bucket_reso: u32,
    pub bucket_reso_steps: u32,
    pub bucket_no_upscale: bool,
}

impl KohyaConfig {
    /// sd-scripts' defaults (min 256, max 1024, steps of 64, whatever the model), buckets on.
    /// A resolution above 1024 needs a larger `max_bucket_reso`, as in sd-scripts.
    pub fn defaults(resolution: u32) -> KohyaConfig {
        KohyaConfig {
            resolution: Size::new(resolution, resolution),
            enable_bucket: true,
            min_bucket_reso: KOHYA_DEFAULT_MIN,
            max_bucket_reso: KOHYA_DEFAULT_MAX,
            bucket_reso_steps: KOHYA_DEFAULT_STEPS,
            bucket_no_upscale: false,
        }
    }

    /// Refuses a step the model's training script would refuse (`verify_bucket_reso_steps`).
    pub fn check_step(&self, model: Model) -> Result<(), BucketError> {
        let divisor = model.kohya_step_divisor();
        if self.bucket_reso_steps == 0 {
            return Err(BucketError::ZeroStep(0));
        }
        if !self.bucket_reso_steps.is_multiple_of(divisor) {
            return Err(BucketError::StepNotDivisible {
                step: self.bucket_reso_steps,
                divisor,
                model: match model {
                    Model::Sd15 => "SD1.5 (train_network.py)",
                    Model::Sdxl => "SDXL (sdxl_train_network.py)",
                    Model::Flux => "Flux (flux_train_network.py)",
                },
            });
        }
        Ok(())
    }
}

/// Where an image lands and how it is resized before the crop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Assignment {
    pub bucket: Size,
    /// Size after resizing, before cropping to the bucket.
    pub resized: Size,
    /// bucket aspect − image aspect (sd-scripts `ar_error`).
    pub ar_error: f64,
    /// Scale factor applied to the image (> 1 means upscaled).
    pub scale: f64,
}

/// Rounds like Python's `int(x + 0.5)` for non-negative x.
fn round_half_up(x: f64) -> u32 {
    (x + 0.5).floor().clamp(0.0, f64::from(u32::MAX)) as u32
}

/// sd-scripts `make_bucket_resolutions`: buckets of about `max_reso`'s area, sorted.
pub fn kohya_bucket_list(max_reso: Size, min_size: u32, max_size: u32, step: u32) -> Vec<Size> {
    let step = step.max(1);
    let area = max_reso.area();
    let mut set = BTreeSet::new();
    let side = ((area as f64).sqrt() / f64::from(step)).floor() as u32 * step;
    set.insert(Size::new(side, side));
    let mut w = min_size;
    while w <= max_size && w > 0 {
        let h = ((area / u64::from(w)) / u64::from(step) * u64::from(step)).min(u64::from(max_size))
            as u32;
        if h >= min_size {
            set.insert(Size::new(w, h));
            set.insert(Size::new(h, w));
        }
        w += step;
    }
    set.into_iter().collect()
}

/// sd-scripts bucketing for one dataset.
#[derive(Debug, Clone)]
pub struct KohyaBuckets {
    config: KohyaConfig,
    /// The predefined list (upscale mode); empty with `bucket_no_upscale`.
    list: Vec<Size>,
}

impl KohyaBuckets {
    /// Validate the settings as sd-scripts does (adjusting min/max to the step) and build the
    /// bucket list.
    pub fn new(config: KohyaConfig) -> Result<KohyaBuckets, BucketError> {
        let mut config = config;
        let d = config.bucket_reso_steps;
        if d == 0 {
            return Err(BucketError::ZeroStep(d));
        }
        let res = config.resolution;
        if res.w == 0 || res.h == 0 {
            return Err(BucketError::ZeroResolution(res));
        }
        if !config.min_bucket_reso.is_multiple_of(d) {
            config.min_bucket_reso -= config.min_bucket_reso % d;
        }
        if !config.max_bucket_reso.is_multiple_of(d) {
            config.max_bucket_reso += d - config.max_bucket_reso % d;
        }
        let list = if !config.enable_bucket {
            vec![res]
        } else if config.bucket_no_upscale {
            Vec::new()
        } else {
            if res.w.min(res.h) < config.min_bucket_reso
                || res.w.max(res.h) > config.max_bucket_reso
            {
                return Err(BucketError::ResolutionOutOfRange {
                    res,
                    min: config.min_bucket_reso,
                    max: config.max_bucket_reso,
                });
            }
            kohya_bucket_list(res, config.min_bucket_reso, config.max_bucket_reso, d)
        };
        Ok(KohyaBuckets { config, list })
    }

    pub fn config(&self) -> &KohyaConfig {
        &self.config
    }

    /// The predefined buckets (empty in no-upscale mode, where buckets are made per image).
    pub fn list(&self) -> &[Size] {
        &self.list
    }

    fn no_upscale(&self) -> bool {
        self.config.enable_bucket && self.config.bucket_no_upscale
    }

    /// The bucket an image of this raw size lands in.
    pub fn assign(&self, image: Size) -> Assignment {
        let ar = image.aspect();
        let (bucket, resized) = if self.no_upscale() {
            self.assign_no_upscale(image, ar)
        } else {
            self.assign_predefined(image, ar)
        };
        let scale = if image.w == 0 {
            1.0
        } else {
            f64::from(resized.w) / f64::from(image.w)
        };
        Assignment {
            bucket,
            resized,
            ar_error: bucket.aspect() - ar,
            scale,
        }
    }

    fn assign_predefined(&self, image: Size, ar: f64) -> (Size, Size) {
        let bucket = if self.list.contains(&image) {
            image
        } else {
            // First bucket with the smallest |aspect − ar| (numpy argmin).
            let mut best = self.list[0];
            let mut best_err = f64::INFINITY;
            for &b in &self.list {
                let err = (b.aspect() - ar).abs();
                if err < best_err {
                    best_err = err;
                    best = b;
                }
            }
            best
        };
        let scale = if ar > bucket.aspect() {
            f64::from(bucket.h) / f64::from(image.h)
        } else {
            f64::from(bucket.w) / f64::from(image.w)
        };
        let resized = Size::new(
            round_half_up(f64::from(image.w) * scale),
            round_half_up(f64::from(image.h) * scale),
        );
        (bucket, resized)
    }

    fn assign_no_upscale(&self, image: Size, ar: f64) -> (Size, Size) {
        let d = self.config.bucket_reso_steps;
        let max_area = self.config.resolution.area() as f64;
        let round_to_steps = |x: f64| {
            let x = round_half_up(x);
            x - x % d
        };
        let resized = if image.area() as f64 > max_area {
            let rw = (max_area * ar).sqrt();
            let rh = max_area / rw;
            let bw1 = round_to_steps(rw);
            let bh1 = round_to_steps(f64::from(bw1) / ar);
            let ar1 = f64::from(bw1) / f64::from(bh1);
            let bh2 = round_to_steps(rh);
            let bw2 = round_to_steps(f64::from(bh2) * ar);
            let ar2 = f64::from(bw2) / f64::from(bh2);
            if (ar1 - ar).abs() < (ar2 - ar).abs() {
                Size::new(bw1, round_half_up(f64::from(bw1) / ar))
            } else {
                Size::new(round_half_up(f64::from(bh2) * ar), bh2)
            }
        } else {
            image
        };
        let bucket = Size::new(resized.w - resized.w % d, resized.h - resized.h % d);
        (bucket, resized)
    }
}

/// ai-toolkit's rule for one image: never above `resolution²` pixels, sides multiples of
/// `divisibility`; of the floor/ceil roundings of the scaled sides (in the order ff, fc, cf,
/// cc) that fit the area, the first whose area is closest to the target.
pub fn ai_toolkit_bucket(image: Size, resolution: u32, divisibility: u32) -> Assignment {
    let d = u64::from(divisibility.max(1));
    let total = image.area().max(1) as f64;
    let max_pixels = u64::from(resolution) * u64::from(resolution);
    let target = total.min(max_pixels as f64);
    let scaler = (target / total).sqrt();
    let w_raw = f64::from(image.w) * scaler / d as f64;
    let h_raw = f64::from(image.h) * scaler / d as f64;
    let (wf, wc) = (w_raw.floor() as u64 * d, w_raw.ceil() as u64 * d);
    let (hf, hc) = (h_raw.floor() as u64 * d, h_raw.ceil() as u64 * d);
    let candidates = [(wf, hf), (wf, hc), (wc, hf), (wc, hc)];
    let fitting: Vec<(u64, u64)> = candidates
        .into_iter()
        .filter(|&(w, h)| w > 0 && h > 0 && w * h <= max_pixels)
        .collect();
    let pool = if fitting.is_empty() {
        vec![(wf.max(d), hf.max(d))]
    } else {
        fitting
    };
    let mut best = pool[0];
    for &c in &pool[1..] {
        if ((c.0 * c.1) as f64 - target).abs() < ((best.0 * best.1) as f64 - target).abs() {
            best = c;
        }
    }
    let bucket = Size::new(best.0 as u32, best.1 as u32);
    // Scale to cover the bucket, then crop.
    let scale = (f64::from(bucket.w) / f64::from(image.w.max(1)))
        .max(f64::from(bucket.h) / f64::from(image.h.max(1)));
    let resized = Size::new(
        (f64::from(image.w) * scale).round() as u32,
        (f64::from(image.h) * scale).round() as u32,
    );
    Assignment {
        bucket,
        resized,
        ar_error: bucket.aspect() - image.aspect(),
        scale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_sizes_match_reference_counts() {
        // datasets.md §4.6.
        assert_eq!(
            kohya_bucket_list(Size::new(512, 512), 256, 1024, 64).len(),
            17
        );
        assert_eq!(
            kohya_bucket_list(Size::new(768, 768), 256, 1280, 64).len(),
            23
        );
        assert_eq!(
            kohya_bucket_list(Size::new(1024, 1024), 256, 1024, 64).len(),
            25
        );
        assert_eq!(
            kohya_bucket_list(Size::new(1024, 1024), 256, 2048, 64).len(),
            41
        );
        assert_eq!(
            kohya_bucket_list(Size::new(1024, 1024), 256, 2048, 32).len(),
            81
        );
    }

    #[test]
    fn steps_follow_the_training_script() {
        let mut cfg = KohyaConfig::defaults(1024);
        assert_eq!(cfg.bucket_reso_steps, 64);
        for model in [Model::Sd15, Model::Sdxl, Model::Flux] {
            assert!(cfg.check_step(model).is_ok());
        }
        cfg.bucket_reso_steps = 32;
        assert!(cfg.check_step(Model::Sdxl).is_ok() && cfg.check_step(Model::Flux).is_ok());
        assert!(matches!(
            cfg.check_step(Model::Sd15),
            Err(BucketError::StepNotDivisible { divisor: 64, .. })
        ));
    }

    #[test]
    fn out_of_range_resolution_is_an_error() {
        let mut cfg = KohyaConfig::defaults(512);
        cfg.max_bucket_reso = 384;
        assert!(matches!(
            KohyaBuckets::new(cfg),
            Err(BucketError::ResolutionOutOfRange { .. })
        ));
    }
}
