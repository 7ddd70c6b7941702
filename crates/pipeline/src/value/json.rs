//! Reading JSON into [`Value`]s with the reference's number rules (spec §3.2), and with
//! `$(path)` variable slots for J attribute values (§3.6).
//!
//! A parser of our own rather than serde_json: integers must stay exact beyond `u64` (which
//! serde_json only does with its `arbitrary_precision` feature, and that feature would unify
//! into every crate of the workspace and change how their `serde_json` numbers behave), only
//! the first document of a text is read, and a slot may stand wherever a value may.

use super::{Map, Value};
use num_bigint::BigInt;

/// Nesting deeper than this is refused instead of risking the stack.
const MAX_DEPTH: usize = 1000;

/// A JSON syntax or number error, worded like Go's `encoding/json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(pub String);

/// How numbers are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbers {
    /// Integer literals become `Int`/`BigInt` (exact), others `Float` (jsonparse, J values).
    Exact,
    /// Every number becomes `Float` (maps and lists converted from text, §3.7).
    Floats,
}

/// Reads the first JSON document of `text`; trailing text is ignored (Go's decoder).
pub fn parse_first(text: &str, numbers: Numbers) -> Result<Value, JsonError> {
    let mut parser = Parser::new(text, numbers, None);
    parser.skip_ws();
    if parser.at_end() {
        return Err(JsonError("EOF".into()));
    }
    parser.value(0).map_err(|e| e.into_json("unexpected EOF"))
}

/// Reads `text` as exactly one JSON document (Go's `json.Unmarshal`).
pub fn parse_whole(text: &str, numbers: Numbers) -> Result<Value, JsonError> {
    let mut parser = Parser::new(text, numbers, None);
    let value = parser
        .value(0)
        .map_err(|e| e.into_json("unexpected end of JSON input"))?;
    parser.skip_ws();
    match parser.peek_char() {
        None => Ok(value),
        Some(c) => Err(JsonError(format!(
            "invalid character {} after top-level value",
            quote_char(c)
        ))),
    }
}

/// Why a text with slots could not become a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotParseError {
    /// The text is not JSON (slots taken as values).
    Syntax(JsonError),
    /// A slot inside a string or a key.
    SlotInString(String),
    /// The slot's variable could not be resolved; the resolver's error.
    Resolve(String),
}

/// Reads the first JSON document of `text`, where `$(path)` may stand for a value; each slot
/// is filled with `resolve(path)`, as is (not re-encoded).
pub fn parse_with_slots(
    text: &str,
    resolve: &mut dyn FnMut(&str) -> Result<Value, String>,
) -> Result<Value, SlotParseError> {
    let mut parser = Parser::new(text, Numbers::Exact, Some(resolve));
    parser.skip_ws();
    if parser.at_end() {
        return Err(SlotParseError::Syntax(JsonError("EOF".into())));
    }
    parser.value(0).map_err(|e| match e {
        Failure::Eof => SlotParseError::Syntax(JsonError("unexpected EOF".into())),
        Failure::Syntax(m) => SlotParseError::Syntax(JsonError(m)),
        Failure::SlotInString(p) => SlotParseError::SlotInString(p),
        Failure::Resolve(m) => SlotParseError::Resolve(m),
    })
}

/// A variable slot `$(` spaces `[A-Za-z0-9_.]+` spaces `)` at the start of `s`: its length
/// in bytes and its path (spec §2.5).
pub fn match_slot(s: &str) -> Option<(usize, &str)> {
    let rest = s.strip_prefix("$(")?;
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c');
    let after_lead = rest.trim_start_matches(is_space);
    let path_len = after_lead
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
        .count();
    if path_len == 0 {
        return None;
    }
    let (path, tail) = after_lead.split_at(path_len);
    let after_trail = tail.trim_start_matches(is_space);
    after_trail.strip_prefix(')')?;
    let consumed = s.len() - after_trail.len() + 1;
    Some((consumed, path))
}

enum Failure {
    Eof,
    Syntax(String),
    SlotInString(String),
    Resolve(String),
}

impl Failure {
    fn into_json(self, eof_text: &str) -> JsonError {
        match self {
            Failure::Eof => JsonError(eof_text.into()),
            Failure::Syntax(m) | Failure::Resolve(m) => JsonError(m),
            Failure::SlotInString(p) => JsonError(format!("variable $({p}) inside a string")),
        }
    }
}

/// Go's `%q`-style quoting of the offending character.
fn quote_char(c: char) -> String {
    format!("{c:?}")
}

type Resolve<'r> = &'r mut dyn FnMut(&str) -> Result<Value, String>;

struct Parser<'a, 'r> {
    text: &'a str,
    pos: usize,
    numbers: Numbers,
    slots: Option<Resolve<'r>>,
}

impl<'a, 'r> Parser<'a, 'r> {
    fn new(text: &'a str, numbers: Numbers, slots: Option<Resolve<'r>>) -> Self {
        Self {
            text,
            pos: 0,
            numbers,
            slots,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn peek_char(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn unexpected(&self, context: &str) -> Failure {
        match self.peek_char() {
            None => Failure::Eof,
            Some(c) => Failure::Syntax(format!("invalid character {} {context}", quote_char(c))),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Failure> {
        if depth > MAX_DEPTH {
            return Err(Failure::Syntax("exceeded max depth".into()));
        }
        self.skip_ws();
        match self.peek() {
            None => Err(Failure::Eof),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'$') if self.slots.is_some() => self.slot(),
            Some(_) => Err(self.unexpected("looking for beginning of value")),
        }
    }

    fn slot(&mut self) -> Result<Value, Failure> {
        let Some((len, path)) = match_slot(&self.text[self.pos..]) else {
            return Err(self.unexpected("looking for beginning of value"));
        };
        self.pos += len;
        match self.slots.as_mut() {
            Some(resolve) => resolve(path).map_err(Failure::Resolve),
            None => Err(Failure::Syntax("no variables here".into())),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, Failure> {
        for expected in word.bytes() {
            match self.peek() {
                Some(b) if b == expected => self.pos += 1,
                _ => {
                    return Err(self.unexpected(&format!(
                        "in literal {word} (expecting {})",
                        quote_char(expected as char)
                    )));
                }
            }
        }
        Ok(value)
    }

    fn object(&mut self, depth: usize) -> Result<Value, Failure> {
        self.pos += 1;
        let mut map = Map::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Map(map));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("looking for beginning of object key string"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("after object key"));
            }
            self.pos += 1;
            let value = self.value(depth + 1)?;
            map.insert(key, value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Map(map));
                }
                _ => return Err(self.unexpected("after object key:value pair")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, Failure> {
        self.pos += 1;
        let mut list = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::List(list));
        }
        loop {
            list.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::List(list));
                }
                _ => return Err(self.unexpected("after array element")),
            }
        }
    }

    fn string(&mut self) -> Result<String, Failure> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek_char() else {
                return Err(Failure::Eof);
            };
            match c {
                '"' => {
                    self.pos += 1;
                    break;
                }
                '\\' => {
                    self.pos += 1;
                    out.push(self.escape()?);
                }
                c if (c as u32) < 0x20 => return Err(self.unexpected("in string literal")),
                c => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
        if self.slots.is_some() {
            let raw = &self.text[start..self.pos];
            if let Some(at) = raw.find("$(")
                && let Some((_, path)) = match_slot(&raw[at..])
            {
                return Err(Failure::SlotInString(path.to_owned()));
            }
        }
        Ok(out)
    }

    fn escape(&mut self) -> Result<char, Failure> {
        let simple = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\x08',
            Some(b'f') => '\x0c',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                return self.unicode_escape();
            }
            _ => return Err(self.unexpected("in string escape code")),
        };
        self.pos += 1;
        Ok(simple)
    }

    fn hex4(&mut self) -> Result<u32, Failure> {
        let mut v = 0u32;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| (b as char).to_digit(16))
                .ok_or_else(|| self.unexpected("in \\u hexadecimal character escape"))?;
            v = v * 16 + digit;
            self.pos += 1;
        }
        Ok(v)
    }

    /// `\uXXXX`, pairing surrogates; a lone surrogate becomes U+FFFD as in Go.
    fn unicode_escape(&mut self) -> Result<char, Failure> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) && self.text[self.pos..].starts_with("\\u") {
            let save = self.pos;
            self.pos += 2;
            let second = self.hex4()?;
            if (0xDC00..0xE000).contains(&second) {
                let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            self.pos = save;
        }
        Ok(char::from_u32(first).unwrap_or('\u{FFFD}'))
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value, Failure> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.unexpected("in numeric literal")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.unexpected("after decimal point in numeric literal"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.unexpected("in exponent of numeric literal"));
            }
        }
        let text = &self.text[start..self.pos];
        if integer && self.numbers == Numbers::Exact {
            if let Ok(v) = text.parse::<i64>() {
                return Ok(Value::Int(v));
            }
            if let Some(v) = BigInt::parse_bytes(text.as_bytes(), 10) {
                return Ok(Value::BigInt(v));
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(Failure::Syntax(format!(
                "json: cannot unmarshal number {text} into Go value of type float64"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(s: &str) -> Value {
        parse_first(s, Numbers::Exact).unwrap()
    }

    #[test]
    fn integers_exact_other_numbers_float() {
        assert_eq!(first("42"), Value::Int(42));
        assert_eq!(first("-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(
            first("18446744073709551615"),
            Value::BigInt("18446744073709551615".parse().unwrap())
        );
        assert_eq!(first("1.0"), Value::Float(1.0));
        assert_eq!(first("1e3"), Value::Float(1000.0));
        assert_eq!(
            parse_first("[1]", Numbers::Floats).unwrap(),
            Value::List(vec![Value::Float(1.0)])
        );
        assert_eq!(
            parse_first("1e999", Numbers::Exact).unwrap_err().0,
            "json: cannot unmarshal number 1e999 into Go value of type float64"
        );
    }

    #[test]
    fn first_document_only_unless_whole() {
        assert_eq!(first(r#"{"a":1} trailing"#).to_string_debug(), "{a:1}");
        assert_eq!(
            parse_whole(r#"{"a":1} x"#, Numbers::Exact).unwrap_err().0,
            "invalid character 'x' after top-level value"
        );
        assert_eq!(parse_first("  ", Numbers::Exact).unwrap_err().0, "EOF");
        assert_eq!(
            parse_first("[1,", Numbers::Exact).unwrap_err().0,
            "unexpected EOF"
        );
        assert_eq!(
            parse_whole("[1,", Numbers::Exact).unwrap_err().0,
            "unexpected end of JSON input"
        );
        assert_eq!(
            parse_first("hello", Numbers::Exact).unwrap_err().0,
            "invalid character 'h' looking for beginning of value"
        );
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            first(r#""a\"b\\\/\n\u00e9\ud83d\ude00\ud800""#),
            Value::string("a\"b\\/\né😀\u{FFFD}")
        );
        assert!(parse_first("\"a\nb\"", Numbers::Exact).is_err());
        assert!(parse_first(r#""\x""#, Numbers::Exact).is_err());
    }

    #[test]
    fn slots() {
        let mut resolve = |p: &str| match p {
            "a" => Ok(Value::Int(1)),
            "b.c" => Ok(Value::string("x")),
            other => Err(format!("no {other}")),
        };
        assert_eq!(
            parse_with_slots("[ $(a), $( b.c ) ]", &mut resolve).unwrap(),
            Value::List(vec![Value::Int(1), Value::string("x")])
        );
        assert_eq!(
            parse_with_slots("$(a)", &mut resolve).unwrap(),
            Value::Int(1)
        );
        assert_eq!(
            parse_with_slots(r#"{"k": "$(a)"}"#, &mut resolve).unwrap_err(),
            SlotParseError::SlotInString("a".into())
        );
        assert_eq!(
            parse_with_slots(r#"{"$(a)": 1}"#, &mut resolve).unwrap_err(),
            SlotParseError::SlotInString("a".into())
        );
        assert_eq!(
            parse_with_slots("$(zz)", &mut resolve).unwrap_err(),
            SlotParseError::Resolve("no zz".into())
        );
        assert!(matches!(
            parse_with_slots("$(my-task)", &mut resolve).unwrap_err(),
            SlotParseError::Syntax(_)
        ));
    }

    #[test]
    fn slot_pattern() {
        assert_eq!(match_slot("$(a.b_1)x"), Some((8, "a.b_1")));
        assert_eq!(match_slot("$(  a \t)"), Some((8, "a")));
        assert_eq!(match_slot("$()"), None);
        assert_eq!(match_slot("$(a b)"), None);
        assert_eq!(match_slot("$(a"), None);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "[".repeat(5000);
        assert_eq!(
            parse_first(&deep, Numbers::Exact).unwrap_err().0,
            "exceeded max depth"
        );
    }

    impl Value {
        fn to_string_debug(&self) -> String {
            match self {
                Value::Map(m) => format!(
                    "{{{}}}",
                    m.iter()
                        .map(|(k, v)| format!("{k}:{}", v.to_string_debug()))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                Value::Int(i) => i.to_string(),
                other => format!("{other:?}"),
            }
        }
    }
}
