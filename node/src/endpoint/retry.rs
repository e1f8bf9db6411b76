//! Which failures are retried, and how long to wait: `Retry-After` when the server sends
//! one, else exponential backoff with jitter.

use std::time::{Duration, SystemTime};

use rand::RngExt;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::Backoff;

/// 429, 408 and every 5xx are worth another try; other 4xx are not.
pub(super) fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// The wait a reply asks for: `retry-after-ms` (milliseconds, sent by some hosted APIs), else
/// `Retry-After` as seconds (integer or decimal) or as an HTTP date relative to `now`.
pub(super) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name| headers.get(name).and_then(|value| value.to_str().ok());
    let ms = header("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok());
    if let Some(ms) = ms.filter(|ms| ms.is_finite() && *ms >= 0.0) {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = header(RETRY_AFTER.as_str())?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

impl Backoff {
    /// The wait before attempt `failures + 1`. With the server's `retry_after`: at least that,
    /// plus up to a quarter of it and 10 ms of jitter so that requests told to wait together do
    /// not return together (`None` when it exceeds `max_retry_after`: stop retrying).
    /// Otherwise `initial * 2^(failures-1)` capped at `max`, with equal jitter (between half
    /// and all of it).
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let jitter = rand::rng().random_range(0.0..=1.0);
        if let Some(wait) = retry_after {
            if wait > self.max_retry_after {
                return None;
            }
            let spread = wait / 4 + Duration::from_millis(10);
            return Some(wait + spread.mul_f64(jitter));
        }
        let exponent = failures.saturating_sub(1).min(20);
        let full = self.initial.saturating_mul(1 << exponent).min(self.max);
        let half = full / 2;
        Some(half + half.mul_f64(jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn retry_after_reads_seconds_decimals_dates_and_milliseconds() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            retry_after(&headers("retry-after", "3"), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(&headers("retry-after", "1.5"), now),
            Some(Duration::from_millis(1500))
        );
        // 2015-10-21 07:28:00 GMT is 1445412480 + 7 seconds after `now`.
        assert_eq!(
            retry_after(
                &headers("retry-after", "Wed, 21 Oct 2015 07:28:07 GMT"),
                now
            ),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers("retry-after-ms", "120"), now),
            Some(Duration::from_millis(120))
        );
        assert_eq!(retry_after(&headers("retry-after", "soon"), now), None);
        assert_eq!(retry_after(&headers("retry-after", "-1"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_retry_after() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(5),
        };
        for (failures, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (30, 1000),
        ] {
            let wait = backoff.delay(failures, None).unwrap();
            let full = Duration::from_millis(full);
            assert!(wait >= full / 2 && wait <= full, "{failures}: {wait:?}");
        }
        let wait = backoff.delay(1, Some(Duration::from_secs(2))).unwrap();
        assert!(wait >= Duration::from_secs(2) && wait <= Duration::from_millis(2510));
        assert_eq!(backoff.delay(1, Some(Duration::from_secs(6))), None);
    }

    #[test]
    fn only_rate_limits_timeouts_and_server_errors_are_retried() {
        for code in [429, 408, 500, 502, 503, 504] {
            assert!(is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(!is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }
}
