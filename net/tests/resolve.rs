//! `resolve` on names and literals that never leave the machine (`localhost` comes from
//! the hosts file; literals skip the resolver).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lori_core::happy_eyeballs::{IpVersion, Resolution};
use lori_net::resolve;

fn combined(resolution: Resolution) -> Vec<IpAddr> {
    match resolution {
        Resolution::Combined(ips) => ips,
        other => panic!("expected a combined answer, got {other:?}"),
    }
}

#[test]
fn localhost_resolves_to_loopback_addresses() {
    let ips = combined(resolve("localhost", 80, IpVersion::DualStack));
    assert!(!ips.is_empty());
    assert!(ips.iter().all(IpAddr::is_loopback), "{ips:?}");
    let mut unique = ips.clone();
    unique.dedup();
    assert_eq!(unique.len(), ips.len(), "no duplicates");
}

#[test]
fn a_literal_is_returned_as_is() {
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    assert_eq!(
        combined(resolve("127.0.0.1", 443, IpVersion::DualStack)),
        vec![v4]
    );
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(
        combined(resolve("::1", 443, IpVersion::DualStack)),
        vec![v6]
    );
    assert_eq!(combined(resolve("[::1]", 443, IpVersion::V6)), vec![v6]);
}

#[test]
fn the_ip_version_filters_the_answer() {
    let ips = combined(resolve("localhost", 0, IpVersion::V4));
    assert!(!ips.is_empty());
    assert!(ips.iter().all(IpAddr::is_ipv4), "{ips:?}");
    let ips = combined(resolve("localhost", 0, IpVersion::V6));
    assert!(ips.iter().all(IpAddr::is_ipv6), "{ips:?}");
    assert!(combined(resolve("::1", 0, IpVersion::V4)).is_empty());
    assert!(combined(resolve("127.0.0.1", 0, IpVersion::V6)).is_empty());
}

#[test]
fn a_name_with_a_nul_byte_fails_without_asking_the_resolver() {
    // std refuses a host with an interior NUL before calling getaddrinfo.
    match resolve("bad\0name", 80, IpVersion::DualStack) {
        Resolution::Failed(failure) => assert_eq!(failure.kind(), io::ErrorKind::InvalidInput),
        other => panic!("expected a failure, got {other:?}"),
    }
}
