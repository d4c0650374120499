//! `lorabench runs`: list, show, follow, stop, attach, plot and remove training runs.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use lorabench::train::config::UserConfig;
use lorabench::train::metrics::curves::Curves;
use lorabench::train::plot::PlotOptions;
use lorabench::train::progress::LogFormat;
use lorabench::train::run::control::{self, AttachSpec, StopOptions};
use lorabench::train::run::display::{clip, duration, state_label, steps};
use lorabench::train::run::summary::{self, Entry, ReadOptions};
use lorabench::train::run::{self as run, Home, Status, logs};
use lorabench::train::supervisor::follow::METRICS;
use lorabench::train::{self, TrainerId};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// One JSON array with every run.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    read: Read,
}

#[derive(clap::Args, Clone, Copy)]
struct Read {
    /// A live run with no log output for this many minutes is flagged stalled (default: the
    /// user config's runs.stall_timeout, else 30 minutes).
    #[arg(long, value_name = "MINUTES", global = true)]
    stall_after: Option<u64>,
}

impl Read {
    fn options(self, user: &UserConfig) -> ReadOptions {
        match self.stall_after {
            Some(minutes) => ReadOptions {
                stall_after: Duration::from_secs(minutes.saturating_mul(60)),
            },
            None => ReadOptions::of_user(user),
        }
    }
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Everything about one run: progress, process, exit, checkpoints, samples, command.
    Show {
        /// Run id, or a unique prefix of one.
        id: String,
        /// Print the run as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the trainer's log (each progress bar as its last frame).
    Logs {
        /// Run id, or a unique prefix of one.
        id: String,
        /// Keep printing what the run writes until it ends; Ctrl-C leaves the run alone.
        #[arg(short, long)]
        follow: bool,
    },
    /// Stop a run: SIGINT so the trainer can save, then SIGTERM, then SIGKILL.
    Stop {
        /// Run id, or a unique prefix of one.
        id: String,
        /// Seconds to wait after SIGINT.
        #[arg(long, default_value_t = 60, value_name = "SECS")]
        int_grace: u64,
        /// Seconds to wait after SIGTERM.
        #[arg(long, default_value_t = 15, value_name = "SECS")]
        term_grace: u64,
    },
    /// Continue a stopped or failed run from its newest saved state, as a new run linked to it
    /// (the trainer must support resuming: every backend but command and builtin does).
    Resume {
        /// Run id, or a unique prefix of one.
        id: String,
    },
    /// Watch a run started elsewhere: follow its log and, with --pid, its process.
    Attach {
        /// How to read the log: kohya, ai-toolkit, diffusers, simpletuner, onetrainer, command.
        #[arg(long, value_name = "TRAINER")]
        trainer: TrainerId,
        /// The log file the trainer writes (stdout and stderr).
        #[arg(long, value_name = "FILE")]
        log: PathBuf,
        /// Where its checkpoints and samples appear (default: the log's folder).
        #[arg(long, value_name = "DIR")]
        output: Option<PathBuf>,
        /// The trainer's process: its end ends the run.
        #[arg(long, value_name = "PID")]
        pid: Option<u32>,
        /// Progress format for the command trainer.
        #[arg(long, value_enum, default_value_t = Format::Tqdm)]
        format: Format,
        /// Name to list it under (default: the log's file name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Write a run's loss (and learning rate) chart as a PNG.
    Plot {
        /// Run id, or a unique prefix of one.
        id: String,
        /// The PNG to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Draw the moving average over the raw loss.
        #[arg(long)]
        ema: bool,
        /// Logarithmic loss axis (a loss at or below 0 is left out).
        #[arg(long)]
        log: bool,
        /// Image width in pixels.
        #[arg(long, default_value_t = 1200, value_name = "PX")]
        width: u32,
        /// Image height in pixels.
        #[arg(long, default_value_t = 600, value_name = "PX")]
        height: u32,
    },
    /// Delete a finished run's folder; its checkpoints and samples are kept unless --with-outputs.
    Rm {
        /// Run id, or a unique prefix of one.
        id: String,
        /// Delete the outputs too (only those inside the run folder).
        #[arg(long)]
        with_outputs: bool,
        /// Do not ask.
        #[arg(short, long)]
        yes: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Tqdm,
    Jsonl,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let user = UserConfig::load()?;
    let home = Home::at(user.runs_home());
    let opts = args.read.options(&user);
    match args.command {
        None => list(&home, &opts, args.json),
        Some(Sub::Show { id, json }) => show(&home, &id, &opts, json),
        Some(Sub::Logs { id, follow }) => {
            let id = home.resolve(&id)?;
            let dir = home.run_dir(&id);
            let log = dir.join(lorabench::train::supervisor::TRAIN_LOG);
            let mut out = std::io::stdout().lock();
            let result = logs::copy_log(&log, &mut out, follow, || {
                Status::read(&dir).is_ok_and(|s| s.observe(None, Duration::MAX).state.is_active())
            });
            match result {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                r => r
                    .with_context(|| format!("{}", log.display()))
                    .map(|()| ExitCode::SUCCESS),
            }
        }
        Some(Sub::Stop {
            id,
            int_grace,
            term_grace,
        }) => {
            let id = home.resolve(&id)?;
            let opts = StopOptions {
                int_grace: Duration::from_secs(int_grace),
                term_grace: Duration::from_secs(term_grace),
            };
            let state = control::stop(&home, &id, opts, |line| eprintln!("{line}"))?;
            println!("{id} {state}");
            Ok(ExitCode::SUCCESS)
        }
        Some(Sub::Resume { id }) => {
            let id = home.resolve(&id)?;
            let exe = std::env::current_exe().context("cannot find the lorabench executable")?;
            let new = run::resume::resume(&home, &id, &user, &exe)?;
            println!("resuming {id} as run {}", home.run_dir(&new).display());
            println!("follow: lorabench runs logs {new} -f");
            println!("{new}");
            Ok(ExitCode::SUCCESS)
        }
        Some(Sub::Attach {
            trainer,
            log,
            output,
            pid,
            format,
            name,
        }) => {
            let spec = AttachSpec {
                trainer,
                log,
                output,
                pid,
                log_format: match format {
                    Format::Tqdm => LogFormat::Tqdm,
                    Format::Jsonl => LogFormat::Jsonl,
                },
                name,
            };
            let exe = std::env::current_exe().context("cannot find the lorabench executable")?;
            let id = control::attach(&home, spec, &exe)?;
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Some(Sub::Plot {
            id,
            output,
            ema,
            log,
            width,
            height,
        }) => {
            let options = PlotOptions {
                width,
                height,
                ema,
                log,
                title: String::new(),
            };
            plot(&home, &id, &opts, &output, options)
        }
        Some(Sub::Rm {
            id,
            with_outputs,
            yes,
        }) => {
            let id = home.resolve(&id)?;
            if !yes && !confirm(&format!("delete run {id}?"))? {
                eprintln!("left alone");
                return Ok(ExitCode::from(1));
            }
            let removed = control::remove(&home, &id, with_outputs)?;
            if let Some(kept) = removed.kept {
                println!("outputs kept in {}", kept.display());
            }
            if let Some(out) = removed.left_alone {
                println!(
                    "outputs outside the run folder left alone: {}",
                    out.display()
                );
            }
            println!("removed {id}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("{question} Not asking without a terminal: add --yes");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn list(home: &Home, opts: &ReadOptions, json: bool) -> anyhow::Result<ExitCode> {
    let entries = summary::list(home, opts)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &entries)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        writeln!(out, "no runs in {}", home.runs_dir().display())?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<20}  {:<20}  {:<11}  {:<17}  {:>13}  {:>8}  {:>8}",
        "ID", "NAME", "BACKEND", "STATE", "STEP", "LOSS", "ETA"
    )?;
    for entry in &entries {
        match entry {
            Entry::Run(s) => writeln!(
                out,
                "{:<20}  {:<20}  {:<11}  {:<17}  {:>13}  {:>8}  {:>8}",
                s.id,
                clip(&s.name, 20),
                s.backend.as_str(),
                state_label(s),
                steps(s),
                s.loss
                    .map(|l| format!("{l:.4}"))
                    .unwrap_or_else(|| "-".into()),
                s.eta.map(duration).unwrap_or_else(|| "-".into())
            )?,
            Entry::Unreadable { id, error } => writeln!(out, "{id:<20}  unreadable: {error}")?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(home: &Home, id: &str, opts: &ReadOptions, json: bool) -> anyhow::Result<ExitCode> {
    let id = home.resolve(id)?;
    let d = summary::detail(home, &id, opts)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &d)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = &d.summary;
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    writeln!(out, "run       {}  ({})", s.id, s.name)?;
    writeln!(out, "state     {}", state_label(s))?;
    if let Some(note) = &s.note {
        writeln!(out, "          {note}")?;
    }
    if let Some(m) = &s.message {
        writeln!(out, "message   {m}")?;
    }
    writeln!(out, "step      {}", steps(s))?;
    writeln!(out, "loss      {}", opt(s.loss.map(|l| format!("{l:.4}"))))?;
    writeln!(out, "lr        {}", opt(s.lr.map(|l| format!("{l:e}"))))?;
    writeln!(
        out,
        "rate      {}",
        opt(s.rate.map(|r| format!("{r:.2} steps/s")))
    )?;
    writeln!(out, "eta       {}", opt(s.eta.map(duration)))?;
    writeln!(out, "pid       {}", opt(s.pid.map(|p| p.to_string())))?;
    let exit = match (s.exit_code, s.signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => "-".into(),
    };
    writeln!(out, "exit      {exit}")?;
    writeln!(out, "backend   {}", s.backend)?;
    match &d.dataset {
        Some(ds) => writeln!(out, "dataset   {} (content {})", ds.name, ds.hash)?,
        None => writeln!(out, "dataset   -")?,
    }
    writeln!(out, "command   {}", d.command_line)?;
    writeln!(out, "folder    {}", d.dir.display())?;
    writeln!(out, "output    {}", d.output_dir.display())?;
    if let Some(from) = &d.resumed_from {
        writeln!(out, "resumed   from {from}")?;
    }
    writeln!(out, "checkpoints ({})", d.checkpoints.len())?;
    for c in &d.checkpoints {
        let step = opt(c.step.map(|s| format!("step {s}")));
        writeln!(
            out,
            "  {:<10}  {:>10}  {}",
            step,
            size(c.size),
            c.path.display()
        )?;
    }
    writeln!(out, "samples ({})", d.samples.len())?;
    for c in &d.samples {
        let step = opt(c.step.map(|s| format!("step {s}")));
        writeln!(out, "  {:<10}  {}", step, c.path.display())?;
    }
    if !s.last_lines.is_empty() {
        writeln!(out, "last lines of the log")?;
        for l in &s.last_lines {
            writeln!(out, "  {l}")?;
        }
    }
    for p in &s.problems {
        writeln!(out, "problem   {p}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn plot(
    home: &Home,
    id: &str,
    opts: &ReadOptions,
    output: &std::path::Path,
    mut options: PlotOptions,
) -> anyhow::Result<ExitCode> {
    let id = home.resolve(id)?;
    let metrics = home.run_dir(&id).join(METRICS);
    let (curves, problems) = Curves::read(&metrics)?;
    for p in &problems {
        eprintln!("skipped: {p}");
    }
    // The caption names the run; a folder whose summary cannot be read is named by its id.
    options.title = match summary::summary(home, &id, opts) {
        Ok(s) => format!("{} ({id})", s.name),
        Err(_) => id.to_string(),
    };
    let plot = train::plot::render(&curves, &options).with_context(|| format!("run {id}"))?;
    for note in &plot.notes {
        eprintln!("note: {note}");
    }
    train::plot::write_png(&plot, output)?;
    println!(
        "{} ({}x{}, {} loss points)",
        output.display(),
        options.width,
        options.height,
        curves.loss.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}
