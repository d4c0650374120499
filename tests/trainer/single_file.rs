//! The builtin trainer's VAE and CLIP text encoder read from an LDM single-file checkpoint
//! give what the same models give from a diffusers folder, and what diffusers and transformers
//! compute. The checkpoint is written at test time by sd-scripts' own
//! `save_stable_diffusion_checkpoint` (tests/fixtures/single_file/make.py, run in the
//! environment `kohya-cpu.sh prepare` builds), so the LDM names are a real saver's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use crate::kohya_env;

use std::path::Path;
use std::process::Command;

use candle_core::{Device, Tensor};
use lorabench::trainer::encoders::{TextEncoder, Vae};
use lorabench::trainer::weights;

fn make(out: &Path) {
    let env = kohya_env::kohya();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/single_file/make.py");
    let run = Command::new(env.path("PYTHON"))
        .arg(&script)
        .arg(env.path("SD_SCRIPTS"))
        .arg(out)
        .output()
        .expect("run make.py");
    assert!(
        run.status.success(),
        "make.py failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

fn max_rel(a: &Tensor, b: &Tensor) -> f32 {
    let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
    let scale = b.abs().unwrap().max_all().unwrap();
    diff.to_scalar::<f32>().unwrap() / scale.to_scalar::<f32>().unwrap().max(1e-6)
}

#[test]
fn single_file_encoders_match_the_folder_and_the_real_libraries() {
    let tmp = tempfile::tempdir().unwrap();
    make(tmp.path());
    let dev = Device::Cpu;
    let file = tmp.path().join("model.safetensors");
    let tensors = weights::read(&file, &dev).unwrap();
    let expected = weights::read(&tmp.path().join("expected.safetensors"), &dev).unwrap();

    let folder_vae = Vae::load(&tmp.path().join("folder"), &dev).unwrap();
    let file_vae = Vae::from_single_file(&file, &tensors, &dev).unwrap();
    assert_eq!(file_vae.factor, 8);
    let latents = &expected["latents"];
    let from_folder = folder_vae.decode(latents).unwrap();
    let from_file = file_vae.decode(latents).unwrap();
    assert!(max_rel(&from_file, &from_folder) < 1e-6);
    let rel = max_rel(&from_file, &expected["image"]);
    assert!(rel < 1e-4, "VAE decode vs diffusers: {rel}");

    let folder_text = TextEncoder::load(&tmp.path().join("folder"), &dev).unwrap();
    let file_text = TextEncoder::from_single_file(&file, &tensors, &dev).unwrap();
    assert_eq!(file_text.width, 64);
    let row: Vec<i64> = expected["row"].to_vec1().unwrap();
    let tokens: Vec<u32> = row[1..6].iter().map(|&t| t as u32).collect();
    assert_eq!(
        TextEncoder::input_row(&tokens),
        row.iter().map(|&t| t as u32).collect::<Vec<_>>()
    );
    let a = file_text.encode(&tokens).unwrap();
    assert!(max_rel(&a, &folder_text.encode(&tokens).unwrap()) < 1e-6);
    let rel = max_rel(&a, &expected["hidden"]);
    assert!(rel < 1e-4, "CLIP vs transformers: {rel}");
}

#[test]
fn a_checkpoint_without_a_vae_or_text_encoder_is_named() {
    let dev = Device::Cpu;
    let path = Path::new("/models/unet-only.safetensors");
    let mut tensors = std::collections::HashMap::new();
    tensors.insert(
        "model.diffusion_model.out.0.weight".to_string(),
        Tensor::zeros(4, candle_core::DType::F32, &dev).unwrap(),
    );
    let err = Vae::from_single_file(path, &tensors, &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("unet-only.safetensors") && err.contains("no VAE"),
        "{err}"
    );
    let err = TextEncoder::from_single_file(path, &tensors, &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no text encoder"), "{err}");
    tensors.insert(
        "cond_stage_model.model.token_embedding.weight".to_string(),
        Tensor::zeros(4, candle_core::DType::F32, &dev).unwrap(),
    );
    let err = TextEncoder::from_single_file(path, &tensors, &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("SD2"), "{err}");
}
