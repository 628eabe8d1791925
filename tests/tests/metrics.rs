//! The Prometheus page (`--metrics-listen`, our extension, off by
//! default): what spamd did is counted, and Debian's `promtool check
//! metrics` accepts the page with no lint complaint.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::*;

fn get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect metrics");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    let (head, body) = out.split_once("\r\n\r\n").expect("http response");
    (head.to_string(), body.to_string())
}

fn value(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{page}"))
}

#[test]
fn metrics_count_and_promtool_accepts_the_page() {
    let mport = free_port();
    let addr = format!("127.0.0.1:{mport}");
    let d = Daemon::ours(&["--metrics-listen", &addr, "--allow-tell"]);
    let p = d.port.to_string();
    let spamc = our_bin("spamc");
    let r = run(&spamc, &["-p", &p, "-c"], &gtube(), T);
    assert_eq!(r.code, 1);
    let r = run(&spamc, &["-p", &p], &ham(), T);
    assert_eq!(r.code, 0);
    let r = run(&spamc, &["-p", &p, "-L", "spam"], &gtube(), T);
    assert_eq!(r.code, 0, "learn: {}", r.stderr);
    // A request spamd refuses counts as an error.
    let bad = raw_request(d.port, b"NONSENSE SPAMC/1.5\r\n\r\n");
    assert!(
        String::from_utf8_lossy(&bad).starts_with("SPAMD/1.0 76 "),
        "{}",
        String::from_utf8_lossy(&bad)
    );
    // A reload counts once done.
    let before = d.log_text().matches("spamd: reloaded").count();
    d.signal(libc::SIGHUP);
    let t = Instant::now();
    while d.log_text().matches("spamd: reloaded").count() == before {
        assert!(t.elapsed() < Duration::from_secs(60), "no reload");
        std::thread::sleep(Duration::from_millis(50));
    }

    let (head, page) = get(mport, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert_eq!(
        value(&page, "spamd_messages_scanned_total{result=\"spam\"}"),
        1.0
    );
    assert_eq!(
        value(&page, "spamd_messages_scanned_total{result=\"ham\"}"),
        1.0
    );
    assert_eq!(value(&page, "spamd_requests_total{command=\"CHECK\"}"), 1.0);
    assert_eq!(
        value(&page, "spamd_requests_total{command=\"PROCESS\"}"),
        1.0
    );
    assert_eq!(value(&page, "spamd_requests_total{command=\"TELL\"}"), 1.0);
    assert_eq!(
        value(&page, "spamd_bayes_learned_messages_total{class=\"spam\"}"),
        1.0
    );
    assert_eq!(value(&page, "spamd_reloads_total{result=\"success\"}"), 1.0);
    assert_eq!(value(&page, "spamd_errors_total{kind=\"protocol\"}"), 1.0);
    assert_eq!(value(&page, "spamd_scan_duration_seconds_count"), 2.0);
    assert_eq!(
        value(&page, "spamd_scan_duration_seconds_bucket{le=\"+Inf\"}"),
        2.0
    );
    assert!(page.contains("spamd_build_info{version=\""), "{page}");
    assert!(value(&page, "spamd_rules") > 0.0);
    let (head, _) = get(mport, "/nothing");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    let promtool = require("/usr/bin/promtool", "prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(page.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {:?}\n{said}\n{page}",
        out.status
    );
}

#[test]
fn metrics_are_off_by_default() {
    let d = Daemon::ours(&[]);
    assert!(ping(d.port));
    let log = d.log_text();
    assert!(!log.contains("metrics on"), "{log}");
}
