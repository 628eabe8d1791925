//! The eval functions of SpamAssassin's SPF, DKIM and DMARC plugins. They
//! read what `crate::auth` found for the message (`Message::auth`); a
//! message that was not checked (local tests only, `dns_available no`)
//! hits none of them, as in SpamAssassin.

use super::wlbl::addr_matches;
use super::{EvalCtx, EvalFn};
use crate::config::Config;
use crate::message::auth::{AuthFacts, SpfOutcome};

fn facts<'a>(ctx: &'a EvalCtx<'_>) -> Option<&'a AuthFacts> {
    ctx.msg.auth()
}

fn spf_is(ctx: &EvalCtx<'_>, want: SpfOutcome) -> u32 {
    u32::from(facts(ctx).is_some_and(|f| f.spf == Some(want)))
}

fn helo_is(ctx: &EvalCtx<'_>, want: SpfOutcome) -> u32 {
    u32::from(facts(ctx).is_some_and(|f| f.spf_helo == Some(want)))
}

fn spf_pass(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    spf_is(c, SpfOutcome::Pass)
}
fn spf_neutral(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    spf_is(c, SpfOutcome::Neutral)
}
fn spf_none(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    spf_is(c, SpfOutcome::None)
}
fn spf_fail(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    spf_is(c, SpfOutcome::Fail)
}
fn spf_softfail(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    spf_is(c, SpfOutcome::SoftFail)
}
fn spf_permerror(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    spf_is(c, SpfOutcome::PermError)
}
fn spf_temperror(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    spf_is(c, SpfOutcome::TempError)
}
fn helo_pass(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    helo_is(c, SpfOutcome::Pass)
}
fn helo_neutral(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    helo_is(c, SpfOutcome::Neutral)
}
fn helo_none(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    helo_is(c, SpfOutcome::None)
}
fn helo_fail(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    helo_is(c, SpfOutcome::Fail)
}
fn helo_softfail(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    helo_is(c, SpfOutcome::SoftFail)
}
fn helo_permerror(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    helo_is(c, SpfOutcome::PermError)
}
fn helo_temperror(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    helo_is(c, SpfOutcome::TempError)
}

/// `check_spf_skipped_noenvfrom`: SPF could not run for want of a sender.
fn spf_skipped_noenvfrom(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    u32::from(facts(c).is_some_and(|f| f.spf_sender.is_none()))
}

/// Addresses of a list setting and its old `whitelist` spelling, minus
/// the `un...` removals, lower-cased.
fn addr_list(conf: &Config, keys: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in keys {
        for line in conf.lists.get(*k).into_iter().flatten() {
            for a in line.split_whitespace() {
                let a = a.to_lowercase();
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
    }
    for k in keys {
        for line in conf.lists.get(&format!("un{k}")).into_iter().flatten() {
            for a in line.split_whitespace() {
                let a = a.to_lowercase();
                out.retain(|x| *x != a);
            }
        }
    }
    out
}

fn spf_listed(c: &EvalCtx<'_>, lists: &[&str]) -> u32 {
    let Some(f) = facts(c) else { return 0 };
    if f.spf != Some(SpfOutcome::Pass) {
        return 0;
    }
    let Some(sender) = &f.spf_sender else {
        return 0;
    };
    u32::from(
        addr_list(c.conf, lists)
            .iter()
            .any(|g| addr_matches(g, sender)),
    )
}

fn spf_welcomelist(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    spf_listed(
        c,
        &[
            "welcomelist_from_spf",
            "whitelist_from_spf",
            "welcomelist_auth",
            "whitelist_auth",
        ],
    )
}

fn def_spf_welcomelist(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    spf_listed(
        c,
        &[
            "def_welcomelist_from_spf",
            "def_whitelist_from_spf",
            "def_welcomelist_auth",
            "def_whitelist_auth",
        ],
    )
}

/// Does `sdid` match an acceptable-domain argument (`example.com` exactly,
/// `.example.com` or `*.example.com` for the domain and its subdomains)?
fn domain_arg_matches(arg: &str, sdid: &str) -> bool {
    let arg = arg.trim().trim_matches(['\'', '"']);
    if let Some(d) = arg.strip_prefix("*.").or_else(|| arg.strip_prefix('.')) {
        let d = d.to_lowercase();
        sdid == d || sdid.ends_with(&format!(".{d}"))
    } else {
        sdid.eq_ignore_ascii_case(arg)
    }
}

/// SpamAssassin's `_check_dkim_signed_by`.
fn signed_by(
    f: &AuthFacts,
    min_bits: u32,
    must_be_valid: bool,
    author: bool,
    doms: &[String],
) -> bool {
    f.dkim_signatures.iter().any(|s| {
        if must_be_valid && (!s.valid || (min_bits > 0 && s.key_bits.is_some_and(|b| b < min_bits)))
        {
            return false;
        }
        let Some(sdid) = &s.sdid else { return false };
        if author && !f.dkim_author_domains.contains(sdid) {
            return false;
        }
        doms.is_empty() || doms.iter().any(|d| domain_arg_matches(d, sdid))
    })
}

fn min_bits(conf: &Config) -> u32 {
    conf.settings
        .get("dkim_minimum_key_bits")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1024)
}

fn dkim_signed(c: &EvalCtx<'_>, args: &[String]) -> u32 {
    let Some(f) = facts(c) else { return 0 };
    if !f.dkim_signed() {
        return 0;
    }
    u32::from(args.is_empty() || signed_by(f, min_bits(c.conf), false, false, args))
}

/// `check_arc_signed`: any ARC signature. SpamAssassin 4.0.1 takes
/// acceptable domains as arguments but never matches them: with any, no hit.
fn arc_signed(c: &EvalCtx<'_>, args: &[String]) -> u32 {
    u32::from(args.is_empty() && facts(c).is_some_and(|f| f.arc_signed))
}

/// `check_arc_valid`: one ARC signature verified (same argument rule).
fn arc_valid(c: &EvalCtx<'_>, args: &[String]) -> u32 {
    u32::from(args.is_empty() && facts(c).is_some_and(|f| f.arc_valid))
}

fn dkim_valid(c: &EvalCtx<'_>, args: &[String]) -> u32 {
    let Some(f) = facts(c) else { return 0 };
    if !f.dkim_valid() {
        return 0;
    }
    u32::from(args.is_empty() || signed_by(f, min_bits(c.conf), true, false, args))
}

fn dkim_valid_author_sig(c: &EvalCtx<'_>, args: &[String]) -> u32 {
    let Some(f) = facts(c) else { return 0 };
    if f.dkim_valid_author_domains.is_empty() {
        return 0;
    }
    u32::from(signed_by(f, min_bits(c.conf), true, true, args))
}

fn dkim_valid_envelopefrom(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    let Some(f) = facts(c) else { return 0 };
    let Some(env) = c.msg.envelope_from() else {
        return 0;
    };
    let Some((_, dom)) = env.split_once('@') else {
        return 0;
    };
    let dom: String = dom.split_whitespace().next().unwrap_or("").to_lowercase();
    if dom.is_empty() || !f.dkim_valid() {
        return 0;
    }
    u32::from(signed_by(f, min_bits(c.conf), true, false, &[dom]))
}

fn dkim_dependable(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    u32::from(facts(c).is_some_and(|f| f.dkim_ready && f.dkim_dependable))
}

/// `check_dkim_adsp(codes, [domains])`: an author domain without a valid
/// author signature whose ADSP (published, probed or overridden) is one of
/// `codes` (`*` = any of `NAD123`).
fn dkim_adsp(c: &EvalCtx<'_>, args: &[String]) -> u32 {
    let Some(f) = facts(c) else { return 0 };
    if !f.dkim_ready {
        return 0;
    }
    let Some(want) = args.first() else { return 0 };
    let want = want.trim_matches(['\'', '"']);
    let want = if want == "*" { "NAD123" } else { want };
    if !f.dkim_adsp.values().any(|code| want.contains(*code)) {
        return 0;
    }
    let doms = &args[1..];
    if doms.is_empty() {
        return 1;
    }
    u32::from(doms.iter().any(|d| {
        let d = d.trim_matches(['\'', '"']);
        if let Some(base) = d.strip_prefix("*.").or_else(|| d.strip_prefix('.')) {
            let base = base.to_lowercase();
            f.dkim_author_domains
                .iter()
                .any(|a| *a == base || a.ends_with(&format!(".{base}")))
        } else {
            f.dkim_author_domains.contains(&d.to_lowercase())
        }
    }))
}

fn dkim_signall(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    dkim_adsp(c, &["A".to_string()])
}

fn zero(_: &EvalCtx<'_>, _: &[String]) -> u32 {
    0
}

/// `welcomelist_from_dkim author [sdid]` / `welcomelist_auth author`
/// entries: (author glob, required signing domain; None = the author's own
/// domain).
fn dkim_entries(conf: &Config, keys: &[&str], with_sdid: bool) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for k in keys {
        for line in conf.lists.get(*k).into_iter().flatten() {
            let mut it = line.split_whitespace();
            if with_sdid {
                if let Some(a) = it.next() {
                    out.push((a.to_lowercase(), it.next().map(str::to_lowercase)));
                }
            } else {
                out.extend(it.map(|a| (a.to_lowercase(), None)));
            }
        }
    }
    out
}

fn dkim_listed(c: &EvalCtx<'_>, from_dkim: &[&str], auth: &[&str]) -> u32 {
    let Some(f) = facts(c) else { return 0 };
    let min = min_bits(c.conf);
    let mut entries = dkim_entries(c.conf, from_dkim, true);
    entries.extend(dkim_entries(c.conf, auth, false));
    for author in &f.dkim_authors {
        let author = author.to_lowercase();
        let adom = author.rsplit_once('@').map(|(_, d)| d.to_string());
        for (glob, sdid) in &entries {
            if !addr_matches(glob, &author) {
                continue;
            }
            let Some(want) = sdid.clone().or_else(|| adom.clone()) else {
                continue;
            };
            let ok = f.dkim_signatures.iter().any(|s| {
                s.valid
                    && !(min > 0 && s.key_bits.is_some_and(|b| b < min))
                    && s.sdid
                        .as_deref()
                        .is_some_and(|d| domain_arg_matches(&want, d))
            });
            if ok {
                return 1;
            }
        }
    }
    0
}

fn dkim_welcomelist(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    dkim_listed(
        c,
        &["welcomelist_from_dkim", "whitelist_from_dkim"],
        &["welcomelist_auth", "whitelist_auth"],
    )
}

fn def_dkim_welcomelist(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    dkim_listed(
        c,
        &["def_welcomelist_from_dkim", "def_whitelist_from_dkim"],
        &["def_welcomelist_auth", "def_whitelist_auth"],
    )
}

fn dmarc_is(c: &EvalCtx<'_>, result: &str, policy: Option<&str>) -> u32 {
    let Some((r, p)) = facts(c).and_then(|f| f.dmarc.as_ref()) else {
        return 0;
    };
    u32::from(match policy {
        Some(want) => r == result && p == want,
        None => r == result && p != "no policy available",
    })
}

fn dmarc_pass(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    dmarc_is(c, "pass", None)
}
fn dmarc_reject(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    dmarc_is(c, "fail", Some("reject"))
}
fn dmarc_quarantine(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    dmarc_is(c, "fail", Some("quarantine"))
}
fn dmarc_none(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    dmarc_is(c, "fail", Some("none"))
}
fn dmarc_missing(c: &EvalCtx<'_>, _: &[String]) -> u32 {
    u32::from(
        facts(c)
            .and_then(|f| f.dmarc.as_ref())
            .is_some_and(|(_, p)| p == "no policy available"),
    )
}

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "check_for_spf_pass" => spf_pass,
        "check_for_spf_neutral" => spf_neutral,
        "check_for_spf_none" => spf_none,
        "check_for_spf_fail" => spf_fail,
        "check_for_spf_softfail" => spf_softfail,
        "check_for_spf_permerror" => spf_permerror,
        "check_for_spf_temperror" => spf_temperror,
        "check_for_spf_helo_pass" => helo_pass,
        "check_for_spf_helo_neutral" => helo_neutral,
        "check_for_spf_helo_none" => helo_none,
        "check_for_spf_helo_fail" => helo_fail,
        "check_for_spf_helo_softfail" => helo_softfail,
        "check_for_spf_helo_permerror" => helo_permerror,
        "check_for_spf_helo_temperror" => helo_temperror,
        "check_spf_skipped_noenvfrom" => spf_skipped_noenvfrom,
        "check_for_spf_welcomelist_from" | "check_for_spf_whitelist_from" => spf_welcomelist,
        "check_for_def_spf_welcomelist_from" | "check_for_def_spf_whitelist_from" => {
            def_spf_welcomelist
        }
        "check_dkim_signed" => dkim_signed,
        "check_dkim_valid" | "check_dkim_verified" => dkim_valid,
        "check_dkim_valid_author_sig" => dkim_valid_author_sig,
        "check_dkim_valid_envelopefrom" => dkim_valid_envelopefrom,
        "check_dkim_dependable" => dkim_dependable,
        "check_dkim_adsp" => dkim_adsp,
        "check_dkim_signall" => dkim_signall,
        // Semantically always true, so SpamAssassin answers false.
        "check_dkim_signsome" => zero,
        // Mail::DKIM never reports a testing key to SpamAssassin 4.0.1.
        "check_dkim_testing" => zero,
        "check_for_dkim_welcomelist_from" | "check_for_dkim_whitelist_from" => dkim_welcomelist,
        "check_for_def_dkim_welcomelist_from" | "check_for_def_dkim_whitelist_from" => {
            def_dkim_welcomelist
        }
        "check_arc_signed" => arc_signed,
        "check_arc_valid" => arc_valid,
        "check_dmarc_pass" => dmarc_pass,
        "check_dmarc_reject" => dmarc_reject,
        "check_dmarc_quarantine" => dmarc_quarantine,
        "check_dmarc_none" => dmarc_none,
        "check_dmarc_missing" => dmarc_missing,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::message::auth::DkimSignature;

    const MSG: &str = "Received: from mx.sender.test (mx.sender.test [192.0.2.10])\n\tby mail.rcpt.test with ESMTP id 1; Mon, 1 Jan 2024 00:00:00 +0000\nFrom: Ann <ann@sender.test>\nTo: bob@rcpt.test\nSubject: hi\n\nbody\n";

    fn run(f: EvalFn, facts: AuthFacts, args: &[&str]) -> u32 {
        let conf = Config::default();
        let msg = Message::parse(MSG.as_bytes());
        msg.set_auth(facts);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        f(
            &EvalCtx {
                msg: &msg,
                conf: &conf,
                bayes: None,
            },
            &args,
        )
    }

    fn sig(sdid: &str, valid: bool, bits: Option<u32>) -> DkimSignature {
        DkimSignature {
            sdid: Some(sdid.into()),
            domain: sdid.into(),
            selector: "s1".into(),
            valid,
            key_bits: bits,
        }
    }

    #[test]
    fn unchecked_message_hits_nothing() {
        let conf = Config::default();
        let msg = Message::parse(MSG.as_bytes());
        let ctx = EvalCtx {
            msg: &msg,
            conf: &conf,
            bayes: None,
        };
        for name in [
            "check_for_spf_pass",
            "check_dkim_signed",
            "check_dmarc_missing",
            "check_arc_signed",
            "check_arc_valid",
        ] {
            assert_eq!(lookup(name).unwrap()(&ctx, &[]), 0, "{name}");
        }
    }

    #[test]
    fn spf_results_map_to_one_rule_each() {
        let f = AuthFacts {
            spf: Some(SpfOutcome::SoftFail),
            spf_helo: Some(SpfOutcome::Pass),
            ..Default::default()
        };
        assert_eq!(run(spf_softfail, f.clone(), &[]), 1);
        assert_eq!(run(spf_fail, f.clone(), &[]), 0);
        assert_eq!(run(helo_pass, f.clone(), &[]), 1);
        assert_eq!(run(helo_none, f, &[]), 0);
    }

    #[test]
    fn dkim_key_size_rules() {
        let mut f = AuthFacts {
            dkim_signatures: vec![sig("sender.test", true, Some(512))],
            dkim_author_domains: ["sender.test".to_string()].into(),
            ..Default::default()
        };
        // Valid whatever the size, but not for a domain-restricted check
        // nor as an author signature.
        assert_eq!(run(dkim_valid, f.clone(), &[]), 1);
        assert_eq!(run(dkim_valid, f.clone(), &["sender.test"]), 0);
        assert_eq!(run(dkim_signed, f.clone(), &["sender.test"]), 1);
        assert_eq!(run(dkim_valid_author_sig, f.clone(), &[]), 0);
        f.dkim_signatures = vec![sig("mail.sender.test", true, Some(2048))];
        f.dkim_valid_author_domains = ["sender.test".to_string()].into();
        assert_eq!(run(dkim_valid, f.clone(), &[".sender.test"]), 1);
        assert_eq!(run(dkim_valid, f.clone(), &["sender.test"]), 0);
        assert_eq!(run(dkim_valid, f, &["*.sender.test"]), 1);
    }

    #[test]
    fn dmarc_words() {
        let f = |r: &str, p: &str| AuthFacts {
            dmarc: Some((r.into(), p.into())),
            ..Default::default()
        };
        assert_eq!(run(dmarc_pass, f("pass", "reject"), &[]), 1);
        assert_eq!(run(dmarc_reject, f("pass", "reject"), &[]), 0);
        assert_eq!(run(dmarc_reject, f("fail", "reject"), &[]), 1);
        assert_eq!(run(dmarc_quarantine, f("fail", "quarantine"), &[]), 1);
        assert_eq!(run(dmarc_none, f("fail", "none"), &[]), 1);
        assert_eq!(run(dmarc_missing, f("none", "no policy available"), &[]), 1);
        assert_eq!(run(dmarc_pass, f("pass", "no policy available"), &[]), 0);
    }
}
