//! build
pub mod config;
pub mod metadata;
pub mod scoped;
