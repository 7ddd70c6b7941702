//! The registry against a real store in a temporary directory.

use offchain_pipeline::run::BridgeLookup;

use super::*;

async fn registry() -> (Registry, Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    (Registry::load(store.clone()).await.unwrap(), store, dir)
}

fn new(name: &str, url: &str) -> NewBridge {
    NewBridge {
        name: name.to_owned(),
        url: url.to_owned(),
        ..NewBridge::default()
    }
}

#[tokio::test]
async fn create_shows_the_incoming_token_once_and_stores_only_its_salted_hash() {
    let (registry, store, _dir) = registry().await;
    let created = registry
        .create(NewBridge {
            outgoing_token: Some("out-secret".to_owned()),
            confirmations: Some(3),
            minimum_contract_payment: Some("007".to_owned()),
            ..new("Coin-Market", "http://127.0.0.1:8080/")
        })
        .await
        .unwrap();
    assert_eq!(created.incoming_token.len(), 64);
    assert_eq!(created.bridge.minimum_contract_payment, "7");
    assert!(created.bridge.has_outgoing_token);

    let (salt, hash, outgoing): (Vec<u8>, Vec<u8>, String) = sqlx::query_as(
        "SELECT incoming_token_salt, incoming_token_hash, outgoing_token FROM bridges \
         WHERE name_key = 'coin-market'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(salt.len(), 16);
    assert_eq!(hash, salted_hash(&salt, &created.incoming_token).to_vec());
    // Neither the token nor its unsalted hash is at rest.
    let unsalted = aws_lc_rs::digest::digest(&SHA256, created.incoming_token.as_bytes());
    assert_ne!(hash, unsalted.as_ref().to_vec());
    let row_text = format!("{salt:?}{hash:?}");
    assert!(!row_text.contains(&created.incoming_token));
    assert_eq!(
        outgoing, "out-secret",
        "the outgoing token must be sent, so it is kept"
    );

    // The view (list/show) has no secret.
    let shown = serde_json::to_string(&registry.list()).unwrap();
    assert!(!shown.contains(&created.incoming_token) && !shown.contains("out-secret"));
    assert!(!format!("{registry:?}{created:?}").contains("out-secret"));
}

#[tokio::test]
async fn incoming_tokens_are_checked_per_bridge_and_for_any() {
    let (registry, _store, _dir) = registry().await;
    let a = registry.create(new("a", "http://a.test/")).await.unwrap();
    let b = registry.create(new("b", "http://b.test/")).await.unwrap();
    assert_ne!(a.incoming_token, b.incoming_token);
    assert!(registry.check_incoming_token(Some("A"), &a.incoming_token));
    assert!(!registry.check_incoming_token(Some("a"), &b.incoming_token));
    assert!(!registry.check_incoming_token(Some("missing"), &a.incoming_token));
    assert!(registry.check_incoming_token(None, &b.incoming_token));
    assert!(!registry.check_incoming_token(None, ""));
    assert!(!registry.check_incoming_token(None, &a.incoming_token[..63]));
}

#[test]
fn the_token_compare_is_aws_lc_constant_time_on_fixed_length_hashes() {
    // `matches` hashes first, so the compared slices are always 32 bytes whatever was
    // presented, and the compare is `aws_lc_rs::constant_time::verify_slices_are_equal`.
    let salt = [7u8; SALT_BYTES];
    let entry = Entry {
        view: BridgeView {
            name: "x".into(),
            url: "http://x.test/".into(),
            confirmations: 0,
            minimum_contract_payment: "0".into(),
            has_outgoing_token: false,
        },
        outgoing_token: String::new(),
        salt,
        hash: salted_hash(&salt, "right"),
    };
    assert!(entry.matches("right"));
    assert!(!entry.matches("wrong"));
    assert!(!entry.matches(&"r".repeat(10_000)));
    assert_eq!(
        salted_hash(&salt, "a").len(),
        salted_hash(&salt, &"a".repeat(999)).len()
    );
    let source = include_str!("mod.rs");
    assert!(
        source.contains("verify_slices_are_equal(&salted_hash(&self.salt, token), &self.hash)")
    );
}

#[tokio::test]
async fn names_are_case_insensitive_and_lookup_serves_the_runner() {
    let (registry, _store, _dir) = registry().await;
    registry
        .create(NewBridge {
            outgoing_token: Some("tok".to_owned()),
            ..new("Price_Feed", "https://adapter.test/price")
        })
        .await
        .unwrap();
    assert!(matches!(
        registry.create(new("price_feed", "http://x.test/")).await,
        Err(BridgeError::Duplicate(_))
    ));
    let bridge = registry.bridge("PRICE_FEED").unwrap();
    assert_eq!(bridge.url, "https://adapter.test/price");
    assert_eq!(bridge.outgoing_token, "tok");
    assert_eq!(registry.show("price_feed").unwrap().name, "Price_Feed");

    let view = registry
        .update(
            "price_FEED",
            BridgeChanges {
                outgoing_token: Some(String::new()),
                confirmations: Some(9),
                ..BridgeChanges::default()
            },
        )
        .await
        .unwrap();
    assert!(!view.has_outgoing_token);
    assert_eq!(view.confirmations, 9);
    assert_eq!(registry.bridge("price_feed").unwrap().outgoing_token, "");
    registry.delete("Price_Feed").await.unwrap();
    assert!(registry.bridge("price_feed").is_none());
    assert!(matches!(
        registry.delete("price_feed").await,
        Err(BridgeError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_reloaded_registry_sees_what_was_written() {
    let (registry, store, _dir) = registry().await;
    let created = registry
        .create(new("keep", "http://k.test/"))
        .await
        .unwrap();
    registry
        .create(new("gone", "http://g.test/"))
        .await
        .unwrap();
    registry.delete("gone").await.unwrap();
    let reloaded = Registry::load(store).await.unwrap();
    assert_eq!(reloaded.list(), registry.list());
    assert!(reloaded.check_incoming_token(Some("keep"), &created.incoming_token));
}

#[test]
fn invalid_fields_are_refused() {
    for name in ["", "a b", "a.b", "ä", &"n".repeat(256)] {
        assert!(validate::name(name).is_err(), "{name:?}");
    }
    validate::name(&"n".repeat(255)).unwrap();
    for url in [
        "ftp://x/",
        "/relative",
        "http://",
        "http:///path",
        "http://user:pw@host/",
        "http://host:99999/",
        "http://ho st/",
        &format!("http://h/{}", "a".repeat(2048)),
    ] {
        assert!(validate::url(url).is_err(), "{url:?}");
    }
    for url in [
        "http://h",
        "HTTPS://h.test:8443/p?q=a@b",
        "http://[::1]:80/x",
        "http://[::1]/",
    ] {
        validate::url(url).unwrap();
    }
    // The credential is not repeated in the message.
    let message = validate::url("http://user:hunter2@host/")
        .unwrap_err()
        .to_string();
    assert!(!message.contains("hunter2"));
    for payment in ["", "-1", "1.5", "1e3", &"9".repeat(79)] {
        assert!(validate::payment(payment).is_err(), "{payment:?}");
    }
    assert_eq!(validate::payment("000").unwrap(), "0");
    assert!(validate::outgoing_token("has space").is_err());
    let message = validate::outgoing_token("sec ret").unwrap_err().to_string();
    assert!(!message.contains("sec ret"));
}

#[test]
fn bridge_names_come_from_the_bridge_tasks() {
    let spec = r#"
type = "webhook"
schemaVersion = 1
observationSource = """
a [type=bridge name="Coin-Market" requestData="{}"]
b [type=jsonparse path="x"]
c [type=bridge name="other"]
a -> b -> c
"""
"#;
    let names: Vec<String> = bridge_names(spec).into_iter().collect();
    assert_eq!(names, ["coin-market", "other"]);
    assert!(bridge_names("not toml").is_empty());
}
