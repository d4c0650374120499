//! `lora inspect`: everything a LoRA file says about itself, from its header, its alpha
//! scalars and a hash of its data. Works on every format, including the ones merge refuses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::keys::{self, Family, Format, Part};
use super::model::PeftAlphas;
use super::safetensors::{SafetensorsError, SafetensorsFile, data_section_sha256};

/// One adapted module as the header describes it.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleInfo {
    /// Canonical kohya-style name.
    pub name: String,
    /// `lora`, `lora-conv`, `locon-tucker`, `loha`, `lokr`, `diff`, `oft`.
    pub kind: &'static str,
    pub text_encoder: bool,
    pub rank: Option<usize>,
    pub alpha: Option<f32>,
    /// alpha / rank (1 without alpha).
    pub scale: Option<f32>,
    pub dora: bool,
}

/// sd-scripts training metadata made readable.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Training {
    pub output_name: Option<String>,
    pub base_model: Option<String>,
    pub sd_model_name: Option<String>,
    pub network_module: Option<String>,
    pub network_dim: Option<String>,
    pub network_alpha: Option<String>,
    pub network_args: Option<String>,
    pub steps: Option<String>,
    pub max_train_steps: Option<String>,
    pub epoch: Option<String>,
    pub num_epochs: Option<String>,
    pub resolution: Option<String>,
    pub learning_rate: Option<String>,
    pub unet_lr: Option<String>,
    pub text_encoder_lr: Option<String>,
    pub optimizer: Option<String>,
    pub lr_scheduler: Option<String>,
    pub batch_size: Option<String>,
    pub num_train_images: Option<String>,
    pub mixed_precision: Option<String>,
    pub seed: Option<String>,
    pub training_comment: Option<String>,
    /// `ss_training_started_at` / `finished_at` as UTC date-times.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// (folder, repeats, images) from `ss_dataset_dirs`.
    pub dataset_dirs: Vec<(String, Option<u64>, Option<u64>)>,
    /// Most frequent caption tags over all folders of `ss_tag_frequency`.
    pub top_tags: Vec<(String, u64)>,
    pub distinct_tags: usize,
}

/// `sshs_model_hash` against the SHA-256 of the data section (reference §7).
#[derive(Debug, Clone, Serialize)]
pub struct HashCheck {
    pub stored: Option<String>,
    pub computed: String,
    /// `None` when nothing was stored.
    pub matches: Option<bool>,
}

/// The full inspection of one file.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub path: PathBuf,
    pub file_size: u64,
    pub format: Format,
    pub dora: bool,
    pub family: Family,
    pub tensor_count: usize,
    pub parameter_count: u64,
    /// dtype -> number of tensors.
    pub dtypes: BTreeMap<String, usize>,
    pub unet_modules: usize,
    pub text_encoder_modules: usize,
    pub ranks: Vec<usize>,
    pub alphas: Vec<f32>,
    pub rank_varies: bool,
    pub alpha_varies: bool,
    /// alpha / rank when it is the same for every module.
    pub scale: Option<f32>,
    pub modules: Vec<ModuleInfo>,
    /// Keys that belong to no adapter module.
    pub other_keys: Vec<String>,
    pub training: Option<Training>,
    pub modelspec: BTreeMap<String, String>,
    /// All metadata as stored.
    pub metadata: BTreeMap<String, String>,
    pub hash: HashCheck,
}

/// How many tags `top_tags` keeps.
const TOP_TAGS: usize = 15;

/// Inspects a file. Fails only when the container itself is unreadable.
pub fn inspect(path: &Path) -> Result<Inspection, SafetensorsError> {
    let file = SafetensorsFile::open(path)?;
    let metadata = file.metadata().clone();
    let (grouped, spellings, other_keys) =
        keys::group_keys(file.tensors().iter().map(|t| t.name.as_str()));
    let format = keys::detect_format(&grouped, &spellings, &metadata);
    let sdxl_te = grouped.keys().any(|m| m.starts_with("text_encoder_2."));
    // A malformed lora_adapter_metadata only loses the PEFT alphas here.
    let peft = PeftAlphas::load(path, &metadata).ok();

    let mut modules = Vec::with_capacity(grouped.len());
    let mut cross_width = None;
    for (module, parts) in &grouped {
        let shape = |p: Part| {
            parts
                .get(&p)
                .and_then(|k| file.info(k))
                .map(|i| i.shape.clone())
        };
        let (kind, rank) = if let Some(down) = shape(Part::Down) {
            let kind = if parts.contains_key(&Part::Mid) {
                "locon-tucker"
            } else if down.len() == 4 && down[2] * down[3] > 1 {
                "lora-conv"
            } else {
                "lora"
            };
            (kind, down.first().copied())
        } else if let Some(w1b) = shape(Part::HadaW1B) {
            ("loha", w1b.first().copied())
        } else if parts.contains_key(&Part::LokrW1) || parts.contains_key(&Part::LokrW1A) {
            let r = shape(Part::LokrW2B)
                .or_else(|| shape(Part::LokrW1B))
                .and_then(|s| s.first().copied());
            ("lokr", r)
        } else if parts.contains_key(&Part::Diff) {
            ("diff", None)
        } else if parts.contains_key(&Part::OftBlocks) {
            ("oft", None)
        } else {
            continue; // a lone alpha or magnitude vector
        };
        let name = keys::canonical_name(module, sdxl_te);
        if name.ends_with("attn2_to_k") {
            cross_width = shape(Part::Down).and_then(|s| s.get(1).copied());
        }
        let alpha = match parts.get(&Part::Alpha) {
            Some(k) => file.read_scalar(k).ok(),
            None => rank.and_then(|r| peft.as_ref().and_then(|p| p.alpha(module, r))),
        };
        let scale = match (alpha, rank) {
            (Some(a), Some(r)) if r > 0 => Some(a / r as f32),
            (None, Some(_)) => Some(1.0),
            _ => None,
        };
        modules.push(ModuleInfo {
            text_encoder: keys::is_text_encoder(&name),
            name,
            kind,
            rank,
            alpha,
            scale,
            dora: parts.contains_key(&Part::DoraScale),
        });
    }
    modules.sort_by(|a, b| a.name.cmp(&b.name));
    let family = keys::detect_family(
        modules.iter().map(|m| m.name.as_str()),
        &metadata,
        cross_width,
    );

    let mut dtypes = BTreeMap::new();
    for t in file.tensors() {
        *dtypes.entry(t.dtype.to_string()).or_insert(0) += 1;
    }
    let parameter_count = file.tensors().iter().map(|t| t.numel()).sum();
    let mut ranks: Vec<usize> = modules.iter().filter_map(|m| m.rank).collect();
    ranks.sort_unstable();
    ranks.dedup();
    let mut alphas: Vec<f32> = modules.iter().filter_map(|m| m.alpha).collect();
    alphas.sort_by(f32::total_cmp);
    alphas.dedup();
    let mut scales: Vec<f32> = modules.iter().filter_map(|m| m.scale).collect();
    scales.sort_by(f32::total_cmp);
    scales.dedup();
    let computed = data_section_sha256(&file)?;
    let stored = metadata.get("sshs_model_hash").cloned();
    let hash = HashCheck {
        matches: stored.as_ref().map(|s| s.eq_ignore_ascii_case(&computed)),
        stored,
        computed,
    };
    let te = modules.iter().filter(|m| m.text_encoder).count();
    Ok(Inspection {
        path: path.to_path_buf(),
        file_size: file.file_len(),
        format,
        dora: modules.iter().any(|m| m.dora),
        family,
        tensor_count: file.tensors().len(),
        parameter_count,
        dtypes,
        unet_modules: modules.len() - te,
        text_encoder_modules: te,
        rank_varies: ranks.len() > 1,
        alpha_varies: alphas.len() > 1,
        scale: (scales.len() == 1).then(|| scales[0]),
        ranks,
        alphas,
        modules,
        other_keys,
        training: training(&metadata),
        modelspec: metadata
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("modelspec.")
                    .map(|k| (k.to_string(), v.clone()))
            })
            .collect(),
        metadata,
        hash,
    })
}

fn training(meta: &BTreeMap<String, String>) -> Option<Training> {
    if !meta.keys().any(|k| k.starts_with("ss_")) {
        return None;
    }
    let get = |k: &str| {
        meta.get(k)
            .filter(|v| !v.is_empty() && v.as_str() != "None")
            .cloned()
    };
    let mut t = Training {
        output_name: get("ss_output_name"),
        base_model: get("ss_base_model_version"),
        sd_model_name: get("ss_sd_model_name"),
        network_module: get("ss_network_module"),
        network_dim: get("ss_network_dim"),
        network_alpha: get("ss_network_alpha"),
        network_args: get("ss_network_args"),
        steps: get("ss_steps"),
        max_train_steps: get("ss_max_train_steps"),
        epoch: get("ss_epoch"),
        num_epochs: get("ss_num_epochs"),
        resolution: get("ss_resolution"),
        learning_rate: get("ss_learning_rate"),
        unet_lr: get("ss_unet_lr"),
        text_encoder_lr: get("ss_text_encoder_lr"),
        optimizer: get("ss_optimizer"),
        lr_scheduler: get("ss_lr_scheduler"),
        batch_size: get("ss_total_batch_size").or_else(|| get("ss_batch_size_per_device")),
        num_train_images: get("ss_num_train_images"),
        mixed_precision: get("ss_mixed_precision"),
        seed: get("ss_seed"),
        training_comment: get("ss_training_comment"),
        started_at: get("ss_training_started_at").and_then(|v| unix_time(&v)),
        finished_at: get("ss_training_finished_at").and_then(|v| unix_time(&v)),
        ..Training::default()
    };
    if let Some(dirs) = get("ss_dataset_dirs")
        .and_then(|v| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(&v).ok())
    {
        t.dataset_dirs = dirs
            .into_iter()
            .map(|(name, v)| {
                let num = |k: &str| v.get(k).and_then(|n| n.as_u64());
                (name, num("n_repeats"), num("img_count"))
            })
            .collect();
    }
    if let Some(freq) = get("ss_tag_frequency").and_then(|v| {
        serde_json::from_str::<BTreeMap<String, BTreeMap<String, serde_json::Value>>>(&v).ok()
    }) {
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        for tags in freq.into_values() {
            for (tag, n) in tags {
                *totals.entry(tag.trim().to_string()).or_default() += n.as_u64().unwrap_or(0);
            }
        }
        t.distinct_tags = totals.len();
        let mut tags: Vec<(String, u64)> = totals.into_iter().collect();
        tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        tags.truncate(TOP_TAGS);
        t.top_tags = tags;
    }
    Some(t)
}

/// Unix seconds (possibly fractional) as `YYYY-MM-DD HH:MM:SS UTC`.
fn unix_time(v: &str) -> Option<String> {
    let secs = v
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e11)? as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Some(format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_are_readable() {
        assert_eq!(unix_time("0").as_deref(), Some("1970-01-01 00:00:00 UTC"));
        assert_eq!(
            unix_time("1700000000.5").as_deref(),
            Some("2023-11-14 22:13:20 UTC")
        );
        assert_eq!(unix_time("nonsense"), None);
    }

    #[test]
    fn tag_frequency_sums_over_folders() {
        let mut meta = BTreeMap::new();
        meta.insert(
            "ss_tag_frequency".to_string(),
            r#"{"10_cat": {"cat": 10, " sofa": 2}, "5_dog": {"cat": 1, "dog": 5}}"#.to_string(),
        );
        let t = training(&meta).unwrap();
        assert_eq!(
            t.top_tags,
            vec![("cat".into(), 11), ("dog".into(), 5), ("sofa".into(), 2)]
        );
        assert_eq!(t.distinct_tags, 3);
    }
}
