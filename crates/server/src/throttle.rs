//! Password-guessing throttle, shared by SMTP AUTH and IMAP LOGIN/AUTHENTICATE.
//!
//! Failures are counted per client address (an IPv6 /64, what one customer gets) and per user
//! name as typed, in a sliding window. Each failure is answered after a delay that grows with
//! the failures from that address; once an address or a name reaches its limit, logins from it
//! are refused without looking at the password — a right one too — until its oldest failure
//! leaves the window. So an address gets at most `max_failures_per_ip` guesses per window, and
//! a name at most `max_failures_per_account` across all addresses.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Shared;

use mailkeep_core::config::Auth;
use mailkeep_core::store::AuthFailure;

/// Entries kept before empty windows are swept out.
const SWEEP_AT: usize = 10_000;
/// Entries beyond which addresses and names with a single failure are forgotten too.
const HARD_CAP: usize = 200_000;

/// Why a login is refused before its password is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// Too many failures from this address.
    Address(Duration),
    /// Too many failures for this user name.
    Account(Duration),
}

impl Blocked {
    /// The reason, for the client and the audit record.
    pub fn text(&self) -> String {
        let (what, d) = match self {
            Blocked::Address(d) => ("from your address", d),
            Blocked::Account(d) => ("for this user", d),
        };
        format!(
            "Too many failed logins {what}; try again in {} minutes",
            d.as_secs().div_ceil(60).max(1)
        )
    }
}

/// The failures of one address or name in the window, oldest first: when each happened, and
/// whether the store holds it (a failure recorded there) rather than only memory (a try in
/// flight, or a failure being recorded).
type Window = VecDeque<(Instant, bool)>;

#[derive(Default)]
struct Windows {
    by_ip: HashMap<IpAddr, Window>,
    by_name: HashMap<String, Window>,
    /// Entries at which the next sweep runs: twice what the last one left (at most the
    /// hard cap, and at least `SWEEP_AT` more), so sweeping stays cheap per failure.
    sweep_at: usize,
}

/// The shared throttle.
pub(crate) struct AuthThrottle {
    limits: Auth,
    windows: Mutex<Windows>,
}

/// IPv6 clients are counted by /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

fn name_key(name: &str) -> String {
    name.chars().take(256).collect::<String>().to_lowercase()
}

/// The address as the store records it: the key it is counted under.
pub(crate) fn ip_key(ip: IpAddr) -> String {
    key(ip).to_string()
}

/// Unix seconds.
pub(crate) fn wall_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The instant of a failure recorded at Unix second `at`. One older than the monotonic
/// clock can express (the machine booted less than a window ago) counts as now: its block
/// lasts a little longer, never shorter.
fn instant_of(at: i64, wall: i64, now: Instant) -> Instant {
    let ago = Duration::from_secs(u64::try_from(wall.saturating_sub(at)).unwrap_or(0));
    now.checked_sub(ago).unwrap_or(now)
}

/// Puts `settled` (Unix seconds, from the store) in place of the settled failures of `q`,
/// keeping the tries in flight.
fn replace_settled(q: &mut Window, settled: &[i64], wall: i64, now: Instant) {
    q.retain(|(_, done)| !done);
    q.extend(settled.iter().map(|at| (instant_of(*at, wall, now), true)));
    q.make_contiguous().sort_by_key(|(t, _)| *t);
}

/// Drops failures older than the window; returns how long until the oldest of the rest
/// leaves it.
fn expire(q: &mut Window, window: Duration, now: Instant) -> Duration {
    while q
        .front()
        .is_some_and(|(t, _)| now.duration_since(*t) >= window)
    {
        q.pop_front();
    }
    q.front()
        .map_or(Duration::ZERO, |(t, _)| window - now.duration_since(*t))
}

impl AuthThrottle {
    pub fn new(limits: Auth) -> Self {
        AuthThrottle {
            limits,
            windows: Mutex::new(Windows::default()),
        }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.limits.window_secs)
    }

    /// Failures recorded before this second are outside every window.
    pub fn forget_before(&self, wall: i64) -> i64 {
        wall.saturating_sub(i64::try_from(self.limits.window_secs).unwrap_or(i64::MAX))
    }

    /// Counts failures the store recorded (those of a previous run, at start).
    pub fn load(&self, failures: &[AuthFailure], wall: i64, now: Instant) {
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        for f in failures {
            let at = (instant_of(f.at, wall, now), true);
            if let Ok(ip) = f.ip.parse::<IpAddr>() {
                w.by_ip.entry(key(ip)).or_default().push_back(at);
            }
            w.by_name
                .entry(name_key(&f.name))
                .or_default()
                .push_back(at);
        }
        let w = &mut *w;
        for q in w.by_ip.values_mut().chain(w.by_name.values_mut()) {
            q.make_contiguous().sort_by_key(|(t, _)| *t);
        }
    }

    /// The failure of the try at `at` is durable in the store: from now on the store's
    /// record of it stands for it ([`AuthThrottle::resync`]). Until then it is counted from
    /// memory alone, so that a resync racing the write cannot forget it.
    fn recorded(&self, ip: IpAddr, name: &str, at: Instant) {
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let settle = |q: &mut Window| {
            if let Some(x) = q.iter_mut().rev().find(|x| **x == (at, false)) {
                x.1 = true;
            }
        };
        if let Some(q) = w.by_ip.get_mut(&ip) {
            settle(q);
        }
        if let Some(q) = w.by_name.get_mut(name) {
            settle(q);
        }
    }

    /// Takes the store's failures of `ip` and `name` as the truth for them: an administrator
    /// may have cleared them (`mailkeep throttle clear`) while the server runs.
    pub fn resync(&self, ip: IpAddr, name: &str, by_ip: &[i64], by_name: &[i64], wall: i64) {
        let now = Instant::now();
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        replace_settled(w.by_ip.entry(key(ip)).or_default(), by_ip, wall, now);
        replace_settled(
            w.by_name.entry(name_key(name)).or_default(),
            by_name,
            wall,
            now,
        );
    }

    /// Takes one try for a login from `ip` as `name`, before its password is checked: the
    /// try counts as a failure at once, so parallel logins cannot all pass a check made
    /// before any of them failed. [`AuthThrottle::succeeded`] gives it back,
    /// [`AuthThrottle::failed`] keeps it, [`AuthThrottle::refund`] gives it back when the
    /// password could not be checked at all.
    pub fn reserve(&self, ip: IpAddr, name: &str, now: Instant) -> Result<Try, Blocked> {
        let window = self.window();
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(q) = w.by_ip.get_mut(&key(ip)) {
            let wait = expire(q, window, now);
            if q.len() >= self.limits.max_failures_per_ip as usize {
                return Err(Blocked::Address(wait));
            }
        }
        if let Some(q) = w.by_name.get_mut(&name_key(name)) {
            let wait = expire(q, window, now);
            if q.len() >= self.limits.max_failures_per_account as usize {
                return Err(Blocked::Account(wait));
            }
        }
        self.sweep(&mut w, now);
        let from_ip = w.by_ip.entry(key(ip)).or_default();
        from_ip.push_back((now, false));
        let ip_nth = from_ip.len();
        let for_name = w.by_name.entry(name_key(name)).or_default();
        for_name.push_back((now, false));
        let name_nth = for_name.len();
        Ok(Try {
            ip: key(ip),
            name: name_key(name),
            at: now,
            ip_nth,
            name_nth,
        })
    }

    /// The password was right: the try does not count.
    pub fn succeeded(&self, t: Try) {
        self.refund(t);
    }

    /// The password could not be checked (store error): the try does not count.
    pub fn refund(&self, t: Try) {
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let drop_one = |q: &mut Window| {
            if let Some(i) = q.iter().rposition(|x| *x == (t.at, false)) {
                q.remove(i);
            }
        };
        if let Some(q) = w.by_ip.get_mut(&t.ip) {
            drop_one(q);
        }
        if let Some(q) = w.by_name.get_mut(&t.name) {
            drop_one(q);
        }
    }

    /// The password was wrong: the try stays counted. Returns how long to wait before
    /// answering, and the block it started, if it was the last try allowed.
    pub fn failed(&self, t: Try, now: Instant) -> (Duration, Option<Blocked>) {
        let window = self.window();
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let (ip_failures, ip_wait) = w.by_ip.get_mut(&t.ip).map_or((0, Duration::ZERO), |q| {
            let wait = expire(q, window, now);
            (q.len() as u64, wait)
        });
        let (_, name_wait) = w.by_name.get_mut(&t.name).map_or((0, Duration::ZERO), |q| {
            let wait = expire(q, window, now);
            (q.len() as u64, wait)
        });
        let base = self.limits.failure_delay_ms;
        let delay = Duration::from_millis(base.saturating_mul(ip_failures.min(10)));
        let block = if t.ip_nth == self.limits.max_failures_per_ip as usize {
            Some(Blocked::Address(ip_wait))
        } else if t.name_nth == self.limits.max_failures_per_account as usize {
            Some(Blocked::Account(name_wait))
        } else {
            None
        };
        (delay, block)
    }

    fn sweep(&self, w: &mut Windows, now: Instant) {
        let window = self.window();
        if w.by_ip.len() + w.by_name.len() <= w.sweep_at.max(SWEEP_AT) {
            return;
        }
        // Empty windows go; if a spread-out attack still leaves too many, single failures
        // go too (they are far from any limit), so memory stays bounded.
        let keep = if w.by_ip.len() + w.by_name.len() > HARD_CAP {
            2
        } else {
            1
        };
        w.by_ip.retain(|_, q| {
            expire(q, window, now);
            q.len() >= keep
        });
        w.by_name.retain(|_, q| {
            expire(q, window, now);
            q.len() >= keep
        });
        let left = w.by_ip.len() + w.by_name.len();
        w.sweep_at = (2 * left).clamp(SWEEP_AT, HARD_CAP).max(left + SWEEP_AT);
    }
}

/// One login try taken from the budget by [`AuthThrottle::reserve`].
#[must_use = "a try is settled by succeeded, failed or refund"]
pub(crate) struct Try {
    ip: IpAddr,
    name: String,
    at: Instant,
    /// Which try in the window this is, so that only the last one allowed reports the
    /// block it starts, however many race.
    ip_nth: usize,
    name_nth: usize,
}

impl Try {
    /// The failure this try becomes, for the store.
    fn failure(&self, protocol: &str) -> AuthFailure {
        AuthFailure {
            at: wall_now(),
            ip: self.ip.to_string(),
            name: self.name.clone(),
            protocol: protocol.to_owned(),
        }
    }
}

/// Takes a try for a login from `ip` as `name` ([`AuthThrottle::reserve`]). When the counts
/// in memory refuse it, the store decides: an administrator may have cleared the block. If
/// the store cannot be read, the block stands.
pub(crate) async fn reserve_login(shared: &Shared, ip: IpAddr, name: &str) -> Result<Try, Blocked> {
    let throttle = &shared.auth_throttle;
    let blocked = match throttle.reserve(ip, name, Instant::now()) {
        Ok(t) => return Ok(t),
        Err(b) => b,
    };
    let store = shared.store.clone();
    let since = throttle.forget_before(wall_now());
    let (ipk, namek) = (ip_key(ip), name_key(name));
    let recorded = crate::blocking(move || {
        let times = |v: Vec<AuthFailure>| v.into_iter().map(|f| f.at).collect::<Vec<_>>();
        let by_ip = store.auth_failures(since, Some(&ipk), None)?;
        let by_name = store.auth_failures(since, None, Some(&namek))?;
        Ok::<_, mailkeep_core::store::Error>((times(by_ip), times(by_name)))
    })
    .await;
    match recorded {
        Some(Ok((by_ip, by_name))) => {
            throttle.resync(ip, name, &by_ip, &by_name, wall_now());
            throttle.reserve(ip, name, Instant::now())
        }
        Some(Err(e)) => {
            tracing::error!(error = %e, "reading failed logins failed; the block stands");
            Err(blocked)
        }
        None => Err(blocked),
    }
}

/// Settles a try whose password was wrong (or whose name is no address): logs the fail2ban
/// line, records the failure in the store with its audit event (as the anonymous
/// `store` actor), and returns how long to wait before answering.
pub(crate) async fn login_failed(
    shared: &Shared,
    store: &crate::Store,
    t: Try,
    proto: &str,
    ip: IpAddr,
    tried: &str,
    reason: &str,
) -> Duration {
    // The audit record's wording, as it was before failures were also kept for the throttle.
    let detail = if proto == "smtp" {
        "smtp auth failed"
    } else {
        "imap login failed"
    };
    log_failure(proto, ip, tried, reason);
    let failure = t.failure(proto);
    let (key_ip, key_name, at) = (t.ip, t.name.clone(), t.at);
    let (delay, block) = shared.auth_throttle.failed(t, Instant::now());
    let forget_before = shared.auth_throttle.forget_before(failure.at);
    let (journal, tried_owned, detail) = (store.clone(), tried.to_owned(), detail.to_owned());
    let recorded = crate::blocking(move || {
        journal.record_auth_failure(failure, &tried_owned, &detail, forget_before)
    })
    .await;
    match recorded {
        Some(Ok(())) => shared.auth_throttle.recorded(key_ip, &key_name, at),
        Some(Err(e)) => tracing::error!(error = %e, "recording a failed login failed"),
        None => {}
    }
    if let Some(b) = block {
        crate::audit(store, tried, &format!("logins refused: {}", b.text())).await;
    }
    delay
}

/// The login name a throttle and a lookup use: the address as [`Address::parse`] normalises
/// it (case, trailing dot of the domain), so `Bob@Example.org.` shares bob@example.org's
/// budget; `None` for a name that is no address, which no account can have.
pub(crate) fn login_name(raw: &str) -> Option<String> {
    mailkeep_core::address::Address::parse(raw.trim())
        .ok()
        .map(|a| a.to_string())
}

/// The name a login's try is counted under: the normalised address, or for a name that is
/// no address the name itself (lower-cased), so that guessing user names is throttled too.
pub(crate) fn budget_name(raw: &str) -> String {
    name_key(&login_name(raw).unwrap_or_else(|| raw.to_owned()))
}

/// The one line every failed authentication writes, on every protocol, for fail2ban and
/// the like (see README "Failed logins"); the name is written as given, quoted and escaped
/// so a client cannot forge a line.
pub(crate) fn log_failure(proto: &str, ip: IpAddr, login: &str, reason: &str) {
    let login: String = login.chars().take(256).collect();
    tracing::warn!(
        target: "mailkeep::authfail",
        "auth failed proto={proto} ip={ip} login={login:?} reason={reason}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn limits() -> Auth {
        Auth {
            max_failures_per_ip: 3,
            max_failures_per_account: 5,
            window_secs: 60,
            failure_delay_ms: 100,
        }
    }

    fn fail(t: &AuthThrottle, ip: IpAddr, name: &str, now: Instant) -> (Duration, Option<Blocked>) {
        let r = t.reserve(ip, name, now).expect("not blocked");
        t.failed(r, now)
    }

    #[test]
    fn an_address_gets_its_tries_then_waits_out_the_window() {
        let t = AuthThrottle::new(limits());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        for n in 1..=3u64 {
            let (delay, block) = fail(&t, ip, "alice", t0);
            assert_eq!(delay, Duration::from_millis(100 * n), "growing");
            assert_eq!(block.is_some(), n == 3);
        }
        assert!(matches!(t.reserve(ip, "bob", t0), Err(Blocked::Address(_))));
        let later = t0 + Duration::from_secs(59);
        assert!(t.reserve(ip, "bob", later).is_err());
        assert!(t.reserve(ip, "bob", t0 + Duration::from_secs(60)).is_ok());
        // Another address is not affected.
        assert!(t.reserve("192.0.2.8".parse().unwrap(), "bob", t0).is_ok());
    }

    #[test]
    fn failures_of_a_previous_run_still_count() {
        let t = AuthThrottle::new(limits());
        let (wall, now) = (1_000_000, Instant::now());
        let failure = |at| AuthFailure {
            at,
            ip: "192.0.2.7".into(),
            name: "bob@example.org".into(),
            protocol: "imap".into(),
        };
        // Three failures 10 s ago: the address is refused for the 50 s left of the window.
        t.load(
            &[failure(wall - 10), failure(wall - 10), failure(wall - 10)],
            wall,
            now,
        );
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(
            t.reserve(ip, "carol@example.org", now).err(),
            Some(Blocked::Address(Duration::from_secs(50)))
        );
        assert!(
            t.reserve(ip, "carol@example.org", now + Duration::from_secs(50))
                .is_ok()
        );
        // Failures older than the window are not counted at all.
        let t = AuthThrottle::new(limits());
        t.load(
            &[failure(wall - 60), failure(wall - 61), failure(wall - 999)],
            wall,
            now,
        );
        assert!(t.reserve(ip, "carol@example.org", now).is_ok());
    }

    #[test]
    fn the_store_lifts_a_block_but_tries_in_flight_stay_counted() {
        let t = AuthThrottle::new(limits());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let now = Instant::now();
        // Two failures recorded in the store, one being recorded, and a try in flight.
        for _ in 0..2 {
            let r = t.reserve(ip, "bob", now).unwrap();
            let (at, name) = (r.at, r.name.clone());
            t.failed(r, now);
            t.recorded(ip, &name, at);
        }
        let r = t.reserve(ip, "bob", now).unwrap();
        t.failed(r, now);
        assert!(t.reserve(ip, "bob", now).is_err(), "three of three");
        // An administrator cleared the address: the store holds nothing for it. What the
        // store never held yet still counts, so two tries are left, not three.
        t.resync(ip, "bob", &[], &[], 0);
        let _first = t.reserve(ip, "bob", now).expect("a try left");
        let _second = t.reserve(ip, "bob", now).expect("a second try left");
        assert!(t.reserve(ip, "bob", now).is_err());
    }

    #[test]
    fn parallel_tries_get_only_the_limit_between_them() {
        // 40 logins racing: each one takes its try before its password is checked, so at
        // most the limit of them ever reach the check, however they interleave.
        let t = Arc::new(AuthThrottle::new(Auth {
            max_failures_per_ip: 10,
            max_failures_per_account: 10,
            ..limits()
        }));
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let t0 = Instant::now();
        let barrier = Arc::new(std::sync::Barrier::new(40));
        let threads: Vec<_> = (0..40)
            .map(|_| {
                let (t, barrier) = (t.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let r = t.reserve(ip, "bob@example.org", t0)?;
                    // The slow password check, during which the others try too.
                    std::thread::sleep(Duration::from_millis(20));
                    t.failed(r, t0);
                    Ok::<(), Blocked>(())
                })
            })
            .collect();
        let checked = threads
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(Result::is_ok)
            .count();
        assert_eq!(checked, 10);
    }

    #[test]
    fn a_right_password_gives_its_try_back() {
        let t = AuthThrottle::new(limits());
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..10 {
            let r = t
                .reserve(ip, "alice", t0)
                .expect("a user who logs in is never blocked");
            t.succeeded(r);
        }
        let r = t.reserve(ip, "alice", t0).unwrap();
        t.refund(r);
        assert_eq!(fail(&t, ip, "alice", t0).0, Duration::from_millis(100));
    }

    #[test]
    fn login_names_are_normalised_once_and_non_addresses_refused() {
        assert_eq!(
            login_name("bob@example.org.").as_deref(),
            Some("bob@example.org")
        );
        assert_eq!(
            login_name("Bob@EXAMPLE.org").as_deref(),
            Some("bob@example.org")
        );
        assert_eq!(login_name("bob"), None);
        assert_eq!(login_name("bob@"), None);
        assert_eq!(login_name("bob@exa mple.org"), None);
        // A trailing dot shares the plain name's budget.
        let t = AuthThrottle::new(limits());
        let t0 = Instant::now();
        for n in 0..5u8 {
            let ip = IpAddr::from([198, 51, 100, n]);
            fail(&t, ip, &login_name("bob@example.org").unwrap(), t0);
        }
        let fresh = IpAddr::from([203, 0, 113, 1]);
        let dotted = login_name("bob@example.org.").unwrap();
        assert!(matches!(
            t.reserve(fresh, &dotted, t0),
            Err(Blocked::Account(_))
        ));
    }

    #[test]
    fn a_name_is_refused_after_failures_from_many_addresses() {
        let t = AuthThrottle::new(limits());
        let t0 = Instant::now();
        for n in 0..5u8 {
            let ip = IpAddr::from([198, 51, 100, n]);
            fail(&t, ip, "alice@example.org", t0);
        }
        let fresh = IpAddr::from([203, 0, 113, 1]);
        assert!(matches!(
            t.reserve(fresh, "ALICE@example.org", t0),
            Err(Blocked::Account(_))
        ));
        assert!(t.reserve(fresh, "bob@example.org", t0).is_ok());
    }

    #[test]
    fn ipv6_counts_by_slash_64() {
        let t = AuthThrottle::new(limits());
        let t0 = Instant::now();
        for host in 1..=3u16 {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, host));
            fail(&t, ip, &format!("u{host}"), t0);
        }
        let same_net: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(t.reserve(same_net, "x", t0).is_err());
        assert!(t.reserve(other_net, "x", t0).is_ok());
    }

    #[test]
    fn memory_stays_bounded_under_a_spread_out_attack() {
        let t = AuthThrottle::new(limits());
        let t0 = Instant::now();
        for n in 0..(HARD_CAP as u32 / 2 + 10) {
            fail(&t, IpAddr::from(n.to_be_bytes()), &format!("user{n}"), t0);
        }
        let w = t.windows.lock().unwrap();
        assert!(
            w.by_ip.len() + w.by_name.len() <= HARD_CAP + SWEEP_AT,
            "{}",
            w.by_ip.len()
        );
    }
}
