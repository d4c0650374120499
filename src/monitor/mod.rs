//! Live machine facts (no UI): the GPUs, for `doctor`, the device locks and the Monitor screen.

pub mod gpu;
