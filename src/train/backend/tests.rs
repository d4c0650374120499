use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::*;
use crate::train::config::{TrainerInstall, presets};
use crate::train::snapshot::{Entry, Folder};

/// A trainer folder holding the entry scripts a backend checks for (their contents are never
/// run here; tests/training/backends.rs runs sd-scripts' real parser on the generated files).
fn trainer_dir(root: &Path, trainer: TrainerId, scripts: &[&str]) -> UserConfig {
    let dir = root.join(trainer.as_str());
    for s in scripts {
        let p = dir.join(s);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "").unwrap();
    }
    let python = root.join("py/bin/python");
    std::fs::create_dir_all(python.parent().unwrap()).unwrap();
    std::fs::write(&python, "").unwrap();
    let mut user = UserConfig::default();
    user.trainers.insert(
        trainer,
        TrainerInstall {
            path: Some(dir),
            python: Some(python),
        },
    );
    user
}

fn snapshot(folders: &[(&str, u32)]) -> SnapshotPlan {
    SnapshotPlan {
        entries: folders
            .iter()
            .map(|(f, _)| Entry {
                source: PathBuf::from("/src").join(f).join("a.png"),
                rel: Path::new(f).join("a.png"),
                caption: Some((Path::new(f).join("a.txt"), b"lbhouse, sea\nsecond".to_vec())),
            })
            .collect(),
        folders: folders
            .iter()
            .map(|(f, r)| Folder {
                rel: f.into(),
                repeats: *r,
                class_tokens: f.split_once('_').map(|(_, n)| n.to_string()),
                images: 1,
            })
            .collect(),
        hash: "h".into(),
        origin: "/src".into(),
    }
}

fn sdxl(backend: TrainerId) -> TrainConfig {
    let mut c = presets::load("sdxl", None).unwrap().config;
    c.backend = Some(backend);
    c.name = Some("lighthouse".into());
    c.model.base = Some("/models/sdxl.safetensors".into());
    c.dataset.path = Some("/data/lighthouse".into());
    c
}

fn plan_with(
    c: &TrainConfig,
    user: &UserConfig,
    snap: &SnapshotPlan,
) -> Result<LaunchPlan, PlanError> {
    let paths = RunPaths::new(Path::new("/runs/r1"), c);
    plan(&Job {
        config: c,
        family: c.model.family.unwrap_or(Model::Sdxl),
        user,
        paths: &paths,
        snapshot: snap,
    })
}

fn text(plan: &LaunchPlan, path: &str) -> String {
    let f = plan.files.iter().find(|f| f.path == Path::new(path));
    String::from_utf8(f.unwrap_or_else(|| panic!("no {path}")).contents.clone()).unwrap()
}

#[test]
fn kohya_argv_env_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let user = trainer_dir(tmp.path(), TrainerId::Kohya, &["sdxl_train_network.py"]);
    let mut c = sdxl(TrainerId::Kohya);
    c.launcher.gpu_ids = Some(vec![0, 2]);
    c.launcher.processes = Some(2);
    let snap = snapshot(&[("10_lbhouse", 10), ("flat", 1)]);
    let p = plan_with(&c, &user, &snap).unwrap();
    assert_eq!(p.program, tmp.path().join("py/bin/python"));
    let args: Vec<&str> = p.args.iter().map(|a| a.to_str().unwrap()).collect();
    let script = tmp.path().join("kohya/sdxl_train_network.py");
    assert_eq!(
        args,
        [
            "-m",
            "accelerate.commands.launch",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--dynamo_backend",
            "no",
            "--multi_gpu",
            "--mixed_precision",
            "bf16",
            script.to_str().unwrap(),
            "--config_file",
            "/runs/r1/run.toml",
            "--dataset_config",
            "/runs/r1/dataset/dataset.toml",
        ]
    );
    assert!(
        p.env
            .contains(&("CUDA_VISIBLE_DEVICES".into(), "0,2".into()))
    );
    assert!(p.env.contains(&("PYTHONUNBUFFERED".into(), "1".into())));
    let run = text(&p, "run.toml");
    for line in [
        "pretrained_model_name_or_path = \"/models/sdxl.safetensors\"",
        "output_dir = \"/runs/r1/output\"",
        "output_name = \"lighthouse\"",
        "network_dim = 32",
        "network_alpha = 16.0",
        "max_train_steps = 2000",
        "network_train_unet_only = true",
        "optimizer_type = \"AdamW8bit\"",
        "save_state = true",
    ] {
        assert!(run.lines().any(|l| l == line), "{line} not in\n{run}");
    }
    let ds = text(&p, "dataset/dataset.toml");
    assert!(
        ds.contains("image_dir = \"/runs/r1/dataset/10_lbhouse\"\n  num_repeats = 10"),
        "{ds}"
    );
    assert!(
        ds.contains("image_dir = \"/runs/r1/dataset/flat\"\n  num_repeats = 1"),
        "{ds}"
    );
    assert_eq!(p.output_dir, Path::new("/runs/r1/output"));
    assert_eq!(p.metrics_dir.as_deref(), Some(Path::new("/runs/r1/logs")));
    assert_eq!(p.total_steps, Some(2000));
}

#[test]
fn keys_a_backend_cannot_honour_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let user = trainer_dir(tmp.path(), TrainerId::Kohya, &["sdxl_train_network.py"]);
    let mut c = sdxl(TrainerId::Kohya);
    c.network.target_modules = Some(vec!["to_q".into()]);
    let e = plan_with(&c, &user, &snapshot(&[("", 1)])).unwrap_err();
    assert_eq!(e.key().as_deref(), Some("network.target_modules"), "{e}");
    assert!(e.to_string().contains("cannot honour"), "{e}");

    let user = trainer_dir(tmp.path(), TrainerId::Onetrainer, &["scripts/train.py"]);
    let mut c = sdxl(TrainerId::Onetrainer);
    c.clear("train.seed");
    let e = plan_with(&c, &user, &snapshot(&[("", 1)])).unwrap_err();
    assert_eq!(
        e.key().as_deref(),
        Some("train.steps"),
        "OneTrainer counts epochs: {e}"
    );
    assert!(e.to_string().contains("--set train.steps=null"), "{e}");
    c.clear("train.steps");
    c.train.epochs = Some(10);
    let p = plan_with(&c, &user, &snapshot(&[("", 1)])).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text(&p, "onetrainer.json")).unwrap();
    assert_eq!(v["training_method"], "LORA");
    assert_eq!(v["model_type"], "STABLE_DIFFUSION_XL_10_BASE");
    assert_eq!(v["epochs"], 10);
    assert_eq!(v["concepts"][0]["text"]["prompt_source"], "sample");
}

#[test]
fn a_missing_trainer_says_where_to_set_it() {
    let c = sdxl(TrainerId::Kohya);
    let e = plan_with(&c, &UserConfig::default(), &snapshot(&[("", 1)])).unwrap_err();
    assert!(matches!(e, PlanError::NotConfigured { .. }), "{e}");
    assert!(e.to_string().contains("trainers.kohya.path"), "{e}");
}

#[test]
fn kohya_resume_carries_the_step_counter_on() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for (dir, step, complete) in [
        ("lh-step00000250-state", 250, true),
        ("lh-step00000500-state", 500, true),
        ("lh-state", 0, true),
        // Killed while saving: accelerate had not written its random states yet.
        ("lh-step00000750-state", 750, false),
    ] {
        std::fs::create_dir_all(out.join(dir)).unwrap();
        let state = format!("{{\"current_epoch\": 1, \"current_step\": {step}}}");
        std::fs::write(out.join(dir).join("train_state.json"), state).unwrap();
        if complete {
            std::fs::write(out.join(dir).join("random_states_0.pkl"), b"rng").unwrap();
        }
    }
    std::fs::create_dir_all(out.join("other-step00000900-state")).unwrap();
    let state = kohya::latest_state(&out, "lh").unwrap();
    assert_eq!(
        (state.dir.file_name().unwrap().to_str(), state.step),
        (Some("lh-step00000500-state"), 500)
    );

    let user = trainer_dir(tmp.path(), TrainerId::Kohya, &["sdxl_train_network.py"]);
    let mut c = sdxl(TrainerId::Kohya);
    c.save.file_name = Some("lh".into());
    c.save.output_dir = Some(out.clone());
    let paths = RunPaths::new(Path::new("/runs/r1"), &c);
    let snap = snapshot(&[("", 1)]);
    let job = Job {
        config: &c,
        family: Model::Sdxl,
        user: &user,
        paths: &paths,
        snapshot: &snap,
    };
    let p = plan_resume(&job).unwrap();
    let run = text(&p, "run.toml");
    let resume = format!(
        "resume = \"{}\"",
        out.join("lh-step00000500-state").display()
    );
    assert!(run.contains(&resume), "{run}");
    assert!(run.contains("skip_until_initial_step = true"), "{run}");
}

#[test]
fn command_argv_passes_untouched() {
    let odd = [
        "python3",
        "my train.py",
        "--out=\"quoted\" 'single'",
        "-leading-dash",
        "line\nbreak",
        "",
    ];
    let mut c = TrainConfig {
        backend: Some(TrainerId::Command),
        command: Some(odd.iter().map(|s| s.to_string()).collect()),
        ..TrainConfig::default()
    };
    c.dataset.path = Some("/data/with space".into());
    c.launcher.gpu_ids = Some(vec![1]);
    let p = plan_with(&c, &UserConfig::default(), &snapshot(&[])).unwrap();
    assert_eq!(p.program, Path::new("python3"));
    let want: Vec<OsString> = odd[1..].iter().map(OsString::from).collect();
    assert_eq!(p.args, want);
    assert!(
        p.env
            .contains(&("LORABENCH_DATASET_DIR".into(), "/runs/r1/dataset".into()))
    );
    assert!(p.env.contains(&("CUDA_VISIBLE_DEVICES".into(), "1".into())));

    c.network.rank = Some(4);
    let e = plan_with(&c, &UserConfig::default(), &snapshot(&[])).unwrap_err();
    assert_eq!(e.key().as_deref(), Some("network.rank"));
}

#[test]
fn diffusers_refuses_buckets_and_per_step_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let user = trainer_dir(
        tmp.path(),
        TrainerId::Diffusers,
        &["examples/dreambooth/train_dreambooth_lora_sdxl.py"],
    );
    let mut c = sdxl(TrainerId::Diffusers);
    c.model.base = Some(tmp.path().to_path_buf());
    // The SDXL script has no --lora_alpha.
    let e = plan_with(&c, &user, &snapshot(&[("", 1)])).unwrap_err();
    assert_eq!(e.key().as_deref(), Some("network.alpha"), "{e}");
    c.clear("network.alpha");
    let snap = snapshot(&[("", 1)]);
    let e = plan_with(&c, &user, &snap).unwrap_err();
    assert_eq!(e.key().as_deref(), Some("dataset.buckets.enabled"), "{e}");
    c.dataset.buckets.enabled = Some(false);
    c.sample.prompts = Some(vec!["a lighthouse".into()]);
    let e = plan_with(&c, &user, &snap).unwrap_err();
    assert_eq!(e.key().as_deref(), Some("sample.every_n_steps"), "{e}");
    c.clear("sample.every_n_steps");
    c.clear("sample.steps");
    c.clear("sample.seed");
    let p = plan_with(&c, &user, &snap).unwrap();
    let meta = text(&p, "dataset/metadata.jsonl");
    assert_eq!(
        meta,
        "{\"file_name\":\"a.png\",\"text\":\"lbhouse, sea\"}\n"
    );
    let args: Vec<String> = p
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let at = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].clone())
    };
    assert_eq!(at("--dataset_name").as_deref(), Some("/runs/r1/dataset"));
    assert_eq!(at("--caption_column").as_deref(), Some("text"));
    assert_eq!(at("--rank").as_deref(), Some("32"));
    assert_eq!(at("--validation_prompt").as_deref(), Some("a lighthouse"));
}

fn tiny() -> TrainConfig {
    let mut c = presets::load("tiny", None).unwrap().config;
    c.name = Some("lighthouse".into());
    c.dataset.path = Some("/data/lighthouse".into());
    c
}

#[test]
fn builtin_runs_the_binary_itself_on_a_worker_spec() {
    let user = UserConfig::default();
    let c = tiny();
    assert_eq!(c.backend_id(), TrainerId::Builtin);
    let p = plan_with(&c, &user, &snapshot(&[("10_lbhouse", 10)])).unwrap();
    assert_eq!(p.program, std::env::current_exe().unwrap());
    assert_eq!(
        p.args,
        [
            OsString::from("__train-worker"),
            "/runs/r1/builtin.json".into()
        ]
    );
    let spec: serde_json::Value = serde_json::from_str(&text(&p, "builtin.json")).unwrap();
    assert_eq!(
        spec["model"]["tiny"]["unet"]["channels"],
        serde_json::json!([32, 64])
    );
    assert_eq!(spec["data"]["dataset_dir"], "/runs/r1/dataset");
    assert_eq!(spec["data"]["cache_dir"], "/runs/r1/cache");
    assert_eq!(spec["data"]["buckets"]["step"], 64);
    assert_eq!(spec["data"]["keep_tokens"], 1);
    assert_eq!(spec["output_name"], "lighthouse");
    assert_eq!(spec["steps"], 120);
    assert_eq!(spec["schedule"], "cosine");
    assert_eq!(spec["sample"]["prompts"], serde_json::json!(["a photo"]));
    assert!(spec.get("resume_from").is_none());
    // The spec is what the worker reads.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("builtin.json");
    std::fs::write(&path, text(&p, "builtin.json")).unwrap();
    crate::trainer::worker::WorkerSpec::read(&path).unwrap();
}

#[test]
fn builtin_refuses_what_it_cannot_train_naming_who_can() {
    let user = UserConfig::default();
    let snap = snapshot(&[("1_a", 1)]);
    let err = |c: &TrainConfig| plan_with(c, &user, &snap).unwrap_err().to_string();

    let mut sdxl_cfg = sdxl(TrainerId::Builtin);
    sdxl_cfg.model.base = None;
    sdxl_cfg
        .backend_options
        .insert("random_model".into(), "tiny".into());
    let e = err(&sdxl_cfg);
    assert!(e.contains("SD1.x only") && e.contains("kohya"), "{e}");

    let mut no_base = tiny();
    no_base.backend_options.clear();
    let e = err(&no_base);
    assert!(
        e.contains("model.base") && e.contains("--preset tiny"),
        "{e}"
    );

    let mut fp16 = tiny();
    fp16.train.precision = Some(crate::train::config::Precision::Fp16);
    assert!(err(&fp16).contains("train.precision"));

    let mut other = tiny();
    other.train.optimizer = Some(crate::train::config::Optimizer::Lion);
    assert!(err(&other).contains("AdamW only"));
}

#[test]
fn builtin_resumes_from_the_newest_checkpoint_state() {
    let user = UserConfig::default();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = tiny();
    c.save.output_dir = Some(tmp.path().to_path_buf());
    let snap = snapshot(&[("1_a", 1)]);
    let paths = RunPaths::new(Path::new("/runs/r1"), &c);
    let job = Job {
        config: &c,
        family: Model::Sd15,
        user: &user,
        paths: &paths,
        snapshot: &snap,
    };
    let e = plan_resume(&job).unwrap_err().to_string();
    assert!(e.contains("no checkpoint"), "{e}");
    for step in [40, 80] {
        let d = tmp.path().join(format!("lighthouse-step{step:08}-state"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("state.json"), "{}").unwrap();
    }
    std::fs::create_dir_all(tmp.path().join("lighthouse-step00000120-state")).unwrap();
    let p = plan_resume(&job).unwrap();
    let spec: serde_json::Value = serde_json::from_str(&text(&p, "builtin.json")).unwrap();
    assert_eq!(
        spec["resume_from"],
        serde_json::json!(tmp.path().join("lighthouse-step00000080-state"))
    );
}
