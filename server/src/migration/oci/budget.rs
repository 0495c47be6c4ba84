//! The data-plane read budget of one registry endpoint (a host). ACR
//! throttles its data plane per replica, and a migration reads a registry
//! tens of thousands of times (inventory, verification, each regional
//! endpoint), so every request of the migration engine's OCI clients takes
//! a token from its host's budget first:
//!
//! - a token bucket at the configured rate (the ceiling) with its burst;
//! - AIMD on the rate: a 429 cuts it to 80 % (once per second: a burst of
//!   refusals is one signal), each success adds back 1 % of the ceiling;
//! - a 429's `Retry-After` (or one second without it) holds every request
//!   to that host until it has passed; the refused request is sent again.
//!
//! Budgets are shared by every client of the same host ([`Budgets`]), so two
//! phases or two migrations reading one registry share its quota.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

/// The configured ceiling of one host's reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReadRate {
    /// Requests per second.
    pub per_sec: f64,
    /// Requests that may go at once after a quiet spell.
    pub burst: f64,
}

impl Default for ReadRate {
    /// ACR Premium's documented data-plane read limit is 10,000 per minute
    /// per replica: stay under it.
    fn default() -> Self {
        ReadRate { per_sec: 150.0, burst: 300.0 }
    }
}

#[derive(Debug)]
struct State {
    tokens: f64,
    last: Instant,
    /// The rate now (AIMD), at most the ceiling.
    rate: f64,
    /// No request before this (a `Retry-After`).
    hold_until: Instant,
    last_cut: Option<Instant>,
    throttled: u64,
    sent: u64,
}

/// One host's budget.
#[derive(Debug)]
pub struct HostBudget {
    ceiling: ReadRate,
    state: Mutex<State>,
}

/// What a budget has seen (the benchmark and the tests read it).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BudgetStats {
    pub sent: u64,
    pub throttled: u64,
    pub rate: f64,
}

impl HostBudget {
    pub fn new(ceiling: ReadRate) -> HostBudget {
        let now = Instant::now();
        let ceiling = ReadRate { per_sec: ceiling.per_sec.max(0.1), burst: ceiling.burst.max(1.0) };
        HostBudget {
            ceiling,
            state: Mutex::new(State { tokens: ceiling.burst, last: now, rate: ceiling.per_sec, hold_until: now, last_cut: None, throttled: 0, sent: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a token (and any `Retry-After` hold) and takes it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                s.tokens = (s.tokens + now.saturating_duration_since(s.last).as_secs_f64() * s.rate).min(self.ceiling.burst);
                s.last = now;
                if now < s.hold_until {
                    s.hold_until - now
                } else if s.tokens >= 1.0 {
                    s.tokens -= 1.0;
                    s.sent += 1;
                    return;
                } else {
                    Duration::from_secs_f64(((1.0 - s.tokens) / s.rate).max(0.001))
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The host answered: the rate climbs back towards the ceiling.
    pub fn success(&self) {
        let mut s = self.lock();
        s.rate = (s.rate + self.ceiling.per_sec * 0.01).min(self.ceiling.per_sec);
    }

    /// The host answered 429: cut the rate (once a second) and hold every
    /// request until `retry_after` has passed.
    pub fn throttled(&self, retry_after: Duration) {
        let mut s = self.lock();
        let now = Instant::now();
        s.throttled += 1;
        crate::metrics::registry_read_throttled();
        s.hold_until = s.hold_until.max(now + retry_after);
        if s.last_cut.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
            s.last_cut = Some(now);
            s.rate = (s.rate * 0.8).max(self.ceiling.per_sec / 100.0).max(0.1);
        }
        // The bucket's saved tokens were the host's to give, not ours.
        s.tokens = s.tokens.min(1.0);
    }

    pub fn stats(&self) -> BudgetStats {
        let s = self.lock();
        BudgetStats { sent: s.sent, throttled: s.throttled, rate: s.rate }
    }
}

/// Every host's budget, made on first use with the configured ceiling.
#[derive(Clone, Debug, Default)]
pub struct Budgets {
    ceiling: ReadRate,
    hosts: Arc<Mutex<HashMap<String, Arc<HostBudget>>>>,
}

impl Budgets {
    pub fn new(ceiling: ReadRate) -> Budgets {
        Budgets { ceiling, hosts: Default::default() }
    }

    /// The budget of `host` (`host[:port]`).
    pub fn of(&self, host: &str) -> Arc<HostBudget> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts.entry(host.to_ascii_lowercase()).or_insert_with(|| Arc::new(HostBudget::new(self.ceiling))).clone()
    }

    /// What each host's budget has seen.
    pub fn stats(&self) -> Vec<(String, BudgetStats)> {
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = hosts.iter().map(|(h, b)| (h.clone(), b.stats())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_bucket_paces_reads_and_a_429_cuts_the_rate_and_holds() {
        let b = HostBudget::new(ReadRate { per_sec: 100.0, burst: 5.0 });
        let t0 = Instant::now();
        for _ in 0..15 {
            b.acquire().await;
        }
        // 5 at once, then 10 more at 100 per second: at least 100 ms.
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(95), "{took:?}");
        b.throttled(Duration::from_millis(300));
        let s = b.stats();
        assert_eq!((s.sent, s.throttled), (15, 1));
        assert!((s.rate - 80.0).abs() < 1e-9, "{}", s.rate);
        // A second 429 within the second is the same signal.
        b.throttled(Duration::from_millis(300));
        assert!((b.stats().rate - 80.0).abs() < 1e-9);
        let t1 = Instant::now();
        b.acquire().await;
        assert!(t1.elapsed() >= Duration::from_millis(290), "the Retry-After holds the host");
        for _ in 0..1000 {
            b.success();
        }
        assert!((b.stats().rate - 100.0).abs() < 1e-9, "successes climb back to the ceiling, never above");
    }

    #[test]
    fn hosts_share_one_budget_each() {
        let all = Budgets::new(ReadRate::default());
        assert!(Arc::ptr_eq(&all.of("A.azurecr.io"), &all.of("a.azurecr.io")));
        assert!(!Arc::ptr_eq(&all.of("a.azurecr.io"), &all.of("b.azurecr.io")));
    }
}
