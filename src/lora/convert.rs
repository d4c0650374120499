//! `lora convert`: rewrite a LoRA in kohya or diffusers/PEFT spelling with the same strength
//! (alpha carried as `.alpha` tensors or in `lora_adapter_metadata`).

use std::path::{Path, PathBuf};

use super::keys::Format;
use super::model::{LoraError, LoraFile, write_kohya, write_peft};
use super::progress::{Cancelled, Task};

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
/// Progress comes in three steps (reading, writing, done); cancelling before the write leaves
/// no output.
pub fn convert(
    input: &Path,
    output: &Path,
    to: Target,
    task: &mut Task<'_>,
) -> Result<ConvertReport, ConvertError> {
    task.step(0, 2, "reading")?;
    let lora = LoraFile::read(input)?;
    task.step(1, 2, "writing")?;
    match to {
        Target::Kohya => write_kohya(output, &lora.modules, &lora.metadata, lora.dtype)?,
        Target::Peft => write_peft(output, &lora.modules, &lora.metadata, lora.dtype)?,
    }
    // Past the write, a cancel has nothing left to stop.
    let _ = task.step(2, 2, "");
    Ok(ConvertReport {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        from: lora.format,
        modules: lora.modules.len(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Lora(#[from] LoraError),
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}
