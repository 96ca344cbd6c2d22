//! Per-tenant limits the operator sets, so that no tenant (or app of a tenant) can take more
//! than its share: subscriptions per install, installs per tenant, events per second per tenant.
//! A limit that is hit answers 429.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::Error;

/// What the operator allows each tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Subscriptions one install may hold (each scope of each subject is one).
    pub subscriptions_per_install: usize,
    /// Apps one tenant may have installed.
    pub installs_per_tenant: usize,
    /// Events one tenant may send per second, sustained (bursts of twice that are let through).
    pub events_per_second: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            subscriptions_per_install: 100,
            installs_per_tenant: 100,
            events_per_second: 100,
        }
    }
}

impl Limits {
    /// Reads `CLOUDAPPS_MAX_SUBSCRIPTIONS_PER_INSTALL`, `CLOUDAPPS_MAX_INSTALLS_PER_TENANT` and
    /// `CLOUDAPPS_MAX_EVENTS_PER_SECOND` (the Lambda functions' configuration); unset or
    /// unreadable values keep their defaults.
    pub fn from_env() -> Self {
        fn read<T: std::str::FromStr>(name: &str, default: T) -> T {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        }
        let default = Limits::default();
        Limits {
            subscriptions_per_install: read(
                "CLOUDAPPS_MAX_SUBSCRIPTIONS_PER_INSTALL",
                default.subscriptions_per_install,
            ),
            installs_per_tenant: read(
                "CLOUDAPPS_MAX_INSTALLS_PER_TENANT",
                default.installs_per_tenant,
            ),
            events_per_second: read("CLOUDAPPS_MAX_EVENTS_PER_SECOND", default.events_per_second),
        }
    }

    /// 429 unless `count` more would stay within `limit`.
    pub fn check_quota(what: &str, held: usize, limit: usize) -> Result<(), Error> {
        if held < limit {
            Ok(())
        } else {
            Err(Error::TooMany {
                text: format!("{what}: the limit of {limit} is reached; remove some first"),
                retry_after: None,
            })
        }
    }
}

/// Events per second per tenant (GCRA, one cell per event). Kept per process: in Lambda each
/// instance of the ingest function counts on its own, so a tenant gets at most the rate times
/// the instances running.
#[derive(Clone)]
pub struct EventRate {
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

impl EventRate {
    /// `per_second` = 0 turns the limit off.
    pub fn new(per_second: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            const TWO: NonZeroU32 = NonZeroU32::new(2).unwrap();
            let burst = rate.saturating_mul(TWO);
            Arc::new(governor::RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        EventRate { limiter }
    }

    /// Takes one event's worth for `tenant`, or says how long to wait.
    pub fn admit(&self, tenant: &str) -> Result<(), Error> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // Tenants that went quiet are forgotten now and then, so the map stays small.
        if limiter.len() > 10_000 {
            limiter.retain_recent();
        }
        limiter.check_key(&tenant.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::TooMany {
                text: format!(
                    "tenant `{tenant}` is sending events faster than the limit; slow down"
                ),
                retry_after: Some(wait.max(Duration::from_secs(1))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_over_its_rate_is_told_when_to_retry_and_others_are_not_affected() {
        let rate = EventRate::new(5);
        let admitted = (0..100).filter(|_| rate.admit("noisy").is_ok()).count();
        assert!(
            (10..100).contains(&admitted),
            "a burst of twice the rate, then refusals: {admitted}"
        );
        let err = rate.admit("noisy").unwrap_err();
        assert_eq!(err.status(), 429);
        assert!(
            matches!(err, Error::TooMany { retry_after: Some(d), .. } if d >= Duration::from_secs(1))
        );
        assert!(rate.admit("quiet").is_ok(), "limits are per tenant");
        assert!(EventRate::new(0).admit("any").is_ok(), "0 is off");
    }

    #[test]
    fn quotas_say_what_is_full() {
        assert!(Limits::check_quota("subscriptions of `x`", 99, 100).is_ok());
        let err = Limits::check_quota("subscriptions of `x`", 100, 100).unwrap_err();
        assert_eq!(err.status(), 429);
        assert!(err.to_string().contains("limit of 100"));
    }
}
