//! HeaderEval and WLBLEval functions that read the Received trail: forged
//! freemail Received headers, Received-header removers, and whether the
//! envelope sender's domain matches the handing-over relay.

use super::{EvalCtx, EvalFn};
use crate::message::Message;
use crate::message::received::{is_match, rx};

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "check_for_fake_aol_relay_in_rcvd" => check_for_fake_aol_relay_in_rcvd,
        "gated_through_received_hdr_remover" => gated_through_received_hdr_remover,
        "check_for_forged_hotmail_received_headers" => check_for_forged_hotmail_received_headers,
        "check_for_no_hotmail_received_headers" => check_for_no_hotmail_received_headers,
        "check_for_forged_eudoramail_received_headers" => {
            check_for_forged_eudoramail_received_headers
        }
        "check_for_forged_yahoo_received_headers" => check_for_forged_yahoo_received_headers,
        "check_for_forged_juno_received_headers" => check_for_forged_juno_received_headers,
        "check_for_forged_gmail_received_headers" => check_for_forged_gmail_received_headers,
        "check_mailfrom_matches_rcvd" => check_mailfrom_matches_rcvd,
        _ => return None,
    })
}

/// SpamAssassin's `get` in scalar context: the first item (without its
/// newline) for `:addr`/`:name`-style requests and EnvelopeFrom, else all
/// items concatenated. None when nothing was found.
fn sget(msg: &Message, req: &str) -> Option<Vec<u8>> {
    let list = msg.get_list(req);
    if list.is_empty() {
        return None;
    }
    let single = req == "EnvelopeFrom"
        || [":addr", ":name", ":host", ":domain", ":ip", ":revip"]
            .iter()
            .any(|m| req.contains(m));
    if single {
        let mut v = list.into_iter().next().unwrap_or_default();
        if v.last() == Some(&b'\n') {
            v.pop();
        }
        Some(v)
    } else {
        Some(list.concat())
    }
}

/// `sget` with "" for missing.
fn sget0(msg: &Message, req: &str) -> Vec<u8> {
    sget(msg, req).unwrap_or_default()
}

/// All Received headers with whitespace runs squeezed to one space.
fn received_squeezed(msg: &Message) -> Vec<u8> {
    squeeze(&sget0(msg, "Received"))
}

fn squeeze(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut in_ws = false;
    for &b in v {
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            if !in_ws {
                out.push(b' ');
            }
            in_ws = true;
        } else {
            out.push(b);
            in_ws = false;
        }
    }
    out
}

pub fn check_for_fake_aol_relay_in_rcvd(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    let r = received_squeezed(ctx.msg);
    if is_match(rx!(r"(?i) rly-[a-z][a-z]\d\d\."), &r) {
        if is_match(rx!(r"\/AOL-\d+\.\d+\.\d+\)"), &r)
            || is_match(rx!(r"ESMTP id (?:RELAY|MAILRELAY|MAILIN)"), &r)
        {
            return 0;
        }
        return 1;
    }
    0
}

fn gated(msg: &Message) -> bool {
    if let Some(txt) = sget(msg, "Mailing-List")
        && is_match(rx!(r"(?m)^contact \S+\@\S+\; run by ezmlm$"), &txt)
    {
        let dlto = sget0(msg, "Delivered-To");
        let rcvd = sget0(msg, "Received");
        if is_match(rx!(r"(?m)^mailing list \S+\@\S+"), &dlto)
            && is_match(
                rx!(r"qmail \d+ invoked (?:from network|by .{3,20})\); \d+ ... \d+"),
                &rcvd,
            )
        {
            return true;
        }
    }
    match sget(msg, "Received") {
        None => true,
        Some(r) => is_match(rx!(r"from groups\.msn\.com \(\S+\.msn\.com "), &r),
    }
}

pub fn gated_through_received_hdr_remover(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    u32::from(gated(ctx.msg))
}

fn msn_groups(msg: &Message) -> bool {
    let to = sget0(msg, "To");
    let Some(c) = crate::message::received::caps(rx!(r"(?i)<(\S+)\@groups\.msn\.com>"), &to) else {
        return false;
    };
    let list = c.get(1).map(|m| m.as_bytes().to_vec()).unwrap_or_default();
    let rcvd = sget0(msg, "Received");
    let Some(s) = crate::message::received::caps(
        rx!(r"from mail pickup service by ((?:p\d\d\.)groups\.msn\.com)\b"),
        &rcvd,
    ) else {
        return false;
    };
    let server = s.get(1).map(|m| m.as_bytes().to_vec()).unwrap_or_default();
    let msgid = sget0(msg, "Message-Id");
    let quote = |v: &[u8]| -> String {
        v.iter()
            .map(|&b| {
                if b.is_ascii_alphanumeric() || b == b'_' {
                    (b as char).to_string()
                } else {
                    format!("\\x{{{b:02x}}}")
                }
            })
            .collect()
    };
    let compile = |p: String| crate::message::received::compile(&p);
    if list == b"notifications" {
        let re = compile(format!(r"^<\S+\@{}>", quote(&server)));
        is_match(re.as_ref(), &msgid)
    } else {
        // The list name is interpolated as a pattern in SpamAssassin; quoting
        // it only differs for names with metacharacters.
        let l = quote(&list);
        let re = compile(format!(r"^<{l}-\S+\@groups\.msn\.com>"));
        if !is_match(re.as_ref(), &msgid) {
            return false;
        }
        let env = sget0(msg, "EnvelopeFrom:addr");
        let re = compile(format!(r"{l}-bounce\@groups\.msn\.com"));
        is_match(re.as_ref(), &env)
    }
}

/// (hotmail address with forged hotmail Received, hotmail address without
/// any hotmail Received).
fn forged_hotmail(msg: &Message) -> (bool, bool) {
    let rcvd = received_squeezed(msg);
    if is_match(
        rx!(r"from mail pickup service by hotmail\.com with Microsoft SMTPSVC;"),
        &rcvd,
    ) || msn_groups(msg)
    {
        return (false, false);
    }
    let ip = sget(msg, "X-Originating-Ip").is_some_and(|v| is_match(rx!(r"${IP}"), &v));
    let orig = sget(msg, "X-OriginatorOrg")
        .is_some_and(|v| is_match(rx!(r"hotmail\.com|msonline\-outlook"), &v));
    if gated(msg) {
        return (false, false);
    }
    let legit = (ip
        && is_match(
            rx!(r"from (?:\S*\.)?hotmail.com \(\S+\.hotmail(?:\.msn)?\.com[ \)]"),
            &rcvd,
        ))
        || (orig
            && is_match(
                rx!(
                    r"from \S*\.outbound\.protection\.outlook\.com \(\S+\.outbound\.protection\.outlook\.com[ \)]"
                ),
                &rcvd,
            ))
        || (orig
            && is_match(
                rx!(r"from \S*\.(?:eur|nam)prd\d+\.prod\.outlook\.com \(${IP}\)"),
                &rcvd,
            ))
        || (ip && is_match(rx!(r"from \S*\.hotmail.com \(\[${IP}\][ \):]"), &rcvd))
        || (ip
            && is_match(
                rx!(r"from \S+ by \S+\.hotmail(?:\.msn)?\.com with HTTP\;"),
                &rcvd,
            ))
        || (ip && is_match(rx!(r"from \[66\.218.\S+\] by \S+\.yahoo\.com"), &rcvd));
    if legit {
        return (false, false);
    }
    if is_match(rx!(r"(?:from |HELO |helo=)\S*hotmail\.com\b"), &rcvd) {
        (true, false)
    } else {
        let from = sget0(msg, "From:addr");
        (false, is_match(rx!(r"(?i)\bhotmail\.com$"), &from))
    }
}

pub fn check_for_forged_hotmail_received_headers(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    u32::from(forged_hotmail(ctx.msg).0)
}

pub fn check_for_no_hotmail_received_headers(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    u32::from(forged_hotmail(ctx.msg).1)
}

pub fn check_for_forged_eudoramail_received_headers(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    let msg = ctx.msg;
    let from = sget0(msg, "From:addr");
    if !is_match(rx!(r"(?i)\beudoramail\.com$"), &from) {
        return 0;
    }
    let rcvd = received_squeezed(msg);
    let ip = sget(msg, "X-Sender-Ip").is_some_and(|v| is_match(rx!(r"${IP}"), &v));
    if gated(msg) || (ip && is_match(rx!(r"by \S*whowhere.com\;"), &rcvd)) {
        return 0;
    }
    1
}

pub fn check_for_forged_yahoo_received_headers(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    let msg = ctx.msg;
    let from = sget0(msg, "From:addr");
    if !is_match(rx!(r"(?i)\byahoo\.com$"), &from) {
        return 0;
    }
    let mut rcvd = sget0(msg, "Received");
    if !sget0(msg, "Resent-From").is_empty() && !sget0(msg, "Resent-To").is_empty() {
        let x = sget0(msg, "X-Received");
        if !x.is_empty() {
            rcvd = x;
        }
    }
    let rcvd = squeeze(&rcvd);
    if gated(msg) {
        return 0;
    }
    let relays = msg.relays();
    if is_match(rx!(r" rdns=\S+\.yahoo\.com "), &relays.trusted_str())
        || is_match(
            rx!(r"^[^\]]+ rdns=\S+\.yahoo\.com "),
            &relays.untrusted_str(),
        )
    {
        return 0;
    }
    if is_match(rx!(r"by web\S+\.mail\S*\.yahoo\.com via HTTP"), &rcvd)
        || is_match(
            rx!(r"by sonic\S+\.consmr\.mail\S*\.yahoo\.com with HTTP"),
            &rcvd,
        )
        || is_match(rx!(r"by smtp\S+\.yahoo\.com with SMTP"), &rcvd)
        || is_match(
            rx!(r"from \[${IP}\] by \S+\.(?:groups|scd|dcn)\.yahoo\.com with NNFMP"),
            &rcvd,
        )
        || (is_match(rx!(r"\bmailer\d+\.bulk\.scd\.yahoo\.com\b"), &rcvd)
            && is_match(rx!(r"(?i)\@reply\.yahoo\.com$"), &from))
        || is_match(
            rx!(r"by \w+\.\w+\.yahoo\.com \(\d+\.\d+\.\d+\/\d+\.\d+\.\d+\)(?: with ESMTP)? id \w+"),
            &rcvd,
        )
    {
        return 0;
    }
    1
}

pub fn check_for_forged_juno_received_headers(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    let msg = ctx.msg;
    let from = sget0(msg, "From:addr");
    if !is_match(rx!(r"(?i)\bjuno\.com$"), &from) || gated(msg) {
        return 0;
    }
    let xorig = sget0(msg, "X-Originating-IP");
    let xmailer = sget0(msg, "X-Mailer");
    let rcvd = sget0(msg, "Received");
    if !xorig.is_empty() {
        if !is_match(
            rx!(r"from.*\b(?:juno|untd)\.com.*[\[\(]${IP}[\]\)].*by"),
            &rcvd,
        ) && !is_match(rx!(r" cookie\.(?:juno|untd)\.com "), &rcvd)
        {
            return 1;
        }
        if !xmailer.windows(5).any(|w| w == b"Juno ") {
            return 1;
        }
    } else {
        if is_match(rx!(r"from.*\bmail\.com.*\[${IP}\].*by"), &rcvd) {
            if !is_match(rx!(r"\bmail\.com"), &xmailer) {
                return 1;
            }
        } else if is_match(
            rx!(r"from (webmail\S+\.untd\.com) \(\1 \[${IP}\]\) by"),
            &rcvd,
        ) {
            if !is_match(rx!(r"^Webmail Version \d"), &xmailer) {
                return 1;
            }
        } else {
            return 1;
        }
        if !is_match(rx!(r"${IP}"), &xorig) {
            return 1;
        }
    }
    0
}

pub fn check_for_forged_gmail_received_headers(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    let msg = ctx.msg;
    let from = sget0(msg, "From:addr");
    if !is_match(rx!(r"(?i)\bgmail\.com$"), &from) {
        return 0;
    }
    let xgms = sget0(msg, "X-Gm-Message-State");
    let xss = sget0(msg, "X-Google-Smtp-Source");
    let xreceived = sget0(msg, "X-Received");
    let received = sget0(msg, "Received");
    if is_match(rx!(r"by 10\.\S+ with SMTP id \S+"), &xreceived)
        || is_match(
            rx!(r"by 2002\:a\d\d\:\w+\:\S+ with SMTP id \S+"),
            &xreceived,
        )
        || is_match(
            rx!(r"by smtp\.googlemail\.com with ESMTPSA id \S+"),
            &received,
        )
    {
        return 0;
    }
    // Perl's length() counts characters of the decoded values.
    let chars = |v: &[u8]| String::from_utf8_lossy(v).chars().count();
    if chars(&xgms) >= 60 && chars(&xss) >= 60 {
        return 0;
    }
    1
}

/// The registrable domain of a host, as RegistryBoundaries::split_domain
/// finds it with the `util_rb_2tld`/`util_rb_3tld` lists (the US-state
/// special cases left out).
fn registrable(conf: &crate::config::Config, host: &str) -> String {
    let mut host = host.to_ascii_lowercase();
    while host.contains("..") {
        host = host.replace("..", ".");
    }
    let host = host.trim_matches('.');
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    // The registry suffix sets, lowercased once at config load (scanning
    // the raw `util_rb_*` lines here cost ~0.1 ms per message).
    let d = &conf.derived;
    let keep = if n >= 3 && d.three_level.contains(&labels[n - 3..].join(".")) {
        4
    } else if n >= 2 && d.two_level.contains(&labels[n - 2..].join(".")) {
        3
    } else {
        2
    };
    if n <= keep {
        host.to_string()
    } else {
        labels[n - keep..].join(".")
    }
}

/// The envelope sender's domain matches the rDNS of the relay that handed
/// the mail over (the last untrusted one, else any trusted one).
pub fn check_mailfrom_matches_rcvd(ctx: &EvalCtx<'_>, _: &[String]) -> u32 {
    let sender = String::from_utf8_lossy(&sget0(ctx.msg, "EnvelopeFrom:addr")).into_owned();
    if sender.is_empty() {
        return 0;
    }
    let Some((_, dom)) = sender.rsplit_once('@') else {
        return 0;
    };
    // Needs a dot with something on both sides.
    if !dom
        .char_indices()
        .any(|(i, c)| c == '.' && i > 0 && i + 1 < dom.len())
    {
        return 0;
    }
    let info = ctx.msg.relays();
    let relays: Vec<&crate::message::Relay> = if let Some(r) = info.untrusted.first() {
        vec![r]
    } else {
        info.trusted.iter().collect()
    };
    let adrd = registrable(ctx.conf, dom);
    for r in relays {
        let rdns = String::from_utf8_lossy(&r.lc_rdns()).into_owned();
        if rdns.is_empty() {
            continue;
        }
        if registrable(ctx.conf, &rdns) == adrd {
            return 1;
        }
    }
    0
}

/// Oracle comparison helper: `RELAY_DUMP=files.txt RELAY_DUMP_DIR=corpus
/// cargo test -p spamcore --lib dump_relay_evals -- --ignored` writes one
/// 0/1 column per function (same order as the Perl dump script).
#[cfg(test)]
mod dump {
    use crate::config::{Config, Sources};
    use crate::eval::{EvalCtx, lookup};
    use crate::message::Message;

    #[test]
    #[ignore]
    fn dump_relay_evals() {
        let (Ok(list), Ok(dir)) = (std::env::var("RELAY_DUMP"), std::env::var("RELAY_DUMP_DIR"))
        else {
            return;
        };
        let conf = Config::load(&Sources {
            rules_dir: Some("/usr/share/spamassassin".into()),
            site_dir: Some("/etc/spamassassin".into()),
            local_tests_only: true,
            ..Default::default()
        });
        let opts = conf.message_options();
        let names = [
            "check_all_trusted",
            "check_no_relays",
            "check_relays_unparseable",
            "helo_ip_mismatch",
            "check_for_no_rdns_dotcom_helo",
            "check_for_forged_received_trail",
            "check_for_sender_no_reverse",
            "check_for_numeric_helo",
            "check_for_fake_aol_relay_in_rcvd",
            "gated_through_received_hdr_remover",
            "check_for_forged_hotmail_received_headers",
            "check_for_no_hotmail_received_headers",
            "check_for_forged_eudoramail_received_headers",
            "check_for_forged_yahoo_received_headers",
            "check_for_forged_juno_received_headers",
            "check_for_forged_gmail_received_headers",
            "check_mailfrom_matches_rcvd",
        ];
        let fns: Vec<_> = names.iter().filter_map(|n| lookup(n)).collect();
        assert_eq!(fns.len(), names.len());
        let files = std::fs::read_to_string(list).unwrap_or_default();
        let mut out = String::new();
        for f in files.lines() {
            let Ok(raw) = std::fs::read(format!("{dir}/{f}")) else {
                continue;
            };
            let msg = Message::parse_with(&raw, &opts);
            let ctx = EvalCtx {
                msg: &msg,
                conf: &conf,
                bayes: None,
            };
            let bits: String = fns
                .iter()
                .map(|f| if f(&ctx, &[]) > 0 { '1' } else { '0' })
                .collect();
            out.push_str(&format!("{f}\t{bits}\n"));
        }
        let _ = std::fs::write("/tmp/relays/ours_eval.tsv", out);
    }
}
