//! SPF, DKIM and DMARC without answers: `-L` and `dns_available no` send no
//! query at all, and a server that never answers costs at most
//! `spf_timeout`/`dkim_timeout` (the rules then simply do not hit).

use std::time::{Duration, Instant};

use e2e::dns::SilentServer;
use e2e::{Daemon, TempDir, raw_request};

const MSG: &str = "Return-Path: <ann@sender-test.net>\r\n\
Received: from mx.sender-test.net (mx.sender-test.net [23.45.67.89])\r\n\
\tby mx.rcpt-test.net (Postfix) with ESMTP id 4AB12C0D\r\n\
\tfor <bob@rcpt-test.net>; Wed, 27 Nov 2024 10:00:00 +0000\r\n\
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=sender-test.net; s=s1;\r\n\
\th=From:To:Subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\
\tb=dGVzdA==\r\n\
From: Ann <ann@sender-test.net>\r\n\
To: Bob <bob@rcpt-test.net>\r\n\
Subject: figures\r\n\
Date: Wed, 27 Nov 2024 09:59:58 +0000\r\n\
Message-ID: <20241127.1@sender-test.net>\r\n\
\r\n\
Hello Bob.\r\n";

/// The rule names of a SYMBOLS reply.
fn symbols(port: u16) -> Vec<String> {
    let req = format!(
        "SYMBOLS SPAMC/1.5\r\nContent-length: {}\r\n\r\n{MSG}",
        MSG.len()
    );
    let reply = String::from_utf8_lossy(&raw_request(port, req.as_bytes())).into_owned();
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or("").trim();
    body.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn auth_rules(rules: &[String]) -> Vec<&String> {
    rules
        .iter()
        .filter(|r| {
            ["SPF_", "T_SPF_", "DKIM_", "DMARC_"]
                .iter()
                .any(|p| r.starts_with(p))
        })
        .collect()
}

/// A small rule set of our own: one rule per authentication result, so
/// spamd starts in a moment even on a loaded machine.
const RULES: &str = "\
header SPF_PASS eval:check_for_spf_pass()\ntflags SPF_PASS net\nscore SPF_PASS -0.001\n\
header SPF_NONE eval:check_for_spf_none()\ntflags SPF_NONE net\nscore SPF_NONE 0.001\n\
header T_SPF_TEMPERROR eval:check_for_spf_temperror()\ntflags T_SPF_TEMPERROR net\nscore T_SPF_TEMPERROR 0.01\n\
header SPF_HELO_NONE eval:check_for_spf_helo_none()\ntflags SPF_HELO_NONE net\nscore SPF_HELO_NONE 0.001\n\
full DKIM_SIGNED eval:check_dkim_signed()\ntflags DKIM_SIGNED net\nscore DKIM_SIGNED 0.1\n\
full DKIM_VALID eval:check_dkim_valid()\ntflags DKIM_VALID net\nscore DKIM_VALID -0.1\n\
header DMARC_MISSING eval:check_dmarc_missing()\ntflags DMARC_MISSING net\nscore DMARC_MISSING 0.001\n\
header DMARC_NONE eval:check_dmarc_none()\ntflags DMARC_NONE net\nscore DMARC_NONE 0.001\n\
body LOCAL_HELLO /Hello Bob/\nscore LOCAL_HELLO 0.1\n";

/// Our spamd on [`RULES`] with `local_cf` in its site directory.
fn ours(local_cf: &str, extra: &[&str]) -> (Daemon, TempDir) {
    let dir = TempDir::new("authoff");
    let site = dir.path().join("site");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&site).expect("site dir");
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::write(rules.join("50_auth.cf"), RULES).expect("rules");
    std::fs::write(site.join("local.cf"), local_cf).expect("local.cf");
    let site_s = site.display().to_string();
    let rules_s = rules.display().to_string();
    let mut args = vec!["-C", &rules_s, "--siteconfigpath", &site_s];
    args.extend_from_slice(extra);
    (Daemon::ours(&args), dir)
}

#[test]
fn local_only_and_dns_available_no_send_no_query() {
    let silent = SilentServer::start();
    let cf = format!(
        "dns_server 127.0.0.1:{}\ntrusted_networks 10.99.0.0/16\nuse_bayes 0\n",
        silent.port
    );
    let (d, _dir) = ours(&cf, &["-L"]);
    let hits = symbols(d.port);
    assert!(
        hits.iter().any(|r| r == "LOCAL_HELLO"),
        "not scanned: {hits:?}"
    );
    assert!(auth_rules(&hits).is_empty(), "-L: {hits:?}");
    drop(d);
    let (d, _dir2) = ours(&format!("{cf}dns_available no\n"), &[]);
    let hits = symbols(d.port);
    assert!(auth_rules(&hits).is_empty(), "dns_available no: {hits:?}");
    drop(d);
    assert_eq!(
        silent.queries(),
        0,
        "queries were sent with -L or dns_available no"
    );
}

#[test]
fn a_silent_server_costs_at_most_the_timeouts() {
    let silent = SilentServer::start();
    let cf = format!(
        "dns_server 127.0.0.1:{}\ntrusted_networks 10.99.0.0/16\nuse_bayes 0\n\
         spf_timeout 2\ndkim_timeout 2\nrbl_timeout 2\n",
        silent.port
    );
    let (d, _dir) = ours(&cf, &[]);
    let start = Instant::now();
    let hits = symbols(d.port);
    let took = start.elapsed();
    // Loose bound only (no wall-clock assertion beyond avoiding a hang):
    // the default timeouts would be 5 s each and rbl_timeout 15 s.
    assert!(took < Duration::from_secs(60), "scan took {took:?}");
    // SPF timed out (no result, as SpamAssassin records none); the
    // signature is there but unverifiable; no DMARC record could be read,
    // which Mail::DMARC calls "no policy" (DMARC_MISSING).
    assert!(
        auth_rules(&hits)
            .iter()
            .all(|r| !r.contains("SPF_") && *r != "DKIM_VALID" && *r != "DMARC_NONE"),
        "rules hit with no DNS answers: {hits:?}"
    );
    assert!(
        silent.queries() > 0,
        "no lookup reached the configured dns_server"
    );
    // spamd still answers afterwards.
    assert!(e2e::ping(d.port));
}
