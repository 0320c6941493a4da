//! Rate limits (`governor`): requests per signed-in caller, and failed sign-ins per address.
//! An address that spends its failed sign-ins is locked out for a minute: its requests are
//! refused before any credential is looked at, so guessing cannot go on behind the 429s.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::DashboardSection;

/// Keys held before idle ones are forgotten.
const FORGET_ABOVE: usize = 10_000;
/// How long an address that ran out of failed sign-ins is refused.
const LOCKOUT: Duration = Duration::from_secs(60);

/// The dashboard's limiters.
pub struct Limits {
    callers: DefaultKeyedRateLimiter<String>,
    failures: DefaultKeyedRateLimiter<IpAddr>,
    locked: Mutex<HashMap<IpAddr, Instant>>,
}

fn nz(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

impl Limits {
    /// Limits as `[dashboard]` sets them.
    pub fn new(section: &DashboardSection) -> Self {
        Self {
            callers: RateLimiter::keyed(
                Quota::per_second(nz(section.requests_per_second)).allow_burst(nz(section.burst)),
            ),
            failures: RateLimiter::keyed(Quota::per_minute(nz(section.failed_logins_per_minute))),
            locked: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a signed-in caller may make one more request.
    pub fn allow(&self, caller: &str) -> bool {
        if self.callers.len() > FORGET_ABOVE {
            self.callers.retain_recent();
        }
        self.callers.check_key(&caller.to_string()).is_ok()
    }

    /// Whether credentials from `peer` may be looked at (it is not locked out).
    pub fn may_try(&self, peer: IpAddr, now: Instant) -> bool {
        let peer = network(peer);
        let mut locked = self.locked.lock().unwrap_or_else(|p| p.into_inner());
        match locked.get(&peer) {
            Some(until) if *until > now => false,
            Some(_) => {
                locked.remove(&peer);
                true
            }
            None => true,
        }
    }

    /// Counts a failed sign-in of `peer`; locks it out once it has none left.
    pub fn failed(&self, peer: IpAddr, now: Instant) {
        let peer = network(peer);
        if self.failures.len() > FORGET_ABOVE {
            self.failures.retain_recent();
        }
        if self.failures.check_key(&peer).is_err() {
            let mut locked = self.locked.lock().unwrap_or_else(|p| p.into_inner());
            if locked.len() > FORGET_ABOVE {
                locked.retain(|_, until| *until > now);
            }
            locked.insert(peer, now + LOCKOUT);
        }
    }
}

/// The unit a lockout applies to: an IPv4 address, or an IPv6 /64 (one host's usual share,
/// so rotating addresses within it does not buy new attempts).
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_out_of_failed_sign_ins_is_locked_out_and_others_are_not() {
        let section = DashboardSection {
            failed_logins_per_minute: 3,
            requests_per_second: 1,
            burst: 2,
            ..DashboardSection::default()
        };
        let limits = Limits::new(&section);
        let (bad, good): (IpAddr, IpAddr) = (
            "192.0.2.1".parse().expect("ip"),
            "192.0.2.2".parse().expect("ip"),
        );
        let now = Instant::now();
        for _ in 0..3 {
            assert!(limits.may_try(bad, now));
            limits.failed(bad, now);
        }
        assert!(limits.may_try(bad, now), "three failures are allowed");
        limits.failed(bad, now);
        assert!(!limits.may_try(bad, now), "the fourth locks it out");
        assert!(limits.may_try(good, now));
        assert!(limits.may_try(bad, now + LOCKOUT + Duration::from_secs(1)));

        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        for _ in 0..4 {
            limits.failed(a, now);
        }
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        assert!(!limits.may_try(b, now), "the same /64 is locked out");
        assert!(limits.may_try("2001:db8:1:3::1".parse().expect("ip"), now));

        assert!(limits.allow("acme/dana") && limits.allow("acme/dana"));
        assert!(!limits.allow("acme/dana"), "the burst is spent");
        assert!(limits.allow("acme/erin"), "per caller");
    }
}
