//! Faults the simulator can inject, for testing clients: failed requests, latency, and a
//! request-rate limit answered with 429 and `Retry-After`.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// What an injected failure looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// HTTP 500 with an OpenAI error body.
    Status,
    /// HTTP 200 with a truncated, invalid JSON body.
    InvalidJson,
    /// No answer at all: the request hangs until the client gives up.
    Hang,
    /// Each of the above, and 503, chosen at random.
    Mixed,
}

impl FromStr for FailKind {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "status" | "500" => Ok(FailKind::Status),
            "invalid-json" => Ok(FailKind::InvalidJson),
            "hang" => Ok(FailKind::Hang),
            "mixed" => Ok(FailKind::Mixed),
            other => Err(format!(
                "unknown failure kind `{other}`: expected status, invalid-json, hang or mixed"
            )),
        }
    }
}

impl fmt::Display for FailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailKind::Status => "status",
            FailKind::InvalidJson => "invalid-json",
            FailKind::Hang => "hang",
            FailKind::Mixed => "mixed",
        })
    }
}

/// The faults to inject. The default injects none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// The chance that a request fails, in 0..=1.
    pub fail_rate: f64,
    /// How it fails.
    pub fail_kind: FailKind,
    /// Added before every answer.
    pub latency: Duration,
    /// At most this many requests per second (a token bucket holding one second's worth);
    /// the rest get 429 with `Retry-After`.
    pub rate_limit: Option<f64>,
    /// Seeds which requests fail.
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            fail_rate: 0.0,
            fail_kind: FailKind::Status,
            latency: Duration::ZERO,
            rate_limit: None,
            seed: 0,
        }
    }
}

/// A token bucket: `rate` tokens a second, holding at most `max(rate, 1)`.
#[derive(Debug)]
pub(crate) struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(rate: f64, now: Instant) -> Self {
        let capacity = rate.max(1.0);
        Self {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes a token, or says how long until one is there.
    pub(crate) fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refills_at_its_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(2.0, start);
        assert!(bucket.take(start).is_ok());
        assert!(bucket.take(start).is_ok());
        let wait = bucket.take(start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9);
        assert!(bucket.take(start + Duration::from_millis(500)).is_ok());
    }

    #[test]
    fn fail_kinds_parse() {
        for text in ["status", "invalid-json", "hang", "mixed"] {
            assert_eq!(text.parse::<FailKind>().unwrap().to_string(), text);
        }
        assert!("boom".parse::<FailKind>().is_err());
    }
}
