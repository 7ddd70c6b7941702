//! Mutual TLS for the remote provider: a client certificate for JDs that require one, and a
//! TLS name override for dialing an address the server certificate does not name.

use offchain::proto::csa::GetKeypairRequest;
use offchain::{Provider, ProviderError, RemoteConfig, RemoteProvider};
use offchain_jd::JobDistributor;
use rcgen::ExtendedKeyUsagePurpose;
use support::Ca;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

mod support;

/// A JD's CSA service over TLS that requires client certificates signed by `ca`, with a
/// server certificate naming only `jd.internal`; returns its port.
async fn mtls_server(ca: &Ca) -> u16 {
    let (cert, key) = ca.leaf(&["jd.internal"], ExtendedKeyUsagePurpose::ServerAuth);
    let jd = JobDistributor::in_memory().await.unwrap();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert, key))
        .client_ca_root(Certificate::from_pem(&ca.pem));
    support::serve_csa_over_tls(jd, tls).await
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
