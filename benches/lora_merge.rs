//! Benchmark: merge a rank-32 kohya LoRA (all 264 SD1.5 attention/text-encoder modules) into a
//! synthetic full-size SD1.5 single-file checkpoint (the real LDM key names and shapes, random
//! F16 data, ~2.1 GB), with `lorabench lora merge` against the same merge in PyTorch on the CPU
//! (benches/lora_merge_reference.py: load, add, save, the way merge scripts do), same run.
//! Reports wall time and peak RSS of both processes and the ratios.
//!
//! Run: `cargo bench --bench lora_merge` (python: $LORABENCH_PYTHON, else python3; without torch only our side runs). The checkpoint is generated into a
//! temporary folder and deleted afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use half::f16;
use lorabench::lora::ldm;
use lorabench::lora::safetensors::{Dtype, TensorSpec, Writer};

#[path = "support/python.rs"]
mod python;
mod support;

const RANK: usize = 32;
const ALPHA: f32 = 16.0;
const STRENGTH: f32 = 0.8;

/// Collects (name, dtype, shape) of a checkpoint.
#[derive(Default)]
struct Layout(Vec<TensorSpec>);

impl Layout {
    fn add(&mut self, name: String, shape: &[usize]) {
        self.0.push(TensorSpec {
            name,
            dtype: Dtype::F16,
            shape: shape.to_vec(),
        });
    }
    fn wb(&mut self, prefix: &str, shape: &[usize]) {
        self.add(format!("{prefix}.weight"), shape);
        self.add(format!("{prefix}.bias"), &shape[..1]);
    }
    fn norm(&mut self, prefix: &str, c: usize) {
        self.wb(prefix, &[c]);
    }
    fn resnet(&mut self, p: &str, cin: usize, c: usize, emb: usize) {
        self.norm(&format!("{p}.in_layers.0"), cin);
        self.wb(&format!("{p}.in_layers.2"), &[c, cin, 3, 3]);
        self.wb(&format!("{p}.emb_layers.1"), &[c, emb]);
        self.norm(&format!("{p}.out_layers.0"), c);
        self.wb(&format!("{p}.out_layers.3"), &[c, c, 3, 3]);
        if cin != c {
            self.wb(&format!("{p}.skip_connection"), &[c, cin, 1, 1]);
        }
    }
    fn attention(&mut self, p: &str, c: usize, ctx: usize) {
        self.norm(&format!("{p}.norm"), c);
        self.wb(&format!("{p}.proj_in"), &[c, c, 1, 1]);
        let t = format!("{p}.transformer_blocks.0");
        for (attn, kv) in [("attn1", c), ("attn2", ctx)] {
            self.add(format!("{t}.{attn}.to_q.weight"), &[c, c]);
            self.add(format!("{t}.{attn}.to_k.weight"), &[c, kv]);
            self.add(format!("{t}.{attn}.to_v.weight"), &[c, kv]);
            self.wb(&format!("{t}.{attn}.to_out.0"), &[c, c]);
        }
        self.wb(&format!("{t}.ff.net.0.proj"), &[8 * c, c]);
        self.wb(&format!("{t}.ff.net.2"), &[c, 4 * c]);
        for n in ["norm1", "norm2", "norm3"] {
            self.norm(&format!("{t}.{n}"), c);
        }
        self.wb(&format!("{p}.proj_out"), &[c, c, 1, 1]);
    }
    fn vae_resnet(&mut self, p: &str, cin: usize, c: usize) {
        self.norm(&format!("{p}.norm1"), cin);
        self.wb(&format!("{p}.conv1"), &[c, cin, 3, 3]);
        self.norm(&format!("{p}.norm2"), c);
        self.wb(&format!("{p}.conv2"), &[c, c, 3, 3]);
        if cin != c {
            self.wb(&format!("{p}.nin_shortcut"), &[c, cin, 1, 1]);
        }
    }
    fn vae_mid(&mut self, p: &str, c: usize) {
        self.vae_resnet(&format!("{p}.block_1"), c, c);
        self.norm(&format!("{p}.attn_1.norm"), c);
        for x in ["q", "k", "v", "proj_out"] {
            self.wb(&format!("{p}.attn_1.{x}"), &[c, c, 1, 1]);
        }
        self.vae_resnet(&format!("{p}.block_2"), c, c);
    }
}

/// The SD1.5 single-file layout: UNet, CLIP-L text encoder, VAE.
fn sd15() -> Layout {
    let mut l = Layout::default();
    let u = "model.diffusion_model";
    let (emb, ctx) = (1280, 768);
    l.wb(&format!("{u}.time_embed.0"), &[emb, 320]);
    l.wb(&format!("{u}.time_embed.2"), &[emb, emb]);
    l.wb(&format!("{u}.input_blocks.0.0"), &[320, 4, 3, 3]);
    let chans = [320, 640, 1280, 1280];
    let mut skips = vec![320];
    let mut cur = 320;
    for (i, &c) in chans.iter().enumerate() {
        for j in 0..2 {
            let n = 3 * i + j + 1;
            l.resnet(&format!("{u}.input_blocks.{n}.0"), cur, c, emb);
            cur = c;
            if i < 3 {
                l.attention(&format!("{u}.input_blocks.{n}.1"), c, ctx);
            }
            skips.push(c);
        }
        if i < 3 {
            l.wb(
                &format!("{u}.input_blocks.{}.0.op", 3 * (i + 1)),
                &[c, c, 3, 3],
            );
            skips.push(c);
        }
    }
    l.resnet(&format!("{u}.middle_block.0"), 1280, 1280, emb);
    l.attention(&format!("{u}.middle_block.1"), 1280, ctx);
    l.resnet(&format!("{u}.middle_block.2"), 1280, 1280, emb);
    for (i, &c) in chans.iter().rev().enumerate() {
        for j in 0..3 {
            let n = 3 * i + j;
            let skip = skips.pop().unwrap_or(c);
            l.resnet(&format!("{u}.output_blocks.{n}.0"), cur + skip, c, emb);
            cur = c;
            if i > 0 {
                l.attention(&format!("{u}.output_blocks.{n}.1"), c, ctx);
            }
            if j == 2 && i < 3 {
                let layer = if i > 0 { 2 } else { 1 };
                l.wb(
                    &format!("{u}.output_blocks.{n}.{layer}.conv"),
                    &[c, c, 3, 3],
                );
            }
        }
    }
    l.norm(&format!("{u}.out.0"), 320);
    l.wb(&format!("{u}.out.2"), &[4, 320, 3, 3]);

    let t = "cond_stage_model.transformer.text_model";
    l.add(
        format!("{t}.embeddings.token_embedding.weight"),
        &[49408, 768],
    );
    l.add(
        format!("{t}.embeddings.position_embedding.weight"),
        &[77, 768],
    );
    for i in 0..12 {
        let p = format!("{t}.encoder.layers.{i}");
        for x in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            l.wb(&format!("{p}.self_attn.{x}"), &[768, 768]);
        }
        l.norm(&format!("{p}.layer_norm1"), 768);
        l.norm(&format!("{p}.layer_norm2"), 768);
        l.wb(&format!("{p}.mlp.fc1"), &[3072, 768]);
        l.wb(&format!("{p}.mlp.fc2"), &[768, 3072]);
    }
    l.norm(&format!("{t}.final_layer_norm"), 768);

    let v = "first_stage_model";
    let vch = [128, 256, 512, 512];
    l.wb(&format!("{v}.encoder.conv_in"), &[128, 3, 3, 3]);
    let mut cur = 128;
    for (i, &c) in vch.iter().enumerate() {
        for j in 0..2 {
            l.vae_resnet(&format!("{v}.encoder.down.{i}.block.{j}"), cur, c);
            cur = c;
        }
        if i < 3 {
            l.wb(
                &format!("{v}.encoder.down.{i}.downsample.conv"),
                &[c, c, 3, 3],
            );
        }
    }
    l.vae_mid(&format!("{v}.encoder.mid"), 512);
    l.norm(&format!("{v}.encoder.norm_out"), 512);
    l.wb(&format!("{v}.encoder.conv_out"), &[8, 512, 3, 3]);
    l.wb(&format!("{v}.quant_conv"), &[8, 8, 1, 1]);
    l.wb(&format!("{v}.post_quant_conv"), &[4, 4, 1, 1]);
    l.wb(&format!("{v}.decoder.conv_in"), &[512, 4, 3, 3]);
    l.vae_mid(&format!("{v}.decoder.mid"), 512);
    let mut cur = 512;
    for i in (0..4).rev() {
        let c = vch[i];
        for j in 0..3 {
            l.vae_resnet(&format!("{v}.decoder.up.{i}.block.{j}"), cur, c);
            cur = c;
        }
        if i > 0 {
            l.wb(&format!("{v}.decoder.up.{i}.upsample.conv"), &[c, c, 3, 3]);
        }
    }
    l.norm(&format!("{v}.decoder.norm_out"), 128);
    l.wb(&format!("{v}.decoder.conv_out"), &[3, 128, 3, 3]);
    l
}

/// LoRA targets: the kohya module name and the checkpoint key it adapts.
fn lora_targets(layout: &Layout) -> Vec<(String, TensorSpec)> {
    const UNET: &[&str] = &[
        "to_q.weight",
        "to_k.weight",
        "to_v.weight",
        "to_out.0.weight",
        "ff.net.0.proj.weight",
        "ff.net.2.weight",
        "proj_in.weight",
        "proj_out.weight",
    ];
    const TE: &[&str] = &[
        "q_proj.weight",
        "k_proj.weight",
        "v_proj.weight",
        "out_proj.weight",
        "fc1.weight",
        "fc2.weight",
    ];
    let mut out = Vec::new();
    for s in &layout.0 {
        if let Some(inner) = s.name.strip_prefix("model.diffusion_model.") {
            if UNET.iter().any(|t| inner.ends_with(t))
                && let Some(d) = ldm::ldm_to_diffusers(inner.trim_end_matches(".weight"))
            {
                out.push((format!("lora_unet_{}", d.replace('.', "_")), s.clone()));
            }
        } else if let Some(inner) = s.name.strip_prefix("cond_stage_model.transformer.")
            && TE.iter().any(|t| inner.ends_with(t))
        {
            out.push((
                format!(
                    "lora_te_{}",
                    inner.trim_end_matches(".weight").replace('.', "_")
                ),
                s.clone(),
            ));
        }
    }
    out
}

/// Deterministic pseudo-random F16 bytes, ~N(0, 0.05)-ish, from a reused 8 MiB pool.
struct Noise {
    pool: Vec<u8>,
    pos: usize,
}

impl Noise {
    fn new() -> Self {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut pool = Vec::with_capacity(8 << 20);
        while pool.len() < 8 << 20 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Sum of four uniforms: roughly normal.
            let s: f32 = (0..4)
                .map(|k| ((state >> (16 * k)) & 0xffff) as f32 / 65535.0)
                .sum::<f32>()
                - 2.0;
            pool.extend_from_slice(&f16::from_f32(s * 0.05).to_le_bytes());
        }
        Self { pool, pos: 0 }
    }
    fn fill(&mut self, out: &mut Vec<u8>, len: usize) {
        out.clear();
        while out.len() < len {
            let take = (len - out.len()).min(self.pool.len() - self.pos);
            out.extend_from_slice(&self.pool[self.pos..self.pos + take]);
            self.pos = (self.pos + take + 2 * 7919) % self.pool.len();
        }
    }
}

fn write_file(path: &Path, specs: Vec<TensorSpec>, noise: &mut Noise) {
    let mut w = Writer::create(path, specs, &BTreeMap::new()).expect("create");
    let order: Vec<TensorSpec> = w.order().to_vec();
    let mut buf = Vec::new();
    for s in order {
        noise.fill(&mut buf, s.byte_len() as usize);
        w.write(&s.name, &buf).expect("write");
    }
    w.finish().expect("finish");
}

/// Runs a command that must succeed, returning (wall seconds, peak RSS in MiB, stdout).
fn measure(cmd: &mut Command) -> (f64, f64, String) {
    let m = support::measure(cmd);
    assert!(m.status.success(), "{cmd:?} failed");
    (m.wall_s, m.peak_rss_mib, m.stdout)
}

/// The reference interpreter, if it has torch and safetensors.
fn python() -> Option<String> {
    let py = python::python();
    Command::new(&py)
        .args(["-c", "import torch, safetensors"])
        .output()
        .is_ok_and(|o| o.status.success())
        .then_some(py)
}

fn main() {
    let dir = tempfile::tempdir_in(
        std::env::var_os("LORABENCH_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
    )
    .expect("tempdir");
    let base = dir.path().join("sd15_synthetic.safetensors");
    let lora = dir.path().join("lora_r32.safetensors");
    let map = dir.path().join("lora_map.json");

    let t = Instant::now();
    let layout = sd15();
    let targets = lora_targets(&layout);
    let params: usize = layout
        .0
        .iter()
        .map(|s| s.shape.iter().product::<usize>())
        .sum();
    let mut noise = Noise::new();
    let mut lora_specs = Vec::new();
    let mut mapping = serde_json::Map::new();
    for (name, s) in &targets {
        let (out, rest) = (s.shape[0], &s.shape[1..]);
        let mut down = vec![RANK];
        down.extend_from_slice(rest);
        let up = if rest.len() == 3 {
            vec![out, RANK, 1, 1]
        } else {
            vec![out, RANK]
        };
        lora_specs.push(TensorSpec {
            name: format!("{name}.lora_down.weight"),
            dtype: Dtype::F16,
            shape: down,
        });
        lora_specs.push(TensorSpec {
            name: format!("{name}.lora_up.weight"),
            dtype: Dtype::F16,
            shape: up,
        });
        lora_specs.push(TensorSpec {
            name: format!("{name}.alpha"),
            dtype: Dtype::F16,
            shape: vec![],
        });
        mapping.insert(name.clone(), serde_json::json!(s.name));
    }
    write_file(&base, layout.0, &mut noise);
    // Alphas are noise too unless set: write them explicitly.
    {
        let mut w = Writer::create(&lora, lora_specs, &BTreeMap::new()).expect("lora");
        let order: Vec<TensorSpec> = w.order().to_vec();
        let mut buf = Vec::new();
        for s in order {
            if s.name.ends_with(".alpha") {
                buf = f16::from_f32(ALPHA).to_le_bytes().to_vec();
            } else {
                noise.fill(&mut buf, s.byte_len() as usize);
            }
            w.write(&s.name, &buf).expect("write");
        }
        w.finish().expect("finish");
    }
    std::fs::write(&map, serde_json::to_vec(&mapping).expect("json")).expect("map");
    let size = std::fs::metadata(&base).map(|m| m.len()).unwrap_or(0);
    println!(
        "generated SD1.5 checkpoint: {} tensors, {:.0} M parameters, {:.2} GB F16; LoRA rank {RANK}, {} modules ({:.1} s)",
        sd15().0.len(),
        params as f64 / 1e6,
        size as f64 / 1e9,
        targets.len(),
        t.elapsed().as_secs_f64()
    );

    let ours_out = dir.path().join("merged_lorabench.safetensors");
    let lora_arg = format!("{}:{STRENGTH}", lora.display());
    let (ours_wall, ours_rss, _) = measure(
        Command::new(env!("CARGO_BIN_EXE_lorabench"))
            .args(["lora", "merge", "--base"])
            .arg(&base)
            .arg(&lora_arg)
            .arg("-o")
            .arg(&ours_out),
    );
    println!("lorabench lora merge : {ours_wall:7.2} s wall, peak RSS {ours_rss:7.0} MiB");

    let Some(py) = python() else {
        println!("no python with torch found: reference skipped (set LORABENCH_PYTHON)");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/lora_merge_reference.py");
    let torch_out = dir.path().join("merged_torch.safetensors");
    let (torch_wall, torch_rss, report) = measure(
        Command::new(&py)
            .arg(&script)
            .arg(&base)
            .arg(&lora)
            .arg(&map)
            .arg(STRENGTH.to_string())
            .arg(&torch_out)
            .arg(&ours_out),
    );
    println!(
        "pytorch (CPU) merge  : {torch_wall:7.2} s wall, peak RSS {torch_rss:7.0} MiB  ({})",
        report.trim()
    );
    println!(
        "ratio torch/lorabench: time {:.2}x, peak RSS {:.1}x",
        torch_wall / ours_wall,
        torch_rss / ours_rss
    );
}
