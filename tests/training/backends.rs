//! The training config's way to a run: base model family from tensor names, the dataset
//! snapshot, and each backend's files checked against the trainer's own rules — kohya's with
//! sd-scripts' real argparse parser, config reader and dataset schema (its venv from
//! kohya-cpu.sh), the others loaded by Python and checked for the keys the trainer reads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use crate::kohya_env;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{DType, Device, Tensor};
use lorabench::dataset::buckets::Model;
use lorabench::dataset::{ScanOptions, scan};
use lorabench::lora::safetensors::write_tensors;
use lorabench::train::config::{Request, TrainConfig, TrainerInstall, UserConfig, resolve_request};
use lorabench::train::model_family::{self, FamilyError};
use lorabench::train::prepare::{self, PrepareError};
use lorabench::train::snapshot;
use lorabench::train::{LaunchPlan, TrainerId};

/// A safetensors file holding zero tensors of these names and shapes.
fn model(path: &Path, tensors: &[(&str, &[usize])]) {
    let t: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, s)| {
            (
                n.to_string(),
                Tensor::zeros(*s, DType::F16, &Device::Cpu).unwrap(),
            )
        })
        .collect();
    write_tensors(path, &t, &BTreeMap::new(), false).unwrap();
}

/// Tensor names each family's checkpoints carry (LDM / BFL single-file layouts).
fn family_tensors(family: Model) -> Vec<(&'static str, &'static [usize])> {
    match family {
        Model::Sd15 => vec![
            (
                "model.diffusion_model.input_blocks.0.0.weight",
                &[4, 4, 3, 3],
            ),
            (
                "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight",
                &[8, 768],
            ),
            (
                "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
                &[4, 8],
            ),
        ],
        Model::Sdxl => vec![
            (
                "model.diffusion_model.input_blocks.0.0.weight",
                &[4, 4, 3, 3],
            ),
            ("model.diffusion_model.label_emb.0.0.weight", &[4, 8]),
            ("conditioner.embedders.1.model.ln_final.weight", &[8]),
        ],
        Model::Flux => vec![
            ("double_blocks.0.img_attn.qkv.weight", &[12, 4]),
            ("single_blocks.0.linear1.weight", &[12, 4]),
        ],
    }
}

fn png(path: &Path, w: u32, h: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 90]))
        .save(path)
        .unwrap();
}

/// A dataset: a kohya `10_lbhouse` folder, a plain folder, and one excluded image.
fn dataset(root: &Path) -> PathBuf {
    let d = root.join("lighthouse");
    for (img, caption) in [
        ("10_lbhouse/a.png", "lbhouse, a lighthouse at dusk"),
        ("10_lbhouse/b.png", "lbhouse, a lighthouse in fog"),
        ("extra/c.png", "lbhouse, a red lighthouse"),
    ] {
        png(&d.join(img), 512, 512);
        std::fs::write(d.join(img).with_extension("txt"), caption).unwrap();
    }
    png(&d.join(".lorabench/excluded/10_lbhouse/x.png"), 512, 512);
    std::fs::write(
        d.join(".lorabench/excluded/10_lbhouse/x.txt"),
        "lbhouse, blurry",
    )
    .unwrap();
    d
}

fn request(dir: &Path, preset: &str, sets: &[String]) -> Request {
    Request {
        preset: Some(preset.into()),
        sets: sets.to_vec(),
        presets_dir: None,
        cwd: dir.to_path_buf(),
        ..Request::default()
    }
}

fn write_files(plan: &LaunchPlan, run: &Path) {
    for f in &plan.files {
        let p = run.join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &f.contents).unwrap();
    }
}

#[test]
fn family_is_read_from_tensor_names() {
    let tmp = tempfile::tempdir().unwrap();
    for family in Model::ALL {
        let p = tmp.path().join(format!("{}.safetensors", family.as_str()));
        model(&p, &family_tensors(family));
        assert_eq!(model_family::detect(&p).unwrap(), family);
    }
    // A diffusers folder: the UNet's weights say SDXL (the added size embedding).
    let unet = tmp.path().join("diffusers/unet");
    std::fs::create_dir_all(&unet).unwrap();
    model(
        &unet.join("diffusion_pytorch_model.safetensors"),
        &[
            ("add_embedding.linear_1.weight", &[4, 8]),
            ("down_blocks.0.resnets.0.conv1.weight", &[4, 4, 3, 3]),
        ],
    );
    assert_eq!(
        model_family::detect(&tmp.path().join("diffusers")).unwrap(),
        Model::Sdxl
    );
    // A sharded Flux transformer: names from the index.
    let tr = tmp.path().join("flux/transformer");
    std::fs::create_dir_all(&tr).unwrap();
    std::fs::write(
        tr.join("diffusion_pytorch_model.safetensors.index.json"),
        r#"{"weight_map": {"transformer_blocks.0.attn.to_q.weight": "a", "single_transformer_blocks.0.proj_out.weight": "b"}}"#,
    )
    .unwrap();
    assert_eq!(
        model_family::detect(&tmp.path().join("flux")).unwrap(),
        Model::Flux
    );

    let lora = tmp.path().join("lora.safetensors");
    model(
        &lora,
        &[(
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight",
            &[4, 8],
        )],
    );
    let e = model_family::detect(&lora).unwrap_err();
    assert!(
        matches!(&e, FamilyError::NotAModel { what, .. } if what == "a LoRA"),
        "{e}"
    );
    let sd2 = tmp.path().join("sd2.safetensors");
    model(&sd2, &[("cond_stage_model.model.ln_final.weight", &[8])]);
    assert!(matches!(
        model_family::detect(&sd2),
        Err(FamilyError::Unsupported { .. })
    ));
    let junk = tmp.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a model").unwrap();
    assert!(
        model_family::detect(&junk)
            .unwrap_err()
            .to_string()
            .contains("junk.safetensors")
    );
    assert!(matches!(
        model_family::detect(&tmp.path().join("missing.safetensors")),
        Err(FamilyError::NotFound(_))
    ));
}

#[test]
fn a_base_of_another_family_is_refused_where_the_config_says_it() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("sd15.safetensors");
    model(&base, &family_tensors(Model::Sd15));
    let data = dataset(tmp.path());
    let sets = [
        "backend=kohya".to_string(),
        format!("model.base={}", base.display()),
        format!("dataset.path={}", data.display()),
    ];
    let resolved = resolve_request(&request(tmp.path(), "sdxl", &sets)).unwrap();
    let e = prepare::prepare(resolved, false).unwrap_err().to_string();
    assert!(
        e.starts_with("preset sdxl:4:3: `model.family`: the config says sdxl but"),
        "{e}"
    );
    assert!(e.ends_with("is sd15 (read from its tensor names)"), "{e}");
}

#[test]
fn lint_errors_stop_the_run_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("sdxl.safetensors");
    model(&base, &family_tensors(Model::Sdxl));
    let data = dataset(tmp.path());
    std::fs::write(data.join("extra/c.txt"), "").unwrap();
    let sets = [
        "backend=kohya".to_string(),
        format!("model.base={}", base.display()),
        format!("dataset.path={}", data.display()),
    ];
    let resolved = resolve_request(&request(tmp.path(), "sdxl", &sets)).unwrap();
    let e = prepare::prepare(resolved.clone(), false).unwrap_err();
    assert!(
        matches!(&e, PrepareError::Lint { findings, .. } if findings.iter().any(|f| f.contains("extra/c.txt"))),
        "{e}"
    );
    assert!(e.to_string().contains("--force"), "{e}");
    let p = prepare::prepare(resolved, true).unwrap();
    assert!(
        p.warnings.iter().any(|w| w.contains("extra/c.txt")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn snapshot_links_images_leaves_excluded_out_and_freezes_captions() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let ds = scan(&data, &ScanOptions::default()).unwrap();
    let plan = snapshot::plan(&ds, None).unwrap();
    let run = tmp.path().join("run/dataset");
    let made = plan.make(&run).unwrap();
    assert_eq!((made.hard_links, made.symlinks, made.captions), (3, 0, 3));
    let a = data.join("10_lbhouse/a.png");
    let linked = run.join("10_lbhouse/a.png");
    assert_eq!(
        std::fs::metadata(&a).unwrap().ino(),
        std::fs::metadata(&linked).unwrap().ino()
    );
    assert!(
        !run.join("10_lbhouse/x.png").exists(),
        "excluded images stay out"
    );
    assert!(!run.join(".lorabench").exists());
    let folders: Vec<(String, u32)> = plan
        .folders
        .iter()
        .map(|f| (f.rel.display().to_string(), f.repeats))
        .collect();
    assert_eq!(
        folders,
        [("10_lbhouse".to_string(), 10), ("extra".to_string(), 1)]
    );

    // Captions edited after the snapshot change nothing in it, but change the content hash.
    std::fs::write(data.join("10_lbhouse/a.txt"), "edited").unwrap();
    let copy = std::fs::read_to_string(run.join("10_lbhouse/a.txt")).unwrap();
    assert_eq!(copy, "lbhouse, a lighthouse at dusk");
    let again = snapshot::plan(&scan(&data, &ScanOptions::default()).unwrap(), None).unwrap();
    assert_ne!(again.hash, plan.hash);
    assert_eq!(
        snapshot::plan(&ds, None).unwrap().hash,
        plan.hash,
        "same content, same hash"
    );
    assert_eq!(snapshot::plan(&ds, Some(3)).unwrap().folders[0].repeats, 3);
    // Never into a folder that holds files.
    assert!(matches!(
        plan.make(&run),
        Err(snapshot::SnapshotError::NotEmpty(_))
    ));
}

#[test]
fn snapshot_across_file_systems_uses_symlinks() {
    // /dev/shm is a tmpfs, the temp folder is not: hard links cannot cross.
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    assert_ne!(
        std::fs::metadata(shm.path()).unwrap().dev(),
        std::fs::metadata(tmp.path()).unwrap().dev(),
        "this test needs /dev/shm on another file system than the temp folder"
    );
    let data = dataset(shm.path());
    let plan = snapshot::plan(&scan(&data, &ScanOptions::default()).unwrap(), None).unwrap();
    let run = tmp.path().join("dataset");
    let made = plan.make(&run).unwrap();
    assert_eq!((made.hard_links, made.symlinks), (0, 3));
    let link = std::fs::read_link(run.join("extra/c.png")).unwrap();
    assert_eq!(link, data.join("extra/c.png"));
}

/// sd-scripts' own checks on a kohya plan; returns what sd-scripts made of the files.
fn check_kohya(plan: &LaunchPlan, sd_scripts: &Path, python: &Path) -> serde_json::Value {
    let args: Vec<&std::ffi::OsStr> = plan.args.iter().map(|a| a.as_os_str()).collect();
    let at = args
        .iter()
        .position(|a| a.to_string_lossy().ends_with("train_network.py"))
        .expect("the script in the argv");
    let script = Path::new(args[at]).file_name().unwrap().to_owned();
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/train_backends/check_kohya.py");
    let out = Command::new(python)
        .arg(checker)
        .arg(sd_scripts)
        .arg(script)
        .args(&args[at + 1..])
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sd-scripts refused the files:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn kohya_user() -> (UserConfig, PathBuf) {
    let env = kohya_env::kohya();
    let sd_scripts = env.path("SD_SCRIPTS");
    let mut user = UserConfig::default();
    user.trainers.insert(
        TrainerId::Kohya,
        TrainerInstall {
            path: Some(sd_scripts.clone()),
            python: Some(env.path("PYTHON")),
        },
    );
    (user, sd_scripts)
}

#[test]
fn kohya_files_pass_sd_scripts_own_checks() {
    let (user, sd_scripts) = kohya_user();
    let python = user.python(TrainerId::Kohya);
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    for family in Model::ALL {
        let base = tmp.path().join(format!("{}.safetensors", family.as_str()));
        model(&base, &family_tensors(family));
        let sets = [
            "backend=kohya".to_string(),
            format!("model.base={}", base.display()),
            format!("dataset.path={}", data.display()),
            "sample.prompts=[\"lbhouse, a lighthouse\", \"lbhouse at night\"]".into(),
            "sample.sampler=euler_a".into(),
            "train.optimizer=adamw".into(),
            "train.text_encoder_lr=5e-5".into(),
            "train.shuffle_caption=true".into(),
            "train.keep_tokens=1".into(),
            "dataset.buckets.max=2048".into(),
            "save.keep_last=3".into(),
            "network.conv_rank=8".into(),
            format!(
                "backend_options.tokenizer_cache_dir={}",
                tmp.path().display()
            ),
        ];
        let resolved = resolve_request(&request(tmp.path(), family.as_str(), &sets)).unwrap();
        let prepared = prepare::prepare(resolved, true).unwrap();
        let run = tmp.path().join(format!("run-{}", family.as_str()));
        std::fs::create_dir(&run).unwrap();
        let m = prepared.materialize(&user, &run).unwrap();
        write_files(&m.plan, &run);
        let got = check_kohya(&m.plan, &sd_scripts, &python);
        let a = &got["args"];
        let f = family.as_str();
        assert_eq!(a["network_dim"], 32, "{f}");
        assert_eq!(a["network_alpha"], 16.0, "{f}");
        assert_eq!(a["learning_rate"], 1e-4, "{f}");
        assert_eq!(a["optimizer_type"], "AdamW", "{f}");
        assert_eq!(a["output_name"], "lighthouse", "{f}");
        assert_eq!(a["save_every_n_steps"], 250, "{f}");
        assert_eq!(a["save_last_n_steps"], 750, "{f}");
        assert_eq!(a["save_state"], true, "{f}");
        assert_eq!(a["sample_sampler"], "euler_a", "{f}");
        assert_eq!(
            a["tokenizer_cache_dir"],
            tmp.path().to_str().unwrap(),
            "{f}"
        );
        assert_eq!(a["network_args"], serde_json::json!(["conv_dim=8"]), "{f}");
        let module = if family == Model::Flux {
            "networks.lora_flux"
        } else {
            "networks.lora"
        };
        assert_eq!(a["network_module"], module, "{f}");
        assert_eq!(a["output_dir"], run.join("output").to_str().unwrap(), "{f}");
        let d = &got["datasets"][0];
        let res = family.default_resolution();
        assert_eq!(d["resolution"], serde_json::json!([res, res]), "{f}");
        assert_eq!(d["enable_bucket"], true, "{f}");
        assert_eq!(d["max_bucket_reso"], 2048, "{f}");
        let subsets = d["subsets"].as_array().unwrap();
        assert_eq!(subsets.len(), 2, "{f}");
        let s0 = &subsets[0];
        assert_eq!(
            s0["image_dir"],
            run.join("dataset/10_lbhouse").to_str().unwrap()
        );
        assert_eq!(s0["num_repeats"], 10);
        assert_eq!(s0["class_tokens"], "lbhouse");
        assert_eq!(s0["caption_extension"], ".txt");
        assert_eq!(s0["shuffle_caption"], true);
        assert_eq!(s0["keep_tokens"], 1);
        assert_eq!(subsets[1]["num_repeats"], 1);
        let prompts = got["prompts"].as_array().unwrap();
        assert_eq!(prompts.len(), 2, "{f}");
        assert_eq!(prompts[0]["prompt"], "lbhouse, a lighthouse", "{f}");
        assert_eq!(
            prompts[0]["sample_steps"],
            serde_json::json!(c_steps(family)),
            "{f}"
        );
        assert_eq!(prompts[0]["seed"], 42, "{f}");
        // The snapshot is where sd-scripts reads: linked images, copied captions.
        assert!(run.join("dataset/10_lbhouse/a.png").is_file());
        assert!(!run.join("dataset/10_lbhouse/x.png").exists());
    }
}

/// The preset's sample steps.
fn c_steps(family: Model) -> u32 {
    let c: TrainConfig = lorabench::train::config::presets::load(family.as_str(), None)
        .unwrap()
        .config;
    c.sample.steps.unwrap()
}

#[test]
fn kohya_paths_with_odd_characters_reach_sd_scripts_intact() {
    let (user, sd_scripts) = kohya_user();
    let python = user.python(TrainerId::Kohya);
    let tmp = tempfile::tempdir().unwrap();
    let odd = tmp
        .path()
        .join("a \"quoted\" 'name'\nwith newline \\ -dash");
    std::fs::create_dir(&odd).unwrap();
    let data = dataset(&odd);
    let base = odd.join("--base.safetensors");
    model(&base, &family_tensors(Model::Sd15));
    let overrides = vec![
        ("--dataset".to_string(), {
            let mut c = TrainConfig::default();
            c.dataset.path = Some(data.clone());
            c
        }),
        ("--base".to_string(), {
            let mut c = TrainConfig::default();
            c.model.base = Some(base.clone());
            c.backend = Some(TrainerId::Kohya);
            c
        }),
    ];
    let mut r = request(tmp.path(), "sd15", &[]);
    r.overrides = overrides;
    let prepared = prepare::prepare(resolve_request(&r).unwrap(), true).unwrap();
    let run = odd.join("run dir");
    std::fs::create_dir(&run).unwrap();
    let m = prepared.materialize(&user, &run).unwrap();
    write_files(&m.plan, &run);
    let got = check_kohya(&m.plan, &sd_scripts, &python);
    assert_eq!(
        got["args"]["pretrained_model_name_or_path"],
        base.to_str().unwrap()
    );
    assert_eq!(
        got["args"]["output_dir"],
        run.join("output").to_str().unwrap()
    );
    assert_eq!(
        got["datasets"][0]["subsets"][0]["image_dir"],
        run.join("dataset/10_lbhouse").to_str().unwrap()
    );
}

/// A trainer folder with the entry script the backend checks for (never run: Python below
/// checks the generated files for the keys the trainer reads).
fn user_with(root: &Path, trainer: TrainerId, script: &str) -> UserConfig {
    let dir = root.join(trainer.as_str());
    let p = dir.join(script);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, "").unwrap();
    let mut user = UserConfig::default();
    user.trainers.insert(
        trainer,
        TrainerInstall {
            path: Some(dir),
            python: Some(kohya_env::kohya().path("PYTHON")),
        },
    );
    user
}

/// Loads a generated file with Python (yaml / json) and checks the keys the trainer reads.
fn check_with_python(kind: &str, file: &Path) -> serde_json::Value {
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/train_backends/check_files.py");
    let out = Command::new(kohya_env::kohya().path("PYTHON"))
        .arg(checker)
        .arg(kind)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn other_backends_write_what_their_trainers_read() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let base = tmp.path().join("flux.safetensors");
    model(&base, &family_tensors(Model::Flux));
    let common = [
        format!("model.base={}", base.display()),
        format!("dataset.path={}", data.display()),
        "dataset.trigger=lbhouse".to_string(),
        "dataset.repeats=5".into(),
        "sample.prompts=[\"lbhouse at dawn\"]".into(),
    ];
    let run_plan = |backend: &str, script: &str, extra: &[&str]| {
        let trainer: TrainerId = backend.parse().unwrap();
        let user = user_with(tmp.path(), trainer, script);
        let mut sets = common.to_vec();
        sets.push(format!("backend={backend}"));
        sets.extend(extra.iter().map(|s| s.to_string()));
        let prepared = prepare::prepare(
            resolve_request(&request(tmp.path(), "flux", &sets)).unwrap(),
            true,
        )
        .unwrap();
        let run = tmp.path().join(format!("run-{backend}"));
        std::fs::create_dir(&run).unwrap();
        let m = prepared.materialize(&user, &run).unwrap();
        write_files(&m.plan, &run);
        (m.plan, run)
    };

    let (plan, run) = run_plan("ai-toolkit", "run.py", &[]);
    assert_eq!(plan.args.last().unwrap(), run.join("job.yaml").as_os_str());
    assert!(plan.env.contains(&("SEED".into(), "42".into())));
    let job = check_with_python("ai-toolkit", &run.join("job.yaml"));
    assert_eq!(job["name"], "lighthouse");
    assert_eq!(job["linear"], 32);
    assert_eq!(job["steps"], 2000);
    assert_eq!(job["arch"], "flux");
    assert_eq!(job["trigger_word"], "lbhouse");
    assert_eq!(
        job["folders"],
        serde_json::json!([
            run.join("dataset/10_lbhouse").to_str().unwrap(),
            run.join("dataset/extra").to_str().unwrap()
        ])
    );
    assert_eq!(job["num_repeats"], 5);

    let (_, run) = run_plan("simpletuner", "unused", &[]);
    let st = check_with_python("simpletuner", &run.join("config/config.json"));
    assert_eq!(st["model_family"], "flux");
    assert_eq!(st["lora_rank"], 32);
    assert_eq!(st["max_train_steps"], 2000);
    assert_eq!(
        st["backends"], 3,
        "two image folders and the text-embed cache"
    );
    assert_eq!(st["repeats"], 4, "SimpleTuner counts extra passes");

    let (_, run) = run_plan(
        "onetrainer",
        "scripts/train.py",
        &[
            "train.steps=null",
            "train.epochs=10",
            "train.seed=null",
            "sample.steps=null",
            "sample.seed=null",
        ],
    );
    let ot = check_with_python("onetrainer", &run.join("onetrainer.json"));
    assert_eq!(ot["training_method"], "LORA");
    assert_eq!(ot["model_type"], "FLUX_DEV_1");
    assert_eq!(ot["epochs"], 10);
    assert_eq!(ot["concepts"], 2);

    // diffusers needs a diffusers folder and no buckets.
    let folder = tmp.path().join("flux-diffusers/transformer");
    std::fs::create_dir_all(&folder).unwrap();
    model(
        &folder.join("diffusion_pytorch_model.safetensors"),
        &[
            ("transformer_blocks.0.attn.to_q.weight", &[4, 4]),
            ("single_transformer_blocks.0.proj_out.weight", &[4, 4]),
        ],
    );
    let (plan, run) = run_plan(
        "diffusers",
        "examples/dreambooth/train_dreambooth_lora_flux.py",
        &[
            &format!("model.base={}", folder.parent().unwrap().display()),
            "dataset.buckets.enabled=false",
            "sample.every_n_steps=null",
            "sample.steps=null",
            "sample.seed=null",
        ],
    );
    let meta = check_with_python("diffusers", &run.join("dataset/metadata.jsonl"));
    assert_eq!(meta["rows"], 3);
    assert_eq!(
        meta["missing_images"], 0,
        "every file_name is an image in the snapshot"
    );
    let args: Vec<String> = plan
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert!(
        args.windows(2)
            .any(|w| w == ["--dataset_name", run.join("dataset").to_str().unwrap()])
    );
    assert!(args.windows(2).any(|w| w == ["--repeats", "5"]));
    assert!(
        args.windows(2)
            .any(|w| w == ["--instance_prompt", "lbhouse"])
    );
}
