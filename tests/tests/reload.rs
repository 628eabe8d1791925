//! SIGHUP reloads the rules while clients keep scanning: no request fails,
//! every answer comes from one rule set or the other, the pid stays, and
//! the pidfile is written again when the reload completes (Debian's
//! sa-update hook and init scripts wait for that).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use e2e::*;

const MESSAGE: &[u8] =
    b"Subject: reload test\nMessage-ID: <reload@example.com>\n\nthe reloadmarker word\n";

fn write_rule(dir: &std::path::Path, score: f64) {
    std::fs::write(
        dir.join("99_reload_test.cf"),
        format!("body RELOAD_MARK /reloadmarker/\nscore RELOAD_MARK {score}\n"),
    )
    .expect("write rule");
}

fn mtime(p: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn score(port: u16) -> Result<f64, String> {
    let r = run(
        &our_bin("spamc"),
        &["-p", &port.to_string(), "-x", "-c"],
        MESSAGE,
        T,
    );
    let out = String::from_utf8_lossy(&r.stdout).into_owned();
    match (r.code, out.split_once('/')) {
        (0 | 1, Some((s, _))) => s.parse().map_err(|_| format!("bad answer {out:?}")),
        _ => Err(format!("exit {} answer {out:?} {}", r.code, r.stderr)),
    }
}

#[test]
fn sighup_under_load_swaps_rules_without_a_failed_request() {
    let dir = TempDir::new("reload");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    for e in std::fs::read_dir(root().join("rules")).expect("project rules") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "cf") {
            std::fs::copy(&p, rules.join(p.file_name().expect("name"))).expect("copy rule file");
        }
    }
    write_rule(&rules, 2.0);
    let pidfile = dir.path().join("spamd.pid");
    let rules_s = rules.display().to_string();
    let pid_s = pidfile.display().to_string();
    let d = Daemon::ours(&["-C", &rules_s, "-r", &pid_s, "-m", "2"]);
    let base = score(d.port).expect("first scan") - 2.0;
    let expected = [base + 2.0, base + 7.0];

    let stop = Arc::new(AtomicBool::new(false));
    let port = d.port;
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    seen.push(score(port));
                }
                seen
            })
        })
        .collect();

    let pid_before = std::fs::read_to_string(&pidfile).expect("pidfile");
    for round in 0..4 {
        let new = if round % 2 == 0 { 7.0 } else { 2.0 };
        write_rule(&rules, new);
        let before = mtime(&pidfile);
        d.signal(libc::SIGHUP);
        let start = Instant::now();
        while mtime(&pidfile) == before && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_ne!(
            mtime(&pidfile),
            before,
            "pidfile rewritten after reload {round}"
        );
        let now = score(d.port).expect("scan after reload");
        assert!(
            (now - (base + new)).abs() < 0.05,
            "after reload {round}: score {now}, want {}",
            base + new
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut answers = 0;
    for c in clients {
        for r in c.join().expect("client thread") {
            let s = r.unwrap_or_else(|e| panic!("a request failed during reloads: {e}"));
            assert!(
                expected.iter().any(|x| (s - x).abs() < 0.05),
                "score {s} from neither rule set {expected:?}"
            );
            answers += 1;
        }
    }
    assert!(answers >= 8, "clients scanned only {answers} times");
    assert_eq!(
        std::fs::read_to_string(&pidfile).expect("pidfile"),
        pid_before,
        "same pid"
    );
    assert_eq!(pid_before.trim(), d.pid().to_string());
    assert!(d.log_text().contains("reloaded"), "{}", d.log_text());
}
