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
use lorabench::trainer::session::{
    Checkpoint, Example, Observer, Session, SessionConfig, StepReport,
};
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
    fn checkpoint(&mut self, saved: &Checkpoint, step: u64) {
        assert_eq!(Checkpoint::of_state(&saved.state), *saved);
        self.checkpoints.push((saved.state.clone(), step));
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
    for (dir, step) in &full.checkpoints {
        let name = format!("session-test-step{step:08}");
        assert!(dir.ends_with(format!("{name}-state")), "{}", dir.display());
        for f in ["optimizer.safetensors", "state.json"] {
            assert!(dir.join(f).is_file(), "{}", dir.join(f).display());
        }
        assert!(dir.with_file_name(format!("{name}.safetensors")).is_file());
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
    let saved = out.last_checkpoint.unwrap();
    assert!(saved.state.join("state.json").is_file());
    assert!(saved.lora.is_file());
}

/// A small dataset: `n` images of two aspect ratios with captions, in a `2_thing` folder.
fn dataset(root: &Path, n: u32) -> std::path::PathBuf {
    let dir = root.join("data").join("2_thing");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..n {
        let (w, h) = if i % 2 == 0 { (96, 64) } else { (64, 64) };
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 3 + i * 40) as u8, (y * 4) as u8, (i * 70) as u8])
        });
        img.save(dir.join(format!("{i}.png"))).unwrap();
        std::fs::write(
            dir.join(format!("{i}.txt")),
            format!("thing, colour {i}, square"),
        )
        .unwrap();
    }
    root.join("data")
}

#[test]
fn the_worker_trains_on_a_dataset_prints_json_lines_and_writes_kohya_loras() {
    use lorabench::trainer::worker::{WorkerSpec, run};
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path(), 3);
    std::fs::write(data.join("2_thing").join("broken.png"), b"not a png").unwrap();
    let spec = serde_json::json!({
        "model": {"tiny": {
            "unet": {"channels": [8, 16], "groups": 4, "heads": 2, "cross_attention_dim": 16},
            "encoders": {"vae_channels": [4, 8, 8], "vae_groups": 2, "text_width": 16,
                         "text_layers": 1, "text_heads": 2}}},
        "data": {"dataset_dir": data, "caption_extension": ".txt", "resolution": 64,
                 "buckets": {"min": 32, "max": 128, "step": 32},
                 "shuffle_caption": true, "keep_tokens": 1, "caption_dropout": 0.2,
                 "cache_dir": tmp.path().join("cache")},
        "output_dir": tmp.path().join("out"),
        "output_name": "worker-test",
        "rank": 2, "alpha": 1.0, "targets": ["attention"],
        "steps": 3, "batch_size": 2, "learning_rate": 1e-3, "schedule": "constant",
        "seed": 1, "save_every": 2,
        "sample": {"every_n_steps": 3, "prompts": ["thing"], "steps": 3, "seed": 0,
                   "guidance": 7.5}
    });
    let path = tmp.path().join("spec.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let spec = WorkerSpec::read(&path).unwrap();
    let mut out = Vec::new();
    run(&spec, &mut out, &AtomicBool::new(false)).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let points: Vec<&serde_json::Value> = lines.iter().filter(|l| l["kind"].is_null()).collect();
    let steps: Vec<u64> = points.iter().filter_map(|l| l["step"].as_u64()).collect();
    assert_eq!(steps, vec![1, 2, 3]);
    assert!(points.iter().all(|l| l["loss"].is_f64() && l["total"] == 3));
    assert!(tmp.path().join("cache/latents.safetensors").is_file());
    assert!(tmp.path().join("cache/text.safetensors").is_file());

    // The runs core reads the worker's own output: points, checkpoints, samples.
    let mut parsed = Vec::new();
    lorabench::train::progress::parse_reader(
        lorabench::train::TrainerId::Builtin,
        lorabench::train::progress::LogFormat::Jsonl,
        out.as_slice(),
        |u| parsed.push(u),
    )
    .unwrap();
    use lorabench::train::Event;
    use lorabench::train::progress::Update;
    let saved: Vec<(std::path::PathBuf, u64)> = parsed
        .iter()
        .filter_map(|u| match u {
            Update::Event(Event::CheckpointSaved { path, step }) => {
                Some((path.clone(), step.unwrap()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(saved.iter().map(|s| s.1).collect::<Vec<_>>(), vec![2, 3]);
    let parsed_steps: Vec<u64> = parsed
        .iter()
        .filter_map(|u| match u {
            Update::Point(p) => Some(p.step),
            _ => None,
        })
        .collect();
    assert_eq!(parsed_steps, vec![1, 2, 3]);
    let samples: Vec<std::path::PathBuf> = parsed
        .iter()
        .filter_map(|u| match u {
            Update::Event(Event::SampleWritten {
                path,
                step: Some(3),
            }) => Some(path.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(samples.len(), 1);
    let png = image::open(&samples[0]).unwrap();
    assert_eq!((png.width(), png.height()), (64, 64));

    let report = lorabench::lora::inspect::inspect(&saved[1].0).unwrap();
    assert_eq!(report.format, lorabench::lora::keys::Format::Kohya);
    assert_eq!(report.training.unwrap().steps.as_deref(), Some("3"));

    // A resumed worker continues from the step-2 checkpoint and reads the caches.
    let mut again = spec.clone();
    again.resume_from = Some(saved[0].0.with_file_name("worker-test-step00000002-state"));
    let mut out = Vec::new();
    run(&again, &mut out, &AtomicBool::new(false)).unwrap();
    let text = String::from_utf8(out).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["step"], 3);
    assert_eq!(
        first["loss"], points[2]["loss"],
        "the resumed step repeats the loss"
    );

    // A dataset without a usable image is an error event and an error, naming the folder.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(empty.join("1_x")).unwrap();
    std::fs::write(empty.join("1_x").join("a.png"), b"broken").unwrap();
    let mut bad = spec.clone();
    bad.data.dataset_dir = empty.clone();
    let mut out = Vec::new();
    let err = run(&bad, &mut out, &AtomicBool::new(false))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no usable image") && err.contains("a.png"),
        "{err}"
    );
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("\"kind\":\"error\"")
    );
}
