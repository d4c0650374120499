//! The `lorabench` command: parse, dispatch, print. The work lives in the library.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lorabench",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Dataset folder to open in the workbench (default: the current folder).
    dir: Option<PathBuf>,
    #[command(flatten)]
    tui: cli::open::Args,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Edit captions in bulk, undo and redo (headless twin of the caption editor).
    Captions(cli::captions::Args),
    /// Move images out of the training set (under .lorabench/excluded/), undoably.
    Exclude(cli::exclude::Args),
    /// Move excluded images back.
    Include(cli::exclude::Args),
    /// Find what would spoil a training run.
    Lint(cli::lint::Args),
    /// Dataset statistics: folders, resolutions, buckets, tags, tokens.
    Stats(cli::stats::Args),
    /// Inspect, convert, merge, mix, resize and extract LoRA files.
    Lora(cli::lora::Args),
    /// Check GPUs, trainers, their Python packages, disk and the terminal before training.
    Doctor(cli::doctor::Args),
    /// Training runs: list, show, follow logs, stop, attach, remove.
    Runs(cli::runs::Args),
    /// The supervisor of one run (started by `train`; not for people).
    #[command(name = "__supervise", hide = true)]
    Supervise { run_dir: PathBuf },
    /// Read trainer logs: progress points (step, loss, lr, speed) and events.
    Log(cli::log::Args),
    /// Print shell completions.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => cli::open::run(cli.dir.unwrap_or_else(|| PathBuf::from(".")), cli.tui),
        Some(Command::Captions(args)) => cli::captions::run(args),
        Some(Command::Exclude(args)) => cli::exclude::run(args, false),
        Some(Command::Include(args)) => cli::exclude::run(args, true),
        Some(Command::Lint(args)) => cli::lint::run(args),
        Some(Command::Stats(args)) => cli::stats::run(args),
        Some(Command::Lora(args)) => cli::lora::run(args),
        Some(Command::Runs(args)) => cli::runs::run(args),
        Some(Command::Doctor(args)) => cli::doctor::run(args),
        Some(Command::Supervise { run_dir }) => Ok(lorabench::train::supervisor::main(&run_dir)),
        Some(Command::Log(args)) => cli::log::run(args),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "lorabench",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("lorabench: {err:#}");
            ExitCode::from(2)
        }
    }
}
