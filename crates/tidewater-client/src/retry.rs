//! Retry pacing: exponential backoff that honors the server's `Retry-After`.
//!
//! Attempt `n` (0 = the first retry) waits `min(base · 2ⁿ, max)`, or longer when the server asked
//! for it with `Retry-After` (capped at [`MAX_RETRY_AFTER`] so a bad header cannot park a writer
//! for hours). Only requests that are safe to repeat are retried: block uploads (a block re-sent
//! under the same number replaces the earlier one) and commits (idempotent, re-checked first).

use std::time::Duration;

/// The longest `Retry-After` honored.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Backoff between retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait before the first retry.
    pub base: Duration,
    /// Longest computed wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// How long to wait before retry number `attempt` (0-based).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        let computed = self.base.saturating_mul(factor).min(self.max);
        match retry_after {
            Some(asked) => computed.max(asked.min(MAX_RETRY_AFTER)),
            None => computed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_up_to_the_cap() {
        let b = Backoff::default();
        let ms: Vec<u128> = (0..9).map(|n| b.delay(n, None).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000]);
        assert_eq!(b.delay(200, None), Duration::from_secs(10));
    }

    #[test]
    fn retry_after_is_a_lower_bound_with_a_cap() {
        let b = Backoff::default();
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        // The computed wait is longer than what the server asked for: keep it.
        assert_eq!(
            b.delay(4, Some(Duration::from_secs(1))),
            Duration::from_millis(1600)
        );
        assert_eq!(b.delay(0, Some(Duration::from_secs(3600))), MAX_RETRY_AFTER);
    }
}
