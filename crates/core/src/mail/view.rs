//! A session's view of a selected mailbox, and how it follows the mailbox's changes: the
//! sequence numbers it has given out stay valid until it may report removals, new messages
//! are appended in UID order, and the keyword list only grows while the mailbox is selected.
//! Sans-IO: the front end reads [`crate::store::MailboxChanges`] and reports what
//! [`View::apply`] returns in its protocol's words.

use crate::store::{Mailbox, MailboxChanges, MessageEntry};

/// The system flags (RFC 9051 §2.3.2); every other flag is a keyword.
pub fn is_system_flag(f: &str) -> bool {
    ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(f))
}

/// The keywords in use in a set of messages, sorted.
pub fn keywords_of<'a>(messages: impl Iterator<Item = &'a MessageEntry>) -> Vec<String> {
    let mut k: Vec<String> = messages
        .flat_map(|m| m.flags.iter())
        .filter(|f| !is_system_flag(f))
        .cloned()
        .collect();
    k.sort();
    k.dedup();
    k
}

/// A selected mailbox as one session sees it.
#[derive(Debug, Clone)]
pub struct View {
    /// The mailbox.
    pub mailbox: Mailbox,
    /// Selected with EXAMINE.
    pub read_only: bool,
    /// The view: sequence number n is `messages[n - 1]`.
    pub messages: Vec<MessageEntry>,
    /// Keywords announced in the last untagged FLAGS.
    pub keywords: Vec<String>,
    /// UIDs of the last `SEARCH RETURN (SAVE)`, ascending: what `$` names (RFC 5182).
    pub saved: Vec<u32>,
    /// IMAP4rev1 `\Recent`: UIDs this session is the first to see (ascending).
    pub recent: Vec<u32>,
    /// The mailbox's MODSEQ the view reflects: changes above it are read at the next sync,
    /// nothing below it is read again.
    pub synced: u64,
    /// Expunged elsewhere, still in the view: reported when removals may be reported.
    pub pending_expunges: Vec<u32>,
}

/// What one sync changed, for the front end to report (in this order: keywords, removals,
/// flags, size).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Synced {
    /// The keyword list grew: announce it before anything that shows a new keyword.
    pub keywords_grew: bool,
    /// Messages removed from the view: `(sequence number before removal, UID)`, highest
    /// first, so that each number is valid when it is reported.
    pub expunged: Vec<(u32, u32)>,
    /// Messages whose flags changed: `(sequence number, UID, flags)`.
    pub flags: Vec<(u32, u32, Vec<String>)>,
    /// New messages were appended from this index of `messages` on.
    pub arrivals_from: Option<usize>,
    /// The highest UID in the view before the arrivals.
    pub last_before: u32,
}

impl View {
    /// Applies what changed since [`View::synced`]. Removals are reported only with
    /// `allow_expunge` (not during FETCH, STORE or SEARCH: RFC 9051 §7.5.1) and kept pending
    /// otherwise. `None` when there is nothing to report.
    pub fn apply(&mut self, changes: MailboxChanges, allow_expunge: bool) -> Option<Synced> {
        let pending = !self.pending_expunges.is_empty();
        if changes.highestmodseq <= self.synced && !(allow_expunge && pending) {
            return None;
        }
        self.synced = changes.highestmodseq.max(self.synced);
        let mut out = Synced::default();
        // Only what the view holds can be reported gone; a message that came and went
        // between two looks was never seen. Kept sorted and unique: another session may
        // expunge a whole mailbox at once.
        let held = changes
            .expunged
            .into_iter()
            .filter(|uid| self.messages.binary_search_by_key(uid, |m| m.uid).is_ok());
        self.pending_expunges.extend(held);
        self.pending_expunges.sort_unstable();
        self.pending_expunges.dedup();
        if allow_expunge && !self.pending_expunges.is_empty() {
            let gone = std::mem::take(&mut self.pending_expunges);
            let is_gone = |uid: &u32| gone.binary_search(uid).is_ok();
            // One pass over the view however many went.
            out.expunged = (0..self.messages.len())
                .rev()
                .filter(|&i| is_gone(&self.messages[i].uid))
                .map(|i| (i as u32 + 1, self.messages[i].uid))
                .collect();
            self.messages.retain(|m| !is_gone(&m.uid));
            self.recent.retain(|u| !is_gone(u));
        }
        let last = self.messages.last().map_or(0, |m| m.uid);
        let before = self.messages.len();
        let mut new_keywords: Vec<String> = Vec::new();
        // Ascending UIDs: changed messages first, then the new ones, appended in order.
        for fresh in changes.changed {
            for f in fresh.flags.iter().filter(|f| !is_system_flag(f)) {
                if !self.keywords.contains(f) && !new_keywords.contains(f) {
                    new_keywords.push(f.clone());
                }
            }
            if fresh.uid > last {
                self.messages.push(fresh);
                continue;
            }
            let Ok(i) = self.messages.binary_search_by_key(&fresh.uid, |m| m.uid) else {
                continue;
            };
            let m = &mut self.messages[i];
            if fresh.modseq == m.modseq {
                continue;
            }
            if fresh.flags != m.flags {
                out.flags.push((i as u32 + 1, m.uid, fresh.flags.clone()));
            }
            *m = fresh;
        }
        // The list only grows while the mailbox is selected: a keyword dropped from it before
        // the client heard that its last message lost it would leave the client holding a
        // flag the server no longer lists.
        if !new_keywords.is_empty() {
            self.keywords.extend(new_keywords);
            self.keywords.sort();
            out.keywords_grew = true;
        }
        if self.messages.len() != before {
            out.arrivals_from = Some(before);
        }
        out.last_before = last;
        Some(out)
    }

    /// Marks the arrivals of the last sync recent when they are above the mailbox's
    /// `\Recent` mark as it was (this session is the first to see them).
    pub fn note_recent(&mut self, synced: &Synced, mark: u32) {
        let Some(from) = synced.arrivals_from else {
            return;
        };
        let fresh = self
            .messages
            .get(from..)
            .unwrap_or_default()
            .iter()
            .map(|m| m.uid)
            .filter(|u| *u > synced.last_before && *u > mark);
        self.recent.extend(fresh);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uid: u32, modseq: u64, flags: &[&str]) -> MessageEntry {
        MessageEntry {
            uid,
            modseq,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            hash: [0; 32],
            size: 1,
            internal_date: 0,
        }
    }

    fn view(uids: &[u32]) -> View {
        View {
            mailbox: Mailbox {
                id: 1,
                account_id: 1,
                name: "INBOX".into(),
                special_use: None,
                uidvalidity: 1,
                uidnext: 10,
                highestmodseq: 10,
                subscribed: true,
            },
            read_only: false,
            messages: uids.iter().map(|&u| entry(u, u64::from(u), &[])).collect(),
            keywords: vec![],
            saved: vec![],
            recent: vec![],
            synced: 10,
            pending_expunges: vec![],
        }
    }

    #[test]
    fn removals_wait_until_they_may_be_reported_and_come_highest_first() {
        let mut v = view(&[1, 2, 3, 4]);
        let gone = MailboxChanges {
            highestmodseq: 11,
            changed: vec![],
            expunged: vec![2, 4, 9],
        };
        let s = v.apply(gone, false).unwrap();
        assert!(s.expunged.is_empty());
        assert_eq!(v.pending_expunges, [2, 4], "9 was never in the view");
        assert_eq!(v.messages.len(), 4, "sequence numbers stay valid");
        let nothing_new = MailboxChanges {
            highestmodseq: 11,
            ..Default::default()
        };
        let s = v.apply(nothing_new, true).unwrap();
        assert_eq!(s.expunged, [(4, 4), (2, 2)]);
        assert_eq!(v.messages.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 3]);
        assert!(
            v.apply(
                MailboxChanges {
                    highestmodseq: 11,
                    ..Default::default()
                },
                true
            )
            .is_none()
        );
    }

    #[test]
    fn flags_and_arrivals_and_keywords() {
        let mut v = view(&[1, 2]);
        let s = v
            .apply(
                MailboxChanges {
                    highestmodseq: 14,
                    changed: vec![
                        entry(2, 12, &["\\Seen", "$Work"]),
                        entry(5, 13, &[]),
                        entry(6, 14, &["$New"]),
                    ],
                    expunged: vec![],
                },
                true,
            )
            .unwrap();
        assert!(s.keywords_grew);
        assert_eq!(v.keywords, ["$New", "$Work"]);
        assert_eq!(s.flags, [(2, 2, vec!["\\Seen".into(), "$Work".into()])]);
        assert_eq!((s.arrivals_from, s.last_before), (Some(2), 2));
        v.note_recent(&s, 5);
        assert_eq!(v.recent, [6], "5 was claimed by another session");
        // A keyword no message holds any more stays listed while selected.
        let s = v
            .apply(
                MailboxChanges {
                    highestmodseq: 15,
                    changed: vec![entry(2, 15, &["\\Seen"])],
                    expunged: vec![],
                },
                true,
            )
            .unwrap();
        assert!(!s.keywords_grew);
        assert_eq!(v.keywords, ["$New", "$Work"]);
    }
}
