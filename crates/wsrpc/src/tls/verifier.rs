//! The one certificate verifier both sides use: exactly one certificate, its ed25519 key in
//! the allowed set, the handshake signed by that key with Ed25519.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use crate::cert::public_key_from_certificate;
use crate::keys::{AllowedKeys, PublicKey};

/// Every refusal of a certificate or key is reported as `BadEncoding`: rustls turns it into
/// the alert `bad_certificate` that the spec asks for (other variants send other alerts,
/// e.g. `UnknownIssuer` → `unknown_ca`, `ApplicationVerificationFailure` → `access_denied`).
const REFUSED: Error = Error::InvalidCertificate(CertificateError::BadEncoding);

#[derive(Debug)]
pub(super) struct AllowedKeysVerifier {
    allowed: AllowedKeys,
}

impl AllowedKeysVerifier {
    pub(super) fn new(allowed: AllowedKeys) -> Self {
        Self { allowed }
    }

    /// Chains, names and dates mean nothing here: the key alone identifies the peer.
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), Error> {
        if !intermediates.is_empty() {
            tracing::debug!(
                certificates = intermediates.len() + 1,
                "refused a peer presenting more than one certificate"
            );
            return Err(REFUSED);
        }
        let key = public_key_from_certificate(end_entity).map_err(|error| {
            tracing::debug!(%error, "refused a peer certificate");
            REFUSED
        })?;
        if self.allowed.contains(&key) {
            Ok(())
        } else {
            tracing::debug!(peer_key = %key, "refused a peer key that is not allowed");
            Err(REFUSED)
        }
    }
}

/// Checks the handshake signature against the key in the certificate, Ed25519 only.
fn verify_ed25519_signature(
    message: &[u8],
    certificate: &CertificateDer<'_>,
    signature: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, Error> {
    if signature.scheme != SignatureScheme::ED25519 {
        return Err(Error::PeerMisbehaved(
            rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
        ));
    }
    let key: PublicKey = public_key_from_certificate(certificate).map_err(|_| REFUSED)?;
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, key.as_bytes())
        .verify(message, signature.signature())
        .map(|()| HandshakeSignatureValid::assertion())
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadSignature))
}

/// Both configurations allow TLS 1.3 only, so rustls never asks for a TLS 1.2 signature.
fn refuse_tls12() -> Result<HandshakeSignatureValid, Error> {
    Err(Error::General(
        "TLS 1.2 is not used on the node link".to_owned(),
    ))
}

impl ClientCertVerifier for AllowedKeysVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.check(end_entity, intermediates)
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        refuse_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_ed25519_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ServerCertVerifier for AllowedKeysVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.check(end_entity, intermediates)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        refuse_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_ed25519_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}
