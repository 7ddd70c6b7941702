//! DOT tokens as the reference's (gonum) lexer cuts them (§2.2 of the pipeline spec), plus
//! the numeral exponent extension (`1e18`).

use super::DotError;

/// What a token is; its text is `src[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Bare word: letters, `_`, digits, non-ASCII; not starting with a digit.
    Word,
    /// `-?(.d+|d+(.d*)?)` with an optional exponent (extension).
    Numeral,
    /// `"…"` with backslash escapes, raw text including the quotes.
    Quoted,
    /// `<…>` with nested pairs, raw text including the brackets.
    Html,
    Keyword(Keyword),
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Equals,
    Semicolon,
    Comma,
    Colon,
    /// `->` or `--`.
    EdgeOp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    Node,
    Edge,
    Graph,
    Digraph,
    Subgraph,
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Kind {
    pub(crate) fn is_id(self) -> bool {
        matches!(self, Kind::Word | Kind::Numeral | Kind::Quoted | Kind::Html)
    }
}

/// How the reference spells keywords: lower, Capitalised, UPPER, and the camel variants.
fn keyword(word: &str) -> Option<Keyword> {
    Some(match word {
        "node" | "Node" | "NODE" => Keyword::Node,
        "edge" | "Edge" | "EDGE" => Keyword::Edge,
        "graph" | "Graph" | "GRAPH" => Keyword::Graph,
        "digraph" | "Digraph" | "DIGRAPH" | "diGraph" | "DiGraph" => Keyword::Digraph,
        "subgraph" | "Subgraph" | "SUBGRAPH" | "subGraph" | "SubGraph" => Keyword::Subgraph,
        "strict" | "Strict" | "STRICT" => Keyword::Strict,
        _ => return None,
    })
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()
}

/// Cuts `src` into tokens (comments and whitespace dropped).
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, DotError> {
    let mut tokens = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let single = |kind| Token {
            kind,
            start,
            end: start + 1,
        };
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => i = line_end(src, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = line_end(src, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let close = src[i + 2..]
                    .find("*/")
                    .ok_or_else(|| DotError::new(start, "unterminated /* comment (expected */)"))?;
                i += 2 + close + 2;
            }
            b'{' | b'}' | b'[' | b']' | b'=' | b';' | b',' | b':' => {
                let kind = match c {
                    b'{' => Kind::LBrace,
                    b'}' => Kind::RBrace,
                    b'[' => Kind::LBracket,
                    b']' => Kind::RBracket,
                    b'=' => Kind::Equals,
                    b';' => Kind::Semicolon,
                    b',' => Kind::Comma,
                    _ => Kind::Colon,
                };
                tokens.push(single(kind));
                i += 1;
            }
            b'-' if matches!(bytes.get(i + 1), Some(b'>' | b'-')) => {
                tokens.push(Token {
                    kind: Kind::EdgeOp,
                    start,
                    end: start + 2,
                });
                i += 2;
            }
            b'-' | b'.' | b'0'..=b'9' => {
                i = numeral_end(src, i)?;
                tokens.push(Token {
                    kind: Kind::Numeral,
                    start,
                    end: i,
                });
            }
            b'"' => {
                i = quoted_end(src, i)?;
                tokens.push(Token {
                    kind: Kind::Quoted,
                    start,
                    end: i,
                });
            }
            b'<' => {
                i = html_end(src, i)?;
                tokens.push(Token {
                    kind: Kind::Html,
                    start,
                    end: i,
                });
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('\0');
                if !is_word_char(ch) {
                    return Err(DotError::new(
                        start,
                        format!(
                            "unexpected character {ch:?} (expected a name, a value, or one of {{ }} [ ] = ; , -> --)"
                        ),
                    ));
                }
                let len = src[i..]
                    .find(|c: char| !is_word_char(c))
                    .unwrap_or(src.len() - i);
                i += len;
                let kind = keyword(&src[start..i]).map_or(Kind::Word, Kind::Keyword);
                tokens.push(Token {
                    kind,
                    start,
                    end: i,
                });
            }
        }
    }
    Ok(tokens)
}

fn line_end(src: &str, from: usize) -> usize {
    src[from..].find('\n').map_or(src.len(), |n| from + n)
}

fn digits(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count()
}

fn numeral_end(src: &str, start: usize) -> Result<usize, DotError> {
    let bytes = src.as_bytes();
    let mut i = start + usize::from(bytes[start] == b'-');
    let int = digits(bytes, i);
    i += int;
    let mut frac = 0;
    if bytes.get(i) == Some(&b'.') {
        frac = digits(bytes, i + 1);
        // `5.` is a numeral; `.` alone is not.
        if int > 0 || frac > 0 {
            i += 1 + frac;
        }
    }
    if int == 0 && frac == 0 {
        return Err(DotError::new(start, "expected digits in number"));
    }
    // Extension: an exponent right after the digits (`1e18`, `1.5E-3`).
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
        let exp = digits(bytes, i + 1 + sign);
        if exp > 0 {
            i += 1 + sign + exp;
        }
    }
    if let Some(next) = src[i..].chars().next()
        && (is_word_char(next) || next == '.')
    {
        let rest_len = src[i..]
            .find(|c: char| !is_word_char(c) && c != '.')
            .unwrap_or(src.len() - i);
        let text = &src[start..i + rest_len];
        return Err(DotError::new(
            start,
            format!("bare value {text} is not a DOT number or name: quote it (\"{text}\")"),
        ));
    }
    Ok(i)
}

fn quoted_end(src: &str, start: usize) -> Result<usize, DotError> {
    let bytes = src.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(DotError::new(
        start,
        "unterminated quoted string (expected a closing \")",
    ))
}

fn html_end(src: &str, start: usize) -> Result<usize, DotError> {
    let mut depth = 0usize;
    for (n, b) in src.as_bytes()[start..].iter().enumerate() {
        match b {
            b'<' => depth += 1,
            b'>' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(start + n + 1);
                }
            }
            _ => {}
        }
    }
    Err(DotError::new(
        start,
        "unterminated <…> value (expected a closing >)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, &str)> {
        tokenize(src)
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.kind, &src[t.start..t.end]))
            .collect()
    }

    #[test]
    fn cuts_every_token_form() {
        use Kind::*;
        assert_eq!(
            kinds(
                "a_1 [x=-5 y=.5 z=5. w=1e18 v=\"q\\\"\" u=<a<b>c>];} -> -- : , # c\n// c\n/* c */ Node"
            ),
            vec![
                (Word, "a_1"),
                (LBracket, "["),
                (Word, "x"),
                (Equals, "="),
                (Numeral, "-5"),
                (Word, "y"),
                (Equals, "="),
                (Numeral, ".5"),
                (Word, "z"),
                (Equals, "="),
                (Numeral, "5."),
                (Word, "w"),
                (Equals, "="),
                (Numeral, "1e18"),
                (Word, "v"),
                (Equals, "="),
                (Quoted, "\"q\\\"\""),
                (Word, "u"),
                (Equals, "="),
                (Html, "<a<b>c>"),
                (RBracket, "]"),
                (Semicolon, ";"),
                (RBrace, "}"),
                (EdgeOp, "->"),
                (EdgeOp, "--"),
                (Colon, ":"),
                (Comma, ","),
                (Keyword(super::Keyword::Node), "Node"),
            ]
        );
        assert_eq!(kinds("héllo"), vec![(Word, "héllo")]);
        assert_eq!(kinds("diGraph")[0].0, Keyword(super::Keyword::Digraph));
        assert_eq!(kinds("dIgraph")[0].0, Word);
    }

    #[test]
    fn positions_lexical_errors() {
        assert_eq!(
            tokenize("a [x=\"abc").map(|_| ()),
            Err(DotError::new(
                5,
                "unterminated quoted string (expected a closing \")"
            ))
        );
        assert_eq!(tokenize("x <a<b>").map_err(|e| e.offset), Err(2));
        assert_eq!(tokenize("/* open").map_err(|e| e.offset), Err(0));
        assert_eq!(tokenize("t=10s").map_err(|e| e.offset), Err(2));
        assert_eq!(tokenize("a $ b").map_err(|e| e.offset), Err(2));
        assert_eq!(tokenize("- x").map_err(|e| e.offset), Err(0));
    }
}
