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

use mailkeep_core::config::Auth;

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

#[derive(Default)]
struct Windows {
    by_ip: HashMap<IpAddr, VecDeque<Instant>>,
    by_name: HashMap<String, VecDeque<Instant>>,
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

/// Drops failures older than the window; returns how long until the oldest of the rest
/// leaves it.
fn expire(q: &mut VecDeque<Instant>, window: Duration, now: Instant) -> Duration {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
    q.front()
        .map_or(Duration::ZERO, |t| window - now.duration_since(*t))
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

    /// Whether a login from `ip` as `name` may be tried now.
    pub fn check(&self, ip: IpAddr, name: &str, now: Instant) -> Result<(), Blocked> {
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
        Ok(())
    }

    /// Records a failed login; returns how long to wait before answering it, and the block
    /// it started, if it was the last try allowed.
    pub fn failed(&self, ip: IpAddr, name: &str, now: Instant) -> (Duration, Option<Blocked>) {
        let window = self.window();
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if w.by_ip.len() + w.by_name.len() > w.sweep_at.max(SWEEP_AT) {
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
        let from_ip = w.by_ip.entry(key(ip)).or_default();
        expire(from_ip, window, now);
        from_ip.push_back(now);
        let ip_failures = from_ip.len() as u64;
        let ip_wait = expire(from_ip, window, now);
        let for_name = w.by_name.entry(name_key(name)).or_default();
        expire(for_name, window, now);
        for_name.push_back(now);
        let name_failures = for_name.len() as u64;
        let name_wait = expire(for_name, window, now);
        let base = self.limits.failure_delay_ms;
        let delay = Duration::from_millis(base.saturating_mul(ip_failures.min(10)));
        let block = if ip_failures == u64::from(self.limits.max_failures_per_ip) {
            Some(Blocked::Address(ip_wait))
        } else if name_failures == u64::from(self.limits.max_failures_per_account) {
            Some(Blocked::Account(name_wait))
        } else {
            None
        };
        (delay, block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Auth {
        Auth {
            max_failures_per_ip: 3,
            max_failures_per_account: 5,
            window_secs: 60,
            failure_delay_ms: 100,
        }
    }

    #[test]
    fn an_address_gets_its_tries_then_waits_out_the_window() {
        let t = AuthThrottle::new(limits());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        for n in 1..=3u64 {
            assert_eq!(t.check(ip, "alice", t0), Ok(()));
            let (delay, block) = t.failed(ip, "alice", t0);
            assert_eq!(delay, Duration::from_millis(100 * n), "growing");
            assert_eq!(block.is_some(), n == 3);
        }
        assert!(matches!(t.check(ip, "bob", t0), Err(Blocked::Address(_))));
        let later = t0 + Duration::from_secs(59);
        assert!(t.check(ip, "bob", later).is_err());
        assert_eq!(t.check(ip, "bob", t0 + Duration::from_secs(60)), Ok(()));
        // Another address is not affected.
        assert_eq!(t.check("192.0.2.8".parse().unwrap(), "bob", t0), Ok(()));
    }

    #[test]
    fn a_name_is_refused_after_failures_from_many_addresses() {
        let t = AuthThrottle::new(limits());
        let t0 = Instant::now();
        for n in 0..5u8 {
            let ip = IpAddr::from([198, 51, 100, n]);
            assert_eq!(t.check(ip, "Alice@Example.org", t0), Ok(()));
            t.failed(ip, "alice@example.org", t0);
        }
        let fresh = IpAddr::from([203, 0, 113, 1]);
        assert!(matches!(
            t.check(fresh, "ALICE@example.org", t0),
            Err(Blocked::Account(_))
        ));
        assert_eq!(t.check(fresh, "bob@example.org", t0), Ok(()));
    }

    #[test]
    fn ipv6_counts_by_slash_64() {
        let t = AuthThrottle::new(limits());
        let t0 = Instant::now();
        for host in 1..=3u16 {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, host));
            t.failed(ip, &format!("u{host}"), t0);
        }
        let same_net: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(t.check(same_net, "x", t0).is_err());
        assert_eq!(t.check(other_net, "x", t0), Ok(()));
    }

    #[test]
    fn memory_stays_bounded_under_a_spread_out_attack() {
        let t = AuthThrottle::new(limits());
        let t0 = Instant::now();
        for n in 0..(HARD_CAP as u32 / 2 + 10) {
            t.failed(IpAddr::from(n.to_be_bytes()), &format!("user{n}"), t0);
        }
        let w = t.windows.lock().unwrap();
        assert!(
            w.by_ip.len() + w.by_name.len() <= HARD_CAP + SWEEP_AT,
            "{}",
            w.by_ip.len()
        );
    }
}
