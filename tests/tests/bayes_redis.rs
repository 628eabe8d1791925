//! Bayes on a shared Redis (Debian's `redis-server` on loopback):
//! SpamAssassin's Redis store and ours read each other's databases, two of
//! our daemons see each other's learning, and scans go on without Bayes
//! while Redis is down and use it again when it returns.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use e2e::*;

const LIMIT: Duration = Duration::from_secs(300);

/// A redis-server we started on a free loopback port, stopped by PID.
struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    fn start(dir: &Path, port: u16) -> Redis {
        let bin = require("/usr/bin/redis-server", "redis-server");
        // Append-only file: a restarted server has everything it had.
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let r = Redis {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "redis did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    fn stop(&mut self) {
        // SAFETY: kill(2) on our own child's PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// A site configuration directory: SpamAssassin's plugin loaders plus a
/// local.cf selecting the Redis store on `port`.
fn site(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let site = dir.join("site");
    std::fs::create_dir_all(&site).expect("site dir");
    for e in std::fs::read_dir("/etc/spamassassin").expect("/etc/spamassassin") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "pre") {
            std::fs::copy(&p, site.join(p.file_name().expect("name"))).expect("copy .pre");
        }
    }
    let cf = format!(
        "bayes_store_module Mail::SpamAssassin::BayesStore::Redis\n\
         bayes_sql_dsn server=127.0.0.1:{port};database=0\n\
         use_bayes 1\nbayes_auto_learn 0\n\
         add_header all Bayes _BAYES_\n{extra}"
    );
    std::fs::write(site.join("local.cf"), cf).expect("local.cf");
    site
}

/// Links to `files` in a fresh directory (one learner call per class).
fn link_dir(dir: &Path, name: &str, files: &[PathBuf]) -> String {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).expect("dir");
    for (i, f) in files.iter().enumerate() {
        std::os::unix::fs::symlink(f, d.join(format!("{i:04}"))).expect("symlink");
    }
    d.display().to_string()
}

fn corpus_files(folder: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus::public_or_panic().join(folder))
        .expect("corpus folder")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

fn sa_learn(site: &Path, args: &[&str]) -> Run {
    let bin = require("/usr/bin/sa-learn", "spamassassin");
    let mut a = vec!["--siteconfigpath", site.to_str().expect("utf-8 path")];
    a.extend_from_slice(args);
    let r = run(&bin, &a, b"", LIMIT);
    assert_eq!(r.code, 0, "sa-learn {args:?}: {}", r.stderr);
    r
}

fn our_learn(site: &Path, args: &[&str]) -> Run {
    let mut a = vec![
        "learn",
        "-C",
        "/usr/share/spamassassin",
        "--siteconfigpath",
        site.to_str().expect("utf-8 path"),
    ];
    a.extend_from_slice(args);
    let r = run(&our_bin("spamd"), &a, b"", LIMIT);
    assert_eq!(r.code, 0, "spamd learn {args:?}: {}", r.stderr);
    r
}

fn our_daemon(site: &Path) -> Daemon {
    Daemon::ours(&[
        "-C",
        "/usr/share/spamassassin",
        "--siteconfigpath",
        site.to_str().expect("utf-8 path"),
        "-L",
        "-l",
    ])
}

/// Scan `msg` through spamc against `port`: the processed message.
fn scan(port: u16, msg: &[u8]) -> Run {
    run(&sa_spamc(), &["-p", &port.to_string()], msg, LIMIT)
}

fn header(out: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(split_message(out).0).into_owned();
    let mut value: Option<String> = None;
    for line in text.lines() {
        if let Some(v) = &mut value {
            if line.starts_with([' ', '\t']) {
                v.push_str(line.trim_start());
                v.push(' ');
                continue;
            }
            break;
        }
        if let Some(rest) = line.strip_prefix(&format!("{name}:")) {
            value = Some(format!("{} ", rest.trim()));
        }
    }
    value.map(|v| v.trim().to_string())
}

/// The BAYES_* rule in a processed message's X-Spam-Status (BAYES_999 is
/// reported with BAYES_99), or "none".
fn bayes_rule(out: &[u8]) -> String {
    let status = header(out, "X-Spam-Status").unwrap_or_default();
    let tests = status.split("tests=").nth(1).unwrap_or("");
    tests
        .split([',', ' '])
        .map(str::trim)
        .find(|t| t.starts_with("BAYES_") && *t != "BAYES_999")
        .unwrap_or("none")
        .to_string()
}

fn magic_count(out: &[u8], name: &str) -> u64 {
    String::from_utf8_lossy(out)
        .lines()
        .find(|l| l.ends_with(&format!("non-token data: {name}")))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in --dump magic"))
}

#[test]
fn spamassassin_and_ours_share_one_redis_database() {
    let dir = TempDir::new("redis-interop");
    let redis = Redis::start(dir.path(), free_port());
    let site = site(dir.path(), redis.port, "");
    // Training: 210 spam and 210 ham (over the 200/200 Bayes needs),
    // learned by SpamAssassin into Redis; held back: 40 others.
    let spam = corpus_files("spam");
    let ham = corpus_files("easy_ham");
    let (train_s, train_h) = (&spam[..210], &ham[..210]);
    let mut held: Vec<PathBuf> = corpus_files("spam_2").into_iter().step_by(50).collect();
    held.extend(corpus_files("easy_ham_2").into_iter().step_by(70));
    held.extend(corpus_files("hard_ham").into_iter().step_by(50));
    sa_learn(&site, &["--spam", &link_dir(dir.path(), "s", train_s)]);
    sa_learn(&site, &["--ham", &link_dir(dir.path(), "h", train_h)]);

    let site_s = site.to_str().expect("utf-8 path");
    let sa = Daemon::spamassassin_with(&["--siteconfigpath", site_s, "--allow-tell"]);
    let ours = our_daemon(&site);
    let mut same = 0;
    let mut with_bayes = 0;
    let mut differ = Vec::new();
    for f in &held {
        let msg = std::fs::read(f).expect("read message");
        let (a, b) = (scan(sa.port, &msg), scan(ours.port, &msg));
        let (ra, rb) = (bayes_rule(&a.stdout), bayes_rule(&b.stdout));
        if rb != "none" {
            with_bayes += 1;
        }
        if ra == rb {
            same += 1;
        } else {
            differ.push(format!("{}: SpamAssassin {ra}, ours {rb}", f.display()));
        }
    }
    let n = held.len();
    assert!(
        with_bayes * 10 >= n * 9,
        "Bayes answered on only {with_bayes}/{n} messages: {}",
        ours.log_text()
    );
    assert!(
        same * 100 >= n * 97,
        "same BAYES_* rule on {same}/{n}:\n{}",
        differ.join("\n")
    );

    // Ours learns more through spamc -L; SpamAssassin sees the counts.
    let before = sa_learn(&site, &["--dump", "magic"]);
    let nspam = magic_count(&before.stdout, "nspam");
    let nham = magic_count(&before.stdout, "nham");
    // (The corpus has a few duplicates: not all 210 count.)
    assert!(nspam > 200 && nham > 200, "{nspam} spam, {nham} ham");
    let more: Vec<PathBuf> = corpus_files("spam_2")[1..6].to_vec();
    for f in &more {
        let msg = std::fs::read(f).expect("read message");
        let r = run(
            &sa_spamc(),
            &["-p", &ours.port.to_string(), "-L", "spam"],
            &msg,
            LIMIT,
        );
        assert!(
            String::from_utf8_lossy(&r.stdout).contains("Message successfully un/learned"),
            "{}",
            String::from_utf8_lossy(&r.stdout)
        );
    }
    let after = sa_learn(&site, &["--dump", "magic"]);
    assert_eq!(magic_count(&after.stdout, "nspam"), nspam + 5);
    assert_eq!(magic_count(&after.stdout, "nham"), nham);

    // And the other way: a database written by us, backed up by SpamAssassin,
    // restored into SQLite by us, gives the same counts.
    let backup = sa_learn(&site, &["--backup"]);
    let file = dir.path().join("backup.txt");
    std::fs::write(&file, &backup.stdout).expect("write backup");
    let db = dir.path().join("sqlite-copy");
    let r = run(
        &our_bin("spamd"),
        &[
            "learn",
            "--dbpath",
            db.to_str().expect("utf-8"),
            "--restore",
            file.to_str().expect("utf-8"),
        ],
        b"",
        LIMIT,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(
        &our_bin("spamd"),
        &[
            "learn",
            "--dbpath",
            db.to_str().expect("utf-8"),
            "--dump",
            "magic",
        ],
        b"",
        LIMIT,
    );
    assert_eq!(magic_count(&r.stdout, "nspam"), nspam + 5);
    let lines = |t: &[u8]| {
        String::from_utf8_lossy(t)
            .lines()
            .filter(|l| l.starts_with("t\t"))
            .count()
    };
    let ours_backup = our_learn(&site, &["--backup"]);
    assert_eq!(lines(&ours_backup.stdout), lines(&backup.stdout));

    // SQLite -> Redis: the SQLite copy, backed up by us and restored by us
    // into another Redis database, reads back through SpamAssassin's Redis
    // store with the counts SpamAssassin sees in the original.
    let r = run(
        &our_bin("spamd"),
        &["learn", "--dbpath", db.to_str().expect("utf-8"), "--backup"],
        b"",
        LIMIT,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sqlite_backup = dir.path().join("sqlite-backup.txt");
    std::fs::write(&sqlite_backup, &r.stdout).expect("write backup");
    let site1 = dir.path().join("site-db1");
    std::fs::create_dir_all(&site1).expect("site dir");
    for e in std::fs::read_dir(&site).expect("site") {
        let p = e.expect("entry").path();
        let text = std::fs::read_to_string(&p).expect("site file");
        let name = p.file_name().expect("name");
        std::fs::write(site1.join(name), text.replace(";database=0", ";database=1"))
            .expect("site-db1 file");
    }
    let cf1 = std::fs::read_to_string(site1.join("local.cf")).expect("local.cf");
    assert!(cf1.contains(";database=1"), "{cf1}");
    assert_eq!(
        magic_count(&sa_learn(&site1, &["--dump", "magic"]).stdout, "nspam"),
        0,
        "database 1 starts empty"
    );
    our_learn(
        &site1,
        &["--restore", sqlite_backup.to_str().expect("utf-8")],
    );
    let original = sa_learn(&site, &["--dump", "magic"]);
    let restored = sa_learn(&site1, &["--dump", "magic"]);
    for k in ["nspam", "nham", "ntokens"] {
        assert_eq!(
            magic_count(&restored.stdout, k),
            magic_count(&original.stdout, k),
            "{k} after SQLite -> Redis restore"
        );
    }
    assert_eq!(
        lines(&sa_learn(&site1, &["--backup"]).stdout),
        lines(&backup.stdout)
    );
}

/// Learn 10 spam and 10 ham with our learner (Bayes usable from 1/1).
fn small_db(dir: &Path, port: u16) -> PathBuf {
    let site = site(dir, port, "bayes_min_spam_num 1\nbayes_min_ham_num 1\n");
    let spam = corpus_files("spam");
    let ham = corpus_files("easy_ham");
    our_learn(&site, &["--spam", &link_dir(dir, "s", &spam[..10])]);
    our_learn(&site, &["--ham", &link_dir(dir, "h", &ham[..10])]);
    site
}

#[test]
fn two_daemons_see_each_others_learning() {
    let dir = TempDir::new("redis-two");
    let redis = Redis::start(dir.path(), free_port());
    let site = small_db(dir.path(), redis.port);
    let (a, b) = (our_daemon(&site), our_daemon(&site));
    let msg = std::fs::read(&corpus_files("spam_2")[7]).expect("read message");
    let prob = |d: &Daemon| header(&scan(d.port, &msg).stdout, "X-Spam-Bayes");
    let p0 = prob(&a);
    assert_eq!(p0, prob(&b));
    let r = run(
        &sa_spamc(),
        &["-p", &a.port.to_string(), "-L", "spam"],
        &msg,
        LIMIT,
    );
    assert!(String::from_utf8_lossy(&r.stdout).contains("Message successfully un/learned"));
    let p1 = prob(&b);
    assert_eq!(p1, prob(&a));
    assert_ne!(
        p1, p0,
        "learning through one daemon changed nothing for the other"
    );
    let num = |p: &Option<String>| p.as_deref().and_then(|v| v.parse::<f64>().ok());
    assert!(num(&p1) > num(&p0), "{p0:?} -> {p1:?}");
}

#[test]
fn redis_stopped_mid_load_loses_no_scan() {
    let dir = TempDir::new("redis-down");
    let mut redis = Redis::start(dir.path(), free_port());
    let port = redis.port;
    let site = small_db(dir.path(), port);
    let ours = our_daemon(&site);
    let msgs: Vec<Vec<u8>> = corpus_files("spam_2")
        .iter()
        .take(20)
        .map(|f| std::fs::read(f).expect("read message"))
        .collect();
    let learned = |out: &[u8]| header(out, "X-Spam-Bayes").is_some_and(|v| v != "0.5");
    assert!(
        learned(&scan(ours.port, &msgs[0]).stdout),
        "Bayes is not in use"
    );

    let stop = AtomicBool::new(false);
    let (done, failed, without, with_after) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicBool::new(false),
    );
    let redis_back = AtomicBool::new(false);
    std::thread::scope(|s| {
        for w in 0..2 {
            let (msgs, stop, done, failed, without, with_after, redis_back) = (
                &msgs,
                &stop,
                &done,
                &failed,
                &without,
                &with_after,
                &redis_back,
            );
            let port = ours.port;
            s.spawn(move || {
                let mut i = w;
                // Bounded: at most 2,000 scans per worker.
                while !stop.load(Ordering::SeqCst) && i < 4000 {
                    let r = scan(port, &msgs[i % msgs.len()]);
                    let ok = r.code == 0 && header(&r.stdout, "X-Spam-Status").is_some();
                    if !ok {
                        failed.fetch_add(1, Ordering::SeqCst);
                    } else if !learned(&r.stdout) {
                        without.fetch_add(1, Ordering::SeqCst);
                    } else if redis_back.load(Ordering::SeqCst) {
                        with_after.store(true, Ordering::SeqCst);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    i += 2;
                }
            });
        }
        let wait_for = |what: &dyn Fn() -> bool, limit: Duration| {
            let t = Instant::now();
            while !what() && t.elapsed() < limit {
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        wait_for(&|| done.load(Ordering::SeqCst) >= 20, LIMIT);
        redis.stop();
        let base = done.load(Ordering::SeqCst);
        wait_for(
            &|| without.load(Ordering::SeqCst) >= 10 && done.load(Ordering::SeqCst) >= base + 20,
            LIMIT,
        );
        // Learning while Redis is down is a clear error, not a hang.
        let r = run(
            &our_bin("spamd"),
            &[
                "learn",
                "--siteconfigpath",
                site.to_str().expect("utf-8 path"),
                "--spam",
                corpus_files("spam")[50].to_str().expect("utf-8 path"),
            ],
            b"",
            LIMIT,
        );
        assert_ne!(r.code, 0);
        assert!(r.stderr.contains("redis"), "{}", r.stderr);
        let again = Redis::start(&redis.dir, port);
        redis_back.store(true, Ordering::SeqCst);
        wait_for(
            &|| with_after.load(Ordering::SeqCst),
            Duration::from_secs(60),
        );
        stop.store(true, Ordering::SeqCst);
        drop(again);
    });
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "scans failed while Redis was down"
    );
    assert!(
        without.load(Ordering::SeqCst) >= 10,
        "no scan ran while Redis was down"
    );
    assert!(
        with_after.load(Ordering::SeqCst),
        "scans did not use Bayes again after Redis returned"
    );
    let log = ours.log_text();
    assert!(log.contains("without Bayes"), "{log}");
}

#[test]
fn restarted_redis_keeps_what_was_learned() {
    let dir = TempDir::new("redis-restart");
    let mut redis = Redis::start(dir.path(), free_port());
    let site = small_db(dir.path(), redis.port);
    let before = our_learn(&site, &["--dump", "magic"]);
    redis.stop();
    let r = run(
        &our_bin("spamd"),
        &[
            "learn",
            "--siteconfigpath",
            site.to_str().expect("utf-8 path"),
            "--dump",
            "magic",
        ],
        b"",
        LIMIT,
    );
    assert_ne!(r.code, 0, "a dump without Redis must fail");
    let _again = Redis::start(&redis.dir, redis.port);
    let after = our_learn(&site, &["--dump", "magic"]);
    assert!(magic_count(&after.stdout, "nspam") > 0);
    assert_eq!(before.stdout, after.stdout);
}
