//! `lora merge` against diffusers: the fixtures in tests/fixtures/lora were fused by diffusers
//! (`load_lora_weights` + `fuse_lora(lora_scale=0.75)`, make_fixtures.py); our merge of the
//! same PEFT file, and of its kohya conversion, must give the same weights.
//!
//! Tolerance: 1e-5 absolute on F32 weights of magnitude ~0.1..3 (both sides compute in F32; the
//! difference is summation order). F16 bases: 2e-3 absolute (one F16 rounding step near 1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device, Tensor};
use lorabench::lora::ldm;
use lorabench::lora::merge::{MergeError, MergeInput, merge};
use lorabench::lora::model::{LoraFile, write_kohya};
use lorabench::lora::progress::{Cancelled, Task};
use lorabench::lora::safetensors::{Dtype, SafetensorsFile, write_tensors};

const FIX: &str = "tests/fixtures/lora";
const STRENGTH: f32 = 0.75;
const TOL_F32: f32 = 1e-5;

fn fixture(name: &str) -> PathBuf {
    Path::new(FIX).join(name)
}

fn run(
    base: &Path,
    loras: &[(PathBuf, f32)],
    out: &Path,
    allow_missing: bool,
) -> Result<lorabench::lora::merge::MergeReport, MergeError> {
    let cancel = AtomicBool::new(false);
    let inputs: Vec<MergeInput> = loras
        .iter()
        .map(|(p, s)| MergeInput {
            path: p.clone(),
            strength: *s,
        })
        .collect();
    merge(base, &inputs, out, allow_missing, &mut Task::quiet(&cancel))
}

/// Largest absolute difference over all tensors; both files must hold the same keys.
fn max_diff(a: &Path, b: &Path) -> f32 {
    let (fa, fb) = (
        SafetensorsFile::open(a).unwrap(),
        SafetensorsFile::open(b).unwrap(),
    );
    let names = |f: &SafetensorsFile| {
        f.tensors()
            .iter()
            .map(|t| t.name.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(names(&fa), names(&fb), "key sets differ");
    let mut worst = 0f32;
    for t in fa.tensors() {
        let x = fa.read_f32(&t.name).unwrap();
        let y = fb.read_f32(&t.name).unwrap();
        let d = (x - y)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        worst = worst.max(d);
    }
    worst
}

#[test]
fn peft_and_kohya_into_diffusers_unet_match_diffusers_fuse() {
    let dir = tempfile::tempdir().unwrap();
    for lora in ["lora_peft.safetensors", "lora_kohya.safetensors"] {
        let out = dir.path().join(format!("merged_{lora}"));
        // The PEFT file also holds text-encoder modules, which a UNet file cannot take.
        let report = run(
            &fixture("unet_base.safetensors"),
            &[(fixture(lora), STRENGTH)],
            &out,
            true,
        )
        .unwrap();
        assert!(
            report
                .missing
                .iter()
                .all(|m| m.module.starts_with("lora_te")),
            "{:?}",
            report.missing
        );
        assert!(report.modules_applied > 0);
        let d = max_diff(&out, &fixture("expected_unet_fused.safetensors"));
        assert!(d < TOL_F32, "{lora}: max diff {d}");
        // And it really changed something: the base is far from the fused weights.
        assert!(
            max_diff(
                &fixture("unet_base.safetensors"),
                &fixture("expected_unet_fused.safetensors")
            ) > 1e-2
        );
    }
}

#[test]
fn peft_and_kohya_into_ldm_single_file_match_diffusers_fuse() {
    let dir = tempfile::tempdir().unwrap();
    for lora in ["lora_peft.safetensors", "lora_kohya.safetensors"] {
        let out = dir.path().join(format!("merged_{lora}"));
        let report = run(
            &fixture("sd15_base.safetensors"),
            &[(fixture(lora), STRENGTH)],
            &out,
            false,
        )
        .unwrap();
        assert!(report.missing.is_empty());
        let d = max_diff(&out, &fixture("expected_sd15_fused.safetensors"));
        assert!(d < TOL_F32, "{lora}: max diff {d}");
    }
}

#[test]
fn sdxl_style_ldm_kohya_names_merge_the_same() {
    // SDXL kohya files name UNet modules by their LDM paths (`lora_unet_input_blocks_4_1_…`).
    let dir = tempfile::tempdir().unwrap();
    let lora = LoraFile::read(&fixture("lora_kohya.safetensors")).unwrap();
    let up_attn = |i: usize| i == 1; // the fixture's up block 1 is the cross-attention one
    let renamed: Vec<_> = lora
        .modules
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if let Some(rest) = m.name.strip_prefix("lora_unet_") {
                let dotted = lorabench::lora::keys::undot(rest);
                let l = ldm::diffusers_to_ldm(&dotted, &up_attn).unwrap();
                m.name = format!("lora_unet_{}", l.replace('.', "_"));
            }
            m
        })
        .collect();
    assert!(
        renamed
            .iter()
            .any(|m| m.name.starts_with("lora_unet_input_blocks_"))
    );
    let ldm_lora = dir.path().join("ldm_names.safetensors");
    write_kohya(&ldm_lora, &renamed, &BTreeMap::new(), Dtype::F32).unwrap();
    for base in ["sd15_base.safetensors", "unet_base.safetensors"] {
        let out = dir.path().join(format!("merged_{base}"));
        run(&fixture(base), &[(ldm_lora.clone(), STRENGTH)], &out, true).unwrap();
        let expected = if base.starts_with("sd15") {
            "expected_sd15_fused.safetensors"
        } else {
            "expected_unet_fused.safetensors"
        };
        let d = max_diff(&out, &fixture(expected));
        assert!(d < TOL_F32, "{base}: max diff {d}");
    }
}

#[test]
fn f16_base_keeps_its_dtype_and_strengths_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let base = SafetensorsFile::open(&fixture("unet_base.safetensors")).unwrap();
    let tensors: Vec<(String, Tensor)> = base
        .tensors()
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                base.read_tensor(&t.name)
                    .unwrap()
                    .to_dtype(DType::F16)
                    .unwrap(),
            )
        })
        .collect();
    let base16 = dir.path().join("base16.safetensors");
    write_tensors(&base16, &tensors, &BTreeMap::new(), false).unwrap();
    let out = dir.path().join("merged16.safetensors");
    // 0.5 + 0.25 of the same LoRA is 0.75 of it.
    let lora = fixture("lora_peft.safetensors");
    run(&base16, &[(lora.clone(), 0.5), (lora, 0.25)], &out, true).unwrap();
    let merged = SafetensorsFile::open(&out).unwrap();
    assert!(merged.tensors().iter().all(|t| t.dtype == Dtype::F16));
    let d = max_diff(&out, &fixture("expected_unet_fused.safetensors"));
    assert!(d < 2e-3, "max diff {d}");
    let meta = &merged.metadata()["lorabench.merged_loras"];
    let record: serde_json::Value = serde_json::from_str(meta).unwrap();
    assert_eq!(record.as_array().unwrap().len(), 2);
    assert_eq!(record[0]["strength"], 0.5);
    assert_eq!(record[0]["file"], "lora_peft.safetensors");
}

#[test]
fn missing_modules_refuse_module_by_module_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("merged.safetensors");
    let err = run(
        &fixture("unet_base.safetensors"),
        &[(fixture("lora_kohya.safetensors"), 1.0)],
        &out,
        false,
    )
    .unwrap_err();
    let MergeError::MissingModules { missing, .. } = &err else {
        panic!("expected MissingModules, got {err}");
    };
    // Exactly the text-encoder modules of the file are missing from a UNet-only base.
    let lora = LoraFile::read(&fixture("lora_kohya.safetensors")).unwrap();
    let te: Vec<&str> = lora
        .modules
        .iter()
        .filter(|m| m.name.starts_with("lora_te"))
        .map(|m| m.name.as_str())
        .collect();
    let reported: Vec<&str> = missing.iter().map(|m| m.module.as_str()).collect();
    assert_eq!(reported, te);
    assert!(err.to_string().contains(te[0]), "the message lists modules");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "something was written"
    );
}

#[test]
fn cancelling_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("merged.safetensors");
    let cancel = AtomicBool::new(false);
    let mut steps = 0;
    let mut task = Task::new(&cancel, |step| {
        steps += 1;
        if step.done == 10 {
            cancel.store(true, Ordering::Relaxed);
        }
    });
    let input = MergeInput {
        path: fixture("lora_peft.safetensors"),
        strength: 1.0,
    };
    let err = merge(
        &fixture("sd15_base.safetensors"),
        &[input],
        &out,
        false,
        &mut task,
    )
    .unwrap_err();
    drop(task);
    assert!(matches!(err, MergeError::Cancelled(Cancelled)));
    assert_eq!(steps, 11);
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "a partial file was left"
    );
}

/// A small synthetic base and LoRA, for layouts no tiny diffusers model has.
fn synthetic(dir: &Path, base: &[(&str, Tensor)], lora: &[(&str, Tensor)]) -> (PathBuf, PathBuf) {
    let b = dir.join("base.safetensors");
    let l = dir.join("lora.safetensors");
    let own = |v: &[(&str, Tensor)]| {
        v.iter()
            .map(|(k, t)| (k.to_string(), t.clone()))
            .collect::<Vec<_>>()
    };
    write_tensors(&b, &own(base), &BTreeMap::new(), false).unwrap();
    write_tensors(&l, &own(lora), &BTreeMap::new(), false).unwrap();
    (b, l)
}

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(0f32, 1f32, shape, &Device::Cpu).unwrap()
}

fn read(path: &Path, key: &str) -> Tensor {
    SafetensorsFile::open(path).unwrap().read_f32(key).unwrap()
}

fn assert_close(a: &Tensor, b: &Tensor) {
    let d = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-4, "max diff {d}");
}

#[test]
fn sdxl_openclip_fused_qkv_rows_take_q_k_v_separately() {
    let dir = tempfile::tempdir().unwrap();
    let key = "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight";
    let w = randn(&[24, 8]);
    let (dk, uk, dv, uv) = (
        randn(&[2, 8]),
        randn(&[8, 2]),
        randn(&[2, 8]),
        randn(&[8, 2]),
    );
    let alpha = Tensor::new(4f32, &Device::Cpu).unwrap();
    let (base, lora) = synthetic(
        dir.path(),
        &[(key, w.clone())],
        &[
            (
                "lora_te2_text_model_encoder_layers_0_self_attn_k_proj.lora_down.weight",
                dk.clone(),
            ),
            (
                "lora_te2_text_model_encoder_layers_0_self_attn_k_proj.lora_up.weight",
                uk.clone(),
            ),
            (
                "lora_te2_text_model_encoder_layers_0_self_attn_v_proj.lora_down.weight",
                dv.clone(),
            ),
            (
                "lora_te2_text_model_encoder_layers_0_self_attn_v_proj.lora_up.weight",
                uv.clone(),
            ),
            (
                "lora_te2_text_model_encoder_layers_0_self_attn_v_proj.alpha",
                alpha,
            ),
        ],
    );
    let out = dir.path().join("out.safetensors");
    run(&base, &[(lora, 1.0)], &out, false).unwrap();
    let k_delta = uk.matmul(&dk).unwrap(); // no alpha: scale 1
    let v_delta = (uv.matmul(&dv).unwrap() * 2.0).unwrap(); // alpha 4 / rank 2
    let expected = Tensor::cat(
        &[
            w.narrow(0, 0, 8).unwrap(),
            (w.narrow(0, 8, 8).unwrap() + k_delta).unwrap(),
            (w.narrow(0, 16, 8).unwrap() + v_delta).unwrap(),
        ],
        0,
    )
    .unwrap();
    assert_close(&read(&out, key), &expected);
}

#[test]
fn flux_bfl_and_3x3_conv_modules() {
    let dir = tempfile::tempdir().unwrap();
    let qkv = "model.diffusion_model.double_blocks.0.img_attn.qkv.weight";
    let conv = "model.diffusion_model.input_blocks.1.0.in_layers.2.weight";
    let (wq, wc) = (randn(&[12, 4]), randn(&[6, 5, 3, 3]));
    let (dq, uq) = (randn(&[2, 4]), randn(&[12, 2]));
    let (dc, uc) = (randn(&[3, 5, 3, 3]), randn(&[6, 3, 1, 1]));
    let (base, lora) = synthetic(
        dir.path(),
        &[(qkv, wq.clone()), (conv, wc.clone())],
        &[
            (
                "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight",
                dq.clone(),
            ),
            (
                "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight",
                uq.clone(),
            ),
            (
                "lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight",
                dc.clone(),
            ),
            (
                "lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight",
                uc.clone(),
            ),
        ],
    );
    let out = dir.path().join("out.safetensors");
    run(&base, &[(lora, -0.5)], &out, false).unwrap();
    let dq_exp = (wq + (uq.matmul(&dq).unwrap() * -0.5).unwrap()).unwrap();
    assert_close(&read(&out, qkv), &dq_exp);
    // 3x3: reshape((out x r) . (r x in*9)) — equal to kohya's conv of permuted factors.
    let delta = uc
        .flatten_from(1)
        .unwrap()
        .matmul(&dc.flatten_from(1).unwrap())
        .unwrap()
        .reshape((6, 5, 3, 3))
        .unwrap();
    assert_close(&read(&out, conv), &(wc + (delta * -0.5).unwrap()).unwrap());
}

#[test]
fn wrong_shapes_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let key = "double_blocks.0.img_attn.qkv.weight";
    let (base, lora) = synthetic(
        dir.path(),
        &[(key, randn(&[12, 4]))],
        &[
            (
                "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight",
                randn(&[2, 5]),
            ),
            (
                "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight",
                randn(&[12, 2]),
            ),
        ],
    );
    let out = dir.path().join("out.safetensors");
    let err = run(&base, &[(lora, 1.0)], &out, false).unwrap_err();
    assert!(
        matches!(err, MergeError::ShapeMismatch { ref weight, .. } if weight[..] == [12, 4]),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn cli_merge_refuses_then_allows_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.safetensors");
    let bin = env!("CARGO_BIN_EXE_lorabench");
    let lora = format!("{}:0.75", fixture("lora_kohya.safetensors").display());
    let base = fixture("unet_base.safetensors");
    let refused = std::process::Command::new(bin)
        .args(["lora", "merge", "--base"])
        .arg(&base)
        .arg(&lora)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--allow-missing")
            && stderr.contains("lora_te1_text_model_encoder_layers_0_mlp_fc1"),
        "{stderr}"
    );
    assert!(!out.exists());
    let allowed = std::process::Command::new(bin)
        .args(["lora", "merge", "--allow-missing", "--json", "--base"])
        .arg(&base)
        .arg(&lora)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&allowed.stdout).unwrap();
    assert!(!report["missing"].as_array().unwrap().is_empty());
    assert!(max_diff(&out, &fixture("expected_unet_fused.safetensors")) < TOL_F32);
}

#[test]
fn diffusers_flux_peft_into_diffusers_transformer() {
    // PEFT keys `transformer.…lora_A/B.weight`, alpha from lora_adapter_metadata.
    let dir = tempfile::tempdir().unwrap();
    let key = "single_transformer_blocks.0.attn.to_q.weight";
    let (w, a, b) = (randn(&[6, 4]), randn(&[2, 4]), randn(&[6, 2]));
    let base = dir.path().join("base.safetensors");
    write_tensors(
        &base,
        &[(key.to_string(), w.clone())],
        &BTreeMap::new(),
        false,
    )
    .unwrap();
    let lora = dir.path().join("lora.safetensors");
    let meta = BTreeMap::from([(
        "lora_adapter_metadata".to_string(),
        r#"{"transformer.r": 2, "transformer.lora_alpha": 1}"#.to_string(),
    )]);
    let tensors = [
        (
            "transformer.single_transformer_blocks.0.attn.to_q.lora_A.weight".to_string(),
            a.clone(),
        ),
        (
            "transformer.single_transformer_blocks.0.attn.to_q.lora_B.weight".to_string(),
            b.clone(),
        ),
    ];
    write_tensors(&lora, &tensors, &meta, false).unwrap();
    let out = dir.path().join("out.safetensors");
    run(&base, &[(lora, 1.0)], &out, false).unwrap();
    let expected = (w + (b.matmul(&a).unwrap() * 0.5).unwrap()).unwrap(); // alpha 1 / rank 2
    assert_close(&read(&out, key), &expected);
}
