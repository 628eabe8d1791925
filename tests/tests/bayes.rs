//! Bayes end to end: `spamd learn` / `sa-learn` on the command line, TELL
//! through spamc -L, a learn killed half-way, a corrupt database.

use std::path::Path;
use std::time::Duration;

use e2e::*;

const LIMIT: Duration = Duration::from_secs(120);

fn learn(db: &Path, args: &[&str]) -> Run {
    let mut a = vec!["learn", "--dbpath"];
    let dbs = db.display().to_string();
    a.push(&dbs);
    a.extend_from_slice(args);
    run(&our_bin("spamd"), &a, b"", LIMIT)
}

/// (nspam, nham, ntokens) from `--dump magic`.
fn magic(db: &Path) -> (u64, u64, u64) {
    let r = learn(db, &["--dump", "magic"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = String::from_utf8_lossy(&r.stdout).into_owned();
    let get = |name: &str| {
        text.lines()
            .find(|l| l.ends_with(&format!("non-token data: {name}")))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    (get("nspam"), get("nham"), get("ntokens"))
}

fn ja(class: &str) -> String {
    corpus::ja().join(class).display().to_string()
}

/// How many messages a `ja/` folder holds (the corpus grows).
fn ja_count(class: &str) -> usize {
    std::fs::read_dir(corpus::ja().join(class))
        .map(|d| d.flatten().filter(|e| e.path().is_file()).count())
        .unwrap_or(0)
}

#[test]
fn learn_relearn_forget_backup_restore() {
    let dir = TempDir::new("bayes-learn");
    let db = dir.path().join("bayes");
    let r = learn(&db, &["--spam", &ja("spam")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        "Learned tokens from 6 message(s) (6 message(s) examined)\n"
    );
    // Learning the same messages again counts nothing.
    let r = learn(&db, &["--spam", &ja("spam")]);
    assert!(String::from_utf8_lossy(&r.stdout).starts_with("Learned tokens from 0 message(s)"));
    assert_eq!(magic(&db).0, 6);
    // Relearning as the other class moves them.
    learn(&db, &["--ham", &ja("spam")]);
    let (ns, nh, _) = magic(&db);
    assert_eq!((ns, nh), (0, 6));
    let r = learn(&db, &["--forget", &ja("spam")]);
    assert!(String::from_utf8_lossy(&r.stdout).starts_with("Forgot tokens from 6 message(s)"));
    assert_eq!(magic(&db), (0, 0, 0));

    learn(&db, &["--spam", &ja("spam")]);
    learn(&db, &["--ham", &ja("ham")]);
    let before = magic(&db);
    let backup = learn(&db, &["--backup"]);
    let text = String::from_utf8_lossy(&backup.stdout).into_owned();
    assert!(text.starts_with("v\t3\tdb_version # this must be the first line!!!\n"));
    assert!(text.contains("v\t6\tnum_spam\n"));
    assert!(text.contains(&format!("v\t{}\tnum_nonspam\n", ja_count("ham"))));
    let file = dir.path().join("backup.txt");
    std::fs::write(&file, &backup.stdout).expect("write backup");
    let db2 = dir.path().join("restored");
    let r = learn(&db2, &["--restore", &file.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(magic(&db2), before);
    learn(&db2, &["--clear"]);
    assert_eq!(magic(&db2), (0, 0, 0));
}

#[test]
fn answers_as_sa_learn_through_a_symlink() {
    let dir = TempDir::new("bayes-salearn");
    let link = dir.path().join("sa-learn");
    std::os::unix::fs::symlink(our_bin("spamd"), &link).expect("symlink");
    let db = dir.path().join("db").display().to_string();
    let r = run(&link, &["--dbpath", &db, "--ham", &ja("ham")], b"", LIMIT);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let nham = ja_count("ham");
    assert!(
        String::from_utf8_lossy(&r.stdout)
            .starts_with(&format!("Learned tokens from {nham} message(s)"))
    );
    let r = run(&link, &["--dbpath", &db, "--dump", "magic"], b"", LIMIT);
    assert!(
        String::from_utf8_lossy(&r.stdout)
            .contains(&format!("{nham:>10}{:>11}  non-token data: nham", 0))
    );
    // sa-learn's usage error when no class is given.
    let r = run(&link, &["--dbpath", &db, &ja("ham")], b"", LIMIT);
    assert_eq!(r.code, 64);
}

#[test]
fn spamc_learn_through_tell() {
    let dir = TempDir::new("bayes-tell");
    // Run as root, spamd learns for root's requests as `nobody`.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .expect("chmod");
    let prefix = dir.path().join("bayes").display().to_string();
    let cf = format!("bayes_path {prefix}");
    let d = Daemon::ours(&["--allow-tell", "--cf", &cf]);
    let port = d.port.to_string();
    let msg = std::fs::read(corpus::ja().join("spam/deai.eml")).expect("message");
    let spamc = our_bin("spamc");
    let r = run(&spamc, &["-p", &port, "-L", "spam"], &msg, LIMIT);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        "Message successfully un/learned\n"
    );
    assert_eq!(magic(Path::new(&prefix)).0, 1);
    // Already learned: spamd did nothing this time.
    let r = run(&spamc, &["-p", &port, "-L", "spam"], &msg, LIMIT);
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        "Message was already un/learned\n"
    );
    let r = run(&spamc, &["-p", &port, "-L", "forget"], &msg, LIMIT);
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        "Message successfully un/learned\n"
    );
    assert_eq!(magic(Path::new(&prefix)).0, 0);

    // Without --allow-tell spamd refuses, as SpamAssassin's does.
    let plain = Daemon::ours(&["--cf", &cf]);
    let r = run(
        &spamc,
        &["-p", &plain.port.to_string(), "-L", "ham"],
        &msg,
        LIMIT,
    );
    assert_ne!(r.code, 0);
}

#[test]
fn killed_learn_leaves_a_consistent_database() {
    let dir = TempDir::new("bayes-kill");
    // 1,000 messages in one mbox.
    let mut mbox = Vec::new();
    let src = corpus::public_or_panic().join("easy_ham");
    let mut names: Vec<_> = std::fs::read_dir(&src)
        .expect("corpus")
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    for p in names.iter().take(1000) {
        let m = std::fs::read(p).expect("message");
        mbox.extend_from_slice(b"From nobody Thu Jan  1 00:00:00 2004\n");
        for (i, line) in m.split_inclusive(|&b| b == b'\n').enumerate() {
            if line.starts_with(b"From ") {
                if i == 0 {
                    continue;
                }
                mbox.push(b'>');
            }
            mbox.extend_from_slice(line);
        }
        if !mbox.ends_with(b"\n") {
            mbox.push(b'\n');
        }
    }
    let mbox_path = dir.path().join("ham.mbox");
    std::fs::write(&mbox_path, &mbox).expect("mbox");
    let db = dir.path().join("bayes");
    let mut child = std::process::Command::new(our_bin("spamd"))
        .args(["learn", "--dbpath"])
        .arg(&db)
        .arg("--ham")
        .arg(&mbox_path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start learn");
    // Kill it once some batches are written, well before the end.
    let file = dir.path().join("bayes.sqlite");
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if magic_quiet(&db).is_some_and(|(_, nh)| nh >= 100) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    assert!(file.exists());
    let (ns, nh, _) = magic(&db);
    assert_eq!(ns, 0);
    assert!(nh > 0 && nh < 1000, "kill came too late or too early: {nh}");
    // Every counted message has its seen entry: nothing half-learned.
    let backup = String::from_utf8_lossy(&learn(&db, &["--backup"]).stdout).into_owned();
    let seen = backup.lines().filter(|l| l.starts_with("s\th\t")).count() as u64;
    assert_eq!(seen, nh);
    // Learning again finishes the job, and ends exactly where an
    // uninterrupted learn does; scanning works on the database.
    let r = learn(&db, &["--ham", &mbox_path.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let clean = dir.path().join("clean");
    learn(&clean, &["--ham", &mbox_path.display().to_string()]);
    assert_eq!(magic(&db), magic(&clean));
    let cf = format!("bayes_path {}", db.display());
    let d = Daemon::ours(&["--cf", &cf]);
    let r = run(
        &our_bin("spamc"),
        &["-p", &d.port.to_string(), "-c"],
        &ham(),
        LIMIT,
    );
    assert!(String::from_utf8_lossy(&r.stdout).contains('/'));
}

fn magic_quiet(db: &Path) -> Option<(u64, u64)> {
    let r = learn(db, &["--dump", "magic"]);
    let text = String::from_utf8_lossy(&r.stdout).into_owned();
    let get = |name: &str| {
        text.lines()
            .find(|l| l.ends_with(&format!("non-token data: {name}")))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((get("nspam")?, get("nham")?))
}

#[test]
fn corrupt_database_scans_without_bayes() {
    let dir = TempDir::new("bayes-corrupt");
    let prefix = dir.path().join("bayes");
    std::fs::write(dir.path().join("bayes.sqlite"), vec![0x5a; 16384]).expect("junk");
    let cf = format!("bayes_path {}", prefix.display());
    let d = Daemon::ours(&["--cf", &cf]);
    let r = run(
        &our_bin("spamc"),
        &["-p", &d.port.to_string()],
        &ham(),
        LIMIT,
    );
    assert_eq!(r.code, 0);
    assert!(String::from_utf8_lossy(&r.stdout).contains("X-Spam-Status: No"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        d.log_text().contains("bayes: cannot open"),
        "{}",
        d.log_text()
    );
}

#[test]
fn japanese_tokens_are_words_and_bigrams() {
    let dir = TempDir::new("bayes-ja");
    let db = dir.path().join("bayes");
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).expect("site");
    // Our embedded rules turn bayes_cjk_tokens on.
    let rules = root().join("rules").display().to_string();
    let site = site.display().to_string();
    for class in ["spam", "ham"] {
        let r = learn(
            &db,
            &[
                "-C",
                &rules,
                "--siteconfigpath",
                &site,
                &format!("--{class}"),
                &ja(class),
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let dump = String::from_utf8_lossy(&learn(&db, &["--dump", "data"]).stdout).into_owned();
    let tokens: Vec<&str> = dump.lines().filter_map(|l| l.split("  ").last()).collect();
    assert!(tokens.contains(&"cs:アカウント"), "no katakana word");
    assert!(tokens.contains(&"c2:確認"), "no kanji bigram");
    // No body token holds a whole line of Japanese (header display names,
    // `N*...`, stay whole as in SpamAssassin, and so do URI domain tokens,
    // `UD:...`, where a schemeless domain runs into the text after it).
    let longest = tokens
        .iter()
        .filter(|t| !t.contains('*') && !t.starts_with("UD:"))
        .map(|t| t.chars().filter(|c| *c as u32 >= 0x3000).count())
        .max()
        .unwrap_or(0);
    assert!(longest <= 8, "a token with {longest} CJK characters");
}

/// Every `--dump magic` counter by name, and the sync report's counts.
fn magic_all(text: &[u8]) -> std::collections::BTreeMap<String, i64> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| {
            let (head, name) = l.split_once("non-token data: ")?;
            let v = head.split_whitespace().nth(2)?.parse().ok()?;
            Some((name.to_string(), v))
        })
        .collect()
}

/// "N unique entries (M total entries)" of a sync report.
fn sync_counts(text: &[u8]) -> Option<(u64, u64)> {
    let t = String::from_utf8_lossy(text);
    let rest = t.split("seconds: ").nth(1)?;
    let mut w = rest.split_whitespace();
    let unique = w.next()?.parse().ok()?;
    let total = w.nth(2)?.trim_start_matches('(').parse().ok()?;
    Some((unique, total))
}

/// Links to the first `n` messages of a public corpus folder.
fn corpus_dir(dir: &Path, folder: &str, n: usize) -> String {
    let d = dir.join(folder);
    std::fs::create_dir_all(&d).expect("dir");
    let mut v: Vec<_> = std::fs::read_dir(corpus::public_or_panic().join(folder))
        .expect("corpus folder")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    for (i, f) in v.iter().take(n).enumerate() {
        std::os::unix::fs::symlink(f, d.join(format!("{i:04}"))).expect("symlink");
    }
    d.display().to_string()
}

/// `bayes_learn_to_journal` and `--no-sync` against sa-learn 4.0.1 on the
/// same messages: learning into the journal leaves the counts alone (a
/// message journaled twice counts twice once synced, since the seen check
/// reads the database), `--sync` reports the same entries and gives the
/// same `--dump magic`; a journal grown past `bayes_journal_max_size` is
/// synced by the next start-up (even a `--dump`); `bayes_learn_to_journal
/// 1` alone does not journal sa-learn's learning (only `--no-sync` does);
/// spamd's TELL under `bayes_learn_to_journal 1` journals, counted at the
/// next sync.
#[test]
fn learn_to_journal_as_sa_learn() {
    let sa = require("/usr/bin/sa-learn", "spamassassin");
    let dir = TempDir::new("bayes-journal");
    let spam = corpus_dir(dir.path(), "spam", 3);
    let ham = corpus_dir(dir.path(), "easy_ham", 30);
    let sa_db = dir.path().join("sa").display().to_string();
    let our_db = dir.path().join("ours");
    let both = |args: &[&str]| -> (Run, Run) {
        let mut a = vec!["--dbpath", sa_db.as_str()];
        a.extend_from_slice(args);
        let s = run(&sa, &a, b"", LIMIT);
        assert_eq!(s.code, 0, "sa-learn {args:?}: {}", s.stderr);
        let o = learn(&our_db, args);
        assert_eq!(o.code, 0, "spamd learn {args:?}: {}", o.stderr);
        (s, o)
    };
    let same_magic = |when: &str| {
        let (s, o) = both(&["--dump", "magic"]);
        let (s, o) = (magic_all(&s.stdout), magic_all(&o.stdout));
        for name in ["nspam", "nham", "ntokens", "oldest atime", "newest atime"] {
            assert_eq!(
                s.get(name),
                o.get(name),
                "{when}: {name}\nSA {s:?}\nours {o:?}"
            );
        }
        s
    };
    // A small journal: nothing counted until --sync.
    both(&["--no-sync", "--spam", &spam]);
    both(&["--no-sync", "--spam", &spam]);
    let before = same_magic("journaled, before --sync");
    assert_eq!(
        (before["nspam"], before["nham"], before["ntokens"]),
        (0, 0, 0)
    );
    let (s, o) = both(&["--sync"]);
    let counts = sync_counts(&s.stdout).expect("SpamAssassin's sync report");
    assert_eq!(sync_counts(&o.stdout), Some(counts), "sync report");
    let after = same_magic("after --sync");
    assert_eq!((after["nspam"], after["nham"]), (6, 0));
    assert!(after["last journal sync atime"] > 0);

    // A journal past bayes_journal_max_size (100 KiB): the next start-up
    // syncs it, before the dump.
    both(&["--no-sync", "--ham", &ham]);
    let big = same_magic("journal past its maximum size");
    assert_eq!((big["nspam"], big["nham"]), (6, 30));

    // With bayes_learn_to_journal 1 but without --no-sync, sa-learn writes
    // straight to the database (the messages move to ham at once).
    both(&["--cf", "bayes_learn_to_journal 1", "--ham", &spam]);
    let moved = same_magic("bayes_learn_to_journal 1 without --no-sync");
    assert_eq!((moved["nspam"], moved["nham"]), (3, 33));

    // spamd's TELL under bayes_learn_to_journal 1: journaled until a sync.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .expect("chmod");
    let tell_db = dir.path().join("tell").display().to_string();
    let cf = format!("bayes_path {tell_db}\nbayes_learn_to_journal 1");
    let d = Daemon::ours(&["--allow-tell", "--cf", &cf]);
    let port = d.port.to_string();
    let msg = std::fs::read(std::path::Path::new(&spam).join("0000")).expect("message");
    let r = run(&our_bin("spamc"), &["-p", &port, "-L", "spam"], &msg, LIMIT);
    assert_eq!(
        String::from_utf8_lossy(&r.stdout),
        "Message successfully un/learned\n",
        "{}",
        r.stderr
    );
    assert_eq!(magic(Path::new(&tell_db)), (0, 0, 0));
    let r = learn(Path::new(&tell_db), &["--sync"]);
    assert!(sync_counts(&r.stdout).is_some(), "{}", r.stderr);
    assert_eq!(magic(Path::new(&tell_db)).0, 1);
}
