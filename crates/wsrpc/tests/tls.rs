//! Mutual TLS 1.3 over real TCP: who is let in, who is refused, and what each side sees.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::Ed25519KeyPair;
use offchain_wsrpc::keys::{AllowedKeys, PublicKey};
use offchain_wsrpc::tls::{self, Identity, Refusal};
use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const LIMIT: Duration = Duration::from_secs(10);

fn seed(n: u8) -> [u8; 32] {
    [n; 32]
}

fn identity(n: u8) -> Identity {
    Identity::from_seed(&seed(n)).unwrap()
}

fn pkcs8(n: u8) -> PrivateKeyDer<'static> {
    let key_pair = Ed25519KeyPair::from_seed_unchecked(&seed(n)).unwrap();
    PrivatePkcs8KeyDer::from(key_pair.to_pkcs8v1().unwrap().as_ref().to_vec()).into()
}

/// What one side learned from a connection that went through.
#[derive(Debug)]
struct Peer {
    key: PublicKey,
    alpn: Option<Vec<u8>>,
    version: Option<rustls::ProtocolVersion>,
}

fn peer_of(connection: &rustls::CommonState) -> Peer {
    Peer {
        key: tls::peer_public_key(connection).expect("the peer's key"),
        alpn: connection.alpn_protocol().map(<[u8]>::to_vec),
        version: connection.protocol_version(),
    }
}

/// A JD-side listener serving `connections` connections in turn: each reads "ping" and
/// answers "pong". Yields, per connection, the peer or the error that ended it.
async fn serve(
    config: Arc<ServerConfig>,
    connections: usize,
) -> (SocketAddr, JoinHandle<Vec<io::Result<Peer>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(config);
    let task = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..connections {
            let (tcp, _) = listener.accept().await.unwrap();
            let outcome = async {
                let mut stream = acceptor.accept(tcp).await?;
                let mut ping = [0u8; 4];
                stream.read_exact(&mut ping).await?;
                assert_eq!(&ping, b"ping");
                stream.write_all(b"pong").await?;
                stream.flush().await?;
                Ok(peer_of(stream.get_ref().1))
            };
            outcomes.push(tokio::time::timeout(LIMIT, outcome).await.unwrap());
        }
        outcomes
    });
    (address, task)
}

/// A node-side exchange: handshake, "ping", expect "pong".
async fn exchange(config: Arc<ClientConfig>, address: SocketAddr) -> io::Result<Peer> {
    let outcome = async {
        let tcp = TcpStream::connect(address).await?;
        let mut stream = TlsConnector::from(config)
            .connect(tls::server_name("localhost"), tcp)
            .await?;
        stream.write_all(b"ping").await?;
        stream.flush().await?;
        let mut pong = [0u8; 4];
        stream.read_exact(&mut pong).await?;
        assert_eq!(&pong, b"pong");
        Ok(peer_of(stream.get_ref().1))
    };
    tokio::time::timeout(LIMIT, outcome).await.unwrap()
}

fn rustls_error(error: &io::Error) -> &rustls::Error {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("not a TLS error: {error:?}"))
}

async fn one_exchange(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
) -> (io::Result<Peer>, io::Result<Peer>) {
    let (address, served) = serve(server, 1).await;
    let client_outcome = exchange(client, address).await;
    let server_outcome = served.await.unwrap().pop().unwrap();
    (server_outcome, client_outcome)
}

#[tokio::test]
async fn an_allowed_key_completes_the_handshake_and_data_flows_both_ways() {
    let (jd, node) = (identity(1), identity(2));
    let server = tls::server_config(&jd, AllowedKeys::new([node.public_key()])).unwrap();
    let client = tls::client_config(&node, jd.public_key()).unwrap();

    let (at_jd, at_node) = one_exchange(server, client).await;
    let (at_jd, at_node) = (at_jd.unwrap(), at_node.unwrap());
    assert_eq!(at_jd.key, node.public_key());
    assert_eq!(at_node.key, jd.public_key());
    assert_eq!(at_node.version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(at_node.alpn, None, "the node offers no ALPN");
}

#[tokio::test]
async fn an_unknown_key_is_refused_with_bad_certificate() {
    let (jd, node, stranger) = (identity(1), identity(2), identity(3));
    let server = tls::server_config(&jd, AllowedKeys::new([node.public_key()])).unwrap();
    let client = tls::client_config(&stranger, jd.public_key()).unwrap();

    let (at_jd, at_node) = one_exchange(server, client).await;
    let at_node = at_node.unwrap_err();
    assert_eq!(
        rustls_error(&at_node),
        &rustls::Error::AlertReceived(AlertDescription::BadCertificate)
    );
    assert_eq!(tls::refusal(&at_node), Some(Refusal::OurKeyRefused));
    assert_eq!(
        tls::refusal(&at_jd.unwrap_err()),
        Some(Refusal::PeerKeyRefused)
    );
}

#[tokio::test]
async fn a_key_removed_after_a_success_is_refused_at_the_next_handshake() {
    let (jd, node) = (identity(1), identity(2));
    let allowed = AllowedKeys::new([node.public_key()]);
    let server = tls::server_config(&jd, allowed.clone()).unwrap();
    // A client that tries to resume its session, as other implementations may: a resumed
    // handshake would skip the certificate, so the JD must not offer resumption.
    let mut client = (*tls::client_config(&node, jd.public_key()).unwrap()).clone();
    client.resumption = rustls::client::Resumption::in_memory_sessions(8);
    let client = Arc::new(client);
    let (address, served) = serve(server, 2).await;

    exchange(client.clone(), address).await.unwrap();
    allowed.remove(&node.public_key());
    let refused = exchange(client, address).await.unwrap_err();

    assert_eq!(tls::refusal(&refused), Some(Refusal::OurKeyRefused));
    let outcomes = served.await.unwrap();
    assert!(outcomes[0].is_ok());
    assert!(outcomes[1].is_err());
}

#[tokio::test]
async fn the_node_refuses_a_jd_with_another_key() {
    let (jd, node, expected_jd) = (identity(1), identity(2), identity(3));
    let server = tls::server_config(&jd, AllowedKeys::new([node.public_key()])).unwrap();
    let client = tls::client_config(&node, expected_jd.public_key()).unwrap();

    let (at_jd, at_node) = one_exchange(server, client).await;
    let at_node = at_node.unwrap_err();
    assert_eq!(
        rustls_error(&at_node),
        &rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
    );
    assert_eq!(tls::refusal(&at_node), Some(Refusal::PeerKeyRefused));
    assert_eq!(
        tls::refusal(&at_jd.unwrap_err()),
        Some(Refusal::OurKeyRefused)
    );
}

/// Accepts any server, so that the tests below reach the JD's own checks.
#[derive(Debug)]
struct AnyServer;

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

fn foreign_client(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer))
}

#[tokio::test]
async fn a_tls12_only_client_is_refused() {
    let (jd, node) = (identity(1), identity(2));
    let server = tls::server_config(&jd, AllowedKeys::new([node.public_key()])).unwrap();
    let client = foreign_client(&[&rustls::version::TLS12])
        .with_client_auth_cert(vec![node.certificate().clone()], pkcs8(2))
        .unwrap();

    let (at_jd, at_node) = one_exchange(server, Arc::new(client)).await;
    assert_eq!(
        rustls_error(&at_node.unwrap_err()),
        &rustls::Error::AlertReceived(AlertDescription::ProtocolVersion)
    );
    assert!(matches!(
        rustls_error(&at_jd.unwrap_err()),
        rustls::Error::PeerIncompatible(_)
    ));
}

#[tokio::test]
async fn a_client_presenting_two_certificates_is_refused() {
    let (jd, node, other) = (identity(1), identity(2), identity(3));
    let allowed = AllowedKeys::new([node.public_key(), other.public_key()]);
    let server = tls::server_config(&jd, allowed).unwrap();
    let chain = vec![node.certificate().clone(), other.certificate().clone()];
    let client = foreign_client(&[&rustls::version::TLS13])
        .with_client_auth_cert(chain, pkcs8(2))
        .unwrap();

    let (at_jd, at_node) = one_exchange(server, Arc::new(client)).await;
    assert_eq!(
        tls::refusal(&at_node.unwrap_err()),
        Some(Refusal::OurKeyRefused)
    );
    assert_eq!(
        tls::refusal(&at_jd.unwrap_err()),
        Some(Refusal::PeerKeyRefused)
    );
}

/// Presents `certificate` but signs with another key.
#[derive(Debug)]
struct BorrowedCertificate(Arc<CertifiedKey>);

impl ResolvesClientCert for BorrowedCertificate {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn a_client_signing_with_a_key_other_than_its_certificates_is_refused() {
    let (jd, node) = (identity(1), identity(2));
    let server = tls::server_config(&jd, AllowedKeys::new([node.public_key()])).unwrap();
    let PrivateKeyDer::Pkcs8(impostor_key) = pkcs8(3) else {
        unreachable!()
    };
    let signer = rustls::crypto::aws_lc_rs::sign::any_eddsa_type(&impostor_key).unwrap();
    let borrowed = CertifiedKey::new(vec![node.certificate().clone()], signer);
    let client = foreign_client(&[&rustls::version::TLS13])
        .with_client_cert_resolver(Arc::new(BorrowedCertificate(Arc::new(borrowed))));

    let (at_jd, at_node) = one_exchange(server, Arc::new(client)).await;
    assert_eq!(
        rustls_error(&at_jd.unwrap_err()),
        &rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
    );
    assert!(at_node.is_err());
}

/// The JD configures no ALPN, so a client offering `h2` gets no protocol selected and goes
/// on with HTTP/1.1 (see the `tls` module doc).
#[tokio::test]
async fn a_client_offering_h2_is_accepted_without_a_selected_protocol() {
    let (jd, node) = (identity(1), identity(2));
    let server = tls::server_config(&jd, AllowedKeys::new([node.public_key()])).unwrap();
    let mut client = (*tls::client_config(&node, jd.public_key()).unwrap()).clone();
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    let (at_jd, at_node) = one_exchange(server, Arc::new(client)).await;
    assert_eq!(at_jd.unwrap().alpn, None);
    assert_eq!(at_node.unwrap().alpn, None);
}
