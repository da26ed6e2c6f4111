//! Message bodies in an S3 object store (AWS S3, Garage, Ceph RGW, MinIO), through the
//! `object_store` crate.
//!
//! # Order of writes
//! A body is PUT (and acknowledged by the store) *before* the transaction that enters it in
//! mailboxes commits, so a committed message always has its bytes. A body whose transaction
//! never commits is an object no row names: garbage, removed by [`Objects::collect`].
//!
//! # Why every PUT gets its own key
//! Keys are `<prefix>/<sha256 hex>.<random>`, not the hash alone. With one key per hash, a
//! collector that found an orphan (a failed delivery) could delete it just after another
//! delivery of the same bytes overwrote it and before that delivery committed: a committed
//! message without bytes. With a key per PUT, only the writer that PUT an object can make a
//! row name it, and it must do so within `bodies::WRITE_DEADLINE` of the PUT
//! (`put_blob` checks), while the collector leaves objects younger than
//! [`GC_GRACE`] alone. The price: the same bytes delivered twice are uploaded twice and the
//! second copy is collected.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::StreamExt;
use mailkeep_store_api::{Error, Hash, Result};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use crate::S3Options;

/// How old an unnamed object must be before the collector removes it (twice the deadline).
pub const GC_GRACE: Duration = Duration::from_secs(60 * 60);

/// The runtime the S3 client runs on. The seam is synchronous and is also called from async
/// code, so requests are spawned here and waited for on a plain channel, which works from
/// any thread.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("store-s3")
            .enable_all()
            .build()
            .expect("starting the S3 client's runtime")
    })
}

/// Runs `f` on the S3 runtime and waits for it.
fn run<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(f.await);
    });
    rx.recv().map_err(|_| Error::Closed)
}

/// One object's bytes; `None` when the store has no such object.
async fn fetch(store: &dyn ObjectStore, key: &str) -> Result<Option<Vec<u8>>> {
    let got = match store.get(&Path::from(key)).await {
        Ok(r) => r.bytes().await.map(|b| Some(b.to_vec())),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    };
    got.map_err(|e| unavailable("read a body", e))
}

/// A failed request: transient (the SMTP client is told 4xx and retries).
fn unavailable(what: &str, e: object_store::Error) -> Error {
    Error::io(
        format!("the object store failed to {what}"),
        std::io::Error::other(e),
    )
}

/// A read of [`Objects::hash_each`]: the body's hash, its key, the SHA-256 of what came back.
pub(crate) type HashedRead = (Hash, String, Result<Option<Hash>>);

/// An object the collector found: its key and when it was written (Unix seconds).
struct Listed {
    key: String,
    written: i64,
}

/// The bucket and the prefix bodies go under.
#[derive(Clone)]
pub(crate) struct Objects {
    store: std::sync::Arc<AmazonS3>,
    prefix: String,
}

impl Objects {
    pub(crate) fn open(o: &S3Options) -> Result<Objects> {
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&o.bucket)
            .with_region(&o.region)
            .with_access_key_id(&o.key_id)
            .with_secret_access_key(&o.secret)
            // A store that is down must become a temporary failure (4xx) within seconds,
            // not after object_store's default three minutes of retries.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(10),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(3))
                    .with_timeout(Duration::from_secs(30)),
            );
        if let Some(endpoint) = &o.endpoint {
            // Self-hosted stores (Garage, MinIO) are addressed by path, often over plain
            // HTTP on a private network.
            b = b
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = b
            .build()
            .map_err(|e| Error::Conflict(format!("the object store settings: {e}")))?;
        let prefix = o.prefix.trim_matches('/');
        Ok(Objects {
            store: std::sync::Arc::new(store),
            prefix: if prefix.is_empty() {
                "bodies".into()
            } else {
                prefix.into()
            },
        })
    }

    fn new_key(&self, hash: &Hash) -> String {
        format!(
            "{}/{}.{:016x}",
            self.prefix,
            hex::encode(hash),
            rand::random::<u64>()
        )
    }

    /// Stores `bytes` under a fresh key; returns the key once the store acknowledged it.
    pub(crate) async fn put(&self, hash: &Hash, bytes: Vec<u8>) -> Result<String> {
        let key = self.new_key(hash);
        self.store
            .put(&Path::from(key.as_str()), PutPayload::from(bytes))
            .await
            .map_err(|e| unavailable("store a body", e))?;
        Ok(key)
    }

    /// [`Objects::put`], waiting.
    pub(crate) fn put_blocking(&self, hash: &Hash, bytes: Vec<u8>) -> Result<String> {
        let (me, hash) = (self.clone(), *hash);
        run(async move { me.put(&hash, bytes).await })?
    }

    /// [`Objects::put`] for many bodies, up to `in_flight` at once; their keys in order.
    #[cfg(feature = "migrate")]
    pub(crate) fn put_all(
        &self,
        bodies: Vec<(Hash, Vec<u8>)>,
        in_flight: usize,
    ) -> Result<Vec<String>> {
        let me = self.clone();
        run(async move {
            futures_util::stream::iter(bodies)
                .map(|(hash, bytes)| {
                    let me = me.clone();
                    async move { me.put(&hash, bytes).await }
                })
                .buffered(in_flight.max(1))
                .collect::<Vec<_>>()
                .await
        })?
        .into_iter()
        .collect()
    }

    /// Starts [`Objects::put`]; `then` gets its result on the S3 runtime.
    pub(crate) fn put_then(
        &self,
        hash: &Hash,
        bytes: Vec<u8>,
        then: impl FnOnce(Result<String>) + Send + 'static,
    ) {
        let (me, hash) = (self.clone(), *hash);
        runtime().spawn(async move { then(me.put(&hash, bytes).await) });
    }

    /// The object's bytes; `None` when the store has no such object.
    pub(crate) fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let (store, key) = (self.store.clone(), key.to_owned());
        run(async move { fetch(&*store, &key).await })?
    }

    /// [`Objects::get`] for each of `keys`, up to `in_flight` at a time, in the order of
    /// `keys`. The caller bounds memory by how many keys it asks for at once.
    pub(crate) fn get_all(
        &self,
        keys: Vec<String>,
        in_flight: usize,
    ) -> Result<Vec<Result<Option<Vec<u8>>>>> {
        let store = self.store.clone();
        run(async move {
            futures_util::stream::iter(keys)
                .map(|key| {
                    let store = store.clone();
                    async move { fetch(&*store, &key).await }
                })
                .buffered(in_flight.max(1))
                .collect::<Vec<_>>()
                .await
        })
    }

    /// Reads the objects named in `items`, up to `in_flight` at a time, and hands `each` the
    /// SHA-256 of every one (`None`: the store has no such object). The bytes are hashed on
    /// the runtime and dropped there, so memory holds at most `in_flight` bodies.
    pub(crate) fn hash_each(
        &self,
        items: Vec<(Hash, String)>,
        in_flight: usize,
        each: &mut dyn FnMut(HashedRead),
    ) {
        let (tx, rx) = std::sync::mpsc::sync_channel::<HashedRead>(in_flight);
        let store = self.store.clone();
        runtime().spawn(async move {
            let mut reads = futures_util::stream::iter(items)
                .map(|(hash, key)| {
                    let store = store.clone();
                    async move {
                        let got = match store.get(&Path::from(key.as_str())).await {
                            Ok(r) => r.bytes().await.map(|b| Some(mailkeep_store_api::hash(&b))),
                            Err(object_store::Error::NotFound { .. }) => Ok(None),
                            Err(e) => Err(e),
                        };
                        (hash, key, got.map_err(|e| unavailable("read a body", e)))
                    }
                })
                .buffer_unordered(in_flight.max(1));
            while let Some(read) = reads.next().await {
                // The caller may be slower than the store: wait without holding up the
                // runtime's other work (deliveries' PUTs).
                if tokio::task::block_in_place(|| tx.send(read)).is_err() {
                    return;
                }
            }
        });
        for read in rx {
            each(read);
        }
    }

    /// Removes objects; a missing one is not an error.
    pub(crate) fn delete(&self, keys: Vec<String>) -> Result<()> {
        let store = self.store.clone();
        run(async move {
            for key in keys {
                match store.delete(&Path::from(key)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })?
        .map_err(|e| unavailable("delete a body", e))
    }

    /// Walks every object under the prefix in pages of `page`, handing each page to `f`.
    fn list_pages(&self, page: usize, mut f: impl FnMut(Vec<Listed>) -> Result<()>) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Listed>>>(2);
        let (store, prefix) = (self.store.clone(), Path::from(self.prefix.as_str()));
        runtime().spawn(async move {
            let mut chunks = store.list(Some(&prefix)).chunks(page);
            while let Some(chunk) = chunks.next().await {
                let listed: Result<Vec<Listed>> = chunk
                    .into_iter()
                    .map(|m| {
                        let m = m.map_err(|e| unavailable("list bodies", e))?;
                        Ok(Listed {
                            key: m.location.to_string(),
                            written: m.last_modified.timestamp(),
                        })
                    })
                    .collect();
                if tokio::task::block_in_place(|| tx.send(listed)).is_err() {
                    return;
                }
            }
        });
        for listed in rx {
            f(listed?)?;
        }
        Ok(())
    }

    /// Deletes every object older than `grace` that `live` (given a page of keys, returns
    /// those a live row names) does not name. Returns (objects seen, objects deleted).
    pub(crate) fn collect(
        &self,
        grace: Duration,
        now: i64,
        mut live: impl FnMut(&[String]) -> Result<Vec<String>>,
    ) -> Result<(u64, u64)> {
        let before = now - grace.as_secs() as i64;
        let (mut seen, mut deleted) = (0u64, 0u64);
        self.list_pages(1000, |page| {
            seen += page.len() as u64;
            let old: Vec<String> = page
                .into_iter()
                .filter(|l| l.written <= before)
                .map(|l| l.key)
                .collect();
            if old.is_empty() {
                return Ok(());
            }
            let named: std::collections::HashSet<String> = live(&old)?.into_iter().collect();
            let orphans: Vec<String> = old.into_iter().filter(|k| !named.contains(k)).collect();
            deleted += orphans.len() as u64;
            self.delete(orphans)
        })?;
        Ok((seen, deleted))
    }
}
