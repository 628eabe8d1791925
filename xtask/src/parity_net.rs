//! Parity with the network tests on: `xtask parity --network`.
//!
//! Writes blocklist zones under their real names (zen.spamhaus.org,
//! multi.uribl.com, dbl.spamhaus.org, bl.spamcop.net ...) that list a
//! deterministic part (by a hash of the name) of the relay IPs, URI hosts
//! and author domains found in the selected messages, with a mix of return
//! codes, and one zone per top-level domain of the senders with SPF and
//! DMARC records for a deterministic mix of the envelope, HELO and From
//! domains ([`build_auth_zones`]); serves them with knotd; scans the
//! messages with SpamAssassin's own spamd (without `-L`) and with our
//! engine (SPF, DKIM and DMARC launched before the rules, as our spamd
//! does), both pointed at that server, and compares the rule hits.
//!
//! Everything runs in a private network and mount namespace (the program
//! starts itself again under `unshare -n -m`): SpamAssassin's DMARC plugin
//! asks the resolver of /etc/resolv.conf, so knotd answers on 127.0.0.1
//! port 53 and a resolv.conf naming it is bind-mounted there. The corpus
//! has no DKIM signatures; tests/tests/auth_parity.rs signs its own.
//! Razor, Pyzor and DCC are left out on both sides (their `loadplugin`
//! lines are dropped from the site directory's .pre files): they ask
//! outside services. Bayes is off.
//!
//! Options: `--limit N` (default 300, the CI gate; `--all` for the whole
//! corpus), `--tsv FILE` (message list, default tests/parity/sa401-L.tsv),
//! `--corpus DIR`, `--show N`, `--zones-only DIR` (write the zone files and
//! stop), `--require-identical P`, `--require-verdict P`,
//! `--require-rule-recall P` (per network rule SpamAssassin hits at least
//! `--min-hits` times, default 20), `--sa-fresh` (one SpamAssassin child
//! per message: exact but about ten times slower).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::dns::{Knot, Zone};
use spamcore::config::{Config, Sources};
use spamcore::message::Message;
use spamcore::rules::{CompileOptions, CompiledRules};
use spamcore::scan;

/// FNV-1a, so the choice of listed names is the same on every run.
fn hash(s: &str, salt: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.bytes().chain([0]).chain(s.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Listed in `zone` with probability `pct`%: which code, if any.
fn pick<'a>(name: &str, zone: &str, pct: u64, codes: &[&'a str]) -> Option<&'a str> {
    let h = hash(name, zone);
    if h % 100 >= pct || codes.is_empty() {
        return None;
    }
    Some(codes[((h / 100) % codes.len() as u64) as usize])
}

fn reverse(ip: &str) -> Option<String> {
    let v4: std::net::Ipv4Addr = ip.parse().ok()?;
    let o = v4.octets();
    Some(format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0]))
}

/// URI host and a registrable-domain guess (last two labels, three under
/// a two-letter second level such as co.uk).
fn host_and_domain(uri: &str) -> Option<(String, String)> {
    let rest = uri.split_once("://").map(|(_, r)| r)?;
    let host = rest
        .split(['/', '?', '#'])
        .next()?
        .rsplit('@')
        .next()?
        .split(':')
        .next()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host.is_empty() || !host.contains('.') || host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return None;
    }
    let domain = registrable(&host);
    Some((host, domain))
}

/// A registrable-domain guess: the last two labels, three under a short
/// second level of a country code (co.uk, com.au).
fn registrable(host: &str) -> String {
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    let take = if n >= 3 && labels[n - 2].len() <= 3 && labels[n - 1].len() == 2 {
        3
    } else {
        2
    };
    labels[n.saturating_sub(take)..].join(".")
}

/// A host name we can publish records for: two labels or more, letters,
/// digits and hyphens, a top-level label of letters.
fn publishable(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() >= 2
        && name.len() <= 200
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// SPF, DMARC and the A/MX records their mechanisms name, for the sender
/// domains of these messages, in one zone per top-level domain (so every
/// other name under those TLDs is an authoritative NXDOMAIN).
///
/// Every envelope-sender domain and HELO name of the first external relay
/// (what SpamAssassin's SPF plugin checks, as our checker picks them)
/// gets, by a hash of the name: a passing record listing the relay
/// addresses seen with it (directly, through `a`, `mx` or `include:`), a
/// failing, soft-failing or neutral one, a broken one (permerror), or
/// none. Most From domains get an MX record (Mail::DMARC skips authors
/// not in the DNS) and a DMARC policy (reject, quarantine or none, some
/// with strict SPF alignment, a subdomain policy or `pct=0`, some at the
/// registrable domain only) or none.
pub fn build_auth_zones(msgs: &[Message]) -> Vec<Zone> {
    // Name -> the relay addresses it was seen with.
    let mut senders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut from_domains = BTreeSet::new();
    let domain_of = |a: &str| {
        a.rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
    };
    for m in msgs {
        let input = spamcore::auth::Input::from_message(m);
        if let Some(r) = &input.relay {
            let mut names: Vec<String> = vec![r.helo.to_ascii_lowercase()];
            names.extend(r.envfrom.as_deref().and_then(domain_of));
            names.extend(input.envelope_from.as_deref().and_then(domain_of));
            for n in names {
                if publishable(&n) {
                    senders.entry(n).or_default().insert(r.ip.clone());
                }
            }
        }
        for a in &input.from_addrs {
            if let Some(d) = domain_of(a).filter(|d| publishable(d)) {
                from_domains.insert(d);
            }
        }
    }
    let mut records: BTreeSet<(String, &str, String)> = BTreeSet::new();
    let mut add = |owner: &str, rtype: &'static str, data: String| {
        records.insert((owner.to_string(), rtype, data));
    };
    let ip_mechs = |ips: &BTreeSet<String>| {
        ips.iter()
            .map(|ip| match ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V6(_)) => format!("ip6:{ip}"),
                _ => format!("ip4:{ip}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let host_records = |ips: &BTreeSet<String>| {
        ips.iter()
            .filter_map(|ip| match ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(_)) => Some(("A", ip.clone())),
                Ok(std::net::IpAddr::V6(_)) => Some(("AAAA", ip.clone())),
                Err(_) => None,
            })
            .collect::<Vec<_>>()
    };
    let txt = |t: &str| e2e::dns::txt_data(t);
    for (name, ips) in &senders {
        let h = hash(name, "spf") % 100;
        match h {
            0..30 => add(name, "TXT", txt(&format!("v=spf1 {} -all", ip_mechs(ips)))),
            30..35 => {
                add(name, "TXT", txt("v=spf1 a -all"));
                for (t, ip) in host_records(ips) {
                    add(name, t, ip);
                }
            }
            35..38 => {
                let mx = format!("mx.{name}");
                add(name, "TXT", txt("v=spf1 mx ~all"));
                add(name, "MX", format!("10 {mx}."));
                for (t, ip) in host_records(ips) {
                    add(&mx, t, ip);
                }
            }
            38..41 => {
                let inc = format!("_spf.{name}");
                add(name, "TXT", txt(&format!("v=spf1 include:{inc} -all")));
                add(&inc, "TXT", txt(&format!("v=spf1 {} ~all", ip_mechs(ips))));
            }
            41..55 => add(name, "TXT", txt("v=spf1 ip4:192.0.2.1 -all")),
            55..67 => add(name, "TXT", txt("v=spf1 ip4:192.0.2.1 ~all")),
            67..75 => add(name, "TXT", txt("v=spf1 ?all")),
            75..77 => add(
                name,
                "TXT",
                txt("v=spf1 ip4:192.0.2.1 bogus-mechanism -all"),
            ),
            _ => {}
        }
    }
    // `_dmarc` owner -> (published for that very domain, policy).
    let mut dmarc: BTreeMap<String, (bool, &str)> = BTreeMap::new();
    for d in &from_domains {
        // Mail::DMARC applies no policy to an author domain that is not in
        // the DNS (no MX, NS, A or AAAA): most of them are.
        if hash(d, "exists") % 100 < 85 {
            add(d, "MX", format!("10 mx.{d}."));
        }
        let org = registrable(d);
        let h = hash(d, "dmarc") % 100;
        // A subdomain's policy sometimes only at the registrable domain.
        let at = if org != *d && hash(d, "dmarc-org").is_multiple_of(2) {
            org
        } else {
            d.clone()
        };
        let policy = match h {
            0..15 => "p=reject",
            15..20 => "p=reject; aspf=s",
            20..33 => "p=quarantine",
            33..38 => "p=quarantine; sp=none",
            38..56 => "p=none",
            56..59 => "p=none; sp=reject",
            // pct=0: never applied, one step milder (sampled out).
            59..62 => "p=reject; pct=0",
            62..64 => "p=quarantine; pct=0",
            _ => continue,
        };
        // One policy per name: a sub-domain's choice to publish at its
        // registrable domain does not add a second record there.
        let own = at == *d;
        dmarc
            .entry(format!("_dmarc.{at}"))
            .and_modify(|e: &mut (bool, &str)| {
                if own && !e.0 {
                    *e = (true, policy);
                }
            })
            .or_insert((own, policy));
    }
    for (owner, (_, policy)) in &dmarc {
        add(owner, "TXT", txt(&format!("v=DMARC1; {policy}")));
    }
    let mut zones: BTreeMap<String, Zone> = BTreeMap::new();
    for (owner, rtype, data) in records {
        let Some(tld) = owner.rsplit('.').next() else {
            continue;
        };
        zones
            .entry(tld.to_string())
            .or_insert_with(|| Zone::new(tld))
            .push(&format!("{owner}."), rtype, &data);
    }
    zones.into_values().collect()
}

/// The zones for these messages.
pub fn build_zones(msgs: &[Message]) -> Vec<Zone> {
    let mut ips = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    let mut domains = BTreeSet::new();
    let mut authors = BTreeSet::new();
    for m in msgs {
        let r = m.relays();
        for relay in r.untrusted.iter().chain(r.trusted.iter()) {
            let ip = String::from_utf8_lossy(&relay.ip).into_owned();
            if ip.parse::<std::net::Ipv4Addr>().is_ok() {
                ips.insert(ip);
            }
        }
        for u in m.uris() {
            if let Some((h, d)) = host_and_domain(u) {
                hosts.insert(h);
                domains.insert(d);
            }
        }
        for a in m.get_list("From:addr") {
            let a = String::from_utf8_lossy(&a).to_ascii_lowercase();
            if let Some((_, d)) = a.rsplit_once('@')
                && d.contains('.')
            {
                authors.insert(d.to_string());
            }
        }
    }
    let mut zen = Zone::new("zen.spamhaus.org");
    let mut dnswl = Zone::new("list.dnswl.org");
    let mut spamcop = Zone::new("bl.spamcop.net");
    let mut psbl = Zone::new("psbl.surriel.com");
    let mut mspike_b = Zone::new("bl.mailspike.net");
    let mut mspike_w = Zone::new("wl.mailspike.net");
    let mut senderscore = Zone::new("bl.score.senderscore.com");
    for ip in &ips {
        let Some(rev) = reverse(ip) else { continue };
        if let Some(c) = pick(
            ip,
            "zen",
            30,
            &[
                "127.0.0.2",
                "127.0.0.3",
                "127.0.0.4",
                "127.0.0.10",
                "127.0.0.11",
            ],
        ) {
            zen.push(&rev, "A", c);
        }
        if let Some(c) = pick(ip, "zen2", 10, &["127.0.0.4", "127.0.0.10"]) {
            zen.push(&rev, "A", c);
        }
        if let Some(c) = pick(
            ip,
            "dnswl",
            20,
            &["127.0.15.0", "127.0.15.1", "127.0.15.2", "127.0.15.3"],
        ) {
            dnswl.push(&rev, "A", c);
        }
        if pick(ip, "spamcop", 15, &["x"]).is_some() {
            spamcop.push(&rev, "A", "127.0.0.2");
            spamcop.push(
                &rev,
                "TXT",
                &e2e::dns::txt_data(&format!(
                    "Blocked - see https://www.spamcop.net/bl.shtml?{ip}"
                )),
            );
        }
        if pick(ip, "psbl", 15, &["x"]).is_some() {
            psbl.push(&rev, "A", "127.0.0.2");
        }
        if let Some(c) = pick(
            ip,
            "mspikeb",
            20,
            &[
                "127.0.0.2",
                "127.0.0.10",
                "127.0.0.11",
                "127.0.0.12",
                "127.0.0.13",
            ],
        ) {
            mspike_b.push(&rev, "A", c);
        }
        if let Some(c) = pick(
            ip,
            "mspikew",
            20,
            &["127.0.0.17", "127.0.0.18", "127.0.0.19", "127.0.0.20"],
        ) {
            mspike_w.push(&rev, "A", c);
        }
        if pick(ip, "senderscore", 10, &["x"]).is_some() {
            senderscore.push(&rev, "A", "127.0.0.2");
        }
    }
    let mut uribl = Zone::new("multi.uribl.com");
    let mut surbl = Zone::new("multi.surbl.org");
    let mut dbl = Zone::new("dbl.spamhaus.org");
    let mut sibl = Zone::new("dob.sibl.support-intelligence.net");
    for d in &domains {
        if let Some(c) = pick(
            d,
            "uribl",
            20,
            &["127.0.0.2", "127.0.0.4", "127.0.0.8", "127.0.0.14"],
        ) {
            uribl.push(d, "A", c);
        }
        if let Some(c) = pick(
            d,
            "surbl",
            15,
            &[
                "127.0.0.8",
                "127.0.0.16",
                "127.0.0.64",
                "127.0.0.128",
                "127.0.0.72",
            ],
        ) {
            surbl.push(d, "A", c);
        }
        if pick(d, "sibl", 5, &["x"]).is_some() {
            sibl.push(d, "A", "127.0.0.2");
        }
    }
    // URIBL_DBL_* ask for the whole host name (tflags notrim).
    for h in &hosts {
        if let Some(c) = pick(
            h,
            "dbl",
            15,
            &[
                "127.0.1.2",
                "127.0.1.4",
                "127.0.1.5",
                "127.0.1.6",
                "127.0.1.102",
            ],
        ) {
            dbl.push(h, "A", c);
        }
    }
    let mut fmb = Zone::new("fresh.fmb.la");
    for d in &authors {
        if let Some(c) = pick(d, "fmb", 10, &["127.2.0.2", "127.2.0.14", "127.2.0.28"]) {
            fmb.push(d, "A", c);
        }
    }
    vec![
        zen,
        dnswl,
        spamcop,
        psbl,
        mspike_b,
        mspike_w,
        senderscore,
        uribl,
        surbl,
        dbl,
        sibl,
        fmb,
    ]
}

/// Every zone for these messages: the blocklists ([`build_zones`]) and the
/// senders' SPF and DMARC records ([`build_auth_zones`]).
pub fn zones_for(msgs: &[Message]) -> Vec<Zone> {
    let mut zones = build_zones(msgs);
    zones.extend(build_auth_zones(msgs));
    zones
}

/// The messages as our parser sees them under the site directory's
/// configuration (trusted networks and the like), to build the zones from.
pub fn parse_for_site<'a>(site: &Path, raws: impl Iterator<Item = &'a [u8]>) -> Vec<Message> {
    let config = Config::load(&Sources {
        rules_dir: Some(PathBuf::from("/usr/share/spamassassin")),
        site_dir: Some(site.to_path_buf()),
        local_tests_only: false,
        ..Default::default()
    });
    let opts = config.message_options();
    raws.map(|r| Message::parse_with(r, &opts)).collect()
}

/// Rules this mode compares as network rules: defined with a network eval
/// (blocklists, SPF, DKIM, DMARC).
fn network_rule_names(rules: &CompiledRules) -> BTreeSet<String> {
    rules
        .config
        .rules
        .iter()
        .filter_map(|(name, def)| match &def.kind {
            spamcore::config::RuleKind::Eval { call, .. }
                if spamcore::eval::is_network(&call.function) =>
            {
                Some(name.clone())
            }
            _ => None,
        })
        .collect()
}

/// A site directory: Debian's .pre files without Razor2, Pyzor and DCC,
/// and a local.cf pointing at the DNS server.
pub fn write_site(dir: &Path, port: u16) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    // They ask services outside (we do not run them either).
    let skip = ["Razor2", "Pyzor", "DCC"];
    let rd =
        std::fs::read_dir("/etc/spamassassin").map_err(|e| format!("/etc/spamassassin: {e}"))?;
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "pre") {
            continue;
        }
        let text = std::fs::read_to_string(&p).map_err(|e| e.to_string())?;
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| {
                let t = l.trim();
                !(t.starts_with("loadplugin")
                    && skip
                        .iter()
                        .any(|s| t.ends_with(&format!("::{s}")) || t.contains(&format!("::{s} "))))
            })
            .collect();
        let name = p.file_name().ok_or("pre file name")?;
        std::fs::write(dir.join(name), kept.join("\n") + "\n").map_err(|e| e.to_string())?;
    }
    std::fs::write(
        dir.join("local.cf"),
        // uridnsbl_max_domains: SpamAssassin samples that many of a
        // message's URI domains at random when it has more; a limit no
        // message reaches keeps both sides deterministic.
        format!(
            "dns_available yes\ndns_server 127.0.0.1:{port}\nrbl_timeout 10\nuse_bayes 0\n\
             uridnsbl_max_domains 1000\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

fn symbols(port: u16, msg: &[u8]) -> SaResult {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(300)))
        .map_err(|e| e.to_string())?;
    let mut req =
        format!("SYMBOLS SPAMC/1.5\r\nContent-length: {}\r\n\r\n", msg.len()).into_bytes();
    req.extend_from_slice(msg);
    s.write_all(&req).map_err(|e| e.to_string())?;
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let r = spamcore::protocol::parse_response(&buf).map_err(|e| e.to_string())?;
    let (_, score, _) = r.spam.ok_or("reply without Spam: header")?;
    let rules = String::from_utf8_lossy(&r.body)
        .trim()
        .split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect();
    Ok((score, rules))
}

/// SpamAssassin's score and rules for one message.
type SaResult = Result<(f64, BTreeSet<String>), String>;

/// Run this program again with `pre` and `args` in a private network and
/// mount namespace ([`e2e::dns::namespace_command`]): knotd answers there
/// on 127.0.0.1 port 53, which SpamAssassin's DMARC plugin needs (its
/// library reads /etc/resolv.conf, not `dns_server`).
pub fn rerun_in_namespace(pre: &[&str], args: &[String]) -> Result<ExitCode, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let dir = e2e::TempDir::new("netns");
    let st = e2e::dns::namespace_command(dir.path(), &exe)
        .args(pre)
        .args(args)
        .status()
        .map_err(|e| format!("unshare: {e}"))?;
    Ok(match st.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}

pub fn main(args: &[String]) -> ExitCode {
    if !e2e::dns::in_namespace() && !args.iter().any(|a| a == "--zones-only") {
        return match rerun_in_namespace(&["parity"], args) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("parity --network: {e}");
                ExitCode::from(1)
            }
        };
    }
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("parity --network: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut tsv = corpus::workspace_root().join("tests/parity/sa401-L.tsv");
    let mut corpus_dir = None;
    let mut limit = Some(300usize);
    let mut show = 10usize;
    let mut zones_only: Option<PathBuf> = None;
    let mut min_hits = 20usize;
    let mut sa_fresh = false;
    let mut require: [Option<f64>; 3] = [None; 3];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--network" => {}
            "--tsv" => tsv = PathBuf::from(val()),
            "--corpus" => corpus_dir = Some(PathBuf::from(val())),
            "--limit" => limit = val().parse().ok(),
            "--all" => limit = None,
            "--show" => show = val().parse().unwrap_or(10),
            "--zones-only" => zones_only = Some(PathBuf::from(val())),
            "--min-hits" => min_hits = val().parse().unwrap_or(20),
            "--sa-fresh" => sa_fresh = true,
            "--require-identical" => require[0] = val().parse().ok(),
            "--require-verdict" => require[1] = val().parse().ok(),
            "--require-rule-recall" => require[2] = val().parse().ok(),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let corpus_dir = crate::public_corpus(corpus_dir)?;
    let text = std::fs::read_to_string(&tsv).map_err(|e| format!("{}: {e}", tsv.display()))?;
    let mut keys: Vec<String> = text
        .lines()
        .filter_map(|l| l.split('\t').nth(1).map(str::to_string))
        .collect();
    keys.sort();
    // An even spread over the corpus (ham and spam folders alike).
    if let Some(n) = limit
        && keys.len() > n
        && n > 0
    {
        let step = keys.len() as f64 / n as f64;
        keys = (0..n)
            .filter_map(|i| keys.get((i as f64 * step) as usize).cloned())
            .collect();
    }
    let path = |key: &str| match key.split_once('.') {
        Some((folder, file)) => corpus_dir.join(folder).join(file),
        None => corpus_dir.join(key),
    };
    let raws: Vec<(String, Vec<u8>)> = keys
        .iter()
        .filter_map(|k| std::fs::read(path(k)).ok().map(|r| (k.clone(), r)))
        .collect();

    // Our engine, on the same rules and site configuration as SpamAssassin.
    let tmp = std::env::temp_dir().join(format!("spamrs-parity-net-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let site = tmp.join("site");
    // Port 53: inside the namespace, resolv.conf names 127.0.0.1.
    write_site(&site, 53)?;
    let msgs = parse_for_site(&site, raws.iter().map(|(_, r)| r.as_slice()));
    let zones = zones_for(&msgs);
    if let Some(dir) = zones_only {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        for z in &zones {
            std::fs::write(dir.join(format!("{}.zone", z.name)), z.to_zone_file())
                .map_err(|e| e.to_string())?;
        }
        println!("wrote {} zones to {}", zones.len(), dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let listed: usize = zones.iter().map(|z| z.records.len()).sum();
    let knot = Knot::start_on(53, &zones);
    println!(
        "parity --network: {} messages, {} zones with {listed} records, knotd on 127.0.0.1:{}",
        raws.len(),
        zones.len(),
        knot.port
    );

    let config = Config::load(&Sources {
        rules_dir: Some(PathBuf::from("/usr/share/spamassassin")),
        site_dir: Some(site.clone()),
        local_tests_only: false,
        ..Default::default()
    });
    let (rules, _) = CompiledRules::compile(
        config,
        CompileOptions {
            net: true,
            bayes: false,
        },
    );
    let net_rules = network_rule_names(&rules);
    // SPF, DKIM and DMARC as spamd runs them: launched before the rules.
    let auth = spamcore::auth::Checker::from_config(&rules.config)?;
    let t_ours = Instant::now();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = msgs.len().div_ceil(threads).max(1);
    let ours: Vec<(f64, bool, BTreeSet<String>)> = std::thread::scope(|s| {
        let hs: Vec<_> = msgs
            .chunks(chunk)
            .map(|part| {
                let (rules, auth) = (&rules, &auth);
                s.spawn(move || {
                    part.iter()
                        .map(|m| {
                            if let Some(a) = auth {
                                a.launch(m);
                            }
                            let v = scan::scan(rules, m);
                            (
                                v.score,
                                v.is_spam,
                                v.hits.iter().map(|h| h.name.clone()).collect(),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let ours_secs = t_ours.elapsed().as_secs_f64();

    // A fresh child per message answers exactly like `spamassassin -t` (a
    // child carries some state between messages) but is slow.
    let site_arg = format!("--siteconfigpath={}", site.display());
    let sa = crate::bench::start_with(
        "SpamAssassin",
        Path::new("/usr/sbin/spamd"),
        false,
        &[
            "-C",
            "/usr/share/spamassassin",
            &site_arg,
            "--syslog=null",
            if sa_fresh {
                "--max-conn-per-child=1"
            } else {
                "--max-conn-per-child=200"
            },
        ],
    )?;
    let port = sa.port;
    let t_sa = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<BTreeMap<usize, SaResult>>> = Arc::default();
    let raws = Arc::new(raws);
    let hs: Vec<_> = (0..2)
        .map(|_| {
            let (next, results, raws) = (next.clone(), results.clone(), raws.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((_, raw)) = raws.get(i) else { break };
                    let r = symbols(port, raw);
                    if let Ok(mut m) = results.lock() {
                        m.insert(i, r);
                    }
                }
            })
        })
        .collect();
    for h in hs {
        let _ = h.join();
    }
    let sa_secs = t_sa.elapsed().as_secs_f64();
    drop(sa);
    drop(knot);
    let _ = std::fs::remove_dir_all(&tmp);
    let results = results.lock().map(|m| m.clone()).unwrap_or_default();

    let mut total = 0usize;
    let mut same_rules = 0usize;
    let mut same_verdict = 0usize;
    let mut missing: BTreeMap<String, usize> = BTreeMap::new();
    let mut extra: BTreeMap<String, usize> = BTreeMap::new();
    // Per network rule: (SpamAssassin hits, of those also ours, ours only).
    let mut per_rule: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut shown = 0;
    for (i, (key, _)) in raws.iter().enumerate() {
        let Some(Ok((sa_score, sa_rules))) = results.get(&i) else {
            eprintln!("parity --network: SpamAssassin failed on {key}");
            continue;
        };
        let Some((_, our_spam, our_rules)) = ours.get(i) else {
            continue;
        };
        total += 1;
        if sa_rules == our_rules {
            same_rules += 1;
        } else if shown < show {
            shown += 1;
            let a: Vec<&String> = sa_rules.difference(our_rules).collect();
            let b: Vec<&String> = our_rules.difference(sa_rules).collect();
            println!("  {key}: only SpamAssassin {a:?}, only ours {b:?}");
        }
        if (*sa_score >= 5.0) == *our_spam {
            same_verdict += 1;
        }
        for r in sa_rules.difference(our_rules) {
            *missing.entry(r.clone()).or_default() += 1;
        }
        for r in our_rules.difference(sa_rules) {
            *extra.entry(r.clone()).or_default() += 1;
        }
        for r in sa_rules.union(our_rules) {
            if !net_rules.contains(r) {
                continue;
            }
            let e = per_rule.entry(r.clone()).or_default();
            match (sa_rules.contains(r), our_rules.contains(r)) {
                (true, true) => {
                    e.0 += 1;
                    e.1 += 1;
                }
                (true, false) => e.0 += 1,
                _ => e.2 += 1,
            }
        }
    }
    let pct = |n: usize| 100.0 * n as f64 / total.max(1) as f64;
    println!(
        "identical rule sets: {same_rules}/{total} ({:.2}%); same verdict: {same_verdict}/{total} ({:.2}%)",
        pct(same_rules),
        pct(same_verdict)
    );
    println!(
        "time: ours {ours_secs:.1} s ({:.1} msg/s), SpamAssassin {sa_secs:.1} s ({:.1} msg/s)",
        total as f64 / ours_secs.max(1e-9),
        total as f64 / sa_secs.max(1e-9)
    );
    println!("network rules (SpamAssassin hits / also ours / ours only):");
    let mut worst_recall: Option<(f64, String)> = None;
    for (r, (sa_n, both, only_us)) in &per_rule {
        println!("  {r:<28} {sa_n:>5} {both:>5} {only_us:>5}");
        if *sa_n >= min_hits {
            let rec = 100.0 * *both as f64 / *sa_n as f64;
            if worst_recall.as_ref().is_none_or(|(w, _)| rec < *w) {
                worst_recall = Some((rec, r.clone()));
            }
        }
    }
    let top = |m: &BTreeMap<String, usize>| {
        let mut v: Vec<(&String, &usize)> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.into_iter()
            .take(15)
            .map(|(r, n)| format!("{r}:{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("most missed (SpamAssassin only): {}", top(&missing));
    println!("most extra (ours only): {}", top(&extra));
    if let Some((w, r)) = &worst_recall {
        println!("lowest recall among network rules hit >= {min_hits} times: {r} {w:.1}%");
    }
    let mut ok = true;
    if let Some(p) = require[0]
        && pct(same_rules) < p
    {
        eprintln!("FAIL: identical rule sets {:.2}% < {p}%", pct(same_rules));
        ok = false;
    }
    if let Some(p) = require[1]
        && pct(same_verdict) < p
    {
        eprintln!("FAIL: same verdict {:.2}% < {p}%", pct(same_verdict));
        ok = false;
    }
    if let (Some(p), Some((w, r))) = (require[2], &worst_recall)
        && *w < p
    {
        eprintln!("FAIL: {r} recall {w:.1}% < {p}%");
        ok = false;
    }
    if total == 0 {
        eprintln!("FAIL: no message compared");
        ok = false;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
