//! The administrator's view of the server, for the CLI today and a web console later. Each
//! report is a type that serializes with serde, so that `--json` output and a future HTTP API
//! carry the same data under the same names; times are RFC 3339 strings.
//!
//! Changes go through [`crate::accounts`] (users, domains, aliases, app passwords) and the
//! seam's own operations (queue, holds); this module adds what the CLI used to assemble
//! itself: the reports, and a domain's DKIM keys.

use std::path::Path;

use serde::Serialize;

use crate::store::journal::ActorKind;
use crate::store::{self, Backend};
use crate::time::rfc3339;

/// What an admin operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The request names something that does not exist, or is malformed.
    #[error("{0}")]
    Invalid(String),
    /// An account operation failed.
    #[error(transparent)]
    Account(#[from] crate::accounts::AccountError),
    /// Writing a key failed.
    #[error("{context}: {cause}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        cause: std::io::Error,
    },
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// The address.
    pub address: String,
    /// When the account was made.
    pub created: String,
}

/// Every live user.
pub fn users(store: &dyn Backend) -> Result<Vec<User>, AdminError> {
    Ok(store
        .accounts()?
        .into_iter()
        .map(|a| User {
            address: a.address,
            created: rfc3339(a.created_at),
        })
        .collect())
}

/// A mail domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Domain {
    /// Its name (A-labels).
    pub name: String,
}

/// Every domain.
pub fn domains(store: &dyn Backend) -> Result<Vec<Domain>, AdminError> {
    Ok(store
        .domains()?
        .into_iter()
        .map(|d| Domain { name: d.name })
        .collect())
}

/// Adds a domain and makes its DKIM keys (Ed25519 and RSA) in `keys_dir` unless they exist;
/// returns the domain's canonical name.
pub fn add_domain(
    store: &dyn Backend,
    keys_dir: &Path,
    name: &str,
    now: i64,
) -> Result<String, AdminError> {
    let d = crate::accounts::add_domain(store, name, now)?;
    dkim_keys(keys_dir, &d)?;
    Ok(d)
}

/// Makes a domain's DKIM keys unless they exist, written durably and readable by the owner
/// only.
pub fn dkim_keys(keys_dir: &Path, domain: &str) -> Result<(), AdminError> {
    for (file, alg) in [
        (format!("dkim-{domain}-ed25519.pem"), &rcgen::PKCS_ED25519),
        (format!("dkim-{domain}-rsa.pem"), &rcgen::PKCS_RSA_SHA256),
    ] {
        let path = keys_dir.join(&file);
        if path.exists() {
            continue;
        }
        let key = rcgen::KeyPair::generate_for(alg)
            .map_err(|e| AdminError::Invalid(format!("generating the DKIM key {file}: {e}")))?;
        crate::private::write_durable(&path, key.serialize_pem().as_bytes(), 0o600).map_err(
            |cause| AdminError::Io {
                context: format!("writing {}", path.display()),
                cause,
            },
        )?;
    }
    Ok(())
}

/// An alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alias {
    /// The address (or `@domain` catch-all) mail arrives for.
    pub source: String,
    /// The account it goes to.
    pub target: String,
}

/// Every alias.
pub fn aliases(store: &dyn Backend) -> Result<Vec<Alias>, AdminError> {
    Ok(store
        .aliases()?
        .into_iter()
        .map(|a| Alias {
            source: a.source,
            target: a.target,
        })
        .collect())
}

/// An app password (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppPassword {
    /// The device or purpose.
    pub name: String,
    /// `imap`, `smtp` or both.
    pub scope: String,
    /// When it was made.
    pub created: String,
}

/// The live app passwords of the account at `address`.
pub fn app_passwords(store: &dyn Backend, address: &str) -> Result<Vec<AppPassword>, AdminError> {
    let a = crate::address::Address::parse(address)
        .map_err(|e| AdminError::Invalid(e.to_string()))?
        .to_string();
    let acc = store
        .account(&a)?
        .ok_or_else(|| AdminError::Invalid(format!("no such user: {a}")))?;
    Ok(store
        .app_passwords(acc.id)?
        .into_iter()
        .map(|p| AppPassword {
            name: p.name,
            scope: p.scope,
            created: rfc3339(p.created_at),
        })
        .collect())
}

/// One recipient of a queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueRecipient {
    /// The address.
    pub address: String,
    /// `queued`, `sent`, `failed` or `dropped`.
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// The next attempt, while queued.
    pub next_attempt: Option<String>,
    /// The last reply or error.
    pub last_error: Option<String>,
}

/// A message in the outbound queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queued {
    /// Its queue id.
    pub queue_id: String,
    /// The envelope sender.
    pub sender: String,
    /// Bytes.
    pub size: u64,
    /// When it was queued.
    pub created: String,
    /// Every recipient.
    pub recipients: Vec<QueueRecipient>,
}

impl From<store::QueueEntry> for Queued {
    fn from(e: store::QueueEntry) -> Queued {
        Queued {
            queue_id: e.queue_id,
            sender: e.sender,
            size: e.size,
            created: rfc3339(e.created_at),
            recipients: e
                .recipients
                .into_iter()
                .map(|r| QueueRecipient {
                    next_attempt: (r.state == "queued").then(|| rfc3339(r.next_attempt)),
                    address: r.address,
                    state: r.state,
                    attempts: r.attempts,
                    last_error: r.last_error,
                })
                .collect(),
        }
    }
}

/// The queue: entries with recipients still waiting, or every entry with `all`.
pub fn queue(store: &dyn Backend, all: bool) -> Result<Vec<Queued>, AdminError> {
    Ok(store
        .queue_list(all)?
        .into_iter()
        .map(Queued::from)
        .collect())
}

/// A legal hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    /// Its id.
    pub id: i64,
    /// The account it covers; `None`: every account.
    pub account: Option<String>,
    /// The discovery query narrowing it; empty for everything.
    pub query: String,
    /// Why.
    pub reason: String,
    /// When it was set.
    pub created: String,
    /// By whom.
    pub created_by: String,
    /// When it was released, if it was.
    pub released: Option<String>,
}

/// Every hold, released ones included.
pub fn holds(store: &dyn Backend) -> Result<Vec<Hold>, AdminError> {
    Ok(store
        .holds()?
        .into_iter()
        .map(|h| Hold {
            id: h.id,
            account: h.account,
            query: h.query,
            reason: h.reason,
            created: rfc3339(h.created_at),
            created_by: h.created_by,
            released: h.released_at.map(rfc3339),
        })
        .collect())
}

/// An address or login name with failed logins in the throttle's window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Throttled {
    /// `address` or `name`.
    pub kind: String,
    /// The address (an IPv4 address or an IPv6 /64) or the normalised login name.
    pub key: String,
    /// Failures in the window.
    pub failures: u64,
    /// How many the throttle allows.
    pub limit: u64,
    /// Minutes until logins are allowed again, when they are refused now.
    pub refused_minutes: Option<i64>,
}

/// The failed logins the throttle counts now: per address, then per login name.
pub fn throttled(
    store: &dyn Backend,
    limits: &crate::config::Auth,
    now: i64,
) -> Result<Vec<Throttled>, AdminError> {
    use std::collections::BTreeMap;
    let window = i64::try_from(limits.window_secs).unwrap_or(i64::MAX);
    let failures = store.auth_failures(now.saturating_sub(window), None, None)?;
    let mut out = Vec::new();
    type Key = fn(&store::AuthFailure) -> &str;
    let groups: [(&str, u64, Key); 2] = [
        ("address", u64::from(limits.max_failures_per_ip), |f| &f.ip),
        ("name", u64::from(limits.max_failures_per_account), |f| {
            &f.name
        }),
    ];
    for (kind, limit, key) in groups {
        let mut by: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for f in &failures {
            by.entry(key(f)).or_default().push(f.at);
        }
        for (k, times) in by {
            let oldest = times.iter().copied().min().unwrap_or(now);
            let n = times.len() as u64;
            out.push(Throttled {
                kind: kind.to_owned(),
                key: k.to_owned(),
                failures: n,
                limit,
                refused_minutes: (n >= limit).then(|| ((oldest + window - now).max(0) + 59) / 60),
            });
        }
    }
    Ok(out)
}

/// One journaled event, as `mailkeep audit` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// Its leaf in the journal.
    pub leaf: u64,
    /// When.
    pub time: String,
    /// What happened (`delivered`, `expunged`, `login`, …).
    pub kind: String,
    /// `system`, `account`, `admin` or `peer`.
    pub actor_kind: String,
    /// Who.
    pub actor: String,
    /// From where.
    pub origin: String,
    /// The account it is about.
    pub account: String,
    /// The mailbox.
    pub mailbox: String,
    /// The message's UID there.
    pub uid: u32,
    /// The envelope sender of a message.
    pub mail_from: String,
    /// Its envelope recipients.
    pub recipients: Vec<String>,
    /// Anything else.
    pub detail: String,
}

/// The journal's events at or after `since`, about or by `account` when given. An account
/// that neither exists nor appears in any event is an error: an empty answer would read as
/// "nothing happened".
pub fn audit(
    store: &dyn Backend,
    account: Option<&str>,
    since: Option<i64>,
) -> Result<Vec<AuditEvent>, AdminError> {
    let events = store.journal_events()?;
    let about = |e: &store::journal::Event, a: &str| {
        e.account.eq_ignore_ascii_case(a) || e.actor.eq_ignore_ascii_case(a)
    };
    if let Some(a) = account
        && store.account(a)?.is_none()
        && !events.iter().any(|(_, e)| about(e, a))
    {
        return Err(AdminError::Invalid(format!(
            "no such account: {a} (no user of that name, and no journal event names it)"
        )));
    }
    Ok(events
        .into_iter()
        .filter(|(_, e)| since.is_none_or(|t| e.time >= t))
        .filter(|(_, e)| account.is_none_or(|a| about(e, a)))
        .map(|(leaf, e)| AuditEvent {
            leaf,
            time: rfc3339(e.time),
            kind: e.kind.map_or("?", |k| k.name()).to_owned(),
            actor_kind: match e.actor_kind {
                Some(ActorKind::System) | None => "system",
                Some(ActorKind::Account) => "account",
                Some(ActorKind::Admin) => "admin",
                Some(ActorKind::Peer) => "peer",
            }
            .to_owned(),
            actor: e.actor,
            origin: e.origin,
            account: e.account,
            mailbox: e.mailbox,
            uid: e.uid,
            mail_from: e.mail_from,
            recipients: e.recipients,
            detail: e.detail,
        })
        .collect())
}

/// A message discovery found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// Its account.
    pub account: String,
    /// Its mailbox.
    pub mailbox: String,
    /// Its UID there.
    pub uid: u32,
    /// When it arrived.
    pub received: String,
    /// From, as read.
    pub from: String,
    /// Subject, as read.
    pub subject: String,
    /// SHA-256 of its bytes (hex).
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// It was expunged.
    pub deleted: bool,
    /// When.
    pub deleted_at: Option<String>,
    /// By whom.
    pub deleted_by: Option<String>,
    /// The journal leaf that placed it.
    pub leaf: Option<u64>,
    /// It could not be parsed and was matched on raw text.
    pub unparsed: bool,
}

impl From<&crate::discover::Hit> for Found {
    fn from(h: &crate::discover::Hit) -> Found {
        let e = &h.entry;
        Found {
            account: e.account.clone(),
            mailbox: e.mailbox.clone(),
            uid: e.uid,
            received: rfc3339(e.internal_date),
            from: h.from.clone(),
            subject: h.subject.clone(),
            sha256: hex::encode(e.blob),
            size: e.size,
            deleted: h.deleted.is_some(),
            deleted_at: h.deleted.as_ref().map(|(t, _)| rfc3339(*t)),
            deleted_by: h.deleted.as_ref().map(|(_, w)| w.clone()),
            leaf: h.leaf,
            unparsed: h.unparsed,
        }
    }
}

/// A signed checkpoint of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// Leaves it covers.
    pub size: u64,
    /// The tree head (hex).
    pub root: String,
    /// When it was made.
    pub time: String,
    /// The signed note, as outsiders keep it.
    pub note: String,
}

impl From<store::StoredCheckpoint> for Checkpoint {
    fn from(cp: store::StoredCheckpoint) -> Checkpoint {
        Checkpoint {
            size: cp.size,
            root: hex::encode(cp.root),
            time: rfc3339(cp.time),
            note: cp.note,
        }
    }
}

/// Writes a signed checkpoint of the journal now, grown or not.
pub fn checkpoint(
    store: &dyn Backend,
    signer: std::sync::Arc<store::journal::checkpoint::Signer>,
    hostname: &str,
) -> Result<Checkpoint, AdminError> {
    crate::journal::checkpoint(store, signer, hostname, true)?
        .map(Checkpoint::from)
        .ok_or_else(|| AdminError::Invalid("no checkpoint was written".into()))
}

/// The inclusion proof of a message's newest journal record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proof {
    /// The leaf's index.
    pub leaf_index: u64,
    /// The leaf bytes (hex).
    pub leaf: String,
    /// The audit path, leaf to root (hex).
    pub path: Vec<String>,
    /// The checkpoint it proves against.
    pub checkpoint: Checkpoint,
}

impl Proof {
    /// Text for people and scripts.
    pub fn render(&self) -> String {
        let mut s = format!(
            "leaf index: {}\nleaf: {}\ntree size: {}\ninclusion proof:\n",
            self.leaf_index, self.leaf, self.checkpoint.size
        );
        for h in &self.path {
            s.push_str(&format!("  {h}\n"));
        }
        s.push_str("checkpoint:\n");
        s.push_str(&self.checkpoint.note);
        s
    }
}

/// Proves that `account`'s message `uid` in `mailbox` is recorded in the journal.
pub fn prove(
    store: &dyn Backend,
    signer: std::sync::Arc<store::journal::checkpoint::Signer>,
    hostname: &str,
    account: &str,
    mailbox: &str,
    uid: u32,
) -> Result<Proof, AdminError> {
    let acc = store
        .account(account)?
        .ok_or_else(|| AdminError::Invalid(format!("no such user: {account}")))?;
    let mb = store
        .mailbox(acc.id, mailbox)?
        .ok_or_else(|| AdminError::Invalid(format!("{account} has no mailbox {mailbox}")))?;
    let p = crate::journal::prove(store, signer, hostname, mb.id, uid)?.ok_or_else(|| {
        AdminError::Invalid(format!("no journal record of UID {uid} in {mailbox}"))
    })?;
    Ok(Proof {
        leaf_index: p.index,
        leaf: hex::encode(&p.leaf),
        path: p.path.iter().map(hex::encode).collect(),
        checkpoint: p.checkpoint.into(),
    })
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exported {
    /// The export directory.
    pub directory: String,
    /// Messages in it.
    pub messages: usize,
    /// Of those, expunged ones.
    pub deleted: usize,
    /// The signed checkpoint every proof in `manifest.json` is against.
    pub checkpoint: String,
}

impl Exported {
    /// Summarises `manifest`, written into `directory`.
    pub fn new(directory: &Path, manifest: &crate::discover::Manifest) -> Exported {
        Exported {
            directory: directory.display().to_string(),
            messages: manifest.messages.len(),
            deleted: manifest
                .messages
                .iter()
                .filter(|m| m.deleted.is_some())
                .count(),
            checkpoint: manifest.checkpoint.clone(),
        }
    }
}

/// What checking an export found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportCheck {
    /// Messages checked.
    pub messages: usize,
    /// Every problem, one sentence each; empty when the export is whole and genuine.
    pub problems: Vec<String>,
}

/// Checks an export bundle against the journal key `pubkey` (as `journal pubkey` prints it);
/// needs no data directory, so an outside party can run it.
pub fn verify_export(bundle: &Path, pubkey: &str) -> ExportCheck {
    let (messages, problems) = crate::discover::verify_export(bundle, pubkey);
    ExportCheck { messages, problems }
}
