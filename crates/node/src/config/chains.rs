//! `[[chains]]`: the chain configs a node reports to its JDs, shaped like the `ChainConfig`
//! message of `shared/spec/jd-api.md`. Key bundles are not configured here: the node fills
//! them from its keystore when it reports.
//!
//! ```toml
//! [[chains]]
//! id = "11155111"
//! type = "evm"
//! account_address = "0x…"
//! admin_address = "0x…"
//! [chains.ocr2_config]
//! enabled = true
//! plugins = { median = true }
//! ```

use serde::Deserialize;

use super::text::BoundedText;

/// Chain ids, addresses and multiaddrs: at most this many bytes.
const MAX_FIELD: usize = 256;

/// One `[[chains]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The chain id, as the chain's family writes it (`1`, `11155111`, a Solana cluster id).
    pub id: BoundedText<MAX_FIELD>,
    /// The chain family.
    #[serde(rename = "type")]
    pub chain_type: ChainType,
    /// The node's account (transmitter) address on this chain.
    pub account_address: BoundedText<MAX_FIELD>,
    /// The address of the node operator's admin account.
    #[serde(default)]
    pub admin_address: Option<BoundedText<MAX_FIELD>>,
    /// The public key of the account, for chains whose addresses do not carry it.
    #[serde(default)]
    pub account_address_public_key: Option<BoundedText<MAX_FIELD>>,
    /// Flux monitor jobs on this chain.
    #[serde(default)]
    pub flux_monitor_config: Option<FluxMonitorConfig>,
    /// OCR (version 1) jobs on this chain.
    #[serde(default)]
    pub ocr1_config: Option<Ocr1Config>,
    /// OCR2 jobs on this chain.
    #[serde(default)]
    pub ocr2_config: Option<Ocr2Config>,
}

/// `ChainType` of the spec, spelled in lower case (`evm`, `solana`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainType {
    Evm,
    Solana,
    Starknet,
    Aptos,
    Tron,
    Ton,
    Sui,
    Stellar,
    Canton,
}

/// `[chains.flux_monitor_config]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FluxMonitorConfig {
    /// Whether the node runs flux monitor jobs on this chain.
    #[serde(default)]
    pub enabled: bool,
}

/// `[chains.ocr1_config]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ocr1Config {
    /// Whether the node runs OCR jobs on this chain.
    #[serde(default)]
    pub enabled: bool,
    /// Whether the node is a bootstrap peer.
    #[serde(default)]
    pub is_bootstrap: bool,
    /// The bootstrap peer's multiaddr.
    #[serde(default)]
    pub multiaddr: Option<BoundedText<MAX_FIELD>>,
}

/// `[chains.ocr2_config]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ocr2Config {
    /// Whether the node runs OCR2 jobs on this chain.
    #[serde(default)]
    pub enabled: bool,
    /// Whether the node is a bootstrap peer.
    #[serde(default)]
    pub is_bootstrap: bool,
    /// The bootstrap peer's multiaddr.
    #[serde(default)]
    pub multiaddr: Option<BoundedText<MAX_FIELD>>,
    /// The OCR2 plugins the node runs.
    #[serde(default)]
    pub plugins: Ocr2Plugins,
    /// The forwarder contract the node transmits through.
    #[serde(default)]
    pub forwarder_address: Option<BoundedText<MAX_FIELD>>,
}

/// `[chains.ocr2_config.plugins]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ocr2Plugins {
    #[serde(default)]
    pub commit: bool,
    #[serde(default)]
    pub execute: bool,
    #[serde(default)]
    pub median: bool,
    #[serde(default)]
    pub mercury: bool,
    #[serde(default)]
    pub rebalancer: bool,
}
