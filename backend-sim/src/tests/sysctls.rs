use super::*;
use nsplumb_core::Errno;

#[test]
fn defaults_like_a_fresh_namespace() {
    let mut k = Kernel::new(1);
    let ns = k.create_netns("a").unwrap();
    let (_, _) = veth(&mut k, &ns, "v0", &ns, "v1");
    let r = |p: &str| k.read_sysctl(&ns, p);
    assert_eq!(r("net/ipv6/conf/v0/disable_ipv6").unwrap(), "0");
    assert_eq!(r("net/ipv6/conf/v0/accept_dad").unwrap(), "1");
    assert_eq!(r("net/ipv6/conf/all/accept_dad").unwrap(), "0");
    assert_eq!(r("net/ipv6/conf/lo/accept_dad").unwrap(), "-1");
    assert_eq!(r("net/ipv6/conf/v0/mtu").unwrap(), "1500");
    assert_eq!(r("net/ipv6/conf/default/mtu").unwrap(), "1280");
    assert_eq!(r("net/ipv6/conf/lo/mtu").unwrap(), "65536");
    assert_eq!(r("net/ipv4/conf/v0/arp_notify").unwrap(), "0");
    assert_eq!(r("net/ipv4/conf/all/accept_source_route").unwrap(), "0");
    assert_eq!(r("net/ipv4/conf/default/accept_source_route").unwrap(), "1");
    assert_eq!(r("net/ipv4/conf/lo/disable_policy").unwrap(), "1");
    assert_eq!(r("net/ipv6/conf/v0/hop_limit").unwrap(), "64");
    assert_eq!(r("net/ipv6/conf/v0/keep_addr_on_down").unwrap(), "0");
    assert_eq!(r("net/ipv4/neigh/v0/locktime").unwrap(), "100");
    assert_eq!(r("net/ipv6/neigh/v0/locktime").unwrap(), "0");
    assert_eq!(r("net/ipv4/ip_forward").unwrap(), "0");
    assert_eq!(r("/proc/sys/net/ipv4/conf/v0/rp_filter").unwrap(), "0");
}

#[test]
fn errors_enoent_eisdir_einval() {
    let mut k = Kernel::new(1);
    let (_, _) = veth(&mut k, &H, "v0", &H, "v1");
    assert_eq!(
        k.read_sysctl(&H, "net/ipv4/conf/nope/forwarding"),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        k.read_sysctl(&H, "net/ipv4/conf/v0/nope"),
        Err(Errno::ENOENT)
    );
    assert_eq!(k.read_sysctl(&H, "net/ipv4/conf/v0"), Err(Errno::EISDIR));
    assert_eq!(k.read_sysctl(&H, "net/ipv6"), Err(Errno::EISDIR));
    assert_eq!(
        k.read_sysctl(&H, "net/ipv4/neigh/all/locktime"),
        Err(Errno::ENOENT)
    );
    let ns = k.create_netns("x").unwrap();
    assert_eq!(
        k.read_sysctl(&ns, "net/ipv4/neigh/default/locktime"),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        k.write_sysctl(&H, "net/ipv4/conf/v0/forwarding", "abc"),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        k.write_sysctl(&H, "net/ipv6/conf/v0/addr_gen_mode", "7"),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        k.write_sysctl(&H, "net/ipv6/conf/v0/mtu", "1000"),
        Err(Errno::EINVAL)
    );
    k.write_sysctl(&H, "net/ipv4/conf/v0/forwarding", "5\n")
        .unwrap();
    assert_eq!(
        k.read_sysctl(&H, "net/ipv4/conf/v0/forwarding").unwrap(),
        "5"
    );
}

#[test]
fn all_propagates_forwarding_and_disable_ipv6() {
    let mut k = Kernel::new(1);
    let (_, _) = veth(&mut k, &H, "v0", &H, "v1");
    k.write_sysctl(&H, "net/ipv4/conf/all/forwarding", "1")
        .unwrap();
    assert_eq!(
        k.read_sysctl(&H, "net/ipv4/conf/v0/forwarding").unwrap(),
        "1"
    );
    assert_eq!(
        k.read_sysctl(&H, "net/ipv4/conf/default/forwarding")
            .unwrap(),
        "1"
    );
    assert_eq!(k.read_sysctl(&H, "net/ipv4/ip_forward").unwrap(), "1");
    assert_eq!(
        k.read_sysctl(&H, "net/ipv6/conf/all/forwarding").unwrap(),
        "0"
    );
    k.write_sysctl(&H, "net/ipv6/conf/all/disable_ipv6", "1")
        .unwrap();
    assert_eq!(
        k.read_sysctl(&H, "net/ipv6/conf/v1/disable_ipv6").unwrap(),
        "1"
    );
    assert_eq!(
        k.read_sysctl(&H, "net/ipv6/conf/default/disable_ipv6")
            .unwrap(),
        "1"
    );
}

#[test]
fn snapshot_lists_only_differences() {
    let mut k = Kernel::new(1);
    let before = k.snapshot();
    k.write_sysctl(&H, "net/ipv4/conf/lo/arp_notify", "1")
        .unwrap();
    let s = k.snapshot();
    assert_eq!(
        s.namespaces[&H]
            .sysctls
            .get("net/ipv4/conf/lo/arp_notify")
            .map(String::as_str),
        Some("1")
    );
    k.write_sysctl(&H, "net/ipv4/conf/lo/arp_notify", "0")
        .unwrap();
    assert_eq!(k.snapshot(), before);
}

#[test]
fn builtin_int_agrees_with_builtin() {
    use crate::sysctl::{builtin, builtin_int, Scope, Table};
    use nsplumb_core::LinkKind;
    for t in [Table::Conf4, Table::Conf6, Table::Neigh4, Table::Neigh6] {
        for k in 0..t.keys().len() as u16 {
            for scope in [
                Scope::Default,
                Scope::All,
                Scope::Link {
                    kind: &LinkKind::Veth,
                    mtu: 1500,
                },
                Scope::Link {
                    kind: &LinkKind::Loopback,
                    mtu: 65536,
                },
            ] {
                assert_eq!(
                    builtin_int(t, k, scope),
                    builtin(t, k, scope).parse::<i64>().unwrap()
                );
            }
        }
    }
}
