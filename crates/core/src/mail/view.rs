//! A session's view of a selected mailbox, and how it follows the mailbox's changes: the
//! sequence numbers it has given out stay valid until it may report removals, new messages
//! are appended in UID order, and the keyword list only grows while the mailbox is selected.
//! Sans-IO: the front end reads [`crate::store::MailboxChanges`] and reports what
//! [`View::apply`] returns in its protocol's words.

use crate::store::{FlagChange, Mailbox, MailboxChanges, MessageEntry};
use mailkeep_imap::SequenceSet;

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

fn has_flag(m: &MessageEntry, flag: &str) -> bool {
    m.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
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

/// A sequence number beyond the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadSequence;

/// What a flag change made by this session did to its view.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The keyword list grew: announce it before the flags.
    pub keywords_grew: bool,
    /// The messages changed: `(sequence number, UID, flags, MODSEQ)`.
    pub changed: Vec<(u32, u32, Vec<String>, u64)>,
}

impl View {
    /// A view of `messages` (ascending UIDs) just selected. `recent_mark` is the mailbox's
    /// `\Recent` mark as this session found it (`None`: the session does not show `\Recent`):
    /// the messages above it are recent for this session.
    pub fn open(
        mailbox: Mailbox,
        messages: Vec<MessageEntry>,
        read_only: bool,
        recent_mark: Option<u32>,
    ) -> View {
        let recent = match recent_mark {
            Some(mark) => messages
                .iter()
                .map(|m| m.uid)
                .filter(|u| *u > mark)
                .collect(),
            None => Vec::new(),
        };
        View {
            synced: mailbox.highestmodseq,
            keywords: keywords_of(messages.iter()),
            mailbox,
            read_only,
            messages,
            saved: Vec::new(),
            recent,
            pending_expunges: Vec::new(),
        }
    }

    /// The highest UID in the view (0 when empty).
    pub fn top_uid(&self) -> u32 {
        self.messages.last().map_or(0, |m| m.uid)
    }

    /// The sequence number of the first message without `\Seen`.
    pub fn first_unseen(&self) -> Option<u32> {
        let i = self.messages.iter().position(|m| !has_flag(m, "\\Seen"))?;
        Some(i as u32 + 1)
    }

    /// The view's `(sequence number, UID)` pairs a set names; `Err` for a sequence number
    /// beyond the mailbox (RFC 9051: BAD); UIDs that do not exist are skipped, and `$` names
    /// what the last `SEARCH RETURN (SAVE)` found that is still here, UID command or not.
    pub fn resolve(&self, uid: bool, set: &SequenceSet) -> Result<Vec<(u32, u32)>, BadSequence> {
        let numbered = self.messages.iter().zip(1u32..);
        if set.is_saved() {
            return Ok(numbered
                .filter(|(m, _)| self.saved.binary_search(&m.uid).is_ok())
                .map(|(m, n)| (n, m.uid))
                .collect());
        }
        if uid {
            let max_uid = self.top_uid();
            return Ok(numbered
                .filter(|(m, _)| set.contains(m.uid, max_uid))
                .map(|(m, n)| (n, m.uid))
                .collect());
        }
        let count = self.messages.len() as u32;
        if count == 0 || set.exceeds(count) {
            return Err(BadSequence);
        }
        Ok(set
            .iter_resolved(count)
            .filter_map(|n| self.at(n).map(|m| (n, m.uid)))
            .collect())
    }

    /// The message at sequence number `n`.
    pub fn at(&self, n: u32) -> Option<&MessageEntry> {
        self.messages.get((n as usize).wrapping_sub(1))
    }

    /// Total size of the messages at these sequence numbers (what a COPY adds to a quota).
    pub fn size_of(&self, seqs: impl Iterator<Item = u32>) -> u64 {
        seqs.filter_map(|n| self.at(n)).map(|m| m.size).sum()
    }

    /// `flags` as this session shows message `uid`'s: with `\Recent` if it is recent here
    /// (for IMAP4rev1 sessions; rev2 has no `\Recent`).
    pub fn shown_flags(&self, uid: u32, flags: &[String]) -> Vec<String> {
        let mut f = flags.to_vec();
        if self.recent.binary_search(&uid).is_ok() {
            f.push("\\Recent".into());
        }
        f
    }

    /// The UIDs among these sequence numbers that a read must mark `\Seen` (those without
    /// it; none in a read-only view): one store call sets them all.
    pub fn to_mark_seen(&self, seqs: &[u32]) -> Vec<u32> {
        if self.read_only {
            return Vec::new();
        }
        seqs.iter()
            .filter_map(|&n| self.at(n))
            .filter(|m| !has_flag(m, "\\Seen"))
            .map(|m| m.uid)
            .collect()
    }

    /// Records the `\Seen` the store set (`(UID, MODSEQ)`); returns those UIDs, sorted, whose
    /// FETCH must show FLAGS (RFC 9051 §6.4.5: the change is reported).
    pub fn seen(&mut self, changed: &[(u32, u64)]) -> Vec<u32> {
        for &(uid, modseq) in changed {
            if let Ok(i) = self.messages.binary_search_by_key(&uid, |m| m.uid) {
                let m = &mut self.messages[i];
                if !has_flag(m, "\\Seen") {
                    m.flags.push("\\Seen".into());
                }
                m.modseq = modseq;
            }
        }
        let mut uids: Vec<u32> = changed.iter().map(|c| c.0).collect();
        uids.sort_unstable();
        uids
    }

    /// Records flags this session's STORE changed; the keyword list grows by any new one.
    pub fn stored(&mut self, changed: &[FlagChange]) -> Stored {
        let mut out = Stored::default();
        for c in changed {
            for f in c.flags.iter().filter(|f| !is_system_flag(f)) {
                if !self.keywords.contains(f) {
                    self.keywords.push(f.clone());
                    out.keywords_grew = true;
                }
            }
            let Ok(i) = self.messages.binary_search_by_key(&c.uid, |m| m.uid) else {
                continue;
            };
            let m = &mut self.messages[i];
            m.flags = c.flags.clone();
            m.modseq = c.modseq;
            out.changed
                .push((i as u32 + 1, c.uid, c.flags.clone(), c.modseq));
        }
        if out.keywords_grew {
            self.keywords.sort();
        }
        out
    }

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

    #[test]
    fn opening_finds_recent_unseen_and_keywords() {
        let mut v = view(&[3, 5, 8]);
        v.messages[0].flags = vec!["\\Seen".into(), "$Work".into()];
        let v = View::open(v.mailbox, v.messages, false, Some(4));
        assert_eq!(v.recent, [5, 8]);
        assert_eq!(v.first_unseen(), Some(2));
        assert_eq!(v.keywords, ["$Work"]);
        assert_eq!(v.shown_flags(5, &[]), ["\\Recent"]);
        assert!(v.shown_flags(3, &[]).is_empty());
        let rev2 = View::open(v.mailbox.clone(), v.messages.clone(), false, None);
        assert!(rev2.recent.is_empty() && rev2.shown_flags(8, &[]).is_empty());
    }

    #[test]
    fn sets_resolve_against_the_view() {
        let mut v = view(&[3, 5, 8]);
        let set = |s: &str| mailkeep_imap::SequenceSet::parse(s.as_bytes()).unwrap();
        assert_eq!(v.resolve(false, &set("2:*")), Ok(vec![(2, 5), (3, 8)]));
        assert_eq!(v.resolve(false, &set("4")), Err(BadSequence));
        assert_eq!(v.resolve(true, &set("4:8")), Ok(vec![(2, 5), (3, 8)]));
        assert_eq!(
            v.resolve(true, &set("100")),
            Ok(vec![]),
            "absent UIDs are skipped"
        );
        v.saved = vec![3, 8];
        assert_eq!(v.resolve(false, &set("$")), Ok(vec![(1, 3), (3, 8)]));
        assert_eq!(v.size_of([1, 3, 9].into_iter()), 2);
    }

    #[test]
    fn reading_marks_seen_once_and_not_in_a_read_only_view() {
        let mut v = view(&[1, 2, 3]);
        v.messages[1].flags = vec!["\\SEEN".into()];
        assert_eq!(v.to_mark_seen(&[1, 2, 3, 7]), [1, 3]);
        assert_eq!(v.seen(&[(3, 21), (1, 21)]), [1, 3]);
        assert_eq!(v.messages[0].flags, ["\\Seen"]);
        assert_eq!(v.messages[2].modseq, 21);
        assert!(v.to_mark_seen(&[1, 2, 3]).is_empty());
        let mut ro = view(&[1]);
        ro.read_only = true;
        assert!(ro.to_mark_seen(&[1]).is_empty());
    }

    #[test]
    fn stored_flags_update_the_view_and_grow_the_keywords() {
        let mut v = view(&[1, 2]);
        let change = |uid, modseq, flags: &[&str]| FlagChange {
            uid,
            modseq,
            flags: flags.iter().map(|f| f.to_string()).collect(),
        };
        let s = v.stored(&[change(2, 30, &["$B", "\\Flagged"]), change(9, 30, &["$A"])]);
        assert!(s.keywords_grew);
        assert_eq!(v.keywords, ["$A", "$B"]);
        assert_eq!(
            s.changed,
            [(2, 2, vec!["$B".to_string(), "\\Flagged".to_string()], 30)]
        );
        assert_eq!(v.messages[1].modseq, 30);
        assert!(!v.stored(&[change(1, 31, &["$A"])]).keywords_grew);
    }
}
