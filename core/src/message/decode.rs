//! Content-Transfer-Encoding decoders with SpamAssassin's tolerance
//! (`Util.pm` `qp_decode`, `base64_decode`): broken input still yields bytes.

/// Quoted-printable: trailing blanks before a line break are dropped, soft
/// breaks removed, `=XX` (either case) decoded; anything else kept as is.
pub(crate) fn qp_decode(s: &[u8]) -> Vec<u8> {
    // Step 1: drop [ \t]+ that precede \r?\n.
    let mut a = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if matches!(s[i], b' ' | b'\t') {
            let mut j = i;
            while j < s.len() && matches!(s[j], b' ' | b'\t') {
                j += 1;
            }
            let at_break = s.get(j) == Some(&b'\n')
                || (s.get(j) == Some(&b'\r') && s.get(j + 1) == Some(&b'\n'));
            if !at_break {
                a.extend_from_slice(&s[i..j]);
            }
            i = j;
        } else {
            a.push(s[i]);
            i += 1;
        }
    }
    // Step 2: soft line breaks.
    let mut b = Vec::with_capacity(a.len());
    let mut i = 0;
    while i < a.len() {
        if a[i] == b'=' && a.get(i + 1) == Some(&b'\n') {
            i += 2;
        } else if a[i] == b'=' && a.get(i + 1) == Some(&b'\r') && a.get(i + 2) == Some(&b'\n') {
            i += 3;
        } else {
            b.push(a[i]);
            i += 1;
        }
    }
    // Step 3: hex escapes.
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Base64 the way SpamAssassin decodes it: whitespace ignored; well-formed
/// input decoded normally with inner `=` runs read as zero bits; otherwise
/// junk dropped, an inner `=` read as 63, a dangling sixth bit ignored.
pub(crate) fn base64_decode(s: &[u8]) -> Vec<u8> {
    let clean: Vec<u8> = s
        .iter()
        .copied()
        .filter(|&b| !super::headers::is_space(b))
        .collect();
    let well_formed = clean.len().is_multiple_of(4) && clean.len() >= 2 && {
        let body_end = clean.len()
            - clean
                .iter()
                .rev()
                .take(2)
                .take_while(|&&b| b == b'=')
                .count();
        clean[..body_end]
            .iter()
            .all(|&b| b64_value(b).is_some() || b == b'=')
            && clean[..body_end].len() >= 2
    };
    let values: Vec<u8> = if well_formed {
        // Trailing '=' are padding; inner '=' runs become 'A' (zero bits).
        let trail = clean.iter().rev().take_while(|&&b| b == b'=').count();
        let body = &clean[..clean.len() - trail];
        body.iter().map(|&b| b64_value(b).unwrap_or(0)).collect()
    } else {
        let mut kept: Vec<u8> = clean
            .iter()
            .copied()
            .filter(|&b| b64_value(b).is_some() || b == b'=')
            .collect();
        while kept.last() == Some(&b'=') {
            kept.pop();
        }
        let mut v: Vec<u8> = kept.iter().map(|&b| b64_value(b).unwrap_or(63)).collect();
        if v.len() % 4 == 1 {
            v.pop();
        }
        v
    };
    let mut out = Vec::with_capacity(values.len() * 3 / 4);
    for chunk in values.chunks(4) {
        let mut n: u32 = 0;
        for (k, &v) in chunk.iter().enumerate() {
            n |= u32::from(v) << (18 - 6 * k as u32);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let take = chunk.len() * 3 / 4;
        out.extend_from_slice(&bytes[..take]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qp() {
        assert_eq!(qp_decode(b"a=3Db=\nc  \nd=e9=ZZ"), b"a=bc\nd\xe9=ZZ");
        assert_eq!(qp_decode(b"x \r\n"), b"x\r\n");
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode(b"aGVs\nbG8="), b"hello");
        assert_eq!(base64_decode(b"aGVsbG8"), b"hello");
        assert_eq!(base64_decode(b"aGVs!bG8=x"), b"hello?");
        assert_eq!(base64_decode(b"YQ==YQ=="), b"a\x00\x00a");
        assert_eq!(base64_decode(b"YQ=YQ==="), b"a\x00\x18");
        assert_eq!(base64_decode(b""), b"");
    }
}
