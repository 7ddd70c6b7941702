use std::fs;

use aws_lc_rs::encoding::AsBigEndian as _;
use serde_json::Value;

use super::*;

/// Few rounds: these tests are about the file, not the cost of guessing.
const FAST: u32 = 2;

fn password(text: &str) -> NodePassword {
    NodePassword::new(text.into()).unwrap()
}

fn create(dir: &Path) -> Keystore {
    Keystore::open_or_create_with_rounds(dir, &password("node password"), FAST).unwrap()
}

fn edit(dir: &Path, change: impl FnOnce(&mut Value)) {
    let path = dir.join(KEYSTORE_FILE_NAME);
    let mut json: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    change(&mut json);
    fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
}

#[test]
fn keys_are_created_once_then_reopened_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested/data");
    let first = create(&data_dir);
    assert_eq!(first.csa_public_key_hex().len(), 64);
    assert_ne!(first.csa_public_key(), *first.p2p_peer_id().public_key());
    let again = create(&data_dir);
    assert_eq!(again.csa_public_key(), first.csa_public_key());
    assert_eq!(again.p2p_peer_id(), first.p2p_peer_id());
    assert!(again.p2p_peer_id().to_string().starts_with("p2p_12D3KooW"));
}

#[test]
fn nodes_starting_at_once_on_one_data_dir_end_up_with_the_same_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let data_dir = data_dir.clone();
            std::thread::spawn(move || create(&data_dir).csa_public_key())
        })
        .collect();
    let keys: Vec<[u8; 32]> = starts.into_iter().map(|s| s.join().unwrap()).collect();
    assert!(
        keys.iter().all(|key| *key == keys[0]),
        "different keys were kept"
    );
    assert_eq!(create(&data_dir).csa_public_key(), keys[0]);
    assert_eq!(
        fs::read_dir(&data_dir).unwrap().count(),
        1,
        "no temporary files left"
    );
}

#[test]
fn a_wrong_password_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path());
    let error = Keystore::open_or_create(dir.path(), &password("another")).unwrap_err();
    assert!(
        matches!(error, KeystoreError::WrongPassword { .. }),
        "{error}"
    );
    let expected = format!(
        "the node password does not open the keystore at {}",
        dir.path().join(KEYSTORE_FILE_NAME).display()
    );
    assert!(error.to_string().starts_with(&expected), "{error}");
}

#[test]
fn the_file_is_private_and_holds_no_private_key_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = create(dir.path());
    let path = dir.path().join(KEYSTORE_FILE_NAME);
    let text = fs::read_to_string(&path).unwrap();
    let seed = keystore.csa_key_pair().seed().unwrap();
    let seed_hex = hex::encode(seed.as_be_bytes().unwrap().as_ref());
    assert!(!text.contains(&seed_hex), "the CSA seed is in clear");
    assert!(text.contains(&keystore.csa_public_key_hex()));
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["kdf"]["algorithm"], "pbkdf2-hmac-sha256");
    assert_eq!(json["kdf"]["rounds"], FAST);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}

#[test]
fn new_keystores_are_sealed_with_600_000_rounds_and_a_random_salt() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let keystore = Keystore::open_or_create(first.path(), &password("pw")).unwrap();
    Keystore::open_or_create_with_rounds(second.path(), &password("pw"), FAST).unwrap();
    let read = |dir: &Path| -> Value {
        serde_json::from_slice(&fs::read(dir.join(KEYSTORE_FILE_NAME)).unwrap()).unwrap()
    };
    let (first_json, second_json) = (read(first.path()), read(second.path()));
    assert!(first_json["kdf"]["rounds"].as_u64().unwrap() >= 600_000);
    assert_ne!(first_json["kdf"]["salt"], second_json["kdf"]["salt"]);
    let reopened = Keystore::open_or_create(first.path(), &password("pw")).unwrap();
    assert_eq!(reopened.csa_public_key(), keystore.csa_public_key());
}

#[test]
fn a_public_key_that_does_not_match_its_private_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = create(dir.path());
    let p2p_public = hex::encode(keystore.p2p_peer_id().public_key());
    edit(dir.path(), |json| {
        json["csa"]["public_key"] = p2p_public.clone().into()
    });
    let error = Keystore::open_or_create(dir.path(), &password("node password")).unwrap_err();
    assert!(
        matches!(error, KeystoreError::PublicKeyMismatch { key: "CSA", .. }),
        "{error}"
    );
    assert!(error.to_string().contains(&p2p_public), "{error}");
}

/// A change to the file and the words the error must contain.
type Damage = (&'static str, fn(&mut Value));

#[test]
fn damaged_files_are_reported_as_malformed() {
    let changes: [Damage; 5] = [
        ("unknown format", |json| json["format"] = 9.into()),
        ("round count", |json| {
            json["kdf"]["rounds"] = u32::MAX.into()
        }),
        ("salt is not hex", |json| json["kdf"]["salt"] = "zz".into()),
        ("P2P key does not decrypt", |json| {
            json["p2p"]["sealed_private_key"] = json["csa"]["sealed_private_key"].clone()
        }),
        ("unknown field", |json| json["extra"] = 1.into()),
    ];
    for (needle, change) in changes {
        let dir = tempfile::tempdir().unwrap();
        create(dir.path());
        edit(dir.path(), change);
        let error = Keystore::open_or_create(dir.path(), &password("node password")).unwrap_err();
        assert!(
            matches!(error, KeystoreError::Malformed { .. }),
            "{needle}: {error}"
        );
        assert!(error.to_string().contains(needle), "{needle}: {error}");
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(KEYSTORE_FILE_NAME), "not json").unwrap();
    let error = Keystore::open_or_create(dir.path(), &password("pw")).unwrap_err();
    assert!(matches!(error, KeystoreError::Malformed { .. }), "{error}");
}

#[test]
fn debug_output_shows_public_keys_only() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = create(dir.path());
    let debug = format!("{keystore:?}");
    assert!(debug.contains(&keystore.csa_public_key_hex()), "{debug}");
    let seed = keystore.csa_key_pair().seed().unwrap();
    let seed_hex = hex::encode(seed.as_be_bytes().unwrap().as_ref());
    assert!(!debug.contains(&seed_hex), "{debug}");
}

#[test]
fn generated_secrets_seal_with_one_round_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let secret = NodePassword::generated("5e".repeat(32)).unwrap();
    let first = Keystore::open_or_create(dir.path(), &secret).unwrap();
    let json: Value =
        serde_json::from_slice(&fs::read(dir.path().join(KEYSTORE_FILE_NAME)).unwrap()).unwrap();
    assert_eq!(json["kdf"]["rounds"], GENERATED_SECRET_ROUNDS);
    let again = Keystore::open_or_create(dir.path(), &secret).unwrap();
    assert_eq!(again.csa_public_key(), first.csa_public_key());
    let other = NodePassword::generated("6f".repeat(32)).unwrap();
    assert!(matches!(
        Keystore::open_or_create(dir.path(), &other),
        Err(KeystoreError::WrongPassword { .. })
    ));
}
