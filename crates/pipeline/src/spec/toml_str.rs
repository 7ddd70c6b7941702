//! Where each character of a decoded TOML string sits in the file, so that errors found in
//! `observationSource` (or `schedule`) point at the file, escapes and all.

/// The decoded text of the TOML string token `raw` (delimiters included) and, for each of
/// its bytes plus one past the end, the byte offset in `raw` it came from.
///
/// Covers basic and literal strings, single- and multi-line, with the escapes of TOML 1.0
/// and 1.1 (`\e`, `\xHH`). Returns `None` for anything else; callers compare the text with
/// the TOML parser's and fall back to the start of the content when they differ.
pub(crate) fn decode_with_offsets(raw: &str) -> Option<(String, Vec<usize>)> {
    let (quote, multi) = if raw.starts_with("\"\"\"") {
        ('"', true)
    } else if raw.starts_with("'''") {
        ('\'', true)
    } else if raw.starts_with('"') {
        ('"', false)
    } else if raw.starts_with('\'') {
        ('\'', false)
    } else {
        return None;
    };
    let delim = if multi { 3 } else { 1 };
    if raw.len() < 2 * delim {
        return None;
    }
    let mut start = delim;
    let end = raw.len() - delim;
    if multi {
        // A newline right after the opening delimiter is not part of the string.
        if raw[start..].starts_with("\r\n") {
            start += 2;
        } else if raw[start..].starts_with('\n') {
            start += 1;
        }
    }
    let body = raw.get(start..end)?;
    let mut text = String::with_capacity(body.len());
    let mut offsets = Vec::with_capacity(body.len() + 1);
    let push = |text: &mut String, offsets: &mut Vec<usize>, c: char, at: usize| {
        text.push(c);
        offsets.extend(std::iter::repeat_n(at, c.len_utf8()));
    };
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let at = start + i;
        if quote == '\'' || c != '\\' {
            push(&mut text, &mut offsets, c, at);
            continue;
        }
        let (_, e) = chars.next()?;
        let decoded = match e {
            'b' => '\u{8}',
            't' => '\t',
            'n' => '\n',
            'f' => '\u{c}',
            'r' => '\r',
            'e' => '\u{1b}',
            '"' => '"',
            '\\' => '\\',
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v = 0u32;
                for _ in 0..n {
                    v = v * 16 + chars.next()?.1.to_digit(16)?;
                }
                char::from_u32(v)?
            }
            ' ' | '\t' | '\r' | '\n' if multi => {
                // Line-ending backslash: drop all whitespace up to the next other character.
                while chars
                    .peek()
                    .is_some_and(|&(_, w)| matches!(w, ' ' | '\t' | '\r' | '\n'))
                {
                    chars.next();
                }
                continue;
            }
            _ => return None,
        };
        push(&mut text, &mut offsets, decoded, at);
    }
    offsets.push(end);
    Some((text, offsets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_strings_map_one_to_one() {
        let (text, offs) = decode_with_offsets("'''\na\\n'''").unwrap();
        assert_eq!(text, "a\\n");
        assert_eq!(offs, vec![4, 5, 6, 7]);
        let (text, offs) = decode_with_offsets("'x'").unwrap();
        assert_eq!((text.as_str(), offs), ("x", vec![1, 2]));
    }

    #[test]
    fn escapes_map_to_their_backslash() {
        let (text, offs) = decode_with_offsets(r#""a\"b\u00e9c""#).unwrap();
        assert_eq!(text, "a\"béc");
        assert_eq!(offs, vec![1, 2, 4, 5, 5, 11, 12]);
    }

    #[test]
    fn multi_line_basic_strings_trim_and_join_lines() {
        let raw = "\"\"\"\nab \\\n   cd\"\"\"";
        let (text, offs) = decode_with_offsets(raw).unwrap();
        assert_eq!(text, "ab cd");
        assert_eq!(&raw[offs[3]..offs[3] + 1], "c");
        assert_eq!(offs.last(), Some(&(raw.len() - 3)));
    }

    #[test]
    fn refuses_non_strings_and_bad_escapes() {
        assert_eq!(decode_with_offsets("12"), None);
        assert_eq!(decode_with_offsets(r#""\q""#), None);
    }
}
