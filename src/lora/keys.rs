//! Key spellings of LoRA files: which module and which part each tensor is, the file's format
//! and the model family it was trained for (reference §4, §5).

use std::collections::{BTreeMap, BTreeSet};

/// What a tensor is within its module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    Down,
    Up,
    Mid,
    Alpha,
    DoraScale,
    HadaW1A,
    HadaW1B,
    HadaW2A,
    HadaW2B,
    HadaT1,
    HadaT2,
    LokrW1,
    LokrW1A,
    LokrW1B,
    LokrW2,
    LokrW2A,
    LokrW2B,
    LokrT2,
    Diff,
    DiffBias,
    OftBlocks,
    Rescale,
}

/// How the factors were spelled, which decides how the module name is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Spelling {
    /// `.lora_down.weight` / `.lora_up.weight` / `.alpha` (kohya, LyCORIS).
    Kohya,
    /// `.lora_A.weight` / `.lora_B.weight` (PEFT).
    Peft,
    /// `.lora.down.weight` (diffusers "new") or `.lora_linear_layer.down.weight` (text encoders).
    DiffusersNew,
    /// `.processor.to_q_lora.down.weight` (diffusers attention processors).
    DiffusersOld,
    /// LyCORIS-only parts (LoHa, LoKr, full diff, OFT).
    Lycoris,
}

/// Suffixes in match order (longest, most specific first).
const SUFFIXES: &[(&str, Part, Spelling)] = &[
    (".lora_down.weight", Part::Down, Spelling::Kohya),
    (".lora_up.weight", Part::Up, Spelling::Kohya),
    (".lora_mid.weight", Part::Mid, Spelling::Kohya),
    (".lora_A.default.weight", Part::Down, Spelling::Peft),
    (".lora_B.default.weight", Part::Up, Spelling::Peft),
    (".lora_A.weight", Part::Down, Spelling::Peft),
    (".lora_B.weight", Part::Up, Spelling::Peft),
    (
        ".lora_magnitude_vector.weight",
        Part::DoraScale,
        Spelling::Peft,
    ),
    (".lora_magnitude_vector", Part::DoraScale, Spelling::Peft),
    (
        ".lora_linear_layer.down.weight",
        Part::Down,
        Spelling::DiffusersNew,
    ),
    (
        ".lora_linear_layer.up.weight",
        Part::Up,
        Spelling::DiffusersNew,
    ),
    (".lora.down.weight", Part::Down, Spelling::DiffusersNew),
    (".lora.up.weight", Part::Up, Spelling::DiffusersNew),
    ("_lora.down.weight", Part::Down, Spelling::DiffusersOld),
    ("_lora.up.weight", Part::Up, Spelling::DiffusersOld),
    (".alpha", Part::Alpha, Spelling::Kohya),
    (".dora_scale", Part::DoraScale, Spelling::Kohya),
    (".hada_w1_a", Part::HadaW1A, Spelling::Lycoris),
    (".hada_w1_b", Part::HadaW1B, Spelling::Lycoris),
    (".hada_w2_a", Part::HadaW2A, Spelling::Lycoris),
    (".hada_w2_b", Part::HadaW2B, Spelling::Lycoris),
    (".hada_t1", Part::HadaT1, Spelling::Lycoris),
    (".hada_t2", Part::HadaT2, Spelling::Lycoris),
    (".lokr_w1_a", Part::LokrW1A, Spelling::Lycoris),
    (".lokr_w1_b", Part::LokrW1B, Spelling::Lycoris),
    (".lokr_w2_a", Part::LokrW2A, Spelling::Lycoris),
    (".lokr_w2_b", Part::LokrW2B, Spelling::Lycoris),
    (".lokr_w1", Part::LokrW1, Spelling::Lycoris),
    (".lokr_w2", Part::LokrW2, Spelling::Lycoris),
    (".lokr_t2", Part::LokrT2, Spelling::Lycoris),
    (".diff_b", Part::DiffBias, Spelling::Lycoris),
    (".diff", Part::Diff, Spelling::Lycoris),
    (".oft_blocks", Part::OftBlocks, Spelling::Lycoris),
    (".rescale", Part::Rescale, Spelling::Lycoris),
];

/// Splits a tensor key into (module key, part, spelling). `None` for keys that are not part of
/// an adapter module (e.g. a stray `.weight`).
pub fn split_key(key: &str) -> Option<(String, Part, Spelling)> {
    for &(suffix, part, spelling) in SUFFIXES {
        if let Some(module) = key.strip_suffix(suffix) {
            if module.is_empty() {
                return None;
            }
            let module = if spelling == Spelling::DiffusersOld {
                // `attn1.processor.to_q` -> `attn1.to_q`; `to_out` is `to_out.0` in the model.
                let m = module.replace(".processor.", ".");
                if m.ends_with(".to_out") {
                    format!("{m}.0")
                } else {
                    m
                }
            } else {
                module.to_string()
            };
            return Some((module, part, spelling));
        }
    }
    None
}

/// Component prefixes of diffusers/PEFT keys and the kohya prefix each maps to.
/// `text_encoder.` becomes `lora_te1_` when the file also has `text_encoder_2.` (SDXL).
const DOTTED_PREFIXES: &[(&str, &str)] = &[
    ("unet.", "lora_unet_"),
    ("transformer.", "lora_transformer_"),
    ("text_encoder_2.", "lora_te2_"),
    ("text_encoder.", "lora_te_"),
    ("base_model.model.", "lora_unet_"),
    ("diffusion_model.", "lora_unet_"),
    ("lycoris_", "lora_unet_"),
];

/// The canonical (kohya-style) name of a module key: `lora_unet_…`, `lora_te…_…`,
/// `lora_transformer_…`. `sdxl_te` says the file has two text encoders.
pub fn canonical_name(module: &str, sdxl_te: bool) -> String {
    let name = if module.starts_with("lora_") {
        module.replace('.', "_")
    } else if let Some((kohya, rest)) = DOTTED_PREFIXES
        .iter()
        .find_map(|&(dotted, kohya)| module.strip_prefix(dotted).map(|rest| (kohya, rest)))
    {
        let kohya = if kohya == "lora_te_" && sdxl_te {
            "lora_te1_"
        } else {
            kohya
        };
        format!("{kohya}{}", rest.replace('.', "_"))
    } else {
        // Unprefixed diffusers keys (a bare UNet adapter).
        format!("lora_unet_{}", module.replace('.', "_"))
    };
    with_text_model(name)
}

/// transformers 5 dropped the `text_model.` level of CLIP text models, so newer files name
/// `lora_te1_encoder_layers_…`; sd-scripts and every checkpoint say `…_text_model_encoder_…`.
fn with_text_model(name: String) -> String {
    for te in ["lora_te_", "lora_te1_", "lora_te2_"] {
        if let Some(rest) = name.strip_prefix(te)
            && !rest.starts_with("text_model_")
        {
            return format!("{te}text_model_{rest}");
        }
    }
    name
}

/// Words of real module names that contain `_`, so that kohya names (dots turned into `_`) can
/// be turned back into dotted paths. Longer words first matter only where one contains another.
const COMPOUND_WORDS: &[&str] = &[
    "single_transformer_blocks",
    "transformer_blocks",
    "down_blocks",
    "up_blocks",
    "mid_block",
    "input_blocks",
    "output_blocks",
    "middle_block",
    "in_layers",
    "out_layers",
    "emb_layers",
    "skip_connection",
    "time_embed",
    "time_embedding",
    "time_emb_proj",
    "conv_shortcut",
    "conv_in",
    "conv_out",
    "conv_norm_out",
    "linear_1",
    "linear_2",
    "proj_in",
    "proj_out",
    "proj_mlp",
    "to_q",
    "to_k",
    "to_v",
    "to_out",
    "add_q_proj",
    "add_k_proj",
    "add_v_proj",
    "to_add_out",
    "ff_context",
    "norm1_context",
    "norm_out",
    "text_model",
    "self_attn",
    "q_proj",
    "k_proj",
    "v_proj",
    "out_proj",
    "add_embedding",
    "x_embedder",
    "context_embedder",
    "time_text_embed",
    "timestep_embedder",
    "guidance_embedder",
    "text_embedder",
    "label_emb",
];

/// Turns the part of a kohya name after its prefix back into a dotted module path
/// (`down_blocks_0_attentions_0_proj_in` -> `down_blocks.0.attentions.0.proj_in`).
pub fn undot(underscored: &str) -> String {
    let tokens: Vec<&str> = underscored.split('_').collect();
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let mut taken = 1;
        for len in (2..=4).rev() {
            if i + len <= tokens.len() {
                let word = tokens[i..i + len].join("_");
                if COMPOUND_WORDS.contains(&word.as_str()) {
                    taken = len;
                    break;
                }
            }
        }
        out.push(tokens[i..i + taken].join("_"));
        i += taken;
    }
    out.join(".")
}

/// The adapter format of a file, from its keys and metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Kohya,
    LycorisLocon,
    LycorisLoha,
    LycorisLokr,
    LycorisOft,
    FullDiff,
    DiffusersPeft,
    DiffusersNew,
    DiffusersOld,
    PeftStandalone,
    ComfyGeneric,
    Unknown,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Kohya => "kohya LoRA",
            Format::LycorisLocon => "LyCORIS LoCon",
            Format::LycorisLoha => "LyCORIS LoHa",
            Format::LycorisLokr => "LyCORIS LoKr",
            Format::LycorisOft => "LyCORIS OFT",
            Format::FullDiff => "full weight difference",
            Format::DiffusersPeft => "diffusers (PEFT lora_A/lora_B)",
            Format::DiffusersNew => "diffusers (lora.down/lora.up)",
            Format::DiffusersOld => "diffusers (attention processors)",
            Format::PeftStandalone => "PEFT adapter (base_model.model)",
            Format::ComfyGeneric => "ComfyUI-generic (diffusion_model.)",
            Format::Unknown => "unknown",
        })
    }
}

/// Model families a LoRA can be for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    #[serde(rename = "sd15")]
    Sd1,
    Sd2,
    Sdxl,
    Flux,
    Unknown,
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::Sd1 => "sd15",
            Family::Sd2 => "sd2",
            Family::Sdxl => "sdxl",
            Family::Flux => "flux",
            Family::Unknown => "unknown",
        })
    }
}

/// Tensor keys grouped by module (module key -> parts present).
pub type Grouped = BTreeMap<String, BTreeMap<Part, String>>;

/// Groups the keys of a file by module; keys that are no adapter part are returned apart.
pub fn group_keys<'a>(
    keys: impl IntoIterator<Item = &'a str>,
) -> (Grouped, BTreeSet<Spelling>, Vec<String>) {
    let mut grouped: Grouped = BTreeMap::new();
    let mut spellings = BTreeSet::new();
    let mut other = Vec::new();
    for key in keys {
        match split_key(key) {
            Some((module, part, spelling)) => {
                if part != Part::Alpha && part != Part::DoraScale {
                    spellings.insert(spelling);
                }
                grouped
                    .entry(module)
                    .or_default()
                    .insert(part, key.to_string());
            }
            None => other.push(key.to_string()),
        }
    }
    (grouped, spellings, other)
}

/// Decides the format from grouped keys and metadata (reference §5).
pub fn detect_format(
    grouped: &Grouped,
    spellings: &BTreeSet<Spelling>,
    metadata: &BTreeMap<String, String>,
) -> Format {
    let has = |p: Part| grouped.values().any(|parts| parts.contains_key(&p));
    if has(Part::HadaW1A) {
        return Format::LycorisLoha;
    }
    if has(Part::LokrW1) || has(Part::LokrW1A) {
        return Format::LycorisLokr;
    }
    if has(Part::OftBlocks) {
        return Format::LycorisOft;
    }
    if has(Part::Diff) && !has(Part::Down) {
        return Format::FullDiff;
    }
    let modules = || grouped.keys();
    if spellings.contains(&Spelling::Peft) {
        if modules().any(|m| m.starts_with("base_model.model.")) {
            return Format::PeftStandalone;
        }
        if modules().any(|m| m.starts_with("diffusion_model.")) {
            return Format::ComfyGeneric;
        }
        return Format::DiffusersPeft;
    }
    if spellings.contains(&Spelling::DiffusersOld) {
        return Format::DiffusersOld;
    }
    if spellings.contains(&Spelling::DiffusersNew) {
        return Format::DiffusersNew;
    }
    if spellings.contains(&Spelling::Kohya) {
        if modules().any(|m| m.starts_with("diffusion_model.")) {
            return Format::ComfyGeneric;
        }
        // sd-scripts' own conv LoRA (conv_dim) is still `networks.lora`: only LyCORIS metadata or
        // a Tucker mid makes it LyCORIS LoCon.
        let lycoris_meta = metadata
            .get("ss_network_module")
            .is_some_and(|m| m.starts_with("lycoris"));
        if lycoris_meta || has(Part::Mid) {
            return Format::LycorisLocon;
        }
        return Format::Kohya;
    }
    Format::Unknown
}

/// Guesses the model family from metadata first, then the module names, then a cross-attention
/// input width (`attn2.to_k` in-features: 768 SD1, 1024 SD2, 2048 SDXL).
pub fn detect_family<'a>(
    modules: impl IntoIterator<Item = &'a str> + Clone,
    metadata: &BTreeMap<String, String>,
    cross_attn_width: Option<usize>,
) -> Family {
    if let Some(v) = metadata.get("ss_base_model_version") {
        if v.starts_with("sdxl") {
            return Family::Sdxl;
        }
        if v.starts_with("sd_v2") {
            return Family::Sd2;
        }
        if v.starts_with("sd_v1") {
            return Family::Sd1;
        }
        if v.starts_with("flux") || v == "chroma" {
            return Family::Flux;
        }
    }
    if let Some(arch) = metadata.get("modelspec.architecture") {
        if arch.starts_with("stable-diffusion-xl") {
            return Family::Sdxl;
        }
        if arch.starts_with("stable-diffusion-v2") {
            return Family::Sd2;
        }
        if arch.starts_with("stable-diffusion-v1") {
            return Family::Sd1;
        }
        if arch.starts_with("flux") || arch.starts_with("chroma") {
            return Family::Flux;
        }
    }
    let any = |words: &[&str]| {
        modules
            .clone()
            .into_iter()
            .any(|m| words.iter().any(|w| m.contains(w)))
    };
    if any(&[
        "double_blocks",
        "single_blocks",
        "single_transformer_blocks",
        "lora_te3_",
    ]) {
        return Family::Flux;
    }
    if any(&[
        "input_blocks",
        "output_blocks",
        "middle_block",
        "lora_te1_",
        "lora_te2_",
        "text_encoder_2.",
    ]) {
        return Family::Sdxl;
    }
    match cross_attn_width {
        Some(768) => Family::Sd1,
        Some(1024) => Family::Sd2,
        Some(2048) => Family::Sdxl,
        _ if any(&["down_blocks", "up_blocks", "mid_block", "lora_te_"]) => Family::Sd1,
        _ => Family::Unknown,
    }
}

/// Whether a canonical module name belongs to a text encoder.
pub fn is_text_encoder(canonical: &str) -> bool {
    canonical.starts_with("lora_te")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_every_spelling_to_the_same_module() {
        let keys = [
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight",
            "unet.down_blocks.0.attentions.0.proj_in.lora_A.weight",
            "unet.down_blocks.0.attentions.0.proj_in.lora.down.weight",
        ];
        let names: Vec<String> = keys
            .iter()
            .map(|k| {
                let (m, part, _) = split_key(k).unwrap();
                assert_eq!(part, Part::Down);
                canonical_name(&m, false)
            })
            .collect();
        assert!(
            names
                .iter()
                .all(|n| n == "lora_unet_down_blocks_0_attentions_0_proj_in"),
            "{names:?}"
        );
    }

    #[test]
    fn old_attention_processor_names_map_to_modules() {
        let (m, part, s) = split_key("unet.mid_block.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora.up.weight")
            .unwrap();
        assert_eq!((part, s), (Part::Up, Spelling::DiffusersOld));
        assert_eq!(
            m,
            "unet.mid_block.attentions.0.transformer_blocks.0.attn1.to_out.0"
        );
    }

    #[test]
    fn undot_inverts_kohya_names() {
        for dotted in [
            "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_out.0",
            "mid_block.resnets.1.time_emb_proj",
            "up_blocks.3.attentions.2.transformer_blocks.0.ff.net.0.proj",
            "text_model.encoder.layers.11.self_attn.q_proj",
            "input_blocks.4.1.transformer_blocks.0.attn1.to_q",
            "output_blocks.2.1.conv",
            "single_transformer_blocks.3.proj_mlp",
            "transformer_blocks.0.attn.add_q_proj",
        ] {
            assert_eq!(undot(&dotted.replace('.', "_")), dotted);
        }
    }

    #[test]
    fn family_from_names() {
        let meta = BTreeMap::new();
        assert_eq!(
            detect_family(["lora_unet_double_blocks_0_img_attn_qkv"], &meta, None),
            Family::Flux
        );
        assert_eq!(
            detect_family(["lora_unet_input_blocks_4_1_proj_in"], &meta, None),
            Family::Sdxl
        );
        assert_eq!(
            detect_family(
                ["lora_unet_down_blocks_0_attentions_0_proj_in"],
                &meta,
                Some(1024)
            ),
            Family::Sd2
        );
        assert_eq!(
            detect_family(
                ["lora_unet_down_blocks_0_attentions_0_proj_in"],
                &meta,
                None
            ),
            Family::Sd1
        );
    }
}
