use super::*;
use nsplumb_core::{Errno, Family, RouteScope, RouteSpec};
use std::net::IpAddr;

fn spec(dst: &str, gw: Option<&str>, oif: u32, scope: RouteScope) -> RouteSpec {
    RouteSpec {
        dst: net(dst),
        gateway: gw.map(|g| g.parse().unwrap()),
        oif,
        scope,
    }
}

fn setup() -> (Kernel, u32) {
    let mut k = Kernel::new(1);
    let (a, b) = veth(&mut k, &H, "v0", &H, "v1");
    k.set_link_up(&H, a).unwrap();
    k.set_link_up(&H, b).unwrap();
    k.add_address(&H, a, net("192.0.2.1/24"), false).unwrap();
    k.add_address(&H, a, net("fd00::1/64"), true).unwrap();
    (k, a)
}

#[test]
fn add_del_errnos_like_linux() {
    let (mut k, a) = setup();
    k.add_route(&H, &spec("198.51.100.0/24", None, a, RouteScope::Link))
        .unwrap();
    assert_eq!(
        k.add_route(&H, &spec("198.51.100.0/24", None, a, RouteScope::Link)),
        Err(Errno::EEXIST)
    );
    // the connected route exists with metric 0 too
    assert_eq!(
        k.add_route(&H, &spec("192.0.2.0/24", None, a, RouteScope::Link)),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        k.del_route(&H, &spec("198.51.100.0/24", None, a, RouteScope::Universe)),
        Err(Errno::ESRCH)
    );
    k.del_route(&H, &spec("198.51.100.0/24", None, a, RouteScope::Link))
        .unwrap();
    assert_eq!(
        k.del_route(&H, &spec("198.51.100.0/24", None, a, RouteScope::Link)),
        Err(Errno::ESRCH)
    );
    // gateways
    assert_eq!(
        k.add_route(
            &H,
            &spec(
                "198.51.100.0/24",
                Some("203.0.113.1"),
                a,
                RouteScope::Universe
            )
        ),
        Err(Errno::ENETUNREACH)
    );
    k.add_route(
        &H,
        &spec("0.0.0.0/0", Some("192.0.2.254"), a, RouteScope::Universe),
    )
    .unwrap();
    assert_eq!(
        k.add_route(
            &H,
            &spec("fd00:9::/64", Some("fd00:99::1"), a, RouteScope::Universe)
        ),
        Err(Errno::EHOSTUNREACH)
    );
    k.add_route(
        &H,
        &spec("fd00:9::/64", Some("fd00::99"), a, RouteScope::Universe),
    )
    .unwrap();
    k.add_route(&H, &spec("fd00:7::/64", None, a, RouteScope::Link))
        .unwrap();
    assert_eq!(
        k.add_route(&H, &spec("fd00:7::/64", None, a, RouteScope::Link)),
        Err(Errno::EEXIST)
    );
    // user fd00::/64 (metric 1024) coexists with the kernel prefix route (metric 256)
    k.add_route(&H, &spec("fd00::/64", None, a, RouteScope::Link))
        .unwrap();
    let r6 = k.list_routes(&H, Family::V6).unwrap();
    assert!(r6.iter().all(|r| r.scope == RouteScope::Universe));
}

#[test]
fn down_link_enetdown_and_routes_vanish() {
    let (mut k, a) = setup();
    k.add_route(&H, &spec("198.51.100.0/24", None, a, RouteScope::Link))
        .unwrap();
    k.set_link_down(&H, a).unwrap();
    assert!(k.list_routes(&H, Family::V4).unwrap().is_empty());
    assert_eq!(
        k.add_route(&H, &spec("198.51.100.0/24", None, a, RouteScope::Link)),
        Err(Errno::ENETDOWN)
    );
    assert_eq!(
        k.add_route(&H, &spec("fd00:5::/64", None, a, RouteScope::Link)),
        Err(Errno::ENETDOWN)
    );
    k.set_link_up(&H, a).unwrap();
    k.write_sysctl(&H, "net/ipv6/conf/v0/disable_ipv6", "1")
        .unwrap();
    assert_eq!(
        k.add_route(&H, &spec("fd00:5::/64", None, a, RouteScope::Link)),
        Err(Errno::EACCES)
    );
}

// SPEC: A13
#[test]
fn ff02_route_only_while_up_and_ipv6_enabled() {
    let (mut k, a) = setup();
    let ff: IpAddr = "ff02::1".parse().unwrap();
    let r = k.get_route(&H, ff, Some(a)).unwrap();
    assert_eq!(r.oif, Some(a));
    k.write_sysctl(&H, "net/ipv6/conf/v0/disable_ipv6", "1")
        .unwrap();
    assert_eq!(k.get_route(&H, ff, Some(a)), Err(Errno::ENETUNREACH));
    k.write_sysctl(&H, "net/ipv6/conf/v0/disable_ipv6", "0")
        .unwrap();
    assert!(k.get_route(&H, ff, Some(a)).is_ok());
    k.set_link_down(&H, a).unwrap();
    assert_eq!(k.get_route(&H, ff, Some(a)), Err(Errno::ENETUNREACH));
}

#[test]
fn lookup_longest_prefix() {
    let (mut k, a) = setup();
    let r = k.get_route(&H, "192.0.2.5".parse().unwrap(), None).unwrap();
    assert_eq!((r.oif, r.gateway), (Some(a), None));
    assert_eq!(r.dst, net("192.0.2.5/32"));
    assert_eq!(
        k.get_route(&H, "8.8.8.8".parse().unwrap(), None),
        Err(Errno::ENETUNREACH)
    );
    k.add_route(
        &H,
        &spec("0.0.0.0/0", Some("192.0.2.254"), a, RouteScope::Universe),
    )
    .unwrap();
    let r = k.get_route(&H, "8.8.8.8".parse().unwrap(), None).unwrap();
    assert_eq!(r.gateway, Some("192.0.2.254".parse().unwrap()));
    let r = k.get_route(&H, "fd00::77".parse().unwrap(), None).unwrap();
    assert_eq!(r.oif, Some(a));
}

#[test]
fn ipv4_get_with_oif_falls_back_to_on_link() {
    let (mut k, a) = setup();
    let (x, y) = veth(&mut k, &H, "w0", &H, "w1");
    k.set_link_up(&H, x).unwrap();
    let _ = y;
    let r = k
        .get_route(&H, "192.0.2.77".parse().unwrap(), Some(x))
        .unwrap();
    assert_eq!((r.oif, r.gateway), (Some(x), None));
    let r = k
        .get_route(&H, "192.0.2.77".parse().unwrap(), Some(a))
        .unwrap();
    assert_eq!(r.oif, Some(a));
    k.set_link_down(&H, x).unwrap();
    assert_eq!(
        k.get_route(&H, "192.0.2.77".parse().unwrap(), Some(x)),
        Err(Errno::ENETUNREACH)
    );
    // listing order: same network, longer prefix first
    k.add_address(&H, a, net("192.0.2.9/25"), false).unwrap();
    let r: Vec<String> = k
        .list_routes(&H, Family::V4)
        .unwrap()
        .iter()
        .map(|r| r.dst.to_string())
        .collect();
    assert_eq!(r, ["192.0.2.0/25", "192.0.2.0/24"]);
}

// SPEC: A13
#[test]
fn ff00_route_appears_with_an_address_added_while_up_without_carrier() {
    // Linux 6.x, checked: up without carrier → no ff00::/8; an IPv6 address added while up
    // creates it (linkdown); one added while down does not; deleting the address keeps it.
    let mut k = Kernel::new(1);
    let (a, _) = veth(&mut k, &H, "v0", &H, "v1");
    let ff: IpAddr = "ff02::1".parse().unwrap();
    k.add_address(&H, a, net("fd00::1/64"), true).unwrap();
    k.set_link_up(&H, a).unwrap();
    assert_eq!(k.get_route(&H, ff, Some(a)), Err(Errno::ENETUNREACH));
    k.add_address(&H, a, net("fd00::2/64"), true).unwrap();
    assert!(k.get_route(&H, ff, Some(a)).is_ok());
    k.del_address(&H, a, net("fd00::2/64")).unwrap();
    assert!(k.get_route(&H, ff, Some(a)).is_ok());
    let mac = k.link_by_index(&H, a).unwrap().mac.unwrap();
    k.send_na(&H, a, mac, "fd00::1".parse().unwrap()).unwrap();
    assert_eq!(k.link_stats(&H, a).unwrap().tx_dropped, 1);
    k.set_link_down(&H, a).unwrap();
    assert_eq!(k.get_route(&H, ff, Some(a)), Err(Errno::ENETUNREACH));
}

#[test]
fn gateway_must_be_reachable_through_the_given_link() {
    // Linux 6.x (checked): a gateway inside another link's subnet → ENETUNREACH (IPv4) /
    // EHOSTUNREACH (IPv6); a link-local IPv6 gateway needs no route.
    let (mut k, _a) = setup();
    let (w, w1) = veth(&mut k, &H, "w0", &H, "w1");
    k.set_link_up(&H, w).unwrap();
    k.set_link_up(&H, w1).unwrap();
    assert_eq!(
        k.add_route(
            &H,
            &spec(
                "198.51.100.0/24",
                Some("192.0.2.9"),
                w,
                RouteScope::Universe
            )
        ),
        Err(Errno::ENETUNREACH)
    );
    assert_eq!(
        k.add_route(
            &H,
            &spec("fd00:3::/64", Some("fd00::9"), w, RouteScope::Universe)
        ),
        Err(Errno::EHOSTUNREACH)
    );
    k.add_route(
        &H,
        &spec("fd00:2::/64", Some("fe80::1"), w, RouteScope::Universe),
    )
    .unwrap();
    // a less specific scope-link route through w makes the gateway reachable there
    k.add_route(&H, &spec("192.0.0.0/16", None, w, RouteScope::Link))
        .unwrap();
    k.add_route(
        &H,
        &spec(
            "198.51.100.0/24",
            Some("192.0.2.9"),
            w,
            RouteScope::Universe,
        ),
    )
    .unwrap();
}
