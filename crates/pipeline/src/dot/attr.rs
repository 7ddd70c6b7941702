//! Attribute value decoding exactly as the reference does it (§2.4), quirks included.

use super::lexer::Kind;

/// Decodes an attribute value token (§2.4 steps 1–3).
pub(crate) fn decode_value(kind: Kind, raw: &str) -> String {
    let step1 = decode_id(kind, raw);
    strip_html_brackets(&step1).map_or(step1.clone(), str::to_owned)
}

/// Step 1 only: what a key or a task name reads as.
pub(crate) fn decode_id(kind: Kind, raw: &str) -> String {
    if kind != Kind::Quoted {
        return raw.to_owned();
    }
    // Quirk: `"<…>"` is kept verbatim, quotes included.
    if raw.starts_with("\"<") && raw.ends_with(">\"") {
        return raw.to_owned();
    }
    let joined = raw.replace("\\\n", "");
    // Quirk: a value Go cannot unquote is kept verbatim with its quotes.
    go_unquote(&joined).unwrap_or_else(|| raw.to_owned())
}

/// Step 2: `<X>` (surrounding whitespace allowed) becomes X when X is non-empty and holds
/// no `<` or `>`.
fn strip_html_brackets(value: &str) -> Option<&str> {
    let inner = value.trim().strip_prefix('<')?.strip_suffix('>')?;
    (!inner.is_empty() && !inner.contains(['<', '>'])).then_some(inner)
}

/// Go's `strconv.Unquote` for a double-quoted literal; `None` where Go returns an error.
/// Bytes that do not form UTF-8 (`\xff`) are replaced by U+FFFD (Go would keep them raw).
fn go_unquote(quoted: &str) -> Option<String> {
    let body = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\n' => return None,
            '\\' => {
                let e = chars.next()?;
                match e {
                    'a' => out.push(0x07),
                    'b' => out.push(0x08),
                    'f' => out.push(0x0c),
                    'n' => out.push(b'\n'),
                    'r' => out.push(b'\r'),
                    't' => out.push(b'\t'),
                    'v' => out.push(0x0b),
                    '\\' => out.push(b'\\'),
                    '"' => out.push(b'"'),
                    'x' => out.push(u8::try_from(hex_digits(&mut chars, 2)?).ok()?),
                    'u' => push_char(&mut out, char::from_u32(hex_digits(&mut chars, 4)?)?),
                    'U' => push_char(&mut out, char::from_u32(hex_digits(&mut chars, 8)?)?),
                    '0'..='7' => {
                        let mut v = e.to_digit(8)?;
                        for _ in 0..2 {
                            v = v * 8 + chars.next()?.to_digit(8)?;
                        }
                        out.push(u8::try_from(v).ok()?);
                    }
                    _ => return None,
                }
            }
            c => push_char(&mut out, c),
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn hex_digits(chars: &mut std::str::Chars<'_>, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for _ in 0..n {
        v = v * 16 + chars.next()?.to_digit(16)?;
    }
    Some(v)
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(raw: &str) -> String {
        decode_value(Kind::Quoted, raw)
    }

    #[test]
    fn unescapes_go_escapes() {
        assert_eq!(quoted(r#""a\"b\\c\nd\te\rf""#), "a\"b\\c\nd\te\rf");
        assert_eq!(quoted(r#""\a\b\f\v""#), "\x07\x08\x0c\x0b");
        assert_eq!(quoted(r#""\x41\101\u00e9\U0001F600""#), "AAé😀");
        assert_eq!(quoted("\"line\\\ncontinued\""), "linecontinued");
        assert_eq!(quoted(r#""""#), "");
    }

    #[test]
    fn keeps_unquotable_values_verbatim_with_quotes() {
        assert_eq!(quoted(r#""\d""#), r#""\d""#);
        assert_eq!(quoted(r#""it\'s""#), r#""it\'s""#);
        assert_eq!(quoted("\"two\nlines\""), "\"two\nlines\"");
        assert_eq!(quoted(r#""\x4""#), r#""\x4""#);
        assert_eq!(quoted(r#""\400""#), r#""\400""#);
        assert_eq!(quoted(r#""\uD800""#), r#""\uD800""#);
    }

    #[test]
    fn quoted_html_is_kept_with_quotes() {
        assert_eq!(quoted(r#""<{"a": 1}>""#), r#""<{"a": 1}>""#);
    }

    #[test]
    fn html_brackets_are_stripped_once_when_flat() {
        assert_eq!(decode_value(Kind::Html, "<{\"a\": 1}>"), "{\"a\": 1}");
        assert_eq!(
            decode_value(Kind::Html, "<\n {\"a\":\n 1}\n>"),
            "\n {\"a\":\n 1}\n"
        );
        assert_eq!(decode_value(Kind::Html, "<a<b>c>"), "<a<b>c>");
        assert_eq!(decode_value(Kind::Html, "<>"), "<>");
        // A quoted value that unescapes to `<X>` loses its brackets too.
        assert_eq!(quoted(r#"" <x> ""#), "x");
        assert_eq!(decode_value(Kind::Word, "GET"), "GET");
        assert_eq!(decode_value(Kind::Numeral, "-1.5e3"), "-1.5e3");
    }
}
