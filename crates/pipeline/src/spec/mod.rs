//! The job spec file (TOML, §1 of the pipeline spec): keys, types, the DOT pipeline and the
//! cron schedule, every error positioned in the file.

mod schedule;
mod toml_str;

use std::borrow::Cow;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};
use uuid::Uuid;

use crate::duration::parse_duration;
use crate::error::{LineIndex, SpecError};
use crate::graph::{Pipeline, parse_mapped};
pub use schedule::Schedule;

/// The two job types of the issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobType {
    /// Runs on `POST /v2/jobs/<externalJobID>/runs`.
    Webhook,
    /// Runs on a schedule.
    Cron,
}

/// An external initiator of a webhook job: its registered name and the JSON text sent to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalInitiator {
    /// Registered initiator name.
    pub name: String,
    /// JSON text (checked to be JSON).
    pub spec: String,
}

/// A parsed and checked job spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// `type`.
    pub job_type: JobType,
    /// `name`, `""` when absent (`$(jobSpec.name)`).
    pub name: String,
    /// `externalJobID`, normalised; `None` means one is assigned when the job is created.
    pub external_job_id: Option<Uuid>,
    /// `maxTaskDuration`; `None` when absent or zero.
    pub max_task_duration: Option<Duration>,
    /// `schedule` of a cron job.
    pub schedule: Option<Schedule>,
    /// `externalInitiators` of a webhook job.
    pub external_initiators: Vec<ExternalInitiator>,
    /// The DOT text as TOML decoded it.
    pub observation_source: String,
    /// The checked task graph.
    pub pipeline: Pipeline,
}

/// Keys the reference knows but that do nothing for these job types: accepted, unused.
const IGNORED_KEYS: &[&str] = &["gasLimit", "forwardingAllowed", "streamID", "evmChainID"];
const KNOWN_KEYS: &[&str] = &[
    "type",
    "schemaVersion",
    "name",
    "externalJobID",
    "maxTaskDuration",
    "observationSource",
    "schedule",
    "externalInitiators",
    "gasLimit",
    "forwardingAllowed",
    "streamID",
    "evmChainID",
];

type Entry<'a> = (&'a Spanned<Cow<'a, str>>, &'a Spanned<DeValue<'a>>);

impl JobSpec {
    /// Parses and checks a whole spec file; the error's line and column are in `text`.
    pub fn parse(text: &str) -> Result<JobSpec, SpecError> {
        Parse {
            text,
            lines: LineIndex::new(text),
        }
        .run()
    }
}

struct Parse<'a> {
    text: &'a str,
    lines: LineIndex<'a>,
}

impl<'a> Parse<'a> {
    fn err(&self, offset: usize, message: impl Into<String>) -> SpecError {
        self.lines.error(offset, message)
    }

    fn run(&self) -> Result<JobSpec, SpecError> {
        let table = DeTable::parse(self.text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let message = e.message().trim().replace('\n', "; ");
            self.err(offset, format!("invalid TOML: {message}"))
        })?;
        let table = table.get_ref();
        let mut entries: Vec<Entry<'_>> = table.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (key, _) in &entries {
            if !KNOWN_KEYS.contains(&key.get_ref().as_ref()) {
                return Err(self.err(
                    key.span().start,
                    format!(
                        "unknown key {:?} (known keys: {})",
                        key.get_ref(),
                        KNOWN_KEYS.join(", ")
                    ),
                ));
            }
        }
        let find = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| k.get_ref() == name)
                .map(|(_, v)| *v)
        };

        let job_type = match find("type") {
            None => {
                return Err(self.err(
                    0,
                    "missing key type (expected type = \"webhook\" or type = \"cron\")",
                ));
            }
            Some(v) => match self.string(v, "type")? {
                "webhook" => JobType::Webhook,
                "cron" => JobType::Cron,
                other => {
                    return Err(self.err(
                        v.span().start,
                        format!("invalid job type {other:?} (expected \"webhook\" or \"cron\")"),
                    ));
                }
            },
        };
        match find("schemaVersion") {
            None => {
                return Err(self.err(
                    0,
                    "invalid schema version: schemaVersion is missing (expected schemaVersion = 1)",
                ));
            }
            Some(v) => {
                let one = matches!(v.get_ref(), DeValue::Integer(i) if i64::from_str_radix(i.as_str(), i.radix()) == Ok(1));
                if !one {
                    return Err(self.err(
                        v.span().start,
                        "invalid schema version (expected schemaVersion = 1)",
                    ));
                }
            }
        }
        let name = find("name")
            .map(|v| self.string(v, "name"))
            .transpose()?
            .unwrap_or("")
            .to_owned();
        let external_job_id = find("externalJobID")
            .map(|v| {
                let s = self.string(v, "externalJobID")?;
                Uuid::parse_str(s).map_err(|_| {
                    self.err(
                        v.span().start,
                        format!("invalid externalJobID {s:?} (expected a UUID such as 0eec7e1d-d0d2-476c-a1a8-72dfb6633f46)"),
                    )
                })
            })
            .transpose()?;
        let max_task_duration = find("maxTaskDuration")
            .map(|v| {
                let s = self.string(v, "maxTaskDuration")?;
                parse_duration(s)
                    .map_err(|e| self.err(v.span().start, format!("maxTaskDuration: {e}")))
            })
            .transpose()?
            .filter(|d| !d.is_zero());
        for key in IGNORED_KEYS {
            if *key == "evmChainID" && job_type == JobType::Webhook && find(key).is_some() {
                return Err(self.err(
                    self.key_start(&entries, key),
                    "evmChainID is only for cron jobs",
                ));
            }
        }
        let external_initiators = match find("externalInitiators") {
            Some(v) if job_type == JobType::Cron => {
                return Err(self.err(
                    v.span().start,
                    "externalInitiators is only for webhook jobs",
                ));
            }
            Some(v) => self.initiators(v)?,
            None => Vec::new(),
        };
        let Some(source) = find("observationSource") else {
            return Err(self.err(
                0,
                "pipeline spec not specified (expected observationSource = \"\"\"…\"\"\")",
            ));
        };
        let observation_source = self.string(source, "observationSource")?.to_owned();
        let pipeline = self.pipeline(source, &observation_source)?;
        if let Some(at) = self.text.find("<{}>") {
            return Err(self.err(
                at,
                "'<{}>' syntax is not supported. Please use \"{}\" instead",
            ));
        }
        let schedule = match (job_type, find("schedule")) {
            (JobType::Cron, None) => {
                return Err(self.err(
                    0,
                    "cron job needs a schedule (expected schedule = \"CRON_TZ=UTC 0 */5 * * * *\")",
                ));
            }
            (JobType::Webhook, Some(v)) => {
                return Err(self.err(v.span().start, "schedule is only for cron jobs"));
            }
            (JobType::Webhook, None) => None,
            (JobType::Cron, Some(v)) => {
                let s = self.string(v, "schedule")?;
                let map = self.content_map(v);
                Some(schedule::parse_schedule(s).map_err(|e| self.err(map(e.offset), e.message))?)
            }
        };
        Ok(JobSpec {
            job_type,
            name,
            external_job_id,
            max_task_duration,
            schedule,
            external_initiators,
            observation_source,
            pipeline,
        })
    }

    fn key_start(&self, entries: &[Entry<'_>], key: &str) -> usize {
        entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map_or(0, |(k, _)| k.span().start)
    }

    fn string<'v>(&self, v: &'v Spanned<DeValue<'_>>, key: &str) -> Result<&'v str, SpecError> {
        match v.get_ref() {
            DeValue::String(s) => Ok(s.as_ref()),
            other => Err(self.err(
                v.span().start,
                format!("{key} must be a string, found {}", other.type_str()),
            )),
        }
    }

    fn initiators(&self, v: &Spanned<DeValue<'_>>) -> Result<Vec<ExternalInitiator>, SpecError> {
        let shape = "externalInitiators must be an array of tables {name = \"…\", spec = '…json…'}";
        let DeValue::Array(items) = v.get_ref() else {
            return Err(self.err(v.span().start, shape));
        };
        let mut out = Vec::new();
        for item in items.iter() {
            let DeValue::Table(t) = item.get_ref() else {
                return Err(self.err(item.span().start, shape));
            };
            let mut name = None;
            let mut spec = None;
            for (k, val) in t.iter() {
                match k.get_ref().as_ref() {
                    "name" => name = Some(self.string(val, "externalInitiators name")?.to_owned()),
                    "spec" => {
                        let s = self.string(val, "externalInitiators spec")?;
                        serde_json::from_str::<serde_json::Value>(s).map_err(|e| {
                            self.err(
                                val.span().start,
                                format!("externalInitiators spec is not JSON: {e}"),
                            )
                        })?;
                        spec = Some(s.to_owned());
                    }
                    other => {
                        return Err(self.err(
                            k.span().start,
                            format!("unknown key {other:?} in externalInitiators (known keys: name, spec)"),
                        ));
                    }
                }
            }
            let name = name.filter(|n| !n.is_empty()).ok_or_else(|| {
                self.err(item.span().start, "externalInitiators entry needs a name")
            })?;
            out.push(ExternalInitiator {
                name,
                spec: spec.unwrap_or_default(),
            });
        }
        Ok(out)
    }

    fn pipeline(&self, source: &Spanned<DeValue<'_>>, dot: &str) -> Result<Pipeline, SpecError> {
        let map = self.content_map(source);
        parse_mapped(dot, &|offset| self.lines.locate(map(offset)))
    }

    /// Maps a byte offset of a TOML string's decoded text to a byte offset in the file:
    /// exact when the string's escapes can be replayed (always for literal strings),
    /// otherwise the start of the string's content.
    fn content_map(&self, v: &Spanned<DeValue<'_>>) -> impl Fn(usize) -> usize + use<> {
        let span: Range<usize> = v.span();
        let raw = self.text.get(span.clone()).unwrap_or("");
        let decoded = v.get_ref().as_str().unwrap_or("");
        let offsets = match toml_str::decode_with_offsets(raw) {
            Some((text, offsets)) if text == decoded => offsets,
            _ => vec![if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
                3
            } else {
                1
            }],
        };
        let base = span.start;
        move |offset: usize| base + offsets.get(offset).or(offsets.last()).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_files_keep_exact_positions() {
        let text = "type = \"webhook\"\r\nschemaVersion = 0x1\r\nobservationSource = \"\"\"\r\na [type=any]\r\n  a -> b\r\n\"\"\"\r\n";
        let e = JobSpec::parse(text).unwrap_err();
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (5, 8, "edge to undeclared task b")
        );
        let text = "type = \"webhook\"\r\nschemaVersion = 1\r\nobservationSource = \"\"\"\r\na [type=any] \\\r\n  b [type=any]\r\n  a -> c\r\n\"\"\"\r\n";
        let e = JobSpec::parse(text).unwrap_err();
        assert_eq!((e.line, e.column), (6, 8));
    }
}
