//! Issue 9, must-show 5: the same messages through SpamAssassin 4.0.1's
//! spamd and ours, both logging to syslog (`-s mail`), give the same counts
//! in Debian's logwatch (its spamassassin service) and in mailgraph's log
//! parser; and the per-message lines have SpamAssassin's shape.
//!
//! Both daemons run in a private mount namespace whose /dev/log is a link
//! to a datagram socket this test reads, so what is checked is what each
//! daemon sends to syslog (program, pid, facility `mail`); the test writes
//! the datagrams as rsyslog would (`Mon DD HH:MM:SS host spamd[pid]: ...`).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::*;

/// A stand-in for syslogd: collects datagrams sent to `path`.
struct Syslog {
    lines: Arc<Mutex<Vec<(u8, String)>>>,
    path: PathBuf,
}

impl Syslog {
    fn new(dir: &Path) -> Syslog {
        let path = dir.join("log.sock");
        let sock = UnixDatagram::bind(&path).expect("bind syslog socket");
        // Both daemons run as user nobody (-u), as packaged setups do.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))
            .expect("chmod syslog socket");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = lines.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = sock.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                // <PRI>Mon DD HH:MM:SS tag[pid]: message
                if let Some(rest) = text.strip_prefix('<')
                    && let Some((pri, line)) = rest.split_once('>')
                    && let Ok(pri) = pri.parse::<u16>()
                {
                    let line = line.trim_end_matches(['\n', '\0']).to_string();
                    out.lock().expect("lock").push(((pri >> 3) as u8, line));
                }
            }
        });
        Syslog { lines, path }
    }

    /// Wait (bounded) until `n` verdict lines have arrived.
    fn wait_for_verdicts(&self, n: usize) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            let seen = self
                .lines
                .lock()
                .expect("lock")
                .iter()
                .filter(|(_, l)| {
                    l.contains("spamd: clean message") || l.contains("spamd: identified spam")
                })
                .count();
            if seen >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The lines so far as a syslog file (with a host name added, as
    /// rsyslog writes them), and the facilities seen.
    fn file_text(&self) -> (String, Vec<u8>) {
        let lines = self.lines.lock().expect("lock");
        let mut text = String::new();
        let mut facilities = Vec::new();
        for (fac, line) in lines.iter() {
            facilities.push(*fac);
            // "Dec  1 14:26:48 spamd[1]: x" -> "Dec  1 14:26:48 testhost spamd[1]: x"
            if line.len() > 16 {
                text.push_str(&line[..16]);
                text.push_str("testhost ");
                text.push_str(&line[16..]);
                text.push('\n');
            }
        }
        (text, facilities)
    }
}

/// A daemon in a mount namespace where /dev/log is our socket.
struct Daemon2 {
    child: Child,
    port: u16,
}

impl Drop for Daemon2 {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replace /dev by a tmpfs holding the usual devices (bound from the real
/// /dev) and `log` -> our socket; then exec the daemon (same pid).
const NAMESPACE_SETUP: &str = r#"T="$1"; S="$2"; shift 2
mkdir -p "$T/realdev" && mount --bind /dev "$T/realdev" && mount -t tmpfs -o mode=755 tmpfs /dev || exit 97
for f in null zero full random urandom tty; do
  if [ -e "$T/realdev/$f" ]; then touch "/dev/$f" && mount --bind "$T/realdev/$f" "/dev/$f"; fi
done
ln -s /proc/self/fd /dev/fd; ln -s "$S" /dev/log
exec "$@""#;

fn start_in_namespace(dir: &Path, syslog: &Syslog, bin: &Path, args: &[String]) -> Daemon2 {
    let port = free_port();
    let ns = dir.join(format!("ns-{port}"));
    std::fs::create_dir_all(&ns).expect("ns dir");
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "/bin/sh", "-c"])
        .arg(NAMESPACE_SETUP)
        .arg("sh")
        .arg(&ns)
        .arg(&syslog.path)
        .arg(bin)
        .args(args)
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-s", "mail"])
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("unshare");
    let mut d = Daemon2 { child, port };
    let t = Instant::now();
    while !ping(port) {
        if let Ok(Some(st)) = d.child.try_wait() {
            panic!(
                "{} exited ({st}) in the namespace (needs root and unshare)",
                bin.display()
            );
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "{} did not answer",
            bin.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SpamAssassin's children: give them a moment to log their start.
    std::thread::sleep(Duration::from_millis(500));
    d
}

/// The mail both daemons see: spam (GTUBE, with and without a
/// Message-ID) and ham, for two users, as CHECK and as PROCESS.
fn traffic(port: u16) {
    let spamc = sa_spamc();
    let ham_dir = corpus::public_or_panic().join("easy_ham");
    let mut hams: Vec<PathBuf> = std::fs::read_dir(&ham_dir)
        .expect("easy_ham")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    hams.sort();
    let p = port.to_string();
    for (i, ham_path) in hams.iter().take(4).enumerate() {
        let user = if i % 2 == 0 { "root" } else { "nobody" };
        let check = i < 2;
        let mut args = vec!["-d", "127.0.0.1", "-p", &p, "-u", user, "-x"];
        if check {
            args.push("-c");
        }
        let spam = String::from_utf8_lossy(&gtube())
            .replace("<gtube-1@example.com>", &format!("<gtube-{i}@example.com>"))
            .into_bytes();
        let r = run(&spamc, &args, &spam, T);
        assert_eq!(r.code, if check { 1 } else { 0 }, "spam scan: {}", r.stderr);
        let ham = std::fs::read(ham_path).expect("ham");
        let r = run(&spamc, &args, &ham, T);
        assert_eq!(r.code, 0, "ham scan: {}", r.stderr);
    }
    // GTUBE with no Message-ID: logged as mid=(unknown).
    let text = String::from_utf8_lossy(&gtube())
        .replace("Message-ID: <gtube-1@example.com>\n", "")
        .into_bytes();
    let r = run(&spamc, &["-d", "127.0.0.1", "-p", &p, "-c"], &text, T);
    assert_eq!(r.code, 1, "{}", r.stderr);
}

/// Lines of one daemon's syslog, filtered by pid set.
fn only(text: &str, pids: &[u32]) -> String {
    text.lines()
        .filter(|l| {
            l.split_once("spamd[")
                .and_then(|(_, r)| r.split_once(']'))
                .and_then(|(p, _)| p.parse::<u32>().ok())
                .is_some_and(|p| pids.contains(&p))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Run logwatch's spamassassin service on a syslog file, as logwatch does.
fn logwatch(dir: &Path, text: &str) -> String {
    require("/usr/sbin/logwatch", "logwatch");
    let logdir = dir.join(format!("lw-{}", text.len()));
    std::fs::create_dir_all(&logdir).expect("logdir");
    std::fs::write(logdir.join("mail.log"), text).expect("write log");
    let out = Command::new("/usr/sbin/logwatch")
        .args([
            "--service",
            "spamassassin",
            "--range",
            "All",
            "--detail",
            "High",
        ])
        .args(["--output", "stdout", "--hostformat", "none"])
        .arg("--logdir")
        .arg(&logdir)
        .output()
        .expect("logwatch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The body of logwatch's report: from "Mail Recipients" to its end line.
fn report(lw: &str) -> String {
    let start = lw.find("Mail Recipients").unwrap_or(0);
    let end = lw[start..]
        .find("---------------------- SpamAssassin End")
        .map(|e| start + e)
        .unwrap_or(lw.len());
    lw[start..end].trim().to_string()
}

/// mailgraph's spam count for a syslog file (summed over its per-minute
/// updates; an event a few minutes later flushes the last minute).
fn mailgraph(dir: &Path, text: &str) -> u64 {
    require("/usr/sbin/mailgraph", "mailgraph");
    let rrd = dir.join(format!("rrd-{}", text.len()));
    std::fs::create_dir_all(&rrd).expect("rrd dir");
    let last = text.lines().last().expect("a line");
    let stamp = &last[..15];
    let ts = Command::new("date")
        .args(["-d", &format!("{stamp} 5 minutes"), "+%b %e %H:%M:%S"])
        .output()
        .expect("date");
    let later = String::from_utf8_lossy(&ts.stdout).trim().to_string();
    let file = rrd.join("mail.log");
    std::fs::write(
        &file,
        // mailgraph prints a minute's sums when an event of a later minute
        // arrives; this one's own count is never printed.
        format!(
            "{text}{later} testhost spamd[1]: spamd: identified spam (9.0/5.0) for flush:0 in 0.1 seconds, 1 bytes.\n"
        ),
    )
    .expect("write");
    let out = Command::new("/usr/sbin/mailgraph")
        .args(["-c", "-v", "-l"])
        .arg(&file)
        .arg(format!("--daemon-rrd={}", rrd.display()))
        .current_dir(&rrd)
        .output()
        .expect("mailgraph");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // update TIME:sent:received:bounced:rejected:virus:spam:greylisted:delayed
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("update ") && !l.ends_with("(SKIP)"))
        .filter_map(|l| l.split(':').nth(6).and_then(|n| n.parse::<u64>().ok()))
        .sum()
}

/// A per-message line with everything that varies per run made generic.
fn shape(line: &str) -> Option<String> {
    let msg = line.split_once("]: ")?.1;
    let keep = [
        "spamd: connection from",
        "spamd: checking message",
        "spamd: processing message",
        "spamd: clean message",
        "spamd: identified spam",
        "spamd: result:",
    ];
    if !keep.iter().any(|k| msg.starts_with(k)) {
        return None;
    }
    let mut s = String::new();
    let mut last_digit = false;
    for c in msg.chars() {
        if c.is_ascii_digit() {
            if !last_digit {
                s.push('N');
            }
            last_digit = true;
        } else {
            s.push(c);
            last_digit = false;
        }
    }
    // Values that depend on the rule set (sign of a score, the padding of
    // it, the auto-learn outcome, the rule names) are made generic; the
    // field layout is what must match.
    let mut s = s
        .replace("-N", "N")
        .replace("Y N", "Y  N")
        .replace(".  N", ". N")
        .replace("Y  N", "Y N");
    if let Some(i) = s.find("autolearn=")
        && let Some(j) = s[i..].find(' ')
    {
        s.replace_range(i + 10..i + j, "X");
    }
    if let Some(i) = s.find(" - ")
        && let Some(j) = s[i + 3..].find(' ')
    {
        s.replace_range(i + 3..i + 3 + j, "TESTS");
    }
    Some(s)
}

#[test]
fn logwatch_and_mailgraph_count_our_lines_as_spamassassins() {
    let dir = TempDir::new("logs");
    let syslog = Syslog::new(dir.path());
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).expect("site");

    let sa = start_in_namespace(
        dir.path(),
        &syslog,
        &require("/usr/sbin/spamd", "spamd"),
        &["-L", "-A", "127.0.0.1", "-m", "2", "-u", "nobody"].map(String::from),
    );
    traffic(sa.port);
    // A daemon logs its verdict after answering: wait for the lines.
    syslog.wait_for_verdicts(9);
    let sa_pid = sa.child.id();
    drop(sa);
    let ours = start_in_namespace(
        dir.path(),
        &syslog,
        &our_bin("spamd"),
        &[
            "-C".to_string(),
            root().join("rules").display().to_string(),
            format!("--siteconfigpath={}", site.display()),
            "-u".to_string(),
            "nobody".to_string(),
        ],
    );
    traffic(ours.port);
    syslog.wait_for_verdicts(18);
    let our_pid = ours.child.id();
    drop(ours);
    std::thread::sleep(Duration::from_millis(300));

    let (all, facilities) = syslog.file_text();
    assert!(!all.is_empty(), "nothing reached the syslog socket");
    assert!(
        facilities.iter().all(|&f| f == 2),
        "facility mail (2) for every line: {facilities:?}"
    );
    // SpamAssassin's children have pids of their own; ours has one.
    let sa_pids: Vec<u32> = all
        .lines()
        .filter_map(|l| l.split_once("spamd[")?.1.split_once(']')?.0.parse().ok())
        .filter(|&p| p != our_pid)
        .collect();
    let sa_text = only(&all, &sa_pids);
    let our_text = only(&all, &[our_pid]);
    assert!(sa_text.contains("spamd: identified spam"), "{sa_text}");
    assert!(our_text.contains("spamd: identified spam"), "{our_text}");
    let _ = sa_pid;

    let lw_sa = report(&logwatch(dir.path(), &sa_text));
    let lw_ours = report(&logwatch(dir.path(), &our_text));
    eprintln!("logwatch on SpamAssassin's log:\n{lw_sa}\n\nlogwatch on ours:\n{lw_ours}");
    assert!(lw_sa.contains("Total Spam:"), "{lw_sa}");
    assert_eq!(lw_ours, lw_sa, "logwatch reports differ");

    let mg_sa = mailgraph(dir.path(), &sa_text);
    let mg_ours = mailgraph(dir.path(), &our_text);
    eprintln!("mailgraph spam count: SpamAssassin {mg_sa}, ours {mg_ours}");
    assert_eq!(mg_sa, 5, "mailgraph counted SpamAssassin's spam");
    assert_eq!(mg_ours, mg_sa, "mailgraph counts differ");

    // Every per-message line of ours has a line of the same shape in
    // SpamAssassin's log, and the other way round.
    let shapes = |t: &str| {
        let mut v: Vec<String> = t.lines().filter_map(shape).collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(
        shapes(&our_text),
        shapes(&sa_text),
        "per-message line shapes"
    );
}
