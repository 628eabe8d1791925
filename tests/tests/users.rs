//! Per-user preferences and rights, against SpamAssassin's spamd given the
//! same setup: real local users (created with useradd; the test needs
//! root and says so when it is skipped), their `~/.spamassassin/user_prefs`
//! with different thresholds and a user rule each, spamd started as root.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e::*;

const T: Duration = Duration::from_secs(120);

/// The tests load the full SpamAssassin rule set in two daemons each: one
/// at a time, so start-up stays well inside the helpers' limits.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A local user: (uid, gid, home). Created when missing; None (with the
/// reason printed) when that is not possible.
fn ensure_user(name: &str) -> Option<(u32, u32, PathBuf)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: creating local users needs root");
        return None;
    }
    let look = || {
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
    };
    if let Some(u) = look() {
        return Some(u);
    }
    let st = Command::new("useradd")
        .args(["-m", "-s", "/usr/sbin/nologin", name])
        .status();
    match st {
        Ok(s) if s.success() => {}
        other => {
            // Another test process may have created it meanwhile.
            if look().is_none() {
                eprintln!("skipped: useradd {name} failed: {other:?}");
                return None;
            }
        }
    }
    look()
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown");
}

/// A fresh private `~/.spamassassin` holding `prefs` (mode 600), owned by
/// the user.
fn set_prefs(user: &(u32, u32, PathBuf), prefs: Option<&str>) -> PathBuf {
    let dir = user.2.join(".spamassassin");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    chown(&user.2, user.0, user.1);
    chown(&dir, user.0, user.1);
    let f = dir.join("user_prefs");
    if let Some(text) = prefs {
        write_owned(&f, text, user);
    }
    f
}

fn write_owned(f: &Path, text: &str, user: &(u32, u32, PathBuf)) {
    std::fs::write(f, text).expect("write prefs");
    std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    chown(f, user.0, user.1);
}

/// The rules directory SpamAssassin's spamd uses here, so both daemons run
/// the same rules.
fn sa_rules_dir() -> String {
    for d in ["/var/lib/spamassassin/4.000001", "/usr/share/spamassassin"] {
        let has_cf = std::fs::read_dir(d)
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".cf"))
            })
            .unwrap_or(false);
        if has_cf {
            return d.to_string();
        }
    }
    panic!("no SpamAssassin rules directory (package spamassassin)");
}

fn message() -> Vec<u8> {
    b"From: Someone <someone@example.com>\n\
To: team@example.com\n\
Subject: Our meeting about the invoice\n\
Date: Tue, 1 Dec 2026 10:00:00 +0000\n\
Message-ID: <users-test-1@example.com>\n\
\n\
Hello, please find the invoice attached for our meeting.\n\
Regards\n"
        .to_vec()
}

/// `spamc -c` and `spamc -y` for `user`: (score/threshold line, exit code,
/// rule names).
fn verdict(port: u16, user: &str) -> (String, i32, String) {
    let spamc = sa_spamc();
    let p = port.to_string();
    let c = run(&spamc, &["-p", &p, "-u", user, "-c"], &message(), T);
    let y = run(&spamc, &["-p", &p, "-u", user, "-y"], &message(), T);
    (
        String::from_utf8_lossy(&c.stdout).trim().to_string(),
        c.code,
        String::from_utf8_lossy(&y.stdout).trim().to_string(),
    )
}

const ALICE: &str = "required_score 2\n\
header SA_ALICE_RULE Subject =~ /meeting/i\n\
describe SA_ALICE_RULE Alice does not want meetings\n\
score SA_ALICE_RULE 2.5\n";

const BOB: &str = "required_score 8\n\
body SA_BOB_RULE /invoice/i\n\
score SA_BOB_RULE 1.5\n";

#[test]
fn each_user_scans_with_own_prefs_and_rights_like_spamassassin() {
    let _one = serial();
    let (Some(alice), Some(bob), Some(carol)) = (
        ensure_user("sa_alice"),
        ensure_user("sa_bob"),
        ensure_user("sa_carol"),
    ) else {
        return;
    };
    let rules = sa_rules_dir();
    // Both daemons: the machine's rules and site files, no network tests,
    // user rules allowed, prefs created from the template, TELL on.
    let common = ["--cf=allow_user_rules 1", "-c", "-l"];
    // SpamAssassin's default Bayes place, said explicitly so the test
    // helper does not give ours a shared database.
    let mut ours_args = vec![
        "-L",
        "-C",
        &rules,
        "--siteconfigpath",
        "/etc/spamassassin",
        "--cf=bayes_path ~/.spamassassin/bayes",
    ];
    ours_args.extend(common);
    let mut results = Vec::new();
    for which in ["spamassassin", "ours"] {
        set_prefs(&alice, Some(ALICE));
        let bob_prefs = set_prefs(&bob, Some(BOB));
        let carol_prefs = set_prefs(&carol, None);
        let d = if which == "ours" {
            Daemon::ours(&ours_args)
        } else {
            Daemon::spamassassin_with(&common)
        };
        let a = verdict(d.port, "sa_alice");
        let b = verdict(d.port, "sa_bob");
        eprintln!("{which}: sa_alice {a:?}, sa_bob {b:?}");
        assert_eq!(a.1, 1, "{which}: alice's threshold makes it spam: {a:?}");
        assert_eq!(b.1, 0, "{which}: bob's threshold keeps it ham: {b:?}");
        assert!(a.2.contains("SA_ALICE_RULE") && !a.2.contains("SA_BOB_RULE"));
        assert!(b.2.contains("SA_BOB_RULE") && !b.2.contains("SA_ALICE_RULE"));

        // -c: carol's preferences are created from the template, as carol.
        let c = verdict(d.port, "sa_carol");
        let m = std::fs::metadata(&carol_prefs)
            .unwrap_or_else(|e| panic!("{which}: carol's user_prefs not created: {e}"));
        assert_eq!(m.uid(), carol.0, "{which}: user_prefs owned by carol");

        // An include of another user's (private) file fails: alice's scan
        // reads with alice's rights, so bob's threshold and rule stay out.
        let alice_prefs = alice.2.join(".spamassassin/user_prefs");
        write_owned(
            &alice_prefs,
            &format!("{ALICE}include {}\n", bob_prefs.display()),
            &alice,
        );
        let a_inc = verdict(d.port, "sa_alice");
        assert_eq!(
            a_inc.1, 1,
            "{which}: include of bob's file was read: {a_inc:?}"
        );
        assert!(!a_inc.2.contains("SA_BOB_RULE"), "{which}: {a_inc:?}");

        // A bad rule in bob's preferences affects bob only.
        write_owned(
            &bob_prefs,
            &format!("{BOB}body SA_BOB_BAD /(unclosed/\nscore SA_BOB_BAD 3\n"),
            &bob,
        );
        let b_bad = verdict(d.port, "sa_bob");
        assert!(b_bad.2.contains("SA_BOB_RULE"), "{which}: {b_bad:?}");
        assert!(!b_bad.2.contains("SA_BOB_BAD"), "{which}: {b_bad:?}");
        let a_after = verdict(d.port, "sa_alice");
        assert_eq!(a_after, a_inc, "{which}: alice changed by bob's bad rule");

        // TELL learns into each user's own Bayes database, owned by them.
        let spamc = sa_spamc();
        let p = d.port.to_string();
        for (name, u) in [("sa_alice", &alice), ("sa_bob", &bob)] {
            let r = run(&spamc, &["-p", &p, "-u", name, "-L", "spam"], &message(), T);
            assert_eq!(r.code, 0, "{which}: learn for {name}: {}", r.stderr);
            let dir = u.2.join(".spamassassin");
            let dbs: Vec<_> = std::fs::read_dir(&dir)
                .expect("state dir")
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("bayes"))
                .collect();
            assert!(!dbs.is_empty(), "{which}: no Bayes database in {dir:?}");
            for e in dbs {
                let m = e.metadata().expect("stat");
                assert_eq!(m.uid(), u.0, "{which}: {:?} not owned by {name}", e.path());
            }
        }
        let log = d.log_text();
        if which == "ours" {
            assert!(
                log.contains("SA_BOB_BAD") && log.contains("only sa_bob's scans are affected"),
                "no clear log line for bob's bad rule:\n{log}"
            );
            assert!(
                log.contains(&format!("{}", bob_prefs.display()))
                    && log.contains("Permission denied"),
                "no log line for the refused include:\n{log}"
            );
            // Compiled once per version of the file: alice's prefs were
            // read for the first version and again after the include was
            // added, not for each of her six scans.
            let reads = log
                .matches(&format!(
                    "read user preferences {} for sa_alice",
                    alice_prefs.display()
                ))
                .count();
            assert_eq!(reads, 2, "alice's prefs read {reads} times:\n{log}");
        }
        eprintln!(
            "{which}: sa_carol (created prefs) {c:?}; sa_alice with include of bob's file {a_inc:?}; sa_bob with a bad rule {b_bad:?}"
        );
        results.push((a, b, c, a_inc, b_bad));
    }
    // The same verdicts, scores and rules from both daemons.
    assert_eq!(results[0], results[1], "SpamAssassin vs ours");
}

#[test]
fn virtual_config_dirs_like_spamassassin() {
    let _one = serial();
    let Some(vmail) = ensure_user("sa_vmail") else {
        return;
    };
    let rules = sa_rules_dir();
    let root = TempDir::new("vconf");
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let base = root.path().join("virtual");
    let mk = |local: &str, prefs: &str| {
        let d = base.join("example.com").join(local);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join("user_prefs"), prefs).expect("prefs");
        std::fs::set_permissions(d.join("user_prefs"), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    };
    mk("alice", ALICE);
    mk("bob", BOB);
    let chown_all = || {
        Command::new("chown")
            .args(["-R", &format!("{}:{}", vmail.0, vmail.1)])
            .arg(&base)
            .status()
            .expect("chown");
    };
    chown_all();
    let pattern = format!("{}/%d/%l", base.display());
    let vflag = format!("--virtual-config-dir={pattern}");
    let common = [
        "--cf=allow_user_rules 1",
        "-x",
        "-u",
        "sa_vmail",
        vflag.as_str(),
    ];
    let mut ours_args = vec!["-L", "-C", &rules, "--siteconfigpath", "/etc/spamassassin"];
    ours_args.extend(common);
    let mut results = Vec::new();
    for which in ["spamassassin", "ours"] {
        let d = if which == "ours" {
            Daemon::ours(&ours_args)
        } else {
            Daemon::spamassassin_with(&common)
        };
        let a = verdict(d.port, "alice@example.com");
        let b = verdict(d.port, "bob@example.com");
        let n = verdict(d.port, "nobody-here@example.com");
        eprintln!("{which}: alice@ {a:?}, bob@ {b:?}, unknown {n:?}");
        assert_eq!(a.1, 1, "{which}: {a:?}");
        assert_eq!(b.1, 0, "{which}: {b:?}");
        assert!(a.2.contains("SA_ALICE_RULE") && b.2.contains("SA_BOB_RULE"));
        results.push((a, b, n));
    }
    assert_eq!(results[0], results[1], "SpamAssassin vs ours");
}
