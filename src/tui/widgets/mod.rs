//! Reusable pieces the screens draw with.

pub mod bars;
pub mod help;
pub mod hint_bar;
pub mod image_pane;
pub mod line_input;
pub mod loss_chart;
pub mod panel;
