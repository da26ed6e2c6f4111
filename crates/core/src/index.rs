//! The full-text index (tantivy) over what every stored body says: header fields, decoded text
//! of every part (HTML reduced to text), attachment names. One document per body, keyed by its
//! hash, so a message delivered to fifty mailboxes is indexed once, and expunging changes
//! nothing here: who holds a body and whether it was deleted are read from the store at query
//! time, which is what keeps deleted mail searchable for discovery. A purge removes the
//! document, so the index never outlives the bytes it was made from.
//!
//! The index follows the store's body feed ([`Bodies::blobs_after`](crate::store::Bodies::blobs_after)) up to a sequence number; a
//! search covers the bodies after it by reading them, so an index that is behind (or being
//! rebuilt, or missing) gives the same answer, only slower. Matching is exact on both paths:
//! text is split into words (runs of letters and digits, lower-cased) by one analyzer, and a
//! search term matches where its words occur in sequence within one field value, its last word
//! as a prefix when it ends in `*`. [`Needle::found_in`] is that rule for a body in hand and
//! [`MailIndex::matching`] the same rule on the index; tests check they agree on the corpus.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mailkeep_imap::parsed::Parsed;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{
    AllQuery, BooleanQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query as IndexQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::tokenizer::{LowerCaser, MAX_TOKEN_LEN, SimpleTokenizer, TextAnalyzer};
use tantivy::{
    DocAddress, DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, Searcher,
    SegmentOrdinal, SegmentReader, TantivyDocument, Term,
};

use crate::discover::Document;
use crate::store::{self, Backend, Hash};

/// Under the data directory.
pub const DIR: &str = "index";
const WORDS: &str = "mk_words";
/// Bumped when the schema or what is put into it changes; an older index is rebuilt.
const VERSION: u32 = 1;
/// Documents between commits while catching up: a crash repeats at most this much work.
const COMMIT_EVERY: u64 = 5_000;
/// Memory tantivy may fill with postings before it writes a segment. It is held for as long
/// as the server runs, next to its budget for messages in flight (issue 13 measures both);
/// 32 MB writes segments of a few thousand messages, which merging keeps few.
const WRITER_ARENA: usize = 32_000_000;

/// What went wrong with the index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// tantivy failed.
    #[error("full-text index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Another process (a running server) holds the index for writing.
    #[error("the full-text index at {0} is being written by another process (a running server?)")]
    Busy(PathBuf),
    /// Cannot be opened as it is; a writer rebuilds it.
    #[error("the full-text index at {0} needs a rebuild: {1}")]
    Stale(PathBuf, String),
}

type Result<T> = std::result::Result<T, IndexError>;

/// The analyzer both the index and [`Needle::found_in`] use.
fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .build()
}

/// The words of `text` with their positions, as the index records them: tantivy drops words
/// longer than `MAX_TOKEN_LEN` but keeps counting positions past them.
fn words(an: &mut TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut stream = an.token_stream(text);
    while stream.advance() {
        let t = stream.token();
        if t.text.len() <= MAX_TOKEN_LEN {
            out.push((t.position, t.text.clone()));
        }
    }
    out
}

/// A search term: words that must occur in sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle {
    /// Lower-cased words.
    pub words: Vec<String>,
    /// The last word matches any word it begins.
    pub prefix: bool,
}

impl Needle {
    /// `text` as words; a trailing `*` makes the last a prefix. `None` without any word.
    pub fn new(text: &str) -> Option<Needle> {
        let (text, prefix) = match text.strip_suffix('*') {
            Some(t) => (t, true),
            None => (text, false),
        };
        Needle::with_prefix(text, prefix)
    }

    /// `text` as words, the last a prefix when `prefix`.
    pub fn with_prefix(text: &str, prefix: bool) -> Option<Needle> {
        let words: Vec<String> = words(&mut analyzer(), text)
            .into_iter()
            .map(|(_, w)| w)
            .collect();
        (!words.is_empty()).then_some(Needle { words, prefix })
    }

    /// Whether the words occur in sequence within one of `values`.
    pub fn found_in<S: AsRef<str>>(&self, values: &[S]) -> bool {
        let mut an = analyzer();
        let n = self.words.len();
        values.iter().any(|v| {
            let w = words(&mut an, v.as_ref());
            (0..w.len()).any(|i| {
                i + n <= w.len()
                    && self.words.iter().enumerate().all(|(k, want)| {
                        let (pos, got) = &w[i + k];
                        let word_ok = if self.prefix && k == n - 1 {
                            got.starts_with(want.as_str())
                        } else {
                            got == want
                        };
                        *pos == w[i].0 + k && word_ok
                    })
            })
        })
    }
}

/// Which part of a message a needle is looked for in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Every header field, `Name: value`.
    Headers,
    /// Decoded text of the text and HTML parts (the raw text when unparsable).
    Body,
    /// Attachment file names.
    Attachment,
    /// From: names and addresses.
    From,
    /// To:
    To,
    /// Cc:
    Cc,
    /// Subject:
    Subject,
}

impl Part {
    /// This part's values in a document.
    pub fn values(self, d: &Document) -> &[String] {
        match self {
            Part::Headers => &d.headers,
            Part::Body => &d.body,
            Part::Attachment => &d.attachments,
            Part::From => std::slice::from_ref(&d.from),
            Part::To => std::slice::from_ref(&d.to),
            Part::Cc => std::slice::from_ref(&d.cc),
            Part::Subject => std::slice::from_ref(&d.subject),
        }
    }
}

/// A condition on content, built from needles; both paths evaluate the same tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// The needle occurs in the part.
    In(Part, Needle),
    /// The body could not be parsed as MIME.
    Unparsed,
    /// It names at least one attachment.
    HasAttachment,
    /// Every one holds.
    All(Vec<Cond>),
    /// At least one holds.
    Any(Vec<Cond>),
}

impl Cond {
    /// Evaluates on a document in hand.
    pub fn holds(&self, d: &Document) -> bool {
        match self {
            Cond::In(p, n) => n.found_in(p.values(d)),
            Cond::Unparsed => d.unparsed,
            Cond::HasAttachment => !d.attachments.is_empty(),
            Cond::All(c) => c.iter().all(|c| c.holds(d)),
            Cond::Any(c) => c.iter().any(|c| c.holds(d)),
        }
    }
}

#[derive(Clone)]
struct Fields {
    blob: Field,
    seq: Field,
    hash: [Field; 4],
    headers: Field,
    body: Field,
    attachment: Field,
    from: Field,
    to: Field,
    cc: Field,
    subject: Field,
    unparsed: Field,
    has_attachment: Field,
    unreadable: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS)
            .set_fieldnorms(false)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let shown = text.clone() | STORED;
    let f = Fields {
        blob: b.add_text_field("blob", STRING),
        seq: b.add_u64_field("seq", FAST),
        hash: ["h0", "h1", "h2", "h3"].map(|n| b.add_u64_field(n, FAST)),
        headers: b.add_text_field("headers", text.clone()),
        body: b.add_text_field("body", text.clone()),
        attachment: b.add_text_field("attachment", text.clone()),
        from: b.add_text_field("from", shown.clone()),
        to: b.add_text_field("to", text.clone()),
        cc: b.add_text_field("cc", text),
        subject: b.add_text_field("subject", shown),
        unparsed: b.add_u64_field("unparsed", INDEXED),
        has_attachment: b.add_u64_field("has_attachment", INDEXED),
        unreadable: b.add_u64_field("unreadable", INDEXED),
    };
    (b.build(), f)
}

/// Where the index stands, kept in each commit.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Payload {
    version: u32,
    /// Every body up to this sequence number is indexed.
    seq: u64,
    /// The hash at `seq`, to notice a store whose sequence numbers changed.
    hash: String,
    /// Purged bodies seen, to notice new purges.
    purged: u64,
}

/// A body the index matched.
#[derive(Debug, Clone, Copy)]
pub struct Matched {
    /// Its sequence number in the store's feed.
    pub seq: u64,
    at: DocAddress,
}

/// The index as of one moment: what it matched, and the sequence number it covers.
pub struct Snapshot {
    searcher: Searcher,
    /// Every body with a sequence number up to this one is in the index (or purged).
    pub seq: u64,
}

/// The index, for searching; cheap to clone.
#[derive(Clone)]
pub struct MailIndex {
    index: Index,
    reader: IndexReader,
    f: Fields,
    path: PathBuf,
}

fn hash_parts(h: &Hash) -> [u64; 4] {
    std::array::from_fn(|i| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[i * 8..i * 8 + 8]);
        u64::from_be_bytes(b)
    })
}

fn hash_join(p: [u64; 4]) -> Hash {
    let mut h = [0u8; 32];
    for (i, v) in p.iter().enumerate() {
        h[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
    }
    h
}

/// Collects every matching body's hash.
struct Bodies {
    fields: [String; 4],
}

struct BodiesInSegment {
    ord: SegmentOrdinal,
    cols: Vec<tantivy::columnar::Column<u64>>,
    seq: tantivy::columnar::Column<u64>,
    out: Vec<(Hash, Matched)>,
}

impl Collector for Bodies {
    type Fruit = Vec<(Hash, Matched)>;
    type Child = BodiesInSegment;

    fn for_segment(&self, ord: SegmentOrdinal, r: &SegmentReader) -> tantivy::Result<Self::Child> {
        let ff = r.fast_fields();
        Ok(BodiesInSegment {
            ord,
            cols: self
                .fields
                .iter()
                .map(|n| ff.u64(n))
                .collect::<tantivy::Result<_>>()?,
            seq: ff.u64("seq")?,
            out: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(Hash, Matched)>>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for BodiesInSegment {
    type Fruit = Vec<(Hash, Matched)>;

    fn collect(&mut self, doc: DocId, _: Score) {
        let part = |i: usize| self.cols[i].first(doc).unwrap_or_default();
        let h = hash_join([part(0), part(1), part(2), part(3)]);
        self.out.push((
            h,
            Matched {
                seq: self.seq.first(doc).unwrap_or_default(),
                at: DocAddress::new(self.ord, doc),
            },
        ));
    }

    fn harvest(self) -> Self::Fruit {
        self.out
    }
}

impl MailIndex {
    /// Opens the index under `data_dir`, creating an empty one where there is none.
    pub fn open(data_dir: &Path) -> Result<MailIndex> {
        let path = data_dir.join(DIR);
        let (schema, f) = schema();
        let stale = |why: String| IndexError::Stale(data_dir.join(DIR), why);
        let index = if path.join("meta.json").exists() {
            let index = Index::open_in_dir(&path).map_err(|e| stale(e.to_string()))?;
            if index.schema() != schema {
                return Err(stale("made by another version".into()));
            }
            index
        } else {
            std::fs::create_dir_all(&path).map_err(|e| stale(e.to_string()))?;
            Index::create_in_dir(&path, schema)?
        };
        index.tokenizers().register(WORDS, analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let me = MailIndex {
            index,
            reader,
            f,
            path,
        };
        let p = me.payload()?;
        if p.version != VERSION {
            return Err(stale(format!(
                "format {} (this binary: {VERSION})",
                p.version
            )));
        }
        Ok(me)
    }

    fn payload(&self) -> Result<Payload> {
        let metas = self.index.load_metas()?;
        Ok(match metas.payload {
            Some(text) => serde_json::from_str(&text).unwrap_or_default(),
            None => Payload {
                version: VERSION,
                ..Payload::default()
            },
        })
    }

    /// The index as last committed.
    pub fn snapshot(&self) -> Result<Snapshot> {
        self.reader.reload()?;
        let searcher = self.reader.searcher();
        let mut seq = 0;
        for s in searcher.segment_readers() {
            if s.num_docs() > 0 {
                seq = seq.max(s.fast_fields().u64("seq")?.max_value());
            }
        }
        Ok(Snapshot { searcher, seq })
    }

    /// The index as last committed, and the bodies stored after it: what a search must read
    /// and match itself (searches stay exact while the index catches up).
    pub fn snapshot_with_gap(
        &self,
        store: &dyn Backend,
    ) -> Result<(Snapshot, std::collections::HashSet<Hash>)> {
        let snap = self.snapshot()?;
        let gap = store
            .blobs_after(snap.seq, usize::MAX)?
            .into_iter()
            .map(|b| b.hash)
            .collect();
        Ok((snap, gap))
    }

    fn needle_query(&self, s: &Snapshot, field: Field, n: &Needle) -> Result<Box<dyn IndexQuery>> {
        let terms: Vec<Term> = n
            .words
            .iter()
            .map(|w| Term::from_field_text(field, w))
            .collect();
        if n.prefix {
            let mut q = PhrasePrefixQuery::new(terms);
            {
                // tantivy stops after `max_expansions` words with the prefix (50 unless
                // told); count them so that none is left out.
                let last = n.words.last().map(String::as_bytes).unwrap_or_default();
                let mut most = 1u32;
                for r in s.searcher.segment_readers() {
                    let inv = r.inverted_index(field)?;
                    let mut stream = inv
                        .terms()
                        .range()
                        .ge(last)
                        .into_stream()
                        .map_err(tantivy::TantivyError::from)?;
                    let mut count = 0u32;
                    while stream.advance() && stream.key().starts_with(last) {
                        count += 1;
                    }
                    most = most.max(count);
                }
                q.set_max_expansions(most);
            }
            return Ok(Box::new(q));
        }
        Ok(match terms.len() {
            1 => Box::new(TermQuery::new(
                terms.into_iter().next().expect("one term"),
                IndexRecordOption::Basic,
            )),
            _ => Box::new(PhraseQuery::new(terms)),
        })
    }

    fn flag(&self, field: Field) -> Box<dyn IndexQuery> {
        Box::new(TermQuery::new(
            Term::from_field_u64(field, 1),
            IndexRecordOption::Basic,
        ))
    }

    fn query(&self, s: &Snapshot, c: &Cond) -> Result<Box<dyn IndexQuery>> {
        let each = |cs: &[Cond], occur: Occur| -> Result<Box<dyn IndexQuery>> {
            let qs = cs
                .iter()
                .map(|c| Ok((occur, self.query(s, c)?)))
                .collect::<Result<Vec<_>>>()?;
            Ok(Box::new(BooleanQuery::new(qs)))
        };
        Ok(match c {
            Cond::In(p, n) => {
                let field = match p {
                    Part::Headers => self.f.headers,
                    Part::Body => self.f.body,
                    Part::Attachment => self.f.attachment,
                    Part::From => self.f.from,
                    Part::To => self.f.to,
                    Part::Cc => self.f.cc,
                    Part::Subject => self.f.subject,
                };
                self.needle_query(s, field, n)?
            }
            Cond::Unparsed => self.flag(self.f.unparsed),
            Cond::HasAttachment => self.flag(self.f.has_attachment),
            Cond::All(cs) => each(cs, Occur::Must)?,
            Cond::Any(cs) => each(cs, Occur::Should)?,
        })
    }

    /// Every indexed body for which `c` holds (every body for `None`), by hash.
    pub fn matching(&self, s: &Snapshot, c: Option<&Cond>) -> Result<HashMap<Hash, Matched>> {
        let q: Box<dyn IndexQuery> = match c {
            Some(c) => self.query(s, c)?,
            None => Box::new(AllQuery),
        };
        self.collect(s, q.as_ref())
    }

    fn collect(&self, s: &Snapshot, q: &dyn IndexQuery) -> Result<HashMap<Hash, Matched>> {
        let bodies = Bodies {
            fields: ["h0", "h1", "h2", "h3"].map(String::from),
        };
        Ok(s.searcher.search(q, &bodies)?.into_iter().collect())
    }

    /// Indexed bodies that could not be read when they were indexed.
    pub fn unreadable(&self, s: &Snapshot) -> Result<HashMap<Hash, Matched>> {
        self.collect(s, self.flag(self.f.unreadable).as_ref())
    }

    /// Subject and From of a matched body, as stored for display.
    pub fn shown(&self, s: &Snapshot, m: &Matched) -> Result<(String, String)> {
        let d: TantivyDocument = s.searcher.doc(m.at)?;
        let text = |f: Field| {
            d.get_first(f)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        Ok((text(self.f.subject), text(self.f.from)))
    }

    /// Bytes the index takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        std::fs::read_dir(&self.path)
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

/// Progress of a catch-up: told bodies done and bodies to do, it answers whether to go on
/// (`false` commits what is done and stops).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64) -> bool;

/// The one writer of the index (a lock file keeps out a second process).
pub struct Indexer {
    index: MailIndex,
    writer: IndexWriter<TantivyDocument>,
}

impl Indexer {
    /// Opens the index for writing; one that cannot be used as it is gets rebuilt from empty.
    pub fn open(data_dir: &Path) -> Result<Indexer> {
        let index = match MailIndex::open(data_dir) {
            Ok(i) => i,
            Err(IndexError::Stale(path, why)) => {
                // Only when no one writes it: a running server holds the writer's lock.
                if let Ok(i) = Index::open_in_dir(&path)
                    && let Err(tantivy::TantivyError::LockFailure(..)) =
                        i.writer_with_num_threads::<TantivyDocument>(1, 15_000_000)
                {
                    return Err(IndexError::Busy(path));
                }
                tracing::warn!(index = %path.display(), %why, "rebuilding the full-text index");
                std::fs::remove_dir_all(&path)
                    .map_err(|e| IndexError::Stale(path.clone(), e.to_string()))?;
                MailIndex::open(data_dir)?
            }
            Err(e) => return Err(e),
        };
        let writer = match index.index.writer_with_num_threads(1, WRITER_ARENA) {
            Ok(w) => w,
            Err(tantivy::TantivyError::LockFailure(..)) => {
                return Err(IndexError::Busy(index.path.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Indexer { index, writer })
    }

    /// The index this writer keeps, for searching.
    pub fn index(&self) -> &MailIndex {
        &self.index
    }

    fn document(&self, seq: u64, hash: &Hash, d: Option<&Document>) -> TantivyDocument {
        let f = &self.index.f;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.blob, hex::encode(hash));
        doc.add_u64(f.seq, seq);
        for (field, part) in f.hash.iter().zip(hash_parts(hash)) {
            doc.add_u64(*field, part);
        }
        let Some(d) = d else {
            doc.add_u64(f.unreadable, 1);
            return doc;
        };
        for (field, values) in [
            (f.headers, &d.headers),
            (f.body, &d.body),
            (f.attachment, &d.attachments),
        ] {
            for v in values {
                doc.add_text(field, v);
            }
        }
        for (field, v) in [
            (f.from, &d.from),
            (f.to, &d.to),
            (f.cc, &d.cc),
            (f.subject, &d.subject),
        ] {
            doc.add_text(field, v);
        }
        doc.add_u64(f.unparsed, u64::from(d.unparsed));
        doc.add_u64(f.has_attachment, u64::from(!d.attachments.is_empty()));
        doc
    }

    fn commit(&mut self, p: &Payload) -> Result<()> {
        let mut c = self.writer.prepare_commit()?;
        c.set_payload(&serde_json::to_string(p).unwrap_or_default());
        c.commit()?;
        Ok(())
    }

    /// The sequence number everything up to which is indexed (as last committed).
    pub fn indexed_up_to(&self) -> Result<u64> {
        Ok(self.index.payload()?.seq)
    }

    /// Empties the index (the next catch-up indexes everything again).
    pub fn clear(&mut self) -> Result<()> {
        self.writer.delete_all_documents()?;
        self.commit(&Payload {
            version: VERSION,
            ..Payload::default()
        })
    }

    /// Indexes every body stored since the last catch-up, forgets purged ones, and retries
    /// those that could not be read before. Returns how many bodies were indexed.
    pub fn catch_up(&mut self, store: &dyn Backend, progress: Progress<'_>) -> Result<u64> {
        self.catch_up_within(store, progress, &mut |_| ())
    }

    /// [`Indexer::catch_up`], calling `admit` with the size of the bodies it reads together
    /// before reading them and holding what it returns until they are indexed: a server
    /// counts those bytes in its budget for message bytes in memory.
    pub fn catch_up_within<G>(
        &mut self,
        store: &dyn Backend,
        progress: Progress<'_>,
        admit: &mut dyn FnMut(u64) -> G,
    ) -> Result<u64> {
        let mut p = self.index.payload()?;
        let mut dirty = false;
        if p.seq > 0 && store.blob_at(p.seq)?.map(hex::encode) != Some(p.hash.clone()) {
            tracing::warn!("the store's bodies were renumbered (a restored copy?); reindexing");
            self.writer.delete_all_documents()?;
            p = Payload {
                version: VERSION,
                ..Payload::default()
            };
            dirty = true;
        }
        let snap = self.index.snapshot()?;
        for (hash, m) in self.index.unreadable(&snap)? {
            if let Ok(raw) = store.read_blob(&hash) {
                let d = crate::discover::document(&raw);
                self.writer
                    .delete_term(Term::from_field_text(self.index.f.blob, &hex::encode(hash)));
                self.writer
                    .add_document(self.document(m.seq, &hash, Some(&d)))?;
                dirty = true;
            }
        }
        let purged = store.purged_count()?;
        if purged != p.purged {
            for hash in store.purged_blobs()? {
                self.writer
                    .delete_term(Term::from_field_text(self.index.f.blob, &hex::encode(hash)));
            }
            p.purged = purged;
            dirty = true;
        }
        let total = store.blobs_count_after(p.seq)?;
        let (mut done, mut since_commit) = (0u64, 0u64);
        loop {
            let batch = store.blobs_after(p.seq, 512)?;
            if batch.is_empty() {
                break;
            }
            // Read once for both: the index and what IMAP FETCH/SEARCH need (parsed record).
            let mut parsed = Vec::new();
            for (b, read) in read_in_runs(store, &batch, admit) {
                let doc = match read {
                    Ok(raw) => {
                        parsed.push((b.hash, Parsed::of(&raw).encode()));
                        let d = crate::discover::document(&raw);
                        Some(self.document(b.seq, &b.hash, Some(&d)))
                    }
                    // Gone: nothing to index.
                    Err(store::Error::Purged { .. }) => None,
                    Err(e) => {
                        tracing::warn!(blob = %hex::encode(b.hash), error = %e, "cannot index a body");
                        Some(self.document(b.seq, &b.hash, None))
                    }
                };
                if let Some(doc) = doc {
                    self.writer.add_document(doc)?;
                }
                p.seq = b.seq;
                p.hash = hex::encode(b.hash);
                done += 1;
                since_commit += 1;
            }
            store.put_parsed(parsed)?;
            dirty = true;
            if since_commit >= COMMIT_EVERY {
                self.commit(&p)?;
                since_commit = 0;
                dirty = false;
            }
            if !progress(done, total.max(done)) {
                break;
            }
        }
        if dirty {
            self.commit(&p)?;
        }
        Ok(done)
    }
}

/// Gives bodies stored before parsed records existed (or whose record was lost) theirs,
/// from sequence number `from` on, a batch at a time while `more` says so; returns the
/// sequence number reached. `admit` is called as for [`Indexer::catch_up_within`].
pub fn fill_parsed<G>(
    store: &dyn Backend,
    from: u64,
    more: &mut dyn FnMut() -> bool,
    admit: &mut dyn FnMut(u64) -> G,
) -> Result<u64> {
    let mut seq = from;
    while more() {
        let batch = store.unparsed_blobs(seq, 256)?;
        let Some(last) = batch.last() else {
            break;
        };
        seq = last.seq;
        let mut records = Vec::with_capacity(batch.len());
        for (b, read) in read_in_runs(store, &batch, admit) {
            match read {
                Ok(raw) => records.push((b.hash, Parsed::of(&raw).encode())),
                Err(e) => tracing::debug!(blob = %hex::encode(b.hash), error = %e, "not parsed"),
            }
        }
        store.put_parsed(records)?;
    }
    Ok(seq)
}

/// Bodies read together: enough to hide an object store's latency per read, few enough
/// that they fit in memory at once.
const READ_TOGETHER: usize = 16;
/// The most bytes read together (a larger body is read alone).
const READ_TOGETHER_BYTES: u64 = 8 << 20;

/// Reads the bodies of `batch` in runs of [`READ_TOGETHER`] (each run one call to
/// [`Bodies::read_blobs`](crate::store::Bodies::read_blobs), admitted as a whole so that no
/// run waits for budget while holding some), yielding each body in order. What `admit`
/// returned for a run is dropped once its last body has been handled.
fn read_in_runs<'a, G>(
    store: &'a dyn Backend,
    batch: &'a [store::FedBlob],
    admit: &'a mut dyn FnMut(u64) -> G,
) -> impl Iterator<Item = (&'a store::FedBlob, store::Result<Vec<u8>>)> + 'a {
    let mut rest = batch;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (mut n, mut bytes) = (0, 0u64);
        while n < rest.len()
            && n < READ_TOGETHER
            && (n == 0 || bytes + rest[n].length <= READ_TOGETHER_BYTES)
        {
            bytes += rest[n].length;
            n += 1;
        }
        let (run, after) = rest.split_at(n);
        rest = after;
        let held = admit(bytes);
        let hashes: Vec<Hash> = run.iter().map(|b| b.hash).collect();
        let reads = store.read_blobs(&hashes);
        // The run's permit lives as long as its iterator.
        Some(run.iter().zip(reads).inspect(move |_| {
            let _ = &held;
        }))
    })
    .flatten()
}
