//! .dockerignore text → patterns → matcher, then paths matched against it. Errors are fine; panics and
//! hangs are not. The walk's incremental matcher (`matches_with_parent`, fed each parent's result) must
//! agree with the direct one (`matches_or_parent_matches`) on every path where both succeed.
//!
//! Input: the .dockerignore text, a NUL byte, then one path per line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbuild::context::{IgnoreFile, MatchInfo, Matcher};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (ignore, paths) = text.split_once('\0').unwrap_or((text, ""));
    let Ok(file) = IgnoreFile::parse(ignore) else { return };
    let Ok(matcher) = file.matcher() else { return };
    for path in paths.lines().take(16) {
        let _ = matcher.excluded(path);
        check_incremental(&matcher, path);
    }
});

/// Walk `path`'s components the way the context walk does and compare with the direct answer.
fn check_incremental(matcher: &Matcher, path: &str) {
    // The walk only ever hands clean relative paths (no empty, `.` or `..` components) to the matcher.
    let parts: Vec<&str> = path.split('/').collect();
    if path.is_empty() || parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
        return;
    }
    let mut info = MatchInfo::default();
    for depth in 1..=parts.len() {
        let prefix = parts[..depth].join("/");
        let Ok((incremental, next)) = matcher.matches_with_parent(&prefix, &info) else { return };
        if let Ok(direct) = matcher.matches_or_parent_matches(&prefix) {
            assert_eq!(incremental, direct, "incremental and direct matching disagree on {prefix:?}");
        }
        info = next;
    }
}
