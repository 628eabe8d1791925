//! Issue 9, must-show 4: 50 clients scan without pause while SIGHUP arrives
//! every second, alternating two rule sets: no connection refused, no
//! request failed, every answer from one rule set or the other, the pid
//! unchanged. Once with spamd binding its own sockets, once with the
//! sockets passed the way systemd passes them (bound by a launcher,
//! `LISTEN_FDS`/`LISTEN_PID`/`LISTEN_FDNAMES`, exec).
//!
//! `SPAMD_RELOAD_SECS` sets how long (10 s by default, so `tests/run.sh`
//! stays short; `SPAMD_RELOAD_SECS=60` is the issue's figure), and
//! `SPAMD_RELOAD_CLIENTS` how many clients (50).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use e2e::*;

const MESSAGE: &[u8] =
    b"Subject: reload load test\nMessage-ID: <reload-load@example.com>\n\nthe reloadmarker word\n";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write_rule(dir: &Path, score: f64) {
    // Written to a temporary name and renamed, so a reload never reads
    // half a file.
    let tmp = dir.join(".99_reload_test.tmp");
    std::fs::write(
        &tmp,
        format!("body RELOAD_MARK /reloadmarker/\nscore RELOAD_MARK {score}\n"),
    )
    .expect("write rule");
    std::fs::rename(&tmp, dir.join("99_reload_test.cf")).expect("rename rule");
}

fn rules_dir(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    for e in std::fs::read_dir(root().join("rules")).expect("project rules") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "cf") {
            std::fs::copy(&p, rules.join(p.file_name().expect("name"))).expect("copy rule file");
        }
    }
    write_rule(&rules, 2.0);
    rules
}

/// Where a client connects.
#[derive(Clone)]
enum To {
    Tcp(u16),
    Unix(PathBuf),
}

/// One CHECK on a fresh connection; the score, or why it failed.
fn check(to: &To) -> Result<f64, String> {
    let req = [
        format!(
            "CHECK SPAMC/1.5\r\nContent-length: {}\r\n\r\n",
            MESSAGE.len()
        )
        .as_bytes(),
        MESSAGE,
    ]
    .concat();
    let mut reply = Vec::new();
    match to {
        To::Tcp(port) => {
            let mut s =
                TcpStream::connect(("127.0.0.1", *port)).map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(120)))
                .map_err(|e| e.to_string())?;
            s.write_all(&req).map_err(|e| format!("write: {e}"))?;
            s.read_to_end(&mut reply)
                .map_err(|e| format!("read: {e}"))?;
        }
        To::Unix(path) => {
            let mut s = UnixStream::connect(path).map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(120)))
                .map_err(|e| e.to_string())?;
            s.write_all(&req).map_err(|e| format!("write: {e}"))?;
            s.read_to_end(&mut reply)
                .map_err(|e| format!("read: {e}"))?;
        }
    }
    let text = String::from_utf8_lossy(&reply);
    if !text.starts_with("SPAMD/1.") || !text.contains(" 0 EX_OK") {
        return Err(format!("bad reply {text:?}"));
    }
    // Spam: False ; 3.1 / 5.0
    text.lines()
        .find_map(|l| l.strip_prefix("Spam: "))
        .and_then(|l| l.split(';').nth(1))
        .and_then(|l| l.split('/').next())
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("no score in {text:?}"))
}

/// Drive the load and the reloads; assert the outcome.
fn under_load(pid: i32, pidfile: &Path, rules: &Path, targets: &[To], log: &dyn Fn() -> String) {
    let secs = env_num("SPAMD_RELOAD_SECS", 10);
    let clients = env_num("SPAMD_RELOAD_CLIENTS", 50) as usize;
    let base = check(&targets[0]).expect("first scan") - 2.0;
    let sets = [base + 2.0, base + 7.0];

    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let stop = stop.clone();
            let to = targets[i % targets.len()].clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    seen.push(check(&to));
                }
                seen
            })
        })
        .collect();

    let pid_before = std::fs::read_to_string(pidfile).expect("pidfile");
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < secs {
        let score = if sent.is_multiple_of(2) { 7.0 } else { 2.0 };
        write_rule(rules, score);
        // SAFETY: kill(2) on the daemon we started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0, "daemon alive");
        sent += 1;
        let next = Duration::from_secs(sent);
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (mut answers, mut failures, mut per_set) = (0usize, Vec::new(), [0usize; 2]);
    for t in threads {
        for r in t.join().expect("client thread") {
            match r {
                Ok(s) => {
                    let which = sets.iter().position(|x| (s - x).abs() < 0.05);
                    match which {
                        Some(i) => per_set[i] += 1,
                        None => failures.push(format!("score {s} from neither set {sets:?}")),
                    }
                    answers += 1;
                }
                Err(e) => failures.push(e),
            }
        }
    }
    let text = log();
    let reloads = text.matches("spamd: reloaded ").count();
    eprintln!(
        "reload under load: {clients} clients, {sent} SIGHUPs over {secs} s: {answers} answers \
         ({} from the 2.0 set, {} from the 7.0 set), {} failed, {reloads} reloads completed",
        per_set[0],
        per_set[1],
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} requests failed or answered from no rule set; first: {:?}",
        failures.len(),
        answers + failures.len(),
        failures.iter().take(5).collect::<Vec<_>>()
    );
    assert!(reloads >= 2, "only {reloads} reloads completed:\n{text}");
    assert!(
        per_set[0] > 0 && per_set[1] > 0,
        "answers from both rule sets: {per_set:?}"
    );
    assert!(!text.contains("reload failed"), "{text}");
    // The same process all along, and the pidfile says so.
    assert_eq!(
        std::fs::read_to_string(pidfile).expect("pidfile"),
        pid_before
    );
    assert_eq!(pid_before.trim(), pid.to_string());
    // SAFETY: signal 0 only checks that the process exists.
    assert_eq!(unsafe { libc::kill(pid, 0) }, 0, "daemon still running");
}

#[test]
fn fifty_clients_through_a_sighup_every_second() {
    let dir = TempDir::new("reload-load");
    let rules = rules_dir(dir.path());
    let pidfile = dir.path().join("spamd.pid");
    let d = Daemon::ours(&[
        "-C",
        &rules.display().to_string(),
        "-r",
        &pidfile.display().to_string(),
        "-m",
        "4",
    ]);
    let mut targets = vec![To::Tcp(d.port)];
    if let Some(s) = &d.socket {
        targets.push(To::Unix(s.clone()));
    }
    under_load(d.pid(), &pidfile, &rules, &targets, &|| d.log_text());
}

/// Start spamd as systemd does for a socket unit: the sockets are bound by
/// the launcher (here, this test) and passed as descriptors 3 and 4, with
/// `LISTEN_FDS=2`, `LISTEN_FDNAMES` and `LISTEN_PID` set to the pid that
/// execs spamd (a shell sets it to its own pid, then execs).
struct Activated {
    child: Child,
}

impl Drop for Activated {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn activate(
    tcp: &std::net::TcpListener,
    unix: &std::os::unix::net::UnixListener,
    args: &[String],
    log: &Path,
) -> Activated {
    let fds = [tcp.as_raw_fd(), unix.as_raw_fd()];
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ exec \"$@\"")
        .arg("sh")
        .arg(our_bin("spamd"))
        .args(args)
        .arg("-s")
        .arg(log)
        .env("LISTEN_FDS", "2")
        .env("LISTEN_FDNAMES", "spamd.socket:spamd.socket")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and
    // exec: the listeners are first moved above 100, then onto 3 and 4,
    // where dup2 leaves them inheritable.
    unsafe {
        cmd.pre_exec(move || {
            let mut high = [0; 2];
            for (i, fd) in fds.iter().enumerate() {
                high[i] = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100);
                if high[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, fd) in high.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    Activated {
        child: cmd.spawn().expect("start spamd with passed sockets"),
    }
}

#[test]
fn the_same_with_sockets_passed_as_systemd_does() {
    let dir = TempDir::new("reload-activated");
    let rules = rules_dir(dir.path());
    let pidfile = dir.path().join("spamd.pid");
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).expect("site");
    let log = dir.path().join("spamd.log");
    let sock = dir.path().join("spamd.sock");
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind tcp");
    let port = tcp.local_addr().expect("addr").port();
    let unix = std::os::unix::net::UnixListener::bind(&sock).expect("bind unix");
    // Options that would bind elsewhere are ignored: the passed sockets win.
    let args: Vec<String> = [
        "-C",
        &rules.display().to_string(),
        "--siteconfigpath",
        &site.display().to_string(),
        "-r",
        &pidfile.display().to_string(),
        "-m",
        "4",
        "-p",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let d = activate(&tcp, &unix, &args, &log);
    // The launcher keeps its copies open, as systemd does: connections
    // queue on the socket until spamd accepts them, none is refused.
    let targets = vec![To::Tcp(port), To::Unix(sock.clone())];
    let t = Instant::now();
    while !ping(port) {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no answer on the passed socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text().contains("(from systemd)"), "{}", text());
    assert!(
        text().contains(&format!(
            "server started on IO::Socket::IP [127.0.0.1]:{port}, UNIX domain socket {}",
            sock.display()
        )),
        "the passed sockets, and only they, are served:\n{}",
        text()
    );
    under_load(d.child.id() as i32, &pidfile, &rules, &targets, &text);
    drop(d);
    // spamd leaves the socket file it did not create.
    assert!(sock.exists(), "the passed Unix socket file was removed");
}

#[test]
fn a_configuration_that_fails_to_load_keeps_the_running_one() {
    let dir = TempDir::new("reload-fail");
    let rules = rules_dir(dir.path());
    let pidfile = dir.path().join("spamd.pid");
    let d = Daemon::ours(&[
        "-C",
        &rules.display().to_string(),
        "-r",
        &pidfile.display().to_string(),
    ]);
    let to = To::Tcp(d.port);
    let before = check(&to).expect("scan");
    let reloads = |what: &str| d.log_text().matches(what).count();
    let wait = |what: &str, n: usize| {
        let t = Instant::now();
        while reloads(what) < n {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "no {what:?}:\n{}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // The rules directory vanishes (a package upgrade half done).
    let away = dir.path().join("rules.away");
    std::fs::rename(&rules, &away).expect("move rules away");
    d.signal(libc::SIGHUP);
    wait("reload failed, keeping the running configuration", 1);
    let text = d.log_text();
    assert!(
        text.contains(&format!("cannot read rules directory {}", rules.display())),
        "the log says why:\n{text}"
    );
    assert_eq!(check(&to).expect("scan after the failed reload"), before);
    // Back in place with a new score: the next reload takes it.
    std::fs::rename(&away, &rules).expect("move rules back");
    write_rule(&rules, 7.0);
    d.signal(libc::SIGHUP);
    wait("spamd: reloaded ", 1);
    let after = check(&to).expect("scan after the good reload");
    assert!((after - (before + 5.0)).abs() < 0.05, "{before} -> {after}");
}
