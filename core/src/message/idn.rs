//! Host names to ASCII as SpamAssassin's `idn_to_ascii` does with libidn2:
//! alternative full stops become '.', labels with non-ASCII letters become
//! `xn--` punycode; a name libidn2 would reject is returned unchanged.

/// Punycode (RFC 3492) of one label's code points.
fn punycode(input: &[char]) -> Option<String> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    let adapt = |mut delta: u32, num: u32, first: bool| {
        delta /= if first { DAMP } else { 2 };
        delta += delta / num;
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        k + (BASE - TMIN + 1) * delta / (delta + SKEW)
    };
    let digit = |d: u32| -> char {
        if d < 26 {
            char::from(b'a' + d as u8)
        } else {
            char::from(b'0' + (d - 26) as u8)
        }
    };
    let mut out: String = input.iter().filter(|c| c.is_ascii()).collect();
    let basic = out.len() as u32;
    let mut handled = basic;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias) = (128u32, 0u32, 72u32);
    let total = input.len() as u32;
    while handled < total {
        let m = input.iter().map(|&c| c as u32).filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in input {
            let c = c as u32;
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        TMIN
                    } else if k >= bias + TMAX {
                        TMAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    Some(out)
}

/// What libidn2 accepts in a label (an approximation of IDNA2008: letters,
/// digits, marks and '-', nothing else).
fn label_ok(label: &[char]) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .iter()
            .all(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || is_mark(*c))
}

/// Combining marks common in IDN labels (Thai, Devanagari, Arabic ...).
fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036f | 0x0e31 | 0x0e34..=0x0e3a | 0x0e47..=0x0e4e | 0x0900..=0x0903 | 0x093a..=0x094f | 0x064b..=0x065f | 0x3099 | 0x309a)
}

/// `idn_to_ascii`: lowercase ASCII names as they are; convert names with
/// non-ASCII labels to punycode; leave a name libidn2 would refuse as is.
pub(crate) fn to_ascii(host: &[u8]) -> Vec<u8> {
    let plain = host.iter().all(|&b| {
        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'[' | b']' | b'-')
    });
    if plain {
        return host.to_ascii_lowercase();
    }
    let text: Option<String> = match std::str::from_utf8(host) {
        Ok(s) => Some(s.replace(['\u{3002}', '\u{ff0e}', '\u{ff61}'], ".")),
        Err(_) => {
            let latin1 = host.iter().all(|&b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'_' | b'.' | b'-' | 0xc0..=0xd6 | 0xd8..=0xde | 0xe0..=0xf6 | 0xf8..=0xfe)
            });
            latin1.then(|| host.iter().map(|&b| char::from(b)).collect())
        }
    };
    let Some(text) = text else {
        return host.to_ascii_lowercase();
    };
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    for (i, label) in lower.split('.').enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        let chars: Vec<char> = label.chars().collect();
        if label.is_ascii() {
            out.extend_from_slice(label.as_bytes());
            continue;
        }
        match (label_ok(&chars), punycode(&chars)) {
            (true, Some(p)) => {
                out.extend_from_slice(b"xn--");
                out.extend_from_slice(p.as_bytes());
            }
            // A conversion failure leaves the whole name unchanged.
            _ => return host.to_vec(),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punycode_examples() {
        assert_eq!(
            to_ascii("bücher.example".as_bytes()),
            b"xn--bcher-kva.example"
        );
        assert_eq!(
            to_ascii("例え。テスト".as_bytes()),
            b"xn--r8jz45g.xn--zckzah"
        );
        assert_eq!(to_ascii(b"WWW.Example.COM"), b"www.example.com");
        assert_eq!(to_ascii("a b.com".as_bytes()), b"a b.com");
    }
}
