//! `lora inspect` on fixtures written by diffusers (make_fixtures.py). Expected values come from
//! how the fixture was built (PEFT r=4 alpha=8, one module r=2, one alpha=3; metadata in
//! kohya_metadata()) or are counted here from the raw keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::path::Path;

use lorabench::lora::inspect::inspect;
use lorabench::lora::keys::{Family, Format};
use lorabench::lora::safetensors::SafetensorsFile;

const KOHYA_META: &str = "tests/fixtures/lora/lora_kohya_meta.safetensors";
const PEFT: &str = "tests/fixtures/lora/lora_peft.safetensors";

/// Modules counted straight from the key names.
fn count_modules(path: &str, down_suffix: &str, te: &str) -> (usize, usize) {
    let f = SafetensorsFile::open(Path::new(path)).unwrap();
    let downs: Vec<&str> = f
        .tensors()
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| n.ends_with(down_suffix))
        .collect();
    let te_count = downs.iter().filter(|n| n.starts_with(te)).count();
    (downs.len() - te_count, te_count)
}

#[test]
fn kohya_file_with_sd_scripts_metadata() {
    let i = inspect(Path::new(KOHYA_META)).unwrap();
    assert_eq!(i.format, Format::Kohya);
    assert_eq!(i.family, Family::Sd1);
    assert_eq!(
        (i.unet_modules, i.text_encoder_modules),
        count_modules(KOHYA_META, ".lora_down.weight", "lora_te")
    );
    assert_eq!(i.ranks, vec![2, 4]);
    assert!(i.rank_varies && i.alpha_varies);
    assert_eq!(i.alphas, vec![3.0, 8.0]);
    assert_eq!(i.scale, None, "scales differ: 8/4, 8/2, 3/4");
    let to_q = i
        .modules
        .iter()
        .find(|m| m.name == "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q")
        .unwrap();
    assert_eq!(
        (to_q.rank, to_q.alpha, to_q.scale),
        (Some(2), Some(8.0), Some(4.0))
    );
    assert!(
        i.modules.iter().any(|m| m.kind == "lora-conv"),
        "3x3 resnet convs are conv modules"
    );
    assert_eq!(i.hash.matches, Some(true));
    assert_eq!(
        i.tensor_count,
        SafetensorsFile::open(Path::new(KOHYA_META))
            .unwrap()
            .tensors()
            .len()
    );
    assert_eq!(i.dtypes.get("F32"), Some(&i.tensor_count));
    let t = i.training.unwrap();
    assert_eq!(t.steps.as_deref(), Some("1200"));
    assert_eq!(t.resolution.as_deref(), Some("(512, 512)"));
    assert_eq!(
        t.dataset_dirs,
        vec![("10_cat".to_string(), Some(10), Some(12))]
    );
    assert_eq!(t.top_tags[0], ("cat".to_string(), 14));
    assert_eq!(t.started_at.as_deref(), Some("2023-11-14 22:13:20 UTC"));
    assert_eq!(
        i.modelspec.get("title").map(String::as_str),
        Some("tiny cat")
    );
}

#[test]
fn peft_file_alphas_come_from_adapter_metadata() {
    let i = inspect(Path::new(PEFT)).unwrap();
    assert_eq!(i.format, Format::DiffusersPeft);
    assert_eq!(
        i.family,
        Family::Sd1,
        "attn2.to_k reads 16-wide context: falls back to the SD1 names"
    );
    assert_eq!(
        (i.unet_modules, i.text_encoder_modules),
        count_modules(PEFT, ".lora_A.weight", "text_encoder")
    );
    let proj_out = i
        .modules
        .iter()
        .find(|m| m.name == "lora_unet_up_blocks_1_attentions_2_proj_out")
        .unwrap();
    assert_eq!((proj_out.rank, proj_out.alpha), (Some(4), Some(3.0)));
    assert_eq!(i.hash.stored, None);
    assert!(i.training.is_none());
}

#[test]
fn tampered_data_fails_the_hash_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(KOHYA_META).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    let path = dir.path().join("tampered.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let i = inspect(&path).unwrap();
    assert_eq!(i.hash.matches, Some(false));
}

#[test]
fn cli_text_and_json() {
    let bin = env!("CARGO_BIN_EXE_lorabench");
    let text = std::process::Command::new(bin)
        .args(["lora", "inspect", KOHYA_META])
        .output()
        .unwrap();
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    for needle in [
        "kohya LoRA",
        "sd15",
        "sshs_model_hash matches",
        "cat (14)",
        "1200 of 1200",
        "10_cat: 12 images x 10 repeats",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let json = std::process::Command::new(bin)
        .args(["lora", "inspect", "--json", PEFT])
        .output()
        .unwrap();
    assert!(json.status.success());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["format"], "diffusers-peft");
    assert_eq!(v["family"], "sd15");
    assert!(v["modules"].as_array().unwrap().len() > 10);
}
