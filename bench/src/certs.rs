//! The TLS identity of a run: one self-signed certificate for `localhost` made with rcgen,
//! handed to the server children as DER files and trusted by the load client.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::ring::default_provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The name the certificate is for and the client connects to.
pub const SERVER_NAME: &str = "localhost";

/// A certificate and its key, written to two DER files.
#[derive(Debug)]
pub struct Identity {
    /// The certificate (DER).
    pub cert: PathBuf,
    /// The PKCS#8 private key (DER).
    pub key: PathBuf,
    cert_der: CertificateDer<'static>,
}

impl Identity {
    /// Makes a self-signed certificate for [`SERVER_NAME`] and writes it into `dir`.
    pub fn generate(dir: &Path) -> io::Result<Self> {
        let certified = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()])
            .map_err(io::Error::other)?;
        let cert = dir.join("cert.der");
        let key = dir.join("key.der");
        std::fs::write(&cert, certified.cert.der())?;
        std::fs::write(&key, certified.key_pair.serialize_der())?;
        Ok(Self {
            cert,
            key,
            cert_der: certified.cert.der().clone(),
        })
    }

    /// A client configuration (ring provider) that trusts only this certificate.
    pub fn client_config(&self) -> io::Result<Arc<ClientConfig>> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert_der.clone()).map_err(io::Error::other)?;
        let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// The server configuration (ring provider) for the certificate and key in two DER files.
pub fn server_config(cert: &Path, key: &Path) -> io::Result<Arc<ServerConfig>> {
    let cert = CertificateDer::from(std::fs::read(cert)?);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(std::fs::read(key)?));
    let config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(io::Error::other)?;
    Ok(Arc::new(config))
}
