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
//!
//! On a GPU box (scripts/gpu-check.sh): a `cuda` build with `TRAINER_STEP_DEVICE=cuda` runs
//! both sides on the first GPU, `TRAINER_STEP_SIZES=sd15` picks the real SD1.5 UNet shape
//! (random weights, 64x64 latents = 512x512 images) and `TRAINER_STEP_BATCHES=1,4` the batch
//! sizes; peak VRAM is the GPU's memory.used high-water mark from `nvidia-smi` while each side
//! runs, less what was in use before it started.
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
    /// The SD1.5 layout (three cross-attention blocks, then a plain one) instead of the
    /// diffusers test layout (a plain block, then cross-attention).
    sd15: bool,
    latent: usize,
    channels: &'static [usize],
    layers_per_block: usize,
    groups: usize,
    heads: usize,
    cross: usize,
}

const SIZES: [Size; 3] = [
    Size {
        name: "test",
        sd15: false,
        latent: 32,
        channels: &[4, 8],
        layers_per_block: 1,
        groups: 2,
        heads: 8,
        cross: 8,
    },
    Size {
        name: "sd-like",
        sd15: false,
        latent: 32,
        channels: &[64, 128],
        layers_per_block: 2,
        groups: 32,
        heads: 8,
        cross: 64,
    },
    Size {
        name: "sd15",
        sd15: true,
        latent: 64,
        channels: &[320, 640, 1280, 1280],
        layers_per_block: 2,
        groups: 32,
        heads: 8,
        cross: 768,
    },
];
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

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn cuda() -> bool {
    std::env::var("TRAINER_STEP_DEVICE").is_ok_and(|d| d == "cuda")
}

fn steps() -> usize {
    std::env::var("TRAINER_STEP_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

/// The child: times our steps and prints one JSON line.
fn ours(size: &Size, batch: usize) {
    let dev = if cuda() {
        Device::new_cuda(0).expect("a CUDA device (is this a `--features cuda` build?)")
    } else {
        Device::Cpu
    };
    let cfg = if size.sd15 {
        UNetConfig::sd15()
    } else {
        let mut cfg = UNetConfig::tiny(size.channels, size.groups, size.heads, size.cross);
        cfg.layers_per_block = size.layers_per_block;
        cfg
    };
    let spec = LoraSpec::new(RANK, RANK as f32, Targets::transformer(), 0);
    let (unet, set) =
        UNet::new(&cfg, &mut Weights::random(0, DType::F32, &dev), Some(&spec)).expect("model");
    let params = set.vars();
    let mut opt = AdamW::new(&params, AdamWConfig::default()).expect("optimizer");
    let mut rng = Rng::new(1);
    let latents = rng
        .randn(&[batch, 4, size.latent, size.latent], 1.0, &dev)
        .expect("latents");
    let context = rng
        .randn(&[batch, TOKENS, size.cross], 1.0, &dev)
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

/// GPU 0's memory in use, MiB, as `nvidia-smi` reports it.
fn gpu_used_mib() -> Option<f64> {
    let out = Command::new("nvidia-smi")
        .args([
            "--query-gpu=memory.used",
            "--format=csv,noheader,nounits",
            "-i",
            "0",
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

struct Run {
    result: serde_json::Value,
    peak_rss_mib: f64,
    /// On the GPU: the rise of memory.used over its value before the child started.
    peak_vram_mib: Option<f64>,
}

fn run(cmd: &mut Command, who: &str) -> Option<Run> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let poller = cuda().then(|| {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let before = gpu_used_mib()?;
            let mut peak = before;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(gpu_used_mib().unwrap_or(peak));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Some(peak - before)
        })
    });
    let m = support::measure(cmd);
    done.store(true, Ordering::Relaxed);
    let peak_vram_mib = poller.and_then(|p| p.join().ok().flatten());
    if !m.status.success() {
        eprintln!("{who} failed ({})", m.status);
        return None;
    }
    let line = m.stdout.lines().last()?;
    eprintln!("{who}: process ran {:.1} s", m.wall_s);
    Some(Run {
        result: serde_json::from_str(line).ok()?,
        peak_rss_mib: m.peak_rss_mib,
        peak_vram_mib,
    })
}

fn main() {
    if let Ok(child) = std::env::var("TRAINER_STEP_CHILD") {
        let (name, batch) = child.split_once(':').expect("NAME:BATCH");
        if let Some(size) = SIZES.iter().find(|s| s.name == name) {
            ours(size, batch.parse().expect("a batch size"));
        }
        return;
    }
    let python = std::env::var("LORABENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/trainer_step_torch.py");
    let exe = std::env::current_exe().expect("own path");
    let n = steps();
    let device = if cuda() { "cuda" } else { "cpu" };
    println!(
        "trainer_step: LoRA rank {RANK} on the transformers' linears, {TOKENS} tokens, median of \
         {n} steps after {WARMUP}, on {device}, {} CPU threads",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let batches: Vec<usize> = env_list("TRAINER_STEP_BATCHES", "2")
        .iter()
        .map(|b| {
            b.parse()
                .expect("TRAINER_STEP_BATCHES: comma-separated numbers")
        })
        .collect();
    for name in env_list("TRAINER_STEP_SIZES", "test,sd-like") {
        let size = SIZES
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("TRAINER_STEP_SIZES: no size `{name}`"));
        for &batch in &batches {
            compare(size, batch, &exe, &python, script, device);
        }
    }
}

fn compare(
    size: &Size,
    batch: usize,
    exe: &std::path::Path,
    python: &str,
    script: &str,
    device: &str,
) {
    let n = steps();
    let mine = run(
        Command::new(exe).env("TRAINER_STEP_CHILD", format!("{}:{batch}", size.name)),
        "lorabench",
    );
    let mut py = Command::new(python);
    py.arg(script)
        .arg("--channels")
        .args(size.channels.iter().map(|c| c.to_string()))
        .args(["--layers-per-block", &size.layers_per_block.to_string()])
        .args(["--groups", &size.groups.to_string()])
        .args(["--heads", &size.heads.to_string()])
        .args(["--cross", &size.cross.to_string()])
        .args(["--latent", &size.latent.to_string()])
        .args(["--batch", &batch.to_string()])
        .args(["--tokens", &TOKENS.to_string()])
        .args(["--rank", &RANK.to_string()])
        .args(["--steps", &n.to_string()])
        .args(["--warmup", &WARMUP.to_string()])
        .args(["--device", device])
        .arg("--targets")
        .args(TORCH_TARGETS);
    if size.sd15 {
        py.arg("--sd15");
    }
    let torch = run(&mut py, "torch reference");
    let ms = |r: &Run| r.result["median_ms"].as_f64().unwrap_or(f64::NAN);
    let vram = |r: &Run| {
        r.peak_vram_mib
            .map_or_else(String::new, |v| format!(", peak VRAM +{v:.0} MiB"))
    };
    let label = format!("{} {}x{} b{batch}", size.name, size.latent, size.latent);
    match (&mine, &torch) {
        (Some(m), Some(t)) => println!(
            "{label:18} lorabench {:8.1} ms/step ({} LoRA params, peak RSS {:.0} MiB{}) | torch {:8.1} ms/step ({} params, peak RSS {:.0} MiB, {:.0} MiB after build{}) | ratio {:.2}x",
            ms(m),
            m.result["params"],
            m.peak_rss_mib,
            vram(m),
            ms(t),
            t.result["params"],
            t.peak_rss_mib,
            t.result["rss_after_build_mib"].as_f64().unwrap_or(f64::NAN),
            vram(t),
            ms(m) / ms(t)
        ),
        (Some(m), None) => println!(
            "{label:18} lorabench {:8.1} ms/step (peak RSS {:.0} MiB{}); no torch reference",
            ms(m),
            m.peak_rss_mib,
            vram(m)
        ),
        _ => println!("{label:18} lorabench failed"),
    }
}
