//! Shared helpers for the end-to-end tests: build and locate our binaries,
//! start our spamd and SpamAssassin's on loopback ports, run clients with
//! bounded waits, and stop everything by PID.

pub mod dns;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The project's test mail (`tests/corpus`): `corpus::ja()`,
/// `corpus::ja_real()`, `corpus::public_or_panic()`.
pub use corpus;

/// Build `spamd` and `spamc` once per test process, so `cargo test` alone
/// tests the current code.
fn build_once() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "spamd", "-p", "spamc"])
            .current_dir(root())
            .status()
            .expect("running cargo build");
        assert!(status.success(), "cargo build of spamd/spamc failed");
        // target/debug/deps/<test> -> target/debug
        let exe = std::env::current_exe().expect("test executable path");
        exe.parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .expect("target directory")
    })
}

/// Path of one of our binaries (built on first use).
pub fn our_bin(name: &str) -> PathBuf {
    let p = build_once().join(name);
    assert!(p.exists(), "{} was not built", p.display());
    p
}

/// A peer program the test needs; fails with how to install it.
pub fn require(path: &str, package: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "{path} is missing: install it with `apt-get install -y {package}` (tests/run.sh does this)"
    );
    p
}

/// SpamAssassin's client and daemon (Debian packages `spamc`, `spamd`).
pub fn sa_spamc() -> PathBuf {
    require("/usr/bin/spamc", "spamc")
}

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("spamrs-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A daemon we started; stopped by PID on drop.
pub struct Daemon {
    pub child: Child,
    pub port: u16,
    pub socket: Option<PathBuf>,
    pub log: PathBuf,
    _dir: TempDir,
}

impl Daemon {
    /// Our spamd on a loopback port (and a Unix socket), with `extra` args.
    /// Uses the project's own rules and an empty site directory unless
    /// `extra` says otherwise.
    pub fn ours(extra: &[&str]) -> Daemon {
        let dir = TempDir::new("spamd");
        let port = free_port();
        let sock = dir.path().join("spamd.sock");
        let site = dir.path().join("site");
        std::fs::create_dir_all(&site).expect("site dir");
        let log = dir.path().join("spamd.log");
        let mut args: Vec<String> = vec![
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "--socketpath".into(),
            sock.display().to_string(),
            "-s".into(),
            log.display().to_string(),
        ];
        if !extra
            .iter()
            .any(|a| *a == "-C" || a.starts_with("--configpath"))
        {
            args.push("-C".into());
            args.push(root().join("rules").display().to_string());
        }
        if !extra.iter().any(|a| a.starts_with("--siteconfigpath")) {
            args.push("--siteconfigpath".into());
            args.push(site.display().to_string());
        }
        // The daemon's Bayes database inside the test, shared by every
        // request: started as root, spamd scans requests from root (and
        // unknown users) as `nobody`, so the directory is open to it.
        if !extra
            .iter()
            .any(|a| a.contains("bayes_path") || a.contains("bayes_store_module"))
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777));
            args.push("--cf".into());
            args.push(format!(
                "bayes_path {}",
                dir.path().join(".spamassassin/bayes").display()
            ));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        // A home of its own: Bayes and user state stay inside the test.
        let child = Command::new(our_bin("spamd"))
            .args(&args)
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start our spamd");
        let d = Daemon {
            child,
            port,
            socket: Some(sock),
            log,
            _dir: dir,
        };
        d.wait_ready(Duration::from_secs(20));
        d
    }

    /// SpamAssassin's own spamd (`-L`, loopback, 2 children).
    pub fn spamassassin() -> Daemon {
        Daemon::spamassassin_with(&[])
    }

    /// SpamAssassin's spamd as `spamassassin()`, with `extra` args.
    pub fn spamassassin_with(extra: &[&str]) -> Daemon {
        Daemon::start_spamassassin(true, extra)
    }

    /// SpamAssassin's spamd with network tests on (no `-L`), with `extra`
    /// args (`-C`, `--siteconfigpath=` ...).
    pub fn spamassassin_network(extra: &[&str]) -> Daemon {
        Daemon::start_spamassassin(false, extra)
    }

    fn start_spamassassin(local: bool, extra: &[&str]) -> Daemon {
        let bin = require("/usr/sbin/spamd", "spamd");
        let dir = TempDir::new("saspamd");
        let port = free_port();
        let log = dir.path().join("spamd.log");
        let pid = dir.path().join("spamd.pid");
        let child = Command::new(bin)
            .args(local.then_some("-L"))
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-A",
                "127.0.0.1",
                "-m",
                "2",
            ])
            .arg(format!("--pidfile={}", pid.display()))
            .arg(format!("--syslog={}", log.display()))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start SpamAssassin's spamd");
        let d = Daemon {
            child,
            port,
            socket: None,
            log,
            _dir: dir,
        };
        // The whole rule set with the network plugins loads slowly on a
        // busy machine.
        d.wait_ready(Duration::from_secs(if local { 60 } else { 120 }));
        d
    }

    fn wait_ready(&self, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if ping(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        panic!(
            "daemon on port {} did not answer PING within {limit:?}; log:\n{log}",
            self.port
        );
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Send a signal to the daemon.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the PID of our own child.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stop with SIGTERM and wait (bounded); SIGKILL if it lingers.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// PING on a port; true on `SPAMD/1.5 0 PONG`.
pub fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"PING SPAMC/1.5\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.starts_with(b"SPAMD/1.5 0 PONG")
}

/// Send raw bytes to a port, half-close, and read the whole reply (bounded).
pub fn raw_request(port: u16, req: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let _ = s.write_all(req);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf
}

/// What a client run produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Run `bin args` with `input` on stdin, killing it after `limit`.
pub fn run(bin: &Path, args: &[&str], input: &[u8], limit: Duration) -> Run {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    run_command(cmd, input, limit)
}

/// Run a prepared command with `input` on stdin, killing it after `limit`.
pub fn run_command(mut cmd: Command, input: &[u8], limit: Duration) -> Run {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let ereader = std::thread::spawn(move || {
        let mut b = String::new();
        let _ = err.read_to_string(&mut b);
        b
    });
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = writer.join();
    let stdout = reader.join().unwrap_or_default();
    let stderr = ereader.join().unwrap_or_default();
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// The GTUBE test message.
pub fn gtube() -> Vec<u8> {
    b"From: tester@example.com\nTo: you@example.net\nSubject: GTUBE test\nMessage-ID: <gtube-1@example.com>\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n\nThis is the GTUBE, the\n\tGeneric\n\tTest for\n\tUnsolicited\n\tBulk\n\tEmail\n\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n\n".to_vec()
}

/// A ham message from the public corpus.
pub fn ham() -> Vec<u8> {
    let p = corpus::public_or_panic().join("easy_ham/00001.7c53336b37003a9286aba55d2945844c.txt");
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// Split a message at the first blank line: (header block, body).
pub fn split_message(m: &[u8]) -> (&[u8], &[u8]) {
    for i in 0..m.len() {
        if m[i] == b'\n'
            && (m.get(i + 1) == Some(&b'\n')
                || (m.get(i + 1) == Some(&b'\r') && m.get(i + 2) == Some(&b'\n')))
        {
            let body_start = if m[i + 1] == b'\n' { i + 2 } else { i + 3 };
            return (&m[..i + 1], &m[body_start..]);
        }
    }
    (m, &[])
}

/// Time budget for one client run in tests.
pub const T: Duration = Duration::from_secs(60);
pub mod load;
