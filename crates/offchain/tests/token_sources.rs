//! Token sources beyond a static token, against local mock token endpoints: OAuth2 client
//! credentials and AWS Cognito user-password auth, each cached, refreshed before expiry,
//! shared by concurrent callers, with errors that keep their cause and never show secrets.

use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use offchain::auth::{ClientCredentials, CognitoAuth, CognitoTokenSource, TokenError};
use offchain::proto::node::ListNodesRequest;
use offchain::{Provider, RemoteConfig, RemoteProvider, TokenSource};
use serde_json::{Value, json};

mod support;

/// One request the mock endpoint saw.
#[derive(Debug, Clone)]
struct Seen {
    headers: HeaderMap,
    body: String,
}

/// Answers the n-th request (from 1) given what was seen: status and JSON body.
type Responder = dyn Fn(usize, &Seen) -> (u16, String) + Send + Sync;

#[derive(Clone)]
struct Mock {
    seen: Arc<Mutex<Vec<Seen>>>,
    respond: Arc<Responder>,
    delay: Duration,
}

async fn answer(State(mock): State<Mock>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let seen = Seen {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let n = {
        let mut all = mock.seen.lock().unwrap();
        all.push(seen.clone());
        all.len()
    };
    tokio::time::sleep(mock.delay).await;
    let (status, body) = (mock.respond)(n, &seen);
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
}

/// A mock endpoint at `http://127.0.0.1:<port>/token`; returns its URL and what it saw.
async fn mock(
    delay: Duration,
    respond: impl Fn(usize, &Seen) -> (u16, String) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Mock {
        seen: seen.clone(),
        respond: Arc::new(respond),
        delay,
    };
    let router = axum::Router::new()
        .route("/token", axum::routing::post(answer))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{address}/token"), seen)
}

fn form(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn oauth_token(n: usize, expires_in: u64) -> (u16, String) {
    let body = json!({
        "access_token": format!("tok-{n}"),
        "token_type": "Bearer",
        "expires_in": expires_in,
    });
    (200, body.to_string())
}

const SECRET: &str = "s3cret:x";

#[tokio::test]
async fn client_credentials_are_fetched_cached_and_refreshed_before_expiry() {
    // The first token is already due (expires_in 0), the second lasts an hour.
    let (url, seen) = mock(Duration::ZERO, |n, _| {
        oauth_token(n, if n == 1 { 0 } else { 3600 })
    })
    .await;
    let source = ClientCredentials::new(&url, "client-1", SECRET)
        .unwrap()
        .with_scopes(["jd.read", "jd.write"]);
    assert_eq!(source.token().await.unwrap(), "tok-1");
    assert_eq!(source.token().await.unwrap(), "tok-2");
    assert_eq!(source.token().await.unwrap(), "tok-2");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "the hour-long token is cached");

    // RFC 6749 §2.3.1: HTTP Basic with the form-encoded id and secret.
    let request = &seen[0];
    assert_eq!(
        request.headers[header::AUTHORIZATION],
        "Basic Y2xpZW50LTE6czNjcmV0JTNBeA=="
    );
    let fields = form(&request.body);
    assert!(fields.contains(&("grant_type".into(), "client_credentials".into())));
    assert!(fields.contains(&("scope".into(), "jd.read jd.write".into())));
    assert!(
        !request.body.contains("s3cret"),
        "the secret stays out of the body"
    );

    // Or the credentials in the body, for servers that want them there.
    let (url, seen) = mock(Duration::ZERO, |n, _| oauth_token(n, 3600)).await;
    let in_body = ClientCredentials::new(&url, "client-1", SECRET)
        .unwrap()
        .with_credentials_in_body();
    assert_eq!(in_body.token().await.unwrap(), "tok-1");
    let request = seen.lock().unwrap()[0].clone();
    assert!(request.headers.get(header::AUTHORIZATION).is_none());
    let fields = form(&request.body);
    assert!(fields.contains(&("client_id".into(), "client-1".into())));
    assert!(fields.contains(&("client_secret".into(), SECRET.into())));
    assert!(!fields.iter().any(|(k, _)| k == "scope"));
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh() {
    let (url, seen) = mock(Duration::from_millis(100), |n, _| oauth_token(n, 3600)).await;
    let source = Arc::new(ClientCredentials::new(&url, "client-1", SECRET).unwrap());
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let source = source.clone();
            tokio::spawn(async move { source.token().await.unwrap() })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.unwrap(), "tok-1");
    }
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn errors_keep_their_cause_and_never_show_secrets() {
    let assert_no_secret = |error: &TokenError| {
        let mut texts = vec![error.to_string(), format!("{error:?}")];
        let mut cause = error.source();
        while let Some(inner) = cause {
            texts.push(inner.to_string());
            cause = inner.source();
        }
        for text in texts {
            assert!(!text.contains("s3cret"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
    };

    // Refused: the OAuth error code is kept.
    let (url, _) = mock(Duration::ZERO, |_, _| {
        (
            401,
            json!({"error": "invalid_client", "error_description": "unknown client"}).to_string(),
        )
    })
    .await;
    let source = ClientCredentials::new(&url, "client-1", SECRET).unwrap();
    assert!(!format!("{source:?}").contains("s3cret"));
    let error = source.token().await.unwrap_err();
    assert!(
        matches!(error, TokenError::Refused { status: 401, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("invalid_client"), "{error}");
    assert_no_secret(&error);

    // Not a token response: the parse error is the source.
    let (url, _) = mock(Duration::ZERO, |_, _| (200, "<html>".into())).await;
    let error = ClientCredentials::new(&url, "client-1", SECRET)
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(matches!(error, TokenError::Malformed { .. }), "{error:?}");
    assert!(error.source().is_some());
    assert_no_secret(&error);

    // Unreachable: the transport error is the source.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let error = ClientCredentials::new(format!("http://{closed}/token"), "client-1", SECRET)
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(matches!(error, TokenError::Unreachable { .. }), "{error:?}");
    assert!(error.source().is_some());
    assert_no_secret(&error);

    // Cognito refusing a password: its exception name is kept, the password is not shown.
    let (url, _) = mock(Duration::ZERO, |_, _| {
        let body = json!({
            "__type": "NotAuthorizedException",
            "message": "Incorrect username or password.",
        });
        (400, body.to_string())
    })
    .await;
    let cognito = CognitoTokenSource::new(cognito_auth())
        .unwrap()
        .with_endpoint(&url)
        .unwrap();
    assert!(!format!("{cognito:?}").contains("hunter2"));
    assert!(!format!("{cognito:?}").contains("cognito-secret"));
    let error = cognito.token().await.unwrap_err();
    assert!(
        error.to_string().contains("NotAuthorizedException"),
        "{error}"
    );
    assert_no_secret(&error);

    // A bad token URL is refused when the source is made.
    assert!(ClientCredentials::new("not a url", "client-1", SECRET).is_err());
}

fn cognito_auth() -> CognitoAuth {
    CognitoAuth {
        region: "eu-west-1".into(),
        client_id: "client-abc".into(),
        client_secret: Some("cognito-secret".into()),
        username: "alice".into(),
        password: "hunter2".into(),
    }
}

/// base64(HMAC-SHA256(key = "cognito-secret", message = "alice" + "client-abc")).
const SECRET_HASH: &str = "Ntg7u9PD/aBkc6O8n7zgCzw0HiTn6z4ARa6ayWFgLHw=";

#[tokio::test]
async fn cognito_signs_in_with_the_secret_hash_and_refreshes() {
    let (url, seen) = mock(Duration::ZERO, |n, seen| {
        let request: Value = serde_json::from_str(&seen.body).unwrap();
        let result = match (n, request["AuthFlow"].as_str().unwrap()) {
            // Sign-in: a token already due, and a refresh token.
            (1, "USER_PASSWORD_AUTH") => json!({
                "AccessToken": "access-1", "IdToken": "id-1", "RefreshToken": "refresh-1",
                "ExpiresIn": 0, "TokenType": "Bearer"
            }),
            // Refresh: no new refresh token, as Cognito answers.
            (2, "REFRESH_TOKEN_AUTH") => json!({
                "AccessToken": "access-2", "IdToken": "id-2", "ExpiresIn": 0, "TokenType": "Bearer"
            }),
            // The refresh token has expired: sign in again.
            (3, "REFRESH_TOKEN_AUTH") => {
                let body = json!({
                    "__type": "NotAuthorizedException",
                    "message": "Refresh Token has expired",
                });
                return (400, body.to_string());
            }
            (4, "USER_PASSWORD_AUTH") => json!({
                "AccessToken": "access-4", "IdToken": "id-4", "RefreshToken": "refresh-4",
                "ExpiresIn": 3600, "TokenType": "Bearer"
            }),
            other => panic!("unexpected request {other:?}"),
        };
        (
            200,
            json!({"AuthenticationResult": result, "ChallengeParameters": {}}).to_string(),
        )
    })
    .await;
    let source = CognitoTokenSource::new(cognito_auth())
        .unwrap()
        .with_endpoint(&url)
        .unwrap();
    // The access token, as the Go framework sends.
    assert_eq!(source.token().await.unwrap(), "access-1");
    assert_eq!(source.token().await.unwrap(), "access-2");
    assert_eq!(source.token().await.unwrap(), "access-4");
    assert_eq!(source.token().await.unwrap(), "access-4");

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    for request in &seen {
        assert_eq!(
            request.headers["x-amz-target"],
            "AWSCognitoIdentityProviderService.InitiateAuth"
        );
        assert_eq!(
            request.headers[header::CONTENT_TYPE],
            "application/x-amz-json-1.1"
        );
    }
    let sign_in: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(sign_in["ClientId"], "client-abc");
    assert_eq!(sign_in["AuthParameters"]["USERNAME"], "alice");
    assert_eq!(sign_in["AuthParameters"]["PASSWORD"], "hunter2");
    assert_eq!(sign_in["AuthParameters"]["SECRET_HASH"], SECRET_HASH);
    let refresh: Value = serde_json::from_str(&seen[1].body).unwrap();
    assert_eq!(refresh["AuthParameters"]["REFRESH_TOKEN"], "refresh-1");
    assert_eq!(refresh["AuthParameters"]["SECRET_HASH"], SECRET_HASH);
    assert!(refresh["AuthParameters"].get("PASSWORD").is_none());
    // The refresh answer had no refresh token: the first one is used again.
    let second_refresh: Value = serde_json::from_str(&seen[2].body).unwrap();
    assert_eq!(
        second_refresh["AuthParameters"]["REFRESH_TOKEN"],
        "refresh-1"
    );
}

#[tokio::test]
async fn oauth_tokens_authenticate_remote_calls_to_a_jd() {
    let (url, _) = mock(Duration::ZERO, |n, _| oauth_token(n, 3600)).await;
    let server = support::jd_requiring_token("tok-1").await;
    let source = Arc::new(ClientCredentials::new(&url, "client-1", SECRET).unwrap());
    let config =
        RemoteConfig::new(format!("http://{}", server.local_addr())).with_token_source(source);
    let client = RemoteProvider::new(config)
        .unwrap()
        .initialize()
        .await
        .unwrap();
    assert!(client.list_nodes(ListNodesRequest::default()).await.is_ok());
    server.shutdown().await.unwrap();
}
