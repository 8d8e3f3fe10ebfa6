//! MAC addresses from a configuration or `CNI_ARGS`, held to SPEC V3 like the CLI's.

use nsplumb_core::MacAddr;

/// Parses a MAC an interface can be given (SPEC V3): six octets, unicast, not all zero.
pub fn parse_mac(text: &str) -> Result<MacAddr, String> {
    let mac: MacAddr = text.parse().map_err(|e| format!("{e}"))?;
    if mac.is_multicast() {
        return Err("must be unicast (I/G bit clear)".into());
    }
    if mac.is_zero() {
        return Err("must not be all zero".into());
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC: V3
    #[test]
    fn only_assignable_macs_pass() {
        assert!(parse_mac("02:00:00:00:00:01").is_ok());
        assert!(parse_mac("02-00-00-00-00-01").is_ok());
        assert!(parse_mac("03:00:00:00:00:01")
            .unwrap_err()
            .contains("unicast"));
        assert!(parse_mac("00:00:00:00:00:00").unwrap_err().contains("zero"));
        assert!(parse_mac("02:00:00:00:00").is_err());
    }
}
