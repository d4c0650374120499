//! `lorabench lora`: inspect, convert and merge LoRA files.

use std::path::PathBuf;
use std::process::ExitCode;

use lorabench::lora::convert::{self, Target};
use lorabench::lora::inspect::{Inspection, inspect};
use lorabench::lora::merge::{self, MergeInput};

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
        Command::Inspect { file, json } => {
            let info = inspect(&file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", super::say::safe_block(&render(&info)));
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

/// The human-readable inspection.
fn render(i: &Inspection) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "file        {}", i.path.display());
    let _ = writeln!(
        s,
        "size        {} bytes, {} tensors, {} parameters",
        i.file_size, i.tensor_count, i.parameter_count
    );
    let dora = if i.dora { " + DoRA" } else { "" };
    let _ = writeln!(s, "format      {}{dora}", i.format);
    let _ = writeln!(s, "family      {}", i.family);
    let dtypes: Vec<String> = i.dtypes.iter().map(|(d, n)| format!("{d} x{n}")).collect();
    let _ = writeln!(s, "dtypes      {}", dtypes.join(", "));
    let _ = writeln!(
        s,
        "modules     {} ({} unet/transformer, {} text encoder)",
        i.modules.len(),
        i.unet_modules,
        i.text_encoder_modules
    );
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    let varies = |b: bool| if b { " (varies by module)" } else { "" };
    let _ = writeln!(
        s,
        "rank        {}{}",
        list(i.ranks.iter().map(|r| r.to_string()).collect()),
        varies(i.rank_varies)
    );
    let _ = writeln!(
        s,
        "alpha       {}{}",
        list(i.alphas.iter().map(|a| a.to_string()).collect()),
        varies(i.alpha_varies)
    );
    match i.scale {
        Some(sc) => {
            let _ = writeln!(s, "scale       {sc} (alpha / rank)");
        }
        None => {
            // How many modules have each scale, e.g. `2 x113, 4 x1, 0.75 x1`.
            let mut counts: Vec<(f32, usize)> = Vec::new();
            for sc in i.modules.iter().filter_map(|m| m.scale) {
                match counts.iter_mut().find(|(v, _)| *v == sc) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((sc, 1)),
                }
            }
            counts.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
            let shown: Vec<String> = counts.iter().map(|(v, n)| format!("{v} x{n}")).collect();
            let _ = writeln!(
                s,
                "scale       {} (alpha / rank, varies by module)",
                shown.join(", ")
            );
        }
    }
    let hash = match i.hash.matches {
        Some(true) => "sshs_model_hash matches".to_string(),
        Some(false) => format!(
            "sshs_model_hash MISMATCH: stored {}, data hashes to",
            i.hash.stored.as_deref().unwrap_or("")
        ),
        None => "no sshs_model_hash stored; data hashes to".to_string(),
    };
    let shown = if i.hash.matches == Some(true) {
        String::new()
    } else {
        format!(" {}", i.hash.computed)
    };
    let _ = writeln!(s, "hash        {hash}{shown}");
    if let Some(t) = &i.training {
        let _ = writeln!(s, "training (sd-scripts metadata)");
        let fields = [
            ("output name", &t.output_name),
            ("base model", &t.base_model),
            ("trained on", &t.sd_model_name),
            ("network", &t.network_module),
            (
                "dim / alpha",
                &t.network_dim
                    .as_ref()
                    .map(|d| format!("{d} / {}", t.network_alpha.as_deref().unwrap_or("?"))),
            ),
            ("network args", &t.network_args),
            (
                "steps",
                &t.steps
                    .as_ref()
                    .map(|st| format!("{st} of {}", t.max_train_steps.as_deref().unwrap_or("?"))),
            ),
            (
                "epochs",
                &t.epoch
                    .as_ref()
                    .map(|e| format!("{e} of {}", t.num_epochs.as_deref().unwrap_or("?"))),
            ),
            ("resolution", &t.resolution),
            ("learning rate", &t.learning_rate),
            (
                "unet / te lr",
                &t.unet_lr
                    .as_ref()
                    .map(|u| format!("{u} / {}", t.text_encoder_lr.as_deref().unwrap_or("?"))),
            ),
            ("optimizer", &t.optimizer),
            ("scheduler", &t.lr_scheduler),
            ("batch size", &t.batch_size),
            ("train images", &t.num_train_images),
            ("precision", &t.mixed_precision),
            ("seed", &t.seed),
            ("started", &t.started_at),
            ("finished", &t.finished_at),
            ("comment", &t.training_comment),
        ];
        for (label, value) in fields {
            if let Some(v) = value {
                let _ = writeln!(s, "  {label:<14}{v}");
            }
        }
        for (dir, repeats, images) in &t.dataset_dirs {
            let n = |v: &Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
            let _ = writeln!(
                s,
                "  dataset       {dir}: {} images x {} repeats",
                n(images),
                n(repeats)
            );
        }
        if !t.top_tags.is_empty() {
            let tags: Vec<String> = t
                .top_tags
                .iter()
                .map(|(tag, n)| format!("{tag} ({n})"))
                .collect();
            let _ = writeln!(
                s,
                "  top tags      {} (of {} distinct)",
                tags.join(", "),
                t.distinct_tags
            );
        }
    }
    if !i.modelspec.is_empty() {
        let _ = writeln!(s, "modelspec");
        for (k, v) in &i.modelspec {
            if k == "thumbnail" {
                continue; // a data URL, unreadable in a terminal
            }
            let _ = writeln!(s, "  {k:<22}{v}");
        }
    }
    if !i.other_keys.is_empty() {
        let _ = writeln!(
            s,
            "other keys  {} not part of an adapter module (e.g. {})",
            i.other_keys.len(),
            i.other_keys[0]
        );
    }
    s
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
