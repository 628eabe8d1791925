//! `xtask bayes-compare --expiry`: a database big enough to expire, learned
//! by `sa-learn` and by `spamd learn` from the same messages, compared
//! through `--dump magic` and through the BAYES_* rule each gives a
//! held-back set; then the same after `--force-expire`.
//!
//! The whole public corpus is learned except every tenth message (held
//! back): spam folders first, then ham folders, each in one learner call,
//! so that both learners meet the same expiry checks at the same points.
//! `--require PCT` fails the run when band agreement is under PCT or the
//! counters differ.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use spamcore::bayes::BayesOptions;

use super::bayes_compare::{band, classify_ours, classify_sa, files, sa_config};

/// The `--dump magic` counters compared (SpamAssassin's names).
const COUNTERS: [&str; 7] = [
    "nspam",
    "nham",
    "ntokens",
    "oldest atime",
    "newest atime",
    "last expire atime delta",
    "last expire reduction count",
];

fn dump_magic(cmd: &mut Command) -> Result<HashMap<String, i64>, String> {
    let out = cmd
        .args(["--dump", "magic"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut m = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((head, name)) = line.split_once("non-token data: ") else {
            continue;
        };
        if let Some(v) = head.split_whitespace().nth(2).and_then(|v| v.parse().ok()) {
            m.insert(name.trim().to_string(), v);
        }
    }
    Ok(m)
}

struct Sides<'a> {
    spamd: &'a Path,
    sa_db: PathBuf,
    our_db: PathBuf,
}

impl Sides<'_> {
    fn sa(&self) -> Command {
        let mut c = Command::new("sa-learn");
        c.arg("--dbpath").arg(&self.sa_db);
        c
    }

    fn ours(&self) -> Command {
        let mut c = Command::new(self.spamd);
        c.arg("learn").arg("--dbpath").arg(&self.our_db);
        c
    }

    /// Print both sides' counters; returns how many differ.
    fn compare_magic(&self, when: &str) -> Result<usize, String> {
        let sa = dump_magic(&mut self.sa())?;
        let ours = dump_magic(&mut self.ours())?;
        println!("\n-- --dump magic {when}");
        println!("{:<30} {:>12} {:>12}", "counter", "SpamAssassin", "ours");
        let mut differ = 0;
        for name in COUNTERS {
            let (a, b) = (sa.get(name).copied(), ours.get(name).copied());
            let mark = if a == b { "" } else { "  <- differs" };
            if a != b {
                differ += 1;
            }
            let show = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
            println!("{name:<30} {:>12} {:>12}{mark}", show(a), show(b));
        }
        Ok(differ)
    }
}

fn run_ok(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Classify `held` with both and print the agreement; returns its percent.
fn compare_bands(
    sides: &Sides<'_>,
    held: &[PathBuf],
    opts: &BayesOptions,
    script: &Path,
    when: &str,
) -> Result<f64, String> {
    let sa = classify_sa(&sides.sa_db, held, script)?;
    let ours = classify_ours(&sides.our_db.with_extension("sqlite"), opts, held)?;
    let same = held
        .iter()
        .filter(|f| band(sa.get(*f).copied().flatten()) == band(ours.get(*f).copied().flatten()))
        .count();
    let pct = 100.0 * same as f64 / held.len().max(1) as f64;
    println!(
        "\n-- held-back set {when}: same BAYES_* rule on {same}/{} = {pct:.2}%",
        held.len()
    );
    Ok(pct)
}

pub fn run(corpus: &Path, spamd: &Path, script: &Path, require: Option<f64>) -> Result<(), String> {
    let work = std::env::temp_dir().join(format!("bayes-expiry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let mut held = Vec::new();
    let mut train: [(bool, Vec<PathBuf>); 2] = [(true, Vec::new()), (false, Vec::new())];
    for (dir, spam) in [
        ("spam", true),
        ("spam_2", true),
        ("easy_ham", false),
        ("easy_ham_2", false),
        ("hard_ham", false),
    ] {
        for (i, f) in files(&corpus.join(dir)).into_iter().enumerate() {
            if i % 10 == 0 {
                held.push(f);
            } else {
                train[usize::from(!spam)].1.push(f);
            }
        }
    }
    for d in ["sa", "ours", "train-spam", "train-ham"] {
        std::fs::create_dir_all(work.join(d)).map_err(|e| e.to_string())?;
    }
    let sides = Sides {
        spamd,
        sa_db: work.join("sa/bayes"),
        our_db: work.join("ours/bayes"),
    };
    let mut differ = 0;
    println!(
        "== Learning {} spam then {} ham; {} held back",
        train[0].1.len(),
        train[1].1.len(),
        held.len()
    );
    for (spam, list) in &train {
        let (flag, dir) = if *spam {
            ("--spam", work.join("train-spam"))
        } else {
            ("--ham", work.join("train-ham"))
        };
        // Links named by index keep the corpus order in both learners,
        // and one name per message (folders reuse file names).
        for (i, f) in list.iter().enumerate() {
            let _ = std::os::unix::fs::symlink(f, dir.join(format!("{i:05}")));
        }
        let t = Instant::now();
        run_ok(sides.sa().arg(flag).arg(&dir))?;
        let sa_t = t.elapsed();
        let t = Instant::now();
        run_ok(sides.ours().arg(flag).arg(&dir))?;
        println!(
            "{flag}: sa-learn {:.1}s, spamd learn {:.1}s",
            sa_t.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
    }
    differ += sides.compare_magic("after learning")?;

    let conf = sa_config();
    let mut opts = BayesOptions::from_config(&conf);
    opts.auto_learn = false;
    let first = compare_bands(&sides, &held, &opts, script, "(scans may expire)")?;
    differ += sides.compare_magic("after scanning the held-back set")?;

    println!("\n== --force-expire");
    print!(
        "SpamAssassin: {}",
        run_ok(sides.sa().arg("--force-expire"))?
    );
    print!(
        "ours:         {}",
        run_ok(sides.ours().arg("--force-expire"))?
    );
    differ += sides.compare_magic("after --force-expire")?;
    let second = compare_bands(&sides, &held, &opts, script, "after --force-expire")?;
    let _ = std::fs::remove_dir_all(&work);
    if let Some(req) = require {
        if differ > 0 {
            return Err(format!("{differ} --dump magic counters differ"));
        }
        if first < req || second < req {
            return Err(format!(
                "band agreement {first:.2}% / {second:.2}% is under {req}%"
            ));
        }
    }
    Ok(())
}
