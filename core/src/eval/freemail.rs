//! FreeMail: senders and reply addresses at free mail providers
//! (`freemail_domains`), and free mail addresses in the body.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use regex::Regex;

use super::{EvalCtx, EvalFn};
use crate::config::Freemail;
use crate::message::Message;

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "check_freemail_from" => check_freemail_from,
        "check_freemail_header" => check_freemail_header,
        "check_freemail_replyto" => check_freemail_replyto,
        "check_freemail_body" => check_freemail_body,
        _ => return None,
    })
}

fn static_re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")))
}

/// Role and machine addresses at free mail domains that are not people
/// (abuse@, postmaster@, bounce addresses, Gmail forwarding ids ...).
fn default_welcome(email: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    static_re(
        &R,
        r"(?i)^(?:abuse|support|sales|info|helpdesk|contact|kontakt|(?:post|host|domain)master|undisclosed.*|request-[a-f0-9]{16}|bounced?-|[a-f0-9]{8}(?:\.[a-f0-9]{8}|-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12})|.+=.+=.+)@",
    )
    .is_match(email)
}

/// Envelope senders of mailing lists and bounces: the Reply-To comparison
/// is skipped for them (it mostly misfires on list mail).
fn bulk_envelope_sender(env: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    // `[._-t]` is a range from '_' to 't' plus '.', as upstream wrote it.
    static_re(
        &R,
        r"(?i)(?:^(?:post|host|domain)master|^double-bounce|^(?:sentto|owner|return|(?:gr)?bounced?)-.+|-(?:request|bounces?|admin|owner)|\b(?:do[._-t]?)?no[._-t]?repl(?:y|ies)|.+=.+)@",
    )
    .is_match(env)
}

/// Whether a lowercase address counts as free mail.
fn is_freemail(fm: &Freemail, email: &str) -> bool {
    if email.is_empty() || fm.welcome.contains(email) {
        return false;
    }
    let domain = email.rsplit_once('@').map_or(email, |(_, d)| d);
    if fm.welcome.contains(domain) || default_welcome(email) {
        return false;
    }
    fm.domains.contains(domain) || fm.wildcard.as_ref().is_some_and(|re| re.is_match(email))
}

/// A rule's optional address pattern, compiled once per pattern text. None
/// inside means it does not compile (the rule then never hits, as
/// upstream). Shared through an `Arc`: a cloned `Regex` would start with an
/// empty cache pool on every call.
fn arg_regex(pattern: &str) -> Option<Arc<Regex>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Arc<Regex>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let Ok(mut map) = cache.lock() else {
        return Regex::new(pattern).ok().map(Arc::new);
    };
    map.entry(pattern.to_string())
        .or_insert_with(|| Regex::new(pattern).ok().map(Arc::new))
        .clone()
}

/// The rule's regex argument: Ok(None) without one, Err when it is invalid.
fn optional_regex(args: &[String], index: usize) -> Result<Option<Arc<Regex>>, ()> {
    match args.get(index) {
        None => Ok(None),
        Some(p) => arg_regex(p).map(Some).ok_or(()),
    }
}

fn lower_addrs(msg: &Message, request: &str) -> Vec<String> {
    msg.get_list(request)
        .into_iter()
        .map(|a| String::from_utf8_lossy(&a).to_lowercase())
        .collect()
}

/// FREEMAIL_FROM: any sender address (From, envelope sender, Resent-From
/// ...) is free mail, optionally matching a pattern.
fn check_freemail_from(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let fm = &ctx.conf.derived.freemail;
    if !fm.available() {
        return 0;
    }
    let Ok(re) = optional_regex(args, 0) else {
        return 0;
    };
    let hit =
        ctx.msg.from_addrs().iter().any(|a| {
            !a.is_empty() && is_freemail(fm, a) && re.as_ref().is_none_or(|r| r.is_match(a))
        });
    u32::from(hit)
}

/// check_freemail_header(header[, pattern]): an address in the header is
/// free mail (and matches the pattern).
fn check_freemail_header(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let fm = &ctx.conf.derived.freemail;
    if !fm.available() {
        return 0;
    }
    let Some(header) = args.first() else {
        return 0;
    };
    let Ok(re) = optional_regex(args, 1) else {
        return 0;
    };
    let hit = lower_addrs(ctx.msg, &format!("{header}:addr"))
        .iter()
        .any(|a| is_freemail(fm, a) && re.as_ref().is_none_or(|r| r.is_match(a)));
    u32::from(hit)
}

/// Free mail addresses written in the body (mailto: links included), or
/// None when the body has too many addresses to judge.
fn body_freemails(ctx: &EvalCtx<'_>) -> Option<Vec<String>> {
    ctx.msg
        .memo()
        .body_freemails
        .get_or_init(|| find_body_freemails(ctx))
        .clone()
}

fn find_body_freemails(ctx: &EvalCtx<'_>) -> Option<Vec<String>> {
    let fm = &ctx.conf.derived.freemail;
    let email_re = fm.email_re.as_ref()?;
    let lines = ctx.msg.body_lines();
    let mut emails: Vec<String> = Vec::new();
    let push = |emails: &mut Vec<String>, e: String| {
        if !emails.contains(&e) {
            emails.push(e);
        }
    };

    // mailto: links of HTML anchors (<a href>), unless the address is also
    // written in the text (upstream takes those from the text, where some
    // are dropped). Form actions, <area> and <link> do not count. The
    // message keeps attribute URIs without their tags; an anchor's href is
    // filed twice there (as link and as the key of its anchor text), other
    // tags' URIs once, which tells them apart.
    let text_lower: std::cell::OnceCell<Vec<String>> = std::cell::OnceCell::new();
    let html = ctx.msg.html_uris();
    let mut from_links = 0;
    for (i, u) in html.iter().enumerate() {
        let Some(scheme) = u.get(..7).filter(|p| p.eq_ignore_ascii_case("mailto:")) else {
            continue;
        };
        if html[..i].contains(u) || html.iter().filter(|v| *v == u).count() < 2 {
            continue;
        }
        let rest = &u[scheme.len()..];
        let Ok(Some(c)) = email_re.captures(rest.as_bytes()) else {
            continue;
        };
        // The address must start right after "mailto:".
        let Some(m) = c.get(1).filter(|m| m.start() == 0) else {
            continue;
        };
        let e = String::from_utf8_lossy(m.as_bytes()).to_lowercase();
        let lower = text_lower.get_or_init(|| lines.iter().map(|l| l.to_lowercase()).collect());
        if lower.iter().any(|l| l.contains(&e)) {
            continue;
        }
        push(&mut emails, e);
        from_links += 1;
        if from_links >= 20 {
            break;
        }
    }

    let strip_url = url_with_at_re();
    let strip_quoted = quoted_email_re(email_re);
    'body: for line in lines {
        // Every address has an `@`; the stripping only removes text.
        if !line.contains('@') {
            continue;
        }
        let l = replace_all(strip_url, line.as_bytes());
        let l = match strip_quoted {
            Some(r) => replace_all(r, &l),
            None => l,
        };
        for c in email_re.captures_iter(&l).flatten() {
            if let Some(m) = c.get(1) {
                push(
                    &mut emails,
                    String::from_utf8_lossy(m.as_bytes()).to_lowercase(),
                );
                if emails.len() >= 40 {
                    break 'body;
                }
            }
        }
    }

    let mut found = Vec::new();
    let (mut all, mut free) = (0i64, 0i64);
    for e in emails {
        all += 1;
        if all == fm.max_body_emails && fm.skip_when_over_max {
            return None;
        }
        if !is_freemail(fm, &e) {
            continue;
        }
        free += 1;
        if free == fm.max_body_freemails && fm.skip_when_over_max {
            return None;
        }
        found.push(e);
    }
    Some(found)
}

/// Links with an address inside them, removed before looking for
/// addresses in the text.
fn url_with_at_re() -> &'static pcre2::bytes::Regex {
    static CACHE: OnceLock<pcre2::bytes::Regex> = OnceLock::new();
    let pattern = r"(?i)<?https?://\S{0,255}(?:@|%40)\S{0,255}";
    CACHE.get_or_init(|| {
        pcre2::bytes::RegexBuilder::new()
            .utf(false)
            .ucp(false)
            .build(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
    })
}

/// Addresses in angle brackets (not mailto:) or followed by a word and a
/// colon ("joe@x.com wrote:"), which are quotes rather than contacts.
fn quoted_email_re(email_re: &pcre2::bytes::Regex) -> Option<&'static pcre2::bytes::Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static pcre2::bytes::Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = email_re.as_str().to_string();
    let mut map = cache.lock().ok()?;
    if let Some(r) = map.get(&key) {
        return Some(r);
    }
    let pattern = format!(
        "(?i)<?(?<!mailto:)(?:{key})(?:>|\\s{{1,10}}(?!(?:fa(?:x|csi)|tel|phone|e?-?mail))[a-z]{{2,11}}:)"
    );
    let re = pcre2::bytes::RegexBuilder::new()
        .utf(false)
        .ucp(false)
        .jit_if_available(true)
        .build(&pattern)
        .ok()?;
    // One pattern per distinct TLD list: a handful per process at most.
    let leaked: &'static pcre2::bytes::Regex = Box::leak(Box::new(re));
    map.insert(key, leaked);
    Some(leaked)
}

/// Perl's `s/re/ /g`.
fn replace_all(re: &pcre2::bytes::Regex, s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut last = 0;
    for m in re.find_iter(s).flatten() {
        out.extend_from_slice(&s[last..m.start()]);
        out.push(b' ');
        last = m.end();
    }
    out.extend_from_slice(&s[last..]);
    out
}

/// check_freemail_body([pattern]): the body names a free mail address.
fn check_freemail_body(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    if !ctx.conf.derived.freemail.available() {
        return 0;
    }
    let Some(found) = body_freemails(ctx) else {
        return 0;
    };
    let Ok(re) = optional_regex(args, 0) else {
        return 0;
    };
    let hit = match re {
        Some(r) => found.iter().any(|e| r.is_match(e)),
        None => !found.is_empty(),
    };
    u32::from(hit)
}

/// check_freemail_replyto(['replyto'|'reply']): From and Reply-To are
/// different free mail addresses, or the reply address (Reply-To, or From
/// for `reply` when there is none) differs from a free mail address in the
/// body.
fn check_freemail_replyto(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let fm = &ctx.conf.derived.freemail;
    if !fm.available() {
        return 0;
    }
    let what = args.first().map_or("replyto", String::as_str);
    if what != "replyto" && what != "reply" {
        return 0;
    }
    let env = ctx.msg.get_list("EnvelopeFrom");
    if fm.skip_bulk_envfrom
        && let Some(env) = env.first()
        && bulk_envelope_sender(&String::from_utf8_lossy(env))
    {
        return 0;
    }
    let from = lower_addrs(ctx.msg, "From:addr");
    let replyto = lower_addrs(ctx.msg, "Reply-To:addr");
    let from_fm = from.iter().any(|a| is_freemail(fm, a));
    let replyto_fm = replyto.iter().any(|a| is_freemail(fm, a));
    let from_in_replyto = from.iter().any(|f| replyto.contains(f));
    if from_fm && replyto_fm && !from_in_replyto {
        return 1;
    }
    if what == "replyto" {
        if !replyto_fm {
            return 0;
        }
    } else if !replyto.is_empty() && !replyto_fm {
        return 0;
    } else if !from_fm {
        // Upstream also stops here when only Reply-To is free mail.
        return 0;
    }
    let Some(body) = body_freemails(ctx) else {
        return 0;
    };
    let reply = if what == "replyto" || replyto_fm {
        &replyto
    } else {
        &from
    };
    let hit = body.iter().any(|b| reply.iter().any(|r| r != b));
    u32::from(hit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn conf() -> Config {
        Config::from_text(
            "t.cf",
            "util_rb_tld com net org\nfreemail_domains gmail.com yahoo.* hotmail.com\n\
             freemail_welcomelist friend@gmail.com\n",
        )
    }

    fn run(f: EvalFn, raw: &str, args: &[&str]) -> u32 {
        super::super::run_for_test(f, &conf(), raw, args)
    }

    // Expectations confirmed with `spamassassin -L -t`.
    #[test]
    fn from_and_headers() {
        let m = "From: Joe <joe7@gmail.com>\nReply-To: jane@yahoo.com\nTo: x@example.org\n\nhi\n";
        assert_eq!(run(check_freemail_from, m, &[]), 1);
        assert_eq!(run(check_freemail_header, m, &["Reply-To"]), 1);
        assert_eq!(run(check_freemail_header, m, &["Reply-To", r"\d@"]), 0);
        assert_eq!(run(check_freemail_header, m, &["From", r"\d@"]), 1);
        assert_eq!(run(check_freemail_replyto, m, &["replyto"]), 1);
        let m = "From: friend@gmail.com\nTo: x@example.org\n\nhi\n";
        assert_eq!(run(check_freemail_from, m, &[]), 0);
        let m = "From: support@gmail.com\nTo: x@example.org\n\nhi\n";
        assert_eq!(run(check_freemail_from, m, &[]), 0);
        let m = "From: joe@example.org\nTo: x@example.org\n\nhi\n";
        assert_eq!(run(check_freemail_from, m, &[]), 0);
    }

    #[test]
    fn links_in_html() {
        let head = "From: joe@gmail.com\nTo: x@example.org\nContent-Type: text/html\n\n";
        // A form action is not a link: no body free mail (SpamAssassin agrees).
        let m = format!("{head}<form action=\"mailto:jim@hotmail.com\">x</form>\n");
        assert_eq!(run(check_freemail_replyto, &m, &["reply"]), 0);
        let m = format!("{head}<a href=\"mailto:jim@hotmail.com?subject=hi\">write</a>\n");
        assert_eq!(run(check_freemail_replyto, &m, &["reply"]), 1);
    }

    #[test]
    fn reply_against_body() {
        let m = "From: joe@gmail.com\nTo: x@example.org\n\nWrite to jim@hotmail.com now\n";
        assert_eq!(run(check_freemail_replyto, m, &["reply"]), 1);
        assert_eq!(run(check_freemail_replyto, m, &["replyto"]), 0);
        assert_eq!(run(check_freemail_body, m, &[]), 1);
        // Quoted addresses do not count.
        let m = "From: joe@gmail.com\nTo: x@example.org\n\njim@hotmail.com wrote:\n";
        assert_eq!(run(check_freemail_replyto, m, &["reply"]), 0);
        // A bulk envelope sender skips the check.
        let m = "Return-Path: <owner-list@example.org>\nFrom: joe@gmail.com\nReply-To: jim@hotmail.com\n\nx\n";
        assert_eq!(run(check_freemail_replyto, m, &["replyto"]), 0);
    }
}
