//! A live run for the CPU benches: tests/runs/trainer.py (real tqdm, `TQDM_MININTERVAL=0`) at
//! 10 steps a second for hours, under the real supervisor (`exe`), started as `lorabench train`
//! starts one. Python with tqdm: $LORABENCH_PYTHON, default python3.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use lorabench::train::progress::LogFormat;
use lorabench::train::run::{Home, LaunchSpec, RunId, launch_using};
use lorabench::train::{LaunchPlan, TrainerId};

pub fn python() -> PathBuf {
    PathBuf::from(std::env::var("LORABENCH_PYTHON").unwrap_or_else(|_| "python3".into()))
}

/// Launches the run in `home`; `metrics_dir`: watched for structured metrics as a kohya run's
/// is (this trainer writes none). Its id and folder.
pub fn launch(home: &Home, exe: &Path, name: &str, metrics_dir: Option<&str>) -> (RunId, PathBuf) {
    let run = home.allocate().expect("allocate");
    let dir = run.dir.clone();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runs/trainer.py");
    let metrics_dir = metrics_dir.map(|d| dir.join(d));
    if let Some(d) = &metrics_dir {
        std::fs::create_dir_all(d).unwrap();
    }
    let spec = LaunchSpec {
        home: home.clone(),
        name: name.into(),
        config_yaml: String::new(),
        plan: LaunchPlan {
            trainer: TrainerId::Command,
            program: python(),
            args: vec![
                script.into(),
                OsString::from("--steps"),
                OsString::from("100000"),
                OsString::from("--delay"),
                OsString::from("0.1"),
            ],
            env: vec![("TQDM_MININTERVAL".into(), "0".into())],
            cwd: dir.clone(),
            files: vec![],
            output_dir: dir.join("output"),
            metrics_dir,
            total_steps: None,
        },
        run,
        dataset: None,
        gpus: vec![0],
        queue: false,
        log_format: LogFormat::Tqdm,
        on_finish: vec![],
        resumed_from: None,
    };
    let id = launch_using(spec, exe).expect("launch (is tqdm installed for LORABENCH_PYTHON?)");
    (id, dir)
}
