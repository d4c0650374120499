//! LoRA files (no UI): inspect, convert, merge, mix, resize, extract.
pub mod extract;
pub mod lowrank;
pub mod mix;
pub mod resize;
