//! The values tasks exchange and how a task attribute becomes one (spec §3).
//!
//! - [`Value`]: every kind a task can produce or read (§3.1);
//! - [`decimal`]: exact decimals and their text (§3.2);
//! - [`json`]: reading JSON with the reference's number rules, and with `$(…)` slots;
//! - [`render`]: the JSON forms of a value — stored/shown outputs and outgoing bodies (§3.3);
//! - [`convert`]: parameter conversions (§3.7);
//! - [`vars`]: run variables and key paths (§3.4, §3.5);
//! - [`source`]: the attribute sources V, J, L, I, IS and text interpolation (§3.6).
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use offchain_pipeline::value::render::{to_body_json, to_json};
//! use offchain_pipeline::value::{Decimal, Resolver, Source, Value, Vars};
//!
//! let mut vars = Vars::new();
//! vars.set_webhook_run(r#"{"asset": "ETH"}"#, Value::Null);
//! vars.set_output("price", Value::Decimal(Decimal::parse("3000.50").unwrap()));
//!
//! let attrs = BTreeMap::from([
//!     ("requestData".to_owned(), r#"{"p": $(price), "a": "x"}"#.to_owned()),
//!     ("url".to_owned(), "http://h/$(jobRun.requestBody.asset)".to_owned()),
//! ]);
//! let r = Resolver::new(&attrs, &vars, &[]);
//! let data = r.resolve("requestData", &[Source::V, Source::J]).unwrap().unwrap();
//! assert_eq!(to_json(&data), r#"{"a":"x","p":"3000.5"}"#);
//! assert_eq!(to_body_json(&data).unwrap(), r#"{"a":"x","p":"3000.5"}"#);
//! let url = r.resolve("url", &[Source::V, Source::L]).unwrap().unwrap();
//! assert_eq!(url, Value::string("http://h/ETH"));
//! ```

pub mod convert;
pub mod decimal;
pub mod json;
pub mod render;
pub mod source;
pub mod vars;

use std::collections::BTreeMap;

use num_bigint::BigInt;

pub use convert::ConvertError;
pub use decimal::{Decimal, DecimalError};
pub use source::{Resolver, Source};
pub use vars::{VarError, Vars};

/// A map value: string keys, sorted (so rendering is deterministic).
pub type Map = BTreeMap<String, Value>;

/// One value of a pipeline run.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null`, or "no value".
    Null,
    /// A boolean.
    Bool(bool),
    /// An exact decimal (task results such as `multiply`'s).
    Decimal(Decimal),
    /// An integer from JSON that fits in `i64`.
    Int(i64),
    /// A JSON integer beyond `i64` (u64 range included), kept exact.
    BigInt(BigInt),
    /// A JSON number with a fraction or exponent.
    Float(f64),
    /// Text (http/bridge bodies, `lowercase`, …).
    String(String),
    /// Raw bytes (`hexdecode`, `base64decode`).
    Bytes(Vec<u8>),
    /// A JSON array.
    List(Vec<Value>),
    /// A JSON object.
    Map(Map),
    /// A failed task's entry in the run variables: its error text.
    Error(String),
    /// `memo`'s result: wraps null, bool, decimal, string, map or list.
    Memo(Box<Value>),
    /// A UUID (`jobSpec.externalJobID`).
    Uuid(uuid::Uuid),
}

impl Value {
    /// Go's `%T` of the reference's representation, used in reference error texts
    /// (`value at key 'a' is a string, not a map or slice`).
    pub fn go_type(&self) -> &'static str {
        match self {
            Value::Null => "<nil>",
            Value::Bool(_) => "bool",
            Value::Decimal(_) => "decimal.Decimal",
            Value::Int(_) => "int64",
            Value::BigInt(_) => "*big.Int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::Bytes(_) => "[]uint8",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Error(_) => "*errors.fundamental",
            Value::Memo(_) => "*pipeline.ObjectParam",
            Value::Uuid(_) => "uuid.UUID",
        }
    }

    /// Whether this is a failed task's error marker.
    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }

    /// A string value.
    pub fn string(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }

    /// A decimal value from its text; `None` outside the §3.2 grammar.
    pub fn decimal(text: &str) -> Option<Self> {
        Decimal::parse(text).ok().map(Value::Decimal)
    }
}

impl From<Decimal> for Value {
    fn from(d: Decimal) -> Self {
        Value::Decimal(d)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
