//! Sender authentication with SpamAssassin 4.0.1's semantics: SPF
//! (`Plugin/SPF.pm` with Mail::SPF), DKIM and ARC (`Plugin/DKIM.pm` with
//! Mail::DKIM and Mail::DKIM::ARC) and DMARC (`Plugin/DMARC.pm` with
//! Mail::DMARC).
//!
//! The cryptography and the SPF/DKIM record parsing are mail-auth's; which
//! relay, HELO and envelope sender are checked, which headers are trusted,
//! the timeouts, the key-size rule and the DMARC decision are ours, written
//! after SpamAssassin's plugins. [`Checker::launch`] starts every lookup of a
//! message on the shared DNS runtime before the rules run; the first
//! `eval:` function that reads the outcome ([`Message::auth`]) waits for it.
//!
//! No lookups at all happen with `-L` (no `Checker` is built) or with
//! `dns_available no` ([`Checker::from_config`] returns None).

mod arc;
mod dkim;
mod dmarc;
mod spf;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mail_auth::MessageAuthenticator;

use crate::config::Config;
use crate::message::auth::AuthFacts;
use crate::message::{Instances, Message};

pub use dkim::rsa_key_bits;

/// SpamAssassin's default `spf_timeout` and `dkim_timeout` (seconds).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The settings the checks read, taken once from the configuration.
#[derive(Debug, Clone)]
pub struct AuthOptions {
    pub spf_timeout: Duration,
    pub dkim_timeout: Duration,
    /// `dkim_minimum_key_bits` (default 1024; 0 turns the size check off).
    pub dkim_minimum_key_bits: u32,
    pub ignore_received_spf_header: bool,
    pub use_newest_received_spf_header: bool,
    pub always_trust_envelope_sender: bool,
    /// `adsp_override domain [practice]`: (lower-cased domain or
    /// `*.domain`, ADSP code).
    pub adsp_override: Vec<(String, char)>,
    /// The registry boundaries of the rules (`util_rb_2tld`/`util_rb_3tld`,
    /// from the public suffix list), for DMARC's organizational domain.
    pub registry: std::sync::Arc<crate::config::Derived>,
}

/// An ADSP practice word as a code, as SpamAssassin's `adsp_override`.
pub fn adsp_code(word: &str) -> Option<char> {
    Some(match word.to_ascii_lowercase().as_str() {
        "nxdomain" => 'N',
        "unknown" => 'U',
        "all" => 'A',
        "discardable" => 'D',
        "custom_low" => '1',
        "custom_med" => '2',
        "custom_high" => '3',
        _ => return None,
    })
}

impl AuthOptions {
    pub fn from_config(conf: &Config) -> AuthOptions {
        let flag = |k: &str| {
            conf.settings
                .get(k)
                .is_some_and(|v| v.trim() != "0" && !v.trim().is_empty())
        };
        AuthOptions {
            spf_timeout: conf
                .settings
                .get("spf_timeout")
                .and_then(|v| parse_duration(v))
                .unwrap_or(DEFAULT_TIMEOUT),
            dkim_timeout: conf
                .settings
                .get("dkim_timeout")
                .and_then(|v| parse_duration(v))
                .unwrap_or(DEFAULT_TIMEOUT),
            dkim_minimum_key_bits: conf
                .settings
                .get("dkim_minimum_key_bits")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(1024),
            ignore_received_spf_header: flag("ignore_received_spf_header"),
            use_newest_received_spf_header: flag("use_newest_received_spf_header"),
            always_trust_envelope_sender: flag("always_trust_envelope_sender"),
            adsp_override: conf
                .lists
                .get("adsp_override")
                .into_iter()
                .flatten()
                .filter_map(|l| {
                    let mut it = l.split_whitespace();
                    let d = it.next()?.to_lowercase();
                    let code = match it.next() {
                        Some(w) => adsp_code(w)?,
                        None => 'D',
                    };
                    Some((d, code))
                })
                .collect(),
            registry: std::sync::Arc::new(conf.derived.clone()),
        }
    }

    /// The organizational domain of `d`, as Mail::DMARC finds it with the
    /// public suffix list: the registry boundaries of the rules when they
    /// have them, else [`org_domain`]'s short list.
    pub fn org_domain(&self, d: &str) -> String {
        if self.registry.two_level.is_empty() {
            return org_domain(d);
        }
        crate::eval::registry::trim_domain(&self.registry, d.trim_end_matches('.'))
    }
}

/// Whether the configuration lets the network tests query DNS at all:
/// `dns_available no` turns them off; `yes` and `test[: ...]` leave them on.
pub fn dns_available(conf: &Config) -> bool {
    conf.settings
        .get("dns_available")
        .is_none_or(|v| !v.trim().eq_ignore_ascii_case("no"))
}

/// A `dns_server` value: `ip`, `ip:port`, `[ip]` or `[ip]:port`.
pub fn parse_dns_server(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 53))
}

/// SpamAssassin's duration syntax: a number with an optional unit
/// (s, m, h, d, w).
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let (num, mult) = match v.chars().last()? {
        's' | 'S' => (&v[..v.len() - 1], 1.0),
        'm' | 'M' => (&v[..v.len() - 1], 60.0),
        'h' | 'H' => (&v[..v.len() - 1], 3600.0),
        'd' | 'D' => (&v[..v.len() - 1], 86400.0),
        'w' | 'W' => (&v[..v.len() - 1], 604800.0),
        _ => (v, 1.0),
    };
    let n: f64 = num.trim().parse().ok()?;
    (n.is_finite() && n >= 0.0).then(|| Duration::from_secs_f64(n * mult))
}

/// What the checks read from a message, copied out so that they can run
/// on the DNS runtime while the rules run.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// The pristine message with CRLF line ends, as Mail::DKIM is fed.
    pub raw_crlf: Vec<u8>,
    /// The first external relay (SpamAssassin's `relays_external->[0]`).
    pub relay: Option<RelayFacts>,
    pub trusted_relays: usize,
    /// `EnvelopeFrom:addr`.
    pub envelope_from: Option<String>,
    /// Every From address, and the first From header's first address.
    pub from_addrs: Vec<String>,
    pub from_first: Option<String>,
    /// `ALL-INTERNAL` header lines, top first.
    pub internal_headers: Vec<String>,
}

/// The relay fields SPF and DMARC read.
#[derive(Debug, Clone, Default)]
pub struct RelayFacts {
    pub ip: String,
    pub helo: String,
    pub envfrom: Option<String>,
}

impl Input {
    pub fn from_message(msg: &Message) -> Input {
        let info = msg.relays();
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Input {
            raw_crlf: to_crlf(msg.pristine()),
            relay: info.external.first().map(|r| RelayFacts {
                ip: lossy(&r.ip),
                helo: lossy(&r.helo),
                envfrom: r.envfrom.as_deref().map(lossy),
            }),
            trusted_relays: info.trusted.len(),
            envelope_from: msg.envelope_from(),
            from_addrs: msg.header_addrs("From"),
            from_first: msg
                .header_addrs_instances("From", Instances::First)
                .into_iter()
                .next(),
            internal_headers: msg
                .get_list("ALL-INTERNAL")
                .into_iter()
                .map(|h| lossy(&h))
                .collect(),
        }
    }
}

/// Runs the SPF, DKIM and DMARC checks of messages on the shared DNS
/// runtime (`crate::dns`), through the resolver built from the same
/// settings as the blocklist lookups (`dns_server`, `dns_options`).
pub struct Checker {
    auth: MessageAuthenticator,
    pub opts: AuthOptions,
}

impl Checker {
    /// None when DNS is off (`dns_available no`); Err when the resolver
    /// cannot be built.
    pub fn from_config(conf: &Config) -> Result<Option<Checker>, String> {
        if !dns_available(conf) {
            return Ok(None);
        }
        let resolver = crate::dns::resolver_for(&crate::dns::DnsSettings::from_config(conf))?;
        Ok(Some(Checker {
            auth: MessageAuthenticator((*resolver).clone()),
            opts: AuthOptions::from_config(conf),
        }))
    }

    /// Start the checks of `msg` now; the first `msg.auth()` (an SPF, DKIM
    /// or DMARC eval) waits for them, so they overlap with the rules that
    /// run before.
    pub fn launch(&self, msg: &Message) {
        let Some(rt) = crate::dns::runtime() else {
            return;
        };
        let input = Input::from_message(msg);
        let auth = self.auth.clone();
        let opts = self.opts.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let facts = run(&auth, &opts, &input).await;
            let _ = tx.send(facts);
        });
        // Bounded: every step has its own timeout; this only guards
        // against a lost task.
        let limit = self.opts.spf_timeout + self.opts.dkim_timeout * 2 + Duration::from_secs(20);
        msg.set_auth_pending(Box::new(move || rx.recv_timeout(limit).ok()));
    }

    /// Check `msg` now, store the facts on it and return them.
    pub fn check(&self, msg: &Message) -> Option<AuthFacts> {
        self.launch(msg);
        msg.auth().cloned()
    }
}

async fn run(auth: &MessageAuthenticator, opts: &AuthOptions, input: &Input) -> AuthFacts {
    let mut facts = AuthFacts::default();
    // SPF and DKIM are independent: run them together. DMARC needs both.
    let (spf, dkim, arc) = tokio::join!(
        spf::check(auth, opts, input),
        dkim::check(auth, opts, input),
        arc::check(auth, opts, input)
    );
    facts.spf_sender = spf.sender;
    facts.spf = spf.mfrom;
    facts.spf_helo = spf.helo;
    facts.spf_failure_comment = spf.failure_comment;
    facts.dkim_ready = true;
    facts.dkim_dependable = true;
    facts.dkim_signatures = dkim.signatures;
    facts.dkim_authors = dkim.authors;
    facts.dkim_author_domains = dkim.author_domains;
    facts.dkim_valid_author_domains = dkim.valid_author_domains;
    facts.dkim_adsp = dkim.adsp;
    facts.arc_signed = arc.signed;
    facts.arc_valid = arc.valid;
    facts.arc_first_seal = arc.first_seal;
    facts.dmarc = dmarc::check(auth, opts, input, &facts).await;
    facts
}

/// Convert lone LFs to CRLF, as SpamAssassin does before feeding Mail::DKIM.
pub(crate) fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// The registrable ("organizational") domain, for DMARC alignment, when the
/// rules bring no registry boundaries ([`AuthOptions::org_domain`]):
/// Mail::DMARC reads the Public Suffix List; this keeps the common
/// two-label public suffixes and otherwise takes the last two labels.
pub(crate) fn org_domain(d: &str) -> String {
    const TWO_LABEL_SUFFIXES: &[&str] = &[
        "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "ltd.uk", "plc.uk", "com.au", "net.au",
        "org.au", "edu.au", "gov.au", "co.nz", "org.nz", "co.jp", "ne.jp", "or.jp", "ac.jp",
        "com.br", "net.br", "org.br", "com.cn", "net.cn", "org.cn", "co.za", "co.in", "co.kr",
        "com.mx", "com.tw", "com.hk", "com.sg", "com.ar", "com.tr", "co.il",
    ];
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() <= 2 {
        return d;
    }
    let last2 = labels[labels.len() - 2..].join(".");
    let keep = if TWO_LABEL_SUFFIXES.contains(&last2.as_str()) {
        3
    } else {
        2
    };
    labels[labels.len().saturating_sub(keep)..].join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_servers() {
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(
            parse_dns_server("127.0.0.1:5353"),
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(parse_dns_server("[::1]"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(
            parse_dns_server("10.0.0.1"),
            Some("10.0.0.1:53".parse().unwrap())
        );
    }

    #[test]
    fn crlf_and_org_domain() {
        assert_eq!(to_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(org_domain("mail.sub.example.com"), "example.com");
        assert_eq!(org_domain("www.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(org_domain("example.com"), "example.com");
    }

    #[test]
    fn dns_available_setting() {
        let mut c = Config::default();
        assert!(dns_available(&c));
        c.settings.insert("dns_available".into(), "no".into());
        assert!(!dns_available(&c));
        c.settings
            .insert("dns_available".into(), "test: example.com".into());
        assert!(dns_available(&c));
    }
}
