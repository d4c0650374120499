//! Gradients of the builtin trainer's UNet: every LoRA factor gets a finite, non-zero
//! gradient, and analytic gradients equal central differences (in f64) for every factor and
//! for the inputs, so no op without a backward can sit anywhere between them and the loss.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use candle_core::{DType, Device, Tensor, Var};
use lorabench::trainer::config::UNetConfig;
use lorabench::trainer::lora::{LoraSet, LoraSpec, Targets};
use lorabench::trainer::rng::Rng;
use lorabench::trainer::unet::UNet;
use lorabench::trainer::weights::Weights;

/// The reference's micro tier: channels (8, 16), 4 groups, 2 heads, context 16, 8×8 latents.
/// `variant` true: linear projections and cross-attention in the first block instead of the
/// second (diffusers' UNet model test layout).
fn micro(dtype: DType, targets: Targets, variant: bool) -> (UNet, LoraSet, [Tensor; 3]) {
    let mut cfg = UNetConfig::tiny(&[8, 16], 4, 2, 16);
    if variant {
        cfg.use_linear_projection = true;
        cfg.down_blocks.reverse();
        cfg.up_blocks.reverse();
    }
    let mut w = Weights::random(3, dtype, &Device::Cpu);
    let mut spec = LoraSpec::new(2, 4.0, targets, 9);
    spec.dtype = dtype;
    let (unet, set) = UNet::new(&cfg, &mut w, Some(&spec)).unwrap();
    let mut rng = Rng::new(1);
    let dev = Device::Cpu;
    for a in &set.adapters {
        let t = rng
            .randn(a.up.dims(), 0.2, &dev)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        a.up.set(&t).unwrap();
    }
    let sample = rng
        .randn(&[2, 4, 8, 8], 1.0, &dev)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    let context = rng
        .randn(&[2, 4, 16], 1.0, &dev)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    let target = rng
        .randn(&[2, 4, 8, 8], 1.0, &dev)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    (unet, set, [sample, context, target])
}

fn all() -> Targets {
    Targets {
        resnets: true,
        ..Targets::transformer()
    }
}

fn loss(unet: &UNet, sample: &Tensor, context: &Tensor, target: &Tensor) -> Tensor {
    let t = Tensor::new(&[17f32, 640.], &Device::Cpu).unwrap();
    let out = unet.forward(sample, &t, context).unwrap();
    (out - target).unwrap().sqr().unwrap().mean_all().unwrap()
}

#[test]
fn every_lora_factor_gets_a_finite_nonzero_gradient() {
    for linear in [false, true] {
        let (unet, set, [s, c, t]) = micro(DType::F32, all(), linear);
        let names: Vec<String> = set.adapters.iter().map(|a| a.name.clone()).collect();
        for part in [
            "attn1_to_q",
            "attn1_to_k",
            "attn2_to_q",
            "attn2_to_k",
            "attn2_to_v",
            "to_out_0",
            "ff_net_0_proj",
            "ff_net_2",
            "proj_in",
            "proj_out",
            "conv1",
            "conv2",
            "downsamplers_0_conv",
            "upsamplers_0_conv",
            "time_emb_proj",
            "conv_shortcut",
        ] {
            assert!(
                names.iter().any(|n| n.ends_with(part)),
                "no adapter on {part}"
            );
        }
        let grads = loss(&unet, &s, &c, &t).backward().unwrap();
        for (key, var) in set.vars() {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("no gradient reached {key}"));
            let v: Vec<f32> = g.flatten_all().unwrap().to_vec1().unwrap();
            assert!(
                v.iter().all(|x| x.is_finite()),
                "{key}: non-finite gradient"
            );
            let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
            assert!(max > 0.0, "{key}: gradient is all zeros");
        }
    }
}

#[test]
fn lora_starts_as_the_base_model() {
    let cfg = UNetConfig::tiny(&[8, 16], 4, 2, 16);
    let dev = Device::Cpu;
    let mut rng = Rng::new(4);
    let s = rng.randn(&[2, 4, 8, 8], 1.0, &dev).unwrap();
    let c = rng.randn(&[2, 4, 16], 1.0, &dev).unwrap();
    let t = Tensor::new(&[3f32, 900.], &dev).unwrap();
    let (base, _) = UNet::new(&cfg, &mut Weights::random(3, DType::F32, &dev), None).unwrap();
    let spec = LoraSpec::new(4, 4.0, all(), 2);
    let (lora, set) =
        UNet::new(&cfg, &mut Weights::random(3, DType::F32, &dev), Some(&spec)).unwrap();
    assert!(!set.is_empty());
    let a = base.forward(&s, &t, &c).unwrap();
    let b = lora.forward(&s, &t, &c).unwrap();
    let d = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(d, 0.0);
}

/// The guard: for each LoRA factor and for the sample and context (made trainable here), the
/// analytic directional derivative along a random direction equals the central difference.
/// Any op without a backward on a path from one of them to the loss (a silent cut, or a
/// partial one like a fused norm) makes that tensor's analytic derivative wrong or missing.
#[test]
fn no_op_without_backward_is_reachable_from_the_loss() {
    for linear in [false, true] {
        let (unet, set, [s, c, t]) = micro(DType::F64, all(), linear);
        let sample = Var::from_tensor(&s).unwrap();
        let context = Var::from_tensor(&c).unwrap();
        let mut checked: Vec<(String, Var)> = set.vars();
        checked.push(("sample".into(), sample.clone()));
        checked.push(("context".into(), context.clone()));
        let f = || {
            loss(&unet, sample.as_tensor(), context.as_tensor(), &t)
                .to_scalar::<f64>()
                .unwrap()
        };
        let grads = loss(&unet, sample.as_tensor(), context.as_tensor(), &t)
            .backward()
            .unwrap();
        let mut rng = Rng::new(8);
        let eps = 1e-5;
        let mut smallest = f64::INFINITY;
        for (key, var) in &checked {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("no gradient reached {key}"));
            let u = rng
                .randn(var.dims(), 1.0, &Device::Cpu)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap();
            let analytic = (g * &u)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            let base = var.as_tensor().copy().unwrap();
            var.set(&(&base + (&u * eps).unwrap()).unwrap()).unwrap();
            let plus = f();
            var.set(&(&base - (&u * eps).unwrap()).unwrap()).unwrap();
            let minus = f();
            var.set(&base).unwrap();
            let numeric = (plus - minus) / (2.0 * eps);
            // Relative 1e-5, plus the rounding floor of the difference quotient (~1e-16 / eps).
            let ok = (analytic - numeric).abs() <= 1e-5 * numeric.abs() + 1e-10;
            assert!(
                ok,
                "{key} (variant {linear}): analytic {analytic:e}, numeric {numeric:e}"
            );
            smallest = smallest.min(numeric.abs());
        }
        eprintln!(
            "{} tensors checked, smallest directional derivative {smallest:e}",
            checked.len()
        );
    }
}

/// The second half of the guard: the trainer's sources name no candle op that builds its
/// output without a graph edge or has no backward (reference §3, §4, §12). candle-nn's fused
/// ops (softmax_last_dim, layer_norm, rms_norm, sdpa, cpu flash attention) are out of reach:
/// only `encoders.rs` (and `single_file.rs`, which builds the same encoders from an LDM
/// checkpoint) uses candle-nn, to run the frozen VAE and CLIP once before training, and
/// what it makes is detached and kept in the run's cache, so none of its ops is on the loss's
/// graph. The bridge gives our fused forwards their backward.
#[test]
fn trainer_sources_name_no_op_without_backward() {
    let forbidden = [
        "candle_nn",
        "_no_bwd",
        "upsample_nearest",
        "interpolate",
        "upsample_bilinear",
        "conv_transpose1d",
        "avg_pool",
        "max_pool",
        ".ceil(",
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/trainer");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n == "encoders.rs" || n == "single_file.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        seen += 1;
        for f in forbidden {
            let uses = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .any(|l| l.contains(f));
            assert!(!uses, "{}: uses `{f}`", path.display());
        }
    }
    assert!(seen >= 5);
    // The encoders run before training, in the data pipeline: the session never names them.
    let session = std::fs::read_to_string(dir.join("session.rs")).unwrap();
    assert!(
        !session.contains("encoders"),
        "session.rs must not run the encoders"
    );
}
