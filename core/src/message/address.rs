//! Addresses and display names from address headers, for `:addr` and
//! `:name` (the behaviour of SpamAssassin's relaxed internal parser in
//! `Util.pm` `parse_header_addresses`: lists, groups, quoted phrases,
//! comments, and mangled input that still yields an address).

/// One parsed mailbox.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Mailbox {
    pub phrase: Option<String>,
    pub address: Option<String>,
}

/// Split at top-level `,`/`;`, outside quotes, angle brackets and comments.
/// The last item is unterminated when a quoted string is still open at the
/// end (see `unterminated_quote`).
fn split_list(s: &str) -> Vec<&str> {
    split_list_state(s).0
}

/// Does the list end inside a quoted string?
fn unterminated_quote(s: &str) -> bool {
    split_list_state(s).1
}

fn split_list_state(s: &str) -> (Vec<&str>, bool) {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let (mut quote, mut angle, mut paren) = (false, false, 0i32);
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if quote {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                quote = false;
            }
        } else if paren > 0 {
            if c == b'\\' {
                i += 1;
            } else if c == b'(' {
                paren += 1;
            } else if c == b')' {
                paren -= 1;
            }
        } else {
            match c {
                b'"' => quote = true,
                b'(' => paren = 1,
                b'<' => angle = true,
                b'>' => angle = false,
                b',' | b';' if !angle => {
                    out.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        i += 1;
    }
    out.push(&s[start.min(s.len())..]);
    (out, quote)
}

/// SpamAssassin's last try on the text its parser could not read: each
/// `<local@domain>` in it, without a name.
fn last_ditch(rest: &str, out: &mut Vec<Mailbox>) {
    use std::sync::OnceLock;
    static MAILRE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let re = MAILRE.get_or_init(|| {
        regex::Regex::new(
            r#"<((?:"(?:[^"\\]|\\.)*"|[^@\s<>()\[\],:;]+)@(?:[^"\s<>()\[\],:;]+|\[[\d:.]+\]))>"#,
        )
        .ok()
    });
    let Some(re) = re else { return };
    for c in re.captures_iter(rest) {
        let a = &c[1];
        if valid_parsed(a) {
            out.push(Mailbox {
                phrase: None,
                address: Some(trim_second_at(a)),
            });
        }
    }
}

/// Remove `(comments)` (not nested), returning the text and the last one.
fn strip_comments(s: &str) -> (String, Option<String>) {
    let mut out = String::with_capacity(s.len());
    let mut comment = None;
    let mut rest = s;
    while let Some(open) = rest.find('(') {
        let Some(close) = rest[open..].find(')') else {
            break;
        };
        out.push_str(&rest[..open]);
        comment = Some(rest[open + 1..open + close].to_owned());
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    (out, comment)
}

/// A phrase with quoted strings unquoted (backslash escapes resolved) and
/// comments outside quotes removed.
fn clean_phrase(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let mut plain = String::new();
    while let Some(c) = chars.next() {
        if c == '"' {
            out.push_str(&strip_comments(&plain).0);
            plain.clear();
            while let Some(d) = chars.next() {
                match d {
                    '\\' => {
                        if let Some(e) = chars.next() {
                            out.push(e);
                        }
                    }
                    '"' => break,
                    _ => out.push(d),
                }
            }
        } else {
            plain.push(c);
        }
    }
    out.push_str(&strip_comments(&plain).0);
    out
}

/// Does `s` look like `local@domain` (the loose shape SpamAssassin accepts:
/// the domain may itself hold an '@', or be an `[address literal]`)?
fn looks_like_mail(s: &str) -> bool {
    let Some(at) = find_unquoted(s, '@') else {
        return false;
    };
    let (local, domain) = (&s[..at], &s[at + 1..]);
    let local_ok = if local.starts_with('"') && local.ends_with('"') && local.len() >= 2 {
        true
    } else {
        !local.is_empty()
            && !local
                .chars()
                .any(|c| c.is_whitespace() || "@<>()[],:;".contains(c))
    };
    let literal = domain
        .strip_prefix('[')
        .and_then(|d| d.strip_suffix(']'))
        .is_some_and(|d| {
            !d.is_empty()
                && d.chars()
                    .all(|c| c.is_ascii_digit() || c == ':' || c == '.')
        });
    let domain_ok = literal
        || (!domain.is_empty()
            && !domain
                .chars()
                .any(|c| c.is_whitespace() || "\"<>()[],:;".contains(c)));
    local_ok && domain_ok
}

fn valid_parsed(a: &str) -> bool {
    !a.starts_with("\"\"@") && a.matches('"').count() != 1
}

/// Keep `user@host` only (anything after a second '@' goes).
fn trim_second_at(a: &str) -> String {
    match a.find('@') {
        Some(p) => match a[p + 1..].find('@') {
            Some(q) => a[..p + 1 + q].to_owned(),
            None => a.to_owned(),
        },
        None => a.to_owned(),
    }
}

/// A host with at least one dot and a plausible TLD.
fn host_plausible(h: &str) -> bool {
    let h = h.trim_end_matches('.');
    let Some(dot) = h.rfind('.') else {
        return false;
    };
    let tld = &h[dot + 1..];
    tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && h.split('.').all(|l| !l.is_empty())
}

/// Parse an address header value into mailboxes.
pub(crate) fn parse(value: &str) -> Vec<Mailbox> {
    let mut s = value.trim_end().replace("\\\\", "");
    // A group `name: a, b;` keeps its members.
    if let Some(colon) = s.find(':')
        && colon > 0
        && !s[..colon].contains(['"', '(', ')', '<', '>'])
    {
        let rest = s[colon + 1..].trim_start();
        s = if rest.starts_with(';') {
            String::new()
        } else {
            rest.to_owned()
        };
    }
    if s.trim().is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut items = split_list(&s);
    // A quoted string left open stops SpamAssassin's parser at that item
    // (the last one): it yields only the `<addresses>` found in it.
    let unreadable = if unterminated_quote(&s) {
        items.pop()
    } else {
        None
    };
    for item in items {
        // Leading blanks go; trailing ones stay part of a phrase, which is
        // why `"a@b" <a@b>` keeps the name "a@b " (it differs from the address).
        let item = item.trim_start();
        if item.trim_end().is_empty() {
            continue;
        }
        let mut mb = Mailbox::default();
        let comment;
        if let Some(lt) = find_unquoted(item, '<') {
            let phrase = &item[..lt];
            let inner_end = item[lt..].find('>').map_or(item.len(), |p| lt + p);
            let inner = item[lt + 1..inner_end].trim();
            let (inner, _) = strip_comments(inner);
            let inner = inner.trim();
            if looks_like_mail(inner) && valid_parsed(inner) {
                mb.address = Some(inner.to_owned());
            } else if let Some((first, _)) = inner.split_once(char::is_whitespace)
                && looks_like_mail(first)
                && valid_parsed(first)
            {
                // `<a@b.com junk>`: SpamAssassin's own parser gives up on
                // the header, and the Email::Address::XS reading it then
                // takes keeps the address before the junk.
                mb.address = Some(first.to_owned());
            }
            let tail = item.get(inner_end + 1..).unwrap_or("");
            comment = strip_comments(tail).1;
            if !phrase.is_empty() {
                mb.phrase = Some(phrase.to_owned());
            }
        } else {
            let (bare, c) = strip_comments(item);
            comment = c;
            let bare = bare.trim();
            let item = item.trim_end();
            if looks_like_mail(bare) && !bare.contains(' ') && valid_parsed(bare) {
                mb.address = Some(bare.to_owned());
            } else if !bare.is_empty() {
                mb.phrase = Some(item.to_owned());
            }
        }
        if let Some(p) = mb.phrase.take() {
            let p = clean_phrase(&p);
            if mb.address.is_none()
                && looks_like_mail(&p)
                && valid_parsed(&p)
                && host_plausible(p.rsplit('@').next().unwrap_or(""))
            {
                mb.address = Some(p);
            } else if !p.is_empty() && mb.address.as_deref() != Some(p.as_str()) {
                mb.phrase = Some(p);
            }
        }
        if mb.phrase.is_none() {
            mb.phrase = comment;
        }
        mb.address = mb.address.map(|a| trim_second_at(&a));
        if mb.address.is_some() || mb.phrase.is_some() {
            out.push(mb);
        }
    }
    if let Some(rest) = unreadable
        && rest.contains('@')
    {
        last_ditch(rest, &mut out);
    }
    out
}

fn find_unquoted(s: &str, needle: char) -> Option<usize> {
    let mut quote = false;
    let mut esc = false;
    for (i, c) in s.char_indices() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' if quote => esc = true,
            '"' => quote = !quote,
            c if c == needle && !quote => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(s: &str) -> Vec<String> {
        parse(s).into_iter().filter_map(|m| m.address).collect()
    }

    #[test]
    fn forms() {
        assert_eq!(addrs("\"Joe\" <joe@example.com>"), vec!["joe@example.com"]);
        assert_eq!(addrs("a@b.c,\n d@e.f"), vec!["a@b.c", "d@e.f"]);
        assert_eq!(
            addrs("example@foo (Foo Blah), <example@bar>"),
            vec!["example@foo", "example@bar"]
        );
        assert_eq!(
            addrs("display: example@foo (Foo Blah), example@bar ;"),
            vec!["example@foo", "example@bar"]
        );
        assert!(addrs("undisclosed-recipients:;").is_empty());
        let m = parse("example@foo (Foo Blah)");
        assert_eq!(m[0].phrase.as_deref(), Some("Foo Blah"));
        let m = parse("\"'Foo Blah'\" <example@foo>");
        // The blank before '<' stays in the phrase, as in SpamAssassin.
        assert_eq!(m[0].phrase.as_deref(), Some("'Foo Blah' "));
        let m = parse("\"a@b.c\" <a@b.c>");
        assert_eq!(m[0].phrase.as_deref(), Some("a@b.c "));
    }

    #[test]
    fn unterminated_quote_ends_the_list() {
        // Checked with SpamAssassin 4.0.1's parse_header_addresses.
        let m = parse("\"Mick\" <a@b.ie>, \"=?iso-8859-1?B?Te1jaGXhbCDTIEJyZWFz");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].address.as_deref(), Some("a@b.ie"));
        assert_eq!(
            addrs("\"abc\" <x@y>, \"unterminated <z@w>"),
            vec!["x@y", "z@w"]
        );
        assert!(parse("\"abc def").is_empty());
    }

    #[test]
    fn junk_after_the_address_in_angles() {
        // SpamAssassin 4.0.1 (through Email::Address::XS) reads these so.
        assert_eq!(addrs("<a@[1.2.3.4] [x]>"), vec!["a@[1.2.3.4]"]);
        let m = parse("Name <a@b.com junk>");
        assert_eq!(m[0].address.as_deref(), Some("a@b.com"));
        assert_eq!(m[0].phrase.as_deref(), Some("Name "));
        assert!(addrs("<a b@c.com>").is_empty());
    }
}
