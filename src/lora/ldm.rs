//! UNet module paths in the LDM single-file layout (`input_blocks.4.1.…`) and the diffusers
//! layout (`down_blocks.1.attentions.0.…`), both ways (reference §9.1). SD1.x, SD2 and SDXL
//! share the rules: two resnets per down block, three per up block.

/// Resnet internals: diffusers name, LDM name.
const RESNET_PARTS: &[(&str, &str)] = &[
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
];

/// Top-level modules: diffusers name, LDM name.
const TOP_LEVEL: &[(&str, &str)] = &[
    ("time_embedding.linear_1", "time_embed.0"),
    ("time_embedding.linear_2", "time_embed.2"),
    ("add_embedding.linear_1", "label_emb.0.0"),
    ("add_embedding.linear_2", "label_emb.0.2"),
    ("conv_in", "input_blocks.0.0"),
    ("conv_norm_out", "out.0"),
    ("conv_out", "out.2"),
];

fn resnet_to_ldm(rest: &str) -> Option<String> {
    for (d, l) in RESNET_PARTS {
        if let Some(tail) = strip_word(rest, d) {
            return Some(format!("{l}{tail}"));
        }
    }
    None
}

fn resnet_to_diffusers(rest: &str) -> Option<String> {
    for (d, l) in RESNET_PARTS {
        if let Some(tail) = strip_word(rest, l) {
            return Some(format!("{d}{tail}"));
        }
    }
    None
}

/// Strips `word` from the front of `s` if it is followed by `.` or the end.
fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let tail = s.strip_prefix(word)?;
    (tail.is_empty() || tail.starts_with('.')).then_some(tail)
}

/// Splits `"12.rest"` into (12, "rest").
fn index(s: &str) -> Option<(usize, &str)> {
    let (n, rest) = s.split_once('.').unwrap_or((s, ""));
    Some((n.parse().ok()?, rest))
}

/// LDM UNet module path (without `model.diffusion_model.`) -> diffusers path.
pub fn ldm_to_diffusers(ldm: &str) -> Option<String> {
    for (d, l) in TOP_LEVEL {
        if let Some(tail) = strip_word(ldm, l) {
            return Some(format!("{d}{tail}"));
        }
    }
    if let Some(rest) = ldm.strip_prefix("input_blocks.") {
        let (n, rest) = index(rest)?;
        let (layer, rest) = index(rest)?;
        if n == 0 {
            return None;
        }
        let (i, j) = ((n - 1) / 3, (n - 1) % 3);
        return match (j, layer) {
            // Position 2 of a down block is its downsampler: `input_blocks.3.0.op`.
            (2, 0) => {
                strip_word(rest, "op").map(|t| format!("down_blocks.{i}.downsamplers.0.conv{t}"))
            }
            (_, 0) => resnet_to_diffusers(rest).map(|r| format!("down_blocks.{i}.resnets.{j}.{r}")),
            (_, 1) => Some(format!("down_blocks.{i}.attentions.{j}.{rest}")),
            _ => None,
        };
    }
    if let Some(rest) = ldm.strip_prefix("middle_block.") {
        let (layer, rest) = index(rest)?;
        return match layer {
            0 | 2 => {
                resnet_to_diffusers(rest).map(|r| format!("mid_block.resnets.{}.{r}", layer / 2))
            }
            1 => Some(format!("mid_block.attentions.0.{rest}")),
            _ => None,
        };
    }
    if let Some(rest) = ldm.strip_prefix("output_blocks.") {
        let (n, rest) = index(rest)?;
        let (layer, rest) = index(rest)?;
        let (i, j) = (n / 3, n % 3);
        // The upsampler is the last layer of the third position; its only weight is `conv`.
        if j == 2 && layer >= 1 && strip_word(rest, "conv").is_some() {
            return Some(format!("up_blocks.{i}.upsamplers.0.{rest}"));
        }
        return match layer {
            0 => resnet_to_diffusers(rest).map(|r| format!("up_blocks.{i}.resnets.{j}.{r}")),
            1 => Some(format!("up_blocks.{i}.attentions.{j}.{rest}")),
            _ => None,
        };
    }
    None
}

/// Diffusers UNet module path -> LDM path. `up_has_attention(i)` says whether up block i has
/// attention layers, which moves its upsampler from layer 1 to layer 2.
pub fn diffusers_to_ldm(path: &str, up_has_attention: &dyn Fn(usize) -> bool) -> Option<String> {
    for (d, l) in TOP_LEVEL {
        if let Some(tail) = strip_word(path, d) {
            return Some(format!("{l}{tail}"));
        }
    }
    if let Some(rest) = path.strip_prefix("down_blocks.") {
        let (i, rest) = index(rest)?;
        if let Some(rest) = rest.strip_prefix("resnets.") {
            let (j, rest) = index(rest)?;
            return resnet_to_ldm(rest).map(|r| format!("input_blocks.{}.0.{r}", 3 * i + j + 1));
        }
        if let Some(rest) = rest.strip_prefix("attentions.") {
            let (j, rest) = index(rest)?;
            return Some(format!("input_blocks.{}.1.{rest}", 3 * i + j + 1));
        }
        if let Some(rest) = rest.strip_prefix("downsamplers.0.conv") {
            return Some(format!("input_blocks.{}.0.op{rest}", 3 * (i + 1)));
        }
        return None;
    }
    if let Some(rest) = path.strip_prefix("mid_block.") {
        if let Some(rest) = rest.strip_prefix("attentions.0.") {
            return Some(format!("middle_block.1.{rest}"));
        }
        if let Some(rest) = rest.strip_prefix("resnets.") {
            let (j, rest) = index(rest)?;
            return resnet_to_ldm(rest).map(|r| format!("middle_block.{}.{r}", 2 * j));
        }
        return None;
    }
    if let Some(rest) = path.strip_prefix("up_blocks.") {
        let (i, rest) = index(rest)?;
        if let Some(rest) = rest.strip_prefix("resnets.") {
            let (j, rest) = index(rest)?;
            return resnet_to_ldm(rest).map(|r| format!("output_blocks.{}.0.{r}", 3 * i + j));
        }
        if let Some(rest) = rest.strip_prefix("attentions.") {
            let (j, rest) = index(rest)?;
            return Some(format!("output_blocks.{}.1.{rest}", 3 * i + j));
        }
        if let Some(rest) = rest.strip_prefix("upsamplers.0.") {
            let layer = if up_has_attention(i) { 2 } else { 1 };
            return Some(format!("output_blocks.{}.{layer}.{rest}", 3 * i + 2));
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairs from the reference table (§9.1) for SD1.5, whose up block 0 has no attention.
    const PAIRS: &[(&str, &str)] = &[
        ("time_embedding.linear_1", "time_embed.0"),
        ("conv_in", "input_blocks.0.0"),
        (
            "down_blocks.0.resnets.1.conv1",
            "input_blocks.2.0.in_layers.2",
        ),
        (
            "down_blocks.1.attentions.0.proj_in",
            "input_blocks.4.1.proj_in",
        ),
        ("down_blocks.2.downsamplers.0.conv", "input_blocks.9.0.op"),
        (
            "down_blocks.3.resnets.1.time_emb_proj",
            "input_blocks.11.0.emb_layers.1",
        ),
        ("mid_block.resnets.1.conv2", "middle_block.2.out_layers.3"),
        (
            "mid_block.attentions.0.transformer_blocks.0.attn2.to_k",
            "middle_block.1.transformer_blocks.0.attn2.to_k",
        ),
        (
            "up_blocks.0.resnets.2.conv_shortcut",
            "output_blocks.2.0.skip_connection",
        ),
        ("up_blocks.0.upsamplers.0.conv", "output_blocks.2.1.conv"),
        ("up_blocks.1.upsamplers.0.conv", "output_blocks.5.2.conv"),
        (
            "up_blocks.3.attentions.2.transformer_blocks.0.ff.net.2",
            "output_blocks.11.1.transformer_blocks.0.ff.net.2",
        ),
        ("conv_out", "out.2"),
    ];

    #[test]
    fn table_both_ways() {
        let sd15_up_attn = |i: usize| i > 0;
        for (d, l) in PAIRS {
            assert_eq!(
                diffusers_to_ldm(d, &sd15_up_attn).as_deref(),
                Some(*l),
                "{d}"
            );
            assert_eq!(ldm_to_diffusers(l).as_deref(), Some(*d), "{l}");
        }
    }

    #[test]
    fn non_unet_paths_do_not_map() {
        assert_eq!(ldm_to_diffusers("input_blocks.x.0"), None);
        assert_eq!(diffusers_to_ldm("text_model.encoder", &|_| true), None);
    }
}
