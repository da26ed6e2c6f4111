//! Connection states (RFC 9051 §3) and which commands each one allows.

use crate::command::CommandBody;

/// The state of an IMAP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Before LOGIN/AUTHENTICATE.
    NotAuthenticated,
    /// Logged in, no mailbox selected.
    Authenticated,
    /// A mailbox is selected (SELECT or EXAMINE).
    Selected,
    /// LOGOUT received; nothing more is accepted.
    Logout,
}

/// Whether `cmd` may be issued in `state`.
///
/// CAPABILITY, NOOP, LOGOUT and ID are valid in every state but `Logout`.
/// STARTTLS, LOGIN and AUTHENTICATE only before authentication. ENABLE only
/// in the authenticated state (RFC 5161: not once a mailbox is selected).
/// Mailbox commands (SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE,
/// UNSUBSCRIBE, LIST, LSUB, NAMESPACE, STATUS, APPEND, IDLE, GETQUOTA,
/// GETQUOTAROOT, SETQUOTA) and COMPRESS in authenticated and selected states;
/// message commands (FETCH, STORE, COPY, MOVE, SEARCH, SORT, THREAD, EXPUNGE,
/// UID EXPUNGE, CLOSE, UNSELECT, CHECK) only in the selected state.
/// The caller still checks conditions outside the state machine (e.g. TLS
/// for LOGIN).
pub fn allowed(state: State, cmd: &CommandBody) -> bool {
    use CommandBody as C;
    if state == State::Logout {
        return false;
    }
    match cmd {
        C::Capability | C::Noop | C::Logout | C::Id(_) => true,
        C::StartTls | C::Login { .. } | C::Authenticate { .. } => state == State::NotAuthenticated,
        C::Enable(_) => state == State::Authenticated,
        C::Select { .. }
        | C::Examine { .. }
        | C::Create { .. }
        | C::Delete { .. }
        | C::Rename { .. }
        | C::Subscribe { .. }
        | C::Unsubscribe { .. }
        | C::List { .. }
        | C::Lsub { .. }
        | C::Namespace
        | C::Status { .. }
        | C::Append { .. }
        | C::Idle
        | C::GetQuota { .. }
        | C::GetQuotaRoot { .. }
        | C::SetQuota { .. }
        | C::Compress { .. } => matches!(state, State::Authenticated | State::Selected),
        C::Fetch { .. }
        | C::Store { .. }
        | C::Copy { .. }
        | C::Move { .. }
        | C::Search { .. }
        | C::Sort { .. }
        | C::Thread { .. }
        | C::Expunge
        | C::UidExpunge { .. }
        | C::Close
        | C::Unselect
        | C::Check => state == State::Selected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{MailboxName, Secret};
    use crate::sequence::SequenceSet;

    #[test]
    fn table() {
        let login = CommandBody::Login {
            username: "u".into(),
            password: Secret::new(b"p".to_vec()),
        };
        let select = CommandBody::Select {
            mailbox: MailboxName::from_wire(b"INBOX", false).unwrap(),
            condstore: false,
            qresync: None,
        };
        let fetch = CommandBody::Fetch {
            uid: false,
            set: SequenceSet::single(1).unwrap(),
            items: vec![],
            changed_since: None,
            vanished: false,
        };
        use State::*;
        assert!(allowed(NotAuthenticated, &login));
        assert!(!allowed(Authenticated, &login));
        assert!(allowed(NotAuthenticated, &CommandBody::StartTls));
        assert!(!allowed(Selected, &CommandBody::StartTls));
        assert!(!allowed(NotAuthenticated, &select));
        assert!(allowed(Authenticated, &select));
        assert!(allowed(Selected, &select));
        assert!(!allowed(Authenticated, &fetch));
        assert!(allowed(Selected, &fetch));
        assert!(allowed(Authenticated, &CommandBody::Enable(vec![])));
        assert!(!allowed(Selected, &CommandBody::Enable(vec![])));
        assert!(allowed(NotAuthenticated, &CommandBody::Id(None)));
        assert!(!allowed(Logout, &CommandBody::Noop));
        assert!(allowed(Selected, &CommandBody::Unselect));
        assert!(!allowed(Authenticated, &CommandBody::Close));
        let create = CommandBody::Create {
            mailbox: MailboxName::new("x").unwrap(),
        };
        for cmd in [&create, &CommandBody::Namespace, &CommandBody::Idle] {
            assert!(!allowed(NotAuthenticated, cmd));
            assert!(allowed(Authenticated, cmd));
            assert!(allowed(Selected, cmd));
            assert!(!allowed(Logout, cmd));
        }
        let store = CommandBody::Store {
            uid: true,
            set: SequenceSet::single(1).unwrap(),
            action: crate::command::StoreAction::Add,
            silent: false,
            flags: vec![],
            unchanged_since: None,
        };
        let search = CommandBody::Search {
            uid: false,
            ret: None,
            key: crate::command::SearchKey::All,
        };
        for cmd in [&store, &search, &CommandBody::Expunge] {
            assert!(!allowed(NotAuthenticated, cmd));
            assert!(!allowed(Authenticated, cmd));
            assert!(allowed(Selected, cmd));
        }
    }

    #[test]
    fn extension_commands() {
        use crate::parse::parse_command;
        use State::*;
        let cmd = |s: &str| parse_command(s.as_bytes()).unwrap().body;
        for s in [
            "a SORT (DATE) UTF-8 ALL\r\n",
            "a UID SORT (REVERSE SIZE) UTF-8 ALL\r\n",
            "a THREAD REFERENCES UTF-8 ALL\r\n",
            "a UID THREAD ORDEREDSUBJECT US-ASCII ALL\r\n",
            "a UID FETCH 1:* FLAGS (CHANGEDSINCE 5 VANISHED)\r\n",
        ] {
            let c = cmd(s);
            assert!(!allowed(NotAuthenticated, &c), "{s}");
            assert!(!allowed(Authenticated, &c), "{s}");
            assert!(allowed(Selected, &c), "{s}");
            assert!(!allowed(Logout, &c), "{s}");
        }
        for s in [
            "a GETQUOTA \"\"\r\n",
            "a GETQUOTAROOT INBOX\r\n",
            "a SETQUOTA \"\" (STORAGE 512)\r\n",
            "a COMPRESS DEFLATE\r\n",
            "a LIST (SUBSCRIBED) \"\" * RETURN (CHILDREN)\r\n",
            "a SELECT INBOX (QRESYNC (1 2))\r\n",
        ] {
            let c = cmd(s);
            assert!(!allowed(NotAuthenticated, &c), "{s}");
            assert!(allowed(Authenticated, &c), "{s}");
            assert!(allowed(Selected, &c), "{s}");
            assert!(!allowed(Logout, &c), "{s}");
        }
        let enable = cmd("a ENABLE QRESYNC CONDSTORE\r\n");
        assert!(allowed(Authenticated, &enable));
        assert!(!allowed(Selected, &enable));
    }
}
