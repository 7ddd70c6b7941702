use super::*;

fn key(byte: u8) -> PublicKey {
    PublicKey::from_bytes([byte; 32])
}

#[test]
fn membership_follows_inserts_and_removals() {
    let allowed = AllowedKeys::new([key(1)]);
    assert!(allowed.contains(&key(1)));
    assert!(!allowed.contains(&key(2)));

    assert!(allowed.insert(key(2)));
    assert!(!allowed.insert(key(2)));
    assert!(allowed.contains(&key(2)));

    assert!(allowed.remove(&key(1)));
    assert!(!allowed.remove(&key(1)));
    assert!(!allowed.contains(&key(1)));
    assert_eq!(allowed.len(), 1);
}

#[test]
fn clones_share_one_set() {
    let allowed = AllowedKeys::default();
    let verifier_view = allowed.clone();
    allowed.insert(key(7));
    assert!(verifier_view.contains(&key(7)));
}

#[test]
fn removals_bump_the_generation_and_additions_do_not() {
    let allowed = AllowedKeys::new([key(1), key(2)]);
    let mut removals = allowed.removals();

    allowed.insert(key(3));
    assert!(!removals.has_changed().unwrap());

    allowed.remove(&key(1));
    assert!(removals.has_changed().unwrap());
    removals.mark_unchanged();

    allowed.replace_all([key(2), key(3), key(4)]);
    assert!(!removals.has_changed().unwrap(), "nothing was removed");

    allowed.replace_all([key(4)]);
    assert!(removals.has_changed().unwrap());
    assert!(!allowed.contains(&key(2)) && allowed.contains(&key(4)));
}

#[tokio::test]
async fn a_link_waiting_on_removals_wakes_up() {
    let allowed = AllowedKeys::new([key(1)]);
    let mut removals = allowed.removals();
    let link = tokio::spawn(async move { removals.changed().await.is_ok() });
    allowed.remove(&key(1));
    let woke = tokio::time::timeout(std::time::Duration::from_secs(5), link)
        .await
        .expect("the link learned of the removal");
    assert!(woke.unwrap());
    assert!(!allowed.contains(&key(1)));
}

#[test]
fn keys_read_from_hex_and_compare_by_value() {
    let hex = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
    let parsed = PublicKey::from_hex(hex).unwrap();
    assert_eq!(parsed.to_hex(), hex);
    assert_eq!(parsed, PublicKey::from_bytes(*parsed.as_bytes()));
    assert_ne!(parsed, key(3));
    assert_eq!(PublicKey::from_hex("03a1"), Err(PublicKeyParseError));
    assert_eq!(
        PublicKey::from_hex(&"zz".repeat(32)),
        Err(PublicKeyParseError)
    );
}
