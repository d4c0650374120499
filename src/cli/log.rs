//! `lorabench log parse --trainer T FILE [--json]`: a trainer's log read offline into the same
//! progress points and events the supervisor writes for a live run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use lorabench::train::progress::{LogFormat, Summary, Update, parse_reader};
use lorabench::train::{Event, TrainerId};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Parse a trainer's console log (tqdm frames and all) into progress points and events.
    Parse(ParseArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Tqdm,
    Jsonl,
}

#[derive(clap::Args)]
struct ParseArgs {
    /// The trainer that wrote the log: kohya, ai-toolkit, diffusers, simpletuner, onetrainer,
    /// command (any tqdm bar, or JSON lines with --format jsonl), builtin.
    #[arg(long)]
    trainer: TrainerId,
    /// For `--trainer command`: how the script reports progress.
    #[arg(long, value_enum, default_value_t = Format::Tqdm)]
    format: Format,
    /// The log file (e.g. a run's train.log, or a file the trainer's output was redirected to).
    file: PathBuf,
    /// Print one JSON object: {"points": [...], "events": [...]}.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Command::Parse(args) = args.command;
    let file = File::open(&args.file)
        .with_context(|| format!("cannot open the log {}", args.file.display()))?;
    let format = match args.format {
        Format::Tqdm => LogFormat::Tqdm,
        Format::Jsonl => LogFormat::Jsonl,
    };
    let read_err = || format!("cannot read the log {}", args.file.display());
    if args.json {
        // Points are written as they are found, so a huge log needs no memory for them.
        let mut out = BufWriter::new(std::io::stdout().lock());
        let mut events = Vec::new();
        let mut first = true;
        let mut write_err = None;
        out.write_all(b"{\"points\":[")?;
        parse_reader(args.trainer, format, file, |u| match u {
            Update::Point(p) if write_err.is_none() => {
                let sep: &[u8] = if first { b"\n" } else { b",\n" };
                first = false;
                if let Err(e) = out
                    .write_all(sep)
                    .map_err(serde_json::Error::io)
                    .and_then(|()| serde_json::to_writer(&mut out, &p))
                {
                    write_err = Some(e);
                }
            }
            Update::Point(_) => {}
            Update::Event(e) => events.push(e),
        })
        .with_context(read_err)?;
        if let Some(e) = write_err {
            return Err(e.into());
        }
        out.write_all(b"\n],\"events\":")?;
        serde_json::to_writer_pretty(&mut out, &events)?;
        out.write_all(b"}\n")?;
        out.flush()?;
    } else {
        let mut summary = Summary::default();
        parse_reader(args.trainer, format, file, |u| summary.add(u)).with_context(read_err)?;
        print!("{}", render(&args, &summary));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(args: &ParseArgs, s: &Summary) -> String {
    let mut out = format!("{} ({} log)\n", args.file.display(), args.trainer);
    let (Some(first), Some(last)) = (&s.first, &s.last) else {
        out.push_str(&format!(
            "  no training progress found: is it a {} log? (`--trainer command` reads any tqdm bar)\n",
            args.trainer
        ));
        return events(out, s);
    };
    let total = last.total.map(|t| format!(" of {t}")).unwrap_or_default();
    out.push_str(&format!(
        "  {} points, steps {} to {}{total}\n",
        s.points, first.step, last.step
    ));
    if let Some(epoch) = last.epoch {
        out.push_str(&format!("  epoch {epoch}\n"));
    }
    if let Some(loss) = last.loss {
        out.push_str(&format!("  loss {loss}"));
        if let Some((best, step)) = s.best_loss {
            out.push_str(&format!(" (lowest {best} at step {step})"));
        }
        out.push('\n');
    }
    if let Some(lr) = last.lr {
        out.push_str(&format!("  learning rate {lr:e}\n"));
    }
    if let Some(rate) = last.rate {
        let eta = last
            .total
            .filter(|t| *t > last.step && rate > 0.0)
            .map(|t| {
                format!(
                    ", {:.0} s left at that speed",
                    (t - last.step) as f64 / rate
                )
            })
            .unwrap_or_default();
        out.push_str(&format!("  {rate:.3} steps/s{eta}\n"));
    }
    events(out, s)
}

fn events(mut out: String, s: &Summary) -> String {
    for e in &s.events {
        match e {
            Event::CheckpointSaved { path, step } => out.push_str(&format!(
                "  checkpoint{} {}\n",
                step.map(|s| format!(" at step {s}")).unwrap_or_default(),
                path.display()
            )),
            Event::SampleWritten { path, step } => out.push_str(&format!(
                "  sample{} {}\n",
                step.map(|s| format!(" at step {s}")).unwrap_or_default(),
                path.display()
            )),
            Event::Error { message } => out.push_str(&format!("  error: {message}\n")),
        }
    }
    out
}
