//! `node.toml`: the node's configuration, read once at start and validated as a whole.
//!
//! Unknown keys are refused, and every error is one line naming the file position and the
//! key: `node.toml:7:12: job_distributors[0].public_key: expected 64 hex characters`.
//! A relative `data_dir` is taken relative to the directory of the configuration file, so a
//! node started from another working directory finds the same keystore.
//!
//! ```toml
//! name = "node-1"
//! data_dir = "data"                 # keystore and store; relative to this file
//!
//! [[job_distributors]]
//! uri = "jd.example.com:8080"       # host:port of the JD's node listener
//! public_key = "<64 hex>"           # the JD's CSA public key
//!
//! [api]
//! listen = "127.0.0.1:6688"         # the default
//! public_url = "https://node.example.com"  # optional: the base of async bridges'
//!                                   # responseURL; default http://<listen address>
//!
//! [approval]
//! policy = "manual"                 # or "auto"; the default is manual
//!
//! [[chains]]                        # reported to the JDs; optional
//! id = "1"
//! type = "evm"
//! account_address = "0x…"
//! admin_address = "0x…"
//! ```

mod chains;
mod text;

use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use chains::{ChainConfig, ChainType, FluxMonitorConfig, Ocr1Config, Ocr2Config, Ocr2Plugins};
pub use text::{BoundedText, JdPublicKey, JdUri};

/// The largest configuration file read.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// The most Job Distributors one node links to.
pub const MAX_JOB_DISTRIBUTORS: usize = 32;
/// The most chain configs one node reports.
pub const MAX_CHAINS: usize = 256;

/// A node name, as the JD operator sees it: at most 255 characters.
pub type NodeName = BoundedText<255>;

/// The whole `node.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// A name for people (logs, the JD's operator).
    pub name: NodeName,
    /// Where the keystore and the node's store live; absolute after [`NodeConfig::load`].
    #[serde(deserialize_with = "data_dir")]
    pub data_dir: PathBuf,
    /// The Job Distributors to link to.
    #[serde(deserialize_with = "bounded_list::<_, MAX_JOB_DISTRIBUTORS, _>")]
    pub job_distributors: Vec<JobDistributorConfig>,
    /// The node's HTTP API.
    #[serde(default)]
    pub api: ApiConfig,
    /// How proposals are approved.
    #[serde(default)]
    pub approval: ApprovalConfig,
    /// Chain configs reported to every JD.
    #[serde(default, deserialize_with = "bounded_list::<_, MAX_CHAINS, _>")]
    pub chains: Vec<ChainConfig>,
}

/// One `[[job_distributors]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDistributorConfig {
    /// `host:port` of the JD's node listener.
    pub uri: JdUri,
    /// The JD's CSA public key: the only key this node accepts from that JD.
    pub public_key: JdPublicKey,
}

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address the HTTP API listens on.
    #[serde(default = "default_api_listen")]
    pub listen: SocketAddr,
    /// The API's base URL as adapters reach it: async bridge tasks send
    /// `<public_url>/v2/resume/<uuid>` as `responseURL`. `None`: `http://<listen address>`
    /// (with the bound port when `listen` asks for port 0).
    #[serde(default, deserialize_with = "public_url")]
    pub public_url: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: default_api_listen(),
            public_url: None,
        }
    }
}

/// The longest `public_url` (a `responseURL` must stay well inside a bridge request).
const MAX_PUBLIC_URL_BYTES: usize = 1024;

/// An `http(s)://` URL without whitespace; a trailing `/` is dropped.
fn public_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let url = String::deserialize(d)?;
    let valid = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= MAX_PUBLIC_URL_BYTES
        && !url.contains(|c: char| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
        && url
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty());
    if !valid {
        return Err(serde::de::Error::custom(
            "expected an http:// or https:// URL without query or fragment",
        ));
    }
    Ok(Some(url.trim_end_matches('/').to_owned()))
}

fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 6688))
}

/// `[approval]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalConfig {
    /// Whether an operator approves each proposal or every valid one is approved on arrival.
    #[serde(default)]
    pub policy: ApprovalPolicy,
}

/// `[approval] policy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalPolicy {
    /// An operator approves or rejects each proposal.
    #[default]
    Manual,
    /// Every valid proposal is approved on arrival.
    Auto,
}

/// Why `node.toml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_BYTES`].
    #[error("{}: larger than {MAX_CONFIG_BYTES} bytes", path.display())]
    TooLarge {
        /// The configuration file.
        path: PathBuf,
    },
    /// The file is not valid TOML or a key is wrong: `file:line:column: key: problem`.
    #[error("{location}: {message}")]
    Invalid {
        /// `file:line:column`, or just the file when the parser gave no position.
        location: String,
        /// `key: problem`.
        message: String,
    },
}

impl NodeConfig {
    /// Reads and validates `path`, resolving a relative `data_dir` against its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = read_bounded(path)?;
        let mut config = Self::parse(&text).map_err(|e| e.in_file(path, &text))?;
        if config.data_dir.is_relative() {
            let base = path.parent().unwrap_or(Path::new(""));
            config.data_dir = absolute(&base.join(&config.data_dir));
        }
        Ok(config)
    }

    /// Parses configuration text; `data_dir` is left as written.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let deserializer = toml::Deserializer::parse(text).map_err(|error| ParseError {
            key: String::new(),
            error,
        })?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| ParseError {
            key: e.path().to_string(),
            error: e.into_inner(),
        })
    }
}

/// A configuration text that did not parse: the key (dotted path) and the TOML error.
#[derive(Debug)]
pub struct ParseError {
    key: String,
    error: toml::de::Error,
}

impl ParseError {
    /// `key: problem` (just the problem when the error is not about one key).
    pub fn message(&self) -> String {
        let problem = self.error.message().trim();
        match self.key.as_str() {
            "" | "." => problem.to_owned(),
            key => format!("{key}: {problem}"),
        }
    }

    /// The error placed in `path`, with the line and column of `text` it points at.
    fn in_file(&self, path: &Path, text: &str) -> ConfigError {
        let file = path.display();
        let location = match self.error.span() {
            Some(span) => {
                let (line, column) = line_and_column(text, span.start);
                format!("{file}:{line}:{column}")
            }
            None => file.to_string(),
        };
        ConfigError::Invalid {
            location,
            message: self.message(),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    let read_error = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(text)
}

/// `path` made absolute against the working directory (left as is if that is unknown).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// The longest `data_dir` accepted (Linux's `PATH_MAX`).
const MAX_DATA_DIR_BYTES: usize = 4096;

/// A non-empty path of at most [`MAX_DATA_DIR_BYTES`]: an empty one would silently mean the
/// configuration file's own directory.
fn data_dir<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<PathBuf, D::Error> {
    let path = String::deserialize(deserializer)?;
    if path.trim().is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    if path.len() > MAX_DATA_DIR_BYTES {
        return Err(serde::de::Error::custom(format!(
            "at most {MAX_DATA_DIR_BYTES} bytes, got {}",
            path.len()
        )));
    }
    Ok(PathBuf::from(path))
}

/// A TOML array of at most `MAX` items (the file size already bounds the work of reading it).
fn bounded_list<'de, T, const MAX: usize, D>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    let items = Vec::<T>::deserialize(deserializer)?;
    if items.len() > MAX {
        return Err(serde::de::Error::custom(format!(
            "at most {MAX} entries, got {}",
            items.len()
        )));
    }
    Ok(items)
}

#[cfg(test)]
mod tests;
