//! Reusable pieces drawn by the views.

pub mod bars;
pub mod hint_bar;
pub mod image_pane;
