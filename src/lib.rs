//! lorabench: a terminal workbench for LoRA fine-tuning of image diffusion models.
//!
//! The core modules (`dataset`, `lora`) never import the terminal crates; `tui` is the only
//! module that does (DESIGN.md, principle 1).

pub mod dataset;
pub mod lora;
pub mod monitor;
pub mod safe_text;
pub mod train;
pub mod trainer;
pub mod tui;
pub mod words;
