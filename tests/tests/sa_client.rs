//! SpamAssassin's own spamc (Debian's /usr/bin/spamc) against our spamd:
//! every command gets an answer it accepts (no fallback output).

use e2e::*;

#[test]
fn debian_spamc_accepts_every_answer() {
    let sa_spamc = sa_spamc();
    let d = Daemon::ours(&["--allow-tell"]);
    let port = d.port.to_string();
    let p = port.as_str();
    let spam = gtube();

    let r = run(&sa_spamc, &["-p", p, "-c"], &spam, T);
    assert_eq!(r.code, 1, "{r:?}");
    let out = String::from_utf8_lossy(&r.stdout).to_string();
    assert!(
        out.ends_with("/5.0\n") && !out.starts_with("0/0"),
        "{out:?}"
    );

    let r = run(&sa_spamc, &["-p", p, "-y"], &spam, T);
    assert_eq!(r.code, 0, "{r:?}");
    let out = String::from_utf8_lossy(&r.stdout).to_string();
    assert!(out.split(',').any(|n| n == "GTUBE"), "{out:?}");

    for flag in ["-R", "-r"] {
        let r = run(&sa_spamc, &["-p", p, flag], &spam, T);
        assert_eq!(r.code, 0, "{flag}: {r:?}");
        let out = String::from_utf8_lossy(&r.stdout).to_string();
        let first = out.lines().next().unwrap_or("");
        // spamc prints the score line only when the reply says True/False;
        // REPORT_IFSPAM replies say Yes/No, so -r shows the report alone
        // (the same against SpamAssassin's own spamd).
        if flag == "-R" {
            assert!(
                first.ends_with("/5.0") && !first.starts_with("0/0"),
                "{flag}: {out:?}"
            );
        } else {
            assert!(!first.contains("/5.0"), "{flag}: {out:?}");
        }
        assert!(
            out.contains("GTUBE"),
            "{flag}: report lists the rule: {out:?}"
        );
    }
    let r = run(&sa_spamc, &["-p", p, "-r"], &ham(), T);
    assert_eq!(
        (r.code, r.stdout.len()),
        (0, 0),
        "-r on ham prints nothing: {r:?}"
    );

    let r = run(&sa_spamc, &["-p", p, "-K"], b"", T);
    assert_eq!(
        (r.code, String::from_utf8_lossy(&r.stdout).to_string()),
        (0, "SPAMD/1.5 0\n".to_string())
    );

    let r = run(&sa_spamc, &["-p", p, "--headers"], &spam, T);
    assert_eq!(r.code, 0, "{r:?}");
    let out = String::from_utf8_lossy(&r.stdout).to_string();
    assert!(out.contains("X-Spam-Flag: YES"), "{out}");
    assert!(
        out.contains("XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE"),
        "body appended by spamc: {out}"
    );

    let r = run(&sa_spamc, &["-p", p], &spam, T);
    assert_eq!(r.code, 0, "{r:?}");
    let out = String::from_utf8_lossy(&r.stdout).to_string();
    assert!(out.contains("X-Spam-Status: Yes, score="), "{out}");

    let r = run(&sa_spamc, &["-p", p, "-L", "spam"], &spam, T);
    assert_eq!(r.code, 0, "{r:?}");
    let out = String::from_utf8_lossy(&r.stdout).to_string();
    assert!(
        out.starts_with("Message "),
        "spamc understood the TELL reply: {out:?}"
    );

    let r = run(&sa_spamc, &["-p", p, "-c"], &ham(), T);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn zlib_request_is_answered() {
    let d = Daemon::ours(&[]);
    let msg = gtube();
    let packed = spamcore_deflate(&msg);
    let mut req = format!(
        "CHECK SPAMC/1.5\r\nUser: tester\r\nCompress: zlib\r\nContent-length: {}\r\n\r\n",
        packed.len()
    )
    .into_bytes();
    req.extend_from_slice(&packed);
    let reply = String::from_utf8_lossy(&raw_request(d.port, &req)).to_string();
    assert!(
        reply.starts_with("SPAMD/1.1 0 EX_OK\r\nSpam: True ; "),
        "{reply:?}"
    );
}

fn spamcore_deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("deflate");
    e.finish().expect("deflate")
}
