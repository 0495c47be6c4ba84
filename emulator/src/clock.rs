//! Simulated time. Every duration the emulator models (provisioning,
//! syncing, imports, replication delay) is in *simulated* seconds; the time
//! scale turns them into real time, so tests run in seconds while the demo
//! moves at a human pace.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    scale: f64,
}

impl Clock {
    /// `scale` > 1 runs the world faster than real time.
    pub fn new(scale: f64) -> Clock {
        let scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
        Clock { scale }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Real duration of `sim_secs` simulated seconds.
    pub fn real(&self, sim_secs: f64) -> Duration {
        Duration::from_secs_f64((sim_secs.max(0.0)) / self.scale)
    }

    /// The instant `sim_secs` simulated seconds from now.
    pub fn after(&self, sim_secs: f64) -> Instant {
        Instant::now() + self.real(sim_secs)
    }

    /// Simulated seconds elapsed since `t`.
    pub fn sim_since(&self, t: Instant) -> f64 {
        t.elapsed().as_secs_f64() * self.scale
    }
}
