//! HeaderEval: tests on header fields (dates, Message-Id shapes, recipients,
//! charsets ...). The Received-trail forgery checks live in `relays`.

use std::sync::OnceLock;

use regex::bytes::Regex;

use super::{EvalCtx, EvalFn, locales, registry};
use crate::message::Message;
use crate::message::date::parse_rfc822_date;

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "check_for_shifted_date" => check_for_shifted_date,
        "check_equal_from_domains" => check_equal_from_domains,
        "check_outlook_message_id" => check_outlook_message_id,
        "check_for_faraway_charset_in_headers" => check_for_faraway_charset_in_headers,
        "check_unresolved_template" => check_unresolved_template,
        "similar_recipients" => similar_recipients,
        "sorted_recipients" => sorted_recipients,
        "check_illegal_chars" => check_illegal_chars,
        "check_for_missing_to_header" => check_for_missing_to_header,
        "check_for_to_in_subject" => check_for_to_in_subject,
        "subject_is_all_caps" => subject_is_all_caps,
        "check_ratware_name_id" => check_ratware_name_id,
        "check_ratware_envelope_from" => check_ratware_envelope_from,
        "check_header_count_range" => check_header_count_range,
        "check_for_matching_env_and_hdr_from" => check_for_matching_env_and_hdr_from,
        // Deprecated upstream; always false there too.
        "check_for_unique_subject_id" => never,
        _ => return None,
    })
}

fn never(_ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    0
}

// ---------------------------------------------------------------------------
// Reading headers the way the Perl functions do.

/// `$pms->get(request)` in scalar context: for `:addr`/`:name`-style
/// requests and `EnvelopeFrom` only the first value (without its newline),
/// otherwise every value concatenated. None when there is nothing.
pub(super) fn get_scalar(msg: &Message, request: &str) -> Option<Vec<u8>> {
    let list = msg.get_list(request);
    let first = list.first()?;
    let single = request == "EnvelopeFrom"
        || request
            .split(':')
            .skip(1)
            .any(|m| matches!(m, "addr" | "name" | "host" | "domain" | "ip" | "revip"));
    if single {
        let mut v = first.clone();
        if v.last() == Some(&b'\n') {
            v.pop();
        }
        Some(v)
    } else {
        Some(list.concat())
    }
}

/// `get_scalar` as text, empty when absent (Perl's default '').
pub(super) fn get_str(msg: &Message, request: &str) -> String {
    get_scalar(msg, request)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default()
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("built-in regex {pattern}: {e}"))
}

/// A static regex compiled on first use.
macro_rules! static_re {
    ($pat:expr) => {{
        static R: OnceLock<Regex> = OnceLock::new();
        R.get_or_init(|| re($pat))
    }};
}

/// Perl's `\s` on octets.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn trim_space(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_space(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_space(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// A numeric rule argument, or None for `'undef'`.
fn bound(arg: Option<&String>) -> Option<f64> {
    match arg.map(|s| s.trim()) {
        None | Some("undef") => None,
        Some(s) => Some(s.parse::<f64>().unwrap_or(0.0)),
    }
}

// ---------------------------------------------------------------------------
// Date header against Received dates.

/// The `dd Mon yyyy hh:mm:ss zone` part of a Received header.
fn received_date_re() -> &'static Regex {
    static_re!(r"(?-u)(\s.?[0-9]+ \S\S\S [0-9]+ [0-9]+:[0-9]+:[0-9]+ \S+)")
}

/// Time of the first Resent-Date, else Date, instance that parses.
fn date_header_time(msg: &Message) -> Option<i64> {
    for name in ["Resent-Date", "Date"] {
        for v in msg.get_list(name) {
            if let Some(t) = parse_rfc822_date(&v) {
                return Some(t);
            }
        }
    }
    None
}

/// Times found in the Received headers (topmost first), after setting
/// aside the local fetchmail hops at the top.
fn received_header_times(msg: &Message) -> Vec<i64> {
    let all = get_scalar(msg, "Received").unwrap_or_default();
    let mut received: Vec<&[u8]> = all
        .split(|&b| b == b'\n')
        .filter(|l| l.iter().any(|&b| !is_space(b)))
        .collect();
    if received.is_empty() {
        return Vec::new();
    }
    // A local delivery hop (from localhost, or qmail invoked by a user) is
    // only skipped when a fetchmail hop follows it.
    let local_re = static_re!(
        r"(?-u)\bfrom (?:localhost\s|(?:\S+ ){1,2}\S*\b127\.0\.0\.1\b)|qmail [0-9]+ invoked by uid [0-9]+"
    );
    let fetchmail_re = static_re!(r"(?-u)\bby localhost with \w+ \(fetchmail-[0-9.]+");
    let mut skipped = 0;
    if local_re.is_match(received[0]) {
        skipped = 1;
    }
    if received.len() > skipped && fetchmail_re.is_match(received[skipped]) {
        skipped += 1;
    } else {
        skipped = 0;
    }
    received.drain(..skipped);
    received
        .iter()
        .filter_map(|r| {
            let c = received_date_re().captures(r)?;
            parse_rfc822_date(&c[1])
        })
        .collect()
}

/// Date header time minus the closest Received time (0 when either is
/// missing).
fn date_diff(msg: &Message) -> i64 {
    *msg.memo().date_diff.get_or_init(|| compute_date_diff(msg))
}

fn compute_date_diff(msg: &Message) -> i64 {
    let Some(date) = date_header_time(msg) else {
        return 0;
    };
    let times = received_header_times(msg);
    if times.is_empty() {
        return 0;
    }
    let mut diffs: Vec<i64> = times.iter().map(|t| date - t).collect();
    // A last hop with exactly the Date's time says nothing.
    if diffs.len() > 1 && diffs.last() == Some(&0) {
        diffs.pop();
    }
    // Stable: among equal distances the topmost hop wins.
    diffs.sort_by_key(|d| d.unsigned_abs());
    diffs[0]
}

/// DATE_IN_PAST_* / DATE_IN_FUTURE_*: the Date header is between `min`
/// and `max` hours ahead of the Received time (negative: behind).
fn check_for_shifted_date(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let diff = date_diff(ctx.msg) as f64;
    let min_ok = bound(args.first()).is_none_or(|m| diff >= 3600.0 * m);
    let max_ok = bound(args.get(1)).is_none_or(|m| diff < 3600.0 * m);
    u32::from(min_ok && max_ok)
}

// ---------------------------------------------------------------------------

/// The domain of an address cut to its last two labels, as HeaderEval does
/// it (no registry knowledge): `a.b.example.co.uk` -> `co.uk`.
fn last_two_labels(addr: &str) -> &str {
    let Some(at) = addr.rfind('@') else {
        return "";
    };
    let dom = &addr[at + 1..];
    let Some(p2) = dom.rfind('.') else {
        return dom;
    };
    let Some(p1) = dom[..p2].rfind('.') else {
        return dom;
    };
    if p1 == 0 || p1 + 1 == p2 || p2 + 1 == dom.len() {
        return dom;
    }
    &dom[p1 + 1..]
}

/// HEADER_FROM_DIFFERENT_DOMAINS: From and envelope sender differ in their
/// last two domain labels.
fn check_equal_from_domains(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let from = get_str(ctx.msg, "From:addr");
    let env = get_str(ctx.msg, "EnvelopeFrom:addr");
    let fd = last_two_labels(&from);
    if fd.is_empty() {
        return 0;
    }
    let ed = last_two_labels(&env);
    if ed.is_empty() {
        return 0;
    }
    u32::from(!fd.eq_ignore_ascii_case(ed))
}

/// __ENV_AND_HDR_FROM_MATCH: envelope sender equals the From address (two
/// missing ones match too).
fn check_for_matching_env_and_hdr_from(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let env = get_str(ctx.msg, "EnvelopeFrom:addr");
    let from = get_str(ctx.msg, "From:addr");
    u32::from(env.eq_ignore_ascii_case(&from))
}

/// MSGID_OUTLOOK_INVALID: an Outlook Express style Message-Id whose embedded
/// time matches neither the Date header nor the Received headers.
fn check_outlook_message_id(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let id = get_scalar(ctx.msg, "MESSAGEID").unwrap_or_default();
    let re = static_re!(r"^<[0-9a-f]{4}([0-9a-f]{8})\$[0-9a-f]{8}\$[0-9a-f]{8}@");
    let Some(c) = re.captures(&id) else {
        return 0;
    };
    let token = std::str::from_utf8(&c[1])
        .ok()
        .and_then(|h| i64::from_str_radix(h, 16).ok())
        .unwrap_or(0);
    // Outlook's id time unit, fitted by SpamAssassin's authors.
    let expected = |t: i64| (t as f64 * 0.002_328_306_436_538_7 + 27_111_902.832_984_9) as i64;
    const FUDGE: i64 = 250;
    let date = get_scalar(ctx.msg, "Date").unwrap_or_default();
    let t = parse_rfc822_date(&date).unwrap_or(0);
    if (token - expected(t)).abs() < FUDGE {
        return 0;
    }
    // SpamAssassin parses the whole Received text here (its regex match
    // result is discarded), so the first date anywhere in it counts.
    let rcvd = get_scalar(ctx.msg, "Received").unwrap_or_default();
    let t = parse_rfc822_date(&rcvd).unwrap_or(0);
    u32::from((token - expected(t)).abs() >= FUDGE)
}

/// CHARSET_FARAWAY_HEADER: an encoded word in From or Subject uses a
/// charset foreign to `ok_locales`.
fn check_for_faraway_charset_in_headers(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let locales = locales::my_locales(&ctx.conf.derived.ok_locales);
    if locales.iter().any(|l| l == "all") {
        return 0;
    }
    let re = static_re!(r"(?s-u)=\?(.+?)\?.\?.*?\?=");
    for h in ["From:raw", "Subject:raw"] {
        for v in ctx.msg.get_list(h) {
            for c in re.captures_iter(&v) {
                let cs = String::from_utf8_lossy(&c[1]);
                if !locales::charset_ok_for_locales(&cs, &locales) {
                    return 1;
                }
            }
        }
    }
    0
}

/// UNRESOLVED_TEMPLATE: a `%VARIABLE` left in a header other than the
/// address, subject and id headers where it can legitimately appear.
fn check_unresolved_template(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let all = ctx.msg.get("ALL").unwrap_or_default();
    let var = static_re!(r"(?-u)%[A-Z][A-Z_-]");
    let exempt = static_re!(
        r"(?i-u)^(?:X-VMS-To|X-UIDL|X-Face|To|Cc|From|Subject|References|In-Reply-To|(?:X-|Resent-|X-Original-)?Message-Id):"
    );
    let hit = all
        .split(|&b| b == b'\n')
        .any(|line| var.is_match(line) && !exempt.is_match(line));
    u32::from(hit)
}

// ---------------------------------------------------------------------------
// Recipient lists.

/// The recipient list SORTED_RECIPS / SUSPICIOUS_RECIPS look at: To and Cc
/// addresses (Bcc too when there are fewer than five), neighbouring
/// duplicates dropped, at most 256.
fn recipients(msg: &Message) -> Vec<Vec<u8>> {
    let mut inputs = msg.get_list("ToCc:addr");
    if inputs.len() < 5 {
        inputs.extend(msg.get_list("Bcc:addr"));
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut prev: Vec<u8> = Vec::new();
    for cur in inputs {
        // Perl's `while (my $x = shift @list)` stops at a false value.
        if cur.is_empty() || cur == b"0" {
            break;
        }
        if !cur.eq_ignore_ascii_case(&prev) {
            prev = cur.clone();
            out.push(cur);
        }
        if out.len() == 256 {
            break;
        }
    }
    out
}

/// SORTED_RECIPS: seven or more recipients, in sorted order.
fn sorted_recipients(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let addrs = recipients(ctx.msg);
    u32::from(addrs.len() >= 7 && addrs.is_sorted())
}

/// How alike the recipients are: the share of address pairs with the same
/// first two characters, plus pairs whose different hosts share their
/// first two characters. 0 below five recipients.
fn recipient_similarity(addrs: &[Vec<u8>]) -> f64 {
    if addrs.len() < 5 {
        return 0.0;
    }
    let prefix = |s: &[u8]| s[..s.len().min(2)].to_vec();
    let user: Vec<Vec<u8>> = addrs.iter().map(|a| prefix(a)).collect();
    // Addresses without '@' contribute no host, which shifts the host list
    // against the address list exactly as in SpamAssassin.
    let fqhn: Vec<&[u8]> = addrs
        .iter()
        .filter_map(|a| {
            let at = a.iter().position(|&b| b == b'@')?;
            let rest = &a[at + 1..];
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            Some(&rest[..end])
        })
        .collect();
    let host: Vec<Vec<u8>> = fqhn.iter().map(|h| prefix(h)).collect();
    let get = |v: &[Vec<u8>], i: usize| v.get(i).cloned().unwrap_or_default();
    let getf = |i: usize| fqhn.get(i).copied().unwrap_or(b"");
    let (mut hits, mut combinations) = (0u64, 0u64);
    for i in 0..addrs.len() {
        for j in i + 1..addrs.len() {
            if user[i] == user[j] {
                hits += 1;
            }
            if get(&host, i) == get(&host, j) && getf(i) != getf(j) {
                hits += 1;
            }
            combinations += 1;
        }
    }
    hits as f64 / combinations as f64
}

/// SUSPICIOUS_RECIPS: recipient similarity within [min, max).
fn similar_recipients(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let sim = recipient_similarity(&recipients(ctx.msg));
    let min_ok = bound(args.first()).is_none_or(|m| sim >= m);
    let max_ok = bound(args.get(1)).is_none_or(|m| sim < m);
    u32::from(min_ok && max_ok)
}

/// MISSING_HEADERS: neither To nor Apparently-To has a value.
fn check_for_missing_to_header(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let to = get_scalar(ctx.msg, "To").unwrap_or_default();
    if !to.is_empty() {
        return 0;
    }
    let apparently = get_scalar(ctx.msg, "Apparently-To").unwrap_or_default();
    u32::from(apparently.is_empty())
}

/// LOCALPART_IN_SUBJECT (`user`) and its `address` variant: the first To
/// address, or its local part in typical greeting positions, in the
/// Subject.
fn check_for_to_in_subject(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let full_to = get_str(ctx.msg, "To:addr");
    if full_to.is_empty() {
        return 0;
    }
    let subject = get_scalar(ctx.msg, "Subject").unwrap_or_default();
    // Perl's `$` also matches before a final newline.
    const END: &str = r"(?:\n?\z)";
    let pattern = match args.first().map(String::as_str) {
        Some("address") => format!(r"(?i-u)\b{}\b", regex::escape(&full_to)),
        Some("user") => {
            let to = match full_to.find('@') {
                Some(at) => &full_to[..at],
                None => full_to.as_str(),
            };
            // Every alternative contains the local part: most subjects
            // do not, and then no regex needs compiling.
            if !crate::message::contains_ci(&subject, to.as_bytes()) {
                return 0;
            }
            let q = regex::escape(to);
            format!(
                r"(?i-u)^(?:(?:re|fw):\s*(?:\w+\s+)?{q}{END}|(?-i:{q})\s*[,:;!?-](?:{END}|\s)|{q}{END}|,\s*{q}[,:;!?-]{END})"
            )
        }
        _ => return 0,
    };
    match Regex::new(&pattern) {
        Ok(r) => u32::from(r.is_match(&subject)),
        Err(_) => 0,
    }
}

/// Charsets whose text tends to look all-uppercase once reduced to ASCII
/// letters.
fn caps_fp_charset_re() -> &'static Regex {
    static_re!(
        r"(?i-u)=\?[-_a-z0-9]*(?:koi|jp|jis|euc|gb|big5|isoir|cp1251|windows-1251|georgianps|pt154|tis)[-_a-z0-9]*\?"
    )
}

/// SUBJ_ALL_CAPS: a Subject of several words, at least 10 bytes, whose
/// letters are all uppercase (reply/forward prefixes ignored).
fn subject_is_all_caps(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let subject = get_scalar(ctx.msg, "Subject").unwrap_or_default();
    let mut s = trim_space(&subject);
    let prefix = static_re!(r"(?i-u)^(?:(?:Re|Fwd|Fw|Aw|Antwort|WG|SV|VB|VS|VL):\s*)+");
    if let Some(m) = prefix.find(s) {
        s = &s[m.end()..];
    }
    if !s.iter().any(|&b| is_space(b)) || s.len() < 10 {
        return 0;
    }
    let letters: Vec<u8> = s.iter().copied().filter(u8::is_ascii_alphabetic).collect();
    let raw = get_scalar(ctx.msg, "Subject:raw").unwrap_or_default();
    if caps_fp_charset_re().is_match(&raw) {
        return 0;
    }
    u32::from(!letters.is_empty() && letters.iter().all(|b| !b.is_ascii_lowercase()))
}

/// check_illegal_chars(header, ratio, count): raw 8-bit or control bytes
/// in a header (all headers for `ALL`), at least `count` of them and at
/// least `ratio` of its length. Valid UTF-8 without controls is fine.
fn check_illegal_chars(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let Some(header) = args.first() else {
        return 0;
    };
    let ratio = bound(args.get(1)).unwrap_or(0.0);
    let count = bound(args.get(2)).unwrap_or(0.0);
    let request = if header.ends_with(":raw") {
        header.clone()
    } else {
        format!("{header}:raw")
    };
    let Some(s) = get_scalar(ctx.msg, &request) else {
        return 0;
    };
    if s.iter().all(|&b| is_space(b)) {
        return 0;
    }
    let control = |b: u8| matches!(b, 0x00..=0x08 | 0x0b | 0x0c | 0x0e..=0x1f);
    if !s.is_ascii() && std::str::from_utf8(&s).is_ok() && !s.iter().any(|&b| control(b)) {
        return 0;
    }
    let mut illegal = s.iter().filter(|&&b| control(b) || b >= 0x7f).count();
    if illegal > 0 && request.eq_ignore_ascii_case("subject:raw") {
        // A single cent, pound or registered sign is tolerated.
        let exempt = s
            .iter()
            .filter(|&&b| matches!(b, 0xa2 | 0xa3 | 0xae))
            .count();
        if exempt == 1 {
            illegal -= 1;
        }
    }
    let illegal = illegal as f64;
    u32::from(illegal / s.len() as f64 >= ratio && illegal >= count)
}

/// __RATWARE_NAME_ID: a 28-capital-letter Message-Id local part whose
/// domain reappears as the quoted-name From address.
fn check_ratware_name_id(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let mid = get_scalar(ctx.msg, "MESSAGEID").unwrap_or_default();
    let from = get_scalar(ctx.msg, "From").unwrap_or_default();
    let re = static_re!(r"(?-u)<[A-Z]{28}\.([^>]+?)>");
    let Some(c) = re.captures(&mid) else {
        return 0;
    };
    let tail = String::from_utf8_lossy(&c[1]);
    let pattern = format!(r#"(?-u)"[^"]+"\s*<{}>"#, regex::escape(&tail));
    match Regex::new(&pattern) {
        Ok(r) => u32::from(r.is_match(&from)),
        Err(_) => 0,
    }
}

/// RATWARE_EFROM: the envelope sender is built from the recipient's
/// domain and user name (`domain.user@...`).
fn check_ratware_envelope_from(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let to = get_str(ctx.msg, "To:addr");
    let from = get_str(ctx.msg, "EnvelopeFrom:addr");
    if from.is_empty() || to.is_empty() {
        return 0;
    }
    let srs = static_re!(r"(?i-u)^SRS[0-9][=+-]");
    if srs.is_match(from.as_bytes()) {
        return 0;
    }
    let Some((user, dom)) = to.split_once('@') else {
        return 0;
    };
    if user.is_empty() || dom.is_empty() || dom.contains('\n') {
        return 0;
    }
    let d = &ctx.conf.derived;
    let dom = registry::trim_domain(d, dom);
    if !registry::is_domain_valid(d, &dom) {
        return 0;
    }
    // Both parts must occur before a regex is worth compiling.
    let mut user_at = user.as_bytes().to_vec();
    user_at.push(b'@');
    if !crate::message::contains_ci(from.as_bytes(), dom.as_bytes())
        || !crate::message::contains_ci(from.as_bytes(), &user_at)
    {
        return 0;
    }
    let pattern = format!(r"(?i-u)\b{}.{}@", regex::escape(&dom), regex::escape(user));
    match Regex::new(&pattern) {
        Ok(r) => u32::from(r.is_match(from.as_bytes())),
        Err(_) => 0,
    }
}

/// check_header_count_range(name, min, max): the number of distinct values
/// of a header is within [min, max].
fn check_header_count_range(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let Some(name) = args.first() else {
        return 0;
    };
    let mut uniq: Vec<Vec<u8>> = Vec::new();
    for v in ctx.msg.get_list(name) {
        if !uniq.contains(&v) {
            uniq.push(v);
        }
    }
    let n = uniq.len() as f64;
    let min = bound(args.get(1)).unwrap_or(0.0);
    let max = bound(args.get(2)).unwrap_or(0.0);
    u32::from(n >= min && n <= max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn run(f: EvalFn, raw: &str, args: &[&str]) -> u32 {
        let conf = Config::from_text("t.cf", "util_rb_tld com org\nutil_rb_2tld co.uk\n");
        run_conf(f, raw, args, &conf)
    }

    fn run_conf(f: EvalFn, raw: &str, args: &[&str], conf: &Config) -> u32 {
        super::super::run_for_test(f, conf, raw, args)
    }

    const RCVD: &str = "Received: from a.example.com (a.example.com [192.0.2.1])\n\tby mx.example.org with ESMTP id 1;\n\tThu, 22 Aug 2002 12:00:00 +0000\n";

    // Expectations below were confirmed with `spamassassin -L -t`.
    #[test]
    fn shifted_date() {
        let m = format!("{RCVD}Date: Thu, 22 Aug 2002 20:00:00 +0000\nFrom: a@b.com\n\nx\n");
        assert_eq!(run(check_for_shifted_date, &m, &["6", "12"]), 1);
        assert_eq!(run(check_for_shifted_date, &m, &["3", "6"]), 0);
        // 72 hours early: no DATE_IN_PAST_96_XX; 121 hours early: a hit.
        let m = format!("{RCVD}Date: Mon, 19 Aug 2002 12:00:00 +0000\nFrom: a@b.com\n\nx\n");
        assert_eq!(run(check_for_shifted_date, &m, &["undef", "-96"]), 0);
        assert_eq!(run(check_for_shifted_date, &m, &["-48", "-24"]), 0);
        let m = format!("{RCVD}Date: Sat, 17 Aug 2002 11:00:00 +0000\nFrom: a@b.com\n\nx\n");
        assert_eq!(run(check_for_shifted_date, &m, &["undef", "-96"]), 1);
        // Without Received headers there is nothing to compare.
        let m = "Date: Thu, 22 Aug 2002 20:00:00 +0000\n\nx\n";
        assert_eq!(run(check_for_shifted_date, m, &["6", "12"]), 0);
    }

    #[test]
    fn equal_from_domains() {
        let m =
            "Return-Path: <bounce@mail.lists.example.com>\nFrom: Joe <joe@www.example.com>\n\nx\n";
        assert_eq!(run(check_equal_from_domains, m, &[]), 0);
        let m = "Return-Path: <bounce@other.net>\nFrom: Joe <joe@example.com>\n\nx\n";
        assert_eq!(run(check_equal_from_domains, m, &[]), 1);
        let m = "From: Joe <joe@example.com>\n\nx\n";
        assert_eq!(run(check_equal_from_domains, m, &[]), 0);
        assert_eq!(last_two_labels("a@x.y.co.uk"), "co.uk");
        assert_eq!(last_two_labels("a@example.com"), "example.com");
    }

    #[test]
    fn outlook_message_id() {
        let bad = "Message-Id: <00001d6a3b2f$00000000$00000000@x>\nDate: Thu, 22 Aug 2002 10:00:00 +0000\n\nx\n";
        let expected = (1_030_010_400f64 * 0.002_328_306_436_538_7 + 27_111_902.832_984_9) as i64;
        let good_id = format!(
            "Message-Id: <0000{expected:08x}$00000000$00000000@x>\nDate: Thu, 22 Aug 2002 10:00:00 +0000\n\nx\n"
        );
        assert_eq!(run(check_outlook_message_id, &good_id, &[]), 0);
        assert_eq!(run(check_outlook_message_id, bad, &[]), 1);
        assert_eq!(
            run(check_outlook_message_id, "Message-Id: <a@b>\n\nx\n", &[]),
            0
        );
    }

    #[test]
    fn recipients_checks() {
        let to = "To: aa@x.com, ab@y.com, ac@z.com, ad@w.com, ae@v.com, af@u.com, ag@t.com\n\nx\n";
        assert_eq!(run(sorted_recipients, to, &[]), 1);
        assert_eq!(run(similar_recipients, to, &["0.65", "undef"]), 0);
        let to = "To: abc@x.com, abd@x.com, abe@x.com, abf@y.com, abg@x.com\n\nx\n";
        assert_eq!(run(sorted_recipients, to, &[]), 0);
        assert_eq!(run(similar_recipients, to, &["0.65", "undef"]), 1);
        let to = "To: zz@x.com, ab@y.com, qc@z.com\n\nx\n";
        assert_eq!(run(sorted_recipients, to, &[]), 0);
        assert_eq!(run(similar_recipients, to, &["0.65", "undef"]), 0);
    }

    #[test]
    fn missing_to_and_subject() {
        assert_eq!(
            run(check_for_missing_to_header, "From: a@b.com\n\nx\n", &[]),
            1
        );
        assert_eq!(
            run(check_for_missing_to_header, "To: a@b.com\n\nx\n", &[]),
            0
        );
        assert_eq!(
            run(subject_is_all_caps, "Subject: FREE MONEY NOW\n\nx\n", &[]),
            1
        );
        assert_eq!(
            run(
                subject_is_all_caps,
                "Subject: Re: FREE money now\n\nx\n",
                &[]
            ),
            0
        );
        assert_eq!(
            run(subject_is_all_caps, "Subject: FREEMONEYNOW\n\nx\n", &[]),
            0
        );
        assert_eq!(
            run(
                check_for_to_in_subject,
                "To: joe@example.com\nSubject: joe, read this\n\nx\n",
                &["user"]
            ),
            1
        );
        assert_eq!(
            run(
                check_for_to_in_subject,
                "To: joe@example.com\nSubject: hello joe there\n\nx\n",
                &["user"]
            ),
            0
        );
    }

    #[test]
    fn illegal_chars() {
        let m = b"Subject: caf\xe9 cr\xe8me\n\nx\n";
        let msg = Message::parse(m);
        let conf = Config::default();
        let ctx = EvalCtx {
            msg: &msg,
            conf: &conf,
            bayes: None,
        };
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check_illegal_chars(&ctx, &args(&["Subject", "0.00", "2"])),
            1
        );
        assert_eq!(
            check_illegal_chars(&ctx, &args(&["Subject", "0.00", "3"])),
            0
        );
        let m = "Subject: caf\u{e9} cr\u{e8}me\n\nx\n";
        assert_eq!(run(check_illegal_chars, m, &["Subject", "0.00", "2"]), 0);
    }

    #[test]
    fn template_and_counts() {
        assert_eq!(
            run(check_unresolved_template, "X-Foo: %RND_NUM\n\nx\n", &[]),
            1
        );
        assert_eq!(
            run(check_unresolved_template, "Subject: %RND_NUM\n\nx\n", &[]),
            0
        );
        let m = "Subject: a\nSubject: b\n\nx\n";
        assert_eq!(
            run(check_header_count_range, m, &["Subject", "2", "999"]),
            1
        );
        let m = "Subject: a\nSubject: a\n\nx\n";
        assert_eq!(
            run(check_header_count_range, m, &["Subject", "2", "999"]),
            0
        );
    }

    #[test]
    fn ratware_envelope_from() {
        let m = "Return-Path: <example.com.joe@spam.org>\nTo: joe@mail.example.com\n\nx\n";
        assert_eq!(run(check_ratware_envelope_from, m, &[]), 1);
        let m = "Return-Path: <joe@spam.org>\nTo: joe@mail.example.com\n\nx\n";
        assert_eq!(run(check_ratware_envelope_from, m, &[]), 0);
    }
}
