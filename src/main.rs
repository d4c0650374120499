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
    /// Dataset folder to open in the workbench (default: the current folder), an image to
    /// open its folder on, or a LoRA file to open in the LoRA screen.
    #[arg(value_hint = clap::ValueHint::DirPath)]
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
    Supervise {
        /// The run folder to supervise.
        run_dir: PathBuf,
    },
    /// One run of the builtin trainer (started by a run's supervisor; not for people).
    #[command(name = "__train-worker", hide = true)]
    TrainWorker {
        /// The worker spec (JSON) the builtin backend wrote into the run folder.
        spec: PathBuf,
    },
    /// Print the workbench's keys in effect (keymap.yaml's defaults, your keys.yaml on top).
    Keys,
    /// Read trainer logs: progress points (step, loss, lr, speed) and events.
    Log(cli::log::Args),
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
        Some(Command::Runs(args)) => cli::runs::run(args),
        Some(Command::Doctor(args)) => cli::doctor::run(args),
        Some(Command::Supervise { run_dir }) => Ok(lorabench::train::supervisor::main(&run_dir)),
        Some(Command::TrainWorker { spec }) => Ok(lorabench::trainer::worker::main(&spec)),
        Some(Command::Keys) => cli::keys::run(),
        Some(Command::Log(args)) => cli::log::run(args),
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
            eprintln!("lorabench: {}", cli::error_text(&err));
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every command, with the command path that holds it.
    fn args(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in cmd.get_arguments() {
            out.push((path.to_string(), arg.clone()));
        }
        for sub in cmd.get_subcommands() {
            args(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_argument_has_a_description() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut all = Vec::new();
        args(&cmd, "lorabench", &mut all);
        let bare: Vec<String> = all
            .iter()
            .filter(|(_, a)| !matches!(a.get_id().as_str(), "help" | "version"))
            .filter(|(_, a)| a.get_help().is_none_or(|h| h.to_string().trim().is_empty()))
            .map(|(path, a)| format!("{path} {}", a.get_id()))
            .collect();
        assert!(all.len() > 50, "walked the whole tree");
        assert!(bare.is_empty(), "arguments without --help text: {bare:?}");
    }

    #[test]
    fn completions_offer_folders_and_theme_names() {
        let mut out = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Zsh,
            &mut Cli::command(),
            "lorabench",
            &mut out,
        );
        let zsh = String::from_utf8(out).unwrap();
        assert!(zsh.contains(":NAME:(dark light high-contrast)"), "{zsh}");
        // Folders for `lorabench DIR` and every command's dataset folder.
        let dirs = zsh
            .lines()
            .filter(|l| l.contains(":dir -- "))
            .collect::<Vec<_>>();
        assert!(dirs.len() >= 5, "{dirs:?}");
        assert!(dirs.iter().all(|l| l.contains("_files -/")), "{dirs:?}");
    }
}
