//! The cron job `schedule` (§7.2): `CRON_TZ=<zone> ` + six fields or a descriptor, or
//! `@every <Go duration>`. The field grammar is checked by `croner`, after refusing its
//! extensions (`L`, `W`, `#`, `+`) that the reference does not know.

use std::str::FromStr;
use std::time::Duration;

use croner::parser::{CronParser, Seconds, Year};

use crate::duration::parse_duration;

/// A checked cron schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Six fields (`second minute hour day-of-month month day-of-week`) or a descriptor
    /// (`@hourly` …), in an IANA zone.
    Cron {
        /// The IANA zone name after `CRON_TZ=`.
        zone: String,
        /// The fields or the descriptor, as written.
        expression: String,
    },
    /// `@every D`: D rounded down to whole seconds, at least one second (reference rule).
    Every(Duration),
}

impl Schedule {
    /// The first tick strictly after `now`; `None` when there is none (a zone or expression
    /// that stopped parsing, or no matching time ahead). `@every D` ticks at `now + D`
    /// rounded down to a whole second (its ticks are aligned to whole seconds, §7.2).
    pub fn next_after(&self, now: std::time::SystemTime) -> Option<std::time::SystemTime> {
        use chrono::{DateTime, Utc};
        match self {
            Schedule::Every(period) => {
                let since = now.duration_since(std::time::UNIX_EPOCH).ok()?;
                let next = Duration::from_secs((since + *period).as_secs());
                Some(std::time::UNIX_EPOCH + next.max(since + Duration::from_millis(1)))
            }
            Schedule::Cron { zone, expression } => {
                let cron = CronParser::builder()
                    .seconds(Seconds::Required)
                    .year(Year::Disallowed)
                    .build()
                    .parse(expression)
                    .ok()?;
                let now: DateTime<Utc> = now.into();
                let next: DateTime<Utc> = if zone == "Local" {
                    let local = now.with_timezone(&chrono::Local);
                    cron.find_next_occurrence(&local, false)
                        .ok()?
                        .with_timezone(&Utc)
                } else {
                    let tz = chrono_tz::Tz::from_str(zone).ok()?;
                    let local = now.with_timezone(&tz);
                    cron.find_next_occurrence(&local, false)
                        .ok()?
                        .with_timezone(&Utc)
                };
                Some(next.into())
            }
        }
    }
}

/// An error at a byte offset of the schedule text.
pub(crate) struct ScheduleError {
    pub offset: usize,
    pub message: String,
}

fn err(offset: usize, message: impl Into<String>) -> ScheduleError {
    ScheduleError {
        offset,
        message: message.into(),
    }
}

const DESCRIPTORS: &[&str] = &[
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];
const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

pub(crate) fn parse_schedule(text: &str) -> Result<Schedule, ScheduleError> {
    if let Some(every) = text.strip_prefix("@every ") {
        return parse_every(every, 7);
    }
    let Some(after) = text.strip_prefix("CRON_TZ=") else {
        return Err(err(
            0,
            "cron schedule must specify a time zone using CRON_TZ, e.g. 'CRON_TZ=UTC 5 * * * * *', or use @every <duration>",
        ));
    };
    let Some(space) = after.find(' ') else {
        return Err(err(
            text.len(),
            "expected a space and the schedule after the CRON_TZ zone, e.g. 'CRON_TZ=UTC 0 */5 * * * *'",
        ));
    };
    let zone = &after[..space];
    if zone != "Local" && chrono_tz::Tz::from_str(zone).is_err() {
        return Err(err(
            8,
            format!(
                "unknown time zone {zone:?} (expected an IANA zone such as UTC or Europe/Berlin)"
            ),
        ));
    }
    let rest_at = 8 + space;
    let expression = text[rest_at..].trim();
    let expr_at = rest_at + (text[rest_at..].len() - text[rest_at..].trim_start().len());
    if let Some(every) = expression.strip_prefix("@every ") {
        return parse_every(every, expr_at + 7);
    }
    if expression.starts_with('@') {
        if !DESCRIPTORS.contains(&expression) {
            return Err(err(
                expr_at,
                format!(
                    "unknown descriptor {expression:?} (expected one of {})",
                    DESCRIPTORS.join(", ")
                ),
            ));
        }
    } else {
        check_fields(expression, expr_at)?;
    }
    Ok(Schedule::Cron {
        zone: zone.to_owned(),
        expression: expression.to_owned(),
    })
}

fn parse_every(text: &str, at: usize) -> Result<Schedule, ScheduleError> {
    let d = parse_duration(text.trim()).map_err(|e| err(at, format!("@every: {e}")))?;
    Ok(Schedule::Every(Duration::from_secs(d.as_secs().max(1))))
}

fn check_fields(expression: &str, at: usize) -> Result<(), ScheduleError> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(err(
            at,
            format!(
                "expected 6 cron fields (second minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ),
        ));
    }
    for (n, field) in fields.iter().enumerate() {
        for atom in field.split([',', '-', '/']) {
            let upper = atom.to_ascii_uppercase();
            let ok = match atom {
                "*" | "?" => true,
                _ if atom.bytes().all(|b| b.is_ascii_digit()) && !atom.is_empty() => {
                    n != 5 || atom.parse::<u8>().is_ok_and(|d| d <= 6)
                }
                _ => {
                    (n == 4 && MONTHS.contains(&upper.as_str()))
                        || (n == 5 && DAYS.contains(&upper.as_str()))
                }
            };
            if !ok {
                return Err(err(
                    at,
                    format!("invalid cron field {field:?} (field {} of 6)", n + 1),
                ));
            }
        }
    }
    let parser = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Disallowed)
        .build();
    parser
        .parse(expression)
        .map(|_| ())
        .map_err(|e| err(at, format!("invalid cron schedule {expression:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Schedule {
        parse_schedule(text).unwrap_or_else(|e| panic!("{text}: {}", e.message))
    }

    fn refused(text: &str) -> (usize, String) {
        match parse_schedule(text) {
            Ok(s) => panic!("{text} accepted as {s:?}"),
            Err(e) => (e.offset, e.message),
        }
    }

    #[test]
    fn next_ticks() {
        use std::time::UNIX_EPOCH;
        let at = |secs: u64, millis: u64| UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis);
        let every = ok("@every 2s");
        assert_eq!(every.next_after(at(100, 300)), Some(at(102, 0)));
        let cron = ok("CRON_TZ=UTC 0 */5 * * * *");
        // 1970-01-01 00:01:40 → 00:05:00.
        assert_eq!(cron.next_after(at(100, 0)), Some(at(300, 0)));
        let berlin = ok("CRON_TZ=Europe/Berlin 0 0 1 * * *");
        // 01:00 in Berlin (UTC+1 in January) is 00:00 UTC.
        assert_eq!(berlin.next_after(at(100, 0)), Some(at(86_400, 0)));
    }

    #[test]
    fn accepts_reference_forms() {
        assert_eq!(
            ok("CRON_TZ=UTC 0 */5 * * * *"),
            Schedule::Cron {
                zone: "UTC".into(),
                expression: "0 */5 * * * *".into()
            }
        );
        ok("CRON_TZ=Europe/Berlin 0 0 9-17/2 ? JAN-mar,dec MON-fri");
        ok("CRON_TZ=UTC @hourly");
        ok("CRON_TZ=America/New_York 30 15 10 1,15 * 0");
        assert_eq!(ok("@every 10s"), Schedule::Every(Duration::from_secs(10)));
        assert_eq!(ok("@every 1500ms"), Schedule::Every(Duration::from_secs(1)));
        assert_eq!(ok("@every 0"), Schedule::Every(Duration::from_secs(1)));
        assert_eq!(
            ok("CRON_TZ=UTC @every 1m"),
            Schedule::Every(Duration::from_secs(60))
        );
    }

    #[test]
    fn refuses_with_positions() {
        assert_eq!(refused("0 * * * * *").0, 0);
        assert!(refused("TZ=UTC 0 * * * * *").1.contains("CRON_TZ"));
        assert_eq!(refused("CRON_TZ=UTC").0, 11);
        assert_eq!(refused("CRON_TZ=Mars/Base 0 * * * * *").0, 8);
        let (at, msg) = refused("CRON_TZ=UTC 0 * * * *");
        assert_eq!((at, msg.contains("found 5")), (12, true));
        assert!(
            refused("CRON_TZ=UTC 61 * * * * *")
                .1
                .contains("invalid cron schedule")
        );
        assert!(refused("CRON_TZ=UTC 0 0 0 L * *").1.contains("field 4"));
        assert!(refused("CRON_TZ=UTC 0 0 0 * * 7").1.contains("field 6"));
        assert!(refused("CRON_TZ=UTC 0 0 0 * * 5#2").1.contains("field 6"));
        assert!(
            refused("CRON_TZ=UTC @fortnightly")
                .1
                .contains("unknown descriptor")
        );
        assert_eq!(refused("@every 10").0, 7);
        assert!(refused("@every -1s").1.contains("negative"));
        assert!(refused("@hourly").1.contains("CRON_TZ"));
    }
}

#[cfg(test)]
mod odd_inputs {
    use super::*;

    #[test]
    fn degenerate_steps_and_ranges_do_not_panic() {
        for text in [
            "CRON_TZ=UTC */0 * * * * *",
            "CRON_TZ=UTC 5-1 * * * * *",
            "CRON_TZ=UTC 0/0 * * * * *",
            "CRON_TZ=UTC - * * * * *",
            "CRON_TZ=UTC , * * * * *",
            "CRON_TZ=UTC 1-2-3 * * * * *",
            "CRON_TZ=UTC 99999999999999999999 * * * * *",
            "CRON_TZ=  ",
            "CRON_TZ= 0 * * * * *",
        ] {
            let _ = parse_schedule(text);
        }
        assert!(parse_schedule("CRON_TZ=UTC */0 * * * * *").is_err());
    }
}
