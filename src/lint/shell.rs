//! A reader for the POSIX shell text of RUN instructions, enough for lint rules to see commands and their
//! words: quotes are removed, `$(...)` and backticks are read as nested scripts, redirections and
//! heredoc bodies are set aside, and control words (`if`, `then`, `do`, `case ... in pat)`, ...) are
//! peeled off so that `if [ -x y ]; then apt-get install z; fi` yields the commands `[`, `apt-get`.
//!
//! It never executes or expands anything: `$VAR` stays in the word as written, and a word that holds an
//! expansion says so, because rules must not guess what a variable holds (a package list in `$PKGS`
//! is neither pinned nor unpinned as far as a linter can tell).

/// One word of a command, after quote removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// True when the word contains `$...` or a backtick substitution.
    pub has_expansion: bool,
}

/// A simple command: its words after leading `NAME=value` assignments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command {
    pub assignments: Vec<String>,
    pub words: Vec<Word>,
    /// True when the command is one side of a pipe (`a | b`).
    pub piped: bool,
}

impl Command {
    /// The command name: the first word, with any directory stripped (`/usr/bin/apt-get` → `apt-get`).
    pub fn name(&self) -> &str {
        self.words.first().map(|w| w.text.rsplit('/').next().unwrap_or(&w.text)).unwrap_or("")
    }

    /// The words after the command name.
    pub fn args(&self) -> &[Word] {
        self.words.get(1..).unwrap_or(&[])
    }

    /// True when some argument is one of `flags` (`-y`, `--yes`); a short flag also counts when it is part
    /// of a bundle such as `-qy`.
    pub fn has_flag(&self, flags: &[&str]) -> bool {
        self.args().iter().any(|w| flag_matches(&w.text, flags))
    }

    /// The first argument that is not an option, skipping the values of options listed in `with_value`
    /// (e.g. `-o` in `apt-get -o X install`): the subcommand of `apt-get install`, `pip install`, ...
    pub fn subcommand(&self, with_value: &[&str]) -> Option<&str> {
        self.operands(with_value).first().map(|w| w.text.as_str())
    }

    /// Arguments that are not options, in order; `with_value` names options whose next word is their value.
    pub fn operands(&self, with_value: &[&str]) -> Vec<&Word> {
        let mut out = Vec::new();
        let mut args = self.args().iter();
        let mut options_done = false;
        while let Some(w) = args.next() {
            let t = w.text.as_str();
            if options_done || !t.starts_with('-') || t == "-" {
                out.push(w);
            } else if t == "--" {
                options_done = true;
            } else if with_value.contains(&t) {
                args.next();
            }
        }
        out
    }
}

/// True when `word` is one of `flags`, or a bundle of short options containing one of the one-letter flags.
pub fn flag_matches(word: &str, flags: &[&str]) -> bool {
    if flags.contains(&word) {
        return true;
    }
    let long_with_value = word.split_once('=').map(|(k, _)| k);
    if let Some(k) = long_with_value {
        if k.starts_with("--") && flags.contains(&k) {
            return true;
        }
    }
    match word.strip_prefix('-') {
        Some(bundle)
            if !bundle.starts_with('-') && bundle.len() > 1 && bundle.chars().all(|c| c.is_ascii_alphabetic()) =>
        {
            flags.iter().filter_map(|f| f.strip_prefix('-')).filter(|f| f.len() == 1).any(|f| bundle.contains(f))
        }
        _ => false,
    }
}

/// Everything the reader found in one script, nested substitutions included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    pub commands: Vec<Command>,
    /// True when the script has a pipe (`|`, not `||`) anywhere.
    pub has_pipe: bool,
}

impl Script {
    /// Commands named `name` (e.g. every `apt-get`).
    pub fn named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Command> + 's {
        self.commands.iter().filter(move |c| c.name() == name)
    }

    /// True when some command is named `name`.
    pub fn runs(&self, name: &str) -> bool {
        self.named(name).next().is_some()
    }

    fn append(&mut self, other: Script) {
        self.has_pipe |= other.has_pipe;
        self.commands.extend(other.commands);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(Word),
    Op(&'static str),
}

/// Read `text` as shell commands.
pub fn parse_script(text: &str) -> Script {
    let mut lexer = Lexer { chars: text.chars().collect(), pos: 0, subs: Vec::new(), heredocs: Vec::new() };
    let tokens = lexer.tokens();
    let mut script = assemble(tokens);
    for sub in std::mem::take(&mut lexer.subs) {
        script.append(parse_script(&sub));
    }
    script
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    /// Bodies of `$(...)` and backtick substitutions met so far, read as scripts of their own.
    subs: Vec<String>,
    /// Heredoc delimiters waiting for the end of the line: (delimiter, strip leading tabs).
    heredocs: Vec<(String, bool)>,
}

const OPERATORS: &[&str] = &["&&", "||", ";;", "|&", "|", ";", "&", "(", ")"];

impl Lexer {
    fn peek(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(i, c)| self.peek(i) == Some(c))
    }

    fn tokens(&mut self) -> Vec<Token> {
        let mut out = Vec::new();
        loop {
            self.skip_blanks();
            let Some(c) = self.peek(0) else { break };
            if c == '\n' {
                self.pos += 1;
                self.skip_heredoc_bodies();
                out.push(Token::Op("\n"));
                continue;
            }
            if c == '#' {
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
                continue;
            }
            if c == '<' || c == '>' || (c == '&' && self.peek(1) == Some('>')) {
                self.redirection();
                continue;
            }
            if let Some(op) = OPERATORS.iter().find(|op| self.starts_with(op)) {
                self.pos += op.len();
                out.push(Token::Op(op));
                continue;
            }
            let word = self.word();
            // `2>file`: a word of digits glued to a redirection is a file descriptor, not an argument.
            if matches!(self.peek(0), Some('<' | '>'))
                && !word.text.is_empty()
                && word.text.chars().all(|c| c.is_ascii_digit())
            {
                self.redirection();
                continue;
            }
            out.push(Token::Word(word));
        }
        out
    }

    fn skip_blanks(&mut self) {
        loop {
            match self.peek(0) {
                Some(' ' | '\t' | '\r') => self.pos += 1,
                Some('\\') if self.peek(1) == Some('\n') => self.pos += 2,
                _ => break,
            }
        }
    }

    /// A redirection operator and its target word, both dropped; `<<WORD` also schedules a heredoc body.
    fn redirection(&mut self) {
        let ops = ["&>>", "<<<", "<<-", "&>", ">>", ">&", "<&", "<>", ">|", "<<", "<", ">"];
        let op = ops.iter().find(|op| self.starts_with(op)).copied().unwrap_or(">");
        self.pos += op.len();
        self.skip_blanks();
        if self.peek(0).is_none_or(|c| c == '\n') {
            return;
        }
        let target = self.word();
        if op == "<<" || op == "<<-" {
            self.heredocs.push((target.text, op == "<<-"));
        }
    }

    fn skip_heredoc_bodies(&mut self) {
        for (delim, strip_tabs) in std::mem::take(&mut self.heredocs) {
            while self.pos < self.chars.len() {
                let start = self.pos;
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
                let line: String = self.chars[start..self.pos].iter().collect();
                if self.peek(0) == Some('\n') {
                    self.pos += 1;
                }
                let line = if strip_tabs { line.trim_start_matches('\t') } else { line.as_str() };
                if line == delim {
                    break;
                }
            }
        }
    }

    fn word(&mut self) -> Word {
        let mut w = Word { text: String::new(), has_expansion: false };
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>' => break,
                '\\' => {
                    self.pos += 1;
                    match self.peek(0) {
                        Some('\n') => self.pos += 1,
                        Some(n) => {
                            w.text.push(n);
                            self.pos += 1;
                        }
                        None => w.text.push('\\'),
                    }
                }
                '\'' => {
                    self.pos += 1;
                    while let Some(n) = self.peek(0) {
                        self.pos += 1;
                        if n == '\'' {
                            break;
                        }
                        w.text.push(n);
                    }
                }
                '"' => {
                    self.pos += 1;
                    self.double_quoted(&mut w);
                }
                '$' => self.dollar(&mut w),
                '`' => self.backtick(&mut w),
                _ => {
                    w.text.push(c);
                    self.pos += 1;
                }
            }
        }
        w
    }

    fn double_quoted(&mut self, w: &mut Word) {
        while let Some(c) = self.peek(0) {
            match c {
                '"' => {
                    self.pos += 1;
                    return;
                }
                '\\' => {
                    self.pos += 1;
                    match self.peek(0) {
                        Some('\n') => self.pos += 1,
                        Some(n @ ('$' | '`' | '"' | '\\')) => {
                            w.text.push(n);
                            self.pos += 1;
                        }
                        _ => w.text.push('\\'),
                    }
                }
                '$' => self.dollar(w),
                '`' => self.backtick(w),
                _ => {
                    w.text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `$NAME`, `${...}`, `$(...)` or `$((...))`, kept verbatim in the word.
    fn dollar(&mut self, w: &mut Word) {
        self.pos += 1;
        match self.peek(0) {
            Some('(') => {
                let body = self.balanced('(', ')');
                w.text.push('$');
                w.text.push_str(&body);
                w.has_expansion = true;
                if let Some(inner) = body.strip_prefix('(').and_then(|b| b.strip_suffix(')')) {
                    // `$((1+2))` is arithmetic, not a command.
                    if !(inner.starts_with('(') && inner.ends_with(')')) {
                        self.subs.push(inner.to_string());
                    }
                }
            }
            Some('{') => {
                let body = self.balanced('{', '}');
                w.text.push('$');
                w.text.push_str(&body);
                w.has_expansion = true;
            }
            Some(c) if c.is_ascii_alphanumeric() || "_@*#?$!-".contains(c) => {
                w.text.push('$');
                w.has_expansion = true;
                if c.is_ascii_alphabetic() || c == '_' {
                    while let Some(n) = self.peek(0).filter(|n| n.is_ascii_alphanumeric() || *n == '_') {
                        w.text.push(n);
                        self.pos += 1;
                    }
                } else {
                    w.text.push(c);
                    self.pos += 1;
                }
            }
            _ => w.text.push('$'),
        }
    }

    fn backtick(&mut self, w: &mut Word) {
        self.pos += 1;
        let mut body = String::new();
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            match c {
                '`' => break,
                '\\' => {
                    if let Some(n) = self.peek(0) {
                        body.push(n);
                        self.pos += 1;
                    }
                }
                _ => body.push(c),
            }
        }
        w.text.push('`');
        w.text.push_str(&body);
        w.text.push('`');
        w.has_expansion = true;
        self.subs.push(body);
    }

    /// Text from an `open` character to its matching `close`, both included, minding quotes.
    fn balanced(&mut self, open: char, close: char) -> String {
        let mut out = String::new();
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            out.push(c);
            match quote {
                Some(q) => {
                    if c == '\\' && q == '"' {
                        if let Some(n) = self.peek(0) {
                            out.push(n);
                            self.pos += 1;
                        }
                    } else if c == q {
                        quote = None;
                    }
                }
                None => {
                    if c == '\\' {
                        if let Some(n) = self.peek(0) {
                            out.push(n);
                            self.pos += 1;
                        }
                    } else if c == '\'' || c == '"' {
                        quote = Some(c);
                    } else if c == open {
                        depth += 1;
                    } else if c == close {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            break;
                        }
                    }
                }
            }
        }
        out
    }
}

/// Words that open or continue a compound command; peeled off the front of a command.
const LEADING_KEYWORDS: &[&str] = &["if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"];
/// Words that close a compound command; a command made of one of them is dropped.
const CLOSING_KEYWORDS: &[&str] = &["fi", "done", "}", "esac"];

/// Where the assembler is inside `case ... in ... esac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaseState {
    /// Between `case` and `in`.
    Subject,
    /// Reading a pattern list up to `)`.
    Pattern,
    /// Reading the commands of one branch up to `;;`.
    Body,
}

/// Group tokens into commands, dropping compound-command syntax.
fn assemble(tokens: Vec<Token>) -> Script {
    let mut script = Script::default();
    let mut cur = Command::default();
    let mut next_piped = false;
    let mut cases: Vec<CaseState> = Vec::new();
    for tok in tokens {
        match (cases.last().copied(), tok) {
            (Some(CaseState::Subject), Token::Word(w)) => {
                if w.text == "in" {
                    if let Some(s) = cases.last_mut() {
                        *s = CaseState::Pattern;
                    }
                }
            }
            (Some(CaseState::Pattern), Token::Word(w)) => {
                if w.text == "esac" {
                    cases.pop();
                }
            }
            (Some(CaseState::Pattern), Token::Op(op)) => {
                if op == ")" {
                    if let Some(s) = cases.last_mut() {
                        *s = CaseState::Body;
                    }
                }
            }
            (Some(CaseState::Subject), Token::Op(_)) => {}
            (_, Token::Word(w)) => {
                if cur.words.is_empty() && LEADING_KEYWORDS.contains(&w.text.as_str()) {
                    continue;
                }
                if cur.words.is_empty() && w.text == "case" {
                    cases.push(CaseState::Subject);
                    continue;
                }
                if cur.words.is_empty() && w.text == "esac" && cases.last() == Some(&CaseState::Body) {
                    cases.pop();
                    continue;
                }
                if cur.words.is_empty() && is_assignment(&w.text) {
                    cur.assignments.push(w.text);
                } else {
                    cur.words.push(w);
                }
            }
            (state, Token::Op(op)) => {
                let piped = op == "|" || op == "|&";
                script.has_pipe |= piped;
                cur.piped = next_piped || piped;
                next_piped = piped;
                finish(&mut script, std::mem::take(&mut cur));
                if op == ";;" && state == Some(CaseState::Body) {
                    if let Some(s) = cases.last_mut() {
                        *s = CaseState::Pattern;
                    }
                }
            }
        }
    }
    cur.piped = next_piped;
    finish(&mut script, cur);
    script
}

fn finish(script: &mut Script, cmd: Command) {
    if cmd.words.is_empty() && cmd.assignments.is_empty() {
        return;
    }
    match cmd.words.first().map(|w| w.text.as_str()) {
        Some("for" | "select") => {}
        Some(w) if CLOSING_KEYWORDS.contains(&w) && cmd.words.len() == 1 => {}
        _ => script.commands.push(cmd),
    }
}

/// `NAME=value` (a shell variable assignment), as opposed to an argument like `--x=y` or `a=b/c` after a
/// command name.
fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        parse_script(text).commands.iter().map(|c| c.name().to_string()).collect()
    }

    fn words(c: &Command) -> Vec<&str> {
        c.words.iter().map(|w| w.text.as_str()).collect()
    }

    #[test]
    fn splits_on_operators_and_removes_quotes() {
        let s = parse_script(r#"apt-get update && apt-get install -y "curl" 'git'; echo a\ b || true"#);
        assert_eq!(s.commands.len(), 4);
        assert_eq!(words(&s.commands[1]), ["apt-get", "install", "-y", "curl", "git"]);
        assert_eq!(words(&s.commands[2]), ["echo", "a b"]);
        assert!(!s.has_pipe);
    }

    #[test]
    fn pipes_are_seen_and_marked() {
        let s = parse_script("curl -fsSL x | tar -xz && ls");
        assert!(s.has_pipe);
        assert_eq!(s.commands.iter().map(|c| c.piped).collect::<Vec<_>>(), [true, true, false]);
    }

    #[test]
    fn control_words_and_case_branches_are_peeled() {
        assert_eq!(names("if [ -f x ]; then cd /a; else sudo b; fi"), ["[", "cd", "sudo"]);
        assert_eq!(names("for f in a b; do rm $f; done"), ["rm"]);
        let case = "case \"$arch\" in amd64|x86_64) url=a ;; arm64) wget x ;; *) echo no; exit 1 ;; esac; make";
        assert_eq!(names(case), ["", "wget", "echo", "exit", "make"]);
        assert!(!parse_script(case).has_pipe, "a `|` between case patterns is not a pipe");
    }

    #[test]
    fn substitutions_are_read_as_scripts_and_redirections_dropped() {
        let s = parse_script("echo \"$(cd /x && pwd)\" > /out 2>&1; x=`sudo id`");
        assert_eq!(names("echo \"$(cd /x && pwd)\" > /out 2>&1; x=`sudo id`"), ["echo", "", "cd", "pwd", "sudo"]);
        assert_eq!(words(&s.commands[0]), ["echo", "$(cd /x && pwd)"]);
        assert!(s.commands[0].words[1].has_expansion);
        assert_eq!(s.commands[1].assignments, ["x=`sudo id`"]);
    }

    #[test]
    fn heredoc_bodies_inside_scripts_are_skipped() {
        assert_eq!(names("cat <<EOF > /etc/x\nsudo not-a-command\nEOF\napk add y"), ["cat", "apk"]);
    }

    #[test]
    fn comments_and_continuations() {
        assert_eq!(names("set -eux; \\\n  apt-get update # refresh\n"), ["set", "apt-get"]);
    }

    #[test]
    fn flags_operands_and_bundles() {
        let s = parse_script("apt-get -o Dpkg::Options::=--force-confnew -qy install --no-install-recommends a b=1");
        let c = &s.commands[0];
        assert!(c.has_flag(&["-y", "--yes"]));
        assert!(!c.has_flag(&["-f"]));
        assert_eq!(c.subcommand(&["-o"]), Some("install"));
        let ops: Vec<&str> = c.operands(&["-o"]).iter().map(|w| w.text.as_str()).collect();
        assert_eq!(ops, ["install", "a", "b=1"]);
        assert!(flag_matches("--progress=dot", &["--progress"]));
    }
}
