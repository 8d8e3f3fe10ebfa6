//! The ADD request in nsplumb terms.

use super::*;
use crate::addressing::{Addressing, AssignedIp};
use crate::env::Attachment;
use crate::verb::Verb;
use serde_json::{json, Value};
use std::path::Path;

fn config(extra: Value) -> NetworkConfig {
    let mut conf = json!({"cniVersion": "1.1.0", "name": "net1", "type": "nsplumb-cni"});
    let object = conf.as_object_mut().unwrap();
    object.extend(extra.as_object().unwrap().clone());
    NetworkConfig::parse(object, Verb::Add).unwrap()
}

fn plan(config: &NetworkConfig, addressing: &Addressing) -> Result<AttachPlan, CniError> {
    let attachment = Attachment {
        container_id: "c1".into(),
        ifname: "eth0".into(),
    };
    AttachPlan::new(
        &AttachRequest {
            network: &config.name,
            attachment: &attachment,
            netns: Path::new("/run/netns/c1"),
            config,
            mac: None,
            addressing,
        },
        "veth0123abcd".into(),
    )
}

// SPEC: C3, L1, L2, L3, L4, L5 (every link option of the bridge plugin in the core's spec)
#[test]
fn link_options_become_the_specs_and_the_new_bridges() {
    let c = config(json!({
        "mtu": 1400, "hairpinMode": true, "portIsolation": true, "enabledad": true,
        "vlan": 25, "vlanTrunk": [{"id": 10}, {"minID": 20, "maxID": 22}, {"id": 40}],
    }));
    let p = plan(&c, &Addressing::layer2()).unwrap();
    assert_eq!(p.spec.mtu, Some(1400));
    assert!(p.spec.hairpin && p.spec.isolated && p.spec.dad);
    assert_eq!(p.spec.vlan, Some(25));
    assert_eq!(p.spec.vlan_trunk, ["10", "20-22", "40"]);
    assert!(
        p.spec.keep_default_vlan,
        "preserveDefaultVlan defaults to true"
    );
    assert_eq!(
        p.bridge.options,
        BridgeOptions {
            vlan_filtering: true,
            mtu: Some(1400)
        }
    );

    let c = config(json!({"vlan": 25, "preserveDefaultVlan": false}));
    assert!(
        !plan(&c, &Addressing::layer2())
            .unwrap()
            .spec
            .keep_default_vlan
    );
}

// SPEC: C3 (no options asked: none in the spec, a bridge without VLAN filtering)
#[test]
fn without_options_the_spec_has_none() {
    let p = plan(&config(json!({})), &Addressing::layer2()).unwrap();
    let bare = Spec::new(p.spec.source.clone(), p.spec.destination.clone());
    assert_eq!(
        (p.spec.mtu, p.spec.hairpin, p.spec.isolated, p.spec.dad),
        (None, false, false, false)
    );
    assert_eq!(
        (p.spec.vlan, &p.spec.vlan_trunk, p.spec.keep_default_vlan),
        (None, &bare.vlan_trunk, false),
        "preserveDefaultVlan means nothing without a VLAN"
    );
    assert_eq!(p.bridge.options, BridgeOptions::default());
}

#[test]
fn trunk_ids_become_ranges() {
    assert_eq!(trunk_ranges(&[]), Vec::<String>::new());
    assert_eq!(trunk_ranges(&[7]), ["7"]);
    assert_eq!(
        trunk_ranges(&[1, 2, 3, 5, 4093, 4094]),
        ["1-3", "5", "4093-4094"]
    );
}

// SPEC: C2, L1, L3 (the core's checks, naming the configuration's key and value, code 7)
#[test]
fn the_cores_refusals_name_the_configuration_key() {
    let c = config(json!({"vlan": 25, "vlanTrunk": [{"minID": 20, "maxID": 30}]}));
    let e = plan(&c, &Addressing::layer2()).unwrap_err();
    assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
    assert!(e.msg.contains("vlanTrunk \"20-30\""), "{}", e.msg);
    assert!(e.msg.contains("PVID 25"), "{}", e.msg);

    let v6 = Addressing {
        ips: vec![AssignedIp {
            address: "fd00::5/64".parse().unwrap(),
            gateway: None,
        }],
        ..Addressing::layer2()
    };
    let e = plan(&config(json!({"mtu": 1000})), &v6).unwrap_err();
    assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
    assert!(e.msg.contains("mtu \"1000\""), "{}", e.msg);
    assert!(plan(&config(json!({"mtu": 1280})), &v6).is_ok());
}
