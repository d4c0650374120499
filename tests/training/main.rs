//! Training runs: configs, backends, the detached supervisor, progress parsing and plots.
//! One test binary per area (not one per file): each binary links the whole crate, and
//! dozens of links were most of CI's build time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

#[path = "../kohya_env/mod.rs"]
mod kohya_env;

mod backends;
mod cli_train;
mod plot_png;
mod progress;
mod runs_plot;
mod runs_supervisor;
