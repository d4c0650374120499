//! resize, mix and extract on real safetensors files, read back through `LoraFile::read` and
//! (for extract) merged back through `merge::merge`. The expected updates are computed here in
//! f64 from the full products of the input factors. Files are written as F32 so the only
//! error is f32 arithmetic: tolerance 1e-4 relative (Frobenius), as in lora_rank_maths.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use candle_core::{Device, Tensor};
use faer::Mat;
use faer::stats::prelude::{
    CwiseMatDistribution, Distribution, SeedableRng, StandardNormal, StdRng,
};
use lorabench::lora::extract::{ExtractFileOptions, SvdMethod, extract_file};
use lorabench::lora::lowrank::{RankFileError, RankRule, mat_of_tensor, tensor_of_mat};
use lorabench::lora::merge::{MergeInput, merge};
use lorabench::lora::mix::{MixInput, mix_files};
use lorabench::lora::model::{LoraFile, LoraModule};
use lorabench::lora::progress::Task;
use lorabench::lora::resize::resize_file;
use lorabench::lora::safetensors::{Dtype, SafetensorsFile, write_tensors};

const TOL: f64 = 1e-4;

fn gaussian(rows: usize, cols: usize, seed: u64) -> Mat<f32> {
    CwiseMatDistribution {
        nrows: rows,
        ncols: cols,
        dist: StandardNormal,
    }
    .sample(&mut StdRng::seed_from_u64(seed))
}

fn tensor(m: &Mat<f32>, shape: &[usize]) -> Tensor {
    tensor_of_mat(m.as_ref(), shape).unwrap()
}

fn to_f64(m: &Mat<f32>) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| f64::from(m[(i, j)]))
}

/// A kohya file: a linear module (48×40, rank 8, alpha 4) and a 3×3 conv (16 → 24 channels,
/// rank 6, alpha 3). Returns the path and each module's f64 update (alpha/r · up · down).
fn write_lora(dir: &Path, name: &str, seed: u64) -> (PathBuf, BTreeMap<String, Mat<f64>>) {
    let specs: [(&str, usize, usize, Vec<usize>, f32); 2] = [
        (
            "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q",
            48,
            8,
            vec![40],
            4.0,
        ),
        (
            "lora_unet_input_blocks_1_0_in_layers_2",
            24,
            6,
            vec![16, 3, 3],
            3.0,
        ),
    ];
    let mut tensors = Vec::new();
    let mut deltas = BTreeMap::new();
    for (i, (module, out, rank, in_shape, alpha)) in specs.into_iter().enumerate() {
        let inn: usize = in_shape.iter().product();
        let mut up = gaussian(out, rank, seed + 10 * i as u64);
        up *= faer::Scale(0.05);
        let down = gaussian(rank, inn, seed + 10 * i as u64 + 1);
        let mut down_shape = vec![rank];
        down_shape.extend(&in_shape);
        let mut up_shape = vec![out, rank];
        up_shape.extend(in_shape.iter().skip(1).map(|_| 1));
        tensors.push((
            format!("{module}.lora_down.weight"),
            tensor(&down, &down_shape),
        ));
        tensors.push((format!("{module}.lora_up.weight"), tensor(&up, &up_shape)));
        tensors.push((
            format!("{module}.alpha"),
            Tensor::new(alpha, &Device::Cpu).unwrap(),
        ));
        let mut delta = to_f64(&up) * to_f64(&down);
        delta *= faer::Scale(f64::from(alpha) / rank as f64);
        deltas.insert(module.to_string(), delta);
    }
    let path = dir.join(name);
    let mut metadata = BTreeMap::new();
    metadata.insert("ss_network_dim".to_string(), "8".to_string());
    metadata.insert("ss_training_comment".to_string(), "trained".to_string());
    write_tensors(&path, &tensors, &metadata, true).unwrap();
    (path, deltas)
}

fn delta_of(m: &LoraModule) -> Mat<f64> {
    to_f64(&mat_of_tensor(&m.delta(1.0).unwrap()).unwrap())
}

fn rel(got: &Mat<f64>, want: &Mat<f64>) -> f64 {
    (got - want).norm_l2() / want.norm_l2()
}

fn truncated(m: &Mat<f64>, k: usize) -> Mat<f64> {
    let svd = m.thin_svd().unwrap();
    let s = svd.S().column_vector();
    let u = Mat::from_fn(m.nrows(), k, |i, j| svd.U()[(i, j)] * s[j]);
    u * svd.V().get(.., ..k).transpose()
}

fn quiet<T>(work: impl FnOnce(&mut Task<'_>) -> T) -> T {
    let cancel = AtomicBool::new(false);
    let mut task = Task::quiet(&cancel);
    work(&mut task)
}

#[test]
fn resized_file_reads_back_as_the_truncated_update_with_kohya_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (input, deltas) = write_lora(dir.path(), "in.safetensors", 1);
    let output = dir.path().join("out.safetensors");
    let report = quiet(|t| {
        resize_file(
            &input,
            &output,
            RankRule::Fixed(4),
            None,
            Some(Dtype::F32),
            t,
        )
    })
    .unwrap();
    assert_eq!(report.modules.len(), 2);
    let lora = LoraFile::read(&output).unwrap();
    for m in &lora.modules {
        assert_eq!(m.rank(), 4, "{}", m.name);
        let err = rel(&delta_of(m), &truncated(&deltas[&m.name], 4));
        assert!(err < TOL, "{}: rel err {err}", m.name);
    }
    let conv = lora
        .modules
        .iter()
        .find(|m| m.name.ends_with("in_layers_2"))
        .unwrap();
    assert_eq!(conv.down.dims(), &[4, 16, 3, 3]);
    assert_eq!(conv.up.dims(), &[24, 4, 1, 1]);
    // kohya: alpha_new = old scale · new rank = 3/6 · 4.
    assert_eq!(conv.alpha, Some(2.0));
    assert_eq!(lora.metadata["ss_network_dim"], "4");
    assert_eq!(
        lora.metadata["ss_training_comment"],
        "dimension is resized from 8 to 4; trained"
    );
    assert!(lora.metadata.contains_key("sshs_model_hash"));
}

/// A target at or above the file's rank would change nothing: refused, nothing written. Below
/// the largest rank, a module already under it keeps its rank and update, and the metadata
/// says the rank the modules really have.
#[test]
fn resize_never_claims_a_rank_it_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    let (input, deltas) = write_lora(dir.path(), "in.safetensors", 2);
    let output = dir.path().join("out.safetensors");
    for rank in [8, 16] {
        let err = quiet(|t| resize_file(&input, &output, RankRule::Fixed(rank), None, None, t))
            .unwrap_err();
        assert!(
            matches!(err, RankFileError::NotReduced { current: 8, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("already rank 8"), "{err}");
        assert!(!output.exists());
    }
    let report = quiet(|t| {
        resize_file(
            &input,
            &output,
            RankRule::Fixed(7),
            None,
            Some(Dtype::F32),
            t,
        )
    })
    .unwrap();
    assert_eq!((report.new_rank, report.kept), (7, 1));
    let lora = LoraFile::read(&output).unwrap();
    assert_eq!(lora.metadata["ss_network_dim"], "7");
    for m in &lora.modules {
        if m.rank() == 6 {
            let err = rel(&delta_of(m), &deltas[&m.name]);
            assert!(err < TOL, "{}: kept module changed, rel err {err}", m.name);
        } else {
            assert_eq!(m.rank(), 7);
        }
    }
}

/// A mix asked for a rank above what its inputs stack to stays exact and says so; the metadata
/// records the ranks the modules have and the weights as written.
#[test]
fn mix_reports_the_rank_it_made_and_the_weights_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = write_lora(dir.path(), "a.safetensors", 6);
    let (b, _) = write_lora(dir.path(), "b.safetensors", 7);
    let inputs = [
        MixInput {
            path: a.clone(),
            weight: 0.8,
        },
        MixInput {
            path: b,
            weight: 0.1,
        },
    ];
    let out = dir.path().join("mix.safetensors");
    let report = quiet(|t| mix_files(&inputs, &out, Some(32), None, None, t)).unwrap();
    assert!(!report.reduced());
    assert_eq!(report.max_rank(), 16, "8 + 8 stacked, under 32");
    let lora = LoraFile::read(&out).unwrap();
    assert_eq!(lora.metadata["ss_network_dim"], "Dynamic", "16 and 12");
    let mixed = &lora.metadata["lorabench.mixed_from"];
    assert!(
        mixed.contains("\"weight\":0.8") && mixed.contains("\"weight\":0.1"),
        "{mixed}"
    );
    let reduced = quiet(|t| mix_files(&inputs, &out, Some(10), None, None, t)).unwrap();
    assert!(reduced.reduced());
    assert_eq!(reduced.max_rank(), 10);
    // A LoRA given as the base of a merge is named for what it is.
    let err = quiet(|t| {
        merge(
            &a,
            &[MergeInput {
                path: out.clone(),
                strength: 0.8,
            }],
            &dir.path().join("merged.safetensors"),
            false,
            t,
        )
    })
    .unwrap_err();
    assert!(err.to_string().contains("is a LoRA"), "{err}");
    assert!(err.to_string().contains("not a checkpoint"), "{err}");
}

#[test]
fn dynamic_resize_writes_dynamic_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (input, _) = write_lora(dir.path(), "in.safetensors", 3);
    let output = dir.path().join("out.safetensors");
    let report =
        quiet(|t| resize_file(&input, &output, RankRule::SvFro(0.5), Some(5), None, t)).unwrap();
    assert!(
        report
            .modules
            .iter()
            .all(|m| m.resize.new_rank <= 5 && m.resize.retained.fro >= 0.5)
    );
    let lora = LoraFile::read(&output).unwrap();
    assert_eq!(lora.metadata["ss_network_dim"], "Dynamic");
    assert_eq!(lora.metadata["ss_network_alpha"], "Dynamic");
}

#[test]
fn mixed_files_read_back_as_the_weighted_sum() {
    let dir = tempfile::tempdir().unwrap();
    let (a, da) = write_lora(dir.path(), "a.safetensors", 4);
    let (b, db) = write_lora(dir.path(), "b.safetensors", 5);
    let inputs = [
        MixInput {
            path: a,
            weight: 0.8,
        },
        MixInput {
            path: b,
            weight: -0.3,
        },
    ];
    let want = |name: &str| {
        let (mut x, mut y) = (da[name].clone(), db[name].clone());
        x *= faer::Scale(0.8);
        y *= faer::Scale(-0.3);
        x + y
    };
    let exact = dir.path().join("exact.safetensors");
    quiet(|t| mix_files(&inputs, &exact, None, None, Some(Dtype::F32), t)).unwrap();
    for m in &LoraFile::read(&exact).unwrap().modules {
        let err = rel(&delta_of(m), &want(&m.name));
        assert!(err < TOL, "exact {}: rel err {err}", m.name);
    }
    let reduced = dir.path().join("reduced.safetensors");
    let report =
        quiet(|t| mix_files(&inputs, &reduced, Some(3), None, Some(Dtype::F32), t)).unwrap();
    assert!(report.modules.iter().all(|m| m.rank == 3 && m.inputs == 2));
    for m in &LoraFile::read(&reduced).unwrap().modules {
        let err = rel(&delta_of(m), &truncated(&want(&m.name), 3));
        assert!(err < TOL, "reduced {}: rel err {err}", m.name);
    }
}

/// A small SDXL-layout checkpoint pair: tuned = base + a rank-3 change (+ tiny noise) on an
/// attention projection, a fused bigG q|k|v, a CLIP-L projection and a 3×3 resnet conv; the
/// norm and embedding weights are untouched. Extract, merge back, compare.
#[test]
fn extract_then_merge_recovers_the_low_rank_change() {
    let dir = tempfile::tempdir().unwrap();
    let changed: [(&str, Vec<usize>); 4] = [
        (
            "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight",
            vec![40, 40],
        ),
        (
            "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight",
            vec![96, 32],
        ),
        (
            "conditioner.embedders.0.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight",
            vec![24, 24],
        ),
        (
            "model.diffusion_model.input_blocks.1.0.in_layers.2.weight",
            vec![16, 8, 3, 3],
        ),
    ];
    let untouched: [(&str, Vec<usize>); 2] = [
        (
            "model.diffusion_model.input_blocks.4.1.norm.weight",
            vec![40],
        ),
        (
            "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight",
            vec![50, 24],
        ),
    ];
    let mut base = Vec::new();
    let mut tuned = Vec::new();
    let mut low_rank = BTreeMap::new();
    for (i, (key, shape)) in changed.iter().chain(&untouched).enumerate() {
        let rows = shape[0];
        let cols: usize = shape[1..].iter().product();
        let w = gaussian(rows, cols, 100 + i as u64);
        base.push((key.to_string(), tensor(&w, shape)));
        if i < changed.len() {
            let mut l = gaussian(rows, 3, 200 + i as u64) * gaussian(3, cols, 300 + i as u64);
            l *= faer::Scale(0.02);
            let mut noise = gaussian(rows, cols, 400 + i as u64);
            noise *= faer::Scale(1e-4 * l.norm_l2() / noise.norm_l2());
            tuned.push((key.to_string(), tensor(&(&w + &l + &noise), shape)));
            low_rank.insert(key.to_string(), (to_f64(&w), to_f64(&l)));
        } else {
            tuned.push((key.to_string(), tensor(&w, shape)));
        }
    }
    let base_path = dir.path().join("base.safetensors");
    let tuned_path = dir.path().join("tuned.safetensors");
    write_tensors(&base_path, &base, &BTreeMap::new(), false).unwrap();
    write_tensors(&tuned_path, &tuned, &BTreeMap::new(), false).unwrap();

    let lora_path = dir.path().join("extracted.safetensors");
    let opts = ExtractFileOptions {
        rank: 3,
        conv_rank: Some(3),
        method: SvdMethod::Auto,
        clamp_quantile: None,
        min_diff: 0.0,
        dtype: Dtype::F32,
    };
    let report = quiet(|t| extract_file(&base_path, &tuned_path, &lora_path, &opts, t)).unwrap();
    // bigG's fused projection becomes three modules; the embedding is not a target.
    assert_eq!(report.modules.len(), 6, "{:?}", report.modules);
    assert!(
        report
            .modules
            .iter()
            .any(|m| m.module == "lora_te2_text_model_encoder_layers_0_self_attn_k_proj")
    );

    let merged_path = dir.path().join("merged.safetensors");
    let inputs = [MergeInput {
        path: lora_path,
        strength: 1.0,
    }];
    let merged = quiet(|t| merge(&base_path, &inputs, &merged_path, false, t)).unwrap();
    assert!(
        merged.missing.is_empty(),
        "merge could not place {:?}",
        merged.missing
    );
    let merged = SafetensorsFile::open(&merged_path).unwrap();
    for (key, (w, l)) in &low_rank {
        let got = to_f64(&mat_of_tensor(&merged.read_f32(key).unwrap()).unwrap());
        let err = (&got - (w + l)).norm_l2() / l.norm_l2();
        assert!(err < 1e-3, "{key}: rel err {err}");
    }
}

#[test]
fn cancelled_resize_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let (input, _) = write_lora(dir.path(), "in.safetensors", 6);
    let output = dir.path().join("out.safetensors");
    let cancel = AtomicBool::new(true);
    let mut task = Task::quiet(&cancel);
    let err = resize_file(&input, &output, RankRule::Fixed(2), None, None, &mut task).unwrap_err();
    assert!(matches!(err, RankFileError::Cancelled(_)), "{err}");
    assert!(!output.exists());
}

#[test]
fn a_file_that_is_not_a_lora_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.safetensors");
    let w = tensor(&gaussian(4, 4, 1), &[4, 4]);
    write_tensors(
        &path,
        &[("model.weight".into(), w)],
        &BTreeMap::new(),
        false,
    )
    .unwrap();
    let output = dir.path().join("out.safetensors");
    let err =
        quiet(|t| resize_file(&path, &output, RankRule::Fixed(2), None, None, t)).unwrap_err();
    assert!(err.to_string().contains("weights.safetensors"), "{err}");
    let inputs = [MixInput { path, weight: 1.0 }];
    assert!(quiet(|t| mix_files(&inputs, &output, None, None, None, t)).is_err());
    assert!(!output.exists());
}
