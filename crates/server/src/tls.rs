//! TLS server configuration from PEM files (rustls with its safe defaults: TLS 1.2 and 1.3
//! only, no weak suites).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Unreadable or malformed file.
    #[error("cannot read TLS {what} from {path}: {reason}")]
    File {
        /// "certificate" or "key".
        what: &'static str,
        /// File.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the pair (e.g. key does not match the certificate).
    #[error("unusable TLS certificate/key: {0}")]
    Config(String),
}

/// The certificate and key new handshakes get; swapped whole by [`Certs::reload`], so
/// connections already open keep theirs and none is dropped.
#[derive(Debug)]
pub struct Certs {
    current: std::sync::RwLock<Arc<CertifiedKey>>,
    cert: PathBuf,
    key: PathBuf,
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::File {
            what: "certificate",
            path: cert.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::File {
            what: "certificate",
            path: cert.to_path_buf(),
            reason: "no certificate in file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
        what: "key",
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    CertifiedKey::from_der(certs, key, &provider).map_err(|e| TlsError::Config(e.to_string()))
}

impl Certs {
    /// Reads the files again and, if they make a usable pair, serves them from the next
    /// handshake on. On error the old pair stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(load(&self.cert, &self.key)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }
}

/// Builds an acceptor from a PEM certificate chain and key, with the handle that reloads them.
pub fn acceptor(
    cert: &Path,
    key: &Path,
) -> Result<(tokio_rustls::TlsAcceptor, Arc<Certs>), TlsError> {
    let certs = Arc::new(Certs {
        current: std::sync::RwLock::new(Arc::new(load(cert, key)?)),
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
    });
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(certs.clone());
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), certs))
}
