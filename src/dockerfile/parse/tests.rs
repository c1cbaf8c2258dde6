//! Unit tests for the parser: heredocs, continuations, directives, exec form, flags, errors.

use super::parse;
use crate::dockerfile::ast::{Dockerfile, Instruction, Keyword};
use crate::dockerfile::dump::dump;

fn ok(text: &str) -> Dockerfile {
    parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn only(text: &str) -> Instruction {
    let mut file = ok(&format!("FROM a\n{text}"));
    assert_eq!(file.instructions.len(), 2, "{text:?} gave {:#?}", file.instructions);
    file.instructions.pop().unwrap()
}

/// The second instruction of `FROM a\n{text}` (more may follow).
fn second(text: &str) -> Instruction {
    ok(&format!("FROM a\n{text}")).instructions.swap_remove(1)
}

fn err(text: &str) -> super::ParseError {
    match parse(text) {
        Ok(file) => panic!("{text:?} parsed: {file:#?}"),
        Err(e) => e,
    }
}

fn lines(i: &Instruction) -> (usize, usize) {
    (i.location.start_line, i.location.end_line)
}

#[test]
fn heredoc_basic() {
    let i = second("RUN <<EOF\necho hi\nEOF\nCMD x");
    assert_eq!(i.args, ["<<EOF"]);
    assert_eq!(i.heredocs.len(), 1);
    let h = &i.heredocs[0];
    assert_eq!(
        (h.name.as_str(), h.content.as_str(), h.expand, h.chomp, h.file_descriptor),
        ("EOF", "echo hi\n", true, false, 0)
    );
    assert_eq!(lines(&i), (2, 4));
    assert_eq!(i.original, "RUN <<EOF\necho hi\nEOF\n");
}

#[test]
fn heredoc_quoted_delimiters_do_not_expand() {
    for marker in ["<<\"EOF\"", "<<'EOF'", "<<E\"O\"F", "<<-'EOF'"] {
        let i = only(&format!("RUN {marker}\n$X\nEOF\n"));
        assert_eq!(i.heredocs[0].name, "EOF", "{marker}");
        assert!(!i.heredocs[0].expand, "{marker}");
    }
    assert!(only("RUN <<EOF\n$X\nEOF\n").heredocs[0].expand);
}

#[test]
fn heredoc_chomp_strips_leading_tabs_of_body_and_terminator() {
    let i = only("RUN <<-EOT\n\techo one\n\t\t  two\n\n\tEOT\n");
    let h = &i.heredocs[0];
    assert!(h.chomp);
    assert_eq!(h.content, "echo one\n  two\n\n");
    assert_eq!(lines(&i), (2, 6));
    // Without `-`, a tab-indented terminator is body.
    assert!(parse("FROM a\nRUN <<EOT\n\tEOT\n").is_err());
}

#[test]
fn several_heredocs_on_one_line_are_read_in_order() {
    let i = second("COPY <<a.txt 3<<\"b.txt\" <<-c /dst/\nalpha\na.txt\nbeta\nb.txt\n\tgamma\n\tc\nRUN x");
    let got: Vec<(&str, &str, u32, bool)> =
        i.heredocs.iter().map(|h| (h.name.as_str(), h.content.as_str(), h.file_descriptor, h.expand)).collect();
    assert_eq!(got, [("a.txt", "alpha\n", 0, true), ("b.txt", "beta\n", 3, false), ("c", "gamma\n", 0, true)]);
    assert_eq!(i.args, ["<<a.txt", "3<<\"b.txt\"", "<<-c", "/dst/"]);
    assert_eq!(lines(&i), (2, 8));
}

#[test]
fn heredoc_marker_on_a_continued_line_body_after_the_last_line() {
    let i = only("RUN --mount=type=cache,target=/c \\\n  <<EOT\nbody\nEOT\n");
    assert_eq!(i.flags, ["--mount=type=cache,target=/c"]);
    assert_eq!(i.heredocs[0].content, "body\n");
    assert_eq!(lines(&i), (2, 5));
}

#[test]
fn heredoc_only_where_buildkit_sees_one() {
    // Quoted `<<`, exec form, other instructions, `<<<`, and lines the shell lexer cannot split.
    for text in [
        "RUN echo \"<<EOF\"",
        "RUN [\"cat\", \"<<EOF\"]",
        "CMD cat <<EOF",
        "RUN cat <<<EOF",
        "RUN cat <<EOF it's unbalanced",
        "RUN cat <<",
    ] {
        let file = ok(&format!("FROM a\n{text}\nEOF\n"));
        assert!(file.instructions.iter().all(|i| i.heredocs.is_empty()), "{text}");
        assert_eq!(file.instructions.len(), 3, "{text}");
    }
    // A blank after `<<` still names the delimiter (today's BuildKit).
    assert_eq!(only("RUN cat << EOF\nx\nEOF\n").heredocs[0].name, "EOF");
}

#[test]
fn onbuild_heredoc_goes_to_the_sub_instruction() {
    let i = only("ONBUILD RUN <<EOF\ntrigger\nEOF\n");
    let sub = i.sub.as_deref().unwrap();
    assert_eq!(sub.heredocs[0].content, "trigger\n");
    assert!(i.heredocs.is_empty());
    assert_eq!(lines(&i), (2, 4));
    assert_eq!(sub.original, "RUN <<EOF\ntrigger\nEOF\n");
}

#[test]
fn heredoc_crlf() {
    let i = only("COPY <<EOF /x\r\nbody\r\nEOF\r\n");
    assert_eq!(i.args, ["<<EOF", "/x"]);
    assert_eq!(i.heredocs[0].content, "body\r\n");
}

#[test]
fn unterminated_heredoc_points_at_its_marker() {
    let e = err("FROM a\nRUN echo \\\n  <<EOF\nno end\n");
    assert_eq!(e.message, "unterminated heredoc <<EOF started on line 3");
    assert_eq!((e.line, e.column), (3, 3));
    assert_eq!(e.source_line, "  <<EOF");
    let e = err("FROM a\nCOPY <<A <<-B /d\na\nA\n\tb\n");
    assert_eq!(e.message, "unterminated heredoc <<-B started on line 2");
}

#[test]
fn continuations() {
    let cases = [
        ("RUN a \\\n  b", "a   b"),
        ("RUN a\\\nb", "ab"),
        ("RUN a \\  \t\n b", "a  b"),
        ("RUN a \\\n# comment\n\n   \n  c", "a   c"),
        ("RUN a \\\n \\\n b", "a   b"),
        ("RUN \\\n\\\n  c", "c"),
        ("RUN x\\\\", "x\\\\"),
        ("RUN x\\\\\\", "x\\\\\\"),
        ("RUN last \\", "last"),
        ("RUN a\\\r\nb\r\n", "ab"),
    ];
    for (text, arg) in cases {
        assert_eq!(only(text).args, [arg], "{text:?}");
    }
    let i = second("RUN a \\\n\n# c\n  b\nCMD x");
    assert_eq!(lines(&i), (2, 5));
}

#[test]
fn empty_continuation_lines_warn() {
    let file = ok("FROM a\nRUN a \\\n\n b\n");
    assert_eq!(file.warnings.len(), 1);
    assert_eq!(file.warnings[0].line, 4);
    assert!(file.warnings[0].message.starts_with("Empty continuation line found in: RUN a  b"));
}

#[test]
fn escape_directive() {
    let file =
        ok("# syntax=docker/dockerfile:1\n# ESCAPE = `\nFROM a\nRUN dir c:\\ `\n  && b\nCOPY --chown=a`:b x y\n");
    assert_eq!(file.directives.escape, '`');
    assert_eq!(file.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(file.instructions[1].args, ["dir c:\\   && b"]);
    assert_eq!(file.instructions[2].flags, ["--chown=a:b"]);
    // After any other line, `# escape=` is a comment.
    assert_eq!(ok("# hello\n# escape=`\nFROM a\nRUN a`\n").directives.escape, '\\');
    assert_eq!(ok("\u{feff}# check=skip=all\nFROM a\n").directives.check.as_deref(), Some("skip=all"));
}

#[test]
fn directive_errors() {
    let e = err("# escape=x\nFROM a\n");
    assert_eq!(e.message, "invalid escape token 'x' does not match ` or \\");
    assert_eq!(e.line, 1);
    let e = err("# syntax=a\n# syntax=b\nFROM a\n");
    assert_eq!((e.line, e.message.as_str()), (2, "only one syntax parser directive can be used"));
    // `# escape=` followed only by blanks takes the last blank as its value (RE2's lazy `.+?`).
    assert!(err("# escape=  \nFROM a\n").message.starts_with("invalid escape token ' '"));
}

#[test]
fn json_and_fallback() {
    let i = only("CMD [\"a\", \"b c\", \"\\u00e9\\/\\ud83d\\ude00\", \"\\ud800\"]");
    assert!(i.json);
    assert_eq!(i.args, ["a", "b c", "é/😀", "\u{fffd}"]);
    assert!(only("CMD []").args.is_empty() && only("CMD []").json);
    for shell in ["CMD ['a']", "CMD [\"a\"", "CMD [\"a\",]", "CMD [\"a\"] b", "CMD [1e400]", "CMD \"[\\\"a\\\"]\""] {
        let i = only(shell);
        assert!(!i.json, "{shell}");
        assert_eq!(i.args, [&shell[4..]], "{shell}");
    }
    assert_eq!(only("COPY [\"a b\", \"/d\"]").args, ["a b", "/d"]);
    assert_eq!(only("VOLUME /a\t/b").args, ["/a", "/b"]);
    let e = err("FROM a\nCMD [\"a\", [\"b\"]]\n");
    assert_eq!(
        (e.line, e.message.as_str()),
        (2, "when using JSON array syntax, arrays must be comprised of strings only")
    );
}

#[test]
fn flags() {
    let i = only("COPY --from=\"a b\" --chown='x' --x=a\\ b -- --not-a-flag /d");
    assert_eq!(i.flags, ["--from=a b", "--chown=x", "--x=a b"]);
    assert_eq!(i.args, ["--not-a-flag", "/d"]);
    assert_eq!(only("CMD --doit [ \"a\" ]").args, ["a"]);
    assert_eq!(only("RUN --").args, Vec::<String>::new());
    assert_eq!(only("RUN --network=none -x").args, ["-x"]);
}

#[test]
fn env_label_arg() {
    assert_eq!(only("ENV a=b c=\"d e\"").args, ["a", "b", "=", "c", "\"d e\"", "="]);
    assert_eq!(only("ENV name some  value").args, ["name", "some  value", ""]);
    assert_eq!(only("LABEL \"k\"=v").args, ["\"k\"", "v", "="]);
    assert_eq!(only("ARG a b=\"1 2\" c=").args, ["a", "b=\"1 2\"", "c="]);
    assert_eq!(only("ARG a\\").args, ["a"]);
    assert!(only("ENV").args.is_empty());
    assert_eq!(err("FROM a\nENV PATH\n").message, "ENV must have two arguments");
    assert_eq!(err("FROM a\nLABEL x\n").message, "LABEL must have two arguments");
    assert_eq!(err("FROM a\nENV =x\n").message, "ENV names can not be blank");
    let e = err("FROM a\nENV a=b c\n");
    assert_eq!(e.message, "Syntax error - can't find = in \"c\". Must be of the form: name=value");
    assert_eq!((e.line, e.column), (2, 1));
}

#[test]
fn keywords_onbuild_healthcheck_unknown() {
    let i = only("onBuild run --mount=x echo hi");
    assert_eq!((i.keyword.as_str(), i.kind), ("onBuild", Keyword::Onbuild));
    let sub = i.sub.as_deref().unwrap();
    assert_eq!(
        (sub.kind, sub.flags.clone(), sub.args.clone()),
        (Keyword::Run, vec!["--mount=x".to_string()], vec!["echo hi".to_string()])
    );
    assert_eq!(only("HEALTHCHECK CMD [\"a\"]").args, ["CMD", "a"]);
    assert!(only("HEALTHCHECK").args.is_empty());
    let i = only("FROBNICATE a b");
    assert_eq!((i.kind, i.args.clone()), (Keyword::Unknown, vec![String::new()]));
}

#[test]
fn file_level_errors() {
    assert_eq!(err("").message, "file with no instructions");
    assert_eq!(err("# only\n\n# comments\n").message, "file with no instructions");
    let long = format!("FROM a\nRUN {}\n", "x".repeat(70_000));
    let e = err(&long);
    assert_eq!((e.line, e.message.as_str()), (2, "dockerfile line greater than max allowed size of 65535"));
}

#[test]
fn dump_matches_buildkit_shape() {
    let file = ok("FROM a\nCOPY --from=b x y\nONBUILD RUN [\"echo\", \"t\\u0001\"]\nENV k v\nCMD\n");
    let want = "(from \"a\")\n(copy [\"--from=b\"] \"x\" \"y\")\n(onbuild (run \"echo\" \"t\\x01\"))\n(env \"k\" \"v\" \"\")\n(cmd)";
    assert_eq!(dump(&file), want);
}

#[test]
fn quote_is_go_strconv_quote() {
    use crate::dockerfile::dump::quote;
    assert_eq!(quote("a\"b\\c\n\t\u{7}\u{0}\u{7f}"), "\"a\\\"b\\\\c\\n\\t\\a\\x00\\x7f\"");
    assert_eq!(quote("♥ é \u{a0}\u{200b}\u{e000}😀"), "\"♥ é \\u00a0\\u200b\\ue000😀\"");
}
