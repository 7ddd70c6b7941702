//! The rules for a bridge's fields (`bridge.md` §5); each failure is a [`BridgeError::Invalid`]
//! whose message names the field and repeats at most a short prefix of the value.

use super::{BridgeError, BridgeResult};

/// The longest name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// The longest URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// The longest outgoing token, in bytes.
const MAX_TOKEN_BYTES: usize = 1024;
/// `minimumContractPayment` fits in a uint256 (at most 78 decimal digits).
const MAX_PAYMENT_DIGITS: usize = 78;
/// How much of a value an error message repeats.
const SHOWN_CHARS: usize = 48;

fn invalid(message: String) -> BridgeError {
    BridgeError::Invalid(message)
}

/// The first characters of `text`, for messages and logs.
pub(super) fn shown(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(SHOWN_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// `^[a-zA-Z0-9_-]+$`, at most [`MAX_NAME_BYTES`].
pub(super) fn name(name: &str) -> BridgeResult<()> {
    if name.is_empty() {
        return Err(invalid("name must not be empty".to_owned()));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(invalid(format!(
            "name is {} bytes, more than {MAX_NAME_BYTES}",
            name.len()
        )));
    }
    if !name
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
    {
        return Err(invalid(format!(
            "name {:?} must match ^[a-zA-Z0-9_-]+$",
            shown(name)
        )));
    }
    Ok(())
}

/// An absolute `http`/`https` URL with a host, at most [`MAX_URL_BYTES`], no whitespace or
/// control characters, and no `user:password@`: credentials belong in the outgoing token,
/// where they are never logged or shown (a URL is both).
pub(super) fn url(url: &str) -> BridgeResult<()> {
    if url.len() > MAX_URL_BYTES {
        return Err(invalid(format!(
            "url is {} bytes, more than {MAX_URL_BYTES}",
            url.len()
        )));
    }
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &url["http://".len()..]
    } else if lower.starts_with("https://") {
        &url["https://".len()..]
    } else {
        return Err(invalid(
            "url must be an absolute http:// or https:// URL".to_owned(),
        ));
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "url must not contain whitespace or control characters".to_owned(),
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        // Not repeated: the part before '@' is a credential.
        return Err(invalid(
            "url must not contain credentials (user:password@); use outgoingToken".to_owned(),
        ));
    }
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| !port.contains(']'))
        .map_or(authority, |(host, _)| host);
    if host.is_empty() {
        return Err(invalid(format!("url {:?} has no host", shown(url))));
    }
    if let Some((_, port)) = authority
        .rsplit_once(':')
        .filter(|(_, port)| !port.contains(']'))
        && port.parse::<u16>().is_err()
    {
        return Err(invalid(format!("url {:?} has an invalid port", shown(url))));
    }
    Ok(())
}

/// A non-negative integer (decimal digits), at most uint256; leading zeros are dropped.
pub(super) fn payment(payment: &str) -> BridgeResult<String> {
    if payment.is_empty() || !payment.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid(format!(
            "minimumContractPayment {:?} must be a non-negative integer",
            shown(payment)
        )));
    }
    let trimmed = payment.trim_start_matches('0');
    if trimmed.len() > MAX_PAYMENT_DIGITS {
        return Err(invalid(format!(
            "minimumContractPayment has more than {MAX_PAYMENT_DIGITS} digits"
        )));
    }
    Ok(if trimmed.is_empty() { "0" } else { trimmed }.to_owned())
}

/// Printable ASCII (it becomes an HTTP header value), at most 1 KiB. Never repeated.
pub(super) fn outgoing_token(token: &str) -> BridgeResult<()> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid(format!(
            "outgoingToken is more than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    if !token.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(invalid(
            "outgoingToken must be printable ASCII without spaces".to_owned(),
        ));
    }
    Ok(())
}
