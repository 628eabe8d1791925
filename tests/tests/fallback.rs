//! spamc never loses mail: whatever goes wrong on the daemon side, the
//! original message comes out unchanged with exit 0, and with -x the exit
//! code is the one SpamAssassin's spamc gives. Every scenario runs both our
//! spamc and Debian's, and their outputs and exit codes must be identical.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use e2e::*;

/// A fake spamd: each connection reads the request (to EOF) and then does
/// what `reply` says.
fn fake_server(reply: Option<&'static [u8]>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(Duration::from_secs(30)));
                let mut buf = [0u8; 65536];
                let mut total = Vec::new();
                // Read until the client half-closes.
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    total.extend_from_slice(&buf[..n]);
                }
                match reply {
                    Some(r) => {
                        let _ = c.write_all(r);
                    }
                    // Silent: hold the connection open, never answer.
                    None => std::thread::sleep(Duration::from_secs(30)),
                }
            });
        }
    });
    port
}

/// `-e` takes the rest of the command line, so it comes last.
const FLAGS: [&[&str]; 10] = [
    &[],
    &["-c"],
    &["-y"],
    &["-E"],
    &["-x"],
    &["-x", "-c"],
    &["-R"],
    &["-e", "/bin/echo", "delivered"],
    &["-x", "-e", "/bin/echo", "delivered"],
    &["-x", "-c", "-e", "/bin/echo", "delivered"],
];

fn compare(scenario: &str, port: u16, input: &[u8]) {
    let ours = our_bin("spamc");
    let theirs = sa_spamc();
    let p = port.to_string();
    for flags in FLAGS {
        let mut args = vec!["-p", p.as_str(), "-t", "2", "--connect-retries", "1"];
        args.extend_from_slice(flags);
        let a = run(&ours, &args, input, T);
        let b = run(&theirs, &args, input, T);
        assert_eq!(
            a.code, b.code,
            "{scenario} {flags:?}: exit code (ours {a:?}, theirs {b:?})"
        );
        assert_eq!(
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&b.stdout),
            "{scenario} {flags:?}: output"
        );
        if flags.is_empty() {
            assert_eq!(a.code, 0, "{scenario}: safe fallback exits 0");
            assert_eq!(
                a.stdout, input,
                "{scenario}: the message comes out unchanged"
            );
        }
        if flags == ["-x"] {
            assert_ne!(a.code, 0, "{scenario}: -x reports the failure");
            assert!(a.stdout.is_empty(), "{scenario}: -x prints no message");
        }
        if flags == ["-x", "-e", "/bin/echo", "delivered"] {
            // An MTA pipe must tempfail, not deliver unscanned mail.
            assert_ne!(a.code, 0, "{scenario}: -x -e reports the failure");
            assert!(a.stdout.is_empty(), "{scenario}: -x -e runs no command");
        }
    }
}

#[test]
fn closed_port() {
    compare("closed port", free_port(), &gtube());
}

#[test]
fn silent_server() {
    compare("silent server", fake_server(None), &gtube());
}

#[test]
fn garbage_server() {
    compare(
        "garbage reply",
        fake_server(Some(b"HTTP/1.0 200 OK\r\n\r\n<html>hello</html>\n")),
        &gtube(),
    );
}

#[test]
fn truncated_reply() {
    compare(
        "truncated reply",
        fake_server(Some(b"SPAMD/1.1 0 EX_OK\r\nContent-length: 5000\r\nSpam: True ; 9.0 / 5.0\r\n\r\nX-Spam-Flag: YES\r\n")),
        &gtube(),
    );
}

#[test]
fn spamd_killed_mid_request() {
    let ours = our_bin("spamc");
    let input = ham();
    for flags in [&[][..], &["-x"][..]] {
        let mut codes = Vec::new();
        for client in [ours.clone(), sa_spamc()] {
            let d = Daemon::ours(&[]);
            // Frozen: the kernel accepts the connection and buffers the
            // request, then the daemon dies before answering.
            d.signal(libc::SIGSTOP);
            let port = d.port.to_string();
            let mut args = vec!["-p", port.as_str(), "-t", "20"];
            args.extend_from_slice(flags);
            let pid = d.pid();
            let killer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(700));
                // SAFETY: kill(2) on our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            });
            let r = run(&client, &args, &input, T);
            let _ = killer.join();
            if flags.is_empty() {
                assert_eq!(r.code, 0, "{r:?}");
                assert_eq!(r.stdout, input, "message passed through unchanged");
            } else {
                assert!(r.stdout.is_empty());
            }
            codes.push(r.code);
            drop(d);
        }
        assert_eq!(
            codes[0], codes[1],
            "{flags:?}: same exit code as SpamAssassin's spamc"
        );
    }
}

#[test]
fn oversize_message_passes_through_unscanned() {
    let d = Daemon::ours(&[]);
    let ours = our_bin("spamc");
    let mut big = gtube();
    big.extend(std::iter::repeat_n(b'x', 600_000));
    big.push(b'\n');
    let p = d.port.to_string();
    for flags in [&[][..], &["-x"][..], &["-E"][..]] {
        let mut args = vec!["-p", p.as_str()];
        args.extend_from_slice(flags);
        let r = run(&ours, &args, &big, T);
        assert_eq!(r.code, 0, "{flags:?}");
        assert_eq!(r.stdout, big, "{flags:?}: unchanged");
    }
    let r = run(&ours, &["-p", &p, "-s", "2000000", "-c"], &big, T);
    assert_eq!(r.code, 1, "a larger -s scans it: {r:?}");
}
