//! Connection counting: per listener, per IP address, and per account.
//!
//! Every listener family (MX, submission, IMAP, HTTP) has its own pool, so a flood of one
//! cannot take the slots of another. A pool where clients log in (submission, IMAP) keeps
//! `reserved` slots that only logged-in sessions may hold, and when its slots for
//! connections not logged in yet are all taken, a new connection takes the place of the
//! oldest of them (which is told to close) instead of being refused: a flood of idle
//! connections then only ever delays a real client by the time its login takes, never
//! locks it out (OpenSSH's `MaxStartups` and Dovecot's pre-login limits answer the same
//! attack). Refused connections are logged, at most one line per pool every
//! [`REFUSAL_LOG_EVERY`], with how many were left unlogged, so a flood cannot fill the disk.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The shortest interval between two log lines about refused connections of one pool.
pub(crate) const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// The size of one listener family's pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSize {
    /// Connections in all.
    pub max_total: usize,
    /// Connections from one address (an IPv6 address counts alone).
    pub max_per_ip: usize,
    /// Slots only logged-in sessions may hold.
    pub reserved: usize,
    /// Whether the oldest connection not logged in yet gives way to a new one when the pool's
    /// slots for such connections are all taken (pools whose clients log in).
    pub evict: bool,
}

/// Counts open connections of one pool; a [`Slot`] gives its place back when dropped.
#[derive(Clone)]
pub(crate) struct ConnLimits {
    name: &'static str,
    size: PoolSize,
    inner: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    /// Connections not logged in (yet), oldest first, with how to tell each to close.
    waiting: BTreeMap<u64, Arc<Notify>>,
    /// Logged-in connections.
    logged_in: usize,
    /// Told to close, not closed yet: no longer counted in the pool, still per address.
    evicted: HashSet<u64>,
    per_ip: HashMap<IpAddr, usize>,
    next_id: u64,
    last_log: Option<Instant>,
    unlogged: u64,
}

impl Counts {
    fn total(&self) -> usize {
        self.waiting.len() + self.logged_in
    }
}

/// Why a connection was turned away.
pub(crate) enum Refused {
    Total,
    PerIp,
}

impl Refused {
    fn reason(&self) -> &'static str {
        match self {
            Refused::Total => "pool-full",
            Refused::PerIp => "per-ip-limit",
        }
    }
}

pub(crate) struct Slot {
    limits: ConnLimits,
    ip: IpAddr,
    id: u64,
    evict: Arc<Notify>,
}

impl ConnLimits {
    pub fn new(name: &'static str, size: PoolSize) -> Self {
        ConnLimits {
            name,
            size,
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn acquire(&self, ip: IpAddr) -> Result<Slot, Refused> {
        let mut c = self.lock();
        let refused = self.admit(&mut c, ip).err();
        if let Some(why) = refused {
            self.log_refusal(&mut c, ip, why.reason());
            return Err(why);
        }
        *c.per_ip.entry(ip).or_insert(0) += 1;
        let id = c.next_id;
        c.next_id += 1;
        let evict = Arc::new(Notify::new());
        c.waiting.insert(id, evict.clone());
        Ok(Slot {
            limits: self.clone(),
            ip,
            id,
            evict,
        })
    }

    /// Makes room for one more connection not logged in, telling the oldest such one to
    /// close if the pool allows that and it is needed.
    fn admit(&self, c: &mut Counts, ip: IpAddr) -> Result<(), Refused> {
        if c.per_ip.get(&ip).copied().unwrap_or(0) >= self.size.max_per_ip {
            return Err(Refused::PerIp);
        }
        let waiting_max = self.size.max_total.saturating_sub(self.size.reserved);
        let full = |c: &Counts| c.waiting.len() >= waiting_max || c.total() >= self.size.max_total;
        if !full(c) {
            return Ok(());
        }
        if !self.size.evict || waiting_max == 0 {
            return Err(Refused::Total);
        }
        let Some((old, notify)) = c.waiting.pop_first() else {
            return Err(Refused::Total);
        };
        notify.notify_one();
        c.evicted.insert(old);
        self.log_refusal(c, ip, "oldest-unauthenticated-closed");
        if full(c) {
            return Err(Refused::Total);
        }
        Ok(())
    }

    fn log_refusal(&self, c: &mut Counts, ip: IpAddr, reason: &str) {
        let now = Instant::now();
        if c.last_log
            .is_some_and(|t| now.duration_since(t) < REFUSAL_LOG_EVERY)
        {
            c.unlogged += 1;
            return;
        }
        tracing::warn!(
            target: "mailkeep::refused",
            "connection refused listener={} ip={ip} reason={reason} (and {} more since the last such line)",
            self.name,
            c.unlogged
        );
        c.last_log = Some(now);
        c.unlogged = 0;
    }
}

impl Slot {
    /// The connection logged in: it holds a logged-in slot from now on (which the reserve
    /// keeps free of connections not logged in) and is never told to make room.
    pub fn logged_in(&self) {
        let mut c = self.limits.lock();
        if c.waiting.remove(&self.id).is_some() || c.evicted.remove(&self.id) {
            c.logged_in += 1;
        }
    }

    /// Completes when the pool needs this connection's place for a newer one: it has not
    /// logged in, and was the oldest such connection when the pool was full.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.limits.lock();
        if c.waiting.remove(&self.id).is_none() && !c.evicted.remove(&self.id) {
            c.logged_in = c.logged_in.saturating_sub(1);
        }
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

/// Counts logged-in IMAP sessions per account.
#[derive(Clone)]
pub(crate) struct AccountLimits {
    inner: Arc<Mutex<HashMap<i64, usize>>>,
    max: usize,
}

pub(crate) struct AccountSlot {
    limits: AccountLimits,
    account: i64,
}

impl AccountLimits {
    pub fn new(max: usize) -> Self {
        AccountLimits {
            inner: Arc::default(),
            max,
        }
    }

    pub fn acquire(&self, account: i64) -> Option<AccountSlot> {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(account).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AccountSlot {
            limits: self.clone(),
            account,
        })
    }
}

impl Drop for AccountSlot {
    fn drop(&mut self) {
        let mut m = self.limits.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.account) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(max_total: usize, reserved: usize, evict: bool) -> ConnLimits {
        ConnLimits::new(
            "test",
            PoolSize {
                max_total,
                max_per_ip: 100,
                reserved,
                evict,
            },
        )
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    /// Whether the slot has been told to close, without waiting.
    fn told_to_close(slot: &Slot) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(10), slot.evicted())
                .await
                .is_ok()
        })
    }

    #[test]
    fn a_pool_without_logins_refuses_when_full() {
        let p = pool(3, 0, false);
        let held: Vec<_> = (0..3).map(|n| p.acquire(ip(n)).ok().unwrap()).collect();
        assert!(matches!(p.acquire(ip(9)), Err(Refused::Total)));
        assert!(held.iter().all(|s| !told_to_close(s)));
        drop(held);
        assert!(p.acquire(ip(9)).is_ok());
    }

    #[test]
    fn a_flood_not_logging_in_gives_way_to_new_connections_and_never_takes_the_reserve() {
        let p = pool(5, 2, true);
        // Three slots for connections not logged in: the fourth closes the oldest.
        let flood: Vec<_> = (0..3).map(|n| p.acquire(ip(n)).ok().unwrap()).collect();
        let user = p.acquire(ip(50)).ok().expect("a new connection gets in");
        assert!(told_to_close(&flood[0]));
        assert!(!told_to_close(&flood[1]) && !told_to_close(&flood[2]));
        // It logs in: it moves to the reserve, and is never told to close.
        user.logged_in();
        let more: Vec<_> = (0..3)
            .map(|n| p.acquire(ip(10 + n)).ok().unwrap())
            .collect();
        assert!(!told_to_close(&user));
        assert!(told_to_close(&flood[1]) && told_to_close(&flood[2]));
        // More users log in: while there are free slots nobody is told to close; then each
        // newcomer takes the place of the oldest connection not logged in.
        let second = p.acquire(ip(51)).ok().unwrap();
        assert!(told_to_close(&more[0]));
        second.logged_in();
        let third = p.acquire(ip(52)).ok().unwrap();
        assert!(!told_to_close(&more[1]), "a free slot was left");
        third.logged_in();
        let fourth = p.acquire(ip(53)).ok().unwrap();
        assert!(told_to_close(&more[1]));
        fourth.logged_in();
        let fifth = p.acquire(ip(54)).ok().unwrap();
        assert!(told_to_close(&more[2]));
        fifth.logged_in();
        // Every slot is a logged-in one: a newcomer is refused.
        assert!(matches!(p.acquire(ip(55)), Err(Refused::Total)));
        drop(fifth);
        assert!(p.acquire(ip(55)).is_ok());
    }

    #[test]
    fn per_address_limit_counts_connections_told_to_close_until_they_are_gone() {
        let p = ConnLimits::new(
            "test",
            PoolSize {
                max_total: 10,
                max_per_ip: 2,
                reserved: 0,
                evict: true,
            },
        );
        let a = p.acquire(ip(1)).ok().unwrap();
        let _b = p.acquire(ip(1)).ok().unwrap();
        assert!(matches!(p.acquire(ip(1)), Err(Refused::PerIp)));
        drop(a);
        assert!(p.acquire(ip(1)).is_ok());
    }
}
