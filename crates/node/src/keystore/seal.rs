//! Sealing private keys with the node password: PBKDF2-HMAC-SHA256 turns the password and a
//! random salt into an AES-256-GCM key; each private key is sealed under it with its own
//! random nonce. The JD seals its CSA key the same way (`crates/jd/src/csa.rs`).

use std::num::NonZeroU32;

use aws_lc_rs::{aead, pbkdf2, rand};

use super::NodePassword;

/// OWASP's 2023 figure for PBKDF2-HMAC-SHA256: slows guessing of a weak password at the cost
/// of a fraction of a second per start.
pub const PBKDF2_ROUNDS: u32 = 600_000;
/// Stored round counts above this are refused, so a corrupted file cannot stall start-up.
pub const MAX_ROUNDS: u32 = 100_000_000;
pub const SALT_LEN: usize = 16;
pub const NONCE_LEN: usize = aead::NONCE_LEN;
/// Binds every ciphertext to this file format.
const AAD: &[u8] = b"offchain-node keystore v1";

/// Why sealing or opening failed; the caller adds the keystore's path.
#[derive(Debug)]
pub enum SealError {
    /// The key derived from the password does not open the ciphertext.
    WrongKey,
    /// The stored parameters are out of range.
    Malformed(&'static str),
    /// The system random source or the cipher failed.
    Crypto(&'static str),
}

/// The AES-256-GCM key derived from the password.
pub struct SealingKey(aead::LessSafeKey);

impl SealingKey {
    /// Derives the key for `password` with `salt` and `rounds`.
    pub fn derive(password: &NodePassword, salt: &[u8], rounds: u32) -> Result<Self, SealError> {
        if rounds > MAX_ROUNDS {
            return Err(SealError::Malformed("round count out of range"));
        }
        let rounds = NonZeroU32::new(rounds).ok_or(SealError::Malformed("zero rounds"))?;
        let mut key = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            rounds,
            salt,
            password.as_bytes(),
            &mut key,
        );
        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, &key)
            .map_err(|_| SealError::Crypto("AES key setup failed"))?;
        Ok(SealingKey(aead::LessSafeKey::new(unbound)))
    }

    /// Seals `plaintext` under a fresh random nonce; returns the nonce and ciphertext+tag.
    pub fn seal(&self, plaintext: &[u8]) -> Result<([u8; NONCE_LEN], Vec<u8>), SealError> {
        let nonce = random::<NONCE_LEN>()?;
        let mut in_out = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(AAD),
                &mut in_out,
            )
            .map_err(|_| SealError::Crypto("encryption failed"))?;
        Ok((nonce, in_out))
    }

    /// Opens what [`SealingKey::seal`] returned.
    pub fn open(&self, nonce: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| SealError::Malformed("bad nonce length"))?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .0
            .open_in_place(nonce, aead::Aad::from(AAD), &mut in_out)
            .map_err(|_| SealError::WrongKey)?;
        Ok(plaintext.to_vec())
    }
}

/// `N` bytes from the system random source.
pub fn random<const N: usize>() -> Result<[u8; N], SealError> {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes).map_err(|_| SealError::Crypto("random source failed"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(text: &str) -> NodePassword {
        NodePassword::new(text.into()).unwrap()
    }

    #[test]
    fn sealed_bytes_open_only_with_the_same_password_and_salt() {
        let key = SealingKey::derive(&password("pw"), b"salt", 2).unwrap();
        let (nonce, sealed) = key.seal(b"private").unwrap();
        assert_eq!(key.open(&nonce, &sealed).unwrap(), b"private");
        for other in [
            SealingKey::derive(&password("other"), b"salt", 2).unwrap(),
            SealingKey::derive(&password("pw"), b"pepper", 2).unwrap(),
            SealingKey::derive(&password("pw"), b"salt", 3).unwrap(),
        ] {
            assert!(matches!(
                other.open(&nonce, &sealed),
                Err(SealError::WrongKey)
            ));
        }
        assert!(matches!(
            key.open(&nonce[..4], &sealed),
            Err(SealError::Malformed(_))
        ));
        let (other_nonce, _) = key.seal(b"private").unwrap();
        assert_ne!(nonce, other_nonce, "a fresh nonce per seal");
    }

    #[test]
    fn round_counts_are_bounded() {
        for rounds in [0, MAX_ROUNDS + 1] {
            let derived = SealingKey::derive(&password("pw"), b"salt", rounds);
            assert!(matches!(derived, Err(SealError::Malformed(_))));
        }
    }
}
