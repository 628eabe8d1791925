//! URIEval / HTTPSMismatch: tests on the links of HTML parts.

use std::sync::LazyLock;

use regex::Regex;

use super::{EvalCtx, EvalFn};

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "check_uri_truncated" => check_uri_truncated,
        "check_https_ip_mismatch" => check_https_ip_mismatch,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::message::Message;

    fn run(f: EvalFn, raw: &str) -> u32 {
        let msg = Message::parse(raw.as_bytes());
        let conf = Config::from_text("t", "");
        f(
            &EvalCtx {
                msg: &msg,
                conf: &conf,
                bayes: None,
            },
            &[],
        )
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
