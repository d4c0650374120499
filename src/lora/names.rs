//! Which kohya LoRA module names a base checkpoint weight answers to: `merge` matches LoRA
//! modules through them, `extract` names the modules it writes with the first one. Built
//! forward from the base key, never by inverting kohya names (lora-formats.md §4.1).

use std::collections::BTreeSet;

use super::ldm;
use super::safetensors::TensorInfo;

/// Where one LoRA module lands in a base weight: the whole weight, or one of `parts` equal row
/// blocks (`block` of them) for fused q|k|v projections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    pub block: usize,
    pub parts: usize,
}

/// A kohya module name a base key answers to, with its row block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub rows: Option<Rows>,
}

fn whole(name: String) -> Candidate {
    Candidate { name, rows: None }
}

fn kohya(prefix: &str, dotted: &str) -> String {
    format!("{prefix}{}", dotted.replace('.', "_"))
}

/// BFL Flux top-level modules (kohya names them `lora_unet_` + path).
const FLUX_BFL: &[&str] = &[
    "double_blocks.",
    "single_blocks.",
    "img_in",
    "txt_in",
    "time_in.",
    "vector_in.",
    "guidance_in.",
    "final_layer.",
];

/// The layout facts some mappings need, taken from the base's key set.
pub struct BaseLayout {
    /// diffusers-layout UNets: up blocks with attention layers.
    up_blocks_with_attention: BTreeSet<usize>,
    /// SDXL (its kohya LoRAs keep LDM UNet names; SD1's use diffusers names).
    sdxl: bool,
}

impl BaseLayout {
    pub fn sdxl(&self) -> bool {
        self.sdxl
    }

    pub fn of(tensors: &[TensorInfo]) -> Self {
        let up_blocks_with_attention = tensors
            .iter()
            .filter_map(|t| {
                let rest = t.name.strip_prefix("up_blocks.")?;
                let (i, rest) = rest.split_once('.')?;
                rest.starts_with("attentions.").then(|| i.parse().ok())?
            })
            .collect();
        let sdxl = tensors.iter().any(|t| t.name.starts_with("conditioner."));
        Self {
            up_blocks_with_attention,
            sdxl,
        }
    }
}

/// The kohya names (and row blocks) a base weight key answers to. The first is the name kohya
/// itself writes for this key in this family (what `extract` names its modules).
pub fn candidates(key: &str, layout: &BaseLayout) -> Vec<Candidate> {
    // OpenCLIP bigG (SDXL te2): fused q|k|v rows, and its own names for the rest.
    if let Some(rest) = key.strip_prefix("conditioner.embedders.1.model.transformer.resblocks.") {
        let Some((i, rest)) = rest.split_once('.') else {
            return Vec::new();
        };
        let layer = format!("lora_te2_text_model_encoder_layers_{i}");
        return match rest {
            "attn.in_proj_weight" => ["q", "k", "v"]
                .iter()
                .enumerate()
                .map(|(block, p)| Candidate {
                    name: format!("{layer}_self_attn_{p}_proj"),
                    rows: Some(Rows { block, parts: 3 }),
                })
                .collect(),
            "attn.out_proj.weight" => vec![whole(format!("{layer}_self_attn_out_proj"))],
            "mlp.c_fc.weight" => vec![whole(format!("{layer}_mlp_fc1"))],
            "mlp.c_proj.weight" => vec![whole(format!("{layer}_mlp_fc2"))],
            _ => Vec::new(),
        };
    }
    let Some(module) = key.strip_suffix(".weight") else {
        return Vec::new();
    };
    if let Some(rest) = module.strip_prefix("conditioner.embedders.0.transformer.") {
        return vec![whole(kohya("lora_te1_", rest))];
    }
    if let Some(rest) = module.strip_prefix("cond_stage_model.transformer.") {
        let rest = if rest.starts_with("text_model.") {
            rest.to_string()
        } else {
            format!("text_model.{rest}")
        };
        // SD1 has one text encoder; diffusers' kohya export calls it `lora_te1_`.
        return vec![
            whole(kohya("lora_te_", &rest)),
            whole(kohya("lora_te1_", &rest)),
        ];
    }
    let (inner, bare) = match module.strip_prefix("model.diffusion_model.") {
        Some(inner) => (inner, false),
        None => (module, true),
    };
    if FLUX_BFL.iter().any(|p| inner.starts_with(p)) {
        return vec![whole(kohya("lora_unet_", inner))];
    }
    let mut out = vec![whole(kohya("lora_unet_", inner))];
    if bare {
        // A diffusers-layout UNet or transformer: also answer to LDM (SDXL kohya) names.
        let has_attn = |i: usize| layout.up_blocks_with_attention.contains(&i);
        if let Some(l) = ldm::diffusers_to_ldm(inner, &has_attn) {
            out.push(whole(kohya("lora_unet_", &l)));
        }
        out.push(whole(kohya("lora_transformer_", inner)));
        if inner.starts_with("text_model.") {
            out.push(whole(kohya("lora_te_", inner)));
        }
    } else if let Some(d) = ldm::ldm_to_diffusers(inner) {
        let d = whole(kohya("lora_unet_", &d));
        // SD1/SD2 kohya LoRAs use diffusers module names.
        if layout.sdxl {
            out.push(d);
        } else {
            out.insert(0, d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(key: &str) -> Vec<String> {
        let layout = BaseLayout {
            up_blocks_with_attention: [1, 2, 3].into_iter().collect(),
            sdxl: false,
        };
        candidates(key, &layout)
            .into_iter()
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn sd15_single_file_keys_answer_to_diffusers_kohya_names() {
        let n =
            names("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight");
        assert_eq!(
            n[0],
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
        );
        let n = names("model.diffusion_model.output_blocks.2.1.conv.weight");
        assert!(n.contains(&"lora_unet_up_blocks_0_upsamplers_0_conv".to_string()));
        let n = names(
            "cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight",
        );
        assert!(n.contains(&"lora_te_text_model_encoder_layers_0_self_attn_q_proj".to_string()));
        assert!(n.contains(&"lora_te1_text_model_encoder_layers_0_self_attn_q_proj".to_string()));
    }

    #[test]
    fn sdxl_keys_answer_to_ldm_kohya_names_and_fused_qkv_rows() {
        let n =
            names("model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight");
        assert!(
            n.contains(&"lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q".to_string())
        );
        let layout = BaseLayout {
            up_blocks_with_attention: BTreeSet::new(),
            sdxl: true,
        };
        let c = candidates(
            "conditioner.embedders.1.model.transformer.resblocks.3.attn.in_proj_weight",
            &layout,
        );
        assert_eq!(c.len(), 3);
        assert_eq!(
            c[1].name,
            "lora_te2_text_model_encoder_layers_3_self_attn_k_proj"
        );
        assert_eq!(c[1].rows, Some(Rows { block: 1, parts: 3 }));
    }

    #[test]
    fn flux_and_diffusers_layouts() {
        assert_eq!(
            names("double_blocks.0.img_attn.qkv.weight"),
            vec!["lora_unet_double_blocks_0_img_attn_qkv"]
        );
        assert_eq!(
            names("model.diffusion_model.single_blocks.3.linear1.weight"),
            vec!["lora_unet_single_blocks_3_linear1"]
        );
        let n = names("down_blocks.1.attentions.0.proj_in.weight");
        assert!(n.contains(&"lora_unet_down_blocks_1_attentions_0_proj_in".to_string()));
        assert!(n.contains(&"lora_unet_input_blocks_4_1_proj_in".to_string()));
        let n = names("single_transformer_blocks.0.attn.to_q.weight");
        assert!(n.contains(&"lora_transformer_single_transformer_blocks_0_attn_to_q".to_string()));
        assert!(names("model.diffusion_model.input_blocks.1.1.norm.bias").is_empty());
    }
}
