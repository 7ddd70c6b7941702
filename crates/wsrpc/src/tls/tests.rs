use aws_lc_rs::signature::Ed25519KeyPair;

use super::*;

/// `node-link.md`, "Test vectors".
const SEED: [u8; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31,
];
const PUBLIC_KEY: &str = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";

#[test]
fn identity_from_the_spec_seed_has_the_spec_key_and_certificate() {
    let identity = Identity::from_seed(&SEED).unwrap();
    assert_eq!(identity.public_key().to_hex(), PUBLIC_KEY);
    assert_eq!(identity.certificate().len(), 178);
    assert_eq!(
        public_key_from_certificate(identity.certificate()).unwrap(),
        identity.public_key()
    );
}

#[test]
fn rustls_loads_the_private_key_of_the_spec_seed() {
    let identity = Identity::from_seed(&SEED).unwrap();
    let key = identity.private_key().unwrap();
    let signer = rustls::crypto::aws_lc_rs::sign::any_eddsa_type(match &key {
        PrivateKeyDer::Pkcs8(pkcs8) => pkcs8,
        _ => panic!("PKCS#8 expected"),
    })
    .unwrap();
    assert_eq!(signer.algorithm(), rustls::SignatureAlgorithm::ED25519);
    assert!(server_config(&identity, AllowedKeys::default()).is_ok());
    assert!(client_config(&identity, identity.public_key()).is_ok());
}

#[test]
fn identity_from_pkcs8_v2_is_the_same_key() {
    let key_pair = Ed25519KeyPair::from_seed_unchecked(&SEED).unwrap();
    let pkcs8_v2 = key_pair.to_pkcs8().unwrap();
    let identity = Identity::from_pkcs8(pkcs8_v2.as_ref()).unwrap();
    assert_eq!(identity.public_key().to_hex(), PUBLIC_KEY);
    assert!(matches!(
        Identity::from_pkcs8(b"not a key"),
        Err(TlsError::InvalidPrivateKey)
    ));
}

#[test]
fn debug_shows_only_the_public_key() {
    let identity = Identity::from_seed(&SEED).unwrap();
    let shown = format!("{identity:?}");
    assert!(shown.contains(PUBLIC_KEY), "{shown}");
    // The seed is the private key; its hex must not appear.
    assert!(!shown.contains("000102030405"), "{shown}");
}

#[test]
fn server_names_are_dns_names_or_no_sni() {
    assert_eq!(
        server_name("jd.example.com"),
        ServerName::try_from("jd.example.com").unwrap()
    );
    assert!(matches!(server_name("10.0.0.1"), ServerName::IpAddress(_)));
    assert!(matches!(
        server_name("not a host!"),
        ServerName::IpAddress(_)
    ));
}
