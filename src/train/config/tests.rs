use std::path::Path;

use super::*;
use crate::dataset::buckets::Model;

fn parse(text: &str) -> Result<Layer, Problem> {
    Layer::parse(
        Source::File("cfg.yaml".into()),
        text.to_string(),
        Path::new("/base"),
    )
}

fn request(dir: &Path) -> Request {
    Request {
        cwd: dir.to_path_buf(),
        presets_dir: Some(dir.join("presets")),
        ..Request::default()
    }
}

#[test]
fn unknown_key_names_line_column_and_the_nearest_key() {
    let p = parse("name: x\nnetwork:\n  rnak: 16\n").unwrap_err();
    assert_eq!((p.line, p.column), (Some(3), Some(3)), "{p}");
    assert_eq!(p.key.as_deref(), Some("network.rnak"));
    assert!(p.message.contains("did you mean `rank`"), "{p}");
    assert!(
        p.to_string()
            .starts_with("cfg.yaml:3:3: `network.rnak`: unknown key"),
        "{p}"
    );

    let p = parse("netwrk:\n  rank: 16\n").unwrap_err();
    assert!(p.message.contains("did you mean `network`"), "{p}");
}

#[test]
fn bad_value_names_the_key_and_what_was_expected() {
    let p = parse("network:\n  alpha: 8\n  rank: sixteen\n").unwrap_err();
    assert_eq!(p.line, Some(3), "{p}");
    assert_eq!(p.key.as_deref(), Some("network.rank"));
    assert!(
        p.message.contains("u32") || p.message.contains("integer"),
        "{p}"
    );

    let p = parse("train:\n  optimizer: adamw9bit\n").unwrap_err();
    assert_eq!(p.key.as_deref(), Some("train.optimizer"));
    assert!(p.message.contains("did you mean `adamw8bit`"), "{p}");

    let p = parse("backend: kohyaa\n").unwrap_err();
    assert!(p.message.contains("did you mean `kohya`"), "{p}");
}

#[test]
fn values_are_typed_and_paths_anchored() {
    let l = parse(
        "dataset:\n  path: data/x\ntrain:\n  lr: 1e-4\n  text_encoder_lr: 0\nbackend_options:\n  \
         tokenizer_cache_dir: /tc\n  n: 3\n  f: 1.5e-5\n  on: true\n",
    )
    .unwrap();
    let c = l.config;
    assert_eq!(c.dataset.path.as_deref(), Some(Path::new("/base/data/x")));
    assert_eq!(c.train.lr, Some(1e-4));
    assert_eq!(c.train.text_encoder_lr, Some(0.0));
    assert_eq!(c.backend_options["tokenizer_cache_dir"], "/tc");
    assert_eq!(c.backend_options["n"], 3);
    assert_eq!(c.backend_options["f"], 1.5e-5);
    assert_eq!(c.backend_options["on"], true);
}

#[test]
fn builtin_presets_hold_the_starting_values() {
    for (name, family, res) in [
        ("sd15", Model::Sd15, 512),
        ("sdxl", Model::Sdxl, 1024),
        ("flux", Model::Flux, 1024),
    ] {
        let c = presets::load(name, None).unwrap().config;
        assert_eq!(c.model.family, Some(family), "{name}");
        assert_eq!(c.dataset.resolution, Some(res), "{name}");
        assert_eq!(c.network.rank, Some(32), "{name}");
        assert_eq!(c.network.alpha, Some(16.0), "{name}");
        assert_eq!(c.train.lr, Some(1e-4), "{name}");
        assert!(c.train.steps.is_some_and(|s| s >= 1000), "{name}");
    }
    let e = presets::load("sdx", None).unwrap_err().to_string();
    assert!(e.contains("did you mean `sdxl`"), "{e}");
}

#[test]
fn preset_then_file_then_set_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("my.yaml");
    std::fs::write(&file, "network:\n  rank: 8\ntrain:\n  epochs: 10\n").unwrap();
    let mut r = request(dir.path());
    r.preset = Some("sdxl".into());
    r.config_file = Some(file.clone());
    let c = resolve_request(&r).unwrap().config;
    assert_eq!(c.network.rank, Some(8), "the file wins over the preset");
    assert_eq!(c.network.alpha, Some(16.0), "the preset's other keys stay");
    assert_eq!((c.train.steps, c.train.epochs), (None, Some(10)));

    r.sets = vec!["network.rank=16".into(), "train.steps=1500".into()];
    let mut flag = TrainConfig::default();
    flag.network.rank = Some(4);
    r.overrides = vec![("--rank".into(), flag)];
    let resolved = resolve_request(&r).unwrap();
    let c = &resolved.config;
    assert_eq!(c.network.rank, Some(4), "flags come last");
    assert_eq!((c.train.steps, c.train.epochs), (Some(1500), None));
    // A problem about a key points at the layer that set it last.
    let p = resolved.problem("network.rank", "x");
    assert_eq!(p.source, Some(Source::Arg("--rank".into())));
    let p = resolved.problem("network.alpha", "x");
    assert_eq!(p.source, Some(Source::Preset("sdxl".into())));
    assert!(p.line.is_some());
}

#[test]
fn set_null_takes_a_preset_value_away() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = request(dir.path());
    r.preset = Some("sdxl".into());
    r.sets = vec!["sample.every_n_steps=null".into()];
    let c = resolve_request(&r).unwrap().config;
    assert_eq!(c.sample.every_n_steps, None);
    assert_eq!(c.sample.steps, Some(30));
}

#[test]
fn set_errors_name_the_argument() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = request(dir.path());
    r.sets = vec!["network.rnak=4".into(), "train.lr=fast".into()];
    let e = resolve_request(&r).unwrap_err().to_string();
    assert!(e.contains("--set network.rnak=4"), "{e}");
    assert!(e.contains("did you mean `rank`"), "{e}");
    assert!(e.contains("--set train.lr=fast: `train.lr`"), "{e}");
    r.sets = vec!["novalue".into()];
    assert!(matches!(resolve_request(&r), Err(ConfigError::Invalid(_))));
    r.sets = vec!["name=a\nb".into()];
    let e = resolve_request(&r).unwrap_err().to_string();
    assert!(e.contains("KEY.PATH=VALUE"), "{e}");
}

#[test]
fn user_presets_win_over_builtin_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("presets")).unwrap();
    std::fs::write(
        dir.path().join("presets/sdxl.yaml"),
        "network:\n  rank: 64\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("presets/mine.yaml"),
        "network:\n  rank: 2\n",
    )
    .unwrap();
    let mut r = request(dir.path());
    r.preset = Some("sdxl".into());
    assert_eq!(resolve_request(&r).unwrap().config.network.rank, Some(64));
    r.preset = Some("mine".into());
    assert_eq!(resolve_request(&r).unwrap().config.network.rank, Some(2));
    let names = presets::names(Some(&dir.path().join("presets")));
    assert_eq!(names, ["tiny", "sd15", "sdxl", "flux", "mine"]);
}

#[test]
fn value_checks_point_at_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        "backend: kohya\nmodel:\n  base: m.safetensors\ndataset:\n  path: d\nnetwork:\n  rank: 0\ntrain:\n  lr: 2.0\n",
    )
    .unwrap();
    let mut r = request(dir.path());
    r.config_file = Some(file.clone());
    let e = resolve_request(&r)
        .unwrap()
        .check()
        .unwrap_err()
        .to_string();
    let f = file.display();
    assert!(
        e.contains(&format!("{f}:7:3: `network.rank`: must be at least 1")),
        "{e}"
    );
    assert!(e.contains(&format!("{f}:9:3: `train.lr`")), "{e}");

    std::fs::write(&file, "train:\n  steps: 10\n  epochs: 2\n").unwrap();
    let e = resolve_request(&r).unwrap_err().to_string();
    assert!(e.contains("not both"), "{e}");

    std::fs::write(&file, "name: x\n").unwrap();
    let e = resolve_request(&r)
        .unwrap()
        .check()
        .unwrap_err()
        .to_string();
    // No backend is the builtin one, which needs a dataset (and checks the base itself).
    assert!(e.contains("no dataset"), "{e}");
    assert!(!e.contains("model.base"), "{e}");
}

#[test]
fn user_config_python_fallbacks() {
    let dir = tempfile::tempdir().unwrap();
    let trainer = dir.path().join("sd-scripts");
    std::fs::create_dir_all(trainer.join(".venv/bin")).unwrap();
    std::fs::write(trainer.join(".venv/bin/python"), "").unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(
        &file,
        "trainers:\n  kohya:\n    path: sd-scripts\n  ai-toolkit:\n    path: /nowhere\n    python: /opt/py\non_finish: [notify-send, done]\nruns:\n  stall_timeout: 60\n",
    )
    .unwrap();
    let u = UserConfig::load_from(&file).unwrap();
    assert_eq!(u.python(TrainerId::Kohya), trainer.join(".venv/bin/python"));
    assert_eq!(u.python(TrainerId::AiToolkit), Path::new("/opt/py"));
    assert_eq!(u.python(TrainerId::Onetrainer), Path::new("python3"));
    assert_eq!(u.stall_timeout().as_secs(), 60);
    std::fs::create_dir_all(trainer.join("venv/bin")).unwrap();
    std::fs::write(trainer.join("venv/bin/python"), "").unwrap();
    assert_eq!(u.python(TrainerId::Kohya), trainer.join("venv/bin/python"));

    std::fs::write(&file, "trainers:\n  koyha: {}\n").unwrap();
    let e = UserConfig::load_from(&file).unwrap_err().to_string();
    assert!(e.contains("did you mean `kohya`"), "{e}");
    assert!(e.contains(":2:3"), "{e}");
}
