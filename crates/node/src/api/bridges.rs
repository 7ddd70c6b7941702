//! The bridge routes (`bridge.md` §5): `POST/GET /v2/bridge_types`,
//! `GET/PATCH/DELETE /v2/bridge_types/{name}`. Bodies are JSON with the spec's camelCase
//! names; a body that is not that JSON is 422 like any other bad input.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{ApiError, ApiState};
use crate::bridges::{BridgeChanges, BridgeError, BridgeView, CreatedBridge, NewBridge};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// `minimumContractPayment` as a JSON string or a non-negative integer.
#[derive(Deserialize)]
#[serde(untagged)]
enum Payment {
    Text(String),
    Number(u64),
}

impl Payment {
    fn into_text(self) -> String {
        match self {
            Payment::Text(text) => text,
            Payment::Number(number) => number.to_string(),
        }
    }
}

// No `Debug`: these hold the outgoing token.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateBody {
    name: String,
    url: String,
    confirmations: Option<u32>,
    minimum_contract_payment: Option<Payment>,
    outgoing_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchBody {
    /// Accepted when it is the bridge's own name (any case): names do not change.
    name: Option<String>,
    url: Option<String>,
    confirmations: Option<u32>,
    minimum_contract_payment: Option<Payment>,
    outgoing_token: Option<String>,
}

/// The body as `T`; anything else is 422 with serde's message (cut short). The message can
/// repeat a wrongly typed value, never a well-formed token: a string token is always accepted.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|error| {
        let message: String = error.to_string().chars().take(200).collect();
        BridgeError::Invalid(format!("invalid body: {message}")).into()
    })
}

pub(super) async fn create(
    State(state): State<Arc<ApiState>>,
    bytes: Bytes,
) -> ApiResult<CreatedBridge> {
    let body: CreateBody = body(&bytes)?;
    let created = state
        .bridges
        .create(NewBridge {
            name: body.name,
            url: body.url,
            confirmations: body.confirmations,
            minimum_contract_payment: body.minimum_contract_payment.map(Payment::into_text),
            outgoing_token: body.outgoing_token,
        })
        .await?;
    Ok(Json(created))
}

pub(super) async fn list(State(state): State<Arc<ApiState>>) -> ApiResult<Vec<BridgeView>> {
    Ok(Json(state.bridges.list()))
}

pub(super) async fn show(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<BridgeView> {
    Ok(Json(state.bridges.show(&name)?))
}

pub(super) async fn update(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult<BridgeView> {
    let body: PatchBody = body(&bytes)?;
    if let Some(new_name) = &body.name
        && !new_name.eq_ignore_ascii_case(&name)
    {
        return Err(BridgeError::Invalid("a bridge's name cannot be changed".to_owned()).into());
    }
    let view = state
        .bridges
        .update(
            &name,
            BridgeChanges {
                url: body.url,
                confirmations: body.confirmations,
                minimum_contract_payment: body.minimum_contract_payment.map(Payment::into_text),
                outgoing_token: body.outgoing_token,
            },
        )
        .await?;
    Ok(Json(view))
}

pub(super) async fn delete(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<BridgeView> {
    Ok(Json(state.bridges.delete(&name).await?))
}
