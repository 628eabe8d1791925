//! Load, faults and a daemon killed under load (issue 10), short forms.
//!
//! The full figures come from `cargo run --release -p xtask -- load ...`;
//! `LOAD_SECONDS` / `LOAD_CLIENTS` / `LOAD_HUGE_MB` (20 here on a debug
//! build; the 50 MB with `xtask load`) lengthen the runs here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::load::{self, Opts};
use e2e::{Daemon, our_bin, root, run, split_message};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn opts() -> Opts {
    let mut o = Opts::new(our_bin("spamd"), root().join("rules"));
    o.quiet = false;
    o.messages = 120;
    o
}

/// 50 clients for 15 s while, every second, one rude client or a SIGHUP:
/// every normal request answered, every offender dealt with in time,
/// descriptors back to where they started, the daemon alive.
#[test]
fn load_with_faults() {
    let mut o = opts();
    o.clients = env_or("LOAD_CLIENTS", 50) as usize;
    o.seconds = env_or("LOAD_SECONDS", 15);
    o.faults = true;
    o.report_every = 5;
    o.timeout_tcp = 5;
    o.timeout_child = 20;
    o.huge_mb = env_or("LOAD_HUGE_MB", 20) as usize;
    let r = load::run(&o).expect("load run");
    assert!(r.requests > 0, "no requests made");
    assert_eq!(r.failures, 0, "failed requests: {:?}", r.failure_samples);
    for kind in load::FAULTS {
        assert!(
            r.offences.iter().any(|x| x.kind == kind),
            "fault {kind} never ran: {:?}",
            r.offences
        );
    }
    let bad: Vec<_> = r.offences.iter().filter(|x| !x.ok).collect();
    assert!(bad.is_empty(), "offenders not handled: {bad:?}");
    // The silent and trickling clients are cut at --timeout-tcp.
    for x in r
        .offences
        .iter()
        .filter(|x| x.kind == "silent" || x.kind == "slowloris")
    {
        assert!(x.secs < (o.timeout_tcp + 5) as f64, "{x:?}");
    }
    assert!(r.daemon_alive, "daemon died");
    // Sockets exactly; all descriptors within the few a scan thread may
    // open on first use (its Bayes SQLite handles).
    assert!(
        r.sockets_end <= r.sockets_start,
        "sockets {} -> {}",
        r.sockets_start,
        r.sockets_end
    );
    assert!(
        r.fds_end <= r.fds_start + 4,
        "descriptors {} -> {}",
        r.fds_start,
        r.fds_end
    );
}

/// 10,000 connections opened and closed as fast as possible, then a scan:
/// answered, no descriptor left behind.
#[test]
fn connection_storm_then_scan() {
    let mut o = opts();
    o.clients = 2;
    o.seconds = 2;
    o.connects = env_or("LOAD_CONNECTS", 10_000) as usize;
    let r = load::run(&o).expect("load run");
    let (made, fds, rss_kb, ok) = r.storm.expect("storm figures");
    assert_eq!(made, o.connects, "connections refused");
    assert!(ok, "the scan after the storm was not answered");
    assert!(
        fds <= r.fds_start + 4,
        "descriptors {} -> {fds}",
        r.fds_start
    );
    assert!(
        r.sockets_end <= r.sockets_start,
        "sockets {} -> {}",
        r.sockets_start,
        r.sockets_end
    );
    // Loose bound only against a leak per connection (10,000 x even 4 KB
    // would be 40 MB).
    assert!(
        rss_kb < r.rss_start_kb + 40 * 1024,
        "RSS {} KB -> {rss_kb} KB",
        r.rss_start_kb
    );
    assert_eq!(r.failures, 0, "{:?}", r.failure_samples);
}

/// Did spamc deliver `msg` correctly: unchanged, or scanned with the
/// original body intact?
fn delivered(msg: &[u8], out: &[u8]) -> bool {
    if out == msg {
        return true;
    }
    let (_, body) = split_message(msg);
    let marked = out.windows(15).any(|w| w == b"X-Spam-Checker-");
    let contains_body =
        body.is_empty() || (out.len() >= body.len() && out.windows(body.len()).any(|w| w == body));
    marked && contains_body && out.len() >= msg.len()
}

/// `kill -9` of spamd while spamc clients are busy: with the default safe
/// fallback every message comes out whole (scanned or unchanged); with
/// `-x -X` either a scanned message or a temporary-failure code (74 or 75)
/// and no partial output; with `-x` alone the codes SpamAssassin's spamc
/// uses (69 unavailable, 74 I/O error), never a truncated message.
#[test]
fn kill_9_under_load_loses_nothing() {
    let msgs = Arc::new(load::corpus_messages(30));
    for mode in [&[][..], &["-x", "-X"][..], &["-x"][..]] {
        let mut d = Daemon::ours(&["-L", "-m", "2"]);
        let port = d.port.to_string();
        let spamc = our_bin("spamc");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::<(i32, bool, bool)>::new()));
        let mut threads = Vec::new();
        for t in 0..8 {
            let (msgs, stop, seen, spamc, port) = (
                msgs.clone(),
                stop.clone(),
                seen.clone(),
                spamc.clone(),
                port.clone(),
            );
            let mode: Vec<&'static str> = mode.to_vec();
            threads.push(std::thread::spawn(move || {
                let mut i = t;
                let mut after_stop = 0;
                loop {
                    if stop.load(Ordering::Relaxed) {
                        after_stop += 1;
                        if after_stop > 3 {
                            return;
                        }
                    }
                    let msg = &msgs[i % msgs.len()];
                    i += 1;
                    let mut args = vec!["-d", "127.0.0.1", "-p", &port, "-t", "30"];
                    args.extend(mode.iter().copied());
                    let r = run(&spamc, &args, msg, Duration::from_secs(90));
                    let whole = delivered(msg, &r.stdout);
                    let unchanged = r.stdout == *msg;
                    if let Ok(mut s) = seen.lock() {
                        s.push((r.code, whole, unchanged));
                    }
                }
            }));
        }
        std::thread::sleep(Duration::from_secs(4));
        d.signal(libc::SIGKILL);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = d.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
        for th in threads {
            th.join().expect("client thread");
        }
        let seen = seen.lock().expect("results").clone();
        let scanned = seen.iter().filter(|s| s.0 == 0 && s.1 && !s.2).count();
        let failed_over = seen.iter().filter(|s| s.0 != 0 || s.2).count();
        eprintln!(
            "mode {mode:?}: {} runs, {scanned} scanned, {failed_over} after the kill",
            seen.len()
        );
        assert!(scanned > 0, "nothing was scanned before the kill: {seen:?}");
        assert!(failed_over > 0, "no run saw the dead daemon");
        for (code, whole, unchanged) in &seen {
            match mode {
                [] => assert!(
                    *code == 0 && *whole,
                    "default mode: exit {code}, delivered whole {whole}"
                ),
                _ => {
                    let allowed: &[i32] = if mode.len() == 2 {
                        &[0, 74, 75]
                    } else {
                        &[0, 69, 74, 75]
                    };
                    assert!(allowed.contains(code), "{mode:?}: exit {code}");
                    if *code == 0 {
                        assert!(*whole && !*unchanged, "{mode:?}: exit 0 but not scanned");
                    }
                }
            }
        }
    }
}

/// A message too big to scan within `--timeout-child` on most machines:
/// answered, either with the rules cut short (`TIME_LIMIT_EXCEEDED`, at
/// 90% of the limit), with `79 Timeout` when even parsing takes longer, or
/// in full on a machine fast enough; the daemon keeps answering, and its
/// memory goes back down.
#[test]
fn scan_budget_answers_and_survives() {
    use std::io::{Read, Write};
    let d = Daemon::ours(&["-L", "-m", "1", "--timeout-child", "2"]);
    let base = load::corpus_messages(1).pop().expect("a corpus message");
    let big = load::huge_message(&base, 30);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let mut req =
        format!("SYMBOLS SPAMC/1.5\r\nContent-length: {}\r\n\r\n", big.len()).into_bytes();
    req.extend_from_slice(&big);
    let _ = s.write_all(&req);
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply);
    let first = text.lines().next().unwrap_or("");
    eprintln!("{first} / {}", text.lines().last().unwrap_or(""));
    // Which of the three it is depends on the machine's speed (a fast
    // one scans 30 MB within the budget); each must be a whole answer.
    let cut = first.ends_with(" 0 EX_OK") && text.contains("TIME_LIMIT_EXCEEDED");
    let timed_out = first.contains(" 79 Timeout: (2 second timeout while trying to SYMBOLS)");
    let full = first.ends_with(" 0 EX_OK") && text.lines().any(|l| l.starts_with("Spam: "));
    eprintln!("huge message: cut short {cut}, timed out {timed_out}, scanned in full {full}");
    assert!(cut || timed_out || full, "{text}");
    // Still answering, and a normal message is scanned in full.
    assert!(e2e::ping(d.port), "no PONG after the huge message");
    let r = run(
        &our_bin("spamc"),
        &["-d", "127.0.0.1", "-p", &d.port.to_string(), "-c"],
        &base,
        Duration::from_secs(60),
    );
    assert!(r.code == 0 || r.code == 1, "spamc -c exit {}", r.code);
}
