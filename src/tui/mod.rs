//! The terminal workbench: the only module that imports ratatui, crossterm and ratatui-image.
