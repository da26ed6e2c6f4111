//! LIST-EXTENDED / LIST-STATUS, and QRESYNC: telling a returning client what it missed.

use mailkeep_imap::{
    ListReturn, ListSelection, MailboxName, QresyncParams, SequenceSet, Status, encode,
};

use super::{Session, wildcard_match};
use crate::blocking;

impl Session {
    /// LIST with RFC 5258 selection and return options and several patterns; the basic form
    /// is the case of no options and one pattern.
    pub(super) async fn list_extended(
        &mut self,
        tag: &str,
        reference: &str,
        patterns: &[String],
        selection: &[ListSelection],
        returns: &[ListReturn],
    ) {
        if patterns.iter().all(String::is_empty) {
            self.out
                .extend_from_slice(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
            return self.tagged(tag, Status::Ok, None, "LIST completed");
        }
        let (store, id) = (self.acting.clone(), self.account_id());
        let Some(Ok(boxes)) = blocking(move || store.mailboxes(id)).await else {
            return self.tagged(tag, Status::No, Some("SERVERBUG"), "Temporary failure");
        };
        let subscribed_only = selection.contains(&ListSelection::Subscribed);
        let special_only = selection.contains(&ListSelection::SpecialUse);
        let show_subscribed =
            subscribed_only || returns.iter().any(|r| matches!(r, ListReturn::Subscribed));
        let status_items = returns.iter().find_map(|r| match r {
            ListReturn::Status(items) => Some(items.clone()),
            _ => None,
        });
        for m in &boxes {
            let full = |p: &String| format!("{reference}{p}");
            if !patterns
                .iter()
                .any(|p| wildcard_match(full(p).as_bytes(), m.name.as_bytes()))
                || (subscribed_only && !m.subscribed)
                || (special_only && m.special_use.is_none())
            {
                continue;
            }
            let has_children = boxes.iter().any(|c| {
                c.name.len() > m.name.len()
                    && c.name.starts_with(&m.name)
                    && c.name.as_bytes().get(m.name.len()) == Some(&b'/')
            });
            let mut attrs: Vec<&str> = vec![if has_children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            }];
            if show_subscribed && m.subscribed {
                attrs.push("\\Subscribed");
            }
            if let Some(su) = &m.special_use {
                attrs.push(su);
            }
            let Ok(name) = MailboxName::new(&m.name) else {
                continue;
            };
            let line = encode::list_response(&name, self.utf8, &attrs, &[]);
            self.out.extend_from_slice(&line);
            if let Some(items) = &status_items
                && !self.write_status(m, &name, items).await
            {
                return self.tagged(tag, Status::No, Some("SERVERBUG"), "Temporary failure");
            }
        }
        self.tagged(tag, Status::Ok, None, "LIST completed");
    }

    /// `UID FETCH … (CHANGEDSINCE m VANISHED)`: UIDs of the set expunged since `m`.
    pub(super) async fn report_vanished(&mut self, uid: bool, set: &SequenceSet, since: u64) {
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        if !uid {
            return;
        }
        let (store, id) = (self.acting.clone(), sel.mailbox.id);
        let max = sel.mailbox.uidnext.saturating_sub(1).max(1);
        if let Some(Ok(gone)) = blocking(move || store.expunged_since(id, since)).await {
            let gone: Vec<u32> = gone.into_iter().filter(|u| set.contains(*u, max)).collect();
            let line = encode::vanished_response(true, &gone);
            self.out.extend_from_slice(&line);
        }
    }

    /// SELECT with QRESYNC (RFC 7162 §3.2.5): what was expunged and what changed since the
    /// client's last known modseq, if its UIDVALIDITY still holds.
    pub(super) async fn resync(&mut self, q: QresyncParams) {
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        if sel.mailbox.uidvalidity != q.uidvalidity {
            return; // the client must resynchronise fully; nothing it knows is valid
        }
        let (store, id) = (self.acting.clone(), sel.mailbox.id);
        let max = sel.mailbox.uidnext.saturating_sub(1).max(1);
        let since = q.modseq;
        if let Some(Ok(gone)) = blocking(move || store.expunged_since(id, since)).await {
            let gone: Vec<u32> = gone
                .into_iter()
                .filter(|u| q.known_uids.as_ref().is_none_or(|k| k.contains(*u, max)))
                .collect();
            let line = encode::vanished_response(true, &gone);
            self.out.extend_from_slice(&line);
        }
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let mut out = String::new();
        for (m, seq) in sel.messages.iter().zip(1u32..) {
            if m.modseq > since {
                out.push_str(&format!(
                    "* {seq} FETCH (UID {} FLAGS ({}) MODSEQ ({}))\r\n",
                    m.uid,
                    m.flags.join(" "),
                    m.modseq
                ));
            }
        }
        self.out.extend_from_slice(out.as_bytes());
    }
}
