//! Logins verified recently, so that a client that logs in again and again (one connection
//! per folder, a reconnect every few minutes) does not pay for Argon2 each time; Dovecot's
//! auth cache does the same.
//!
//! An entry holds no password: its key is a keyed hash of (login name, password, service)
//! under a secret made at start and never stored, and its value names the account and the
//! password hash that was verified. Every lookup reads the account first, so a changed
//! password or a deleted account misses the cache at once, from whichever process changed
//! it. Only successes are kept: a wrong password always costs the full hash, and the
//! throttle in front of it is unchanged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a verified login is trusted without hashing again.
pub const TTL: Duration = Duration::from_secs(600);

/// Entries kept at most; beyond, expired ones go, then all.
const MAX_ENTRIES: usize = 20_000;

type Digest32 = [u8; 32];

/// The credentials of one login, as the cache keys them.
#[derive(Debug, Clone, Copy)]
pub struct Login<'a> {
    /// The login name as given.
    pub name: &'a str,
    /// The password as given.
    pub password: &'a str,
    /// The protocol (`imap`, `smtp`): an entry serves the one it was made for.
    pub service: &'a str,
}

/// Successful logins of the last [`TTL`].
pub struct LoginCache {
    secret: Digest32,
    ttl: Duration,
    entries: Mutex<HashMap<Digest32, Entry>>,
}

struct Entry {
    account: i64,
    verified: Digest32,
    until: Instant,
}

impl Default for LoginCache {
    fn default() -> Self {
        LoginCache::new(TTL)
    }
}

impl LoginCache {
    /// An empty cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> LoginCache {
        LoginCache {
            secret: rand::random(),
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The lookup key. The secret comes first and every field is length-prefixed, so no
    /// two logins share a key and nobody without the secret can compute one.
    fn key(&self, login: &Login<'_>) -> Digest32 {
        let mut h = Sha256::new();
        h.update(self.secret);
        for field in [login.name, login.password, login.service] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        h.finalize().into()
    }

    fn fingerprint(password_hash: &str) -> Digest32 {
        Sha256::digest(password_hash.as_bytes()).into()
    }

    /// Whether this login was verified within the TTL against this account's current
    /// password hash.
    pub fn hit(&self, login: &Login<'_>, account: i64, password_hash: &str) -> bool {
        let key = self.key(login);
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(&key).is_some_and(|e| {
            e.account == account
                && e.until > Instant::now()
                && e.verified == Self::fingerprint(password_hash)
        })
    }

    /// Records a login just verified by hashing.
    pub fn insert(&self, login: &Login<'_>, account: i64, password_hash: &str) {
        let key = self.key(login);
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                account,
                verified: Self::fingerprint(password_hash),
                until: now + self.ttl,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l<'a>(name: &'a str, password: &'a str, service: &'a str) -> Login<'a> {
        Login {
            name,
            password,
            service,
        }
    }

    #[test]
    fn a_hit_needs_the_same_login_account_and_password_hash_within_the_ttl() {
        let c = LoginCache::default();
        c.insert(&l("bob@example.org", "pw", "imap"), 7, "$argon2id$a");
        assert!(c.hit(&l("bob@example.org", "pw", "imap"), 7, "$argon2id$a"));
        assert!(!c.hit(&l("bob@example.org", "pw2", "imap"), 7, "$argon2id$a"));
        assert!(!c.hit(&l("bob@example.org", "pw", "smtp"), 7, "$argon2id$a"));
        assert!(!c.hit(&l("eve@example.org", "pw", "imap"), 7, "$argon2id$a"));
        // The password was changed (or the account deleted and the address reused).
        assert!(!c.hit(&l("bob@example.org", "pw", "imap"), 7, "$argon2id$b"));
        assert!(!c.hit(&l("bob@example.org", "pw", "imap"), 8, "$argon2id$a"));
        // Field boundaries matter: ("ab", "c") is not ("a", "bc").
        c.insert(&l("a", "bc", "imap"), 1, "h");
        assert!(!c.hit(&l("ab", "c", "imap"), 1, "h"));
    }

    #[test]
    fn entries_expire() {
        let c = LoginCache::new(Duration::ZERO);
        c.insert(&l("bob@example.org", "pw", "imap"), 7, "h");
        assert!(!c.hit(&l("bob@example.org", "pw", "imap"), 7, "h"));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let c = LoginCache::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES + 10 {
            c.insert(&l(&format!("u{i}"), "pw", "imap"), 1, "h");
        }
        assert!(c.entries.lock().unwrap().len() <= MAX_ENTRIES);
        assert!(c.hit(&l(&format!("u{}", MAX_ENTRIES + 9), "pw", "imap"), 1, "h"));
    }
}
