//! Asynchronous DNS for the network tests, on SpamAssassin's model: every
//! lookup a message needs is launched as soon as its inputs are known, they
//! run concurrently, and the scan harvests them at the end, waiting at most
//! `rbl_timeout` (shrinking as answers arrive, per zone if configured).
//!
//! Lookups run on one small tokio runtime shared by every scan (one worker
//! thread, created on first use), so a scan on spamd's thread pool only
//! pays for sending its queries and waiting for the answers. The resolver
//! (hickory-resolver) is built once per distinct server/options set and
//! shared, cache included.
//!
//! Settings read from the configuration: `dns_server`, `dns_options`
//! (`rotate`, `dns0x20`, `edns=N`, `v4`/`v6`/`nov4`/`nov6`, others accepted
//! and ignored), `rbl_timeout T [MIN [ZONE]]`, `dns_available`
//! (`yes`/`no`/`test[: names]`), `dns_query_restriction (allow|deny) dom…`,
//! `dns_block_rule RULE ZONE`/`dns_block_time`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

use crate::config::Config;

/// The record types the network tests ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QType {
    A,
    Aaaa,
    Txt,
    Ns,
    Mx,
    /// An NS query whose outcome is the primary server (`mname`) of the SOA
    /// in the authority section of a negative answer, as Host records:
    /// what DNSEval's `check_rbl_ns_from` reads (`$pkt->authority`, then
    /// `mname`, which only SOA records have). A positive NS answer gives
    /// nothing.
    NsAuthority,
}

impl QType {
    pub fn parse(s: &str) -> Option<QType> {
        Some(match s.to_ascii_uppercase().as_str() {
            "A" => QType::A,
            "AAAA" => QType::Aaaa,
            "TXT" => QType::Txt,
            "NS" => QType::Ns,
            "MX" => QType::Mx,
            _ => return None,
        })
    }
    fn record_type(self) -> RecordType {
        match self {
            QType::A => RecordType::A,
            QType::Aaaa => RecordType::AAAA,
            QType::Txt => RecordType::TXT,
            QType::Ns | QType::NsAuthority => RecordType::NS,
            QType::Mx => RecordType::MX,
        }
    }
}

/// One answer record, in the form the evals compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rr {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// The character-strings joined, as SpamAssassin's `txtdata`.
    Txt(Vec<u8>),
    /// NS or MX target, lowercased, without the trailing dot.
    Host(String),
}

impl Rr {
    /// The answer as SpamAssassin's rules match it (`rdatastr`).
    pub fn text(&self) -> String {
        match self {
            Rr::A(a) => a.to_string(),
            Rr::Aaaa(a) => a.to_string(),
            Rr::Txt(t) => t.iter().map(|&b| b as char).collect(),
            Rr::Host(h) => h.clone(),
        }
    }
}

/// How a lookup ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answers (possibly empty: NOERROR/NODATA).
    Answer(Vec<Rr>),
    NxDomain,
    /// Timed out, refused, unreachable ... (the message says which).
    Failed(String),
    /// Not answered before the harvest deadline.
    TimedOut,
}

impl Outcome {
    pub fn records(&self) -> &[Rr] {
        match self {
            Outcome::Answer(r) => r,
            _ => &[],
        }
    }
}

/// Per-zone `rbl_timeout`.
#[derive(Debug, Clone, PartialEq)]
struct ZoneTimeout {
    zone: String,
    initial: f64,
    min: Option<f64>,
}

/// The DNS settings of a configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsSettings {
    /// `dns_server` entries; empty means /etc/resolv.conf.
    pub servers: Vec<SocketAddr>,
    pub available: Availability,
    pub rbl_timeout: f64,
    pub rbl_timeout_min: Option<f64>,
    zone_timeouts: Vec<ZoneTimeout>,
    pub rotate: bool,
    pub dns0x20: bool,
    pub edns: u16,
    pub v4: bool,
    pub v6: bool,
    /// (deny?, domain) from `dns_query_restriction`; the longest match wins.
    restrictions: Vec<(bool, String)>,
    /// (rule, zone) from `dns_block_rule`.
    pub block_rules: Vec<(String, String)>,
    pub block_time: Duration,
    /// `dns_local_ports_avoid` (and `dns_local_ports_none`: all of them).
    pub avoid_ports: Vec<(u16, u16)>,
}

/// `dns_available`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Yes,
    No,
    /// `test[: name ...]`: available when one of these names' NS answers.
    Test(Vec<String>),
}

fn parse_secs(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1.0),
        Some('m') => (&s[..s.len() - 1], 60.0),
        Some('h') => (&s[..s.len() - 1], 3600.0),
        Some('d') => (&s[..s.len() - 1], 86400.0),
        Some('w') => (&s[..s.len() - 1], 604800.0),
        _ => (s, 1.0),
    };
    num.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v * mult)
}

/// `127.0.0.1`, `127.0.0.1:5353`, `[::1]:53`, `::1`.
fn parse_server(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 53))
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            servers: Vec::new(),
            available: Availability::Yes,
            rbl_timeout: 15.0,
            rbl_timeout_min: None,
            zone_timeouts: Vec::new(),
            rotate: false,
            dns0x20: false,
            edns: 1232,
            v4: true,
            v6: true,
            restrictions: Vec::new(),
            block_rules: Vec::new(),
            block_time: Duration::from_secs(300),
            avoid_ports: Vec::new(),
        }
    }
}

impl DnsSettings {
    pub fn from_config(conf: &Config) -> DnsSettings {
        let mut s = DnsSettings::default();
        let list = |k: &str| conf.lists.get(k).cloned().unwrap_or_default();
        for v in list("dns_server") {
            if let Some(a) = parse_server(&v) {
                s.servers.push(a);
            }
        }
        if let Some(v) = conf.settings.get("dns_available") {
            let v = v.trim();
            s.available = if v.eq_ignore_ascii_case("no") {
                Availability::No
            } else if let Some(rest) = v.strip_prefix("test") {
                let names: Vec<String> = rest
                    .trim_start_matches(':')
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                Availability::Test(names)
            } else {
                Availability::Yes
            };
        }
        for v in list("rbl_timeout") {
            let f: Vec<&str> = v.split_whitespace().collect();
            let Some(t) = f.first().and_then(|x| parse_secs(x)) else {
                continue;
            };
            let min = f.get(1).and_then(|x| parse_secs(x));
            match f.get(2) {
                Some(zone) => s.zone_timeouts.push(ZoneTimeout {
                    zone: zone.trim_end_matches('.').to_ascii_lowercase(),
                    initial: t,
                    min,
                }),
                None => {
                    s.rbl_timeout = t;
                    s.rbl_timeout_min = min;
                }
            }
        }
        for v in list("dns_options") {
            for opt in v.split([',', ' ']).filter(|o| !o.is_empty()) {
                let (neg, name) = match opt.strip_prefix("no") {
                    Some(rest) if !rest.is_empty() => (true, rest),
                    _ => (false, opt),
                };
                let (name, val) = name.split_once('=').unwrap_or((name, ""));
                match name.to_ascii_lowercase().as_str() {
                    "rotate" => s.rotate = !neg,
                    "dns0x20" => s.dns0x20 = !neg,
                    "edns" | "edns0" => {
                        s.edns = if neg {
                            512
                        } else {
                            val.parse().unwrap_or(4096).max(512)
                        }
                    }
                    "v4" => s.v4 = !neg,
                    "v6" => s.v6 = !neg,
                    _ => {}
                }
            }
        }
        for v in list("dns_query_restriction") {
            let mut f = v.split_whitespace();
            let deny = match f.next().map(str::to_ascii_lowercase).as_deref() {
                Some("deny") => true,
                Some("allow") => false,
                _ => continue,
            };
            for d in f {
                s.restrictions
                    .push((deny, d.trim_end_matches('.').to_ascii_lowercase()));
            }
        }
        for v in list("dns_block_rule") {
            let f: Vec<&str> = v.split_whitespace().collect();
            if let [rule, zone] = f[..] {
                s.block_rules.push((
                    rule.to_string(),
                    zone.trim_end_matches('.').to_ascii_lowercase(),
                ));
            }
        }
        for v in list("dns_local_ports_avoid") {
            for r in v.split([',', ' ']).filter(|x| !x.is_empty()) {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                    s.avoid_ports.push((a.min(b), a.max(b)));
                }
            }
        }
        if conf.settings.contains_key("dns_local_ports_none") {
            // SpamAssassin then lets the system pick; so do we.
            s.avoid_ports.clear();
        }
        if let Some(t) = conf
            .settings
            .get("dns_block_time")
            .and_then(|v| parse_secs(v))
        {
            s.block_time = Duration::from_secs_f64(t);
        }
        s
    }

    /// The (initial, minimum) timeout for a query name: the longest
    /// matching `rbl_timeout … ZONE`, else the global one; the minimum
    /// defaults to a fifth of the initial.
    fn timeouts(&self, name: &str) -> (f64, f64) {
        let best = self
            .zone_timeouts
            .iter()
            .filter(|z| in_domain(name, &z.zone))
            .max_by_key(|z| z.zone.len());
        let (t, min) = match best {
            Some(z) => (z.initial, z.min.or(self.rbl_timeout_min)),
            None => (self.rbl_timeout, self.rbl_timeout_min),
        };
        let min = min.unwrap_or(0.2 * t).max(0.0);
        (t.max(min), min)
    }

    /// Whether `dns_query_restriction` lets `name` be asked.
    pub fn allowed(&self, name: &str) -> bool {
        self.restrictions
            .iter()
            .filter(|(_, d)| in_domain(name, d))
            .max_by_key(|(_, d)| d.len())
            .is_none_or(|(deny, _)| !deny)
    }
}

/// `name` equals `zone` or is below it (case-insensitive, dots trimmed).
pub fn in_domain(name: &str, zone: &str) -> bool {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    let z = zone.trim_end_matches('.');
    n == z || (n.len() > z.len() && n.ends_with(z) && n.as_bytes()[n.len() - z.len() - 1] == b'.')
}

/// The runtime every scan's lookups run on (one worker, created on first
/// use). Other network tests (SPF, DKIM, DMARC) can run their futures here.
pub fn runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dns")
            .enable_all()
            .build()
            .ok()
    })
    .as_ref()
}

/// The resolver for these settings (servers and options), shared by scans
/// and built on first use; mail-auth's `MessageAuthenticator` can wrap it.
pub fn resolver_for(s: &DnsSettings) -> Result<Arc<TokioResolver>, String> {
    type Key = (
        Vec<SocketAddr>,
        bool,
        bool,
        u16,
        bool,
        bool,
        Vec<(u16, u16)>,
    );
    static CACHE: OnceLock<Mutex<HashMap<Key, Arc<TokioResolver>>>> = OnceLock::new();
    let key: Key = (
        s.servers.clone(),
        s.rotate,
        s.dns0x20,
        s.edns,
        s.v4,
        s.v6,
        s.avoid_ports.clone(),
    );
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(c) = cache.lock()
        && let Some(r) = c.get(&key)
    {
        return Ok(r.clone());
    }
    let rt = runtime().ok_or("cannot start the DNS runtime")?;
    let _guard = rt.enter();
    let (config, mut opts) = if s.servers.is_empty() {
        hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| format!("reading /etc/resolv.conf: {e}"))?
    } else {
        (
            ResolverConfig::from_parts(None, Vec::new(), Vec::new()),
            ResolverOpts::default(),
        )
    };
    let mut config = config;
    for a in &s.servers {
        let mut udp = ConnectionConfig::udp();
        udp.port = a.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = a.port();
        config.add_name_server(NameServerConfig::new(a.ip(), true, vec![udp, tcp]));
    }
    let servers: Vec<NameServerConfig> = config
        .name_servers()
        .iter()
        .filter(|ns| (s.v4 || !ns.ip.is_ipv4()) && (s.v6 || !ns.ip.is_ipv6()))
        .cloned()
        .collect();
    if servers.is_empty() {
        return Err("no usable DNS server (dns_server, dns_options v4/v6)".into());
    }
    let config = ResolverConfig::from_parts(None, Vec::new(), servers);
    // The harvest enforces rbl_timeout; the per-try timeout only bounds
    // one attempt.
    opts.timeout = Duration::from_secs(5);
    opts.attempts = 2;
    opts.ndots = 0;
    opts.case_randomization = s.dns0x20;
    opts.edns_payload_len = s.edns;
    opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
    opts.server_ordering_strategy = if s.rotate {
        hickory_resolver::config::ServerOrderingStrategy::RoundRobin
    } else {
        hickory_resolver::config::ServerOrderingStrategy::QueryStatistics
    };
    opts.num_concurrent_reqs = 1;
    if !s.avoid_ports.is_empty() {
        opts.avoid_local_udp_ports =
            Arc::new(s.avoid_ports.iter().flat_map(|&(a, b)| a..=b).collect());
    }
    let r = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .map_err(|e| format!("DNS resolver: {e}"))?;
    let r = Arc::new(r);
    if let Ok(mut c) = cache.lock() {
        c.insert(key, r.clone());
    }
    Ok(r)
}

/// Zones blocked by `dns_block_rule` until an instant (shared by scans).
fn blocked_zones() -> &'static Mutex<HashMap<String, Instant>> {
    static B: OnceLock<Mutex<HashMap<String, Instant>>> = OnceLock::new();
    B.get_or_init(Default::default)
}

/// `dns_available test`: cached verdict (and when it was taken).
fn availability_cache() -> &'static Mutex<Option<(Instant, bool)>> {
    static C: OnceLock<Mutex<Option<(Instant, bool)>>> = OnceLock::new();
    C.get_or_init(Default::default)
}

type Key = (String, QType);

/// The lookups of one scan: launched as their inputs are known, harvested
/// once.
pub struct Batch {
    settings: DnsSettings,
    resolver: Option<Arc<TokioResolver>>,
    tx: mpsc::Sender<(Key, Outcome)>,
    rx: mpsc::Receiver<(Key, Outcome)>,
    /// Each launched query: when, and its (initial, min) timeouts.
    pending: HashMap<Key, (Instant, f64, f64)>,
    done: HashMap<Key, Outcome>,
    started: usize,
    first: Option<Instant>,
    /// Why lookups were not even started (resolver error), for the log.
    pub error: Option<String>,
    /// Queries skipped by dns_query_restriction or dns_block_rule.
    pub skipped: usize,
}

/// What a harvest collected.
#[derive(Debug, Default)]
pub struct Answers {
    map: HashMap<Key, Outcome>,
    pub queries: usize,
    pub timed_out: usize,
    pub failed: usize,
    /// From the first launch to the end of the harvest.
    pub elapsed: Duration,
    pub error: Option<String>,
    /// One failure reason, for the log.
    pub first_failure: Option<String>,
}

impl Answers {
    pub fn get(&self, name: &str, t: QType) -> Option<&Outcome> {
        self.map.get(&(normalize(name), t))
    }
    pub fn records(&self, name: &str, t: QType) -> &[Rr] {
        self.get(name, t).map(Outcome::records).unwrap_or(&[])
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Batch {
    /// A batch for these settings; `None` when DNS is off
    /// (`dns_available no`, or `test` failed).
    pub fn new(settings: &DnsSettings) -> Option<Batch> {
        if settings.available == Availability::No {
            return None;
        }
        let (tx, rx) = mpsc::channel();
        let (resolver, error) = match resolver_for(settings) {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e)),
        };
        let mut b = Batch {
            settings: settings.clone(),
            resolver,
            tx,
            rx,
            pending: HashMap::new(),
            done: HashMap::new(),
            started: 0,
            first: None,
            error,
            skipped: 0,
        };
        if let Availability::Test(names) = &settings.available
            && !b.test_available(names)
        {
            return None;
        }
        Some(b)
    }

    fn test_available(&mut self, names: &[String]) -> bool {
        let cache = availability_cache();
        if let Ok(c) = cache.lock()
            && let Some((when, ok)) = *c
            && when.elapsed() < Duration::from_secs(600)
        {
            return ok;
        }
        let names: Vec<String> = if names.is_empty() {
            vec!["ietf.org".into(), "apache.org".into(), "google.com".into()]
        } else {
            names.to_vec()
        };
        let mut probe = Batch {
            settings: self.settings.clone(),
            resolver: self.resolver.clone(),
            tx: self.tx.clone(),
            rx: mpsc::channel().1,
            pending: HashMap::new(),
            done: HashMap::new(),
            started: 0,
            first: None,
            error: None,
            skipped: 0,
        };
        let (tx, rx) = mpsc::channel();
        probe.tx = tx;
        probe.rx = rx;
        probe.settings.rbl_timeout = 5.0;
        probe.settings.zone_timeouts.clear();
        for n in &names {
            probe.launch(n, QType::Ns);
        }
        let a = probe.harvest();
        let ok = names.iter().any(|n| !a.records(n, QType::Ns).is_empty());
        if let Ok(mut c) = cache.lock() {
            *c = Some((Instant::now(), ok));
        }
        ok
    }

    /// Launch `name type` unless already launched, restricted or blocked.
    pub fn launch(&mut self, name: &str, t: QType) {
        let name = normalize(name);
        if name.is_empty() {
            return;
        }
        let key = (name.clone(), t);
        if self.pending.contains_key(&key) || self.done.contains_key(&key) {
            return;
        }
        if !self.settings.allowed(&name) || self.is_blocked(&name) {
            self.skipped += 1;
            return;
        }
        let Some(resolver) = self.resolver.clone() else {
            return;
        };
        let Some(rt) = runtime() else { return };
        let now = Instant::now();
        self.first.get_or_insert(now);
        let (t0, tmin) = self.settings.timeouts(&name);
        self.pending.insert(key.clone(), (now, t0, tmin));
        self.started += 1;
        let tx = self.tx.clone();
        rt.spawn(async move {
            let fqdn = format!("{}.", key.0);
            let out = match resolver.lookup(fqdn.as_str(), key.1.record_type()).await {
                Ok(_) if key.1 == QType::NsAuthority => Outcome::Answer(Vec::new()),
                Err(e) if key.1 == QType::NsAuthority && e.is_no_records_found() => {
                    Outcome::Answer(
                        e.into_soa()
                            .map(|soa| Rr::Host(normalize(&soa.data.mname.to_string())))
                            .into_iter()
                            .collect(),
                    )
                }
                Ok(l) => Outcome::Answer(
                    l.answers()
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::A(a) => Some(Rr::A(a.0)),
                            RData::AAAA(a) => Some(Rr::Aaaa(a.0)),
                            RData::TXT(t) => Some(Rr::Txt(t.txt_data.concat())),
                            RData::NS(n) => Some(Rr::Host(normalize(&n.0.to_string()))),
                            RData::MX(m) => Some(Rr::Host(normalize(&m.exchange.to_string()))),
                            _ => None,
                        })
                        .collect(),
                ),
                Err(e) if e.is_nx_domain() => Outcome::NxDomain,
                Err(e) if e.is_no_records_found() => Outcome::Answer(Vec::new()),
                Err(e) => Outcome::Failed(e.to_string()),
            };
            let _ = tx.send((key, out));
        });
    }

    fn is_blocked(&self, name: &str) -> bool {
        let Ok(mut b) = blocked_zones().lock() else {
            return false;
        };
        let now = Instant::now();
        b.retain(|_, until| *until > now);
        b.keys().any(|z| in_domain(name, z))
    }

    /// Whether anything was launched.
    pub fn is_empty(&self) -> bool {
        self.started == 0
    }

    /// Collect answers that are already in, without waiting.
    pub fn poll(&mut self) {
        while let Ok((k, o)) = self.rx.try_recv() {
            self.pending.remove(&k);
            self.done.insert(k, o);
        }
    }

    /// The answer of a query, if it is in (does not wait).
    pub fn peek(&mut self, name: &str, t: QType) -> Option<&Outcome> {
        self.poll();
        self.done.get(&(normalize(name), t))
    }

    /// Wait for one more answer, at most until the current deadline;
    /// false when nothing is pending or the deadline passed.
    pub fn wait_one(&mut self) -> bool {
        self.poll();
        if self.pending.is_empty() {
            return false;
        }
        let Some(deadline) = self.deadline() else {
            return false;
        };
        let now = Instant::now();
        if deadline <= now {
            return false;
        }
        match self.rx.recv_timeout(deadline - now) {
            Ok((k, o)) => {
                self.pending.remove(&k);
                self.done.insert(k, o);
                true
            }
            Err(_) => false,
        }
    }

    /// The latest deadline of the pending queries, each shrinking from its
    /// initial timeout towards its minimum as the share of completed
    /// queries grows (SpamAssassin's `t_init - (t_init - t_min) * r²`).
    fn deadline(&self) -> Option<Instant> {
        let r = if self.started == 0 {
            1.0
        } else {
            (self.started - self.pending.len()) as f64 / self.started as f64
        };
        let r2 = r * r;
        self.pending
            .values()
            .map(|(start, t0, tmin)| *start + Duration::from_secs_f64(t0 - (t0 - tmin) * r2))
            .max()
    }

    /// Wait for the pending lookups (bounded by the deadlines) and return
    /// every answer; the unanswered ones count as timed out.
    pub fn harvest(mut self) -> Answers {
        while self.wait_one() {}
        self.poll();
        let mut a = Answers {
            queries: self.started,
            error: self.error.take(),
            elapsed: self.first.map(|f| f.elapsed()).unwrap_or_default(),
            ..Default::default()
        };
        for (k, _) in self.pending.drain() {
            a.timed_out += 1;
            a.map.insert(k, Outcome::TimedOut);
        }
        if a.timed_out > 0 {
            let servers: Vec<String> = self
                .settings
                .servers
                .iter()
                .map(|s| s.to_string())
                .collect();
            a.first_failure = Some(format!(
                "no answer from {} in time",
                if servers.is_empty() {
                    "the resolv.conf servers".to_string()
                } else {
                    servers.join(", ")
                }
            ));
        }
        for (k, o) in self.done.drain() {
            if let Outcome::Failed(e) = &o {
                a.failed += 1;
                a.first_failure
                    .get_or_insert_with(|| format!("{} {:?}: {e}", k.0, k.1));
            }
            a.map.insert(k, o);
        }
        a
    }
}

/// What the DNS tests of one scan cost, for the log line.
#[derive(Debug, Clone, Default)]
pub struct ScanStats {
    pub queries: usize,
    pub timed_out: usize,
    pub failed: usize,
    pub elapsed: Duration,
    /// Why no lookup could start, or one failure reason.
    pub problem: Option<String>,
}

thread_local! {
    static LAST_SCAN: std::cell::RefCell<Option<ScanStats>> = const { std::cell::RefCell::new(None) };
}

/// Note this thread's scan's DNS figures (the scan runs on the caller's
/// thread, so spamd reads them right after scanning).
pub fn record_scan(a: &Answers) {
    let st = ScanStats {
        queries: a.queries,
        timed_out: a.timed_out,
        failed: a.failed,
        elapsed: a.elapsed,
        problem: a.error.clone().or_else(|| a.first_failure.clone()),
    };
    LAST_SCAN.with(|l| *l.borrow_mut() = Some(st));
}

/// The DNS figures of the last scan on this thread (taken: a second call
/// returns None until the next scan with DNS tests).
pub fn take_scan_stats() -> Option<ScanStats> {
    LAST_SCAN.with(|l| l.borrow_mut().take())
}

/// After a scan: a rule named by `dns_block_rule` hit, so its zone is not
/// queried again for `dns_block_time`.
pub fn note_block_rule_hits(settings: &DnsSettings, hit: &dyn Fn(&str) -> bool) {
    for (rule, zone) in &settings.block_rules {
        if hit(rule)
            && let Ok(mut b) = blocked_zones().lock()
        {
            b.insert(zone.clone(), Instant::now() + settings.block_time);
        }
    }
}

/// `1.2.3.4` -> `4.3.2.1`; IPv6 -> nibbles reversed. None for non-IPs.
pub fn reverse_ip(ip: &str) -> Option<String> {
    match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Some(format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0]))
        }
        IpAddr::V6(v6) => {
            let mut nibbles = Vec::with_capacity(32);
            for b in v6.octets().iter().rev() {
                nibbles.push(format!("{:x}", b & 0xf));
                nibbles.push(format!("{:x}", b >> 4));
            }
            Some(nibbles.join("."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> DnsSettings {
        DnsSettings::from_config(&Config::from_text("t.cf", text))
    }

    #[test]
    fn settings() {
        let s = conf(
            "dns_server 127.0.0.1:5353\ndns_server [::1]:53\nrbl_timeout 10 2\nrbl_timeout 3 1 multi.uribl.com\n\
             dns_options rotate, dns0x20, edns=4096, nov6\ndns_query_restriction deny example.com\n\
             dns_query_restriction allow ok.example.com\ndns_available test: a.org b.org\n\
             dns_block_rule URIBL_BLOCKED multi.uribl.com\ndns_block_time 60\n",
        );
        assert_eq!(s.servers.len(), 2);
        assert_eq!(s.servers[0].port(), 5353);
        assert_eq!(s.timeouts("2.0.0.127.zen.spamhaus.org"), (10.0, 2.0));
        assert_eq!(s.timeouts("foo.com.multi.uribl.com"), (3.0, 1.0));
        assert!(s.rotate && s.dns0x20 && !s.v6 && s.v4 && s.edns == 4096);
        assert!(!s.allowed("x.example.com"));
        assert!(s.allowed("a.ok.example.com"));
        assert!(s.allowed("example.org"));
        assert_eq!(
            s.available,
            Availability::Test(vec!["a.org".into(), "b.org".into()])
        );
        assert_eq!(
            s.block_rules,
            [("URIBL_BLOCKED".into(), "multi.uribl.com".into())]
        );
        assert_eq!(s.block_time, Duration::from_secs(60));
        assert_eq!(conf("").timeouts("x.y"), (15.0, 3.0));
        assert_eq!(conf("dns_available no").available, Availability::No);
    }

    #[test]
    fn block_rule_stops_queries_to_its_zone() {
        let s = conf(
            "dns_server 127.0.0.1:9\ndns_block_rule T_BLOCKED blocked-test.example\ndns_local_ports_avoid 1-1023, 5353\n",
        );
        assert_eq!(s.avoid_ports, [(1, 1023), (5353, 5353)]);
        note_block_rule_hits(&s, &|r| r == "T_OTHER");
        let mut b = Batch::new(&s).expect("dns on");
        b.launch("1.blocked-test.example", QType::A);
        assert_eq!((b.skipped, b.started), (0, 1));
        note_block_rule_hits(&s, &|r| r == "T_BLOCKED");
        let mut b = Batch::new(&s).expect("dns on");
        b.launch("2.blocked-test.example", QType::A);
        b.launch("2.other-test.example", QType::A);
        assert_eq!((b.skipped, b.started), (1, 1));
    }

    #[test]
    fn reverse() {
        assert_eq!(reverse_ip("192.0.2.1").as_deref(), Some("1.2.0.192"));
        assert_eq!(
            reverse_ip("2001:db8::1").as_deref(),
            Some("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2")
        );
        assert!(reverse_ip("foo").is_none());
        assert!(in_domain("a.b.example.com.", "example.com"));
        assert!(!in_domain("badexample.com", "example.com"));
    }

    #[test]
    fn nothing_answers_within_the_timeout() {
        // A bound UDP socket that never answers.
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        let s = conf(&format!("dns_server 127.0.0.1:{port}\nrbl_timeout 1 0.5\n"));
        let mut b = Batch::new(&s).expect("dns on");
        let start = Instant::now();
        for i in 0..5 {
            b.launch(&format!("{i}.0.0.127.zen.spamhaus.org"), QType::A);
        }
        let a = b.harvest();
        assert_eq!(a.queries, 5);
        assert_eq!(a.timed_out, 5);
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
