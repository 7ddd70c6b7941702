use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

use super::*;

/// `node-link.md`, "Test vectors".
const SEED: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const PUBLIC_KEY: &str = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
const CERTIFICATE: &str = concat!(
    "3081af3063a003020102020100300506032b657030003022180f30303031303130313030303030305a180f3030",
    "3031303130313030303030305a3000302a300506032b657003210003a107bff3ce10be1d70dd18e74bc09967e4",
    "d6309ba50d5f1ddc8664125531b8300506032b65700341007d625f1df8f037ab6b768bb93a6c2315258027ffc5",
    "2788fe10cb69cfe9ba106a48c6f5963559523d5a175e1b98ff71cd450e76c9145f7606093a792c16f52100",
);

fn spec_key_pair() -> Ed25519KeyPair {
    let seed = hex::decode(SEED).unwrap();
    Ed25519KeyPair::from_seed_unchecked(&seed).unwrap()
}

#[test]
fn certificate_matches_the_spec_test_vector() {
    let key_pair = spec_key_pair();
    assert_eq!(hex::encode(key_pair.public_key()), PUBLIC_KEY);
    let der = certificate_der(&key_pair);
    assert_eq!(der.len(), 178);
    assert_eq!(hex::encode(&der), CERTIFICATE);
}

#[test]
fn public_key_is_read_back_from_our_certificate() {
    let der = hex::decode(CERTIFICATE).unwrap();
    let key = public_key_from_certificate(&der).unwrap();
    assert_eq!(key.to_hex(), PUBLIC_KEY);
}

#[test]
fn public_key_is_read_from_an_ordinary_ed25519_certificate() {
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let params = rcgen::CertificateParams::new(vec!["jd.example".to_owned()]).unwrap();
    let certificate = params.self_signed(&key_pair).unwrap();
    let key = public_key_from_certificate(certificate.der()).unwrap();
    assert_eq!(key_pair.public_key_raw(), key.as_bytes());
}

#[test]
fn a_certificate_with_another_key_type_is_refused() {
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params = rcgen::CertificateParams::new(vec!["jd.example".to_owned()]).unwrap();
    let certificate = params.self_signed(&key_pair).unwrap();
    assert_eq!(
        public_key_from_certificate(certificate.der()),
        Err(CertificateError::NotEd25519)
    );
}

#[test]
fn an_oversized_certificate_is_refused_before_parsing() {
    let der = vec![0x30; MAX_CERTIFICATE_LEN + 1];
    assert_eq!(
        public_key_from_certificate(&der),
        Err(CertificateError::TooLarge {
            len: MAX_CERTIFICATE_LEN + 1
        })
    );
}

#[test]
fn truncated_or_extended_certificates_are_refused() {
    let der = hex::decode(CERTIFICATE).unwrap();
    for len in 0..der.len() {
        assert!(
            matches!(
                public_key_from_certificate(&der[..len]),
                Err(CertificateError::Malformed { .. })
            ),
            "prefix of {len} bytes accepted"
        );
    }
    let mut extended = der.clone();
    extended.push(0);
    assert!(public_key_from_certificate(&extended).is_err());
}

/// A small seeded generator (xorshift64*), so a failure repeats exactly.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut rng = Xorshift(0x5eed_0fc5_ace1_7c0d);
    let valid = hex::decode(CERTIFICATE).unwrap();
    let mut accepted_mutations = 0;
    for _ in 0..20_000 {
        let random: Vec<u8> = (0..rng.below(600)).map(|_| rng.next() as u8).collect();
        let _ = public_key_from_certificate(&random);

        let mut mutated = valid.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(mutated.len());
            mutated[at] = rng.next() as u8;
        }
        if public_key_from_certificate(&mutated).is_ok() {
            accepted_mutations += 1;
        }
    }
    // Mutations inside values (signature, dates, key bytes) are accepted by design; ones in
    // the structure are not. Both kinds must occur, or the mutation loop tests nothing.
    assert!(
        accepted_mutations > 0 && accepted_mutations < 20_000,
        "{accepted_mutations}"
    );
}
