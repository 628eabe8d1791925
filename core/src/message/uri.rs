//! URIs as SpamAssassin's `uri` rules see them (`PerMsgStatus.pm`
//! `get_uri_list`): links found in the rendered text by a Thunderbird-like
//! linkifier and in HTML attributes, each expanded into its canonical
//! variants (`Util.pm` `uri_list_canonicalize`).

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

/// `MAX_URI_LENGTH`.
const MAX_URI: usize = 8192;

/// Characters that end a URI in text (Thunderbird's delimiters, plus ESC
/// for ISO-2022 shifts and NBSP).
fn is_end_delim(c: char) -> bool {
    matches!(
        c,
        '>' | '<' | '"' | '`' | '}' | ']' | '{' | '[' | '|' | '\u{1b}' | '\u{a0}'
    ) || c.is_whitespace()
}

/// Extra delimiters for the parts of an e-mail address.
fn is_email_delim(c: char) -> bool {
    is_end_delim(c) || matches!(c, ',' | '(' | '\'') || !c.is_ascii()
}

static KNOWN_SCHEME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:https?://|ftp://|mailto:|\b(?:www[0-9]{0,2}|ftp)\.)")
        .unwrap_or_else(|_| unreachable!("constant regex"))
});

/// Find URIs in one rendered body line: scheme URLs, `www.`/`ftp.` hosts,
/// `mailto:` and bare `user@host` addresses.
fn find_in_text(line: &str, out: &mut Vec<(String, bool)>) {
    // Scheme and www/ftp URLs.
    for m in KNOWN_SCHEME.find_iter(line) {
        let start = m.start();
        if start > 0 {
            let prev = line[..start].chars().next_back().unwrap_or(' ');
            if prev.is_alphanumeric() || prev == '_' {
                continue;
            }
        }
        let is_mail = m.as_str().eq_ignore_ascii_case("mailto:");
        let end = line[start..]
            .char_indices()
            .find(|&(_, c)| {
                if is_mail {
                    is_email_delim(c) && c != '('
                } else {
                    is_end_delim(c)
                }
            })
            .map_or(line.len(), |(i, _)| start + i);
        let raw = &line[start..end];
        if raw.len() > m.as_str().len() {
            out.push((raw.to_owned(), is_mail));
        }
    }
    // Bare e-mail addresses.
    let b = line.as_bytes();
    for (at, _) in line.match_indices('@') {
        let mut s = at;
        while s > 0 {
            let c = line[..s].chars().next_back().unwrap_or(' ');
            if is_email_delim(c) || c == '@' {
                break;
            }
            s -= c.len_utf8();
        }
        let mut e = at + 1;
        while e < b.len() {
            let c = line[e..].chars().next().unwrap_or(' ');
            if is_email_delim(c) || c == '@' {
                break;
            }
            e += c.len_utf8();
        }
        if s == at || e == at + 1 {
            continue;
        }
        let cand = &line[s..e];
        if cand.to_ascii_lowercase().starts_with("mailto:") {
            continue;
        }
        out.push((cand.to_owned(), true));
    }
}

/// Trim what Thunderbird does not include: an unmatched `)` and trailing
/// punctuation.
fn trim_raw(raw: &str) -> String {
    let mut s = raw.to_owned();
    if let Some(p) = s.find(')')
        && !s[..p].contains('(')
    {
        s.truncate(p);
    }
    let trimmed = s.trim_end_matches(|c: char| "-~!@#^&*()_+=:;'?,.".contains(c));
    trimmed.to_owned()
}

/// Turn one text hit into the URI SpamAssassin records (scheme added).
fn text_uri(raw: &str, mail: bool) -> Option<String> {
    let l = raw.to_ascii_lowercase();
    if mail && !raw.contains('@') {
        return None;
    }
    if l.starts_with("cid:") || l.starts_with("mid:") {
        return None;
    }
    if l.starts_with("http:")
        || l.starts_with("https:")
        || l.starts_with("ftp:")
        || l.starts_with("mailto:")
    {
        let uri = raw.to_owned();
        if l.starts_with("mailto:") {
            let at = uri.find('@')?;
            let host: String = uri[at + 1..]
                .chars()
                .take_while(|&c| c != '?' && c != '&' && c != '>')
                .collect();
            if !host.contains('.') {
                return None;
            }
        } else if raw.trim_end_matches('/').ends_with(':') {
            return None;
        }
        return Some(uri);
    }
    if l.starts_with("ftp.") {
        return Some(format!("ftp://{raw}"));
    }
    if l.starts_with("www") {
        return Some(format!("http://{raw}"));
    }
    if raw.contains('@') {
        let at = raw.find('@')?;
        if !raw[at + 1..].contains('.') || raw.contains("&nbsp;") {
            return None;
        }
        let stripped = strip_mail_prefix(raw);
        return Some(format!("mailto:{stripped}"));
    }
    None
}

/// Drop a `mail:`/`email:`/`skype:` misparse before an address.
fn strip_mail_prefix(s: &str) -> &str {
    let l = s.to_ascii_lowercase();
    for p in ["skype", "e-mail", "email", "-mail", "mail", ""] {
        if l.starts_with(p) && l[p.len()..].starts_with(':') {
            return s[p.len()..].trim_start_matches(':');
        }
    }
    s
}

/// All canonical URIs: text URIs from the rendered body lines and the HTML
/// attribute URIs, each canonicalised; sorted, unique.
pub(crate) fn collect(lines: &[String], html_uris: &[String]) -> Vec<String> {
    let mut found: Vec<(String, bool)> = Vec::new();
    for line in lines {
        find_in_text(line, &mut found);
    }
    let mut seen = HashSet::new();
    let mut all: HashSet<String> = HashSet::new();
    for (raw, mail) in found {
        let raw = trim_raw(&raw);
        if !seen.insert(raw.clone()) {
            continue;
        }
        if let Some(u) = text_uri(&raw, mail) {
            all.extend(canonicalize(&u));
        }
    }
    for u in html_uris {
        all.extend(canonicalize(u));
    }
    let mut v: Vec<String> = all
        .into_iter()
        .map(|mut u| {
            if u.len() > MAX_URI {
                let mut end = MAX_URI;
                while !u.is_char_boundary(end) {
                    end -= 1;
                }
                u.truncate(end);
            }
            u
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Decode `%XX` escapes of printable ASCII (`url_encode` in reverse).
fn percent_decode_printable(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|x| u8::from_str_radix(x, 16).ok());
            if let Some(v) = h.filter(|v| (0x21..0x7f).contains(v)) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The raw URI plus its canonical variants.
pub(crate) fn canonicalize(uri: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut work: Vec<String> = vec![uri.to_owned()];
    let mut k = 0;
    while k < work.len() && k < 16 {
        let u: String = work[k]
            .chars()
            .filter(|&c| c != '\n' && c != '\r')
            .collect::<String>()
            .trim()
            .to_owned();
        k += 1;
        if u.len() <= 1
            || u.starts_with(['#', '?', '&'])
            || (u.starts_with('/') && !u.starts_with("//"))
        {
            continue;
        }
        out.push(u.clone());
        let lower = u.to_ascii_lowercase();
        let colon = u.find(':');
        let at = u.find('@');
        if lower.starts_with("mailto:") || at.is_some_and(|a| colon.is_none_or(|c| a < c)) {
            if let Some(q) = u.find('?')
                && at.is_some_and(|a| a < q)
            {
                out.push(u[..q].to_owned());
            }
            continue;
        }
        let mut n = u.replace('\\', "/");
        // http:foo and http:/foo -> http://foo
        for scheme in ["http:", "https:"] {
            if n.len() >= scheme.len() && n[..scheme.len()].eq_ignore_ascii_case(scheme) {
                let rest = n[scheme.len()..].trim_start_matches('/');
                n = format!("{}//{}", &n[..scheme.len()], rest);
            }
        }
        if n.contains('%') {
            n = percent_decode_printable(&n);
        }
        let has_scheme = n.find(':').is_some_and(|c| {
            c > 0
                && n[..c]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if !has_scheme {
            n = if n.starts_with("ftp.") {
                format!("ftp://{n}")
            } else {
                format!("http://{n}")
            };
        }
        let nl = n.to_ascii_lowercase();
        let proto_len = if nl.starts_with("http://") {
            7
        } else if nl.starts_with("https://") {
            8
        } else {
            0
        };
        if proto_len > 0
            && let Some(p) = n[proto_len..].find(['/', '?', '#'])
        {
            let p = proto_len + p;
            if n.as_bytes()[p] != b'/' {
                n.insert(p, '/');
            }
        }
        if n != u {
            out.push(n.clone());
        }
        if proto_len == 0 {
            continue;
        }
        let proto = n[..proto_len].to_ascii_lowercase();
        let rest_all = &n[proto_len..];
        let auth_end = rest_all.find(['/', '?', '#']).unwrap_or(rest_all.len());
        let authority = &rest_all[..auth_end];
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(a) => (&authority[..=a], &authority[a + 1..]),
            None => ("", authority),
        };
        let (host, port_rest) = match hostport.find(':') {
            Some(c) => (&hostport[..c], &hostport[c..]),
            None => (hostport, ""),
        };
        let rest = format!("{port_rest}{}", &rest_all[auth_end..]);
        let default_port = if proto == "http://" { ":80" } else { ":443" };
        if let Some(r) = rest.strip_prefix(default_port)
            && (r.is_empty() || !r.as_bytes()[0].is_ascii_alphanumeric())
        {
            out.push(format!("{}{}{}", &n[..proto_len], host, r));
        }
        let lhost = host.to_ascii_lowercase();
        if lhost != host {
            out.push(format!("{}{}{}", &n[..proto_len], lhost, rest));
        }
        if !userinfo.is_empty() {
            out.push(format!("{}{}{}", &n[..proto_len], host, rest));
        }
        // One level of redirector: an embedded http(s) URL.
        if let Some(p) = rest.to_ascii_lowercase().find("http") {
            let emb = &rest[p..];
            let el = emb.to_ascii_lowercase();
            if el.starts_with("http:") || el.starts_with("https:") {
                let end = emb.find(['&', '#']).unwrap_or(emb.len());
                let target = &emb[..end];
                if target.contains('.') && work.len() < 16 {
                    work.push(target.to_owned());
                }
            }
        }
        let trimmed = host.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        if trimmed != host && !trimmed.is_empty() {
            out.push(format!("{}{}{}", &n[..proto_len], trimmed, rest));
        }
    }
    out
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
            "see http://www.example.com/x?y=1 and www.foo.com, mail joe@example.org.".to_owned(),
        ];
        let u = collect(&lines, &[]);
        assert!(
            u.contains(&"http://www.example.com/x?y=1".to_owned()),
            "{u:?}"
        );
        assert!(u.contains(&"http://www.foo.com".to_owned()), "{u:?}");
        assert!(u.contains(&"mailto:joe@example.org".to_owned()), "{u:?}");
    }
}
