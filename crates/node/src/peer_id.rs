//! The P2P peer id in the libp2p form, as other nodes and the JD show it: `p2p_12D3KooW…`.
//!
//! libp2p (`peer-ids/peer-ids.md` of the libp2p specs) encodes an ed25519 public key as the
//! protobuf `PublicKey { Type = Ed25519 (1), Data = 32 bytes }`; an encoding of at most 42
//! bytes is wrapped in the *identity* multihash (code 0, then the length) instead of being
//! hashed, and the peer id is that multihash in base58btc. Every ed25519 peer id therefore
//! starts with `12D3KooW` and carries the public key itself.

use std::fmt;
use std::str::FromStr;

/// The bytes before the public key: identity multihash (code 0x00, length 36), then the
/// protobuf fields `Type` (tag 0x08, value 1 = Ed25519) and `Data` (tag 0x12, length 32).
const ED25519_PEER_ID_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
/// The multihash length: prefix and the 32-byte key.
const PEER_ID_LEN: usize = ED25519_PEER_ID_PREFIX.len() + 32;
/// How peer ids are shown by the JD and other nodes.
const DISPLAY_PREFIX: &str = "p2p_";

/// A libp2p peer id of an ed25519 key. `Display` gives `p2p_12D3KooW…`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerId([u8; 32]);

/// A string that is not the peer id of an ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ed25519 libp2p peer id (p2p_12D3KooW…)")]
pub struct PeerIdError;

impl PeerId {
    /// The peer id of an ed25519 public key.
    pub fn from_ed25519(public_key: [u8; 32]) -> Self {
        PeerId(public_key)
    }

    /// The ed25519 public key the id carries.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.0
    }

    /// The identity multihash of the protobuf-encoded public key.
    pub fn to_bytes(&self) -> [u8; PEER_ID_LEN] {
        let mut bytes = [0u8; PEER_ID_LEN];
        bytes[..ED25519_PEER_ID_PREFIX.len()].copy_from_slice(&ED25519_PEER_ID_PREFIX);
        bytes[ED25519_PEER_ID_PREFIX.len()..].copy_from_slice(&self.0);
        bytes
    }

    /// The libp2p text form without our `p2p_` prefix: `12D3KooW…`.
    pub fn to_base58(&self) -> String {
        bs58::encode(self.to_bytes()).into_string()
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{DISPLAY_PREFIX}{}", self.to_base58())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

impl FromStr for PeerId {
    type Err = PeerIdError;

    /// Reads `p2p_12D3KooW…` or the bare libp2p form `12D3KooW…`.
    fn from_str(text: &str) -> Result<Self, PeerIdError> {
        let base58 = text.strip_prefix(DISPLAY_PREFIX).unwrap_or(text);
        // 38 bytes are at most 52 base58 characters; longer text is not worth decoding.
        if base58.len() > 60 {
            return Err(PeerIdError);
        }
        let bytes = bs58::decode(base58).into_vec().map_err(|_| PeerIdError)?;
        let key = bytes
            .strip_prefix(&ED25519_PEER_ID_PREFIX[..])
            .and_then(|key| <[u8; 32]>::try_from(key).ok())
            .ok_or(PeerIdError)?;
        Ok(PeerId(key))
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};

    use super::*;

    /// The ed25519 vector of the libp2p peer-id spec: the private key's seed and the
    /// protobuf encoding of its public key.
    const SPEC_SEED: &str = "7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d";
    const SPEC_PUBLIC_KEY_PROTOBUF: &str =
        "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
    /// The peer id other libp2p implementations derive from that key.
    const SPEC_PEER_ID: &str = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";

    fn spec_peer_id() -> PeerId {
        let pair = Ed25519KeyPair::from_seed_unchecked(&hex::decode(SPEC_SEED).unwrap()).unwrap();
        PeerId::from_ed25519(pair.public_key().as_ref().try_into().unwrap())
    }

    #[test]
    fn the_spec_vector_gives_the_known_peer_id() {
        let id = spec_peer_id();
        assert_eq!(hex::encode(&id.to_bytes()[2..]), SPEC_PUBLIC_KEY_PROTOBUF);
        assert_eq!(id.to_bytes()[..2], [0x00, 36]);
        assert_eq!(id.to_base58(), SPEC_PEER_ID);
        assert_eq!(id.to_string(), format!("p2p_{SPEC_PEER_ID}"));
    }

    #[test]
    fn peer_ids_round_trip_with_or_without_the_prefix() {
        let id = spec_peer_id();
        assert_eq!(id.to_string().parse::<PeerId>(), Ok(id));
        assert_eq!(SPEC_PEER_ID.parse::<PeerId>(), Ok(id));
        for key in [[0u8; 32], [0xff; 32], [7; 32]] {
            let id = PeerId::from_ed25519(key);
            let text = id.to_string();
            assert!(text.starts_with("p2p_12D3KooW"), "{text}");
            assert_eq!(text.len(), 4 + 52, "{text}");
            assert_eq!(text.parse::<PeerId>(), Ok(id));
            assert_eq!(id.public_key(), &key);
        }
    }

    #[test]
    fn other_text_is_not_a_peer_id() {
        let sha256_peer_id = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
        let truncated = &SPEC_PEER_ID[..40];
        for bad in [
            "",
            "p2p_",
            "12D3KooW",
            sha256_peer_id,
            truncated,
            "p2p_0OIl",
        ] {
            assert_eq!(bad.parse::<PeerId>(), Err(PeerIdError), "{bad}");
        }
        assert!("1".repeat(10_000).parse::<PeerId>().is_err());
    }
}
