//! The link option requests through `SimBackend` (the `NetBackend` the machines use): each
//! reaches its kernel operation, and a failure names the operation, the errno and the object.

use super::*;
use crate::{SimBackend, SimRuntime};
use nsplumb_core::{BackendExt, BridgeOptions, Errno, Op, PortFlagsChange, VlanSpec};

// SPEC: L1, L2, L3, L4
#[test]
fn requests_reach_the_kernel_and_errors_name_their_object() {
    let b = SimBackend::new(1);
    let mut rt = SimRuntime::new(b.clone());
    let c = b.kernel().create_netns("c").unwrap();
    rt.block_on({
        let (b, c) = (b.clone(), c.clone());
        async move {
            let opts = BridgeOptions {
                vlan_filtering: true,
                mtu: Some(9000),
            };
            let br = b.create_bridge(&H, "br0", opts).await.unwrap();
            let info = b.link_by_index(&H, br).await.unwrap();
            assert_eq!(info.mtu, 9000);
            assert_eq!(info.bridge.unwrap().vlan_filtering, Some(true));
            let pair = b
                .create_veth(
                    &H,
                    &VethRequest {
                        host_name: "vh".into(),
                        host_master: Some(br),
                        host_up: false,
                        peer_netns: c.clone(),
                        peer_name: "eth0".into(),
                        peer_mac: None,
                        mtu: Some(1400),
                    },
                )
                .await
                .unwrap();
            let vh = pair.host_index;
            assert_eq!(b.link_by_index(&H, br).await.unwrap().mtu, 1400);
            b.set_mtu(&c, pair.peer_index, 1450).await.unwrap();
            let e = b.set_mtu(&c, pair.peer_index, 67).await.unwrap_err();
            assert_eq!(
                (e.op, e.errno, e.object.as_str()),
                (Op::SetMtu, Errno::EINVAL, "eth0")
            );
            let hairpin = PortFlagsChange {
                hairpin: Some(true),
                isolated: Some(true),
            };
            b.set_port_flags(&H, vh, hairpin).await.unwrap();
            let flags = b.link_by_index(&H, vh).await.unwrap().port_flags.unwrap();
            assert!(flags.hairpin && flags.isolated);
            let e = b.set_port_flags(&H, br, hairpin).await.unwrap_err();
            assert_eq!(
                (e.op, e.errno, e.object.as_str()),
                (Op::SetPortFlags, Errno::EOPNOTSUPP, "br0")
            );
            let trunk = VlanSpec {
                first: 20,
                last: 30,
                pvid: false,
                untagged: false,
            };
            b.add_port_vlans(&H, vh, vec![trunk]).await.unwrap();
            b.del_port_vlans(&H, vh, vec![VlanSpec::tagged(1)])
                .await
                .unwrap();
            let vlans = b.list_port_vlans(&H).await.unwrap();
            let port = vlans.iter().find(|p| p.index == vh).unwrap();
            assert_eq!(port.vlans, [trunk]);
            let e = b
                .add_port_vlans(&H, vh, vec![VlanSpec::tagged(4095)])
                .await
                .unwrap_err();
            assert_eq!((e.op, e.errno), (Op::AddPortVlans, Errno::EINVAL));
            assert!(e.to_string().contains("vh"), "{e}");
            assert!(e.to_string().contains("4095"), "{e}");
        }
    });
    // A kernel without VLAN filtering refuses the filtering bridge.
    b.set_vlan_filtering_supported(false);
    let e = rt.block_on({
        let b = b.clone();
        async move {
            let opts = BridgeOptions {
                vlan_filtering: true,
                mtu: None,
            };
            b.create_bridge(&H, "br1", opts).await.unwrap_err()
        }
    });
    assert_eq!(
        (e.op, e.errno, e.object.as_str()),
        (Op::CreateBridge, Errno::EOPNOTSUPP, "br1")
    );
}
