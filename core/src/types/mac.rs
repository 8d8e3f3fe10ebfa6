//! Ethernet MAC addresses.

use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const ZERO: MacAddr = MacAddr([0; 6]);
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    /// The I/G bit: set for group (multicast/broadcast) addresses, which no interface may own.
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    pub fn is_zero(self) -> bool {
        self.0 == [0; 6]
    }

    /// A unicast, non-zero address: the only kind an interface can be given (SPEC V3).
    pub fn is_assignable(self) -> bool {
        !self.is_multicast() && !self.is_zero()
    }
}

/// Why a MAC string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected six hex octets separated by ':' or '-'")]
pub struct MacParseError;

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Accepts `aa:bb:cc:dd:ee:ff` and `aa-bb-cc-dd-ee-ff` (one separator kind per address).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let sep = if s.contains(':') { ':' } else { '-' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for slot in &mut out {
            let part = parts.next().ok_or(MacParseError)?;
            // Two hex digits exactly: `u8::from_str_radix` alone also takes a sign (`+a`).
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(MacParseError);
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| MacParseError)?;
        }
        if parts.next().is_some() {
            return Err(MacParseError);
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<'de> serde::Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::types::serde_fromstr(d)
    }
}

impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC: V3
    #[test]
    fn parses_both_separators_and_rejects_mixed_or_short() {
        let a: MacAddr = "02:42:ac:11:00:02".parse().unwrap();
        let b: MacAddr = "02-42-AC-11-00-02".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "02:42:ac:11:00:02");
        assert!("02:42:ac:11:00".parse::<MacAddr>().is_err());
        assert!("02:42:ac:11:00:02:03".parse::<MacAddr>().is_err());
        assert!("02:42-ac:11:00:02".parse::<MacAddr>().is_err());
        assert!("0g:42:ac:11:00:02".parse::<MacAddr>().is_err());
    }

    // SPEC: R3, V3 (found by the `spec_json` fuzz target: `02:42:c0:00:02:+a` was read as
    // 02:42:c0:00:02:0a)
    #[test]
    fn an_octet_with_a_sign_is_not_a_mac() {
        assert_eq!("02:42:c0:00:02:+a".parse::<MacAddr>(), Err(MacParseError));
        assert_eq!("+2-42-c0-00-02-0a".parse::<MacAddr>(), Err(MacParseError));
        assert_eq!("02:42:c0:00:02:-0".parse::<MacAddr>(), Err(MacParseError));
    }

    // SPEC: V3
    #[test]
    fn multicast_and_zero_are_not_assignable() {
        assert!(!"01:00:5e:00:00:01"
            .parse::<MacAddr>()
            .unwrap()
            .is_assignable());
        assert!(!MacAddr::ZERO.is_assignable());
        assert!(!MacAddr::BROADCAST.is_assignable());
        assert!("02:00:00:00:00:01"
            .parse::<MacAddr>()
            .unwrap()
            .is_assignable());
    }
}
