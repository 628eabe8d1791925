//! RelayEval: tests on the Received trail (trusted/untrusted relays, HELO, rDNS).

use super::{EvalCtx, EvalFn};
use crate::message::Relay;
use crate::message::received::{caps, compile, ip_is_private, is_match, rx};

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "check_all_trusted" => check_all_trusted,
        "check_no_relays" => check_no_relays,
        "check_relays_unparseable" => check_relays_unparseable,
        "helo_ip_mismatch" => helo_ip_mismatch,
        "check_for_no_rdns_dotcom_helo" => check_for_no_rdns_dotcom_helo,
        "check_for_forged_received_trail" => check_for_forged_received_trail,
        "check_for_forged_received_ip_helo" => check_for_forged_received_ip_helo,
        "check_for_sender_no_reverse" => check_for_sender_no_reverse,
        "check_for_numeric_helo" => check_for_numeric_helo,
        "check_for_illegal_ip" => never,
        "check_for_from_domain_in_received_headers" => check_for_from_domain_in_received_headers,
        _ => return None,
    })
}

fn never(_: &EvalCtx<'_>, _: &[String]) -> u32 {
    0
}

/// Relays exist, all trusted, and no Received header was unparseable.
pub fn check_all_trusted(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    let r = ctx.msg.relays();
    u32::from(!r.trusted.is_empty() && r.untrusted.is_empty() && r.num_unparseable == 0)
}

pub fn check_no_relays(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    let r = ctx.msg.relays();
    u32::from(r.trusted.is_empty() && r.untrusted.is_empty() && r.num_unparseable == 0)
}

pub fn check_relays_unparseable(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    u32::from(ctx.msg.relays().num_unparseable > 0)
}

fn is_ipv4(s: &[u8]) -> bool {
    is_match(
        rx!(
            r"^\b(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\b$"
        ),
        s,
    )
}

/// SpamAssassin's IS_IP_PRIVATE: the private pattern matching the whole
/// string (its trailing `.*` makes that the same as a prefix match).
fn is_private_exact(s: &[u8]) -> bool {
    ip_is_private(s) && !s.contains(&b'\n')
}

/// An untrusted relay's public IPv4 HELO names a different /24-ish prefix
/// than its public connecting IP.
pub fn helo_ip_mismatch(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    for r in &ctx.msg.relays().untrusted {
        if !is_ipv4(&r.helo) || is_private_exact(&r.helo) {
            continue;
        }
        if is_ipv4(&r.ip)
            && !is_private_exact(&r.ip)
            && r.helo != r.ip
            && let Some(c) = caps(rx!(r"^(\d+\.\d+\.\d+\.)"), &r.helo)
            && let Some(m) = c.get(1)
            && !r.ip.starts_with(m.as_bytes())
        {
            return 1;
        }
    }
    0
}

/// A public untrusted relay HELOs as a big freemail/ISP domain, and its MTA
/// found no reverse DNS. The last such relay examined decides.
pub fn check_for_no_rdns_dotcom_helo(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    let mut hit = false;
    for r in &ctx.msg.relays().untrusted {
        if r.ip_private {
            continue;
        }
        hit = false;
        if is_match(
            rx!(
                r"(?i)(?:\.|^)(lycos\.com|lycos\.co\.uk|hotmail\.com|localhost\.com|excite\.com|caramail\.com|cs\.com|aol\.com|msn\.com|yahoo\.com|drizzle\.com)$"
            ),
            &r.helo,
        ) && r.no_reverse_dns
        {
            hit = true;
        }
    }
    u32::from(hit)
}

/// The registrable-looking tail of a host name, by SpamAssassin's old
/// heuristic (two labels for 3+-letter TLDs and ie/fr/de, else three).
fn hostname_to_domain(h: &[u8]) -> Vec<u8> {
    if !h.iter().any(u8::is_ascii_alphabetic) {
        return h.to_vec();
    }
    // Perl's split drops trailing empty fields.
    let mut parts: Vec<&[u8]> = h.split(|&b| b == b'.').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    let n = parts.len();
    let long_tld = n > 1 && is_match(rx!(r"(?:\S{3,}|ie|fr|de)"), parts[n - 1]);
    if long_tld {
        parts[n - 2..].join(&b'.')
    } else if n > 2 {
        parts[n - 3..].join(&b'.')
    } else {
        h.to_vec()
    }
}

fn domainish(s: &[u8]) -> bool {
    is_match(rx!(r"^\w+(?:[\w.-]+\.)+\w+$"), s)
}

/// (from-mismatch count, IP-HELO mismatch count) over the untrusted relays.
fn forged_received(relays: &[Relay]) -> (u32, u32) {
    let mut mismatch_from = 0;
    let mut mismatch_ip_helo = 0;
    let by: Vec<Vec<u8>> = relays
        .iter()
        .map(|r| hostname_to_domain(&r.lc_by()))
        .collect();
    let mut from: Vec<Option<Vec<u8>>> = relays
        .iter()
        .map(|r| Some(hostname_to_domain(&r.lc_rdns())))
        .collect();
    let helo: Vec<Vec<u8>> = relays
        .iter()
        .map(|r| hostname_to_domain(&r.lc_helo()))
        .collect();
    for i in 0..relays.len() {
        if !domainish(&by[i]) {
            continue;
        }
        if let Some(f) = &from[i]
            && is_match(rx!(r"^localhost(?:\.localdomain)?$"), f)
            && relays[i].ip == b"127.0.0.1"
        {
            from[i] = None;
        }
        let hlo = &helo[i];
        let fip = &relays[i].ip;
        let dotted = rx!(r"^(\d+\.\d+)\.\d+\.\d+$");
        if fip != hlo
            && let (Some(hc), Some(fc)) = (caps(dotted, hlo), caps(dotted, fip))
            && hc.get(1).map(|m| m.as_bytes()) != fc.get(1).map(|m| m.as_bytes())
            && !is_private_exact(hlo)
        {
            mismatch_ip_helo += 1;
        }
        if i > 0
            && let Some(prev) = &from[i - 1]
            && domainish(prev)
            && by[i] != *prev
            && !(by[i] == b"msn.com" && prev == b"hotmail.com")
        {
            mismatch_from += 1;
        }
    }
    (mismatch_from, mismatch_ip_helo)
}

/// More than one untrusted hop whose "by" does not match the previous
/// hop's rDNS domain.
pub fn check_for_forged_received_trail(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    u32::from(forged_received(&ctx.msg.relays().untrusted).0 > 1)
}

pub fn check_for_forged_received_ip_helo(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    u32::from(forged_received(&ctx.msg.relays().untrusted).1 > 0)
}

/// The oldest untrusted relay has a dotted rDNS and a public IP.
pub fn check_for_sender_no_reverse(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    let Some(r) = ctx.msg.relays().untrusted.last() else {
        return 0;
    };
    u32::from(r.rdns.contains(&b'.') && !r.ip_private)
}

/// An IPv4 address as HELO in the untrusted relays. (SpamAssassin means to
/// exempt private addresses, but its localised `$1` is always empty there,
/// so every match counts.)
pub fn check_for_numeric_helo(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    let s = ctx.msg.relays().untrusted_str();
    u32::from(is_match(
        rx!(
            r"(?i)\bhelo=(\b(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\.(?:1\d\d|2[0-4]\d|25[0-5]|[1-9]\d|\d)\b)(?=[\000-\040,;\[()<>]|\z)"
        ),
        &s,
    ))
}

/// `(domain, 'true'|'false')`: whether a relay whose rDNS and "by" both
/// end in `domain` handled mail whose From address mentions `domain`.
/// The domain is used as a regex fragment, as SpamAssassin does.
pub fn check_for_from_domain_in_received_headers(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let (Some(domain), Some(desired)) = (args.first(), args.get(1)) else {
        return 0;
    };
    let want = desired == "true";
    let from = ctx
        .msg
        .get_list("From:addr")
        .into_iter()
        .next()
        .unwrap_or_default();
    let quoted: String = domain
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                (b as char).to_string()
            } else {
                format!("\\x{{{b:02x}}}")
            }
        })
        .collect();
    let mentions = compile(&format!(r"(?i)\b{quoted}"));
    if !is_match(mentions.as_ref(), &from) {
        return 0;
    }
    let r = ctx.msg.relays();
    let mut rcvd = r.trusted_str();
    rcvd.push(b'\n');
    rcvd.extend(r.untrusted_str());
    let handled = compile(&format!(r" rdns=\S*\b{domain} [^\]]*by=\S*\b{domain} "));
    u32::from(is_match(handled.as_ref(), &rcvd) == want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_domain_in_received() {
        let msg = crate::message::Message::parse(
            b"Received: from a.example.com (mx.example.com [192.0.2.1]) by in.example.com (8.14/8.14) with ESMTP id x1; Mon, 12 Jan 2004 10:00:00 +0000\nFrom: joe@example.com\n\nx\n",
        );
        let conf = crate::config::Config::from_text("t.cf", "");
        let ctx = EvalCtx {
            msg: &msg,
            conf: &conf,
            bayes: None,
        };
        let args = |d: &str, w: &str| vec![d.to_string(), w.to_string()];
        assert_eq!(
            check_for_from_domain_in_received_headers(&ctx, &args("example.com", "true")),
            1
        );
        assert_eq!(
            check_for_from_domain_in_received_headers(&ctx, &args("example.com", "false")),
            0
        );
        assert_eq!(
            check_for_from_domain_in_received_headers(&ctx, &args("other.org", "false")),
            0
        );
    }

    #[test]
    fn domains() {
        assert_eq!(hostname_to_domain(b"a.b.example.com"), b"example.com");
        assert_eq!(hostname_to_domain(b"a.b.example.co.uk"), b"example.co.uk");
        assert_eq!(hostname_to_domain(b"1.2.3.4"), b"1.2.3.4");
        assert_eq!(hostname_to_domain(b"localhost"), b"localhost");
    }
}
