//! `.dockerignore` matching with Docker's semantics, as a pure function of the file's text
//! and a slash-separated path relative to the context root. No I/O: [`crate::pack`] walks
//! the folder and asks.
//!
//! The rules (Docker's `patternmatcher`, which `docker build` uses):
//! - one pattern per line; surrounding blanks are trimmed; blank lines and lines starting
//!   with `#` are ignored;
//! - a leading `!` makes the line an exception (re-includes what earlier lines excluded);
//! - patterns are cleaned like paths (`./a//b/` is `a/b`) and are relative to the context
//!   root: a leading `/` changes nothing;
//! - `*` matches any run of characters but `/`, `?` one character but `/`, `[a-z]` / `[^a]`
//!   a class, `\x` the character `x`;
//! - a segment that is exactly `**` matches any number of directories, zero included
//!   (`**/*.log`, `a/**/b`); as the last segment it matches everything below (`target/**`);
//! - a pattern that matches a directory matches everything inside it (`target`);
//! - the last line that matches a path (or one of its parent directories) decides.
//!
//! `**` inside a segment (`a**b`) is two `*`, which is how Go's matcher reads it too, bar
//! Docker's own regex quirk for that case.

/// One line of the file, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    exception: bool,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of path segments.
    AnyDirs,
    /// A glob for exactly one path segment.
    Glob(Vec<char>),
}

/// The compiled `.dockerignore` of one context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    rules: Vec<Rule>,
}

impl Matcher {
    /// Compiles the text of a `.dockerignore` file. Every line is valid: a malformed class
    /// (`[a-`) simply never matches, as in Docker.
    pub fn parse(text: &str) -> Self {
        let rules = text.lines().filter_map(parse_line).collect();
        Matcher { rules }
    }

    /// Whether the file or directory at `path` (relative, `/`-separated) is excluded: the last
    /// rule matching the path or one of its parent directories decides.
    pub fn excluded(&self, path: &str) -> bool {
        let parts: Vec<&str> = split(path);
        let mut excluded = false;
        for rule in &self.rules {
            // Only a rule that could flip the current answer needs evaluating.
            if rule.exception != excluded {
                continue;
            }
            let hit = (1..=parts.len()).any(|n| matches(&rule.segments, &parts[..n]));
            if hit {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// Whether an exception could re-include something strictly inside the directory `dir`.
    /// When it cannot, an excluded directory is skipped without being read.
    pub fn may_reinclude_below(&self, dir: &str) -> bool {
        let parts = split(dir);
        self.rules
            .iter()
            .filter(|r| r.exception)
            .any(|r| could_match_below(&r.segments, &parts))
    }
}

fn split(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect()
}

fn parse_line(line: &str) -> Option<Rule> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (exception, pattern) = match line.strip_prefix('!') {
        Some(rest) => (true, rest.trim()),
        None => (false, line),
    };
    let segments = clean(pattern)?;
    Some(Rule {
        exception,
        segments,
    })
}

/// Go's `filepath.Clean` on the pattern, then the leading `/` dropped: `.` segments and
/// empty ones go, `..` pops (never above the root). `None` when nothing is left.
fn clean(pattern: &str) -> Option<Vec<Segment>> {
    let mut out: Vec<&str> = Vec::new();
    for seg in pattern.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    if out.is_empty() {
        return None;
    }
    Some(
        out.into_iter()
            .map(|s| match s {
                "**" => Segment::AnyDirs,
                s => Segment::Glob(s.chars().collect()),
            })
            .collect(),
    )
}

/// Whether the whole of `path` matches the pattern `segs`.
fn matches(segs: &[Segment], path: &[&str]) -> bool {
    match segs.split_first() {
        None => path.is_empty(),
        // A trailing `**` needs at least one segment: `target/**` is what is inside target.
        Some((Segment::AnyDirs, [])) => !path.is_empty(),
        Some((Segment::AnyDirs, rest)) => (0..=path.len()).any(|skip| matches(rest, &path[skip..])),
        Some((Segment::Glob(g), rest)) => match path.split_first() {
            Some((first, tail)) => {
                glob(g, &first.chars().collect::<Vec<_>>()) && matches(rest, tail)
            }
            None => false,
        },
    }
}

/// Whether some path strictly below `dir` could match `segs` (conservative: `true` when
/// unsure).
fn could_match_below(segs: &[Segment], dir: &[&str]) -> bool {
    match (segs.split_first(), dir.split_first()) {
        // The pattern matched `dir` or one of its parents: everything inside matches.
        (None, _) => true,
        (Some((Segment::AnyDirs, _)), _) => true,
        // `dir` is used up and the pattern goes on: it may match inside.
        (Some(_), None) => true,
        (Some((Segment::Glob(g), rest)), Some((first, tail))) => {
            glob(g, &first.chars().collect::<Vec<_>>()) && could_match_below(rest, tail)
        }
    }
}

/// Matches one path segment against one glob segment (`*`, `?`, `[…]`, `\`).
fn glob(pattern: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after it, name index it took up to).
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some('*') => {
                star = Some((p + 1, n));
                p += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => class(&pattern[p..], name[n]),
            Some('\\') => match pattern.get(p + 1) {
                Some(c) if *c == name[n] => Some(2),
                _ => None,
            },
            Some(c) if *c == name[n] => Some(1),
            _ => None,
        };
        match step {
            Some(len) => {
                p += len;
                n += 1;
            }
            None => match star {
                // Let the last `*` take one more character and retry.
                Some((sp, sn)) => {
                    star = Some((sp, sn + 1));
                    p = sp;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class at the start of `pattern` (`[abc]`, `[a-z]`, `[^x]`,
/// `[!x]`); `Some(length of the class)` when it matches, `None` when not or malformed.
fn class(pattern: &[char], c: char) -> Option<usize> {
    let mut i = 1;
    let negated = matches!(pattern.get(i), Some('^' | '!'));
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let lo = match pattern.get(i)? {
            ']' if !first => break,
            '\\' => {
                i += 1;
                *pattern.get(i)?
            }
            ch => *ch,
        };
        first = false;
        i += 1;
        let hi = if pattern.get(i) == Some(&'-') && pattern.get(i + 1).is_some_and(|c| *c != ']') {
            i += 1;
            let hi = match pattern.get(i)? {
                '\\' => {
                    i += 1;
                    *pattern.get(i)?
                }
                ch => *ch,
            };
            i += 1;
            hi
        } else {
            lo
        };
        if lo <= c && c <= hi {
            hit = true;
        }
    }
    (hit != negated).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Matcher {
        Matcher::parse(text)
    }

    #[test]
    fn comments_and_blank_lines_are_ignored() {
        let x = m("# target\n\n   \n  # also a comment\n");
        assert!(x.rules.is_empty());
        assert!(!x.excluded("target"));
        // `#` only starts a comment at the start of the line.
        assert!(m("a#b").excluded("a#b"));
    }

    #[test]
    fn a_directory_pattern_excludes_its_contents() {
        let x = m("target\n");
        assert!(x.excluded("target"));
        assert!(x.excluded("target/debug/app"));
        assert!(!x.excluded("src/target.rs"));
        // Patterns are rooted: a nested `target` is not matched by `target`.
        assert!(!x.excluded("crates/a/target/x"));
        // A trailing slash is cleaned away, as in Docker.
        assert!(m("target/").excluded("target/debug"));
    }

    #[test]
    fn leading_slash_and_dot_segments_change_nothing() {
        for p in ["/build", "./build", "build/.", "/./build//", "x/../build"] {
            let x = m(p);
            assert!(x.excluded("build/out.o"), "{p}");
            assert!(!x.excluded("src/build"), "{p}");
        }
        // A pattern that cleans to nothing is dropped.
        assert!(m("/\n.\n..").rules.is_empty());
    }

    #[test]
    fn star_and_question_stay_within_a_segment() {
        let x = m("*.log\nnotes?.txt\n");
        assert!(x.excluded("a.log"));
        assert!(!x.excluded("logs/a.log"), "* does not cross /");
        assert!(x.excluded("notes1.txt"));
        assert!(!x.excluded("notes12.txt"));
        assert!(m("*/*.tmp").excluded("a/b.tmp"));
        assert!(!m("*/*.tmp").excluded("a/b/c.tmp"));
        assert!(m("*").excluded("anything/at/all"));
    }

    #[test]
    fn double_star_matches_any_number_of_directories() {
        let x = m("**/*.log");
        assert!(x.excluded("a.log"), "zero directories");
        assert!(x.excluded("a/b/c/d.log"));
        assert!(!x.excluded("a/b/c/d.txt"));
        let x = m("a/**/b");
        assert!(x.excluded("a/b"));
        assert!(x.excluded("a/x/y/b"));
        assert!(x.excluded("a/x/b/inside"));
        assert!(!x.excluded("a/x/c"));
        let x = m("target/**");
        assert!(x.excluded("target/debug"));
        assert!(
            !x.excluded("target"),
            "the folder itself stays, its contents go"
        );
        assert!(m("**").excluded("x/y"));
        assert!(m("**/node_modules").excluded("web/app/node_modules/react/index.js"));
    }

    #[test]
    fn exceptions_reinclude_and_the_last_match_wins() {
        let x = m("*.md\n!README.md\n");
        assert!(x.excluded("CHANGES.md"));
        assert!(!x.excluded("README.md"));
        let x = m("docs\n!docs/keep.txt\n");
        assert!(x.excluded("docs/other.txt"));
        assert!(!x.excluded("docs/keep.txt"));
        // Order matters: a later exclusion beats an earlier exception.
        let x = m("!README.md\n*.md\n");
        assert!(x.excluded("README.md"));
        // Excluding everything but one folder.
        let x = m("*\n!src\n");
        assert!(x.excluded("Cargo.lock"));
        assert!(!x.excluded("src/main.rs"));
        assert!(!m("! a.txt").rules.is_empty(), "blanks after ! are trimmed");
    }

    #[test]
    fn exceptions_say_which_excluded_directories_must_be_read() {
        let x = m("docs\n!docs/keep.txt\nbuild\n!**/*.keep\n");
        assert!(x.may_reinclude_below("docs"));
        assert!(!m("docs\n!src/keep.txt").may_reinclude_below("docs"));
        assert!(x.may_reinclude_below("build"), "**/ can match anywhere");
        assert!(!m("target").may_reinclude_below("target"));
        assert!(m("a\n!a/b/c").may_reinclude_below("a/b"));
        assert!(!m("a\n!a/b/c").may_reinclude_below("a/x"));
    }

    #[test]
    fn classes_and_escapes() {
        let x = m("file[0-9].txt\n[^a]b\n\\*star\n");
        assert!(x.excluded("file7.txt"));
        assert!(!x.excluded("filex.txt"));
        assert!(x.excluded("xb"));
        assert!(!x.excluded("ab"));
        assert!(x.excluded("*star"));
        assert!(!x.excluded("astar"));
        assert!(m("[!a]b").excluded("cb"));
        assert!(m("[]]").excluded("]"));
        // A malformed class never matches.
        assert!(!m("[a-").excluded("a"));
    }

    #[test]
    fn star_backtracks() {
        assert!(glob(
            &"a*b*c".chars().collect::<Vec<_>>(),
            &"aXbYbZc".chars().collect::<Vec<_>>()
        ));
        assert!(!glob(
            &"a*b*c".chars().collect::<Vec<_>>(),
            &"aXbYbZ".chars().collect::<Vec<_>>()
        ));
        assert!(glob(&"*".chars().collect::<Vec<_>>(), &[]));
        assert!(!glob(&"?".chars().collect::<Vec<_>>(), &[]));
    }
}
