//! The Train screen on a generated dataset: fields checked as typed with the CLI's own
//! messages (compared with what `lorabench train` prints), the plan with its argv, save and
//! load, the lint summary, and a launch with the `command` backend that makes a real run folder
//! (the supervisor is the lorabench binary built for these tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test

use crate::tui_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lorabench::train::config::UserConfig;
use lorabench::train::run::{Home, Status};
use lorabench::tui::screens::train::{Side, TrainScreen};
use ratatui::crossterm::event::{KeyCode, KeyModifiers};
use tui_support::*;

fn user(runs_home: &Path) -> UserConfig {
    let mut u = UserConfig::default();
    u.runs.home = Some(runs_home.to_path_buf());
    u
}

fn open_train(h: &mut Harness, runs_home: &Path) {
    let u = user(runs_home);
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_lorabench"));
    h.app.open(|ctx| Box::new(TrainScreen::new(ctx, u, exe)));
    assert_eq!(h.app.mode(), "train");
}

fn screen(h: &Harness) -> &TrainScreen {
    h.app.screen::<TrainScreen>().unwrap()
}

fn ctrl(h: &mut Harness, c: char) {
    h.key_mod(KeyCode::Char(c), KeyModifiers::CONTROL);
}

/// Tabs to the field of `key`.
fn focus(h: &mut Harness, key: &str) {
    for _ in 0..40 {
        let s = screen(h);
        let at = s.focus.checked_sub(2).and_then(|i| s.form.fields.get(i));
        if at.is_some_and(|f| f.key == key) {
            return;
        }
        h.key(KeyCode::Tab);
    }
    panic!("no field {key}");
}

/// Feeds background results (the lint) until the screen's lint is done.
fn wait_lint(h: &mut Harness) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while screen(h).lint_running() && Instant::now() < deadline {
        if let Ok(m) = h.rx.recv_timeout(Duration::from_millis(50)) {
            h.app.update(m);
        }
    }
    assert!(!screen(h).lint_running(), "lint did not finish");
}

/// The problems the screen shows, as text.
fn problems(h: &Harness) -> Vec<String> {
    screen(h)
        .checked
        .problems
        .iter()
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn a_typed_field_is_checked_with_the_cli_message() {
    let (_tmp, root) = dataset();
    let runs = tempfile::tempdir().unwrap();
    let mut h = open(&root);
    open_train(&mut h, runs.path());
    // The tiny preset on this dataset checks out as it opens.
    assert!(screen(&h).checked.ok(), "{:?}", problems(&h));
    assert_eq!(screen(&h).form.preset_name(), Some("tiny"));

    focus(&mut h, "train.steps");
    h.chars("0");
    let shown = problems(&h);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].contains("`train.steps`: must be at least 1"),
        "{shown:?}"
    );
    // The same words `lorabench train` prints for the same input.
    let cli = Command::new(env!("CARGO_BIN_EXE_lorabench"))
        .args(["train", "--preset", "tiny", "--dataset"])
        .arg(&root)
        .args(["--set", "train.steps=0", "--dry-run"])
        .env("LORABENCH_HOME", runs.path())
        .env("XDG_CONFIG_HOME", runs.path().join("config"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(!cli.status.success());
    assert!(
        stderr.contains(&shown[0]),
        "CLI: {stderr}\nscreen: {}",
        shown[0]
    );

    // Not a number: the YAML reading of --set names the key.
    h.key(KeyCode::Backspace);
    h.chars("ten");
    let shown = problems(&h);
    assert!(
        shown.iter().any(|p| p.contains("--set train.steps=ten")),
        "{shown:?}"
    );
    let text = h.draw().to_string();
    assert!(text.contains("--set train.steps=ten"), "{text}");
    // Errors block the plan and the launch.
    ctrl(&mut h, 'r');
    assert!(screen(&h).launched.is_none());
    assert!(!runs.path().join("runs").exists(), "no run folder");

    // Fixed: no problem left, and the base model field checks the path it is given.
    for _ in 0..3 {
        h.key(KeyCode::Backspace);
    }
    h.chars("50");
    assert!(screen(&h).checked.ok(), "{:?}", problems(&h));
    focus(&mut h, "model.base");
    h.chars("/no/such/model.safetensors");
    let shown = problems(&h);
    assert!(
        shown
            .iter()
            .any(|p| p.contains("model.base") && p.contains("/no/such/model.safetensors")),
        "{shown:?}"
    );
}

#[test]
fn the_lint_summary_and_buckets_are_shown_for_the_target() {
    let (_tmp, root) = dataset();
    let runs = tempfile::tempdir().unwrap();
    let mut h = open(&root);
    open_train(&mut h, runs.path());
    wait_lint(&mut h);
    let text = h.draw().to_string();
    assert!(text.contains("4 images"), "{text}");
    assert!(text.contains("sd15"), "{text}");
    assert!(text.contains("buckets"), "{text}");
    // The tiny preset buckets at 128 px in 64-pixel steps.
    let report = match &screen(&h).lint {
        Some(Ok(r)) => r.clone(),
        other => panic!("{:?}", other.as_ref().map(|r| r.as_ref().err())),
    };
    assert_eq!(report.summary.resolution, 128);
    assert!(!report.buckets.is_empty());
    let b = &report.buckets[0];
    assert!(
        text.contains(&format!("{}x{}", b.bucket.w, b.bucket.h)),
        "{text}"
    );

    // Another resolution lints again.
    focus(&mut h, "dataset.resolution");
    h.chars("256");
    wait_lint(&mut h);
    match &screen(&h).lint {
        Some(Ok(r)) => assert_eq!(r.summary.resolution, 256),
        _ => panic!("no lint"),
    }
}

/// No preset, the command backend running `sh -c 'exit 0'`.
fn command_config(h: &mut Harness) {
    // The preset row: back past the first preset to "none".
    while screen(h).form.preset_name().is_some() {
        h.key(KeyCode::Right);
    }
    h.key(KeyCode::Tab);
    while screen(h).form.backend != Some(lorabench::train::TrainerId::Command) {
        h.key(KeyCode::Right);
    }
    focus(h, "command");
    h.chars("[sh, -c, 'exit 0']");
}

#[test]
fn the_plan_shows_the_argv_and_a_launch_makes_a_run() {
    let (_tmp, root) = dataset();
    let runs = tempfile::tempdir().unwrap();
    let mut h = open(&root);
    open_train(&mut h, runs.path());
    command_config(&mut h);
    assert!(screen(&h).checked.ok(), "{:?}", problems(&h));

    ctrl(&mut h, 'p');
    let lines = match &screen(&h).side {
        Side::Plan(lines) => lines.clone(),
        Side::Lint => panic!("no plan: {:?}", screen(&h).refused),
    };
    let argv = lines.iter().position(|l| l == "argv:").unwrap();
    assert_eq!(
        &lines[argv + 1..argv + 4],
        ["  \"sh\"", "  \"-c\"", "  \"exit 0\""]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("env: LORABENCH_DATASET_DIR="))
    );
    assert!(lines[0].contains("--backend command"), "{}", lines[0]);
    // The environment comes first; a page down shows the argv.
    h.key(KeyCode::PageDown);
    let text = h.draw().to_string();
    assert!(
        text.contains("argv:") && text.contains("\"exit 0\""),
        "{text}"
    );
    assert!(!runs.path().join("runs").exists(), "a plan writes nothing");

    ctrl(&mut h, 'r');
    let s = screen(&h);
    let id = s
        .launched
        .clone()
        .unwrap_or_else(|| panic!("{:?}", s.refused));
    let home = Home::at(runs.path());
    let dir = home.run_dir(&id);
    assert!(dir.join("run.yaml").is_file());
    assert!(dir.join("dataset/10_lh").is_dir(), "the dataset snapshot");
    let yaml = std::fs::read_to_string(dir.join("run.yaml")).unwrap();
    assert!(yaml.contains("exit 0"), "{yaml}");
    // The run ends on its own; wait so the temp folder can go.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = Status::read(&dir).map(|s| s.state);
        if state.as_ref().is_ok_and(|s| !s.is_active()) || Instant::now() > deadline {
            assert!(state.is_ok_and(|s| !s.is_active()), "the run did not end");
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn save_and_load_a_config() {
    let (_tmp, root) = dataset();
    let runs = tempfile::tempdir().unwrap();
    let mut h = open(&root);
    open_train(&mut h, runs.path());
    focus(&mut h, "network.rank");
    h.chars("4");
    let file = runs.path().join("mine.yaml");
    ctrl(&mut h, 's');
    assert_eq!(h.app.mode(), "form");
    h.key_mod(KeyCode::Char('u'), KeyModifiers::CONTROL);
    h.chars(file.to_str().unwrap());
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode(), "train");
    let yaml = std::fs::read_to_string(&file).unwrap();
    assert!(yaml.contains("rank: 4"), "{yaml}");
    assert!(
        yaml.contains("random_model: tiny"),
        "the preset's keys too: {yaml}"
    );

    // Loaded under an empty rank field, the file's rank shows.
    h.key(KeyCode::Backspace);
    ctrl(&mut h, 'o');
    h.chars(file.to_str().unwrap());
    h.key(KeyCode::Enter);
    let s = screen(&h);
    assert_eq!(s.form.config_file.as_deref(), Some(file.as_path()));
    let rank = s.checked.resolved.as_ref().unwrap().config.network.rank;
    assert_eq!(rank, Some(4));

    // A file that is not there keeps the form open, saying why.
    ctrl(&mut h, 'o');
    h.chars("/no/such.yaml");
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode(), "form");
}

/// A safetensors file holding these tensors (one f32 each): enough for the family to be read
/// from its header.
fn safetensors(path: &Path, names: &[&str]) {
    let mut header = serde_json::Map::new();
    for (i, n) in names.iter().enumerate() {
        header.insert(
            n.to_string(),
            serde_json::json!({"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}),
        );
    }
    let json = serde_json::Value::Object(header).to_string();
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend(json.as_bytes());
    bytes.extend(vec![0u8; 4 * names.len()]);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn the_base_model_picker_lists_model_folders_with_family_and_size() {
    let (_tmp, root) = dataset();
    let runs = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let comfy = models.path().join("ComfyUI/models/checkpoints");
    std::fs::create_dir_all(&comfy).unwrap();
    safetensors(
        &comfy.join("dreamy-sd15.safetensors"),
        &["model.diffusion_model.input_blocks.0.0.weight"],
    );
    safetensors(
        &comfy.join("photo-xl.safetensors"),
        &["conditioner.embedders.1.model.ln_final.weight"],
    );
    safetensors(
        &comfy.join("style-lora.safetensors"),
        &["lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"],
    );
    let mut h = open(&root);
    let u = user(runs.path());
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_lorabench"));
    let roots = lorabench::train::model_folders::Roots {
        models_var: None,
        hub: None,
        below: vec![models.path().to_path_buf()],
    };
    h.app.open(move |ctx| {
        let mut s = TrainScreen::new(ctx, u, exe);
        s.model_roots = roots;
        Box::new(s)
    });
    wait_lint(&mut h);
    ctrl(&mut h, 'b');
    assert_eq!(h.app.mode(), "picker");
    let text = h.draw().to_string();
    // Temporary folders differ per run; the placeholder keeps the length, so the borders stay.
    insta::with_settings!({filters => vec![(r"\.tmp[A-Za-z0-9]{6}", ".tmpXXXXXX")]}, {
        insta::assert_snapshot!("train_base_picker", text);
    });
    let row = |name: &str| text.lines().find(|l| l.contains(name)).unwrap().to_string();
    assert!(
        row("dreamy-sd15").contains("sd15 · 110 B · ComfyUI"),
        "{text}"
    );
    assert!(row("photo-xl").contains("sdxl ·"), "{text}");
    assert!(
        row("style-lora").contains("not a base model: a LoRA"),
        "{text}"
    );
    // Typing narrows the list; Enter puts the path in the field and checks it.
    h.chars("sd15");
    let text = h.draw().to_string();
    assert!(
        text.contains("(1/3)") && !text.contains("photo-xl"),
        "{text}"
    );
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode(), "train");
    let base = screen(&h).form.field("model.base").unwrap().text();
    assert_eq!(
        base,
        comfy.join("dreamy-sd15.safetensors").display().to_string()
    );
    assert!(
        screen(&h)
            .base_note
            .as_deref()
            .is_some_and(|n| n.starts_with("sd15")),
        "{:?} {:?}",
        screen(&h).base_note,
        problems(&h)
    );
}
