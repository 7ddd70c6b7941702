//! TLS for the operator API: a certificate chain and key read from PEM files, served with
//! rustls (TLS 1.3 and 1.2, nothing older). Every problem with the files is found at
//! start-up and named by file, never by content.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Identity, Server, ServerTlsConfig};

/// How long a client may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PEM files a TLS server needs.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The server certificate, followed by any intermediates.
    pub cert: PathBuf,
    /// The certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why TLS could not be set up. Messages name files, never their content.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read TLS {what} {}: {source}", path.display())]
    Read {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("TLS certificate {} holds no PEM certificate", .0.display())]
    NoCertificate(PathBuf),
    /// The key file holds no PEM private key.
    #[error(
        "TLS key {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
        .0.display()
    )]
    NoKey(PathBuf),
    /// The key is not the certificate's.
    #[error("TLS key {} does not belong to certificate {}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the certificate or key for another reason.
    #[error("TLS certificate {} and key {} are unusable: {reason}", cert.display(), key.display())]
    Unusable {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' or tonic's reason (never key material).
        reason: String,
    },
}

/// `server` serving TLS with `files`.
pub(super) fn configure(server: Server, files: &TlsFiles) -> Result<Server, TlsError> {
    server
        .tls_config(server_config(files)?)
        .map_err(|error| unusable(files, error.to_string()))
}

fn unusable(files: &TlsFiles, reason: String) -> TlsError {
    TlsError::Unusable {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason,
    }
}

/// Reads and checks `files`, so that every mistake is reported here, naming its file.
fn server_config(files: &TlsFiles) -> Result<ServerTlsConfig, TlsError> {
    let cert_pem = read(&files.cert, "certificate")?;
    let key_pem = read(&files.key, "key")?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|chain| !chain.is_empty())
        .ok_or_else(|| TlsError::NoCertificate(files.cert.clone()))?;
    let key =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey(files.key.clone()))?;
    // The same checks tonic's acceptor makes, with errors that can name the files.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| unusable(files, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| match error {
            rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
            },
            other => unusable(files, other.to_string()),
        })?;
    // tonic builds its rustls config from the process-wide provider; without one
    // installed, rustls would have to guess (and panics when it cannot).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    Ok(ServerTlsConfig::new()
        .identity(Identity::from_pem(cert_pem, key_pem))
        .timeout(HANDSHAKE_TIMEOUT))
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    use crate::JobDistributor;
    use crate::server::{RunningServer, ServeOptions, serve_with};
    use rustls::pki_types::ServerName;

    /// A CA, and a certificate for `localhost`/127.0.0.1 signed by it, as PEM files.
    struct Material {
        dir: tempfile::TempDir,
        ca: String,
        files: TlsFiles,
    }

    fn material() -> Material {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        Material { dir, ca, files }
    }

    async fn tls_server(files: TlsFiles) -> Result<RunningServer, crate::server::ServerError> {
        let jd = JobDistributor::in_memory().await.unwrap();
        let options = ServeOptions {
            tls: Some(files),
            ..ServeOptions::default()
        };
        serve_with(jd, ([127, 0, 0, 1], 0).into(), None, options).await
    }

    /// Completes a handshake offering only `version`; the version agreed on.
    fn handshake(
        addr: std::net::SocketAddr,
        ca: &str,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> Result<rustls::ProtocolVersion, rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut socket = std::net::TcpStream::connect(addr).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut socket).map_err(|e| {
                e.into_inner()
                    .and_then(|e| e.downcast::<rustls::Error>().ok())
                    .map_or(rustls::Error::HandshakeNotComplete, |e| *e)
            })?;
        }
        socket.flush().unwrap();
        Ok(conn.protocol_version().unwrap())
    }

    #[tokio::test]
    async fn serves_tls_1_3_and_1_2_and_refuses_plaintext() {
        let material = material();
        let server = tls_server(material.files.clone()).await.unwrap();
        let addr = server.local_addr();
        let ca = material.ca.clone();
        let versions = tokio::task::spawn_blocking(move || {
            [&rustls::version::TLS13, &rustls::version::TLS12].map(|v| handshake(addr, &ca, v))
        })
        .await
        .unwrap();
        assert_eq!(versions[0], Ok(rustls::ProtocolVersion::TLSv1_3));
        assert_eq!(versions[1], Ok(rustls::ProtocolVersion::TLSv1_2));

        let plaintext = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await;
        if let Ok(channel) = plaintext {
            let mut client =
                offchain_proto::csa::csa_service_client::CsaServiceClient::new(channel);
            let answer = client
                .get_keypair(offchain_proto::csa::GetKeypairRequest {})
                .await;
            assert!(answer.is_err(), "a plaintext call must not be answered");
        }
        server.shutdown().await.unwrap();
        drop(material.dir);
    }

    #[tokio::test]
    async fn unusable_tls_files_are_named_without_their_content() {
        let material = material();
        let key_pem = std::fs::read_to_string(&material.files.key).unwrap();
        let key_body = key_pem.lines().nth(1).unwrap().to_string();
        let key_body = key_body.as_str();
        let error_for = |files: TlsFiles| async move {
            let text = tls_server(files).await.unwrap_err().to_string();
            assert!(!text.contains('\n'), "one line: {text}");
            assert!(
                !text.contains(key_body) && !text.contains("PRIVATE"),
                "{text}"
            );
            text
        };

        let missing = material.dir.path().join("missing.pem");
        let text = error_for(TlsFiles {
            cert: missing.clone(),
            key: material.files.key.clone(),
        })
        .await;
        assert!(text.contains(&missing.display().to_string()), "{text}");
        assert!(text.contains("certificate"), "{text}");

        // A key file holding a certificate, and a certificate file holding a key.
        let text = error_for(TlsFiles {
            cert: material.files.cert.clone(),
            key: material.files.cert.clone(),
        })
        .await;
        assert!(text.contains("key"), "{text}");
        let text = error_for(TlsFiles {
            cert: material.files.key.clone(),
            key: material.files.key.clone(),
        })
        .await;
        assert!(text.contains("certificate"), "{text}");

        // A key that does not belong to the certificate.
        let other = material.dir.path().join("other-key.pem");
        std::fs::write(&other, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        let text = error_for(TlsFiles {
            cert: material.files.cert.clone(),
            key: other.clone(),
        })
        .await;
        assert!(text.contains("does not belong"), "{text}");
        assert!(text.contains(&other.display().to_string()), "{text}");
    }
}
