//! URIs as SpamAssassin's `uri` rules see them (`PerMsgStatus.pm`
//! `get_uri_list`): links found in the rendered text by a Thunderbird-like
//! linkifier and in HTML attributes, each expanded into its canonical
//! variants (`Util.pm` `uri_list_canonicalize`). Works on bytes, as Perl
//! does on the body's octets.

use std::collections::{BTreeSet, HashSet};

use super::tlds::TLDS;

/// `MAX_URI_LENGTH`.
const MAX_URI: usize = 8192;
/// Redirect targets followed per URI (Perl grows the list it iterates; a
/// bound keeps hostile nesting finite).
const MAX_REDIRECTS: usize = 32;

/// A `redirector_pattern`: returns the embedded target (capture 1) of a URI
/// if the pattern matches. The rules engine supplies these from the config.
pub type Redirector = dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync;

fn is_ascii_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Thunderbird's end delimiters (plus ESC and a 0xA0 byte).
fn end_delim(b: u8) -> bool {
    matches!(
        b,
        b'>' | b'<' | b'"' | b'`' | b'}' | b']' | b'{' | b'[' | b'|' | 0x1b | 0xa0
    ) || is_ascii_ws(b)
}

/// End delimiters inside e-mail addresses: also `,(')` and any 8-bit byte.
fn email_delim(b: u8) -> bool {
    end_delim(b) || matches!(b, b',' | b'(' | b'\'') || b >= 0x80
}

/// Characters after which a URI may start.
fn start_delim(b: u8) -> bool {
    matches!(
        b,
        b'>' | b'<' | b'"' | b'\'' | b'`' | b',' | b'{' | b'[' | b'(' | b'|' | 0x1b | 0xa0
    ) || is_ascii_ws(b)
}

/// Characters after which a scheme-less host may start.
fn schemeless_start_delim(b: u8) -> bool {
    b"!\"#$&'()*+,/:;<=>?@[\\]^`{|}~".contains(&b) || is_ascii_ws(b) || b == 0x1b || b == 0xa0
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn starts_with_ci(s: &[u8], p: &[u8]) -> bool {
    s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p)
}

/// `tld` is in SpamAssassin's list (case-insensitive).
pub(crate) fn valid_tld(tld: &[u8]) -> bool {
    let Ok(t) = std::str::from_utf8(tld) else {
        return false;
    };
    let t = t.to_ascii_lowercase();
    TLDS.binary_search(&t.as_str()).is_ok()
}

/// Length of a run from `at` of bytes for which `ok` holds, if it is 1..=max
/// long and ends at a byte for which `stop` holds or at the end.
fn bounded_run(
    s: &[u8],
    at: usize,
    max: usize,
    ok: impl Fn(u8) -> bool,
    stop: impl Fn(u8) -> bool,
) -> Option<usize> {
    let n = s[at.min(s.len())..].iter().take_while(|&&b| ok(b)).count();
    if n == 0 || n > max {
        return None;
    }
    match s.get(at + n) {
        None => Some(n),
        Some(&b) if stop(b) => Some(n),
        _ => None,
    }
}

/// What the linkifier found at one position.
struct Hit {
    end: usize,
    kind: HitKind,
}

#[derive(Clone, Copy, PartialEq)]
enum HitKind {
    Scheme,
    Mail,
    /// Scheme-less host; the host part ends at this offset.
    Schemeless(usize),
}

/// `http://`, `https://`, `ftp://`, `www\d{0,2}.`, `ftp.` followed by a URL.
fn match_known_scheme(s: &[u8], at: usize) -> Option<usize> {
    let rest = &s[at..];
    let prefix = if starts_with_ci(rest, b"http://") {
        7
    } else if starts_with_ci(rest, b"https://") {
        8
    } else if starts_with_ci(rest, b"ftp://") {
        6
    } else if starts_with_ci(rest, b"ftp.") {
        4
    } else if starts_with_ci(rest, b"www") {
        let digits = rest[3..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 2 || rest.get(3 + digits) != Some(&b'.') {
            return None;
        }
        4 + digits
    } else {
        return None;
    };
    let n = bounded_run(s, at + prefix, 2048, |b| !end_delim(b), end_delim)?;
    Some(at + prefix + n)
}

/// `mailto:...` or `local@domain`.
fn match_mail(s: &[u8], at: usize) -> Option<usize> {
    if starts_with_ci(&s[at..], b"mailto:") {
        let n = bounded_run(s, at + 7, 2048, |b| !email_delim(b), email_delim)?;
        return Some(at + 7 + n);
    }
    let local = s[at..]
        .iter()
        .take_while(|&&b| !email_delim(b) && b != b'@')
        .count();
    if local == 0 || local > 251 || s.get(at + local) != Some(&b'@') {
        return None;
    }
    let d = at + local + 1;
    let n = bounded_run(s, d, 251, |b| !email_delim(b), email_delim)?;
    Some(d + n)
}

/// `host.tld[.][:port][/path]` with a known TLD.
fn match_schemeless(s: &[u8], at: usize) -> Option<(usize, usize)> {
    let hostch = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    if !s.get(at).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    let run = s[at..].iter().take_while(|&&b| hostch(b)).count();
    // Longest host first, as the greedy pattern backtracks.
    let mut dots: Vec<usize> = (1..run.min(253)).filter(|&k| s[at + k] == b'.').collect();
    dots.reverse();
    for k in dots {
        let tstart = at + k + 1;
        let tlen = s[tstart..at + run]
            .iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'-')
            .count();
        if tlen == 0 || !valid_tld(&s[tstart..tstart + tlen]) {
            continue;
        }
        let host_end = tstart + tlen;
        if let Some(end) = schemeless_tail(s, host_end) {
            return Some((end, host_end));
        }
    }
    None
}

/// After a scheme-less host: `\.?(?::\d{1,5})?(?:/[^delims]{1,2048})?`
/// then a delimiter or the end, trying the options the way backtracking does.
fn schemeless_tail(s: &[u8], from: usize) -> Option<usize> {
    let ends_ok = |p: usize| s.get(p).is_none_or(|&b| end_delim(b));
    let dot_opts: &[usize] = if s.get(from) == Some(&b'.') {
        &[1, 0]
    } else {
        &[0]
    };
    for &dot in dot_opts {
        let p = from + dot;
        let mut port_opts = Vec::new();
        if s.get(p) == Some(&b':') {
            let digits = s[p + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
            for d in (1..=digits.min(5)).rev() {
                port_opts.push(p + 1 + d);
            }
        }
        port_opts.push(p);
        for q in port_opts {
            if s.get(q) == Some(&b'/')
                && let Some(n) = bounded_run(s, q + 1, 2048, |b| !end_delim(b), end_delim)
            {
                return Some(q + 1 + n);
            }
            if ends_ok(q) {
                return Some(q);
            }
        }
    }
    None
}

/// Scan one body line for URIs the way SpamAssassin's linkifier does.
fn scan_line(s: &[u8], out: &mut Vec<(Vec<u8>, HitKind)>) {
    let mut at = 0;
    // Every hit lies inside one run of non-whitespace (all the matchers
    // stop at ASCII whitespace) and holds a `:` (a scheme), `@` (an
    // address) or `.` (`www.`, `ftp.`, a host and its TLD), so a run
    // without any of them is skipped whole.
    let mut run_end = 0;
    while at < s.len() {
        if at >= run_end {
            if is_ascii_ws(s[at]) {
                at += 1;
                continue;
            }
            run_end = s[at..]
                .iter()
                .position(|&b| is_ascii_ws(b))
                .map_or(s.len(), |n| at + n);
            if !s[at..run_end]
                .iter()
                .any(|b| matches!(b, b':' | b'@' | b'.'))
            {
                at = run_end;
                continue;
            }
        }
        let prev = at.checked_sub(1).map(|p| s[p]);
        let boundary = is_word(s[at]) != prev.is_some_and(is_word);
        let iso_shift = at >= 3 && s[at - 3] == 0x1b && s[at - 2] == b'(';
        let after_delim = prev.is_some_and(start_delim);
        if boundary || iso_shift || after_delim {
            let hit = match_known_scheme(s, at)
                .map(|end| Hit {
                    end,
                    kind: HitKind::Scheme,
                })
                .or_else(|| {
                    match_mail(s, at).map(|end| Hit {
                        end,
                        kind: HitKind::Mail,
                    })
                })
                .or_else(|| {
                    if prev.is_none_or(schemeless_start_delim) {
                        match_schemeless(s, at).map(|(end, host_end)| Hit {
                            end,
                            kind: HitKind::Schemeless(host_end - at),
                        })
                    } else {
                        None
                    }
                });
            if let Some(h) = hit {
                out.push((s[at..h.end].to_vec(), h.kind));
                at = h.end.max(at + 1);
                continue;
            }
        }
        at += 1;
    }
}

/// Thunderbird's trimming: an unmatched `)` ends the URI, trailing
/// punctuation goes.
fn trim_raw(raw: &[u8]) -> Vec<u8> {
    let mut s = raw.to_vec();
    if let Some(p) = s.iter().position(|&b| b == b')')
        && !s[..p].contains(&b'(')
    {
        s.truncate(p);
    }
    while s.last().is_some_and(|b| b"-~!@#^&*()_+=:;'?,.".contains(b)) {
        s.pop();
    }
    s
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    find(h, n).is_some()
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    if n.is_empty() {
        return Some(0);
    }
    h.windows(n.len()).position(|w| w == n)
}

/// The URI SpamAssassin records for one text hit (scheme added), or None
/// when it is skipped.
fn text_uri(raw: &[u8], kind: HitKind) -> Option<Vec<u8>> {
    if kind == HitKind::Mail && !raw.contains(&b'@') {
        return None;
    }
    if let HitKind::Schemeless(host_len) = kind
        && !fqdn_valid(&raw[..host_len.min(raw.len())])
    {
        return None;
    }
    if starts_with_ci(raw, b"cid:") || starts_with_ci(raw, b"mid:") {
        return None;
    }
    // `^\w+:/{0,2}$`: a bare scheme.
    if let Some(c) = raw.iter().position(|&b| b == b':')
        && c > 0
        && raw[..c].iter().all(|&b| is_word(b))
        && raw[c + 1..].iter().all(|&b| b == b'/')
        && raw.len() - c - 1 <= 2
    {
        return None;
    }
    let mut uri = raw.to_vec();
    let has_scheme = ["http:", "https:", "ftp:", "mailto:"]
        .iter()
        .any(|p| starts_with_ci(&uri, p.as_bytes()));
    if !has_scheme {
        if starts_with_ci(&uri, b"ftp.") {
            uri.splice(0..0, b"ftp://".iter().copied());
        } else if is_www_host(&uri)
            || uri
                .iter()
                .position(|&b| b == b'/')
                .is_some_and(|p| uri[p + 1..].iter().skip(1).any(|&b| b == b'@'))
        {
            // `www\d{0,2}.` hosts and `.../x@y` paths are web links.
            uri.splice(0..0, b"http://".iter().copied());
        } else if let Some(at) = uri.iter().position(|&b| b == b'@') {
            // `\@.+?\.`: a dot somewhere after at least one character.
            if !uri[at + 1..].iter().skip(1).any(|&b| b == b'.') || contains(&uri, b"&nbsp;") {
                return None;
            }
            uri = strip_mail_misparse(&uri);
            uri.splice(0..0, b"mailto:".iter().copied());
        } else {
            if !uri.contains(&b'.') {
                return None;
            }
            uri.splice(0..0, b"http://".iter().copied());
        }
    }
    if starts_with_ci(&uri, b"mailto:") {
        if has_pct_hex(&uri) {
            uri = url_encode(&uri);
        }
        let at = uri.iter().position(|&b| b == b'@')?;
        let mut host: Vec<u8> = uri[at + 1..]
            .iter()
            .copied()
            .take_while(|&b| b != b'?' && b != b'&' && b != b'>')
            .collect();
        while host.ends_with(b"%20") {
            host.truncate(host.len() - 3);
        }
        if !domain_valid(&super::idn::to_ascii(&host)) {
            return None;
        }
    }
    Some(uri)
}

/// `^www\d{0,2}\.`, case-insensitive.
fn is_www_host(u: &[u8]) -> bool {
    if !starts_with_ci(u, b"www") {
        return false;
    }
    let d = u[3..].iter().take_while(|b| b.is_ascii_digit()).count();
    d <= 2 && u.get(3 + d) == Some(&b'.')
}

/// `^(?:skype|e?-?mail)?:+`, case-insensitive.
fn strip_mail_misparse(u: &[u8]) -> Vec<u8> {
    for p in [&b"skype"[..], b"e-mail", b"email", b"-mail", b"mail", b""] {
        if starts_with_ci(u, p) && u.get(p.len()) == Some(&b':') {
            let rest = &u[p.len()..];
            let n = rest.iter().take_while(|&&b| b == b':').count();
            return rest[n..].to_vec();
        }
    }
    u.to_vec()
}

fn has_pct_hex(u: &[u8]) -> bool {
    u.windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

/// SpamAssassin's `url_encode`: decode `%XX` escapes of harmless printable
/// characters, percent-encode controls, 8-bit bytes, space, `"%<>`.
fn url_encode(u: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(u.len());
    let mut i = 0;
    while i < u.len() {
        if u[i] == b'%'
            && u.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && u.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            let (h, l) = (u[i + 1], u[i + 2]);
            let keep = (h == b'2' && l == b'0')
                || (h == b'7' && (l == b'f' || l == b'F'))
                || (b"0189abcdefABCDEF".contains(&h));
            // `[0189a-f][0-9a-f]` can also match starting at the second
            // digit only when a hex digit follows it, which is never the
            // case inside one escape.
            if !keep && (b'2'..=b'7').contains(&h) {
                let v = (hexval(h) << 4) | hexval(l);
                out.push(v);
            } else {
                out.extend_from_slice(&u[i..i + 3]);
            }
            i += 3;
            continue;
        }
        let b = u[i];
        if b <= 0x20 || b >= 0x7f || matches!(b, b'"' | b'%' | b'<' | b'>') {
            out.extend_from_slice(format!("%{b:02x}").as_bytes());
        } else {
            out.push(b);
        }
        i += 1;
    }
    out
}

fn hexval(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// `is_fqdn_valid(host, 1)`: at least two labels of `[a-z0-9_-]`, no
/// leading/trailing '-', no '_' in the last two labels, 253 bytes at most.
pub(crate) fn fqdn_valid(host: &[u8]) -> bool {
    let mut h = host.to_ascii_lowercase();
    while h.last() == Some(&b'.') {
        h.pop();
    }
    if h.len() > 253 {
        return false;
    }
    let labels: Vec<&[u8]> = h.split(|&b| b == b'.').collect();
    let n = labels.len();
    if n < 2 {
        return false;
    }
    labels.iter().enumerate().all(|(i, l)| {
        let ok_char = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_';
        !l.is_empty()
            && l.len() <= 63
            && l.first().is_some_and(ok_char)
            && l.last().is_some_and(ok_char)
            && l.iter().all(|b| ok_char(b) || *b == b'-')
            && (n - i > 2 || !l.contains(&b'_'))
    })
}

/// `is_domain_valid`: no whitespace and a known TLD after the last dot.
pub(crate) fn domain_valid(dom: &[u8]) -> bool {
    let d = dom.to_ascii_lowercase();
    if d.iter().any(|&b| is_ascii_ws(b)) {
        return false;
    }
    match d.iter().rposition(|&b| b == b'.') {
        Some(p) if p + 1 < d.len() => valid_tld(&d[p + 1..]),
        _ => false,
    }
}

/// An IPv4 or IPv6 literal (SpamAssassin's `IS_IP_ADDRESS`).
fn is_ip(h: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(h) else {
        return false;
    };
    let s = s.strip_prefix("ipv6:").unwrap_or(s);
    s.parse::<std::net::IpAddr>().is_ok()
}

/// `uri_to_domain`: the host of a URI if it has a valid registrable name
/// (or is an IP literal).
pub(crate) fn uri_host(uri: &[u8]) -> Option<Vec<u8>> {
    let mut u = uri.to_ascii_lowercase();
    if u.starts_with(b"javascript:") || u.starts_with(b"cid:") || u.starts_with(b"file:") {
        return None;
    }
    if let Some(rest) = u.strip_prefix(b"mailto:") {
        let mut r = rest.to_vec();
        if let Some(q) = r.iter().position(|&b| b == b'?') {
            r.truncate(q);
        }
        if r.iter().filter(|&&b| b == b'@').count() > 1 {
            return None;
        }
        let at = r.iter().rposition(|&b| b == b'@')?;
        u = r[at + 1..].to_vec();
    } else {
        let scheme = u.iter().take_while(|b| b.is_ascii_lowercase()).count();
        if scheme > 0 && u.get(scheme) == Some(&b':') {
            let slashes = u[scheme + 1..]
                .iter()
                .take(2)
                .take_while(|&&b| b == b'/')
                .count();
            u.drain(..scheme + 1 + slashes);
        }
        if let Some(p) = u.iter().position(|&b| matches!(b, b'/' | b'?' | b'#')) {
            u.truncate(p);
        }
        if let Some(p) = u.iter().position(|&b| b == b'@')
            && !u[..p].contains(&b'/')
        {
            let last_at = u.iter().rposition(|&b| b == b'@').unwrap_or(p);
            u.drain(..=last_at);
        }
        if let Some(c) = u.iter().rposition(|&b| b == b':')
            && u[c + 1..].iter().all(u8::is_ascii_digit)
        {
            u.truncate(c);
        }
    }
    let pct_printable = u.windows(3).any(|w| {
        w[0] == b'%'
            && matches!((w[1], w[2]), (b'2', b'1'..=b'9' | b'a'..=b'f') | (b'3'..=b'6', b'0'..=b'9' | b'a'..=b'f') | (b'7', b'0'..=b'9' | b'a'..=b'e'))
    });
    if pct_printable {
        return None;
    }
    let u = super::idn::to_ascii(&u);
    if is_ip(&u) {
        return Some(u);
    }
    (fqdn_valid(&u) && domain_valid(&u)).then_some(u)
}

/// `&#NN;` / `&#xHH;` references to printable ASCII, and the Unicode full
/// stops written as references, decoded (three passes, as SpamAssassin).
fn decode_char_refs(u: &[u8]) -> Vec<u8> {
    if !contains(u, b"&#") {
        return u.to_vec();
    }
    // Pass 1: decimal 33..=126, leading zeros allowed.
    let u = replace_refs(u, |body| {
        let d = body.strip_prefix(b"#")?;
        if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let digits = std::str::from_utf8(d).ok()?.trim_start_matches('0');
        let v: u32 = digits.parse().ok()?;
        (digits.len() <= 3 && (33..=126).contains(&v)).then_some(vec![v as u8])
    });
    // Pass 2: lowercase `x`, two significant hex digits in the printable set
    // that SpamAssassin's pattern covers (0x2A-0x2F are not).
    let u = replace_refs(&u, |body| {
        let h = body.strip_prefix(b"#x")?;
        let sig = &h[h.iter().take_while(|&&b| b == b'0').count()..];
        if sig.len() != 2 || !sig.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let v = (hexval(sig[0]) << 4) | hexval(sig[1]);
        let ok = (0x21..=0x29).contains(&v) || (0x30..=0x7e).contains(&v);
        ok.then_some(vec![v])
    });
    // Pass 3: full stops, case-insensitive, exact spellings only.
    replace_refs(&u, |body| {
        let l = body.to_ascii_lowercase();
        matches!(
            &l[..],
            b"#x2e" | b"#12290" | b"#x3002" | b"#65294" | b"#xff0e" | b"#65377" | b"#xff61"
        )
        .then(|| b".".to_vec())
    })
}

/// Replace each `&BODY;` for which `f(BODY)` gives a replacement.
fn replace_refs(u: &[u8], f: impl Fn(&[u8]) -> Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(u.len());
    let mut i = 0;
    while i < u.len() {
        if u[i] == b'&'
            && u.get(i + 1) == Some(&b'#')
            && let Some(semi) = u[i + 1..].iter().take(12).position(|&b| b == b';')
            && let Some(rep) = f(&u[i + 1..i + 1 + semi])
        {
            out.extend_from_slice(&rep);
            i += semi + 2;
            continue;
        }
        out.push(u[i]);
        i += 1;
    }
    out
}

/// `uri_list_canonicalize` for one URI: the URI itself (trimmed) plus all
/// its cleaned variants and those of the redirect targets it embeds.
pub(crate) fn canonicalize(uri: &[u8], redirectors: &[Box<Redirector>]) -> Vec<Vec<u8>> {
    let mut work: Vec<Vec<u8>> = vec![uri.to_vec()];
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut k = 0;
    while k < work.len() {
        let mut u: Vec<u8> = work[k].iter().copied().filter(|&b| b != b'\n').collect();
        while u.first().is_some_and(|&b| is_ascii_ws(b)) {
            u.remove(0);
        }
        while u.last().is_some_and(|&b| is_ascii_ws(b)) {
            u.pop();
        }
        u.retain(|&b| b != b'\r');
        k += 1;
        out.push(u.clone());
        if u.len() <= 1
            || matches!(u[0], b'#' | b'?' | b'&')
            || (u[0] == b'/' && u.get(1) != Some(&b'/'))
        {
            continue;
        }
        let colon = u.iter().position(|&b| b == b':');
        let at = u.iter().position(|&b| b == b'@');
        if starts_with_ci(&u, b"mailto:") || at.is_some_and(|a| colon.is_none_or(|c| a < c)) {
            canon_mail(&u, &mut out);
            continue;
        }
        let mut n: Vec<u8> = u
            .iter()
            .map(|&b| if b == b'\\' { b'/' } else { b })
            .collect();
        for scheme in [&b"https:"[..], b"http:"] {
            if starts_with_ci(&n, scheme) {
                let slashes = n[scheme.len()..]
                    .iter()
                    .take(2)
                    .take_while(|&&b| b == b'/')
                    .count();
                let mut m = n[..scheme.len()].to_vec();
                m.extend_from_slice(b"//");
                m.extend_from_slice(&n[scheme.len() + slashes..]);
                n = m;
                break;
            }
        }
        if has_pct_hex(&n) {
            n = url_encode(&n);
        }
        let sch = n
            .iter()
            .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            .count();
        if !(sch > 0 && n.get(sch) == Some(&b':')) {
            let prefix: &[u8] = if n.starts_with(b"ftp.") {
                b"ftp://"
            } else {
                b"http://"
            };
            n.splice(0..0, prefix.iter().copied());
        }
        let proto_len = if starts_with_ci(&n, b"http://") {
            7
        } else if starts_with_ci(&n, b"https://") {
            8
        } else {
            0
        };
        if proto_len > 0 {
            let host_len = n[proto_len..]
                .iter()
                .take_while(|&&b| !matches!(b, b'/' | b'?' | b'#'))
                .count();
            if host_len > 0 && matches!(n.get(proto_len + host_len), Some(b'?' | b'#')) {
                n.insert(proto_len + host_len, b'/');
            }
        }
        n = decode_char_refs(&n);
        if n != u {
            out.push(n.clone());
        }
        canon_http(&n, redirectors, &mut out, &mut work);
        if work.len() > MAX_REDIRECTS {
            work.truncate(MAX_REDIRECTS);
        }
    }
    out
}

/// Variants of a mailto/address URI.
fn canon_mail(u: &[u8], out: &mut Vec<Vec<u8>>) {
    let at = u.iter().position(|&b| b == b'@');
    // `^([^@]+@[^?]+)\?`
    if let (Some(a), Some(q)) = (at, u.iter().position(|&b| b == b'?'))
        && a > 0
        && q > a + 1
    {
        out.push(u[..q].to_vec());
    }
    // `^([^@]+@[^?&]+)&`
    if let Some(a) = at {
        let stop = u[a + 1..]
            .iter()
            .position(|&b| b == b'?' || b == b'&')
            .map(|p| a + 1 + p);
        if let Some(s) = stop
            && a > 0
            && s > a + 1
            && u[s] == b'&'
        {
            out.push(u[..s].to_vec());
        }
    }
    if contains(u, b"%20") {
        let mut r = u;
        if starts_with_ci(r, b"mailto:") {
            r = &r[7..];
        }
        while r.starts_with(b"%20") {
            r = &r[3..];
        }
        if let Some(a) = r.iter().position(|&b| b == b'@') {
            let end = r[a + 1..]
                .iter()
                .position(|&b| matches!(b, b'?' | b'&' | b'%'))
                .map_or(r.len(), |p| a + 1 + p);
            if a > 0 && end > a + 1 {
                let mut m = b"mailto:".to_vec();
                m.extend_from_slice(&r[..end]);
                out.push(m);
            }
        }
    }
    // `^[^?&]*<([^@>]+@[^>]+)>`
    if let Some(lt) = u.iter().position(|&b| matches!(b, b'<' | b'?' | b'&'))
        && u[lt] == b'<'
        && let Some(gt) = u[lt + 1..].iter().position(|&b| b == b'>')
    {
        let inner = &u[lt + 1..lt + 1 + gt];
        if let Some(a) = inner.iter().position(|&b| b == b'@')
            && a > 0
            && a + 1 < inner.len()
        {
            let mut m = b"mailto:".to_vec();
            m.extend_from_slice(inner);
            out.push(m);
        }
    }
}

/// The host-level variants of an http(s) URI.
fn canon_http(
    n: &[u8],
    redirectors: &[Box<Redirector>],
    out: &mut Vec<Vec<u8>>,
    work: &mut Vec<Vec<u8>>,
) {
    let proto_len = if starts_with_ci(n, b"http://") {
        7
    } else if starts_with_ci(n, b"https://") {
        8
    } else {
        return;
    };
    let proto = &n[..proto_len];
    let body = &n[proto_len..];
    // `([^@/?#]*@)?([^/?#:]+)((?::(\d*))?.*)`
    let seg = body
        .iter()
        .take_while(|&&b| !matches!(b, b'/' | b'?' | b'#'))
        .count();
    let auth_len = body[..seg]
        .iter()
        .position(|&b| b == b'@')
        .map_or(0, |p| p + 1);
    let host_len = body[auth_len..]
        .iter()
        .take_while(|&&b| !matches!(b, b'/' | b'?' | b'#' | b':'))
        .count();
    if host_len == 0 {
        return;
    }
    let auth = &body[..auth_len];
    let mut host = body[auth_len..auth_len + host_len].to_vec();
    let rest = &body[auth_len + host_len..];
    let join = |h: &[u8], r: &[u8]| [proto, h, r].concat();
    let mut port = Vec::new();
    let mut rest_noport: Vec<u8> = Vec::new();
    if rest.first() == Some(&b':') {
        port = rest[1..]
            .iter()
            .copied()
            .take_while(u8::is_ascii_digit)
            .collect();
    }
    if port.is_empty() {
        port = if proto == b"http://" {
            b"80".to_vec()
        } else {
            b"443".to_vec()
        };
    } else {
        // The variant without the default port.
        let mut r = rest.to_vec();
        let strip: &[u8] = if proto == b"http://" { b":80" } else { b":443" };
        if r.starts_with(strip) && r.get(strip.len()).is_none_or(|&b| !is_word(b)) {
            r.drain(..strip.len());
            out.push(join(&host, &r));
        }
        rest_noport = r;
    }
    let nhost = super::idn::to_ascii(&host);
    if nhost != host.to_ascii_lowercase() {
        out.push(join(&nhost, rest));
        if !rest_noport.is_empty() && rest_noport != b"0" {
            out.push(join(&nhost, &rest_noport));
        }
        host = nhost.clone();
    }
    let before = host.len();
    host.retain(|&b| b > 0x20);
    if host.len() != before {
        out.push(join(&host, rest));
    }
    let whole = join(&host, rest);
    let mut redirected = false;
    for r in redirectors {
        if let Some(t) = r(&whole)
            && t.contains(&b'.')
        {
            work.push(t);
            redirected = true;
            break;
        }
    }
    if !redirected && let Some(p) = find_ci(rest, b"http") {
        let e = &rest[p..];
        let scheme = if starts_with_ci(e, b"https:") {
            6
        } else if starts_with_ci(e, b"http:") {
            5
        } else {
            0
        };
        if scheme > 0 {
            let slashes = e[scheme..]
                .iter()
                .take(2)
                .take_while(|&&b| b == b'/')
                .count();
            let tail = e[scheme + slashes..]
                .iter()
                .take_while(|&&b| b != b'&' && b != b'#')
                .count();
            if tail > 0 {
                let t = e[..scheme + slashes + tail].to_vec();
                if t.contains(&b'.') {
                    work.push(t);
                }
            }
        }
    }
    if let Some(p) = host.iter().rposition(|&b| b == b'@')
        && p > 0
    {
        host.drain(..=p);
        out.push(join(&host, rest));
    }
    let alnum_end = host
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .map_or(0, |p| p + 1);
    if alnum_end < host.len() {
        host.truncate(alnum_end);
        out.push(join(&host, rest));
    }
    if let Some(ip) = dotted_ip(&host) {
        out.push(join(&ip, rest));
    } else if host.len() > 2
        && starts_with_ci(&host, b"0x")
        && host[2..].iter().all(u8::is_ascii_hexdigit)
    {
        let digits = &host[2..];
        let tail = &digits[digits.len().saturating_sub(8)..];
        let v = u64::from_str_radix(std::str::from_utf8(tail).unwrap_or("0"), 16).unwrap_or(0);
        out.push(join(ulong_to_ip(v).as_bytes(), rest));
    } else if !host.is_empty() && host.iter().all(u8::is_ascii_digit) {
        let v = std::str::from_utf8(&host)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        out.push(join(ulong_to_ip(v).as_bytes(), rest));
    } else if proto == b"http://" && auth.is_empty() && nhost != b"localhost" && port == b"80" {
        let label = nhost.strip_prefix(b"www.").unwrap_or(&nhost);
        if !label.is_empty() && !label.contains(&b'.') && !domain_valid(&nhost) {
            out.push(join(&[&b"www."[..], label, b".com"].concat(), rest));
        }
    }
}

fn find_ci(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w.eq_ignore_ascii_case(n))
}

/// Four dot-separated decimal/octal/hex parts rewritten as SpamAssassin
/// does (each part keeps its dot; leading zeros dropped).
fn dotted_ip(host: &[u8]) -> Option<Vec<u8>> {
    let parts: Vec<&[u8]> = host.split(|&b| b == b'.').collect();
    if parts.len() != 4 {
        return None;
    }
    let valid = |p: &[u8]| {
        (p.len() > 2 && starts_with_ci(p, b"0x") && p[2..].iter().all(u8::is_ascii_hexdigit))
            || (!p.is_empty() && p.iter().all(u8::is_ascii_digit))
    };
    if !parts.iter().all(|p| valid(p)) {
        return None;
    }
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let mut s: String = if starts_with_ci(p, b"0x") {
            let v =
                u128::from_str_radix(std::str::from_utf8(&p[2..]).unwrap_or("0"), 16).unwrap_or(0);
            v.to_string()
        } else {
            String::from_utf8_lossy(p).into_owned()
        };
        // `^0+([1-3][0-7]{0,2}|[4-7][0-7]?)\b`: an octal part.
        let zeros = s.bytes().take_while(|&b| b == b'0').count();
        if zeros > 0 {
            let rest = &s[zeros..];
            let b = rest.as_bytes();
            let oct_len = match b.first() {
                Some(b'1'..=b'3') => {
                    1 + b[1..]
                        .iter()
                        .take(2)
                        .take_while(|c| (b'0'..=b'7').contains(c))
                        .count()
                }
                Some(b'4'..=b'7') => {
                    1 + b[1..]
                        .iter()
                        .take(1)
                        .take_while(|c| (b'0'..=b'7').contains(c))
                        .count()
                }
                _ => 0,
            };
            if oct_len > 0 && rest.len() == oct_len {
                s = u32::from_str_radix(rest, 8).unwrap_or(0).to_string();
            }
        }
        let s = s.trim_start_matches('0');
        out.extend_from_slice(s.as_bytes());
        if i < 3 {
            out.push(b'.');
        }
    }
    Some(out)
}

/// `decode_ulong_to_ip`: the first four bytes of the value's hex digits.
fn ulong_to_ip(v: u64) -> String {
    let hex = format!("{v:08x}");
    let bytes: Vec<u8> = (0..4)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("00"), 16).unwrap_or(0))
        .collect();
    format!("{}.{}.{}.{}", bytes[0], bytes[1], bytes[2], bytes[3])
}

/// All URIs for `uri` rules: the canonical variants of every text URI that
/// has a valid domain, and of every HTML attribute URI; unique, sorted.
pub(crate) fn collect(
    lines: &[Vec<u8>],
    html_uris: &[String],
    redirectors: &[Box<Redirector>],
) -> Vec<String> {
    let mut all: BTreeSet<Vec<u8>> = text_uris(lines, redirectors).collect();
    for u in html_uris {
        all.extend(canonicalize(u.as_bytes(), redirectors).into_iter().map(cap));
    }
    all.into_iter()
        .map(|u| String::from_utf8_lossy(&u).into_owned())
        .collect()
}

/// The URI list Bayes tokenizes, as the strings Perl holds: URIs from the
/// rendered text are UTF-8 octets (`false`); URIs from HTML attributes of
/// a decoded part are characters (`true`), given here one byte per
/// character up to U+00FF (a higher character, which the tokenizer turns
/// into a separator, as 0x7F), so that lower-casing and `\w` can follow
/// Perl's character rules. An HTML URI of an undecoded part holds its
/// entity characters as single Latin-1 bytes.
pub(crate) fn collect_bayes(
    lines: &[Vec<u8>],
    html_uris: &[String],
    html_flagged: &[bool],
) -> Vec<(Vec<u8>, bool)> {
    let mut all: BTreeSet<(Vec<u8>, bool)> = text_uris(lines, &[]).map(|c| (c, false)).collect();
    for (i, u) in html_uris.iter().enumerate() {
        let flagged = html_flagged.get(i).copied().unwrap_or(false);
        let latin1: Vec<u8> = u
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(0x7f))
            .collect();
        all.extend(
            canonicalize(&latin1, &[])
                .into_iter()
                .map(|c| (cap(c), flagged)),
        );
    }
    all.into_iter().collect()
}

/// The URIs found in the rendered text lines, each distinct raw match
/// once, canonicalized (through `redirectors`) and capped; a match whose
/// forms have no host contributes nothing.
fn text_uris<'a>(
    lines: &'a [Vec<u8>],
    redirectors: &'a [Box<Redirector>],
) -> impl Iterator<Item = Vec<u8>> + 'a {
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    lines.iter().flat_map(move |line| {
        let mut hits = Vec::new();
        scan_line(line, &mut hits);
        let mut out = Vec::new();
        for (raw, kind) in hits {
            let raw = trim_raw(&raw);
            if !seen.insert(raw.clone()) {
                continue;
            }
            let Some(uri) = text_uri(&raw, kind) else {
                continue;
            };
            let cleaned: Vec<Vec<u8>> = canonicalize(&uri, redirectors)
                .into_iter()
                .map(cap)
                .collect();
            if cleaned.iter().any(|c| uri_host(c).is_some()) {
                out.extend(cleaned);
            }
        }
        out
    })
}

fn cap(mut u: Vec<u8>) -> Vec<u8> {
    u.truncate(MAX_URI);
    u
}

/// Resolve `r` against `base` (RFC 3986 section 5.2, SpamAssassin's lax
/// variant: the same scheme on both sides counts as relative).
pub(crate) fn target_uri(base: &str, r: &str) -> String {
    let rr = parse_uri(r);
    let bb = parse_uri(base);
    let mut r_scheme = rr.scheme;
    if r_scheme.is_some() && r_scheme == bb.scheme {
        r_scheme = None;
    }
    let (scheme, authority, path, query);
    if let Some(s) = r_scheme {
        scheme = Some(s);
        authority = rr.authority;
        path = remove_dot_segments(rr.path);
        query = rr.query;
    } else {
        if rr.authority.is_some() {
            authority = rr.authority;
            path = remove_dot_segments(rr.path);
            query = rr.query;
        } else {
            if rr.path.is_empty() {
                path = bb.path.to_owned();
                query = rr.query.or(bb.query);
            } else {
                path = if rr.path.starts_with('/') {
                    remove_dot_segments(rr.path)
                } else {
                    remove_dot_segments(&merge(bb.authority, bb.path, rr.path))
                };
                query = rr.query;
            }
            authority = bb.authority;
        }
        scheme = bb.scheme;
    }
    let mut result = String::new();
    match (scheme, authority) {
        (Some(s), _) if !s.is_empty() && s != "0" => {
            result.push_str(s);
            result.push(':');
        }
        (_, Some(a)) => {
            let l = a.to_ascii_lowercase();
            if starts_with_word_digits(&l, "www") {
                result.push_str("http:");
            } else if starts_with_word_digits(&l, "ftp") {
                result.push_str("ftp:");
            }
        }
        _ => {}
    }
    if let Some(a) = authority {
        result.push_str("//");
        result.push_str(a);
    }
    result.push_str(&path);
    if let Some(q) = query {
        result.push('?');
        result.push_str(q);
    }
    if let Some(f) = rr.fragment {
        result.push('#');
        result.push_str(f);
    }
    result
}

/// `^www\d*\.` style test.
fn starts_with_word_digits(s: &str, word: &str) -> bool {
    s.strip_prefix(word)
        .map(|r| r.trim_start_matches(|c: char| c.is_ascii_digit()))
        .is_some_and(|r| r.starts_with('.'))
}

struct UriParts<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

/// RFC 3986 appendix B split; the fragment stops at a newline.
fn parse_uri(u: &str) -> UriParts<'_> {
    let mut rest = u;
    let mut scheme = None;
    if let Some(p) = rest.find([':', '/', '?', '#'])
        && p > 0
        && rest.as_bytes()[p] == b':'
    {
        scheme = Some(&rest[..p]);
        rest = &rest[p + 1..];
    }
    let mut authority = None;
    if let Some(r) = rest.strip_prefix("//") {
        let e = r.find(['/', '?', '#']).unwrap_or(r.len());
        authority = Some(&r[..e]);
        rest = &r[e..];
    }
    let pe = rest.find(['?', '#']).unwrap_or(rest.len());
    let path = &rest[..pe];
    rest = &rest[pe..];
    let mut query = None;
    if let Some(r) = rest.strip_prefix('?') {
        let e = r.find('#').unwrap_or(r.len());
        query = Some(&r[..e]);
        rest = &r[e..];
    }
    let fragment = rest
        .strip_prefix('#')
        .map(|f| f.split('\n').next().unwrap_or(""));
    UriParts {
        scheme,
        authority,
        path,
        query,
        fragment,
    }
}

fn merge(base_authority: Option<&str>, base_path: &str, r_path: &str) -> String {
    if base_authority.is_some() && (base_path.is_empty() || base_path == "0") {
        return format!("/{r_path}");
    }
    match base_path.rfind('/') {
        Some(p) => format!("{}{}", &base_path[..=p], r_path),
        None => r_path.to_owned(),
    }
}

fn remove_dot_segments(input: &str) -> String {
    let mut input = input.to_owned();
    if input.starts_with("../") {
        input.replace_range(..3, "/");
    } else if input.starts_with("./") {
        input.replace_range(..2, "/");
    }
    let mut output = String::new();
    while !input.is_empty() && input != "0" {
        if input == "/." || input.starts_with("/./") {
            input.replace_range(..2, "");
            if input.is_empty() {
                input.push('/');
            }
        } else if input == "/.." || input.starts_with("/../") {
            input.replace_range(..3, "");
            if input.is_empty() {
                input.push('/');
            }
            let cut = output.rfind('/').unwrap_or(0);
            output.truncate(cut);
        } else {
            let start = usize::from(input.starts_with('/'));
            let e = input[start..].find('/').map_or(input.len(), |p| p + start);
            output.push_str(&input[..e]);
            input.replace_range(..e, "");
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve() {
        assert_eq!(target_uri("", "http://a.com/x"), "http://a.com/x");
        assert_eq!(
            target_uri("http://a.com/d/", "y/../z.html"),
            "http://a.com/d/z.html"
        );
        assert_eq!(target_uri("", "//www.x.com/p"), "http://www.x.com/p");
    }

    #[test]
    fn text_uris() {
        let lines = vec![
            b"see http://www.example.com/x?y=1 and www.foo.com, mail joe@example.org. sf.net"
                .to_vec(),
            // Runs without ':', '@' or '.' are skipped; the ones around
            // them (tab and vertical tab separated, at the line's ends)
            // are not.
            b"www.start.com\tplain  words\x0bann@mail.example.net go:www.bar.com x end.org"
                .to_vec(),
        ];
        let u = collect(&lines, &[], &[]);
        for want in [
            "http://www.example.com/x?y=1",
            "http://www.foo.com",
            "mailto:joe@example.org",
            "http://sf.net",
            "http://www.start.com",
            "mailto:ann@mail.example.net",
            "http://www.bar.com",
            "http://end.org",
        ] {
            assert!(u.contains(&want.to_owned()), "{want} not in {u:?}");
        }
    }

    #[test]
    fn canonical_variants() {
        let v: Vec<String> = canonicalize(b"http://www.Example.com:80?x=%41", &[])
            .into_iter()
            .map(|u| String::from_utf8_lossy(&u).into_owned())
            .collect();
        assert!(
            v.contains(&"http://www.Example.com:80/?x=A".to_owned()),
            "{v:?}"
        );
        assert!(
            v.contains(&"http://www.Example.com/?x=A".to_owned()),
            "{v:?}"
        );
        let v = canonicalize(b"http://0x7f.1.0.1/", &[]);
        assert!(v.contains(&b"http://127.1..1/".to_vec()), "{v:?}");
    }
}
