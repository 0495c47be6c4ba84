//! The window of imports in flight: slow start, then additive increase /
//! multiplicative decrease. The window doubles every round trip (+1 per
//! success) until ARM first answers 429; from then on it grows by one per
//! window's worth of successes and shrinks to 80 % on a 429 (a gentler cut
//! than halving keeps the average close to the quota). The 429s of one
//! round trip are one signal: after a cut, further 429s within a round trip
//! (the smoothed import time) do not cut again. Never below 1 nor above the
//! maximum.
//!
//! When ARM reports the writes left in the subscription's quota
//! (`x-ms-ratelimit-remaining-subscription-writes`), the growth per round
//! trip follows that headroom instead: fast far from the quota, none at it,
//! and never more at once than ARM would accept (a token bucket's burst).

use std::time::{Duration, Instant};

/// Multiplicative decrease on a 429.
pub const BETA: f64 = 0.8;

#[derive(Clone, Debug)]
pub struct Aimd {
    window: f64,
    max: f64,
    slow_start: bool,
    /// Smoothed round trip of one import.
    srtt: Option<Duration>,
    last_cut: Option<Instant>,
    /// ARM's `x-ms-ratelimit-remaining-subscription-writes` as last seen.
    headroom: Option<u64>,
}

impl Aimd {
    pub fn new(start: usize, max: usize) -> Aimd {
        let max = max.max(1) as f64;
        Aimd { window: (start.max(1) as f64).min(max), max, slow_start: true, srtt: None, last_cut: None, headroom: None }
    }

    /// Imports allowed in flight now.
    pub fn window(&self) -> usize {
        self.window.floor() as usize
    }

    /// An import finished after `rtt`.
    pub fn success_after(&mut self, rtt: Duration) {
        self.srtt = Some(match self.srtt {
            Some(s) => s.mul_f64(0.875) + rtt.mul_f64(0.125),
            None => rtt,
        });
        self.success();
    }

    /// The interval between sends that spreads a window over a round trip
    /// (`None` until a round trip is known).
    pub fn pace(&self) -> Option<Duration> {
        self.srtt.map(|rtt| rtt.div_f64(self.window.max(1.0)))
    }

    /// How many writes ARM says are left in the subscription's quota now.
    pub fn set_headroom(&mut self, remaining: u64) {
        self.headroom = Some(remaining);
    }

    /// One more import ended well. Without word from ARM: +1 in slow start
    /// (doubling per round trip), +1/window after (one per round trip).
    /// With ARM's remaining writes known, the window grows per round trip
    /// by about what is left in the quota (at least one, at most doubling):
    /// fast while the quota is far, not at all past it, and never by more
    /// than ARM would accept at once.
    pub fn success(&mut self) {
        let step = match self.headroom {
            Some(left) => (left as f64 / self.window).clamp(1.0 / self.window, 1.0),
            None if self.slow_start => 1.0,
            None => 1.0 / self.window,
        };
        self.window = (self.window + step).min(self.max);
    }

    /// ARM said 429: cut (once per round trip), and leave slow start for good.
    pub fn throttled(&mut self) {
        self.throttled_at(Instant::now());
    }

    pub fn throttled_at(&mut self, now: Instant) {
        self.slow_start = false;
        let hold = self.srtt.unwrap_or(Duration::from_millis(500)).max(Duration::from_millis(100));
        if self.last_cut.is_some_and(|t| now.duration_since(t) < hold) {
            return;
        }
        self.last_cut = Some(now);
        self.window = (self.window * BETA).max(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::Aimd;

    #[test]
    fn slow_start_then_additive_increase_and_multiplicative_decrease() {
        let mut a = Aimd::new(4, 64);
        assert_eq!(a.window(), 4);
        // Slow start: one more per success (doubling per round trip).
        for _ in 0..4 {
            a.success();
        }
        assert_eq!(a.window(), 8);
        let t0 = std::time::Instant::now();
        a.success_after(std::time::Duration::from_secs(1));
        a.throttled_at(t0);
        assert_eq!(a.window(), 7);
        // More 429s within the same round trip are the same signal.
        a.throttled_at(t0 + std::time::Duration::from_millis(300));
        assert_eq!(a.window(), 7);
        a.throttled_at(t0 + std::time::Duration::from_millis(1100));
        assert_eq!(a.window(), 5);
        let mut a = Aimd::new(5, 64);
        a.throttled();
        assert_eq!(a.window(), 4);
        let mut a = Aimd::new(5, 64);
        a.slow_start = false;
        // Congestion avoidance: one more per window of successes.
        for _ in 0..6 {
            a.success();
        }
        assert_eq!(a.window(), 6);
        for i in 0..10 {
            a.throttled_at(t0 + std::time::Duration::from_secs(10 + i));
        }
        assert_eq!(a.window(), 1);
        for _ in 0..100_000 {
            a.success();
        }
        assert_eq!(a.window(), 64);
    }

    #[test]
    fn arms_remaining_writes_set_the_pace_of_growth() {
        // Far from the quota: one more per success (doubling per round trip).
        let mut a = Aimd::new(100, 1000);
        a.slow_start = false;
        a.set_headroom(5000);
        for _ in 0..100 {
            a.success();
        }
        assert_eq!(a.window(), 200);
        // 50 left: about 50 more per round trip of 200 successes.
        a.set_headroom(50);
        for _ in 0..200 {
            a.success();
        }
        assert!((244..=250).contains(&a.window()), "{}", a.window());
        // Nothing left: one per round trip, as without word from ARM.
        a.set_headroom(0);
        let w = a.window();
        for _ in 0..w {
            a.success();
        }
        assert_eq!(a.window(), w + 1);
    }
}
