//! Self-signed TLS identities for `localhost`, made by rcgen, with rustls's ring provider.

use std::sync::Arc;

use lori_core::TlsClient;
use lori_core::rustls::crypto::ring::default_provider;
use lori_core::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use lori_core::rustls::{ClientConfig, RootCertStore, ServerConfig};

/// A self-signed certificate for `localhost` and its key.
///
/// In DER for rustls and PEM for the openssl CLI.
pub struct Identity {
    /// The certificate (DER).
    pub cert: CertificateDer<'static>,
    /// The key (PKCS #8 DER).
    pub key: PrivatePkcs8KeyDer<'static>,
    /// The certificate as PEM.
    pub cert_pem: String,
    /// The key as PEM.
    pub key_pem: String,
}

impl Identity {
    /// A fresh identity for the name `localhost`.
    #[track_caller]
    pub fn localhost() -> Self {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
        Self {
            cert: certified.cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()),
            cert_pem: certified.cert.pem(),
            key_pem: certified.key_pair.serialize_pem(),
        }
    }

    /// A server configuration presenting this identity (ring provider, no client auth).
    #[track_caller]
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .expect("server config");
        Arc::new(config)
    }

    /// A client that trusts only this identity and verifies the name `localhost`.
    #[track_caller]
    pub fn client(&self) -> TlsClient {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.clone()).expect("root");
        let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsClient::new(Arc::new(config)).server_name("localhost")
    }
}
