//! IMAP commands that change mailboxes: CREATE, DELETE, RENAME, (UN)SUBSCRIBE, APPEND, STORE,
//! COPY, MOVE, EXPUNGE, and IDLE, which waits for such changes. Every `OK` is sent after the
//! store call returned, i.e. after the change is durable.

use mailkeep_core::store::{self, FlagMode};
use mailkeep_core::time::now;
use mailkeep_imap::{MailboxName, SequenceSet, Status, StoreAction, compress_set};
use tokio::io::AsyncReadExt;
use tokio::sync::broadcast::error::RecvError;

use super::{Next, Session};
use crate::blocking;

impl Session {
    /// The selected view's `(sequence number, uid)` pairs a set names
    /// ([`mailkeep_core::mail::view::View::resolve`]).
    pub(super) fn resolve(&self, uid: bool, set: &SequenceSet) -> Result<Vec<(u32, u32)>, ()> {
        let sel = self.selected.as_ref().ok_or(())?;
        sel.resolve(uid, set).map_err(|_| ())
    }

    /// Maps a store error to a tagged NO with the right response code.
    fn store_failed(&mut self, tag: &str, e: Option<store::Error>, what: &str) {
        match e {
            Some(store::Error::NotFound(_)) => self.tagged(
                tag,
                Status::No,
                Some("NONEXISTENT"),
                "Mailbox does not exist",
            ),
            Some(store::Error::Conflict(m)) => {
                let code = if m.contains("already exists") {
                    "ALREADYEXISTS"
                } else {
                    "CANNOT"
                };
                self.tagged(tag, Status::No, Some(code), &m)
            }
            // As Dovecot answers a full disk: the client's usual "out of space" handling
            // (RFC 5530 has no code of its own for it).
            Some(e) if e.is_storage_full() => {
                tracing::error!(error = %e, "{what} failed: the disk is full");
                self.tagged(
                    tag,
                    Status::No,
                    Some("OVERQUOTA"),
                    &format!("Not enough disk space; {what} changed nothing"),
                )
            }
            Some(e) => {
                tracing::error!(error = %e, "{what} failed");
                self.tagged(
                    tag,
                    Status::No,
                    Some("SERVERBUG"),
                    &format!("{what} failed; nothing was changed"),
                )
            }
            None => self.tagged(tag, Status::No, Some("SERVERBUG"), "Internal error"),
        }
    }

    pub(super) async fn create(&mut self, tag: &str, mailbox: MailboxName) {
        let name = match mailbox.creatable() {
            Ok(name) if !mailbox.is_inbox() => name.to_owned(),
            _ => return self.tagged(tag, Status::No, Some("CANNOT"), "Invalid mailbox name"),
        };
        let (store, id) = (self.acting.clone(), self.account_id());
        let validity: u32 = rand::random::<u32>().max(1);
        match blocking(move || store.create_mailbox(id, &name, validity)).await {
            Some(Ok(())) => self.tagged(tag, Status::Ok, None, "CREATE completed"),
            Some(Err(e)) => self.store_failed(tag, Some(e), "CREATE"),
            None => self.store_failed(tag, None, "CREATE"),
        }
    }

    pub(super) async fn delete(&mut self, tag: &str, mailbox: MailboxName) {
        let name = mailbox.as_str().to_owned();
        let (store, id) = (self.acting.clone(), self.account_id());
        let was_selected = self
            .selected
            .as_ref()
            .is_some_and(|s| s.mailbox.name == name);
        match blocking(move || store.delete_mailbox(id, &name, now())).await {
            Some(Ok(())) => {
                if was_selected {
                    self.selected = None;
                    self.state = mailkeep_imap::State::Authenticated;
                }
                self.tagged(tag, Status::Ok, None, "DELETE completed")
            }
            Some(Err(e)) => self.store_failed(tag, Some(e), "DELETE"),
            None => self.store_failed(tag, None, "DELETE"),
        }
    }

    pub(super) async fn rename(&mut self, tag: &str, from: MailboxName, to: MailboxName) {
        let (from, to) = (from.as_str().to_owned(), to.as_str().to_owned());
        if to == "INBOX" || to.is_empty() || to.split('/').any(str::is_empty) {
            return self.tagged(tag, Status::No, Some("CANNOT"), "Invalid target name");
        }
        let (store, id) = (self.acting.clone(), self.account_id());
        let validity: u32 = rand::random::<u32>().max(1);
        match blocking(move || store.rename_mailbox(id, &from, &to, validity, now())).await {
            Some(Ok(())) => self.tagged(tag, Status::Ok, None, "RENAME completed"),
            Some(Err(e)) => self.store_failed(tag, Some(e), "RENAME"),
            None => self.store_failed(tag, None, "RENAME"),
        }
    }

    pub(super) async fn subscribe(&mut self, tag: &str, mailbox: MailboxName, on: bool) {
        let name = mailbox.as_str().to_owned();
        let (store, id) = (self.acting.clone(), self.account_id());
        let verb = if on { "SUBSCRIBE" } else { "UNSUBSCRIBE" };
        match blocking(move || store.set_subscribed(id, &name, on)).await {
            Some(Ok(())) => self.tagged(tag, Status::Ok, None, &format!("{verb} completed")),
            Some(Err(e)) => self.store_failed(tag, Some(e), verb),
            None => self.store_failed(tag, None, verb),
        }
    }

    pub(super) async fn append(
        &mut self,
        tag: &str,
        mailbox: MailboxName,
        flags: Vec<String>,
        date: Option<i64>,
        message: Vec<u8>,
    ) {
        if message.is_empty() {
            return self.tagged(tag, Status::No, None, "Empty message");
        }
        if self.check_quota(tag, message.len() as u64).await.is_err() {
            return;
        }
        let name = mailbox.as_str().to_owned();
        let (store, id) = (self.acting.clone(), self.account_id());
        let date = date.unwrap_or_else(now);
        match blocking(move || store.append(id, &name, message, flags, date)).await {
            Some(Ok(done)) => {
                self.shared.committed();
                // A client that appends to the mailbox it has selected learns of it at once.
                if self
                    .selected
                    .as_ref()
                    .is_some_and(|s| s.mailbox.id == done.mailbox_id)
                {
                    self.sync_view(false).await;
                }
                let uid = done.uids.first().map_or(0, |(_, u)| *u);
                let code = format!("APPENDUID {} {uid}", done.uidvalidity);
                self.tagged(tag, Status::Ok, Some(&code), "APPEND completed")
            }
            Some(Err(store::Error::NotFound(_))) => {
                self.tagged(tag, Status::No, Some("TRYCREATE"), "Mailbox does not exist")
            }
            Some(Err(e)) => self.store_failed(tag, Some(e), "APPEND"),
            None => self.store_failed(tag, None, "APPEND"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn store(
        &mut self,
        tag: &str,
        uid: bool,
        set: SequenceSet,
        action: StoreAction,
        silent: bool,
        flags: Vec<String>,
        unchanged_since: Option<u64>,
    ) {
        if self.selected.as_ref().is_some_and(|s| s.read_only) {
            return self.tagged(tag, Status::No, Some("READ-ONLY"), "Mailbox is read-only");
        }
        let Ok(targets) = self.resolve(uid, &set) else {
            return self.tagged(tag, Status::Bad, None, "Invalid message sequence number");
        };
        let Some(mailbox_id) = self.selected.as_ref().map(|s| s.mailbox.id) else {
            return;
        };
        let mode = match action {
            StoreAction::Add => FlagMode::Add,
            StoreAction::Remove => FlagMode::Remove,
            StoreAction::Replace => FlagMode::Replace,
        };
        let uids: Vec<u32> = targets.iter().map(|(_, u)| *u).collect();
        let store = self.acting.clone();
        let result =
            blocking(move || store.store_flags(mailbox_id, uids, mode, flags, unchanged_since))
                .await;
        let (changed, modified) = match result {
            Some(Ok(r)) => r,
            Some(Err(e)) => return self.store_failed(tag, Some(e), "STORE"),
            None => return self.store_failed(tag, None, "STORE"),
        };
        if !changed.is_empty() {
            self.shared.committed();
        }
        let mut out = String::new();
        if let Some(sel) = self.selected.as_mut() {
            let stored = sel.stored(&changed);
            if stored.keywords_grew {
                out.push_str(&super::flags_lines(&sel.keywords));
            }
            if !silent || unchanged_since.is_some() {
                for (seq, uid, flags, modseq) in &stored.changed {
                    let modseq = if unchanged_since.is_some() || self.condstore {
                        format!(" MODSEQ ({modseq})")
                    } else {
                        String::new()
                    };
                    out.push_str(&format!(
                        "* {seq} FETCH (UID {uid} FLAGS ({}){modseq})\r\n",
                        sel.shown_flags(*uid, flags).join(" ")
                    ));
                }
            }
        }
        self.out.extend_from_slice(out.as_bytes());
        if modified.is_empty() {
            self.tagged(tag, Status::Ok, None, "STORE completed");
        } else {
            let set: Vec<u32> = if uid {
                modified
            } else {
                targets
                    .iter()
                    .filter(|(_, u)| modified.contains(u))
                    .map(|(s, _)| *s)
                    .collect()
            };
            let code = format!("MODIFIED {}", compress_set(&set));
            self.tagged(
                tag,
                Status::Ok,
                Some(&code),
                "Conditional STORE failed for some",
            );
        }
    }

    pub(super) async fn copy(
        &mut self,
        tag: &str,
        uid: bool,
        set: SequenceSet,
        mailbox: MailboxName,
        is_move: bool,
    ) {
        let verb = if is_move { "MOVE" } else { "COPY" };
        if is_move && self.selected.as_ref().is_some_and(|s| s.read_only) {
            return self.tagged(tag, Status::No, Some("READ-ONLY"), "Mailbox is read-only");
        }
        let Ok(targets) = self.resolve(uid, &set) else {
            return self.tagged(tag, Status::Bad, None, "Invalid message sequence number");
        };
        let Some(from) = self.selected.as_ref().map(|s| s.mailbox.id) else {
            return;
        };
        if targets.is_empty() {
            return self.tagged(tag, Status::Ok, None, &format!("{verb} completed"));
        }
        if !is_move {
            let bytes = self
                .selected
                .as_ref()
                .map_or(0, |sel| sel.size_of(targets.iter().map(|&(seq, _)| seq)));
            if self.check_quota(tag, bytes).await.is_err() {
                return;
            }
        }
        let uids: Vec<u32> = targets.iter().map(|(_, u)| *u).collect();
        let (store, account) = (self.acting.clone(), self.account_id());
        let to = mailbox.as_str().to_owned();
        let result =
            blocking(move || store.copy_messages(account, from, uids, &to, is_move, now())).await;
        let done = match result {
            Some(Ok(d)) => d,
            Some(Err(store::Error::NotFound(_))) => {
                return self.tagged(tag, Status::No, Some("TRYCREATE"), "Mailbox does not exist");
            }
            Some(Err(e)) => return self.store_failed(tag, Some(e), verb),
            None => return self.store_failed(tag, None, verb),
        };
        self.shared.committed();
        let src: Vec<u32> = done.uids.iter().map(|(s, _)| *s).collect();
        let dst: Vec<u32> = done.uids.iter().map(|(_, d)| *d).collect();
        let code = format!(
            "COPYUID {} {} {}",
            done.uidvalidity,
            compress_set(&src),
            compress_set(&dst)
        );
        if is_move {
            self.shared.committed();
            // RFC 6851: COPYUID in an untagged OK, then the expunges, then the tagged OK.
            self.untagged(Status::Ok, Some(&code), "Moved");
            self.sync_view(true).await;
            self.tagged(tag, Status::Ok, None, "MOVE completed");
        } else {
            if done.mailbox_id == from {
                self.sync_view(false).await;
            }
            self.tagged(tag, Status::Ok, Some(&code), "COPY completed");
        }
    }

    pub(super) async fn expunge(&mut self, tag: &str, only: Option<SequenceSet>) {
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        if sel.read_only {
            return self.tagged(tag, Status::No, Some("READ-ONLY"), "Mailbox is read-only");
        }
        let mailbox_id = sel.mailbox.id;
        let only = match &only {
            Some(set) => match self.resolve(true, set) {
                Ok(t) => Some(t.into_iter().map(|(_, u)| u).collect::<Vec<u32>>()),
                Err(()) => return self.tagged(tag, Status::Bad, None, "Invalid UID set"),
            },
            None => None,
        };
        let store = self.acting.clone();
        match blocking(move || store.expunge(mailbox_id, only, now())).await {
            Some(Ok(gone)) => {
                if !gone.is_empty() {
                    self.shared.committed();
                }
                self.sync_view(true).await;
                self.tagged(tag, Status::Ok, None, "EXPUNGE completed");
            }
            Some(Err(e)) => self.store_failed(tag, Some(e), "EXPUNGE"),
            None => self.store_failed(tag, None, "EXPUNGE"),
        }
    }

    /// IDLE (RFC 2177): reports changes to the selected mailbox as they happen until the
    /// client sends DONE.
    pub(super) async fn idle(&mut self, tag: &str) -> std::io::Result<Next> {
        // Listening starts before the view is brought up to date: a change committed in
        // between is then heard, not lost until the next one.
        let mut changes = self.shared.changes.subscribe();
        self.out.extend_from_slice(b"+ idling\r\n");
        self.sync_view(true).await;
        self.flush().await?;
        let mut shutdown = self.shared.shutdown.clone();
        let selected = self.selected.as_ref().map(|s| s.mailbox.id);
        let deadline = tokio::time::Instant::now() + self.timeout();
        loop {
            match self.framer.next_line() {
                Some(Ok(line)) if mailkeep_imap::is_done_line(&line) => {
                    self.tagged(tag, Status::Ok, None, "IDLE terminated");
                    return Ok(Next::Continue);
                }
                Some(_) => {
                    self.tagged(tag, Status::Bad, None, "Expected DONE");
                    return Ok(Next::Continue);
                }
                None => {}
            }
            tokio::select! {
                r = self.conn.read(&mut self.buf) => match r? {
                    0 => return Ok(Next::Close),
                    n => self.framer.push(&self.buf[..n]),
                },
                m = changes.recv() => {
                    let relevant = match m {
                        Ok(crate::Heard::Change(c)) => Some(c.mailbox_id) == selected,
                        Ok(crate::Heard::Resync) => true,
                        Err(RecvError::Lagged(_)) => true,
                        Err(RecvError::Closed) => false,
                    };
                    if relevant {
                        self.sync_view(true).await;
                        self.flush().await?;
                    }
                }
                r = self.directory.changed() => {
                    if r.is_ok() && self.account_deleted().await {
                        self.flush().await?;
                        return Ok(Next::Close);
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    self.untagged(Status::Bye, None, "Autologout; idle for too long");
                    return Ok(Next::Close);
                }
                _ = shutdown.changed() => {
                    self.untagged(Status::Bye, None, "Server shutting down");
                    return Ok(Next::Close);
                }
            }
        }
    }
}
