//! mailkeep's storage on PostgreSQL: the seam's traits (`mailkeep-store-api`) for several
//! nodes that share one database, passing the same conformance suite as the embedded backend
//! (`tests/conformance.rs`).
//!
//! # Durability
//! A write returns `Ok` only after its transaction committed with `synchronous_commit = on`
//! (or `remote_apply`; a weaker database default is raised for mailkeep's sessions), so the
//! commit is in the WAL on disk — and on a synchronous standby when one is configured
//! (`tests/standby.rs`). A body is in the same transaction that enters it in mailboxes, or,
//! in an object store, acknowledged by the store before that transaction starts
//! (`objects`), so a message never exists without its bytes.
//!
//! # Why synchronous
//! The seam is synchronous (the server calls it on its blocking pool), so this backend uses
//! `postgres`, the blocking facade of tokio-postgres, and a plain pool of connections instead
//! of deadpool, which is built for async callers. See [`conn`] for how writes are grouped and
//! ordered across nodes.
//!
//! # Layout
//! One module per area of the seam, next to its SQL: `directory`, `mailboxes`, `bodies`,
//! `journal`, `queue`, `holds`, `throttle`, `changes`; `schema` holds the migrations.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bodies;
mod changes;
mod conn;
mod directory;
mod holds;
mod journal;
mod mailboxes;
#[cfg(feature = "migrate")]
pub mod migrate;
#[cfg(feature = "s3")]
mod objects;
mod protection;
mod queue;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;
mod throttle;

use std::sync::Arc;

use mailkeep_store_api::{Actor, Backend, Clock, Error, Result, SystemClock};

use crate::conn::{Db, Readers, Writer};

/// How to reach the database.
#[derive(Default)]
pub struct Options {
    /// A libpq-style connection string or URL (`postgres://user@host:port/db`).
    pub url: String,
    /// The password, when not in `url` (read from a file or the environment by the caller,
    /// so that it never shows in `ps`).
    pub password: Option<String>,
    /// The time source of writes (journal leaf times, holds, purges).
    pub clock: Option<Arc<dyn Clock>>,
    /// Where message bodies go: an S3 bucket, or (`None`) the database itself.
    pub objects: Option<S3Options>,
    /// TLS to the database: when set, every connection must be TLS (whatever `sslmode` the
    /// URL names) and the server's certificate is verified by this configuration, against
    /// the host name in `url`.
    pub tls: Option<rustls::ClientConfig>,
}

/// An S3 bucket for message bodies (needs the `s3` feature).
#[derive(Clone, Debug, Default)]
pub struct S3Options {
    /// The store's URL (`http://127.0.0.1:3900` for a Garage node); `None` for AWS S3.
    pub endpoint: Option<String>,
    /// The bucket, which must exist.
    pub bucket: String,
    /// The region (Garage's default is `garage`).
    pub region: String,
    /// The access key id.
    pub key_id: String,
    /// The secret key (read from a file by the caller).
    pub secret: String,
    /// Keys go under this prefix (`bodies` when empty).
    pub prefix: String,
}

#[cfg(feature = "s3")]
pub use objects::GC_GRACE;

struct Inner {
    reads: Readers,
    writer: Writer,
    #[cfg_attr(not(feature = "migrate"), allow(dead_code))]
    db: Db,
    #[cfg(feature = "s3")]
    objects: Option<objects::Objects>,
}

impl Drop for Inner {
    /// The last handle gone: the committer finishes what is queued and stops.
    fn drop(&mut self) {
        self.writer.close();
        self.reads.close();
    }
}

/// A PostgreSQL backend. Cheap to clone; every clone shares the connections.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
    actor: Actor,
}

impl PgStore {
    /// Connects, migrates the schema to this build's version (refusing a newer one), and
    /// starts the committer.
    pub fn open(options: Options) -> Result<PgStore> {
        let mut config: postgres::Config = options
            .url
            .parse()
            .map_err(|e| Error::Conflict(format!("the database URL is not valid: {e}")))?;
        if let Some(p) = &options.password {
            config.password(p);
        }
        // The migration's IF NOT EXISTS notices are not news to log on every start.
        config.options("-c client_min_messages=warning");
        #[cfg(feature = "s3")]
        let objects = options
            .objects
            .as_ref()
            .map(objects::Objects::open)
            .transpose()?;
        #[cfg(not(feature = "s3"))]
        if options.objects.is_some() {
            return Err(Error::Conflict(
                "this build has no S3 support (feature \"s3\" of mailkeep-store-pg)".into(),
            ));
        }
        let tls = options.tls.map(|tls| {
            config.ssl_mode(postgres::config::SslMode::Require);
            tokio_postgres_rustls::MakeRustlsConnect::new(tls)
        });
        let db = Db { config, tls };
        let clock = options.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let reads = Readers::start(db.clone())?;
        reads.with(|c| schema::migrate(c).map(drop))?;
        let writer = Writer::start(db.clone(), clock)?;
        let store = PgStore {
            inner: Arc::new(Inner {
                reads,
                writer,
                db,
                #[cfg(feature = "s3")]
                objects,
            }),
            actor: Actor::system(),
        };
        #[cfg(feature = "s3")]
        if store.inner.objects.is_some() {
            store.collect_garbage_hourly();
        }
        Ok(store)
    }

    /// Runs [`PgStore::collect_garbage`] every hour while the store is open. Every node does;
    /// two collectors deleting the same orphan is harmless.
    #[cfg(feature = "s3")]
    fn collect_garbage_hourly(&self) {
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("store-s3-gc".into())
            .spawn(move || {
                let tick = std::time::Duration::from_secs(5);
                let mut waited = std::time::Duration::ZERO;
                loop {
                    std::thread::sleep(tick);
                    waited += tick;
                    let Some(inner) = weak.upgrade() else { return };
                    if waited < GC_GRACE {
                        continue;
                    }
                    waited = std::time::Duration::ZERO;
                    let store = PgStore {
                        inner,
                        actor: Actor::system(),
                    };
                    match store.collect_garbage(GC_GRACE) {
                        Ok((seen, deleted)) => tracing::info!(
                            seen,
                            deleted,
                            "collected bodies no committed message names"
                        ),
                        Err(e) => tracing::warn!("collecting orphan bodies failed: {e}"),
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("orphan bodies will not be collected: {e}");
        }
    }

    /// A connection of its own, outside the committer's ordering (bulk copies).
    #[cfg(feature = "migrate")]
    fn connect(&self) -> Result<postgres::Client> {
        use crate::conn::Q;
        self.inner.db.connect().q()
    }

    fn reads(&self) -> &Readers {
        &self.inner.reads
    }

    fn writer(&self) -> &Writer {
        &self.inner.writer
    }
}

impl Backend for PgStore {
    fn acting(&self, actor: Actor) -> Arc<dyn Backend> {
        Arc::new(PgStore {
            inner: self.inner.clone(),
            actor,
        })
    }

    fn close(&self) {
        self.inner.writer.close();
        self.inner.reads.close();
    }
}
