//! Optional operator authentication: bearer tokens checked against SHA-256 hashes, so the
//! JD's configuration never holds a usable token.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::{constant_time, digest};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Why a token-hash list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// The file could not be read.
    #[error("cannot read token hash file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An entry is not 64 hex characters.
    #[error("{origin}: entry {entry} is not a SHA-256 hash (64 hex characters)")]
    BadHash {
        /// Where the entry came from (file and line, or variable).
        origin: String,
        /// The offending entry.
        entry: String,
    },
    /// No hashes at all.
    #[error("{0}: no token hashes found")]
    Empty(String),
}

/// The SHA-256 hashes of the tokens allowed to call the operator API.
#[derive(Debug, Clone, Default)]
pub struct TokenHashes(Arc<HashSet<[u8; 32]>>);

impl TokenHashes {
    /// Reads one hex hash per line; blank lines and `#` comments are skipped.
    pub fn from_file(path: &Path) -> Result<Self, AuthConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let entries = text.lines().enumerate().filter_map(|(i, line)| {
            let line = line.trim();
            (!line.is_empty() && !line.starts_with('#'))
                .then(|| (format!("{}:{}", path.display(), i + 1), line))
        });
        Self::collect(entries, &path.display().to_string())
    }

    /// Reads comma-separated hex hashes (the form of the `JD_AUTH_TOKEN_HASHES` variable).
    pub fn from_list(list: &str, origin: &str) -> Result<Self, AuthConfigError> {
        let entries = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| (origin.to_string(), e));
        Self::collect(entries, origin)
    }

    fn collect<'a>(
        entries: impl Iterator<Item = (String, &'a str)>,
        origin: &str,
    ) -> Result<Self, AuthConfigError> {
        let mut hashes = HashSet::new();
        for (origin, entry) in entries {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(entry, &mut hash).map_err(|_| AuthConfigError::BadHash {
                origin,
                entry: entry.to_string(),
            })?;
            hashes.insert(hash);
        }
        if hashes.is_empty() {
            return Err(AuthConfigError::Empty(origin.to_string()));
        }
        Ok(TokenHashes(Arc::new(hashes)))
    }

    /// Whether `token` is one of the allowed tokens. Every allowed hash is compared in
    /// constant time, so the answer's timing tells nothing about how close a guess was.
    pub fn allows(&self, token: &str) -> bool {
        let digest = digest::digest(&digest::SHA256, token.as_bytes());
        self.0.iter().fold(false, |found, hash| {
            constant_time::verify_slices_are_equal(hash, digest.as_ref()).is_ok() | found
        })
    }

    /// How many tokens are allowed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no token is allowed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Lower-case hex SHA-256 of `token`: what goes into a token hash file.
pub fn hash_token(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

/// A tonic interceptor that refuses calls without an allowed `authorization: Bearer` token.
#[derive(Debug, Clone)]
pub struct RequireToken(pub TokenHashes);

impl Interceptor for RequireToken {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer token"))?;
        let token =
            header.to_str().ok().and_then(bearer_token).ok_or_else(|| {
                Status::unauthenticated("authorization must be \"Bearer <token>\"")
            })?;
        if self.0.allows(token) {
            Ok(request)
        } else {
            Err(Status::unauthenticated("invalid bearer token"))
        }
    }
}

/// The token of a `Bearer <token>` credential; the scheme name is case-insensitive
/// (RFC 7235 section 2.1).
fn bearer_token(credentials: &str) -> Option<&str> {
    let (scheme, token) = credentials.trim().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn request(header: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(h) = header {
            request
                .metadata_mut()
                .insert("authorization", h.parse().unwrap());
        }
        request
    }

    #[test]
    fn accepts_only_listed_tokens() {
        let hashes = TokenHashes::from_list(&hash_token("good"), "test").unwrap();
        let mut check = RequireToken(hashes);
        assert!(check.call(request(Some("Bearer good"))).is_ok());
        for header in [None, Some("Bearer bad"), Some("Basic good"), Some("good")] {
            let status = check.call(request(header)).unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated, "{header:?}");
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let hashes = TokenHashes::from_list(&hash_token("good"), "test").unwrap();
        let mut check = RequireToken(hashes);
        for header in ["bearer good", "BEARER good", "bEaReR good", "Bearer   good"] {
            assert!(check.call(request(Some(header))).is_ok(), "{header}");
        }
        for header in ["Bearergood", "BEARER bad", "Bear good"] {
            let status = check.call(request(Some(header))).unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated, "{header:?}");
        }
    }

    #[test]
    fn file_parsing_names_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, format!("# ops\n{}\n\nnot-hex\n", hash_token("a"))).unwrap();
        let err = TokenHashes::from_file(&path).unwrap_err().to_string();
        assert!(err.contains(":4") && err.contains("not-hex"), "{err}");

        std::fs::write(&path, format!("{}\n", hash_token("a"))).unwrap();
        assert!(TokenHashes::from_file(&path).unwrap().allows("a"));
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(matches!(
            TokenHashes::from_file(&path),
            Err(AuthConfigError::Empty(_))
        ));
    }
}
