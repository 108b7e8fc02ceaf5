//! Blocking name resolution, in the form the Happy Eyeballs scheduler takes.
//!
//! [`resolve`] blocks for as long as the system resolver takes, so a driver never calls it
//! on its event loop: lori-mio runs it on a helper thread and posts the answer back to the
//! loop; lori-tokio may use `tokio::net::lookup_host` instead, or run this function with
//! `spawn_blocking`. Either way the answer goes to the scheduler as one
//! [`Resolution::Combined`].

use std::net::{IpAddr, ToSocketAddrs};

use lori_core::IoFailure;
use lori_core::happy_eyeballs::{IpVersion, Resolution};

/// Resolves `host` with the system resolver, blocking until it answers.
///
/// The resolver is `getaddrinfo`, through std's `ToSocketAddrs`.
///
/// A literal address (`"127.0.0.1"`, `"::1"`, `"[::1]"`) is returned as is without asking
/// the resolver. `port` is only passed to the resolver (it cannot change the addresses).
/// Returns [`Resolution::Combined`] with the addresses `ip_version` admits, in the
/// resolver's order, without duplicates — possibly empty, which the scheduler reports as a
/// DNS failure without an error — or [`Resolution::Failed`] with the resolver's error.
/// IPv6 scope ids are not carried (`Resolution` holds `IpAddr`s).
pub fn resolve(host: &str, port: u16, ip_version: IpVersion) -> Resolution {
    let host = strip_brackets(host);
    let resolved: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => match (host, port).to_socket_addrs() {
            Ok(addresses) => addresses.map(|address| address.ip()).collect(),
            Err(error) => return Resolution::Failed(IoFailure::from(&error)),
        },
    };
    let mut ips: Vec<IpAddr> = Vec::with_capacity(resolved.len());
    for ip in resolved {
        let allowed = match ip_version {
            IpVersion::V4 => ip.is_ipv4(),
            IpVersion::V6 => ip.is_ipv6(),
            IpVersion::DualStack => true,
        };
        if allowed && !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    Resolution::Combined(ips)
}

/// `host` without the square brackets of a URL-style IPv6 literal (`"[::1]"` → `"::1"`).
pub(crate) fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_brackets_only_when_paired() {
        assert_eq!(strip_brackets("[::1]"), "::1");
        assert_eq!(strip_brackets("::1"), "::1");
        assert_eq!(strip_brackets("[::1"), "[::1");
        assert_eq!(strip_brackets("localhost"), "localhost");
    }
}
