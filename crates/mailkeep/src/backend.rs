//! Opening the backend `[store]` names: the embedded one in the data directory, or a
//! PostgreSQL database shared by several nodes (whose data directories then hold only what
//! is each node's own: configuration, keys, certificates, spool and full-text index).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use mailkeep_core::config::{BackendKind, BlobsConfig, BlobsKind, Config, StoreConfig};
use mailkeep_core::embedded::{OpenOptions, Store};
use mailkeep_core::store::Backend;

/// Opens the configured backend; `exclusive` (the server) also takes the embedded store's
/// writer lock.
pub(crate) fn open(dir: &Path, config: &Config, exclusive: bool) -> Result<Arc<dyn Backend>> {
    match config.store.backend {
        BackendKind::Embedded => {
            let options = if exclusive {
                OpenOptions::exclusive()
            } else {
                OpenOptions::default()
            };
            Ok(Arc::new(Store::open(dir, options)?))
        }
        BackendKind::Postgres => {
            let url = config.store.url.clone().unwrap_or_default();
            let password = config.store.password().map_err(anyhow::Error::msg)?;
            let store = mailkeep_store_pg::PgStore::open(mailkeep_store_pg::Options {
                url,
                password,
                clock: None,
                objects: objects(&config.blobs)?,
                tls: database_tls(&config.store),
            })
            .context("opening the PostgreSQL store")?;
            Ok(Arc::new(store))
        }
    }
}

/// TLS to the database when `[store]` asks for it: the server's certificate is always
/// verified (libpq's `require` would accept any certificate, which stops no one who can
/// reach the network between node and database).
pub(crate) fn database_tls(store: &StoreConfig) -> Option<rustls::ClientConfig> {
    store.tls_required().then(|| {
        let roots = mailkeep_server::load_roots(store.ca_file.as_deref());
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth()
    })
}

/// The object store `[blobs]` names, if any.
pub(crate) fn objects(blobs: &BlobsConfig) -> Result<Option<mailkeep_store_pg::S3Options>> {
    if blobs.backend != BlobsKind::S3 {
        return Ok(None);
    }
    Ok(Some(mailkeep_store_pg::S3Options {
        endpoint: blobs.endpoint.clone(),
        bucket: blobs.bucket.clone().unwrap_or_default(),
        region: blobs.region.clone().unwrap_or_else(|| "us-east-1".into()),
        key_id: blobs.key_id.clone().unwrap_or_default(),
        secret: blobs.secret().map_err(anyhow::Error::msg)?,
        prefix: blobs.prefix.clone().unwrap_or_default(),
    }))
}

/// The embedded store, for commands that work on its files (backup, fsck, import's fast
/// path); refused with a reason when this node keeps its metadata elsewhere.
pub(crate) fn embedded_only(config: &Config, what: &str) -> Result<()> {
    if config.store.backend != BackendKind::Embedded {
        anyhow::bail!(
            "`{what}` works on the embedded store's files; this node's store is PostgreSQL \
             (use the database's own tools)"
        );
    }
    Ok(())
}
