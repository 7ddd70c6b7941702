//! The node password: the secret the keystore is sealed with. It never shows in `Debug`
//! output, logs or error messages.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The longest password file read.
pub const MAX_PASSWORD_FILE_BYTES: u64 = 4096;

/// The node password (from `OFFCHAIN_NODE_PASSWORD` or a password file).
#[derive(Clone)]
pub struct NodePassword(String);

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
        Ok(NodePassword(password))
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
        self.0.as_bytes()
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
