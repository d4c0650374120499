//! LoRA files (no UI): inspect, convert, merge, mix, resize, extract.
//!
//! The API the other LoRA operations and the TUI build on:
//! - [`safetensors`]: the container. [`safetensors::SafetensorsFile::open`] validates the header
//!   (typed [`safetensors::SafetensorsError`] naming the file), then `read_tensor` / `read_f32` /
//!   `read_bytes` one tensor at a time; [`safetensors::Writer`] streams tensors into a temporary
//!   file and renames it into place on `finish` (dropped early, it deletes the temporary file);
//!   [`safetensors::write_tensors`] writes in-memory tensors the same way.
//! - [`model`]: a LoRA as modules. [`model::LoraFile::read`] gives sorted
//!   [`model::LoraModule`]s `{ name, down, up, alpha, dotted }` (F32 factors, kohya-style name,
//!   `delta(strength)` and `scale()` helpers) from kohya, LoCon or diffusers/PEFT files;
//!   [`model::write_kohya`] / [`model::write_peft`] write them back atomically.
//! - [`keys`]: key spellings, format and model-family detection.
//! - [`progress`]: [`progress::Task`] (cancel flag + progress callback) taken by long operations.
//! - [`args`]: `FILE[:weight]`, strengths, ranks and rank rules as typed, for CLI and TUI.
//! - [`inspect`], [`convert`], [`merge`]: the `lorabench lora` commands; [`report`] turns an
//!   inspection into the rows both faces print.

pub mod args;
pub mod convert;
pub mod extract;
pub mod inspect;
pub mod keys;
pub mod ldm;
pub mod lowrank;
pub mod merge;
pub mod mix;
pub mod model;
pub mod names;
pub mod progress;
pub mod report;
pub mod resize;
pub mod safetensors;

/// A user's strength or weight as JSON, written as they wrote it: an f32 widened to f64 would
/// record 0.8 as 0.800000011920929, so the f32's shortest decimal form is kept.
pub(crate) fn json_f32(x: f32) -> serde_json::Value {
    x.to_string()
        .parse::<serde_json::Number>()
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

#[cfg(test)]
mod tests {
    #[test]
    fn strengths_are_recorded_as_written() {
        for (x, shown) in [(0.8f32, "0.8"), (-0.5, "-0.5"), (1.0, "1"), (0.1, "0.1")] {
            assert_eq!(super::json_f32(x).to_string(), shown);
        }
        assert!(super::json_f32(f32::NAN).is_null());
    }
}
