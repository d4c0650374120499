//! One LoRA training step (forward, backward, gradient clipping, AdamW) of the builtin
//! trainer's UNet on the CPU, against diffusers' UNet2DConditionModel with peft LoRA on the
//! same layers (benches/trainer_step_torch.py) in the same run, at two sizes:
//! - `test`: diffusers' SD pipeline test UNet (channels (4, 8), 2 groups, 8 heads,
//!   cross-attention 8, one layer per block): per-op overhead;
//! - `sd-like`: channels (64, 128), 32 groups, 8 heads, cross-attention 64, two layers per
//!   block: where the convolutions' cost shows.
//!
//! Both: 32×32 latents, batch 2, 77 context tokens, LoRA rank 4 (alpha 4) on every linear of
//! the transformers (to_q/k/v/out.0, ff, proj_in/out), f32, all cores. Each side runs in its
//! own child process so its peak RSS (VmHWM) is its own.
//!
//! Run: `cargo bench --bench trainer_step` (reference interpreter `LORABENCH_PYTHON`, default
//! `python3`, with benches/requirements.txt). `TRAINER_STEP_STEPS=N` sets the timed steps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

#[path = "support/mod.rs"]
mod support;

use std::process::Command;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use lorabench::trainer::config::UNetConfig;
use lorabench::trainer::lora::{LoraSpec, Targets};
use lorabench::trainer::noise::{DdpmSchedule, NoiseConfig, Prediction, weighted_mse};
use lorabench::trainer::optim::{AdamW, AdamWConfig};
use lorabench::trainer::rng::Rng;
use lorabench::trainer::unet::UNet;
use lorabench::trainer::weights::Weights;

struct Size {
    name: &'static str,
    channels: &'static [usize],
    layers_per_block: usize,
    groups: usize,
    heads: usize,
    cross: usize,
}

const SIZES: [Size; 2] = [
    Size {
        name: "test",
        channels: &[4, 8],
        layers_per_block: 1,
        groups: 2,
        heads: 8,
        cross: 8,
    },
    Size {
        name: "sd-like",
        channels: &[64, 128],
        layers_per_block: 2,
        groups: 32,
        heads: 8,
        cross: 64,
    },
];
const LATENT: usize = 32;
const BATCH: usize = 2;
const TOKENS: usize = 77;
const RANK: usize = 4;
const WARMUP: usize = 2;
const TORCH_TARGETS: [&str; 8] = [
    "to_q",
    "to_k",
    "to_v",
    "to_out.0",
    "proj_in",
    "proj_out",
    "ff.net.0.proj",
    "ff.net.2",
];

fn steps() -> usize {
    std::env::var("TRAINER_STEP_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

/// The child: times our steps and prints one JSON line.
fn ours(size: &Size) {
    let dev = Device::Cpu;
    let mut cfg = UNetConfig::tiny(size.channels, size.groups, size.heads, size.cross);
    cfg.layers_per_block = size.layers_per_block;
    let spec = LoraSpec::new(RANK, RANK as f32, Targets::transformer(), 0);
    let (unet, set) =
        UNet::new(&cfg, &mut Weights::random(0, DType::F32, &dev), Some(&spec)).expect("model");
    let params = set.vars();
    let mut opt = AdamW::new(&params, AdamWConfig::default()).expect("optimizer");
    let mut rng = Rng::new(1);
    let latents = rng
        .randn(&[BATCH, 4, LATENT, LATENT], 1.0, &dev)
        .expect("latents");
    let context = rng
        .randn(&[BATCH, TOKENS, size.cross], 1.0, &dev)
        .expect("context");
    let schedule = DdpmSchedule::sd();
    let noise = NoiseConfig {
        prediction: Prediction::Epsilon,
        noise_offset: 0.0,
        min_snr_gamma: None,
    };
    let mut step = || {
        let b = schedule.noise(&latents, &noise, &mut rng).expect("noise");
        let pred = unet
            .forward(&b.noisy, &b.timesteps, &context)
            .expect("forward");
        let loss = weighted_mse(&pred, &b.target, &b.weights).expect("loss");
        let grads = loss.backward().expect("backward");
        opt.step(&params, &grads, 1e-4, Some(1.0)).expect("step");
        loss.to_scalar::<f32>().expect("loss value")
    };
    for _ in 0..WARMUP {
        step();
    }
    let mut times = Vec::new();
    for _ in 0..steps() {
        let t0 = Instant::now();
        step();
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let count: usize = params.iter().map(|(_, v)| v.elem_count()).sum();
    println!(
        "{}",
        serde_json::json!({"median_ms": times[times.len() / 2], "min_ms": times[0], "params": count})
    );
    let _ = Tensor::zeros(1, DType::F32, &dev);
}

fn run(cmd: &mut Command, who: &str) -> Option<(serde_json::Value, f64)> {
    let m = support::measure(cmd);
    if !m.status.success() {
        eprintln!("{who} failed ({})", m.status);
        return None;
    }
    let line = m.stdout.lines().last()?;
    eprintln!("{who}: process ran {:.1} s", m.wall_s);
    Some((serde_json::from_str(line).ok()?, m.peak_rss_mib))
}

fn main() {
    if let Ok(name) = std::env::var("TRAINER_STEP_CHILD") {
        if let Some(size) = SIZES.iter().find(|s| s.name == name) {
            ours(size);
        }
        return;
    }
    let python = std::env::var("LORABENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/trainer_step_torch.py");
    let exe = std::env::current_exe().expect("own path");
    let n = steps();
    println!(
        "trainer_step: LoRA rank {RANK} on the transformers' linears, {LATENT}x{LATENT} latents, batch {BATCH}, \
         {TOKENS} tokens, median of {n} steps after {WARMUP}, {} threads",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for size in &SIZES {
        let mine = run(
            Command::new(&exe).env("TRAINER_STEP_CHILD", size.name),
            "lorabench",
        );
        let mut py = Command::new(&python);
        py.arg(script)
            .arg("--channels")
            .args(size.channels.iter().map(|c| c.to_string()))
            .args(["--layers-per-block", &size.layers_per_block.to_string()])
            .args([
                "--groups",
                &size.groups.to_string(),
                "--heads",
                &size.heads.to_string(),
            ])
            .args([
                "--cross",
                &size.cross.to_string(),
                "--latent",
                &LATENT.to_string(),
            ])
            .args([
                "--batch",
                &BATCH.to_string(),
                "--tokens",
                &TOKENS.to_string(),
            ])
            .args([
                "--rank",
                &RANK.to_string(),
                "--steps",
                &n.to_string(),
                "--warmup",
                &WARMUP.to_string(),
            ])
            .arg("--targets")
            .args(TORCH_TARGETS);
        let torch = run(&mut py, "torch reference");
        let ms = |v: &serde_json::Value| v["median_ms"].as_f64().unwrap_or(f64::NAN);
        match (&mine, &torch) {
            (Some((m, m_rss)), Some((t, t_rss))) => {
                println!(
                    "{:8} lorabench {:8.1} ms/step ({} LoRA params, peak RSS {:.0} MiB) | torch {:8.1} ms/step ({} params, peak RSS {:.0} MiB, {:.0} MiB after build) | ratio {:.2}x",
                    size.name,
                    ms(m),
                    m["params"],
                    m_rss,
                    ms(t),
                    t["params"],
                    t_rss,
                    t["rss_after_build_mib"].as_f64().unwrap_or(f64::NAN),
                    ms(m) / ms(t)
                );
            }
            (Some((m, m_rss)), None) => {
                println!(
                    "{:8} lorabench {:8.1} ms/step (peak RSS {m_rss:.0} MiB); no torch reference",
                    size.name,
                    ms(m)
                );
            }
            _ => println!("{:8} lorabench failed", size.name),
        }
    }
}
