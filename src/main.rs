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
    /// Train a LoRA: resolve the config, check it, launch a detached run (or --dry-run).
    Train(cli::train::Args),
    /// Print the effective user settings (trainers, runs, presets).
    Config(cli::train::ConfigArgs),
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
        Some(Command::Train(args)) => cli::train::run(args),
        Some(Command::Config(args)) => cli::train::config(args),
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
