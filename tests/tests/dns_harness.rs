//! The DNS test harness itself: knotd serves zones written from Rust, the
//! delaying proxy adds its delay, the silent server never answers.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use e2e::dns::{DelayProxy, Knot, SilentServer, Zone, kdig_short};

fn zones() -> Vec<Zone> {
    vec![
        Zone::new("zen.spamhaus.org")
            .a("2.0.0.127", "127.0.0.2")
            .a("2.0.0.127", "127.0.0.10")
            .txt("2.0.0.127", "listed; see https://example.invalid/\"q\""),
        Zone::new("example.com")
            .a("@", "192.0.2.1")
            .aaaa("www", "2001:db8::1")
            .mx("@", 10, "mail.example.com")
            .ns("sub", "ns1.example.net")
            .cname("alias", "www.example.com")
            .txt(
                "_dmarc",
                &format!("v=DMARC1; p=reject; rua={}", "x".repeat(300)),
            ),
        Zone::new("2.0.192.in-addr.arpa").ptr("1", "host.example.com"),
    ]
}

#[test]
fn knot_serves_zones_written_from_rust() {
    let knot = Knot::start(&zones());
    let mut a = kdig_short(knot.port, "2.0.0.127.zen.spamhaus.org", "A");
    a.sort();
    assert_eq!(a, ["127.0.0.10", "127.0.0.2"]);
    let txt = kdig_short(knot.port, "2.0.0.127.zen.spamhaus.org", "TXT");
    assert_eq!(txt, ["\"listed; see https://example.invalid/\\\"q\\\"\""]);
    assert!(kdig_short(knot.port, "3.0.0.127.zen.spamhaus.org", "A").is_empty());
    assert_eq!(
        kdig_short(knot.port, "example.com", "MX"),
        ["10 mail.example.com."]
    );
    assert_eq!(
        kdig_short(knot.port, "www.example.com", "AAAA"),
        ["2001:db8::1"]
    );
    assert_eq!(
        kdig_short(knot.port, "1.2.0.192.in-addr.arpa", "PTR"),
        ["host.example.com."]
    );
    let long = kdig_short(knot.port, "_dmarc.example.com", "TXT").join("");
    assert!(
        long.contains("p=reject") && long.matches('x').count() == 300,
        "{long}"
    );
    let pid = knot.pid().expect("running");
    drop(knot);
    // SAFETY: signal 0 only probes whether the PID still exists.
    let alive = unsafe { libc::kill(pid as i32, 0) } == 0;
    assert!(!alive, "knotd {pid} still runs after drop");
}

/// A minimal A query for `name`, id 0x1234.
fn query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
fn delay_proxy_delays_concurrently_and_silent_server_is_silent() {
    let knot = Knot::start(&zones());
    let proxy = DelayProxy::start(knot.addr(), Duration::from_millis(300));
    // Ten queries at once come back after about one delay, not ten.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    for _ in 0..10 {
        s.send_to(&query("2.0.0.127.zen.spamhaus.org"), proxy.addr())
            .unwrap();
    }
    let mut buf = [0u8; 512];
    for _ in 0..10 {
        let (n, _) = s.recv_from(&mut buf).expect("answer through proxy");
        assert!(n > 12 && buf[0] == 0x12 && buf[1] == 0x34);
        assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), 2, "two A answers");
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(290),
        "answers came before the delay: {took:?}"
    );
    assert_eq!(proxy.queries(), 10);
    // kdig over TCP through the proxy.
    let tcp = std::process::Command::new("/usr/bin/kdig")
        .args([
            "@127.0.0.1",
            "-p",
            &proxy.port.to_string(),
            "+tcp",
            "+short",
            "+timeout=5",
        ])
        .args(["example.com", "A"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&tcp.stdout).trim(), "192.0.2.1");

    let silent = SilentServer::start();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s.send_to(&query("example.com"), silent.addr()).unwrap();
    assert!(s.recv_from(&mut buf).is_err(), "the silent server answered");
    let deadline = Instant::now() + Duration::from_secs(2);
    while silent.queries() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(silent.queries(), 1);
}
