//! Exact decimals: mantissa × 10^exponent over an arbitrary-precision integer (spec §3.2).
//!
//! The reference node uses shopspring/decimal, which is exactly this shape (a big integer and
//! an `int32` exponent); holding the same shape here makes its rules (text grammar, rounding,
//! overflow, rendering) direct to reproduce. One deliberate bound: exponents stay within
//! ±[`MAX_EXPONENT`], so that no input (`1e2000000000`) can make a value whose plain-digit
//! text or alignment would need gigabytes.

use std::cmp::Ordering;
use std::fmt;

use num_bigint::{BigInt, Sign};
use num_traits::{Signed, ToPrimitive, Zero};

/// Largest exponent magnitude a decimal may carry (the reference allows ±2^31).
pub const MAX_EXPONENT: i64 = 100_000;

/// An exact decimal number.
#[derive(Clone)]
pub struct Decimal {
    mantissa: BigInt,
    exponent: i32,
}

/// Why a decimal could not be made or computed; texts are the reference's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Text outside the grammar of §3.2 (or an exponent beyond [`MAX_EXPONENT`]).
    #[error("can't convert {0} to decimal")]
    Parse(String),
    /// NaN or an infinity.
    #[error("invalid float {0}, cannot convert to decimal")]
    NonFinite(String),
    /// A product whose exponent leaves the allowed range.
    #[error("multiply overflow")]
    MultiplyOverflow,
    /// A quotient whose exponent (or precision) leaves the allowed range.
    #[error("division overflow")]
    DivisionOverflow,
    /// Division by zero.
    #[error("divide by zero")]
    DivideByZero,
}

/// Places a division rounds to when no precision is given.
pub const DIVISION_PRECISION: i32 = 16;

fn pow10(n: u32) -> BigInt {
    BigInt::from(10u32).pow(n)
}

fn exponent_in_range(e: i64) -> Option<i32> {
    if e.abs() <= MAX_EXPONENT {
        i32::try_from(e).ok()
    } else {
        None
    }
}

impl Decimal {
    /// `mantissa × 10^exponent`; `None` when the exponent is out of range.
    pub fn new(mantissa: BigInt, exponent: i64) -> Option<Self> {
        Some(Self {
            mantissa,
            exponent: exponent_in_range(exponent)?,
        })
    }

    /// Zero.
    pub fn zero() -> Self {
        Self::from(0i64)
    }

    /// Parses the §3.2 text grammar: optional sign, digits with at most one `.`, optional
    /// exponent. No spaces, `_`, hex, `Inf` or `NaN`.
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        let fail = || DecimalError::Parse(text.to_owned());
        let (body, exp_text) = match text.find(['e', 'E']) {
            Some(at) => (&text[..at], Some(&text[at + 1..])),
            None => (text, None),
        };
        let unsigned = body.strip_prefix(['+', '-']).unwrap_or(body);
        let negative = body.starts_with('-');
        let (int_part, frac_part) = match unsigned.split_once('.') {
            Some((i, f)) => (i, f),
            None => (unsigned, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.len() + frac_part.len() == 0 || !all_digits(int_part) || !all_digits(frac_part)
        {
            return Err(fail());
        }
        let mut exponent: i64 = 0;
        if let Some(exp_text) = exp_text {
            let digits = exp_text.strip_prefix(['+', '-']).unwrap_or(exp_text);
            if digits.is_empty() || !all_digits(digits) {
                return Err(fail());
            }
            let significant = digits.trim_start_matches('0');
            if significant.len() > 12 {
                return Err(fail());
            }
            let magnitude: i64 = if significant.is_empty() {
                0
            } else {
                significant.parse().map_err(|_| fail())?
            };
            exponent = if exp_text.starts_with('-') {
                -magnitude
            } else {
                magnitude
            };
        }
        let frac_len = i64::try_from(frac_part.len()).map_err(|_| fail())?;
        let digits = format!("{int_part}{frac_part}");
        let mut mantissa = BigInt::parse_bytes(digits.as_bytes(), 10).ok_or_else(fail)?;
        if negative {
            mantissa = -mantissa;
        }
        Self::new(mantissa, exponent - frac_len).ok_or_else(fail)
    }

    /// The decimal of a float through its shortest round-trip text (`0.1` → 0.1).
    pub fn from_f64(f: f64) -> Result<Self, DecimalError> {
        if !f.is_finite() {
            return Err(DecimalError::NonFinite(go_non_finite(f).to_owned()));
        }
        Self::parse(&format!("{f:e}"))
    }

    /// The mantissa.
    pub fn mantissa(&self) -> &BigInt {
        &self.mantissa
    }

    /// The power of ten the mantissa is scaled by.
    pub fn exponent(&self) -> i32 {
        self.exponent
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa.is_zero()
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.mantissa.sign() == Sign::Minus
    }

    /// The value as an integer, when it is one.
    pub fn to_integer(&self) -> Option<BigInt> {
        if self.exponent >= 0 {
            return Some(&self.mantissa * pow10(self.exponent.unsigned_abs()));
        }
        let scale = pow10(self.exponent.unsigned_abs());
        let remainder = &self.mantissa % &scale;
        remainder.is_zero().then(|| &self.mantissa / scale)
    }

    /// Mantissas of both numbers scaled to their common (smaller) exponent.
    fn aligned(&self, other: &Self) -> (BigInt, BigInt, i32) {
        let exponent = self.exponent.min(other.exponent);
        let scale = |d: &Self| {
            let shift = (i64::from(d.exponent) - i64::from(exponent)) as u32;
            if shift == 0 {
                d.mantissa.clone()
            } else {
                &d.mantissa * pow10(shift)
            }
        };
        (scale(self), scale(other), exponent)
    }

    /// Exact sum.
    pub fn add(&self, other: &Self) -> Self {
        let (a, b, exponent) = self.aligned(other);
        Self {
            mantissa: a + b,
            exponent,
        }
    }

    /// Exact product; `multiply overflow` when the exponent leaves the range.
    pub fn mul(&self, other: &Self) -> Result<Self, DecimalError> {
        Self::new(
            &self.mantissa * &other.mantissa,
            i64::from(self.exponent) + i64::from(other.exponent),
        )
        .ok_or(DecimalError::MultiplyOverflow)
    }

    /// Quotient rounded half away from zero to `precision` places (negative: to tens,
    /// hundreds, …), computed exactly on integers.
    pub fn div_round(&self, divisor: &Self, precision: i32) -> Result<Self, DecimalError> {
        if divisor.is_zero() {
            return Err(DecimalError::DivideByZero);
        }
        let result_exponent = -i64::from(precision);
        if result_exponent.abs() > MAX_EXPONENT {
            return Err(DecimalError::DivisionOverflow);
        }
        // q = round(ma / mb × 10^shift) × 10^-precision
        let shift = i64::from(self.exponent) - i64::from(divisor.exponent) + i64::from(precision);
        let (numerator, denominator) = if shift >= 0 {
            (
                &self.mantissa * pow10(shift as u32),
                divisor.mantissa.clone(),
            )
        } else {
            (
                self.mantissa.clone(),
                &divisor.mantissa * pow10(shift.unsigned_abs() as u32),
            )
        };
        let negative = (numerator.sign() == Sign::Minus) != (denominator.sign() == Sign::Minus);
        let (n, d) = (numerator.abs(), denominator.abs());
        let mut quotient = &n / &d;
        let remainder = n - &quotient * &d;
        if remainder * 2u32 >= d {
            quotient += 1u32;
        }
        if negative {
            quotient = -quotient;
        }
        Self::new(quotient, result_exponent).ok_or(DecimalError::DivisionOverflow)
    }

    /// A lossy float, for callers that need one.
    pub fn to_f64(&self) -> Option<f64> {
        self.to_string().parse().ok()
    }
}

/// Go's spelling of a non-finite float (`NaN`, `+Inf`, `-Inf`).
pub(crate) fn go_non_finite(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    }
}

impl From<i64> for Decimal {
    fn from(v: i64) -> Self {
        Self {
            mantissa: BigInt::from(v),
            exponent: 0,
        }
    }
}

impl From<BigInt> for Decimal {
    fn from(v: BigInt) -> Self {
        Self {
            mantissa: v,
            exponent: 0,
        }
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b, _) = self.aligned(other);
        a.cmp(&b)
    }
}

/// Plain digits, never an exponent; fractional trailing zeros and a bare `.` removed.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mantissa.is_zero() {
            return f.write_str("0");
        }
        if self.is_negative() {
            f.write_str("-")?;
        }
        let digits = self.mantissa.abs().to_string();
        if self.exponent >= 0 {
            f.write_str(&digits)?;
            for _ in 0..self.exponent {
                f.write_str("0")?;
            }
            return Ok(());
        }
        let scale = self.exponent.unsigned_abs() as usize;
        let (int_part, frac_part) = if digits.len() > scale {
            let (i, fr) = digits.split_at(digits.len() - scale);
            (i.to_owned(), fr.to_owned())
        } else {
            (
                "0".to_owned(),
                format!("{}{digits}", "0".repeat(scale - digits.len())),
            )
        };
        let frac_part = frac_part.trim_end_matches('0');
        if frac_part.is_empty() {
            f.write_str(&int_part)
        } else {
            write!(f, "{int_part}.{frac_part}")
        }
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

impl std::str::FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An `i64` view, for counts and indexes.
impl Decimal {
    /// The value as an `i64` when it is an integer in range.
    pub fn to_i64(&self) -> Option<i64> {
        self.to_integer()?.to_i64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn grammar() {
        for (text, shown) in [
            ("1", "1"),
            ("+1", "1"),
            ("-1.50", "-1.5"),
            ("1.", "1"),
            (".5", "0.5"),
            ("1e18", "1000000000000000000"),
            ("1.5e-3", "0.0015"),
            ("1E+2", "100"),
            ("0.000", "0"),
            ("-0", "0"),
            ("1e0000000000000000003", "1000"),
        ] {
            assert_eq!(d(text).to_string(), shown, "{text}");
        }
        for bad in [
            "",
            " 1",
            "1 ",
            "1_000",
            "0x10",
            "Inf",
            "NaN",
            "1..2",
            ".",
            "e5",
            "1e",
            "1e+",
            "--1",
            "+-1",
            "1.2.3",
            "1e99999999999999",
            "1e200000",
        ] {
            assert_eq!(
                Decimal::parse(bad).unwrap_err().to_string(),
                format!("can't convert {bad} to decimal"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rendering() {
        assert_eq!(d("2.90").to_string(), "2.9");
        assert_eq!(d("1.23e18").to_string(), "1230000000000000000");
        assert_eq!(d("0.0000000000000123").to_string(), "0.0000000000000123");
        assert_eq!(d("-0.001").to_string(), "-0.001");
        assert_eq!(d("100").to_string(), "100");
    }

    #[test]
    fn floats_use_shortest_text() {
        let sum = Decimal::from_f64(0.1)
            .unwrap()
            .add(&Decimal::from_f64(0.2).unwrap());
        assert_eq!(sum.to_string(), "0.3");
        assert_eq!(
            Decimal::from_f64(1e21).unwrap().to_string(),
            "1000000000000000000000"
        );
        assert_eq!(
            Decimal::from_f64(f64::NAN).unwrap_err().to_string(),
            "invalid float NaN, cannot convert to decimal"
        );
        assert_eq!(
            Decimal::from_f64(f64::NEG_INFINITY)
                .unwrap_err()
                .to_string(),
            "invalid float -Inf, cannot convert to decimal"
        );
    }

    #[test]
    fn division_rounds_half_away_from_zero() {
        let div = |a: &str, b: &str, p: i32| d(a).div_round(&d(b), p).unwrap().to_string();
        assert_eq!(div("2", "3", 16), "0.6666666666666667");
        assert_eq!(div("-2", "3", 16), "-0.6666666666666667");
        assert_eq!(div("12345.67", "1e18", 16), "0.0000000000000123");
        assert_eq!(div("200", "6", 18), "33.333333333333333333");
        assert_eq!(div("12345.67", "1000", -1), "10");
        assert_eq!(div("5", "2", 0), "3");
        assert_eq!(div("-5", "2", 0), "-3");
        assert_eq!(div("25", "1", -1), "30");
        assert_eq!(div("1", "-8", 2), "-0.13");
        assert_eq!(
            d("1").div_round(&d("0.00"), 2).unwrap_err(),
            DecimalError::DivideByZero
        );
        assert_eq!(
            d("1").div_round(&d("3"), 2_000_000).unwrap_err(),
            DecimalError::DivisionOverflow
        );
    }

    #[test]
    fn products_are_exact_and_bounded() {
        assert_eq!(
            d("12345.678").mul(&d("1e18")).unwrap().to_string(),
            "12345678000000000000000"
        );
        assert_eq!(
            d("1e99999").mul(&d("1e99999")).unwrap_err(),
            DecimalError::MultiplyOverflow
        );
    }

    #[test]
    fn ordering_and_integers() {
        assert!(d("2.5") < d("10"));
        assert_eq!(d("1.0"), d("1"));
        assert_eq!(d("1.20e1").to_integer(), Some(BigInt::from(12)));
        assert_eq!(d("1.25e1").to_integer(), None);
        assert_eq!(d("-3e2").to_i64(), Some(-300));
    }
}
