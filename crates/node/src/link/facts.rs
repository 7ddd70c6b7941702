//! What the node reports to a JD with `UpdateNode` (`node-link.md`, "Behaviour"): its
//! version, name, chain configs and P2P key bundle.

use offchain_proto::cfm;

use crate::config::{BoundedText, ChainConfig, ChainType};
use crate::{Keystore, NodeConfig, PeerId};

/// The node's facts as the JD sees them. Bump the `watch` holding them and every link
/// reports them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    /// `nop_friendly_name`: the config's `name`.
    pub name: String,
    /// The node's version: this crate's.
    pub version: String,
    /// `[[chains]]`.
    pub chains: Vec<ChainConfig>,
    /// The P2P key's peer id (its public key comes with it).
    pub p2p_peer_id: PeerId,
}

impl NodeFacts {
    /// The facts of a node with `config` and `keystore`.
    pub fn new(config: &NodeConfig, keystore: &Keystore) -> Self {
        Self::with_peer_id(config, keystore.p2p_peer_id())
    }

    /// The facts of a node with `config` whose P2P key has `p2p_peer_id`.
    pub fn with_peer_id(config: &NodeConfig, p2p_peer_id: PeerId) -> Self {
        NodeFacts {
            name: config.name.as_str().to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            chains: config.chains.clone(),
            p2p_peer_id,
        }
    }

    /// The `UpdateNode` request carrying them. The workflow key is empty: this node has none.
    pub fn update_node_request(&self) -> cfm::UpdateNodeRequest {
        cfm::UpdateNodeRequest {
            version: self.version.clone(),
            nop_friendly_name: self.name.clone(),
            chain_configs: self.chains.iter().map(chain_config).collect(),
            p2p_key_bundles: vec![cfm::P2pKeyBundle {
                peer_id: self.p2p_peer_id.to_string(),
                public_key: hex::encode(self.p2p_peer_id.public_key()),
            }],
            workflow_key: None,
            ..Default::default()
        }
    }
}

fn text<const MAX: usize>(value: &Option<BoundedText<MAX>>) -> String {
    value
        .as_ref()
        .map(|text| text.as_str().to_owned())
        .unwrap_or_default()
}

fn chain_config(chain: &ChainConfig) -> cfm::ChainConfig {
    cfm::ChainConfig {
        chain: Some(cfm::Chain {
            id: chain.id.as_str().to_owned(),
            r#type: chain_type(chain.chain_type) as i32,
        }),
        account_address: chain.account_address.as_str().to_owned(),
        admin_address: text(&chain.admin_address),
        flux_monitor_config: chain.flux_monitor_config.as_ref().map(|flux| {
            cfm::FluxMonitorConfig {
                enabled: flux.enabled,
            }
        }),
        ocr1_config: chain.ocr1_config.as_ref().map(|ocr| cfm::Ocr1Config {
            enabled: ocr.enabled,
            is_bootstrap: ocr.is_bootstrap,
            multiaddr: text(&ocr.multiaddr),
            ..Default::default()
        }),
        ocr2_config: chain.ocr2_config.as_ref().map(|ocr| cfm::Ocr2Config {
            enabled: ocr.enabled,
            is_bootstrap: ocr.is_bootstrap,
            multiaddr: text(&ocr.multiaddr),
            plugins: Some(cfm::ocr2_config::Plugins {
                commit: ocr.plugins.commit,
                execute: ocr.plugins.execute,
                median: ocr.plugins.median,
                mercury: ocr.plugins.mercury,
                rebalancer: ocr.plugins.rebalancer,
            }),
            forwarder_address: ocr
                .forwarder_address
                .as_ref()
                .map(|address| address.as_str().to_owned()),
            ..Default::default()
        }),
        account_address_public_key: chain
            .account_address_public_key
            .as_ref()
            .map(|key| key.as_str().to_owned()),
    }
}

fn chain_type(chain_type: ChainType) -> cfm::ChainType {
    match chain_type {
        ChainType::Evm => cfm::ChainType::Evm,
        ChainType::Solana => cfm::ChainType::Solana,
        ChainType::Starknet => cfm::ChainType::Starknet,
        ChainType::Aptos => cfm::ChainType::Aptos,
        ChainType::Tron => cfm::ChainType::Tron,
        ChainType::Ton => cfm::ChainType::Ton,
        ChainType::Sui => cfm::ChainType::Sui,
        ChainType::Stellar => cfm::ChainType::Stellar,
        ChainType::Canton => cfm::ChainType::Canton,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configured_chain_field_reaches_the_request() {
        let config = NodeConfig::parse(
            "name = \"n\"\ndata_dir = \"d\"\n[[job_distributors]]\nuri = \"jd:1\"\n\
             public_key = \"1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e\"\n\
             [[chains]]\nid = \"mainnet\"\ntype = \"solana\"\naccount_address = \"acc\"\n\
             admin_address = \"adm\"\naccount_address_public_key = \"pk\"\n\
             flux_monitor_config = { enabled = true }\n\
             ocr1_config = { enabled = true, is_bootstrap = true, multiaddr = \"/ip4/1\" }\n\
             ocr2_config = { forwarder_address = \"fwd\", plugins = { commit = true } }\n",
        )
        .unwrap();
        let request =
            NodeFacts::with_peer_id(&config, PeerId::from_ed25519([1; 32])).update_node_request();
        let chain = &request.chain_configs[0];
        assert_eq!(
            chain.chain,
            Some(cfm::Chain {
                id: "mainnet".into(),
                r#type: cfm::ChainType::Solana as i32,
            })
        );
        assert_eq!(chain.admin_address, "adm");
        assert_eq!(chain.account_address_public_key.as_deref(), Some("pk"));
        assert_eq!(
            chain.flux_monitor_config,
            Some(cfm::FluxMonitorConfig { enabled: true })
        );
        let ocr1 = chain.ocr1_config.as_ref().unwrap();
        assert!(ocr1.enabled && ocr1.is_bootstrap);
        assert_eq!(ocr1.multiaddr, "/ip4/1");
        let ocr2 = chain.ocr2_config.as_ref().unwrap();
        assert!(!ocr2.enabled);
        assert_eq!(ocr2.forwarder_address.as_deref(), Some("fwd"));
        assert!(ocr2.plugins.unwrap().commit && !ocr2.plugins.unwrap().median);
    }
}
