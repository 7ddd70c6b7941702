//! The bridge protocol's wire types, re-exported from [`offchain_bridge::protocol`] so that
//! adapter authors need one dependency and `offchain_adapter::protocol::…` paths keep
//! working, plus the adapter-only rendering of cached success bodies.
//!
//! The node side judges these responses with [`offchain_bridge::judge()`]; it never depends
//! on this crate.

use serde::Serialize;
use serde_json::{Map, Value};

pub use offchain_bridge::protocol::*;

/// A success answer without its `jobRunID`: the fields that follow it on the wire, which
/// are the same for every request a cached answer serves. The server renders them once per
/// cached answer ([`crate::cache::Resolved`]) and splices each request's id in front with
/// [`success_body`], so a cache hit costs no serialization of the cached `data`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SuccessTail<'a> {
    data: DataWithResult<'a>,
    result: &'a Value,
    status_code: u16,
    status: Status,
    error: Option<&'a ErrorBody>,
    pending: bool,
    timestamps: &'a Timestamps,
    meta: EmptyObject,
}

/// `{"data":…,"meta":{}}`: everything of a success answer but its leading `jobRunID`.
pub(crate) fn render_success_tail(
    result: &Value,
    data: &Map<String, Value>,
    timestamps: &Timestamps,
) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&SuccessTail {
        data: DataWithResult { data, result },
        result,
        status_code: 200,
        status: Status::Completed,
        error: None,
        pending: false,
        timestamps,
        meta: EmptyObject,
    })
}

/// The whole success body for `job_run_id` from a tail made by [`render_success_tail`]:
/// byte for byte what serializing the [`SuccessResponse`] would give, since `jobRunID` is
/// its first field.
pub(crate) fn success_body(job_run_id: &str, tail: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let Some(fields) = tail.strip_prefix(b"{") else {
        return Err(serde::ser::Error::custom("a success tail is a JSON object"));
    };
    let mut body = Vec::with_capacity(job_run_id.len() + tail.len() + 16);
    body.extend_from_slice(b"{\"jobRunID\":");
    serde_json::to_writer(&mut body, job_run_id)?;
    body.push(b',');
    body.extend_from_slice(fields);
    Ok(body)
}

/// `data` with `result` inserted where `Map::insert` would put it.
struct DataWithResult<'a> {
    data: &'a Map<String, Value>,
    result: &'a Value,
}

impl Serialize for DataWithResult<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let replaces = self.data.contains_key("result");
        let mut map = serializer.serialize_map(Some(self.data.len() + usize::from(!replaces)))?;
        // A new key goes in key order (serde_json's default map) or last (`preserve_order`).
        let mut to_insert = !replaces;
        let sorted = map_is_sorted();
        for (key, value) in self.data {
            if key == "result" {
                map.serialize_entry(key, self.result)?;
                continue;
            }
            if to_insert && sorted && key.as_str() > "result" {
                map.serialize_entry("result", self.result)?;
                to_insert = false;
            }
            map.serialize_entry(key, value)?;
        }
        if to_insert {
            map.serialize_entry("result", self.result)?;
        }
        map.end()
    }
}

/// Whether `serde_json::Map` iterates in key order (it keeps insertion order when some
/// crate in the build enables serde_json's `preserve_order`).
fn map_is_sorted() -> bool {
    static SORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SORTED.get_or_init(|| {
        let mut probe = Map::new();
        probe.insert("b".to_owned(), Value::Null);
        probe.insert("a".to_owned(), Value::Null);
        probe.keys().next().is_some_and(|k| k == "a")
    })
}

/// `{}`.
struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        serializer.serialize_map(Some(0))?.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spliced_success_is_byte_for_byte_the_owned_one() {
        let timestamps = Timestamps {
            provider_data_requested_unix_ms: 1_700_000_000_000,
            provider_data_received_unix_ms: 1_700_000_000_042,
        };
        let datas = [
            json!({}),
            json!({"symbol": "ETH-USD", "price": 102.4, "size": 0.018, "timestamp": 1}),
            json!({"a": 1, "result": "old", "z": [1, {"y": null}]}),
            json!({"quote": "x\"y\u{1}", "rest": 2, "résumé": true, "zz": {}}),
            json!({"result": 1}),
            json!({"s": 1}),
        ];
        for (i, data) in datas.into_iter().enumerate() {
            let Value::Object(data) = data else {
                unreachable!()
            };
            for (id, result) in [("", json!(1)), ("job \"7\"\n", json!({"p": [1.5, "x"]}))] {
                let owned = AdapterResponse::success(
                    id.to_owned(),
                    result.clone(),
                    data.clone(),
                    timestamps,
                    json!({}),
                );
                let tail = render_success_tail(&result, &data, &timestamps).expect("renders");
                let spliced = success_body(id, &tail).expect("splices");
                assert_eq!(
                    String::from_utf8(spliced).expect("UTF-8"),
                    serde_json::to_string(&owned).expect("serializes"),
                    "data #{i}, id {id:?}"
                );
            }
        }
    }
}
