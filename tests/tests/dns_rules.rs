//! Network tests against a real DNS server (knotd): DNS blocklists for
//! relays and URI domains hit as SpamAssassin's rules say, lookups overlap,
//! a silent server costs at most `rbl_timeout`, and a stopped one leaves
//! spamd answering and saying why in its log.

use std::time::{Duration, Instant};

use e2e::dns::{DelayProxy, Knot, SilentServer, Zone};
use e2e::{Daemon, TempDir, raw_request};

const STOCK: &str = "/usr/share/spamassassin";

/// A message relayed once from 45.67.89.12 with links to `domains`.
fn message(domains: &[String]) -> Vec<u8> {
    let mut m = String::from(
        "Received: from mail.sender.example (mail.sender.example [45.67.89.12])\n\
         \tby mx.example.net (Postfix) with ESMTP id 4F2A1B;\n\
         \tMon, 23 Nov 2026 10:00:00 +0000 (UTC)\n\
         From: Sender <offers@sender.example>\n\
         To: you@example.net\n\
         Subject: network test\n\
         Message-ID: <dns-1@sender.example>\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\n\n\
         Hello, see the links below. Pay to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT today.\n",
    );
    for d in domains {
        m.push_str(&format!("http://www.{d}/offer\n"));
    }
    m.into_bytes()
}

fn zones() -> Vec<Zone> {
    vec![
        Zone::new("zen.spamhaus.org")
            .a("12.89.67.45", "127.0.0.2")
            .a("12.89.67.45", "127.0.0.4"),
        Zone::new("multi.uribl.com").a("bad-domain.com", "127.0.0.2"),
        // URIBL_DBL_* carry tflags notrim: the whole host name is asked.
        Zone::new("dbl.spamhaus.org")
            .a("www.bad-domain.com", "127.0.1.2")
            .a("bad-domain.com", "127.0.1.4"),
        Zone::new("multi.surbl.org"),
        // HashBL (GB_HASHBL_BTC, option raw): the address lowercased.
        Zone::new("bl.btcblack.it").a("1boatslrhtknngkdxeeobr76b53lettpyt", "127.0.0.2"),
        Zone::new("list.dnswl.org"),
    ]
}

fn site_dir(dir: &TempDir, cf: &str) -> String {
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    // The plugins (DNSEval, URIDNSBL, AskDNS ...) are loaded by the .pre
    // files of the site directory, as on a Debian install.
    for e in
        std::fs::read_dir("/etc/spamassassin").expect("/etc/spamassassin (package spamassassin)")
    {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "pre") {
            std::fs::copy(&p, site.join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(site.join("local.cf"), cf).unwrap();
    site.display().to_string()
}

/// One spamd at a time: each loads SpamAssassin's full rule set, which
/// takes seconds on a debug build, and the start-up wait is bounded.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn ours(site: &str, extra: &[&str]) -> Daemon {
    let mut args = vec!["-C", STOCK, "--siteconfigpath", site];
    args.extend_from_slice(extra);
    Daemon::ours(&args)
}

/// A few DNS rules of our own, in SpamAssassin's syntax: spamd starts in a
/// moment with these, where SpamAssassin's whole rule set takes seconds.
const SMALL_RULES: &str = "\
header    T_ZEN      eval:check_rbl('zen-lastexternal', 'zen.spamhaus.org.')
tflags    T_ZEN      net
score     T_ZEN      0 1 0 1
header    T_ZEN_SBL  eval:check_rbl_sub('zen-lastexternal', '127.0.0.2')
tflags    T_ZEN_SBL  net
score     T_ZEN_SBL  0 1 0 1
urirhssub T_URIBL    multi.uribl.com. A 2
body      T_URIBL    eval:check_uridnsbl('T_URIBL')
tflags    T_URIBL    net
score     T_URIBL    0 1 0 1
urirhssub T_SURBL    multi.surbl.org. A 8
body      T_SURBL    eval:check_uridnsbl('T_SURBL')
tflags    T_SURBL    net
score     T_SURBL    0 1 0 1
urirhssub T_DBL      dbl.spamhaus.org. A 127.0.1.2
body      T_DBL      eval:check_uridnsbl('T_DBL')
tflags    T_DBL      net domains_only notrim
score     T_DBL      0 1 0 1
";
const SMALL_NET: &[&str] = &["T_ZEN", "T_ZEN_SBL", "T_URIBL", "T_DBL"];

/// Our spamd with [`SMALL_RULES`] and `cf` as local.cf.
fn ours_small(dir: &TempDir, cf: &str, extra: &[&str]) -> Daemon {
    let rules = dir.path().join("rules");
    let site = dir.path().join("site-small");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(rules.join("50_dns.cf"), SMALL_RULES).unwrap();
    std::fs::write(site.join("local.cf"), cf).unwrap();
    let (r, s) = (rules.display().to_string(), site.display().to_string());
    let mut args = vec!["-C", r.as_str(), "--siteconfigpath", s.as_str()];
    args.extend_from_slice(extra);
    Daemon::ours(&args)
}

/// A site directory for SpamAssassin's spamd and ours: Debian's .pre files
/// without SPF, DKIM, DMARC, Razor, Pyzor and DCC (not this test's part).
fn site_without_auth(dir: &TempDir, cf: &str) -> String {
    let site = site_dir(dir, cf);
    for e in std::fs::read_dir(&site).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "pre") {
            let text = std::fs::read_to_string(&p).unwrap();
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| {
                    !["::SPF", "::DKIM", "::DMARC", "::Razor2", "::Pyzor", "::DCC"]
                        .iter()
                        .any(|m| {
                            l.trim_start().starts_with("loadplugin") && l.trim_end().ends_with(m)
                        })
                })
                .collect();
            std::fs::write(&p, kept.join("\n") + "\n").unwrap();
        }
    }
    site
}

/// REPORT for `msg`: the body of the reply.
fn report(port: u16, msg: &[u8]) -> String {
    let mut req = format!("REPORT SPAMC/1.5\r\nContent-length: {}\r\n\r\n", msg.len()).into_bytes();
    req.extend_from_slice(msg);
    let text = String::from_utf8_lossy(&raw_request(port, &req)).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(text)
}

/// SYMBOLS for `msg`: (rule names, seconds taken).
fn symbols(port: u16, msg: &[u8]) -> (Vec<String>, Duration) {
    let mut req =
        format!("SYMBOLS SPAMC/1.5\r\nContent-length: {}\r\n\r\n", msg.len()).into_bytes();
    req.extend_from_slice(msg);
    let start = Instant::now();
    let reply = raw_request(port, &req);
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&reply).into_owned();
    assert!(
        text.starts_with("SPAMD/1.") && text.contains(" 0 EX_OK"),
        "reply: {text}"
    );
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let names = body
        .trim()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    (names, took)
}

fn has(names: &[String], r: &str) -> bool {
    names.iter().any(|n| n == r)
}

const NET_RULES: &[&str] = &[
    "RCVD_IN_SBL",
    "RCVD_IN_XBL",
    "URIBL_BLACK",
    "URIBL_DBL_SPAM",
];

#[test]
fn blocklists_hit_through_knot_and_not_with_local_only() {
    let _one = serial();
    let knot = Knot::start(&zones());
    let dir = TempDir::new("dnsrules");
    let site = site_dir(
        &dir,
        &format!("dns_server 127.0.0.1:{}\nrbl_timeout 5\n", knot.port),
    );
    let msg = message(&["bad-domain.com".into(), "good-domain.org".into()]);

    // SpamAssassin's own rules.
    let d = ours(&site, &[]);
    let (names, _) = symbols(d.port, &msg);
    for r in NET_RULES.iter().chain(["GB_HASHBL_BTC"].iter()) {
        assert!(has(&names, r), "{r} missing from {names:?}");
    }
    assert!(!has(&names, "RCVD_IN_PBL"), "PBL hit: {names:?}");
    assert!(!has(&names, "URIBL_GREY"), "GREY hit: {names:?}");
    // bad-domain.com itself is listed as phishing, but notrim asks for
    // www.bad-domain.com only.
    assert!(!has(&names, "URIBL_DBL_PHISH"), "{names:?}");
    std::thread::sleep(Duration::from_millis(200));
    let log = d.log_text();
    assert!(
        log.contains("spamd: dns: "),
        "no DNS line in the log:\n{log}"
    );
    drop(d);

    // The small rule set hits the same way; with -L or dns_available no,
    // no network test runs.
    let on = format!("dns_server 127.0.0.1:{}\n", knot.port);
    for (extra, cf, hits) in [
        (&[][..], on.clone(), true),
        (&["-L"][..], on.clone(), false),
        (&[][..], format!("{on}dns_available no\n"), false),
    ] {
        let dir = TempDir::new("dnsrules-small");
        let d = ours_small(&dir, &cf, extra);
        let (names, _) = symbols(d.port, &msg);
        for r in SMALL_NET {
            assert_eq!(
                has(&names, r),
                hits,
                "{r} with {extra:?} / {cf:?}: {names:?}"
            );
        }
        assert!(!has(&names, "T_SURBL"), "{names:?}");
    }
}

#[test]
fn lookups_overlap_behind_a_slow_server() {
    let _one = serial();
    let knot = Knot::start(&zones());
    let delay = Duration::from_millis(100);
    let proxy = DelayProxy::start(knot.addr(), delay);
    let dir = TempDir::new("dnsslow");
    let cf = format!("dns_server 127.0.0.1:{}\nrbl_timeout 10\n", proxy.port);
    let d = ours_small(&dir, &cf, &[]);
    // Warm up (rules, runtime) with a message without links.
    let _ = symbols(d.port, &message(&[]));
    let before = proxy.queries();
    // uridnsbl_max_domains 20 (the default): 20 domains, each asked in
    // three URI zones, plus the relay.
    let mut domains: Vec<String> = (0..19).map(|i| format!("slow{i}-domain.com")).collect();
    domains.push("bad-domain.com".into());
    let (names, took) = symbols(d.port, &message(&domains));
    let queries = proxy.queries() - before;
    let sequential = delay * queries as u32;
    eprintln!(
        "{queries} lookups through a {delay:?} proxy: scan took {took:?} (one after another: {sequential:?})"
    );
    assert!(queries >= 40, "only {queries} lookups");
    assert!(has(&names, "T_URIBL") && has(&names, "T_ZEN"), "{names:?}");
    // Far less than one after another (a loose bound: no wall-clock target).
    assert!(
        took < sequential / 4,
        "{took:?} for {queries} lookups of {delay:?}"
    );
}

#[test]
fn silent_server_costs_rbl_timeout_and_stopped_server_is_logged() {
    let _one = serial();
    let silent = SilentServer::start();
    let dir = TempDir::new("dnssilent");
    let cf = format!("dns_server 127.0.0.1:{}\nrbl_timeout 2 1\n", silent.port);
    let d = ours_small(&dir, &cf, &[]);
    let msg = message(&["bad-domain.com".into()]);
    let (names, took) = symbols(d.port, &msg);
    eprintln!(
        "silent server: scan took {took:?}, {} queries sent",
        silent.queries()
    );
    assert!(silent.queries() > 0);
    for r in SMALL_NET {
        assert!(!has(&names, r), "{r} hit with a silent server");
    }
    assert!(took < Duration::from_secs(15), "scan took {took:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(d.log_text().contains("timed out"), "log:\n{}", d.log_text());
    drop(d);

    // A server that was there and stopped.
    let mut knot = Knot::start(&zones());
    let dir = TempDir::new("dnsstopped");
    let cf = format!("dns_server 127.0.0.1:{}\nrbl_timeout 3\n", knot.port);
    let d = ours_small(&dir, &cf, &[]);
    let (names, _) = symbols(d.port, &msg);
    assert!(has(&names, "T_ZEN_SBL"), "{names:?}");
    knot.stop();
    // A new message (nothing cached for it).
    let other = String::from_utf8(message(&["other-domain.net".into()]))
        .unwrap()
        .replace("45.67.89.12", "45.67.89.13")
        .into_bytes();
    let (names, _) = symbols(d.port, &other);
    assert!(!has(&names, "T_ZEN"), "{names:?}");
    assert!(e2e::ping(d.port), "spamd stopped answering");
    std::thread::sleep(Duration::from_millis(200));
    let log = d.log_text();
    let line = log
        .lines()
        .rfind(|l| l.contains("spamd: dns:"))
        .unwrap_or_default();
    assert!(
        line.contains("failed") || line.contains("timed out"),
        "log:\n{log}"
    );
    eprintln!("stopped server: {line}");
}

/// SpamAssassin's own spamd (network tests on) and ours, against the same
/// knotd: the same rules, and the same report, with the listed IP and the
/// URI under each blocklist rule.
#[test]
fn report_matches_spamassassin_with_network_tests() {
    let _one = serial();
    let mut zs = zones();
    zs.push(
        Zone::new("bl.spamcop.net")
            .a("12.89.67.45", "127.0.0.2")
            .txt(
                "12.89.67.45",
                "Blocked - see https://www.spamcop.net/bl.shtml?45.67.89.12",
            ),
    );
    let knot = Knot::start(&zs);
    let dir = TempDir::new("dnsreport");
    let site = site_without_auth(
        &dir,
        &format!(
            "dns_available yes\ndns_server 127.0.0.1:{}\nuse_bayes 0\n",
            knot.port
        ),
    );
    let msg = message(&["bad-domain.com".into()]);
    let sa = Daemon::spamassassin_network(&[
        "-m",
        "1",
        "-C",
        STOCK,
        &format!("--siteconfigpath={site}"),
    ]);
    let sa_port = sa.port;
    let d = ours(&site, &[]);
    let theirs = report(sa_port, &msg);
    let mine = report(d.port, &msg);
    assert!(
        theirs.contains("[45.67.89.12 listed in zen.spamhaus.org]"),
        "{theirs}"
    );
    // SpamAssassin lists DNS hits in the order the answers arrived, which
    // varies from run to run: compare the text before the rule table, and
    // the table's entries (a rule line and its continuation lines) as sets.
    let split = |r: &str| -> (String, Vec<String>) {
        let (head, table) = r.split_once("---- ---").unwrap_or((r, ""));
        let mut entries: Vec<String> = Vec::new();
        for line in table.lines().skip(1) {
            if line.starts_with("  ") && !entries.is_empty() {
                let last = entries.len() - 1;
                entries[last].push_str(line);
            } else if !line.trim().is_empty() {
                entries.push(line.to_string());
            }
        }
        entries.sort();
        (head.to_string(), entries)
    };
    assert_eq!(
        split(&mine),
        split(&theirs),
        "ours:\n{mine}\nSpamAssassin's:\n{theirs}"
    );
}

/// `check_rbl_ns_from` reads what SpamAssassin's DNSEval reads: the
/// primary server (SOA `mname`) in the authority section of the NS answer
/// for the envelope domain. A name without NS records brings the SOA of
/// its zone, whose primary server is then asked of the blocklist; a zone
/// apex answers its NS records in the answer section and brings nothing.
/// SpamAssassin's spamd and ours agree on both.
#[test]
fn ns_from_reads_the_authority_section_as_spamassassin() {
    let _one = serial();
    let knot = Knot::start(&[
        // SOA and NS: ns.sender-test.net (added by the harness).
        Zone::new("sender-test.net").a("mail", "45.67.89.12"),
        Zone::new("nsbl-test.org").a("ns.sender-test.net", "127.0.0.2"),
    ]);
    let dir = TempDir::new("nsfrom");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("50_nsfrom.cf"),
        "header T_NS_FROM eval:check_rbl_ns_from('nsfrom', 'nsbl-test.org.')\n\
         tflags T_NS_FROM net\nscore T_NS_FROM 0 1 0 1\n",
    )
    .unwrap();
    let site = site_without_auth(
        &dir,
        &format!(
            "dns_available yes\ndns_server 127.0.0.1:{}\nuse_bayes 0\n",
            knot.port
        ),
    );
    let rules = rules.display().to_string();
    let args = ["-C", rules.as_str(), "--siteconfigpath", site.as_str()];
    let sa = Daemon::spamassassin_network(&[
        "-m",
        "1",
        "-C",
        &rules,
        &format!("--siteconfigpath={site}"),
    ]);
    let d = Daemon::ours(&args);
    let msg = |env: &str| {
        format!(
            "Return-Path: <offers@{env}>\n\
             From: Sender <offers@{env}>\n\
             To: you@example.net\n\
             Subject: ns test\n\
             Message-ID: <ns-1@{env}>\n\
             Date: Mon, 23 Nov 2026 10:00:00 +0000\n\n\
             Hello.\n"
        )
        .into_bytes()
    };
    for (env, hit) in [
        ("sub.sender-test.net", true),
        ("mail.sender-test.net", true),
        ("sender-test.net", false),
    ] {
        let (theirs, _) = symbols(sa.port, &msg(env));
        let (mine, _) = symbols(d.port, &msg(env));
        assert_eq!(
            has(&theirs, "T_NS_FROM"),
            hit,
            "SpamAssassin for {env}: {theirs:?}"
        );
        assert_eq!(has(&mine, "T_NS_FROM"), hit, "ours for {env}: {mine:?}");
    }
}
