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

fn run_cmd(cmd: Command, input: &[u8]) -> Run {
    e2e::run_command(cmd, input, T)
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

/// A private Postfix instance: config, queue and data directories in a temp
/// dir, smtpd on a loopback port with `content_filter` through a pipe
/// service running `spamc -e sendmail`, local delivery by procmail.
struct Postfix {
    child: std::process::Child,
    port: u16,
    etc: PathBuf,
    _dir: TempDir,
    _auth: AltConfigAuth,
}

/// Postfix's sendmail, run by an unprivileged user with `-C DIR`, accepts
/// DIR only when the default main.cf lists it in
/// `alternate_config_directories`. The entry is added for the test and the
/// file put back as it was on drop.
struct AltConfigAuth {
    main_cf: PathBuf,
    before: Option<Vec<u8>>,
}

impl AltConfigAuth {
    fn allow(dir: &Path) -> AltConfigAuth {
        let main_cf = PathBuf::from("/etc/postfix/main.cf");
        let before = std::fs::read(&main_cf).ok();
        let mut text = before.clone().unwrap_or_default();
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        text.extend_from_slice(
            format!("alternate_config_directories = {}\n", dir.display()).as_bytes(),
        );
        std::fs::write(&main_cf, text).expect("authorize the test's config directory");
        AltConfigAuth { main_cf, before }
    }
}

impl Drop for AltConfigAuth {
    fn drop(&mut self) {
        match &self.before {
            Some(b) => {
                let _ = std::fs::write(&self.main_cf, b);
            }
            None => {
                let _ = std::fs::remove_file(&self.main_cf);
            }
        }
    }
}

impl Postfix {
    fn start(spamd_port: u16, filter_user: &str) -> Postfix {
        let postfix = require("/usr/sbin/postfix", "postfix");
        let dir = TempDir::new("postfix");
        let base = dir.path().to_path_buf();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let etc = base.join("etc");
        for d in ["etc", "queue", "data"] {
            std::fs::create_dir_all(base.join(d)).expect("mkdir");
        }
        let _ = Command::new("chown")
            .arg("postfix")
            .arg(base.join("data"))
            .status();
        for (from, to) in [
            ("/etc/postfix/postfix-files", "postfix-files"),
            ("/usr/share/postfix/dynamicmaps.cf", "dynamicmaps.cf"),
        ] {
            let _ = std::fs::copy(from, etc.join(to));
        }
        for d in ["postfix-files.d", "dynamicmaps.cf.d"] {
            std::fs::create_dir_all(etc.join(d)).expect("mkdir");
        }
        let port = free_port();
        let b = base.display();
        std::fs::write(
            etc.join("main.cf"),
            format!(
                "compatibility_level = 3.6\n\
                 queue_directory = {b}/queue\n\
                 data_directory = {b}/data\n\
                 myhostname = localhost\n\
                 mydomain = localdomain\n\
                 mydestination = localhost\n\
                 inet_interfaces = 127.0.0.1\n\
                 inet_protocols = ipv4\n\
                 mynetworks = 127.0.0.0/8\n\
                 alias_maps =\n\
                 alias_database =\n\
                 maillog_file = /dev/stdout\n\
                 home_mailbox = Maildir/\n\
                 mailbox_command = /usr/bin/procmail\n\
                 smtputf8_enable = no\n\
                 biff = no\n\
                 relayhost =\n\
                 default_transport = error:no outside mail here\n"
            ),
        )
        .expect("main.cf");
        let dist = std::fs::read_to_string("/usr/share/postfix/master.cf.dist")
            .or_else(|_| std::fs::read_to_string("/etc/postfix/master.cf"))
            .expect("Postfix's master.cf");
        let mut master =
            format!("127.0.0.1:{port} inet n - n - - smtpd -o content_filter=spamfilter:dummy\n");
        for line in dist.lines() {
            // Our smtpd above replaces the stock one on port 25.
            if line.starts_with("smtp ") && line.contains(" inet ") {
                continue;
            }
            master.push_str(line);
            master.push('\n');
        }
        master.push_str(&format!(
            "spamfilter unix - n n - - pipe flags=Rq user={filter_user} \
             argv={} -p {spamd_port} -e /usr/sbin/sendmail -C {} -oi -f ${{sender}} ${{recipient}}\n",
            spamc(),
            etc.display()
        ));
        std::fs::write(etc.join("master.cf"), master).expect("master.cf");
        let auth = AltConfigAuth::allow(&etc);
        let child = Command::new(postfix)
            .arg("-c")
            .arg(&etc)
            .arg("start-fg")
            .stdin(Stdio::null())
            // start-fg with maillog_file /dev/stdout: the log goes here.
            .stdout(std::fs::File::create(base.join("postfix.log")).expect("log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start postfix");
        let pf = Postfix {
            child,
            port,
            etc,
            _dir: dir,
            _auth: auth,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "postfix did not listen: {}",
                pf.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        pf
    }

    fn log(&self) -> String {
        let log = self.etc.parent().map(|b| b.join("postfix.log"));
        log.and_then(|l| std::fs::read_to_string(l).ok())
            .unwrap_or_default()
    }

    /// Send `msg` over SMTP to `rcpt`.
    fn send(&self, rcpt: &str, msg: &[u8]) {
        use std::io::{BufRead, BufReader, Write};
        let s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect smtpd");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut w = s.try_clone().expect("clone");
        let mut r = BufReader::new(s);
        let mut reply = |want: &str| {
            loop {
                let mut line = String::new();
                r.read_line(&mut line).expect("smtp reply");
                assert!(line.starts_with(want), "smtpd said {line:?}, wanted {want}");
                if line.as_bytes().get(3) != Some(&b'-') {
                    break;
                }
            }
        };
        reply("220");
        for (cmd, want) in [
            ("EHLO test.example\r\n".to_string(), "250"),
            ("MAIL FROM:<sender@example.com>\r\n".to_string(), "250"),
            (format!("RCPT TO:<{rcpt}>\r\n"), "250"),
            ("DATA\r\n".to_string(), "354"),
        ] {
            w.write_all(cmd.as_bytes()).expect("smtp write");
            reply(want);
        }
        let mut data = Vec::new();
        for line in msg.split(|&b| b == b'\n') {
            if line.first() == Some(&b'.') {
                data.push(b'.');
            }
            data.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
            data.extend_from_slice(b"\r\n");
        }
        if msg.ends_with(b"\n") {
            data.truncate(data.len() - 2);
        }
        data.extend_from_slice(b".\r\n");
        w.write_all(&data).expect("smtp data");
        reply("250");
        w.write_all(b"QUIT\r\n").expect("quit");
        reply("221");
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        // The master's pid (start-fg runs it under a shell script that
        // does not pass SIGTERM on): stop it first, by its pid file; it
        // stops its services.
        let pidfile = self.etc.with_file_name("queue").join("pid/master.pid");
        if let Some(pid) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .filter(|&p| p > 1)
        {
            // SAFETY: kill(2) on the master this test started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        // SAFETY: kill(2) on the PID of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait until `n` messages are in the two folders together (bounded).
fn wait_for(inbox: &Path, spam: &Path, n: usize, pf: &Postfix) {
    let start = Instant::now();
    while maildir_files(inbox).len() + maildir_files(spam).len() < n {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "postfix did not deliver {n} messages; log:\n{}",
            pf.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn postfix_content_filter_through_spamc() {
    require("/usr/sbin/postfix", "postfix");
    if !is_root() {
        eprintln!("skipped: a private Postfix instance needs root");
        return;
    }
    let home = Home::new("postfix");
    home.maildir("Maildir");
    home.maildir("Maildir/.Spam");
    home.write(
        ".procmailrc",
        "MAILDIR=$HOME/Maildir\nLOGFILE=$HOME/procmail.log\nSHELL=/bin/sh\n\
         :0\n* ^X-Spam-Flag: YES\n.Spam/\n\n\
         :0\n./\n",
        0o644,
    );
    let inbox = home.path.join("Maildir");
    let spam = home.path.join("Maildir/.Spam");
    let rcpt = format!("{}@localhost", home.user.0);
    let (g, h) = messages();
    let mut d = Daemon::ours(&[]);
    let pf = Postfix::start(d.port, &home.user.0);
    pf.send(&rcpt, &g);
    pf.send(&rcpt, &h);
    wait_for(&inbox, &spam, 2, &pf);
    assert_sorted(&inbox, &spam, "postfix content_filter");
    clear(&inbox);
    clear(&spam);
    d.stop();
    pf.send(&rcpt, &g);
    pf.send(&rcpt, &h);
    wait_for(&inbox, &spam, 2, &pf);
    // Postfix adds its trace fields (Return-Path, Received, Delivered-To);
    // the rest is the message as sent, unscanned.
    let (i, s) = (maildir_files(&inbox), maildir_files(&spam));
    assert_eq!(s.len(), 0, "nothing in the spam folder with spamd down");
    assert_eq!(i.len(), 2, "every message delivered");
    for o in [&g, &h] {
        let (_, body) = split_message(o);
        assert!(
            i.iter().any(|f| f.ends_with(body) && !has(f, "X-Spam-")),
            "postfix: a message was changed or lost"
        );
    }
    eprintln!("postfix content_filter: spamd down: 2 in inbox, unscanned");
}
