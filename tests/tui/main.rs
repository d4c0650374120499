//! The workbench screens on TestBackend, and the real binary driven in tmux.
//! One test binary per area (not one per file): each binary links the whole crate, and
//! dozens of links were most of CI's build time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

#[path = "../tui_support/mod.rs"]
mod tui_support;

mod commands;
mod e2e_tmux;
mod flows;
mod layering;
mod remember;
mod runs;
mod screens;
mod train;
mod views;
