//! WLBLEval: welcomelist_from / blocklist_from and their `_to` twins.

use std::sync::OnceLock;

use regex::bytes::Regex;

use super::{EvalCtx, EvalFn, registry};

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "check_subject_in_welcomelist" | "check_subject_in_whitelist" => subject_in_welcomelist,
        "check_subject_in_blocklist" | "check_subject_in_blacklist" => subject_in_blocklist,
        "have_any_bounce_relays" => have_any_bounce_relays,
        "check_welcomelist_bounce_relays" | "check_whitelist_bounce_relays" => {
            welcomelist_bounce_relays
        }
        "check_from_in_welcomelist" | "check_from_in_whitelist" => from_in_welcomelist,
        "check_from_in_blocklist" | "check_from_in_blacklist" => from_in_blocklist,
        "check_to_in_welcomelist" | "check_to_in_whitelist" => to_in_welcomelist,
        "check_to_in_blocklist" | "check_to_in_blacklist" => to_in_blocklist,
        "check_to_in_more_spam" => to_in_more_spam,
        "check_to_in_all_spam" => to_in_all_spam,
        "check_from_in_list" => from_in_list,
        "check_to_in_list" => to_in_list,
        "check_replyto_in_list" => replyto_in_list,
        "check_uri_host_listed" => uri_host_listed,
        "check_uri_host_in_blocklist" | "check_uri_host_in_blacklist" => uri_host_in_blocklist,
        "check_uri_host_in_welcomelist" | "check_uri_host_in_whitelist" => uri_host_in_welcomelist,
        // These compare the sender with welcomelist_from_rcvd /
        // def_welcomelist_from_rcvd entries and the relay that handed the
        // message over. The stock configuration has no such entries (its
        // def_welcomelist_auth lines need SPF/DKIM), so they cannot hit.
        "check_from_in_default_welcomelist"
        | "check_from_in_default_whitelist"
        | "check_forged_in_welcomelist"
        | "check_forged_in_whitelist"
        | "check_forged_in_default_welcomelist"
        | "check_forged_in_default_whitelist" => never,
        _ => return None,
    })
}

fn never(_ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    0
}

/// Match an address against a welcomelist glob (`*@example.com`,
/// `?ob@x.org`), case-insensitively, as SpamAssassin does.
pub fn addr_matches(glob: &str, addr: &str) -> bool {
    // What follows the glob's last wildcard must end the address: a cheap
    // test that turns most entries of a long list away.
    let (g, a) = (glob.as_bytes(), addr.as_bytes());
    let tail = &g[g
        .iter()
        .rposition(|&b| b == b'*' || b == b'?')
        .map_or(0, |i| i + 1)..];
    if a.len() < tail.len() || !a[a.len() - tail.len()..].eq_ignore_ascii_case(tail) {
        return false;
    }
    fn rec(g: &[u8], a: &[u8]) -> bool {
        match (g.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => rec(&g[1..], a) || (!a.is_empty() && rec(g, &a[1..])),
            (Some(b'?'), Some(_)) => rec(&g[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => rec(&g[1..], &a[1..]),
            _ => false,
        }
    }
    rec(glob.as_bytes(), addr.as_bytes())
}

fn any_listed(list: &[String], addrs: &[String]) -> u32 {
    u32::from(
        addrs
            .iter()
            .any(|a| list.iter().any(|g| addr_matches(g, a))),
    )
}

/// Recipient addresses, as SpamAssassin's `all_to_addrs`: the first
/// Resent-To and Resent-Cc if present, else the `for <addr>` of the top
/// three Received headers and every address in the usual recipient
/// headers; duplicates removed.
fn to_addrs(ctx: &EvalCtx<'_>) -> Vec<String> {
    let msg = ctx.msg;
    let text = |v: Vec<u8>| String::from_utf8_lossy(&v).into_owned();
    let mut addrs: Vec<String> = msg
        .get_list("Resent-To:first:addr")
        .into_iter()
        .chain(msg.get_list("Resent-Cc:first:addr"))
        .map(text)
        .collect();
    if addrs.is_empty() {
        for line in msg.get_list("Received").into_iter().take(3) {
            if let Some(a) = received_for(&line) {
                addrs.push(a);
            }
        }
        for h in [
            "To",
            "Apparently-To",
            "Delivered-To",
            "Envelope-Recipients",
            "Apparently-Resent-To",
            "X-Envelope-To",
            "Envelope-To",
            "X-Delivered-To",
            "X-Original-To",
            "X-Rcpt-To",
            "X-Real-To",
            "Cc",
        ] {
            addrs.extend(msg.get_list(&format!("{h}:addr")).into_iter().map(text));
        }
    }
    let mut out: Vec<String> = Vec::new();
    for a in addrs {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// The `for <user@host>;` recipient of a Received header, when the host
/// is a valid FQDN.
fn received_for(line: &[u8]) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"(?-u) for <?(\S+@(\S+?))>?;").unwrap_or_else(|e| panic!("{e}"))
    });
    let c = re.captures(line)?;
    let host = String::from_utf8_lossy(&c[2]);
    registry::is_fqdn_valid(&host).then(|| String::from_utf8_lossy(&c[1]).into_owned())
}

/// The list named by a rule's argument: `enlist_addrlist` lists, or one of
/// the built-in address lists by its setting name.
fn named_list<'a>(ctx: &'a EvalCtx<'_>, args: &[String]) -> Option<&'a [String]> {
    let name = args.first()?;
    let c = ctx.conf;
    match name.as_str() {
        "welcomelist_from" | "whitelist_from" => Some(&c.welcomelist_from),
        "blocklist_from" | "blacklist_from" => Some(&c.blocklist_from),
        "welcomelist_to" | "whitelist_to" => Some(&c.welcomelist_to),
        "blocklist_to" | "blacklist_to" => Some(&c.blocklist_to),
        "more_spam_to" => Some(&c.derived.more_spam_to),
        "all_spam_to" => Some(&c.derived.all_spam_to),
        _ => c.derived.addrlists.get(name).map(Vec::as_slice),
    }
}

/// [`to_addrs`] lowercased, worked out once per message (five evals ask).
fn to_addrs_lower<'a>(ctx: &EvalCtx<'a>) -> &'a [String] {
    ctx.msg.memo().to_addrs.get_or_init(|| {
        to_addrs(ctx)
            .into_iter()
            .map(|a| a.to_lowercase())
            .collect()
    })
}

/// Whether a recipient address is in `list`. The recipients are only
/// worked out for a list that has entries: in most setups every one of
/// these lists is empty.
fn to_listed(ctx: &EvalCtx<'_>, list: &[String]) -> u32 {
    if list.is_empty() {
        return 0;
    }
    any_listed(list, to_addrs_lower(ctx))
}

/// check_from_in_list(NAME): a sender address is in the named list.
fn from_in_list(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    named_list(ctx, args).map_or(0, |l| any_listed(l, ctx.msg.from_addrs()))
}

/// check_to_in_list(NAME): a recipient address is in the named list.
fn to_in_list(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    named_list(ctx, args).map_or(0, |l| to_listed(ctx, l))
}

/// check_replyto_in_list(NAME): the first Reply-To address is listed.
fn replyto_in_list(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let Some(list) = named_list(ctx, args) else {
        return 0;
    };
    let replyto = super::headers::get_str(ctx.msg, "Reply-To:addr");
    if replyto.is_empty() {
        return 0;
    }
    any_listed(list, &[replyto.to_lowercase()])
}

fn to_in_more_spam(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    to_listed(ctx, &ctx.conf.derived.more_spam_to)
}

fn to_in_all_spam(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    to_listed(ctx, &ctx.conf.derived.all_spam_to)
}

/// The host of a canonical URI (`scheme://user@host:port/...`),
/// lowercased, when it is an IP address or ends in a known TLD.
fn uri_host(ctx: &EvalCtx<'_>, uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
    {
        return None;
    }
    let auth = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let is_ip = host.parse::<std::net::Ipv4Addr>().is_ok() || host.starts_with('[');
    (is_ip || registry::is_domain_valid(&ctx.conf.derived, &host)).then_some(host)
}

/// Which URI host lists (`enlist_uri_host`) a host of the message's URIs
/// is on. The most specific listed name decides, so `!sub.example.com`
/// exempts a subdomain of a listed `example.com`.
fn uri_lists_hit<'a>(ctx: &EvalCtx<'a>) -> Vec<&'a str> {
    let lists = &ctx.conf.derived.uri_host_lists;
    if lists.is_empty() {
        return Vec::new();
    }
    let mut seen: Vec<String> = Vec::new();
    let mut hit: Vec<&str> = Vec::new();
    for uri in ctx.msg.uris() {
        if uri
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("mailto:"))
        {
            continue;
        }
        let Some(host) = uri_host(ctx, uri) else {
            continue;
        };
        if seen.contains(&host) {
            continue;
        }
        seen.push(host.clone());
        let keys: Vec<String> = if let Some(inner) = host.strip_prefix('[') {
            vec![inner.trim_end_matches(']').to_string()]
        } else if host.parse::<std::net::Ipv4Addr>().is_ok() {
            vec![host.clone()]
        } else {
            // host, then each parent domain; at most the last 11 names.
            let labels: Vec<&str> = host.split('.').collect();
            let all: Vec<String> = (0..labels.len()).map(|i| labels[i..].join(".")).collect();
            let skip = all.len().saturating_sub(11);
            all[skip..].to_vec()
        };
        for (name, list) in lists {
            let verdict = keys.iter().find_map(|k| list.get(k));
            if verdict == Some(&true) && !hit.contains(&name.as_str()) {
                hit.push(name);
            }
        }
    }
    hit
}

/// check_uri_host_listed(NAME): a URI host is on the named host list.
fn uri_host_listed(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let Some(name) = args.first() else {
        return 0;
    };
    u32::from(uri_lists_hit(ctx).contains(&name.as_str()))
}

fn uri_host_in_blocklist(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    u32::from(uri_lists_hit(ctx).contains(&"BLOCK"))
}

fn uri_host_in_welcomelist(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    u32::from(uri_lists_hit(ctx).contains(&"WELCOME"))
}

pub fn from_in_welcomelist(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    any_listed(&ctx.conf.welcomelist_from, ctx.msg.from_addrs())
}

pub fn from_in_blocklist(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    any_listed(&ctx.conf.blocklist_from, ctx.msg.from_addrs())
}

pub fn to_in_welcomelist(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    to_listed(ctx, &ctx.conf.welcomelist_to)
}

pub fn to_in_blocklist(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    to_listed(ctx, &ctx.conf.blocklist_to)
}

/// A subject list entry (`welcomelist_subject Make * Fast`): lowercased,
/// `*` any text, `?` one character, matched anywhere in the subject.
fn subject_glob_matches(glob: &str, subject: &str) -> bool {
    let g = glob.to_lowercase();
    let mut re = String::new();
    for c in g.chars() {
        match c {
            '*' => {
                if !re.ends_with(".*") {
                    re.push_str(".*");
                }
            }
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    regex::Regex::new(&format!("(?s){re}")).is_ok_and(|r| r.is_match(&subject.to_lowercase()))
}

fn subject_listed(ctx: &EvalCtx<'_>, keys: &[&str]) -> u32 {
    let Some(subject) = ctx.msg.header("Subject").filter(|s| !s.is_empty()) else {
        return 0;
    };
    let listed = keys
        .iter()
        .flat_map(|k| ctx.conf.lists.get(*k).into_iter().flatten())
        .any(|g| subject_glob_matches(g.trim(), &subject));
    u32::from(listed)
}

pub fn subject_in_welcomelist(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    subject_listed(ctx, &["welcomelist_subject", "whitelist_subject"])
}

pub fn subject_in_blocklist(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    subject_listed(ctx, &["blocklist_subject", "blacklist_subject"])
}

/// `welcomelist_bounce_relays` entries (host globs), lowercased.
fn bounce_relays(ctx: &EvalCtx<'_>) -> Vec<String> {
    ["welcomelist_bounce_relays", "whitelist_bounce_relays"]
        .iter()
        .flat_map(|k| ctx.conf.lists.get(*k).into_iter().flatten())
        .flat_map(|v| v.split_whitespace().map(str::to_ascii_lowercase))
        .collect()
}

pub fn have_any_bounce_relays(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    u32::from(!bounce_relays(ctx).is_empty())
}

/// VBounce: a bounce that quotes a Received header of one of our own
/// relays, in the body text or in an attached message.
pub fn welcomelist_bounce_relays(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let relays = bounce_relays(ctx);
    if relays.is_empty() {
        return 0;
    }
    let listed = |host: &str| {
        relays
            .iter()
            .any(|g| addr_matches(g, &host.to_ascii_lowercase()))
    };
    let is_received = |l: &str| {
        l.trim_start_matches(['>', ' '])
            .get(..9)
            .is_some_and(|p| p.eq_ignore_ascii_case("received:"))
    };
    // Hosts are the " a.b " words of such a line.
    let hosts_in = |l: &str| -> bool {
        l.split(|c: char| c.is_whitespace())
            .skip(1)
            .any(|w| w.contains('.') && !w.starts_with('.') && !w.ends_with('.') && listed(w))
    };
    for line in ctx.msg.body_text().lines() {
        if is_received(line) && hosts_in(line) {
            return 1;
        }
    }
    let raw = ctx.msg.pristine();
    let body = String::from_utf8_lossy(&raw[ctx.msg.body_offset().min(raw.len())..]).into_owned();
    let mut header = String::new();
    let mut seen = false;
    for line in body.lines() {
        if !seen {
            if !is_received(line) {
                continue;
            }
            seen = true;
        }
        if line.starts_with(char::is_whitespace) {
            header.push_str(line);
        } else {
            header = line.to_string();
        }
        if is_received(&header) && hosts_in(&header) {
            return 1;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    #[test]
    fn subject_globs() {
        assert!(super::subject_glob_matches(
            "Make Money Fast",
            "Re: MAKE MONEY FAST now\n"
        ));
        assert!(super::subject_glob_matches("[Bug *]", "[Bug 123] crash"));
        assert!(!super::subject_glob_matches("[Bug *]", "Bug 123 crash"));
    }

    use super::*;

    #[test]
    fn globs() {
        assert!(addr_matches("*@example.com", "Joe@EXAMPLE.com"));
        assert!(!addr_matches("*@example.com", "joe@example.com.evil"));
        assert!(addr_matches("?oe@x.org", "joe@x.org"));
        assert!(addr_matches("joe@x.org", "joe@x.org"));
        // The tail after the last wildcard decides alone when it fails.
        assert!(addr_matches("*@*.bank.com", "a@mail.BANK.com"));
        assert!(!addr_matches("*@*.bank.com", "a@bank.com"));
        assert!(addr_matches("joe@*", "joe@anything"));
        assert!(addr_matches("*", ""));
        assert!(!addr_matches("joe@x.org", "joe@x.or"));
        assert!(!addr_matches("?@x.org", "@x.org"));
        assert!(addr_matches("a*b*c", "abbbc"));
        assert!(!addr_matches("a*b*c", "abbbcd"));
    }

    fn run(f: EvalFn, cf: &str, raw: &str, args: &[&str]) -> u32 {
        let conf = crate::config::Config::from_text("t.cf", cf);
        super::super::run_for_test(f, &conf, raw, args)
    }

    // Expectations confirmed with `spamassassin -L -t` (stock lists).
    #[test]
    fn named_lists() {
        let cf = "enlist_addrlist (SUSP_NTLD) *@*.top\nenlist_addrlist (PAYPAL) *@paypal.com\n";
        let m = "From: Joe <joe@mail.shop.top>\nReply-To: x@paypal.com\nTo: a@b.org\n\nx\n";
        assert_eq!(run(from_in_list, cf, m, &["SUSP_NTLD"]), 1);
        assert_eq!(run(from_in_list, cf, m, &["PAYPAL"]), 0);
        assert_eq!(run(replyto_in_list, cf, m, &["PAYPAL"]), 1);
        assert_eq!(run(from_in_list, cf, m, &["NOSUCH"]), 0);
        let m = "From: Joe <joe@shop.top.example.com>\nTo: a@b.org\n\nx\n";
        assert_eq!(run(from_in_list, cf, m, &["SUSP_NTLD"]), 0);
    }

    #[test]
    fn uri_host_lists() {
        let cf = "util_rb_tld com top\nenlist_uri_host (SUSP) example.com !ok.example.com\n";
        let m = "To: a@b.org\n\nsee http://www.example.com/x\n";
        assert_eq!(run(uri_host_listed, cf, m, &["SUSP"]), 1);
        let m = "To: a@b.org\n\nsee http://ok.example.com/x\n";
        assert_eq!(run(uri_host_listed, cf, m, &["SUSP"]), 0);
        let m = "To: a@b.org\n\nsee http://example.org/x\n";
        assert_eq!(run(uri_host_listed, cf, m, &["SUSP"]), 0);
    }
}
