//! The systemd units in `systemd/`: `systemd-analyze verify` finds nothing
//! to say about them, they carry the hardening and sockets issue 9 asks
//! for, and spamd behaves as they expect: started by systemd's own
//! `systemd-socket-activate` with a TCP and a Unix socket, it serves both,
//! tells `$NOTIFY_SOCKET` READY=1, and RELOADING=1 then READY=1 on SIGHUP.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::*;

fn unit(name: &str) -> String {
    std::fs::read_to_string(root().join("systemd").join(name)).expect("unit file")
}

fn tool(path: &str) -> PathBuf {
    require(path, "systemd")
}

#[test]
fn units_verify_clean_and_are_hardened() {
    let analyze = tool("/usr/bin/systemd-analyze");
    let dir = TempDir::new("units");
    // verify checks that ExecStart exists: point it at the binary we built.
    let service = unit("spamd.service").replace(
        "/usr/local/bin/spamd",
        &our_bin("spamd").display().to_string(),
    );
    std::fs::write(dir.path().join("spamd.service"), &service).expect("write unit");
    std::fs::write(dir.path().join("spamd.socket"), unit("spamd.socket")).expect("write unit");
    let out = Command::new(analyze)
        .arg("verify")
        .arg(dir.path().join("spamd.socket"))
        .arg(dir.path().join("spamd.service"))
        .output()
        .expect("systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ours: Vec<&str> = said.lines().filter(|l| l.contains("spamd.")).collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {:?}\n{said}",
        out.status
    );

    for want in [
        "Type=notify",
        "ProtectSystem=strict",
        "PrivateTmp=true",
        "NoNewPrivileges=true",
        "ReadWritePaths=",
        "RuntimeDirectory=spamd",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(
            service.lines().any(|l| l.starts_with(want)),
            "spamd.service lacks {want}"
        );
    }
    let socket = unit("spamd.socket");
    for want in [
        "ListenStream=127.0.0.1:783",
        "ListenStream=/run/spamd/spamd.sock",
    ] {
        assert!(
            socket.lines().any(|l| l == want),
            "spamd.socket lacks {want}"
        );
    }
    // The ExecStart options are ones our spamd takes.
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let args: Vec<&str> = exec
        .split_whitespace()
        .skip(1)
        .filter(|a| *a != "$OPTIONS")
        .collect();
    let r = run(
        &our_bin("spamd"),
        &[&args[..], &["--lint"]].concat(),
        b"",
        T,
    );
    assert!(
        r.code == 0 || r.code == 1,
        "spamd refused the unit's options {args:?}: {}",
        r.stderr
    );
    assert!(!r.stderr.contains("Usage"), "{}", r.stderr);
}

/// Datagrams arriving on our fake $NOTIFY_SOCKET, until `want` is seen.
fn wait_for(sock: &UnixDatagram, want: &str, seen: &mut Vec<String>, log: &Path) {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(120) {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            let hit = msg.lines().any(|l| l == want);
            seen.push(msg);
            if hit {
                return;
            }
        }
    }
    panic!(
        "no {want} on NOTIFY_SOCKET; got {seen:?}; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn check_over(to: &Path) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(to) else {
        return false;
    };
    let msg = gtube();
    let _ = s.write_all(
        &[
            format!("CHECK SPAMC/1.5\r\nContent-length: {}\r\n\r\n", msg.len()).as_bytes(),
            &msg,
        ]
        .concat(),
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.contains("Spam: True")
}

/// A child process that is killed and waited for on drop.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

#[test]
fn socket_activated_by_systemd_socket_activate_with_notify() {
    let activate = tool("/usr/bin/systemd-socket-activate");
    let dir = TempDir::new("sd-activate");
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let port = free_port();
    let sock = dir.path().join("spamd.sock");
    let pidfile = dir.path().join("spamd.pid");
    let log = dir.path().join("spamd.log");
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).expect("site");
    let child = Command::new(activate)
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--listen={}", sock.display()))
        .arg("--fdname=spamd:spamd")
        .arg(format!("--setenv=NOTIFY_SOCKET={}", notify_path.display()))
        .arg(our_bin("spamd"))
        .args(["-C", &root().join("rules").display().to_string()])
        .arg(format!("--siteconfigpath={}", site.display()))
        .arg(format!("--pidfile={}", pidfile.display()))
        .arg(format!("--syslog={}", log.display()))
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-socket-activate");
    // Killed by pid even when an assertion below fails.
    let mut child = Reaped(child);
    let pid = child.0.id() as i32;
    let mut seen = Vec::new();
    // systemd-socket-activate starts spamd on the first connection.
    // (The launcher may not be listening yet: try until it is.)
    let first = std::thread::spawn(move || {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            if ping(port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    });
    wait_for(&notify, "READY=1", &mut seen, &log);
    assert!(
        first.join().expect("ping thread"),
        "PING over the passed TCP socket"
    );
    assert!(check_over(&sock), "CHECK over the passed Unix socket");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("(from systemd)"), "{text}");
    // Reload: RELOADING=1, then READY=1 once the new rules are in.
    // SAFETY: kill(2) on the process we started (spamd after the exec).
    unsafe { libc::kill(pid, libc::SIGHUP) };
    wait_for(&notify, "RELOADING=1", &mut seen, &log);
    wait_for(&notify, "READY=1", &mut seen, &log);
    assert!(
        seen.iter()
            .any(|m| m.contains("RELOADING=1") && m.contains("MONOTONIC_USEC=")),
        "RELOADING=1 carries MONOTONIC_USEC: {seen:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&pidfile).expect("pidfile").trim(),
        pid.to_string(),
        "spamd kept the pid systemd-socket-activate exec'd it with"
    );
    assert!(ping(port), "still answering after the reload");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    wait_for(&notify, "STOPPING=1", &mut seen, &log);
    let _ = child.0.wait();
    assert!(
        sock.exists(),
        "spamd removed a socket file it did not create"
    );
}
