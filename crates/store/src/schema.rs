//! SQLite schema and its migrations.
//!
//! `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`; each runs in its own
//! transaction together with the `user_version` bump, so a crash mid-migration leaves the
//! previous version intact. Never edit a migration that has shipped: add a new one.

use rusqlite::Connection;

use crate::{Error, Result, format};

/// Migration scripts, oldest first. The length of this list is [`format::CURRENT`].
pub const MIGRATIONS: &[&str] = &[
    // 0 → 1: the first schema.
    r#"
    CREATE TABLE domains (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE accounts (
        id             INTEGER PRIMARY KEY,
        address        TEXT NOT NULL,
        domain_id      INTEGER NOT NULL REFERENCES domains(id),
        password_hash  TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        deleted_at     INTEGER
    );
    -- A deleted account keeps its rows (and mail) for retention; its address may be reused.
    CREATE UNIQUE INDEX accounts_live_address ON accounts(address) WHERE deleted_at IS NULL;
    CREATE TABLE aliases (
        id          INTEGER PRIMARY KEY,
        source      TEXT NOT NULL UNIQUE,       -- 'sales@example.org' or catch-all '@example.org'
        account_id  INTEGER NOT NULL REFERENCES accounts(id),
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE mailboxes (
        id             INTEGER PRIMARY KEY,
        account_id     INTEGER NOT NULL REFERENCES accounts(id),
        name           TEXT NOT NULL,
        special_use    TEXT,
        uidvalidity    INTEGER NOT NULL,
        uidnext        INTEGER NOT NULL DEFAULT 1,
        highestmodseq  INTEGER NOT NULL DEFAULT 1,
        subscribed     INTEGER NOT NULL DEFAULT 1,
        UNIQUE (account_id, name)
    );
    CREATE TABLE blobs (
        hash     BLOB PRIMARY KEY,               -- SHA-256 of the stored bytes
        segment  INTEGER NOT NULL,               -- 0: the bytes are in `data`
        offset   INTEGER NOT NULL,               -- of the first data byte in the segment
        length   INTEGER NOT NULL,
        data     BLOB                            -- small bodies, inline
    );
    CREATE INDEX blobs_by_segment ON blobs(segment, offset);
    CREATE TABLE messages (
        id             INTEGER PRIMARY KEY,
        mailbox_id     INTEGER NOT NULL REFERENCES mailboxes(id),
        uid            INTEGER NOT NULL,
        modseq         INTEGER NOT NULL,
        flags          TEXT NOT NULL DEFAULT '',  -- space-separated, e.g. '\Seen $Label1'
        blob_hash      BLOB NOT NULL REFERENCES blobs(hash),
        size           INTEGER NOT NULL,
        internal_date  INTEGER NOT NULL,          -- unix seconds
        delivery_id    TEXT,                      -- the id given in '250 … queued as <id>'
        expunged_at    INTEGER,
        UNIQUE (mailbox_id, uid)
    );
    CREATE INDEX messages_by_blob ON messages(blob_hash);
    "#,
    // 1 → 2: mailboxes can be deleted (IMAP DELETE) without losing the record of what they
    // held: the row stays with `deleted_at`, its name becomes free for a new mailbox.
    r#"
    CREATE TABLE mailboxes_new (
        id             INTEGER PRIMARY KEY,
        account_id     INTEGER NOT NULL REFERENCES accounts(id),
        name           TEXT NOT NULL,
        special_use    TEXT,
        uidvalidity    INTEGER NOT NULL,
        uidnext        INTEGER NOT NULL DEFAULT 1,
        highestmodseq  INTEGER NOT NULL DEFAULT 1,
        subscribed     INTEGER NOT NULL DEFAULT 1,
        deleted_at     INTEGER
    );
    INSERT INTO mailboxes_new (id, account_id, name, special_use, uidvalidity, uidnext,
                               highestmodseq, subscribed)
        SELECT id, account_id, name, special_use, uidvalidity, uidnext, highestmodseq, subscribed
        FROM mailboxes;
    DROP TABLE mailboxes;
    ALTER TABLE mailboxes_new RENAME TO mailboxes;
    CREATE UNIQUE INDEX mailboxes_live_name ON mailboxes(account_id, name) WHERE deleted_at IS NULL;
    CREATE INDEX messages_live ON messages(mailbox_id, uid) WHERE expunged_at IS NULL;
    -- "Is this body already in this mailbox?" (idempotent import) must not scan the mailbox.
    DROP INDEX messages_by_blob;
    CREATE INDEX messages_by_blob ON messages(blob_hash, mailbox_id);
    "#,
    // 2 → 3: the outbound queue. A row per submitted message and one per remote recipient;
    // rows are kept after the last attempt as the record of what was sent or bounced.
    r#"
    CREATE TABLE outbound (
        id          INTEGER PRIMARY KEY,
        queue_id    TEXT NOT NULL UNIQUE,          -- the id in '250 … queued as <id>'
        account_id  INTEGER REFERENCES accounts(id),
        sender      TEXT NOT NULL,                 -- envelope MAIL FROM; '' for a DSN
        blob_hash   BLOB NOT NULL REFERENCES blobs(hash),
        size        INTEGER NOT NULL,
        smtputf8    INTEGER NOT NULL DEFAULT 0,
        body_8bit   INTEGER NOT NULL DEFAULT 0,
        requiretls  INTEGER NOT NULL DEFAULT 0,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE outbound_rcpts (
        id            INTEGER PRIMARY KEY,
        outbound_id   INTEGER NOT NULL REFERENCES outbound(id),
        address       TEXT NOT NULL,
        domain        TEXT NOT NULL,
        state         TEXT NOT NULL DEFAULT 'queued',  -- queued | sent | failed | dropped
        attempts      INTEGER NOT NULL DEFAULT 0,
        next_attempt  INTEGER NOT NULL,                -- unix seconds
        claimed_until INTEGER,                         -- a worker has it until then
        last_error    TEXT,
        warned        INTEGER NOT NULL DEFAULT 0,      -- a delay warning went out
        finished_at   INTEGER
    );
    CREATE INDEX outbound_due ON outbound_rcpts(next_attempt) WHERE state = 'queued';
    CREATE INDEX outbound_rcpts_by_message ON outbound_rcpts(outbound_id);
    "#,
    // 3 → 4: the journal (DESIGN §4). Leaves with the Merkle nodes they complete, signed
    // checkpoints, and per-message secrets for the leaves' commitments. Messages, accounts,
    // domains and aliases that exist already are journaled by `journal_existing`.
    r#"
    ALTER TABLE blobs ADD COLUMN secret BLOB;     -- NULL once purged (crypto-shredding)
    CREATE TABLE journal (
        idx         INTEGER PRIMARY KEY,          -- 0-based leaf index
        leaf        BLOB NOT NULL,                -- mailkeep-journal's canonical encoding
        kind        INTEGER NOT NULL,             -- copies of leaf fields, for queries
        time        INTEGER NOT NULL,
        mailbox_id  INTEGER,
        uid         INTEGER
    );
    CREATE INDEX journal_by_entry ON journal(mailbox_id, uid) WHERE mailbox_id IS NOT NULL;
    CREATE TABLE journal_nodes (                  -- hashes of complete subtrees, level 0 = leaves
        level  INTEGER NOT NULL,
        idx    INTEGER NOT NULL,
        hash   BLOB NOT NULL,
        PRIMARY KEY (level, idx)
    ) WITHOUT ROWID;
    CREATE TABLE checkpoints (
        size  INTEGER PRIMARY KEY,
        root  BLOB NOT NULL,
        time  INTEGER NOT NULL,
        note  TEXT NOT NULL                      -- the signed note
    );
    "#,
    // 4 → 5: legal holds, and purged bodies (bytes and secret gone, the record kept).
    r#"
    CREATE TABLE holds (
        id           INTEGER PRIMARY KEY,
        account_id   INTEGER REFERENCES accounts(id),   -- NULL: every account
        query        TEXT NOT NULL DEFAULT '',          -- discovery query; '' = everything
        reason       TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        created_by   TEXT NOT NULL,
        released_at  INTEGER,
        released_by  TEXT
    );
    ALTER TABLE blobs ADD COLUMN purged_at INTEGER;
    "#,
    // 5 → 6: IMAP4rev1 \Recent: the highest UID some session has already been told is
    // recent. Messages that arrived before this version count as seen.
    r#"
    ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 0;
    UPDATE mailboxes SET recent_uid = uidnext - 1;
    "#,
    // 6 → 7: purged bodies found without reading the whole table (whose rows hold the bytes
    // of small bodies): the full-text index asks on every pass.
    r#"
    CREATE INDEX blobs_purged ON blobs(purged_at) WHERE purged_at IS NOT NULL;
    "#,
    // 7 → 8: app passwords: generated, one per device, revocable, limited to IMAP or SMTP.
    r#"
    CREATE TABLE app_passwords (
        id          INTEGER PRIMARY KEY,
        account_id  INTEGER NOT NULL REFERENCES accounts(id),
        name        TEXT NOT NULL,
        hash        BLOB NOT NULL,                 -- SHA-256: the secret is 100 random bits
        scope       TEXT NOT NULL,                 -- 'imap', 'smtp' or 'imap smtp'
        created_at  INTEGER NOT NULL,
        revoked_at  INTEGER
    );
    CREATE UNIQUE INDEX app_passwords_live ON app_passwords(account_id, name)
        WHERE revoked_at IS NULL;
    "#,
    // 8 → 9: fewer pages written per delivery. Journal nodes move to `journal_tree`, kept in
    // append order (`move_journal_nodes`); inline bodies, which have no segment place, leave
    // the segment index.
    r#"
    DROP INDEX blobs_by_segment;
    CREATE INDEX blobs_by_segment ON blobs(segment, offset) WHERE segment != 0;
    "#,
    // 9 → 10: failed logins, so that the password-guessing throttle survives a restart and
    // an administrator can list and clear it (`mailkeep throttle`); domains can be deleted.
    r#"
    CREATE TABLE auth_failures (
        id        INTEGER PRIMARY KEY,
        at        INTEGER NOT NULL,              -- Unix seconds
        ip        TEXT NOT NULL,                 -- the throttle's key: an IPv4 address or a /64
        name      TEXT NOT NULL,                 -- the login name, normalised as throttled
        protocol  TEXT NOT NULL
    );
    CREATE INDEX auth_failures_by_ip ON auth_failures(ip, at);
    CREATE INDEX auth_failures_by_name ON auth_failures(name, at);
    CREATE INDEX auth_failures_by_time ON auth_failures(at);
    -- Deleted domains keep their row: accounts (deleted ones too, whose mail retention
    -- keeps) still refer to it.
    ALTER TABLE domains ADD COLUMN deleted_at INTEGER;
    "#,
    // 10 → 11: one spelling per domain. Earlier versions stored an IDN as typed (U-labels,
    // any case, a trailing dot); `canonical_domain_names` rewrites each to A-labels.
    // Messages by mod-sequence, so that a session reads only what changed since it looked.
    // What IMAP FETCH and SEARCH need from a body (header section, ENVELOPE, BODYSTRUCTURE),
    // computed once per body; filled in as bodies arrive and, for older ones, in the
    // background. A purge deletes a body's record with its bytes.
    r#"
    CREATE INDEX messages_by_modseq ON messages(mailbox_id, modseq);
    CREATE TABLE parsed (
        blob_hash  BLOB PRIMARY KEY,
        data       BLOB NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 11 → 12: the change feed (`change_ops`): one row per write, mailbox and kind of change,
    // in commit order, so that sessions, the CLI's changes and later other nodes are
    // followed by position instead of by comparing every mailbox's MODSEQ. AUTOINCREMENT: a
    // position is never used twice, also after pruning emptied the table.
    r#"
    CREATE TABLE changes (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id  INTEGER NOT NULL,
        mailbox_id  INTEGER NOT NULL,           -- 0 for account changes
        modseq      INTEGER NOT NULL,           -- the mailbox's highest MODSEQ after the write
        kind        INTEGER NOT NULL,           -- change_ops::What
        uids        TEXT NOT NULL,              -- an IMAP sequence set of UIDs
        name        TEXT NOT NULL,              -- mailbox name (new name of a rename)
        old         TEXT NOT NULL               -- former name of a rename
    );
    "#,
    // 12 → 13: protection state that outlives the process (and, on PostgreSQL, is shared by
    // every node): submissions per account for the hourly limit, and the MTA-STS policies
    // seen, which protect later deliveries against a downgrade.
    r#"
    CREATE TABLE submissions (
        account_id  INTEGER NOT NULL,
        at          INTEGER NOT NULL
    );
    CREATE INDEX submissions_by_account ON submissions(account_id, at);
    CREATE INDEX submissions_by_time ON submissions(at);
    CREATE TABLE sts_policies (
        domain      TEXT PRIMARY KEY,
        id          TEXT NOT NULL,
        text        TEXT NOT NULL,
        expires_at  INTEGER NOT NULL
    );
    "#,
];

/// The Merkle tree's complete-subtree hashes, level 0 being the leaf hashes, keyed by
/// [`crate::journal_ops::tree_position`]. Created by the migration that first journals.
const JOURNAL_TREE: &str = "
    CREATE TABLE IF NOT EXISTS journal_tree (
        pos   INTEGER PRIMARY KEY,
        hash  BLOB NOT NULL
    );";

/// Migration 8 → 9: copies the nodes keyed (level, index) into `journal_tree`.
fn move_journal_nodes(tx: &Connection) -> Result<()> {
    let exists: bool = tx.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'journal_nodes'",
        [],
        |r| r.get(0),
    )?;
    if exists {
        let mut read = tx.prepare("SELECT level, idx, hash FROM journal_nodes")?;
        let mut write = tx.prepare("INSERT INTO journal_tree (pos, hash) VALUES (?1, ?2)")?;
        let mut rows = read.query([])?;
        while let Some(r) = rows.next()? {
            let (level, idx, hash): (u32, u64, Vec<u8>) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let pos =
                crate::journal_ops::tree_position(level, idx).ok_or_else(|| Error::Corrupt {
                    hash: format!("journal node {level}/{idx}"),
                    reason: "outside any tree the journal can hold".into(),
                })?;
            write.execute(rusqlite::params![pos, hash])?;
        }
        drop(rows);
        tx.execute_batch("DROP TABLE journal_nodes")?;
    }
    Ok(())
}

/// Applies the connection settings the durability contract depends on.
pub fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(64);
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Conflict(format!(
            "SQLite refused WAL mode (got {mode})"
        )));
    }
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
    Ok(())
}

/// Reads the schema version of an open database.
pub fn version(conn: &Connection) -> Result<u32> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Migrates `conn` to [`format::CURRENT`]; returns the version it started from.
pub fn migrate(conn: &mut Connection) -> Result<u32> {
    migrate_to(conn, format::CURRENT)
}

fn migrate_to(conn: &mut Connection, target: u32) -> Result<u32> {
    let start = version(conn)?;
    if start > format::CURRENT {
        return Err(Error::TooNew {
            found: start,
            supported: format::CURRENT,
        });
    }
    // Rebuilding a table that others reference needs foreign keys off (SQLite's documented
    // procedure); the check before each commit makes sure nothing was left dangling.
    conn.pragma_update(None, "foreign_keys", false)?;
    let result = (|| {
        let steps = MIGRATIONS.iter().enumerate().take(target as usize);
        for (from, script) in steps.skip(start as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(script)?;
            if from == 3 {
                // Journaling what exists appends nodes, in today's layout.
                tx.execute_batch(JOURNAL_TREE)?;
                crate::journal_ops::journal_existing(&tx)?;
            }
            if from == 8 {
                tx.execute_batch(JOURNAL_TREE)?;
                move_journal_nodes(&tx)?;
            }
            if from == 10 {
                canonical_domain_names(&tx)?;
            }
            let dangling: i64 =
                tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                    r.get(0)
                })?;
            if dangling > 0 {
                return Err(Error::Conflict(format!(
                    "migration {from} → {} left {dangling} dangling references; not applied",
                    from + 1
                )));
            }
            tx.pragma_update(None, "user_version", (from + 1) as u32)?;
            tx.commit()?;
            if start == 0 {
                // A new store passes through every step; one line at the end says so.
                tracing::debug!(from, to = from + 1, "created store schema step");
            } else {
                tracing::info!(from, to = from + 1, "migrated store schema");
            }
        }
        if start == 0 && target > 0 {
            tracing::debug!(version = target, "created store schema");
        }
        Ok(())
    })();
    conn.pragma_update(None, "foreign_keys", true)?;
    result.map(|()| start)
}

/// The stored form of a domain name: A-labels, lower case, no trailing dot. `None` if the
/// name is not a valid IDN (it is then left as it is, for an administrator to look at).
fn canonical_domain(name: &str) -> Option<String> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    idna::domain_to_ascii(trimmed)
        .ok()
        .filter(|a| !a.is_empty())
}

/// Rewrites domain names stored in another spelling, with the addresses of their accounts
/// and aliases. Two rows that are one domain spelled twice cannot be merged blindly: the
/// migration stops and says which.
fn canonical_domain_names(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let domains: Vec<(i64, String)> = tx
        .prepare("SELECT id, name FROM domains ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, name) in &domains {
        let Some(canon) = canonical_domain(name).filter(|c| c != name) else {
            if canonical_domain(name).is_none() {
                tracing::warn!(domain = %name, "stored domain name is not a valid IDN; left as it is");
            }
            continue;
        };
        if let Some((_, twin)) = domains
            .iter()
            .find(|(other, n)| other != id && canonical_domain(n).as_deref() == Some(&canon))
        {
            return Err(Error::Conflict(format!(
                "domains {name:?} and {twin:?} are both {canon}: delete one \
                 (mailkeep domain del) with an older mailkeep, then upgrade"
            )));
        }
        let rename = |addr: &str| match addr.rsplit_once('@') {
            Some((local, _)) => format!("{local}@{canon}"),
            None => addr.to_owned(),
        };
        let accounts: Vec<(i64, String)> = tx
            .prepare("SELECT id, address FROM accounts WHERE domain_id = ?1")?
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (account, address) in accounts {
            tx.execute(
                "UPDATE accounts SET address = ?1 WHERE id = ?2",
                rusqlite::params![rename(&address), account],
            )?;
        }
        let aliases: Vec<(i64, String)> = tx
            .prepare("SELECT id, source FROM aliases")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (alias, source) in aliases {
            let here = source
                .rsplit_once('@')
                .is_some_and(|(_, d)| d.eq_ignore_ascii_case(name));
            if here {
                tx.execute(
                    "UPDATE aliases SET source = ?1 WHERE id = ?2",
                    rusqlite::params![rename(&source), alias],
                )?;
            }
        }
        tx.execute(
            "UPDATE domains SET name = ?1 WHERE id = ?2",
            rusqlite::params![canon, id],
        )?;
        tracing::info!(from = %name, to = %canon, "stored domain name rewritten to its canonical form");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_match_format_version() {
        assert_eq!(MIGRATIONS.len() as u32, format::CURRENT);
    }

    #[test]
    fn migrate_is_idempotent() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut c).unwrap(), 0);
        assert_eq!(migrate(&mut c).unwrap(), format::CURRENT);
        assert_eq!(version(&c).unwrap(), format::CURRENT);
    }

    #[test]
    fn journal_nodes_keep_their_hashes_in_the_append_ordered_table() {
        use mailkeep_journal::merkle::{self, Nodes};
        let mut c = Connection::open_in_memory().unwrap();
        migrate_to(&mut c, 8).unwrap();
        // As format 8 left it: nodes keyed (level, index), no journal_tree.
        c.execute_batch("DROP TABLE journal_tree").unwrap();
        let hashes: Vec<[u8; 32]> = (0..45u8).map(|i| merkle::leaf_hash(&[i])).collect();
        let tree = merkle::InMemory::new(hashes.clone());
        let mut old = Vec::new();
        for level in 0..7u32 {
            for idx in 0.. {
                let Some(h) = tree.node(level, idx) else {
                    break;
                };
                c.execute(
                    "INSERT INTO journal_nodes (level, idx, hash) VALUES (?1, ?2, ?3)",
                    rusqlite::params![level, idx, &h[..]],
                )
                .unwrap();
                old.push((level, idx, h));
            }
        }
        assert_eq!(migrate(&mut c).unwrap(), 8);
        let nodes = crate::journal_ops::DbNodes(&c);
        for (level, idx, h) in old {
            assert_eq!(nodes.node(level, idx), Some(h), "node {level}/{idx}");
        }
        for size in 1..=45 {
            assert_eq!(merkle::root(&nodes, size), merkle::root(&tree, size));
        }
        let gone: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'journal_nodes'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(gone, 0);
    }

    fn format_10_with(domains: &[&str]) -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        migrate_to(&mut c, 10).unwrap();
        for (i, d) in domains.iter().enumerate() {
            let id = i as i64 + 1;
            c.execute(
                "INSERT INTO domains (id, name, created_at) VALUES (?1, ?2, 0)",
                rusqlite::params![id, d],
            )
            .unwrap();
            c.execute(
                "INSERT INTO accounts (id, address, domain_id, password_hash, created_at)
                 VALUES (?1, ?2, ?1, 'x', 0)",
                rusqlite::params![id, format!("alice@{d}")],
            )
            .unwrap();
            c.execute(
                "INSERT INTO aliases (source, account_id, created_at) VALUES (?1, ?2, 0), (?3, ?2, 0)",
                rusqlite::params![format!("sales@{d}"), id, format!("@{d}")],
            )
            .unwrap();
        }
        c
    }

    fn column(c: &Connection, sql: &str) -> Vec<String> {
        let mut st = c.prepare(sql).unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn domains_stored_in_unicode_are_rewritten_to_a_labels() {
        let mut c = format_10_with(&["B\u{fc}cher.Example.", "example.org"]);
        assert_eq!(migrate(&mut c).unwrap(), 10);
        assert_eq!(
            column(&c, "SELECT name FROM domains ORDER BY id"),
            ["xn--bcher-kva.example", "example.org"]
        );
        assert_eq!(
            column(&c, "SELECT address FROM accounts ORDER BY id"),
            ["alice@xn--bcher-kva.example", "alice@example.org"]
        );
        assert_eq!(
            column(&c, "SELECT source FROM aliases ORDER BY id"),
            [
                "sales@xn--bcher-kva.example",
                "@xn--bcher-kva.example",
                "sales@example.org",
                "@example.org"
            ]
        );
    }

    #[test]
    fn one_domain_stored_in_two_spellings_stops_the_migration() {
        let mut c = format_10_with(&["b\u{fc}cher.example", "xn--bcher-kva.example"]);
        let err = migrate(&mut c).unwrap_err().to_string();
        assert!(err.contains("are both xn--bcher-kva.example"), "{err}");
        assert_eq!(version(&c).unwrap(), 10);
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", format::CURRENT + 1)
            .unwrap();
        assert!(matches!(migrate(&mut c), Err(Error::TooNew { .. })));
    }
}
