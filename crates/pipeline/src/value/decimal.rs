//! Exact decimals (spec §3.2): [`bigdecimal`] underneath, with the reference's rules on top.
//!
//! The reference node uses shopspring/decimal: a big integer and an `int32` exponent, the
//! shape of a `BigDecimal` (whose scale is the negated exponent). What stays here is what
//! the reference does differently from `bigdecimal`: its stricter text grammar, its error
//! texts, division to a number of *places* rounded half away from zero (`bigdecimal`
//! divides to a number of significant digits), floats read through their shortest text,
//! plain rendering without trailing zeros, and one deliberate bound: exponents stay within
//! ±[`MAX_EXPONENT`], so that no input (`1e2000000000`) can make a value whose plain-digit
//! text or alignment would need gigabytes.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use bigdecimal::{BigDecimal, RoundingMode};
use num_bigint::{BigInt, Sign};
use num_traits::{ToPrimitive, Zero};

use crate::literals::is_decimal;

/// Largest exponent magnitude a decimal may carry (the reference allows ±2^31).
pub const MAX_EXPONENT: i64 = 100_000;

/// An exact decimal number; equality and order are by value (`1.0 == 1`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Decimal(BigDecimal);

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

fn pow10(n: u64) -> BigInt {
    num_traits::pow(
        BigInt::from(10u32),
        usize::try_from(n).unwrap_or(usize::MAX),
    )
}

impl Decimal {
    /// `value`, when its exponent is within ±[`MAX_EXPONENT`].
    fn bounded(value: BigDecimal) -> Option<Self> {
        let (_, scale) = value.as_bigint_and_scale();
        (scale.unsigned_abs() <= MAX_EXPONENT.unsigned_abs()).then_some(Self(value))
    }

    /// `mantissa × 10^exponent`; `None` when the exponent is out of range.
    pub fn new(mantissa: BigInt, exponent: i64) -> Option<Self> {
        Self::bounded(BigDecimal::new(mantissa, exponent.checked_neg()?))
    }

    /// Zero.
    pub fn zero() -> Self {
        Self::from(0i64)
    }

    /// Parses the §3.2 text grammar: optional sign, digits with at most one `.`, optional
    /// exponent. No spaces, `_`, hex, `Inf` or `NaN`.
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        let fail = || DecimalError::Parse(text.to_owned());
        // bigdecimal's parser is laxer than the reference's (it takes `_` between digits),
        // so the grammar is checked first; it then does the conversion.
        if !is_decimal(text) {
            return Err(fail());
        }
        let value = BigDecimal::from_str(text).map_err(|_| fail())?;
        Self::bounded(value).ok_or_else(fail)
    }

    /// The decimal of a float through its shortest round-trip text (`0.1` → 0.1).
    ///
    /// Not bigdecimal's `TryFrom<f64>`: that takes the float's exact binary value
    /// (0.1000000000000000055…), where the reference takes the shortest text.
    pub fn from_f64(f: f64) -> Result<Self, DecimalError> {
        if !f.is_finite() {
            return Err(DecimalError::NonFinite(go_non_finite(f).to_owned()));
        }
        Self::parse(&format!("{f:e}"))
    }

    /// The mantissa (borrowed: `bigdecimal` holds it as is).
    pub fn mantissa(&self) -> Cow<'_, BigInt> {
        self.0.as_bigint_and_scale().0
    }

    /// The power of ten the mantissa is scaled by.
    pub fn exponent(&self) -> i32 {
        let (_, scale) = self.0.as_bigint_and_scale();
        // Within ±MAX_EXPONENT (plus the few places bigdecimal's normalising shortcuts
        // may add), far inside i32.
        i32::try_from(-scale).unwrap_or(if scale > 0 { i32::MIN } else { i32::MAX })
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.0.sign() == Sign::Minus
    }

    /// The value as an integer, when it is one.
    pub fn to_integer(&self) -> Option<BigInt> {
        self.0
            .is_integer()
            .then(|| self.0.with_scale(0).into_bigint_and_scale().0)
    }

    /// Exact sum.
    pub fn add(&self, other: &Self) -> Self {
        Self(&self.0 + &other.0)
    }

    /// Exact product; `multiply overflow` when the exponent leaves the range.
    pub fn mul(&self, other: &Self) -> Result<Self, DecimalError> {
        // Checked on the operands' exponents, before any work: bigdecimal may normalise a
        // product by one, which moves its exponent without changing its value.
        let exponent = i64::from(self.exponent()) + i64::from(other.exponent());
        if exponent.abs() > MAX_EXPONENT {
            return Err(DecimalError::MultiplyOverflow);
        }
        Ok(Self(&self.0 * &other.0))
    }

    /// Quotient rounded half away from zero to `precision` places (negative: to tens,
    /// hundreds, …), exact however many digits it has.
    pub fn div_round(&self, divisor: &Self, precision: i32) -> Result<Self, DecimalError> {
        if divisor.is_zero() {
            return Err(DecimalError::DivideByZero);
        }
        let places = i64::from(precision);
        if places.abs() > MAX_EXPONENT {
            return Err(DecimalError::DivisionOverflow);
        }
        // bigdecimal's `/` stops at a number of significant digits and rounds there, and
        // rounding that again to `places` could round twice. So the quotient is truncated
        // on integers one place further, where it is exact, and bigdecimal rounds that
        // last digit half away from zero (its HalfUp): the digits beyond it cannot change
        // a half-away-from-zero decision.
        let (a, a_scale) = self.0.as_bigint_and_scale();
        let (b, b_scale) = divisor.0.as_bigint_and_scale();
        // (a·10^-a_scale) / (b·10^-b_scale) · 10^(places+1) = a·10^shift / b
        let shift = places + 1 + b_scale - a_scale;
        let truncated = if shift >= 0 {
            a.as_ref() * pow10(shift.unsigned_abs()) / b.as_ref()
        } else {
            a.as_ref() / (b.as_ref() * pow10(shift.unsigned_abs()))
        };
        let rounded =
            BigDecimal::new(truncated, places + 1).with_scale_round(places, RoundingMode::HalfUp);
        Ok(Self(rounded))
    }

    /// A lossy float, for callers that need one.
    pub fn to_f64(&self) -> Option<f64> {
        // Through the text: the standard library's parser rounds correctly.
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
        Self(BigDecimal::from(v))
    }
}

impl From<BigInt> for Decimal {
    fn from(v: BigInt) -> Self {
        Self(BigDecimal::from(v))
    }
}

/// Plain digits, never an exponent; fractional trailing zeros and a bare `.` removed.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (_, scale) = self.0.as_bigint_and_scale();
        // Only fractional digits can end in zeros worth dropping; integers skip the work.
        if scale > 0 {
            self.0.normalized().write_plain_string(f)
        } else {
            self.0.write_plain_string(f)
        }
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

impl FromStr for Decimal {
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
    fn division_rounds_once_however_long_the_quotient() {
        // 0.4999…9 (120 nines): rounding at 100 significant digits first (bigdecimal's `/`)
        // would make it 0.5 and then 1.
        let almost_half = format!("0.4{}", "9".repeat(120));
        assert_eq!(
            d(&almost_half).div_round(&d("1"), 0).unwrap().to_string(),
            "0"
        );
        assert_eq!(
            d(&almost_half).div_round(&d("-1"), 1).unwrap().to_string(),
            "-0.5"
        );
        // A quotient of 200 digits is exact.
        let big = format!("1{}", "0".repeat(200));
        assert_eq!(
            d(&big).div_round(&d("3"), 0).unwrap().to_string(),
            format!("3{}", "3".repeat(199))
        );
    }

    #[test]
    fn mantissa_and_exponent_are_the_parsed_ones() {
        let x = d("-12.50");
        assert_eq!(*x.mantissa(), BigInt::from(-1250));
        assert_eq!(x.exponent(), -2);
        // A product by one at the exponent bound stays a value, whatever shape it takes.
        let top = d("10e100000");
        assert_eq!(top.mul(&d("1")).unwrap(), top);
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
