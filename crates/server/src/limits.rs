//! Connection counting per IP address and in total.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open connections; a [`Slot`] gives its place back when dropped.
#[derive(Clone)]
pub(crate) struct ConnLimits {
    inner: Arc<Mutex<Counts>>,
    max_total: usize,
    max_per_ip: usize,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was turned away.
pub(crate) enum Refused {
    Total,
    PerIp,
}

pub(crate) struct Slot {
    limits: ConnLimits,
    ip: IpAddr,
}

impl ConnLimits {
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        ConnLimits {
            inner: Arc::default(),
            max_total,
            max_per_ip,
        }
    }

    pub fn acquire(&self, ip: IpAddr) -> Result<Slot, Refused> {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= self.max_total {
            return Err(Refused::Total);
        }
        let n = c.per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return Err(Refused::PerIp);
        }
        *n += 1;
        c.total += 1;
        Ok(Slot {
            limits: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.limits.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
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

/// Events per key within a sliding window (e.g. messages per account per hour).
pub(crate) struct RateWindow {
    window: std::time::Duration,
    seen: Mutex<HashMap<i64, std::collections::VecDeque<std::time::Instant>>>,
}

impl RateWindow {
    pub fn new(window: std::time::Duration) -> RateWindow {
        RateWindow {
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// How many events `key` had within the window before `now`.
    pub fn count(&self, key: i64, now: std::time::Instant) -> usize {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let Some(q) = seen.get_mut(&key) else {
            return 0;
        };
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        q.len()
    }

    /// Records one event of `key` at `now`.
    pub fn record(&self, key: i64, now: std::time::Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.entry(key).or_default().push_back(now);
    }
}
