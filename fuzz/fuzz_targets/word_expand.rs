//! Word expansion with BuildKit's shell-lexer semantics: every mode and both escape characters, over a
//! fixed set of variables (set, empty, with spaces, long). Errors are fine; panics and hangs are not.
//!
//! Input: the first byte picks the escape character and the mode, the rest is the word.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbuild::dockerfile::expand::Expander;
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn vars() -> &'static BTreeMap<String, String> {
    static VARS: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    VARS.get_or_init(|| {
        [
            ("A", "a"),
            ("B", "bb"),
            ("EMPTY", ""),
            ("SP", " x  y "),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("GLOB", "*?[a-z]\\"),
            ("Q", "'\"$A`"),
            ("U", "ünïcødé"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([("LONG".to_string(), "ab".repeat(512))])
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let expander = Expander::new(if selector & 1 == 0 { '\\' } else { '`' });
    let vars = vars();
    match (selector >> 1) % 3 {
        0 => {
            let _ = expander.word(text, vars);
        }
        1 => {
            let _ = expander.words(text, vars);
        }
        _ => {
            let _ = expander.heredoc(text, vars);
        }
    }
});
