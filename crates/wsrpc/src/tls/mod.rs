//! rustls configurations for the node link: TLS 1.3 only, mutual, each side authenticated by
//! the ed25519 key in its minimal certificate (`node-link.md`, "Transport").
//!
//! - [`server_config`] (the JD): requires a client certificate whose key is in an
//!   [`AllowedKeys`] set that may change between handshakes; sets no ALPN, so clients that
//!   offer none (the existing node) or any — `h2` included — are accepted and no protocol is
//!   selected: the connection then carries the HTTP/1.1 WebSocket upgrade. (Selecting
//!   `http/1.1` instead would make rustls refuse a client offering only `h2`.)
//! - [`client_config`] (the node): accepts exactly the configured JD key and offers no ALPN,
//!   since a JD that sees `h2` answers in HTTP/2 and the upgrade never happens.
//!
//! A refused certificate fails the handshake with the alert `bad_certificate`. Under TLS 1.3
//! a refused client's handshake usually completes and the alert arrives on its first read;
//! [`refusal`] recognises the error either way.

mod verifier;

use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::danger::ClientCertVerifier;
use rustls::{AlertDescription, ClientConfig, CommonState, ServerConfig};

use crate::cert::{certificate_der, public_key_from_certificate};
use crate::keys::{AllowedKeys, PublicKey};
use verifier::AllowedKeysVerifier;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The seed or PKCS#8 document is not an ed25519 key.
    #[error("the ed25519 private key is not usable")]
    InvalidPrivateKey,
    /// rustls refused the configuration.
    #[error("building the TLS configuration failed: {0}")]
    Config(#[from] rustls::Error),
}

/// This side's CSA key pair with the certificate made from it.
pub struct Identity {
    key_pair: Ed25519KeyPair,
    certificate: CertificateDer<'static>,
}

impl Identity {
    /// Wraps `key_pair` and makes its certificate.
    pub fn from_key_pair(key_pair: Ed25519KeyPair) -> Self {
        let certificate = CertificateDer::from(certificate_der(&key_pair));
        Self {
            key_pair,
            certificate,
        }
    }

    /// From the 32-byte ed25519 seed (the private key as keystores hold it).
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, TlsError> {
        Ed25519KeyPair::from_seed_unchecked(seed)
            .map(Self::from_key_pair)
            .map_err(|_| TlsError::InvalidPrivateKey)
    }

    /// From a PKCS#8 document (v1 or v2).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, TlsError> {
        Ed25519KeyPair::from_pkcs8(pkcs8)
            .map(Self::from_key_pair)
            .map_err(|_| TlsError::InvalidPrivateKey)
    }

    /// This side's public key, the one peers allow.
    pub fn public_key(&self) -> PublicKey {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(self.key_pair.public_key().as_ref());
        PublicKey::from_bytes(bytes)
    }

    /// The minimal certificate this side presents.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    /// The private key in the form rustls loads (PKCS#8 v1).
    fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        let document = self
            .key_pair
            .to_pkcs8v1()
            .map_err(|_| TlsError::InvalidPrivateKey)?;
        Ok(PrivatePkcs8KeyDer::from(document.as_ref().to_vec()).into())
    }
}

/// Only the public half is shown: the private key never reaches a log.
impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The JD's side: clients must present one certificate whose key is in `allowed`, read at
/// every handshake.
pub fn server_config(
    identity: &Identity,
    allowed: AllowedKeys,
) -> Result<Arc<ServerConfig>, TlsError> {
    let verifier: Arc<dyn ClientCertVerifier> = Arc::new(AllowedKeysVerifier::new(allowed));
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![identity.certificate.clone()], identity.private_key()?)?;
    // No session resumption: a resumed handshake skips the client certificate, so a key
    // removed since the first handshake would get back in. Every handshake is a full one.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// The node's side: the server must present one certificate with exactly `server_key`.
pub fn client_config(
    identity: &Identity,
    server_key: PublicKey,
) -> Result<Arc<ClientConfig>, TlsError> {
    let verifier: Arc<dyn ServerCertVerifier> =
        Arc::new(AllowedKeysVerifier::new(AllowedKeys::new([server_key])));
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous() // only in name: the verifier checks the key instead of a chain
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![identity.certificate.clone()], identity.private_key()?)?;
    // No ALPN: `alpn_protocols` stays empty (see the module doc). No resumption either: the
    // JD offers none (see `server_config`), so the client keeps no tickets.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// The name to dial `host` under. The verifier ignores names (certificates carry none), so
/// this only decides the SNI sent: the host when it is a DNS name, none otherwise (rustls
/// sends no SNI for an IP address, and the unspecified address stands in for a host that is
/// neither).
pub fn server_name(host: &str) -> ServerName<'static> {
    ServerName::try_from(host.to_owned())
        .unwrap_or(ServerName::IpAddress(Ipv4Addr::UNSPECIFIED.into()))
}

/// The ed25519 key of the peer of an established connection, from its certificate.
pub fn peer_public_key(connection: &CommonState) -> Option<PublicKey> {
    let certificate = connection.peer_certificates()?.first()?;
    public_key_from_certificate(certificate).ok()
}

/// Which side refused a key, as told by a TLS error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The peer sent `bad_certificate`: it does not allow this side's key. A node reports it
    /// as "the JD refused this node's key".
    #[error("the peer refused this side's key")]
    OurKeyRefused,
    /// This side's verifier refused the peer's certificate or key.
    #[error("the peer's key is not allowed")]
    PeerKeyRefused,
}

/// Whether `error` (from a TLS handshake, read or write through tokio-rustls) is a refusal
/// of a key, and by whom.
pub fn refusal(error: &io::Error) -> Option<Refusal> {
    match error.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(AlertDescription::BadCertificate) => {
            Some(Refusal::OurKeyRefused)
        }
        rustls::Error::InvalidCertificate(_) => Some(Refusal::PeerKeyRefused),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
