use std::sync::Arc;
use std::time::Duration;

use super::*;

fn key(n: u8) -> PublicKey {
    PublicKey::from_bytes([n; 32])
}

fn registry() -> LinkRegistry {
    LinkRegistry::new(Duration::from_millis(200))
}

fn granted(claim: Claim) -> LinkGuard {
    match claim {
        Claim::Granted(guard) => guard,
        Claim::Busy => panic!("expected the key to be granted"),
    }
}

#[tokio::test]
async fn a_key_is_held_until_its_guard_drops() {
    let registry = registry();
    let guard = granted(registry.claim(key(1)).await);
    assert!(registry.contains(&key(1)));
    assert!(matches!(registry.claim(key(1)).await, Claim::Busy));
    let other = granted(registry.claim(key(2)).await);
    assert_eq!(registry.len(), 2);
    drop(guard);
    assert!(!registry.contains(&key(1)));
    let again = granted(registry.claim(key(1)).await);
    assert!(!again.is_replaced());
    drop((other, again));
    assert!(registry.is_empty());
}

#[tokio::test]
async fn an_old_link_that_answers_its_probe_keeps_the_key() {
    let registry = registry();
    let old = granted(registry.claim(key(1)).await);
    old.set_probe(Arc::new(|| async { true }));
    assert!(matches!(registry.claim(key(1)).await, Claim::Busy));
    assert!(!old.is_replaced());
    assert!(registry.contains(&key(1)));
}

#[tokio::test]
async fn an_old_link_that_stays_silent_is_replaced() {
    let registry = registry();
    let mut old = granted(registry.claim(key(1)).await);
    old.set_probe(Arc::new(std::future::pending::<bool>));
    let new = granted(registry.claim(key(1)).await);
    assert!(old.is_replaced());
    tokio::time::timeout(Duration::from_secs(5), old.replaced())
        .await
        .expect("the old guard learns it was replaced");
    // The old guard's drop must not release the new link's hold.
    drop(old);
    assert!(registry.contains(&key(1)));
    assert!(!new.is_replaced());
    drop(new);
    assert!(registry.is_empty());
}

#[tokio::test]
async fn a_probe_that_answers_no_replaces_at_once() {
    let registry = LinkRegistry::new(Duration::from_secs(60));
    let old = granted(registry.claim(key(1)).await);
    old.set_probe(Arc::new(|| async { false }));
    let claim = tokio::time::timeout(Duration::from_secs(5), registry.claim(key(1)))
        .await
        .expect("a negative answer does not wait for the timeout");
    granted(claim);
    assert!(old.is_replaced());
}
