//! SPF as SpamAssassin's SPF plugin runs it: results re-used from
//! `Received-SPF`/`Authentication-Results` headers that internal hosts added,
//! else Mail::SPF-style checks of the first external relay's IP against the
//! envelope sender (`mfrom`) and the relay's HELO name (`helo`).

use std::net::IpAddr;
use std::sync::OnceLock;

use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{MessageAuthenticator, SpfResult};
use regex::Regex;

use super::AuthOptions;
use super::Input;
use crate::message::auth::SpfOutcome;

/// What the SPF checks found.
#[derive(Debug, Default)]
pub struct SpfFacts {
    pub sender: Option<String>,
    pub mfrom: Option<SpfOutcome>,
    pub helo: Option<SpfOutcome>,
    pub failure_comment: Option<String>,
}

/// SpamAssassin's `_get_sender`: the envelope sender the first external
/// relay recorded; else, unless trusted relays may have rewritten it, the
/// envelope sender from the headers (Return-Path, X-Envelope-From ...).
pub fn sender(input: &Input, opts: &AuthOptions) -> Option<String> {
    if let Some(e) = input.relay.as_ref().and_then(|r| r.envfrom.as_ref()) {
        return Some(e.to_lowercase());
    }
    if input.trusted_relays > 0 && !opts.always_trust_envelope_sender {
        return None;
    }
    input
        .envelope_from
        .clone()
        .filter(|e| !e.is_empty())
        .map(|e| e.to_lowercase())
}

fn received_spf_re() -> &'static (Regex, Regex, Regex) {
    static RE: OnceLock<(Regex, Regex, Regex)> = OnceLock::new();
    RE.get_or_init(|| {
        let compile = |p: &str| Regex::new(p).unwrap_or_else(|_| Regex::new("$^").expect("empty"));
        (
            compile(
                r"(?i)^received-spf:\s*(pass|neutral|(?:soft)?fail|(?:temp|perm)error|none)\b(?:.*\bidentity=(\S+?);?\b)?",
            ),
            compile(r"(?i)^(?:Arc-)?Authentication-Results:.*;\s*SPF\s*=\s*([^;]*)"),
            compile(
                r"(?i)^(pass|neutral|(?:hard|soft)?fail|(?:temp|perm)error|none)(?:[^;]*?\bsmtp\.(\S+)\s*=[^;]+)?",
            ),
        )
    })
}

/// Which identity a header result is for: Some(false) mfrom, Some(true)
/// helo, None unknown (the header is skipped).
fn identity(id: Option<&str>) -> Option<bool> {
    match id.map(|s| s.to_ascii_lowercase()) {
        None => Some(false),
        Some(s) if s == "mfrom" || s == "mailfrom" => Some(false),
        Some(s) if s == "helo" => Some(true),
        Some(_) => None,
    }
}

/// Results re-used from headers internal hosts added (earliest first
/// unless `use_newest_received_spf_header`).
fn from_headers(input: &Input, opts: &AuthOptions, f: &mut SpfFacts) -> (bool, bool) {
    let (mut mfrom_done, mut helo_done) = (false, false);
    if opts.ignore_received_spf_header {
        return (false, false);
    }
    let (rspf, ar, ar_val) = received_spf_re();
    let mut hdrs: Vec<String> = input.internal_headers.clone();
    if !opts.use_newest_received_spf_header {
        hdrs.reverse();
    }
    for hdr in &hdrs {
        let found = if let Some(c) = rspf.captures(hdr) {
            Some((c[1].to_string(), c.get(2).map(|m| m.as_str().to_string())))
        } else if let Some(c) = ar.captures(hdr) {
            let v = c[1].to_string();
            ar_val
                .captures(&v)
                .map(|c| (c[1].to_string(), c.get(2).map(|m| m.as_str().to_string())))
        } else {
            None
        };
        let Some((word, id)) = found else { continue };
        let Some(is_helo) = identity(id.as_deref()) else {
            continue;
        };
        let outcome = SpfOutcome::from_word(&word);
        if is_helo {
            if helo_done {
                continue;
            }
            helo_done = true;
            f.helo = outcome;
        } else {
            if mfrom_done {
                continue;
            }
            mfrom_done = true;
            f.mfrom = outcome;
        }
        if mfrom_done && helo_done {
            break;
        }
    }
    (mfrom_done, helo_done)
}

fn outcome(r: SpfResult) -> SpfOutcome {
    match r {
        SpfResult::Pass => SpfOutcome::Pass,
        SpfResult::Fail => SpfOutcome::Fail,
        SpfResult::SoftFail => SpfOutcome::SoftFail,
        SpfResult::Neutral => SpfOutcome::Neutral,
        SpfResult::TempError => SpfOutcome::TempError,
        SpfResult::PermError => SpfOutcome::PermError,
        SpfResult::None => SpfOutcome::None,
    }
}

/// One check_host run under `spf_timeout`. None on timeout (SpamAssassin
/// records no result then).
async fn run(
    auth: &MessageAuthenticator,
    opts: &AuthOptions,
    ip: IpAddr,
    helo: &str,
    sender: Option<&str>,
) -> Option<SpfOutcome> {
    let domain = match sender {
        Some(s) => s.rsplit_once('@').map_or(helo, |(_, d)| d),
        None => helo,
    };
    let fut = async {
        // Mail::SPF reads the whole record before evaluating it: a server
        // failure is a temporary error, and more than one record or a term
        // it does not know is a permanent one. mail-auth folds DNS error
        // codes into "no record" and skips unknown terms, so check first.
        match auth.0.lookup(format!("{domain}."), RecordType::TXT).await {
            Ok(l) => {
                let recs: Vec<String> = l
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::TXT(t) => Some(
                            String::from_utf8_lossy(
                                &t.txt_data
                                    .iter()
                                    .flat_map(|p| p.iter().copied())
                                    .collect::<Vec<u8>>(),
                            )
                            .into_owned(),
                        ),
                        _ => None,
                    })
                    .filter(|t| is_spf1(t))
                    .collect();
                if recs.len() > 1 || recs.first().is_some_and(|r| !record_syntax_ok(r)) {
                    return SpfOutcome::PermError;
                }
            }
            Err(NetError::Dns(DnsError::NoRecordsFound(nr)))
                if matches!(
                    nr.response_code,
                    ResponseCode::NXDomain | ResponseCode::NoError
                ) => {}
            Err(_) => return SpfOutcome::TempError,
        }
        let params = match sender {
            Some(s) => SpfParameters::verify_mail_from(ip, helo, "localhost", s),
            None => SpfParameters::verify_ehlo(ip, helo, "localhost"),
        };
        outcome(auth.verify_spf(params).await.result())
    };
    tokio::time::timeout(opts.spf_timeout, fut).await.ok()
}

/// `v=spf1` followed by a space or nothing, as RFC 7208 4.5 selects records.
fn is_spf1(t: &str) -> bool {
    let t = t.trim_start();
    t.get(..6).is_some_and(|v| v.eq_ignore_ascii_case("v=spf1"))
        && t[6..].chars().next().is_none_or(|c| c == ' ')
}

/// Every term of an SPF record is a known mechanism (with an optional
/// qualifier) or a `name=value` modifier, as Mail::SPF requires.
fn record_syntax_ok(rec: &str) -> bool {
    const MECHS: &[&str] = &["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"];
    rec.split(' ')
        .skip(1)
        .filter(|t| !t.is_empty())
        .all(|term| {
            let eq = term.find('=');
            let sep = term.find([':', '/']);
            if let Some(e) = eq
                && sep.is_none_or(|s| e < s)
            {
                let name = &term[..e];
                return name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            }
            let t = term.strip_prefix(['+', '-', '~', '?']).unwrap_or(term);
            let name = t
                .split([':', '/'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            MECHS.contains(&name.as_str())
        })
}

/// The DNS response code of a failed lookup, when the server answered.
pub(crate) fn response_code(e: &NetError) -> Option<ResponseCode> {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(nr)) => Some(nr.response_code),
        NetError::Dns(DnsError::ResponseCode(c)) => Some(*c),
        _ => None,
    }
}

/// SpamAssassin's `_check_spf` for both identities.
pub async fn check(auth: &MessageAuthenticator, opts: &AuthOptions, input: &Input) -> SpfFacts {
    let mut f = SpfFacts {
        sender: sender(input, opts),
        ..Default::default()
    };
    let (mfrom_done, helo_done) = from_headers(input, opts, &mut f);
    let Some(relay) = &input.relay else {
        return f;
    };
    let Ok(ip) = relay.ip.parse::<IpAddr>() else {
        return f;
    };
    let helo = relay.helo.clone();
    let helo_usable = !helo.is_empty() && {
        let h = helo
            .trim_start_matches(['[', '!'])
            .trim_end_matches([']', '!']);
        h.parse::<std::net::Ipv4Addr>().is_err() && helo.contains('.')
    };
    let helo_for_macros = if helo.is_empty() { "unknown" } else { &helo };
    let sender = f.sender.clone();
    let mfrom_fut = async {
        match (&sender, mfrom_done) {
            (Some(s), false) => run(auth, opts, ip, helo_for_macros, Some(s)).await,
            _ => None,
        }
    };
    let helo_fut = async {
        if helo_done || !helo_usable {
            None
        } else {
            run(auth, opts, ip, &helo, None).await
        }
    };
    let (m, h) = tokio::join!(mfrom_fut, helo_fut);
    if !mfrom_done {
        f.mfrom = m;
    }
    if !helo_done {
        f.helo = h;
    }
    if f.mfrom == Some(SpfOutcome::Fail) && !mfrom_done {
        f.failure_comment = Some("SPF failed: ".to_string());
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_syntax() {
        assert!(is_spf1("v=spf1 -all") && is_spf1("V=SPF1") && !is_spf1("v=spf10 -all"));
        assert!(record_syntax_ok(
            "v=spf1 ip4:192.0.2.0/24 a mx/24 ~all redirect=_spf.example"
        ));
        assert!(!record_syntax_ok(
            "v=spf1 ip4:192.0.2.1 bogus-mechanism -all"
        ));
        assert!(!record_syntax_ok("v=spf1 =x"));
    }

    #[test]
    fn identities() {
        assert_eq!(identity(None), Some(false));
        assert_eq!(identity(Some("MailFrom")), Some(false));
        assert_eq!(identity(Some("helo")), Some(true));
        assert_eq!(identity(Some("pra")), None);
    }

    #[test]
    fn header_patterns() {
        let (rspf, ar, ar_val) = received_spf_re();
        let c = rspf
            .captures(
                "Received-SPF: pass (x: 1.2.3.4 is authorized) receiver=x; identity=helo; helo=a.b",
            )
            .unwrap();
        assert_eq!(&c[1], "pass");
        assert_eq!(c.get(2).map(|m| m.as_str()), Some("helo"));
        let c = ar
            .captures("Authentication-Results: mx.example; spf=softfail smtp.mailfrom=a@b.example")
            .unwrap();
        let v = ar_val.captures(&c[1]).unwrap();
        assert_eq!(&v[1], "softfail");
        assert_eq!(v.get(2).map(|m| m.as_str()), Some("mailfrom"));
    }
}
