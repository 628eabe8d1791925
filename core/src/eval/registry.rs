//! Registry boundaries: where the registrable part of a host name starts
//! (`util_rb_2tld`, `util_rb_3tld`, US state domains), and whether a name
//! ends in a known TLD (`util_rb_tld`).

use crate::config::Derived;

const US_STATES: &[&str] = &[
    "ak", "al", "ar", "az", "ca", "co", "ct", "dc", "de", "fl", "ga", "gu", "hi", "ia", "id", "il",
    "in", "ks", "ky", "la", "ma", "md", "me", "mi", "mn", "mo", "ms", "mt", "nc", "nd", "ne", "nh",
    "nj", "nm", "nv", "ny", "oh", "ok", "or", "pa", "pr", "ri", "sc", "sd", "tn", "tx", "ut", "va",
    "vi", "vt", "wa", "wi", "wv", "wy",
];

/// Split a host name into (host part, registrable domain):
/// `www.foo.co.uk` -> (`www`, `foo.co.uk`). Lowercases; empty labels from
/// repeated, leading or trailing dots are dropped.
pub fn split_domain(d: &Derived, name: &str) -> (String, String) {
    let name = name.to_ascii_lowercase();
    let parts: Vec<&str> = name.split('.').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return (String::new(), String::new());
    }
    let mut start = 0;
    while parts.len() - start > 1 {
        let rest = &parts[start..];
        let stop = match rest.len() {
            2 => d.two_level.contains(&rest.join(".")),
            3 if rest[2] == "us" => US_STATES.contains(&rest[1]),
            3 => d.three_level.contains(&rest.join(".")),
            4 if rest[3] == "us"
                && ((rest[0] == "pvt" && rest[1] == "k12")
                    || rest[0] == "ci"
                    || rest[0] == "co") =>
            {
                US_STATES.contains(&rest[2])
            }
            _ => false,
        };
        if stop {
            break;
        }
        start += 1;
    }
    // The label before the registry suffix belongs to the domain.
    start = start.saturating_sub(1);
    (parts[..start].join("."), parts[start..].join("."))
}

/// The registrable domain of a host name.
pub fn trim_domain(d: &Derived, name: &str) -> String {
    split_domain(d, name).1
}

/// Ends in a known TLD after at least one dot, and has no whitespace.
pub fn is_domain_valid(d: &Derived, dom: &str) -> bool {
    let dom = dom.to_ascii_lowercase();
    if dom.bytes().any(|b| b.is_ascii_whitespace() || b == 0x0b) {
        return false;
    }
    match dom.rsplit_once('.') {
        Some((_, tld)) if !tld.is_empty() => d.tlds.contains(tld),
        _ => false,
    }
}

/// A syntactically valid fully qualified name: at least two labels of
/// letters, digits, '-' and '_' (no '_' in the last two, no '-' at label
/// ends), 253 bytes at most; trailing dots ignored.
pub fn is_fqdn_valid(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    let h = h.trim_end_matches('.');
    if h.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = h.split('.').collect();
    let n = labels.len();
    if n < 2 {
        return false;
    }
    let word = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    labels.iter().enumerate().all(|(i, l)| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b.first().is_some_and(|&c| word(c))
            && b.last().is_some_and(|&c| word(c))
            && b.iter().all(|&c| word(c) || c == b'-')
            && (n - i > 2 || !l.contains('_'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derived() -> Derived {
        let mut d = Derived::default();
        d.two_level.insert("co.uk".into());
        d.three_level.insert("act.edu.au".into());
        d.tlds.insert("uk".into());
        d.tlds.insert("com".into());
        d
    }

    #[test]
    fn splits() {
        let d = derived();
        assert_eq!(trim_domain(&d, "www.foo.co.uk"), "foo.co.uk");
        assert_eq!(trim_domain(&d, "a.b.foo.com"), "foo.com");
        assert_eq!(trim_domain(&d, "foo.com"), "foo.com");
        assert_eq!(trim_domain(&d, "com"), "com");
        assert_eq!(trim_domain(&d, "x.y.act.edu.au"), "y.act.edu.au");
        assert_eq!(trim_domain(&d, "a.www.city.ny.us"), "www.city.ny.us");
        assert!(is_domain_valid(&d, "Foo.COM"));
        assert!(!is_domain_valid(&d, "foo.invalid"));
        assert!(!is_domain_valid(&d, "com"));
        assert!(is_fqdn_valid("mx.example.com."));
        assert!(!is_fqdn_valid("localhost"));
        assert!(!is_fqdn_valid("a_b.com"));
    }
}
