//! Expansion rules, one table per rule family, modelled on the outcomes BuildKit's `envVarTest` and
//! `wordsTest` expect (inputs are our own).

use super::{ExpandError, Expander, Vars};
use std::collections::{BTreeMap, BTreeSet, HashMap};

fn env() -> BTreeMap<String, String> {
    [
        ("HOME", "/home/u"),
        ("SHELL", "sh"),
        ("EMPTY", ""),
        ("KO", "한국어"),
        ("变量", "v"),
        ("SPACED", "a  b"),
        ("LEAD", "  x y"),
        ("FILE", "archive.tar.gz"),
        ("STARS", "**ab**"),
        ("P", "/a/b/a/c"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `Some(text)`: expands to `text`; `None`: must be an error.
fn check_words(expander: Expander, table: &[(&str, Option<&str>)]) {
    let vars = env();
    let mut failures = Vec::new();
    for &(input, want) in table {
        let got = expander.word(input, &vars).map(|e| e.value);
        match (want, &got) {
            (Some(w), Ok(g)) if w == g => {}
            (None, Err(_)) => {}
            _ => failures.push(format!("{input:?}: expected {want:?}, got {got:?}")),
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

fn check(table: &[(&str, Option<&str>)]) {
    check_words(Expander::new('\\'), table);
}

#[test]
fn plain_text_and_escapes() {
    check(&[
        ("hello", Some("hello")),
        (r"a\tb", Some("atb")),
        (r"trailing\", Some("trailing")),
        (r"trailing\\", Some(r"trailing\")),
        (r"a\ b", Some("a b")),
        ("안녕\\t하세요", Some("안녕t하세요")),
    ]);
}

#[test]
fn single_quotes_are_literal() {
    check(&[
        ("it'll'be", Some("itllbe")),
        (r"'a\tb'", Some(r"a\tb")),
        (r"'back\'", Some(r"back\")),
        ("'$HOME ${X}'", Some("$HOME ${X}")),
        (r#"'"q"'"#, Some(r#""q""#)),
        ("x'y", None),
        (r"x\'y", Some("x'y")),
        (r"x\\'y", None),
        ("안'녕", None),
    ]);
}

#[test]
fn double_quotes_expand_and_escape_only_some_characters() {
    check(&[
        (r#""a\tb""#, Some(r"a\tb")),
        (r#""a\\tb""#, Some(r"a\tb")),
        (r#""it's""#, Some("it's")),
        (r#""''""#, Some("''")),
        (r#""$HOME""#, Some("/home/u")),
        (r#""'$HOME'""#, Some("'/home/u'")),
        (r#""\$HOME""#, Some("$HOME")),
        (r#""\\$HOME""#, Some(r"\/home/u")),
        (r#""a\"b""#, Some(r#"a"b"#)),
        (r#""open"#, None),
        (r#""esc\""#, None),
    ]);
}

#[test]
fn plain_references() {
    check(&[
        ("$", Some("$")),
        ("a$", Some("a$")),
        ("$.x", Some("$.x")),
        ("x$HOME", Some("x/home/u")),
        ("$HOMEx", Some("")),
        ("${HOME}x", Some("/home/ux")),
        ("x${NOPE}y", Some("xy")),
        (r"\$HOME", Some("$HOME")),
        (r"\\$HOME", Some(r"\/home/u")),
        (r"\${}", Some("${}")),
        ("$KO!", Some("한국어!")),
        ("$变量.", Some("v.")),
        ("${x}}", Some("}")),
    ]);
}

#[test]
fn malformed_braces_are_errors() {
    check(&[("${}", None), ("a${}b", None), ("${", None), ("${HOME", None), ("${.}", None), ("${:}", None)]);
    check(&[("${{x}", None), ("${{x:-y}", None), ("${:-y}", None), ("${:+y}", None), ("${x:-y", None)]);
}

#[test]
fn positional_and_special_parameters_are_never_set() {
    check(&[
        ("$1", Some("")),
        ("$12x", Some("x")),
        ("$007x", Some("x")),
        ("${3}", Some("")),
        ("${12:-d}x", Some("dx")),
        ("${12:+d}", Some("")),
        ("$0", Some("")),
        ("$@@", Some("@")),
        ("$*x", Some("x")),
        ("$$", Some("")),
        ("${#}", Some("")),
        ("${?:-q}", Some("q")),
        ("${-:+q}", Some("")),
        ("${!}", Some("")),
    ]);
}

#[test]
fn default_and_alternative_values() {
    check(&[
        ("${NOPE:-d}", Some("d")),
        ("${HOME:-d}", Some("/home/u")),
        ("${EMPTY:-d}", Some("d")),
        ("${EMPTY-d}", Some("")),
        ("${NOPE-d}", Some("d")),
        ("${NOPE:-}", Some("")),
        ("${NOPE:-$HOME}", Some("/home/u")),
        ("${NOPE:-${HOME:-z}}", Some("/home/u")),
        ("${NOPE:-${ALSO:-z}}", Some("z")),
        ("${NOPE:-'a b'}", Some("a b")),
        ("${NOPE:-a}}", Some("a}")),
        ("${NOPE:-a {b}", Some("a {b")),
        ("${NOPE:-a ${b}", None),
        (r"${NOPE:-\$HOME:}", Some("$HOME:")),
        (r"${NOPE:-\${HOME}z}", Some("${HOMEz}")),
        ("${HOME:+set}", Some("set")),
        ("${EMPTY:+set}", Some("")),
        ("${EMPTY+set}", Some("set")),
        ("${NOPE+set}", Some("")),
        ("${HOME:+${SHELL}}", Some("sh")),
        ("${HOME:+${NOPE}}", Some("")),
        ("${HOME:+$HOME:}x", Some("/home/u:x")),
    ]);
}

#[test]
fn required_values() {
    check(&[("${HOME?}", Some("/home/u")), ("${HOME:?}", Some("/home/u")), ("${EMPTY?}", Some(""))]);
    check(&[("${EMPTY:?}", None), ("${NOPE?}", None), ("${NOPE:?}", None)]);
    let vars = env();
    let message = |text: &str| match Expander::default().word(text, &vars) {
        Err(e @ ExpandError::Required { .. }) => e.to_string(),
        other => panic!("{text:?}: expected a required-value error, got {other:?}"),
    };
    assert_eq!(message("${NOPE?}"), "NOPE: is not allowed to be unset");
    assert_eq!(message("${EMPTY:?}"), "EMPTY: is not allowed to be empty");
    assert_eq!(message("${NOPE:?set it, $SHELL}"), "NOPE: set it, sh");
    assert_eq!(message("${EMPTY:?needed}"), "EMPTY: needed");
}

#[test]
fn unsupported_modifiers_are_errors() {
    check(&[("${HOME:=x}", None), ("${HOME=x}", None), ("${HOME:x}", None), ("${HOME^^}", None)]);
    check(&[("${FILE:#x}", None), ("${FILE:##x}", None), ("${FILE:%x}", None), ("${FILE:%%x}", None)]);
}

#[test]
fn prefix_and_suffix_removal() {
    check(&[
        ("${FILE#*.}", Some("tar.gz")),
        ("${FILE##*.}", Some("gz")),
        ("${FILE%.*}", Some("archive.tar")),
        ("${FILE%%.*}", Some("archive")),
        ("${FILE#a?c}", Some("hive.tar.gz")),
        ("${FILE#nomatch}", Some("archive.tar.gz")),
        ("${FILE#}", Some("archive.tar.gz")),
        ("${FILE##}", Some("archive.tar.gz")),
        ("${FILE%}", Some("archive.tar.gz")),
        ("${FILE#*}", Some("archive.tar.gz")),
        ("${FILE##*}", Some("")),
        ("${FILE#$NOPE}", Some("archive.tar.gz")),
        ("${FILE#${NOPE:-a}r}", Some("chive.tar.gz")),
        ("${FILE#${SHELL}}", Some("archive.tar.gz")),
        (r"${STARS#\*}", Some("*ab**")),
        (r"${STARS##\**}", Some("")),
        (r"${STARS%\*}", Some("**ab*")),
        (r"${STARS%%\*a*}", Some("*")),
        (r"${STARS%%\*b*}", Some("**ab**")),
        ("${NOPE#x}", Some("")),
        (r"${FILE#\x}", None),
        (r"${FILE%\}", None),
    ]);
}

#[test]
fn pattern_replacement() {
    check(&[
        ("${P/a/X}", Some("/X/b/a/c")),
        ("${P//a/X}", Some("/X/b/X/c")),
        (r"${P//\//:}", Some(":a:b:a:c")),
        ("${P/*/X}", Some("X")),
        ("${P//?/.}", Some("........")),
        ("${P/a\\/b/X}", Some("/X/a/c")),
        ("${P/$NOPE/X}", Some("X/a/b/a/c")),
        ("${P/a/}", Some("//b/a/c")),
        ("${P///}", Some("/a/b/a/c")),
        ("${NOPE///}", Some("")),
        ("${NOPE/a/b}", Some("")),
        // The replacement keeps raw escapes, as BuildKit's does.
        (r"${P//\//\/}", Some(r"\/a\/b\/a\/c")),
        // With `//`, Go regexp template rules apply to the replacement: `$0` is the match.
        (r"${P//a/<\$0>}", Some(r"/<\a>/b/<\a>/c")),
        (r"${P/a/<\$0>}", Some(r"/<\$0>/b/a/c")),
        ("${P//z}", None),
        ("${P//}", None),
        ("${P/a", None),
        (r"${P/\q/x}", None),
    ]);
}

#[test]
fn backtick_escape() {
    check_words(
        Expander::new('`'),
        &[
            ("a`$HOME", Some("a$HOME")),
            (r"C:\path\$HOME", Some(r"C:\path\/home/u")),
            ("\"a``b\"", Some("a`b")),
            ("\"a`\"b\"", Some("a\"b")),
            ("\"a`tb\"", Some("a`tb")),
            ("tail`", Some("tail")),
            ("a` b", Some("a b")),
        ],
    );
}

#[test]
fn words_split_on_unquoted_whitespace() {
    let vars = env();
    let table: &[(&str, &[&str])] = &[
        ("a b   c", &["a", "b", "c"]),
        ("  lead trail  ", &["lead", "trail"]),
        (r"a\ b", &["a b"]),
        (r#""a  b" c"#, &["a  b", "c"]),
        ("'a  b'c", &["a  bc"]),
        ("$SPACED", &["a", "b"]),
        (r#""$SPACED""#, &["a  b"]),
        ("x${LEAD}y", &["x", "x", "yy"]),
        (r#"x"${LEAD}" y"#, &["x  x y", "y"]),
        ("a \"\" b", &["a", "b"]),
        (r#"a\" b"#, &["a\"", "b"]),
        ("'$HOME' x", &["$HOME", "x"]),
        ("a${NOPE:-b}c d", &["abc", "d"]),
        ("cat << EOF", &["cat", "<< EOF"]),
        ("a<b", &["a<b"]),
        ("", &[]),
    ];
    let mut failures = Vec::new();
    for &(input, want) in table {
        match Expander::default().words(input, &vars) {
            Ok(got) if got == want => {}
            other => failures.push(format!("{input:?}: expected {want:?}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(Expander::default().words("a\" b", &vars).is_err());
}

#[test]
fn used_and_unset_variables_are_reported() {
    let vars = env();
    let got = Expander::default().word("${HOME} $NOPE ${EMPTY:-x} ${ALSO+y} '$QUOTED'", &vars).expect("expands");
    assert_eq!(got.value, "/home/u  x  $QUOTED");
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(got.used, set(&["EMPTY", "HOME"]));
    assert_eq!(got.unset, set(&["ALSO", "NOPE"]));
    // The operand is read (and its references recorded) even when the value makes it unnecessary.
    let got = Expander::default().word("${HOME:-$NOPE}", &vars).expect("expands");
    assert_eq!((got.used, got.unset), (set(&["HOME"]), set(&["NOPE"])));
}

#[test]
fn heredoc_bodies_keep_quotes() {
    let vars = env();
    let body = "echo \"$HOME\" '$SHELL' \\$HOME\n";
    let got = Expander::default().heredoc(body, &vars).expect("expands");
    assert_eq!(got.value, "echo \"/home/u\" 'sh' $HOME\n");
    // The escape character of a heredoc body is always a backslash.
    let got = Expander::new('`').heredoc("`$HOME \\$HOME", &vars).expect("expands");
    assert_eq!(got.value, "`/home/u $HOME");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let vars = env();
    let nested = |n: usize| format!("{}x{}", "${NOPE:-".repeat(n), "}".repeat(n));
    assert_eq!(Expander::default().word(&nested(199), &vars).expect("199 levels are fine").value, "x");
    let deep = Expander::default().word(&nested(100_000), &vars);
    assert!(matches!(deep, Err(ExpandError::TooDeep(_))), "{deep:?}");
}

#[test]
fn every_vars_source_works() {
    let pairs = vec![("A".to_string(), "1".to_string()), ("A".to_string(), "2".to_string())];
    let slice: &[(String, String)] = &pairs;
    let hash: HashMap<String, String> = [("A".to_string(), "3".to_string())].into_iter().collect();
    let tree: BTreeMap<String, String> = [("A".to_string(), "4".to_string())].into_iter().collect();
    let sources: [(&dyn Vars, &str); 4] = [(&pairs, "2"), (&slice, "2"), (&hash, "3"), (&tree, "4")];
    for (vars, want) in sources {
        assert_eq!(Expander::default().word("$A", vars).expect("expands").value, want);
        assert_eq!(vars.lookup("B"), None);
    }
}

/// Found by fuzzing (fuzz/fuzz_targets/word_expand.rs, an out-of-memory): each `${V//p/r}` inserts its
/// replacement once per match, and replacements nest, so a one-line word grew by a factor of `len(V)`
/// per level until the process ran out of memory. An expansion past the limit is now an error.
#[test]
fn fuzz_nested_replace_all_is_bounded() {
    let vars: BTreeMap<String, String> = [("LONG".to_string(), "a".repeat(1024))].into_iter().collect();
    // 1024 matches × 2 KiB replacement = 2 MiB, past the 1 MiB limit.
    let err = Expander::default().word("${LONG//a/${LONG}${LONG}}", &vars).unwrap_err();
    assert!(matches!(err, ExpandError::TooLong(super::MAX_EXPANSION)), "{err}");
    // An empty pattern matches between every character (as Go's regexp does): the same blow-up.
    let err = Expander::default().word("${LONG///${LONG//a/${LONG}}}", &vars).unwrap_err();
    assert!(matches!(err, ExpandError::TooLong(_)), "{err}");
    assert!(err.to_string().contains("1048576"), "{err}");
    // Below the limit nothing changes.
    assert_eq!(Expander::default().word("${LONG//a/bb}", &vars).unwrap().value, "bb".repeat(1024));
}

/// The same limit holds for a large variable repeated, quoted or not, in every mode.
#[test]
fn fuzz_repeated_large_variable_is_bounded() {
    let vars: BTreeMap<String, String> = [("X".to_string(), "x".repeat(400 * 1024))].into_iter().collect();
    let e = Expander::default();
    assert!(matches!(e.word("$X$X$X", &vars), Err(ExpandError::TooLong(_))));
    assert!(matches!(e.word("\"$X$X$X\"", &vars), Err(ExpandError::TooLong(_))));
    assert!(matches!(e.words("$X $X $X", &vars), Err(ExpandError::TooLong(_))));
    assert!(matches!(e.heredoc("$X\n$X\n$X\n", &vars), Err(ExpandError::TooLong(_))));
    assert_eq!(e.word("$X$X", &vars).unwrap().value.len(), 800 * 1024);
}
