//! The built-in trainer against diffusers/torch, and a real sd-scripts run: the heavy numeric tests.
//! One test binary per area (not one per file): each binary links the whole crate, and
//! dozens of links were most of CI's build time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

#[path = "../kohya_env/mod.rs"]
mod kohya_env;

mod builtin_train;
mod grads;
mod kohya_run;
mod parity;
mod session;
mod single_file;
