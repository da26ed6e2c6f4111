//! Accounts, domains and aliases: validation, password hashing, recipient resolution and login.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::address::{Address, AddressError, parse_domain};
pub use crate::login_cache::LoginCache;
use crate::store::{self, Account, Backend, Lookup};

/// Errors from account administration and resolution.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Malformed address or domain.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// Password rejected by policy.
    #[error("{0}")]
    Password(String),
    /// Some other argument is unusable.
    #[error("{0}")]
    Invalid(String),
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
pub fn add_domain(store: &dyn Backend, name: &str, now: i64) -> Result<String, AccountError> {
    let name = parse_domain(name)?;
    store.add_domain(&name, now)?;
    Ok(name)
}

/// Deletes a domain, given in either spelling ([`store::Store::delete_domain`]).
pub fn delete_domain(
    store: &dyn Backend,
    name: &str,
    force: bool,
    now: i64,
) -> Result<(String, store::DomainDeleted), AccountError> {
    let name = parse_domain(name)?;
    let gone = store.delete_domain(&name, force, now)?;
    Ok((name, gone))
}

/// Creates a user after checking the password policy. The first user of a domain also
/// receives `postmaster@` mail (RFC 5321 §4.5.1) unless that address is already taken.
pub fn add_user(
    store: &dyn Backend,
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
    store: &dyn Backend,
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
    store: &dyn Backend,
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

/// Deletes an alias (`@domain` for a catch-all), spelled as for [`add_alias`]; returns the
/// source as stored and the account it pointed at.
pub fn delete_alias(store: &dyn Backend, source: &str) -> Result<(String, String), AccountError> {
    let source = match source.strip_prefix('@') {
        Some(d) => format!("@{}", parse_domain(d)?),
        None => Address::parse(source)?.to_string(),
    };
    let target = store.delete_alias(&source)?;
    Ok((source, target))
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
pub fn resolve_recipient(store: &dyn Backend, rcpt: &str) -> Result<Recipient, store::Error> {
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

/// What a login is for: app passwords are limited to one or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// IMAP LOGIN / AUTHENTICATE.
    Imap,
    /// SMTP AUTH (submission).
    Smtp,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Imap => "imap",
            Service::Smtp => "smtp",
        }
    }
}

/// Checks a login: the account's password, or one of its app passwords that covers
/// `service`. Unknown users cost the same hashing work as wrong passwords, so the answer's
/// timing does not reveal which addresses exist.
///
/// With a `cache`, a login verified within its TTL against the account's current password
/// hash is not hashed again ([`LoginCache`]).
pub fn authenticate(
    store: &dyn Backend,
    cache: Option<&LoginCache>,
    username: &str,
    password: &str,
    service: Service,
) -> Result<Option<Account>, store::Error> {
    let account = match Address::parse(username) {
        Ok(a) => store.account(&a.to_string())?,
        Err(_) => None,
    };
    let login = crate::login_cache::Login {
        name: username,
        password,
        service: service.name(),
    };
    match account {
        Some(acc) if cache.is_some_and(|c| c.hit(&login, acc.id, &acc.password_hash)) => {
            Ok(Some(acc))
        }
        Some(acc) if verify_password(password, &acc.password_hash) => {
            if let Some(c) = cache {
                c.insert(&login, acc.id, &acc.password_hash);
            }
            Ok(Some(acc))
        }
        Some(acc) => {
            let hash = app_password_hash(password);
            let ok = store.app_passwords(acc.id)?.iter().any(|p| {
                p.scope.split(' ').any(|s| s == service.name()) && constant_time_eq(&p.hash, &hash)
            });
            Ok(ok.then_some(acc))
        }
        None => {
            static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let dummy =
                DUMMY.get_or_init(|| hash_password("no such user here").unwrap_or_default());
            let _ = verify_password(password, dummy);
            Ok(None)
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// App passwords are stored as their SHA-256: each holds 100 random bits, which no
/// dictionary reaches, so a slow hash would only slow down every login.
fn app_password_hash(secret: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(secret.trim().as_bytes()).to_vec()
}

/// Makes an app password for `address`, usable for `services`; returns the secret, which
/// is shown this once and never stored.
pub fn add_app_password(
    store: &dyn Backend,
    address: &str,
    name: &str,
    services: &[Service],
    now: i64,
) -> Result<String, AccountError> {
    let a = Address::parse(address)?.to_string();
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(AccountError::Invalid(
            "an app password needs a name of 1 to 64 printable characters".into(),
        ));
    }
    if services.is_empty() {
        return Err(AccountError::Invalid(
            "an app password must allow imap, smtp or both".into(),
        ));
    }
    // 20 symbols of a 32-letter alphabet without look-alikes: 100 bits, in groups of five.
    const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz123456789";
    let mut secret = String::new();
    for i in 0..20 {
        if i > 0 && i % 5 == 0 {
            secret.push('-');
        }
        secret.push(ALPHABET[(rand::random::<u8>() & 31) as usize] as char);
    }
    let mut scope: Vec<&str> = services.iter().map(|s| s.name()).collect();
    scope.sort_unstable();
    scope.dedup();
    store.add_app_password(&a, name, app_password_hash(&secret), &scope.join(" "), now)?;
    Ok(secret)
}

/// Recipient lookups remembered until the directory (domains, accounts, aliases) changes.
///
/// Every RCPT would otherwise start a SQLite read transaction whose page cache the constant
/// stream of deliveries has just invalidated; on the ingest benchmark that was a quarter of
/// the server's CPU. Validity is keyed on [`Directory::directory_stamp`](crate::store::Directory::directory_stamp), which every directory
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
pub fn owns_address(
    store: &dyn Backend,
    account: &Account,
    address: &str,
) -> Result<bool, store::Error> {
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
