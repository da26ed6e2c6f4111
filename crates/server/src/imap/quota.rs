//! QUOTA (RFC 9208): one storage quota per account, from `[accounts] quota_bytes`, whose
//! root is "" and covers every mailbox of the account.

use mailkeep_imap::{MailboxName, Status};

use super::Session;
use crate::blocking;

impl Session {
    fn quota_limit(&self) -> u64 {
        self.shared.config.accounts.quota_bytes
    }

    /// `None` when the usage cannot be read: every caller then refuses (`NO [UNAVAILABLE]`),
    /// since a quota that fails open is no quota.
    async fn usage(&self) -> Option<u64> {
        let (store, id) = (self.acting.clone(), self.account_id());
        match blocking(move || store.account_usage(id)).await? {
            Ok(used) => Some(used),
            Err(e) => {
                tracing::error!(error = %e, account_id = id, "quota check failed: usage unreadable");
                None
            }
        }
    }

    /// `Err(())` (and a tagged NO [OVERQUOTA] sent) if adding `bytes` would exceed the quota.
    pub(super) async fn check_quota(&mut self, tag: &str, bytes: u64) -> Result<(), ()> {
        let limit = self.quota_limit();
        if limit == 0 {
            return Ok(());
        }
        match self.usage().await {
            Some(used) if used.saturating_add(bytes) <= limit => Ok(()),
            Some(_) => {
                self.tagged(tag, Status::No, Some("OVERQUOTA"), "Quota exceeded");
                Err(())
            }
            None => {
                self.tagged(
                    tag,
                    Status::No,
                    Some("UNAVAILABLE"),
                    "Quota usage unavailable, try again later",
                );
                Err(())
            }
        }
    }

    fn quota_line(&self, used: u64) -> String {
        // RFC 9208 counts STORAGE in units of 1024 octets.
        format!(
            "* QUOTA \"\" (STORAGE {} {})\r\n",
            used.div_ceil(1024),
            self.quota_limit() / 1024
        )
    }

    pub(super) async fn get_quota(&mut self, tag: &str, root: &str) {
        if !root.is_empty() || self.quota_limit() == 0 {
            return self.tagged(tag, Status::No, Some("NONEXISTENT"), "No such quota root");
        }
        let Some(used) = self.usage().await else {
            return self.tagged(
                tag,
                Status::No,
                Some("UNAVAILABLE"),
                "Quota usage unavailable, try again later",
            );
        };
        let line = self.quota_line(used);
        self.out.extend_from_slice(line.as_bytes());
        self.tagged(tag, Status::Ok, None, "GETQUOTA completed");
    }

    pub(super) async fn get_quota_root(&mut self, tag: &str, mailbox: MailboxName) {
        if self.mailbox_or_no(tag, &mailbox).await.is_none() {
            return;
        }
        self.out.extend_from_slice(b"* QUOTAROOT ");
        mailkeep_imap::encode::write_mailbox(&mut self.out, &mailbox, self.utf8);
        if self.quota_limit() == 0 {
            self.out.extend_from_slice(b"\r\n");
        } else {
            self.out.extend_from_slice(b" \"\"\r\n");
            let Some(used) = self.usage().await else {
                return self.tagged(
                    tag,
                    Status::No,
                    Some("UNAVAILABLE"),
                    "Quota usage unavailable, try again later",
                );
            };
            let line = self.quota_line(used);
            self.out.extend_from_slice(line.as_bytes());
        }
        self.tagged(tag, Status::Ok, None, "GETQUOTAROOT completed");
    }
}
