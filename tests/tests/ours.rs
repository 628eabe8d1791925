//! Our spamc against our spamd, over TCP and the Unix socket.

use e2e::*;

fn strip_mbox_from(m: &[u8]) -> Vec<u8> {
    if m.starts_with(b"From ") {
        let nl = m
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| p + 1)
            .unwrap_or(m.len());
        m[nl..].to_vec()
    } else {
        m.to_vec()
    }
}

/// Drop `X-Spam-*` header fields (with continuation lines) from a header block.
fn without_spam_headers(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in block.split_inclusive(|&b| b == b'\n') {
        let cont = line.first().is_some_and(|&c| c == b' ' || c == b'\t');
        if !cont {
            skipping = line.len() >= 7 && line[..7].eq_ignore_ascii_case(b"X-Spam-");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out
}

fn parse_check(out: &[u8]) -> (f64, f64) {
    let s = String::from_utf8_lossy(out);
    let line = s.trim_end_matches('\n');
    let (a, b) = line
        .split_once('/')
        .unwrap_or_else(|| panic!("not score/threshold: {s:?}"));
    let one_decimal = |x: &str| x.split_once('.').is_some_and(|(_, d)| d.len() == 1);
    assert!(one_decimal(a) && one_decimal(b), "not %.1f/%.1f: {s:?}");
    (a.parse().expect("score"), b.parse().expect("threshold"))
}

#[test]
fn gtube_spam_and_ham_over_tcp_and_unix() {
    let d = Daemon::ours(&[]);
    let spamc = our_bin("spamc");
    let port = d.port.to_string();
    let sock = d.socket.clone().expect("socket").display().to_string();
    let ham = strip_mbox_from(&ham());
    for target in [vec!["-p", port.as_str()], vec!["-U", sock.as_str()]] {
        let with = |extra: &[&'static str]| -> Vec<String> {
            target
                .iter()
                .map(|s| s.to_string())
                .chain(extra.iter().map(|s| s.to_string()))
                .collect()
        };
        let args = with(&["-c"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&spamc, &args, &gtube(), T);
        assert_eq!(r.code, 1, "-c on GTUBE exits 1 ({target:?}): {r:?}");
        let (score, thr) = parse_check(&r.stdout);
        assert!(score >= 1000.0, "GTUBE score {score}");
        assert_eq!(thr, 5.0);

        let args = with(&["-E"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&spamc, &args, &gtube(), T);
        assert_eq!(r.code, 1, "-E on GTUBE exits 1: {r:?}");
        let text = String::from_utf8_lossy(&r.stdout);
        assert!(text.contains("X-Spam-Flag: YES"), "{text}");
        assert!(
            text.contains("XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE"),
            "original kept: {text}"
        );

        let args = with(&["-c"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&spamc, &args, &ham, T);
        assert_eq!(r.code, 0, "-c on ham exits 0: {r:?}");
        let (score, _) = parse_check(&r.stdout);
        assert!(score < 5.0, "ham score {score}");

        // PROCESS: the input plus X-Spam-* headers, nothing else changed.
        let r = run(&spamc, &target, &ham, T);
        assert_eq!(r.code, 0, "{r:?}");
        let (out_head, out_body) = split_message(&r.stdout);
        let (in_head, in_body) = split_message(&ham);
        assert_eq!(out_body, in_body, "body returned byte for byte");
        assert_eq!(
            without_spam_headers(out_head),
            in_head,
            "only X-Spam-* headers added"
        );
        let head = String::from_utf8_lossy(out_head);
        assert!(
            head.contains("\nX-Spam-Status: No, score=")
                || head.starts_with("X-Spam-Status: No, score="),
            "{head}"
        );
        assert!(
            head.contains("X-Spam-Checker-Version: SpamAssassin 4.0.1"),
            "{head}"
        );
        assert!(head.contains("X-Spam-Level: "), "{head}");
        assert!(!head.contains("X-Spam-Flag"), "{head}");
    }
}

#[test]
fn ping_and_symbols() {
    let d = Daemon::ours(&[]);
    let spamc = our_bin("spamc");
    let port = d.port.to_string();
    let r = run(&spamc, &["-p", &port, "-K"], b"", T);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(String::from_utf8_lossy(&r.stdout), "SPAMD/1.5 0\n");
    let r = run(&spamc, &["-p", &port, "-y"], &gtube(), T);
    let names = String::from_utf8_lossy(&r.stdout);
    assert!(names.split(',').any(|n| n == "GTUBE"), "{names:?}");
    assert!(!names.ends_with('\n'), "-y prints no trailing newline");
}

#[test]
fn logs_spamassassins_per_message_lines() {
    let mut d = Daemon::ours(&[]);
    let spamc = our_bin("spamc");
    let port = d.port.to_string();
    let r = run(&spamc, &["-p", &port, "-u", "alice", "-c"], &gtube(), T);
    assert_eq!(r.code, 1);
    let status = d.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM exits 0: {status:?}"
    );
    let log = d.log_text();
    // Started as root, spamd scans for an unknown user as `nobody`, as
    // SpamAssassin does; otherwise as itself.
    let uid = match unsafe { libc::geteuid() } {
        0 => {
            // SAFETY: getpwnam with a NUL-terminated name; read at once.
            let pw = unsafe { libc::getpwnam(c"nobody".as_ptr()) };
            assert!(!pw.is_null(), "no nobody user");
            unsafe { (*pw).pw_uid }
        }
        u => u,
    };
    for want in [
        "info: spamd: connection from localhost [127.0.0.1]:".to_string(),
        format!("info: spamd: checking message <gtube-1@example.com> for alice:{uid}"),
        format!("info: spamd: identified spam (1000.0/5.0) for alice:{uid} in "),
        "info: spamd: result: Y 1000 - ".to_string(),
        format!(",user=alice,uid={uid},required_score=5.0,rhost=localhost,raddr=127.0.0.1,rport="),
        ",mid=<gtube-1@example.com>,autolearn=no autolearn_force=no".to_string(),
        "info: spamd: server killed by SIGTERM".to_string(),
    ] {
        assert!(log.contains(&want), "log lacks {want:?}:\n{log}");
    }
    // The result line lists the rules that hit (GTUBE among them; the
    // embedded rules may add others, e.g. a capitals rule) before scantime.
    let result = log
        .lines()
        .find(|l| l.contains("info: spamd: result: Y 1000 - "))
        .unwrap_or_default();
    let tests = result
        .split(" - ")
        .nth(1)
        .and_then(|t| t.split(" scantime=").next())
        .unwrap_or_default();
    assert!(tests.split(',').any(|t| t == "GTUBE"), "{result}");
}

#[test]
fn japanese_rules_read_decoded_text() {
    // ISO-2022-JP, Shift_JIS, EUC-JP and UTF-8 mail: the JA_ rules match the
    // decoded text, and no ham message reaches the threshold (legitimate
    // notices may hit a JA_ rule: a lockout discussion says "locked").
    let d = Daemon::ours(&[]);
    let spamc = our_bin("spamc");
    let port = d.port.to_string();
    let ja = corpus::ja();
    let mut spam_hits = 0;
    for (class, expect_hit) in [("spam", true), ("ham", false)] {
        let mut files: Vec<_> = std::fs::read_dir(ja.join(class))
            .expect("ja corpus")
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for f in files {
            let msg = std::fs::read(&f).expect("read");
            let r = run(&spamc, &["-p", &port, "-y"], &msg, T);
            let names = String::from_utf8_lossy(&r.stdout).to_string();
            let hit = names.split(',').any(|n| n.starts_with("JA_"));
            if expect_hit {
                spam_hits += usize::from(hit);
            } else {
                let r = run(&spamc, &["-p", &port, "-c"], &msg, T);
                let (score, threshold) = parse_check(&r.stdout);
                assert!(
                    score < threshold,
                    "{} (ham) scored {score} with {names}",
                    f.display()
                );
            }
        }
    }
    assert!(
        spam_hits >= 4,
        "only {spam_hits} Japanese spams hit a JA_ rule"
    );
}

#[test]
fn tells_systemd_when_ready() {
    // Type=notify: spamd sends READY=1 to $NOTIFY_SOCKET once it serves.
    let dir = TempDir::new("notify");
    let path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).expect("bind notify socket");
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let port = free_port().to_string();
    let rules = root().join("rules").display().to_string();
    let site = dir.path().display().to_string();
    let mut child = std::process::Command::new(our_bin("spamd"))
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-C",
            &rules,
            "--siteconfigpath",
            &site,
            "-s",
            "null",
        ])
        .env("NOTIFY_SOCKET", &path)
        .env("HOME", dir.path())
        .spawn()
        .expect("start spamd");
    let mut buf = [0u8; 256];
    let got = sock.recv(&mut buf);
    let ready = got.map(|n| String::from_utf8_lossy(&buf[..n]).to_string());
    let answered = ping(port.parse().unwrap_or(0));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    let ready = ready.expect("a notification");
    assert!(ready.starts_with("READY=1"), "{ready:?}");
    assert!(answered, "serving once READY=1 was sent");
}
