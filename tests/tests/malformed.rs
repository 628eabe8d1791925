//! Malformed and hostile requests: each gets the same answer SpamAssassin's
//! spamd gives, and the daemon keeps serving.

use e2e::*;

fn status_line(reply: &[u8]) -> Vec<u8> {
    let end = reply
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| p + 1)
        .unwrap_or(reply.len());
    reply[..end].to_vec()
}

fn cases() -> Vec<(&'static str, Vec<u8>, bool)> {
    let msg = b"Subject: hi\r\n\r\nhello there\r\n".to_vec();
    let mut no_len = b"PROCESS SPAMC/1.5\r\nUser: joe\r\n\r\n".to_vec();
    no_len.extend_from_slice(&msg);
    let mut too_long = b"CHECK SPAMC/1.5\r\nContent-length: 5000\r\n\r\n".to_vec();
    too_long.extend_from_slice(&msg);
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .filter(|&b| b != b'\n')
        .collect();
    let mut long_header = b"CHECK SPAMC/1.5\r\nX-Padding: ".to_vec();
    long_header.extend(std::iter::repeat_n(b'a', 1_000_000));
    long_header.extend_from_slice(format!("\r\nContent-length: {}\r\n\r\n", msg.len()).as_bytes());
    long_header.extend_from_slice(&msg);
    let mut long_bad_header = b"CHECK SPAMC/1.5\r\n".to_vec();
    long_bad_header.extend(std::iter::repeat_n(b'b', 1_000_000));
    long_bad_header.extend_from_slice(b"\r\n\r\n");
    let mut nonnum = b"CHECK SPAMC/1.5\r\nContent-length: 12x\r\n\r\n".to_vec();
    nonnum.extend_from_slice(&msg);
    let mut zlib_nolen = b"CHECK SPAMC/1.5\r\nCompress: zlib\r\n\r\n".to_vec();
    zlib_nolen.extend_from_slice(&msg);
    // (name, request, compare the whole reply rather than the status line)
    vec![
        ("no Content-length", no_len, false),
        ("Content-length larger than the body", too_long, true),
        ("binary garbage", garbage, true),
        ("1 MB header line", long_header, false),
        ("1 MB line without a colon", long_bad_header, true),
        ("unknown command", b"FROB SPAMC/1.5\r\n\r\n".to_vec(), true),
        (
            "lower-case command",
            b"check SPAMC/1.5\r\n\r\n".to_vec(),
            true,
        ),
        ("non-numeric length", nonnum, true),
        ("zlib without length", zlib_nolen, true),
        (
            "EOF in headers",
            b"CHECK SPAMC/1.5\r\nUser: x\r\n".to_vec(),
            true,
        ),
        ("empty connection", Vec::new(), true),
    ]
}

#[test]
fn malformed_requests_answered_like_spamassassin() {
    let sa = Daemon::spamassassin();
    let ours = Daemon::ours(&[]);
    for (name, req, whole) in cases() {
        let theirs = raw_request(sa.port, &req);
        let mine = raw_request(ours.port, &req);
        if whole {
            assert_eq!(
                String::from_utf8_lossy(&mine),
                String::from_utf8_lossy(&theirs),
                "{name}: reply differs from SpamAssassin's"
            );
        } else {
            assert_eq!(
                String::from_utf8_lossy(&status_line(&mine)),
                String::from_utf8_lossy(&status_line(&theirs)),
                "{name}: status line differs from SpamAssassin's"
            );
        }
        assert!(ping(ours.port), "{name}: our spamd stopped answering");
    }
}

#[test]
fn slow_client_times_out_and_daemon_keeps_serving() {
    let ours = Daemon::ours(&["--timeout-tcp", "1"]);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", ours.port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = Vec::new();
    use std::io::Read;
    let _ = s.read_to_end(&mut buf);
    assert_eq!(
        String::from_utf8_lossy(&buf),
        "SPAMD/1.0 79 Timeout: (1 second socket timeout reading input from client)\r\n"
    );
    assert!(ping(ours.port));
}

#[test]
fn many_clients_at_once() {
    let ours = Daemon::ours(&["-m", "2"]);
    let spamc = our_bin("spamc");
    let port = ours.port.to_string();
    let handles: Vec<_> = (0..12)
        .map(|_| {
            let spamc = spamc.clone();
            let port = port.clone();
            std::thread::spawn(move || run(&spamc, &["-p", &port, "-c"], &gtube(), T))
        })
        .collect();
    for h in handles {
        let r = h.join().expect("client thread");
        assert_eq!(r.code, 1, "{r:?}");
        assert!(
            !r.stdout.starts_with(b"0/0"),
            "fell back instead of being served: {r:?}"
        );
    }
}

/// Replace what depends on the rule set (scores, lengths, bodies) so the
/// framing of two daemons' replies can be compared byte for byte.
fn framing(reply: &[u8]) -> String {
    let s = String::from_utf8_lossy(reply).to_string();
    let Some(nl) = s.find("\r\n") else { return s };
    let (status, rest) = s.split_at(nl + 2);
    let mut out = status.to_string();
    let has_headers = ["Content-length:", "Spam:", "DidSet:", "DidRemove:", "\r\n"]
        .iter()
        .any(|h| rest.starts_with(h));
    if !has_headers {
        if !rest.is_empty() {
            out.push_str("<body>");
        }
        return out;
    }
    let (head, body) = match rest.find("\r\n\r\n") {
        Some(p) => (&rest[..p + 4], &rest[p + 4..]),
        None => (rest, ""),
    };
    for line in head.split_inclusive("\r\n") {
        if let Some(r) = line.strip_prefix("Spam: ") {
            let flag = r.split(' ').next().unwrap_or("");
            out.push_str(&format!("Spam: {flag} ; <score>\r\n"));
        } else if line.starts_with("Content-length: ") {
            out.push_str("Content-length: <n>\r\n");
        } else {
            out.push_str(line);
        }
    }
    if !body.is_empty() {
        out.push_str("<body>");
    }
    out
}

#[test]
fn every_protocol_version_framed_like_spamassassin() {
    let sa = Daemon::spamassassin();
    let ours = Daemon::ours(&[]);
    let msg = gtube();
    for version in ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"] {
        for verb in [
            "CHECK",
            "SYMBOLS",
            "REPORT",
            "REPORT_IFSPAM",
            "PROCESS",
            "HEADERS",
            "PING",
            "SKIP",
        ] {
            let mut req = format!("{verb} SPAMC/{version}\r\n").into_bytes();
            if version != "1.0" || verb == "PING" || verb == "SKIP" {
                if !matches!(verb, "PING" | "SKIP") {
                    req.extend_from_slice(format!("Content-length: {}\r\n", msg.len()).as_bytes());
                }
                req.extend_from_slice(b"\r\n");
            }
            if !matches!(verb, "PING" | "SKIP") {
                req.extend_from_slice(&msg);
            }
            let theirs = framing(&raw_request(sa.port, &req));
            let mine = framing(&raw_request(ours.port, &req));
            assert_eq!(mine, theirs, "{verb} SPAMC/{version}");
        }
    }
}

#[test]
fn hostile_messages_are_scanned_not_timed_out() {
    // Shapes that make naive parsers quadratic or deep: 50,000 header
    // fields, 3,000 nested multiparts, 20,000 parts, 200,000 nested tags.
    let ours = Daemon::ours(&["--timeout-child", "120"]);
    let many_headers: String = (0..50_000)
        .map(|i| format!("X-H{i}: v{i}\n"))
        .collect::<String>()
        + "Subject: s\n\nbody\n";
    let mut nested = String::from("Subject: n\nMIME-Version: 1.0\n");
    for i in 0..3000 {
        nested.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
        ));
    }
    nested.push_str("Content-Type: text/plain\n\nhello\n");
    let mut parts = String::from(
        "Subject: p\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"zz\"\n\n",
    );
    for i in 0..20_000 {
        parts.push_str(&format!("--zz\nContent-Type: text/plain\n\npart {i}\n"));
    }
    parts.push_str("--zz--\n");
    let html = format!(
        "Subject: h\nContent-Type: text/html\n\n{}x{}",
        "<div>".repeat(200_000),
        "</div>".repeat(200_000)
    );
    for (name, msg) in [
        ("headers", many_headers),
        ("nested", nested),
        ("parts", parts),
        ("html", html),
    ] {
        let mut req =
            format!("CHECK SPAMC/1.5\r\nContent-length: {}\r\n\r\n", msg.len()).into_bytes();
        req.extend_from_slice(msg.as_bytes());
        let reply = String::from_utf8_lossy(&raw_request(ours.port, &req)).to_string();
        assert!(
            reply.starts_with("SPAMD/1.1 0 EX_OK\r\nSpam: "),
            "{name}: {reply:?}"
        );
    }
    assert!(ping(ours.port));
}
