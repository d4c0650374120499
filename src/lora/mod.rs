//! LoRA files (no UI): inspect, convert, merge, mix, resize, extract.
