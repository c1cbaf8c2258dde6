//! Dockerfiles: the pest grammar (`grammar/dockerfile.pest`) turned into a syntax tree (`ast`), the
//! BuildKit-compatible dump (`dump`), typed instructions (`instructions`, their flags in `flags`) and BuildKit's shell-style word
//! expansion (`expand`). Parsing never expands variables; expansion happens when planning.

pub mod ast;
pub mod diagnostic;
pub mod dump;
pub mod expand;
pub mod flags;
mod flagwords;
pub mod instructions;
pub mod parse;

pub use ast::{Directives, Dockerfile, Heredoc, Instruction, Keyword, Location, Position, Warning};
pub use diagnostic::Diagnostic;
pub use parse::{parse, ParseError};
