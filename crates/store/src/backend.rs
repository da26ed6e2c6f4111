//! The embedded backend behind the seam: each area trait of `mailkeep-store-api`, answered
//! by the [`Store`] method of the same name.

use std::collections::HashMap;
use std::sync::Arc;

use mailkeep_journal::{Event, Kind};
use mailkeep_store_api::{
    Backend, Bodies, Changes, Directory, Done, Holds, Journal, Mailboxes, Queue, Signer, Throttle,
};

use crate::model::*;
use crate::{Result, Store};

impl Directory for Store {
    fn directory_stamp(&self) -> Vec<u8> {
        Store::directory_stamp(self)
    }

    fn add_domain(&self, name: &str, now: i64) -> Result<()> {
        Store::add_domain(self, name, now)
    }

    fn domains(&self) -> Result<Vec<Domain>> {
        Store::domains(self)
    }

    fn delete_domain(&self, name: &str, force: bool, now: i64) -> Result<DomainDeleted> {
        Store::delete_domain(self, name, force, now)
    }

    fn has_domain(&self, name: &str) -> Result<bool> {
        Store::has_domain(self, name)
    }

    fn add_account(
        &self,
        address: &str,
        domain: &str,
        password_hash: &str,
        now: i64,
        uidvalidity: u32,
    ) -> Result<i64> {
        Store::add_account(self, address, domain, password_hash, now, uidvalidity)
    }

    fn set_password(&self, address: &str, password_hash: &str) -> Result<()> {
        Store::set_password(self, address, password_hash)
    }

    fn delete_account(&self, address: &str, now: i64) -> Result<()> {
        Store::delete_account(self, address, now)
    }

    fn account(&self, address: &str) -> Result<Option<Account>> {
        Store::account(self, address)
    }

    fn accounts(&self) -> Result<Vec<Account>> {
        Store::accounts(self)
    }

    fn add_alias(&self, source: &str, source_domain: &str, target: &str, now: i64) -> Result<()> {
        Store::add_alias(self, source, source_domain, target, now)
    }

    fn delete_alias(&self, source: &str) -> Result<String> {
        Store::delete_alias(self, source)
    }

    fn alias_target(&self, source: &str) -> Result<Option<String>> {
        Store::alias_target(self, source)
    }

    fn lookup_recipient(&self, domain: &str, candidates: &[String]) -> Result<Lookup> {
        Store::lookup_recipient(self, domain, candidates)
    }

    fn aliases(&self) -> Result<Vec<Alias>> {
        Store::aliases(self)
    }

    fn add_app_password(
        &self,
        address: &str,
        name: &str,
        hash: Vec<u8>,
        scope: &str,
        now: i64,
    ) -> Result<()> {
        Store::add_app_password(self, address, name, hash, scope, now)
    }

    fn app_passwords(&self, account_id: i64) -> Result<Vec<AppPassword>> {
        Store::app_passwords(self, account_id)
    }

    fn revoke_app_password(&self, address: &str, name: &str, now: i64) -> Result<()> {
        Store::revoke_app_password(self, address, name, now)
    }
}

impl Mailboxes for Store {
    fn mailboxes(&self, account_id: i64) -> Result<Vec<Mailbox>> {
        Store::mailboxes(self, account_id)
    }

    fn mailbox(&self, account_id: i64, name: &str) -> Result<Option<Mailbox>> {
        Store::mailbox(self, account_id, name)
    }

    fn messages(&self, mailbox_id: i64) -> Result<Vec<MessageEntry>> {
        Store::messages(self, mailbox_id)
    }

    fn mailbox_changes(&self, mailbox_id: i64, since: u64) -> Result<MailboxChanges> {
        Store::mailbox_changes(self, mailbox_id, since)
    }

    fn expunged_since(&self, mailbox_id: i64, modseq: u64) -> Result<Vec<u32>> {
        Store::expunged_since(self, mailbox_id, modseq)
    }

    fn create_mailbox(&self, account_id: i64, name: &str, uidvalidity: u32) -> Result<()> {
        Store::create_mailbox(self, account_id, name, uidvalidity)
    }

    fn delete_mailbox(&self, account_id: i64, name: &str, now: i64) -> Result<()> {
        Store::delete_mailbox(self, account_id, name, now)
    }

    fn rename_mailbox(
        &self,
        account_id: i64,
        from: &str,
        to: &str,
        uidvalidity: u32,
        now: i64,
    ) -> Result<()> {
        Store::rename_mailbox(self, account_id, from, to, uidvalidity, now)
    }

    fn set_subscribed(&self, account_id: i64, name: &str, subscribed: bool) -> Result<()> {
        Store::set_subscribed(self, account_id, name, subscribed)
    }

    fn store_flags(
        &self,
        mailbox_id: i64,
        uids: Vec<u32>,
        mode: FlagMode,
        flags: Vec<String>,
        unchanged_since: Option<u64>,
    ) -> Result<(Vec<FlagChange>, Vec<u32>)> {
        Store::store_flags(self, mailbox_id, uids, mode, flags, unchanged_since)
    }

    fn add_flags(
        &self,
        mailbox_id: i64,
        uids: Vec<u32>,
        flags: Vec<String>,
    ) -> Result<Vec<(u32, u64)>> {
        Store::add_flags(self, mailbox_id, uids, flags)
    }

    fn expunge(&self, mailbox_id: i64, only: Option<Vec<u32>>, now: i64) -> Result<Vec<u32>> {
        Store::expunge(self, mailbox_id, only, now)
    }

    fn append(
        &self,
        account_id: i64,
        mailbox: &str,
        bytes: Vec<u8>,
        flags: Vec<String>,
        internal_date: i64,
    ) -> Result<Copied> {
        Store::append(self, account_id, mailbox, bytes, flags, internal_date)
    }

    fn append_if_absent_then(
        &self,
        account_id: i64,
        mailbox: &str,
        bytes: Vec<u8>,
        flags: Vec<String>,
        internal_date: i64,
        done: Done<Option<u32>>,
    ) {
        Store::append_if_absent_then(self, account_id, mailbox, bytes, flags, internal_date, done)
    }

    fn copy_messages(
        &self,
        account_id: i64,
        from_mailbox_id: i64,
        uids: Vec<u32>,
        to: &str,
        expunge_source: bool,
        now: i64,
    ) -> Result<Copied> {
        Store::copy_messages(
            self,
            account_id,
            from_mailbox_id,
            uids,
            to,
            expunge_source,
            now,
        )
    }

    fn account_usage(&self, account_id: i64) -> Result<u64> {
        Store::account_usage(self, account_id)
    }

    fn claim_recent(&self, mailbox_id: i64, upto: u32) -> Result<u32> {
        Store::claim_recent(self, mailbox_id, upto)
    }

    fn recent_mark(&self, mailbox_id: i64) -> Result<u32> {
        Store::recent_mark(self, mailbox_id)
    }

    fn deliver(
        &self,
        bytes: Vec<u8>,
        targets: Vec<Target>,
        internal_date: i64,
        delivery_id: &str,
    ) -> Result<Vec<Placed>> {
        Store::deliver(self, bytes, targets, internal_date, delivery_id)
    }

    fn deliver_then(
        &self,
        bytes: Vec<u8>,
        targets: Vec<Target>,
        internal_date: i64,
        delivery_id: &str,
        done: Done<Vec<Placed>>,
    ) {
        Store::deliver_then(self, bytes, targets, internal_date, delivery_id, done)
    }
}

impl Bodies for Store {
    fn read_blob(&self, hash: &Hash) -> Result<Vec<u8>> {
        Store::read_blob(self, hash)
    }

    fn blobs_after(&self, seq: u64, limit: usize) -> Result<Vec<FedBlob>> {
        Store::blobs_after(self, seq, limit)
    }

    fn unparsed_blobs(&self, seq: u64, limit: usize) -> Result<Vec<FedBlob>> {
        Store::unparsed_blobs(self, seq, limit)
    }

    fn parsed(&self, hashes: &[Hash]) -> Result<HashMap<Hash, Vec<u8>>> {
        Store::parsed(self, hashes)
    }

    fn put_parsed(&self, records: Vec<(Hash, Vec<u8>)>) -> Result<()> {
        Store::put_parsed(self, records)
    }

    fn blobs_count_after(&self, seq: u64) -> Result<u64> {
        Store::blobs_count_after(self, seq)
    }

    fn last_blob_seq(&self) -> Result<u64> {
        Store::last_blob_seq(self)
    }

    fn blob_at(&self, seq: u64) -> Result<Option<Hash>> {
        Store::blob_at(self, seq)
    }

    fn purged_blobs(&self) -> Result<Vec<Hash>> {
        Store::purged_blobs(self)
    }

    fn purged_count(&self) -> Result<u64> {
        Store::purged_count(self)
    }
}

impl Journal for Store {
    fn journal_size(&self) -> Result<u64> {
        Store::journal_size(self)
    }

    fn journal_root(&self, size: u64) -> Result<Hash> {
        Store::journal_root(self, size)
    }

    fn journal_inclusion(&self, idx: u64, size: u64) -> Result<Vec<Hash>> {
        Store::journal_inclusion(self, idx, size)
    }

    fn journal_leaves(&self, from: u64, to: u64) -> Result<Vec<StoredLeaf>> {
        Store::journal_leaves(self, from, to)
    }

    fn journal_leaves_of(&self, mailbox_id: i64, uid: u32) -> Result<Vec<u64>> {
        Store::journal_leaves_of(self, mailbox_id, uid)
    }

    fn message_secret(&self, blob: &Hash) -> Result<Option<[u8; 32]>> {
        Store::message_secret(self, blob)
    }

    fn for_each_live_blob(&self, f: &mut dyn FnMut(Hash, Option<[u8; 32]>)) -> Result<()> {
        Store::for_each_live_blob(self, f)
    }

    fn checkpoint(&self, force: bool, sign: Signer) -> Result<Option<StoredCheckpoint>> {
        Store::checkpoint(self, force, sign)
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        Store::checkpoints(self)
    }

    fn all_entries(&self) -> Result<Vec<EntryRecord>> {
        Store::all_entries(self)
    }

    fn entries(&self, filter: &EntryFilter) -> Result<Vec<EntryRecord>> {
        Store::entries(self, filter)
    }

    fn entry_events(&self, mailbox_id: i64, uid: u32) -> Result<Vec<(u64, Event)>> {
        Store::entry_events(self, mailbox_id, uid)
    }

    fn audit(&self, account: &str, detail: &str) -> Result<()> {
        Store::audit(self, account, detail)
    }

    fn journal_events(&self) -> Result<Vec<(u64, Event)>> {
        Store::journal_events(self)
    }

    fn last_event_of(&self, kind: Kind) -> Result<Option<Event>> {
        Store::last_event_of(self, kind)
    }

    fn note_retention(&self, policy: &str) -> Result<bool> {
        Store::note_retention(self, policy)
    }
}

impl Queue for Store {
    #[allow(clippy::too_many_arguments)]
    fn accept_then(
        &self,
        bytes: Vec<u8>,
        targets: Vec<Target>,
        outbound: Option<NewOutbound>,
        envelope: (String, Vec<String>),
        now: i64,
        delivery_id: &str,
        done: Done<Vec<Placed>>,
    ) {
        Store::accept_then(
            self,
            bytes,
            targets,
            outbound,
            envelope,
            now,
            delivery_id,
            done,
        )
    }

    fn queue_claim(&self, now: i64, lease: i64, limit: usize) -> Result<Vec<Claimed>> {
        Store::queue_claim(self, now, lease, limit)
    }

    fn queue_claim_domain(
        &self,
        domain: &str,
        tried: &[i64],
        due_by: i64,
        now: i64,
        lease: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>> {
        Store::queue_claim_domain(self, domain, tried, due_by, now, lease, limit)
    }

    fn queue_record(&self, outcomes: Vec<(i64, Outcome)>, now: i64) -> Result<()> {
        Store::queue_record(self, outcomes, now)
    }

    fn queue_list(&self, all: bool) -> Result<Vec<QueueEntry>> {
        Store::queue_list(self, all)
    }

    fn queue_entry(&self, queue_id: &str) -> Result<Option<QueueEntry>> {
        Store::queue_entry(self, queue_id)
    }

    fn queue_retry(&self, queue_id: &str, now: i64) -> Result<usize> {
        Store::queue_retry(self, queue_id, now)
    }

    fn queue_drop(&self, queue_id: &str, now: i64) -> Result<usize> {
        Store::queue_drop(self, queue_id, now)
    }

    fn queue_release_claims(&self) -> Result<usize> {
        Store::queue_release_claims(self)
    }

    fn queue_next_due(&self) -> Result<Option<i64>> {
        Store::queue_next_due(self)
    }
}

impl Holds for Store {
    fn add_hold(&self, account: Option<&str>, query: &str, reason: &str) -> Result<i64> {
        Store::add_hold(self, account, query, reason)
    }

    fn release_hold(&self, id: i64) -> Result<()> {
        Store::release_hold(self, id)
    }

    fn holds(&self) -> Result<Vec<Hold>> {
        Store::holds(self)
    }

    fn blob_queued(&self, blob: &Hash) -> Result<bool> {
        Store::blob_queued(self, blob)
    }

    fn purge_blob(&self, blob: Hash, reason: &str) -> Result<usize> {
        Store::purge_blob(self, blob, reason)
    }

    fn purged_at(&self, blob: &Hash) -> Result<Option<i64>> {
        Store::purged_at(self, blob)
    }
}

impl Throttle for Store {
    fn record_auth_failure(
        &self,
        failure: AuthFailure,
        tried: &str,
        detail: &str,
        forget_before: i64,
    ) -> Result<()> {
        Store::record_auth_failure(self, failure, tried, detail, forget_before)
    }

    fn auth_failures(
        &self,
        since: i64,
        ip: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<AuthFailure>> {
        Store::auth_failures(self, since, ip, name)
    }

    fn clear_auth_failures(&self, ip: Option<&str>, name: Option<&str>) -> Result<usize> {
        Store::clear_auth_failures(self, ip, name)
    }
}

impl Changes for Store {
    fn changes_after(&self, after: u64, limit: usize) -> Result<ChangeFeed> {
        Store::changes_after(self, after, limit)
    }

    fn change_head(&self) -> Result<u64> {
        Store::change_head(self)
    }
}

impl Backend for Store {
    fn acting(&self, actor: Actor) -> Arc<dyn Backend> {
        Arc::new(Store::acting(self, actor))
    }

    fn close(&self) {
        Store::close(self)
    }
}
