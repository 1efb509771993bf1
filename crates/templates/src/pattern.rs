//! The `pattern` rule of string and secret parameters: a small, always-anchored subset of
//! regular expressions — literal characters and classes (`[a-z0-9_-]`, `.`), each optionally
//! repeated (`?`, `*`, `+`, `{n}`, `{m,n}`, `{m,}`). No alternation, groups or negated
//! classes: parameter rules are "which characters, how many", and a subset this small is
//! matched in linear time (no backtracking) and reads the same in JSON Schema, where the
//! catalog's parameters will be published. A leading `^` and trailing `$` are accepted and
//! change nothing.
//!
//! Owns the syntax and the matching; what a mismatch means to a user is `values`'.

use std::fmt;

/// Atoms a pattern may expand to (`{m,n}` repeats its atom): bounds the work per character.
const MAX_ATOMS: usize = 512;

/// A pattern that does not parse: what is wrong, at which character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pattern {pattern:?}, character {at}: {problem}")]
pub struct PatternError {
    pattern: String,
    /// 1-based, in characters.
    at: usize,
    problem: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rep {
    One,
    Optional,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    Char(char),
    /// Inclusive ranges; a single character is a range of one.
    Set(Vec<(char, char)>),
    /// `.`: any character.
    Dot,
}

impl Class {
    fn has(&self, c: char) -> bool {
        match self {
            Class::Char(x) => *x == c,
            Class::Set(ranges) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)),
            Class::Dot => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Atom {
    class: Class,
    rep: Rep,
}

/// A parsed pattern; [`Pattern::source`] is its text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    atoms: Vec<Atom>,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

struct Parser<'a> {
    source: &'a str,
    chars: Vec<char>,
    i: usize,
}

impl Parser<'_> {
    /// A problem with the next character (not yet read).
    fn fail(&self, problem: &'static str) -> PatternError {
        self.fail_at(self.i + 1, problem)
    }

    /// A problem with the character just read (or the end, once past it).
    fn fail_last(&self, problem: &'static str) -> PatternError {
        self.fail_at(self.i, problem)
    }

    fn fail_at(&self, at: usize, problem: &'static str) -> PatternError {
        PatternError {
            pattern: self.source.to_owned(),
            at,
            problem,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.i += 1;
        c
    }

    /// An escaped character after `\`: only punctuation may be escaped (`\d` and friends are
    /// not supported, rather than silently meaning `d`).
    fn escaped(&mut self) -> Result<char, PatternError> {
        match self.next() {
            Some(c) if c.is_ascii_punctuation() => Ok(c),
            Some(_) => {
                Err(self.fail_last("only punctuation may follow \\ (write classes as [0-9])"))
            }
            None => Err(self.fail_last("the pattern ends with \\")),
        }
    }

    fn set(&mut self) -> Result<Class, PatternError> {
        if self.peek() == Some('^') {
            return Err(self.fail("negated classes [^…] are not supported"));
        }
        let mut ranges = Vec::new();
        loop {
            let lo = match self.next() {
                None => return Err(self.fail_last("a class [ is not closed with ]")),
                Some(']') if !ranges.is_empty() => return Ok(Class::Set(ranges)),
                Some(']') => return Err(self.fail_last("an empty class []")),
                Some('\\') => self.escaped()?,
                Some(c) => c,
            };
            let is_range =
                self.peek() == Some('-') && self.chars.get(self.i + 1).is_some_and(|c| *c != ']');
            if !is_range {
                ranges.push((lo, lo));
                continue;
            }
            self.i += 1;
            let hi = match self.next() {
                Some('\\') => self.escaped()?,
                Some(c) => c,
                None => return Err(self.fail_last("a class [ is not closed with ]")),
            };
            if hi < lo {
                return Err(self.fail_last("a range's end comes before its start"));
            }
            ranges.push((lo, hi));
        }
    }

    fn number(&mut self) -> Option<usize> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let digits: String = self.chars[start..self.i].iter().collect();
        digits.parse().ok()
    }

    /// `{n}`, `{m,n}` or `{m,}` after `{`: (min, max), `None` for no maximum.
    fn counts(&mut self) -> Result<(usize, Option<usize>), PatternError> {
        let min = self
            .number()
            .ok_or_else(|| self.fail("expected a number after {"))?;
        let max = match self.next() {
            Some('}') => return Ok((min, Some(min))),
            Some(',') if self.peek() == Some('}') => None,
            Some(',') => Some(
                self.number()
                    .ok_or_else(|| self.fail("expected a number after ,"))?,
            ),
            _ => return Err(self.fail_last("expected {n}, {m,n} or {m,}")),
        };
        if self.next() != Some('}') {
            return Err(self.fail_last("expected } to close the repetition"));
        }
        if max.is_some_and(|max| max < min) {
            return Err(self.fail_last("a repetition's maximum is below its minimum"));
        }
        Ok((min, max))
    }
}

impl Pattern {
    /// Parses a pattern (see the module's documentation for the syntax).
    pub fn parse(source: &str) -> Result<Pattern, PatternError> {
        let mut p = Parser {
            source,
            chars: source.chars().collect(),
            i: 0,
        };
        if p.peek() == Some('^') {
            p.i += 1;
        }
        let mut atoms = Vec::new();
        while let Some(c) = p.next() {
            let class = match c {
                '$' if p.peek().is_none() => break,
                '[' => p.set()?,
                '.' => Class::Dot,
                '\\' => Class::Char(p.escaped()?),
                '(' | ')' | '|' => {
                    return Err(p.fail_last("groups and alternatives (…|…) are not supported"));
                }
                '*' | '+' | '?' | '{' | '}' | ']' | '^' | '$' => {
                    return Err(p.fail_last("a special character here: escape it with \\"));
                }
                c => Class::Char(c),
            };
            let (min, max) = match p.peek() {
                Some('?') => (0, Some(1)),
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('{') => {
                    p.i += 1;
                    let counts = p.counts()?;
                    p.i -= 1;
                    counts
                }
                _ => (1, Some(1)),
            };
            if (min, max) != (1, Some(1)) {
                p.i += 1;
            }
            let optional = max.map_or(0, |max| max - min);
            if atoms.len() + min + optional + usize::from(max.is_none()) > MAX_ATOMS {
                return Err(p.fail_last("the pattern repeats too much (at most 512 characters)"));
            }
            for _ in 0..min {
                atoms.push(Atom {
                    class: class.clone(),
                    rep: Rep::One,
                });
            }
            for _ in 0..optional {
                atoms.push(Atom {
                    class: class.clone(),
                    rep: Rep::Optional,
                });
            }
            if max.is_none() {
                atoms.push(Atom {
                    class,
                    rep: Rep::Any,
                });
            }
        }
        Ok(Pattern {
            source: source.to_owned(),
            atoms,
        })
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `value` matches. Linear in `value`'s length (times the atoms).
    pub fn matches(&self, value: &str) -> bool {
        let n = self.atoms.len();
        let mut current = vec![false; n + 1];
        current[0] = true;
        self.skip_optional(&mut current);
        for c in value.chars() {
            let mut next = vec![false; n + 1];
            for (i, atom) in self.atoms.iter().enumerate() {
                if current[i] && atom.class.has(c) {
                    match atom.rep {
                        Rep::Any => next[i] = true,
                        Rep::One | Rep::Optional => next[i + 1] = true,
                    }
                }
            }
            self.skip_optional(&mut next);
            if !next.contains(&true) {
                return false;
            }
            current = next;
        }
        current[n]
    }

    /// Adds the states reached by skipping optional atoms (edges only go forward).
    fn skip_optional(&self, states: &mut [bool]) {
        for (i, atom) in self.atoms.iter().enumerate() {
            if states[i] && atom.rep != Rep::One {
                states[i + 1] = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, value: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(value)
    }

    #[test]
    fn classes_and_repetitions_match_the_whole_value() {
        let name = "[a-z_][a-z0-9_]{0,62}";
        assert!(m(name, "app"));
        assert!(m(name, "_a9"));
        assert!(!m(name, "9a"));
        assert!(!m(name, "App"));
        assert!(!m(name, ""));
        assert!(m(name, &"a".repeat(63)));
        assert!(!m(name, &"a".repeat(64)));
        assert!(m("[A-Za-z0-9_-]+", "Ab-_9"));
        assert!(!m("[A-Za-z0-9_-]+", "a b"));
        assert!(m("a?b*c+", "c"));
        assert!(m("a?b*c+", "abbbcc"));
        assert!(!m("a?b*c+", "aab"));
        assert!(m("x{3}", "xxx"));
        assert!(!m("x{3}", "xx"));
        assert!(m("x{2,}", "xxxxx"));
        assert!(!m("x{2,}", "x"));
        assert!(m("^v[0-9]+\\.[0-9]+$", "v1.22"));
        assert!(!m("v[0-9]+\\.[0-9]+", "v1x22"));
        assert!(m(".*", "anything at all"));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn an_unsupported_or_broken_pattern_names_the_place() {
        for (pattern, at, problem) in [
            ("(a|b)", 1, "groups"),
            ("[^a]", 2, "negated"),
            ("[a-", 4, "not closed"),
            ("[z-a]", 4, "before its start"),
            ("a{3,1}", 6, "below its minimum"),
            ("a{x}", 3, "expected a number"),
            ("\\d+", 2, "only punctuation"),
            ("*a", 1, "escape it"),
            ("[]", 2, "empty class"),
        ] {
            let e = Pattern::parse(pattern).unwrap_err();
            assert_eq!(e.at, at, "{pattern}: {e}");
            assert!(e.problem.contains(problem), "{pattern}: {e}");
        }
        assert!(Pattern::parse("a{600}").is_err());
    }

    #[test]
    fn matching_long_values_against_nested_optionals_stays_linear() {
        // A backtracking matcher would take exponential time here.
        let p = Pattern::parse(&format!("{}{}", "a?".repeat(30), "a".repeat(30))).unwrap();
        assert!(p.matches(&"a".repeat(30)));
        assert!(p.matches(&"a".repeat(60)));
        assert!(!p.matches(&"a".repeat(61)));
    }
}
