//! Character classes as Go's regexp defines them (ASCII Perl and POSIX classes), and how a class or a
//! literal is written for Rust's `regex`: every endpoint as an `\x{..}` escape, so no character can take
//! on a Rust-only meaning (`&&`, `--`, `~~`, nested `[`).

pub(super) const MAX_RUNE: u32 = 0x10FFFF;

/// Inclusive ranges of code points, as Go's class parser collects them.
pub(super) type Ranges = Vec<(u32, u32)>;

/// Go's Perl classes (ASCII only): the ranges and whether the class is negated.
pub(super) fn perl_class(c: char) -> Option<(&'static [(u32, u32)], bool)> {
    const DIGIT: &[(u32, u32)] = &[(0x30, 0x39)];
    const SPACE: &[(u32, u32)] = &[(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)];
    const WORD: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)];
    match c {
        'd' => Some((DIGIT, false)),
        'D' => Some((DIGIT, true)),
        's' => Some((SPACE, false)),
        'S' => Some((SPACE, true)),
        'w' => Some((WORD, false)),
        'W' => Some((WORD, true)),
        _ => None,
    }
}

/// Go's POSIX classes (ASCII only).
pub(super) fn posix(name: &str) -> Option<&'static [(u32, u32)]> {
    Some(match name {
        "alnum" => &[(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
        "alpha" => &[(0x41, 0x5A), (0x61, 0x7A)],
        "ascii" => &[(0x00, 0x7F)],
        "blank" => &[(0x09, 0x09), (0x20, 0x20)],
        "cntrl" => &[(0x00, 0x1F), (0x7F, 0x7F)],
        "digit" => &[(0x30, 0x39)],
        "graph" => &[(0x21, 0x7E)],
        "lower" => &[(0x61, 0x7A)],
        "print" => &[(0x20, 0x7E)],
        "punct" => &[(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
        "space" => &[(0x09, 0x0D), (0x20, 0x20)],
        "upper" => &[(0x41, 0x5A)],
        "word" => &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
        "xdigit" => &[(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
        _ => return None,
    })
}

/// All code points not in `ranges` (which are sorted and disjoint).
pub(super) fn complement(ranges: &[(u32, u32)]) -> Ranges {
    let mut out = Vec::new();
    let mut next = 0u32;
    for &(lo, hi) in ranges {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi + 1;
    }
    if next <= MAX_RUNE {
        out.push((next, MAX_RUNE));
    }
    out
}

/// Rust refuses surrogate code points in escapes; Go accepts them but no UTF-8 text contains one, so
/// the surrogate block is cut out of a range (nothing is left of a range inside it).
fn without_surrogates(lo: u32, hi: u32) -> Vec<(char, char)> {
    let mut parts = Vec::new();
    for (a, b) in [(lo, hi.min(0xD7FF)), (lo.max(0xE000), hi)] {
        if let (Some(a), Some(b)) = (char::from_u32(a), char::from_u32(b)) {
            if a <= b {
                parts.push((a, b));
            }
        }
    }
    parts
}

fn push_char(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        out.push_str(&format!("\\x{{{:X}}}", c as u32));
    }
}

pub(super) fn push_literal(out: &mut String, r: u32) {
    match char::from_u32(r) {
        Some(c) => push_char(out, c),
        // A lone surrogate never matches.
        None => out.push_str(r"[^\x{0}-\x{10FFFF}]"),
    }
}

pub(super) fn push_class(out: &mut String, negated: bool, ranges: &[(u32, u32)], items: &[String]) {
    out.push('[');
    if negated {
        out.push('^');
    }
    let mut empty = items.is_empty();
    for &(lo, hi) in ranges {
        for (a, b) in without_surrogates(lo, hi) {
            empty = false;
            push_char(out, a);
            if a != b {
                out.push('-');
                push_char(out, b);
            }
        }
    }
    for item in items {
        out.push_str(item);
    }
    if empty {
        // Only surrogates were named: a class of nothing (or, negated, of everything).
        out.push_str(r"\x{0}&&\x{1}");
    }
    out.push(']');
}
