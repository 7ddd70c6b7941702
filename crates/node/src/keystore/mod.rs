//! The node's keys: its CSA key (ed25519, the identity JDs register and the wsrpc link
//! authenticates) and its P2P key (ed25519, shown as a libp2p peer id). Both are created on
//! first start in `data_dir/keystore.json`, their private keys sealed with the node password
//! (PBKDF2-HMAC-SHA256, [`PBKDF2_ROUNDS`] rounds, then AES-256-GCM; rounds and salt are
//! stored in the file). After opening, each private key is checked against the public key
//! stored beside it.
//!
//! Opening derives the sealing key once, which takes a noticeable fraction of a second on
//! purpose: async callers run [`Keystore::open_or_create`] on a blocking thread.

mod file;
mod password;
mod seal;

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};

pub use password::{
    GENERATED_SECRET_ROUNDS, MAX_PASSWORD_FILE_BYTES, MIN_GENERATED_SECRET_LEN, NodePassword,
    PasswordError,
};
pub use seal::PBKDF2_ROUNDS;

use crate::peer_id::PeerId;
use file::{KeystoreFile, ReadError, SealedKey};
use seal::{SALT_LEN, SealError, SealingKey};

/// The keystore's file name inside the data directory.
pub const KEYSTORE_FILE_NAME: &str = "keystore.json";

/// Why the keystore could not be opened or created. No variant carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The password does not open the stored keys.
    #[error(
        "the node password does not open the keystore at {}: use the password it was \
         created with", path.display()
    )]
    WrongPassword {
        /// The keystore file.
        path: PathBuf,
    },
    /// The file is not a keystore this node can read.
    #[error("the keystore at {} is malformed: {reason}", path.display())]
    Malformed {
        /// The keystore file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A decrypted private key belongs to another public key than the one stored with it.
    #[error(
        "the {key} private key in the keystore at {} does not match its stored public key \
         {stored}: the file was altered or mixed up; refusing to use it", path.display()
    )]
    PublicKeyMismatch {
        /// The keystore file.
        path: PathBuf,
        /// `CSA` or `P2P`.
        key: &'static str,
        /// The public key stored beside the sealed private key (hex).
        stored: String,
    },
    /// The file or its directory could not be read or written.
    #[error("cannot {action} the keystore at {}: {source}", path.display())]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The keystore file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The system random source, key generation or the cipher failed.
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),
}

/// The node's CSA and P2P keypairs, opened.
pub struct Keystore {
    csa: Ed25519KeyPair,
    p2p: Ed25519KeyPair,
}

impl Keystore {
    /// Opens `data_dir/keystore.json` with `password`, creating it (and `data_dir`) with two
    /// fresh keys when there is none, sealed with [`NodePassword::kdf_rounds`] rounds
    /// ([`PBKDF2_ROUNDS`] for a person's password). Opening uses the rounds the file records.
    pub fn open_or_create(data_dir: &Path, password: &NodePassword) -> Result<Self, KeystoreError> {
        Self::open_or_create_with_rounds(data_dir, password, password.kdf_rounds())
    }

    /// As [`Keystore::open_or_create`], sealing new keystores with `rounds` (tests use few).
    pub(crate) fn open_or_create_with_rounds(
        data_dir: &Path,
        password: &NodePassword,
        rounds: u32,
    ) -> Result<Self, KeystoreError> {
        let path = data_dir.join(KEYSTORE_FILE_NAME);
        if let Some(stored) = read(&path)? {
            return open(&path, &stored, password);
        }
        let (keystore, sealed) = create(&path, password, rounds)?;
        match file::write_new(&path, &sealed) {
            Ok(()) => {
                tracing::info!(
                    path = %path.display(),
                    csa_public_key = %keystore.csa_public_key_hex(),
                    p2p_peer_id = %keystore.p2p_peer_id(),
                    "created the node's keys"
                );
                Ok(keystore)
            }
            // Another process created it first: its keys are the node's keys.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let stored = read(&path)?.ok_or_else(|| io_error("read", &path, error))?;
                open(&path, &stored, password)
            }
            Err(error) => Err(io_error("write", &path, error)),
        }
    }

    /// The CSA public key.
    pub fn csa_public_key(&self) -> [u8; 32] {
        public_key_bytes(&self.csa)
    }

    /// The CSA public key in lower-case hex: what an operator registers at the JD.
    pub fn csa_public_key_hex(&self) -> String {
        hex::encode(self.csa_public_key())
    }

    /// The CSA keypair, to authenticate links and sign with.
    pub fn csa_key_pair(&self) -> &Ed25519KeyPair {
        &self.csa
    }

    /// The P2P key's peer id (`p2p_12D3KooW…`).
    pub fn p2p_peer_id(&self) -> PeerId {
        PeerId::from_ed25519(public_key_bytes(&self.p2p))
    }

    /// The P2P keypair.
    pub fn p2p_key_pair(&self) -> &Ed25519KeyPair {
        &self.p2p
    }
}

impl fmt::Debug for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keystore")
            .field("csa_public_key", &self.csa_public_key_hex())
            .field("p2p_peer_id", &self.p2p_peer_id())
            .finish_non_exhaustive()
    }
}

fn public_key_bytes(pair: &Ed25519KeyPair) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(pair.public_key().as_ref());
    key
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> KeystoreError {
    KeystoreError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn malformed(path: &Path, reason: impl Into<String>) -> KeystoreError {
    KeystoreError::Malformed {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn seal_error(path: &Path, error: SealError) -> KeystoreError {
    match error {
        SealError::WrongKey => KeystoreError::WrongPassword {
            path: path.to_owned(),
        },
        SealError::Malformed(reason) => malformed(path, reason),
        SealError::Crypto(what) => KeystoreError::Crypto(what),
    }
}

fn read(path: &Path) -> Result<Option<KeystoreFile>, KeystoreError> {
    file::read(path).map_err(|error| match error {
        ReadError::Io(source) => io_error("read", path, source),
        ReadError::Malformed(reason) => malformed(path, reason),
    })
}

/// Two fresh keypairs and their sealed form.
fn create(
    path: &Path,
    password: &NodePassword,
    rounds: u32,
) -> Result<(Keystore, KeystoreFile), KeystoreError> {
    let salt = seal::random::<SALT_LEN>().map_err(|e| seal_error(path, e))?;
    let key = SealingKey::derive(password, &salt, rounds).map_err(|e| seal_error(path, e))?;
    let (csa, sealed_csa) = generate(path, &key)?;
    let (p2p, sealed_p2p) = generate(path, &key)?;
    let sealed = KeystoreFile {
        format: file::FORMAT,
        kdf: file::Kdf {
            algorithm: file::KDF_ALGORITHM.into(),
            rounds,
            salt: hex::encode(salt),
        },
        csa: sealed_csa,
        p2p: sealed_p2p,
    };
    Ok((Keystore { csa, p2p }, sealed))
}

fn generate(path: &Path, key: &SealingKey) -> Result<(Ed25519KeyPair, SealedKey), KeystoreError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| KeystoreError::Crypto("ed25519 key generation failed"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| KeystoreError::Crypto("a generated key did not parse"))?;
    let (nonce, sealed) = key.seal(pkcs8.as_ref()).map_err(|e| seal_error(path, e))?;
    let sealed = SealedKey {
        public_key: hex::encode(pair.public_key().as_ref()),
        nonce: hex::encode(nonce),
        sealed_private_key: hex::encode(sealed),
    };
    Ok((pair, sealed))
}

/// Opens both keys of `stored`, checking each against its stored public key.
fn open(
    path: &Path,
    stored: &KeystoreFile,
    password: &NodePassword,
) -> Result<Keystore, KeystoreError> {
    if stored.format != file::FORMAT || stored.kdf.algorithm != file::KDF_ALGORITHM {
        return Err(malformed(path, "unknown format or key derivation"));
    }
    let salt = hex::decode(&stored.kdf.salt).map_err(|_| malformed(path, "salt is not hex"))?;
    let key =
        SealingKey::derive(password, &salt, stored.kdf.rounds).map_err(|e| seal_error(path, e))?;
    // The CSA key is opened first: if the password is wrong, this is where it shows.
    let csa = open_key(path, &key, &stored.csa, "CSA")?;
    let p2p = open_key(path, &key, &stored.p2p, "P2P").map_err(|error| match error {
        // The password opened the CSA key, so a P2P key it cannot open was altered.
        KeystoreError::WrongPassword { .. } => malformed(path, "the P2P key does not decrypt"),
        other => other,
    })?;
    Ok(Keystore { csa, p2p })
}

fn open_key(
    path: &Path,
    key: &SealingKey,
    stored: &SealedKey,
    name: &'static str,
) -> Result<Ed25519KeyPair, KeystoreError> {
    let nonce = hex::decode(&stored.nonce).map_err(|_| malformed(path, "nonce is not hex"))?;
    let sealed = hex::decode(&stored.sealed_private_key)
        .map_err(|_| malformed(path, "sealed private key is not hex"))?;
    let pkcs8 = key.open(&nonce, &sealed).map_err(|e| seal_error(path, e))?;
    let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
        .map_err(|_| malformed(path, format!("the {name} key is not ed25519 PKCS#8")))?;
    // A key whose halves disagree would make the node present an identity nobody registered.
    let stored_public = hex::decode(stored.public_key.trim()).unwrap_or_default();
    if pair.public_key().as_ref() != stored_public.as_slice() {
        return Err(KeystoreError::PublicKeyMismatch {
            path: path.to_owned(),
            key: name,
            stored: stored.public_key.chars().take(64).collect(),
        });
    }
    Ok(pair)
}

#[cfg(test)]
mod tests;
