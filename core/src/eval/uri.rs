//! URIEval / HTTPSMismatch: tests on the links of HTML parts.

use std::sync::LazyLock;

use regex::Regex;

use super::{EvalCtx, EvalFn};

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "check_uri_truncated" => check_uri_truncated,
        "check_https_ip_mismatch" => check_https_ip_mismatch,
        "check_https_http_mismatch" => check_https_http_mismatch,
        _ => return None,
    })
}

/// Longest URI SpamAssassin keeps (`MAX_URI_LENGTH`).
const MAX_URI_LENGTH: usize = 8192;

/// A link attribute or a URI in the text was longer than SpamAssassin
/// keeps, so it was cut.
fn check_uri_truncated(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let html = ctx.msg.html_parts().iter().any(|h| h.uri_truncated);
    u32::from(html || ctx.msg.uris().iter().any(|u| u.len() > MAX_URI_LENGTH))
}

/// A link to a bare IP address whose text shows an https: URL that is not
/// itself an IP address.
fn check_https_ip_mismatch(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    static IP_LINK: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^https?:/*(?:[^@/]+@)?\d+\.\d+\.\d+\.\d+")
            .unwrap_or_else(|_| unreachable!("constant regex"))
    });
    static HTTPS_IP: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^https:/*(?:[^@/]+@)?\d+\.\d+\.\d+\.\d+")
            .unwrap_or_else(|_| unreachable!("constant regex"))
    });
    let hit = ctx.msg.html_parts().iter().any(|h| {
        h.anchor_hrefs
            .iter()
            .zip(&h.anchors)
            .filter(|(href, _)| IP_LINK.is_match(href))
            .any(|(_, text)| {
                !HTTPS_IP.is_match(text) && text.to_ascii_lowercase().contains("https:")
            })
    });
    u32::from(hit)
}

/// An IPv4 or IPv6 literal (SpamAssassin's IS_IP_ADDRESS, loosely).
fn is_ip(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

/// A link whose text shows an https: URL on another registrable domain
/// than the link itself (HTTPS_HTTP_MISMATCH). Arguments: minimum and
/// (exclusive) maximum number of anchors.
fn check_https_http_mismatch(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    static LINK_HOST: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^https?://([^/:?#]+)").unwrap_or_else(|_| unreachable!("constant regex"))
    });
    static TEXT_HTTPS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)https://([^\s/:?#]+)").unwrap_or_else(|_| unreachable!("constant regex"))
    });
    let min: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1);
    let max: Option<usize> = args.get(1).and_then(|a| a.parse().ok());
    let d = &ctx.conf.derived;
    for html in ctx.msg.html_parts() {
        // Anchor texts grouped by link, as SpamAssassin's uri_detail keeps them.
        let mut by_link: Vec<(&str, Vec<&str>)> = Vec::new();
        for (href, text) in html.anchor_hrefs.iter().zip(&html.anchors) {
            match by_link.iter_mut().find(|(h, _)| *h == href.as_str()) {
                Some((_, texts)) => texts.push(text),
                None => by_link.push((href, vec![text])),
            }
        }
        let (mut hit, mut anchors) = (false, 0usize);
        for (link, texts) in &by_link {
            if texts.is_empty() {
                continue;
            }
            let Some(host) = LINK_HOST.captures(link).and_then(|c| c.get(1)) else {
                continue;
            };
            if is_ip(host.as_str()) {
                continue;
            }
            let link_dom = super::registry::trim_domain(d, host.as_str());
            if !super::registry::is_domain_valid(d, &link_dom) {
                continue;
            }
            anchors += 1;
            for t in texts {
                let Some(h) = TEXT_HTTPS.captures(t).and_then(|c| c.get(1)) else {
                    continue;
                };
                let mut shown = h.as_str().to_string();
                if !is_ip(&shown) {
                    shown = super::registry::trim_domain(d, &shown);
                    if !super::registry::is_domain_valid(d, &shown) {
                        continue;
                    }
                }
                if shown != link_dom {
                    hit = true;
                    break;
                }
            }
        }
        if hit && anchors >= min && max.is_none_or(|m| anchors < m) {
            return 1;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::message::Message;

    #[test]
    fn https_text_on_other_domain() {
        let html = |body: &str| {
            format!("Subject: s\nContent-Type: text/html\n\n<html><body>{body}</body></html>\n")
        };
        // The registry needs the TLD list that 20_aux_tlds.cf provides.
        let conf = Config::from_text("t", "util_rb_tld com\n");
        let check = |raw: &str| {
            let msg = Message::parse(raw.as_bytes());
            check_https_http_mismatch(
                &EvalCtx {
                    msg: &msg,
                    conf: &conf,
                    bayes: None,
                },
                &[],
            )
        };
        let bad = html("<a href=\"http://evil.example.com/x\">https://www.mybank.com/login</a>");
        assert_eq!(check(&bad), 1);
        let good = html("<a href=\"http://login.mybank.com/x\">https://www.mybank.com/login</a>");
        assert_eq!(check(&good), 0);
        let ip = html("<a href=\"http://10.1.2.3/x\">https://www.mybank.com/login</a>");
        assert_eq!(check(&ip), 0);
    }

    fn run(f: EvalFn, raw: &str) -> u32 {
        super::super::run_for_test(f, &Config::from_text("t", ""), raw, &[])
    }

    #[test]
    fn ip_mismatch() {
        let m = "Subject: t\nContent-Type: text/html\n\n\
            <a href=\"http://10.1.2.3/x\">https://www.bank.example/</a>\n";
        assert_eq!(run(check_https_ip_mismatch, m), 1);
        let ok = m.replace("https://www.bank.example/", "click here");
        assert_eq!(run(check_https_ip_mismatch, &ok), 0);
        assert_eq!(run(check_uri_truncated, m), 0);
    }
}
