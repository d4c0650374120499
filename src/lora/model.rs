//! A LoRA as per-module (down, up, alpha) factors: read from any plain-LoRA spelling, written as
//! kohya or diffusers/PEFT. This is the shared currency of convert, merge, resize, mix, extract.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};

use super::keys::{self, Family, Format, Part, Spelling};
use super::safetensors::{Dtype, SafetensorsError, SafetensorsFile, write_tensors};

/// Why a LoRA file cannot be read or written as plain (down, up, alpha) modules.
#[derive(Debug, thiserror::Error)]
pub enum LoraError {
    #[error(transparent)]
    File(#[from] SafetensorsError),
    #[error(
        "{path}: no LoRA modules found (no lora_down/lora_up, lora_A/lora_B or lora.down/lora.up keys); is this a LoRA file?"
    )]
    NoModules { path: PathBuf },
    #[error("{path}: module `{module}` has no {missing} tensor; the file is incomplete")]
    Incomplete {
        path: PathBuf,
        module: String,
        missing: &'static str,
    },
    #[error("{path}: module `{module}`: {problem}")]
    BadModule {
        path: PathBuf,
        module: String,
        problem: String,
    },
    #[error(
        "{path}: {what} is not supported by this operation (only plain LoRA/LoCon factors are); {hint}"
    )]
    Unsupported {
        path: PathBuf,
        what: String,
        hint: &'static str,
    },
    #[error("{path}: tensor maths failed on `{module}`: {source}")]
    Candle {
        path: PathBuf,
        module: String,
        source: Box<candle_core::Error>,
    },
    #[error("{path}: the sidecar adapter_config.json is unreadable: {problem}")]
    AdapterConfig { path: PathBuf, problem: String },
}

/// One adapted module: ΔW = (alpha / rank) · reshape(flat(up) · flat(down)).
#[derive(Debug, Clone)]
pub struct LoraModule {
    /// Canonical kohya-style name: `lora_unet_…`, `lora_te_…`, `lora_te1_…`, `lora_te2_…`,
    /// `lora_transformer_…` (diffusers Flux/SD3 names).
    pub name: String,
    /// F32, shape (r, in) or (r, in, k, k).
    pub down: Tensor,
    /// F32, shape (out, r) or (out, r, 1, 1).
    pub up: Tensor,
    /// The stored alpha; `None` means a scale of 1.
    pub alpha: Option<f32>,
    /// The dotted diffusers path with its component prefix (`unet.down_blocks.0.…`) when the
    /// file was diffusers/PEFT-spelled; kept so a round trip restores the exact names.
    pub dotted: Option<String>,
}

impl LoraModule {
    pub fn rank(&self) -> usize {
        self.down.dims().first().copied().unwrap_or(0)
    }

    /// alpha / rank, or 1 without alpha (reference §3).
    pub fn scale(&self) -> f32 {
        match self.alpha {
            Some(a) if self.rank() > 0 => a / self.rank() as f32,
            _ => 1.0,
        }
    }

    /// Shape of the weight this module adapts: (out, in) or (out, in, k, k).
    pub fn weight_shape(&self) -> Vec<usize> {
        let mut s = vec![self.up.dims().first().copied().unwrap_or(0)];
        s.extend(self.down.dims().iter().skip(1));
        s
    }

    /// `scale · strength · flat(up) · flat(down)` as an (out, in·k·k) F32 matrix.
    pub fn delta(&self, strength: f32) -> candle_core::Result<Tensor> {
        let up = self.up.flatten_from(1)?;
        let down = self.down.flatten_from(1)?;
        let d = up.matmul(&down)?;
        d.affine((strength * self.scale()) as f64, 0.0)
    }
}

/// A LoRA file read into modules.
#[derive(Debug, Clone)]
pub struct LoraFile {
    pub path: PathBuf,
    pub format: Format,
    pub family: Family,
    /// Modules sorted by name.
    pub modules: Vec<LoraModule>,
    pub metadata: BTreeMap<String, String>,
    /// The dtype most factors were stored in (the natural dtype to write back).
    pub dtype: Dtype,
}

impl LoraFile {
    /// Reads every module of a plain LoRA (kohya, LoCon without Tucker, diffusers/PEFT in any
    /// spelling). LoHa, LoKr, OFT, Tucker LoCon, DoRA and full diffs are refused with
    /// [`LoraError::Unsupported`]: their weights are not (down, up) pairs.
    pub fn read(path: &Path) -> Result<LoraFile, LoraError> {
        let file = SafetensorsFile::open(path)?;
        let (grouped, spellings, _other) =
            keys::group_keys(file.tensors().iter().map(|t| t.name.as_str()));
        let format = keys::detect_format(&grouped, &spellings, file.metadata());
        let unsupported = |what: String, hint| LoraError::Unsupported {
            path: path.to_path_buf(),
            what,
            hint,
        };
        match format {
            Format::LycorisLoha | Format::LycorisLokr | Format::LycorisOft | Format::FullDiff => {
                return Err(unsupported(
                    format!("a {format} file"),
                    "use `lorabench lora inspect` to look inside it",
                ));
            }
            Format::Unknown => {
                return Err(LoraError::NoModules {
                    path: path.to_path_buf(),
                });
            }
            _ => {}
        }
        let sdxl_te = grouped.keys().any(|m| m.starts_with("text_encoder_2."));
        let peft = PeftAlphas::load(path, file.metadata())?;
        let mut modules = Vec::with_capacity(grouped.len());
        let mut dtypes: HashMap<Dtype, usize> = HashMap::new();
        for (module, parts) in &grouped {
            if parts.contains_key(&Part::DoraScale) {
                return Err(unsupported(
                    format!("DoRA (module `{module}` has a magnitude vector)"),
                    "DoRA weights depend on the base model and cannot be handled as plain factors",
                ));
            }
            if parts.contains_key(&Part::Mid) {
                return Err(unsupported(
                    format!("Tucker LoCon (module `{module}` has lora_mid)"),
                    "re-train without use_tucker, or use another tool",
                ));
            }
            let (Some(down_key), Some(up_key)) = (parts.get(&Part::Down), parts.get(&Part::Up))
            else {
                if parts.keys().all(|p| matches!(p, Part::Alpha)) {
                    continue; // a lone alpha: harmless leftovers of some tools.
                }
                let missing = if parts.contains_key(&Part::Down) {
                    "up"
                } else {
                    "down"
                };
                return Err(LoraError::Incomplete {
                    path: path.to_path_buf(),
                    module: module.clone(),
                    missing,
                });
            };
            let candle = |source| LoraError::Candle {
                path: path.to_path_buf(),
                module: module.clone(),
                source: Box::new(source),
            };
            let down = file.read_f32(down_key)?;
            let up = file.read_f32(up_key)?;
            if let Some(info) = file.info(down_key) {
                *dtypes.entry(info.dtype).or_default() += 1;
            }
            let (down, up) = check_factors(path, module, down, up).map_err(candle)??;
            let spelling = keys::split_key(down_key).map(|(_, _, s)| s);
            let alpha = match parts.get(&Part::Alpha) {
                Some(k) => Some(file.read_scalar(k)?),
                None if spelling != Some(Spelling::Kohya) => peft.alpha(module, down.dims()[0]),
                None => None,
            };
            let dotted = (spelling != Some(Spelling::Kohya)).then(|| module.clone());
            modules.push(LoraModule {
                name: keys::canonical_name(module, sdxl_te),
                down,
                up,
                alpha,
                dotted,
            });
        }
        if modules.is_empty() {
            return Err(LoraError::NoModules {
                path: path.to_path_buf(),
            });
        }
        modules.sort_by(|a, b| a.name.cmp(&b.name));
        let width = cross_attention_width(&modules);
        let family = keys::detect_family(
            modules.iter().map(|m| m.name.as_str()),
            file.metadata(),
            width,
        );
        let dtype = dtypes
            .into_iter()
            .max_by_key(|&(d, n)| (n, d))
            .map(|(d, _)| d)
            .unwrap_or(Dtype::F32);
        Ok(LoraFile {
            path: path.to_path_buf(),
            format,
            family,
            modules,
            metadata: file.metadata().clone(),
            dtype,
        })
    }
}

/// Ensures down is (r, in[, k, k]) and up is (out, r[, 1, 1]); both F32.
fn check_factors(
    path: &Path,
    module: &str,
    down: Tensor,
    up: Tensor,
) -> candle_core::Result<Result<(Tensor, Tensor), LoraError>> {
    let bad = |problem: String| {
        Ok(Err(LoraError::BadModule {
            path: path.to_path_buf(),
            module: module.to_string(),
            problem,
        }))
    };
    let (dd, ud) = (down.dims().to_vec(), up.dims().to_vec());
    let valid_rank = |d: &[usize]| matches!(d.len(), 2 | 4) && d[0] > 0;
    if !valid_rank(&dd) || !matches!(ud.len(), 2 | 4) {
        return bad(format!(
            "factor shapes down {dd:?} / up {ud:?} are not 2-D or 4-D"
        ));
    }
    if ud[1] != dd[0] {
        return bad(format!("up {ud:?} and down {dd:?} disagree on the rank"));
    }
    if ud.len() == 4 && (ud[2] != 1 || ud[3] != 1) {
        return bad(format!("the up factor {ud:?} is not a 1x1 convolution"));
    }
    Ok(Ok((down.to_dtype(DType::F32)?, up.to_dtype(DType::F32)?)))
}

/// In-features of a cross-attention key projection, which tells SD1 (768), SD2 (1024) and
/// SDXL (2048) apart.
fn cross_attention_width(modules: &[LoraModule]) -> Option<usize> {
    modules
        .iter()
        .find(|m| m.name.ends_with("attn2_to_k"))
        .and_then(|m| m.down.dims().get(1).copied())
}

/// Alphas of diffusers/PEFT files: `lora_adapter_metadata` (component-prefixed LoraConfig keys)
/// or a sidecar `adapter_config.json` (standalone PEFT).
pub(crate) struct PeftAlphas {
    /// component prefix ("unet", "transformer", "" for standalone) -> config.
    configs: Vec<(String, serde_json::Value)>,
}

impl PeftAlphas {
    pub(crate) fn load(
        path: &Path,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Self, LoraError> {
        let mut configs: Vec<(String, serde_json::Value)> = Vec::new();
        if let Some(json) = metadata.get("lora_adapter_metadata") {
            let bad = |e: serde_json::Error| LoraError::BadModule {
                path: path.to_path_buf(),
                module: "lora_adapter_metadata".into(),
                problem: format!("not valid JSON: {e}"),
            };
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(json).map_err(bad)?;
            let mut by_prefix: BTreeMap<String, serde_json::Map<String, serde_json::Value>> =
                BTreeMap::new();
            for (k, v) in map {
                let (prefix, key) = k.split_once('.').unwrap_or(("", k.as_str()));
                by_prefix
                    .entry(prefix.to_string())
                    .or_default()
                    .insert(key.to_string(), v);
            }
            configs.extend(
                by_prefix
                    .into_iter()
                    .map(|(p, m)| (p, serde_json::Value::Object(m))),
            );
        }
        let sidecar = path.with_file_name("adapter_config.json");
        if configs.is_empty() && sidecar.is_file() {
            let err = |problem: String| LoraError::AdapterConfig {
                path: sidecar.clone(),
                problem,
            };
            let text = std::fs::read_to_string(&sidecar).map_err(|e| err(e.to_string()))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
            configs.push((String::new(), v));
        }
        Ok(Self { configs })
    }

    /// The effective alpha (alpha / rank is the scale; rsLoRA folded in) of a dotted module.
    pub(crate) fn alpha(&self, module: &str, rank: usize) -> Option<f32> {
        let (config, local) = self.configs.iter().find_map(|(prefix, c)| {
            if prefix.is_empty() {
                Some((
                    c,
                    module.strip_prefix("base_model.model.").unwrap_or(module),
                ))
            } else {
                module
                    .strip_prefix(prefix.as_str())
                    .and_then(|m| m.strip_prefix('.'))
                    .map(|m| (c, m))
            }
        })?;
        let pattern_alpha = config
            .get("alpha_pattern")
            .and_then(|p| p.as_object())
            .and_then(|p| {
                p.iter()
                    .find(|(k, _)| pattern_matches(k, local))
                    .and_then(|(_, v)| v.as_f64())
            });
        let alpha =
            pattern_alpha.or_else(|| config.get("lora_alpha").and_then(|a| a.as_f64()))? as f32;
        let rslora = config
            .get("use_rslora")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        // PEFT's scale is alpha/r, or alpha/sqrt(r) with rsLoRA; store the alpha giving it as /r.
        Some(if rslora {
            alpha * (rank as f32).sqrt()
        } else {
            alpha
        })
    }
}

/// PEFT's pattern rule: the key matches the whole module name or a `.`-separated suffix of it
/// (a leading `^` anchors it at the start).
fn pattern_matches(key: &str, module: &str) -> bool {
    match key.strip_prefix('^') {
        Some(anchored) => module == anchored,
        None => module == key || module.ends_with(&format!(".{key}")),
    }
}

/// Writes modules as a kohya file: `<name>.lora_down.weight`, `.lora_up.weight`, `.alpha`
/// (alpha = rank when the module had none, which keeps the scale at 1), factors cast to
/// `dtype`, `sshs_model_hash` recomputed. Atomic.
pub fn write_kohya(
    path: &Path,
    modules: &[LoraModule],
    metadata: &BTreeMap<String, String>,
    dtype: Dtype,
) -> Result<(), LoraError> {
    let mut tensors = Vec::with_capacity(modules.len() * 3);
    for m in modules {
        let candle = |source| LoraError::Candle {
            path: path.to_path_buf(),
            module: m.name.clone(),
            source: Box::new(source),
        };
        let cdt = float_dtype(path, dtype)?;
        let alpha = m.alpha.unwrap_or(m.rank() as f32);
        let alpha_t = Tensor::new(alpha, &candle_core::Device::Cpu)
            .and_then(|t| t.to_dtype(cdt))
            .map_err(candle)?;
        tensors.push((
            format!("{}.lora_down.weight", m.name),
            m.down.to_dtype(cdt).map_err(candle)?,
        ));
        tensors.push((
            format!("{}.lora_up.weight", m.name),
            m.up.to_dtype(cdt).map_err(candle)?,
        ));
        tensors.push((format!("{}.alpha", m.name), alpha_t));
    }
    let mut metadata = metadata.clone();
    metadata.remove("lora_adapter_metadata");
    metadata.remove("format");
    write_tensors(path, &tensors, &metadata, true)?;
    Ok(())
}

/// Writes modules as a diffusers/PEFT file (`unet.….lora_A.weight`, `.lora_B.weight`) with the
/// alphas in `lora_adapter_metadata` (`<component>.lora_alpha`, `.alpha_pattern`, `.r`,
/// `.rank_pattern`, `.target_modules`), the way diffusers' `save_lora_weights` stores them.
pub fn write_peft(
    path: &Path,
    modules: &[LoraModule],
    metadata: &BTreeMap<String, String>,
    dtype: Dtype,
) -> Result<(), LoraError> {
    let cdt = float_dtype(path, dtype)?;
    let mut tensors = Vec::with_capacity(modules.len() * 2);
    // component -> [(local module path, rank, alpha)]
    let mut components: BTreeMap<String, Vec<(String, usize, f32)>> = BTreeMap::new();
    for m in modules {
        let dotted = match &m.dotted {
            Some(d) => d.clone(),
            None => dotted_from_kohya(&m.name).ok_or_else(|| LoraError::Unsupported {
                path: path.to_path_buf(),
                what: format!("module `{}` (no diffusers name is known for it)", m.name),
                hint: "kohya files for Flux (BFL names) load in diffusers as they are; keep them kohya",
            })?,
        };
        let (component, local) = dotted.split_once('.').unwrap_or(("unet", dotted.as_str()));
        let candle = |source| LoraError::Candle {
            path: path.to_path_buf(),
            module: m.name.clone(),
            source: Box::new(source),
        };
        tensors.push((
            format!("{dotted}.lora_A.weight"),
            m.down.to_dtype(cdt).map_err(candle)?,
        ));
        tensors.push((
            format!("{dotted}.lora_B.weight"),
            m.up.to_dtype(cdt).map_err(candle)?,
        ));
        let alpha = m.alpha.unwrap_or(m.rank() as f32);
        components.entry(component.to_string()).or_default().push((
            local.to_string(),
            m.rank(),
            alpha,
        ));
    }
    let mut adapter = serde_json::Map::new();
    for (component, mods) in &components {
        let (r, lora_alpha) = most_common(mods.iter().map(|(_, r, a)| (*r, *a)));
        let rank_pattern: serde_json::Map<_, _> = mods
            .iter()
            .filter(|(_, mr, _)| *mr != r)
            .map(|(n, mr, _)| (format!("^{n}"), serde_json::json!(mr)))
            .collect();
        let alpha_pattern: serde_json::Map<_, _> = mods
            .iter()
            .filter(|(_, _, a)| *a != lora_alpha)
            .map(|(n, _, a)| (format!("^{n}"), serde_json::json!(a)))
            .collect();
        let targets: Vec<&str> = mods.iter().map(|(n, _, _)| n.as_str()).collect();
        let c = component.as_str();
        adapter.insert(format!("{c}.r"), serde_json::json!(r));
        adapter.insert(format!("{c}.lora_alpha"), serde_json::json!(lora_alpha));
        adapter.insert(
            format!("{c}.rank_pattern"),
            serde_json::Value::Object(rank_pattern),
        );
        adapter.insert(
            format!("{c}.alpha_pattern"),
            serde_json::Value::Object(alpha_pattern),
        );
        adapter.insert(format!("{c}.target_modules"), serde_json::json!(targets));
        adapter.insert(format!("{c}.init_lora_weights"), serde_json::json!(true));
        adapter.insert(format!("{c}.use_rslora"), serde_json::json!(false));
        adapter.insert(format!("{c}.use_dora"), serde_json::json!(false));
    }
    let mut metadata = metadata.clone();
    metadata.retain(|k, _| !k.starts_with("sshs_"));
    metadata.insert("format".into(), "pt".into());
    metadata.insert(
        "lora_adapter_metadata".into(),
        serde_json::to_string_pretty(&adapter).unwrap_or_default(),
    );
    write_tensors(path, &tensors, &metadata, false)?;
    Ok(())
}

fn float_dtype(path: &Path, dtype: Dtype) -> Result<DType, LoraError> {
    Ok(match dtype {
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        other => {
            return Err(LoraError::Unsupported {
                path: path.to_path_buf(),
                what: format!("saving factors as {other}"),
                hint: "choose F16, BF16, F32 or F64",
            });
        }
    })
}

/// The most frequent (rank, alpha) pair; ties go to the larger rank.
fn most_common(items: impl Iterator<Item = (usize, f32)>) -> (usize, f32) {
    let mut counts: Vec<((usize, f32), usize)> = Vec::new();
    for item in items {
        match counts.iter_mut().find(|(k, _)| *k == item) {
            Some((_, n)) => *n += 1,
            None => counts.push((item, 1)),
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(a.0.0.cmp(&b.0.0)))
        .map(|(k, _)| k)
        .unwrap_or((1, 1.0))
}

/// The dotted diffusers path (`unet.down_blocks.0.…`) of a kohya module name, where there is
/// one: SD1/SD2 diffusers-named UNets and SDXL LDM-named UNets, CLIP text encoders (as
/// transformers 5 names their modules) and
/// `lora_transformer_` names. BFL-named Flux modules have none (their qkv is fused).
pub fn dotted_from_kohya(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix("lora_unet_") {
        if rest.starts_with("double_blocks_") || rest.starts_with("single_blocks_") {
            return None;
        }
        let path = keys::undot(rest);
        let diffusers = super::ldm::ldm_to_diffusers(&path).unwrap_or(path);
        return Some(format!("unet.{diffusers}"));
    }
    let components = [
        ("lora_transformer_", "transformer"),
        ("lora_te2_", "text_encoder_2"),
        ("lora_te1_", "text_encoder"),
        ("lora_te_", "text_encoder"),
    ];
    components.iter().find_map(|(prefix, component)| {
        name.strip_prefix(prefix).map(|rest| {
            let path = keys::undot(rest);
            // transformers 5 CLIP text models have no `text_model.` level (current diffusers
            // files say `text_encoder.encoder.layers.…`).
            let path = match *component {
                "transformer" => path.as_str(),
                _ => path.strip_prefix("text_model.").unwrap_or(&path),
            };
            format!("{component}.{path}")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kohya_names_become_diffusers_paths() {
        assert_eq!(
            dotted_from_kohya("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q")
                .as_deref(),
            Some("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q")
        );
        assert_eq!(
            dotted_from_kohya("lora_te2_text_model_encoder_layers_3_mlp_fc1").as_deref(),
            Some("text_encoder_2.encoder.layers.3.mlp.fc1")
        );
        assert_eq!(
            dotted_from_kohya("lora_unet_double_blocks_0_img_attn_qkv"),
            None
        );
    }

    #[test]
    fn peft_patterns_match_whole_segments() {
        assert!(pattern_matches(
            "^down_blocks.0.proj_in",
            "down_blocks.0.proj_in"
        ));
        assert!(pattern_matches("proj_in", "down_blocks.0.proj_in"));
        assert!(!pattern_matches("^proj_in", "down_blocks.0.proj_in"));
        assert!(!pattern_matches("j_in", "down_blocks.0.proj_in"));
    }
}
