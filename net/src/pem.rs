//! rustls configurations from PEM files (Lasso's `loadCerts`), on the ring provider.
//!
//! [`server_config`] reads a certificate chain and a private key and returns a server
//! configuration, ready for `Config::server_tls`; [`client_config`] reads a file of
//! trusted CA certificates and returns a client configuration, ready for
//! `TlsClient::new`. Both use rustls's safe default protocol versions and no client
//! authentication. For anything else (ALPN, chosen versions, client certificates), build
//! your own configuration from [`certificates`], [`private_key`] and [`root_store`].
//!
//! Every failure is a [`PemError`] that names the file it concerns: missing or unreadable
//! ([`PemError::Read`]), not PEM ([`PemError::Malformed`]), no certificate or no key in it
//! ([`PemError::NoCertificate`], [`PemError::NoPrivateKey`]), or refused by rustls
//! ([`PemError::Certificate`], [`PemError::KeyPair`]: a key that does not match the
//! certificate, or of a type the provider does not support).
//!
//! ```no_run
//! let server = lori_net::pem::server_config("cert.pem", "key.pem")?;
//! let config = lori_core::Config::default().server_tls(server);
//! # Ok::<(), lori_net::pem::PemError>(())
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lori_core::rustls::crypto::ring::default_provider;
use lori_core::rustls::pki_types::pem::{self, PemObject};
use lori_core::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use lori_core::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

/// Why a PEM file could not be loaded: each variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// The file is missing or could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error opening or reading it.
        #[source]
        source: io::Error,
    },
    /// The file is not valid PEM.
    ///
    /// For example a section without its end marker, a bad header line, bad base64, or a
    /// section too large.
    #[error("{}: not valid PEM: {source}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the PEM parser found.
        #[source]
        source: pem::Error,
    },
    /// The file holds no `CERTIFICATE` section.
    #[error("{}: no certificate found", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The file holds no private key section.
    ///
    /// The sections looked for are `PRIVATE KEY`, `RSA PRIVATE KEY` and `EC PRIVATE KEY`.
    #[error("{}: no private key found", path.display())]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused a certificate of the file as a trusted root.
    ///
    /// It is not a parsable X.509 certificate.
    #[error("{}: certificate refused: {source}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the key with the certificate chain.
    ///
    /// The key does not match the end-entity certificate, or it cannot be parsed or is of
    /// a type the provider does not support.
    #[error("{} with {}: {source}", key.display(), cert.display())]
    KeyPair {
        /// The certificate chain file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
}

impl PemError {
    /// The file the error concerns (for [`PemError::KeyPair`], the key file).
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. }
            | Self::Malformed { path, .. }
            | Self::NoCertificate { path }
            | Self::NoPrivateKey { path }
            | Self::Certificate { path, .. } => path,
            Self::KeyPair { key, .. } => key,
        }
    }

    /// `error` of the PEM parser about `path`: a read error or a malformed file.
    fn parse(path: &Path, error: pem::Error) -> Self {
        let path = path.to_path_buf();
        match error {
            pem::Error::Io(source) => Self::Read { path, source },
            source => Self::Malformed { path, source },
        }
    }
}

/// A server configuration from a certificate chain file and a private key file.
///
/// It uses the ring provider, safe default protocol versions and no client
/// authentication, and presents the certificate chain in the PEM file `cert_chain`
/// (end-entity certificate first) with the private key in the PEM file `private_key`
/// (PKCS #8, PKCS #1 or SEC1; the first key in the file). Both may be the same file.
pub fn server_config(
    cert_chain: impl AsRef<Path>,
    private_key: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>, PemError> {
    let (cert_path, key_path) = (cert_chain.as_ref(), private_key.as_ref());
    let chain = certificates(cert_path)?;
    let key = self::private_key(key_path)?;
    let refused = |source| PemError::KeyPair {
        cert: cert_path.to_path_buf(),
        key: key_path.to_path_buf(),
        source,
    };
    ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(refused)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map(Arc::new)
        .map_err(refused)
}

/// A client configuration that trusts the CA certificates in the PEM file `ca`, and only those.
///
/// It uses the ring provider, safe default protocol versions and no client certificate.
pub fn client_config(ca: impl AsRef<Path>) -> Result<Arc<ClientConfig>, PemError> {
    let ca = ca.as_ref();
    let roots = root_store(ca)?;
    let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|source| PemError::Certificate {
            path: ca.to_path_buf(),
            source,
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Every certificate in the PEM file `path`, in file order; at least one.
pub fn certificates(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let path = path.as_ref();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|error| PemError::parse(path, error))?;
    if certs.is_empty() {
        return Err(PemError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key in the PEM file `path`.
pub fn private_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, PemError> {
    let path = path.as_ref();
    PrivateKeyDer::from_pem_file(path).map_err(|error| match error {
        pem::Error::NoItemsFound => PemError::NoPrivateKey {
            path: path.to_path_buf(),
        },
        error => PemError::parse(path, error),
    })
}

/// A root store of every certificate in the PEM file `path` (at least one).
pub fn root_store(path: impl AsRef<Path>) -> Result<RootCertStore, PemError> {
    let path = path.as_ref();
    let mut roots = RootCertStore::empty();
    for cert in certificates(path)? {
        roots.add(cert).map_err(|source| PemError::Certificate {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A fresh directory for one test, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let unique = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "lori-net-pem-{name}-{}-{unique}",
                std::process::id()
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            Self(path)
        }

        fn write(&self, name: &str, contents: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).expect("write");
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A self-signed certificate for `localhost` and its key, as PEM.
    fn identity() -> (String, String) {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
        (certified.cert.pem(), certified.key_pair.serialize_pem())
    }

    /// `error` names `path`, in its `path()` and in its message.
    #[track_caller]
    fn names(error: &PemError, path: &Path) {
        assert_eq!(error.path(), path);
        let shown = path.display().to_string();
        assert!(error.to_string().contains(&shown), "{error} names {shown}");
    }

    #[test]
    fn good_files_make_configs_that_talk_to_each_other() {
        let dir = Dir::new("good");
        let (cert, key) = identity();
        let cert = dir.write("cert.pem", &cert);
        let key = dir.write("key.pem", &key);
        let server = server_config(&cert, &key).expect("server config");
        let client = client_config(&cert).expect("client config");

        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let mut client = rustls::ClientConnection::new(client, name).expect("client");
        let mut server = rustls::ServerConnection::new(server).expect("server");
        let mut wire = Vec::new();
        for _ in 0..10 {
            if !client.is_handshaking() && !server.is_handshaking() {
                break;
            }
            wire.clear();
            client.write_tls(&mut wire).expect("client writes");
            server.read_tls(&mut &wire[..]).expect("server reads");
            server.process_new_packets().expect("server accepts");
            wire.clear();
            server.write_tls(&mut wire).expect("server writes");
            client.read_tls(&mut &wire[..]).expect("client reads");
            client.process_new_packets().expect("client accepts");
        }
        assert!(!client.is_handshaking() && !server.is_handshaking());
    }

    #[test]
    fn one_file_may_hold_the_chain_and_the_key() {
        let dir = Dir::new("combined");
        let (cert, key) = identity();
        let both = dir.write("both.pem", &format!("{cert}{key}"));
        server_config(&both, &both).expect("server config");
        assert_eq!(certificates(&both).expect("certificates").len(), 1);
    }

    #[test]
    fn a_missing_file_is_a_read_error_naming_it() {
        let dir = Dir::new("missing");
        let (cert, _) = identity();
        let cert = dir.write("cert.pem", &cert);
        let missing = dir.0.join("absent.pem");
        let error = server_config(&missing, &cert).expect_err("no chain file");
        assert!(
            matches!(&error, PemError::Read { source, .. } if source.kind() == io::ErrorKind::NotFound)
        );
        names(&error, &missing);
        let error = server_config(&cert, &missing).expect_err("no key file");
        assert!(matches!(error, PemError::Read { .. }));
        names(&error, &missing);
        let error = client_config(&missing).expect_err("no CA file");
        assert!(matches!(error, PemError::Read { .. }));
        names(&error, &missing);
    }

    #[test]
    fn an_unreadable_file_is_a_read_error_naming_it() {
        let dir = Dir::new("unreadable");
        // A directory opens but cannot be read (EISDIR), whoever runs the test.
        let error = certificates(&dir.0).expect_err("a directory");
        assert!(matches!(error, PemError::Read { .. }), "{error:?}");
        names(&error, &dir.0);
    }

    #[test]
    fn a_file_without_certificates_names_it() {
        let dir = Dir::new("nocert");
        let (cert, key) = identity();
        let cert = dir.write("cert.pem", &cert);
        let key = dir.write("key.pem", &key);
        let error = server_config(&key, &key).expect_err("a key is no chain");
        assert!(matches!(error, PemError::NoCertificate { .. }));
        names(&error, &key);
        let error = client_config(&key).expect_err("a key is no CA");
        assert!(matches!(error, PemError::NoCertificate { .. }));
        names(&error, &key);
        let empty = dir.write("empty.pem", "");
        let error = server_config(&empty, &key).expect_err("empty");
        assert!(matches!(error, PemError::NoCertificate { .. }));
        names(&error, &empty);
        let error = server_config(&cert, &cert).expect_err("a certificate is no key");
        assert!(matches!(error, PemError::NoPrivateKey { .. }));
        names(&error, &cert);
    }

    #[test]
    fn garbage_names_the_file() {
        let dir = Dir::new("garbage");
        let (cert, key) = identity();
        let key = dir.write("key.pem", &key);
        let cert = dir.write("cert.pem", &cert);
        // No PEM section at all: nothing of the kind asked for.
        let text = dir.write("text.pem", "this is not a certificate\n\x01\x02\n");
        let error = server_config(&text, &key).expect_err("text");
        assert!(matches!(error, PemError::NoCertificate { .. }));
        names(&error, &text);
        let error = private_key(&text).expect_err("text");
        assert!(matches!(error, PemError::NoPrivateKey { .. }));
        names(&error, &text);
        // A section whose body is not base64, and one without its end.
        let bad = dir.write(
            "bad.pem",
            "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n",
        );
        let error = server_config(&bad, &key).expect_err("bad base64");
        assert!(matches!(error, PemError::Malformed { .. }), "{error:?}");
        names(&error, &bad);
        let cut = dir.write("cut.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n");
        let error = server_config(&cert, &cut).expect_err("no end marker");
        assert!(matches!(error, PemError::Malformed { .. }), "{error:?}");
        names(&error, &cut);
        // Well-formed PEM around bytes that are no certificate and no key.
        let junk = dir.write(
            "junk.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let error = client_config(&junk).expect_err("a junk root");
        assert!(matches!(error, PemError::Certificate { .. }), "{error:?}");
        names(&error, &junk);
        let junk_key = dir.write(
            "junk-key.pem",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        let error = server_config(&cert, &junk_key).expect_err("a junk key");
        assert!(matches!(error, PemError::KeyPair { .. }), "{error:?}");
        names(&error, &junk_key);
    }

    #[test]
    fn a_key_that_is_not_the_certificates_names_both_files() {
        let dir = Dir::new("mismatch");
        let (cert, _) = identity();
        let (_, other_key) = identity();
        let cert = dir.write("cert.pem", &cert);
        let key = dir.write("other-key.pem", &other_key);
        let error = server_config(&cert, &key).expect_err("mismatch");
        assert!(
            matches!(
                &error,
                PemError::KeyPair {
                    source: rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch),
                    ..
                }
            ),
            "{error:?}"
        );
        names(&error, &key);
        let shown = cert.display().to_string();
        assert!(error.to_string().contains(&shown), "{error} names {shown}");
    }
}
