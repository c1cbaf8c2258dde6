//! build
pub mod config;
pub mod scoped;
