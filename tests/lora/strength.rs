//! A strength or weight that is not a finite number is refused by the core merge and mix
//! themselves, whatever called them (the CLI and the TUI parse with `lora::args`, but a NaN
//! must never reach a written checkpoint either way), and nothing is written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use lorabench::lora::merge::{MergeError, MergeInput, merge};
use lorabench::lora::mix::{MixInput, mix_files};
use lorabench::lora::progress::Task;

fn fixture(name: &str) -> PathBuf {
    Path::new("tests/fixtures/lora").join(name)
}

fn empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn merge_refuses_a_nan_or_infinite_strength_and_writes_nothing() {
    for strength in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("merged.safetensors");
        let cancel = AtomicBool::new(false);
        let input = MergeInput {
            path: fixture("lora_peft.safetensors"),
            strength,
        };
        let err = merge(
            &fixture("sd15_base.safetensors"),
            &[input],
            &out,
            false,
            &mut Task::quiet(&cancel),
        )
        .unwrap_err();
        assert!(matches!(err, MergeError::Strength(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains("lora_peft.safetensors: strength"), "{text}");
        assert!(text.contains("not a finite number"), "{text}");
        assert!(empty(dir.path()), "something was written");
    }
}

#[test]
fn mix_refuses_a_nan_weight_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mixed.safetensors");
    let cancel = AtomicBool::new(false);
    let inputs = [
        MixInput {
            path: fixture("lora_kohya.safetensors"),
            weight: 1.0,
        },
        MixInput {
            path: fixture("lora_peft.safetensors"),
            weight: f32::NAN,
        },
    ];
    let err = mix_files(&inputs, &out, None, None, None, &mut Task::quiet(&cancel)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("lora_peft.safetensors: weight"), "{text}");
    assert!(text.contains("not a finite number"), "{text}");
    assert!(empty(dir.path()), "something was written");
}

#[test]
fn cli_refuses_a_nan_strength() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("merged.safetensors");
    let lora = format!("{}:NaN", fixture("lora_peft.safetensors").display());
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lorabench"))
        .args(["lora", "merge", "--base"])
        .arg(fixture("sd15_base.safetensors"))
        .arg(&lora)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a finite number"), "{err}");
    assert!(empty(dir.path()));
}
