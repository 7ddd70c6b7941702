//! The keystore file `keystore.json`: JSON, the public keys in clear beside the sealed
//! private keys, written atomically (temporary file, then rename) with mode 0600.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The only format written and read.
pub const FORMAT: u32 = 1;
/// The key derivation named in the file.
pub const KDF_ALGORITHM: &str = "pbkdf2-hmac-sha256";
/// A keystore is a few hundred bytes; anything much larger is not one.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// What `keystore.json` holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeystoreFile {
    pub format: u32,
    pub kdf: Kdf,
    pub csa: SealedKey,
    pub p2p: SealedKey,
}

/// How the sealing key is derived from the password.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kdf {
    pub algorithm: String,
    pub rounds: u32,
    /// Hex.
    pub salt: String,
}

/// One ed25519 key: its public key in clear, its PKCS#8 private key sealed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedKey {
    /// Hex of the 32-byte public key.
    pub public_key: String,
    /// Hex of the AES-GCM nonce.
    pub nonce: String,
    /// Hex of the sealed PKCS#8 document and its tag.
    pub sealed_private_key: String,
}

/// Why the file could not be read; the caller adds the path.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    Malformed(String),
}

/// Reads the keystore at `path`; `None` when there is none yet.
pub fn read(path: &Path) -> Result<Option<KeystoreFile>, ReadError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(ReadError::Io(error)),
    };
    let mut text = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(ReadError::Io)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::Malformed(format!(
            "larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| ReadError::Malformed(e.to_string()))
}

/// Writes `keystore` to `path` unless a file is there already (then `AlreadyExists`): two
/// nodes started at once on one data directory must not each keep a different key.
pub fn write_new(path: &Path, keystore: &KeystoreFile) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let json = serde_json::to_vec_pretty(keystore).map_err(io::Error::other)?;
    // Created with mode 0600 on unix, so the key is never readable by others, even briefly.
    let mut temporary = tempfile::Builder::new()
        .prefix(".keystore-")
        .tempfile_in(dir)?;
    temporary.write_all(&json)?;
    temporary.as_file().sync_all()?;
    temporary.persist_noclobber(path).map_err(|e| e.error)?;
    // The rename is only durable once the directory itself is on disk.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Creates `dir` (and its parents) readable by the owner only, when it does not exist.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
