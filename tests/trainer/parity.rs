//! The builtin trainer's UNet against the real diffusers/torch. Fixtures in
//! tests/fixtures/unet/ were made by make.py there (diffusers 0.32.1, torch 2.6, peft 0.15.2):
//! `io.safetensors` holds diffusers' forward output; `lora.safetensors` is a file written by
//! our own code (`write_lora_fixture` below, checked again by `lora_file_is_ours`) that
//! make.py then loaded with `load_lora_weights`, recording diffusers' output with it, torch's
//! gradients of a fixed loss w.r.t. every LoRA factor, and two torch.optim.AdamW steps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use lorabench::lora::inspect::inspect;
use lorabench::lora::keys::Format;
use lorabench::trainer::lora::{KohyaInfo, LoraSet, LoraSpec, Targets};
use lorabench::trainer::optim::{AdamW, AdamWConfig};
use lorabench::trainer::rng::Rng;
use lorabench::trainer::unet::UNet;
use lorabench::trainer::weights::Weights;

const CONFIGS: [&str; 2] = ["pipe", "model"];

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/unet")
        .join(name)
}

fn load(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

/// ‖a − b‖ / ‖b‖.
fn rel(a: &Tensor, b: &Tensor) -> f64 {
    let d = (a - b)
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let n = b
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    (f64::from(d) / f64::from(n)).sqrt()
}

/// Every adapter kind: attention, feed-forward, projections, ResNets (LoCon), rank 2 with
/// alpha 3 (scale 1.5) and alpha 1 on the convs (scale 0.5), up factors random so every path
/// counts. One rank throughout: diffusers 0.32.1's loader (`_maybe_adjust_config`) replaces
/// every alpha by the rank when a file mixes ranks.
fn lora_model(name: &str) -> (UNet, LoraSet) {
    let (cfg, mut w) = Weights::load(&dir(name), DType::F32, &Device::Cpu).unwrap();
    let mut spec = LoraSpec::new(
        2,
        3.0,
        Targets {
            resnets: true,
            ..Targets::transformer()
        },
        11,
    );
    spec.conv_rank = 2;
    spec.conv_alpha = 1.0;
    let (unet, set) = UNet::new(&cfg, &mut w, Some(&spec)).unwrap();
    let mut rng = Rng::new(5);
    for a in &set.adapters {
        a.up.set(&rng.randn(a.up.dims(), 0.3, &Device::Cpu).unwrap())
            .unwrap();
    }
    (unet, set)
}

fn info() -> KohyaInfo {
    KohyaInfo {
        output_name: "parity".into(),
        base_model_name: "diffusers-test-unet".into(),
        base_model_version: "sd_v1".into(),
        resolution: (256, 256),
        steps: 0,
        learning_rate: 1e-2,
        lr_scheduler: "constant".into(),
        seed: 11,
        date: "2026-12-01T00:00:00".into(),
        ..Default::default()
    }
}

#[test]
fn forward_matches_diffusers() {
    for name in CONFIGS {
        let (cfg, mut w) = Weights::load(&dir(name), DType::F32, &Device::Cpu).unwrap();
        let (unet, set) = UNet::new(&cfg, &mut w, None).unwrap();
        assert!(set.is_empty());
        let io = load(&dir(name).join("io.safetensors"));
        let out = unet
            .forward(&io["sample"], &io["timestep"], &io["context"])
            .unwrap();
        let r = rel(&out, &io["out"]);
        eprintln!("{name}: forward relative error {r:.2e}");
        assert!(r < 1e-4, "{name}: relative error {r}");
    }
}

#[test]
#[ignore = "regenerates tests/fixtures/unet/*/lora.safetensors; run make.py lora afterwards"]
fn write_lora_fixture() {
    for name in CONFIGS {
        let (_, set) = lora_model(name);
        set.save_kohya(&dir(name).join("lora.safetensors"), &info())
            .unwrap();
    }
}

#[test]
fn lora_file_is_ours_and_reads_as_kohya() {
    for name in CONFIGS {
        let (_, set) = lora_model(name);
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("lora.safetensors");
        set.save_kohya(&path, &info()).unwrap();
        let fresh = load(&path);
        let committed = load(&dir(name).join("lora.safetensors"));
        assert_eq!(fresh.len(), committed.len());
        for (k, t) in &fresh {
            assert_eq!(
                rel(t, &committed[k]),
                0.0,
                "{name}: {k} differs from the fixture"
            );
        }
        let report = inspect(&path).unwrap();
        assert_eq!(report.format, Format::Kohya, "{name}");
        assert_eq!(report.unet_modules, set.adapters.len());
        assert_eq!(
            report.modelspec.get("architecture").map(String::as_str),
            Some("stable-diffusion-v1/lora")
        );
        let training = report.training.unwrap();
        assert_eq!(training.network_dim.as_deref(), Some("2"));
        // A reload into a fresh model restores every factor.
        let (_, other) = lora_model(name);
        for a in &other.adapters {
            a.up.set(&a.up.zeros_like().unwrap()).unwrap();
        }
        other.load_kohya(&path).unwrap();
        for ((_, a), (_, b)) in other.vars().iter().zip(set.vars().iter()) {
            assert_eq!(rel(a.as_tensor(), b.as_tensor()), 0.0);
        }
    }
}

#[test]
fn lora_output_gradients_and_adamw_match_torch() {
    for name in CONFIGS {
        let (unet, set) = lora_model(name);
        let io = load(&dir(name).join("io.safetensors"));
        let want = load(&dir(name).join("lora_expected.safetensors"));
        let out = unet
            .forward(&io["sample"], &io["timestep"], &io["context"])
            .unwrap();
        let r = rel(&out, &want["out"]);
        eprintln!("{name}: LoRA forward relative error {r:.2e}");
        assert!(r < 1e-4, "{name}: LoRA output relative error {r}");
        // The LoRA must change the output, or the comparison above proves nothing.
        assert!(rel(&out, &io["out"]) > 1e-3);
        let loss = (&out - &io["target"])
            .unwrap()
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap();
        assert!(rel(&loss.reshape(1).unwrap(), &want["loss"]) < 1e-5);
        let grads = loss.backward().unwrap();
        let params = set.vars();
        let norm = f64::from(want["grad_norm"].to_vec1::<f32>().unwrap()[0]);
        let mut worst: f64 = 0.0;
        for (key, var) in &params {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{name}: no gradient for {key}"));
            let w = &want[&format!("grad.{key}")].reshape(g.shape()).unwrap();
            let wn = f64::from(
                w.sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap(),
            )
            .sqrt();
            // In `model`, 4 channels in 4 groups: GroupNorm removes the first ResNet's time
            // embedding, so its time_emb_proj gradient is zero in exact arithmetic (torch in
            // f64: 5e-18) and both sides hold f32 rounding noise, ~1e-9 of the total norm.
            if wn < 1e-6 * norm {
                let g_n = f64::from(
                    g.sqr()
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap(),
                )
                .sqrt();
                assert!(
                    g_n < 1e-6 * norm,
                    "{name}: {key}: gradient {g_n:e} where torch has ~0"
                );
                continue;
            }
            let r = rel(g, w);
            worst = worst.max(r);
            assert!(r < 1e-4, "{name}: gradient of {key}: relative error {r}");
        }
        eprintln!(
            "{name}: {} LoRA gradients, worst relative error {worst:.2e}",
            params.len()
        );
        // Two AdamW steps with torch's gradients (the same twice) against torch.optim.AdamW.
        let cfg = AdamWConfig {
            weight_decay: 0.1,
            ..AdamWConfig::default()
        };
        let torch_grads = || -> Vec<Tensor> {
            params
                .iter()
                .map(|(key, v)| want[&format!("grad.{key}")].reshape(v.shape()).unwrap())
                .collect()
        };
        let mut opt = AdamW::new(&params, cfg).unwrap();
        for step in 1..=2 {
            opt.update(&params, torch_grads(), 1e-2, None).unwrap();
            for (key, var) in &params {
                let w = want[&format!("adamw{step}.{key}")]
                    .reshape(var.shape())
                    .unwrap();
                let r = rel(var.as_tensor(), &w);
                assert!(
                    r < 1e-5,
                    "{name}: AdamW step {step} of {key}: relative error {r}"
                );
            }
        }
        let stats = opt.update(&params, torch_grads(), 1e-2, Some(0.5)).unwrap();
        assert!((stats.grad_norm / norm - 1.0).abs() < 1e-5);
        // Our own gradients drive the same step (a missing one would be an error).
        opt.step(&params, &grads, 1e-2, Some(0.5)).unwrap();
    }
}
