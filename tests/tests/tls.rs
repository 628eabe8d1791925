//! TLS between spamc and spamd, against SpamAssassin 4.0.1's own programs:
//! Debian's `spamc -S` to our spamd `--ssl`, our `spamc -S` to
//! SpamAssassin's spamd `--ssl`, and client certificates required and
//! checked (`--ssl-ca-file`): none, or one from another CA, is refused.
//! Certificates are minted per run with rcgen.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// PEM files of one test PKI: a CA, a server certificate for 127.0.0.1,
/// a client certificate from the CA, and a CA and client nobody trusts.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = TempDir::new("tls-pki");
        let write = |name: &str, text: String| {
            std::fs::write(dir.path().join(name), text).expect("write pem");
        };
        let ca = |cn: &str| {
            let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
            p.distinguished_name.push(DnType::CommonName, cn);
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            CertifiedIssuer::self_signed(p, KeyPair::generate().expect("key")).expect("ca")
        };
        let trusted = ca("spamd test CA");
        let other = ca("untrusted test CA");
        write("ca.pem", trusted.pem());
        write("other-ca.pem", other.pem());

        let mut sp = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        sp.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
        sp.distinguished_name.push(DnType::CommonName, "localhost");
        sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let skey = KeyPair::generate().expect("key");
        write(
            "server.pem",
            sp.signed_by(&skey, &trusted).expect("server cert").pem(),
        );
        write("server.key", skey.serialize_pem());

        for (name, issuer) in [("client", &trusted), ("rogue", &other)] {
            let mut cp = CertificateParams::new(Vec::<String>::new()).expect("params");
            cp.distinguished_name.push(DnType::CommonName, name);
            cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let key = KeyPair::generate().expect("key");
            write(
                &format!("{name}.pem"),
                cp.signed_by(&key, issuer).expect("client cert").pem(),
            );
            write(&format!("{name}.key"), key.serialize_pem());
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// A daemon started by this test; killed by PID on drop.
struct Server {
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Start `bin` with `args` plus a log file, and wait for its
/// `server started` line (a plain PING cannot reach a TLS-only daemon).
fn start(bin: &Path, args: &[String], limit: Duration) -> Server {
    let dir = TempDir::new("tls-daemon");
    let log = dir.path().join("spamd.log");
    let child = Command::new(bin)
        .args(args)
        .arg(format!("--syslog={}", log.display()))
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start spamd");
    let mut s = Server {
        child,
        log,
        _dir: dir,
    };
    let t = Instant::now();
    while t.elapsed() < limit {
        if s.log_text().contains("server started on") {
            // SpamAssassin's children are spawned just after the line.
            std::thread::sleep(Duration::from_millis(500));
            return s;
        }
        if let Ok(Some(st)) = s.child.try_wait() {
            panic!("spamd exited ({st}) before starting:\n{}", s.log_text());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("spamd did not start within {limit:?}:\n{}", s.log_text());
}

fn ours(pki: &Pki, port: u16, extra: &[&str]) -> Server {
    let site = TempDir::new("tls-site");
    let mut args: Vec<String> = [
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-C",
        &root().join("rules").display().to_string(),
        "--siteconfigpath",
        &site.path().display().to_string(),
        "--ssl",
        "--server-cert",
        &pki.path("server.pem"),
        "--server-key",
        &pki.path("server.key"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    start(&our_bin("spamd"), &args, Duration::from_secs(30))
}

/// `spamc -c` with `args`; (exit code, first line of output).
fn check(spamc: &Path, port: u16, args: &[&str]) -> (i32, String) {
    let mut all = vec!["-d", "127.0.0.1"];
    let p = port.to_string();
    all.extend(["-p", &p, "-c"]);
    all.extend(args);
    let r = run(spamc, &all, &gtube(), T);
    let out = String::from_utf8_lossy(&r.stdout).trim().to_string();
    (r.code, out)
}

fn is_spam_answer(r: &(i32, String)) -> bool {
    r.0 == 1 && r.1.ends_with("/5.0") && !r.1.starts_with("0/")
}

#[test]
fn debian_spamc_talks_tls_to_our_spamd() {
    let pki = Pki::new();
    let port = free_port();
    let d = ours(&pki, port, &[]);
    let sa = sa_spamc();
    // Without a CA, SpamAssassin's spamc checks nothing and gets its answer.
    let r = check(&sa, port, &["-S", "-x"]);
    assert!(is_spam_answer(&r), "Debian spamc -S: {r:?}");
    // With the right CA, the chain is checked and passes.
    let r = check(
        &sa,
        port,
        &["-S", "-x", "--ssl-ca-file", &pki.path("ca.pem")],
    );
    assert!(is_spam_answer(&r), "Debian spamc -S --ssl-ca-file: {r:?}");
    // With another CA it must fail, and -x turns that into an error exit.
    let r = check(
        &sa,
        port,
        &["-S", "-x", "--ssl-ca-file", &pki.path("other-ca.pem")],
    );
    assert!(
        !is_spam_answer(&r) && r.0 > 1,
        "untrusted server accepted: {r:?}"
    );
    // Plain text to a TLS port gets no answer.
    let r = check(&sa, port, &["-x"]);
    assert!(
        !is_spam_answer(&r) && r.0 > 1,
        "plain spamc answered: {r:?}"
    );
    // Ours agrees with Debian's spamc on every case.
    let our = our_bin("spamc");
    assert!(is_spam_answer(&check(&our, port, &["-S", "-x"])));
    assert!(is_spam_answer(&check(
        &our,
        port,
        &["-S", "-x", "--ssl-ca-file", &pki.path("ca.pem")]
    )));
    let mine = check(
        &our,
        port,
        &["-S", "-x", "--ssl-ca-file", &pki.path("other-ca.pem")],
    );
    let theirs = check(
        &sa,
        port,
        &["-S", "-x", "--ssl-ca-file", &pki.path("other-ca.pem")],
    );
    assert_eq!(mine, theirs, "ours and Debian's spamc with an untrusted CA");
    let log = d.log_text();
    assert!(
        log.contains(", TLSv1_3/TLS_") || log.contains(", TLSv1_2/"),
        "connection line names the TLS version and cipher:\n{log}"
    );
    assert!(log.contains("server started on SSL [127.0.0.1]:"), "{log}");
}

#[test]
fn our_spamc_talks_tls_to_spamassassins_spamd() {
    let pki = Pki::new();
    let port = free_port();
    let bin = require("/usr/sbin/spamd", "spamd");
    let args: Vec<String> = [
        "-L",
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-A",
        "127.0.0.1",
        "-m",
        "2",
        "--ssl",
        "--server-cert",
        &pki.path("server.pem"),
        "--server-key",
        &pki.path("server.key"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let d = start(&bin, &args, Duration::from_secs(90));
    let our = our_bin("spamc");
    let r = check(&our, port, &["-S", "-x"]);
    assert!(is_spam_answer(&r), "our spamc -S: {r:?}\n{}", d.log_text());
    let r = check(
        &our,
        port,
        &["-S", "-x", "--ssl-ca-file", &pki.path("ca.pem")],
    );
    assert!(is_spam_answer(&r), "our spamc -S --ssl-ca-file: {r:?}");
    let mine = check(
        &our,
        port,
        &["-S", "-x", "--ssl-ca-file", &pki.path("other-ca.pem")],
    );
    assert!(
        !is_spam_answer(&mine) && mine.0 > 1,
        "untrusted server accepted: {mine:?}"
    );
    let theirs = check(
        &sa_spamc(),
        port,
        &["-S", "-x", "--ssl-ca-file", &pki.path("other-ca.pem")],
    );
    assert_eq!(mine, theirs, "ours and Debian's spamc with an untrusted CA");
    assert!(d.log_text().contains("TLSv1_"), "{}", d.log_text());
}

#[test]
fn client_certificate_is_required_and_checked() {
    let pki = Pki::new();
    let port = free_port();
    let d = ours(&pki, port, &["--ssl-ca-file", &pki.path("ca.pem")]);
    let our = our_bin("spamc");
    let with = |name: &str| {
        vec![
            "-S".to_string(),
            "-x".to_string(),
            "--ssl-cert".to_string(),
            pki.path(&format!("{name}.pem")),
            "--ssl-key".to_string(),
            pki.path(&format!("{name}.key")),
        ]
    };
    let args = with("client");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = check(&our, port, &args);
    assert!(is_spam_answer(&r), "trusted client certificate: {r:?}");
    let r = check(&sa_spamc(), port, &args);
    assert!(
        is_spam_answer(&r),
        "Debian spamc with a trusted client certificate: {r:?}"
    );
    let before = d.log_text().matches("checking message").count();
    // No certificate: refused during the handshake, never scanned.
    for (label, args) in [
        ("no certificate", vec!["-S".to_string(), "-x".to_string()]),
        ("untrusted certificate", with("rogue")),
    ] {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let mine = check(&our, port, &a);
        assert!(
            !is_spam_answer(&mine) && mine.0 > 1,
            "{label} accepted: {mine:?}"
        );
        let theirs = check(&sa_spamc(), port, &a);
        assert!(
            !is_spam_answer(&theirs) && theirs.0 > 1,
            "{label} accepted (Debian spamc): {theirs:?}"
        );
    }
    let log = d.log_text();
    assert_eq!(
        log.matches("checking message").count(),
        before,
        "a refused client got a scan:\n{log}"
    );
    assert!(log.contains("TLS accept failed"), "{log}");
}

#[test]
fn ca_directories_work_on_both_sides() {
    let pki = Pki::new();
    let cas = TempDir::new("tls-capath");
    std::fs::copy(pki.path("ca.pem"), cas.path().join("ca.pem")).expect("copy ca");
    // Other things a CA directory holds are skipped.
    std::fs::write(cas.path().join("README"), "not a certificate\n").expect("write");
    let capath = cas.path().display().to_string();
    let port = free_port();
    let d = ours(&pki, port, &["--ssl-ca-path", &capath]);
    let our = our_bin("spamc");
    let args = |name: &str| {
        vec![
            "-S".to_string(),
            "-x".to_string(),
            "--ssl-ca-path".to_string(),
            capath.clone(),
            "--ssl-cert".to_string(),
            pki.path(&format!("{name}.pem")),
            "--ssl-key".to_string(),
            pki.path(&format!("{name}.key")),
        ]
    };
    let good = args("client");
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    let r = check(&our, port, &good);
    assert!(is_spam_answer(&r), "trusted client, CA directory: {r:?}");
    let rogue = args("rogue");
    let rogue: Vec<&str> = rogue.iter().map(String::as_str).collect();
    let r = check(&our, port, &rogue);
    assert!(
        !is_spam_answer(&r) && r.0 > 1,
        "untrusted client accepted: {r:?}"
    );
    assert!(d.log_text().contains("TLS accept failed"));
}
