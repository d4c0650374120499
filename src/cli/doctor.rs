//! `lorabench doctor`: what stands between this machine and a training run.

use std::io::Write;
use std::process::ExitCode;

use lorabench::train::doctor::{self, Level};
use lorabench::train::run::Home;

#[derive(clap::Args)]
pub struct Args {
    /// One JSON object: the GPUs, every check, the image protocol.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let installs = doctor::configured_installs().map_err(anyhow::Error::msg)?;
    let home = Home::at(lorabench::train::config::UserConfig::load()?.runs_home());
    let report = doctor::run(&installs, &doctor::folders(&home));
    let protocol = lorabench::tui::image_protocol();
    let problems = report.checks.iter().any(|c| c.level == Level::Problem);
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["image_protocol"] = protocol.into();
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
    } else {
        for c in &report.checks {
            let mark = match c.level {
                Level::Ok => "ok     ",
                Level::Warning => "warning",
                Level::Problem => "PROBLEM",
            };
            writeln!(out, "{mark}  {:<11} {}", c.area, c.detail)?;
            if let Some(fix) = &c.fix {
                writeln!(out, "         {:<11} → {fix}", "")?;
            }
        }
        writeln!(out, "ok       {:<11} {protocol}", "images")?;
    }
    Ok(if problems {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
