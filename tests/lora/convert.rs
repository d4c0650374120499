//! `lora convert`: kohya <-> PEFT keeps every module's strength (scale · up · down) and, for the
//! PEFT fixture written by diffusers, its exact module names. Tolerance 1e-6 (F32 factors are
//! copied; only alpha/rank is recomputed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::collections::BTreeMap;
use std::path::Path;

use std::sync::atomic::AtomicBool;

use lorabench::lora::convert::{ConvertError, Target, convert};
use lorabench::lora::inspect::inspect;
use lorabench::lora::keys::Format;
use lorabench::lora::model::{LoraFile, LoraModule};
use lorabench::lora::progress::Task;
use lorabench::lora::safetensors::SafetensorsFile;

const PEFT: &str = "tests/fixtures/lora/lora_peft.safetensors";
const KOHYA: &str = "tests/fixtures/lora/lora_kohya.safetensors";

fn deltas(path: &Path) -> BTreeMap<String, candle_core::Tensor> {
    LoraFile::read(path)
        .unwrap()
        .modules
        .iter()
        // diffusers' kohya export names the single SD1 text encoder `lora_te1_`, PEFT files
        // `text_encoder.` (-> `lora_te_`); merge accepts both for SD1 checkpoints.
        .map(|m: &LoraModule| {
            (
                m.name.replacen("lora_te1_", "lora_te_", 1),
                m.delta(1.0).unwrap(),
            )
        })
        .collect()
}

fn assert_same_strength(a: &Path, b: &Path) {
    let (da, db) = (deltas(a), deltas(b));
    assert_eq!(da.keys().collect::<Vec<_>>(), db.keys().collect::<Vec<_>>());
    for (name, x) in &da {
        let d = (x - &db[name])
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap();
        let d = d.to_scalar::<f32>().unwrap();
        assert!(d < 1e-6, "{name}: {d}");
    }
}

#[test]
fn kohya_and_peft_fixtures_are_the_same_lora() {
    // Written by different diffusers code paths; read through different spellings.
    assert_same_strength(Path::new(PEFT), Path::new(KOHYA));
}

#[test]
fn peft_to_kohya_to_peft_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let kohya = dir.path().join("k.safetensors");
    let peft = dir.path().join("p.safetensors");
    let cancel = AtomicBool::new(false);
    let mut steps = Vec::new();
    let mut task = Task::new(&cancel, |s| steps.push((s.done, s.total)));
    let report = convert(Path::new(PEFT), &kohya, Target::Kohya, &mut task).unwrap();
    drop(task);
    assert_eq!(report.from, Format::DiffusersPeft);
    assert_eq!(steps, [(0, 2), (1, 2), (2, 2)]);
    convert(&kohya, &peft, Target::Peft, &mut Task::quiet(&cancel)).unwrap();
    assert_same_strength(Path::new(PEFT), &kohya);
    assert_same_strength(Path::new(PEFT), &peft);

    // Alphas are `.alpha` tensors in kohya files: 8 for r=4 modules, 3 for the patterned one.
    let k = SafetensorsFile::open(&kohya).unwrap();
    let alpha = |m: &str| k.read_scalar(&format!("{m}.alpha")).unwrap();
    assert_eq!(alpha("lora_unet_up_blocks_1_attentions_2_proj_out"), 3.0);
    assert_eq!(alpha("lora_unet_down_blocks_0_attentions_0_proj_in"), 8.0);

    // Kohya -> PEFT restores diffusers' own names for the UNet (kohya names were undotted).
    let names = |p: &Path| {
        let f = SafetensorsFile::open(p).unwrap();
        f.tensors()
            .iter()
            .map(|t| t.name.clone())
            .filter(|n| n.starts_with("unet."))
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(names(&peft), names(Path::new(PEFT)));
}

#[test]
fn kohya_to_peft_carries_alpha_in_adapter_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let peft = dir.path().join("p.safetensors");
    convert(
        Path::new(KOHYA),
        &peft,
        Target::Peft,
        &mut Task::quiet(&AtomicBool::new(false)),
    )
    .unwrap();
    assert_same_strength(Path::new(KOHYA), &peft);
    let f = SafetensorsFile::open(&peft).unwrap();
    assert_eq!(f.metadata().get("format").map(String::as_str), Some("pt"));
    let meta: serde_json::Value =
        serde_json::from_str(&f.metadata()["lora_adapter_metadata"]).unwrap();
    assert_eq!(meta["unet.lora_alpha"], 8.0);
    assert_eq!(meta["unet.r"], 4);
    assert_eq!(
        meta["unet.alpha_pattern"]["^up_blocks.1.attentions.2.proj_out"],
        3.0
    );
    assert_eq!(
        meta["unet.rank_pattern"]["^down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"],
        2
    );
}

#[test]
fn written_kohya_files_carry_a_correct_model_hash() {
    let dir = tempfile::tempdir().unwrap();
    let kohya = dir.path().join("k.safetensors");
    convert(
        Path::new(PEFT),
        &kohya,
        Target::Kohya,
        &mut Task::quiet(&AtomicBool::new(false)),
    )
    .unwrap();
    let info = inspect(&kohya).unwrap();
    assert_eq!(info.hash.matches, Some(true), "{:?}", info.hash);
    // The fixture was hashed by Python over the same tensors in the same canonical order.
    let fixture = inspect(Path::new("tests/fixtures/lora/lora_kohya_meta.safetensors")).unwrap();
    assert_eq!(fixture.hash.matches, Some(true));
}

#[test]
fn cli_convert_writes_atomically_named_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.safetensors");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_lorabench"))
        .args(["lora", "convert", KOHYA, "-o"])
        .arg(&out)
        .args(["--to", "peft"])
        .status()
        .unwrap();
    assert!(status.success());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("out.safetensors")],
        "temporary files were left"
    );
    assert_same_strength(Path::new(KOHYA), &out);
}

#[test]
fn cancelled_convert_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k.safetensors");
    let cancel = AtomicBool::new(true);
    let got = convert(
        Path::new(PEFT),
        &out,
        Target::Kohya,
        &mut Task::quiet(&cancel),
    );
    assert!(matches!(got, Err(ConvertError::Cancelled(_))));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
