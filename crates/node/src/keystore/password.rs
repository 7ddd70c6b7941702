//! The node password: the secret the keystore is sealed with. It never shows in `Debug`
//! output, logs or error messages.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The longest password file read.
pub const MAX_PASSWORD_FILE_BYTES: u64 = 4096;

/// The shortest secret [`NodePassword::generated`] takes: 256 bits as hex.
pub const MIN_GENERATED_SECRET_LEN: usize = 64;
/// PBKDF2 rounds for a keystore sealed with a generated secret: stretching a random 256-bit
/// secret adds nothing to the cost of guessing it, only to every start.
pub const GENERATED_SECRET_ROUNDS: u32 = 1;

/// The node password (from `OFFCHAIN_NODE_PASSWORD` or a password file), or a secret a
/// program generated for the node ([`NodePassword::generated`]).
#[derive(Clone)]
pub struct NodePassword {
    secret: String,
    generated: bool,
}

/// Why a password could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The password is empty.
    #[error("the node password is empty")]
    Empty,
    /// The password file could not be read.
    #[error("cannot read the password file {}: {source}", path.display())]
    Read {
        /// The password file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A "generated" secret too short to be 256 random bits.
    #[error("a generated node secret must be at least {MIN_GENERATED_SECRET_LEN} characters")]
    TooShort,
    /// The password file is larger than [`MAX_PASSWORD_FILE_BYTES`].
    #[error("the password file {} is larger than {MAX_PASSWORD_FILE_BYTES} bytes", path.display())]
    TooLarge {
        /// The password file.
        path: PathBuf,
    },
}

impl NodePassword {
    /// A password as given (an environment variable's value, say); it must not be empty.
    pub fn new(password: String) -> Result<Self, PasswordError> {
        if password.is_empty() {
            return Err(PasswordError::Empty);
        }
        Ok(NodePassword {
            secret: password,
            generated: false,
        })
    }

    /// A secret a program generated from the system random source (at least 256 bits, as
    /// [`MIN_GENERATED_SECRET_LEN`] hex characters) and keeps for the node, as `offchain up`
    /// does. New keystores sealed with it record [`GENERATED_SECRET_ROUNDS`] PBKDF2 rounds
    /// instead of [`PBKDF2_ROUNDS`](super::PBKDF2_ROUNDS), so many nodes open fast; the
    /// caller vouches for the randomness, which a person's password never has.
    pub fn generated(secret: String) -> Result<Self, PasswordError> {
        if secret.len() < MIN_GENERATED_SECRET_LEN {
            return Err(PasswordError::TooShort);
        }
        Ok(NodePassword {
            secret,
            generated: true,
        })
    }

    /// The PBKDF2 rounds a new keystore sealed with this password records.
    pub fn kdf_rounds(&self) -> u32 {
        if self.generated {
            GENERATED_SECRET_ROUNDS
        } else {
            super::PBKDF2_ROUNDS
        }
    }

    /// The first line of `path`: the line break editors add at the end is not part of it.
    pub fn read_file(path: &Path) -> Result<Self, PasswordError> {
        let read_error = |source| PasswordError::Read {
            path: path.to_owned(),
            source,
        };
        let mut text = String::new();
        File::open(path)
            .map_err(read_error)?
            .take(MAX_PASSWORD_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        if text.len() as u64 > MAX_PASSWORD_FILE_BYTES {
            return Err(PasswordError::TooLarge {
                path: path.to_owned(),
            });
        }
        let line = text.lines().next().unwrap_or_default();
        Self::new(line.to_owned())
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.secret.as_bytes()
    }
}

impl fmt::Debug for NodePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodePassword(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_in_debug_output() {
        let password = NodePassword::new("hunter2-secret".into()).unwrap();
        assert_eq!(format!("{password:?}"), "NodePassword(<redacted>)");
        assert!(matches!(
            NodePassword::new(String::new()),
            Err(PasswordError::Empty)
        ));
    }

    #[test]
    fn generated_secrets_are_long_and_sealed_with_one_round() {
        assert!(matches!(
            NodePassword::generated("ab".repeat(31)),
            Err(PasswordError::TooShort)
        ));
        let secret = NodePassword::generated("ab".repeat(32)).unwrap();
        assert_eq!(secret.kdf_rounds(), GENERATED_SECRET_ROUNDS);
        assert_eq!(format!("{secret:?}"), "NodePassword(<redacted>)");
        let person = NodePassword::new("ab".repeat(32)).unwrap();
        assert_eq!(person.kdf_rounds(), super::super::PBKDF2_ROUNDS);
    }

    #[test]
    fn a_password_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        for (text, expected) in [("pw\n", "pw"), ("pw\r\n", "pw"), ("p w ", "p w ")] {
            std::fs::write(&path, text).unwrap();
            assert_eq!(
                NodePassword::read_file(&path).unwrap().as_bytes(),
                expected.as_bytes()
            );
        }
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            NodePassword::read_file(&path),
            Err(PasswordError::Empty)
        ));
        std::fs::write(&path, "x".repeat(5000)).unwrap();
        assert!(matches!(
            NodePassword::read_file(&path),
            Err(PasswordError::TooLarge { .. })
        ));
        let missing = NodePassword::read_file(&dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }
}
