//! build
pub mod config;
pub mod fsops;
pub mod metadata;
pub mod scoped;
pub mod users;
