//! DNS blocklist tests with SpamAssassin 4.0.1's semantics: DNSEval
//! (`check_rbl*`, `check_dns_sender`), URIDNSBL (`urirhsbl`, `urirhssub`,
//! `uridnsbl`, `uridnssub`, `urinsrhsbl`, `urinsrhssub`, `urifullnsrhsbl`,
//! `urifullnsrhssub`) and AskDNS (`askdns`).
//!
//! A scan calls [`plan`] with its enabled network rules before running the
//! others: every lookup whose inputs are known is launched then. [`harvest`]
//! waits for the answers (launching the follow-up lookups that depend on an
//! answer: NS then A then blocklist, for `uridnsbl`), and [`Results::hits`]
//! tells how each rule came out.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::LazyLock;

use regex::bytes::Regex;

use super::super::EvalCtx;
use super::super::registry;
use crate::config::TFlags;
use crate::dns::{Answers, Batch, DnsSettings, Outcome, QType, Rr, in_domain, reverse_ip};
use crate::message::{NetSet, ip_is_private, uri_host};

/// One enabled network rule of the scan.
pub struct NetRule<'a> {
    pub name: &'a str,
    pub function: &'a str,
    pub args: &'a [String],
    pub tflags: &'a TFlags,
}

/// Whether [`plan`] handles this eval function.
pub fn is_dns_function(f: &str) -> bool {
    matches!(
        f,
        "check_rbl"
            | "check_rbl_txt"
            | "check_rbl_sub"
            | "check_rbl_from_host"
            | "check_rbl_from_domain"
            | "check_rbl_envfrom"
            | "check_rbl_headers"
            | "check_rbl_rcvd"
            | "check_rbl_accreditor"
            | "check_rbl_ns_from"
            | "check_dns_sender"
            | "check_uridnsbl"
            | "askdns"
            | "check_hashbl_bodyre"
    )
}

/// How an answer is tested (`check_subtest` of Dns.pm).
#[derive(Debug, Clone)]
enum RblSub {
    Regex(Regex),
    /// Bitmask on a 127/8 address.
    Mask(u32),
    Exact(String),
}

impl RblSub {
    fn parse(s: &str) -> Option<RblSub> {
        static NUM: LazyLock<regex::Regex> = LazyLock::new(|| {
            regex::Regex::new(r"^\d+(?:\.\d+\.\d+\.\d+)?$")
                .unwrap_or_else(|_| unreachable!("constant regex"))
        });
        if !NUM.is_match(s) {
            return perl_regex(s, "").map(RblSub::Regex);
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse::<u64>().ok().map(|n| RblSub::Mask(n as u32));
        }
        Some(RblSub::Exact(s.to_string()))
    }

    fn test(&self, rdata: &str) -> bool {
        match self {
            RblSub::Regex(r) => r.is_match(rdata.as_bytes()),
            RblSub::Mask(m) => {
                rdata.starts_with("127.")
                    && rdata
                        .parse::<Ipv4Addr>()
                        .is_ok_and(|a| u32::from(a) & m != 0)
            }
            RblSub::Exact(e) => e == rdata,
        }
    }
}

/// A Perl pattern as a byte regex (flags `i`, `s`, `m`, `x` honoured).
fn perl_regex(pat: &str, flags: &str) -> Option<Regex> {
    let mut prefix = String::from("(?-u");
    for f in flags.chars() {
        if matches!(f, 'i' | 's' | 'm' | 'x') {
            prefix.push(f);
        }
    }
    prefix.push(')');
    Regex::new(&format!("{prefix}{pat}")).ok()
}

/// URIDNSBL/AskDNS numeric subtests: `N` mask, `N-M` range, `N/M`
/// value/mask (quad-dotted numbers allowed; a lone quad is `n-n`).
#[derive(Debug, Clone, PartialEq)]
enum NumSub {
    Mask(u32),
    Range(u32, u32),
    ValueMask(u32, u32),
}

fn parse_num(s: &str) -> Option<(u32, bool)> {
    if !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().ok().map(|n| (n as u32, false));
    }
    if let Some(h) = s.strip_prefix("0x") {
        return u32::from_str_radix(h, 16).ok().map(|n| (n, false));
    }
    s.parse::<Ipv4Addr>().ok().map(|a| (u32::from(a), true))
}

fn parse_numsub(s: &str) -> Option<NumSub> {
    let (n1, delim, n2) = match s.find(['/', '-']) {
        Some(p) => (&s[..p], Some(&s[p..p + 1]), Some(&s[p + 1..])),
        None => (s, None, None),
    };
    let (a, qa) = parse_num(n1)?;
    match (delim, n2) {
        (Some("-"), Some(n2)) => Some(NumSub::Range(a, parse_num(n2)?.0)),
        (Some(_), Some(n2)) => Some(NumSub::ValueMask(a, parse_num(n2)?.0)),
        _ if qa => Some(NumSub::Range(a, a)),
        _ => Some(NumSub::Mask(a)),
    }
}

impl NumSub {
    fn test(&self, n: u32) -> bool {
        match *self {
            NumSub::Mask(m) => n & m != 0 && n & 0xff00_0000 == 0x7f00_0000,
            NumSub::Range(a, b) => n >= a && n <= b,
            NumSub::ValueMask(v, m) => n & m == v & m,
        }
    }
}

/// One `uri*` rule.
#[derive(Debug, Clone)]
struct UriRule {
    zone: String,
    qtype: QType,
    kind: UriKind,
    /// `uri*sub` subtest (canonical numeric, or the literal string).
    sub: Option<(String, Option<NumSub>)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum UriKind {
    Rhs,
    NsRhs,
    FullNsRhs,
    /// `uridnsbl`: IPs of the domain's name servers (tflags `ns`, the
    /// default) and/or of the host itself (tflags `a`).
    Ip,
}

fn uri_rules(ctx: &EvalCtx<'_>) -> HashMap<String, UriRule> {
    let mut out = HashMap::new();
    for (key, kind, sub) in [
        ("urirhsbl", UriKind::Rhs, false),
        ("urirhssub", UriKind::Rhs, true),
        ("urinsrhsbl", UriKind::NsRhs, false),
        ("urinsrhssub", UriKind::NsRhs, true),
        ("urifullnsrhsbl", UriKind::FullNsRhs, false),
        ("urifullnsrhssub", UriKind::FullNsRhs, true),
        ("uridnsbl", UriKind::Ip, false),
        ("uridnssub", UriKind::Ip, true),
    ] {
        for v in ctx
            .conf
            .lists
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let f: Vec<&str> = v.split_whitespace().collect();
            if f.len() < 3 || (sub && f.len() < 4) {
                continue;
            }
            let Some(qtype) = QType::parse(f[2]) else {
                continue;
            };
            let sub = sub.then(|| {
                let s = f[3..].join(" ");
                let n = parse_numsub(&s);
                (s, n)
            });
            out.insert(
                f[0].to_string(),
                UriRule {
                    zone: f[1].trim_end_matches('.').to_ascii_lowercase(),
                    qtype,
                    kind,
                    sub,
                },
            );
        }
    }
    out
}

/// A lookup and what its answers decide.
#[derive(Debug, Clone)]
enum Purpose {
    /// DNSEval: rule (its own subtest) and set (for check_rbl_sub).
    Rbl {
        rule: String,
        set: String,
        sub: Option<String>,
    },
    /// URIDNSBL blocklist lookup for a rule; `log` is its report line.
    Uri {
        rule: String,
        log: String,
    },
    /// URIDNSBL: the NS of a domain, for these rules.
    UriNs {
        rules: Vec<String>,
    },
    /// URIDNSBL: the A of a host, for these (`uridnsbl`) rules.
    UriA {
        rules: Vec<String>,
    },
    /// check_rbl_ns_from: the SOA primary server in the authority section
    /// of the NS answer for the envelope domain (what SpamAssassin reads).
    NsFrom {
        rule: String,
        set: String,
        zone: String,
        sub: Option<String>,
    },
    /// check_dns_sender: A and MX of the envelope domain.
    Sender {
        rule: String,
    },
    AskDns {
        rule: String,
    },
    /// HashBL: a value (or its hash) listed; the answer tested with the
    /// subtest regex (default `^127\.`).
    HashBl {
        rule: String,
        sub: Option<String>,
    },
}

/// The lookups of one scan and what they are for.
pub struct Plan {
    batch: Batch,
    purposes: Vec<((String, QType), Purpose)>,
    /// Follow-ups not yet processed (index into `purposes`).
    chained: Vec<usize>,
    uri: HashMap<String, UriRule>,
    askdns: HashMap<String, (QType, AskSub)>,
    /// check_rbl_sub rules by set: (rule, subtest).
    subs: HashMap<String, Vec<(String, RblSub)>>,
    /// Rules whose hit is decided here.
    rules: BTreeSet<String>,
    seen: HashSet<String>,
    settings: DnsSettings,
}

/// An AskDNS subtest.
#[derive(Debug, Clone)]
enum AskSub {
    Any,
    Regex(Regex),
    Exact(String),
    Num(NumSub),
    Rcodes(Vec<String>),
}

fn parse_asksub(s: &str) -> Option<AskSub> {
    let s = s.trim();
    if s.is_empty() {
        return Some(AskSub::Any);
    }
    if let Some(rest) = s.strip_prefix('/')
        && let Some(end) = rest.rfind('/')
    {
        return perl_regex(&rest[..end], &rest[end + 1..]).map(AskSub::Regex);
    }
    if (s.starts_with('"') && s.ends_with('"') || s.starts_with('\'') && s.ends_with('\''))
        && s.len() >= 2
    {
        return Some(AskSub::Exact(s[1..s.len() - 1].to_string()));
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return Some(AskSub::Rcodes(
            inner
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|w| !w.is_empty())
                .map(str::to_ascii_uppercase)
                .collect(),
        ));
    }
    match parse_numsub(s) {
        Some(n) => Some(AskSub::Num(n)),
        None => Some(AskSub::Exact(s.to_string())),
    }
}

/// Trusted-network membership as `trusted_networks->contains_ip`: the
/// configured set, or loopback only when none is configured.
fn trusted_contains(trusted: Option<&NetSet>, ip: &str) -> bool {
    match trusted {
        Some(t) => t.contains_ip(ip),
        None => ip.starts_with("127.") || ip == "::1",
    }
}

fn uniq_strip_private(ips: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for ip in ips {
        if ip.is_empty() || !seen.insert(ip.clone()) {
            continue;
        }
        if ip_is_private(ip.as_bytes()) {
            continue;
        }
        out.push(ip);
    }
    out
}

/// IPv4 (and simple IPv6) addresses in a header value.
fn ips_in(text: &[u8]) -> Vec<String> {
    static IP: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?-u)\b(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7})\b")
            .unwrap_or_else(|_| unreachable!("constant regex"))
    });
    IP.find_iter(text)
        .filter_map(|m| std::str::from_utf8(m.as_bytes()).ok())
        .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_string)
        .collect()
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The relay IP lists of DNSEval's `parsed_metadata`.
struct RelayIps {
    /// Untrusted relays, private ones removed, unique.
    ips: Vec<String>,
    /// Trusted-but-external then untrusted relays.
    fullexternal: Vec<String>,
    originating: Vec<String>,
}

fn relay_ips(ctx: &EvalCtx<'_>) -> Option<RelayIps> {
    let relays = ctx.msg.relays();
    let fullips: Vec<String> = relays.untrusted.iter().map(|r| s(&r.ip)).collect();
    let mut fullexternal: Vec<String> = relays
        .trusted
        .iter()
        .filter(|r| !r.internal)
        .map(|r| s(&r.ip))
        .collect();
    fullexternal.extend(fullips.iter().cloned());
    let mut originating = Vec::new();
    for h in ctx
        .conf
        .lists
        .get("originating_ip_headers")
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        for name in h.split_whitespace() {
            if let Some(v) = ctx.msg.get(name) {
                originating.extend(ips_in(&v));
            }
        }
    }
    let ips = uniq_strip_private(fullips);
    (ips.len() + originating.len() > 0).then_some(RelayIps {
        ips,
        fullexternal,
        originating,
    })
}

impl Plan {
    fn add(&mut self, name: &str, t: QType, p: Purpose) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() || name.contains("..") || name.len() > 253 {
            return false;
        }
        self.batch.launch(&name, t);
        self.purposes.push(((name, t), p));
        true
    }

    fn chain(&mut self, name: &str, t: QType, p: Purpose) {
        if self.add(name, t, p) {
            self.chained.push(self.purposes.len() - 1);
        }
    }
}

/// Plan and launch the lookups of `rules` for this message. None when DNS
/// is off for this configuration.
pub fn plan(ctx: &EvalCtx<'_>, uris: &[String], rules: &[NetRule<'_>]) -> Option<Plan> {
    let settings = DnsSettings::from_config(ctx.conf);
    let batch = Batch::new(&settings)?;
    let mut p = Plan {
        batch,
        purposes: Vec::new(),
        chained: Vec::new(),
        uri: uri_rules(ctx),
        askdns: HashMap::new(),
        subs: HashMap::new(),
        rules: BTreeSet::new(),
        seen: HashSet::new(),
        settings,
    };
    let setting = |k: &str| ctx.conf.settings.get(k).map(|v| v.trim().to_string());
    let skip_rbl = setting("skip_rbl_checks").is_some_and(|v| v != "0");
    let skip_uribl = setting("skip_uribl_checks").is_some_and(|v| v != "0");
    let opts = ctx.conf.message_options();
    let trusted = opts.trust.trusted.as_ref();
    let num_check: usize = setting("num_check_received")
        .and_then(|v| v.parse().ok())
        .unwrap_or(9);
    let relay = if skip_rbl { None } else { relay_ips(ctx) };
    let mut uri_active: Vec<&NetRule<'_>> = Vec::new();
    for r in rules {
        p.rules.insert(r.name.to_string());
        let a = |i: usize| r.args.get(i).map(|x| x.trim().to_string());
        let zone = |i: usize| a(i).map(|z| z.trim_end_matches('.').to_ascii_lowercase());
        match r.function {
            "check_rbl_sub" if !skip_rbl => {
                if let (Some(set), Some(sub)) = (a(0), a(1))
                    && let Some(t) = RblSub::parse(&sub)
                {
                    p.subs.entry(set).or_default().push((r.name.to_string(), t));
                }
            }
            "check_rbl" | "check_rbl_txt" | "check_rbl_accreditor" if !skip_rbl => {
                let (Some(set), Some(zone)) = (a(0), zone(1)) else {
                    continue;
                };
                if r.function == "check_rbl_accreditor" {
                    let Some(acc) = a(3) else { continue };
                    if !accreditor_tags(ctx).contains(&acc.to_ascii_lowercase()) {
                        continue;
                    }
                }
                let Some(relay) = &relay else { continue };
                let t = if r.function == "check_rbl_txt" {
                    QType::Txt
                } else {
                    QType::A
                };
                let ips = rbl_ips(relay, &set, trusted, num_check, r.tflags.nice);
                for ip in ips {
                    if let Some(rev) = reverse_ip(&ip) {
                        p.add(
                            &format!("{rev}.{zone}"),
                            t,
                            Purpose::Rbl {
                                rule: r.name.into(),
                                set: set.clone(),
                                sub: a(2),
                            },
                        );
                    }
                }
            }
            "check_rbl_from_host" | "check_rbl_from_domain" | "check_rbl_envfrom" if !skip_rbl => {
                let (Some(set), Some(zone)) = (a(0), zone(1)) else {
                    continue;
                };
                let addrs: Vec<String> = match r.function {
                    "check_rbl_envfrom" => ctx
                        .msg
                        .get_list("EnvelopeFrom:addr")
                        .iter()
                        .map(|b| s(b))
                        .collect(),
                    _ => ctx.msg.from_addrs().to_vec(),
                };
                let hosts: Vec<String> = if r.function == "check_rbl_from_domain" {
                    addrs
                        .iter()
                        .filter_map(|x| x.rsplit_once('@').map(|(_, d)| d.to_string()))
                        .map(|d| registry::trim_domain(&ctx.conf.derived, &d))
                        .map(|d| format!("x@{d}"))
                        .collect()
                } else {
                    addrs
                };
                for host in address_hosts(ctx, &hosts, r.tflags) {
                    p.add(
                        &format!("{host}.{zone}"),
                        QType::A,
                        Purpose::Rbl {
                            rule: r.name.into(),
                            set: set.clone(),
                            sub: a(2),
                        },
                    );
                }
            }
            "check_rbl_headers" if !skip_rbl => {
                let (Some(set), Some(zone)) = (a(0), zone(1)) else {
                    continue;
                };
                let headers = a(3)
                    .or_else(|| setting("rbl_headers"))
                    .unwrap_or_else(|| "EnvelopeFrom,Reply-To,Disposition-Notification-To,X-WebmailclientIP,X-Source-IP".into());
                for h in headers.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                    let mut hosts = Vec::new();
                    let addr = ctx.msg.get(&format!("{h}:addr")).map(|b| s(&b));
                    match addr {
                        Some(ad) if ad.contains('@') => {
                            hosts = address_hosts(ctx, &[ad], r.tflags);
                        }
                        _ => {
                            for host in ctx.msg.get(h).map(|b| s(&b)).unwrap_or_default().lines() {
                                let host = host.trim();
                                if host.parse::<std::net::IpAddr>().is_ok() {
                                    if !has_word(r.tflags, "domains_only")
                                        && let Some(rev) = reverse_ip(host)
                                    {
                                        hosts.push(rev);
                                    }
                                } else if !has_word(r.tflags, "ips_only")
                                    && registry::is_fqdn_valid(host)
                                    && registry::is_domain_valid(&ctx.conf.derived, host)
                                {
                                    hosts.push(host.to_ascii_lowercase());
                                }
                            }
                        }
                    }
                    for host in hosts {
                        p.add(
                            &format!("{host}.{zone}"),
                            QType::A,
                            Purpose::Rbl {
                                rule: r.name.into(),
                                set: set.clone(),
                                sub: a(2),
                            },
                        );
                    }
                }
            }
            "check_rbl_rcvd" if !skip_rbl => {
                let (Some(set), Some(zone)) = (a(0), zone(1)) else {
                    continue;
                };
                let relays = ctx.msg.relays();
                let Some(last) = relays.untrusted.last() else {
                    continue;
                };
                let mut seen = HashSet::new();
                for v in [&last.ip, &last.by, &last.helo, &last.rdns] {
                    let host = s(v).trim().trim_end_matches('.').to_string();
                    if host.is_empty() || !seen.insert(host.clone()) {
                        continue;
                    }
                    let q = if host.parse::<std::net::IpAddr>().is_ok() {
                        if has_word(r.tflags, "domains_only") {
                            continue;
                        }
                        reverse_ip(&host)
                    } else {
                        (!has_word(r.tflags, "ips_only")
                            && registry::is_fqdn_valid(&host)
                            && registry::is_domain_valid(&ctx.conf.derived, &host))
                        .then(|| host.to_ascii_lowercase())
                    };
                    if let Some(q) = q {
                        p.add(
                            &format!("{q}.{zone}"),
                            QType::A,
                            Purpose::Rbl {
                                rule: r.name.into(),
                                set: set.clone(),
                                sub: a(2),
                            },
                        );
                    }
                }
            }
            "check_rbl_ns_from" if !skip_rbl => {
                let (Some(set), Some(zone)) = (a(0), zone(1)) else {
                    continue;
                };
                if let Some(d) = envelope_domain(ctx) {
                    p.add(
                        &d,
                        QType::NsAuthority,
                        Purpose::NsFrom {
                            rule: r.name.into(),
                            set,
                            zone,
                            sub: a(2),
                        },
                    );
                }
            }
            "check_dns_sender" if !skip_rbl => {
                if let Some(d) = envelope_domain(ctx) {
                    p.add(
                        &d,
                        QType::A,
                        Purpose::Sender {
                            rule: r.name.into(),
                        },
                    );
                    p.add(
                        &d,
                        QType::Mx,
                        Purpose::Sender {
                            rule: r.name.into(),
                        },
                    );
                }
            }
            "check_uridnsbl" if !skip_uribl => uri_active.push(r),
            "askdns" => plan_askdns(ctx, &mut p, r),
            "check_hashbl_bodyre" => plan_hashbl_bodyre(ctx, &mut p, r),
            _ => {}
        }
    }
    if !uri_active.is_empty() {
        plan_uris(ctx, &mut p, uris, &uri_active);
    }
    Some(p)
}

fn has_word(t: &TFlags, w: &str) -> bool {
    t.words.iter().any(|x| x == w)
}

/// EnvelopeFrom's domain (first address with a dotted domain), lowercased.
fn envelope_domain(ctx: &EvalCtx<'_>) -> Option<String> {
    for from in ctx.msg.get_list("EnvelopeFrom:addr") {
        let mut f = s(&from);
        while f.contains("..") {
            f = f.replace("..", ".");
        }
        if let Some((_, d)) = f.rsplit_once('@')
            && d.contains('.')
            && !d.contains(char::is_whitespace)
        {
            return Some(d.to_ascii_lowercase());
        }
    }
    None
}

/// Accreditor tags (`a--tag.` in the envelope sender, `Accreditor:`).
fn accreditor_tags(ctx: &EvalCtx<'_>) -> HashSet<String> {
    static ENV: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i-u)[@.]a--([a-z0-9]{3,})\.").unwrap_or_else(|_| unreachable!("regex"))
    });
    let mut tags = HashSet::new();
    if let Some(e) = ctx.msg.get("EnvelopeFrom:addr")
        && let Some(c) = ENV.captures(&e)
    {
        tags.insert(s(&c[1]).to_ascii_lowercase());
    }
    if let Some(v) = ctx.msg.get("Accreditor") {
        for acc in s(&v).split(',') {
            if let Some(t) = acc.split_whitespace().next() {
                tags.insert(t.to_ascii_lowercase());
            }
        }
    }
    tags
}

/// `_check_rbl_addresses`: the hosts of addresses, checked and reversed.
fn address_hosts(ctx: &EvalCtx<'_>, addrs: &[String], tf: &TFlags) -> Vec<String> {
    let mut hosts = BTreeSet::new();
    for a in addrs {
        let Some((_, h)) = a.rsplit_once('@') else {
            continue;
        };
        if h.contains('@') || h.contains(char::is_whitespace) || h.is_empty() {
            continue;
        }
        let mut h = h.trim_matches('.').to_string();
        if !h.contains('.') {
            continue;
        }
        while h.contains("..") {
            h = h.replace("..", ".");
        }
        hosts.insert(h.to_ascii_lowercase());
    }
    let mut out = Vec::new();
    for h in hosts {
        if h.parse::<std::net::IpAddr>().is_ok() {
            if !has_word(tf, "domains_only")
                && let Some(r) = reverse_ip(&h)
            {
                out.push(r);
            }
        } else if !has_word(tf, "ips_only")
            && registry::is_fqdn_valid(&h)
            && registry::is_domain_valid(&ctx.conf.derived, &h)
        {
            out.push(h);
        }
    }
    out
}

/// `_check_rbl_backend`'s choice of IPs for a set.
fn rbl_ips(
    relay: &RelayIps,
    set: &str,
    trusted: Option<&NetSet>,
    num_check: usize,
    nice: bool,
) -> Vec<String> {
    let untrusted_orig = || {
        relay
            .originating
            .iter()
            .filter(|ip| !trusted_contains(trusted, ip))
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut ips: Vec<String>;
    if set.ends_with("-lastexternal") || set.ends_with("-notfirsthop") {
        ips = uniq_strip_private(relay.fullexternal.iter().cloned());
        if set.ends_with("-lastexternal") {
            ips.truncate(1);
        } else if ips.len() > 1 {
            ips.pop();
        }
    } else if set.ends_with("-firsttrusted") || set.ends_with("-untrusted") {
        ips = uniq_strip_private(relay.ips.iter().cloned().chain(untrusted_orig()));
        if set.ends_with("-firsttrusted") {
            ips.truncate(1);
        } else if !ips.is_empty() {
            ips.remove(0);
        }
    } else {
        ips = uniq_strip_private(relay.ips.iter().cloned().chain(untrusted_orig()));
        ips.reverse();
    }
    ips.truncate(num_check);
    if !nice {
        while ips.first().is_some_and(|ip| trusted_contains(trusted, ip)) {
            ips.remove(0);
        }
    }
    ips
}

/// URIDNSBL's host list: hosts of the message's URIs (HTML links first),
/// skip-listed domains left out, at most `uridnsbl_max_domains`.
fn uri_hosts(ctx: &EvalCtx<'_>, uris: &[String]) -> BTreeMap<String, String> {
    let skip_mailto = ctx
        .conf
        .settings
        .get("uridnsbl_skip_mailto")
        .is_none_or(|v| v.trim() != "0");
    let max: usize = ctx
        .conf
        .settings
        .get("uridnsbl_max_domains")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(20);
    let skip: HashSet<String> = ctx
        .conf
        .lists
        .get("uridnsbl_skip_domain")
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .flat_map(|l| l.split_whitespace())
        .map(str::to_ascii_lowercase)
        .collect();
    let html: HashSet<&str> = ctx.msg.html_uris().iter().map(String::as_str).collect();
    let mut tiers: [BTreeMap<String, String>; 2] = Default::default();
    for u in uris {
        if skip_mailto && u.len() >= 7 && u[..7].eq_ignore_ascii_case("mailto:") {
            continue;
        }
        let Some(host) = uri_host(u.as_bytes()) else {
            continue;
        };
        let host = s(&host).to_ascii_lowercase();
        let domain = if host.parse::<std::net::IpAddr>().is_ok() {
            host.clone()
        } else {
            registry::trim_domain(&ctx.conf.derived, &host)
        };
        if skip.contains(&domain) || skip.contains(&host) {
            continue;
        }
        let tier = usize::from(!html.contains(u.as_str()));
        tiers[tier].insert(host, domain);
    }
    let mut out = BTreeMap::new();
    for t in tiers {
        for (h, d) in t {
            if out.len() >= max {
                return out;
            }
            out.entry(h).or_insert(d);
        }
    }
    out
}

fn plan_uris(ctx: &EvalCtx<'_>, p: &mut Plan, uris: &[String], active: &[&NetRule<'_>]) {
    let hosts = uri_hosts(ctx, uris);
    let mut rhs = Vec::new();
    let mut rhs_ips = Vec::new();
    let mut rhs_doms = Vec::new();
    let mut ns_rules = Vec::new();
    let mut a_rules = Vec::new();
    for r in active {
        let Some(name) = r.args.first() else { continue };
        let Some(rule) = p.uri.get(name.as_str()) else {
            continue;
        };
        match rule.kind {
            UriKind::Rhs if has_word(r.tflags, "ips_only") => rhs_ips.push(r),
            UriKind::Rhs if has_word(r.tflags, "domains_only") => rhs_doms.push(r),
            UriKind::Rhs => rhs.push(r),
            UriKind::NsRhs | UriKind::FullNsRhs => ns_rules.push(name.clone()),
            UriKind::Ip => {
                if has_word(r.tflags, "a") {
                    a_rules.push(name.clone());
                }
                if has_word(r.tflags, "ns") || !has_word(r.tflags, "a") {
                    ns_rules.push(name.clone());
                }
            }
        }
    }
    for (host, domain) in hosts {
        let mut these: Vec<&NetRule<'_>> = rhs.iter().map(|r| **r).collect();
        let mut domain = domain;
        if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
            if host.parse::<Ipv4Addr>().is_ok() && !ip_is_private(host.as_bytes()) {
                domain = host.clone();
            } else {
                continue;
            }
            these.extend(rhs_ips.iter().map(|r| **r));
        } else {
            if !ns_rules.is_empty() && p.seen.insert(format!("NS:{domain}")) {
                p.chain(
                    &domain,
                    QType::Ns,
                    Purpose::UriNs {
                        rules: ns_rules.clone(),
                    },
                );
            }
            if !a_rules.is_empty() && p.seen.insert(format!("A:{host}")) {
                p.chain(
                    &host,
                    QType::A,
                    Purpose::UriA {
                        rules: a_rules.clone(),
                    },
                );
            }
            these.extend(rhs_doms.iter().map(|r| **r));
        }
        for r in these {
            let Some(name) = r.args.first() else { continue };
            let query = if has_word(r.tflags, "notrim") {
                &host
            } else {
                &domain
            };
            uri_lookup(p, name, query);
        }
    }
}

fn uri_lookup(p: &mut Plan, rule: &str, lookup: &str) {
    uri_lookup_from(p, rule, lookup, None);
}

/// `lookup_single_dnsbl`; `orig` is the host whose A record gave `lookup`.
fn uri_lookup_from(p: &mut Plan, rule: &str, lookup: &str, orig: Option<&str>) {
    let Some(r) = p.uri.get(rule).cloned() else {
        return;
    };
    let key = format!("{rule}:{lookup}:{}:{:?}", r.zone, r.qtype);
    if !p.seen.insert(key) {
        return;
    }
    let q = if lookup.parse::<Ipv4Addr>().is_ok() {
        reverse_ip(lookup).unwrap_or_default()
    } else {
        lookup.to_string()
    };
    p.add(
        &format!("{q}.{}", r.zone),
        r.qtype,
        Purpose::Uri {
            rule: rule.into(),
            log: match orig {
                Some(o) => format!("URI: {o}/{lookup}"),
                None => format!("URI: {lookup}"),
            },
        },
    );
}

/// Tag values for AskDNS queries.
fn tag_values(ctx: &EvalCtx<'_>, tag: &str) -> Vec<String> {
    let lc = |v: Vec<Vec<u8>>| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for x in v {
            let x = s(&x).trim().to_ascii_lowercase();
            if !x.is_empty() && !out.contains(&x) {
                out.push(x);
            }
        }
        out
    };
    match tag {
        "AUTHORDOMAIN" => lc(ctx
            .msg
            .get_list("From:addr")
            .into_iter()
            .filter_map(|a| {
                let a = s(&a);
                a.rsplit_once('@').map(|(_, d)| d.as_bytes().to_vec())
            })
            .collect()),
        "SENDERDOMAIN" => envelope_domain(ctx).into_iter().collect(),
        "LASTEXTERNALHELO" | "LASTEXTERNALIP" | "LASTEXTERNALRDNS" => {
            let relays = ctx.msg.relays();
            let Some(r) = relays.external.first() else {
                return Vec::new();
            };
            let v = match tag {
                "LASTEXTERNALHELO" => &r.helo,
                "LASTEXTERNALIP" => &r.ip,
                _ => &r.rdns,
            };
            lc(vec![v.clone()])
        }
        _ => Vec::new(),
    }
}

fn plan_askdns(ctx: &EvalCtx<'_>, p: &mut Plan, r: &NetRule<'_>) {
    static TAG: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"_([A-Z][A-Z0-9]*)_").unwrap_or_else(|_| unreachable!("regex"))
    });
    let Some(def) = ctx
        .conf
        .lists
        .get("askdns")
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .rev()
        .find(|l| l.split_whitespace().next() == Some(r.name))
    else {
        return;
    };
    // NAME QUERY [TYPE [SUBTEST]]: the subtest is the rest of the line.
    let mut rest = def.trim();
    let mut f: Vec<&str> = Vec::new();
    while f.len() < 3 && !rest.is_empty() {
        let (w, r) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        f.push(w);
        rest = r.trim_start();
    }
    let (Some(template), qtype) = (f.get(1), f.get(2).copied().unwrap_or("A")) else {
        return;
    };
    let Some(qt) = QType::parse(qtype) else {
        return;
    };
    let Some(sub) = parse_asksub(rest) else {
        return;
    };
    p.askdns.insert(r.name.to_string(), (qt, sub));
    // Every combination of the tags' values; a tag without a value means
    // no query at all.
    let mut queries = vec![template.to_string()];
    for cap in TAG.captures_iter(template) {
        let tag = &cap[1];
        let vals = tag_values(ctx, tag);
        let mut next = Vec::new();
        for q in &queries {
            for v in &vals {
                next.push(q.replace(&format!("_{tag}_"), v));
            }
        }
        queries = next;
    }
    for q in queries {
        p.add(
            &q,
            qt,
            Purpose::AskDns {
                rule: r.name.into(),
            },
        );
    }
}

/// `check_hashbl_bodyre(LIST, OPTS, RE[, SUBTEST])`: the first group of
/// every match of RE in the body text, lowercased unless `case`, digits only
/// with `num`, unique, at most `max` (10), hashed with `sha1` (the default)
/// unless `raw`, asked as `VALUE.LIST` (`LIST/TXT` for TXT). SpamAssassin
/// shuffles before cutting to `max`; here the first ones are kept.
/// `sha256` is not supported (no query is made).
fn plan_hashbl_bodyre(ctx: &EvalCtx<'_>, p: &mut Plan, r: &NetRule<'_>) {
    let (Some(list), Some(re)) = (r.args.first(), r.args.get(2)) else {
        return;
    };
    let opts = r
        .args
        .get(1)
        .map(String::as_str)
        .unwrap_or("sha1/max=10/shuffle");
    let words: Vec<&str> = opts.split('/').collect();
    let raw = words.contains(&"raw");
    if words.contains(&"sha256") {
        return;
    }
    let case = words.contains(&"case");
    let num = words.contains(&"num");
    let max = words
        .iter()
        .find_map(|w| w.strip_prefix("max=").and_then(|n| n.parse().ok()))
        .unwrap_or(10usize);
    let Ok(re) = pcre2::bytes::RegexBuilder::new().build(re) else {
        return;
    };
    let ignore: HashSet<String> = ctx
        .conf
        .lists
        .get("hashbl_ignore")
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .flat_map(|l| l.split_whitespace())
        .map(str::to_ascii_lowercase)
        .collect();
    let mut values: Vec<String> = Vec::new();
    for line in ctx.msg.body_lines_bytes() {
        for c in re.captures_iter(line).flatten() {
            let Some(m) = c.get(1) else { continue };
            let mut v = s(m.as_bytes());
            if !case {
                v = v.to_lowercase();
            }
            if num {
                v.retain(|ch| ch.is_ascii_digit());
            }
            if !v.is_empty() && !values.contains(&v) {
                values.push(v);
            }
        }
    }
    values.truncate(max);
    let (zone, qt) = match list.rsplit_once('/') {
        Some((z, t)) if t.eq_ignore_ascii_case("txt") => (z, QType::Txt),
        Some((z, t)) if t.eq_ignore_ascii_case("a") => (z, QType::A),
        _ => (list.as_str(), QType::A),
    };
    for v in values {
        if ignore.contains(&v.to_ascii_lowercase()) {
            continue;
        }
        let hashed = if raw { v } else { sha1_hex(v.as_bytes()) };
        if ignore.contains(&hashed) {
            continue;
        }
        p.add(
            &format!("{hashed}.{}", zone.trim_end_matches('.')),
            qt,
            Purpose::HashBl {
                rule: r.name.into(),
                sub: r.args.get(3).cloned(),
            },
        );
    }
}

fn sha1_hex(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the harvest decided.
pub struct Results {
    hits: BTreeSet<String>,
    /// Report lines by rule (SpamAssassin's `test_log`).
    pub logs: HashMap<String, Vec<String>>,
    pub answers: Answers,
    /// Rules decided here (hit or not).
    pub rules: BTreeSet<String>,
    pub settings: DnsSettings,
}

impl Results {
    pub fn hit(&self, rule: &str) -> bool {
        self.hits.contains(rule)
    }
}

/// Process answered follow-up lookups (NS → blocklist / A → blocklist).
fn follow_up(p: &mut Plan) {
    let mut i = 0;
    while i < p.chained.len() {
        let idx = p.chained[i];
        let ((name, t), purpose) = p.purposes[idx].clone();
        let Some(out) = p.batch.peek(&name, t).cloned() else {
            i += 1;
            continue;
        };
        p.chained.swap_remove(i);
        match purpose {
            Purpose::UriNs { rules } => {
                for rr in out.records() {
                    let Rr::Host(ns) = rr else { continue };
                    let is_ip = ns.parse::<std::net::IpAddr>().is_ok();
                    if is_ip && (ns.parse::<Ipv4Addr>().is_err() || ip_is_private(ns.as_bytes())) {
                        continue;
                    }
                    let mut ip_rules = Vec::new();
                    for rule in &rules {
                        let Some(r) = p.uri.get(rule).cloned() else {
                            continue;
                        };
                        match r.kind {
                            UriKind::NsRhs => {
                                let d = if is_ip {
                                    ns.clone()
                                } else {
                                    ns_trim(ns, &p.settings)
                                };
                                uri_lookup(p, rule, &d);
                            }
                            UriKind::FullNsRhs => uri_lookup(p, rule, ns),
                            _ => ip_rules.push(rule.clone()),
                        }
                    }
                    if !is_ip && !ip_rules.is_empty() && p.seen.insert(format!("A:{ns}")) {
                        p.chain(ns, QType::A, Purpose::UriA { rules: ip_rules });
                    }
                }
            }
            Purpose::UriA { rules } => {
                for rr in out.records() {
                    let Rr::A(ip) = rr else { continue };
                    for rule in &rules {
                        uri_lookup_from(p, rule, &ip.to_string(), Some(&name));
                    }
                }
            }
            Purpose::NsFrom {
                rule,
                set,
                zone,
                sub,
            } => {
                for rr in out.records() {
                    let Rr::Host(ns) = rr else { continue };
                    if registry::is_fqdn_valid(ns) {
                        p.add(
                            &format!("{ns}.{zone}"),
                            QType::A,
                            Purpose::Rbl {
                                rule: rule.clone(),
                                set: set.clone(),
                                sub: sub.clone(),
                            },
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

/// NS host names for `urinsrhsbl` are trimmed to their registrable domain;
/// `ns_trim` keeps the name when it has no dot (no registry data here).
fn ns_trim(ns: &str, _s: &DnsSettings) -> String {
    // The registry data lives in the config; the caller has none here, so
    // trim to the last two labels, as SpamAssassin does for the common
    // gTLD case.
    let labels: Vec<&str> = ns.split('.').collect();
    if labels.len() <= 2 {
        ns.to_string()
    } else {
        labels[labels.len() - 2..].join(".")
    }
}

/// Wait for the answers (launching follow-ups as their inputs arrive) and
/// decide every planned rule.
pub fn harvest(mut p: Plan) -> Results {
    // Only NS/A purposes chain; DNSEval's ns_from too.
    for (i, (_, pur)) in p.purposes.iter().enumerate() {
        if matches!(pur, Purpose::NsFrom { .. }) {
            p.chained.push(i);
        }
    }
    p.chained.sort_unstable();
    p.chained.dedup();
    follow_up(&mut p);
    while !p.chained.is_empty() && p.batch.wait_one() {
        follow_up(&mut p);
    }
    let Plan {
        batch,
        purposes,
        uri,
        askdns,
        subs,
        rules,
        settings,
        ..
    } = p;
    let answers = batch.harvest();
    let mut hits = BTreeSet::new();
    let mut logs: HashMap<String, Vec<String>> = HashMap::new();
    let mut sender: HashMap<String, Vec<Outcome>> = HashMap::new();
    for ((name, t), purpose) in &purposes {
        let Some(out) = answers.get(name, *t) else {
            continue;
        };
        match purpose {
            Purpose::Rbl { rule, set, sub } => {
                let own = sub.as_deref().and_then(RblSub::parse);
                for rr in out.records() {
                    let (Rr::A(_) | Rr::Txt(_)) = rr else {
                        continue;
                    };
                    let text = rr.text();
                    if matches!(rr, Rr::A(_)) && !text.starts_with("127.") {
                        continue;
                    }
                    let ok = match (&own, sub) {
                        (Some(t), _) => t.test(&text),
                        (None, Some(_)) => false,
                        (None, None) => true,
                    };
                    if ok {
                        hits.insert(rule.clone());
                        if !rule.starts_with("__") {
                            logs.entry(rule.clone())
                                .or_default()
                                .push(rbl_log(name, rr));
                        }
                    }
                    for (r, t) in subs.get(set).map(Vec::as_slice).unwrap_or_default() {
                        if !hits.contains(r) && t.test(&text) {
                            hits.insert(r.clone());
                            if !r.starts_with("__") {
                                logs.entry(r.clone()).or_default().push(rbl_log(name, rr));
                            }
                        }
                    }
                }
            }
            Purpose::Uri { rule, log } => {
                let Some(r) = uri.get(rule) else { continue };
                for rr in out.records() {
                    let (text, num) = match rr {
                        Rr::A(a) => (a.to_string(), Some(u32::from(*a))),
                        Rr::Txt(_) => (rr.text(), None),
                        _ => continue,
                    };
                    let m = match &r.sub {
                        None => !matches!(rr, Rr::A(_)) || text.starts_with("127."),
                        Some((lit, n)) => {
                            *lit == text
                                || match (n, num) {
                                    (Some(n), Some(v)) => n.test(v),
                                    _ => false,
                                }
                        }
                    };
                    if m {
                        hits.insert(rule.clone());
                        logs.entry(rule.clone()).or_default().push(log.clone());
                    }
                }
            }
            Purpose::AskDns { rule } => {
                let Some((qt, sub)) = askdns.get(rule) else {
                    continue;
                };
                if let AskSub::Rcodes(codes) = sub {
                    let rc = match out {
                        Outcome::NxDomain => "NXDOMAIN",
                        Outcome::Answer(_) => "NOERROR",
                        _ => "",
                    };
                    if codes.iter().any(|c| c == rc) {
                        hits.insert(rule.clone());
                    }
                    continue;
                }
                for rr in out.records() {
                    let type_ok = matches!(
                        (qt, rr),
                        (QType::A, Rr::A(_))
                            | (QType::Aaaa, Rr::Aaaa(_))
                            | (QType::Txt, Rr::Txt(_))
                            | (QType::Ns | QType::Mx, Rr::Host(_))
                    );
                    if !type_ok {
                        continue;
                    }
                    let text = rr.text();
                    let num = match rr {
                        Rr::A(a) => Some(u32::from(*a)),
                        _ => None,
                    };
                    let m = match sub {
                        AskSub::Any => true,
                        AskSub::Regex(re) => re.is_match(text.as_bytes()),
                        AskSub::Exact(e) => *e == text,
                        AskSub::Num(n) => num.is_some_and(|v| n.test(v)),
                        AskSub::Rcodes(_) => false,
                    };
                    if m && hits.insert(rule.clone()) {
                        let qt = match qt {
                            QType::A => "A",
                            QType::Aaaa => "AAAA",
                            QType::Txt => "TXT",
                            QType::Ns | QType::NsAuthority => "NS",
                            QType::Mx => "MX",
                        };
                        logs.entry(rule.clone())
                            .or_default()
                            .push(format!("{name} {qt}:{text}"));
                    }
                }
            }
            Purpose::Sender { rule } => {
                sender.entry(rule.clone()).or_default().push(out.clone());
            }
            Purpose::HashBl { rule, sub } => {
                let re = match sub {
                    Some(x) => perl_regex(x, ""),
                    None => perl_regex(r"^127\.", ""),
                };
                let Some(re) = re else { continue };
                if out
                    .records()
                    .iter()
                    .any(|rr| matches!(rr, Rr::A(_)) && re.is_match(rr.text().as_bytes()))
                    && hits.insert(rule.clone())
                {
                    let value = name
                        .rsplit_once(&format!(".{}", zone_of_hash(name)))
                        .map(|(v, _)| v.to_string())
                        .unwrap_or_default();
                    logs.entry(rule.clone())
                        .or_default()
                        .push(value.replace('@', "[at]"));
                }
            }
            _ => {}
        }
    }
    // check_dns_sender: SpamAssassin 4.0.1 counts a failure only for an
    // A or MX answer record in an NXDOMAIN/SERVFAIL reply, which servers do
    // not send, so NO_DNS_FOR_FROM never hits there; the lookups are made
    // and the rule stays silent here too.
    drop(sender);
    crate::dns::note_block_rule_hits(&settings, &|r| hits.contains(r));
    Results {
        hits,
        logs,
        answers,
        rules,
        settings,
    }
}

/// `dnsbl_hit`'s report line: the TXT text (links in `<..>`), or
/// `IP listed in ZONE` for a reversed-IP question, else `listed in NAME`.
fn rbl_log(question: &str, rr: &Rr) -> String {
    if let Rr::Txt(_) = rr {
        let text = rr.text();
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.to_ascii_lowercase().find("http") {
            let tail = &rest[i..];
            let lower = tail.to_ascii_lowercase();
            let is_url = lower.starts_with("http://") || lower.starts_with("https://");
            let prev = rest[..i].chars().last();
            if !is_url || matches!(prev, Some('<' | '(' | '[')) {
                out.push_str(&rest[..i + 4]);
                rest = &rest[i + 4..];
                continue;
            }
            let end = tail.find(char::is_whitespace).unwrap_or(tail.len());
            out.push_str(&rest[..i]);
            out.push_str(&format!("<{}>", &tail[..end]));
            rest = &tail[end..];
        }
        out.push_str(rest);
        return out;
    }
    let labels: Vec<&str> = question.split('.').collect();
    if labels.len() > 4
        && labels[..4]
            .iter()
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return format!(
            "{}.{}.{}.{} listed in {}",
            labels[3],
            labels[2],
            labels[1],
            labels[0],
            labels[4..].join(".").to_ascii_lowercase()
        );
    }
    format!("listed in {question}")
}

/// The zone part of a HashBL question (everything after the first label).
fn zone_of_hash(name: &str) -> &str {
    name.split_once('.').map(|(_, z)| z).unwrap_or("")
}

/// Whether the settings read from `ctx` turn DNS on at all.
pub fn dns_enabled(ctx: &EvalCtx<'_>) -> bool {
    !ctx.conf.local_tests_only
        && ctx
            .conf
            .settings
            .get("dns_available")
            .is_none_or(|v| !v.trim().eq_ignore_ascii_case("no"))
}

/// `in_domain` re-exported for callers that filter zones.
pub fn zone_matches(name: &str, zone: &str) -> bool {
    in_domain(name, zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtests() {
        let m = RblSub::parse("2").unwrap();
        assert!(m.test("127.0.0.2") && !m.test("127.0.0.4") && !m.test("10.0.0.2"));
        let r = RblSub::parse(r"^127\.0\.0\.1[01]$").unwrap();
        assert!(r.test("127.0.0.10") && !r.test("127.0.0.2"));
        let e = RblSub::parse("127.0.0.2").unwrap();
        assert!(e.test("127.0.0.2") && !e.test("127.0.0.3"));
        let t = RblSub::parse("(?i:spamcop)").unwrap();
        assert!(t.test("Blocked - see https://www.SpamCop.net/"));
        assert_eq!(parse_numsub("2"), Some(NumSub::Mask(2)));
        let one = u32::from(Ipv4Addr::new(127, 0, 1, 106));
        assert_eq!(parse_numsub("127.0.1.106"), Some(NumSub::Range(one, one)));
        assert!(
            parse_numsub("127.0.1.2-127.0.1.99")
                .unwrap()
                .test(u32::from(Ipv4Addr::new(127, 0, 1, 50)))
        );
        assert!(NumSub::Mask(64).test(u32::from(Ipv4Addr::new(127, 0, 0, 64))));
        assert!(!NumSub::Mask(64).test(u32::from(Ipv4Addr::new(10, 0, 0, 64))));
        assert!(matches!(
            parse_asksub("/^127\\.2\\.0\\.2$/"),
            Some(AskSub::Regex(_))
        ));
        assert!(matches!(
            parse_asksub("[NXDOMAIN]"),
            Some(AskSub::Rcodes(_))
        ));
    }

    #[test]
    fn ip_choice() {
        let relay = RelayIps {
            ips: vec!["1.1.1.1".into(), "2.2.2.2".into(), "3.3.3.3".into()],
            fullexternal: vec![
                "9.9.9.9".into(),
                "1.1.1.1".into(),
                "2.2.2.2".into(),
                "3.3.3.3".into(),
            ],
            originating: vec!["4.4.4.4".into()],
        };
        assert_eq!(
            rbl_ips(&relay, "zen-lastexternal", None, 9, false),
            ["9.9.9.9"]
        );
        assert_eq!(
            rbl_ips(&relay, "dnswl-firsttrusted", None, 9, false),
            ["1.1.1.1"]
        );
        assert_eq!(
            rbl_ips(&relay, "x-untrusted", None, 9, false),
            ["2.2.2.2", "3.3.3.3", "4.4.4.4"]
        );
        assert_eq!(
            rbl_ips(&relay, "zen", None, 2, false),
            ["4.4.4.4", "3.3.3.3"]
        );
        assert_eq!(
            rbl_ips(&relay, "pdl-notfirsthop", None, 9, false),
            ["9.9.9.9", "1.1.1.1", "2.2.2.2"]
        );
    }
}
