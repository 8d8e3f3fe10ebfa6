//! SPEC R3, V6: a sysctl setting `net.X.Y.IFNAME.Z=V` and an interface name, through
//! `validate` and `SysctlSetting::path_for`.
//!
//! Input: the setting, a NUL, the interface name (the last NUL splits, so the setting itself can
//! hold NULs); without a NUL the name is `eth0`.
//!
//! Properties: accepted exactly when the SPEC rule says so; an accepted setting reads back whole
//! (parts and value give the text again) and its path for any valid name is
//! `net/X/Y/NAME/Z`, five components that stay below `/proc/sys`; a refused one is one problem,
//! field `sysctl`, carrying the setting as given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsplumb_core::{check_ifname, validate, Destination, Source, Spec};
use nsplumb_fuzz::spec_rules;

fuzz_target!(|data: &[u8]| {
    let (setting, ifname) = match data.iter().rposition(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"eth0"[..]),
    };
    let (Ok(setting), Ok(ifname)) = (std::str::from_utf8(setting), std::str::from_utf8(ifname))
    else {
        return;
    };
    let mut spec = Spec::new(
        Source::HostLink("veth0".into()),
        Destination::Name("eth0".into()),
    );
    spec.sysctls = vec![setting.to_string()];
    let rule_says_ok = spec_rules::sysctl_ok(setting);
    match validate(&spec) {
        Ok(valid) => {
            assert!(rule_says_ok, "{setting:?} accepted against SPEC V6");
            let [s] = valid.sysctls.as_slice() else {
                panic!("one setting in, {} out", valid.sysctls.len());
            };
            assert_eq!(format!("{}={}", s.parts.join("."), s.value), setting);
            assert!(!s.value.is_empty() && !s.value.contains(['\n', '\r', '\0']));
            if check_ifname(ifname).is_ok() {
                let path = s.path_for(ifname);
                let want = format!("net/{}/{}/{ifname}/{}", s.parts[1], s.parts[2], s.parts[4]);
                assert_eq!(path, want);
                assert_eq!(path.split('/').count(), 5, "{path:?}");
                assert!(
                    spec_rules::stays_below_proc_sys(&path),
                    "{path:?} leaves /proc/sys"
                );
            }
        }
        Err(e) => {
            assert!(!rule_says_ok, "{setting:?} refused against SPEC V6: {e}");
            let [p] = e.problems.as_slice() else {
                panic!("one bad setting, problems {:?}", e.problems);
            };
            assert_eq!((p.field, p.value.as_str()), ("sysctl", setting));
            let text = e.to_string();
            assert!(text.contains(&format!("sysctl {setting:?}: ")), "{text}");
            assert!(!text.contains('\n'), "{text:?}");
        }
    }
});
