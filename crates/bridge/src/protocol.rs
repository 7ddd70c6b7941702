//! Wire types of the bridge protocol (bridge.md §1–2), shared by adapters (server side) and
//! the node's bridge task (client side).
//!
//! Nothing here depends on an HTTP framework: the types are plain serde structs with the
//! exact field names of the protocol.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `jobRunID` used when a request carries no `id`, as existing adapters do.
pub const DEFAULT_JOB_RUN_ID: &str = "1";

/// A request from a node to an adapter (every shape of bridge.md §1).
///
/// Unknown top-level keys are ignored; a missing `data` is `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdapterRequest {
    /// The run id; nodes send a string, older clients sometimes a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// The endpoint parameters (and possibly `endpoint`).
    #[serde(default, deserialize_with = "null_as_empty_map")]
    pub data: Map<String, Value>,
    /// Run metadata, present when the run has meta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// Where to PATCH the answer of an async task.
    #[serde(
        rename = "responseURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_url: Option<String>,
    /// The framework-style endpoint name at top level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

fn null_as_empty_map<'de, D>(deserializer: D) -> Result<Map<String, Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<Map<String, Value>>::deserialize(deserializer)?.unwrap_or_default())
}

impl AdapterRequest {
    /// The `jobRunID` to answer with: `id` as a string, or `"1"` when there is none.
    pub fn job_run_id(&self) -> String {
        match &self.id {
            Some(Value::String(id)) => id.clone(),
            Some(Value::Null) | None => DEFAULT_JOB_RUN_ID.to_owned(),
            Some(other) => other.to_string(),
        }
    }

    /// The requested endpoint: top-level `endpoint`, else `data.endpoint`.
    pub fn endpoint_name(&self) -> Option<&str> {
        self.endpoint
            .as_deref()
            .or_else(|| self.data.get("endpoint").and_then(Value::as_str))
    }
}

/// When the provider was asked and when it answered, in Unix milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timestamps {
    pub provider_data_requested_unix_ms: u64,
    pub provider_data_received_unix_ms: u64,
}

/// The status string of a finished response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Completed,
    Errored,
}

/// The error object of an errored response: always `{name, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub name: String,
    pub message: String,
}

/// A successful answer (HTTP 200).
///
/// Deserializing is lenient about the fields older adapters leave out (`result`, `status`,
/// `error`, `pending`, `timestamps`, `meta`), because the node reads their answers too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuccessResponse {
    #[serde(rename = "jobRunID", default = "default_job_run_id")]
    pub job_run_id: String,
    /// The upstream payload the adapter returns, including `result`.
    #[serde(default, deserialize_with = "null_as_empty_map")]
    pub data: Map<String, Value>,
    #[serde(default)]
    pub result: Value,
    pub status_code: u16,
    #[serde(default = "completed")]
    pub status: Status,
    /// Always `null`; serialized so nodes see an explicit "no error".
    #[serde(default)]
    pub error: Option<ErrorBody>,
    #[serde(default)]
    pub pending: bool,
    #[serde(default)]
    pub timestamps: Timestamps,
    #[serde(default)]
    pub meta: Value,
}

fn default_job_run_id() -> String {
    DEFAULT_JOB_RUN_ID.to_owned()
}

fn completed() -> Status {
    Status::Completed
}

/// An error answer; the HTTP status equals `status_code` and is never 200.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    #[serde(rename = "jobRunID")]
    pub job_run_id: String,
    #[serde(default)]
    pub data: Map<String, Value>,
    pub status: Status,
    pub status_code: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status_code: Option<u16>,
    pub error: ErrorBody,
    pub pending: bool,
}

/// The answer of an async request whose result comes later by PATCH (HTTP 200).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingResponse {
    #[serde(rename = "jobRunID")]
    pub job_run_id: String,
    #[serde(default)]
    pub data: Map<String, Value>,
    pub pending: bool,
    pub status_code: u16,
}

/// Any adapter response.
///
/// Serializes as the inner shape. Deserializing looks at `pending` and `status`/`error` to
/// tell the shapes apart, because serde's untagged enums cannot look at values.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AdapterResponse {
    Success(SuccessResponse),
    Errored(ErrorResponse),
    Pending(PendingResponse),
}

impl AdapterResponse {
    /// A completed answer with `result` copied into `data.result`.
    pub fn success(
        job_run_id: String,
        result: Value,
        mut data: Map<String, Value>,
        timestamps: Timestamps,
        meta: Value,
    ) -> Self {
        data.insert("result".to_owned(), result.clone());
        Self::Success(SuccessResponse {
            job_run_id,
            data,
            result,
            status_code: 200,
            status: Status::Completed,
            error: None,
            pending: false,
            timestamps,
            meta,
        })
    }

    /// An errored answer.
    pub fn errored(
        job_run_id: String,
        status_code: u16,
        provider_status_code: Option<u16>,
        error: ErrorBody,
    ) -> Self {
        Self::Errored(ErrorResponse {
            job_run_id,
            data: Map::new(),
            status: Status::Errored,
            status_code,
            provider_status_code,
            error,
            pending: false,
        })
    }

    /// A pending answer for an async request.
    pub fn pending(job_run_id: String) -> Self {
        Self::Pending(PendingResponse {
            job_run_id,
            data: Map::new(),
            pending: true,
            status_code: 200,
        })
    }

    /// The body's `statusCode`, which is also the HTTP status to answer with.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Success(r) => r.status_code,
            Self::Errored(r) => r.status_code,
            Self::Pending(r) => r.status_code,
        }
    }
}

impl<'de> Deserialize<'de> for AdapterResponse {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(deserializer)?;
        let is = |key: &str, expected: &Value| value.get(key) == Some(expected);
        let errored = is("status", &Value::from("errored"))
            || value.get("error").is_some_and(|e| !e.is_null());
        if is("pending", &Value::Bool(true)) {
            PendingResponse::deserialize(value).map(Self::Pending)
        } else if errored {
            ErrorResponse::deserialize(value).map(Self::Errored)
        } else {
            SuccessResponse::deserialize(value).map(Self::Success)
        }
        .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: Value) -> AdapterRequest {
        serde_json::from_value(body).expect("request parses")
    }

    #[test]
    fn classic_request() {
        let r = request(json!({"id": "278c97ff", "data": {"coin": "ETH", "market": "USD"}}));
        assert_eq!(r.job_run_id(), "278c97ff");
        assert_eq!(r.data["coin"], "ETH");
        assert_eq!(r.response_url, None);
        assert_eq!(r.endpoint_name(), None);
        let back = serde_json::to_value(&r).expect("serializes");
        assert_eq!(
            back,
            json!({"id": "278c97ff", "data": {"coin": "ETH", "market": "USD"}})
        );
    }

    #[test]
    fn classic_async_request() {
        let body = json!({"id": "run-1", "data": {"coin": "BTC"},
            "responseURL": "http://node:6688/v2/runs/run-1"});
        let r = request(body.clone());
        assert_eq!(
            r.response_url.as_deref(),
            Some("http://node:6688/v2/runs/run-1")
        );
        assert_eq!(serde_json::to_value(&r).expect("serializes"), body);
    }

    #[test]
    fn current_node_request_with_meta_and_resume_url() {
        let body = json!({"id": "c0ffee", "data": {"coin": "ETH", "market": "USD"},
            "meta": {"oracleRequest": {"requestId": "0x01"}},
            "responseURL": "http://node:6688/v2/resume/6b0e9a0e-8f0b-4a4e-9d5c-5e1f1c7f6c11"});
        let r = request(body.clone());
        assert_eq!(
            r.meta,
            Some(json!({"oracleRequest": {"requestId": "0x01"}}))
        );
        assert!(
            r.response_url
                .as_deref()
                .is_some_and(|u| u.contains("/v2/resume/"))
        );
        assert_eq!(serde_json::to_value(&r).expect("serializes"), body);
    }

    #[test]
    fn framework_style_requests() {
        let top = request(json!({"endpoint": "price", "data": {"base": "ETH"}}));
        assert_eq!(top.endpoint_name(), Some("price"));
        assert_eq!(top.job_run_id(), DEFAULT_JOB_RUN_ID);
        let nested = request(json!({"data": {"endpoint": "crypto", "base": "ETH"}}));
        assert_eq!(nested.endpoint_name(), Some("crypto"));
        let both = request(json!({"endpoint": "price", "data": {"endpoint": "crypto"}}));
        assert_eq!(both.endpoint_name(), Some("price"), "top level wins");
    }

    #[test]
    fn missing_data_unknown_keys_and_numeric_ids() {
        let r = request(json!({"id": 7, "extra": [1, 2], "data": null}));
        assert!(r.data.is_empty());
        assert_eq!(r.job_run_id(), "7");
        assert_eq!(request(json!({})).data, Map::new());
    }

    #[test]
    fn success_response_round_trip() {
        let mut data = Map::new();
        data.insert("symbol".into(), json!("ETH-USD"));
        let timestamps = Timestamps {
            provider_data_requested_unix_ms: 1_700_000_000_000,
            provider_data_received_unix_ms: 1_700_000_000_042,
        };
        let r = AdapterResponse::success("a".into(), json!(467.85), data, timestamps, json!({}));
        let wire = serde_json::to_value(&r).expect("serializes");
        assert_eq!(
            wire,
            json!({"jobRunID": "a", "data": {"symbol": "ETH-USD", "result": 467.85},
                "result": 467.85, "statusCode": 200, "status": "completed", "error": null,
                "pending": false,
                "timestamps": {"providerDataRequestedUnixMs": 1_700_000_000_000_u64,
                    "providerDataReceivedUnixMs": 1_700_000_000_042_u64},
                "meta": {}})
        );
        assert_eq!(
            serde_json::from_value::<AdapterResponse>(wire).ok(),
            Some(r)
        );
    }

    #[test]
    fn minimal_success_from_an_older_adapter() {
        let wire = json!({"jobRunID": "a", "data": {"result": 5}, "statusCode": 200});
        let Ok(AdapterResponse::Success(r)) = serde_json::from_value(wire) else {
            panic!("a minimal success must parse");
        };
        assert_eq!(r.data["result"], 5);
        assert_eq!(r.status, Status::Completed);
        assert!(!r.pending);
    }

    #[test]
    fn error_response_round_trip() {
        let error = ErrorBody {
            name: "AdapterDataProviderError".into(),
            message: "The endpoint is under maintenance.".into(),
        };
        let r = AdapterResponse::errored("a".into(), 502, Some(503), error);
        assert_eq!(r.status_code(), 502);
        let wire = serde_json::to_value(&r).expect("serializes");
        assert_eq!(
            wire,
            json!({"jobRunID": "a", "data": {}, "status": "errored", "statusCode": 502,
                "providerStatusCode": 503,
                "error": {"name": "AdapterDataProviderError",
                    "message": "The endpoint is under maintenance."},
                "pending": false})
        );
        assert_eq!(
            serde_json::from_value::<AdapterResponse>(wire).ok(),
            Some(r)
        );
    }

    #[test]
    fn pending_response_round_trip() {
        let r = AdapterResponse::pending("a".into());
        let wire = serde_json::to_value(&r).expect("serializes");
        assert_eq!(
            wire,
            json!({"jobRunID": "a", "data": {}, "pending": true, "statusCode": 200})
        );
        assert_eq!(
            serde_json::from_value::<AdapterResponse>(wire).ok(),
            Some(r)
        );
    }
}
