//! rbuild: a daemonless Dockerfile build engine and OCI image builder.
//!
//! Data moves forward through the modules: `dockerfile` (syntax tree, typed instructions, word expansion)
//! and `context` (.dockerignore, context walk) feed `plan` (stages, ARG scoping), which `engine` executes,
//! writing layers with `layer` into the content store `store`; `image` builds OCI configs and manifests.
//! Only `cli` (and the engine modules `plan` and `engine`) see every other module.
//! See docs/architecture.md for the module map.
#![deny(unsafe_code)]

pub mod archive;
pub mod cachex;
pub mod cli;
pub mod container;
pub mod context;
pub mod digest;
pub mod dockerfile;
pub mod emulation;
pub mod engine;
pub mod fsops;
pub mod image;
#[allow(unsafe_code)]
pub mod interrupt;
pub mod layer;
pub mod lint;
pub mod plan;
pub mod reference;
pub mod registry;
pub mod rootpath;
#[allow(unsafe_code)]
pub mod sandbox;
pub mod snapshot;
pub mod store;
pub mod users;
