//! Accounts, domains and aliases: validation, password hashing, recipient resolution and login.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::address::{Address, AddressError, parse_domain};
use crate::store::{self, Account, Lookup, Store};

/// Errors from account administration and resolution.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Malformed address or domain.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// Password rejected by policy.
    #[error("{0}")]
    Password(String),
    /// Storage said no (duplicate, unknown domain, …) or failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Hashes a password with Argon2id (PHC string, random salt).
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Password(format!("cannot hash password: {e}")))
}

/// Checks a password against a stored PHC hash, in time independent of where they differ.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// Password policy.
pub fn check_password(password: &str, min_len: usize) -> Result<(), AccountError> {
    if password.is_empty() {
        return Err(AccountError::Password("password is empty".into()));
    }
    if password.chars().count() < min_len {
        return Err(AccountError::Password(format!(
            "password is shorter than the minimum of {min_len} characters"
        )));
    }
    if password.chars().any(char::is_control) {
        return Err(AccountError::Password(
            "password contains control characters".into(),
        ));
    }
    Ok(())
}

/// Adds a domain.
pub fn add_domain(store: &Store, name: &str, now: i64) -> Result<String, AccountError> {
    let name = parse_domain(name)?;
    store.add_domain(&name, now)?;
    Ok(name)
}

/// Creates a user after checking the password policy. The first user of a domain also
/// receives `postmaster@` mail (RFC 5321 §4.5.1) unless that address is already taken.
pub fn add_user(
    store: &Store,
    address: &str,
    password: &str,
    min_len: usize,
    now: i64,
    uidvalidity: u32,
) -> Result<Address, AccountError> {
    let addr = Address::parse(address)?;
    check_password(password, min_len)?;
    let hash = hash_password(password)?;
    store.add_account(&addr.to_string(), addr.domain(), &hash, now, uidvalidity)?;
    let postmaster = format!("postmaster@{}", addr.domain());
    if store.account(&postmaster)?.is_none() && store.alias_target(&postmaster)?.is_none() {
        // Best effort: a concurrent admin may have added it meanwhile.
        let _ = store.add_alias(&postmaster, addr.domain(), &addr.to_string(), now);
    }
    Ok(addr)
}

/// Changes a user's password.
pub fn set_password(
    store: &Store,
    address: &str,
    password: &str,
    min_len: usize,
) -> Result<(), AccountError> {
    let addr = Address::parse(address)?;
    check_password(password, min_len)?;
    store.set_password(&addr.to_string(), &hash_password(password)?)?;
    Ok(())
}

/// Adds an alias; `source` is an address or `@domain` (catch-all).
pub fn add_alias(
    store: &Store,
    source: &str,
    target: &str,
    now: i64,
) -> Result<String, AccountError> {
    let target = Address::parse(target)?.to_string();
    let (source, domain) = match source.strip_prefix('@') {
        Some(d) => {
            let d = parse_domain(d)?;
            (format!("@{d}"), d)
        }
        None => {
            let a = Address::parse(source)?;
            (a.to_string(), a.domain().to_owned())
        }
    };
    store.add_alias(&source, &domain, &target, now)?;
    Ok(source)
}

/// The outcome of looking up an envelope recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// Delivers to this account.
    Local(Account),
    /// Our domain, but nobody there: 550 5.1.1.
    UnknownUser,
    /// Not one of our domains: relaying refused, 554 5.7.1.
    NotLocal,
    /// Unparseable for us: 550 5.1.3.
    Invalid,
}

/// Resolves an envelope recipient: exact account, exact alias, `+tag` removed, then
/// catch-all. A bare `postmaster` is taken for the first of our domains.
pub fn resolve_recipient(store: &Store, rcpt: &str) -> Result<Recipient, store::Error> {
    let rcpt = if rcpt.eq_ignore_ascii_case("postmaster") {
        match store.domains()?.first() {
            Some(d) => format!("postmaster@{}", d.name),
            None => return Ok(Recipient::NotLocal),
        }
    } else {
        rcpt.to_owned()
    };
    let Some((_, domain)) = rcpt.rsplit_once('@') else {
        return Ok(Recipient::Invalid);
    };
    let Ok(domain) = parse_domain(domain) else {
        return Ok(Recipient::NotLocal);
    };
    // A local part we would never give an account (quoted, '%' routing, '!' paths) is
    // unknown here, even with a catch-all.
    let addr = Address::parse(&rcpt).ok();
    let mut candidates = Vec::with_capacity(3);
    if let Some(addr) = &addr {
        candidates.push(addr.to_string());
        candidates.extend(addr.without_tag().map(|a| a.to_string()));
        candidates.push(format!("@{domain}"));
    }
    Ok(match store.lookup_recipient(&domain, &candidates)? {
        Lookup::NotOurDomain => Recipient::NotLocal,
        Lookup::Found(acc) => Recipient::Local(acc),
        Lookup::NotFound => Recipient::UnknownUser,
    })
}

/// Checks a login. Unknown users cost the same hashing work as wrong passwords, so the
/// answer's timing does not reveal which addresses exist.
pub fn authenticate(
    store: &Store,
    username: &str,
    password: &str,
) -> Result<Option<Account>, store::Error> {
    let account = match Address::parse(username) {
        Ok(a) => store.account(&a.to_string())?,
        Err(_) => None,
    };
    match account {
        Some(acc) if verify_password(password, &acc.password_hash) => Ok(Some(acc)),
        Some(_) => Ok(None),
        None => {
            static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let dummy =
                DUMMY.get_or_init(|| hash_password("no such user here").unwrap_or_default());
            let _ = verify_password(password, dummy);
            Ok(None)
        }
    }
}

/// Recipient lookups remembered until the directory (domains, accounts, aliases) changes.
///
/// Every RCPT would otherwise start a SQLite read transaction whose page cache the constant
/// stream of deliveries has just invalidated; on the ingest benchmark that was a quarter of
/// the server's CPU. Validity is keyed on [`Store::directory_stamp`], which every directory
/// change rewrites, also from another process.
#[derive(Default)]
pub struct RecipientCache {
    state: std::sync::Mutex<(Vec<u8>, std::collections::HashMap<String, Recipient>)>,
}

/// Entries kept before the cache starts over (bounds memory under dictionary attacks).
const CACHE_LIMIT: usize = 10_000;

impl RecipientCache {
    /// A cached answer, if the directory has not changed since it was stored.
    pub fn get(&self, stamp: &[u8], rcpt: &str) -> Option<Recipient> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.0 != stamp {
            return None;
        }
        state.1.get(&rcpt.to_lowercase()).cloned()
    }

    /// Remembers an answer found under `stamp` (read before the lookup).
    pub fn put(&self, stamp: Vec<u8>, rcpt: &str, found: &Recipient) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.0 != stamp || state.1.len() >= CACHE_LIMIT {
            state.1.clear();
            state.0 = stamp;
        }
        state.1.insert(rcpt.to_lowercase(), found.clone());
    }
}

/// Whether an authenticated account may use `address` as envelope sender or `From:`: its own
/// address, an alias that points at it, and `+tag` forms of either. A catch-all does not
/// count (it would let one user sign as every colleague).
pub fn owns_address(store: &Store, account: &Account, address: &str) -> Result<bool, store::Error> {
    let Ok(addr) = Address::parse(address) else {
        return Ok(false);
    };
    let mut candidates = vec![addr.to_string()];
    candidates.extend(addr.without_tag().map(|a| a.to_string()));
    for c in candidates {
        if c == account.address {
            return Ok(true);
        }
        if store.alias_target(&c)?.as_deref() == Some(account.address.as_str()) {
            return Ok(true);
        }
    }
    Ok(false)
}
