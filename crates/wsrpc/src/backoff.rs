//! The node's redial policy (`node-link.md`, "Transport", "Reconnect"): the first wait is
//! 1 s, each further attempt waits 1.6 times longer, with ±20 % jitter, capped at 120 s;
//! a successful link starts the sequence over.
//!
//! Jitter keeps a fleet of nodes that lost their JD at the same moment from redialing in
//! lockstep. Its randomness comes from aws-lc-rs (already a dependency) rather than a crate
//! of its own: a few bytes per attempt, so the system generator costs nothing worth saving.

use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// The parameters of a [`Backoff`]; the defaults are the spec's.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffConfig {
    /// The first wait.
    pub initial: Duration,
    /// How much longer each further wait is.
    pub factor: f64,
    /// The largest relative deviation from the nominal wait, e.g. `0.2` for ±20 %.
    pub jitter: f64,
    /// No wait is longer, jitter included.
    pub max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            factor: 1.6,
            jitter: 0.2,
            max: Duration::from_secs(120),
        }
    }
}

/// The waits between attempts: call [`Backoff::next_delay`] after each failure and
/// [`Backoff::reset`] after a success.
#[derive(Debug)]
pub struct Backoff {
    config: BackoffConfig,
    /// The nominal wait of the next attempt, before jitter.
    nominal: Duration,
    random: SystemRandom,
}

impl Backoff {
    /// A fresh sequence under `config`.
    pub fn new(config: BackoffConfig) -> Self {
        let nominal = config.initial.min(config.max);
        Self {
            config,
            nominal,
            random: SystemRandom::new(),
        }
    }

    /// How long to wait before the next attempt; each call moves the sequence on.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.nominal;
        self.nominal = nominal
            .mul_f64(self.config.factor.max(1.0))
            .min(self.config.max);
        let deviation = self.config.jitter.clamp(0.0, 1.0) * (2.0 * self.unit_random() - 1.0);
        nominal.mul_f64(1.0 + deviation).min(self.config.max)
    }

    /// Starts over from the first wait, after a link that worked.
    pub fn reset(&mut self) {
        self.nominal = self.config.initial.min(self.config.max);
    }

    /// A number in `[0, 1)`; 0.5 (no jitter) should the system generator ever fail.
    fn unit_random(&self) -> f64 {
        if self.config.jitter == 0.0 {
            return 0.5;
        }
        let mut bytes = [0u8; 8];
        match self.random.fill(&mut bytes) {
            // The top 53 bits fill an f64's mantissa exactly.
            Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
            Err(_) => 0.5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn config(jitter: f64) -> BackoffConfig {
        BackoffConfig {
            initial: ms(1000),
            factor: 1.6,
            jitter,
            max: ms(10_000),
        }
    }

    #[test]
    fn without_jitter_the_waits_grow_by_the_factor_up_to_the_cap() {
        let mut backoff = Backoff::new(config(0.0));
        let waits: Vec<Duration> = (0..8).map(|_| backoff.next_delay()).collect();
        assert_eq!(
            waits,
            [
                1000.0, 1600.0, 2560.0, 4096.0, 6553.6, 10_000.0, 10_000.0, 10_000.0
            ]
            .map(|n: f64| Duration::from_secs_f64(n / 1000.0)),
            "1 s × 1.6ⁿ, capped"
        );
    }

    #[test]
    fn the_defaults_are_the_specs() {
        let mut backoff = Backoff::new(BackoffConfig {
            jitter: 0.0,
            ..BackoffConfig::default()
        });
        assert_eq!(backoff.next_delay(), Duration::from_secs(1));
        assert_eq!(backoff.next_delay(), Duration::from_millis(1600));
        let last = (0..30).map(|_| backoff.next_delay()).last();
        assert_eq!(last, Some(Duration::from_secs(120)));
        assert_eq!(BackoffConfig::default().jitter, 0.2);
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_varies() {
        let mut backoff = Backoff::new(config(0.2));
        let mut nominal = Backoff::new(config(0.0));
        let mut seen = std::collections::HashSet::new();
        for attempt in 0..200 {
            if attempt % 8 == 0 {
                backoff.reset();
                nominal.reset();
            }
            let expected = nominal.next_delay();
            let wait = backoff.next_delay();
            assert!(
                wait >= expected.mul_f64(0.8),
                "{wait:?} below {expected:?} − 20 %"
            );
            assert!(
                wait <= expected.mul_f64(1.2),
                "{wait:?} above {expected:?} + 20 %"
            );
            assert!(wait <= ms(10_000), "{wait:?} above the cap");
            seen.insert(wait);
        }
        assert!(
            seen.len() > 20,
            "jitter makes the waits differ: {}",
            seen.len()
        );
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff = Backoff::new(config(0.0));
        for _ in 0..5 {
            backoff.next_delay();
        }
        backoff.reset();
        assert_eq!(backoff.next_delay(), ms(1000));
        assert_eq!(backoff.next_delay(), ms(1600));
    }
}
