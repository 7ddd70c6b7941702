//! The one error type of parsing: a message at a line and column of the spec file.

use std::fmt;

/// A parse or check error, positioned in the file that was parsed.
///
/// `line` and `column` are 1-based; the column counts characters (a tab is one column).
/// Display is `LINE:COL: message`; the CLI prefixes the file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What went wrong and, where it helps, what was expected.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// `text` as a quoted string for an error message, cut to its first 48 characters: a bad
/// value of a megabyte must not make a megabyte-long error line.
pub(crate) fn quoted(text: &str) -> String {
    const SHOWN: usize = 48;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// A 1-based line and column (characters) in the parsed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Location {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Turns byte offsets of one text into line/column locations.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, starts }
    }

    /// The location of byte `offset` (clamped to the text; a mid-character offset counts
    /// as that character).
    pub(crate) fn locate(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self
            .text
            .get(start..)
            .unwrap_or("")
            .char_indices()
            .take_while(|(i, _)| start + i < offset)
            .count();
        Location {
            line: to_u32(line),
            column: to_u32(column + 1),
        }
    }

    pub(crate) fn error(&self, offset: usize, message: impl Into<String>) -> SpecError {
        let at = self.locate(offset);
        SpecError {
            line: at.line,
            column: at.column,
            message: message.into(),
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_lines_and_character_columns() {
        let idx = LineIndex::new("ab\nµc\n");
        assert_eq!(idx.locate(0), Location { line: 1, column: 1 });
        assert_eq!(idx.locate(2), Location { line: 1, column: 3 });
        assert_eq!(idx.locate(3), Location { line: 2, column: 1 });
        // 'µ' is two bytes: 'c' is the second character.
        assert_eq!(idx.locate(5), Location { line: 2, column: 2 });
        assert_eq!(idx.locate(7), Location { line: 3, column: 1 });
        assert_eq!(idx.locate(99), Location { line: 3, column: 1 });
    }
}
