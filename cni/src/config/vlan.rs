//! `vlan` and `vlanTrunk`, with the bridge plugin's ranges and wordings (SPEC C2, L3).

use super::problems::Problems;
use super::values;
use serde_json::Value;
use std::collections::BTreeSet;

/// The highest VLAN ID a bridge port takes (4095 is reserved).
pub const MAX_VLAN_ID: i64 = 4094;

/// `vlan`: 0 (or absent) is none; 1..=4094 is the port's untagged PVID.
pub fn pvid(problems: &mut Problems, value: &Value) -> Option<u16> {
    let id = values::integer(problems, "vlan", value)?;
    if !(0..=MAX_VLAN_ID).contains(&id) {
        problems.invalid(
            "vlan",
            value,
            format!("invalid VLAN ID {id} (must be between 0 and {MAX_VLAN_ID})"),
        );
        return None;
    }
    u16::try_from(id).ok().filter(|id| *id != 0)
}

/// `vlanTrunk`: `[{"id": N} | {"minID": A, "maxID": B}, ...]`, sorted and without repeats.
pub fn trunk(problems: &mut Problems, value: &Value) -> Vec<u16> {
    let mut ids = BTreeSet::new();
    let Value::Array(entries) = value else {
        if !value.is_null() {
            problems.invalid(
                "vlanTrunk",
                value,
                "must be an array of {id} or {minID, maxID}",
            );
        }
        return Vec::new();
    };
    for (i, entry) in entries.iter().enumerate() {
        let key = format!("vlanTrunk[{i}]");
        let Some(fields) = values::object(problems, &key, entry) else {
            continue;
        };
        for (name, v) in fields {
            if !matches!(name.as_str(), "id" | "minID" | "maxID") {
                problems.unsupported(
                    &format!("{key}.{name}"),
                    v,
                    "a trunk entry has id, minID and maxID only",
                );
            }
        }
        let field = |problems: &mut Problems, name: &str| {
            fields
                .get(name)
                .and_then(|v| values::integer(problems, &format!("{key}.{name}"), v))
        };
        let min = field(problems, "minID");
        let max = field(problems, "maxID");
        let single = field(problems, "id");
        match (min, max) {
            (Some(min), Some(max)) => {
                let in_range = |id: i64| (1..=MAX_VLAN_ID).contains(&id);
                if !in_range(min) {
                    problems.invalid(
                        &format!("{key}.minID"),
                        &Value::from(min),
                        "incorrect trunk minID parameter (must be between 1 and 4094)",
                    );
                } else if !in_range(max) {
                    problems.invalid(
                        &format!("{key}.maxID"),
                        &Value::from(max),
                        "incorrect trunk maxID parameter (must be between 1 and 4094)",
                    );
                } else if max < min {
                    problems.invalid(
                        &key,
                        entry,
                        "minID is greater than maxID in trunk parameter",
                    );
                } else {
                    ids.extend((min..=max).filter_map(|id| u16::try_from(id).ok()));
                }
            }
            (None, Some(_)) => problems.invalid(
                &key,
                entry,
                "minID and maxID should be configured simultaneously, minID is missing",
            ),
            (Some(_), None) => problems.invalid(
                &key,
                entry,
                "minID and maxID should be configured simultaneously, maxID is missing",
            ),
            (None, None) if single.is_none() => {
                problems.invalid(&key, entry, "a trunk entry needs id, or minID and maxID")
            }
            (None, None) => {}
        }
        if let Some(id) = single {
            match u16::try_from(id)
                .ok()
                .filter(|id| (1..=MAX_VLAN_ID).contains(&i64::from(*id)))
            {
                Some(id) => {
                    ids.insert(id);
                }
                None => problems.invalid(
                    &format!("{key}.id"),
                    &Value::from(id),
                    "incorrect trunk id parameter (must be between 1 and 4094)",
                ),
            }
        }
    }
    ids.into_iter().collect()
}
