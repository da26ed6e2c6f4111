//! IMAP4rev1's `\Recent` (RFC 3501 §2.3.2): a message is recent for the first session that
//! learns of it. One server keeps one mark per mailbox — the highest UID some read-write session
//! has claimed — and decides between its sessions with it; the store keeps a copy so that a
//! restart does not show old mail as recent again.
//!
//! The copy is written without waiting: `\Recent` is advisory, a crash that loses the last
//! claims shows those messages as recent once more, and no session should wait for a durable
//! commit to learn of one new message.

use std::collections::HashMap;
use std::sync::Mutex;

/// The server's `\Recent` marks, by mailbox id.
#[derive(Debug, Default)]
pub struct RecentMarks(Mutex<HashMap<i64, u32>>);

/// What a session's look at a mailbox decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The mark before this look: the messages above it are recent for this session.
    pub mark: u32,
    /// The new mark to write to the store, if this look moved it.
    pub store: Option<u32>,
}

impl RecentMarks {
    /// The mark of `mailbox`, if this server has read or claimed one (else the caller reads
    /// the stored copy and passes it to [`RecentMarks::claim`]).
    pub fn known(&self, mailbox: i64) -> Option<u32> {
        self.lock().get(&mailbox).copied()
    }

    /// A session sees `mailbox` up to UID `top`. A read-write session claims up to `top`; a
    /// read-only one (EXAMINE, STATUS) must not move the mark. `stored` is the store's copy,
    /// used when this server has no mark of its own yet.
    pub fn claim(&self, mailbox: i64, stored: u32, top: u32, read_only: bool) -> Claim {
        let mut marks = self.lock();
        let mark = marks.entry(mailbox).or_insert(stored);
        let before = *mark;
        let store = (!read_only && top > before).then(|| {
            *mark = top;
            top
        });
        Claim {
            mark: before,
            store,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, u32>> {
        // A panic while holding the lock cannot leave a mark half-written.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_read_write_session_gets_the_new_messages() {
        let marks = RecentMarks::default();
        assert_eq!(marks.known(7), None);
        let a = marks.claim(7, 3, 10, false);
        assert_eq!(
            a,
            Claim {
                mark: 3,
                store: Some(10)
            },
            "4..=10 are recent for a"
        );
        let b = marks.claim(7, 0, 10, false);
        assert_eq!(
            b,
            Claim {
                mark: 10,
                store: None
            },
            "the stored copy is not read again"
        );
        let examine = marks.claim(7, 0, 12, true);
        assert_eq!(
            examine,
            Claim {
                mark: 10,
                store: None
            },
            "EXAMINE claims nothing"
        );
        assert_eq!(
            marks.claim(7, 0, 12, false).mark,
            10,
            "11, 12 still recent for the next"
        );
        assert_eq!(marks.known(7), Some(12));
    }
}
