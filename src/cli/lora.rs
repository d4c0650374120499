//! `lorabench lora`: inspect, convert and merge LoRA files.

use std::path::PathBuf;
use std::process::ExitCode;

use lorabench::lora::convert::{self, Target};
use lorabench::lora::inspect::inspect;
use lorabench::lora::merge::{self, MergeInput};
use lorabench::lora::report;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Show format, model family, modules, ranks, alphas, training metadata and hash of a LoRA.
    Inspect {
        /// The LoRA file (.safetensors).
        file: PathBuf,
        /// Also list every module with its kind, rank and alpha.
        #[arg(long)]
        modules: bool,
        /// Print the full inspection as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rewrite a LoRA in kohya or diffusers/PEFT key spelling (same strength).
    Convert {
        /// The LoRA to convert.
        input: PathBuf,
        /// Where to write the converted LoRA.
        #[arg(short, long)]
        output: PathBuf,
        /// The key spelling to write: kohya (sd-scripts, ComfyUI, A1111) or peft (diffusers).
        #[arg(long, value_enum)]
        to: ConvertTo,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Merge LoRAs into a base checkpoint (.safetensors), streamed tensor by tensor.
    Merge {
        /// The base checkpoint: SD1.5/SDXL single file, diffusers UNet, or Flux transformer.
        #[arg(long)]
        base: PathBuf,
        /// LoRA files, each optionally followed by `:strength` (default 1).
        #[arg(required = true, value_name = "LORA[:STRENGTH]")]
        loras: Vec<String>,
        /// Where to write the merged checkpoint.
        #[arg(short, long)]
        output: PathBuf,
        /// Merge even if some LoRA modules have no weight in the base (they are listed).
        #[arg(long)]
        allow_missing: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reduce the rank of a LoRA, keeping its strength (fixed or kohya's dynamic rules).
    Resize(super::lora_rank::ResizeArgs),
    /// Combine LoRAs into one: exact (stacked ranks) or reduced to --rank N.
    Mix(super::lora_rank::MixArgs),
    /// Extract a LoRA from the difference of a tuned and a base checkpoint.
    Extract(super::lora_rank::ExtractArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ConvertTo {
    /// kohya/sd-scripts names (lora_unet_…, lora_down/lora_up, alpha).
    Kohya,
    /// diffusers/PEFT names (lora_A/lora_B).
    Peft,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Resize(a) => return super::lora_rank::resize(a),
        Command::Mix(a) => return super::lora_rank::mix(a),
        Command::Extract(a) => return super::lora_rank::extract(a),
        Command::Inspect {
            file,
            modules,
            json,
        } => {
            let info = inspect(&file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!(
                    "{}",
                    super::say::safe_block(&report::text(&report::sections(&info, modules)))
                );
            }
        }
        Command::Convert {
            input,
            output,
            to,
            json,
        } => {
            let to = match to {
                ConvertTo::Kohya => Target::Kohya,
                ConvertTo::Peft => Target::Peft,
            };
            let report = super::lora_rank::with_task("steps", |task| {
                convert::convert(&input, &output, to, task)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "converted {} modules ({}) -> {}",
                    report.modules,
                    report.from,
                    report.output.display()
                );
            }
        }
        Command::Merge {
            base,
            loras,
            output,
            allow_missing,
            json,
        } => {
            let inputs = loras
                .iter()
                .map(|s| parse_lora_arg(s))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let report = super::lora_rank::with_task("tensors", |task| {
                merge::merge(&base, &inputs, &output, allow_missing, task)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for m in &report.missing {
                    eprintln!(
                        "not in base, skipped: {}: {}",
                        m.lora.display(),
                        super::say::safe(&m.module)
                    );
                }
                println!(
                    "merged {} modules into {} weights -> {}",
                    report.modules_applied,
                    report.weights_changed,
                    report.output.display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `file.safetensors[:strength]` (see `lora_rank::path_and_weight`).
fn parse_lora_arg(arg: &str) -> anyhow::Result<MergeInput> {
    let (path, strength) = super::lora_rank::path_and_weight(arg)?;
    Ok(MergeInput { path, strength })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_suffix_is_optional() {
        let a = parse_lora_arg("style.safetensors:0.7").unwrap();
        assert_eq!(
            (a.path, a.strength),
            (PathBuf::from("style.safetensors"), 0.7)
        );
        let b = parse_lora_arg("dir:with/colon.safetensors").unwrap();
        assert_eq!(
            (b.path, b.strength),
            (PathBuf::from("dir:with/colon.safetensors"), 1.0)
        );
        let c = parse_lora_arg("x.safetensors:-1").unwrap();
        assert_eq!(c.strength, -1.0);
        assert!(parse_lora_arg("x.safetensors:inf").is_err());
    }
}
