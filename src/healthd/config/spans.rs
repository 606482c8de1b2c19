//! Finding where a field sits in the TOML text, so that errors found after
//! parsing (a timeout not below its interval, an unknown parent, a
//! duplicate id) name a line as well as the field path.
//!
//! Owns path parsing (`targets[2].checks[0].timeout`) and the walk over
//! `toml`'s spanned document; must not judge values.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A position in the source: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

/// The 1-based line and column of byte `offset` in `text`.
pub fn position(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before
        .get(line_start..)
        .map_or(1, |s| s.chars().count() + 1);
    Position { line, column }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `a.b[2].c` into steps; `None` for a malformed path.
fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => part.split_at(i),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let (n, after) = r.split_at(end);
            out.push(Step::Index(n.parse().ok()?));
            rest = after.get(1..)?;
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

/// The span of the deepest part of `path` found in `root`: the value at the
/// full path when it is written in the file, else the nearest enclosing
/// table or array that is (a defaulted field points at its table).
pub fn locate(root: &Spanned<DeTable<'_>>, path: &str) -> Option<Range<usize>> {
    let steps = steps(path)?;
    let mut span = None;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut value: Option<&DeValue<'_>> = None;
    for step in steps {
        let next = match (&step, table, value) {
            (Step::Key(k), Some(t), _) => t.get(*k),
            (Step::Key(k), None, Some(DeValue::Table(t))) => t.get(*k),
            (Step::Index(i), None, Some(DeValue::Array(a))) => a.get(*i),
            _ => None,
        };
        let Some(next) = next else { break };
        span = Some(next.span());
        table = None;
        value = Some(next.get_ref());
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split() {
        assert_eq!(
            steps("targets[2].checks[0].timeout").unwrap(),
            [
                Step::Key("targets"),
                Step::Index(2),
                Step::Key("checks"),
                Step::Index(0),
                Step::Key("timeout")
            ]
        );
        assert_eq!(steps("a[1][2]").unwrap().len(), 3);
        assert!(steps("a[x]").is_none());
        assert!(steps("a[1").is_none());
    }

    #[test]
    fn finds_lines() {
        let text = "[store]\nkind = \"sqlite\"\n\n[[targets]]\nid = \"a\"\n\n[[targets]]\nid = \"b\"\n[[targets.checks]]\nkind = \"tcp\"\ntimeout = \"90s\"\n";
        let doc = DeTable::parse(text).unwrap();
        let at = |p: &str| locate(&doc, p).map(|s| position(text, s.start).line);
        assert_eq!(at("store.kind"), Some(2));
        assert_eq!(at("targets[1].checks[0].timeout"), Some(11));
        assert_eq!(at("targets[0].id"), Some(5));
        // defaulted field: points into its table
        let line = at("targets[1].checks[0].interval").unwrap();
        assert!((9..=11).contains(&line), "{line}");
        assert_eq!(at("nothing.here"), None);
        assert_eq!(position("ab\ncd", 4), Position { line: 2, column: 2 });
    }
}
