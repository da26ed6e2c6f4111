//! The PostgreSQL schema and its migrations, versioned like the embedded format: a node
//! migrates a database up to what it knows, and refuses one newer than that without writing.
//!
//! Times are Unix seconds (`bigint`), hashes and secrets `bytea`, UIDs `bigint` (they are
//! unsigned 32-bit). A message body lives in `blobs.data`, or in an S3 object store under
//! `blobs.object_key` when one is configured.

use mailkeep_store_api::{Error, Result};
use postgres::Client;

use crate::conn::Q;

/// Migrations, oldest first; `MIGRATIONS.len()` is the schema version this build knows.
pub const MIGRATIONS: &[&str] = &[
    // 0 → 1: everything the embedded schema has reached (its format 12), in one step.
    r#"
    CREATE TABLE domains (
        id          bigserial PRIMARY KEY,
        name        text NOT NULL UNIQUE,
        created_at  bigint NOT NULL,
        deleted_at  bigint
    );
    CREATE TABLE accounts (
        id             bigserial PRIMARY KEY,
        address        text NOT NULL,
        domain_id      bigint NOT NULL REFERENCES domains(id),
        password_hash  text NOT NULL,
        created_at     bigint NOT NULL,
        deleted_at     bigint
    );
    CREATE UNIQUE INDEX accounts_live_address ON accounts(address) WHERE deleted_at IS NULL;
    CREATE TABLE aliases (
        id          bigserial PRIMARY KEY,
        source      text NOT NULL UNIQUE,
        account_id  bigint NOT NULL REFERENCES accounts(id),
        created_at  bigint NOT NULL
    );
    CREATE TABLE app_passwords (
        id          bigserial PRIMARY KEY,
        account_id  bigint NOT NULL REFERENCES accounts(id),
        name        text NOT NULL,
        hash        bytea NOT NULL,
        scope       text NOT NULL,
        created_at  bigint NOT NULL,
        revoked_at  bigint
    );
    CREATE UNIQUE INDEX app_passwords_live ON app_passwords(account_id, name)
        WHERE revoked_at IS NULL;
    -- Bumped by every change of domains, accounts or aliases: the directory stamp.
    CREATE TABLE directory_version (
        one      boolean PRIMARY KEY DEFAULT true CHECK (one),
        version  bigint NOT NULL
    );
    INSERT INTO directory_version VALUES (true, 0);
    CREATE TABLE mailboxes (
        id             bigserial PRIMARY KEY,
        account_id     bigint NOT NULL REFERENCES accounts(id),
        name           text NOT NULL,
        special_use    text,
        uidvalidity    bigint NOT NULL,
        uidnext        bigint NOT NULL DEFAULT 1,
        highestmodseq  bigint NOT NULL DEFAULT 1,
        subscribed     boolean NOT NULL DEFAULT true,
        recent_uid     bigint NOT NULL DEFAULT 0,
        deleted_at     bigint
    );
    CREATE UNIQUE INDEX mailboxes_live_name ON mailboxes(account_id, name) WHERE deleted_at IS NULL;
    -- `seq` orders bodies as first stored (the full-text index follows it); rows stay when a
    -- purge drops the bytes and the secret.
    CREATE TABLE blobs (
        hash       bytea PRIMARY KEY,
        seq        bigserial UNIQUE,
        length     bigint NOT NULL,
        data       bytea,
        secret     bytea,
        purged_at  bigint
    );
    CREATE INDEX blobs_purged ON blobs(purged_at) WHERE purged_at IS NOT NULL;
    CREATE TABLE parsed (
        blob_hash  bytea PRIMARY KEY REFERENCES blobs(hash),
        data       bytea NOT NULL
    );
    CREATE TABLE messages (
        id             bigserial PRIMARY KEY,
        mailbox_id     bigint NOT NULL REFERENCES mailboxes(id),
        uid            bigint NOT NULL,
        modseq         bigint NOT NULL,
        flags          text NOT NULL DEFAULT '',
        blob_hash      bytea NOT NULL REFERENCES blobs(hash),
        size           bigint NOT NULL,
        internal_date  bigint NOT NULL,
        delivery_id    text,
        expunged_at    bigint,
        UNIQUE (mailbox_id, uid)
    );
    CREATE INDEX messages_live ON messages(mailbox_id, uid) WHERE expunged_at IS NULL;
    CREATE INDEX messages_by_blob ON messages(blob_hash, mailbox_id);
    CREATE INDEX messages_by_modseq ON messages(mailbox_id, modseq);
    CREATE TABLE outbound (
        id          bigserial PRIMARY KEY,
        queue_id    text NOT NULL UNIQUE,
        account_id  bigint REFERENCES accounts(id),
        sender      text NOT NULL,
        blob_hash   bytea NOT NULL REFERENCES blobs(hash),
        size        bigint NOT NULL,
        smtputf8    boolean NOT NULL DEFAULT false,
        body_8bit   boolean NOT NULL DEFAULT false,
        requiretls  boolean NOT NULL DEFAULT false,
        created_at  bigint NOT NULL
    );
    CREATE TABLE outbound_rcpts (
        id             bigserial PRIMARY KEY,
        outbound_id    bigint NOT NULL REFERENCES outbound(id),
        address        text NOT NULL,
        domain         text NOT NULL,
        state          text NOT NULL DEFAULT 'queued',
        attempts       bigint NOT NULL DEFAULT 0,
        next_attempt   bigint NOT NULL,
        claimed_until  bigint,
        last_error     text,
        warned         boolean NOT NULL DEFAULT false,
        finished_at    bigint
    );
    CREATE INDEX outbound_due ON outbound_rcpts(next_attempt) WHERE state = 'queued';
    CREATE INDEX outbound_rcpts_by_message ON outbound_rcpts(outbound_id);
    -- The journal: leaves, the Merkle tree's complete subtrees in append order
    -- (mailkeep_journal::merkle::tree_position), signed checkpoints.
    CREATE TABLE journal (
        idx         bigint PRIMARY KEY,
        leaf        bytea NOT NULL,
        kind        smallint NOT NULL,
        time        bigint NOT NULL,
        mailbox_id  bigint,
        uid         bigint
    );
    CREATE INDEX journal_by_entry ON journal(mailbox_id, uid) WHERE mailbox_id IS NOT NULL;
    CREATE INDEX journal_by_kind ON journal(kind, idx);
    CREATE TABLE journal_tree (
        pos   bigint PRIMARY KEY,
        hash  bytea NOT NULL
    );
    CREATE TABLE checkpoints (
        size  bigint PRIMARY KEY,
        root  bytea NOT NULL,
        time  bigint NOT NULL,
        note  text NOT NULL
    );
    CREATE TABLE holds (
        id           bigserial PRIMARY KEY,
        account_id   bigint REFERENCES accounts(id),
        query        text NOT NULL DEFAULT '',
        reason       text NOT NULL,
        created_at   bigint NOT NULL,
        created_by   text NOT NULL,
        released_at  bigint,
        released_by  text
    );
    CREATE TABLE auth_failures (
        id        bigserial PRIMARY KEY,
        at        bigint NOT NULL,
        ip        text NOT NULL,
        name      text NOT NULL,
        protocol  text NOT NULL
    );
    CREATE INDEX auth_failures_by_ip ON auth_failures(ip, at);
    CREATE INDEX auth_failures_by_name ON auth_failures(name, at);
    CREATE INDEX auth_failures_by_time ON auth_failures(at);
    CREATE TABLE changes (
        seq         bigserial PRIMARY KEY,
        account_id  bigint NOT NULL,
        mailbox_id  bigint NOT NULL,
        modseq      bigint NOT NULL,
        kind        smallint NOT NULL,
        uids        text NOT NULL,
        name        text NOT NULL,
        old         text NOT NULL
    );
    "#,
    // 1 → 2: protection state every node shares (the embedded format 13): submissions per
    // account for the hourly limit, and the MTA-STS policies seen.
    r#"
    CREATE TABLE submissions (
        account_id  bigint NOT NULL,
        at          bigint NOT NULL
    );
    CREATE INDEX submissions_by_account ON submissions(account_id, at);
    CREATE INDEX submissions_by_time ON submissions(at);
    CREATE TABLE sts_policies (
        domain      text PRIMARY KEY,
        id          text NOT NULL,
        text        text NOT NULL,
        expires_at  bigint NOT NULL
    );
    "#,
    // 2 → 3: bodies in an object store; the key of the object that holds a body.
    r#"
    ALTER TABLE blobs ADD COLUMN object_key text;
    CREATE UNIQUE INDEX blobs_object_key ON blobs(object_key) WHERE object_key IS NOT NULL;
    "#,
];

/// The schema version this build knows.
pub const CURRENT: u32 = MIGRATIONS.len() as u32;

/// Lock held while migrating, so that nodes starting together migrate once.
const MIGRATE_LOCK: i64 = 0x6d6b_0002;

/// The database's schema version (0: empty).
pub fn version(c: &mut Client) -> Result<u32> {
    let exists: bool = c
        .query_one("SELECT to_regclass('mailkeep_schema') IS NOT NULL", &[])
        .q()?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let v: i32 = c
        .query_one("SELECT version FROM mailkeep_schema", &[])
        .q()?
        .get(0);
    Ok(v as u32)
}

/// Brings the database to [`CURRENT`]; returns the version it found. A newer database is
/// refused before anything is written.
pub fn migrate(c: &mut Client) -> Result<u32> {
    let mut tx = c.transaction().q()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .q()?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS mailkeep_schema (
             one      boolean PRIMARY KEY DEFAULT true CHECK (one),
             version  integer NOT NULL
         );
         INSERT INTO mailkeep_schema VALUES (true, 0) ON CONFLICT DO NOTHING;",
    )
    .q()?;
    let found: i32 = tx
        .query_one("SELECT version FROM mailkeep_schema", &[])
        .q()?
        .get(0);
    let found = found as u32;
    if found > CURRENT {
        return Err(Error::TooNew {
            found,
            supported: CURRENT,
        });
    }
    for script in &MIGRATIONS[found as usize..] {
        tx.batch_execute(script).q()?;
    }
    tx.execute(
        "UPDATE mailkeep_schema SET version = $1",
        &[&(CURRENT as i32)],
    )
    .q()?;
    tx.commit().q()?;
    Ok(found)
}
