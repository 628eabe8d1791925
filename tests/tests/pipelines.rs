//! Real delivery pipelines through spamc: each one delivers every message
//! and sorts it (spam folder or inbox) with our spamd up, and delivers the
//! messages unchanged to the inbox with spamd stopped.
//!
//! Run as root (CI), the pipelines run as a local user made for the test
//! (`sa_pipe`), with HOME set, as a mail system runs them; otherwise as the
//! calling user.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::*;

fn passwd(name: &str) -> Option<(u32, u32, PathBuf)> {
    let out = Command::new("getent")
        .args(["passwd", name])
        .output()
        .ok()?;
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let f: Vec<&str> = line.split(':').collect();
    (f.len() >= 6).then(|| {
        (
            f[2].parse().unwrap_or(0),
            f[3].parse().unwrap_or(0),
            PathBuf::from(f[5]),
        )
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The pipeline user's home, emptied: as root a local user of its own per
/// test (`sa_p_<tag>`, made with useradd), whose passwd home is the one
/// maildrop insists on; otherwise a temporary HOME for the calling user.
struct Home {
    _dir: Option<TempDir>,
    path: PathBuf,
    user: (String, u32, u32),
}

impl Home {
    fn new(tag: &str) -> Home {
        if !is_root() {
            let dir = TempDir::new(tag);
            let path = dir.path().to_path_buf();
            // SAFETY: getuid/getgid have no preconditions.
            let (u, g) = unsafe { (libc::geteuid(), libc::getegid()) };
            let name = std::env::var("USER").unwrap_or_else(|_| "user".into());
            return Home {
                _dir: Some(dir),
                path,
                user: (name, u, g),
            };
        }
        let name = format!("sa_p_{tag}");
        if passwd(&name).is_none() {
            let _ = Command::new("useradd")
                .args(["-m", "-s", "/usr/sbin/nologin", &name])
                .status();
        }
        let (u, g, path) = passwd(&name).expect("useradd (needs root)");
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("home");
        let h = Home {
            _dir: None,
            path,
            user: (name, u, g),
        };
        h.own(&h.path);
        std::fs::set_permissions(&h.path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        h
    }

    fn own(&self, p: &Path) {
        let _ = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.user.1, self.user.2))
            .arg(p)
            .status();
    }

    /// Write a file in the home, owned by the user, with `mode`.
    fn write(&self, rel: &str, text: &str, mode: u32) -> PathBuf {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        self.own(&p);
        p
    }

    /// An empty Maildir (and its `.Spam` folder) owned by the user.
    fn maildir(&self, rel: &str) -> PathBuf {
        let p = self.path.join(rel);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(p.join(sub)).expect("maildir");
        }
        self.own(&self.path);
        p
    }

    /// Run `sh -c script` as the user, HOME set, `input` on stdin.
    fn sh(&self, script: &str, input: &[u8]) -> Run {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(script)
            .current_dir(&self.path)
            .env_clear()
            .env("HOME", &self.path)
            .env("USER", &self.user.0)
            .env("LOGNAME", &self.user.0)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("SHELL", "/bin/sh");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            cmd.uid(self.user.1).gid(self.user.2);
        }
        run_cmd(cmd, input)
    }
}

fn run_cmd(mut cmd: Command, input: &[u8]) -> Run {
    use std::io::{Read, Write};
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let r = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let e = std::thread::spawn(move || {
        let mut b = String::new();
        let _ = err.read_to_string(&mut b);
        b
    });
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if start.elapsed() > T {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pipeline did not finish within {T:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = w.join();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: r.join().unwrap_or_default(),
        stderr: e.join().unwrap_or_default(),
    }
}

fn maildir_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            let mut names: Vec<_> = rd.flatten().map(|e| e.path()).collect();
            names.sort();
            for p in names {
                out.push(std::fs::read(p).unwrap_or_default());
            }
        }
    }
    out
}

fn clear(dir: &Path) {
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The test mail: GTUBE (spam) and a ham message, without an mbox line.
fn messages() -> (Vec<u8>, Vec<u8>) {
    let ham = ham();
    let ham = if ham.starts_with(b"From ") {
        let nl = ham.iter().position(|&b| b == b'\n').map_or(0, |p| p + 1);
        ham[nl..].to_vec()
    } else {
        ham
    };
    (gtube(), ham)
}

fn has(m: &[u8], s: &str) -> bool {
    String::from_utf8_lossy(m).contains(s)
}

/// With spamd up: spam in the spam folder (flagged), ham in the inbox
/// (scanned, not flagged).
fn assert_sorted(inbox: &Path, spam: &Path, what: &str) {
    let (i, s) = (maildir_files(inbox), maildir_files(spam));
    assert_eq!(s.len(), 1, "{what}: one message in the spam folder");
    assert_eq!(i.len(), 1, "{what}: one message in the inbox");
    assert!(has(&s[0], "X-Spam-Flag: YES"), "{what}: spam flagged");
    assert!(has(&i[0], "X-Spam-Status: No"), "{what}: ham scanned");
    eprintln!("{what}: spamd up: 1 in spam folder, 1 in inbox");
}

/// With spamd stopped: both messages in the inbox, unscanned, each
/// byte for byte the original.
fn assert_unchanged(inbox: &Path, spam: &Path, what: &str, originals: &[&[u8]]) {
    assert_unchanged_but(inbox, spam, what, originals, |m| m.to_vec())
}

/// fetchmail's own trace field (`Received: from 127.0.0.1 ... (fetchmail-x)`)
/// taken out, so what is left is what the IMAP server held.
fn without_fetchmail_received(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut skipping = false;
    let mut in_header = true;
    for line in m.split_inclusive(|&b| b == b'\n') {
        if in_header && (line == b"\n" || line == b"\r\n") {
            in_header = false;
        }
        if in_header {
            let cont = line.first().is_some_and(|&c| c == b' ' || c == b'\t');
            if !cont {
                skipping = line.starts_with(b"Received: from 127.0.0.1 [127.0.0.1]");
            }
            if skipping {
                continue;
            }
        }
        out.extend_from_slice(line);
    }
    out
}

fn assert_unchanged_but(
    inbox: &Path,
    spam: &Path,
    what: &str,
    originals: &[&[u8]],
    normal: impl Fn(&[u8]) -> Vec<u8>,
) {
    let (i, s) = (maildir_files(inbox), maildir_files(spam));
    let i: Vec<Vec<u8>> = i.iter().map(|m| normal(m)).collect();
    assert_eq!(
        s.len(),
        0,
        "{what}: nothing in the spam folder with spamd down"
    );
    assert_eq!(i.len(), originals.len(), "{what}: every message delivered");
    for o in originals {
        assert!(
            i.iter().any(|f| f.as_slice() == *o && !has(f, "X-Spam-")),
            "{what}: a message was changed or lost"
        );
    }
    eprintln!("{what}: spamd down: {} in inbox, unchanged", i.len());
}

fn spamc() -> String {
    our_bin("spamc").display().to_string()
}

#[test]
fn procmail_forward_pipe() {
    let procmail = require("/usr/bin/procmail", "procmail");
    let home = Home::new("procmail");
    home.maildir("Maildir");
    home.maildir("Maildir/.Spam");
    home.write(
        ".procmailrc",
        "MAILDIR=$HOME/Maildir\nLOGFILE=$HOME/procmail.log\nSHELL=/bin/sh\n\
         :0\n* ^X-Spam-Flag: YES\n.Spam/\n\n\
         :0\n* ^X-Spam-Status: Yes\n.Spam/\n\n\
         :0\n./\n",
        0o644,
    );
    let inbox = home.path.join("Maildir");
    let spam = home.path.join("Maildir/.Spam");
    let (g, h) = messages();
    // A .forward pipe gets the message as the MTA writes it to a mailbox:
    // an mbox `From ` line first.
    let mbox = |m: &[u8]| {
        let mut v = b"From sender@example.com  Tue Dec  1 10:00:00 2026\n".to_vec();
        v.extend_from_slice(m);
        v
    };
    let mut d = Daemon::ours(&[]);
    let forward = |port: u16| format!("{} -p {port} | {} -p", spamc(), procmail.display());
    // What an MTA runs for a `.forward` line `"|command"`: the command,
    // by the shell, as the user, in the home directory.
    let dot_forward = |port: u16| {
        let f = home.write(".forward", &format!("\"|{}\"\n", forward(port)), 0o644);
        let line = std::fs::read_to_string(f).expect(".forward");
        line.trim()
            .trim_matches('"')
            .trim_start_matches('|')
            .to_string()
    };
    let cmd = dot_forward(d.port);
    for m in [&g, &h] {
        let r = home.sh(&cmd, &mbox(m));
        assert_eq!(r.code, 0, "procmail pipe: {}", r.stderr);
    }
    assert_sorted(&inbox, &spam, "procmail .forward");
    clear(&inbox);
    clear(&spam);
    let port = d.port;
    d.stop();
    let cmd = dot_forward(port);
    for m in [&g, &h] {
        let r = home.sh(&cmd, &mbox(m));
        assert_eq!(r.code, 0, "procmail pipe, spamd down: {}", r.stderr);
    }
    assert_unchanged(&inbox, &spam, "procmail .forward", &[&g, &h]);
}

#[test]
fn maildrop_xfilter() {
    let maildrop = require("/usr/bin/maildrop", "maildrop");
    if !is_root() {
        eprintln!(
            "skipped: maildrop delivers only into the passwd home; needs root to make a user"
        );
        return;
    }
    let home = Home::new("maildrop");
    home.maildir("Maildir");
    home.maildir("Maildir/.Spam");
    let inbox = home.path.join("Maildir");
    let spam = home.path.join("Maildir/.Spam");
    let (g, h) = messages();
    let mut d = Daemon::ours(&[]);
    let rc = |port: u16| {
        format!(
            "SHELL=\"/bin/sh\"\n\
             xfilter \"{} -p {port}\"\n\
             if (/^X-Spam-Flag: YES/)\n{{\n  to \"Maildir/.Spam/\"\n}}\n\
             to \"Maildir/\"\n",
            spamc()
        )
    };
    home.write(".mailfilter", &rc(d.port), 0o600);
    for m in [&g, &h] {
        let r = home.sh(&maildrop.display().to_string(), m);
        assert_eq!(r.code, 0, "maildrop: {}", r.stderr);
    }
    assert_sorted(&inbox, &spam, "maildrop xfilter");
    clear(&inbox);
    clear(&spam);
    d.stop();
    for m in [&g, &h] {
        let r = home.sh(&maildrop.display().to_string(), m);
        assert_eq!(r.code, 0, "maildrop, spamd down: {}", r.stderr);
    }
    assert_unchanged(&inbox, &spam, "maildrop xfilter", &[&g, &h]);
}

/// Debian's dovecot on a loopback port with a private configuration: one
/// passwd-file user whose mail is a Maildir in a temp dir, owned by `uid`.
struct Dovecot {
    child: std::process::Child,
    port: u16,
    maildir: PathBuf,
    _dir: TempDir,
}

impl Dovecot {
    fn start(uid: u32, gid: u32) -> Dovecot {
        let bin = require("/usr/sbin/dovecot", "dovecot-imapd");
        let dir = TempDir::new("dovecot");
        let base = dir.path().to_path_buf();
        let base = base.as_path();
        for d in [
            "run",
            "state",
            "mail/fetchuser/Maildir/cur",
            "mail/fetchuser/Maildir/new",
            "mail/fetchuser/Maildir/tmp",
        ] {
            std::fs::create_dir_all(base.join(d)).expect("mkdir");
        }
        let _ = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(base.join("mail"))
            .status();
        std::fs::write(base.join("passwd"), "fetchuser:{PLAIN}secret\n").expect("passwd");
        let port = free_port();
        let b = base.display();
        let conf = format!(
            "protocols = imap\n\
             listen = 127.0.0.1\n\
             base_dir = {b}/run\n\
             state_dir = {b}/state\n\
             log_path = {b}/dovecot.log\n\
             ssl = no\n\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {b}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={b}/mail/%u\n}}\n\
             mail_location = maildir:{b}/mail/%u/Maildir\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service pop3-login {{\n  inet_listener pop3 {{\n    port = 0\n  }}\n}}\n\
             service submission-login {{\n  inet_listener submission {{\n    port = 0\n  }}\n}}\n"
        );
        std::fs::write(base.join("dovecot.conf"), conf).expect("conf");
        let child = Command::new(bin)
            .arg("-F")
            .arg("-c")
            .arg(base.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dovecot");
        let maildir = base.join("mail/fetchuser/Maildir");
        let d = Dovecot {
            child,
            port,
            maildir,
            _dir: dir,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "dovecot did not listen: {}",
                std::fs::read_to_string(base.join("dovecot.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// Put `msgs` into the IMAP inbox (owned by the mail user).
    fn fill(&self, msgs: &[&[u8]], uid: u32, gid: u32) {
        for (k, m) in msgs.iter().enumerate() {
            let p = self
                .maildir
                .join("new")
                .join(format!("100{k}.test{k}.localhost"));
            std::fs::write(&p, m).expect("mail");
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).expect("chown");
        }
    }

    fn left(&self) -> usize {
        maildir_files(&self.maildir).len()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the PID of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn fetchmail_from_dovecot_imap() {
    let fetchmail = require("/usr/bin/fetchmail", "fetchmail");
    let procmail = require("/usr/bin/procmail", "procmail");
    if !is_root() {
        eprintln!("skipped: a private dovecot serving another uid needs root");
        return;
    }
    let home = Home::new("fetchmail");
    let (uid, gid) = (home.user.1, home.user.2);
    let imap = Dovecot::start(uid, gid);
    home.maildir("Maildir");
    home.maildir("Maildir/.Spam");
    let rc = home.write(
        "procmailrc",
        "MAILDIR=$HOME/Maildir\nLOGFILE=$HOME/procmail.log\nSHELL=/bin/sh\n\
         :0\n* ^X-Spam-Flag: YES\n.Spam/\n\n\
         :0\n./\n",
        0o644,
    );
    let inbox = home.path.join("Maildir");
    let spam = home.path.join("Maildir/.Spam");
    let (g, h) = messages();
    let mut d = Daemon::ours(&[]);
    // `procmail -d %T` needs procmail to deliver as root into a system
    // mailbox; the unprivileged equivalent names the rcfile with -m.
    let fetchmailrc = |port: u16| {
        format!(
            "set no bouncemail\nset no syslog\n\
             poll 127.0.0.1 service {} protocol IMAP auth password\n\
             \x20 user \"fetchuser\" password \"secret\" is \"{}\" here\n\
             \x20 sslproto ''\n  no sslcertck\n\
             \x20 mda \"{} -p {port} | {} -m {}\"\n",
            imap.port,
            home.user.0,
            spamc(),
            procmail.display(),
            rc.display()
        )
    };
    let fetch = |port: u16| {
        let f = home.write(".fetchmailrc", &fetchmailrc(port), 0o600);
        let r = home.sh(
            &format!("{} -f {} --nodetach", fetchmail.display(), f.display()),
            b"",
        );
        assert_eq!(
            r.code,
            0,
            "fetchmail: {} {}",
            r.stderr,
            String::from_utf8_lossy(&r.stdout)
        );
    };
    imap.fill(&[&g, &h], uid, gid);
    fetch(d.port);
    assert_eq!(imap.left(), 0, "fetched and removed from the IMAP inbox");
    assert_sorted(&inbox, &spam, "fetchmail IMAP");
    clear(&inbox);
    clear(&spam);
    let port = d.port;
    d.stop();
    imap.fill(&[&g, &h], uid, gid);
    fetch(port);
    assert_eq!(imap.left(), 0);
    assert_unchanged_but(
        &inbox,
        &spam,
        "fetchmail IMAP",
        &[&g, &h],
        without_fetchmail_received,
    );
}
