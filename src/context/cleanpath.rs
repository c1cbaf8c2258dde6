//! Lexical path cleaning with Go's `path/filepath.Clean` rules (Unix flavour).
//!
//! Docker cleans every .dockerignore pattern this way before matching, so `./foo`, `foo/`, `foo//bar`,
//! `foo/./bar` and `foo/../bar` all mean what their clean form means. Nothing here touches the file system.

/// The shortest lexically equivalent path: repeated slashes collapsed, `.` elements dropped, `..` elements
/// resolved against the element before them (kept at the start of a relative path, dropped at the root),
/// no trailing slash. The empty path becomes `.`.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                // `/..` is `/`; a relative path keeps leading `..` elements.
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Everything but the last element, cleaned (Go's `filepath.Dir`): `a/b` → `a`, `a` → `.`, `/a` → `/`.
pub fn parent(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => ".".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go_filepath_clean() {
        let cases = [
            ("", "."),
            (".", "."),
            ("./", "."),
            ("/", "/"),
            ("//", "/"),
            ("a", "a"),
            ("a/", "a"),
            ("./a", "a"),
            ("a//b", "a/b"),
            ("a/./b", "a/b"),
            ("a/../b", "b"),
            ("a/..", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("a/../..", ".."),
            ("../a/../b", "../b"),
            ("/..", "/"),
            ("/../a", "/a"),
            ("/a/b/../../..", "/"),
            ("!./foo", "!./foo"),
            ("**/", "**"),
            ("a/b/c/./../../g", "a/g"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn parent_matches_go_filepath_dir() {
        let cases = [("a", "."), ("a/b", "a"), ("a/b/c", "a/b"), ("/a", "/"), ("/", "/"), ("a/b/", "a/b")];
        for (input, want) in cases {
            assert_eq!(parent(input), want, "parent({input:?})");
        }
    }
}
