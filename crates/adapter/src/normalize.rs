//! Parameter normalization, declared on the parameter struct with serde's
//! `deserialize_with`, so that requests differing only in spelling (`usd`, `USD`) share one
//! cache entry and one upstream call.
//!
//! The cache key is made of the parameters as parsed ([`crate::cache::cache_key`]), and
//! the upstream call gets the same values, so a normalized field is normalized everywhere:
//! in the key, in the provider's request, in batches, streams and background refresh.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, Serialize)]
//! struct PriceParams {
//!     #[serde(alias = "base", deserialize_with = "offchain_adapter::normalize::uppercase")]
//!     coin: String,
//!     #[serde(default = "usd", deserialize_with = "offchain_adapter::normalize::uppercase")]
//!     market: String,
//! }
//! # fn usd() -> String { "USD".into() }
//!
//! let p: PriceParams = serde_json::from_value(serde_json::json!({"base": "eth"})).unwrap();
//! assert_eq!((p.coin.as_str(), p.market.as_str()), ("ETH", "USD"));
//! ```
//!
//! A `default` is not passed through the function: write defaults already normalized.

use serde::{Deserialize, Deserializer};

/// A string parameter in upper case (`usd` → `USD`), e.g. ticker symbols.
pub fn uppercase<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    convert(deserializer, str::make_ascii_uppercase, str::to_uppercase)
}

/// A string parameter in lower case (`ETH` → `eth`), e.g. provider ids.
pub fn lowercase<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    convert(deserializer, str::make_ascii_lowercase, str::to_lowercase)
}

fn convert<'de, D: Deserializer<'de>>(
    deserializer: D,
    ascii: fn(&mut str),
    unicode: fn(&str) -> String,
) -> Result<String, D::Error> {
    let mut value = String::deserialize(deserializer)?;
    if value.is_ascii() {
        // In place: no second allocation for the usual ASCII symbol.
        ascii(&mut value);
        Ok(value)
    } else {
        Ok(unicode(&value))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Params {
        #[serde(deserialize_with = "super::uppercase")]
        symbol: String,
        #[serde(deserialize_with = "super::lowercase")]
        id: String,
    }

    #[test]
    fn ascii_and_unicode_are_normalized() {
        let p: Params = serde_json::from_value(json!({"symbol": "eTh", "id": "BitCoin"}))
            .expect("strings parse");
        assert_eq!((p.symbol.as_str(), p.id.as_str()), ("ETH", "bitcoin"));
        let p: Params = serde_json::from_value(json!({"symbol": "straße", "id": "ÉTÉ"}))
            .expect("strings parse");
        assert_eq!((p.symbol.as_str(), p.id.as_str()), ("STRASSE", "été"));
    }

    #[test]
    fn non_strings_are_still_refused() {
        let error = serde_json::from_value::<Params>(json!({"symbol": 5, "id": "x"}))
            .expect_err("a number is not a symbol");
        assert!(error.to_string().contains("invalid type"), "{error}");
    }
}
