//! TLS configurations for the examples: rustls on the ring provider, from PEM files
//! (`--tls-cert`, `--tls-key`, `--tls-ca`, read by `lori_net::pem`) or from a certificate
//! made at start with rcgen.

use std::path::Path;
use std::sync::Arc;

use lori_core::rustls::crypto::ring::default_provider;
use lori_core::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use lori_core::rustls::{
    self, ClientConfig, ProtocolVersion, RootCertStore, ServerConfig, SupportedProtocolVersion,
};

use super::Failure;

/// A certificate and its private key.
pub struct Identity {
    /// The certificate chain, end entity first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// A self-signed certificate for `names` (DNS names or IP addresses), made now.
    pub fn self_signed(names: &[&str]) -> Result<Self, Failure> {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let certified = rcgen::generate_simple_self_signed(names)
            .map_err(|error| Failure::Failed(format!("making a certificate: {error}")))?;
        Ok(Self {
            chain: vec![certified.cert.der().clone()],
            key: PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()).into(),
        })
    }

    /// A root store that trusts this certificate (self-signed: it is its own issuer).
    pub fn roots(&self) -> Result<RootCertStore, Failure> {
        let mut roots = RootCertStore::empty();
        for cert in &self.chain {
            roots.add(cert.clone()).map_err(rustls_failure)?;
        }
        Ok(roots)
    }

    /// A server configuration presenting this identity.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, Failure> {
        ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(rustls_failure)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map(Arc::new)
            .map_err(rustls_failure)
    }
}

/// The server configuration of `--tls-cert` and `--tls-key` (`lori_net::pem`).
pub fn server_config_from_pem(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, Failure> {
    Ok(lori_net::pem::server_config(cert, key)?)
}

/// The root store of a PEM file of trusted certificates (`--tls-ca`; `lori_net::pem`).
pub fn roots_from_pem(ca: &Path) -> Result<RootCertStore, Failure> {
    Ok(lori_net::pem::root_store(ca)?)
}

/// A client configuration trusting `roots`, offering `versions` (all safe ones if empty).
pub fn client_config(
    roots: RootCertStore,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<Arc<ClientConfig>, Failure> {
    let builder = ClientConfig::builder_with_provider(Arc::new(default_provider()));
    let builder = if versions.is_empty() {
        builder.with_safe_default_protocol_versions()
    } else {
        builder.with_protocol_versions(versions)
    };
    Ok(Arc::new(
        builder
            .map_err(rustls_failure)?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// The protocol versions `--tls-version` names: `1.2`, `1.3`, or `any`.
pub fn versions(name: &str) -> Option<&'static [&'static SupportedProtocolVersion]> {
    const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
    const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
    match name {
        "1.2" => Some(TLS12),
        "1.3" => Some(TLS13),
        "any" => Some(&[]),
        _ => None,
    }
}

/// A readable name for a negotiated protocol version.
pub fn version_name(version: Option<ProtocolVersion>) -> String {
    match version {
        Some(ProtocolVersion::TLSv1_2) => "TLS 1.2".to_owned(),
        Some(ProtocolVersion::TLSv1_3) => "TLS 1.3".to_owned(),
        Some(other) => format!("{other:?}"),
        None => "plaintext".to_owned(),
    }
}

fn rustls_failure(error: rustls::Error) -> Failure {
    Failure::Failed(format!("TLS configuration: {error}"))
}
