//! Walking the build context with include/exclude patterns, as BuildKit's fsutil sends it.
//!
//! Order: depth first, the names of each directory in byte order, a directory right before its contents
//! (so `foo`, `foo/bar`, `foo2`). Symlinks are listed, never followed. Paths are relative to the root and
//! slash-separated; the root itself is not listed. Names are bytes, as on disk: a name that is not UTF-8
//! is walked, matched and listed like any other (Docker sends any byte name).
//!
//! Filtering (fsutil's `filterFS.Walk`): an entry is listed when it passes the include patterns (if any)
//! and is not excluded. An excluded directory is not descended into unless an exception could re-include
//! something below it; when something below it is listed, the directory itself is listed first (lazily,
//! right before its first listed descendant). Each directory hands its per-pattern results down to its
//! children instead of re-matching its parents ([`Matcher::matches_with_parent`]).

use super::matcher::{MatchInfo, Matcher};
use super::pattern::{PatternError, PATTERN_CHARS};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why the context cannot be walked.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("{}: not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("cannot read {}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Pattern(#[from] PatternError),
}

/// What kind of file an entry is (never resolved through a symlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// A fifo, socket or device node.
    Special,
}

impl EntryKind {
    /// `file`, `dir`, `symlink` or `special`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::Special => "special",
        }
    }
}

/// One entry of the context.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Relative to the context root, slash-separated, no leading `./`; any bytes.
    pub path: PathBuf,
    pub kind: EntryKind,
}

/// Include and exclude patterns applied together (fsutil's `FilterOpt`). An empty matcher is no filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    include: Option<Matcher>,
    exclude: Option<Matcher>,
    only_prefix_includes: bool,
    only_prefix_exceptions: bool,
}

impl Filter {
    pub fn new(include: Option<Matcher>, exclude: Option<Matcher>) -> Filter {
        let include = include.filter(|m| !m.is_empty());
        let exclude = exclude.filter(|m| !m.is_empty());
        // When every relevant pattern is a literal path (maybe ending in `/*` or `/**`), a directory no
        // such path lies under can be skipped whole.
        let literal = |m: &Option<Matcher>, exceptions: bool| {
            m.as_ref().is_none_or(|m| {
                m.patterns()
                    .iter()
                    .filter(|p| p.is_exception() == exceptions)
                    .all(|p| !literal_prefix(p.text()).contains(PATTERN_CHARS))
            })
        };
        Filter {
            only_prefix_includes: literal(&include, false),
            only_prefix_exceptions: literal(&exclude, true),
            include,
            exclude,
        }
    }

    /// Only exclude patterns (a .dockerignore).
    pub fn exclude(matcher: Matcher) -> Filter {
        Filter::new(None, Some(matcher))
    }

    /// Would the filtered context contain `path`? (fsutil's `Open`: included, or under an included
    /// directory, and not excluded.)
    pub fn admits(&self, path: impl AsRef<[u8]>) -> Result<bool, PatternError> {
        let path = path.as_ref();
        if let Some(include) = &self.include {
            if !include.matches_or_parent_matches(path)? {
                return Ok(false);
            }
        }
        match &self.exclude {
            Some(exclude) => Ok(!exclude.matches_or_parent_matches(path)?),
            None => Ok(true),
        }
    }

    /// Filter entries already in walk order (e.g. the output of another filter, so filters stack).
    pub fn apply(&self, entries: &[Entry]) -> Result<Vec<Entry>, PatternError> {
        let mut state = FilterState { filter: self, parents: Vec::new() };
        let mut out = Vec::new();
        let mut pruned: Option<Vec<u8>> = None;
        for entry in entries {
            if pruned.as_ref().is_some_and(|p| bytes(&entry.path).starts_with(p)) {
                continue;
            }
            if state.visit(entry, &mut out)? == Step::Prune {
                pruned = Some(with_slash(&entry.path));
            }
        }
        Ok(out)
    }
}

/// Walk `root`, leaving out what `excludes` (a .dockerignore matcher) excludes.
pub fn walk(root: &Path, excludes: &Matcher) -> Result<Vec<Entry>, WalkError> {
    walk_filtered(root, &Filter::exclude(excludes.clone()))
}

/// Walk `root` through a filter with include and exclude patterns.
pub fn walk_filtered(root: &Path, filter: &Filter) -> Result<Vec<Entry>, WalkError> {
    walk_into(root, filter, usize::MAX, &mut |_| {})
}

/// [`walk_filtered`], handing each `batch` entries listed (and the last ones) to `hand_over` as the walk
/// goes on.
pub(super) fn walk_into(
    root: &Path,
    filter: &Filter,
    batch: usize,
    hand_over: &mut dyn FnMut(&[Entry]),
) -> Result<Vec<Entry>, WalkError> {
    let meta = std::fs::metadata(root).map_err(|source| WalkError::Io { path: root.to_path_buf(), source })?;
    if !meta.is_dir() {
        return Err(WalkError::NotADirectory { path: root.to_path_buf() });
    }
    let mut state = FilterState { filter, parents: Vec::new() };
    let mut out = Vec::new();
    let mut stack = vec![read_sorted(root, Path::new(""))?.into_iter()];
    let mut handed = 0;
    while let Some(dir) = stack.last_mut() {
        let Some(entry) = dir.next() else {
            stack.pop();
            continue;
        };
        let step = state.visit(&entry, &mut out)?;
        if out.len() - handed >= batch {
            hand_over(&out[handed..]);
            handed = out.len();
        }
        if entry.kind != EntryKind::Dir || step == Step::Prune {
            continue;
        }
        match read_sorted(&root.join(&entry.path), &entry.path) {
            Ok(children) => stack.push(children.into_iter()),
            // Like fsutil: an unreadable directory that is not listed itself is passed over.
            Err(WalkError::Io { source, .. })
                if step == Step::Held && source.kind() == std::io::ErrorKind::PermissionDenied => {}
            Err(e) => return Err(e),
        }
    }
    if out.len() > handed {
        hand_over(&out[handed..]);
    }
    Ok(out)
}

/// The entries of one directory, sorted by name bytes, with paths prefixed by `rel` (the directory's own
/// relative path, empty for the root).
fn read_sorted(dir: &Path, rel: &Path) -> Result<Vec<Entry>, WalkError> {
    let io_err = |source| WalkError::Io { path: dir.to_path_buf(), source };
    let mut children = Vec::new();
    for item in std::fs::read_dir(dir).map_err(io_err)? {
        let item = item.map_err(io_err)?;
        let file_type = item.file_type().map_err(|source| WalkError::Io { path: item.path(), source })?;
        let kind = if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_symlink() {
            EntryKind::Symlink
        } else if file_type.is_file() {
            EntryKind::File
        } else {
            EntryKind::Special
        };
        children.push((item.file_name(), kind));
    }
    children.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(children.into_iter().map(|(name, kind)| Entry { path: rel.join(name), kind }).collect())
}

/// A relative path's bytes.
fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// `path/`, as bytes (the prefix of everything below a directory).
fn with_slash(path: &Path) -> Vec<u8> {
    let mut out = bytes(path).to_vec();
    out.push(b'/');
    out
}

/// What the walk does after visiting an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Listed (a directory is descended into).
    Listed,
    /// Not listed (yet): a directory is still descended into, and listed if something below it is.
    Held,
    /// Not listed, and nothing below a directory can be: do not descend.
    Prune,
}

/// A directory on the path from the root to the current entry.
struct Parent {
    entry: Entry,
    with_slash: Vec<u8>,
    include: MatchInfo,
    exclude: MatchInfo,
    listed: bool,
}

struct FilterState<'a> {
    filter: &'a Filter,
    parents: Vec<Parent>,
}

impl FilterState<'_> {
    fn visit(&mut self, entry: &Entry, out: &mut Vec<Entry>) -> Result<Step, PatternError> {
        let filter = self.filter;
        if filter.include.is_none() && filter.exclude.is_none() {
            out.push(entry.clone());
            return Ok(Step::Listed);
        }
        let path = bytes(&entry.path);
        while self.parents.last().is_some_and(|p| !path.starts_with(&p.with_slash)) {
            self.parents.pop();
        }
        let is_dir = entry.kind == EntryKind::Dir;
        let no_info = MatchInfo::default();
        let mut held = false;
        let (mut include_info, mut exclude_info) = (MatchInfo::default(), MatchInfo::default());

        if let Some(include) = &filter.include {
            let parent = self.parents.last().map_or(&no_info, |p| &p.include);
            let (included, info) = include.matches_with_parent(path, parent)?;
            include_info = info;
            if !included {
                if is_dir && filter.only_prefix_includes && !lies_under(include, path, false) {
                    return Ok(Step::Prune);
                }
                held = true;
            }
        }
        if let Some(exclude) = &filter.exclude {
            let parent = self.parents.last().map_or(&no_info, |p| &p.exclude);
            let (excluded, info) = exclude.matches_with_parent(path, parent)?;
            exclude_info = info;
            if excluded {
                if is_dir
                    && filter.only_prefix_exceptions
                    && (!exclude.has_exceptions() || !lies_under(exclude, path, true))
                {
                    return Ok(Step::Prune);
                }
                held = true;
            }
        }

        if !held {
            for parent in self.parents.iter_mut().filter(|p| !p.listed) {
                out.push(parent.entry.clone());
                parent.listed = true;
            }
            out.push(entry.clone());
        }
        if is_dir {
            self.parents.push(Parent {
                entry: entry.clone(),
                with_slash: with_slash(&entry.path),
                include: include_info,
                exclude: exclude_info,
                listed: !held,
            });
        }
        Ok(if held { Step::Held } else { Step::Listed })
    }
}

/// Does some pattern of the given polarity name a path inside directory `dir`?
fn lies_under(matcher: &Matcher, dir: &[u8], exceptions: bool) -> bool {
    matcher.patterns().iter().filter(|p| p.is_exception() == exceptions).any(|p| {
        let prefix = literal_prefix(p.text()).as_bytes();
        // `prefix/` starts with `dir/`.
        prefix.starts_with(dir) && prefix.get(dir.len()).is_none_or(|&b| b == b'/')
    })
}

/// A pattern without a trailing `/**` and then `/*` (fsutil's `patternWithoutTrailingGlob`).
fn literal_prefix(pattern: &str) -> &str {
    let p = pattern.strip_suffix("/**").unwrap_or(pattern);
    p.strip_suffix("/*").unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entries: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for e in entries {
            let path = dir.path().join(e.trim_end_matches('/'));
            if e.ends_with('/') {
                std::fs::create_dir_all(&path).expect("mkdir");
            } else {
                std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
                std::fs::write(&path, e).expect("write");
            }
        }
        dir
    }

    fn listing(entries: &[Entry]) -> Vec<String> {
        entries.iter().map(|e| format!("{} {}", e.kind.as_str(), e.path.display())).collect()
    }

    #[test]
    fn order_is_per_directory_bytes_with_dirs_before_contents() {
        let dir = tree(&["foo2", "foo/bar", "a-b", "a/c", "B"]);
        let got = walk(dir.path(), &Matcher::default()).expect("walks");
        assert_eq!(listing(&got), ["file B", "dir a", "file a/c", "file a-b", "dir foo", "file foo/bar", "file foo2"]);
    }

    #[test]
    fn symlinks_are_listed_not_followed() {
        let dir = tree(&["real/x"]);
        std::os::unix::fs::symlink("real", dir.path().join("link")).expect("symlink");
        std::os::unix::fs::symlink("/nonexistent", dir.path().join("dangling")).expect("symlink");
        let got = walk(dir.path(), &Matcher::default()).expect("walks");
        assert_eq!(listing(&got), ["symlink dangling", "symlink link", "dir real", "file real/x"]);
    }

    #[test]
    fn excluded_dir_is_pruned_without_exceptions_below_it() {
        let dir = tree(&["keep", "skip/a", "skip/b/"]);
        let got = walk(dir.path(), &Matcher::new(["skip"]).expect("valid")).expect("walks");
        assert_eq!(listing(&got), ["file keep"]);
        let got = walk(dir.path(), &Matcher::new(["skip", "!skip/b/z"]).expect("valid")).expect("walks");
        assert_eq!(listing(&got), ["file keep"], "descends into skip/b, lists nothing of it");
    }

    #[test]
    fn defect9_non_utf8_names_are_walked_matched_and_kept_as_bytes() {
        let dir = tree(&["keep"]);
        let name = |b: &[u8]| PathBuf::from(std::ffi::OsStr::from_bytes(b));
        std::fs::write(dir.path().join(name(b"bad\xff")), "x").expect("write");
        std::fs::write(dir.path().join(name(b"gone\xfe.log")), "x").expect("write");
        let got = walk(dir.path(), &Matcher::new(["*.log"]).expect("valid")).expect("walks");
        let paths: Vec<PathBuf> = got.into_iter().map(|e| e.path).collect();
        assert_eq!(paths, [name(b"bad\xff"), name(b"keep")]);
    }

    #[test]
    fn excluded_dir_is_listed_before_a_reincluded_child() {
        let dir = tree(&["foo/keep", "foo/drop", "foo/sub/x"]);
        let got = walk(dir.path(), &Matcher::new(["foo", "!foo/keep"]).expect("valid")).expect("walks");
        assert_eq!(listing(&got), ["dir foo", "file foo/keep"]);
        let got = walk(dir.path(), &Matcher::new(["foo", "!foo/nothing"]).expect("valid")).expect("walks");
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn wildcard_exception_forces_descent() {
        let dir = tree(&["a/b/keep.md", "a/b/x.txt", "c.txt"]);
        let got = walk(dir.path(), &Matcher::new(["a", "!**/*.md"]).expect("valid")).expect("walks");
        assert_eq!(listing(&got), ["dir a", "dir a/b", "file a/b/keep.md", "file c.txt"]);
    }

    #[test]
    fn match_time_errors_surface() {
        let dir = tree(&["x"]);
        let err = walk(dir.path(), &Matcher::new(["[z-a]"]).expect("valid syntax")).expect_err("bad regex");
        assert!(matches!(err, WalkError::Pattern(PatternError::Regex { index: 0, .. })), "{err}");
    }

    #[test]
    fn stacked_filters_are_independent() {
        let dir = tree(&["foo/bar"]);
        let inner = Filter::exclude(Matcher::new(["foo"]).expect("valid"));
        let outer = Filter::exclude(Matcher::new(["!foo/bar"]).expect("valid"));
        let first = walk_filtered(dir.path(), &inner).expect("walks");
        assert!(outer.apply(&first).expect("valid").is_empty());
    }

    #[test]
    fn root_must_be_a_directory() {
        let dir = tree(&["f"]);
        assert!(matches!(walk(&dir.path().join("f"), &Matcher::default()), Err(WalkError::NotADirectory { .. })));
    }
}
