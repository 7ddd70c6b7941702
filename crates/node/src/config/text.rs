//! Checked strings of `node.toml`: bounded text, the JD's public key, the JD's address.

use std::fmt;

use serde::Deserialize;

/// Non-empty text of at most `MAX` bytes.
#[derive(Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct BoundedText<const MAX: usize>(String);

impl<const MAX: usize> TryFrom<String> for BoundedText<MAX> {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("must not be empty".into());
        }
        if text.len() > MAX {
            return Err(format!("at most {MAX} bytes, got {}", text.len()));
        }
        Ok(BoundedText(text))
    }
}

impl<const MAX: usize> BoundedText<MAX> {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> fmt::Debug for BoundedText<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<const MAX: usize> fmt::Display for BoundedText<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A JD's CSA public key: 32 bytes, written as 64 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct JdPublicKey([u8; 32]);

impl TryFrom<String> for JdPublicKey {
    type Error = &'static str;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut key).map_err(|_| "expected 64 hex characters")?;
        Ok(JdPublicKey(key))
    }
}

impl JdPublicKey {
    /// The raw key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for JdPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JdPublicKey({self})")
    }
}

impl fmt::Display for JdPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// The longest `host:port` accepted (a DNS name is at most 253 characters).
const MAX_URI_LEN: usize = 300;

/// `host:port` of a JD's node listener (no scheme: the link is always wsrpc over TLS).
#[derive(Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct JdUri {
    text: String,
    port: u16,
}

impl TryFrom<String> for JdUri {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let expected = || format!("expected host:port, got {text:?}");
        if text.len() > MAX_URI_LEN {
            return Err(format!("at most {MAX_URI_LEN} bytes, got {}", text.len()));
        }
        if text.contains("://") {
            return Err(format!("expected host:port without a scheme, got {text:?}"));
        }
        let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port: u16 = port.parse().map_err(|_| expected())?;
        let bad_host = host.is_empty()
            || host
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '/' | '@' | '?' | '#'));
        if bad_host || port == 0 {
            return Err(expected());
        }
        Ok(JdUri { text, port })
    }
}

impl JdUri {
    /// `host:port` as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Debug for JdUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl fmt::Display for JdUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_host_and_port() {
        for good in ["jd.example.com:8080", "127.0.0.1:1", "[::1]:8080"] {
            assert!(JdUri::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in [
            "jd",
            "jd:",
            ":80",
            "jd:0",
            "jd:70000",
            "wss://jd:80",
            "a b:80",
            "u@jd:80",
        ] {
            assert!(JdUri::try_from(bad.to_owned()).is_err(), "{bad}");
        }
        assert!(JdUri::try_from(format!("{}:80", "a".repeat(400))).is_err());
    }

    #[test]
    fn public_keys_are_64_hex_characters() {
        let key = JdPublicKey::try_from("ab".repeat(32)).unwrap();
        assert_eq!(key.to_string(), "ab".repeat(32));
        for bad in ["ab".repeat(31), "zz".repeat(32), String::new()] {
            assert!(JdPublicKey::try_from(bad).is_err());
        }
    }

    #[test]
    fn bounded_text_is_neither_empty_nor_too_long() {
        assert!(BoundedText::<3>::try_from("abc".to_owned()).is_ok());
        assert!(BoundedText::<3>::try_from("abcd".to_owned()).is_err());
        assert!(BoundedText::<3>::try_from(" ".to_owned()).is_err());
    }
}
