//! Additive-increase / multiplicative-decrease window for imports in
//! flight: +1 after every `window` successes (one step per round trip's
//! worth of work), halved on a 429, never below 1 nor above the maximum.

#[derive(Clone, Debug)]
pub struct Aimd {
    window: f64,
    max: f64,
}

impl Aimd {
    pub fn new(start: usize, max: usize) -> Aimd {
        let max = max.max(1) as f64;
        Aimd { window: (start.max(1) as f64).min(max), max }
    }

    /// Imports allowed in flight now.
    pub fn window(&self) -> usize {
        self.window.floor() as usize
    }

    pub fn success(&mut self) {
        self.window = (self.window + 1.0 / self.window).min(self.max);
    }

    /// ARM said 429: halve.
    pub fn throttled(&mut self) {
        self.window = (self.window / 2.0).max(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::Aimd;

    #[test]
    fn grows_additively_and_halves_on_throttling() {
        let mut a = Aimd::new(4, 16);
        assert_eq!(a.window(), 4);
        for _ in 0..4 {
            a.success();
        }
        assert_eq!(a.window(), 5);
        a.throttled();
        assert_eq!(a.window(), 2);
        a.throttled();
        a.throttled();
        assert_eq!(a.window(), 1);
        for _ in 0..1000 {
            a.success();
        }
        assert_eq!(a.window(), 16);
    }
}
