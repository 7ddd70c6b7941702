//! Go duration text (`300ms`, `1m30s`, `1.5h`, `0`) as the reference's `time.ParseDuration`
//! reads it, into [`std::time::Duration`].

use std::time::Duration;

/// Why a duration text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not Go duration syntax.
    #[error("invalid duration {0:?} (expected Go duration syntax such as \"300ms\" or \"1m30s\")")]
    Invalid(String),
    /// A number without a unit, such as `10`.
    #[error("missing unit in duration {0:?} (units: ns, us, ms, s, m, h)")]
    MissingUnit(String),
    /// A unit Go does not know, such as `10d`.
    #[error("unknown unit {unit:?} in duration {text:?} (units: ns, us, ms, s, m, h)")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole duration text.
        text: String,
    },
    /// Beyond Go's range (about 292 years).
    #[error("duration {0:?} is out of range")]
    Overflow(String),
    /// A negative duration where only zero or more makes sense.
    #[error("negative duration {0:?} is not allowed")]
    Negative(String),
}

/// Parses a Go duration and refuses negative ones (`-0s` is zero and accepted).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let (negative, duration) = parse_signed_duration(text)?;
    if negative && !duration.is_zero() {
        return Err(DurationError::Negative(text.to_owned()));
    }
    Ok(duration)
}

/// Parses a Go duration, returning its sign apart from its magnitude.
pub fn parse_signed_duration(text: &str) -> Result<(bool, Duration), DurationError> {
    let invalid = || DurationError::Invalid(text.to_owned());
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok((negative, Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    // Go keeps nanoseconds in an i64; so do we, to refuse the same texts.
    let limit = u128::from(i64::MAX.unsigned_abs());
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after_int) = rest.split_at(int_len);
        let (frac_digits, after_num) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid());
        }
        let unit_len = after_num
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(after_num.len(), |(i, _)| i);
        let (unit, after_unit) = after_num.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(text.to_owned()));
        }
        let unit_ns: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(DurationError::UnknownUnit {
                    unit: unit.to_owned(),
                    text: text.to_owned(),
                });
            }
        };
        let overflow = || DurationError::Overflow(text.to_owned());
        let int: u128 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| overflow())?
        };
        let mut part = int.checked_mul(unit_ns).ok_or_else(overflow)?;
        // Fraction: Go truncates towards zero after scaling by the unit.
        let mut scale = 1u128;
        let mut frac = 0u128;
        for d in frac_digits.bytes() {
            if scale > unit_ns {
                break; // further digits are below a nanosecond
            }
            frac = frac * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        part += frac * unit_ns / scale;
        total = total.checked_add(part).ok_or_else(overflow)?;
        if total > limit + u128::from(negative) {
            return Err(overflow());
        }
        rest = after_unit;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| invalid())?;
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| invalid())?;
    Ok((negative, Duration::new(secs, nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn accepts_go_forms() {
        assert_eq!(parse_duration("300ms"), Ok(ms(300)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("1.5h"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration("1.s"), Ok(ms(1000)));
        assert_eq!(parse_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("+0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("-0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("10μs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("1h1m1s1ms"), Ok(ms(3_661_001)));
        assert_eq!(parse_duration("0.0000000015s"), Ok(Duration::from_nanos(1)));
        assert_eq!(parse_signed_duration("-1.5s"), Ok((true, ms(1500))));
        assert_eq!(
            parse_duration("2562047h47m16.854775807s"),
            Ok(Duration::new(9_223_372_036, 854_775_807))
        );
    }

    #[test]
    fn refuses_what_go_refuses() {
        for bad in ["", "-", "s", ".s", "1.2.3s", "1 s", "1s "] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_duration("10"),
            Err(DurationError::MissingUnit("10".into()))
        );
        assert!(matches!(
            parse_duration("1d"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("2562048h"),
            Err(DurationError::Overflow(_))
        ));
        assert_eq!(
            parse_duration("-1s"),
            Err(DurationError::Negative("-1s".into()))
        );
    }
}
