//! The build context: which files a build may see.
//!
//! `.dockerignore` text is read by `grammar/dockerignore.pest` ([`ignorefile`]), its patterns are compiled
//! with moby/patternmatcher's semantics ([`pattern`], [`matcher`]; Go regular expressions are translated by
//! `goregex`), and the context directory is walked with BuildKit fsutil's filtering rules ([`walk`]),
//! its entries stat'ed on other threads as they are listed ([`stat`]).
//! This module only reads the file system; it never writes, and never follows a symlink out of the context.

pub mod cleanpath;
mod goregex;
pub mod ignorefile;
pub mod matcher;
pub mod pattern;
pub mod stat;
pub mod walk;

pub use goregex::TranslateError;
pub use ignorefile::{find_ignore_file, IgnoreEntry, IgnoreFile, IgnoreFileError};
pub use matcher::{MatchInfo, Matcher};
pub use pattern::{MatchKind, Pattern, PatternError, SyntaxFault};
pub use stat::walk_stamped;
pub use walk::{walk, walk_filtered, Entry, EntryKind, Filter, WalkError};
