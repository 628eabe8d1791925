//! IP network sets as `trusted_networks`/`internal_networks`/`msa_networks`
//! write them (`1.2.3.4`, `1.2.3.`, `10/8`, `!10.1.2.3`, `[::1]/128`). As in
//! SpamAssassin's NetSet the first entry covering an address decides (an
//! exclusion listed after a wider inclusion has no effect), and a `!` entry
//! excludes.

use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Default)]
pub struct NetSet {
    /// (address as IPv6, IPv4 mapped into ::ffff:0:0/96; prefix length; exclude)
    nets: Vec<(u128, u32, bool)>,
}

fn v4_to_u128(a: Ipv4Addr) -> u128 {
    0xffff_0000_0000u128 | u128::from(u32::from(a))
}

fn mask(bits: u32) -> u128 {
    if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits.min(128))
    }
}

/// Parse an address as SpamAssassin compares it (brackets, scope and an
/// `IPv6:` prefix ignored).
fn parse_addr(ip: &str) -> Option<u128> {
    let ip = ip.trim();
    let ip = ip
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(ip);
    let ip = ip.split('%').next().unwrap_or(ip);
    if let Ok(a) = ip.parse::<Ipv4Addr>() {
        return Some(v4_to_u128(a));
    }
    let ip = if ip.len() >= 5 && ip[..5].eq_ignore_ascii_case("ipv6:") {
        &ip[5..]
    } else {
        ip
    };
    ip.parse::<Ipv6Addr>().ok().map(u128::from)
}

impl NetSet {
    /// A set holding only loopback (what configured trust sets start with).
    pub fn with_loopback() -> NetSet {
        let mut s = NetSet::default();
        s.add("127.0.0.0/8");
        s.add("::1");
        s
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Add one entry; malformed entries are ignored, as SpamAssassin warns
    /// and skips them.
    pub fn add(&mut self, entry: &str) {
        let mut e = entry.trim();
        let exclude = if let Some(rest) = e.strip_prefix('!') {
            e = rest.trim_start();
            true
        } else {
            false
        };
        let (addr, len) = match e.split_once('/') {
            Some((a, l)) => (a, l.trim().parse::<u32>().ok()),
            None => (e, None),
        };
        let addr = addr
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(addr);
        let addr = addr.split('%').next().unwrap_or(addr);
        let looks_v4 = addr
            .split('.')
            .next()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && (addr.contains('.') || addr.bytes().all(|b| b.is_ascii_digit()));
        let parsed = if looks_v4 {
            // Short forms: "10." / "10.1" / "10.1.2." name /8, /16, /24.
            let parts: Vec<&str> = addr.trim_end_matches('.').split('.').collect();
            if parts.is_empty() || parts.len() > 4 {
                return;
            }
            let mut octets = [0u8; 4];
            for (i, p) in parts.iter().enumerate() {
                match p.parse::<u8>() {
                    Ok(v) => octets[i] = v,
                    Err(_) => return,
                }
            }
            let default_len = 8 * parts.len() as u32;
            let l = len.unwrap_or(default_len).min(32);
            (v4_to_u128(Ipv4Addr::from(octets)), 96 + l)
        } else {
            let Ok(a) = addr.parse::<Ipv6Addr>() else {
                return;
            };
            (u128::from(a), len.unwrap_or(128).min(128))
        };
        self.nets
            .push((parsed.0 & mask(parsed.1), parsed.1, exclude));
    }

    /// Is `ip` in the set (the first covering entry is not an exclusion)?
    pub fn contains_ip(&self, ip: &str) -> bool {
        let Some(a) = parse_addr(ip) else {
            return false;
        };
        self.nets
            .iter()
            .find(|&&(net, len, _)| a & mask(len) == net)
            .is_some_and(|&(_, _, excl)| !excl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let mut s = NetSet::with_loopback();
        s.add("192.168.");
        s.add("!10.1.2.3");
        s.add("10/8");
        s.add("!10.9.9.8");
        s.add("2001:db8::/32");
        assert!(s.contains_ip("127.0.0.1"));
        assert!(s.contains_ip("192.168.7.1"));
        assert!(s.contains_ip("10.9.9.9"));
        assert!(!s.contains_ip("10.1.2.3"));
        // Listed after the wider 10/8: no effect.
        assert!(s.contains_ip("10.9.9.8"));
        assert!(s.contains_ip("2001:db8::1"));
        assert!(s.contains_ip("::1"));
        assert!(!s.contains_ip("8.8.8.8"));
        assert!(!s.contains_ip(""));
    }
}
