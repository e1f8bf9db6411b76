//! A request budget: at most so many attempts per minute, evenly spaced (a witness's
//! `--witness-budget`).

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces attempts `interval` apart, whatever task makes them.
#[derive(Debug)]
pub(super) struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer for `per_minute` attempts a minute (at least 1).
    pub(super) fn per_minute(per_minute: u32) -> Self {
        Self {
            interval: Duration::from_secs(60) / per_minute.max(1),
            next: Mutex::new(None),
        }
    }

    /// Waits for the next free slot, and takes it.
    pub(super) async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |at| at.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn attempts_are_spaced_by_the_budget() {
        let pacer = std::sync::Arc::new(Pacer::per_minute(1200));
        let start = Instant::now();
        // Five attempts from two tasks: the first goes at once, then one every 50 ms.
        let other = {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                for _ in 0..2 {
                    pacer.wait().await;
                }
            })
        };
        for _ in 0..3 {
            pacer.wait().await;
        }
        other.await.unwrap();
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }
}
