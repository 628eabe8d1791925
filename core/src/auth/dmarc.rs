//! DMARC as SpamAssassin's DMARC plugin decides it with Mail::DMARC's
//! PurePerl validator: the author domain must exist in DNS, the policy is
//! looked up at the author domain and then at its organizational domain,
//! SPF aligns through the envelope-sender result (or, failing that, the
//! HELO one), DKIM through any valid signature, and the outcome becomes
//! SpamAssassin's (result, policy) pair.

use hickory_resolver::proto::rr::{RData, RecordType};
use mail_auth::MessageAuthenticator;

use super::{AuthOptions, Input};
use crate::message::auth::{AuthFacts, SealResult, SpfOutcome, is_known_tld};

/// No usable policy: what SpamAssassin calls the policy then.
const NO_POLICY: &str = "no policy available";

/// The tags of a DMARC record that the decision reads.
#[derive(Debug, Default, Clone, PartialEq)]
struct Policy {
    p: Option<String>,
    sp: Option<String>,
    adkim: Option<String>,
    aspf: Option<String>,
    /// `pct`, as Perl reads the number (Mail::DMARC does not check it).
    pct: Option<f64>,
}

/// Perl's numeric value of a string: its leading decimal number, else 0.
fn perl_number(v: &str) -> f64 {
    let v = v.trim_start();
    let mut end = 0;
    let mut seen_dot = false;
    for (i, c) in v.char_indices() {
        match c {
            '0'..='9' => end = i + 1,
            '.' if !seen_dot => seen_dot = true,
            '+' | '-' if i == 0 => {}
            _ => break,
        }
    }
    v[..end].parse().unwrap_or(0.0)
}

/// A number in 0..100, fresh for each message, as Perl's `int(rand(100))`.
fn percent_roll() -> f64 {
    use std::hash::BuildHasher;
    let h = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    (h % 100) as f64
}

fn parse_policy(rec: &str) -> Policy {
    let mut p = Policy::default();
    for tag in rec.split(';') {
        let Some((k, v)) = tag.split_once('=') else {
            continue;
        };
        let v = v.trim().to_ascii_lowercase();
        match k.trim().to_ascii_lowercase().as_str() {
            "p" => p.p = Some(v),
            "sp" => p.sp = Some(v),
            "adkim" => p.adkim = Some(v),
            "aspf" => p.aspf = Some(v),
            "pct" => p.pct = Some(perl_number(&v)),
            _ => {}
        }
    }
    p
}

fn valid_p(p: &str) -> bool {
    matches!(p, "none" | "quarantine" | "reject")
}

/// Whether `name` has any record of `rtype`.
async fn has_rr(auth: &MessageAuthenticator, name: &str, rtype: RecordType) -> bool {
    auth.0
        .lookup(format!("{name}."), rtype)
        .await
        .is_ok_and(|l| l.answers().iter().any(|r| r.record_type() == rtype))
}

/// The DMARC records at `_dmarc.<zone>`.
async fn records(auth: &MessageAuthenticator, zone: &str) -> Vec<String> {
    let Ok(l) = auth
        .0
        .lookup(format!("_dmarc.{zone}."), RecordType::TXT)
        .await
    else {
        return Vec::new();
    };
    l.answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => {
                let s: Vec<u8> = t.txt_data.iter().flat_map(|p| p.iter().copied()).collect();
                Some(String::from_utf8_lossy(&s).into_owned())
            }
            _ => None,
        })
        .filter(|s| {
            s.get(..8)
                .is_some_and(|v| v.eq_ignore_ascii_case("v=dmarc1"))
        })
        .collect()
}

fn aligned(opts: &AuthOptions, a: &str, b: &str, strict: bool) -> bool {
    a == b || (!strict && opts.org_domain(a) == opts.org_domain(b))
}

/// SpamAssassin's SPF result words as it hands them to Mail::DMARC.
fn spf_word(o: Option<SpfOutcome>) -> &'static str {
    match o {
        Some(SpfOutcome::Pass) => "pass",
        Some(SpfOutcome::Fail | SpfOutcome::PermError | SpfOutcome::None) => "fail",
        Some(SpfOutcome::Neutral) => "neutral",
        Some(SpfOutcome::SoftFail) => "softfail",
        _ => "none",
    }
}

/// `(result, policy)` as SpamAssassin stores them, or None when DMARC is
/// not evaluated (no external relay, no author address).
///
/// When the result is not a pass and the message has an ARC-Seal,
/// SpamAssassin asks again with the lowest-instance seal's own result
/// added as a DKIM result of the envelope-sender domain (when that domain
/// is an author domain): a seal that verifies, whoever made it, can turn
/// a failure into a pass; a seal Mail::DKIM never checked (no result)
/// makes Mail::DMARC die, and no DMARC rule hits.
pub async fn check(
    auth: &MessageAuthenticator,
    opts: &AuthOptions,
    input: &Input,
    facts: &AuthFacts,
) -> Option<(String, String)> {
    let first = decide(auth, opts, input, facts, false).await?;
    if first.0 == "pass" {
        return Some(first);
    }
    let Some(seal) = facts.arc_first_seal else {
        return Some(first);
    };
    let mfrom_dom = mfrom_domain(input)?;
    if !facts.dkim_author_domains.contains(&mfrom_dom) {
        return Some(first);
    }
    match seal {
        SealResult::Unchecked => None,
        SealResult::Fail => Some(first),
        SealResult::Pass => decide(auth, opts, input, facts, true).await,
    }
}

/// The From domain Mail::DMARC is given, when it accepts it.
fn from_domain(input: &Input) -> Option<String> {
    let from = input.from_first.as_ref()?;
    let (_, from_dom) = from.rsplit_once('@')?;
    let from_dom = from_dom.trim().to_lowercase();
    // Mail::DMARC's is_valid_domain: a known top-level domain, else it
    // dies and SpamAssassin records nothing.
    let tld = from_dom.rsplit('.').next().unwrap_or("");
    if from_dom.is_empty() || !from_dom.contains('.') || !is_known_tld(tld) {
        return None;
    }
    Some(from_dom)
}

/// The envelope sender's domain, else the From domain.
fn mfrom_domain(input: &Input) -> Option<String> {
    let from_dom = from_domain(input)?;
    Some(
        input
            .envelope_from
            .clone()
            .and_then(|e| e.rsplit_once('@').map(|(_, d)| d.to_lowercase()))
            .unwrap_or(from_dom),
    )
}

/// One Mail::DMARC validation; `arc_pass`: the envelope-sender domain also
/// has a passing DKIM result (the ARC retry).
async fn decide(
    auth: &MessageAuthenticator,
    opts: &AuthOptions,
    input: &Input,
    facts: &AuthFacts,
    arc_pass: bool,
) -> Option<(String, String)> {
    let relay = input.relay.as_ref()?;
    let from_dom = from_domain(input)?;
    let mfrom_dom = mfrom_domain(input)?;
    let helo_dom = relay.helo.to_lowercase();

    // 9.6: the author domain (or its organizational domain) must exist.
    let org = opts.org_domain(&from_dom);
    let mut todo = vec![from_dom.clone()];
    if org != from_dom {
        todo.push(org.clone());
    }
    let mut exists = false;
    'outer: for d in &todo {
        for t in [
            RecordType::MX,
            RecordType::NS,
            RecordType::A,
            RecordType::AAAA,
        ] {
            if has_rr(auth, d, t).await {
                exists = true;
                break 'outer;
            }
        }
    }
    if !exists {
        return Some(("none".into(), NO_POLICY.into()));
    }

    // Policy discovery: the author domain, then the organizational domain.
    let mut recs = records(auth, &from_dom).await;
    let mut is_subdomain = false;
    if recs.is_empty() && org != from_dom {
        recs = records(auth, &org).await;
        is_subdomain = true;
    }
    if recs.is_empty() {
        return Some(("none".into(), NO_POLICY.into()));
    }
    if recs.len() > 1 {
        return Some(("fail".into(), NO_POLICY.into()));
    }
    let pol = parse_policy(&recs[0]);
    let Some(p) = pol.p.clone().filter(|p| valid_p(p)) else {
        return Some(("fail".into(), "none".into()));
    };
    if pol.sp.as_deref().is_some_and(|sp| !valid_p(sp)) {
        return Some(("fail".into(), "none".into()));
    }

    let dkim_strict = pol.adkim.as_deref() == Some("s");
    let dkim_ok = facts
        .dkim_signatures
        .iter()
        .filter(|s| s.valid)
        .any(|s| aligned(opts, &s.domain.to_lowercase(), &from_dom, dkim_strict))
        || (arc_pass && aligned(opts, &mfrom_dom, &from_dom, dkim_strict));
    let spf_strict = pol.aspf.as_deref() == Some("s");
    let spf_dom = if spf_word(facts.spf) == "pass" {
        Some(mfrom_dom.as_str())
    } else if spf_word(facts.spf_helo) == "pass" {
        Some(helo_dom.as_str())
    } else {
        None
    };
    let spf_ok = spf_dom.is_some_and(|d| !d.is_empty() && aligned(opts, d, &from_dom, spf_strict));
    if dkim_ok || spf_ok {
        return Some(("pass".into(), p));
    }
    let effective = match (&pol.sp, is_subdomain) {
        (Some(sp), true) => sp.clone(),
        _ => p,
    };
    // 7.1 (Mail::DMARC): with pct, the policy applies to that share of the
    // failing messages; the others get the next milder one.
    let effective = match pol.pct {
        Some(pct) if effective != "none" && percent_roll() >= pct => {
            if effective == "reject" {
                "quarantine".to_string()
            } else {
                "none".to_string()
            }
        }
        _ => effective,
    };
    Some(("fail".into(), effective))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_tags() {
        let p = parse_policy("v=DMARC1; p=Reject; sp=none; adkim=s; rua=mailto:x@y");
        assert_eq!(p.p.as_deref(), Some("reject"));
        assert_eq!(p.sp.as_deref(), Some("none"));
        assert_eq!(p.adkim.as_deref(), Some("s"));
        assert!(valid_p("quarantine") && !valid_p("bogus"));
        assert_eq!(parse_policy("v=DMARC1; p=reject; pct=0").pct, Some(0.0));
        assert_eq!(perl_number("50%"), 50.0);
        assert_eq!(perl_number("x"), 0.0);
        assert!((0.0..100.0).contains(&percent_roll()));
        let mut conf = crate::config::Config::default();
        let opts = AuthOptions::from_config(&conf);
        assert!(aligned(&opts, "mail.example.com", "example.com", false));
        assert!(!aligned(&opts, "mail.example.com", "example.com", true));
        // With registry boundaries (as 20_aux_tlds.cf gives), a name under
        // a listed two-label suffix is its own organizational domain.
        conf.derived.two_level.insert("mine.nu".into());
        let opts = AuthOptions::from_config(&conf);
        assert_eq!(opts.org_domain("torb.mine.nu"), "torb.mine.nu");
        assert_eq!(opts.org_domain("a.b.example.com"), "example.com");
        assert!(!aligned(&opts, "torb.mine.nu", "other.mine.nu", false));
    }
}
