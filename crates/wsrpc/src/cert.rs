//! The minimal self-signed certificate each side presents (`node-link.md`, "Transport"), and
//! reading the peer's ed25519 key back out of a certificate.
//!
//! The certificate is version 3, serial 0, empty issuer and subject, both validity dates
//! `00010101000000Z` (GeneralizedTime), no extensions, signed with Ed25519: always the same
//! 178 bytes for a given key, because Ed25519 signatures are deterministic. It is not a valid
//! RFC 5280 certificate (serial 0, year 1), which general certificate libraries refuse to
//! write or read, so this module holds a small DER writer and reader of its own. The
//! certificate is only a carrier for the public key: possession of the private key is proven
//! by the TLS handshake signature, so the certificate's own signature is not checked.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

use crate::keys::PublicKey;

/// Certificates longer than this are refused before parsing: ours is 178 bytes and an
/// ordinary single Ed25519 certificate well under 1 KiB.
pub const MAX_CERTIFICATE_LEN: usize = 4096;

/// Why a peer's certificate yields no ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// Longer than [`MAX_CERTIFICATE_LEN`].
    #[error("certificate of {len} bytes is longer than the {MAX_CERTIFICATE_LEN} bytes accepted")]
    TooLarge { len: usize },
    /// Not the DER structure of a certificate; `part` names what is wrong.
    #[error("certificate is not valid DER: bad or missing {part}")]
    Malformed { part: &'static str },
    /// A well-formed certificate for another kind of key.
    #[error("certificate's public key is not an Ed25519 key")]
    NotEd25519,
}

// DER tags used by the certificate.
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OBJECT_IDENTIFIER: u8 = 0x06;
const GENERALIZED_TIME: u8 = 0x18;
const SEQUENCE: u8 = 0x30;
/// `[0] EXPLICIT`, the wrapper of the certificate's version field.
const CONTEXT_0: u8 = 0xa0;

/// OID 1.3.101.112 (id-Ed25519, RFC 8410), the key and the signature algorithm.
const ED25519_OID: &[u8] = &[0x2b, 0x65, 0x70];
/// Year 1, the value the existing peers write in both validity dates.
const YEAR_ONE: &[u8] = b"00010101000000Z";

/// The DER certificate for `key_pair`, byte for byte the existing peers' certificate.
pub fn certificate_der(key_pair: &Ed25519KeyPair) -> Vec<u8> {
    let algorithm = tlv(SEQUENCE, &tlv(OBJECT_IDENTIFIER, ED25519_OID));
    let year_one = tlv(GENERALIZED_TIME, YEAR_ONE);
    let tbs = tlv(
        SEQUENCE,
        &[
            tlv(CONTEXT_0, &tlv(INTEGER, &[2])), // version 3 is encoded as 2
            tlv(INTEGER, &[0]),                  // serial number 0
            algorithm.clone(),
            tlv(SEQUENCE, &[]), // issuer: empty name
            tlv(SEQUENCE, &[year_one.as_slice(), &year_one].concat()),
            tlv(SEQUENCE, &[]), // subject: empty name
            tlv(
                SEQUENCE,
                &[
                    algorithm.as_slice(),
                    &bit_string(key_pair.public_key().as_ref()),
                ]
                .concat(),
            ),
        ]
        .concat(),
    );
    let signature = key_pair.sign(&tbs);
    tlv(
        SEQUENCE,
        &[tbs, algorithm, bit_string(signature.as_ref())].concat(),
    )
}

/// One DER element. Lengths here never reach 64 KiB, so one or two length bytes suffice.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(content.len() + 4);
    out.push(tag);
    match len {
        0..0x80 => out.push(len as u8),
        0x80..0x100 => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// A BIT STRING of whole bytes: a leading 0 says no bits of the last byte are unused.
fn bit_string(bytes: &[u8]) -> Vec<u8> {
    tlv(BIT_STRING, &[&[0u8][..], bytes].concat())
}

/// The ed25519 public key of a certificate: ours, or any X.509 certificate whose
/// SubjectPublicKeyInfo holds an Ed25519 key. Fields other than the key are read only as far
/// as needed to find it (their content is not judged: dates, serial and names mean nothing
/// here), and the certificate must be one well-formed DER element with nothing after it.
pub fn public_key_from_certificate(der: &[u8]) -> Result<PublicKey, CertificateError> {
    if der.len() > MAX_CERTIFICATE_LEN {
        return Err(CertificateError::TooLarge { len: der.len() });
    }
    let mut outer = DerReader::new(der);
    let mut certificate = DerReader::new(outer.read(SEQUENCE, "certificate")?);
    outer.finish("end of certificate")?;

    let mut tbs = DerReader::new(certificate.read(SEQUENCE, "tbsCertificate")?);
    certificate.read(SEQUENCE, "signatureAlgorithm")?;
    certificate.read(BIT_STRING, "signature")?;
    certificate.finish("end of certificate")?;

    if tbs.next_tag() == Some(CONTEXT_0) {
        tbs.read(CONTEXT_0, "version")?;
    }
    tbs.read(INTEGER, "serialNumber")?;
    tbs.read(SEQUENCE, "signature algorithm")?;
    tbs.read(SEQUENCE, "issuer")?;
    tbs.read(SEQUENCE, "validity")?;
    tbs.read(SEQUENCE, "subject")?;
    // Unique ids and extensions may follow in ordinary certificates; they are not needed.
    let mut spki = DerReader::new(tbs.read(SEQUENCE, "subjectPublicKeyInfo")?);

    let mut algorithm = DerReader::new(spki.read(SEQUENCE, "public key algorithm")?);
    let key_bits = spki.read(BIT_STRING, "public key")?;
    spki.finish("end of subjectPublicKeyInfo")?;
    // RFC 8410: the Ed25519 algorithm identifier has no parameters.
    if algorithm.read(OBJECT_IDENTIFIER, "public key algorithm")? != ED25519_OID
        || !algorithm.is_empty()
    {
        return Err(CertificateError::NotEd25519);
    }
    match key_bits {
        [0, key @ ..] => <[u8; 32]>::try_from(key)
            .map(PublicKey::from_bytes)
            .map_err(|_| CertificateError::NotEd25519),
        _ => Err(CertificateError::Malformed { part: "public key" }),
    }
}

/// Reads DER elements one after another from a slice, never past its end.
struct DerReader<'a> {
    rest: &'a [u8],
}

impl<'a> DerReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn next_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The content of the next element, which must carry `tag`.
    fn read(&mut self, tag: u8, part: &'static str) -> Result<&'a [u8], CertificateError> {
        let malformed = CertificateError::Malformed { part };
        let (&found, after_tag) = self.rest.split_first().ok_or(malformed.clone())?;
        if found != tag {
            return Err(malformed);
        }
        let (len, after_len) = match after_tag {
            [short @ 0..=0x7f, rest @ ..] => (usize::from(*short), rest),
            [0x81, len, rest @ ..] => (usize::from(*len), rest),
            [0x82, high, low, rest @ ..] => (usize::from(*high) << 8 | usize::from(*low), rest),
            // Indefinite lengths are not DER; longer length forms cannot fit the size limit.
            _ => return Err(malformed),
        };
        if len > after_len.len() {
            return Err(malformed);
        }
        let (content, rest) = after_len.split_at(len);
        self.rest = rest;
        Ok(content)
    }

    /// Fails unless everything has been read.
    fn finish(&self, part: &'static str) -> Result<(), CertificateError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(CertificateError::Malformed { part })
        }
    }
}

#[cfg(test)]
#[path = "cert_tests.rs"]
mod tests;
