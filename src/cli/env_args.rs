//! `-e` and `--env-file` of `run`, `create` and `exec`, read as docker reads them: the files first, in
//! order, then each `-e`; a later value of a variable replaces an earlier one (in its place). `K` alone
//! takes rbuild's own value of K and is dropped when rbuild has none.
//!
//! An env file has one `K=V` or `K` per line; leading whitespace is dropped, blank lines and lines
//! starting with `#` are skipped, the value is taken as it is (no quotes or escapes are interpreted:
//! `K="a b"` sets K to `"a b"` with the quotes, as docker does). A name with whitespace, an empty name
//! or bytes that are not UTF-8 are errors naming the file and line.

use super::UsageError;
use std::path::{Path, PathBuf};

/// `K=V` entries from `files` then `flags`, each variable once.
pub(super) fn env_args(files: &[PathBuf], flags: &[String]) -> Result<Vec<String>, UsageError> {
    let mut out: Vec<String> = Vec::new();
    for file in files {
        for entry in read_env_file(file)? {
            set_env(&mut out, &entry);
        }
    }
    for entry in flags.iter().filter_map(|flag| resolve(flag)) {
        set_env(&mut out, &entry);
    }
    Ok(out)
}

/// Set `kv` (`K=V`) in `env`: in place of K's earlier value, else at the end.
pub(super) fn set_env(env: &mut Vec<String>, kv: &str) {
    let prefix = format!("{}=", kv.split_once('=').map_or(kv, |(k, _)| k));
    match env.iter_mut().find(|e| e.starts_with(&prefix)) {
        Some(slot) => *slot = kv.to_string(),
        None => env.push(kv.to_string()),
    }
}

/// `K=V` as it is; `K` with rbuild's own value, or nothing when it has none.
fn resolve(word: &str) -> Option<String> {
    match word.split_once('=') {
        Some(_) => Some(word.to_string()),
        None => std::env::var(word).ok().map(|v| format!("{word}={v}")),
    }
}

fn read_env_file(path: &Path) -> Result<Vec<String>, UsageError> {
    let bytes = std::fs::read(path).map_err(|e| UsageError(format!("--env-file {}: {e}", path.display())))?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let mut entries = Vec::new();
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let at = || format!("--env-file {}:{}", path.display(), n + 1);
        let line = std::str::from_utf8(line).map_err(|_| UsageError(format!("{}: not UTF-8 text", at())))?;
        let line = line.strip_suffix('\r').unwrap_or(line).trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split_once('=').map_or(line, |(k, _)| k);
        if name.is_empty() {
            return Err(UsageError(format!("{}: no variable name before '=' in {line:?}", at())));
        }
        if name.contains(char::is_whitespace) {
            return Err(UsageError(format!("{}: variable name {name:?} contains whitespace", at())));
        }
        entries.extend(resolve(line));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &[u8]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn files_then_flags_later_values_replacing_earlier_ones_in_place() {
        std::env::set_var("RBUILD_ENV_ARGS_TEST", "from-rbuild");
        let a = file(
            b"\xef\xbb\xbf# comment\n\n  A=1\nB=two words \nRBUILD_ENV_ARGS_TEST\nRBUILD_ENV_ARGS_UNSET\r\nQ=\"x\"\n",
        );
        let b = file(b"A=3\n");
        let flags = vec!["B=flag".to_string(), "C=".to_string(), "RBUILD_ENV_ARGS_UNSET".to_string()];
        let env = env_args(&[a.path().to_path_buf(), b.path().to_path_buf()], &flags).unwrap();
        assert_eq!(env, ["A=3", "B=flag", "RBUILD_ENV_ARGS_TEST=from-rbuild", "Q=\"x\"", "C="]);
    }

    #[test]
    fn bad_lines_are_errors_naming_the_file_and_line() {
        let f = file(b"A=1\nBAD NAME=2\n");
        let err = env_args(&[f.path().to_path_buf()], &[]).unwrap_err().0;
        assert!(err.ends_with(":2: variable name \"BAD NAME\" contains whitespace"), "{err}");
        let f = file(b"=oops\n");
        let err = env_args(&[f.path().to_path_buf()], &[]).unwrap_err().0;
        assert!(err.contains(":1: no variable name before '='"), "{err}");
        let f = file(b"A=\xff\n");
        assert!(env_args(&[f.path().to_path_buf()], &[]).unwrap_err().0.contains(":1: not UTF-8"));
        let err = env_args(&[PathBuf::from("/nonexistent/.env")], &[]).unwrap_err().0;
        assert!(err.starts_with("--env-file /nonexistent/.env: "), "{err}");
    }
}
