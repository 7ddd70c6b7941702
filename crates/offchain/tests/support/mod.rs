//! What several test files of this crate share: a spec, node registration, certificates and
//! a JD that requires a token.

// Each test file uses a part of this module.
#![allow(dead_code)]

use offchain::Client;
use offchain::proto::csa::csa_service_server::CsaServiceServer;
use offchain::proto::label::Label;
use offchain::proto::node::RegisterNodeRequest;
use offchain_jd::JobDistributor;
use offchain_jd::auth::{TokenHashes, hash_token};
use offchain_jd::server::{RunningServer, ServerConfig};
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use tonic::transport::{Server, ServerTlsConfig};

/// A valid webhook spec.
pub const SPEC: &str =
    "type = \"webhook\"\nexternalJobID = \"7d1b8c8e-0a1f-4a57-9a7e-2f3c4b5d6e7f\"\n";

/// Registers `node-<i>` with a key made from `i` and the label `env=<env>`; returns its id.
pub async fn register(client: &dyn Client, i: usize, env: &str) -> String {
    let request = RegisterNodeRequest {
        name: format!("node-{i}"),
        public_key: format!("{i:064x}"),
        labels: vec![Label::new("env", env)],
    };
    client
        .register_node(request)
        .await
        .unwrap()
        .node
        .unwrap()
        .id
}

/// A JD server on a free loopback port over in-memory SQLite that accepts only `token`.
pub async fn jd_requiring_token(token: &str) -> RunningServer {
    let config = ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        database_url: offchain_jd::store::SQLITE_MEMORY_URL.into(),
        csa_secret: "test secret".into(),
        auth: Some(TokenHashes::from_list(&hash_token(token), "test").unwrap()),
    };
    offchain_jd::server::start(config).await.unwrap()
}

/// A certificate authority that signs leaf certificates.
pub struct Ca {
    /// Its certificate (PEM).
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A fresh self-signed CA.
    pub fn new() -> Ca {
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
    pub fn leaf(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A CA and a `localhost` server certificate and key signed by it, as PEM.
pub fn tls_material() -> (String, String, String) {
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    (ca.pem, cert, key)
}

/// Serves `jd`'s CSA service over TLS set up by `tls` on a free loopback port; returns the
/// port.
pub async fn serve_csa_over_tls(jd: JobDistributor, tls: ServerTlsConfig) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Server::builder()
        .tls_config(tls)
        .unwrap()
        .add_service(CsaServiceServer::new(jd))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);
    port
}
