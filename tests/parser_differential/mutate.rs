//! Deterministic mutations of Dockerfile texts for the differential test. Each operation is small and
//! aimed at one corner of the grammar; results need not be sensible Dockerfiles.

use super::Rng;

pub const COUNT: usize = 17;

pub fn apply(op: usize, text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let i = rng.below(lines.len());
    match op {
        // Split a line at a space with a continuation, the next part indented.
        0 => {
            if let Some(at) = pick_index(&lines[i], ' ', rng) {
                let indent = ["", " ", "  ", "\t", " \t "][rng.below(5)];
                let blank = ["", " ", "\t"][rng.below(3)];
                lines[i].replace_range(at..at + 1, &format!(" \\{blank}\n{indent}"));
            }
        }
        // Join a continued line with the next.
        1 => {
            if let Some(j) = lines.iter().position(|l| l.trim_end().ends_with('\\')) {
                let l = lines[j].trim_end().trim_end_matches('\\').to_string();
                lines[j] = l;
            }
        }
        // A comment, blank or whitespace-only line inside a continuation.
        2 => {
            if let Some(j) = nth_matching(&lines, |l| l.trim_end().ends_with('\\'), rng) {
                let filler = ["# comment \\\n", "\n", "   \n", "\t# indented comment\n", " \\\n"][rng.below(5)];
                lines.insert(j + 1, filler.to_string());
            }
        }
        // Odd blanks: tabs for spaces, runs of spaces, trailing and leading blanks.
        3 => {
            let l = &mut lines[i];
            match rng.below(4) {
                0 => *l = l.replacen(' ', "\t", 1),
                1 => *l = l.replacen(' ', "   ", 2),
                2 => {
                    let nl = l.ends_with('\n');
                    *l = format!("{}  \t{}", l.trim_end_matches('\n'), if nl { "\n" } else { "" });
                }
                _ => l.insert_str(0, [" ", "\t", "  \t"][rng.below(3)]),
            }
        }
        // Quotes around a word, or a stray quote.
        4 => {
            if let Some(at) = pick_index(&lines[i], ' ', rng) {
                let q = ["\"", "'"][rng.below(2)];
                let l = &mut lines[i];
                let end = l[at + 1..].find([' ', '\n']).map_or(l.len(), |e| at + 1 + e);
                if rng.below(4) == 0 {
                    l.insert_str(at + 1, q);
                } else {
                    l.insert_str(end, q);
                    l.insert_str(at + 1, q);
                }
            }
        }
        // An escape before some character.
        5 => {
            let l = &mut lines[i];
            let cut: Vec<usize> = l.char_indices().map(|(k, _)| k).filter(|&k| k > 0).collect();
            if !cut.is_empty() {
                let at = cut[rng.below(cut.len())];
                l.insert(at, '\\');
            }
        }
        // The backtick escape: directive on top, continuations turned into backticks.
        6 => {
            let body: String = lines.concat().replace("\\\n", "`\n").replace("\\ \n", "` \n");
            return format!("# escape=`\n{body}");
        }
        // A heredoc instruction inserted after some line.
        7 => {
            let docs = [
                "RUN <<EOF\necho hello\nEOF\n",
                "RUN <<-EOT bash -e\n\techo one\n\t\techo two\n\tEOT\n",
                "COPY <<a.txt <<\"b.txt\" /dst/\nalpha\na.txt\nbeta $X\nb.txt\n",
                "RUN 3<<'IN' cat <&3 > /out \\\n  && ls\nbody\nIN\n",
                "ADD --chmod=644 <<-'X' /x\n\t\tline\n\n\tX\n",
                "RUN python3 <<PY\nprint('<<EOF')\nPY\n",
                "RUN <<EOF\nno terminator here\n",
                "RUN echo \"<<EOF\" && cat <<E1\nx\nE1\n",
                "onbuild run <<EOF\ntrigger\nEOF\n",
                "RUN [\"sh\", \"-c\", \"cat <<EOF\"]\nnot a body\n",
                "COPY <<EOF\r\ncrlf body\r\nEOF\r\n",
            ];
            lines.insert(i + 1, docs[rng.below(docs.len())].to_string());
        }
        // Keyword case.
        8 => {
            let l = &mut lines[i];
            let word_end = l.find([' ', '\t', '\n']).unwrap_or(l.len());
            let word: String = l[..word_end]
                .chars()
                .map(|c| if rng.below(2) == 0 { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() })
                .collect();
            l.replace_range(..word_end, &word);
        }
        // CRLF line ends.
        9 => return lines.concat().replace('\n', "\r\n"),
        // Exec form, valid or broken.
        10 => {
            let forms = [
                "CMD [\"a\", \"b c\"]\n",
                "ENTRYPOINT [ \"/bin/sh\" , \"-c\" ]\n",
                "CMD ['single', 'quotes']\n",
                "RUN [\"unterminated\"\n",
                "CMD [\"nested\", [\"x\"]]\n",
                "SHELL [\"pwsh\", \"-Command\"]\n",
                "COPY [\"a b\", \"/dst/\"]\n",
                "VOLUME [\"/data\"]\n",
                "CMD [\"\\u00e9\\n\\/\", \"\\ud83d\\ude00\"]\n",
                "HEALTHCHECK --interval=5s CMD [\"curl\", \"-f\"]\n",
                "CMD [\"a\",]\n",
                "CMD [1]\n",
                "CMD []\n",
            ];
            lines.insert(i + 1, forms[rng.below(forms.len())].to_string());
        }
        // ENV, LABEL and ARG forms.
        11 => {
            let forms = [
                "ENV a=b c=\"d e\" f='g h'\n",
                "ENV legacy value with  spaces\n",
                "LABEL \"com.example.key\"=\"v\" other=1\n",
                "ENV a=b c\n",
                "ENV ONLYKEY\n",
                "ARG x y=\"1 2\" z=\n",
                "ARG\n",
                "ENV a\\ b=c\\ d e=f\\\n",
                "LABEL a=\"unterminated\n",
                "ENV x=\"a\\\"b\" y='c\\'\n",
            ];
            lines.insert(i + 1, forms[rng.below(forms.len())].to_string());
        }
        // Flags.
        12 => {
            let forms = [
                "COPY --chown=1:1 --from=build /a /b\n",
                "RUN --mount=type=cache,target=/root/.cache --network=none make\n",
                "COPY --from=\"a b\" x y\n",
                "ADD --checksum=sha256:abc -- --weird /dst\n",
                "COPY --link -- -- y\n",
                "RUN --mount=type=secret,id=a\\,b echo\n",
                "FROM --platform=$BUILDPLATFORM alpine AS build\n",
                "COPY --exclude='*.md' . /src\n",
                "RUN --\n",
            ];
            lines.insert(i + 1, forms[rng.below(forms.len())].to_string());
        }
        // ONBUILD around an instruction.
        13 => {
            if !lines[i].trim_start().starts_with('#') && !lines[i].trim().is_empty() {
                lines[i].insert_str(0, ["ONBUILD ", "onbuild  ", "ONBUILD\t"][rng.below(3)]);
            }
        }
        // A continuation, or a lone escape, at the end of the file.
        14 => {
            let mut t = lines.concat();
            while t.ends_with('\n') {
                t.pop();
            }
            return t + ["\\", " \\", "\n\\", "\\\n\n# c\n"][rng.below(4)];
        }
        // Drop a line (may cut a heredoc or a continuation short).
        15 => {
            lines.remove(i);
        }
        // An unknown instruction, or a line of only blanks and CRs.
        _ => {
            let forms = ["FOO bar baz\n", "frobnicate\n", " \t\r\n", "\\\n", "# escape=`\n", "STOPSIGNAL SIGKILL \n"];
            lines.insert(i + 1, forms[rng.below(forms.len())].to_string());
        }
    }
    lines.concat()
}

fn pick_index(line: &str, c: char, rng: &mut Rng) -> Option<usize> {
    let all: Vec<usize> = line.match_indices(c).map(|(k, _)| k).collect();
    (!all.is_empty()).then(|| all[rng.below(all.len())])
}

fn nth_matching(lines: &[String], f: impl Fn(&str) -> bool, rng: &mut Rng) -> Option<usize> {
    let all: Vec<usize> = (0..lines.len()).filter(|&k| f(&lines[k])).collect();
    (!all.is_empty()).then(|| all[rng.below(all.len())])
}
