//! The builtin trainer's session loop on a micro UNet with random weights and random
//! "latents"/"embeddings" (no VAE or CLIP needed): the LoRA learns, checkpoints are whole, and
//! a run resumed from a checkpoint reproduces the uninterrupted run's losses exactly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::path::Path;
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, Tensor};
use lorabench::trainer::config::UNetConfig;
use lorabench::trainer::lora::{KohyaInfo, LoraSet, LoraSpec, Targets};
use lorabench::trainer::noise::{DdpmSchedule, NoiseConfig, Prediction, weighted_mse};
use lorabench::trainer::optim::{AdamWConfig, Schedule};
use lorabench::trainer::rng::Rng;
use lorabench::trainer::session::{Example, Observer, Session, SessionConfig, StepReport};
use lorabench::trainer::unet::UNet;
use lorabench::trainer::weights::Weights;

#[derive(Default)]
struct Record {
    steps: Vec<StepReport>,
    checkpoints: Vec<(std::path::PathBuf, u64)>,
}

impl Observer for Record {
    fn step(&mut self, r: &StepReport) {
        self.steps.push(*r);
    }
    fn checkpoint(&mut self, dir: &Path, step: u64) {
        self.checkpoints.push((dir.to_path_buf(), step));
    }
}

fn model() -> (UNet, LoraSet) {
    model_with(4, Targets::transformer())
}

fn model_with(rank: usize, targets: Targets) -> (UNet, LoraSet) {
    let cfg = UNetConfig::tiny(&[8, 16], 4, 2, 16);
    let spec = LoraSpec::new(rank, rank as f32, targets, 3);
    UNet::new(
        &cfg,
        &mut Weights::random(7, DType::F32, &Device::Cpu),
        Some(&spec),
    )
    .unwrap()
}

fn examples() -> Vec<Example> {
    let mut rng = Rng::new(21);
    (0..3)
        .map(|_| Example {
            latents: rng.randn(&[4, 8, 8], 1.0, &Device::Cpu).unwrap(),
            context: rng.randn(&[4, 16], 1.0, &Device::Cpu).unwrap(),
        })
        .collect()
}

fn config(steps: u64, out: &Path) -> SessionConfig {
    SessionConfig {
        steps,
        batch_size: 2,
        gradient_accumulation: 2,
        learning_rate: 5e-3,
        schedule: Schedule::Cosine,
        warmup_steps: 2,
        max_grad_norm: Some(1.0),
        adamw: AdamWConfig::default(),
        noise: NoiseConfig {
            prediction: Prediction::Epsilon,
            noise_offset: 0.05,
            min_snr_gamma: Some(5.0),
        },
        seed: 99,
        save_every: Some(3),
        output_dir: out.to_path_buf(),
        info: KohyaInfo {
            output_name: "session-test".into(),
            base_model_version: "sd_v1".into(),
            resolution: (64, 64),
            ..Default::default()
        },
    }
}

/// Mean loss over fixed noise and timesteps on every example.
fn eval(unet: &UNet, ex: &[Example]) -> f64 {
    let s = DdpmSchedule::sd();
    let mut rng = Rng::new(5);
    let latents = Tensor::stack(&ex.iter().map(|e| &e.latents).collect::<Vec<_>>(), 0).unwrap();
    let context = Tensor::stack(&ex.iter().map(|e| &e.context).collect::<Vec<_>>(), 0).unwrap();
    let cfg = NoiseConfig {
        prediction: Prediction::Epsilon,
        noise_offset: 0.0,
        min_snr_gamma: None,
    };
    let mut total = 0.0;
    for _ in 0..4 {
        let b = s.noise(&latents, &cfg, &mut rng).unwrap();
        let pred = unet.forward(&b.noisy, &b.timesteps, &context).unwrap();
        total += f64::from(
            weighted_mse(&pred, &b.target, &b.weights)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
        );
    }
    total / 4.0
}

#[test]
fn the_lora_learns_the_examples() {
    let tmp = tempfile::tempdir().unwrap();
    let all = Targets {
        resnets: true,
        ..Targets::transformer()
    };
    let (unet, lora) = model_with(8, all);
    let ex = examples();
    let before = eval(&unet, &ex);
    let mut cfg = config(120, tmp.path());
    cfg.learning_rate = 2e-2;
    cfg.save_every = None;
    let mut rec = Record::default();
    let out = Session::new(&unet, &lora, &ex, cfg)
        .unwrap()
        .run(&mut rec, &AtomicBool::new(false))
        .unwrap();
    let after = eval(&unet, &ex);
    eprintln!("eval loss {before:.4} -> {after:.4}");
    assert!(after < 0.9 * before, "loss {before} -> {after}");
    assert_eq!(out.steps_done, 120);
    assert_eq!(rec.checkpoints.len(), 1, "only the final checkpoint");
    assert!(
        rec.steps
            .iter()
            .all(|r| r.loss.is_finite() && r.grad_norm.is_finite())
    );
}

#[test]
fn a_resumed_run_repeats_the_uninterrupted_losses() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = examples();
    let (unet, lora) = model();
    let mut full = Record::default();
    Session::new(&unet, &lora, &ex, config(7, &tmp.path().join("a")))
        .unwrap()
        .run(&mut full, &AtomicBool::new(false))
        .unwrap();
    let steps: Vec<u64> = full.checkpoints.iter().map(|c| c.1).collect();
    assert_eq!(steps, vec![3, 6, 7]);
    for (dir, _) in &full.checkpoints {
        for f in ["lora.safetensors", "optimizer.safetensors", "state.json"] {
            assert!(dir.join(f).is_file(), "{}", dir.join(f).display());
        }
    }

    // A fresh process's view: new model, new session, resumed from step 3.
    let (unet2, lora2) = model();
    let mut resumed = Record::default();
    let mut s = Session::new(&unet2, &lora2, &ex, config(7, &tmp.path().join("b"))).unwrap();
    s.resume(&full.checkpoints[0].0).unwrap();
    s.run(&mut resumed, &AtomicBool::new(false)).unwrap();
    let tail: Vec<(u64, f64, f64)> = full.steps[3..]
        .iter()
        .map(|r| (r.step, r.loss, r.lr))
        .collect();
    let again: Vec<(u64, f64, f64)> = resumed
        .steps
        .iter()
        .map(|r| (r.step, r.loss, r.lr))
        .collect();
    assert_eq!(tail, again);
    for ((_, a), (_, b)) in lora.vars().iter().zip(lora2.vars().iter()) {
        let d = (a.as_tensor() - b.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
    }

    // A checkpoint of another configuration is refused, naming the reason.
    let (unet3, lora3) = model();
    let mut other = config(7, &tmp.path().join("c"));
    other.batch_size = 1;
    let mut s = Session::new(&unet3, &lora3, &ex, other).unwrap();
    let err = s.resume(&full.checkpoints[0].0).unwrap_err().to_string();
    assert!(err.contains("batch size"), "{err}");
}

#[test]
fn stopping_saves_a_checkpoint_first() {
    let tmp = tempfile::tempdir().unwrap();
    let ex = examples();
    let (unet, lora) = model();
    let mut rec = Record::default();
    let out = Session::new(&unet, &lora, &ex, config(5, tmp.path()))
        .unwrap()
        .run(&mut rec, &AtomicBool::new(true))
        .unwrap();
    assert!(out.stopped);
    assert_eq!(out.steps_done, 0);
    assert!(out.last_checkpoint.unwrap().join("state.json").is_file());
}

#[test]
fn the_worker_prints_json_lines_and_writes_a_kohya_lora() {
    use lorabench::trainer::worker::{WorkerSpec, run, write_inputs};
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("inputs.safetensors");
    write_inputs(&inputs, &examples()).unwrap();
    let spec = serde_json::json!({
        "unet": {"tiny": {"channels": [8, 16], "groups": 4, "heads": 2, "cross_attention_dim": 16}},
        "inputs": inputs,
        "output_dir": tmp.path().join("out"),
        "output_name": "worker-test",
        "rank": 2, "alpha": 1.0, "targets": ["attention"],
        "steps": 3, "batch_size": 2, "learning_rate": 1e-3, "schedule": "constant",
        "seed": 1, "save_every": 2
    });
    let path = tmp.path().join("spec.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let spec = WorkerSpec::read(&path).unwrap();
    let mut out = Vec::new();
    run(&spec, &mut out, &AtomicBool::new(false)).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps: Vec<u64> = lines.iter().filter_map(|l| l["step"].as_u64()).collect();
    assert_eq!(steps, vec![1, 2, 3]);
    assert!(
        lines
            .iter()
            .filter(|l| l["step"].is_u64())
            .all(|l| l["loss"].is_f64() && l["total"] == 3)
    );
    let saved: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["event"]["kind"] == "checkpoint_saved")
        .collect();
    assert_eq!(saved.len(), 2);
    let lora = std::path::PathBuf::from(saved[1]["event"]["path"].as_str().unwrap());
    let report = lorabench::lora::inspect::inspect(&lora).unwrap();
    assert_eq!(report.format, lorabench::lora::keys::Format::Kohya);
    assert_eq!(report.training.unwrap().steps.as_deref(), Some("3"));

    // Bad input is an error event and an error, naming the file.
    let mut bad = spec.clone();
    bad.inputs = tmp.path().join("missing.safetensors");
    let mut out = Vec::new();
    let err = run(&bad, &mut out, &AtomicBool::new(false))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.safetensors"), "{err}");
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("\"kind\":\"error\"")
    );
}
