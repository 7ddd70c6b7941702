//! Run variables and key paths (spec §3.4, §3.5).

use super::json::{Numbers, parse_whole};
use super::{Map, Value};

/// A key path that cannot be followed; texts are the reference's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    /// An empty path or an empty segment (`a..b`).
    #[error("wrong keypath format")]
    WrongKeypath,
    /// A map without the key.
    #[error("key {key} (segment {segment} in keypath {path}): keypath not found")]
    NotFound {
        /// The missing key.
        key: String,
        /// Its 0-based segment number.
        segment: usize,
        /// The whole path.
        path: String,
    },
    /// A list segment that is not a non-negative index inside the list.
    #[error("index {key} (segment {segment} in keypath {path}): index out of range")]
    IndexOutOfRange {
        /// The segment text.
        key: String,
        /// Its 0-based segment number.
        segment: usize,
        /// The whole path.
        path: String,
    },
    /// A segment applied to something that is neither map nor list.
    #[error("value at key '{key}' is a {go_type}, not a map or slice")]
    NotContainer {
        /// The segment whose value could not be walked into.
        key: String,
        /// Go's type name of that value.
        go_type: &'static str,
    },
}

/// The variables of one run: `jobSpec`, `jobRun` and every finished task's result.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    root: Map,
    /// `jobRun.requestBody` parsed, when it is JSON (project: nested access into the body).
    request_body_json: Option<Value>,
}

impl Vars {
    /// No variables at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `jobSpec.databaseID`, `jobSpec.externalJobID`, `jobSpec.name` and, when given,
    /// `jobSpec.evmChainID`.
    pub fn set_job_spec(
        &mut self,
        database_id: i64,
        external_job_id: uuid::Uuid,
        name: &str,
        evm_chain_id: Option<&str>,
    ) {
        let mut spec = Map::new();
        spec.insert("databaseID".into(), Value::Int(database_id));
        spec.insert("externalJobID".into(), Value::Uuid(external_job_id));
        spec.insert("name".into(), Value::string(name));
        if let Some(id) = evm_chain_id {
            spec.insert("evmChainID".into(), Value::string(id));
        }
        self.root.insert("jobSpec".into(), Value::Map(spec));
    }

    /// A webhook run: `jobRun.requestBody` is the raw body (`""` when none), `jobRun.meta`
    /// is `meta` (null for the HTTP trigger; the CLI's `--meta` may set a map).
    pub fn set_webhook_run(&mut self, request_body: &str, meta: Value) {
        let mut run = Map::new();
        run.insert("requestBody".into(), Value::string(request_body));
        run.insert("meta".into(), meta);
        self.root.insert("jobRun".into(), Value::Map(run));
        self.request_body_json = parse_whole(request_body, Numbers::Exact).ok();
    }

    /// A cron run: `jobRun.meta` is an empty map and there is no request body.
    pub fn set_cron_run(&mut self) {
        let mut run = Map::new();
        run.insert("meta".into(), Value::Map(Map::new()));
        self.root.insert("jobRun".into(), Value::Map(run));
        self.request_body_json = None;
    }

    /// Stores a finished task's output under its name.
    pub fn set_output(&mut self, task: &str, value: Value) {
        self.root.insert(task.to_owned(), value);
    }

    /// Stores a failed task's error marker under its name.
    pub fn set_error(&mut self, task: &str, error: impl Into<String>) {
        self.root
            .insert(task.to_owned(), Value::Error(error.into()));
    }

    /// `jobRun.meta`, when set (bridges send it when it is a map).
    pub fn meta(&self) -> Option<&Value> {
        match self.root.get("jobRun") {
            Some(Value::Map(run)) => run.get("meta"),
            _ => None,
        }
    }

    /// Follows a key path (§3.5). Walking stops at an error marker, which is returned as the
    /// value so that callers decide whether errors are allowed.
    pub fn get(&self, path: &str) -> Result<&Value, VarError> {
        let path = path.trim();
        let segments: Vec<&str> = path.split('.').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(VarError::WrongKeypath);
        }
        if let (["jobRun", "requestBody", _, ..], Some(body)) =
            (segments.as_slice(), &self.request_body_json)
        {
            return walk(body, &segments, 2, path);
        }
        let first = segments[0];
        let start = self.root.get(first).ok_or_else(|| VarError::NotFound {
            key: first.to_owned(),
            segment: 0,
            path: path.to_owned(),
        })?;
        walk(start, &segments, 1, path)
    }
}

fn walk<'v>(
    mut value: &'v Value,
    segments: &[&str],
    from: usize,
    path: &str,
) -> Result<&'v Value, VarError> {
    for (i, key) in segments.iter().enumerate().skip(from) {
        while let Value::Memo(inner) = value {
            value = inner;
        }
        value = match value {
            Value::Error(_) => return Ok(value),
            Value::Map(map) => map.get(*key).ok_or_else(|| VarError::NotFound {
                key: (*key).to_owned(),
                segment: i,
                path: path.to_owned(),
            })?,
            Value::List(list) => key
                .parse::<usize>()
                .ok()
                .filter(|_| key.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|index| list.get(index))
                .ok_or_else(|| VarError::IndexOutOfRange {
                    key: (*key).to_owned(),
                    segment: i,
                    path: path.to_owned(),
                })?,
            other => {
                return Err(VarError::NotContainer {
                    key: segments[i - 1].to_owned(),
                    go_type: other.go_type(),
                });
            }
        };
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::json::parse_first;

    fn vars() -> Vars {
        let mut v = Vars::new();
        v.set_job_spec(7, uuid::Uuid::nil(), "job", None);
        v.set_webhook_run(r#"{"k": {"n": [10, 20]}}"#, Value::Null);
        v.set_output(
            "ds",
            parse_first(r#"{"a": [{"b": 1}], "s": "x"}"#, Numbers::Exact).unwrap(),
        );
        v.set_error("bad", "boom");
        v
    }

    #[test]
    fn walks_maps_and_lists() {
        let v = vars();
        assert_eq!(v.get("ds.a.0.b").unwrap(), &Value::Int(1));
        assert_eq!(v.get(" jobSpec.name ").unwrap(), &Value::string("job"));
        assert_eq!(v.get("jobSpec.databaseID").unwrap(), &Value::Int(7));
        assert_eq!(v.get("jobRun.meta").unwrap(), &Value::Null);
    }

    #[test]
    fn request_body_stays_a_string_but_can_be_walked_when_json() {
        let v = vars();
        assert_eq!(
            v.get("jobRun.requestBody").unwrap(),
            &Value::string(r#"{"k": {"n": [10, 20]}}"#)
        );
        assert_eq!(v.get("jobRun.requestBody.k.n.1").unwrap(), &Value::Int(20));
        let mut plain = Vars::new();
        plain.set_webhook_run("not json", Value::Null);
        assert_eq!(
            plain.get("jobRun.requestBody.k").unwrap_err().to_string(),
            "value at key 'requestBody' is a string, not a map or slice"
        );
    }

    #[test]
    fn reference_error_texts() {
        let v = vars();
        assert_eq!(v.get("ds..a").unwrap_err(), VarError::WrongKeypath);
        assert_eq!(v.get("").unwrap_err().to_string(), "wrong keypath format");
        assert_eq!(
            v.get("ds.zz").unwrap_err().to_string(),
            "key zz (segment 1 in keypath ds.zz): keypath not found"
        );
        assert_eq!(
            v.get("nope").unwrap_err().to_string(),
            "key nope (segment 0 in keypath nope): keypath not found"
        );
        for bad in ["ds.a.1", "ds.a.-1", "ds.a.x", "ds.a.+0"] {
            assert!(
                v.get(bad)
                    .unwrap_err()
                    .to_string()
                    .ends_with("index out of range"),
                "{bad}"
            );
        }
        assert_eq!(
            v.get("ds.s.x").unwrap_err().to_string(),
            "value at key 's' is a string, not a map or slice"
        );
    }

    #[test]
    fn error_markers_are_returned_as_values() {
        let v = vars();
        assert_eq!(v.get("bad").unwrap(), &Value::Error("boom".into()));
        assert_eq!(v.get("bad.x.y").unwrap(), &Value::Error("boom".into()));
    }
}
