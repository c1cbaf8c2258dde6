//! Every rule's declared examples, as tests: the bad Dockerfile must trigger the rule on the declared line,
//! the good one must not trigger it at all. The same examples are what `docs/lint/<CODE>.md` shows, so the
//! documentation cannot claim what the code does not do.
//!
//! Below the table-driven test are the behaviours around rules: pragmas, the `# check=` directive,
//! configuration, severities and the file-level cases.

use rbuild::context::IgnoreFile;
use rbuild::lint::{self, rules, Config, Finding, Input, Severity, Threshold};
use std::path::Path;

fn run(text: &str, config: &Config, dockerignore: &str) -> Vec<Finding> {
    let matcher = if dockerignore.is_empty() {
        None
    } else {
        Some(IgnoreFile::parse(dockerignore).expect("example .dockerignore parses").matcher().expect("compiles"))
    };
    lint::lint(&Input { file: "Dockerfile", text, dockerignore: matcher.as_ref() }, config)
}

fn example_config(rule: &rules::Rule) -> Config {
    Config::parse(rule.example.config, Path::new("example.yaml")).expect("example config parses")
}

fn lines_of(findings: &[Finding], code: &str) -> Vec<usize> {
    findings.iter().filter(|f| f.code == code).map(|f| f.line).collect()
}

#[test]
fn every_rule_triggers_on_its_bad_example_and_not_on_its_good_one() {
    let mut failures = Vec::new();
    let mut count = 0;
    for rule in rules::all() {
        count += 1;
        let config = example_config(rule);
        let ex = &rule.example;
        let bad = run(ex.bad, &config, ex.dockerignore);
        let bad_lines = lines_of(&bad, rule.code);
        if !bad_lines.contains(&ex.bad_line) {
            failures.push(format!(
                "{}: bad example should report line {}, reported {:?}\n  all findings: {:?}",
                rule.code, ex.bad_line, bad_lines, bad
            ));
        }
        let good = run(ex.good, &config, ex.dockerignore);
        let good_lines = lines_of(&good, rule.code);
        if !good_lines.is_empty() {
            failures
                .push(format!("{}: good example should not trigger it, reported on lines {:?}", rule.code, good_lines));
        }
    }
    assert!(failures.is_empty(), "{} rule example failure(s):\n{}", failures.len(), failures.join("\n"));
    assert!(count >= 25, "the issue asks for at least 25 rules, the table has {count}");
}

#[test]
fn codes_and_names_are_unique_and_hadolint_codes_keep_their_default_severity() {
    let all: Vec<&rules::Rule> = rules::all().collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert!(!a.code.eq_ignore_ascii_case(b.code), "duplicate code {}", a.code);
            assert!(!a.name.eq_ignore_ascii_case(b.name), "duplicate name {}", a.name);
        }
    }
    // The severities hadolint gives its rules (facts from ../shared/conformance/lint-rules/rules.json).
    let text = std::fs::read_to_string("../shared/conformance/lint-rules/rules.json")
        .expect("../shared/conformance/lint-rules/rules.json must be beside the checkout");
    let table: serde_json::Value = serde_json::from_str(&text).expect("rules.json is JSON");
    let mut checked = 0;
    for entry in table["rules"].as_array().expect("rules array") {
        let code = entry["code"].as_str().unwrap_or_default();
        if let Some(rule) = all.iter().find(|r| r.code == code) {
            assert_eq!(
                rule.severity.as_str(),
                entry["severity"].as_str().unwrap_or_default(),
                "{code}: default severity"
            );
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} rules share a hadolint code");
}

#[test]
fn inline_pragmas_silence_the_next_instruction_only() {
    let text = "FROM debian:12\n# hadolint ignore=DL3003,DL3059\nRUN cd /x\n# rbuild ignore=CdInRun\n# another comment\nRUN cd /y\nRUN cd /z\n";
    let f = run(text, &Config::default(), "");
    assert_eq!(lines_of(&f, "DL3003"), [7]);
}

#[test]
fn global_pragmas_and_check_directive() {
    let text = "FROM debian\nRUN cd /x\n# hadolint global ignore=DL3006\n";
    assert_eq!(lines_of(&run(text, &Config::default(), ""), "DL3006"), Vec::<usize>::new());
    assert_eq!(lines_of(&run(text, &Config::default(), ""), "DL3003"), [2]);

    let skip = "# check=skip=StageNameCasing,DL3003\nFROM debian:12 AS Build\nRUN cd /x\nCMD echo hi\n";
    let f = run(skip, &Config::default(), "");
    assert!(lines_of(&f, "StageNameCasing").is_empty() && lines_of(&f, "DL3003").is_empty(), "{f:?}");
    assert_eq!(lines_of(&f, "DL3025"), [4]);

    let all = "# check=skip=all\nFROM debian\nRUN cd /x\n";
    assert_eq!(run(all, &Config::default(), ""), []);

    let error = "# check=error=true\nFROM debian:12\nCMD echo hi\n";
    let f = run(error, &Config::default(), "");
    assert_eq!(f.iter().find(|f| f.code == "DL3025").map(|f| f.level), Some(Severity::Error));
}

#[test]
fn disable_ignore_pragma_in_config() {
    let text = "FROM debian:12\n# hadolint ignore=DL3003\nRUN cd /x\n";
    let config = Config::parse("disable-ignore-pragma: true\n", Path::new("c")).unwrap();
    assert_eq!(lines_of(&run(text, &config, ""), "DL3003"), [3]);
}

#[test]
fn config_ignores_and_overrides_severities() {
    let text = "FROM debian\nRUN cd /x\n";
    let config = Config::parse("ignored: [DL3006]\noverride:\n  error: [CdInRun]\n", Path::new("c")).unwrap();
    let f = run(text, &config, "");
    assert!(lines_of(&f, "DL3006").is_empty());
    assert_eq!(f.iter().find(|f| f.code == "DL3003").map(|f| f.level), Some(Severity::Error));
}

#[test]
fn aliases_reach_every_rule_that_answers_to_them() {
    let text = "FROM debian:12\nCMD [\"a\"]\nCMD [\"b\"]\nENTRYPOINT [\"a\"]\nENTRYPOINT [\"b\"]\n";
    assert_eq!(lines_of(&run(text, &Config::default(), ""), "DL4003"), [3]);
    let config = Config::parse("ignored: [MultipleInstructionsDisallowed]\n", Path::new("c")).unwrap();
    let f = run(text, &config, "");
    assert!(lines_of(&f, "DL4003").is_empty() && lines_of(&f, "DL4004").is_empty(), "{f:?}");
}

#[test]
fn a_file_that_does_not_parse_gives_one_dl1000() {
    let f = run("FROM debian:12\nRUN [\"a\", 1]\n", &Config::default(), "");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].code.as_str(), f[0].level, f[0].line), ("DL1000", Severity::Error, 2));
}

#[test]
fn thresholds_decide_failure() {
    let f = run(
        "FROM debian:12\nRUN apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n",
        &Config::default(),
        "",
    );
    assert_eq!(f.iter().map(|f| f.level).collect::<Vec<_>>(), [Severity::Warning]);
    assert!(Threshold::default().fails(&f));
    assert!("warning".parse::<Threshold>().unwrap().fails(&f));
    assert!(!"error".parse::<Threshold>().unwrap().fails(&f));
    assert!(!"none".parse::<Threshold>().unwrap().fails(&f));
}

#[test]
fn shell_rules_skip_non_posix_shells() {
    let text = "FROM mcr.microsoft.com/windows/servercore:ltsc2022\nSHELL [\"powershell\", \"-Command\"]\nRUN cd C:\\; Get-Item x | Out-Null\n";
    let f = run(text, &Config::default(), "");
    assert!(lines_of(&f, "DL3003").is_empty() && lines_of(&f, "DL4006").is_empty(), "{f:?}");
}

#[test]
fn heredoc_scripts_are_linted_and_heredoc_files_are_not() {
    let script = "FROM debian:12\nRUN <<EOF\nset -e\ncd /src\nEOF\n";
    assert_eq!(lines_of(&run(script, &Config::default(), ""), "DL3003"), [2]);
    let file = "FROM debian:12\nRUN cat <<EOF > /etc/motd\ncd is not run here\nEOF\n";
    assert!(lines_of(&run(file, &Config::default(), ""), "DL3003").is_empty());
}

#[test]
fn undefined_var_knows_arg_scope() {
    let text =
        "ARG V=1\nFROM scratch\nCOPY a-$V /x\nARG V\nCOPY b-$V /y\nENV HOME=/root\nWORKDIR $HOME\nUSER $NOBODY\n";
    let f = run(text, &Config::default(), "");
    assert_eq!(lines_of(&f, "UndefinedVar"), [3, 8], "{f:?}");
}

#[test]
fn hostile_run_text_never_panics() {
    // A small deterministic generator over the characters the shell reader treats specially.
    const ALPHABET: &[char] = &[
        'a', 'p', 't', '-', ' ', ' ', '\t', '\\', '\'', '"', '$', '(', ')', '{', '}', '`', '|', '&', ';', '<', '>',
        '#', '=', '/', '*', '2', 'é', '\n',
    ];
    let mut seed: u64 = 0x5eed;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..400 {
        let len = next() % 40;
        let body: String = (0..len).map(|_| ALPHABET[next() % ALPHABET.len()]).collect();
        let text = format!("FROM debian:12\nRUN {body}\nRUN apt-get install {body}\n");
        let _ = run(&text, &Config::default(), "");
        let heredoc = format!("FROM debian:12\nRUN <<EOF\n{body}\nEOF\n");
        let _ = run(&heredoc, &Config::default(), "");
    }
}
