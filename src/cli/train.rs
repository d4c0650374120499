//! `lorabench train`: resolve the config, check everything, then show the plan (`--dry-run`)
//! or launch the run; `lorabench config`: the effective user settings.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use lorabench::train::config::ProgressFormat;
use lorabench::train::config::{self, Request, TrainConfig, UserConfig};
use lorabench::train::prepare::{self, Prepared};
use lorabench::train::progress::LogFormat;
use lorabench::train::run::manifest::DatasetRef;
use lorabench::train::run::{self, Home, LaunchSpec};
use lorabench::train::{LaunchPlan, TrainerId};

#[derive(clap::Args)]
pub struct Args {
    /// Start from this preset (tiny, sd15, sdxl, flux, or a user preset; tiny is a pipeline
    /// demonstration on a random model).
    #[arg(long)]
    preset: Option<String>,
    /// A training config (YAML) on top of the preset.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Set one key on top of the config, e.g. --set network.rank=16 (repeatable; KEY=null
    /// takes a value away).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    sets: Vec<String>,
    /// The dataset folder (dataset.path).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// The base model: a .safetensors file or a diffusers folder (model.base).
    #[arg(long)]
    base: Option<PathBuf>,
    /// The trainer: builtin (the default), kohya, ai-toolkit, diffusers, simpletuner,
    /// onetrainer, command.
    #[arg(long)]
    backend: Option<TrainerId>,
    /// The run's name (name).
    #[arg(long)]
    name: Option<String>,
    /// Train even though the dataset has lint errors.
    #[arg(long)]
    force: bool,
    /// Wait for busy GPUs instead of refusing.
    #[arg(long)]
    queue: bool,
    /// Print the files and the command it would run; write nothing, start nothing.
    #[arg(long)]
    dry_run: bool,
}

/// The command-line flags as config layers, each named by its flag.
fn flag_layers(args: &Args) -> Vec<(String, TrainConfig)> {
    let mut out = Vec::new();
    let mut layer = |flag: String, f: &dyn Fn(&mut TrainConfig)| {
        let mut c = TrainConfig::default();
        f(&mut c);
        out.push((flag, c));
    };
    if let Some(d) = &args.dataset {
        layer(format!("--dataset {}", d.display()), &|c| {
            c.dataset.path = Some(d.clone())
        });
    }
    if let Some(b) = &args.base {
        layer(format!("--base {}", b.display()), &|c| {
            c.model.base = Some(b.clone())
        });
    }
    if let Some(b) = args.backend {
        layer(format!("--backend {b}"), &|c| c.backend = Some(b));
    }
    if let Some(n) = &args.name {
        layer(format!("--name {n}"), &|c| c.name = Some(n.clone()));
    }
    out
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let user = UserConfig::load()?;
    let request = Request {
        preset: args.preset.clone(),
        config_file: args.config.clone(),
        sets: args.sets.clone(),
        overrides: flag_layers(&args),
        presets_dir: config::user::config_dir().map(|d| d.join("presets")),
        cwd: std::env::current_dir().context("cannot read the current folder")?,
    };
    let resolved = config::resolve_request(&request)?;
    let prepared = prepare::prepare(resolved, args.force)?;
    for w in &prepared.warnings {
        eprintln!("warning: {w}");
    }
    let runs = user.runs_home().join("runs");
    if args.dry_run {
        let run_dir = runs.join("NEW-RUN");
        let plan = prepared.plan(&user, &run_dir)?;
        print_plan(&prepared, &plan, &run_dir);
        return Ok(ExitCode::SUCCESS);
    }
    // Every check, the backend's included, before a run folder exists.
    prepared.plan(&user, &runs.join("NEW-RUN"))?;
    let home = Home::at(user.runs_home());
    let new = home.allocate()?;
    let made = match prepared.materialize(&user, &new.dir) {
        Ok(m) => m,
        Err(e) => {
            // Nothing started: leave no half-made run behind.
            let _ = std::fs::remove_dir_all(&new.dir);
            return Err(e.into());
        }
    };
    let c = &prepared.config;
    let dataset = c.dataset.path.as_ref().map(|path| DatasetRef {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string()),
        hash: prepared.snapshot.hash.clone(),
        path: Some(path.clone()),
    });
    let log_format = match c.progress {
        Some(ProgressFormat::Jsonl) => LogFormat::Jsonl,
        _ => LogFormat::Tqdm,
    };
    let dir = new.dir.clone();
    let id = run::launch(LaunchSpec {
        home,
        run: new,
        name: c.run_name(),
        config_yaml: c.to_yaml(),
        plan: made.plan,
        dataset,
        gpus: c.launcher.gpu_ids.clone().unwrap_or_default(),
        queue: args.queue,
        log_format,
        on_finish: user
            .on_finish
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect(),
        resumed_from: None,
    })?;
    println!("config: {}", dir.join("run.yaml").display());
    println!("run:    {}", dir.display());
    println!("follow: lorabench runs logs {id} -f");
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

fn print_plan(prepared: &Prepared, plan: &LaunchPlan, run_dir: &Path) {
    let c = &prepared.config;
    println!("# lorabench train --dry-run: nothing was written or started");
    let sources: Vec<String> = prepared
        .resolved
        .layers
        .iter()
        .map(|l| l.source.to_string())
        .collect();
    println!(
        "config: {}",
        if sources.is_empty() {
            "(none)".into()
        } else {
            sources.join(" < ")
        }
    );
    println!(
        "run folder: {} (NEW-RUN is the id given at launch)",
        run_dir.display()
    );
    println!(
        "backend: {}, family: {}",
        plan.trainer,
        prepared.family.as_str()
    );
    if let Some(path) = &c.dataset.path {
        let s = &prepared.snapshot;
        println!(
            "dataset: {} -> {}/dataset ({} in {}, content hash {})",
            path.display(),
            run_dir.display(),
            super::say::plural(s.images(), "image", "images"),
            super::say::plural(s.folders.len(), "folder", "folders"),
            s.hash
        );
    }
    println!("output: {}", plan.output_dir.display());
    println!("cwd: {}", plan.cwd.display());
    for (k, v) in &plan.env {
        println!("env: {}={}", k.to_string_lossy(), v.to_string_lossy());
    }
    println!("argv:");
    println!("  {:?}", plan.program);
    for a in &plan.args {
        println!("  {a:?}");
    }
    for f in &plan.files {
        println!("--- {}", run_dir.join(&f.path).display());
        print!("{}", String::from_utf8_lossy(&f.contents));
    }
    println!("--- {}/run.yaml (the config snapshot)", run_dir.display());
    print!("{}", c.to_yaml());
}

#[derive(clap::Args)]
pub struct ConfigArgs {
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn config(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let user = UserConfig::load()?;
    let effective = user.effective();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&effective)?);
    } else {
        print!("{}", serde_saphyr::to_string(&effective)?);
    }
    Ok(ExitCode::SUCCESS)
}
