//! `lorabench train`: resolve the config, check everything, then show the plan (`--dry-run`)
//! or launch the run; `lorabench config`: the effective user settings.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use lorabench::train::TrainerId;
use lorabench::train::config::{self, Request, TrainConfig, UserConfig};
use lorabench::train::prepare;
use lorabench::train::run::Home;
use lorabench::train::start;

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
    let home = Home::at(user.runs_home());
    if args.dry_run {
        let run_dir = start::preview_dir(&home);
        let plan = prepared.plan(&user, &run_dir)?;
        println!("# lorabench train --dry-run: nothing was written or started");
        for line in start::describe(&prepared, &plan, &run_dir) {
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().context("cannot find the lorabench executable")?;
    let started = start::launch(&prepared, &user, &home, args.queue, &exe)?;
    let (id, dir) = (started.id, started.dir);
    println!("config: {}", dir.join("run.yaml").display());
    println!("run:    {}", dir.display());
    println!("follow: lorabench runs logs {id} -f");
    println!("{id}");
    Ok(ExitCode::SUCCESS)
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
