//! Mutual TLS for the remote provider: a client certificate for JDs that require one, and a
//! TLS name override for dialing an address the server certificate does not name.

use offchain::proto::csa::GetKeypairRequest;
use offchain::proto::csa::csa_service_server::CsaServiceServer;
use offchain::{Provider, ProviderError, RemoteConfig, RemoteProvider};
use offchain_jd::JobDistributor;
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

/// A certificate authority that signs leaf certificates.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new() -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate and key (PEM) for `names`, usable as `purpose`.
    fn leaf(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A JD's CSA service over TLS that requires client certificates signed by `ca`, with a
/// server certificate naming only `jd.internal`; returns its port.
async fn mtls_server(ca: &Ca) -> u16 {
    let (cert, key) = ca.leaf(&["jd.internal"], ExtendedKeyUsagePurpose::ServerAuth);
    let jd = JobDistributor::in_memory().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert, key))
        .client_ca_root(Certificate::from_pem(&ca.pem));
    let server = Server::builder()
        .tls_config(tls)
        .unwrap()
        .add_service(CsaServiceServer::new(jd))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);
    port
}

/// Connects with `config` and calls `GetKeypair`: the error text, if any step failed.
async fn try_call(config: RemoteConfig) -> Result<(), String> {
    let provider = RemoteProvider::new(config).map_err(|e| e.to_string())?;
    let client = provider.initialize().await.map_err(|e| e.to_string())?;
    client
        .get_keypair(GetKeypairRequest {})
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn client_certificates_and_the_tls_name_override() {
    offchain::install_crypto_provider();
    let ca = Ca::new();
    let port = mtls_server(&ca).await;
    let (client_cert, client_key) = ca.leaf(&["deployer"], ExtendedKeyUsagePurpose::ClientAuth);
    let endpoint = format!("https://127.0.0.1:{port}");
    let base = || RemoteConfig::new(&endpoint).with_ca_pem(ca.pem.clone());

    // With the certificate and the name the server certificate carries: answered.
    let full = base()
        .with_client_identity(client_cert.clone(), client_key.clone())
        .with_tls_domain("jd.internal");
    try_call(full.clone()).await.unwrap();

    // Without a client certificate: refused by the server.
    assert!(
        try_call(base().with_tls_domain("jd.internal"))
            .await
            .is_err()
    );

    // A certificate from another CA: refused.
    let other = Ca::new();
    let (stranger_cert, stranger_key) =
        other.leaf(&["deployer"], ExtendedKeyUsagePurpose::ClientAuth);
    let stranger = base()
        .with_client_identity(stranger_cert, stranger_key)
        .with_tls_domain("jd.internal");
    assert!(try_call(stranger).await.is_err());

    // Without the override, 127.0.0.1 is not a name the server certificate carries.
    let no_override = base().with_client_identity(client_cert.clone(), client_key.clone());
    assert!(try_call(no_override).await.is_err());

    // The key never shows in debug output.
    let key_body = client_key.lines().nth(1).unwrap();
    assert!(!format!("{full:?}").contains(key_body));
    let provider = RemoteProvider::new(full.clone()).unwrap();
    assert!(!format!("{provider:?}").contains(key_body));

    // Client certificates and names belong to https:// endpoints.
    let plaintext = RemoteConfig::new(format!("http://127.0.0.1:{port}"))
        .with_client_identity(client_cert, client_key);
    assert!(matches!(
        RemoteProvider::new(plaintext),
        Err(ProviderError::InvalidEndpoint { .. })
    ));
    let plaintext = RemoteConfig::new(format!("http://127.0.0.1:{port}")).with_tls_domain("x");
    assert!(matches!(
        RemoteProvider::new(plaintext),
        Err(ProviderError::InvalidEndpoint { .. })
    ));
}
