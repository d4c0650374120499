//! Live machine facts (no UI): the GPUs, for `doctor`, the device locks and the Monitor screen;
//! CPU, memory and free disk for the Monitor screen (and `doctor`'s disk check).

pub mod gpu;
pub mod host;
