//! spamd's command line is read exactly as SpamAssassin's Getopt::Long
//! reads it: the same lines are accepted and refused (exit 64), and the
//! command lines distributions ship start our daemon.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::*;

/// Each line is tried with `-V` appended: a line Getopt accepts prints the
/// version (exit 0); a refused one prints the usage (exit 64); removed
/// options exit 2. None may leave `-V` as another option's value or after
/// `--`, or it would start a daemon.
const LINES: &[&str] = &[
    "",
    "--bogus",
    "-m5",
    "-cx",
    "-cxLl",
    "-m abc",
    "-m 3x",
    "-m +3",
    "-m -3",
    "-mV",
    "-m",
    "--max-children",
    "--max-ch 3",
    "--max-children=3",
    "--Max-Children=3",
    "--max 3",
    "--time 3",
    "--tim",
    "--timing",
    "--ssl",
    "--ssl-v",
    "--create-prefs --no-create-prefs",
    "--nocreate-prefs",
    "--no-create",
    "--no-c",
    "--nocr",
    "--no-l",
    "--no-local",
    "--nolocal",
    "--noallow-tell",
    "--local=1",
    "-L1",
    "--l",
    "--L",
    "--m 3",
    "-s stderr -s null",
    "--syslog=stderr --syslog=null",
    "-D -D",
    "-D bayes,dns -D",
    "-H",
    "-H /var/spool/spamd",
    "-H-x",
    "-i",
    "-i 127.0.0.1 -i ::1",
    "-i127.0.0.1",
    "--listen",
    "-A 10.0.0.1 -A 10.0.0.2,10.0.0.3",
    "--pidfile /tmp/x.pid",
    "--pidfile=/tmp/x.pid -r /tmp/y.pid",
    "-4 -6",
    "--ipv4",
    "--ipv4-only",
    "-x --user-config",
    "--virtual-config-dir=/var/vpopmail/%d/%l",
    "-q -Q --ldap-config --setuid-with-ldap",
    "foo",
    "- -L",
    "-F",
    "-F 1",
    "--add-from",
    "--no-add-from",
    "-S",
    "--stop-at",
    "-h",
    "--help",
    "--VERSION",
    "--version",
];

fn exit_code(bin: &std::path::Path, line: &str) -> i32 {
    let mut args: Vec<&str> = line.split_whitespace().collect();
    args.push("-V");
    let r = run(bin, &args, b"", Duration::from_secs(60));
    r.code
}

#[test]
fn option_table_matches_spamassassin() {
    let theirs = require("/usr/sbin/spamd", "spamd");
    let ours = our_bin("spamd");
    // Perl's start-up dominates: four threads share the lines.
    let (ours, theirs) = (&ours, &theirs);
    let results: Vec<(&str, i32, i32)> = std::thread::scope(|s| {
        let workers: Vec<_> = LINES
            .chunks(LINES.len().div_ceil(4))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|l| (*l, exit_code(ours, l), exit_code(theirs, l)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let mut codes = std::collections::BTreeMap::new();
    let mut diffs = Vec::new();
    for (line, a, b) in results {
        *codes.entry(b).or_insert(0) += 1;
        if a != b {
            diffs.push(format!("`{line} -V`: ours {a}, SpamAssassin {b}"));
        }
    }
    assert_eq!(codes.values().sum::<i32>() as usize, LINES.len());
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    // The table exercises acceptance, refusal and removed options.
    assert!(codes.get(&0).copied().unwrap_or(0) > 20, "{codes:?}");
    assert!(codes.get(&64).copied().unwrap_or(0) > 10, "{codes:?}");
    assert!(codes.contains_key(&2), "{codes:?}");
}

#[test]
fn refusal_says_why_and_shows_the_usage() {
    let r = run(&our_bin("spamd"), &["--max", "3"], b"", T);
    assert_eq!(r.code, 64);
    let err = &r.stderr;
    assert!(
        err.contains("Option max is ambiguous (max-children"),
        "{err}"
    );
    assert!(err.contains("--max-children"), "usage: {err}");
}

/// Start our spamd with a distribution's line (plus `extra`, which only
/// picks the port, the log file and the project's rules), check it
/// answers PING and a scan, then stop it by the PID it reports.
fn start_and_scan(line: &[&str], extra: &[String], pidfile: &std::path::Path) {
    let port: u16 = extra
        .iter()
        .skip_while(|a| *a != "-p")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("port in extra");
    let mut child = Command::new(our_bin("spamd"))
        .args(line)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start spamd");
    let start = Instant::now();
    while !ping(port) && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid: i32 = std::fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let answered = ping(port);
    let scan = run(
        &our_bin("spamc"),
        &["-p", &port.to_string(), "-c"],
        &gtube(),
        T,
    );
    if pid > 0 {
        // SAFETY: kill(2) on the daemon we started (its pidfile).
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let _ = child.kill();
    let _ = child.wait();
    let gone = Instant::now();
    while ping(port) && gone.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(answered, "{line:?}: no PING answer");
    assert!(pid > 0, "{line:?}: no pid in {}", pidfile.display());
    assert_eq!(scan.code, 1, "{line:?}: GTUBE is spam");
    assert!(
        String::from_utf8_lossy(&scan.stdout).starts_with("1000"),
        "{line:?}: {:?}",
        String::from_utf8_lossy(&scan.stdout)
    );
}

fn extra(dir: &TempDir, port: u16) -> Vec<String> {
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).expect("site dir");
    vec![
        "-p".into(),
        port.to_string(),
        "-s".into(),
        dir.path().join("spamd.log").display().to_string(),
        "-C".into(),
        root().join("rules").display().to_string(),
        format!("--siteconfigpath={}", site.display()),
    ]
}

#[test]
fn debian_command_line() {
    let dir = TempDir::new("cli-debian");
    let pid = dir.path().join("spamd.pid");
    let pidopt = format!("--pidfile={}", pid.display());
    start_and_scan(
        &[
            &pidopt,
            "--create-prefs",
            "--max-children",
            "5",
            "--helper-home-dir",
        ],
        &extra(&dir, free_port()),
        &pid,
    );
}

#[test]
fn fedora_command_line() {
    let dir = TempDir::new("cli-fedora");
    let pid = dir.path().join("spamd.pid");
    let mut more = extra(&dir, free_port());
    more.push("-r".into());
    more.push(pid.display().to_string());
    start_and_scan(
        &[
            "-c",
            "-m5",
            "-H",
            "--razor-home-dir=/var/lib/razor/",
            "--razor-log-file=sys-syslog",
        ],
        &more,
        &pid,
    );
    let log = std::fs::read_to_string(dir.path().join("spamd.log")).unwrap_or_default();
    assert!(
        log.contains("option --razor-home-dir accepted and ignored"),
        "{log}"
    );
}

#[test]
fn freebsd_command_line() {
    // FreeBSD's rc script runs spamd as root with -u spamd and -d.
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    assert!(
        root_user,
        "run as root (tests/run.sh in CI is): FreeBSD's line switches to user spamd"
    );
    let known = Command::new("id")
        .arg("spamd")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        known,
        "user spamd is missing: tests/run.sh creates it (useradd --system spamd)"
    );
    let dir = TempDir::new("cli-freebsd");
    let pid = dir.path().join("spamd.pid");
    start_and_scan(
        &[
            "-c",
            "-u",
            "spamd",
            "-H",
            "/var/spool/spamd",
            "-d",
            "-r",
            &pid.display().to_string(),
        ],
        &extra(&dir, free_port()),
        &pid,
    );
}
