//! Retrying one request: what is worth retrying, how long to back off, when to give up.
//!
//! The policy is pure ([`Policy::delay`] takes its randomness as an argument); [`run`] is
//! the loop that sleeps.

use std::time::{Duration, Instant};

use crate::log;
use crate::s3::S3Error;

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Tries of one request, the first included.
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// No retry starts (and no backoff sleeps) past this instant.
    pub deadline: Option<Instant>,
}

impl Policy {
    /// Exponential backoff with full jitter: uniformly random in `[0, min(cap, base * 2^n))`
    /// after failed attempt `n` (0-based), so many clients hitting a `SlowDown` spread out.
    /// `unit` is a random number in `[0, 1)`.
    pub fn delay(&self, failed_attempt: u32, unit: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(failed_attempt.min(31)).unwrap_or(u32::MAX))
            .min(self.cap);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// Whether to try again after `failed_attempt` (0-based) failed with `error`, and after
    /// how long; `None` means give up now.
    pub fn next(
        &self,
        failed_attempt: u32,
        error: &S3Error,
        now: Instant,
        unit: f64,
    ) -> Option<Duration> {
        if !retryable(error) || failed_attempt + 1 >= self.attempts {
            return None;
        }
        let wait = self.delay(failed_attempt, unit);
        match self.deadline {
            Some(deadline) if now + wait >= deadline => None,
            _ => Some(wait),
        }
    }
}

/// Worth another try: the store was busy or broken for a moment, or the network was.
/// Not worth it: the store understood the request and said no (403, 400, no such bucket).
pub fn retryable(error: &S3Error) -> bool {
    match error {
        S3Error::Refused { status, code, .. } => {
            matches!(*status, 408 | 429 | 500 | 502 | 503 | 504)
                || matches!(
                    code.as_str(),
                    "SlowDown"
                        | "InternalError"
                        | "RequestTimeout"
                        | "ServiceUnavailable"
                        | "Throttling"
                        | "ThrottlingException"
                        // The body arrived damaged (a flaky link or proxy): send it again.
                        | "BadDigest"
                        | "XAmzContentChecksumMismatch"
                        | "IncompleteBody"
                )
        }
        S3Error::Transport { retryable, .. } => *retryable,
        S3Error::Setup(_) | S3Error::Open { .. } | S3Error::Stopped | S3Error::Changed(_) => false,
    }
}

/// Run `request` until it succeeds, fails for good, or the policy gives up. `what` names
/// the request in log lines ("PUT part 3 of 17").
pub fn run<T>(
    policy: &Policy,
    what: &str,
    mut request: impl FnMut() -> Result<T, S3Error>,
) -> Result<T, S3Error> {
    let mut attempt = 0;
    loop {
        if crate::signal::stopping() {
            return Err(S3Error::Stopped);
        }
        let error = match request() {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let Some(wait) = policy.next(attempt, &error, Instant::now(), jitter()) else {
            return Err(error);
        };
        attempt += 1;
        log::info(format!(
            "{what} failed ({error}); retry {attempt} of {} in {:.1}s",
            policy.attempts - 1,
            wait.as_secs_f64()
        ));
        crate::signal::sleep(wait);
    }
}

/// A random number in [0, 1), enough to spread retries without a rand crate: std's
/// RandomState is seeded randomly per process and gives each new instance other keys.
fn jitter() -> f64 {
    use std::hash::BuildHasher;
    let bits = std::collections::hash_map::RandomState::new().hash_one(0u8);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
            deadline: None,
        }
    }

    fn refused(status: u16, code: &str) -> S3Error {
        S3Error::Refused {
            status,
            code: code.into(),
            message: String::new(),
        }
    }

    #[test]
    fn busy_broken_or_unreachable_stores_are_retried() {
        for e in [
            refused(503, "SlowDown"),
            refused(500, "InternalError"),
            refused(502, ""),
            refused(504, ""),
            refused(429, ""),
            refused(400, "RequestTimeout"),
            refused(400, "BadDigest"),
            // A 200 from CompleteMultipartUpload carrying <Error>.
            refused(200, "InternalError"),
            S3Error::Transport {
                detail: "connection reset".into(),
                retryable: true,
            },
        ] {
            assert!(retryable(&e), "{e}");
        }
    }

    #[test]
    fn refusals_that_will_not_change_fail_at_once() {
        for e in [
            refused(403, "AccessDenied"),
            refused(403, "SignatureDoesNotMatch"),
            refused(403, "InvalidAccessKeyId"),
            refused(404, "NoSuchBucket"),
            refused(400, "InvalidArgument"),
            refused(403, "RequestTimeTooSkewed"),
            S3Error::Transport {
                detail: "invalid certificate".into(),
                retryable: false,
            },
            S3Error::Setup("bad".into()),
        ] {
            assert!(!retryable(&e), "{e}");
            assert_eq!(policy().next(0, &e, Instant::now(), 0.5), None, "{e}");
        }
    }

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap_with_full_jitter() {
        let p = policy();
        assert_eq!(p.delay(0, 0.999_999).as_millis(), 99);
        assert_eq!(p.delay(1, 0.999_999).as_millis(), 199);
        assert_eq!(p.delay(3, 0.999_999).as_millis(), 799);
        assert_eq!(p.delay(10, 0.999_999).as_millis(), 1999, "capped");
        assert_eq!(
            p.delay(40, 0.5),
            Duration::from_secs(1),
            "no overflow far out"
        );
        assert_eq!(p.delay(3, 0.0), Duration::ZERO, "full jitter reaches zero");
    }

    #[test]
    fn attempts_and_the_deadline_bound_the_retries() {
        let p = policy();
        let e = refused(503, "SlowDown");
        let now = Instant::now();
        assert!(
            p.next(3, &e, now, 0.5).is_some(),
            "fourth failure, one try left"
        );
        assert_eq!(
            p.next(4, &e, now, 0.5),
            None,
            "fifth failure was the last attempt"
        );
        let tight = Policy {
            deadline: Some(now + Duration::from_millis(150)),
            ..p
        };
        assert!(tight.next(0, &e, now, 0.5).is_some(), "50ms wait fits");
        assert_eq!(
            tight.next(2, &e, now, 0.5),
            None,
            "200ms wait passes the deadline"
        );
    }
}
