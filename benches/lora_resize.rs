//! Resize a rank-128 SDXL-shaped LoRA to rank 32: lorabench (thin QR of each factor + SVD of
//! the 128 × 128 core, lora-formats.md §8.7) against the common script approach,
//! `torch.linalg.svd` of each full product matrix (kohya's `resize_lora.py`), in the same run.
//!
//! Module shapes and counts are SDXL's as kohya names them (722 UNet attention modules,
//! 72 CLIP-L and 192 OpenCLIP-bigG modules; lora-formats.md §4.1); the data is random and
//! generated here, module by module, outside the timed region.
//!
//! Run: `cargo bench --bench lora_resize` (the reference runs `benches/lora_resize_torch.py`
//! with `$LORABENCH_PYTHON`, default `python3`). `LORA_RESIZE_TORCH_SAMPLES=N` sets how
//! many modules of each distinct shape torch times (default 3; its total is the per-shape
//! mean times the count); `LORA_RESIZE_TORCH_SAMPLES=all` times every module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use faer::Mat;
use faer::stats::prelude::{
    CwiseMatDistribution, Distribution, SeedableRng, StandardNormal, StdRng,
};
use lorabench::lora::lowrank::{Factors, RankRule};
use lorabench::lora::resize::resize_factors;
use rayon::prelude::*;

#[path = "support/python.rs"]
mod python;

const OLD_RANK: usize = 128;
const NEW_RANK: usize = 32;

/// (kohya module name, out features, in features).
fn sdxl_modules() -> Vec<(String, usize, usize)> {
    let mut modules = Vec::new();
    // (LDM block, channels, transformer depth)
    let blocks = [
        ("input_blocks_4_1", 640, 2),
        ("input_blocks_5_1", 640, 2),
        ("input_blocks_7_1", 1280, 10),
        ("input_blocks_8_1", 1280, 10),
        ("middle_block_1", 1280, 10),
        ("output_blocks_0_1", 1280, 10),
        ("output_blocks_1_1", 1280, 10),
        ("output_blocks_2_1", 1280, 10),
        ("output_blocks_3_1", 640, 2),
        ("output_blocks_4_1", 640, 2),
        ("output_blocks_5_1", 640, 2),
    ];
    const CONTEXT: usize = 2048;
    for (block, c, depth) in blocks {
        let name = |rest: &str| format!("lora_unet_{block}_{rest}");
        modules.push((name("proj_in"), c, c));
        for t in 0..depth {
            let tb = |m: &str| name(&format!("transformer_blocks_{t}_{m}"));
            for m in [
                "attn1_to_q",
                "attn1_to_k",
                "attn1_to_v",
                "attn1_to_out_0",
                "attn2_to_q",
                "attn2_to_out_0",
            ] {
                modules.push((tb(m), c, c));
            }
            modules.push((tb("attn2_to_k"), c, CONTEXT));
            modules.push((tb("attn2_to_v"), c, CONTEXT));
            modules.push((tb("ff_net_0_proj"), 8 * c, c)); // GEGLU: 2 × 4c
            modules.push((tb("ff_net_2"), c, 4 * c));
        }
        modules.push((name("proj_out"), c, c));
    }
    for (prefix, width, layers) in [("lora_te1", 768, 12), ("lora_te2", 1280, 32)] {
        for l in 0..layers {
            let name = |m: &str| format!("{prefix}_text_model_encoder_layers_{l}_{m}");
            for m in [
                "self_attn_q_proj",
                "self_attn_k_proj",
                "self_attn_v_proj",
                "self_attn_out_proj",
            ] {
                modules.push((name(m), width, width));
            }
            modules.push((name("mlp_fc1"), 4 * width, width));
            modules.push((name("mlp_fc2"), width, 4 * width));
        }
    }
    modules
}

fn random_lora(out: usize, inn: usize, seed: u64) -> Factors {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut up: Mat<f32> = CwiseMatDistribution {
        nrows: out,
        ncols: OLD_RANK,
        dist: StandardNormal,
    }
    .sample(&mut rng);
    up *= faer::Scale(0.01);
    let down: Mat<f32> = CwiseMatDistribution {
        nrows: OLD_RANK,
        ncols: inn,
        dist: StandardNormal,
    }
    .sample(&mut rng);
    match Factors::new(up, down, Some(64.0)) {
        Ok(f) => f,
        Err(e) => panic!("random factors rejected: {e}"),
    }
}

fn torch_reference(modules: &[(String, usize, usize)]) -> Option<serde_json::Value> {
    let python = python::python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/lora_resize_torch.py");
    let dir = tempfile::tempdir().ok()?;
    let shapes = dir.path().join("modules.json");
    let list: Vec<_> = modules
        .iter()
        .map(|(n, o, i)| serde_json::json!({"name": n, "out": o, "in": i}))
        .collect();
    std::fs::write(&shapes, serde_json::to_vec(&list).ok()?).ok()?;
    let samples = std::env::var("LORA_RESIZE_TORCH_SAMPLES").unwrap_or_else(|_| "3".into());
    let output = Command::new(&python)
        .arg(&script)
        .arg(&shapes)
        .args([
            "--old-rank",
            &OLD_RANK.to_string(),
            "--new-rank",
            &NEW_RANK.to_string(),
        ])
        .args(["--samples", &samples])
        .stderr(Stdio::inherit())
        .output();
    match output {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).ok(),
        Ok(o) => {
            eprintln!(
                "torch reference failed:\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("cannot run {python} ({e}); set LORABENCH_PYTHON to a Python with torch");
            None
        }
    }
}

fn main() {
    let modules = sdxl_modules();
    println!(
        "lora_resize: {} SDXL modules, rank {OLD_RANK} -> {NEW_RANK}, f32, {} threads",
        modules.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // Warm-up: first-touch allocations and faer's thread pool.
    let warm = random_lora(640, 640, 0);
    let _ = resize_factors(&warm, RankRule::Fixed(NEW_RANK), None);

    let mut per_shape: BTreeMap<(usize, usize), (usize, Duration)> = BTreeMap::new();
    let mut total = Duration::ZERO;
    let mut worst_fro: f64 = 1.0;
    for (seed, (name, out, inn)) in modules.iter().enumerate() {
        let f = random_lora(*out, *inn, seed as u64 + 1);
        let start = Instant::now();
        let resized = resize_factors(&f, RankRule::Fixed(NEW_RANK), None);
        let took = start.elapsed();
        let (_, report) = match resized {
            Ok(r) => r,
            Err(e) => panic!("{name}: {e}"),
        };
        total += took;
        worst_fro = worst_fro.min(report.retained.fro);
        let e = per_shape.entry((*out, *inn)).or_default();
        e.0 += 1;
        e.1 += took;
    }
    println!(
        "lorabench, modules one after another (faer threads inside): {:.3} s total",
        total.as_secs_f64()
    );
    println!("  lowest retained energy at rank {NEW_RANK}: {worst_fro:.3}");
    for ((out, inn), (count, took)) in &per_shape {
        println!(
            "  {out}x{inn}: {count} modules, {:.2} ms each",
            took.as_secs_f64() * 1e3 / *count as f64
        );
    }

    // The way `resize_file` runs: modules in parallel (rayon), here each one single-threaded.
    faer::set_global_parallelism(faer::Par::Seq);
    let all: Vec<Factors> = modules
        .iter()
        .enumerate()
        .map(|(seed, (_, out, inn))| random_lora(*out, *inn, seed as u64 + 1))
        .collect();
    let start = Instant::now();
    let done = all
        .par_iter()
        .filter(|f| resize_factors(f, RankRule::Fixed(NEW_RANK), None).is_ok())
        .count();
    let parallel = start.elapsed().as_secs_f64();
    assert_eq!(done, all.len());
    drop(all);
    println!("lorabench, modules in parallel (single-threaded faer): {parallel:.3} s total");
    let ours = parallel.min(total.as_secs_f64());

    let Some(torch) = torch_reference(&modules) else {
        println!("torch reference: not run (no ratio)");
        return;
    };
    println!(
        "torch {} ({} threads), {} modules timed per shape ({}):",
        torch["torch_version"], torch["threads"], torch["samples"], torch["mode"]
    );
    println!(
        "{:>12} {:>6} {:>12} {:>14} {:>14}",
        "shape", "count", "ours ms", "torch full ms", "torch thin ms"
    );
    for ((out, inn), (count, took)) in &per_shape {
        let key = format!("{out}x{inn}");
        let t = &torch["per_shape"][&key];
        println!(
            "{key:>12} {count:>6} {:>12.2} {:>14.1} {:>14.1}",
            took.as_secs_f64() * 1e3 / *count as f64,
            t["full_s"].as_f64().unwrap_or(f64::NAN) * 1e3,
            t["thin_s"].as_f64().unwrap_or(f64::NAN) * 1e3,
        );
    }
    for (label, key) in [
        (
            "torch.linalg.svd full_matrices=True (kohya)",
            "total_full_s",
        ),
        ("torch.linalg.svd full_matrices=False", "total_thin_s"),
    ] {
        let theirs = torch[key].as_f64().unwrap_or(f64::NAN);
        println!(
            "{label}: {theirs:.2} s  ->  lorabench is {:.1}x faster",
            theirs / ours
        );
    }
}
