//! `lora convert`: rewrite a LoRA in kohya or diffusers/PEFT spelling with the same strength
//! (alpha carried as `.alpha` tensors or in `lora_adapter_metadata`).

use std::path::{Path, PathBuf};

use super::keys::Format;
use super::model::{LoraError, LoraFile, write_kohya, write_peft};

/// Output spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Kohya,
    Peft,
}

/// What a conversion did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConvertReport {
    pub input: PathBuf,
    pub output: PathBuf,
    pub from: Format,
    pub modules: usize,
}

/// Converts `input` to `output` (written atomically), keeping the factor dtype and metadata.
pub fn convert(input: &Path, output: &Path, to: Target) -> Result<ConvertReport, LoraError> {
    let lora = LoraFile::read(input)?;
    match to {
        Target::Kohya => write_kohya(output, &lora.modules, &lora.metadata, lora.dtype)?,
        Target::Peft => write_peft(output, &lora.modules, &lora.metadata, lora.dtype)?,
    }
    Ok(ConvertReport {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        from: lora.format,
        modules: lora.modules.len(),
    })
}
