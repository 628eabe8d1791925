//! `xtask bayes-compare`: our Bayes against SpamAssassin 4.0.1's, side by
//! side in one run (the Bayes issue's Must-show 1-3).
//!
//! 1. Train both on easy_ham + spam, classify easy_ham_2, hard_ham and
//!    spam_2 with both: BAYES_* band agreement, probability differences,
//!    and each side's Bayes-only FP/FN rates at the BAYES_99 and BAYES_50
//!    cut-offs.
//! 2. `sa-learn --backup` of SpamAssassin's database, `spamd learn
//!    --restore` into a fresh one of ours: same bands as ours trained
//!    directly?
//! 3. Time learning 4,000 messages with sa-learn and with `spamd learn`,
//!    and our scan throughput alone and while a learn writes.
//!
//! Needs `target/release/spamd` (`cargo build --release -p spamd`),
//! SpamAssassin's `sa-learn` and Perl modules.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use spamcore::bayes::{Bayes, BayesOptions};
use spamcore::config::{Config, Sources, default_rules_dir, default_site_dir};
use spamcore::message::Message;
use spamcore::rules::{CompileOptions, CompiledRules};
use spamcore::scan;

/// The BAYES_* rule a probability lands in (BAYES_999 is reported with 99).
pub(crate) fn band(p: Option<f64>) -> &'static str {
    let Some(p) = p else { return "none" };
    const BANDS: [(f64, f64, &str); 9] = [
        (0.0, 0.01, "BAYES_00"),
        (0.01, 0.05, "BAYES_05"),
        (0.05, 0.20, "BAYES_20"),
        (0.20, 0.40, "BAYES_40"),
        (0.40, 0.60, "BAYES_50"),
        (0.60, 0.80, "BAYES_60"),
        (0.80, 0.95, "BAYES_80"),
        (0.95, 0.99, "BAYES_95"),
        (0.99, 1.00, "BAYES_99"),
    ];
    BANDS
        .iter()
        .find(|(lo, hi, _)| (*lo == 0.0 || p > *lo) && p <= *hi)
        .map_or("none", |b| b.2)
}

pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn timed(cmd: &mut Command) -> Result<Duration, String> {
    let t = Instant::now();
    let st = cmd
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !st.success() {
        return Err(format!("{cmd:?} failed: {st}"));
    }
    Ok(t.elapsed())
}

pub(crate) fn sa_config() -> Config {
    Config::load(&Sources {
        rules_dir: default_rules_dir(),
        site_dir: default_site_dir(),
        local_tests_only: true,
        ..Default::default()
    })
}

pub(crate) fn classify_ours(
    db: &Path,
    opts: &BayesOptions,
    msgs: &[PathBuf],
) -> Result<HashMap<PathBuf, Option<f64>>, String> {
    // Parsed with SpamAssassin's configuration, as spamd parses.
    let msg_opts = sa_config().message_options();
    let b = Bayes::open_sqlite(db, opts.clone()).map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    for f in msgs {
        let raw = std::fs::read(f).map_err(|e| e.to_string())?;
        let m = Message::parse_with(&raw, &msg_opts);
        let p = b.classify(&m).map_err(|e| e.to_string())?.map(|c| c.prob);
        out.insert(f.clone(), p);
    }
    Ok(out)
}

pub(crate) fn classify_sa(
    prefix: &Path,
    msgs: &[PathBuf],
    script: &Path,
) -> Result<HashMap<PathBuf, Option<f64>>, String> {
    use std::io::Write;
    let mut child = Command::new("perl")
        .arg(script)
        .arg(prefix)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let list: String = msgs.iter().map(|p| format!("{}\n", p.display())).collect();
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(list.as_bytes()));
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = writer.join();
    let mut map = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((f, p)) = line.split_once('\t') {
            map.insert(PathBuf::from(f), p.parse::<f64>().ok());
        }
    }
    Ok(map)
}

struct Rates {
    fp: usize,
    fn_: usize,
    ham: usize,
    spam: usize,
}

fn rates(probs: &HashMap<PathBuf, Option<f64>>, labels: &[(PathBuf, bool)], cut: f64) -> Rates {
    let mut r = Rates {
        fp: 0,
        fn_: 0,
        ham: 0,
        spam: 0,
    };
    for (f, is_spam) in labels {
        let p = probs.get(f).copied().flatten().unwrap_or(0.5);
        if *is_spam {
            r.spam += 1;
            if p <= cut {
                r.fn_ += 1;
            }
        } else {
            r.ham += 1;
            if p > cut {
                r.fp += 1;
            }
        }
    }
    r
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

pub fn main(args: &[String]) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bayes-compare: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let root = corpus::workspace_root();
    let corpus = crate::public_corpus(
        args.iter()
            .position(|a| a == "--corpus")
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from),
    )?;
    let skip_speed = args.iter().any(|a| a == "--no-speed");
    let spamd = root.join("target/release/spamd");
    let script = root.join("xtask/bayes/sa_classify.pl");
    if !spamd.exists() {
        return Err("build target/release/spamd first (cargo build --release -p spamd)".into());
    }
    if args.iter().any(|a| a == "--expiry") {
        let value = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
        };
        let opts = crate::bayes_expiry::ExpiryArgs {
            require: value("--require").and_then(|v| v.parse().ok()),
            tolerance_ppm: value("--tolerance")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0),
            record: value("--record").map(PathBuf::from),
            recorded: value("--recorded").map(PathBuf::from),
        };
        return crate::bayes_expiry::run(&corpus, &spamd, &script, &opts);
    }
    let work = std::env::temp_dir().join(format!("bayes-compare-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    for d in ["sa", "ours", "restored", "sa4k", "ours4k"] {
        std::fs::create_dir_all(work.join(d)).map_err(|e| e.to_string())?;
    }
    let dir = |n: &str| corpus.join(n);

    // 1. Train both on the same messages.
    println!("== Training on easy_ham (2500) + spam (500)");
    let mut sa_t = Duration::ZERO;
    let mut our_t = Duration::ZERO;
    for (class, d) in [("--spam", "spam"), ("--ham", "easy_ham")] {
        sa_t += timed(
            Command::new("sa-learn")
                .arg("--dbpath")
                .arg(work.join("sa/bayes"))
                .arg(class)
                .arg(dir(d)),
        )?;
        our_t += timed(
            Command::new(&spamd)
                .arg("learn")
                .arg("--dbpath")
                .arg(work.join("ours/bayes"))
                .arg(class)
                .arg(dir(d)),
        )?;
    }
    println!(
        "sa-learn: {:.1}s   spamd learn: {:.1}s",
        sa_t.as_secs_f64(),
        our_t.as_secs_f64()
    );

    let mut labels: Vec<(PathBuf, bool)> = Vec::new();
    for (d, s) in [("easy_ham_2", false), ("hard_ham", false), ("spam_2", true)] {
        labels.extend(files(&dir(d)).into_iter().map(|f| (f, s)));
    }
    let msgs: Vec<PathBuf> = labels.iter().map(|(f, _)| f.clone()).collect();
    let conf = sa_config();
    let opts = BayesOptions::from_config(&conf);
    println!(
        "== Classifying {} messages (easy_ham_2, hard_ham, spam_2)",
        msgs.len()
    );
    let t = Instant::now();
    let sa = classify_sa(&work.join("sa/bayes"), &msgs, &script)?;
    println!("SpamAssassin: {:.1}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let ours = classify_ours(&work.join("ours/bayes.sqlite"), &opts, &msgs)?;
    println!("ours: {:.1}s", t.elapsed().as_secs_f64());

    let n = msgs.len();
    let same_band = msgs
        .iter()
        .filter(|f| band(sa[*f]) == band(ours[*f]))
        .count();
    let close = msgs
        .iter()
        .filter(|f| match (sa.get(*f).copied().flatten(), ours[*f]) {
            (Some(a), Some(b)) => (a - b).abs() < 0.05,
            (None, None) => true,
            _ => false,
        })
        .count();
    println!("\n== Must-show 1: agreement with SpamAssassin 4.0.1");
    println!(
        "same BAYES_* band: {same_band}/{n} = {:.2}%",
        pct(same_band, n)
    );
    println!(
        "|p_sa - p_ours| < 0.05: {close}/{n} = {:.2}%",
        pct(close, n)
    );
    println!("\nBayes-only error rates (ham / spam counted from the folders' labels):");
    println!(
        "{:<14} {:>10} {:>18} {:>18}",
        "system", "cut-off", "false positives", "false negatives"
    );
    for (name, probs) in [("SpamAssassin", &sa), ("ours", &ours)] {
        for (rule, cut) in [("BAYES_99", 0.99), ("BAYES_50", 0.40)] {
            let r = rates(probs, &labels, cut);
            println!(
                "{name:<14} {rule:>10} {:>8}/{} {:>5.2}% {:>8}/{} {:>5.2}%",
                r.fp,
                r.ham,
                pct(r.fp, r.ham),
                r.fn_,
                r.spam,
                pct(r.fn_, r.spam)
            );
        }
    }

    // 2. SpamAssassin's database through --backup / --restore.
    println!("\n== Must-show 2: sa-learn --backup, spamd learn --restore");
    let backup = work.join("sa.backup");
    let out = Command::new("sa-learn")
        .arg("--dbpath")
        .arg(work.join("sa/bayes"))
        .arg("--backup")
        .output()
        .map_err(|e| e.to_string())?;
    std::fs::write(&backup, &out.stdout).map_err(|e| e.to_string())?;
    timed(
        Command::new(&spamd)
            .arg("learn")
            .arg("--dbpath")
            .arg(work.join("restored/bayes"))
            .arg("--restore")
            .arg(&backup),
    )?;
    let restored = classify_ours(&work.join("restored/bayes.sqlite"), &opts, &msgs)?;
    let same = msgs
        .iter()
        .filter(|f| band(restored[*f]) == band(ours[*f]))
        .count();
    println!(
        "restored vs ours trained directly, same band: {same}/{n} = {:.2}%",
        pct(same, n)
    );
    let same_sa = msgs
        .iter()
        .filter(|f| band(restored[*f]) == band(sa[*f]))
        .count();
    println!(
        "restored vs SpamAssassin itself, same band: {same_sa}/{n} = {:.2}%",
        pct(same_sa, n)
    );

    if skip_speed {
        return Ok(());
    }
    // 3. Learning speed on 4,000 messages, side by side.
    println!("\n== Must-show 3: learning 4,000 messages");
    let ham2: Vec<PathBuf> = files(&dir("easy_ham_2")).into_iter().take(1000).collect();
    let list = work.join("ham2-1000");
    std::fs::create_dir_all(&list).map_err(|e| e.to_string())?;
    for f in &ham2 {
        if let Some(name) = f.file_name() {
            let _ = std::os::unix::fs::symlink(f, list.join(name));
        }
    }
    let sets: [(&str, PathBuf); 3] = [
        ("--spam", dir("spam")),
        ("--ham", dir("easy_ham")),
        ("--ham", list.clone()),
    ];
    let mut sa4 = Duration::ZERO;
    let mut our4 = Duration::ZERO;
    for (class, d) in &sets {
        sa4 += timed(
            Command::new("sa-learn")
                .arg("--dbpath")
                .arg(work.join("sa4k/bayes"))
                .arg(class)
                .arg(d),
        )?;
        our4 += timed(
            Command::new(&spamd)
                .arg("learn")
                .arg("--dbpath")
                .arg(work.join("ours4k/bayes"))
                .arg(class)
                .arg(d),
        )?;
    }
    println!(
        "sa-learn: {:.1}s   spamd learn: {:.1}s   ratio: {:.1}x",
        sa4.as_secs_f64(),
        our4.as_secs_f64(),
        sa4.as_secs_f64() / our4.as_secs_f64().max(0.001)
    );

    // Scan throughput (full rules + Bayes) alone, then during a learn.
    let (rules_b, _) = CompiledRules::compile(
        conf.clone(),
        CompileOptions {
            net: false,
            bayes: true,
        },
    );
    let (rules, _) = CompiledRules::compile(conf, CompileOptions::default());
    let bayes_db = work.join("ours/bayes.sqlite");
    let mut o = opts.clone();
    o.auto_learn = false;
    let b = Bayes::open_sqlite(&bayes_db, o).map_err(|e| e.to_string())?;
    let sample: Vec<Vec<u8>> = msgs
        .iter()
        .step_by(10)
        .filter_map(|f| std::fs::read(f).ok())
        .collect();
    let measure = |stop: &AtomicBool, min: Duration| -> f64 {
        let count = AtomicUsize::new(0);
        let t = Instant::now();
        std::thread::scope(|s| {
            for w in 0..2 {
                let (count, sample, rules, rules_b, b) = (&count, &sample, &rules, &rules_b, &b);
                s.spawn(move || {
                    let mut i = w;
                    while t.elapsed() < min || !stop.load(Ordering::Relaxed) {
                        let m = Message::parse(&sample[i % sample.len()]);
                        let _ = scan::scan_with_bayes(rules, Some(rules_b), &m, Some(b));
                        count.fetch_add(1, Ordering::Relaxed);
                        i += 2;
                    }
                });
            }
        });
        count.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64()
    };
    let done = AtomicBool::new(true);
    let alone = measure(&done, Duration::from_secs(15));
    let busy = AtomicBool::new(false);
    let during = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let r = timed(
                Command::new(&spamd)
                    .arg("learn")
                    .arg("--dbpath")
                    .arg(work.join("ours/bayes"))
                    .arg("--spam")
                    .arg(dir("spam_2")),
            );
            busy.store(true, Ordering::Relaxed);
            r
        });
        let rate = measure(&busy, Duration::from_secs(3));
        (rate, h.join())
    });
    println!(
        "scan throughput: alone {alone:.1} msg/s, while spamd learn writes {:.1} msg/s ({:+.1}%)",
        during.0,
        100.0 * (during.0 - alone) / alone.max(0.001)
    );
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
